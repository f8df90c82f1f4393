"""Foot contacts, foot locking and the skating metric.

Part of ``hot_pose.mocap`` (metric motion capture on top of HoT: Li et al., CVPR 2024, arXiv:2311.12028).

Feet are the ankle joints of the Human3.6M-17 skeleton (RAnkle 3, LAnkle 6); outputs are ordered
``(left, right)``. Heights are measured above the floor of a ``hot_pose.mocap.world.WorldFrame`` (world z up,
floor z = 0) and speeds horizontally in the world frame.

Contact labels (``foot_contacts``): a foot is in contact in frame t when its ankle is at most
``max_height`` above the lower ankle and at most 2.5·``max_height`` above the floor + ``ANKLE_HEIGHT_M`` (both
feet in the air: no contact), and its horizontal
speed, from a centred difference over ±``window`` frames of the ankle positions, is below ``max_speed``;
then single-frame holes are filled and runs shorter than ``min_duration`` seconds dropped. Defaults: 0.10 m,
0.5 m/s (a walking stance foot moves < 0.2 m/s, a swing foot 2-5 m/s), ±2 frames, 0.05 s.

Foot locking (``lock_feet``): the whole skeleton is shifted horizontally by δ_t, the minimiser of

    Σ_t Σ_feet w_f(t−1) w_f(t) ‖v_f(t) + δ_t − δ_{t−1}‖²
        + ν Σ_t ‖δ_{t+1} − 2δ_t + δ_{t−1}‖²  +  λ Σ_t ‖δ_t‖²

with v_f(t) the foot's horizontal step between frames: a foot in contact (weights w rising and falling
linearly over ``blend`` = 0.1 s at the ends of each contact run) should not move, the shift changes smoothly
(ν = 0.1), and it stays near zero over long times (λ = 1/(``hold``·fps)², ``hold`` = 2 s), so the locked
trajectory does not drift away from the measured one. One banded (pentadiagonal) linear solve per horizontal
axis. In double support the two feet's demands are averaged in the least-squares sense. Only the root moves:
the pose is unchanged, so when both feet slide differently (a pose error) the residual is shared.

Skating (``skating``): mean over the frames where a foot is in contact in frames t−1 and t of the horizontal
displacement of its ankle between them, mm/frame.

Measured on the Pose2Sim demo (``tools/mocap_wild.py``): ``docs/mocap.md`` and ``benchmarks/mocap_wild.md``.
"""
from __future__ import annotations

import logging
from typing import Optional, Tuple

import numpy as np
from scipy.linalg import solveh_banded

from hot_pose.mocap.height import ANKLE_HEIGHT_M, LANKLE, RANKLE, check_poses
from hot_pose.utils.checks import FPS_RANGE, check_number

_logger = logging.getLogger(__name__)

__all__ = ["FEET", "foot_contacts", "lock_feet", "skating", "contact_runs", "horizontal_speed"]

#: ankle joint of (left, right)
FEET = (LANKLE, RANKLE)


def _check_fps(fps: float) -> float:
    return check_number(fps, "fps", *FPS_RANGE)


