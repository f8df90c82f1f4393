"""Several persons in the wild: identity, occlusion recovery and 3-D accuracy per person, against a multi-view
triangulation of each person.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028) lifts one person's 2-D track at a time; the demo (``hot_pose.wild.pipeline.run_demo``) links
MediaPipe's persons into tracks (``hot_pose.wild.tracks``) and, without ``--multi``, follows one of them. This
tool measures, on the Pose2Sim ``Demo_MultiPerson`` recording (four calibrated 60 fps cameras, a man and a
woman crossing, 100 frames; BSD-3-Clause, fetched once by ``hot_pose.wild.sample.demo_set``):

1. every view through the demo twice, ``--multi`` and single-person (``render=False``), with occlusion recovery
   (``MediaPipeDetector(recover=True)``, the default) and without it ("before"); the single-person "before" is
   MediaPipe's own one-person graph (``Detector2D.__call__``, the demo's earlier single-person path);
2. the reference: per frame, every view's detections (all tracks of all runs) are matched across views by
   geometry alone — every choice of at most one detection per view is triangulated (DLT,
   ``hot_pose.data.multiview``) and the most-views choice whose every view reprojects within ``--match-px``
   (median over the 12 limb joints) is a person, then the next among the detections left (at least 3 views
   each) — and triangulated again robustly (``triangulate_robust``, views above ``--outlier-px`` dropped per
   joint). The skeletons are linked over time by their 3-D hip midpoints (Hungarian matching) and named A
   (taller) and B. The frame offsets that synchronise the views are searched first (``synchronise`` on the
   pair of tracks per view that fits best). The tracks themselves never enter the matching, only their
   detections, so a track's identity mistakes cannot shape the reference;
3. per view and run, every detected frame of every track is labelled with the reference person whose
   projection its 2-D lies on (median limb-joint distance under ``--label-frac`` of that person's projected
   height; "none" otherwise). Counted: detected and gap-filled frames per track, frames whose label differs
   from the track's majority label (identity switches), frames where two tracks sit on one person, and for the
   single-person output the persons it sat on;
4. 3-D per track against its person's reference in that camera's frame with ``tools.wild_benchmark``'s metrics
   (``score_camera``: P-MPJPE, root-aligned MPJPE, limb angle, acceleration error; 13 joints, pelvis = hip
   midpoint) on the detected frames, the gap-filled frames, and the frames that were gap-filled "before".

``sizes`` mode (``--sizes full,heavy``) instead runs ``tools.wild_benchmark``'s single-person benchmark once per
MediaPipe model size (the demo's ``--mediapipe-model``) and times the 2-D detector alone on the same videos:
``benchmarks/detector_size.{json,md}``.

    python -m tools.multi_benchmark                  # → benchmarks/multi_benchmark.{json,md}
    python -m tools.multi_benchmark --sizes full,heavy   # → benchmarks/detector_size.{json,md}
"""
from __future__ import annotations

import contextlib
import itertools
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from hot_pose.data.multiview import (
    CameraCalibration,
    reprojection_errors,
    synchronise,
    triangulate,
    triangulate_robust,
)
from tools.wild_benchmark import (
    BenchmarkError,
    with_pelvis,
)

_logger = logging.getLogger("tools.multi_benchmark")

ROOT = Path(__file__).resolve().parents[1]
#: COCO-17 index of each of the 12 limb joints (``tools.wild_benchmark.JOINTS[1:]`` order)
COCO_12 = tuple(range(5, 17))
#: the two reference persons, by stature
PERSONS = ("A", "B")
RUNS = ("multi_before", "multi_after", "single_before", "single_after")


