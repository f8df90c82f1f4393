"""Camera maths for Human3.6M: quaternion rotations, world↔camera transforms, distorted projection and
screen-coordinate normalisation.

Follows the conventions of VideoPose3D (Pavllo et al., CVPR 2019, arXiv:1811.11742), which HoT
(Li et al., CVPR 2024, arXiv:2311.12028) inherits through MHFormer: quaternions are (w, x, y, z), the
extrinsic ``orientation`` rotates camera-frame vectors into the world frame and ``translation`` is the
camera centre in the world; the lens model is the one of the Human3.6M toolbox (3 radial, 2 tangential
coefficients). Everything here is vectorised numpy and works on any leading shape.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Tuple

import numpy as np

_logger = logging.getLogger(__name__)


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors by unit quaternions.

    Args:
        q: (..., 4) quaternions (w, x, y, z), broadcastable against ``v``'s leading shape.
        v: (..., 3) vectors.

    Returns:
        (..., 3) rotated vectors ``v + 2 (w (u×v) + u×(u×v))`` with u = (x, y, z).
    """
    q = np.asarray(q)
    v = np.asarray(v)
    u = q[..., 1:]
    uv = np.cross(u, v)
    uuv = np.cross(u, uv)
    return v + 2.0 * (q[..., :1] * uv + uuv)


