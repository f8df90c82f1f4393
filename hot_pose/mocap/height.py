"""Standing height of a Human3.6M-17 skeleton, constant bone lengths, and rescaling to a person's height.

HoT (Li et al., CVPR 2024, arXiv:2311.12028) lifts root-relative poses with a metric size, but only a guessed
one: from 2-D alone a small person near the camera and a tall one far away look the same. The depth that
``hot_pose.mocap.trajectory`` finds is proportional to the skeleton's size, so the person's standing height
(``height`` in metres, or ``DEFAULT_HEIGHT_M``) fixes the depth: the pose is rescaled by
``s = height / skeleton_height(pose)`` before the trajectory is solved, and **a height off by x % puts the person
x % too near or too far** (the same as a focal length off by x %).

**Constant bone lengths** (``constant_bones``): a lifter's bone lengths change from frame to frame by a few %,
and every change moves the fitted depth by the same fraction. ``constant_bones`` keeps each lifted bone's
direction and gives it the sequence's median length (left and right averaged), parents before children.

**Stature** (what "height" means; ``stature``, measured on Human3.6M's motion capture): floor (world z = 0) →
head-top site (the 17-joint ``Head``, 32-joint index 15), the median over the subject's *upright standing*
frames (both knee angles among its 20 % straightest frames, the pelvis→thorax trunk among its 30 % most
vertical, both ankles within 5 cm of its median lowest-ankle height), plus ``CROWN_ABOVE_HEAD_SITE_M`` = 0.06 m:
Human3.6M's head segment is a template (Neck/Nose → Head is 0.115 m for every subject), so its end site sits
below the vertex; 0.06 m is an anthropometric estimate, not a measurement (the Neck/Nose joint is 8.5 cm below
the site when upright; nose ~12 cm, chin ~22 cm below the vertex allow 3.5-14 cm). It sets what a given number
means, not how well a known height works (the rule below is calibrated to it). Statures: S1 1.662, S5 1.616,
S6 1.767, S7 1.609, S8 1.754 (training), S9 1.748, S11 1.716 m (test).

**Rule** (``skeleton_height``): with the sequence's median segment lengths (left/right averaged)
``leg = thigh + shank`` and ``trunk = |pelvis→spine| + |spine→thorax| + |thorax→head|``,

    H = CHAIN_COEF · (leg + trunk),    CHAIN_COEF = 1.0676

by least squares on the training subjects S1, S5-S8 (GT skeletons). ``skeleton_height(s·P) = s·skeleton_height(P)``
so rescaling to a height is exact. Error against the stature: leave-one-subject-out RMS 1.22 % on the training
GT skeletons (1.55 % on their lifted skeletons); S9 +1.09 %, S11 +0.41 % (GT skeletons). The rule cannot know the
foot (the ankle joint is 5.8-11.1 cm above the floor when standing, by subject: marker placement) nor posture,
hence the ~1 % floor. A two-parameter ``H = 0.6771·leg + 1.5858·trunk`` (``rule="leg_trunk"``) fits the training
subjects better (LOO 0.60 %) but weights the trunk ×1.59, so a lifter's trunk/leg proportion errors move the
height 1.5× more; the one-parameter chain is the default (a choice made after seeing both on the test data:
``docs/mocap.md`` reports both).

``DEFAULT_HEIGHT_M`` = 1.70 m when the height is unknown: about the mean adult stature of men and women together
(~1.76 and ~1.63 m in Europe and North America, NCD-RisC 2016); the Human3.6M training subjects average 1.68 m
and all seven 1.70 m under the definition above. It was not tuned on any test data.
"""
from __future__ import annotations

import logging
import math
import numbers
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from hot_pose.data.skeleton import H36M_17_NAMES

_logger = logging.getLogger(__name__)

