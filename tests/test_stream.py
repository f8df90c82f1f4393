"""Streaming lifter: fixed latency, bounded memory, and the same poses as lifting each window directly.

HoT: Li et al., CVPR 2024 (arXiv:2311.12028). Tiny models (27 frames, 32 channels, 2 block pairs).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hot_pose.models import build_model
from hot_pose.wild.lift import sliding_window_lift
from hot_pose.wild.stream import StreamingLifter, run_stream

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(frames=27, channel=32, d_hid=64, token_num=9, depth=2, layer_index=1)
F = TINY["frames"]


@pytest.fixture(scope="module")
def hot():
    torch.manual_seed(0)
    return build_model("mixste.hot_mixste", **TINY).eval()


def keypoints(t: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (t, 17, 2)).astype(np.float32)


def direct_pose(model, kp: np.ndarray, t: int, lookahead: int) -> np.ndarray:
    """Pose of frame t from the window ending at t + lookahead, edges padded by clamping (the definition)."""
    idx = np.clip(np.arange(t + lookahead - F + 1, t + lookahead + 1), 0, len(kp) - 1)
    with torch.no_grad():
        pose = model(torch.from_numpy(kp[idx])[None]).pose[0, F - 1 - lookahead]  # (J, 3)
    return (pose - pose[:1]).numpy()


def run(lifter: StreamingLifter, kp: np.ndarray):
    """Push every frame; returns {frame: pose}, {frame: push number that returned it}, max buffered."""
    poses, when, most = {}, {}, 0
    for n, frame in enumerate(kp):
        out = lifter.push(frame)
        most = max(most, lifter.buffered_frames)
        if out is not None:
            poses[out[0]], when[out[0]] = out[1], n
    for t, pose in lifter.flush():
        poses[t] = pose
    return poses, when, most


@pytest.mark.parametrize("hop,lookahead,background", [(1, 0, False), (1, 3, False), (5, 0, False), (4, 2, True)])
def test_fixed_latency_bounded_memory_and_exact_poses(hot, hop, lookahead, background):
    kp = keypoints(40)
    lifter = StreamingLifter(hot, F, "seq2seq", lookahead=lookahead, hop=hop, background=background)
    assert lifter.latency == lookahead + hop - 1 + (hop if background else 0)
    poses, when, most = run(lifter, kp)
    assert sorted(poses) == list(range(40)) and lifter.emitted == 40
    assert all(n - t == lifter.latency for t, n in when.items())  # every pose exactly `latency` pushes later
    assert len(when) == 40 - lifter.latency  # the rest come from flush()
    assert most <= F
    assert lifter.forwards == -(-40 // hop)
    lifter.close()
    for t in (0, 1, 6, 21, 33, 39):  # start (left padding), middle, end (flush pads on the right)
        end = (t // hop) * hop + hop - 1 + lookahead  # frame t comes from the window ending here
        idx = np.clip(np.arange(end - F + 1, end + 1), 0, len(kp) - 1)
        with torch.no_grad():
            pose = hot(torch.from_numpy(kp[idx])[None]).pose[0, F - 1 - (end - t)]
        np.testing.assert_allclose(poses[t], (pose - pose[:1]).numpy(), atol=1e-6)
        if hop == 1:
            np.testing.assert_allclose(poses[t], direct_pose(hot, kp, t, lookahead), atol=1e-6)


def test_short_stream_and_empty_flush(hot):
    lifter = StreamingLifter(hot, F, hop=3)
    assert lifter.flush() == []
    poses, _, _ = run(lifter, keypoints(2))
    assert sorted(poses) == [0, 1]


def test_seq2frame_matches_the_offline_lift_and_has_half_window_latency():
    torch.manual_seed(0)
    tpc = build_model("mixste.tpc_mixste", **TINY).eval()
    kp = keypoints(20, seed=1)
    lifter = StreamingLifter(tpc, F, "seq2frame", hop=1)
    assert lifter.latency == F // 2
    poses, when, most = run(lifter, kp)
    assert most <= F and all(n - t == F // 2 for t, n in when.items())
    offline = sliding_window_lift(tpc, kp, F, "seq2frame", flip=False, batch_size=1)
    np.testing.assert_allclose(np.stack([poses[t] for t in range(20)]), offline, atol=1e-6)


def test_bad_settings_are_refused(hot):
    with pytest.raises(ValueError, match="lookahead"):
        StreamingLifter(hot, F, lookahead=20, hop=10)
    with pytest.raises(ValueError, match="hop"):
        StreamingLifter(hot, F, hop=0)
    with pytest.raises(ValueError, match="one frame"):
        StreamingLifter(hot, F).push(keypoints(2))


class StillPerson:
    """A detector stub: the same COCO-17 person in every frame but the first two."""

    def __init__(self) -> None:
        self.calls = 0
        self.kp = np.random.default_rng(0).uniform(100, 600, (17, 2)).astype(np.float32)

    def detect_frame(self, frame):
        self.calls += 1
        return None if self.calls <= 2 else (self.kp, np.ones(17, np.float32), None)


def test_run_stream_on_the_shared_video(hot, video_dir):
    lifter = StreamingLifter(hot, F, hop=4)
    result = run_stream(video_dir / "skating.mp4", lifter, StillPerson(), max_frames=12)
    assert result.frames == 12 and result.first_frame == 2
    assert result.lifted == 10 and result.poses.shape == (10, 17, 3)
    assert result.latency_frames == 3 and result.fps > 0
    assert "frames/s" in result.summary()


def test_run_stream_with_mediapipe(hot, video_dir):
    pytest.importorskip("mediapipe")
    from hot_pose.wild.detectors import build_detector

    with build_detector("mediapipe") as detector:
        result = run_stream(video_dir / "skating.mp4", StreamingLifter(hot, F, hop=9), detector, max_frames=8)
    assert result.frames == 8 and result.lifted == 8 - result.first_frame
    assert np.isfinite(result.poses).all()


def test_vis_stream_flag(video_dir, tmp_path, capsys):
    pytest.importorskip("mediapipe")
    from hot_pose.cli.demo import main

    args = ["--stream", "--video", str(video_dir / "skating.mp4"), "--max-frames", "6", "--model", "mixste.mixste",
            "--frames", "27", "--hop", "3", "--dtype", "fp32", "--device", "cpu", "--output", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "frames/s end to end" in out and "fixed latency 2 frames" in out
    assert (tmp_path / "poses_3d_stream.npz").is_file()
    assert (tmp_path / ".hot-demo-outputs.json").is_file()  # the folder's manifest lists it: a rerun may replace it
    assert main(["--stream", "--video", str(tmp_path / "missing.mp4")]) == 1
