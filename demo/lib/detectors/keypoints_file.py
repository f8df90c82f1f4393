"""2-D keypoints read from a file, so any external detector can feed the HoT demo.

HoT: Li et al., CVPR 2024 (arXiv:2311.12028). Accepted files:

* ``.npz`` with ``keypoints`` (T, 17, 2) pixels (or (1, T, 17, 2); the reference demo's
  ``input_keypoints_2d.npz`` with ``reconstruction`` also works), optional ``scores`` (T, 17) and ``found``
  (T,), optional ``layout`` ("coco" or "h36m"). The demo's own ``keypoints_2d.npz`` is such a file.
* ``.json`` with the same keys (lists), or a bare list of T frames, each (17, 2) / (17, 3) with x, y[, score]
  or ``null`` for a frame without a person.

A frame whose keypoints are all NaN (or ``null``) counts as "no person". The layout is COCO-17 unless the
file or ``--keypoints-layout`` says H36M-17.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

import numpy as np

from demo.lib.detectors.base import Detection2D, Detector2D, FrameResult
from demo.lib.errors import DemoError

_logger = logging.getLogger(__name__)

LAYOUTS = ("auto", "coco", "h36m")


def _frames_from_list(frames: list) -> tuple:
    """A JSON list of per-frame joints (or nulls) → keypoints (T, 17, 2) and scores (T, 17)."""
    kp = np.full((len(frames), 17, 2), np.nan, np.float32)
    sc = np.zeros((len(frames), 17), np.float32)
    for t, joints in enumerate(frames):
        if joints is None:
            continue
        arr = np.asarray(joints, np.float32)
        if arr.shape not in ((17, 2), (17, 3)):
            raise DemoError(f"keypoint file: frame {t} has shape {arr.shape}, expected (17, 2) or (17, 3)")
        kp[t] = arr[:, :2]
        sc[t] = arr[:, 2] if arr.shape[1] == 3 else 1.0
    return kp, sc


def load_keypoint_file(path: Union[str, Path], layout: str = "auto") -> Detection2D:
    """Read a keypoint file (see the module docstring).

    Raises:
        DemoError: missing/unreadable file, unknown keys or wrong shapes.
    """
    path = Path(path)
    if not path.is_file():
        raise DemoError(f"keypoint file not found: {path} (pass --keypoints FILE.npz or FILE.json)")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text())
            data = {"keypoints": data} if isinstance(data, list) else data
        else:
            with np.load(path, allow_pickle=False) as npz:
                data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise DemoError(f"cannot read keypoint file {path}: {exc}") from exc
    key = next((k for k in ("keypoints", "reconstruction", "keypoints_2d") if k in data), None)
    if key is None:
        raise DemoError(f"keypoint file {path} has no 'keypoints' entry (found: {', '.join(map(str, data))})")
    raw = data[key]
    if isinstance(raw, list) and any(f is None for f in raw):
        kp, sc = _frames_from_list(raw)
    else:
        arr = np.asarray(raw, np.float32)
        if arr.ndim == 4 and arr.shape[0] == 1:  # (1, T, 17, C): one person, reference layout
            arr = arr[0]
        if arr.ndim != 3 or arr.shape[1] != 17 or arr.shape[2] not in (2, 3):
            raise DemoError(f"keypoint file {path}: '{key}' has shape {arr.shape}, expected (T, 17, 2) or (T, 17, 3)")
        kp = arr[..., :2]
        sc = arr[..., 2] if arr.shape[2] == 3 else np.ones(arr.shape[:2], np.float32)
    if "scores" in data:
        sc = np.asarray(data["scores"], np.float32).reshape(kp.shape[:2])
    found = np.isfinite(kp).any(axis=(1, 2))
    if "found" in data:
        found &= np.asarray(data["found"], bool).reshape(-1)
    file_layout = str(np.asarray(data.get("layout", "coco"))).lower()
    chosen = file_layout if layout == "auto" else layout
    if chosen not in ("coco", "h36m"):
        raise DemoError(f"keypoint file {path}: unknown layout '{chosen}' (use coco or h36m)")
    sc = np.where(found[:, None], np.nan_to_num(sc, nan=0.0), 0.0).astype(np.float32)
    return Detection2D(keypoints=kp.astype(np.float32), scores=sc, found=found, layout=chosen)


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
