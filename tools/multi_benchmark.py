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
    python -m tools.multi_benchmark --keep-runs /tmp/runs  # keeps the demo runs; a second call only re-scores

The single-person and identity counts are also what ``tests/test_identity.py`` checks on every view without the
reference (the single-person 2-D is one ``--multi`` track in every frame).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import itertools
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

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
#: ``--sizes``: a slower model size is the better default only if it lowers both P-MPJPE and MPJPE by this share
#: against every size's reference (a 2-3x slower detector must buy a clear accuracy gain)
MIN_GAIN_FOR_SLOWER = 0.10


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


def save_run(path: Path, run: ViewRun) -> None:
    """``run`` into an npz (``--keep-runs``), written atomically."""
    import io

    from hot_pose.utils.outputs import atomic_write

    buf = io.BytesIO()
    arrays = dict(keypoints=run.keypoints, scores=run.scores, found=run.found, present=run.present,
                  seconds=np.array(run.seconds))
    if run.poses is not None:
        arrays["poses"] = run.poses
    np.savez_compressed(buf, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buf.getvalue())


def load_run(path: Path) -> ViewRun:
    """A run saved by ``save_run``."""
    with np.load(path) as f:
        return ViewRun(f["keypoints"], f["scores"], f["found"], f["present"],
                       f["poses"] if "poses" in f.files else None, float(f["seconds"]))


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


# ---------------------------------------------------------------------------------------------
# labelling the tracks with the reference persons, counting, scoring
# ---------------------------------------------------------------------------------------------
def label_run(run: ViewRun, camera: CameraCalibration, ref: Reference, offset: int, label_frac: float
              ) -> np.ndarray:
    """Per track and frame, the reference person whose projection the detected 2-D lies on (see the module
    docstring, step 3).

    Returns:
        (P, T) int: person index (``PERSONS``), -1 detected but on nobody, -2 not detected or no reference then.
    """
    P, T = run.found.shape
    labels = np.full((P, T), -2, int)
    K = ref.world.shape[0]
    projected = camera.project(ref.world[:, :, 1:], distort=True)  # (K, N, 12, 2) detected-pixel space
    index = {int(f) + offset: i for i, f in enumerate(ref.frames)}
    for t in range(T):
        i = index.get(t)
        if i is None:
            continue
        for p in np.flatnonzero(run.found[:, t]):
            best, best_d = -1, math.inf
            for k in range(K):
                proj = projected[k, i]
                if not np.isfinite(proj).all():
                    continue
                height = float(proj[:, 1].max() - proj[:, 1].min())
                with _quiet_nan_warnings():
                    d = float(np.nanmedian(np.linalg.norm(run.keypoints[p, t, list(COCO_12)] - proj, axis=-1)))
                if math.isfinite(d) and d < label_frac * height and d < best_d:
                    best, best_d = k, d
            labels[p, t] = best
    return labels


def majority(labels: np.ndarray) -> int:
    """The most frequent person label (>= 0) of one track; -1 if it never sat on anybody."""
    values = labels[labels >= 0]
    return int(np.bincount(values).argmax()) if values.size else -1


def count_run(run: ViewRun, labels: np.ndarray) -> Dict[str, Any]:
    """Detected / gap-filled frames per track, identity switches, two-tracks-on-one-person frames."""
    tracks = []
    for p in range(run.found.shape[0]):
        m = majority(labels[p])
        tracks.append(dict(
            track=p, person=PERSONS[m] if m >= 0 else None,
            detected=int(run.found[p].sum()), gap_filled=int((run.present[p] & ~run.found[p]).sum()),
            off_person=int(((labels[p] >= 0) & (labels[p] != m)).sum()),
            on_nobody=int((labels[p] == -1).sum()),
            persons_seen={PERSONS[k]: int((labels[p] == k).sum()) for k in range(len(PERSONS))
                          if (labels[p] == k).any()}))
    two_on_one = 0
    for t in range(labels.shape[1]):
        here = labels[:, t][labels[:, t] >= 0]
        two_on_one += int(len(here) != len(set(here.tolist())))
    return dict(tracks=tracks, two_tracks_on_one_person_frames=two_on_one,
                identity_switch_frames=int(sum(t["off_person"] for t in tracks)))


