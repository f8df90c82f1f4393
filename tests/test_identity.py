"""One identity in single-person mode: on every view of a real two-person recording (Pose2Sim Demo_MultiPerson,
fetched once like the sample), the demo without ``--multi`` follows one person in every frame.

HoT (Li et al., CVPR 2024, arXiv:2311.12028) lifts one person's 2-D sequence; the demo tracks every person
(``hot_pose.wild.tracks``) and follows one (``follow_one``). The single-person 2-D is checked, frame by frame,
against that view's ``--multi`` tracks (it must equal one and the same track in every detected frame) and for
continuity (a switch to the other person is a jump of the hips by a large part of a body height). cam03 is run
whole, to cover the crossing after which MediaPipe's one-person graph used to sit on the other person (frames
81-97); the other views a shorter slice.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hot_pose.cli.demo import main as vis_main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: frames per view: cam03 whole (MediaPipe's one-person graph, the old single-person 2-D, sat on the woman from
#: frame 81 to 97 after the man passed in front of her: benchmarks/multi_benchmark.md), the others a short slice
FRAMES = {"cam01": 15, "cam02": 15, "cam03": 100, "cam04": 15}


@pytest.fixture(scope="module")
def multi_set() -> Path:
    from hot_pose.wild.sample import demo_set

    return demo_set(which="multiperson")


def _run(video: Path, out: Path, frames: int, *flags: str) -> int:
    return vis_main(["--video", str(video), "--max-frames", str(frames), "-o", str(out), "--no-render", *flags])


@pytest.fixture(scope="module")
def runs(multi_set, tmp_path_factory):
    """Per view: (multi output folder, single-person output folder, the single-person run's log lines)."""
    import logging

    class Lines(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.lines = []

        def emit(self, record):
            self.lines.append(record.getMessage())

    logger = logging.getLogger("hot_pose.wild.pipeline")
    out = {}
    for view, frames in FRAMES.items():
        base = tmp_path_factory.mktemp(view)
        video = multi_set / f"{view}.mp4"
        assert _run(video, base / "multi", frames, "--multi", "--quiet") == 0
        handler = Lines()
        logger.addHandler(handler)
        try:
            assert _run(video, base / "single", frames, "--quiet") == 0
        finally:
            logger.removeHandler(handler)
        out[view] = (base / "multi", base / "single", "\n".join(handler.lines))
    return out


def _followed_track(multi: Path, single: Path) -> int:
    """The ``--multi`` track the single-person 2-D equals in every detected frame (asserted)."""
    with np.load(multi / "keypoints_2d.npz") as m, np.load(single / "keypoints_2d.npz") as s:
        mk, mf, sk, sf = m["keypoints"], m["found"], s["keypoints"], s["found"]
    assert mk.ndim == 4 and mk.shape[0] >= 2, "the recording has two persons: --multi must track both"
    assert sk.shape == mk.shape[1:] and sf.sum() >= 0.8 * len(sf)
    frames = np.flatnonzero(sf)
    # per frame, which tracks the single-person 2-D is (equal keypoints, NaN where both NaN)
    same = np.array([[mf[p, t] and np.allclose(sk[t], mk[p, t], equal_nan=True, atol=1e-3) for t in frames]
                     for p in range(mk.shape[0])])  # (P, detected frames)
    owners = [p for p in range(mk.shape[0]) if same[p].all()]
    assert owners, (f"the single-person 2-D is not one --multi track in every frame; per track, frames equal: "
                    f"{same.sum(axis=1).tolist()} of {len(frames)}")
    return owners[0]


def _hip_jumps(keypoints: np.ndarray, found: np.ndarray) -> float:
    """Largest hip-midpoint move between consecutive detected frames, per frame between them, over the
    median body height (ankles to shoulders) of the sequence."""
    hips = np.nanmean(keypoints[:, 11:13], axis=1)  # (T, 2)
    top = np.nanmean(keypoints[:, 5:7, 1], axis=1)
    bottom = np.nanmean(keypoints[:, 15:17, 1], axis=1)
    height = np.nanmedian(bottom - top)
    t = np.flatnonzero(found & np.isfinite(hips).all(axis=1))
    steps = np.linalg.norm(np.diff(hips[t], axis=0), axis=1) / np.diff(t)
    return float(steps.max() / height)


@pytest.mark.parametrize("view", list(FRAMES))
def test_single_person_output_is_one_multi_track_in_every_frame(runs, view):
    multi, single, log = runs[view]
    track = _followed_track(multi, single)
    with np.load(single / "keypoints_2d.npz") as s:
        jump = _hip_jumps(s["keypoints"], s["found"])
    assert jump < 0.25, f"{view}: the followed hips jump by {jump:.2f} body heights in one frame (another person?)"
    # several persons: one line says whom it follows and how to pick another
    assert f"2 persons in this video: following #{track}" in log and "--person ID" in log


def test_person_flag_follows_that_track(multi_set, runs, tmp_path):
    multi, single, _ = runs["cam01"]
    followed = _followed_track(multi, single)
    other = 1 - followed
    out = tmp_path / "other"
    assert _run(multi_set / "cam01.mp4", out, FRAMES["cam01"], "--person", str(other), "--quiet") == 0
    assert _followed_track(multi, out) == other
    assert not (out / "cam01.mp4").exists()  # --no-render


def test_benchmark_counts_switches_and_two_tracks_on_one_person():
    """``tools.multi_benchmark.count_run`` on hand-made labels (a synthetic unit: the real run is the benchmark)."""
    from tools.multi_benchmark import ViewRun, count_run

    T = 6
    found = np.ones((2, T), bool)
    found[1, 5] = False  # track 1 missed its last frame: gap-filled
    run = ViewRun(keypoints=np.zeros((2, T, 17, 2)), scores=np.ones((2, T, 17)), found=found,
                  present=np.ones((2, T), bool), poses=None)
    # track 0 on A (0) but on B (1) in frames 4-5; track 1 on B, not detected in frame 5 (-2), on nobody in frame 0
    labels = np.array([[0, 0, 0, 0, 1, 1], [-1, 1, 1, 1, 1, -2]])
    counts = count_run(run, labels)
    assert [t["person"] for t in counts["tracks"]] == ["A", "B"]
    assert [(t["detected"], t["gap_filled"]) for t in counts["tracks"]] == [(6, 0), (5, 1)]
    assert counts["identity_switch_frames"] == 2 and counts["tracks"][1]["on_nobody"] == 1
    assert counts["two_tracks_on_one_person_frames"] == 1  # frame 4: both on B


def test_person_out_of_range_without_multi_is_one_line_and_writes_nothing(multi_set, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "none"
    vis = Path(__file__).resolve().parents[1] / "demo" / "vis.py"
    done = subprocess.run([sys.executable, str(vis), "--video", str(multi_set / "cam01.mp4"), "--max-frames",
                           str(FRAMES["cam01"]), "--no-render", "--person", "5", "--quiet", "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    assert lines[0].startswith("error: --person 5: no such track"), lines
    assert not out.exists()
