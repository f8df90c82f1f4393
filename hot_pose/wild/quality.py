"""Plausibility numbers of a 3-D pose sequence without ground truth (HoT demo; Li et al., CVPR 2024,
arXiv:2311.12028).

* bone-length coefficient of variation (std / mean over frames, per bone): a rigid skeleton keeps it low;
* left/right swaps: frames where a pair of limbs (hips-knees-ankles or shoulders-elbows-wrists) matches
  the previous frame clearly better crossed than straight (summed joint distances less than half), so that
  limbs that merely overlap do not count;
* acceleration: ‖p[t+1] − 2p[t] + p[t−1]‖ per joint in m/s² (root-relative), mean and 99th percentile.

``constant_bone_lengths`` is the demo's optional post-process (on by default, ``--raw-bones`` turns it off): a
person's bones do not change length, so every bone is rescaled to its median length over the video while
keeping its direction (the frame-wise model output is kept as ``raw`` numbers in the report).
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np

from hot_pose.wild.preprocess import H36M_LIMB_PAIRS, crossed_transitions

#: a swap needs the crossed matching to cost less than this share of the straight one
SWAP_MARGIN = 0.5


def bone_length_cv(poses: np.ndarray, bones: Sequence[Tuple[int, int]]) -> np.ndarray:
    """Per-bone coefficient of variation of the length over frames: (T, J, 3) → (num_bones,)."""
    lengths = np.stack([np.linalg.norm(poses[:, a] - poses[:, b], axis=-1) for a, b in bones], axis=1)  # (T, B)
    return lengths.std(axis=0) / np.maximum(lengths.mean(axis=0), 1e-9)


def left_right_swaps(poses: np.ndarray) -> int:
    """Number of consecutive-frame transitions in which some limb pair is clearly better matched crossed."""
    swaps = np.zeros(max(len(poses) - 1, 0), bool)
    for left, right in H36M_LIMB_PAIRS:
        swaps |= crossed_transitions(poses, list(left), list(right), SWAP_MARGIN)
    return int(swaps.sum())


def acceleration(poses: np.ndarray, fps: float) -> np.ndarray:
    """Per-joint acceleration magnitudes (T−2, J) in m/s² of a (T, J, 3) sequence in metres."""
    if len(poses) < 3:
        return np.zeros((0, poses.shape[1]))
    return np.linalg.norm(poses[2:] - 2 * poses[1:-1] + poses[:-2], axis=-1) * fps ** 2


def constant_bone_lengths(poses: np.ndarray, parents: Sequence[int]) -> np.ndarray:
    """Rebuild (T, J, 3) poses from the root along the kinematic tree with every bone at its median length.

    Args:
        poses: root-relative joints, (T, J, 3).
        parents: parent of every joint (-1 for the root); parents come before their children.

    Returns:
        (T, J, 3) poses whose bone directions are the input's and whose bone lengths are constant.
    """
    out = poses.copy()
    for j, p in enumerate(parents):
        if p < 0:
            continue
        if p > j:
            raise ValueError(f"joint {j}'s parent {p} comes after it; reorder the skeleton")
        bone = poses[:, j] - poses[:, p]  # (T, 3)
        length = np.linalg.norm(bone, axis=-1, keepdims=True)  # (T, 1)
        target = np.median(length)
        out[:, j] = out[:, p] + bone / np.maximum(length, 1e-9) * target
    return out


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