def score_track(run: ViewRun, p: int, frames_mask: np.ndarray, ref_cam: np.ndarray, idx: np.ndarray,
                fps: float, sigma: float) -> Optional[Dict[str, float]]:
    """``score_camera`` of track ``p``'s lifted poses on the timeline frames ``frames_mask`` (None if empty)."""
    from tools.wild_benchmark import from_h36m, score_camera

    if run.poses is None:
        return None
    inside = (idx >= 0) & (idx < run.poses.shape[1])
    pred = np.full(ref_cam.shape, np.nan)
    pred[inside] = from_h36m(run.poses[p, idx[inside]])
    valid = frames_mask & inside & np.isfinite(ref_cam).all(axis=(1, 2)) & np.isfinite(pred).all(axis=(1, 2))
    if valid.sum() < 1:
        return None
    return score_camera(pred, ref_cam, valid, fps, sigma)


def view_scores(name: str, camera: CameraCalibration, ref: Reference, runs: Dict[str, ViewRun],
                labels: Dict[str, np.ndarray], fps: float, sigma: float) -> Dict[str, Any]:
    """Per reference person: its track in each lifted run, scored on its detected frames, its gap-filled frames,
    and the frames gap-filled "before" (``multi_before``), for the before and the after track."""
    idx = ref.frames + ref.offsets[name]
    out: Dict[str, Any] = {}
    for k, person in enumerate(PERSONS):
        ref_cam = camera.world_to_camera(ref.world[k])
        entry: Dict[str, Any] = {}
        tracks = {}
        for key in ("multi_before", "multi_after", "single_after"):
            run, lab = runs[key], labels[key]
            owners = [p for p in range(run.found.shape[0]) if majority(lab[p]) == k]
            if not owners:
                continue
            p = max(owners, key=lambda q: int(run.found[q].sum()))
            tracks[key] = p
            inside = (idx >= 0) & (idx < run.found.shape[1])
            found = np.zeros(len(idx), bool)
            gap = np.zeros(len(idx), bool)
            found[inside] = run.found[p, idx[inside]]
            gap[inside] = run.present[p, idx[inside]] & ~run.found[p, idx[inside]]
            entry[key] = dict(track=p, detected=score_track(run, p, found, ref_cam, idx, fps, sigma),
                              gap_filled=score_track(run, p, gap, ref_cam, idx, fps, sigma))
        if "multi_before" in tracks and "multi_after" in tracks:
            before, after = runs["multi_before"], runs["multi_after"]
            pb, pa = tracks["multi_before"], tracks["multi_after"]
            inside = (idx >= 0) & (idx < before.found.shape[1])
            was_gap = np.zeros(len(idx), bool)
            now_found = np.zeros(len(idx), bool)
            was_gap[inside] = before.present[pb, idx[inside]] & ~before.found[pb, idx[inside]]
            now_found[inside] = after.found[pa, idx[inside]]
            entry["formerly_gap_filled"] = dict(
                frames=int(was_gap.sum()), now_detected=int((was_gap & now_found).sum()),
                before=score_track(before, pb, was_gap, ref_cam, idx, fps, sigma),
                after=score_track(after, pa, was_gap, ref_cam, idx, fps, sigma))
        out[person] = entry
    return out


# ---------------------------------------------------------------------------------------------
# the two modes
# ---------------------------------------------------------------------------------------------
def command_line(argv: Sequence[str]) -> str:
    """The command that reproduces a report."""
    return " ".join(["python -m tools.multi_benchmark", *argv])


