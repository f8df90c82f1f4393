"""2-D keypoints read from a file, so any external detector can feed the HoT demo.

HoT: Li et al., CVPR 2024 (arXiv:2311.12028). Accepted files:

* ``.npz`` with ``keypoints`` (T, 17, 2) pixels (or (1, T, 17, 2); the reference demo's
  ``input_keypoints_2d.npz`` with ``reconstruction`` also works), optional ``scores`` (T, 17) and ``found``
  (T,), optional ``layout`` ("coco" or "h36m"). The demo's own ``keypoints_2d.npz`` is such a file.
* ``.json`` with the same keys (lists), or a bare list of T frames, each (17, 2) / (17, 3) with x, y[, score]
  or ``null`` for a frame without a person.
* ``.npy`` holding the keypoints array alone.

Any other extension is refused (one line naming the supported ones), and so is a file whose bytes are not
its extension's format. A frame whose keypoints are all NaN (or ``null``) counts as "no person"; NaN also marks
a single missing joint. ±inf, ragged lists, non-numbers, wrong-size ``scores``/``found``, 0 frames and pickled
object arrays are refused with a one-line ``DemoError``; scores outside [0, 1] are clipped (with a warning). Whether the
values are pixels of the video is checked by the pipeline (``hot_pose.wild.checks.check_pixel_keypoints``). The
layout is COCO-17 unless the file or ``--keypoints-layout`` says H36M-17.
"""
from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Optional, Tuple, Union

import numpy as np

from hot_pose.wild.detectors.base import Detection2D, Detector2D, FrameResult
from hot_pose.wild.errors import DemoError

_logger = logging.getLogger(__name__)

LAYOUTS = ("auto", "coco", "h36m")
#: the keypoint file formats (by extension)
SUFFIXES = (".npz", ".npy", ".json")


#: the entries ``load_keypoint_file`` reads (others, e.g. ``keypoints_h36m`` of the demo's own file, are ignored)
KEYPOINT_KEYS = ("keypoints", "reconstruction", "keypoints_2d")
USED_KEYS = KEYPOINT_KEYS + ("scores", "found", "layout")
_KINDS = {"b": "booleans", "U": "strings", "S": "bytes", "O": "Python objects or nulls", "c": "complex numbers",
          "M": "dates", "m": "time deltas", "V": "raw records"}


def _describe(arr: np.ndarray) -> str:
    return _KINDS.get(arr.dtype.kind, f"dtype {arr.dtype}")


def _numbers(value: Any, where: str, expected: str, allow_bool: bool = False) -> np.ndarray:
    """A nested list / array of numbers → float32 array, or a one-line ``DemoError``.

    Args:
        value: the file's entry (JSON lists or an npz array).
        where: "keypoint file P: 'key'" (or "... frame t"), the start of every message.
        expected: the expected shape in words, e.g. "(T, 17, 2) or (T, 17, 3)".
        allow_bool: booleans are accepted (``found``).

    Returns:
        The values as float32; float64 beyond ±3.4e38 become ±inf (refused by the caller).

    Raises:
        DemoError: ragged lists (different lengths or depths) or non-numbers (strings, nulls, objects).
    """
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):  # ragged nested lists
        raise DemoError(f"{where} is ragged (entries of different lengths or nested to different depths); "
                        f"expected an array {expected} of numbers") from None
    if arr.dtype.kind not in ("iuf" + ("b" if allow_bool else "")):
        raise DemoError(f"{where} holds {_describe(arr)}, expected numbers {expected}")
    with np.errstate(over="ignore"):  # float64 beyond ±3.4e38 becomes inf, refused by the caller
        return arr.astype(np.float32)


def _frames_from_list(frames: list, path: Path, key: str) -> Tuple[np.ndarray, np.ndarray]:
    """A JSON list of per-frame joints (or nulls) → keypoints (T, 17, 2) and scores (T, 17)."""
    kp = np.full((len(frames), 17, 2), np.nan, np.float32)
    sc = np.zeros((len(frames), 17), np.float32)
    for t, joints in enumerate(frames):
        if joints is None:
            continue
        arr = _numbers(joints, f"keypoint file {path}: '{key}' frame {t}", "(17, 2) or (17, 3) (or null)")
        if arr.shape not in ((17, 2), (17, 3)):
            raise DemoError(f"keypoint file {path}: '{key}' frame {t} has shape {arr.shape}, expected (17, 2) or "
                            "(17, 3) (or null for a frame without a person)")
        kp[t] = arr[:, :2]
        sc[t] = arr[:, 2] if arr.shape[1] == 3 else 1.0
    return kp, sc


