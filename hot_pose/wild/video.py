"""Streaming video input and output with OpenCV (frames are never all held in memory).

Part of the HoT demo (Li et al., CVPR 2024, arXiv:2311.12028). Containers often report a wrong frame
count (the shared skating clip reports 207 and decodes 185), so readers decode until decoding fails and
count what they got.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Union

import cv2
import numpy as np

from hot_pose.wild.errors import DemoError

_logger = logging.getLogger(__name__)

#: fps assumed when the container reports none (or nonsense)
FALLBACK_FPS = 25.0


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video, checked by decoding its first frame.

    Attributes:
        path: the file.
        width: frame width in pixels (of the first decoded frame).
        height: frame height in pixels.
        fps: frames per second (``FALLBACK_FPS`` when the container has none).
        reported_frames: the container's frame count (may be wrong; never trusted).
    """

    path: Path
    width: int
    height: int
    fps: float
    reported_frames: int


def probe_video(path: Union[str, Path]) -> VideoInfo:
    """Open ``path`` and decode its first frame.

    Raises:
        DemoError: missing file, a file OpenCV cannot open, or a video with no decodable frame.
    """
    path = Path(path)
    if not path.is_file():
        raise DemoError(f"video not found: {path} (pass --video PATH, or --video sample for the demo clip)")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise DemoError(f"cannot open video {path}: not a video OpenCV can decode, or it has no frames")
        ok, frame = cap.read()
        if not ok or frame is None or frame.size == 0:
            raise DemoError(f"video {path} has no decodable frame (zero frames or a broken file)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not np.isfinite(fps) or fps <= 0 or fps > 1000:
            _logger.warning("video %s reports no usable fps; assuming %.0f", path, FALLBACK_FPS)
            fps = FALLBACK_FPS
        reported = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        return VideoInfo(path, int(frame.shape[1]), int(frame.shape[0]), fps, max(reported, 0))
    finally:
        cap.release()


def iter_frames(path: Union[str, Path], max_frames: Optional[int] = None) -> Iterator[np.ndarray]:
    """Yield BGR frames (H, W, 3) uint8 until decoding fails or ``max_frames`` were read.

    Frames whose size differs from the first one are resized to it (rare, but some streams change size).
    """
    cap = cv2.VideoCapture(str(path))
    try:
        count = 0
        size = None
        while max_frames is None or count < max_frames:
            ok, frame = cap.read()
            if not ok or frame is None or frame.size == 0:
                break
            if size is None:
                size = (frame.shape[1], frame.shape[0])
            elif (frame.shape[1], frame.shape[0]) != size:
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            count += 1
            yield frame
    finally:
        cap.release()


class VideoWriter:
    """mp4 (``mp4v``) writer that checks it really opened and counts the frames written.

    Args:
        path: output file (.mp4).
        fps: frames per second (the input's, unchanged: the reference added 5).
        size: (width, height); both are rounded down to even numbers for the codec.
    """

    def __init__(self, path: Union[str, Path], fps: float, size: tuple) -> None:
        self.path = Path(path)
        self.size = (int(size[0]) // 2 * 2, int(size[1]) // 2 * 2)
        self.frames = 0
        self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), self.size)
        if not self._writer.isOpened():
            raise DemoError(f"cannot write video {self.path}: OpenCV has no mp4v encoder here (use --no-render)")

    def write(self, frame: np.ndarray) -> None:
        """Append one BGR frame (resized to the writer's size when needed)."""
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(np.ascontiguousarray(frame))
        self.frames += 1

    def close(self) -> None:
        """Finish the file."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def count_frames(path: Union[str, Path]) -> int:
    """Number of decodable frames (decodes the whole video; use only when needed)."""
    return sum(1 for _ in iter_frames(path))
