"""The 2-D detector interface of the HoT demo (Li et al., CVPR 2024, arXiv:2311.12028).

A detector turns a stream of BGR frames into COCO-17 keypoints of one person per frame. Subclasses
implement ``detect_frame``; ``__call__`` runs it over the whole stream and stacks the results, so frames
are never held in memory. Detectors that find several persons per frame (``multi_person``) also implement
``detect_persons``, which ``hot_pose.wild.tracks`` links into tracks; the demo then follows one track even for
one person (``hot_pose.wild.tracks.follow_one``), so its identity is kept, and ``followed`` tells the detector
which.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple

import numpy as np

_logger = logging.getLogger(__name__)

#: one frame's result: keypoints (17, 2) pixels, scores (17,), person box (4,) x1 y1 x2 y2 or None;
#: ``None`` instead of the tuple means no person in the frame
FrameResult = Optional[Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]]


@dataclass(frozen=True)
class PersonDetection:
    """One person in one frame.

    Attributes:
        keypoints: (17, 2) float32 pixels (x right, y down), COCO-17 order.
        scores: (17,) float32 confidences in [0, 1].
        box: (4,) float32 person box x1, y1, x2, y2 in pixels.
        extra: whatever else the detector found for this person (MediaPipe: its ``PoseLandmarks``), handed back
            through ``Detector2D.followed`` for the person the single-person output follows.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    box: np.ndarray
    extra: Any = field(default=None, compare=False, repr=False)


@dataclass
class Detection2D:
    """2-D keypoints of one person over a video.

    Attributes:
        keypoints: (T, 17, 2) float32 pixels (x right, y down); NaN where no person was found.
        scores: (T, 17) float32 confidences in [0, 1]; 0 where no person was found.
        found: (T,) bool, a person was found in the frame.
        boxes: (T, 4) float32 person boxes (x1, y1, x2, y2), NaN where none; ``None`` if the detector
            gives no boxes.
        layout: ``"coco"`` (COCO-17 order) or ``"h36m"`` (already Human3.6M-17, e.g. from a file).
    """

    keypoints: np.ndarray
    scores: np.ndarray
    found: np.ndarray
    boxes: Optional[np.ndarray] = None
    layout: str = "coco"

    @property
    def num_frames(self) -> int:
        """T."""
        return int(self.keypoints.shape[0])


class Detector2D:
    """Base class: frames → ``Detection2D``. Subclasses set ``name`` and implement ``detect_frame``."""

    name = "base"
    #: whether ``detect_frame`` returns person boxes
    gives_boxes = False
    #: whether ``detect_persons`` finds several persons per frame
    multi_person = False

    def detect_persons(self, frame: np.ndarray) -> List[PersonDetection]:
        """Every person in one BGR frame (H, W, 3) uint8 (a detector may follow persons across calls)."""
        raise NotImplementedError(f"detector '{self.name}' finds one person per frame")

    def detect_frame(self, frame: np.ndarray) -> FrameResult:
        """Keypoints of the person in one BGR frame (H, W, 3) uint8, or ``None`` if nobody is found."""
        raise NotImplementedError

    def followed(self, detections: Sequence[Optional[PersonDetection]]) -> None:
        """Told, after ``detect_persons`` ran over a video, which person the single-person output follows: its
        detection in every frame (``None`` where it was not detected). Default: nothing to do."""

    def close(self) -> None:
        """Release resources (native graphs, files)."""

    def __call__(self, frames: Iterable[np.ndarray], progress: Optional[Callable[[int], object]] = None) -> Detection2D:
        """Run ``detect_frame`` on every frame of the stream.

        Args:
            frames: iterable of BGR frames.
            progress: called with 1 after every frame.
        """
        keypoints, scores, found, boxes = [], [], [], []
        for frame in frames:
            result = self.detect_frame(frame)
            if result is None:
                keypoints.append(np.full((17, 2), np.nan, np.float32))
                scores.append(np.zeros(17, np.float32))
                boxes.append(np.full(4, np.nan, np.float32))
                found.append(False)
            else:
                kp, sc, box = result
                keypoints.append(np.asarray(kp, np.float32).reshape(17, 2))
                scores.append(np.clip(np.asarray(sc, np.float32).reshape(17), 0.0, 1.0))
                boxes.append(np.full(4, np.nan, np.float32) if box is None else np.asarray(box, np.float32))
                found.append(True)
            if progress is not None:
                progress(1)
        if not keypoints:
            return Detection2D(np.zeros((0, 17, 2), np.float32), np.zeros((0, 17), np.float32), np.zeros(0, bool))
        return Detection2D(
            keypoints=np.stack(keypoints),
            scores=np.stack(scores),
            found=np.asarray(found, bool),
            boxes=np.stack(boxes) if self.gives_boxes else None,
        )

    def __enter__(self) -> "Detector2D":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
