"""Rotation maths of the BVH writer: shortest-arc rotations, frames from two vectors, Euler angles.

Part of ``hot_pose.export`` (HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose
Estimation", CVPR 2024, arXiv:2311.12028). Every function is vectorised over a leading batch of frames and uses
active rotations of column vectors (``v' = R @ v``) in right-handed axes.

Euler convention (BVH's): an order string such as ``"ZXY"`` lists the rotation channels as they appear in the
file, and the rotation is their product in that order, ``R = Rz(a0) @ Rx(a1) @ Ry(a2)`` (the reading of
Blender's BVH importer and of the BVH specification by Biovision). The shortest arc is the quaternion
``(1 + s.d, s x d)`` normalised (e.g. Shoemake, "Animating rotation with quaternion curves", SIGGRAPH 1985).
"""
from __future__ import annotations

import logging
from typing import Optional, Tuple

import numpy as np

_logger = logging.getLogger(__name__)

#: the six Tait-Bryan orders accepted for BVH rotation channels
EULER_ORDERS: Tuple[str, ...] = ("ZXY", "ZYX", "XYZ", "XZY", "YXZ", "YZX")
_AXIS = {"X": 0, "Y": 1, "Z": 2}
#: below this cos(middle angle) the decomposition treats the rotation as gimbal-locked
_GIMBAL_EPS = 1e-7


def normalize(vectors: np.ndarray, eps: float = 1e-12) -> Tuple[np.ndarray, np.ndarray]:
    """Unit vectors and a mask of the ones too short to normalise.

    Args:
        vectors: ``(..., 3)``.
        eps: length below which a vector counts as degenerate.
    Returns:
        ``(unit (..., 3), degenerate (...,) bool)``; degenerate entries are returned as zeros.
    """
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    degenerate = norm[..., 0] < eps
    unit = np.divide(vectors, np.where(norm < eps, 1.0, norm))
    unit[degenerate] = 0.0
    return unit, degenerate


def any_perpendicular(vectors: np.ndarray) -> np.ndarray:
    """A deterministic unit vector perpendicular to each (non-zero) vector.

    Args:
        vectors: ``(..., 3)`` non-zero vectors.
    Returns:
        ``(..., 3)`` unit vectors ``p`` with ``p . v = 0``.
    """
    v = np.asarray(vectors, dtype=np.float64)
    least = np.argmin(np.abs(v), axis=-1)  # the basis axis least aligned with v
    basis = np.eye(3)[least]
    perp = np.cross(v, basis)
    return perp / np.linalg.norm(perp, axis=-1, keepdims=True)