def run_identity(args) -> Dict[str, Any]:
    """Default mode: every view through the demo (before/after, multi/single), the reference, the counts."""
    import tempfile

    from hot_pose.data.multiview import parse_qca
    from hot_pose.wild.sample import MULTI_SET_ATTRIBUTION, demo_set
    from hot_pose.wild.video import probe_video
    from tools.wild_benchmark import CALIBRATION_NAME, CAMERAS, environment

    start = time.perf_counter()
    folder = demo_set(args.cache_dir, which="multiperson")
    cameras = parse_qca(folder / CALIBRATION_NAME)
    names = list(CAMERAS)
    runs: Dict[str, Dict[str, ViewRun]] = {}
    keep = Path(args.keep_runs) if args.keep_runs else None
    with tempfile.TemporaryDirectory(prefix="hot-multi-benchmark-") as tmp:
        for name in names:
            video = folder / f"{name}.mp4"
            runs[name] = {}
            for key, multi, recover in (("multi_before", True, False), ("multi_after", True, True),
                                        ("single_after", False, True), ("single_before", False, False)):
                kept = None if keep is None else keep / f"{name}_{key}.npz"
                if kept is not None and kept.is_file():
                    runs[name][key] = load_run(kept)
                    continue
                _logger.info("%s: %s", name, key)
                if key == "single_before":  # MediaPipe's one-person graph
                    runs[name][key] = run_plain_single(video, args.max_frames)
                else:
                    runs[name][key] = run_view(video, Path(tmp) / f"{name}_{key}", multi, recover, args.max_frames,
                                               args.device)
                if kept is not None:
                    save_run(kept, runs[name][key])
    fps = float(probe_video(folder / f"{names[0]}.mp4").fps)
    multi_runs = {n: runs[n]["multi_after"] for n in names}
    offsets, sync_px = sync_offsets(names, cameras, multi_runs, names[0], args.max_offset)
    _logger.info("sync offsets: %s (%.2f px)", offsets, sync_px)
    ref = build_reference(names, cameras, {n: list(runs[n].values()) for n in names}, offsets, args.match_px,
                          args.outlier_px)
    views: Dict[str, Any] = {}
    for n in names:
        labels = {key: label_run(run, cameras[n], ref, offsets[n], args.label_frac) for key, run in runs[n].items()}
        views[n] = dict(counts={key: count_run(runs[n][key], labels[key]) for key in RUNS},
                        seconds={key: round(runs[n][key].seconds, 1) for key in RUNS},
                        scores=view_scores(n, cameras[n], ref, runs[n], labels, fps, args.smooth_sigma))
    return dict(
        tool="tools.multi_benchmark", mode="identity",
        paper="HoT: Li et al., CVPR 2024, arXiv:2311.12028",
        command=command_line(args.argv), environment=environment(),
        data=dict(attribution=MULTI_SET_ATTRIBUTION, folder="Demo_MultiPerson", fps=fps,
                  frames={n: int(runs[n]["multi_after"].found.shape[1]) for n in names}),
        settings=dict(max_frames=args.max_frames, match_px=args.match_px, outlier_px=args.outlier_px,
                      label_frac=args.label_frac, max_offset=args.max_offset, smooth_sigma=args.smooth_sigma),
        reference=dict(frames=int(len(ref.frames)), offsets=offsets, sync_px=sync_px,
                       reprojection_px=ref.reprojection_px, stature_m=ref.stature_m.round(3).tolist(),
                       frames_with_person={p: int((ref.views[k] > 0).sum()) for k, p in enumerate(PERSONS)}),
        views=views, wall_s=round(time.perf_counter() - start, 1))


