"""Plausibility numbers of a 3-D pose sequence without ground truth (HoT demo; Li et al., CVPR 2024,
arXiv:2311.12028).

* bone-length coefficient of variation (std / mean over frames, per bone): a rigid skeleton keeps it low;
* left/right swaps: frames where a whole limb (hip-knee-ankle or shoulder-elbow-wrist) is closer to the
  previous frame's opposite limb than to its own;
* acceleration: ‖p[t+1] − 2p[t] + p[t−1]‖ per joint in m/s² (root-relative), mean and 99th percentile.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np

#: left/right limb chains of the H36M-17 skeleton (legs, arms)
LIMB_PAIRS: Tuple[Tuple[Sequence[int], Sequence[int]], ...] = (((4, 5, 6), (1, 2, 3)), ((11, 12, 13), (14, 15, 16)))


def bone_length_cv(poses: np.ndarray, bones: Sequence[Tuple[int, int]]) -> np.ndarray:
    """Per-bone coefficient of variation of the length over frames: (T, J, 3) → (num_bones,)."""
    lengths = np.stack([np.linalg.norm(poses[:, a] - poses[:, b], axis=-1) for a, b in bones], axis=1)  # (T, B)
    return lengths.std(axis=0) / np.maximum(lengths.mean(axis=0), 1e-9)


def left_right_swaps(poses: np.ndarray) -> int:
    """Number of consecutive-frame transitions in which some limb pair is better matched swapped."""
    swaps = np.zeros(max(len(poses) - 1, 0), bool)
    for left, right in LIMB_PAIRS:
        prev_l, prev_r = poses[:-1][:, list(left)], poses[:-1][:, list(right)]
        cur_l, cur_r = poses[1:][:, list(left)], poses[1:][:, list(right)]
        straight = np.linalg.norm(cur_l - prev_l, axis=-1).sum(1) + np.linalg.norm(cur_r - prev_r, axis=-1).sum(1)
        crossed = np.linalg.norm(cur_l - prev_r, axis=-1).sum(1) + np.linalg.norm(cur_r - prev_l, axis=-1).sum(1)
        swaps |= crossed < straight
    return int(swaps.sum())


def acceleration(poses: np.ndarray, fps: float) -> np.ndarray:
    """Per-joint acceleration magnitudes (T−2, J) in m/s² of a (T, J, 3) sequence in metres."""
    if len(poses) < 3:
        return np.zeros((0, poses.shape[1]))
    return np.linalg.norm(poses[2:] - 2 * poses[1:-1] + poses[:-2], axis=-1) * fps ** 2


def pose_quality(poses: np.ndarray, fps: float, bones: Sequence[Tuple[int, int]]) -> Dict[str, float]:
    """All plausibility numbers of a (T, J, 3) root-relative sequence in metres, as a flat dict."""
    cv = bone_length_cv(poses, bones)
    acc = acceleration(poses, fps)
    return {
        "bone_length_cv_max": float(cv.max()),
        "bone_length_cv_median": float(np.median(cv)),
        "left_right_swaps": left_right_swaps(poses),
        "acceleration_mean_m_s2": float(acc.mean()) if acc.size else 0.0,
        "acceleration_p99_m_s2": float(np.percentile(acc, 99)) if acc.size else 0.0,
    }