def _per_frame(frames: list) -> bool:
    """Whether a JSON list needs reading frame by frame: it has ``null`` frames, or its frames differ (then
    ``_frames_from_list`` names the first bad frame, or accepts frames of both (17, 2) and (17, 3))."""
    try:
        return np.asarray(frames).dtype.kind == "O"
    except (ValueError, TypeError):  # ragged
        return True


def _check_format(path: Path) -> None:
    """Refuse a file whose extension is not a supported format, or whose bytes are not that format (one line)."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DemoError(f"keypoint file {path}: the format '{suffix or '(no extension)'}' is not supported; use "
                        f"{', '.join(SUFFIXES)} (see docs/demo.md)")
    if suffix == ".npz" and not zipfile.is_zipfile(path):
        raise DemoError(f"cannot read keypoint file {path}: not a valid .npz file (not a zip archive: truncated, or "
                        "another format renamed); save it with np.savez(path, keypoints=kp)")
    if suffix == ".npy":
        with open(path, "rb") as fh:
            if fh.read(6) != b"\x93NUMPY":
                raise DemoError(f"cannot read keypoint file {path}: not a valid .npy file (no NumPy header: "
                                "truncated, or another format renamed); save it with np.save(path, kp)")


def _read(path: Path) -> Dict[str, Any]:
    """The file's entries: JSON values, or npz arrays (``allow_pickle=False``: a pickle is never run)."""
    try:
        _check_format(path)
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, list):
                return {"keypoints": data}
            if not isinstance(data, dict):
                raise DemoError(f"keypoint file {path} holds a JSON {type(data).__name__}; expected an object with "
                                "'keypoints' or a list of frames")
            return data
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):  # a bare .npy array: the keypoints
            return {"keypoints": loaded}
        with loaded as npz:
            data = {}
            for key in npz.files:
                if key not in USED_KEYS:
                    continue
                try:
                    data[key] = npz[key]
                except ValueError as exc:
                    if "pickle" in str(exc).lower():
                        raise DemoError(f"keypoint file {path}: '{key}' is an object array (pickled Python objects), "
                                        "refused for safety; save plain numeric arrays, e.g. "
                                        "np.savez(path, keypoints=np.asarray(kp, np.float32))") from None
                    raise
            if not any(k in data for k in KEYPOINT_KEYS):
                data["_found_keys"] = list(npz.files)
            return data
    except DemoError:
        raise
    except (OSError, ValueError, EOFError, RecursionError, zipfile.BadZipFile) as exc:  # unreadable, truncated ...
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        raise DemoError(f"cannot read keypoint file {path}: {first} (expected .npz or .json, see "
                        "hot_pose/wild/detectors/keypoints_file.py)") from None


