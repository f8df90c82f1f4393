"""Calibrated multi-view geometry: Qualisys calibration files, projection, DLT triangulation, synchronisation.

Used by ``tools.wild_benchmark`` to build a reference 3-D skeleton from several synchronised videos and so
measure video pose lifters such as HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D
Human Pose Estimation", CVPR 2024, arXiv:2311.12028) in the wild.

Conventions (OpenCV): a world point X (metres) is seen by a camera at ``X_cam = R @ X + t`` (x right, y down,
z along the optical axis) and at pixel ``K @ X_cam`` (before lens distortion). ``dist`` holds OpenCV's
``(k1, k2, p1, p2, k3)``.

Qualisys ``.qca.txt`` files (``parse_qca``), the conventions as Pose2Sim's converter reads them
(``Pose2Sim/calibration.py``, ``read_qca`` and ``calib_qca_fun``; re-implemented here):

* ``<intrinsic>``: ``focalLengthU/V`` and ``centerPointU/V`` are in 1/64-pixel sensor units; the principal
  point is shifted by the ``<fov_video>`` ``left``/``top`` corner. The distortion coefficients
  (``radialDistortion1..3``, ``tangentalDistortion1..2``) are divided by 64 as well (Pose2Sim's reading; on
  the Pose2Sim demo the lenses are so mild that the data cannot tell it from the undivided reading);
* ``<transform>``: ``r11 … r33`` (row-major matrix M) is the camera orientation and ``x, y, z`` the camera
  centre C in millimetres. A Qualisys camera looks along its −z axis with y up, hence the OpenCV rotation
  ``R = diag(1, −1, −1) @ M`` and ``t = −R @ C / 1000``;
* the image size is ``right − left + 1`` by ``bottom − top + 1`` of ``<fov_video>``.

Triangulation (``triangulate``) is the linear DLT of Hartley & Zisserman (Multiple View Geometry, §12.2) on
undistorted pixels, every view's two equations scaled to unit norm and then by the view's confidence
weight; ``triangulate_robust`` drops, point by point, one view at a time while the worst reprojection error
exceeds a pixel threshold and more than ``min_views`` views remain (the view whose removal leaves the most
consistent rest). ``synchronise`` finds integer frame offsets between unsynchronised videos by minimising
the median reprojection error of the triangulation.
"""
from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

_logger = logging.getLogger(__name__)

__all__ = ["CalibrationError", "CameraCalibration", "parse_qca", "triangulate", "reprojection_errors",
           "Triangulation", "triangulate_robust", "SyncResult", "synchronise", "stack_views"]

#: OpenCV rotation of a Qualisys camera frame (looks along −z, y up) into an OpenCV one (looks along +z, y down)
QUALISYS_TO_OPENCV = np.diag([1.0, -1.0, -1.0])
#: Qualisys sensor units per pixel
QUALISYS_SUBPIXELS = 64.0


class CalibrationError(ValueError):
    """A calibration file is missing, unreadable or incomplete; the message names the file and the field."""