def qinverse(q: np.ndarray) -> np.ndarray:
    """Inverse (conjugate) of unit quaternions (w, x, y, z) → (w, -x, -y, -z)."""
    q = np.array(q, copy=True)
    q[..., 1:] *= -1
    return q


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions (w, x, y, z) → (..., 3, 3) rotation matrices with ``R @ v == qrot(q, v)``."""
    q = np.asarray(q)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices → (..., 4) unit quaternions (w, x, y, z) with w ≥ 0, the inverse of
    ``quaternion_to_matrix`` (Shepperd's method: the largest of 1 + trace and the 1 ± 2·diagonal terms is
    taken as the pivot, so the result is accurate for every rotation)."""
    m = np.asarray(m, dtype=np.float64)
    if m.shape[-2:] != (3, 3):
        raise ValueError(f"expected (..., 3, 3) rotation matrices, got shape {m.shape}")
    d = {(i, j): m[..., i, j] for i in range(3) for j in range(3)}
    # 4·q_i² for i = w, x, y, z
    sq = np.stack([1 + d[0, 0] + d[1, 1] + d[2, 2], 1 + d[0, 0] - d[1, 1] - d[2, 2],
                   1 - d[0, 0] + d[1, 1] - d[2, 2], 1 - d[0, 0] - d[1, 1] + d[2, 2]], axis=-1)
    pivot = np.argmax(sq, axis=-1)
    # row i: 4·q_i·(w, x, y, z), exact for pivot i
    rows = np.stack([
        np.stack([sq[..., 0], d[2, 1] - d[1, 2], d[0, 2] - d[2, 0], d[1, 0] - d[0, 1]], -1),
        np.stack([d[2, 1] - d[1, 2], sq[..., 1], d[0, 1] + d[1, 0], d[0, 2] + d[2, 0]], -1),
        np.stack([d[0, 2] - d[2, 0], d[0, 1] + d[1, 0], sq[..., 2], d[1, 2] + d[2, 1]], -1),
        np.stack([d[1, 0] - d[0, 1], d[0, 2] + d[2, 0], d[1, 2] + d[2, 1], sq[..., 3]], -1),
    ], axis=-2)  # (..., 4 pivots, 4)
    q = np.take_along_axis(rows, pivot[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def world_to_camera(x: np.ndarray, orientation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """World-frame points to the camera frame: rotate ``x - translation`` by the inverse orientation.

    Computed as ``(x - t) R(q)`` (the row-vector form of ``R(q)ᵀ (x - t)``), in ``x``'s float dtype.

    Args:
        x: (..., 3) world points (same unit as ``translation``).
        orientation: (4,) camera orientation quaternion (w, x, y, z).
        translation: (3,) camera centre in the world frame.

    Returns:
        (..., 3) camera-frame points (z = depth).
    """
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    rot = quaternion_to_matrix(np.asarray(orientation, dtype=np.float64)).astype(dtype)
    flat = x.astype(dtype, copy=False).reshape(-1, 3) - np.asarray(translation, dtype=dtype)  # (P, 3)
    # einsum: a (P,3)@(3,3) product through BLAS is ~20x slower for such thin matrices
    return np.einsum("pc,cd->pd", flat, rot).reshape(x.shape)


def camera_to_world(x: np.ndarray, orientation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Inverse of ``world_to_camera``: (..., 3) camera-frame points to the world frame."""
    return qrot(np.asarray(orientation), np.asarray(x)) + translation


def normalize_screen_coordinates(x: np.ndarray, w: int, h: int) -> np.ndarray:
    """Pixels → screen coordinates: u' = 2u/w - 1, v' = 2v/w - h/w (aspect ratio kept).

    Args:
        x: (..., 2) pixel coordinates.
        w: image width in pixels.
        h: image height in pixels.

    Returns:
        (..., 2) with x in [-1, 1] and y in [-h/w, h/w]; same dtype as ``x``.
    """
    x = np.asarray(x)
    if x.shape[-1] != 2:
        raise ValueError(f"expected (..., 2) coordinates, got shape {x.shape}")
    return (x / w * 2 - np.array([1, h / w], dtype=x.dtype)).astype(x.dtype, copy=False)


def image_coordinates(x: np.ndarray, w: int, h: int) -> np.ndarray:
    """Inverse of ``normalize_screen_coordinates``: (..., 2) screen coordinates → pixels."""
    x = np.asarray(x)
    if x.shape[-1] != 2:
        raise ValueError(f"expected (..., 2) coordinates, got shape {x.shape}")
    return ((x + np.array([1, h / w], dtype=x.dtype)) * w / 2).astype(x.dtype, copy=False)


def project_to_2d(x: np.ndarray, intrinsic: np.ndarray, clip: bool = True) -> np.ndarray:
    """Project camera-frame points with the Human3.6M lens model (radial + tangential distortion).

    With (a, b) = clip((x/z, y/z), -1, 1), r² = a² + b², the distorted point is
    ``(a, b)·(1 + k1 r² + k2 r⁴ + k3 r⁶ + p1 a + p2 b) + (p1, p2)·r²``, then ``f·(·) + c``. This is the
    Human3.6M toolbox formula as VideoPose3D writes it (VideoPose3D's tangential order).

    Args:
        x: (..., 3) camera-frame points.
        intrinsic: (9,) for one camera, or (B, 9) with ``x`` of shape (B, ..., 3): focal (2), centre (2),
            radial k1..k3 (3), tangential p1, p2 (2); in pixels for pixel output, or normalised
            (``Camera.intrinsic(normalised=True)``) for screen coordinates.
        clip: clip (x/z, y/z) to [-1, 1] as the toolbox does (keeps the distortion polynomial bounded).
            ``False`` (for distortion-free cameras, e.g. the virtual cameras of ``hot_pose.data.dataset``) is the
            plain pinhole ``f·(x/z, y/z) + c`` for every point, also outside a 90° field of view.

    Returns:
        (..., 2) projected points, float64 unless both inputs are float32.
    """
    x = np.asarray(x)
    k = np.asarray(intrinsic)
    if x.shape[-1] != 3 or k.shape[-1] != 9:
        raise ValueError(f"expected points (..., 3) and intrinsics (..., 9), got {x.shape} and {k.shape}")
    if k.ndim > 1:  # (B, 9) with x (B, ..., 3): insert the axes between B and the coordinates
        k = k.reshape(k.shape[:-1] + (1,) * (x.ndim - k.ndim) + (9,))
    fx, fy, cx, cy, k1, k2, k3, p1, p2 = (k[..., i] for i in range(9))
    # component-wise: reductions over a length-3 axis are several times slower
    a = x[..., 0] / x[..., 2]
    b = x[..., 1] / x[..., 2]
    if clip:
        a, b = np.clip(a, -1.0, 1.0), np.clip(b, -1.0, 1.0)
    r2 = a * a + b * b
    scale = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3)) + p1 * a + p2 * b
    u = a * scale + p1 * r2
    v = b * scale + p2 * r2
    return np.stack([fx * u + cx, fy * v + cy], axis=-1)


@dataclass(frozen=True)
class Camera:
    """One calibrated Human3.6M camera (intrinsics in pixels, extrinsics in metres).

    Attributes:
        id: the camera's serial number, e.g. ``"54138969"``.
        res_w, res_h: image size in pixels.
        center, focal_length: (2,) pixels.
        radial_distortion: (3,) k1, k2, k3.
        tangential_distortion: (2,) p1, p2 (VideoPose3D order).
        orientation: (4,) quaternion (w, x, y, z), camera → world rotation.
        translation: (3,) camera centre in the world frame, metres.
        azimuth: viewing azimuth in degrees (for visualisation).
    """

    id: str
    res_w: int
    res_h: int
    center: Tuple[float, float]
    focal_length: Tuple[float, float]
    radial_distortion: Tuple[float, float, float]
    tangential_distortion: Tuple[float, float]
    orientation: Tuple[float, float, float, float]
    translation: Tuple[float, float, float]
    azimuth: float = 0.0

    def intrinsic(self, normalised: bool = True) -> np.ndarray:
        """The 9-vector (focal 2, centre 2, radial 3, tangential 2), float32.

        With ``normalised`` (the reference's ``crop_uv == 0``), focal and centre are expressed in screen
        coordinates: ``focal·2/w`` and ``normalize_screen_coordinates(centre)``.
        """
        f = np.asarray(self.focal_length, dtype=np.float64)
        c = np.asarray(self.center, dtype=np.float64)
        if normalised:
            f = f / self.res_w * 2
            c = normalize_screen_coordinates(c, self.res_w, self.res_h)
        return np.concatenate([f, c, self.radial_distortion, self.tangential_distortion]).astype(np.float32)

    def world_to_camera(self, x: np.ndarray) -> np.ndarray:
        """(..., 3) world points in metres → camera frame, in ``x``'s float dtype (float32 or float64)."""
        return world_to_camera(x, np.asarray(self.orientation), np.asarray(self.translation))

    def project(self, x_cam: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points → (..., 2) distorted pixel coordinates (float64)."""
        return project_to_2d(np.asarray(x_cam, dtype=np.float64), self.intrinsic(normalised=False).astype(np.float64))

    def normalize(self, x_px: np.ndarray) -> np.ndarray:
        """(..., 2) pixels → screen coordinates of this camera."""
        return normalize_screen_coordinates(x_px, self.res_w, self.res_h)


def to_absolute(pose_3d: np.ndarray) -> np.ndarray:
    """``PoseSequence.pose_3d`` layout (joint 0 absolute, the others relative to it) → absolute positions.

    (..., J, 3) → (..., J, 3), a new array in the input's dtype."""
    out = np.array(pose_3d, copy=True)
    out[..., 1:, :] += out[..., :1, :]
    return out


def to_root_relative(positions: np.ndarray) -> np.ndarray:
    """Absolute positions → the ``PoseSequence.pose_3d`` layout; the inverse of ``to_absolute``.

    (..., J, 3) → (..., J, 3), a new array in the input's dtype."""
    out = np.array(positions, copy=True)
    out[..., 1:, :] -= out[..., :1, :]
    return out
