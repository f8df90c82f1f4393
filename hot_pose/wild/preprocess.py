"""2-D keypoint preparation: COCO-17 → Human3.6M-17 conversion and gap filling.

Part of the HoT demo (Li et al., CVPR 2024, arXiv:2311.12028). The conversion follows the reference demo's
``coco_h36m`` rules, which synthesise the joints COCO lacks (pelvis, spine, thorax,
head) from the ones it has. Frames in which no person was found are never dropped (the reference dropped
them, misaligning 2-D and video): they are filled by linear interpolation across the gap
(nearest value at the ends) and flagged. ``fix_left_right_flips`` undoes the left/right mix-ups 2-D
detectors make when they take a person's front for their back.
"""
from __future__ import annotations

import logging
from typing import Sequence, Tuple

import numpy as np

from hot_pose.wild.errors import DemoError

_logger = logging.getLogger(__name__)

#: COCO-17 joint names, in order
COCO_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
              "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
              "right_knee", "left_ankle", "right_ankle")
#: direct copies: H36M joint ``H36M_FROM_COCO[i][0]`` ← COCO joint ``H36M_FROM_COCO[i][1]``
H36M_FROM_COCO = ((9, 0), (11, 5), (14, 6), (12, 7), (15, 8), (13, 9), (16, 10), (4, 11), (1, 12), (5, 13),
                  (2, 14), (6, 15), (3, 16))


