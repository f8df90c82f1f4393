"""A checkpoint of the project's own default training on the shared Stacked-Hourglass detections (16 joints:
Human3.6M-17 without joint 9, Neck/Nose) runs in the demo, its ``--stream`` and the Python API.

Before, ``demo/vis.py --checkpoint run/best.pth`` crashed with a 40-line traceback ("MixSTE expects input
(B, T, 16, C)") and ``PoseLifter.lift`` failed naming a flag the API does not have. Now ``hot_pose.wild.lift``
wraps such a model in ``H36M16Adapter``: the demo's 2-D joint 9 is dropped going in, and the 3-D joint 9 is put
back on the thorax–head segment (``NOSE_ALPHA_3D``). The checkpoint comes from a tiny real training run (the
bad-input suites' ``TINY``: S1 Walking, ``--keypoints sh_pt_mpii``). HoT: Li et al., CVPR 2024 (arXiv:2311.12028).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from bad_input_lib import TINY, WALKWAY

import hot_pose.models as model
from hot_pose.cli.demo import main
from hot_pose.api import PoseLifter
from hot_pose.data.camera import normalize_screen_coordinates
from hot_pose.training.engine import main as train
from hot_pose.training.recipes import MIXSTE
from hot_pose.wild.lift import NOSE_ALPHA_3D, H36M16Adapter, load_lifter

pytestmark = pytest.mark.usefixtures("one_torch_thread")

W, H, T = 1088, 1920, 10


@pytest.fixture(scope="module")
def run16(h36m_dir, tmp_path_factory) -> Path:
    """A one-epoch training run on the 16-joint Stacked-Hourglass detections (the project's default data)."""
    run = tmp_path_factory.mktemp("sh16") / "run"
    assert train(MIXSTE, model, ["--root_path", str(h36m_dir), *TINY, "--checkpoint", str(run)]) == 0
    return run


@pytest.fixture(scope="module")
def keypoints(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    base = rng.uniform([300, 500], [800, 1500], size=(1, 17, 2))
    path = tmp_path_factory.mktemp("kp") / "person.npz"
    np.savez(path, keypoints=(base + rng.normal(0, 3, size=(T, 17, 2))).astype(np.float32))
    return path


def test_the_training_gives_a_16_joint_model(run16):
    config = torch.load(run16 / "best.pth", weights_only=True)["model_config"]
    assert config["n_joints"] == 16 and config["out_joints"] == 16


def test_the_adapter_is_the_model_on_16_joints_and_places_the_neck(run16):
    lifter = load_lifter(checkpoint=run16 / "best.pth")
    assert isinstance(lifter.model, H36M16Adapter) and lifter.model.config.n_joints == 17
    x = torch.from_numpy(np.random.default_rng(0).uniform(-0.5, 0.5, (2, lifter.frames, 17, 2)).astype(np.float32))
    with torch.no_grad():
        full = lifter.model(x).pose  # (2, F, 17, 3)
        inner = lifter.model.model(torch.cat([x[..., :9, :], x[..., 10:, :]], dim=-2)).pose  # (2, F, 16, 3)
    keep = [j for j in range(17) if j != 9]
    torch.testing.assert_close(full[..., keep, :], inner)
    torch.testing.assert_close(full[..., 9, :], full[..., 8, :] + NOSE_ALPHA_3D * (full[..., 10, :] - full[..., 8, :]))


def test_the_demo_runs_it(run16, keypoints, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["--video", str(WALKWAY), "--keypoints", str(keypoints), "--checkpoint", str(run16),  # a run folder
                 "--max-frames", str(T), "--raw-bones", "--output", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    with np.load(out / "poses_3d.npz") as p3:
        poses, meta = p3["poses_3d"], json.loads(str(p3["meta"]))
    assert poses.shape == (T, 17, 3) and np.isfinite(poses).all() and meta["checkpoint"].endswith("best.pth")
    thorax, nose, head = poses[:, 8], poses[:, 9], poses[:, 10]
    np.testing.assert_allclose(nose, thorax + NOSE_ALPHA_3D * (head - thorax), atol=1e-5)


def test_the_stream_runs_it(run16, tmp_path, capsys):
    pytest.importorskip("mediapipe")
    assert main(["--stream", "--video", str(WALKWAY), "--checkpoint", str(run16 / "best.pth"), "--max-frames", "6",
                 "--hop", "3", "--dtype", "fp32", "--device", "cpu", "--output", str(tmp_path)]) == 0
    assert "frames/s end to end" in capsys.readouterr().out
    with np.load(tmp_path / "poses_3d_stream.npz") as stream:
        assert stream["poses_3d"].shape[1:] == (17, 3) and np.isfinite(stream["poses_3d"]).all()


def test_the_api_runs_it(run16, keypoints):
    lifter = PoseLifter.load(run16, device="cpu")
    kp = np.load(keypoints)["keypoints"]
    poses = lifter.lift(kp, (W, H), layout="coco")
    assert poses.shape == (T, 17, 3) and np.isfinite(poses).all()
    stream = lifter.lift_stream(hop=3)
    x = normalize_screen_coordinates(kp, W, H)
    out = [stream.push(frame) for frame in x] + stream.flush()
    assert [t for t, _ in filter(None, out)] == list(range(T))