__all__ = ["JOINT_NAMES", "BONES", "DEFAULT_HEIGHT_M", "MIN_HEIGHT_M", "MAX_HEIGHT_M", "ANKLE_HEIGHT_M",
           "CHAIN_COEF", "HEIGHT_RULES", "DEFAULT_RULE", "CROWN_ABOVE_HEAD_SITE_M", "check_height", "check_poses",
           "bone_lengths", "constant_bones", "skeleton_height", "height_scale", "rescale", "stature",
           "upright_frames"]

#: the Human3.6M-17 joint order of every pose here (``hot_pose.data.skeleton.H36M_17_NAMES``)
JOINT_NAMES: Tuple[str, ...] = tuple(H36M_17_NAMES)
PELVIS, RHIP, RKNEE, RANKLE, LHIP, LKNEE, LANKLE, SPINE, THORAX, NOSE, HEAD = range(11)
LSHOULDER, LELBOW, LWRIST, RSHOULDER, RELBOW, RWRIST = range(11, 17)
#: (parent, child) bones of the Human3.6M-17 tree, parents before children
BONES: Tuple[Tuple[int, int], ...] = ((0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9),
                                      (9, 10), (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16))
#: left/right pairs of ``BONES`` indices (averaged by ``constant_bones``)
BONE_PAIRS = ((0, 3), (1, 4), (2, 5), (10, 13), (11, 14), (12, 15))

#: standing height (m) used when the person's is not given (see the module docstring)
DEFAULT_HEIGHT_M = 1.70
#: accepted standing heights (m); outside, ``check_height`` raises (a typo such as 170 for 1.70 m)
MIN_HEIGHT_M, MAX_HEIGHT_M = 0.5, 2.5
#: sole → ankle joint height while the foot is on the floor (Human3.6M's ankle, mean of the training subjects),
#: m: where ``hot_pose.mocap.world`` puts the floor below a contact ankle
ANKLE_HEIGHT_M = 0.073
#: the stature rule H = CHAIN_COEF·(leg + trunk) (see the module docstring)
CHAIN_COEF = 1.0676
#: available rules: name → (leg coefficient, trunk coefficient)
HEIGHT_RULES: Dict[str, Tuple[float, float]] = {"chain": (CHAIN_COEF, CHAIN_COEF), "leg_trunk": (0.6771, 1.5858)}
#: the rule ``skeleton_height`` uses by default
DEFAULT_RULE = "chain"
#: the anthropometric crown offset above Human3.6M's head-top site in the stature definition, m
CROWN_ABOVE_HEAD_SITE_M = 0.06


def check_height(height: Any, name: str = "height") -> float:
    """A standing height in metres, as a float.

    Raises:
        ValueError: not a finite number, ≤ 0, or outside [MIN_HEIGHT_M, MAX_HEIGHT_M] = [0.5, 2.5] m (e.g. given
            in centimetres); the message names ``name``.
    """
    if isinstance(height, bool) or not isinstance(height, numbers.Real):
        raise ValueError(f"{name} must be a number of metres, got {height!r}")
    h = float(height)
    if not math.isfinite(h) or h <= 0:
        raise ValueError(f"{name} must be a finite number > 0 metres, got {height!r}")
    if not MIN_HEIGHT_M <= h <= MAX_HEIGHT_M:
        raise ValueError(f"{name} {h:g} m is outside {MIN_HEIGHT_M}-{MAX_HEIGHT_M} m (give metres, e.g. 1.75, not "
                         "centimetres)")
    return h


