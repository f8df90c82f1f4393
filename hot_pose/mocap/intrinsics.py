"""Pinhole camera intrinsics for motion capture: from a focal length, a field of view, a calibration file, or
the documented default.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028) lifts root-relative poses; placing them in the scene (``hot_pose.mocap``) needs the camera's
focal length, because the person's depth is proportional to it: with the person's metric size fixed,
``Z ≈ f·H / h_px``, so **a focal length off by x % puts the person x % too near or too far** (lateral
positions stay about right; see ``docs/mocap.md``).

Sources (``Intrinsics.resolve``; at most one of them):

* ``focal_px``: the focal length in pixels (square pixels, principal point at the image centre);
* ``fov_deg``: the field of view in degrees across the image's **longer** side (so a portrait and a landscape
  video of one camera get the same focal length); ``f = (long side / 2) / tan(fov / 2)``;
* ``calibration``: a calibration file (``load_calibration``), one of
  - JSON (this project's format): ``{"K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], "dist": [k1, k2, p1, p2(, k3)],
    "size": [width, height]}``; ``dist`` (OpenCV's order and model) and ``size`` (the image size K was
    calibrated for) are optional;
  - Pose2Sim's ``Calib*.toml`` (sections with ``name``, ``size``, ``matrix``, ``distortions``; the camera is
    chosen by ``camera`` = its section or ``name``, required when the file has several);
  - Qualisys ``*.qca.txt`` (read by ``hot_pose.data.multiview.parse_qca``, Pose2Sim's conventions);
* none: ``DEFAULT_FOV_DEG`` = 65° across the longer side.

Default field of view: 65° is the middle of what consumer cameras record: a phone's main camera (26 mm-equivalent
lens: ~69° across the long side of a 16:9 frame, ~60-65° once video stabilisation crops it) and webcams (60-70°
horizontal, e.g. ~70° for a 78°-diagonal Logitech C920). For reference, the Pose2Sim demo cameras are 59.4°
(f ≈ 1680 px on 1920 px: the default is 10 % short there) and Human3.6M's 47.2° (f ≈ 1147 px on 1000 px).

A calibration whose ``size`` differs from the video's: the same aspect ratio (within 0.5 %) means a resized video
and K is scaled; a size within 2 % of the video's (a crop or padding, e.g. Pose2Sim's 1088 vs 1080 rows) is used
as it is, with a warning; anything else is refused (ValueError).

Lens distortion: OpenCV's model (``k1, k2, p1, p2[, k3]``, ``model="opencv"``) or the Human3.6M toolbox model
(``model="h36m"``, coefficients ``k1, k2, k3, p1, p2`` as ``hot_pose.data.camera.project_to_2d`` applies them,
without its clipping). ``normalise`` inverts either by fixed-point iteration (to 1e-12 in normalised units,
≤ 50 iterations), in numpy.
"""
from __future__ import annotations

import json
import logging
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from hot_pose.utils.checks import check_image_size

_logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_FOV_DEG", "Intrinsics", "focal_from_fov", "fov_from_focal", "load_calibration",
           "check_focal", "check_fov"]

#: default field of view across the image's longer side, degrees (see the module docstring)
DEFAULT_FOV_DEG = 65.0
_AXES = ("long", "short", "horizontal", "vertical", "diagonal")
_MODELS = ("opencv", "h36m")
#: a calibration's size may differ from the video's by this fraction and still be used as it is (crop/padding)
SIZE_TOLERANCE = 0.02
#: two aspect ratios within this fraction count as the same (a resized video: K is scaled)
ASPECT_TOLERANCE = 0.005

PathLike = Union[str, Path]


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_focal(focal_px: Any, name: str = "focal_px") -> float:
    """``focal_px`` as a float.

    Raises:
        ValueError: not a finite number > 0 (pixels); the message names ``name``.
    """
    if not (_is_number(focal_px) and math.isfinite(float(focal_px)) and float(focal_px) > 0):
        raise ValueError(f"{name} must be a finite focal length > 0 in pixels, got {focal_px!r}")
    return float(focal_px)