# ---------------------------------------------------------------------------------------------
# runs of the demo
# ---------------------------------------------------------------------------------------------
@dataclass
class ViewRun:
    """One run of the demo on one view, with a track axis (one track for the single-person output).

    Attributes:
        keypoints: (P, T, 17, 2) COCO-17 pixels as detected, NaN where not detected.
        scores: (P, T, 17).
        found: (P, T) bool detected.
        present: (P, T) bool inside the track's life (detected or gap-filled).
        poses: (P, T, 17, 3) lifted H36M-17 poses (metres, root-relative camera frame); ``None`` without lifting.
        seconds: wall time of the run.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    found: np.ndarray
    present: np.ndarray
    poses: Optional[np.ndarray]
    seconds: float = 0.0


def read_outputs(folder: Path, seconds: float = 0.0) -> ViewRun:
    """The demo's ``keypoints_2d.npz`` and ``poses_3d.npz`` in ``folder`` (single- or multi-person files)."""
    with np.load(folder / "keypoints_2d.npz") as k, np.load(folder / "poses_3d.npz") as p:
        kp, sc, found, poses = k["keypoints"], k["scores"], k["found"], p["poses_3d"]
        present = k["present"] if "present" in k.files else np.ones_like(found)
    if kp.ndim == 3:  # single person: one track over the whole video
        kp, sc, found, present, poses = kp[None], sc[None], found[None], present[None], poses[None]
    return ViewRun(kp.astype(np.float64), sc.astype(np.float64), found.astype(bool), present.astype(bool),
                   poses.astype(np.float64), seconds)


def run_view(video: Path, workdir: Path, multi: bool, recover: bool, max_frames: Optional[int], device: str,
             model_size: Optional[str] = None) -> ViewRun:
    """The demo (``run_demo``, no rendering) on one view; ``recover=False`` turns occlusion recovery off."""
    from hot_pose.wild.pipeline import DemoOptions, run_demo

    opts = DemoOptions(video=str(video), output=str(workdir), render=False, progress=False, device=device,
                       max_frames=max_frames, multi=multi, mediapipe_model=model_size,
                       detector_options={"recover": recover})
    start = time.perf_counter()
    run_demo(opts)
    return read_outputs(workdir, time.perf_counter() - start)


