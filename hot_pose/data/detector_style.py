"""Detector-like 2-D for virtual-camera views: a detector's joint conventions and noise, measured on data.

Part of the HoT project (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose
Estimation", CVPR 2024, arXiv:2311.12028); not in the reference. When a lifter is trained on a 2-D detector's
keypoints and some windows are re-projected through virtual cameras (``PoseWindowDataset(virtual_cameras=p)``),
the re-projection is exact ground truth: without this module those windows would teach the lifter clean 2-D
with Human3.6M's joint definitions, which no detector gives. 2-D detectors place some joints elsewhere than
Human3.6M's motion-capture joint centres: on the Stacked-Hourglass detections (MPII-pretrained) of the
training subjects the hips are 0.73× and the shoulders 1.21× as far apart as in the GT projection (medians
over 1.3 M frames), and MediaPipe's hips are narrower still.

``measure_detector_style`` measures, on the training sequences only, how the detector's 2-D differs from the GT
projection of the same frames: per sequence the median ratio of the detector's hip width (and shoulder width)
to the GT's, measured along the GT line, and per joint the scatter of what remains (in units of the GT
pelvis→thorax length). ``apply_detector_style`` gives a clean virtual view that look, per window: hips and
shoulders narrowed/widened about their midpoints by a ratio drawn from the measured per-sequence ratios (times
U(1 ± ``ratio_spread``), so no single detector's convention is learnt exactly), Gaussian noise with the
measured per-joint scatter times U(``noise_scale``), and the gaps a demo fills by linear interpolation
(``hot_pose.wild.preprocess.fill_gaps``): a run of frames without a person, and one limb joint lost for a while.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Dict, Mapping, Sequence, Tuple

import numpy as np

_logger = logging.getLogger(__name__)

#: Human3.6M-17 joints used here
PELVIS, R_HIP, L_HIP, THORAX, L_SHOULDER, R_SHOULDER = 0, 1, 4, 8, 11, 14
#: limb joints a detector loses most often (knees, ankles, elbows, wrists)
LIMB_JOINTS = (2, 3, 5, 6, 12, 13, 15, 16)
#: GT widths below this (screen-normalised units; ~12 px on a 1000 px image) are not measured (side views)
MIN_WIDTH = 0.025


@dataclass(frozen=True)
class DetectorStyle:
    """How one 2-D source differs from the GT projection (``measure_detector_style``).

    Attributes:
        source: the 2-D source's name (e.g. ``"sh_pt_mpii"``).
        hip_ratio: (K,) per-sequence median of detector hip width / GT hip width.
        shoulder_ratio: (K,) the same for the shoulders.
        noise: (J,) per-joint scatter (std of one coordinate) of the rest of the difference, in units of the GT
            pelvis→thorax length.
        frames: frames measured.
        ratio_spread: a window's ratio is a measured one times U(1 - spread, 1 + spread).
        noise_scale: a window's noise is the measured scatter times U(noise_scale).
        frame_gap: probability that a window has a run of 2-8 frames without a detection.
        joint_gap: probability that a window loses one limb joint for 2-12 frames.
    """

    source: str
    hip_ratio: np.ndarray
    shoulder_ratio: np.ndarray
    noise: np.ndarray
    frames: int
    ratio_spread: float = 0.15
    noise_scale: Tuple[float, float] = (0.5, 1.5)
    frame_gap: float = 0.2
    joint_gap: float = 0.3

    def summary(self) -> Dict[str, object]:
        """JSON-able medians and ranges, for the training log and the run's protocol."""
        pct = lambda a: [round(float(v), 3) for v in np.percentile(a, [10, 50, 90])]  # noqa: E731
        return {"source": self.source, "frames": self.frames, "sequences": int(len(self.hip_ratio)),
                "hip_ratio_p10_p50_p90": pct(self.hip_ratio), "shoulder_ratio_p10_p50_p90": pct(self.shoulder_ratio),
                "noise_per_joint": [round(float(v), 3) for v in self.noise], "ratio_spread": self.ratio_spread,
                "noise_scale": list(self.noise_scale), "frame_gap": self.frame_gap, "joint_gap": self.joint_gap}


def width_ratio(detected: np.ndarray, gt: np.ndarray, a: int, b: int) -> np.ndarray:
    """(N,) detector width along the GT line a→b over the GT width, NaN where the GT width < ``MIN_WIDTH``."""
    g, d = gt[:, a] - gt[:, b], detected[:, a] - detected[:, b]
    length2 = np.sum(g * g, axis=-1)
    ratio = np.sum(d * g, axis=-1) / np.maximum(length2, 1e-12)
    return np.where(length2 >= MIN_WIDTH ** 2, ratio, np.nan)


def scale_pair(pose_2d: np.ndarray, a: int, b: int, ratio: np.ndarray) -> np.ndarray:
    """Move joints a and b about their midpoint so that their distance is ``ratio`` times what it was.

    Args:
        pose_2d: (..., J, 2); changed in place and returned.
        ratio: scalar or (...,) broadcastable to the leading dimensions.
    """
    mid = (pose_2d[..., a, :] + pose_2d[..., b, :]) / 2
    r = np.asarray(ratio, dtype=pose_2d.dtype)[..., None]
    pose_2d[..., a, :] = mid + r * (pose_2d[..., a, :] - mid)
    pose_2d[..., b, :] = mid + r * (pose_2d[..., b, :] - mid)
    return pose_2d


