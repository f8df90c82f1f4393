"""The Python API (hot_pose): README's snippet run as written, from another folder, on a real clip; lifting
pixel keypoints in every layout; clear errors for bad input."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from hot_pose.api import LAYOUTS, PoseLifter
from hot_pose.wild.detectors.mediapipe import BLAZEPOSE_TO_COCO

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def write_clip(source: Path, dest: Path, frames: int) -> Path:
    """The first ``frames`` frames of a real video, re-encoded (mp4v)."""
    cap = cv2.VideoCapture(str(source))
    fps = cap.get(cv2.CAP_PROP_FPS)
    writer = None
    for _ in range(frames):
        ok, frame = cap.read()
        assert ok
        if writer is None:
            writer = cv2.VideoWriter(str(dest), cv2.VideoWriter_fourcc(*"mp4v"), fps, frame.shape[1::-1])
        writer.write(frame)
    writer.release()
    cap.release()
    return dest


@pytest.fixture(scope="module")
def lifter() -> PoseLifter:
    return PoseLifter.load(device="cpu")


@pytest.fixture(scope="module")
def walk(video_dir, tmp_path_factory):
    """COCO keypoints of 40 real frames (MediaPipe) and the image size."""
    from hot_pose.api import detect_2d

    clip = write_clip(video_dir / "walkway_cam03.mp4", tmp_path_factory.mktemp("clip") / "walk.mp4", 40)
    return detect_2d(clip)


def test_readme_snippet_runs_from_another_folder(video_dir, tmp_path):
    code = readme_snippet()
    assert "PoseLifter.load()" in code and "lift(" in code and "detect_2d(" in code
    write_clip(video_dir / "walkway_cam03.mp4", tmp_path / "my_video.mp4", 30)
    check = "\nassert poses.shape == (30, 17, 3) and str(poses.dtype) == 'float32'\nprint('ok', poses.shape)\n"
    proc = subprocess.run([sys.executable, "-c", code + check], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "ok (30, 17, 3)" in proc.stdout, proc.stderr[-2000:]


def test_lift_in_every_layout_gives_the_same_person(lifter, walk):
    keypoints, size, fps = walk
    assert keypoints.shape == (40, 17, 3) and fps > 0
    coco = lifter.lift(keypoints, image_size=size, layout="coco")
    assert coco.shape == (40, 17, 3) and coco.dtype == np.float32 and np.isfinite(coco).all()
    assert np.allclose(coco[:, 0], 0)  # root-relative
    spine = np.linalg.norm(coco[:, 8] - coco[:, 0], axis=-1)  # pelvis → thorax
    assert 0.3 < np.median(spine) < 0.7  # metres: a person, not pixels
    # the same detections as BlazePose-33 (the COCO joints placed at their landmarks) give the same poses
    blaze = np.full((40, 33, 3), np.nan, np.float32)
    blaze[:, list(BLAZEPOSE_TO_COCO)] = keypoints
    assert np.allclose(lifter.lift(blaze, size, layout="mediapipe"), coco, atol=1e-5)
    # without scores, and with missing frames and joints (filled as the demo fills them)
    holes = keypoints[..., :2].copy()
    holes[5:9] = np.nan
    holes[20:25, 9] = np.nan
    filled = lifter.lift(holes, size, layout="coco")
    assert np.isfinite(filled).all() and np.abs(filled[30:] - coco[30:]).mean() < 0.05


def test_short_and_single_frame_input(lifter, walk):
    keypoints, size, _ = walk
    assert lifter.lift(keypoints[:1], size, layout="coco").shape == (1, 17, 3)
    assert lifter.lift(keypoints[0], size, layout="coco").shape == (1, 17, 3)  # one (J, C) frame


@pytest.mark.parametrize("bad, match", [
    (lambda k: k[..., :2] / 1000.0, "look normalised"),
    (lambda k: k[:, :5], "has 17 joints but the keypoints have 5"),
    (lambda k: k[..., 0], "must be \\(T, J, 2\\)"),
    (lambda k: np.full_like(k, np.nan), "no person was found"),
    (lambda k: k[:0], "T >= 1"),
])
def test_bad_input_is_one_clear_error(lifter, walk, bad, match):
    keypoints, size, _ = walk
    with pytest.raises(ValueError, match=match):
        lifter.lift(bad(keypoints), size, layout="coco")


def test_bad_arguments(lifter, walk, tmp_path):
    keypoints, size, _ = walk
    with pytest.raises(ValueError, match="layout must be one of"):
        lifter.lift(keypoints, size, layout="openpose")
    with pytest.raises(ValueError, match="layout 'mediapipe' has 33 joints"):
        lifter.lift(keypoints, size, layout="mediapipe")
    with pytest.raises(ValueError, match="image_size"):
        lifter.lift(keypoints, 1000, layout="coco")
    with pytest.raises(FileNotFoundError, match="shipped name"):
        PoseLifter.load("no_such_model")
    with pytest.raises(ValueError, match="dtype"):
        PoseLifter.load(dtype="int8")
    assert set(LAYOUTS) == {"h36m", "coco", "mediapipe"}


def test_load_by_shipped_name_and_run_folder(walk):
    keypoints, size, _ = walk
    by_name = PoseLifter.load("hot_mixste_27_gt", device="cpu")
    by_folder = PoseLifter.load(ROOT / "hot_pose" / "checkpoints" / "hot_mixste_27_gt", device="cpu")
    assert by_name.checkpoint == by_folder.checkpoint and by_name.frames == 27
    assert np.array_equal(by_name.lift(keypoints, size, layout="coco"), by_folder.lift(keypoints, size, layout="coco"))


def test_lift_stream_gives_every_frame_after_its_latency(lifter, walk):
    keypoints, size, _ = walk
    h36m = lifter._prepare(keypoints, size, "coco")  # normalised, gap-free
    with lifter.lift_stream(hop=3) as stream:
        pushed = [stream.push(h36m[t]) for t in range(len(h36m))]
        poses = [p for p in pushed if p is not None] + stream.flush()
    assert stream.latency == 2 and pushed[:2] == [None, None]
    assert [t for t, _ in poses] == list(range(len(h36m)))
    assert all(pose.shape == (17, 3) and np.isfinite(pose).all() for _, pose in poses)