def coco_to_h36m(keypoints: np.ndarray, scores: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Convert COCO-17 keypoints to the Human3.6M-17 layout (the reference demo's rules).

    Pelvis = mean of the hips; spine = mean of shoulders and hips; thorax = mid-shoulder moved a third of
    the way to the nose; head x = mean x of eyes and ears, head y = 2·(mean eye y) − nose y. Then the
    reference's adjustments: the nose joint moves a quarter of the way to the mid-shoulder, the spine x is
    pushed away from the pelvis–thorax midline (×2) and the thorax y moves by ⅔ of the eye–nose offset.

    Args:
        keypoints: (T, 17, 2) COCO keypoints in pixels (NaN allowed: it propagates).
        scores: (T, 17) confidences in [0, 1].

    Returns:
        ``(h36m, h36m_scores)``: (T, 17, 2) float32 and (T, 17) float32. A synthesised joint's score is the
        mean of the scores it was built from.
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    sc = np.asarray(scores, dtype=np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (17, 2) or sc.shape != kp.shape[:2]:
        raise ValueError(f"expected keypoints (T, 17, 2) and scores (T, 17), got {kp.shape} and {sc.shape}")
    out = np.zeros_like(kp)
    dst, src = zip(*H36M_FROM_COCO)
    out[:, list(dst)] = kp[:, list(src)]
    mid_shoulder = kp[:, 5:7].mean(axis=1)  # (T, 2)
    eye_y = kp[:, 1:3, 1].mean(axis=1)  # (T,)
    out[:, 0] = kp[:, 11:13].mean(axis=1)  # pelvis
    out[:, 7] = kp[:, [5, 6, 11, 12]].mean(axis=1)  # spine
    out[:, 8] = mid_shoulder + (kp[:, 0] - mid_shoulder) / 3  # thorax
    out[:, 10, 0] = kp[:, 1:5, 0].mean(axis=1)  # head x
    out[:, 10, 1] = 2 * eye_y - kp[:, 0, 1]  # head y
    out[:, 9] -= (out[:, 9] - mid_shoulder) / 4
    out[:, 7, 0] += 2 * (out[:, 7, 0] - out[:, [0, 8], 0].mean(axis=1))
    out[:, 8, 1] -= (eye_y - kp[:, 0, 1]) * 2 / 3

    out_scores = np.zeros_like(sc)
    out_scores[:, list(dst)] = sc[:, list(src)]
    out_scores[:, 0] = sc[:, 11:13].mean(axis=1)
    out_scores[:, 8] = sc[:, 5:7].mean(axis=1)
    out_scores[:, 7] = out_scores[:, [0, 8]].mean(axis=1)
    out_scores[:, 10] = sc[:, 1:5].mean(axis=1)
    return out, out_scores


def fill_gaps(keypoints: np.ndarray, scores: np.ndarray, found: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Fill frames (and single joints) without a detection by linear interpolation over time.

    A joint counts as detected in frame t when ``found[t]`` and its coordinates are finite. Missing values
    between two detections are interpolated linearly; before the first / after the last detection the
    nearest detected value is repeated. Filled joints get score 0.

    Args:
        keypoints: (T, J, 2) pixels; values of undetected frames are ignored.
        scores: (T, J).
        found: (T,) bool, a person was found in the frame.

    Returns:
        ``(keypoints, scores)`` with no NaN: (T, J, 2) float32, (T, J) float32.

    Raises:
        DemoError: no frame has a person, or a joint is never detected.
    """
    kp = np.array(keypoints, dtype=np.float32)
    sc = np.array(scores, dtype=np.float32)
    found = np.asarray(found, dtype=bool)
    if not found.any():
        raise DemoError("no person was found in any frame of the video (try another --detector or video)")
    valid = found[:, None] & np.isfinite(kp).all(axis=-1)  # (T, J)
    frames = np.arange(kp.shape[0])
    for j in range(kp.shape[1]):
        ok = valid[:, j]
        if not ok.any():
            raise DemoError(f"joint {j} is never detected; cannot fill it (check the keypoint file's layout)")
        if ok.all():
            continue
        for c in range(kp.shape[2]):
            # np.interp holds the end values constant outside the detected range: "nearest" at the edges
            kp[~ok, j, c] = np.interp(frames[~ok], frames[ok], kp[ok, j, c])
        sc[~ok, j] = 0.0
    sc = np.nan_to_num(sc, nan=0.0)
    return kp, sc


#: H36M-17 limb chains whose left/right labels a detector can mix up: (left joints, right joints)
H36M_LIMB_PAIRS = (((4, 5, 6), (1, 2, 3)), ((11, 12, 13), (14, 15, 16)))


def _chain_distances(a: np.ndarray, b: np.ndarray, left: Sequence[int], right: Sequence[int]
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """Summed joint distances from poses ``a`` to poses ``b`` (both (N, J, C)) of one limb pair: with the
    labels as they are ("straight") and with ``b``'s left and right exchanged ("crossed"); each (N,)."""
    a_l, a_r, b_l, b_r = a[:, left], a[:, right], b[:, left], b[:, right]
    straight = np.linalg.norm(b_l - a_l, axis=-1).sum(1) + np.linalg.norm(b_r - a_r, axis=-1).sum(1)
    crossed = np.linalg.norm(b_l - a_r, axis=-1).sum(1) + np.linalg.norm(b_r - a_l, axis=-1).sum(1)
    return straight, crossed


def crossed_transitions(kp: np.ndarray, left: Sequence[int], right: Sequence[int], margin: float = 0.5) -> np.ndarray:
    """(T-1,) bool: the labels of this limb pair change between frame t and t+1 (entry t).

    A change is "clear": frame t+1 matches frame t better with the pair's labels exchanged, summed joint
    distances below ``margin`` × the straight ones. A detector that smooths over time (MediaPipe) can need one
    frame for the change, with the limbs half-way between: such an ambiguous frame t+1 (neither labelling
    clearly better) followed by a clear change from frame t to t+2 counts as a change at t+1 → t+2.

    Args:
        kp: (T, J, C) joints (2-D or 3-D).
        left: the limb's left joints; right: the paired right joints.
        margin: "clearly", see above.
    """
    left, right = list(left), list(right)
    straight, crossed = _chain_distances(kp[:-1], kp[1:], left, right)
    out = crossed < margin * straight
    if len(kp) > 2:
        ambiguous = ~out & ~(straight < margin * crossed)  # neither labelling clearly better
        skip_straight, skip_crossed = _chain_distances(kp[:-2], kp[2:], left, right)
        skip = ambiguous[:-1] & (skip_crossed < margin * skip_straight) & ~out[1:]
        out[1:] |= skip
    return out


def fix_left_right_flips(keypoints: np.ndarray, scores: np.ndarray, max_run: int = 240,
                         margin: float = 0.5) -> Tuple[np.ndarray, np.ndarray, int]:
    """Exchange the left/right labels of a limb pair where the detector mixed them up for a while.

    Every clear change of a limb pair's labels between two frames (``crossed_transitions``) starts a new
    stretch with the other labelling. The labelling that covers most frames is taken as right; a stretch with
    the other one is exchanged when it is bounded by changes on both sides and at most ``max_run`` frames long.
    A real turn never counts as a change (the limbs pass each other gradually), and a stretch at the start or
    the end of the video (one change with no return: a camera cut, a detector that starts mirrored) is left
    alone, so a wrong decision cannot propagate through the rest of the video. Detectors mirror whole bodies for
    seconds when they mistake a person walking towards the camera for one walking away (MediaPipe does, on the
    Pose2Sim walking clip: 32 of 100 frames), which the earlier rule (runs of ≤ 5 frames, the video's first
    labelling right) left in place.

    Args:
        keypoints: (T, 17, 2) H36M keypoints without gaps.
        scores: (T, 17).
        max_run: longest stretch (frames) that is exchanged.
        margin: see ``crossed_transitions``.

    Returns:
        ``(keypoints, scores, frames_fixed)``: corrected copies and the number of (frame, limb pair) fixes.
    """
    kp, sc = np.array(keypoints, copy=True), np.array(scores, copy=True)
    fixed = 0
    for left, right in H36M_LIMB_PAIRS:
        left, right = list(left), list(right)
        changes = np.flatnonzero(crossed_transitions(kp, left, right, margin)) + 1  # first frame after a change
        if len(changes) < 2:
            continue
        bounds = np.concatenate([[0], changes, [len(kp)]])
        parity = np.arange(len(bounds) - 1) % 2  # stretch k has the labelling of stretch 0 iff k is even
        lengths = np.diff(bounds)
        majority = int(lengths[parity == 1].sum() > lengths[parity == 0].sum())
        for k in range(1, len(bounds) - 2):  # interior stretches only
            start, end = bounds[k], bounds[k + 1]
            if parity[k] != majority and end - start <= max_run:
                kp[start:end, left + right] = kp[start:end, right + left]
                sc[start:end, left + right] = sc[start:end, right + left]
                fixed += end - start
    return kp, sc, fixed