def contact_runs(mask: np.ndarray):
    """(T,) bool → list of (start, stop) half-open runs of True."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _clean(mask: np.ndarray, min_len: int) -> np.ndarray:
    out = mask.copy()
    # fill single-frame holes
    hole = ~out[1:-1] & out[:-2] & out[2:]
    out[1:-1] |= hole
    for a, b in contact_runs(out):
        if b - a < min_len:
            out[a:b] = False
    return out


def horizontal_speed(xy: np.ndarray, fps: float, window: int) -> np.ndarray:
    """(T, 2) horizontal positions → (T,) speed m/s by centred differences over ±window (edge: one-sided)."""
    T = len(xy)
    idx = np.arange(T)
    lo, hi = np.clip(idx - window, 0, T - 1), np.clip(idx + window, 0, T - 1)
    span = np.maximum(hi - lo, 1)
    return np.linalg.norm(xy[hi] - xy[lo], axis=-1) * fps / span


def foot_contacts(joints_world: np.ndarray, fps: float, max_height: float = 0.10, max_speed: float = 0.5,
                  window: int = 2, min_duration: float = 0.05, valid: Optional[np.ndarray] = None) -> np.ndarray:
    """Per-frame contact labels of the left and right foot.

    Args:
        joints_world: (T, 17, 3) joints in a world frame (z up, floor z = 0), metres.
        fps: frame rate.
        max_height: ankle height tolerance above the lower reference (m).
        max_speed: horizontal ankle speed limit (m/s).
        window: half-width of the speed's centred difference (frames, ≥ 1).
        min_duration: shortest contact run kept (s).
        valid: (T,) frames to label (default all); others are never in contact.

    Returns:
        (T, 2) bool, columns (left, right).

    Raises:
        ValueError: bad shapes or parameters.
    """
    J = check_poses(joints_world, "joints_world", allow_nan=True)
    fps = _check_fps(fps)
    if not (max_height > 0 and max_speed > 0 and window >= 1 and min_duration >= 0):
        raise ValueError("max_height, max_speed must be > 0, window >= 1, min_duration >= 0")
    T = len(J)
    ok = np.isfinite(J).all(axis=(1, 2))
    if valid is not None:
        ok &= np.asarray(valid, bool)
    feet = np.nan_to_num(J[:, list(FEET)])  # (T, 2, 3)
    z = feet[..., 2]
    lower = np.minimum(z[:, 0], z[:, 1])
    out = np.zeros((T, 2), bool)
    min_len = max(1, int(round(min_duration * fps)))
    for f in range(2):
        speed = horizontal_speed(feet[:, f, :2], fps, window)
        m = ok & (z[:, f] <= lower + max_height) & (z[:, f] <= ANKLE_HEIGHT_M + 2.5 * max_height) \
            & (speed <= max_speed)
        out[:, f] = _clean(m, min_len)
    return out


def _weights(mask: np.ndarray, ramp: int) -> np.ndarray:
    """(T,) bool contact → (T,) weights rising/falling linearly over ``ramp`` frames inside each run."""
    w = np.zeros(len(mask))
    for a, b in contact_runs(mask):
        n = b - a
        k = np.arange(n)
        w[a:b] = np.minimum(1.0, np.minimum(k + 1, n - k) / max(ramp, 1))
    return w


def lock_feet(joints_world: np.ndarray, contacts: np.ndarray, fps: float, blend: float = 0.1, hold: float = 2.0,
              smoothness: float = 0.1) -> Tuple[np.ndarray, np.ndarray]:
    """Remove foot skating by a smooth horizontal shift of the skeleton (see the module docstring).

    Args:
        joints_world: (T, 17, 3) world-frame joints (z up), metres.
        contacts: (T, 2) bool (left, right), e.g. from ``foot_contacts``.
        fps: frame rate.
        blend: ramp of the contact weights at the ends of each run (s).
        hold: time scale (s) over which the shift may drift away from zero (λ = 1 / (hold·fps)²).
        smoothness: weight ν of the shift's second differences.

    Returns:
        ``(locked joints (T, 17, 3), shift (T, 3))`` (shift[:, 2] = 0).

    Raises:
        ValueError: bad shapes or parameters.
    """
    J = check_poses(joints_world, "joints_world", allow_nan=True)
    fps = _check_fps(fps)
    C = np.asarray(contacts, bool)
    T = len(J)
    if C.shape != (T, 2):
        raise ValueError(f"contacts must be (T, 2) = ({T}, 2), got {C.shape}")
    if not (blend >= 0 and hold > 0 and smoothness >= 0):
        raise ValueError(f"need blend >= 0, hold > 0, smoothness >= 0, got {blend}, {hold}, {smoothness}")
    shift = np.zeros((T, 3))
    if T < 3 or not C.any():
        return J.copy(), shift
    ramp = max(1, int(round(blend * fps)))
    lam = 1.0 / (hold * fps) ** 2
    # banded normal equations (symmetric, 2 sub-diagonals) shared by both horizontal axes
    diag = np.full(T, lam)
    off1 = np.zeros(T - 1)
    off2 = np.zeros(T - 2)
    rhs = np.zeros((T, 2))
    for f, joint in enumerate(FEET):
        w = _weights(C[:, f], ramp)
        pair = w[1:] * w[:-1]  # contact in frames t-1 and t
        v = np.nan_to_num(J[1:, joint, :2] - J[:-1, joint, :2])  # (T-1, 2) foot steps
        pair = np.where(np.isfinite(J[1:, joint, :2] - J[:-1, joint, :2]).all(-1), pair, 0.0)
        # residual r_t = v_t + δ_t − δ_{t−1}
        diag[1:] += pair
        diag[:-1] += pair
        off1 -= pair
        rhs[1:] -= pair[:, None] * v
        rhs[:-1] += pair[:, None] * v
    # smoothness ν Σ (δ_{t+1} − 2δ_t + δ_{t−1})²: the (1, −2, 1) stencil's normal equations
    nu = smoothness
    diag[:-2] += nu
    diag[1:-1] += 4 * nu
    diag[2:] += nu
    off1[:-1] -= 2 * nu
    off1[1:] -= 2 * nu
    off2 += nu
    ab = np.zeros((3, T))
    ab[0] = diag
    ab[1, :-1] = off1
    ab[2, :-2] = off2
    shift[:, :2] = solveh_banded(ab, rhs, lower=True)
    return J + shift[:, None, :], shift


def skating(joints_world: np.ndarray, contacts: np.ndarray) -> float:
    """Mean horizontal ankle displacement (mm/frame) of the feet in contact in consecutive frames.

    Args:
        joints_world: (T, 17, 3) world-frame joints (z up), metres.
        contacts: (T, 2) bool (left, right).

    Returns:
        mm per frame; NaN if no foot is in contact in two consecutive frames.
    """
    J = check_poses(joints_world, "joints_world", allow_nan=True)
    C = np.asarray(contacts, bool)
    if C.shape != (len(J), 2):
        raise ValueError(f"contacts must be (T, 2) = ({len(J)}, 2), got {C.shape}")
    steps = []
    for f, joint in enumerate(FEET):
        both = C[1:, f] & C[:-1, f]
        d = np.linalg.norm(J[1:, joint, :2] - J[:-1, joint, :2], axis=-1)[both]
        steps.append(d[np.isfinite(d)])
    allsteps = np.concatenate(steps)
    return float(1000 * allsteps.mean()) if allsteps.size else float("nan")