def run_sizes(args) -> Dict[str, Any]:
    """``--sizes``: ``tools.wild_benchmark`` once per model size, plus the 2-D stage's own speed."""
    from tools import wild_benchmark as wb
    from tools.wild_benchmark import environment

    start = time.perf_counter()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    results: Dict[str, Any] = {}
    kept: Dict[str, Dict[str, Any]] = {}
    for size in sizes:
        frames = [] if args.max_frames is None else ["--max-frames", str(args.max_frames)]
        wargs = wb.build_parser().parse_args(["--mean-pose", "reference", *frames])
        wargs.argv, wargs.mediapipe_model, wargs.keep = [], size, {}
        wargs.device, wargs.cache_dir = args.device, args.cache_dir
        _logger.info("model size %s: tools.wild_benchmark", size)
        report = wb.run_benchmark(wargs)
        kept[size] = wargs.keep
        detect = report["detector_timings"]
        frames = sum(d["frames"] for d in detect.values())
        seconds = sum(d["detect_2d_s"] for d in detect.values())
        results[size] = dict(results=report["results"], person_found=report["data"]["person_found"],
                             calibration_px=report["calibration"]["check"]["median_reprojection_px"],
                             detector=dict(frames=frames, seconds=round(seconds, 2), fps=frames / seconds,
                                           per_view=detect))
    # every size's lifted poses against every size's reference: a reference triangulated from one size's 2-D
    # favours that size, so a size counts as better only if it is better against the others' references too
    for size in sizes:
        cross = {}
        for ref_size in sizes:
            k, r = kept[ref_size], kept[size]
            scores = wb.score_views(k["names"], k["cameras"], r["runs"], k["reference_world"], k["common"],
                                    k["offsets"], ["ours"], None, k["fps"], args.smooth_sigma)
            cross[ref_size] = scores["mean"]["ours"]
        results[size]["against_reference_of"] = cross
    fastest = max(sizes, key=lambda z: results[z]["detector"]["fps"])
    default = fastest
    for size in sizes:
        if size == fastest:
            continue
        gain = min(1 - results[size]["against_reference_of"][r][m] / results[fastest]["against_reference_of"][r][m]
                   for r in sizes for m in ("p_mpjpe_mm", "mpjpe_mm"))
        results[size]["smallest_gain_over_fastest"] = gain
        if gain >= MIN_GAIN_FOR_SLOWER and default == fastest:
            default = size
    rule = (f"the fastest size ({fastest}) unless a slower one lowers both P-MPJPE and MPJPE by at least "
            f"{100 * MIN_GAIN_FOR_SLOWER:.0f} % against every size's reference (smallest gain: " +
            ", ".join(f"{z} {100 * results[z]['smallest_gain_over_fastest']:.1f} %" for z in sizes if z != fastest)
            + ")")
    return dict(tool="tools.multi_benchmark", mode="sizes", paper="HoT: Li et al., CVPR 2024, arXiv:2311.12028",
                command=command_line(args.argv), environment=environment(), load_average=list(os.getloadavg()),
                sizes=sizes, results=results, default=default, default_rule=rule,
                wall_s=round(time.perf_counter() - start, 1))


