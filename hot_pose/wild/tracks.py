"""Multi-person tracking of the HoT demo: per-frame person detections → persistent track ids.

Part of the HoT demo (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose
Estimation", CVPR 2024, arXiv:2311.12028), which lifts every tracked person with the same model. Association is
by boxes: every frame, each live track is matched to the detections by ``scipy.optimize.linear_sum_assignment``
on 1 − IoU, the IoU with its last box or with that box moved by its last velocity, whichever is larger (a
box from keypoints changes shape quickly when arms move, so the velocity alone can overshoot); pairs under
``min_iou`` stay unmatched.
An unmatched detection opens a track (a person entering); a track unmatched for more than ``max_gap`` frames
ends (a person leaving; one who comes back later gets a new id). Inside a track's life, frames without a
detection are gaps that the pipeline fills as in the single-person path; outside it the person is absent,
and nothing is invented there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, List, Optional, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from hot_pose.wild.detectors.base import Detection2D, Detector2D, PersonDetection

__all__ = ["PersonDetection", "Tracks", "PersonTracker", "box_iou", "track_video"]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4) → (N, M); 0 for empty boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


@dataclass
class Tracks:
    """2-D keypoints of every tracked person over a video (track axis first).

    Attributes:
        keypoints: (P, T, J, 2) float32 pixels; NaN where the person was not detected.
        scores: (P, T, J) float32 confidences; 0 where not detected.
        boxes: (P, T, 4) float32 boxes x1, y1, x2, y2; NaN where not detected.
        found: (P, T) bool, detected in the frame.
        layout: "coco" (COCO-17 order).
    """

    keypoints: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    found: np.ndarray
    layout: str = "coco"

    @property
    def num_tracks(self) -> int:
        """P."""
        return int(self.found.shape[0])

    @property
    def num_frames(self) -> int:
        """T."""
        return int(self.found.shape[1])

    def span(self, track: int) -> tuple:
        """(first, end) frames of a track's life: its first detection and one past its last."""
        frames = np.flatnonzero(self.found[track])
        return int(frames[0]), int(frames[-1]) + 1

    @property
    def present(self) -> np.ndarray:
        """(P, T) bool: inside the track's life (detected, or a gap between two detections)."""
        out = np.zeros_like(self.found)
        for p in range(self.num_tracks):
            first, end = self.span(p)
            out[p, first:end] = True
        return out

    def person(self, track: int, first: int = 0, end: Optional[int] = None) -> Detection2D:
        """Track ``track`` over frames ``first:end`` as a single-person ``Detection2D``."""
        window = slice(first, self.num_frames if end is None else end)
        return Detection2D(self.keypoints[track, window], self.scores[track, window], self.found[track, window],
                           self.boxes[track, window], self.layout)

    def select(self, tracks: Sequence[int]) -> "Tracks":
        """The listed tracks only (in that order)."""
        index = list(tracks)
        return Tracks(self.keypoints[index], self.scores[index], self.boxes[index], self.found[index], self.layout)


@dataclass(eq=False)
class _Track:
    first: int
    boxes: dict = field(default_factory=dict)      # frame → box
    detections: dict = field(default_factory=dict)  # frame → PersonDetection

    @property
    def last(self) -> int:
        return max(self.boxes)

    def predicted(self, frame: int) -> np.ndarray:
        """The last box moved by the last per-frame velocity to ``frame``."""
        seen = sorted(self.boxes)
        box = self.boxes[seen[-1]]
        if len(seen) < 2:
            return box
        velocity = (box - self.boxes[seen[-2]]) / (seen[-1] - seen[-2])
        return box + velocity * (frame - seen[-1])


class PersonTracker:
    """Box-IoU tracking with optimal assignment (see the module docstring).

    Args:
        min_iou: least IoU of a detection with a track's predicted box to continue it.
        max_gap: frames a track survives without a detection (short occlusions, missed detections).
    """

    def __init__(self, min_iou: float = 0.2, max_gap: int = 15) -> None:
        self.min_iou, self.max_gap = float(min_iou), int(max_gap)
        self.tracks: List[_Track] = []
        self.frame = 0

    def _alive(self) -> List[_Track]:
        return [t for t in self.tracks if self.frame - t.last <= self.max_gap]

    def update(self, detections: Sequence[PersonDetection]) -> List[int]:
        """Associate one frame's detections; returns the track index of each detection."""
        alive = self._alive()
        assigned: List[Optional[int]] = [None] * len(detections)
        if alive and detections:
            boxes = np.stack([d.box for d in detections])
            iou = np.maximum(box_iou(np.stack([t.boxes[t.last] for t in alive]), boxes),
                             box_iou(np.stack([t.predicted(self.frame) for t in alive]), boxes))
            rows, cols = linear_sum_assignment(1.0 - iou)
            for r, c in zip(rows, cols):
                if iou[r, c] >= self.min_iou:
                    assigned[c] = self.tracks.index(alive[r])
        for i, det in enumerate(detections):
            if assigned[i] is None:
                self.tracks.append(_Track(first=self.frame))
                assigned[i] = len(self.tracks) - 1
            track = self.tracks[assigned[i]]
            track.boxes[self.frame] = np.asarray(det.box, np.float64)
            track.detections[self.frame] = det
        self.frame += 1
        return [int(a) for a in assigned]

    def result(self, num_joints: int = 17, min_frames: int = 1, max_persons: Optional[int] = None) -> Tracks:
        """The tracks with at least ``min_frames`` detections, the ``max_persons`` most detected ones (ties: the
        earlier), numbered 0, 1, ... in order of first appearance."""
        counts = [len(t.detections) for t in self.tracks]
        kept = [i for i in range(len(self.tracks)) if counts[i] >= min_frames]
        kept = sorted(kept, key=lambda i: (-counts[i], self.tracks[i].first))[:max_persons]
        kept = sorted(kept, key=lambda i: (self.tracks[i].first, i))
        frames = self.frame
        shape = (len(kept), frames)
        keypoints = np.full(shape + (num_joints, 2), np.nan, np.float32)
        scores = np.zeros(shape + (num_joints,), np.float32)
        boxes = np.full(shape + (4,), np.nan, np.float32)
        found = np.zeros(shape, bool)
        for p, i in enumerate(kept):
            for t, det in self.tracks[i].detections.items():
                keypoints[p, t] = det.keypoints
                scores[p, t] = det.scores
                boxes[p, t] = det.box
                found[p, t] = True
        return Tracks(keypoints, scores, boxes, found)


def track_video(detector: Detector2D, frames: Iterable[np.ndarray], tracker: Optional[PersonTracker] = None,
                progress: Optional[Callable[[int], object]] = None) -> PersonTracker:
    """Run ``detector.detect_persons`` on every frame and link the persons with ``tracker`` (default
    ``PersonTracker()``); returns the tracker (``tracker.result(...)`` gives the ``Tracks``)."""
    tracker = tracker or PersonTracker()
    for frame in frames:
        tracker.update(detector.detect_persons(frame))
        if progress is not None:
            progress(1)
    return tracker