@dataclass(frozen=True)
class CameraCalibration:
    """One calibrated camera (OpenCV conventions, see the module docstring).

    Attributes:
        name: the camera's name (Qualisys ``serial``), e.g. ``"cam01"``.
        K: (3, 3) intrinsic matrix, pixels.
        dist: (5,) OpenCV distortion ``(k1, k2, p1, p2, k3)``.
        R: (3, 3) world → camera rotation.
        t: (3,) world → camera translation, metres.
        size: image ``(width, height)`` in pixels.
        residual: the calibration's own average residual (Qualisys ``avg-residual``), NaN if absent.
    """

    name: str
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    size: Tuple[int, int]
    residual: float = float("nan")

    @property
    def P(self) -> np.ndarray:
        """(3, 4) projection matrix ``K [R | t]`` of undistorted pixels."""
        return self.K @ np.hstack([self.R, self.t[:, None]])

    @property
    def centre(self) -> np.ndarray:
        """(3,) camera centre in the world frame, metres."""
        return -self.R.T @ self.t

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world points (metres) → (..., 3) camera-frame points (float64; NaN propagates)."""
        return np.asarray(points, np.float64) @ self.R.T + self.t

    def project(self, points: np.ndarray, distort: bool = True) -> np.ndarray:
        """(..., 3) world points → (..., 2) pixels, with lens distortion unless ``distort`` is False.

        NaN points give NaN pixels; points behind the camera are projected as they fall (no clipping).
        """
        pts = np.asarray(points, np.float64)
        flat = pts.reshape(-1, 3)
        out = np.full((len(flat), 2), np.nan)
        ok = np.isfinite(flat).all(axis=1)
        if ok.any():
            rvec, _ = cv2.Rodrigues(self.R)
            dist = self.dist if distort else np.zeros(5)
            proj, _ = cv2.projectPoints(flat[ok].reshape(-1, 1, 3), rvec, self.t.astype(np.float64), self.K, dist)
            out[ok] = proj.reshape(-1, 2)
        return out.reshape(*pts.shape[:-1], 2)

    def undistort(self, pixels: np.ndarray) -> np.ndarray:
        """(..., 2) detected (distorted) pixels → (..., 2) undistorted pixels of the same camera (float64).

        NaN pixels stay NaN. Inverse of ``project`` (to OpenCV's iterative precision).
        """
        px = np.asarray(pixels, np.float64)
        flat = px.reshape(-1, 2)
        out = np.full_like(flat, np.nan)
        ok = np.isfinite(flat).all(axis=1)
        if ok.any():
            out[ok] = _undistort_points(flat[ok], self.K, self.dist)
        return out.reshape(px.shape)


def _undistort_points(pixels: np.ndarray, K: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """(N, 2) distorted pixels → (N, 2) undistorted pixels, iterated to 1e-12 (OpenCV 4's ``undistortPointsIter``
    or OpenCV 5's ``undistortPoints`` with ``criteria``)."""
    src = np.ascontiguousarray(pixels, np.float64).reshape(-1, 1, 2)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    if hasattr(cv2, "undistortPointsIter"):
        und = cv2.undistortPointsIter(src, K, dist, None, K, criteria)
    else:
        und = cv2.undistortPoints(src, K, dist, None, None, K, criteria)
    return und.reshape(-1, 2)


def _float(tag: ET.Element, key: str, path: Path) -> float:
    value = tag.get(key)
    if value is None:
        raise CalibrationError(f"calibration {path}: <{tag.tag}> of a camera lacks the '{key}' attribute")
    try:
        return float(value)
    except ValueError:
        raise CalibrationError(f"calibration {path}: <{tag.tag}> '{key}' = {value!r} is not a number") from None


def _child(camera: ET.Element, name: str, path: Path, serial: str) -> ET.Element:
    tag = camera.find(name)
    if tag is None:
        raise CalibrationError(f"calibration {path}: camera '{serial}' has no <{name}> element")
    return tag


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def parse_qca(path: Union[str, Path],
              distortion_scale: float = 1.0 / QUALISYS_SUBPIXELS) -> Dict[str, CameraCalibration]:
    """Read a Qualisys ``.qca.txt`` calibration (see the module docstring for its conventions).

    Args:
        path: the file.
        distortion_scale: factor applied to the file's distortion coefficients (1/64: Pose2Sim's reading).

    Returns:
        ``{camera name: CameraCalibration}`` in natural name order (cam2 before cam10).

    Raises:
        CalibrationError: missing or non-XML file, no camera, a missing element/attribute, a non-number,
            duplicate camera names, or a non-rotation matrix. One line, naming the file and the field.
    """
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f"calibration file not found: {path}")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise CalibrationError(f"calibration {path} is not a Qualisys XML file: {exc}") from None
    cameras: Dict[str, CameraCalibration] = {}
    for index, camera in enumerate(root.findall("cameras/camera")):
        serial = camera.get("serial") or f"camera{index + 1}"
        if serial in cameras:
            raise CalibrationError(f"calibration {path}: camera name '{serial}' appears twice")
        fov = _child(camera, "fov_video", path, serial)
        left, top = _float(fov, "left", path), _float(fov, "top", path)
        size = (int(round(_float(fov, "right", path) - left + 1)), int(round(_float(fov, "bottom", path) - top + 1)))
        intr = _child(camera, "intrinsic", path, serial)
        fu, fv = (_float(intr, k, path) / QUALISYS_SUBPIXELS for k in ("focalLengthU", "focalLengthV"))
        cu = _float(intr, "centerPointU", path) / QUALISYS_SUBPIXELS - left
        cv = _float(intr, "centerPointV", path) / QUALISYS_SUBPIXELS - top
        skew = float(intr.get("skew", 0.0) or 0.0) / QUALISYS_SUBPIXELS
        K = np.array([[fu, skew, cu], [0.0, fv, cv], [0.0, 0.0, 1.0]])
        k1, k2, k3 = (float(intr.get(f"radialDistortion{i}", 0.0) or 0.0) for i in (1, 2, 3))
        p1, p2 = (float(intr.get(f"tangentalDistortion{i}", 0.0) or 0.0) for i in (1, 2))
        dist = np.array([k1, k2, p1, p2, k3]) * distortion_scale
        tr = _child(camera, "transform", path, serial)
        M = np.array([[_float(tr, f"r{i}{j}", path) for j in (1, 2, 3)] for i in (1, 2, 3)])
        if not np.allclose(M @ M.T, np.eye(3), atol=1e-5) or np.linalg.det(M) < 0:
            raise CalibrationError(f"calibration {path}: camera '{serial}' <transform> r11..r33 is not a rotation")
        centre = np.array([_float(tr, k, path) for k in ("x", "y", "z")]) / 1000.0
        R = QUALISYS_TO_OPENCV @ M
        residual = float(camera.get("avg-residual", "nan"))
        cameras[serial] = CameraCalibration(serial, K, dist, R, -R @ centre, size, residual)
    if not cameras:
        raise CalibrationError(f"calibration {path} holds no <cameras><camera> element")
    return {name: cameras[name] for name in sorted(cameras, key=_natural_key)}


# ---------------------------------------------------------------------------------------------
# triangulation
# ---------------------------------------------------------------------------------------------
def _check_views(points: np.ndarray, projections: np.ndarray, weights: Optional[np.ndarray]) -> tuple:
    pts = np.asarray(points, np.float64)
    P = np.asarray(projections, np.float64)
    if pts.ndim < 2 or pts.shape[-1] != 2 or P.shape != (pts.shape[0], 3, 4):
        raise ValueError(f"expected points (V, ..., 2) and projections (V, 3, 4), got {pts.shape} and {P.shape}")
    w = np.ones(pts.shape[:-1]) if weights is None else np.asarray(weights, np.float64)
    if w.shape != pts.shape[:-1]:
        raise ValueError(f"weights have shape {w.shape}, expected {pts.shape[:-1]} (one per view and point)")
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("weights must be finite and >= 0")
    w = np.where(np.isfinite(pts).all(axis=-1), w, 0.0)
    return pts, P, w


def triangulate(points: np.ndarray, projections: np.ndarray, weights: Optional[np.ndarray] = None) -> np.ndarray:
    """Weighted linear (DLT) triangulation of points seen in V views.

    Args:
        points: (V, ..., 2) undistorted pixels; NaN = not seen in that view.
        projections: (V, 3, 4) projection matrices ``K [R | t]``.
        weights: (V, ...) confidences >= 0 (default 1); a weight of 0 leaves the view out.

    Returns:
        (..., 3) world points (float64); NaN where fewer than 2 views have a positive weight.
    """
    pts, P, w = _check_views(points, projections, weights)
    x, y = pts[..., 0:1], pts[..., 1:2]
    P = P.reshape(P.shape[0], *([1] * (pts.ndim - 2)), 3, 4)
    rows = np.stack([x * P[..., 2, :] - P[..., 0, :], y * P[..., 2, :] - P[..., 1, :]], axis=-2)  # (V, ..., 2, 4)
    rows = np.nan_to_num(rows, nan=0.0)
    norm = np.linalg.norm(rows, axis=-1, keepdims=True)
    rows = rows / np.where(norm > 0, norm, 1.0) * w[..., None, None]
    A = np.moveaxis(rows, 0, -3)  # (..., V, 2, 4)
    A = A.reshape(*A.shape[:-3], -1, 4)  # (..., 2V, 4)
    _, _, vt = np.linalg.svd(A)
    X = vt[..., -1, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = X[..., :3] / X[..., 3:]
    out[(w > 0).sum(axis=0) < 2] = np.nan
    return out


def reprojection_errors(points_3d: np.ndarray, points: np.ndarray, projections: np.ndarray) -> np.ndarray:
    """Pixel distance between every view's point and the projection of the 3-D point.

    Args:
        points_3d: (..., 3) world points.
        points: (V, ..., 2) undistorted pixels (NaN = not seen).
        projections: (V, 3, 4).

    Returns:
        (V, ...) errors in pixels; NaN where the view has no point or the 3-D point is NaN.
    """
    X = np.asarray(points_3d, np.float64)
    P = np.asarray(projections, np.float64)
    Xh = np.concatenate([X, np.ones((*X.shape[:-1], 1))], axis=-1)
    proj = np.einsum("vij,...j->v...i", P, Xh)
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = proj[..., :2] / proj[..., 2:]
    return np.linalg.norm(uv - np.asarray(points, np.float64), axis=-1)


@dataclass
class Triangulation:
    """Result of ``triangulate_robust``.

    Attributes:
        points: (..., 3) world points, NaN where fewer than 2 usable views.
        errors: (V, ...) reprojection error (px) of every view with a usable detection, the dropped views
            included (NaN where the view had none).
        used: (V, ...) bool, views that entered the final estimate.
    """

    points: np.ndarray
    errors: np.ndarray
    used: np.ndarray

    @property
    def used_errors(self) -> np.ndarray:
        """The reprojection errors (px) of the views used, flat (finite values only)."""
        e = self.errors[self.used]
        return e[np.isfinite(e)]


def triangulate_robust(points: np.ndarray, projections: np.ndarray, weights: Optional[np.ndarray] = None,
                       threshold_px: float = 30.0, min_views: int = 2) -> Triangulation:
    """DLT triangulation that drops outlier views point by point.

    While a point's worst used view reprojects more than ``threshold_px`` away and more than ``min_views``
    views are used, one view is dropped and the point triangulated again. The view dropped is the one whose
    removal leaves the smallest worst reprojection error among the remaining views (leave-one-out): with
    opposite cameras, one corrupted view pulls the all-view estimate so that its opposite view errs about as
    much as itself, so the view with the largest error is not always the corrupted one.

    Args:
        points: (V, ..., 2) undistorted pixels (NaN = not seen).
        projections: (V, 3, 4).
        weights: (V, ...) confidences >= 0 (default 1); 0 leaves a view out from the start.
        threshold_px: worst reprojection error (px) above which a view is dropped.
        min_views: never drop below this many views (>= 2).
    """
    if min_views < 2:
        raise ValueError(f"min_views must be >= 2, got {min_views}")
    pts, P, w = _check_views(points, projections, weights)
    V = pts.shape[0]
    used = w > 0

    def worst_error(mask: np.ndarray) -> tuple:
        X = triangulate(pts, P, np.where(mask, w, 0.0))
        errors = reprojection_errors(X, pts, P)
        worst = np.where(mask & np.isfinite(errors), errors, -np.inf).max(axis=0)
        return X, errors, np.where(np.isfinite(X).all(axis=-1), worst, np.inf)

    X, errors, worst = worst_error(used)
    for _ in range(max(V - min_views, 0)):
        drop = (worst > threshold_px) & (used.sum(axis=0) > min_views)
        if not drop.any():
            break
        left_out = np.full((V, *worst.shape), np.inf)  # worst remaining error when view v is left out
        for v in range(V):
            trial = used.copy()
            trial[v] = False
            left_out[v] = np.where(used[v], worst_error(trial)[2], np.inf)
        choice = np.argmin(left_out, axis=0)  # ties: the lowest view index
        for v in range(V):
            used[v] &= ~(drop & (choice == v))
        X, errors, worst = worst_error(used)
    errors = np.where(w > 0, errors, np.nan)
    return Triangulation(points=X, errors=errors, used=used & np.isfinite(X).all(axis=-1)[None])


# ---------------------------------------------------------------------------------------------
# synchronisation
# ---------------------------------------------------------------------------------------------
def stack_views(per_view: Sequence[np.ndarray], offsets: Sequence[int], frames: np.ndarray,
                fill: float = np.nan) -> np.ndarray:
    """Gather frames of unsynchronised views on a common timeline.

    Args:
        per_view: V arrays (T_v, ...), one per view.
        offsets: (V,) frame offsets: view v's frame ``t + offsets[v]`` shows the instant of timeline frame t.
        frames: (N,) timeline frames.
        fill: value where a view has no such frame.

    Returns:
        (V, N, ...) array.
    """
    frames = np.asarray(frames, int)
    out = []
    for arr, off in zip(per_view, offsets):
        arr = np.asarray(arr, np.float64)
        idx = frames + int(off)
        ok = (idx >= 0) & (idx < len(arr))
        view = np.full((len(frames), *arr.shape[1:]), fill, dtype=np.float64)
        view[ok] = arr[idx[ok]]
        out.append(view)
    return np.stack(out)


@dataclass
class SyncResult:
    """Result of ``synchronise``.

    Attributes:
        offsets: (V,) integer frame offsets (reference view 0): view v's frame ``t + offsets[v]`` shows the
            instant of the reference's frame t.
        cost_px: median reprojection error of the triangulation at ``offsets`` (frames valid for all views).
        cost_px_unshifted: the same with every offset 0, on the same frames.
        frames: number of timeline frames ``cost_px`` was measured on.
        curves: ``{view: [(offset, cost_px), ...]}`` of the last search pass (each on the frames valid for
            every candidate offset of that view).
    """

    offsets: List[int]
    cost_px: float
    cost_px_unshifted: float
    frames: int
    curves: Dict[int, List[Tuple[int, float]]] = field(default_factory=dict)


def _valid_frames(lengths: Sequence[int], offsets: Sequence[int], reference: int) -> np.ndarray:
    t = np.arange(lengths[reference])
    ok = np.ones(len(t), bool)
    for length, off in zip(lengths, offsets):
        ok &= (t + off >= 0) & (t + off < length)
    return t[ok]


def _median_cost(points: Sequence[np.ndarray], weights: Sequence[np.ndarray], projections: np.ndarray,
                 offsets: Sequence[int], frames: np.ndarray) -> float:
    pts = stack_views(points, offsets, frames)
    w = stack_views(weights, offsets, frames, fill=0.0)
    X = triangulate(pts, projections, w)
    err = reprojection_errors(X, pts, projections)
    err = err[(w > 0) & np.isfinite(err)]
    return float(np.median(err)) if err.size else float("inf")


def synchronise(points: Sequence[np.ndarray], weights: Sequence[np.ndarray], projections: np.ndarray,
                reference: int = 0, max_offset: int = 10, passes: int = 3, min_frames: int = 5) -> SyncResult:
    """Integer frame offsets that synchronise V videos, by coordinate descent on the median reprojection
    error of the (all-view, weighted DLT) triangulation.

    Each pass tries, for every non-reference view in turn, every offset in ``[-max_offset, max_offset]``
    with the other offsets fixed, scored on the timeline frames valid for all candidates, and keeps the best
    (ties: the smaller ``|offset|``, then the smaller offset); passes stop when nothing changes.

    Args:
        points: V arrays (T_v, J, 2) of undistorted pixels (NaN = missing).
        weights: V arrays (T_v, J) of confidences >= 0.
        projections: (V, 3, 4).
        reference: the view whose frames define the timeline (offset 0).
        max_offset: largest |offset| tried, frames.
        passes: at most this many coordinate-descent passes.
        min_frames: fewest timeline frames a candidate may be scored on.

    Raises:
        ValueError: fewer than 2 views, mismatched inputs, or too few overlapping frames for ``max_offset``.
    """
    V = len(points)
    if V < 2 or len(weights) != V or np.shape(projections) != (V, 3, 4):
        raise ValueError(f"synchronise needs >= 2 views with matching weights and (V, 3, 4) projections, got "
                         f"{V} point arrays, {len(weights)} weight arrays and projections {np.shape(projections)}")
    if not 0 <= reference < V or max_offset < 0:
        raise ValueError(f"reference must be a view index and max_offset >= 0, got {reference} and {max_offset}")
    lengths = [len(p) for p in points]
    offsets = [0] * V
    candidates = sorted(range(-max_offset, max_offset + 1), key=lambda o: (abs(o), o))
    curves: Dict[int, List[Tuple[int, float]]] = {}
    for _ in range(passes):
        changed = False
        for v in range(V):
            if v == reference:
                continue
            ok = np.ones(lengths[reference], bool)
            for o in (-max_offset, max_offset):
                trial = list(offsets)
                trial[v] = o
                ok &= np.isin(np.arange(lengths[reference]), _valid_frames(lengths, trial, reference))
            frames = np.flatnonzero(ok)
            if len(frames) < min_frames:
                raise ValueError(f"only {len(frames)} frames overlap for offsets up to ±{max_offset}; use more frames "
                                 f"or a smaller maximum offset (at least {min_frames} frames are needed)")
            curve = []
            for o in candidates:
                trial = list(offsets)
                trial[v] = o
                curve.append((o, _median_cost(points, weights, projections, trial, frames)))
            best = min(curve, key=lambda item: item[1])[0]  # min keeps the first: candidates are in tie order
            curves[v] = sorted(curve)
            if best != offsets[v]:
                offsets[v], changed = best, True
        if not changed:
            break
    common = np.intersect1d(_valid_frames(lengths, offsets, reference), _valid_frames(lengths, [0] * V, reference))
    return SyncResult(offsets=offsets, cost_px=_median_cost(points, weights, projections, offsets, common),
                      cost_px_unshifted=_median_cost(points, weights, projections, [0] * V, common),
                      frames=int(len(common)), curves=curves)