def check_fov(fov_deg: Any, name: str = "fov_deg") -> float:
    """``fov_deg`` as a float.

    Raises:
        ValueError: not a finite number strictly between 0 and 180 degrees; the message names ``name``.
    """
    if not (_is_number(fov_deg) and math.isfinite(float(fov_deg)) and 0.0 < float(fov_deg) < 180.0):
        raise ValueError(f"{name} must be a field of view in (0, 180) degrees, got {fov_deg!r}")
    return float(fov_deg)


def _extent(width: float, height: float, axis: str) -> float:
    if axis not in _AXES:
        raise ValueError(f"axis must be one of {', '.join(_AXES)}, got {axis!r}")
    return {"long": max(width, height), "short": min(width, height), "horizontal": width, "vertical": height,
            "diagonal": math.hypot(width, height)}[axis]


def focal_from_fov(fov_deg: float, width: int, height: int, axis: str = "long") -> float:
    """Focal length in pixels of a pinhole camera whose field of view across ``axis`` is ``fov_deg`` degrees.

    Raises:
        ValueError: ``fov_deg`` outside (0, 180) or not finite, a bad image size or axis.
    """
    width, height = check_image_size((width, height), "image size")
    fov = check_fov(fov_deg)
    return _extent(width, height, axis) / 2.0 / math.tan(math.radians(fov) / 2.0)


def fov_from_focal(focal_px: float, width: int, height: int, axis: str = "long") -> float:
    """Field of view in degrees across ``axis`` of a pinhole camera with focal length ``focal_px`` pixels.

    Raises:
        ValueError: a bad focal length, image size or axis.
    """
    width, height = check_image_size((width, height), "image size")
    return math.degrees(2.0 * math.atan(_extent(width, height, axis) / 2.0 / check_focal(focal_px)))