def quaternion_to_matrix(quat: np.ndarray) -> np.ndarray:
    """Rotation matrices of unit quaternions.

    Args:
        quat: ``(..., 4)`` as ``(w, x, y, z)``, normalised here.
    Returns:
        ``(..., 3, 3)``.
    """
    q = quat / np.linalg.norm(quat, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    out = np.empty(q.shape[:-1] + (3, 3))
    out[..., 0, 0] = 1 - 2 * (y * y + z * z)
    out[..., 0, 1] = 2 * (x * y - w * z)
    out[..., 0, 2] = 2 * (x * z + w * y)
    out[..., 1, 0] = 2 * (x * y + w * z)
    out[..., 1, 1] = 1 - 2 * (x * x + z * z)
    out[..., 1, 2] = 2 * (y * z - w * x)
    out[..., 2, 0] = 2 * (x * z - w * y)
    out[..., 2, 1] = 2 * (y * z + w * x)
    out[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return out


def shortest_arc(src: np.ndarray, dst: np.ndarray, fallback_axis: Optional[np.ndarray] = None) -> np.ndarray:
    """The smallest rotation taking each unit vector ``src`` onto the unit vector ``dst`` (no twist).

    For exactly opposite vectors (a half turn about any perpendicular axis) the axis is ``fallback_axis``
    made perpendicular to ``src`` when given and usable, else :func:`any_perpendicular` of ``src``.

    Args:
        src: ``(..., 3)`` unit vectors (broadcast against ``dst``).
        dst: ``(..., 3)`` unit vectors.
        fallback_axis: optional ``(..., 3)`` axes for the opposite case (e.g. the previous frame's axis).
    Returns:
        ``(..., 3, 3)`` rotations ``R`` with ``R @ src = dst``.
    """
    src, dst = np.broadcast_arrays(np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64))
    w = 1.0 + np.sum(src * dst, axis=-1)
    axis = np.cross(src, dst)
    quat = np.concatenate([w[..., None], axis], axis=-1)
    opposite = w < 1e-12
    if np.any(opposite):
        perp = any_perpendicular(src[opposite])
        if fallback_axis is not None:
            fb = np.broadcast_to(np.asarray(fallback_axis, dtype=np.float64), src.shape)[opposite]
            fb = fb - np.sum(fb * src[opposite], axis=-1, keepdims=True) * src[opposite]
            norm = np.linalg.norm(fb, axis=-1, keepdims=True)
            perp = np.where(norm > 1e-9, fb / np.maximum(norm, 1e-300), perp)
        quat[opposite, 0] = 0.0
        quat[opposite, 1:] = perp
    return quaternion_to_matrix(quat)


def previous_axes(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """For a sequence of swings ``src -> dst[t]``, the rotation axis of the closest earlier frame that has a
    well-defined one (else the closest later one): the fallback that keeps a half-turn swing continuous.

    Args:
        src: ``(3,)`` unit vector.
        dst: ``(T, 3)`` unit vectors.
    Returns:
        ``(T, 3)`` axes (zeros where no frame defines one).
    """
    axes = np.cross(src, dst)
    ok = (np.linalg.norm(axes, axis=-1) > 1e-6) & (np.sum(src * dst, axis=-1) > -1.0 + 1e-12)
    good = np.flatnonzero(ok)
    if good.size == 0:
        return np.zeros_like(axes)
    pick = np.searchsorted(good, np.arange(len(dst)), side="right") - 1
    pick = np.where(pick < 0, 0, pick)
    return axes[good[pick]]


def frame_from_two_vectors(primary: np.ndarray, secondary: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Right-handed orthonormal frames whose y axis is ``primary`` and whose x axis is ``secondary`` made
    perpendicular to it (Gram-Schmidt); z = x cross y.

    Frames where ``secondary`` is (nearly) parallel to ``primary`` take the x axis of the closest earlier
    well-defined frame (else the closest later one), re-orthogonalised; if no frame is well defined, a
    deterministic perpendicular of ``primary``.

    Args:
        primary: ``(T, 3)`` non-zero vectors (the exact direction of the frame's y axis).
        secondary: ``(T, 3)`` vectors fixing the twist about y.
    Returns:
        ``(frames (T, 3, 3) with columns x, y, z, degenerate (T,) bool)``.
    """
    y_axis, _ = normalize(primary)
    secondary = np.asarray(secondary, dtype=np.float64)
    x_raw = secondary - np.sum(secondary * y_axis, axis=-1, keepdims=True) * y_axis
    scale = np.maximum(np.linalg.norm(secondary, axis=-1), 1e-300)
    degenerate = np.linalg.norm(x_raw, axis=-1) < 1e-6 * scale
    if np.any(degenerate):
        good = np.flatnonzero(~degenerate)
        for t in np.flatnonzero(degenerate):
            if good.size:
                earlier = good[good < t]
                ref = x_raw[earlier[-1]] if earlier.size else x_raw[good[0]]
                cand = ref - np.dot(ref, y_axis[t]) * y_axis[t]
                if np.linalg.norm(cand) < 1e-6 * np.linalg.norm(ref):
                    cand = any_perpendicular(y_axis[t])
            else:
                cand = any_perpendicular(y_axis[t])
            x_raw[t] = cand
        _logger.warning("%d frame(s) with the twist vector parallel to the main axis: twist taken from a "
                        "neighbouring frame", int(degenerate.sum()))
    x_axis, _ = normalize(x_raw, eps=0.0)
    z_axis = np.cross(x_axis, y_axis)
    return np.stack([x_axis, y_axis, z_axis], axis=-1), degenerate


def _check_order(order: str) -> Tuple[int, int, int]:
    if not isinstance(order, str) or order.upper() not in EULER_ORDERS:
        raise ValueError(f"rotation order must be one of {', '.join(EULER_ORDERS)}, got {order!r}")
    return tuple(_AXIS[c] for c in order.upper())  # type: ignore[return-value]


def axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    """Rotations about one coordinate axis.

    Args:
        axis: 0 (x), 1 (y) or 2 (z).
        angle: ``(...)`` radians.
    Returns:
        ``(..., 3, 3)``.
    """
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros(angle.shape + (3, 3))
    i, j = (axis + 1) % 3, (axis + 2) % 3
    out[..., axis, axis] = 1.0
    out[..., i, i] = c
    out[..., j, j] = c
    out[..., i, j] = -s
    out[..., j, i] = s
    return out


def euler_to_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """Rotation matrices from Euler angles in the BVH convention.

    Args:
        angles: ``(..., 3)`` radians, in the order of ``order``.
        order: e.g. ``"ZXY"`` meaning ``R = Rz(angles[..., 0]) @ Rx(angles[..., 1]) @ Ry(angles[..., 2])``.
    Returns:
        ``(..., 3, 3)``.
    Raises:
        ValueError: unknown order.
    """
    axes = _check_order(order)
    angles = np.asarray(angles, dtype=np.float64)
    out = axis_rotation(axes[0], angles[..., 0])
    out = out @ axis_rotation(axes[1], angles[..., 1])
    return out @ axis_rotation(axes[2], angles[..., 2])


def matrix_to_euler(matrices: np.ndarray, order: str) -> np.ndarray:
    """Euler angles of rotation matrices, inverse of :func:`euler_to_matrix`.

    The middle angle lies in [-pi/2, pi/2]. Near gimbal lock (|cos(middle)| < 1e-7) the last angle is set to
    0 and the first one absorbs the whole rotation about the locked axis, so ``euler_to_matrix`` of the
    result reproduces the matrix to ~1e-7 rad everywhere.

    Args:
        matrices: ``(..., 3, 3)`` rotations.
        order: one of :data:`EULER_ORDERS`.
    Returns:
        ``(..., 3)`` radians.
    Raises:
        ValueError: unknown order.
    """
    i, j, k = _check_order(order)
    sign = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0
    m = np.asarray(matrices, dtype=np.float64)
    cos_mid = np.hypot(m[..., i, i], m[..., i, j])
    mid = np.arctan2(sign * m[..., i, k], cos_mid)
    first = np.arctan2(-sign * m[..., j, k], m[..., k, k])
    last = np.arctan2(-sign * m[..., i, j], m[..., i, i])
    locked = cos_mid < _GIMBAL_EPS
    if np.any(locked):
        first = np.where(locked, np.arctan2(sign * m[..., k, j], m[..., j, j]), first)
        last = np.where(locked, 0.0, last)
    return np.stack([first, mid, last], axis=-1)