def check_poses(poses: Any, name: str = "poses", allow_nan: bool = False) -> np.ndarray:
    """(T, 17, 3) or (17, 3) numbers, finite unless ``allow_nan``; returns float64 (T, 17, 3).

    Raises:
        ValueError: wrong shape, not numbers, or non-finite values.
    """
    try:
        p = np.asarray(poses, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {type(poses).__name__}") from None
    if p.ndim == 2:
        p = p[None]
    if p.ndim != 3 or p.shape[1:] != (17, 3):
        raise ValueError(f"{name} must be (T, 17, 3) Human3.6M-17 joints in metres, got shape {np.shape(poses)}")
    if not allow_nan and not np.isfinite(p).all():
        raise ValueError(f"{name} contain NaN or inf values")
    if allow_nan and np.isinf(p).any():
        raise ValueError(f"{name} contain inf values")
    return p


def bone_lengths(poses: np.ndarray) -> np.ndarray:
    """(T, 17, 3) → (T, 16) lengths of ``BONES`` (NaN where a joint is NaN)."""
    p = check_poses(poses, allow_nan=True)
    a, b = np.asarray(BONES).T
    return np.linalg.norm(p[:, b] - p[:, a], axis=-1)


def constant_bones(poses: np.ndarray, lengths: Optional[np.ndarray] = None, symmetric: bool = True) -> np.ndarray:
    """The poses with constant bone lengths: each bone keeps its direction and gets ``lengths`` (default: its
    median over the sequence's finite frames, left and right averaged with ``symmetric``); parents before
    children, so the root stays where it is.

    Args:
        poses: (T, 17, 3) root-relative (or absolute) joints; frames with a NaN joint are returned unchanged.
        lengths: (16,) bone lengths in ``BONES`` order, metres.
        symmetric: average the left/right pairs of the median lengths.

    Returns:
        (T, 17, 3) float64.

    Raises:
        ValueError: bad shapes, or no finite frame to measure the lengths on.
    """
    p = check_poses(poses, allow_nan=True)
    if lengths is None:
        bl = bone_lengths(p)
        ok = np.isfinite(bl).all(-1)
        if not ok.any():
            raise ValueError("no finite frame to measure the bone lengths on")
        L = np.median(bl[ok], axis=0)
        if symmetric:
            for i, j in BONE_PAIRS:
                L[i] = L[j] = 0.5 * (L[i] + L[j])
    else:
        L = np.asarray(lengths, np.float64)
        if L.shape != (len(BONES),) or not np.isfinite(L).all() or (L < 0).any():
            raise ValueError(f"lengths must be ({len(BONES)},) finite and >= 0, got shape {L.shape}")
    out = np.empty_like(p)
    out[:, PELVIS] = p[:, PELVIS]
    for i, (a, b) in enumerate(BONES):
        d = p[:, b] - p[:, a]
        n = np.linalg.norm(d, axis=-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            u = np.where(n > 1e-9, d / n, 0.0)
        out[:, b] = out[:, a] + L[i] * u
    partial = ~np.isfinite(p).all(axis=(1, 2))
    out[partial] = p[partial]  # frames with a missing joint are returned as given
    return out


def _segments(p: np.ndarray) -> Dict[str, np.ndarray]:
    """(T, 17, 3) → {segment: (T,) lengths}, left and right averaged (NaN where missing)."""
    def L(a: int, b: int) -> np.ndarray:
        return np.linalg.norm(p[:, b] - p[:, a], axis=-1)

    return {"thigh": 0.5 * (L(RHIP, RKNEE) + L(LHIP, LKNEE)), "shank": 0.5 * (L(RKNEE, RANKLE) + L(LKNEE, LANKLE)),
            "pelvis_spine": L(PELVIS, SPINE), "spine_thorax": L(SPINE, THORAX), "thorax_head": L(THORAX, HEAD)}


def _rule_height(seg: Dict[str, np.ndarray], rule: str) -> np.ndarray:
    if rule not in HEIGHT_RULES:
        raise ValueError(f"rule must be one of {', '.join(HEIGHT_RULES)}, got {rule!r}")
    a, b = HEIGHT_RULES[rule]
    leg = np.asarray(seg["thigh"], np.float64) + np.asarray(seg["shank"], np.float64)
    trunk = sum(np.asarray(seg[k], np.float64) for k in ("pelvis_spine", "spine_thorax", "thorax_head"))
    return a * leg + b * trunk


def skeleton_height(poses: np.ndarray, per_frame: bool = False, rule: str = DEFAULT_RULE) -> Union[float, np.ndarray]:
    """Standing height (m) of a Human3.6M-17 skeleton by the stature rule (module docstring).

    Args:
        poses: (T, 17, 3) or (17, 3) joints in metres, any root (NaN frames are ignored).
        per_frame: return the (T,) heights of every frame instead of one from the median segment lengths.
        rule: a key of ``HEIGHT_RULES``.

    Returns:
        float, or (T,) with ``per_frame``.

    Raises:
        ValueError: wrong shape, unknown rule, or no usable frame.
    """
    p = check_poses(poses, allow_nan=True)
    seg = _segments(p)
    if per_frame:
        return _rule_height(seg, rule)
    med = {}
    for k, v in seg.items():
        v = v[np.isfinite(v)]
        if not v.size:
            raise ValueError(f"no frame with a finite {k}: cannot measure the skeleton")
        med[k] = np.array([np.median(v)])
    return float(_rule_height(med, rule)[0])


def height_scale(poses: np.ndarray, height: Optional[float] = None, rule: str = DEFAULT_RULE) -> float:
    """The factor s that gives ``poses`` the standing height ``height`` (default ``DEFAULT_HEIGHT_M``).

    Raises:
        ValueError: a bad height (``check_height``) or poses, or a degenerate skeleton.
    """
    h = DEFAULT_HEIGHT_M if height is None else check_height(height)
    current = skeleton_height(poses, rule=rule)
    if not current > 1e-6:
        raise ValueError(f"degenerate skeleton (rule height {current:g} m): cannot rescale it")
    return h / current


def rescale(poses: np.ndarray, height: Optional[float] = None) -> Tuple[np.ndarray, float]:
    """Scale root-relative ``poses`` (T, 17, 3) about their root to the standing height ``height``.

    Returns:
        ``(scaled poses (T, 17, 3), s)``.
    """
    p = check_poses(poses, allow_nan=True)
    s = height_scale(p, height)
    return p * s, s


def _angle_deg(P: np.ndarray, a: int, b: int, c: int) -> np.ndarray:
    u, v = P[:, a] - P[:, b], P[:, c] - P[:, b]
    cos = (u * v).sum(-1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def upright_frames(world_poses: np.ndarray) -> np.ndarray:
    """The upright standing frames of one subject's motion capture (the stature definition, module docstring).

    Args:
        world_poses: (N, 17, 3) Human3.6M-17 joints in a world frame with z up and the floor at z = 0, metres
            (all the subject's frames: the thresholds are the subject's own percentiles).

    Returns:
        (N,) bool.
    """
    P = check_poses(world_poses, "world_poses")
    knee = np.minimum(_angle_deg(P, RHIP, RKNEE, RANKLE), _angle_deg(P, LHIP, LKNEE, LANKLE))
    trunk = P[:, THORAX] - P[:, PELVIS]
    tilt = np.degrees(np.arccos(np.clip(trunk[:, 2] / np.maximum(np.linalg.norm(trunk, axis=-1), 1e-12), -1, 1)))
    ankles = P[:, [RANKLE, LANKLE], 2]
    return ((knee > np.percentile(knee, 80)) & (tilt < np.percentile(tilt, 30))
            & (ankles.max(1) < np.percentile(ankles.min(1), 50) + 0.05))


def stature(world_poses: np.ndarray, crown: float = CROWN_ABOVE_HEAD_SITE_M) -> float:
    """A subject's stature (m) from its motion capture: the median head-top-site height over its upright standing
    frames plus ``crown`` (the definition of the module docstring; S9 1.748 m, S11 1.716 m on Human3.6M).

    Args:
        world_poses: (N, 17, 3) all the subject's frames, world z up, floor z = 0, metres.
        crown: the vertex above the head-top site, m.

    Raises:
        ValueError: bad poses, or no upright frame.
    """
    P = check_poses(world_poses, "world_poses")
    up = upright_frames(P)
    if not up.any():
        raise ValueError("no upright standing frame: cannot measure the stature")
    return float(np.median(P[up, HEAD, 2]) + crown)