# ---------------------------------------------------------------------------------------------
# reports
# ---------------------------------------------------------------------------------------------
def _fmt(value: Optional[float], digits: int = 1) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def markdown_identity(report: Dict[str, Any]) -> str:
    ref = report["reference"]
    lines = [
        "# Several persons: identity and occlusion recovery (Pose2Sim Demo_MultiPerson)",
        "",
        f"{report['data']['attribution']} Four views, {min(report['data']['frames'].values())} frames each at "
        f"{report['data']['fps']:g} fps. Reference: per frame, all runs' detections matched across views by "
        f"geometry alone (every view within {report['settings']['match_px']:g} px), triangulated robustly "
        f"({ref['frames']} timeline frames; person A (taller, {ref['stature_m'][0]} m ankle→shoulder) in "
        f"{ref['frames_with_person']['A']}, B ({ref['stature_m'][1]} m) in {ref['frames_with_person']['B']}; "
        f"median reprojection {ref['reprojection_px']:.1f} px; sync offsets "
        + ", ".join(f"{k} {v:+d}" for k, v in ref["offsets"].items()) + "). A detection is on a person when its "
        f"median limb-joint distance to the person's projection is under {report['settings']['label_frac']:g} × "
        "the projected height.",
        "",
        "\"before\": `--multi` without occlusion recovery (`recover=False`); single-person before = MediaPipe's "
        "own one-person graph on every frame (the demo's earlier single-person 2-D). \"after\": the demo now.",
        "",
        "## Detected frames per track, identity",
        "",
        "| View | Run | Tracks: person detected / gap-filled | Off-person frames | Two tracks on one person | "
        "Persons sat on |",
        "|---|---|---|---:|---:|---|",
    ]
    for n, v in report["views"].items():
        for key in RUNS:
            c = v["counts"][key]
            tracks = "; ".join(f"#{t['track']} {t['person'] or '?'} {t['detected']}/{t['gap_filled']}"
                               for t in c["tracks"])
            seen = "; ".join(f"#{t['track']}: " + ", ".join(f"{p} {m}" for p, m in t["persons_seen"].items())
                             for t in c["tracks"])
            lines.append(f"| {n} | {key.replace('_', ' ')} | {tracks} | {c['identity_switch_frames']} | "
                         f"{c['two_tracks_on_one_person_frames']} | {seen} |")
    lines += ["", "## 3-D accuracy per person (camera frame; P-MPJPE / MPJPE mm, frames)", "",
              "| View | Person | multi before: detected | multi before: gap-filled | multi after: detected | "
              "multi after: gap-filled | formerly gap-filled: frames (now detected) | before | after |",
              "|---|---|---|---|---|---|---|---|---|"]

    def cell(s):
        return "–" if not s else f"{_fmt(s['p_mpjpe_mm'])} / {_fmt(s['mpjpe_mm'])} ({s['frames']})"

    for n, v in report["views"].items():
        for person, e in v["scores"].items():
            mb, ma, fg = e.get("multi_before", {}), e.get("multi_after", {}), e.get("formerly_gap_filled", {})
            lines.append(f"| {n} | {person} | {cell(mb.get('detected'))} | {cell(mb.get('gap_filled'))} | "
                         f"{cell(ma.get('detected'))} | {cell(ma.get('gap_filled'))} | "
                         f"{fg.get('frames', 0)} ({fg.get('now_detected', 0)}) | {cell(fg.get('before'))} | "
                         f"{cell(fg.get('after'))} |")
    lines += ["", f"Command: `{report['command']}` ({report['wall_s']:.0f} s).", ""]
    return "\n".join(lines)


