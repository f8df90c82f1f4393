"""BlazePose Heavy in the demo (``--mediapipe-model heavy``, ``--heavy-model FILE``): bad values are one-line errors
that write nothing, and a real heavy run on a few frames of the sample clip.

HoT (Li et al., CVPR 2024, arXiv:2311.12028) lifts the 2-D of any detector; the demo's default is MediaPipe
BlazePose (Bazarevsky et al., "BlazePose: On-device Real-time Body Pose tracking", arXiv:2006.10204), whose heavy
landmark model comes from the npm package ``@mediapipe/pose`` (``hot_pose.wild.sample.heavy_model``: SHA-256
checked, cached once).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bad_input_lib import ROOT, WALKWAY

pytestmark = pytest.mark.skipif(not WALKWAY.is_file(), reason=f"the sample clip {WALKWAY} is not here")


def _vis(out: Path, *flags: str, env: dict = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / "demo" / "vis.py"), "--video", str(WALKWAY), "--no-render", "--max-frames", "5",
           "--quiet", "-o", str(out), *flags]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)


def _one_line_error(done: subprocess.CompletedProcess, needle: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert needle in lines[0], lines[0]


def test_unknown_model_size_is_one_line_and_writes_nothing(tmp_path):
    done = _vis(tmp_path / "out", "--mediapipe-model", "huge")
    _one_line_error(done, "--mediapipe-model")
    assert "huge" in done.stderr and not (tmp_path / "out").exists()


def test_missing_heavy_file_is_one_line_and_writes_nothing(tmp_path):
    done = _vis(tmp_path / "out", "--mediapipe-model", "heavy", "--heavy-model", str(tmp_path / "nothing.tflite"))
    _one_line_error(done, "nothing.tflite")
    assert not (tmp_path / "out").exists()


def test_wrong_heavy_file_is_refused_by_its_checksum_and_nothing_is_cached(tmp_path):
    wrong = tmp_path / "pose_landmark_heavy.tflite"
    wrong.write_bytes(np.random.default_rng(0).bytes(4096))
    before = wrong.read_bytes()
    cache = tmp_path / "cache"
    done = _vis(tmp_path / "out", "--mediapipe-model", "heavy", "--heavy-model", str(wrong),
                env={"HOT_CACHE_DIR": str(cache)})
    _one_line_error(done, "SHA-256")
    assert not (tmp_path / "out").exists() and wrong.read_bytes() == before  # the input untouched
    assert not list(cache.rglob("*.tflite"))  # nothing cached


def test_heavy_without_a_cached_copy_or_npm_is_one_line_and_writes_nothing(tmp_path):
    bin_dir = tmp_path / "bin"  # a PATH with python only: no npm to fetch the model with
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    done = _vis(tmp_path / "out", "--mediapipe-model", "heavy",
                env={"HOT_CACHE_DIR": str(tmp_path / "empty-cache"), "PATH": str(bin_dir)})
    _one_line_error(done, "npm")
    assert not (tmp_path / "out").exists()


def test_heavy_model_runs_on_a_few_frames(tmp_path):
    from hot_pose.wild.errors import DemoError
    from hot_pose.wild.sample import heavy_model

    try:
        heavy_model()  # the cached copy, or fetched once with npm
    except DemoError as exc:
        pytest.skip(f"BlazePose Heavy is not available here (no cached copy, npm cannot fetch it): {exc}")
    from hot_pose.cli.demo import main as vis_main

    full, heavy = tmp_path / "full", tmp_path / "heavy"
    flags = ["--video", str(WALKWAY), "--no-render", "--max-frames", "5", "--quiet"]
    assert vis_main([*flags, "-o", str(full), "--mediapipe-model", "full"]) == 0
    assert vis_main([*flags, "-o", str(heavy), "--mediapipe-model", "heavy"]) == 0
    with np.load(full / "keypoints_2d.npz") as f, np.load(heavy / "keypoints_2d.npz") as h:
        assert h["keypoints"].shape == f["keypoints"].shape == (5, 17, 2) and h["found"].all()
        # another network on the same person: close, not the same numbers
        gap = np.nanmedian(np.linalg.norm(h["keypoints"] - f["keypoints"], axis=-1))
        assert 0 < gap < 20, gap