@dataclass(frozen=True)
class Intrinsics:
    """A pinhole camera, optionally with lens distortion.

    Attributes:
        fx, fy: focal lengths in pixels (> 0).
        cx, cy: principal point in pixels.
        width, height: image size in pixels.
        dist: distortion coefficients (empty: none), in the order of ``model``.
        model: ``"opencv"`` (k1, k2, p1, p2[, k3]) or ``"h36m"`` (k1, k2, k3, p1, p2; the Human3.6M toolbox).
        source: where the intrinsics came from (``calibration``, ``focal``, ``fov``, ``default``); not compared.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    dist: Tuple[float, ...] = ()
    model: str = "opencv"
    source: str = field(default="calibration", compare=False)

    def __post_init__(self) -> None:
        w, h = check_image_size((self.width, self.height), "image size")
        object.__setattr__(self, "width", w)
        object.__setattr__(self, "height", h)
        for name in ("fx", "fy"):
            object.__setattr__(self, name, check_focal(getattr(self, name), name))
        for name in ("cx", "cy"):
            v = getattr(self, name)
            if not (_is_number(v) and math.isfinite(float(v))):
                raise ValueError(f"principal point {name} must be a finite number of pixels, got {v!r}")
            object.__setattr__(self, name, float(v))
        if self.model not in _MODELS:
            raise ValueError(f"distortion model must be one of {', '.join(_MODELS)}, got {self.model!r}")
        try:
            d = tuple(float(x) for x in self.dist)
        except (TypeError, ValueError):
            raise ValueError(f"distortion coefficients must be numbers, got {self.dist!r}") from None
        if not all(math.isfinite(x) for x in d):
            raise ValueError(f"distortion coefficients must be finite, got {d}")
        if self.model == "opencv" and len(d) not in (0, 4, 5):
            raise ValueError(f"OpenCV distortion needs 4 or 5 coefficients (k1, k2, p1, p2[, k3]), got {len(d)}")
        if self.model == "h36m" and len(d) not in (0, 5):
            raise ValueError(f"Human3.6M distortion needs 5 coefficients (k1, k2, k3, p1, p2), got {len(d)}")
        if not any(d):
            d = ()
        object.__setattr__(self, "dist", d)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_focal(cls, focal_px: float, width: int, height: int,
                   principal: Optional[Sequence[float]] = None) -> "Intrinsics":
        """Square pixels, focal length ``focal_px``, principal point ``principal`` (default: the image centre).

        Raises:
            ValueError: ``focal_px`` ≤ 0 or not finite, a bad image size.
        """
        f = check_focal(focal_px)
        width, height = check_image_size((width, height), "image size")
        cx, cy = (width / 2.0, height / 2.0) if principal is None else (principal[0], principal[1])
        return cls(f, f, cx, cy, width, height, source="focal")

    @classmethod
    def from_fov(cls, fov_deg: float, width: int, height: int, axis: str = "long") -> "Intrinsics":
        """Square pixels, centred principal point, field of view ``fov_deg`` degrees across ``axis`` (``long``
        (default), ``short``, ``horizontal``, ``vertical`` or ``diagonal``).

        Raises:
            ValueError: ``fov_deg`` outside (0, 180), a bad image size or axis.
        """
        f = focal_from_fov(fov_deg, width, height, axis)
        return cls(f, f, width / 2.0, height / 2.0, width, height, source="fov")

    @classmethod
    def default(cls, width: int, height: int) -> "Intrinsics":
        """``DEFAULT_FOV_DEG`` across the longer side (see the module docstring)."""
        f = focal_from_fov(DEFAULT_FOV_DEG, width, height, "long")
        return cls(f, f, width / 2.0, height / 2.0, width, height, source="default")

    @classmethod
    def from_matrix(cls, K: Any, width: int, height: int, dist: Optional[Sequence[float]] = None,
                    model: str = "opencv") -> "Intrinsics":
        """From a calibration: the (3, 3) matrix ``K`` (no skew) and distortion coefficients.

        Raises:
            ValueError: ``K`` not a finite 3×3 ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``, a focal ≤ 0, bad
                distortion coefficients or image size.
        """
        try:
            K = np.asarray(K, np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"K must be a 3x3 matrix of numbers, got {K!r}") from None
        if K.shape != (3, 3) or not np.isfinite(K).all():
            raise ValueError(f"K must be a finite 3x3 matrix, got shape {K.shape}")
        if abs(K[0, 1]) > 1e-6 * abs(K[0, 0]) or not np.allclose(K[1, 0], 0) or not np.allclose(K[2], [0, 0, 1]):
            raise ValueError("K must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] (no skew)")
        return cls(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), width, height,
                   tuple(dist) if dist is not None else (), model, source="calibration")

    @classmethod
    def resolve(cls, width: int, height: int, focal_px: Optional[float] = None, fov_deg: Optional[float] = None,
                calibration: Optional[PathLike] = None, camera: Optional[str] = None) -> "Intrinsics":
        """The intrinsics from what is known: ``focal_px``, ``fov_deg`` (longer side), a ``calibration`` file
        (``load_calibration``, ``camera`` picks one of several) or, with none of them, ``DEFAULT_FOV_DEG``.
        Logs which one is used.

        Raises:
            ValueError: more than one source given, or a bad value (see the constructors).
            FileNotFoundError: the calibration file does not exist.
        """
        given = [n for n, v in (("focal_px", focal_px), ("fov_deg", fov_deg), ("calibration", calibration))
                 if v is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of focal_px, fov_deg and calibration, got {' and '.join(given)}")
        if camera is not None and calibration is None:
            raise ValueError("camera selects a camera of a calibration file: give calibration too")
        if calibration is not None:
            out = load_calibration(calibration, width, height, camera)
        elif focal_px is not None:
            out = cls.from_focal(focal_px, width, height)
        elif fov_deg is not None:
            out = cls.from_fov(fov_deg, width, height)
        else:
            out = cls.default(width, height)
            _logger.info("no focal length, field of view or calibration given: assuming %.0f° across the longer "
                         "side (f = %.0f px for %dx%d); depths scale with this guess", DEFAULT_FOV_DEG, out.fx,
                         out.width, out.height)
        return out

    # ------------------------------------------------------------------ properties
    @property
    def K(self) -> np.ndarray:
        """(3, 3) intrinsic matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def size(self) -> Tuple[int, int]:
        """(width, height) in pixels."""
        return self.width, self.height

    @property
    def focal(self) -> float:
        """Mean focal length in pixels (the pixel size of one normalised unit)."""
        return 0.5 * (self.fx + self.fy)

    def fov_deg(self, axis: str = "long") -> float:
        """Field of view across ``axis`` in degrees (ignoring distortion)."""
        return fov_from_focal(self.focal, self.width, self.height, axis)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready description: K, size, distortion, model, source, field of view (long side)."""
        return dict(K=self.K.tolist(), size=[self.width, self.height], dist=list(self.dist), model=self.model,
                    source=self.source, fov_long_side_deg=self.fov_deg())

    # ------------------------------------------------------------------ distortion
    def distort(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) ideal normalised coordinates (x/z, y/z) → (..., 2) distorted normalised coordinates."""
        xy = np.asarray(xy, np.float64)
        if not self.dist:
            return xy.copy()
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        if self.model == "opencv":
            k1, k2, p1, p2 = self.dist[:4]
            k3 = self.dist[4] if len(self.dist) > 4 else 0.0
            radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
            xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
            yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        else:  # Human3.6M toolbox (hot_pose.data.camera.project_to_2d without the clipping)
            k1, k2, k3, p1, p2 = self.dist
            scale = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3)) + p1 * x + p2 * y
            xd = x * scale + p1 * r2
            yd = y * scale + p2 * r2
        return np.stack([xd, yd], axis=-1)

    def undistort(self, xy_distorted: np.ndarray, iterations: int = 50, tol: float = 1e-12) -> np.ndarray:
        """Inverse of ``distort`` by fixed-point iteration ``x ← x + (x_d − distort(x))``.

        Args:
            xy_distorted: (..., 2) distorted normalised coordinates; NaN stays NaN.

        Returns:
            (..., 2) ideal normalised coordinates.
        """
        xd = np.asarray(xy_distorted, np.float64)
        if not self.dist:
            return xd.copy()
        x = xd.copy()
        for _ in range(iterations):
            step = xd - self.distort(x)
            x = x + step
            if not np.any(np.abs(np.nan_to_num(step)) > tol):
                break
        return x

    # ------------------------------------------------------------------ pixels ↔ rays
    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """(..., 2) detected pixels → (..., 2) undistorted normalised image coordinates (x/z, y/z).

        Raises:
            ValueError: the last axis is not 2.
        """
        px = np.asarray(pixels, np.float64)
        if px.shape[-1:] != (2,):
            raise ValueError(f"expected (..., 2) pixel coordinates, got shape {px.shape}")
        xy = np.stack([(px[..., 0] - self.cx) / self.fx, (px[..., 1] - self.cy) / self.fy], axis=-1)
        return self.undistort(xy)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points (z > 0) → (..., 2) pixels, lens distortion included.

        Raises:
            ValueError: the last axis is not 3.
        """
        p = np.asarray(points, np.float64)
        if p.shape[-1:] != (3,):
            raise ValueError(f"expected (..., 3) camera-frame points, got shape {p.shape}")
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = p[..., :2] / p[..., 2:3]
        xy = self.distort(xy)
        return np.stack([xy[..., 0] * self.fx + self.cx, xy[..., 1] * self.fy + self.cy], axis=-1)

    def scaled_to(self, width: int, height: int) -> "Intrinsics":
        """The same camera for a resized image (focal length and principal point scaled per axis)."""
        width, height = check_image_size((width, height), "image size")
        sx, sy = width / self.width, height / self.height
        return Intrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, width, height, self.dist,
                          self.model, self.source)


# ---------------------------------------------------------------------------------------------
# calibration files
# ---------------------------------------------------------------------------------------------
def _fit_size(K: np.ndarray, dist: Sequence[float], calib_size: Optional[Sequence[Any]], width: int, height: int,
              path: Path) -> Intrinsics:
    """The calibration for a video of ``width`` × ``height`` (see the module docstring for the size rules)."""
    if calib_size is None:
        return Intrinsics.from_matrix(K, width, height, dist)
    cw, ch = check_image_size(tuple(calib_size), f"calibration {path}: size")
    if (cw, ch) == (width, height):
        return Intrinsics.from_matrix(K, width, height, dist)
    if abs((cw / ch) / (width / height) - 1) <= ASPECT_TOLERANCE:
        _logger.info("calibration %s is for %dx%d: scaled to the video's %dx%d", path, cw, ch, width, height)
        return Intrinsics.from_matrix(K, cw, ch, dist).scaled_to(width, height)
    if abs(cw / width - 1) <= SIZE_TOLERANCE and abs(ch / height - 1) <= SIZE_TOLERANCE:
        _logger.warning("calibration %s is for %dx%d, the video is %dx%d: its pixels are used as they are", path,
                        cw, ch, width, height)
        return Intrinsics.from_matrix(K, width, height, dist)
    raise ValueError(f"calibration {path} is for a {cw}x{ch} image, the video is {width}x{height} (another aspect "
                     "ratio): give the calibration of this video's camera and resolution")


def _read_json(path: Path) -> Tuple[Any, Any, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"calibration {path} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or "K" not in doc:
        raise ValueError(f"calibration {path} must be a JSON object with \"K\" (3x3) and optional \"dist\" and "
                         "\"size\" ([width, height])")
    unknown = sorted(set(doc) - {"K", "dist", "size"})
    if unknown:
        raise ValueError(f"calibration {path}: unknown key(s) {', '.join(unknown)} (expected K, dist, size)")
    return doc["K"], doc.get("dist"), doc.get("size")


def _read_toml(path: Path, camera: Optional[str]) -> Tuple[Any, Any, Any]:
    try:
        import tomllib  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise ValueError(f"reading {path} needs Python 3.11+ (tomllib) or the tomli package; or convert it to "
                             "the JSON format (K, dist, size)") from None
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"calibration {path} is not valid TOML ({exc})") from None
    cams = {key: sec for key, sec in doc.items() if isinstance(sec, dict) and "matrix" in sec}
    if not cams:
        raise ValueError(f"calibration {path} holds no camera section with a 'matrix' (Pose2Sim's Calib.toml layout)")
    names = {str(sec.get("name", key)): key for key, sec in cams.items()}
    if camera is None:
        if len(cams) > 1:
            raise ValueError(f"calibration {path} has {len(cams)} cameras ({', '.join(names)}): choose one with camera")
        sec = next(iter(cams.values()))
    elif camera in cams:
        sec = cams[camera]
    elif camera in names:
        sec = cams[names[camera]]
    else:
        raise ValueError(f"calibration {path} has no camera {camera!r}; it has {', '.join(names)}")
    if sec.get("fisheye", False):
        raise ValueError(f"calibration {path}: camera {camera or sec.get('name')!r} is a fisheye model, which is not "
                         "supported (pinhole + OpenCV distortion only)")
    return sec["matrix"], sec.get("distortions"), sec.get("size")


def load_calibration(path: PathLike, width: int, height: int, camera: Optional[str] = None) -> Intrinsics:
    """Intrinsics from a calibration file (JSON, Pose2Sim TOML or Qualisys QCA; see the module docstring).

    Args:
        path: the file (``.json``, ``.toml`` or ``.qca.txt``; other names are tried as JSON).
        width, height: the video's size in pixels.
        camera: the camera of a file with several (TOML section or name, QCA serial).

    Returns:
        ``Intrinsics`` with ``source="calibration"``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable, incomplete or inconsistent content, an unknown or missing camera choice, or an
            image size that does not fit the video's.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"calibration file not found: {path}")
    width, height = check_image_size((width, height), "image size")
    name = path.name.lower()
    if name.endswith(".qca.txt") or name.endswith(".qca"):
        from hot_pose.data.multiview import parse_qca

        cams = parse_qca(path)  # CalibrationError is a ValueError
        if camera is None:
            if len(cams) > 1:
                raise ValueError(f"calibration {path} has {len(cams)} cameras ({', '.join(cams)}): choose one with "
                                 "camera")
            cal = next(iter(cams.values()))
        elif camera in cams:
            cal = cams[camera]
        else:
            raise ValueError(f"calibration {path} has no camera {camera!r}; it has {', '.join(cams)}")
        K, dist, size = cal.K, cal.dist, cal.size
    elif name.endswith(".toml"):
        K, dist, size = _read_toml(path, camera)
    else:
        if camera is not None:
            raise ValueError(f"calibration {path} is a one-camera JSON file: drop camera")
        K, dist, size = _read_json(path)
    try:
        dist = () if dist is None else tuple(float(v) for v in np.asarray(dist, np.float64).ravel())
    except (TypeError, ValueError):
        raise ValueError(f"calibration {path}: the distortion must be a list of numbers, got {dist!r}") from None
    try:
        return _fit_size(np.asarray(K, np.float64), dist, size, width, height, path)
    except (TypeError, ValueError) as exc:
        msg = str(exc)
        raise ValueError(msg if str(path) in msg else f"calibration {path}: {msg}") from None