def markdown_sizes(report: Dict[str, Any]) -> str:
    lines = [
        "# MediaPipe BlazePose full vs heavy in the demo",
        "",
        "3-D: `tools.wild_benchmark` (Pose2Sim Demo_SinglePerson, 4 views, reference = multi-view triangulation of "
        "that size's own 2-D), mean over the views. 2-D speed: the demo's `detect_2d` stage (decoding + BlazePose "
        f"+ tracking, one thread of work) over the same videos. Load average at the end: "
        f"{', '.join(f'{x:.2f}' for x in report['load_average'])}.",
        "",
        "| Model | P-MPJPE (mm) | MPJPE (mm) | Limb angle (°) | Accel. err. (mm/frame²) | Person found | "
        "Calibration check (px) | 2-D fps | 2-D ms/frame |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in report["sizes"]:
        r = report["results"][size]
        m = r["results"]["mean"]["ours"]
        found = float(np.mean(list(r["person_found"].values())))
        lines.append(f"| {size} | {m['p_mpjpe_mm']:.1f} | {m['mpjpe_mm']:.1f} | {m['limb_angle_deg']:.1f} | "
                     f"{m['accel_error_mm_f2']:.2f} | {100 * found:.0f}% | {r['calibration_px']:.2f} | "
                     f"{r['detector']['fps']:.1f} | {1000 / r['detector']['fps']:.1f} |")
    sizes = report["sizes"]
    lines += ["", "Each size's 3-D against each size's reference (a reference triangulated from one size's 2-D favours "
              "that size; P-MPJPE / MPJPE mm, mean of the views):", "",
              "| Model | " + " | ".join(f"reference from {r}" for r in sizes) + " |",
              "|---|" + "---:|" * len(sizes)]
    for size in sizes:
        cross = report["results"][size]["against_reference_of"]
        lines.append(f"| {size} | " + " | ".join(f"{cross[r]['p_mpjpe_mm']:.1f} / {cross[r]['mpjpe_mm']:.1f}"
                                                 for r in sizes) + " |")
    if report.get("default_rule"):
        lines += ["", f"Default: **{report['default']}**. Rule: {report['default_rule']}"]
    lines += ["", f"Command: `{report['command']}` ({report['wall_s']:.0f} s).", ""]
    return "\n".join(lines)


def build_parser():
    from hot_pose.utils.console import OneLineArgumentParser, finite_float, int_at_least

    p = OneLineArgumentParser(prog="python -m tools.multi_benchmark", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=None,
                   help="comma-separated MediaPipe model sizes (full,heavy): run the single-person benchmark per "
                        "size instead (writes detector_size.{json,md})")
    p.add_argument("--max-frames", type=int_at_least(20), default=None, help="only the first N frames (default all)")
    p.add_argument("--match-px", type=finite_float, default=40.0,
                   help="cross-view matching: largest median reprojection error of a view, px (default 40)")
    p.add_argument("--outlier-px", type=finite_float, default=30.0,
                   help="robust triangulation: views above this reprojection error dropped per joint (default 30)")
    p.add_argument("--label-frac", type=finite_float, default=0.15,
                   help="a detection is on a person under this fraction of its projected height (default 0.15)")
    p.add_argument("--max-offset", type=int_at_least(0), default=5, help="largest sync offset tried (default 5)")
    p.add_argument("--smooth-sigma", type=finite_float, default=2.0,
                   help="time smoothing of the reference for the acceleration error, frames (default 2)")
    p.add_argument("--device", default="cpu", help="lifter device (default cpu)")
    p.add_argument("--keep-runs", default=None,
                   help="folder for the demo runs (npz per view and run): reused when there, so the scoring can be "
                        "redone without running the demo again")
    p.add_argument("--cache-dir", type=Path, default=None, help="data cache (default ~/.cache/hot-pose)")
    p.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks", help="where to write (default benchmarks/)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    import json
    import sys

    from hot_pose.utils.console import run_tool
    from hot_pose.utils.outputs import StagedOutputs

    def _main(args: argparse.Namespace) -> int:
        from hot_pose.wild.detectors import MEDIAPIPE_MODELS
        from hot_pose.wild.errors import DemoError

        try:
            if args.sizes is not None:
                bad = [s for s in args.sizes.split(",") if s.strip() not in MEDIAPIPE_MODELS]
                if bad:
                    raise BenchmarkError(f"unknown model size(s) {', '.join(bad)} in --sizes; use "
                                         f"{','.join(MEDIAPIPE_MODELS)}")
                report, stem, text = run_sizes(args), "detector_size", markdown_sizes
            else:
                report, stem, text = run_identity(args), "multi_benchmark", markdown_identity
        except (BenchmarkError, DemoError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        md = text(report)
        with StagedOutputs() as stage:
            stage.write(args.out_dir / f"{stem}.json", json.dumps(report, indent=1, default=float) + "\n")
            stage.write(args.out_dir / f"{stem}.md", md)
        sys.stdout.write(md)
        return 0

    return run_tool(build_parser(), _main, argv)


if __name__ == "__main__":
    import sys

    sys.exit(main())