def run_plain_single(video: Path, max_frames: Optional[int]) -> ViewRun:
    """MediaPipe's own one-person graph on every frame (the demo's single-person 2-D before identity keeping):
    2-D only, no lifting."""
    from hot_pose.wild.detectors.base import Detector2D
    from hot_pose.wild.detectors.mediapipe import MediaPipeDetector
    from hot_pose.wild.video import iter_frames

    start = time.perf_counter()
    with MediaPipeDetector() as detector:
        det = Detector2D.__call__(detector, iter_frames(video, max_frames))
    return ViewRun(det.keypoints[None].astype(np.float64), det.scores[None].astype(np.float64), det.found[None],
                   np.ones_like(det.found[None]), None, time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------
# the reference: persons matched across views by geometry, triangulated, linked over time
# ---------------------------------------------------------------------------------------------
def frame_candidates(runs: Sequence[ViewRun], frame: int, camera: CameraCalibration, dedup_px: float = 5.0
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """Every distinct detection of one view in one frame, from all tracks of ``runs``.

    Returns:
        ``(points, weights)``: (n, 12, 2) undistorted limb-joint pixels and (n, 12) scores; a detection within
        ``dedup_px`` (median joint distance) of one already listed is left out.
    """
    points: List[np.ndarray] = []
    weights: List[np.ndarray] = []
    for run in runs:
        if frame >= run.found.shape[1]:
            continue
        for p in np.flatnonzero(run.found[:, frame]):
            pts = camera.undistort(run.keypoints[p, frame, list(COCO_12)])
            if not np.isfinite(pts).all(axis=-1).any():
                continue
            if any(np.nanmedian(np.linalg.norm(pts - q, axis=-1)) < dedup_px for q in points):
                continue
            points.append(pts)
            weights.append(np.nan_to_num(run.scores[p, frame, list(COCO_12)]))
    if not points:
        return np.zeros((0, 12, 2)), np.zeros((0, 12))
    return np.stack(points), np.stack(weights)


def match_persons(points: Sequence[np.ndarray], weights: Sequence[np.ndarray], projections: np.ndarray,
                  match_px: float, max_persons: int = 2, min_views: int = 3) -> List[Dict[int, int]]:
    """Persons of one instant, matched across views by geometry (see the module docstring, step 2).

    Args:
        points: per view, (n_v, 12, 2) undistorted pixels of its detections.
        weights: per view, (n_v, 12) scores.
        projections: (V, 3, 4).
        match_px: a choice counts only if every view's median limb-joint reprojection error is under this.
        max_persons: most persons returned.
        min_views: fewest views of a person.

    Returns:
        Per person, ``{view: detection index}``; most views first, then the lowest error.
    """
    V = len(points)
    choices = [c for c in itertools.product(*[range(-1, len(p)) for p in points])
               if sum(i >= 0 for i in c) >= min_views]
    if not choices:
        return []
    pts = np.full((V, len(choices), 12, 2), np.nan)
    w = np.zeros((V, len(choices), 12))
    for h, choice in enumerate(choices):
        for v, i in enumerate(choice):
            if i >= 0:
                pts[v, h], w[v, h] = points[v][i], weights[v][i]
    X = triangulate(pts, projections, w)  # (H, 12, 3)
    with np.errstate(invalid="ignore"):
        err = reprojection_errors(X, pts, projections)  # (V, H, 12)
    with np.errstate(all="ignore"), _quiet_nan_warnings():
        per_view = np.nanmedian(np.where(w > 0, err, np.nan), axis=-1)  # (V, H)
    used = np.array([[i >= 0 for i in c] for c in choices]).T  # (V, H)
    worst = np.where(used, np.nan_to_num(per_view, nan=np.inf), -np.inf).max(axis=0)
    order = sorted((h for h in range(len(choices)) if worst[h] <= match_px),
                   key=lambda h: (-int(used[:, h].sum()), worst[h]))
    persons: List[Dict[int, int]] = []
    taken = [set() for _ in range(V)]
    for h in order:
        if len(persons) == max_persons:
            break
        choice = choices[h]
        if any(i >= 0 and i in taken[v] for v, i in enumerate(choice)):
            continue
        persons.append({v: i for v, i in enumerate(choice) if i >= 0})
        for v, i in enumerate(choice):
            if i >= 0:
                taken[v].add(i)
    return persons


@contextlib.contextmanager
def _quiet_nan_warnings() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@dataclass
class Reference:
    """The reference persons on the common timeline.

    Attributes:
        frames: (N,) timeline frames (the reference camera's).
        offsets: per camera, its frame = timeline frame + offset.
        world: (K, N, 13, 3) metres, ``tools.wild_benchmark.JOINTS`` order; NaN where a person has no skeleton.
        views: (K, N) number of views each person was matched in (0: none).
        reprojection_px: median reprojection error of the views kept by the robust triangulation.
        stature_m: (K,) median head-free height proxy: mean ankle → shoulder distance, metres.
    """

    frames: np.ndarray
    offsets: Dict[str, int]
    world: np.ndarray
    views: np.ndarray
    reprojection_px: float
    stature_m: np.ndarray


def sync_offsets(names: Sequence[str], cameras: Dict[str, CameraCalibration], runs: Dict[str, ViewRun],
                 reference: str, max_offset: int) -> Tuple[Dict[str, int], float]:
    """Frame offsets that synchronise the views: ``synchronise`` on every choice of one track per view (the
    reference view's first track fixed), the choice with the lowest median reprojection error kept."""
    projections = np.stack([cameras[n].P for n in names])
    ref = names.index(reference)
    per_view = []
    for n in names:
        run = runs[n]
        pts = [cameras[n].undistort(np.where(run.found[p, :, None, None], run.keypoints[p][:, list(COCO_12)], np.nan))
               for p in range(run.found.shape[0])]
        w = [np.where(run.found[p, :, None], run.scores[p][:, list(COCO_12)], 0.0) for p in range(run.found.shape[0])]
        per_view.append(list(zip(pts, w)))
    best: Tuple[float, List[int]] = (math.inf, [0] * len(names))
    ranges = [[0] if v == ref else range(len(per_view[v])) for v in range(len(names))]
    for choice in itertools.product(*ranges):
        points = [per_view[v][c][0] for v, c in enumerate(choice)]
        weights = [per_view[v][c][1] for v, c in enumerate(choice)]
        try:
            result = synchronise(points, weights, projections, reference=ref, max_offset=max_offset)
        except ValueError:
            continue
        if result.cost_px < best[0]:
            best = (result.cost_px, result.offsets)
    if not math.isfinite(best[0]):
        raise BenchmarkError("cannot synchronise the views (no track choice overlaps); use more frames")
    return dict(zip(names, best[1])), best[0]


def build_reference(names: Sequence[str], cameras: Dict[str, CameraCalibration], runs: Dict[str, List[ViewRun]],
                    offsets: Dict[str, int], match_px: float, outlier_px: float) -> Reference:
    """The reference persons (see the module docstring, step 2)."""
    projections = np.stack([cameras[n].P for n in names])
    lengths = [max(r.found.shape[1] for r in runs[n]) for n in names]
    t = np.arange(-max(abs(o) for o in offsets.values()), max(lengths))
    ok = np.all([(t + offsets[n] >= 0) & (t + offsets[n] < length) for n, length in zip(names, lengths)], axis=0)
    frames = t[ok]
    K = len(PERSONS)
    skeletons: List[List[np.ndarray]] = []  # per frame, the persons' (13, 3) world skeletons
    counts: List[List[int]] = []
    kept_errors: List[np.ndarray] = []
    for f in frames:
        cands = [frame_candidates(runs[n], int(f + offsets[n]), cameras[n]) for n in names]
        matched = match_persons([c[0] for c in cands], [c[1] for c in cands], projections, match_px, K)
        here, views = [], []
        for person in matched:
            pts = np.full((len(names), 12, 2), np.nan)
            w = np.zeros((len(names), 12))
            for v, i in person.items():
                pts[v], w[v] = cands[v][0][i], cands[v][1][i]
            tri = triangulate_robust(pts, projections, w, threshold_px=outlier_px)
            here.append(with_pelvis(tri.points))
            views.append(len(person))
            kept_errors.append(tri.used_errors)
        skeletons.append(here)
        counts.append(views)
    world = np.full((K, len(frames), 13, 3), np.nan)
    nviews = np.zeros((K, len(frames)), int)
    last = np.full((K, 3), np.nan)
    for i, (here, views) in enumerate(zip(skeletons, counts)):
        if not here:
            continue
        pelvis = np.stack([s[0] for s in here])
        if np.isnan(last).all():
            slots = list(range(len(here)))
        else:
            cost = np.linalg.norm(pelvis[:, None] - np.nan_to_num(last, nan=1e6)[None], axis=-1)
            cost = np.where(np.isfinite(cost), cost, 1e6)
            rows, cols = linear_sum_assignment(cost)
            slots = [-1] * len(here)
            for r, c in zip(rows, cols):
                slots[r] = int(c)
        for skeleton, count, slot in zip(here, views, slots):
            if slot >= 0 and np.isfinite(skeleton[0]).all():
                world[slot, i], nviews[slot, i] = skeleton, count
                last[slot] = skeleton[0]
    stature = np.array([_stature(world[k]) for k in range(K)])
    order = np.argsort(-np.nan_to_num(stature, nan=-1))
    errors = np.concatenate(kept_errors) if kept_errors else np.zeros(0)
    return Reference(frames=frames, offsets=dict(offsets), world=world[order], views=nviews[order],
                     reprojection_px=float(np.median(errors)) if errors.size else math.nan,
                     stature_m=stature[order])


def _stature(world: np.ndarray) -> float:
    """Median over frames of the mean ankle → shoulder distance of one person's (N, 13, 3) skeletons."""
    left = np.linalg.norm(world[:, 1] - world[:, 11], axis=-1)
    right = np.linalg.norm(world[:, 2] - world[:, 12], axis=-1)
    values = (left + right) / 2
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else math.nan