def measure_detector_style(pairs: Sequence[Tuple[np.ndarray, np.ndarray]], source: str,
                           every: int = 10) -> DetectorStyle:
    """Measure a detector against the GT projection of the same frames.

    Args:
        pairs: per sequence ``(detected, gt)``: (N, 17, 2) each, screen-normalised, H36M-17 order, the same frames.
        source: the detector's name, for the summary.
        every: use every ``every``-th frame.

    Raises:
        ValueError: no sequence has a measurable frame (17 joints needed).
    """
    hips, shoulders, residuals = [], [], []
    for detected, gt in pairs:
        d = np.asarray(detected, dtype=np.float64)[::every]
        g = np.asarray(gt, dtype=np.float64)[::every]
        if d.shape != g.shape or d.ndim != 3 or d.shape[1] != 17 or len(d) == 0:
            continue
        hip = width_ratio(d, g, R_HIP, L_HIP)
        shoulder = width_ratio(d, g, R_SHOULDER, L_SHOULDER)
        if np.isfinite(hip).sum() < 5 or np.isfinite(shoulder).sum() < 5:
            continue
        hips.append(np.nanmedian(hip))
        shoulders.append(np.nanmedian(shoulder))
        styled = scale_pair(scale_pair(g.copy(), R_HIP, L_HIP, hips[-1]), R_SHOULDER, L_SHOULDER, shoulders[-1])
        scale = np.linalg.norm(g[:, THORAX] - g[:, PELVIS], axis=-1)  # (N,)
        keep = scale >= MIN_WIDTH
        residuals.append((d - styled)[keep] / scale[keep, None, None])
    if not hips:
        raise ValueError(f"cannot measure the 2-D source '{source}' against the GT projection: no sequence with "
                         "17 joints and visible hips and shoulders")
    res = np.concatenate(residuals)  # (N, 17, 2)
    res -= np.median(res, axis=0)  # a per-joint constant offset is not noise
    noise = 1.4826 * np.median(np.abs(res), axis=(0, 2))  # robust std of one coordinate, per joint
    return DetectorStyle(source=source, hip_ratio=np.asarray(hips), shoulder_ratio=np.asarray(shoulders),
                         noise=noise.astype(np.float64), frames=int(len(res)))


def _interpolate_run(values: np.ndarray, start: int, stop: int) -> None:
    """Replace frames [start, stop) of (F, ..., 2) ``values`` in place by the linear interpolation between the
    frames around the run (the nearest one at an end of the window), as ``fill_gaps`` fills a missing stretch."""
    frames = values.shape[0]
    before, after = start - 1, stop
    if before < 0 and after >= frames:
        return
    if before < 0:
        values[start:stop] = values[after]
    elif after >= frames:
        values[start:stop] = values[before]
    else:
        w = ((np.arange(start, stop) - before) / (after - before)).reshape((-1,) + (1,) * (values.ndim - 1))
        values[start:stop] = (1 - w) * values[before] + w * values[after]


def apply_detector_style(pose_2d: np.ndarray, style: DetectorStyle, rng: np.random.Generator) -> np.ndarray:
    """Give a clean (GT-projected) window of 2-D the measured look of the detector.

    Args:
        pose_2d: (F, 17, 2) screen-normalised GT projection (not changed).
        style: ``measure_detector_style`` output.
        rng: the source of every random number.

    Returns:
        (F, 17, 2) float32: hips and shoulders rescaled about their midpoints, per-joint Gaussian noise in units
        of each frame's pelvis→thorax length, and possibly one run of missing frames and one lost limb joint,
        each filled by linear interpolation.
    """
    out = np.array(pose_2d, dtype=np.float64, copy=True)
    frames = out.shape[0]
    spread = lambda: rng.uniform(1 - style.ratio_spread, 1 + style.ratio_spread)  # noqa: E731
    scale_pair(out, R_HIP, L_HIP, style.hip_ratio[rng.integers(len(style.hip_ratio))] * spread())
    scale_pair(out, R_SHOULDER, L_SHOULDER, style.shoulder_ratio[rng.integers(len(style.shoulder_ratio))] * spread())
    body = np.linalg.norm(out[:, THORAX] - out[:, PELVIS], axis=-1)  # (F,)
    sigma = style.noise[None, :, None] * body[:, None, None] * rng.uniform(*style.noise_scale)
    out += rng.standard_normal(out.shape) * sigma
    if frames > 2 and rng.random() < style.frame_gap:
        length = int(rng.integers(2, min(8, frames - 1) + 1))
        start = int(rng.integers(0, frames - length + 1))
        _interpolate_run(out, start, start + length)
    if frames > 2 and rng.random() < style.joint_gap:
        joint = LIMB_JOINTS[int(rng.integers(len(LIMB_JOINTS)))]
        length = int(rng.integers(2, min(12, frames - 1) + 1))
        start = int(rng.integers(0, frames - length + 1))
        _interpolate_run(out[:, joint], start, start + length)
    return out.astype(np.float32)


def style_pairs(sequences: Sequence[object], cameras: Mapping[str, Sequence[object]]) -> list:
    """``(detected, gt)`` pairs of ``PoseSequence`` objects: the sequence's 2-D and the projection of its 3-D
    through its real camera (distortion included), both screen-normalised."""
    from hot_pose.data.camera import to_absolute  # local: hot_pose.data.dataset imports this module

    pairs = []
    for seq in sequences:
        camera = cameras[seq.subject][seq.cam_idx]
        gt = camera.normalize(camera.project(to_absolute(np.asarray(seq.pose_3d, dtype=np.float64))))
        pairs.append((seq.pose_2d, gt))
    return pairs
