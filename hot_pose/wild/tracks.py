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

One person (``follow_one``, the demo without ``--multi``): the output follows one track, so it never jumps
from one person to another. The rule: ``--person ID`` if given; else, when two tracks are ever detected in the
same frame, the track detected in the most frames (ties: the taller median box, then the earlier); else (one
person at a time) every track, each in its own frames.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, List, Optional, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from hot_pose.wild.detectors.base import Detection2D, Detector2D, PersonDetection

__all__ = ["PersonDetection", "Tracks", "PersonTracker", "OnePerson", "box_iou", "follow_one", "main_track",
           "track_video"]


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
        detections: (P, T) object array of the ``PersonDetection`` behind each detected frame (``None``
            elsewhere), or ``None``.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    found: np.ndarray
    layout: str = "coco"
    detections: Optional[np.ndarray] = field(default=None, repr=False)

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
        return Tracks(self.keypoints[index], self.scores[index], self.boxes[index], self.found[index], self.layout,
                      None if self.detections is None else self.detections[index])


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
        detections = np.full(shape, None, object)
        for p, i in enumerate(kept):
            for t, det in self.tracks[i].detections.items():
                keypoints[p, t] = det.keypoints
                scores[p, t] = det.scores
                boxes[p, t] = det.box
                found[p, t] = True
                detections[p, t] = det
        return Tracks(keypoints, scores, boxes, found, detections=detections)


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


@dataclass
class OnePerson:
    """The person the single-person output follows (``follow_one``).

    Attributes:
        detection: that person's 2-D over the whole video (NaN and ``found`` False where not detected).
        track: the followed track id; ``None`` when every track was taken (one person at a time).
        at_once: most tracks detected in one frame (> 1: several persons were there together).
        detections: per frame, the ``PersonDetection`` taken (``None`` where none), for ``Detector2D.followed``.
    """

    detection: Detection2D
    track: Optional[int]
    at_once: int
    detections: List[Optional[PersonDetection]]


def main_track(tracks: Tracks) -> int:
    """The track seen most: detected in the most frames; ties: the taller median box, then the earlier start."""
    if tracks.num_tracks == 0:
        raise ValueError("no track to choose from")
    counts = tracks.found.sum(axis=1)
    heights = np.array([np.median(tracks.boxes[p, tracks.found[p], 3] - tracks.boxes[p, tracks.found[p], 1])
                        if tracks.found[p].any() else 0.0 for p in range(tracks.num_tracks)])
    heights = np.nan_to_num(heights, nan=0.0)
    return min(range(tracks.num_tracks), key=lambda p: (-int(counts[p]), -float(heights[p]), tracks.span(p)[0], p))


def follow_one(tracks: Tracks, person: Optional[int] = None) -> OnePerson:
    """One person's 2-D out of ``tracks`` by the rule of the module docstring.

    Args:
        tracks: every tracked person (P >= 1 tracks, each detected at least once).
        person: follow this track id (0 to P - 1) instead of the rule's choice.

    Raises:
        ValueError: no track, or ``person`` is not a track id.
    """
    count, frames = tracks.found.shape
    if count == 0:
        raise ValueError("no track to follow")
    if person is not None and not (isinstance(person, (int, np.integer)) and 0 <= person < count):
        raise ValueError(f"person {person!r} is not a track id (0 to {count - 1})")
    at_once = int(tracks.found.sum(axis=0).max()) if frames else 0
    if person is None and at_once <= 1:
        source = np.where(tracks.found.any(axis=0), tracks.found.argmax(axis=0), -1)  # one person at a time
        track = None if count > 1 else 0
    else:
        track = main_track(tracks) if person is None else int(person)
        source = np.where(tracks.found[track], track, -1)
    taken = source >= 0
    rows = np.where(taken, source, 0)
    cols = np.arange(frames)
    keypoints = np.where(taken[:, None, None], tracks.keypoints[rows, cols], np.nan).astype(np.float32)
    scores = np.where(taken[:, None], tracks.scores[rows, cols], 0.0).astype(np.float32)
    boxes = np.where(taken[:, None], tracks.boxes[rows, cols], np.nan).astype(np.float32)
    detections: List[Optional[PersonDetection]] = [
        tracks.detections[source[t], t] if taken[t] and tracks.detections is not None else None
        for t in range(frames)]
    return OnePerson(Detection2D(keypoints, scores, taken.copy(), boxes, tracks.layout), track, at_once, detections)
