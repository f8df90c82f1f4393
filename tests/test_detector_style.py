"""Detector-like virtual views (``hot_pose.data.detector_style``) on real Human3.6M data (S1, Stacked-Hourglass 2-D).

Checks: the GT projection the measurement uses is the GT 2-D file the project builds; measured on the real
detections, the hips come out narrower and the shoulders wider than Human3.6M's (and GT against itself gives
ratios 1 and no noise); the styling rescales exactly the two joint pairs, fills gaps as the demo does, and is a
pure function of its generator; the dataset gives detector-like views only to virtual windows, reproducibly, and
the engine trains with it.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import hot_pose.models as model
from hot_pose.data.dataset import PoseWindowDataset, load_h36m, view_through
from hot_pose.data.detector_style import (
    L_HIP,
    L_SHOULDER,
    PELVIS,
    R_HIP,
    R_SHOULDER,
    THORAX,
    DetectorStyle,
    apply_detector_style,
    measure_detector_style,
    scale_pair,
    style_pairs,
    width_ratio,
)
from hot_pose.training.arguments import parse_args
from hot_pose.training.engine import run
from hot_pose.training.recipes import MIXSTE

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sh_s1(prepared_root):
    return load_h36m(prepared_root, "sh_pt_mpii", subjects=["S1"], complete_16=True)


@pytest.fixture(scope="module")
def gt_s1(prepared_root):
    return load_h36m(prepared_root, "gt", subjects=["S1"])


@pytest.fixture(scope="module")
def sh_style(sh_s1):
    return measure_detector_style(style_pairs(sh_s1.select(["S1"]), sh_s1.cameras), "sh_pt_mpii")


def width(pose: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(pose[..., a, :] - pose[..., b, :], axis=-1)


def quiet(style: DetectorStyle, **kw) -> DetectorStyle:
    """The style without noise and gaps (and, by default, without ratio spread)."""
    values = dict(hip_ratio=style.hip_ratio, shoulder_ratio=style.shoulder_ratio, noise=np.zeros_like(style.noise),
                  frames=style.frames, source=style.source, ratio_spread=0.0, frame_gap=0.0, joint_gap=0.0)
    values.update(kw)
    return DetectorStyle(**values)


def test_the_gt_projection_is_the_built_gt_2d_file(sh_s1, gt_s1):
    gt = {(s.action, s.cam_idx): s.pose_2d for s in gt_s1.select(["S1"])}
    pairs = style_pairs(sh_s1.select(["S1"]), sh_s1.cameras)
    for seq, (_, projected) in zip(sh_s1.select(["S1"]), pairs):
        reference = gt[(seq.action, seq.cam_idx)]
        assert projected.shape == reference.shape
        np.testing.assert_allclose(projected, reference, atol=2e-4)  # float32 file vs float64 projection


def test_real_detections_have_narrower_hips_and_wider_shoulders(sh_style):
    summary = sh_style.summary()
    hip, shoulder = summary["hip_ratio_p10_p50_p90"][1], summary["shoulder_ratio_p10_p50_p90"][1]
    assert 0.6 < hip < 0.85 and 1.1 < shoulder < 1.35, summary
    assert summary["sequences"] == len(sh_style.hip_ratio) > 100 and sh_style.frames > 5000
    assert np.all(np.isfinite(sh_style.noise)) and 0.01 < np.median(sh_style.noise) < 0.2


def test_gt_against_itself_has_ratio_one_and_no_noise(gt_s1):
    pairs = [(gt, gt) for _, gt in style_pairs(gt_s1.select(["S1"]), gt_s1.cameras)]
    style = measure_detector_style(pairs, "gt")
    np.testing.assert_allclose(style.hip_ratio, 1.0, atol=1e-6)
    np.testing.assert_allclose(style.shoulder_ratio, 1.0, atol=1e-6)
    assert np.all(style.noise < 1e-6)
    with pytest.raises(ValueError, match="cannot measure"):
        measure_detector_style([(gt[:, :16], gt[:, :16]) for gt, _ in pairs[:2]], "sixteen")


def test_styling_rescales_the_pairs_about_their_midpoints(sh_style, gt_s1):
    clean = gt_s1.select(["S1"])[0].pose_2d[:27].astype(np.float64)
    style = quiet(sh_style, hip_ratio=np.array([0.7]), shoulder_ratio=np.array([1.2]))
    out = apply_detector_style(clean, style, np.random.default_rng(0)).astype(np.float64)
    np.testing.assert_allclose(width(out, R_HIP, L_HIP), 0.7 * width(clean, R_HIP, L_HIP), rtol=1e-4)
    np.testing.assert_allclose(width(out, R_SHOULDER, L_SHOULDER), 1.2 * width(clean, R_SHOULDER, L_SHOULDER),
                               rtol=1e-4)
    for a, b in ((R_HIP, L_HIP), (R_SHOULDER, L_SHOULDER)):  # the midpoints stay
        np.testing.assert_allclose(out[:, [a, b]].mean(1), clean[:, [a, b]].mean(1), atol=1e-6)
    others = [j for j in range(17) if j not in (R_HIP, L_HIP, R_SHOULDER, L_SHOULDER)]
    np.testing.assert_allclose(out[:, others], clean[:, others], atol=1e-6)
    assert np.allclose(scale_pair(clean.copy(), 1, 4, 1.0), clean)


def test_spread_noise_and_gaps_stay_in_their_ranges(sh_style, gt_s1):
    clean = gt_s1.select(["S1"])[0].pose_2d[100:127].astype(np.float64)
    low, high = sh_style.hip_ratio.min() * 0.85, sh_style.hip_ratio.max() * 1.15
    spread = quiet(sh_style, ratio_spread=0.15)
    for seed in range(20):
        ratio = width(apply_detector_style(clean, spread, np.random.default_rng(seed)), R_HIP, L_HIP) / \
            width(clean, R_HIP, L_HIP)
        assert np.ptp(ratio) < 1e-3 and low - 1e-4 <= ratio[0] <= high + 1e-4  # one ratio per window
    noisy = apply_detector_style(clean, quiet(sh_style, noise=sh_style.noise), np.random.default_rng(1))
    body = width(clean, THORAX, PELVIS)[:, None]
    error = np.linalg.norm(noisy - clean, axis=-1) / body  # joints other than the rescaled pairs: noise only
    others = [j for j in range(17) if j not in (R_HIP, L_HIP, R_SHOULDER, L_SHOULDER)]
    assert 0.3 * np.median(sh_style.noise) < np.median(error[:, others]) < 4.5 * np.median(sh_style.noise)


def test_a_missing_run_is_filled_linearly_as_the_demo_fills_gaps(sh_style, gt_s1):
    clean = gt_s1.select(["S1"])[0].pose_2d[200:227].astype(np.float64)
    style = quiet(sh_style, hip_ratio=np.array([1.0]), shoulder_ratio=np.array([1.0]), frame_gap=1.0)
    for seed in range(10):
        out = apply_detector_style(clean, style, np.random.default_rng(seed)).astype(np.float64)
        changed = np.flatnonzero(np.abs(out - clean).max(axis=(1, 2)) > 1e-6)
        assert 2 <= len(changed) <= 8 and np.all(np.diff(changed) == 1)  # one run of 2-8 frames
        start, stop = changed[0], changed[-1] + 1
        if start > 0 and stop < len(out):  # interior: on the line between the frames around the run
            w = ((np.arange(start, stop) - (start - 1)) / (stop - start + 1))[:, None, None]
            np.testing.assert_allclose(out[start:stop], (1 - w) * clean[start - 1] + w * clean[stop], atol=1e-5)
        else:  # at an end: the nearest frame repeated
            edge = clean[stop] if start == 0 else clean[start - 1]
            np.testing.assert_allclose(out[start:stop], np.broadcast_to(edge, out[start:stop].shape), atol=1e-6)


def test_the_styling_is_a_function_of_its_generator(sh_style, gt_s1):
    clean = gt_s1.select(["S1"])[0].pose_2d[:27]
    a = apply_detector_style(clean, sh_style, np.random.default_rng([3, 1, 4]))
    b = apply_detector_style(clean, sh_style, np.random.default_rng([3, 1, 4]))
    c = apply_detector_style(clean, sh_style, np.random.default_rng([3, 1, 5]))
    assert a.dtype == np.float32 and np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(clean, gt_s1.select(["S1"])[0].pose_2d[:27])  # the input is not changed


def walking(data, p: float, seed: int = 5) -> PoseWindowDataset:
    return PoseWindowDataset(data, ["S1"], 27, 27, True, actions=["Walking"], subset=0.2, virtual_cameras=p,
                             seed=seed)


def test_only_virtual_windows_get_the_detector_look(sh_s1):
    data = walking(sh_s1, 0.5)
    plain = walking(sh_s1, 0.0)
    assert data.detector_style is not None and plain.detector_style is None
    assert data.protocol()["detector_style"]["source"] == "sh_pt_mpii"
    virtual = real = 0
    ratios = []
    for index in range(len(data)):
        seq_idx, start, flip, reverse = data.samples[index]
        view = data.virtual_view(index)
        if flip or reverse:
            continue
        if view is None:  # a real window: the real detections, as without virtual cameras
            assert np.array_equal(data[index]["input_2d"].numpy(), plain[index]["input_2d"].numpy())
            real += 1
            continue
        clean = view_through(view.camera, data.window(int(seq_idx), int(start))[1])[0]
        got = data[index]["input_2d"].numpy()
        assert np.array_equal(got, view.pose_2d) and not np.allclose(got, clean, atol=1e-3)
        ratios.append(width_ratio(got, clean, R_HIP, L_HIP))
        virtual += 1
    assert virtual > 5 and real > 5
    ratios = np.concatenate(ratios)
    assert 0.6 < np.nanmedian(ratios) < 0.85  # the measured hip convention (noise averages out)
    again = walking(sh_s1, 0.5)
    for index in range(0, len(data), 3):
        assert np.array_equal(data[index]["input_2d"].numpy(), again[index]["input_2d"].numpy())


def test_sixteen_joint_detections_are_refused(prepared_root):
    sixteen = load_h36m(prepared_root, "sh_pt_mpii", subjects=["S1"], complete_16=False)
    with pytest.raises(ValueError, match="need 17 joints"):
        walking(sixteen, 0.5)


def test_one_epoch_on_detections_with_virtual_cameras(prepared_root, tmp_path):
    run_dir = tmp_path / "run"
    argv = ["--model", "mixste.hot_mixste", "--stride", "27", "--token_num", "9", "--layer_index", "1",
            "--batch_size", "8", "--lr", "2e-3", "--root_path", str(prepared_root), "--keypoints", "sh_pt_mpii",
            "--n_joints", "17", "--subjects_train", "S1", "--subjects_test", "S1", "--actions", "Walking",
            "--subset", "0.1", "--downsample", "2", "--frames", "27", "--channel", "32", "--d_hid", "64",
            "--depth", "2", "--nepoch", "1", "--device", "cpu", "--no_progress", "--checkpoint", str(run_dir),
            "--virtual_cameras", "0.5"]
    result = run(parse_args(argv, **MIXSTE.defaults), MIXSTE, model)
    assert 0 < result.p1 < 1000
    log = (run_dir / "train.log").read_text()
    assert "virtual views look like sh_pt_mpii" in log and "hip width x[" in log
    assert json.loads((run_dir / "config.json").read_text())["virtual_cameras"] == 0.5