def load_keypoint_file(path: Union[str, Path], layout: str = "auto") -> Detection2D:
    """Read a keypoint file (see the module docstring).

    Returns:
        ``Detection2D`` with keypoints (T, 17, 2) pixels (NaN in frames without a person), scores (T, 17)
        in [0, 1] (0 there), found (T,).

    Raises:
        DemoError: missing/unreadable file, unknown keys, wrong shapes (``keypoints``, ``scores``, ``found``),
            ragged lists, non-numbers, 0 frames, ±inf values or a pickled object array. One line each,
            naming the file, the entry and the expected shape.
    """
    path = Path(path)
    if not path.is_file():
        raise DemoError(f"keypoint file not found: {path} (pass --keypoints FILE.npz or FILE.json)")
    data = _read(path)
    key = next((k for k in KEYPOINT_KEYS if k in data), None)
    if key is None:
        found_keys = data.get("_found_keys", list(data))
        raise DemoError(f"keypoint file {path} has no 'keypoints' entry (found: {', '.join(map(str, found_keys))}); "
                        "expected keypoints (T, 17, 2) pixels")
    where = f"keypoint file {path}: '{key}'"
    expected = "(T, 17, 2) or (T, 17, 3)"
    raw = data[key]
    if isinstance(raw, list) and _per_frame(raw):
        kp, sc = _frames_from_list(raw, path, key)
    else:
        arr = _numbers(raw, where, expected)
        if arr.size == 0:
            raise DemoError(f"{where} holds 0 frames (shape {arr.shape}); expected {expected} with T >= 1, one entry "
                            "per video frame")
        if arr.ndim == 4 and arr.shape[0] == 1:  # (1, T, 17, C): one person, reference layout
            arr = arr[0]
        if arr.ndim != 3 or arr.shape[1] != 17 or arr.shape[2] not in (2, 3):
            raise DemoError(f"{where} has shape {arr.shape}, expected {expected}")
        kp = arr[..., :2]
        sc = arr[..., 2] if arr.shape[2] == 3 else np.ones(arr.shape[:2], np.float32)
    frames = len(kp)
    if frames == 0:
        raise DemoError(f"{where} holds 0 frames; expected {expected} with T >= 1, one entry per video frame")
    if "scores" in data:
        sc = _numbers(data["scores"], f"keypoint file {path}: 'scores'", f"({frames}, 17)")
        if sc.shape == (1, frames, 17):
            sc = sc[0]
        if sc.shape != (frames, 17):
            raise DemoError(f"keypoint file {path}: 'scores' has shape {sc.shape}, expected ({frames}, 17): one "
                            f"confidence per joint of the {frames} frames of '{key}'")
    found = np.isfinite(kp).any(axis=(1, 2))
    if "found" in data:
        flags = _numbers(data["found"], f"keypoint file {path}: 'found'", f"({frames},) booleans", allow_bool=True)
        if flags.shape != (frames,):
            raise DemoError(f"keypoint file {path}: 'found' has shape {flags.shape}, expected ({frames},): one flag "
                            f"per frame of '{key}'")
        if not np.isin(flags, (0, 1)).all():
            raise DemoError(f"keypoint file {path}: 'found' holds values other than 0/1 (true/false); expected "
                            f"({frames},) booleans")
        found &= flags.astype(bool)
    for name, values in ((key, kp), ("scores", sc)):
        inf = np.isinf(values)
        if inf.any():
            bad = np.flatnonzero(inf.reshape(frames, -1).any(axis=1))
            raise DemoError(f"keypoint file {path}: '{name}' holds {int(inf.sum())} infinite values (or beyond the "
                            f"float32 range) in {len(bad)} frames, first frame {bad[0]}; use NaN (null in JSON) for a "
                            "missing joint or frame")
    file_layout = str(np.asarray(data.get("layout", "coco"))).lower()
    chosen = file_layout if layout == "auto" else layout
    if chosen not in ("coco", "h36m"):
        raise DemoError(f"keypoint file {path}: unknown layout '{chosen}' (use coco or h36m)")
    kp = np.where(found[:, None, None], kp, np.nan).astype(np.float32)  # "no person": NaN, as detectors give it
    sc = np.nan_to_num(sc, nan=0.0)
    outside = found[:, None] & ((sc < 0) | (sc > 1))
    if outside.any():
        _logger.warning("keypoint file %s: %d scores lie outside [0, 1] (%.3g to %.3g); clipped to [0, 1]", path,
                        int(outside.sum()), float(sc[found].min()), float(sc[found].max()))
    sc = np.where(found[:, None], np.clip(sc, 0.0, 1.0), 0.0).astype(np.float32)
    return Detection2D(keypoints=kp, scores=sc, found=found, layout=chosen)


class KeypointFileDetector(Detector2D):
    """Serves keypoints from a file instead of detecting them; the video only supplies frame count and size.

    Args:
        path: the keypoint file.
        layout: "auto" (the file's ``layout`` entry, else COCO), "coco" or "h36m".
    """

    name = "keypoints"

    def __init__(self, path: Union[str, Path, None], layout: str = "auto") -> None:
        if not path:
            raise DemoError("--detector keypoints needs --keypoints FILE (.npz or .json)")
        self.detection = load_keypoint_file(path, layout)
        self.path = Path(path)

    def detect_frame(self, frame: np.ndarray) -> FrameResult:  # pragma: no cover - __call__ is overridden
        raise NotImplementedError("KeypointFileDetector serves whole sequences")

    def __call__(self, frames: Iterable[np.ndarray], progress: Optional[Callable[[int], object]] = None) -> Detection2D:
        """Count the video's frames and return the file's keypoints, which must have as many frames."""
        count = 0
        for _ in frames:
            count += 1
            if progress is not None:
                progress(1)
        if count != self.detection.num_frames:
            raise DemoError(
                f"keypoint file {self.path} has {self.detection.num_frames} frames but the video decodes {count}"
            )
        return self.detection
