"""The in-the-wild demo pipeline: video → 2-D keypoints → 3-D poses → files and a rendered video.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). Stages: detect (COCO-17, one person per frame) → ``coco_to_h36m`` → ``fill_gaps`` →
normalise by the frame size → ``sliding_window_lift`` → save ``keypoints_2d.npz``, ``poses_3d.npz`` and
``poses_3d.json`` → render a side-by-side mp4. Frames are streamed twice (detection, rendering) and never
held in memory. Flags, files and the output folder are checked before anything loads (``hot_pose.wild.preflight``):
the demo never deletes or replaces a file it did not write (``hot_pose.wild.outputs``: an output that would be an
input, or a file of the folder that its manifest does not list as the demo's own, is refused). Every output is
written into a hidden staging folder inside the output folder and moved into place only when everything
succeeded, so a failure leaves no partial files behind. Every stage's
output is checked (``hot_pose.wild.checks``): a keypoint file must hold pixels of the video (NaN only as the
"missing" marker), a detector's joints far out of view are marked missing, and the H36M keypoints, the
lifter input, the lifted poses and the poses after the bone-length step must be finite, so no NaN/inf
(or pixel garbage) reaches an output file.

Several persons (``multi``): the detector's ``detect_persons`` per frame → ``hot_pose.wild.tracks`` links them into
tracks (``--max-persons``, ``--min-track-frames``; ``--person ID`` keeps one) → each track's life (first to last
detection) goes through the same joint mapping, gap filling and normalisation → ``lift_sequences`` lifts all
tracks with shared forward passes → the files get a person axis (``docs/demo.md``). Frames outside a track's
life are absent (``present`` is False, zeros in the arrays), never invented. With one track the files are the
single-person ones.

Motion capture (``hot_pose.mocap``, every run; cheap): the 2-D keypoints, the lifted poses and the camera
(``--focal``/``--fov``/``--calibration``, default a 65° field of view) give each person's metric root trajectory
in the camera frame, one gravity-aligned world frame with the floor at z = 0 shared by everybody, foot contacts
and the camera's height, pitch and roll (``poses_3d.npz``/``.json`` gain them; ``--export`` writes BVH, TRC and
C3D files of the world joints; ``docs/mocap.md``).

Fixes of the reference demo: no ``sys.argv`` re-parsing, no crash when the first frame has
no person, no dropped frames, figures closed, output fps = input fps, any model variant (seq2seq or
seq2frame), any device.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

from hot_pose.data.camera import normalize_screen_coordinates
from hot_pose.data.skeleton import H36M_17_NAMES, h36m_skeleton
from hot_pose.mocap import MotionCapture, reconstruct
from hot_pose.utils.checks import check_device
from hot_pose.utils.console import describe_os_error
from hot_pose.utils.runtime import progress_bar
from hot_pose.wild.checks import (
    check_finite,
    check_lift_input,
    check_lifted_poses,
    check_pixel_keypoints,
    lift_input_bound,
    mask_far_outside,
)
from hot_pose.wild.detectors import DEFAULT_MEDIAPIPE_MODEL, Detection2D, Detector2D, build_detector
from hot_pose.wild.errors import DemoError
from hot_pose.wild.lift import Lifter, h36m_sides, lift_sequences, load_lifter, sliding_window_lift
from hot_pose.wild.outputs import Staging
from hot_pose.wild.preflight import (  # noqa: F401
    DEFAULT_MAX_PERSONS,
    DEFAULT_MIN_TRACK_FRAMES,
    DEFAULT_OUTPUT_ROOT,
    OUTPUT_FILES,  # re-exported: the options live there
    DemoOptions,
    Prepared,
    preflight,
)
from hot_pose.wild.preprocess import coco_to_h36m, fill_gaps, fix_left_right_flips
from hot_pose.wild.quality import constant_bone_lengths, pose_quality
from hot_pose.wild.render import BONES, MultiPersonRenderer, SideBySideRenderer, left_panel, left_panel_size
from hot_pose.wild.sample import ATTRIBUTION, MULTI_SET_ATTRIBUTION, MULTI_SET_DIR, SAMPLE_NAME
from hot_pose.wild.stages import FrameStages
from hot_pose.wild.tracks import PersonTracker, Tracks, follow_one, track_video
from hot_pose.wild.video import FALLBACK_FPS, VideoInfo, VideoWriter, iter_frames

_logger = logging.getLogger(__name__)

COORDINATES = "camera frame (x right, y down, z away from the camera), root-relative: pelvis (joint 0) = 0"


@dataclass
class Persons:
    """Every tracked person (``multi``), track axis first.

    Attributes:
        ids: (P,) track ids (0, 1, ... by first appearance; as drawn in the video).
        poses_3d: (P, T, 17, 3) float32 metres, root-relative camera frame; 0 where not ``present``.
        keypoints_2d: (P, T, 17, 2) float32 H36M pixels after gap filling; 0 where not ``present``.
        present: (P, T) bool, inside the track's life (first to last detection).
        found: (P, T) bool, detected in the frame.
        quality: per person, the plausibility numbers of its 3-D sequence.
        scores_2d: (P, T, 17) float32 H36M 2-D confidences after gap filling (0 for filled joints and where not
            ``present``).
    """

    ids: np.ndarray
    poses_3d: np.ndarray
    keypoints_2d: np.ndarray
    present: np.ndarray
    found: np.ndarray
    quality: List[Dict[str, float]] = field(default_factory=list)
    scores_2d: Optional[np.ndarray] = None


@dataclass
class DemoResult:
    """What ``run_demo`` produced.

    Attributes:
        output_dir: the output folder.
        files: the files written (absolute paths).
        num_frames: frames decoded = frames in every output.
        found: (T,) bool, person found per frame.
        poses_3d: (T, 17, 3) metres, root-relative camera frame.
        keypoints_2d: (T, 17, 2) H36M pixels after gap filling.
        timings: seconds per stage.
        model: lifting variant name.
        trained: whether real lifting weights were used.
        quality: plausibility numbers of the 3-D sequence (``quality.pose_quality``).
        persons: with ``multi`` and several tracks, all of them (``found``/``poses_3d``/``keypoints_2d``/
            ``quality`` are then track 0's); ``None`` otherwise.
        steps: seconds each frame step worked (``decode``, ``panel``, ``compose``, ``encode``, in whichever
            thread ran it) and, as ``wait_<consumer>``, the seconds a consumer waited for frames
            (``hot_pose.wild.stages.FrameStages``).
        mocap: the motion capture of every person (``hot_pose.mocap.MotionCapture``, person axis first: P = 1
            for one person), ``None`` when it could not be made (a warning says why).
    """

    output_dir: Path
    files: List[Path]
    num_frames: int
    found: np.ndarray
    poses_3d: np.ndarray
    keypoints_2d: np.ndarray
    timings: Dict[str, float] = field(default_factory=dict)
    model: str = ""
    trained: bool = False
    quality: Dict[str, float] = field(default_factory=dict)
    persons: Optional[Persons] = None
    steps: Dict[str, float] = field(default_factory=dict)
    mocap: Optional[MotionCapture] = None

    @property
    def found_rate(self) -> float:
        """Share of frames with a detected person."""
        return float(self.found.mean()) if self.found.size else 0.0


def _progress_bar(enabled: bool, total: Optional[int], desc: str):
    return progress_bar(total=total, desc=desc, enabled=enabled, unit="frame", leave=True)


def _build_detector(opts: DemoOptions, device) -> Detector2D:
    """The chosen detector with its options (fails fast: missing weights or packages)."""
    kwargs: dict = {}
    if opts.detector == "keypoints":
        kwargs = dict(path=opts.keypoints, layout=opts.keypoints_layout)
    elif opts.detector == "hrnet":
        kwargs = dict(yolo_weights=opts.yolo_weights, hrnet_weights=opts.hrnet_weights, device=device)
    if opts.detector == "mediapipe":  # several persons even for one: the demo keeps one identity (``_detect``)
        kwargs.update(multi=True, max_persons=opts.max_persons, heavy_model=opts.heavy_model,
                      model_size=opts.mediapipe_model or DEFAULT_MEDIAPIPE_MODEL)
    kwargs.update(opts.detector_options)
    return build_detector(opts.detector, **kwargs)


def blank_frames(width: int, height: int, count: int, max_height: int = 720) -> Iterator[np.ndarray]:
    """``count`` times the same grey BGR canvas: the "video" of keypoints without one.

    The canvas has the aspect of a ``width`` × ``height`` frame but is at most ``max_height`` tall (the rendered
    height; ``_render`` scales the keypoints to it), so a large ``--size`` costs no memory. It is read-only: the
    renderers draw on copies.
    """
    scale = min(1.0, max_height / height)
    canvas = np.full((max(2, round(height * scale)), max(2, round(width * scale)), 3), 40, np.uint8)
    canvas.flags.writeable = False
    for _ in range(count):
        yield canvas


def _source(opts: DemoOptions, prepared: Prepared, detector: Detector2D
            ) -> Tuple[Path, VideoInfo, Callable[[Optional[int]], Iterator]]:
    """The input, what it says of itself, and its frames: the video (probed by ``preflight``), or, for
    ``--keypoints`` without ``--video``, the keypoint file alone on a blank canvas of ``--size``'s aspect."""
    if prepared.keypoints_only:
        width, height = opts.size
        count = detector.detection.num_frames
        info = VideoInfo(path=Path(opts.keypoints), width=width, height=height, fps=float(opts.fps or FALLBACK_FPS),
                         reported_frames=count)
        return info.path, info, lambda limit: blank_frames(width, height, min(count, limit or count), opts.max_height)
    video = prepared.video
    return video, prepared.info, lambda limit: iter_frames(video, limit)


def _expected_frames(opts: DemoOptions, info: VideoInfo) -> Optional[int]:
    """Frames the detection stage should see (for the progress bar; ``None`` when unknown)."""
    total = info.reported_frames or None
    if opts.max_frames:
        total = min(total or opts.max_frames, opts.max_frames)
    return total


def _detect(opts: DemoOptions, detector: Detector2D, video: Path, info: VideoInfo,
            frames: Callable[[Optional[int]], Iterator]) -> Detection2D:
    """One person's 2-D over the video: a detector that sees several persons follows one of them
    (``_follow_one``), the others (a keypoint file, a one-person detector) give one person per frame."""
    if detector.multi_person:
        return _follow_one(opts, detector, video, info, frames)
    with _progress_bar(opts.progress, _expected_frames(opts, info), "2D keypoints") as bar:
        detection = detector(frames(opts.max_frames), progress=bar.update)
        bar.total = bar.n  # the container's count may have been wrong
        bar.refresh()
    if detection.num_frames == 0:
        raise DemoError(f"video {video} has no decodable frame")
    if opts.detector == "keypoints":  # a file: values that cannot be pixels of this video are an input error
        source = f"keypoint file {opts.keypoints}"
        check_pixel_keypoints(detection.keypoints, info.width, info.height, source)
    else:  # a detector's guess far out of view is dropped (and filled), never passed on
        source = f"detector '{opts.detector}'"
        kp, sc = mask_far_outside(detection.keypoints, detection.scores, info.width, info.height, source)
        found = detection.found & np.isfinite(kp).any(axis=(1, 2))  # every joint dropped: nobody found
        detection = replace(detection, keypoints=kp, scores=sc, found=found)
    check_finite(detection.scores, f"{source}: the scores", "scores must be confidences in [0, 1]")
    return detection


def _to_h36m(detection: Detection2D, fix_flips: bool) -> tuple:
    """Detection (COCO or H36M layout, NaN gaps) → gap-free H36M keypoints (T, 17, 2), scores (T, 17) and
    the number of left/right label fixes."""
    if detection.layout == "coco":
        kp, sc = coco_to_h36m(detection.keypoints, detection.scores)
    else:
        kp, sc = detection.keypoints.astype(np.float32), detection.scores.astype(np.float32)
    kp, sc = fill_gaps(kp, sc, detection.found)
    flips = 0
    if fix_flips:
        kp, sc, flips = fix_left_right_flips(kp, sc)
    fix = "check the 2-D keypoints and --keypoints-layout (or pass --no-fix-flips)"
    check_finite(kp, "the H36M 2-D keypoints after joint mapping and gap filling", fix)
    check_finite(sc, "the H36M 2-D scores after joint mapping and gap filling", fix)
    return kp, sc, flips


def _lift(opts: DemoOptions, lifter: Lifter, kp: np.ndarray, scores: np.ndarray, info: VideoInfo) -> np.ndarray:
    x = normalize_screen_coordinates(kp, w=info.width, h=info.height)  # (T, 17, 2) in [-1, 1]
    if lifter.in_channels == 3:
        x = np.concatenate([x, scores[..., None]], axis=-1)  # (T, 17, 3): x, y, confidence
    bound = lift_input_bound(info.width, info.height)
    try:
        check_lift_input(x, bound)
    except ValueError as exc:
        raise DemoError(f"the normalised lifter input is invalid: {exc}") from None
    left, right = h36m_sides()
    device = next(lifter.model.parameters()).device
    with _progress_bar(opts.progress, len(x), "3D lifting") as bar:
        return sliding_window_lift(lifter.model, x, lifter.frames, lifter.mode, flip=opts.flip, joints_left=left,
                                   joints_right=right, batch_size=opts.batch_size, stride=opts.stride, device=device,
                                   progress=bar.update, max_abs=bound)


def _save(stage: Staging, opts: DemoOptions, info: VideoInfo, detection: Detection2D, kp: np.ndarray,
          scores: np.ndarray, poses: np.ndarray, lifter: Lifter, timings: Dict[str, float],
          quality: Dict[str, float], flips: int, mocap: Optional[MotionCapture] = None) -> None:
    skeleton = h36m_skeleton()
    meta = dict(video=str(info.path), width=info.width, height=info.height, fps=info.fps,
                num_frames=int(len(poses)), detector=opts.detector, model=lifter.name,
                checkpoint=str(lifter.checkpoint) if lifter.checkpoint else None, trained=lifter.trained,
                window_frames=lifter.frames, lift_mode=lifter.mode, flip_test=opts.flip,
                constant_bones=opts.constant_bones,
                person_found_rate=float(detection.found.mean()), left_right_fixes_2d=int(flips), quality=quality)
    if mocap is not None:
        meta["mocap_summary"] = mocap_summary(mocap, opts)
    if info.path.name == SAMPLE_NAME:
        meta["attribution"] = ATTRIBUTION
    # last guard: NaN may appear only as the documented "missing" marker of the raw detections and boxes
    for name, values in (("poses_3d", poses), ("keypoints_h36m", kp), ("scores_h36m", scores),
                         ("scores", detection.scores)):
        check_finite(values, f"{name} (about to be saved)", "nothing was written; please report this bug")
    if np.isinf(detection.keypoints).any():
        raise DemoError("keypoints (about to be saved) hold inf values; nothing was written; please report this bug")
    boxes = detection.boxes if detection.boxes is not None else np.full((len(poses), 4), np.nan, np.float32)
    np.savez_compressed(
        stage.path("keypoints_2d.npz"), keypoints=detection.keypoints, scores=detection.scores,
        found=detection.found, boxes=boxes, layout=np.array(detection.layout), keypoints_h36m=kp,
        scores_h36m=scores, width=info.width, height=info.height, fps=info.fps, detector=np.array(opts.detector),
    )
    np.savez_compressed(
        stage.path("poses_3d.npz"), poses_3d=poses.astype(np.float32), found=detection.found,
        joint_names=np.array(H36M_17_NAMES), parents=np.array(skeleton.parents), fps=info.fps,
        units=np.array("metres"), coordinates=np.array(COORDINATES), meta=np.array(json.dumps(meta)),
        **mocap_arrays(mocap, single=True),
    )
    doc = dict(meta, units="metres", coordinates=COORDINATES, joint_names=list(H36M_17_NAMES),
               parents=list(skeleton.parents), timings_s={k: round(v, 3) for k, v in timings.items()},
               frames=[dict(index=t, detected=bool(detection.found[t]), joints=np.round(poses[t], 5).tolist())
                       for t in range(len(poses))])
    if mocap is not None:
        doc["mocap"] = mocap_json(mocap, single=True)
    stage.path("poses_3d.json").write_text(json.dumps(doc, separators=(",", ":"), allow_nan=False))


#: ``MotionCapture`` fields with a person axis (squeezed in the single-person files)
_PER_PERSON = ("trajectory", "confidence", "trajectory_std", "joints_camera", "joints_world", "lock_shift", "contacts",
               "present", "height_m")
#: ``MotionCapture.to_dict`` entries the pose files hold already (same meaning) and do not repeat
_SKIP = ("joint_names", "units", "fps", "present")


class _HeldLogs(logging.Handler):
    """Collects log records to be logged later (``_capture``: the motion capture's warnings are shown once the
    outputs are in place, so a run that fails afterwards still prints its one ``error:`` line alone)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def replay(self) -> None:
        """Log the held records through their own loggers (at the levels enabled now)."""
        for record in self.records:
            logger = logging.getLogger(record.name)
            if logger.isEnabledFor(record.levelno):
                logger.handle(record)
        self.records = []


def _capture(opts: DemoOptions, prepared: Prepared, info: VideoInfo, keypoints: np.ndarray, scores: np.ndarray,
             poses: np.ndarray, present: Optional[np.ndarray] = None, held: Optional[_HeldLogs] = None
             ) -> Optional[MotionCapture]:
    """The motion capture (``hot_pose.mocap.reconstruct``) of one person ((T, 17, ·) arrays) or several
    ((P, T, 17, ·) and ``present`` (P, T)); ``None`` with a warning when it cannot be made and nothing needs it
    (no ``--export``). The warnings of ``hot_pose.mocap`` (e.g. no floor from foot contacts) and that one go to
    ``held`` when given (logged by the caller after the outputs are written).

    Raises:
        DemoError: a ``--height`` list that does not match the persons tracked, or a failure with ``--export``.
    """
    persons = 1 if keypoints.ndim == 3 else keypoints.shape[0]
    heights = opts.height
    if heights is not None and len(heights) > 1 and len(heights) != persons:
        raise DemoError(f"--height got {len(heights)} values but {persons} person(s) were tracked (ids 0 to "
                        f"{persons - 1}): give one height or {persons}; nothing written")
    given = None if heights is None else heights[0] if len(heights) == 1 else list(heights)
    mocap_logger = logging.getLogger("hot_pose.mocap")
    propagate = mocap_logger.propagate
    if held is not None:
        mocap_logger.addHandler(held)
        mocap_logger.propagate = False
    try:
        mocap = reconstruct(keypoints, poses, prepared.intrinsics, info.fps, scores=scores, present=present,
                            heights=given, foot_lock=opts.foot_lock)
    except ValueError as exc:
        if opts.export:
            raise DemoError(f"the motion capture for --export failed: {exc}; nothing written") from None
        (mocap_logger.getChild("demo") if held is not None else _logger).warning(
            "no motion capture (trajectory, world frame) in the files: %s", exc)
        return None
    finally:
        if held is not None:
            mocap_logger.removeHandler(held)
            mocap_logger.propagate = propagate
    summary = mocap_summary(mocap, opts)
    heights_text = ", ".join(f"{h:.2f}" for h in summary["height_m"])
    focal = (f"{summary['focal_px']:.0f} px" + (f" (default: {summary['fov_deg']:.0f}° field of view)"
                                                 if summary["focal_default"] else f" ({mocap.intrinsics_source})"))
    floor = {"contacts": "foot contacts"}.get(mocap.floor_method, mocap.floor_method.replace("_", " "))
    _logger.info("motion capture: camera %.2f m above the floor, pitch %.1f° %s, roll %.1f°; focal %s; "
                 "height %s m%s; floor from %s", mocap.camera_height_m, abs(mocap.pitch_deg),
                 "down" if mocap.pitch_deg >= 0 else "up", mocap.roll_deg, focal, heights_text,
                 " (default)" if summary["height_default"] else "", floor)
    return mocap


def mocap_summary(mocap: MotionCapture, opts: DemoOptions) -> Dict[str, object]:
    """The run's camera and scale in plain numbers (``meta["mocap_summary"]`` of the files): camera height (m),
    pitch and roll (degrees), focal length (px) and whether it is the default guess, the field of view it makes, the
    height(s) used and whether they are the default, foot locking, how the floor was found, the exports."""
    width = float(mocap.image_size[0])
    height = float(mocap.image_size[1])
    focal = float(mocap.K[0, 0])
    fov = float(np.degrees(2 * np.arctan(max(width, height) / 2 / focal)))
    return dict(camera_height_m=round(float(mocap.camera_height_m), 4), pitch_deg=round(float(mocap.pitch_deg), 3),
                roll_deg=round(float(mocap.roll_deg), 3), focal_px=round(focal, 3), fov_deg=round(fov, 3),
                intrinsics_source=mocap.intrinsics_source, focal_default=mocap.intrinsics_source == "default",
                height_m=[round(float(h), 4) for h in mocap.height_m], height_default=opts.height is None,
                foot_locked=bool(mocap.foot_locked), floor_method=mocap.floor_method,
                exports=list(opts.export))


def mocap_arrays(mocap: Optional[MotionCapture], single: bool) -> Dict[str, np.ndarray]:
    """``poses_3d.npz``'s motion-capture entries (``MotionCapture.to_dict`` without the ones the file has):
    ``trajectory`` (T, 3) camera frame, ``joints_world`` (T, 17, 3) ... for one person (``single``: the person
    axis dropped), (P, T, ...) for several; NaN where a person is not present."""
    if mocap is None:
        return {}
    out = {}
    for name, value in mocap.to_dict().items():
        if name in _SKIP:
            continue
        if single and name in _PER_PERSON:
            value = value[0]
        out[name] = np.asarray(value)
    return out


def mocap_json(mocap: MotionCapture, single: bool) -> Dict[str, object]:
    """``poses_3d.json``'s ``mocap`` entry: as ``mocap_arrays``, numbers rounded to 0.01 mm (angles, matrices 1e-6),
    NaN written null."""
    out: Dict[str, object] = {}
    for name, value in mocap.to_dict().items():
        if name in _SKIP:
            continue
        if isinstance(value, np.ndarray):
            if single and name in _PER_PERSON:
                value = value[0]
            if value.dtype.kind == "f":
                value = np.round(value, 6 if name in ("camera_rotation", "up_camera") else 5)
                value = np.where(np.isfinite(value), value, None)
            value = value.tolist()
        out[name] = value
    return out


def _export(stage: Staging, opts: DemoOptions, stem: str, mocap: Optional[MotionCapture],
            ids: Optional[np.ndarray] = None) -> None:
    """``--export``: ``<stem>.<ext>`` (one person) or ``<stem>_p<id>.<ext>`` per person (``ids``) into the staging
    folder, every person in the one shared world frame. The writers' own "wrote <staging path>" lines are left out
    (the demo lists the files once they are in place)."""
    if not opts.export or mocap is None:
        return
    writers = logging.getLogger("hot_pose.export")
    level = writers.level
    writers.setLevel(max(logging.WARNING, writers.getEffectiveLevel()))
    try:
        for p in range(mocap.num_persons):
            name = stem if ids is None else f"{stem}_p{int(ids[p])}"
            for ext in opts.export:
                try:
                    getattr(mocap, f"to_{ext}")(stage.path(f"{name}.{ext}"), person=p)
                except ValueError as exc:
                    raise DemoError(f"--export {ext}: {exc}; nothing written") from None
    finally:
        writers.setLevel(level)
    _logger.info("exported %s for %d person(s), in one world frame (docs/mocap.md)", ", ".join(opts.export),
                 mocap.num_persons)


def _stages(opts: DemoOptions, prepared: Prepared, info: VideoInfo,
            frames: Callable[[Optional[int]], Iterator]) -> FrameStages:
    """The run's frames for both passes (``hot_pose.wild.stages``): ``--pipeline``, and the panel cache
    (``--frame-cache``) when a video is rendered (a blank canvas is cheaper to make again than to keep)."""
    panel = None
    if opts.render:  # keypoints are pixels of info's size; a blank canvas may be smaller: both map onto the panel
        size = left_panel_size((info.width, info.height), opts.max_height)
        panel = lambda frame: left_panel(frame, size)  # noqa: E731
    cache = 0 if prepared.keypoints_only else opts.frame_cache * 2 ** 20
    return FrameStages(frames, overlapped=opts.pipeline == "overlapped", panel=panel, cache_bytes=cache)


def _render(stage: Staging, opts: DemoOptions, video: Path, info: VideoInfo, kp: np.ndarray, poses: np.ndarray,
            found: np.ndarray, lifter: Lifter, stages: FrameStages) -> None:
    title = f"3D: {lifter.name}" + ("" if lifter.trained else "  [UNTRAINED: random weights]")
    renderer = SideBySideRenderer((info.width, info.height), title, opts.fix_z, opts.max_height)
    try:
        with VideoWriter(stage.path(f"{video.stem}.mp4"), info.fps, renderer.size) as writer, \
                _progress_bar(opts.progress, len(poses), "render") as bar:
            written = stages.render(writer, len(poses), lambda t, panel: renderer.compose(
                panel, kp[t], poses[t], bool(found[t]), t), bar.update)
    finally:
        renderer.close()
    if written != len(poses):
        raise DemoError(f"video {video} decoded {written} frames on the second pass but {len(poses)} on the first")


def _follow_one(opts: DemoOptions, detector: Detector2D, video: Path, info: VideoInfo,
                frames: Callable[[Optional[int]], Iterator]) -> Detection2D:
    """One person, the same in every frame: every person tracked (``_detect_tracks``, the ids ``--multi`` draws),
    then one followed (``hot_pose.wild.tracks.follow_one``: ``--person ID``, else the track seen most when persons
    were there together); one line says so when there were several."""
    tracks = _detect_tracks(opts, detector, video, info, frames, one=True)
    one = follow_one(tracks, opts.person)  # --person is a track id here (checked by _detect_tracks)
    detector.followed(one.detections)
    frames_ = one.detection.num_frames
    if one.track is not None and tracks.num_tracks > 1:
        how = f"--person {opts.person}" if opts.person is not None else "the person seen most"
        _logger.warning("%d persons in this video: following #%d (%s, detected in %d of %d frames); --person ID "
                        "follows another (the ids --multi draws), --multi lifts them all", tracks.num_tracks,
                        one.track, how, int(one.detection.found.sum()), frames_)
    elif one.track is None:
        _logger.info("%d person tracks, never two at once: following whoever is there", tracks.num_tracks)
    source = f"detector '{opts.detector}'"
    check_finite(one.detection.scores, f"{source}: the scores", "scores must be confidences in [0, 1]")
    return one.detection


def _detect_tracks(opts: DemoOptions, detector: Detector2D, video: Path, info: VideoInfo,
                   frames: Callable[[Optional[int]], Iterator], one: bool = False) -> Tracks:
    """Every person of every frame, linked into tracks; guesses far out of view dropped; ``--person`` applied
    (``one``: only checked, for ``_follow_one``; and a short video's persons seen in fewer than
    ``--min-track-frames`` frames still count)."""
    label = "2D keypoints" if one else "2D keypoints (all persons)"
    with _progress_bar(opts.progress, _expected_frames(opts, info), label) as bar:
        tracker = track_video(detector, frames(opts.max_frames), PersonTracker(), progress=bar.update)
        bar.total = bar.n  # the container's count may have been wrong
        bar.refresh()
    if tracker.frame == 0:
        raise DemoError(f"video {video} has no decodable frame")
    tracks = tracker.result(min_frames=opts.min_track_frames, max_persons=opts.max_persons)
    if one and tracks.num_tracks == 0:
        tracks = tracker.result(min_frames=1, max_persons=opts.max_persons)
    if one and tracks.num_tracks == 0:
        raise DemoError("no person was found in any frame of the video (try another --detector or video)")
    if tracks.num_tracks == 0:
        raise DemoError(f"no person found in {video} for at least --min-track-frames {opts.min_track_frames} frames "
                        f"({len(tracker.tracks)} shorter detection runs); nothing written")
    source = f"detector '{opts.detector}'"
    num, frames_ = tracks.found.shape
    kp, sc = mask_far_outside(tracks.keypoints.reshape(num * frames_, 17, 2), tracks.scores.reshape(num * frames_, 17),
                              info.width, info.height, source)
    kp, sc = kp.reshape(tracks.keypoints.shape), sc.reshape(tracks.scores.shape)
    found = tracks.found & np.isfinite(kp).any(axis=(2, 3))
    tracks = replace(tracks, keypoints=kp, scores=sc, found=found)
    tracks = tracks.select([p for p in range(tracks.num_tracks) if found[p].any()])
    if one and tracks.num_tracks == 0:
        raise DemoError("no person was found in any frame of the video (try another --detector or video)")
    if opts.person is not None:
        if opts.person >= tracks.num_tracks:
            raise DemoError(f"--person {opts.person}: no such track; this video has tracks 0 to "
                            f"{tracks.num_tracks - 1}; nothing written")
        if not one:
            tracks = tracks.select([opts.person])
    _logger.info("%d person track(s): %s", tracks.num_tracks, ", ".join(
        f"{p}: frames {tracks.span(p)[0]}-{tracks.span(p)[1] - 1}, detected in {int(tracks.found[p].sum())}"
        for p in range(tracks.num_tracks)))
    return tracks


def _lift_persons(opts: DemoOptions, lifter: Lifter, tracks: Tracks, info: VideoInfo) -> Tuple[Persons, int]:
    """Map, fill and normalise every track over its life; lift all of them together; the bone-length step and
    the plausibility numbers per person. Returns the persons and the number of left/right label fixes."""
    spans = [tracks.span(p) for p in range(tracks.num_tracks)]
    mapped, confidences, inputs, flips = [], [], [], 0
    bound = lift_input_bound(info.width, info.height)
    for p, (first, end) in enumerate(spans):
        kp, sc, fixed = _to_h36m(tracks.person(p, first, end), opts.fix_flips)
        flips += fixed
        x = normalize_screen_coordinates(kp, w=info.width, h=info.height)
        if lifter.in_channels == 3:
            x = np.concatenate([x, sc[..., None]], axis=-1)
        try:
            check_lift_input(x, bound)
        except ValueError as exc:
            raise DemoError(f"the normalised lifter input of person {p} is invalid: {exc}") from None
        mapped.append(kp)
        confidences.append(sc)
        inputs.append(x)
    left, right = h36m_sides()
    device = next(lifter.model.parameters()).device
    with _progress_bar(opts.progress, sum(len(x) for x in inputs), "3D lifting (all persons)") as bar:
        lifted = lift_sequences(lifter.model, inputs, lifter.frames, lifter.mode, flip=opts.flip, joints_left=left,
                                joints_right=right, batch_size=opts.batch_size, stride=opts.stride,
                                device=device, progress=bar.update, max_abs=bound)
    shape = tracks.found.shape
    poses = np.zeros(shape + (17, 3), np.float32)
    keypoints = np.zeros(shape + (17, 2), np.float32)
    scores = np.zeros(shape + (17,), np.float32)
    present = np.zeros(shape, bool)
    quality = []
    for p, ((first, end), pose, kp, sc) in enumerate(zip(spans, lifted, mapped, confidences)):
        check_lifted_poses(pose, lifter.checkpoint)
        raw = {f"raw_{k}": v for k, v in pose_quality(pose, info.fps, BONES).items()}
        if opts.constant_bones:
            pose = constant_bone_lengths(pose, h36m_skeleton().parents)
            check_finite(pose, f"the 3-D poses of person {p} after the bone-length step",
                         "pass --raw-bones to skip that step")
        quality.append({**pose_quality(pose, info.fps, BONES), **(raw if opts.constant_bones else {})})
        poses[p, first:end], keypoints[p, first:end], present[p, first:end] = pose, kp, True
        scores[p, first:end] = sc
    return Persons(np.arange(tracks.num_tracks), poses, keypoints, present, tracks.found.copy(), quality,
                   scores), flips


def _save_persons(stage: Staging, opts: DemoOptions, info: VideoInfo, tracks: Tracks, persons: Persons,
                  lifter: Lifter, timings: Dict[str, float], flips: int,
                  mocap: Optional[MotionCapture] = None) -> None:
    """The files of several persons: the single-person ones with a person axis first (see ``docs/demo.md``)."""
    skeleton = h36m_skeleton()
    summary = [dict(id=int(i), first_frame=int(np.flatnonzero(persons.present[p])[0]),
                    last_frame=int(np.flatnonzero(persons.present[p])[-1]),
                    frames_detected=int(persons.found[p].sum()), quality=persons.quality[p])
               for p, i in enumerate(persons.ids)]
    meta = dict(video=str(info.path), width=info.width, height=info.height, fps=info.fps,
                num_frames=int(persons.present.shape[1]), num_persons=int(len(persons.ids)), detector=opts.detector,
                model=lifter.name, checkpoint=str(lifter.checkpoint) if lifter.checkpoint else None,
                trained=lifter.trained, window_frames=lifter.frames, lift_mode=lifter.mode, flip_test=opts.flip,
                constant_bones=opts.constant_bones, left_right_fixes_2d=int(flips), persons=summary)
    if mocap is not None:
        meta["mocap_summary"] = mocap_summary(mocap, opts)
    if MULTI_SET_DIR in str(info.path):
        meta["attribution"] = MULTI_SET_ATTRIBUTION
    for name, values in (("poses_3d", persons.poses_3d), ("keypoints_h36m", persons.keypoints_2d),
                         ("scores", tracks.scores)):
        check_finite(values, f"{name} (about to be saved)", "nothing was written; please report this bug")
    np.savez_compressed(
        stage.path("keypoints_2d.npz"), keypoints=tracks.keypoints, scores=tracks.scores, found=tracks.found,
        boxes=tracks.boxes, present=persons.present, track_ids=persons.ids, layout=np.array(tracks.layout),
        keypoints_h36m=persons.keypoints_2d, width=info.width, height=info.height, fps=info.fps,
        detector=np.array(opts.detector),
    )
    np.savez_compressed(
        stage.path("poses_3d.npz"), poses_3d=persons.poses_3d, present=persons.present, found=persons.found,
        track_ids=persons.ids, joint_names=np.array(H36M_17_NAMES), parents=np.array(skeleton.parents), fps=info.fps,
        units=np.array("metres"), coordinates=np.array(COORDINATES), meta=np.array(json.dumps(meta)),
        **mocap_arrays(mocap, single=False),
    )
    doc = dict(meta, units="metres", coordinates=COORDINATES, joint_names=list(H36M_17_NAMES),
               parents=list(skeleton.parents), timings_s={k: round(v, 3) for k, v in timings.items()},
               tracks=[dict(id=int(i), frames=[dict(index=int(t), detected=bool(persons.found[p, t]),
                                                    joints=np.round(persons.poses_3d[p, t], 5).tolist())
                                               for t in np.flatnonzero(persons.present[p])])
                       for p, i in enumerate(persons.ids)])
    if mocap is not None:
        doc["mocap"] = mocap_json(mocap, single=False)
    stage.path("poses_3d.json").write_text(json.dumps(doc, separators=(",", ":"), allow_nan=False))


def _render_persons(stage: Staging, opts: DemoOptions, video: Path, info: VideoInfo, persons: Persons,
                    lifter: Lifter, stages: FrameStages, mocap: Optional[MotionCapture] = None) -> None:
    title = f"3D: {lifter.name}" + ("" if lifter.trained else "  [UNTRAINED: random weights]")
    world = None if mocap is None else mocap.joints_world  # everybody where they are, on one floor
    renderer = MultiPersonRenderer((info.width, info.height), len(persons.ids), title, opts.max_height, world=world,
                                   fps=info.fps)
    count = persons.present.shape[1]
    try:
        with VideoWriter(stage.path(f"{video.stem}.mp4"), info.fps, renderer.size) as writer, \
                _progress_bar(opts.progress, count, "render") as bar:
            written = stages.render(writer, count, lambda t, panel: renderer.compose(
                panel, persons.keypoints_2d[:, t], persons.poses_3d[:, t], persons.present[:, t],
                persons.found[:, t], persons.ids, t), bar.update)
    finally:
        renderer.close()
    if written != count:
        raise DemoError(f"video {video} decoded {written} frames on the second pass but {count} on the first")


def _log_timings(timings: Dict[str, float], frames: int, lifter: Lifter) -> None:
    """Seconds per stage, and a warning when the poses come from random weights."""
    for name, seconds in timings.items():
        _logger.info("%-10s %7.2f s  (%.1f ms/frame)", name, seconds, 1000 * seconds / max(frames, 1))
    if not lifter.trained:
        _logger.warning("WARNING: the 3-D poses come from an UNTRAINED model (random weights); pass --checkpoint.")


def run_demo(opts: DemoOptions, prepared: Optional[Prepared] = None) -> DemoResult:
    """Run the whole demo (see the module docstring).

    Args:
        opts: the options.
        prepared: ``preflight(opts)`` if the caller ran it already (``demo/vis.py`` does, before importing this
            module); run here otherwise.

    Raises:
        DemoError: any user-facing problem; nothing is left in the output folder then.
    """
    timings: Dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    prepared = prepared or preflight(opts)  # flags, files and the output folder, before anything loads
    opts = prepared.opts
    try:
        device = check_device(opts.device)
    except ValueError as exc:
        raise DemoError(str(exc)) from None
    lifter = load_lifter(opts.model, opts.checkpoint, opts.frames, device)
    if opts.stride is not None and opts.stride > lifter.frames:
        raise DemoError(f"--stride {opts.stride} is longer than the {lifter.frames}-frame window of '{lifter.name}': "
                        f"the frames between two windows would get no pose; use --stride 1 to {lifter.frames}")
    detector = _build_detector(opts, device)  # a keypoint file is read here: checked before anything is written
    stage = None
    held = _HeldLogs()  # the motion capture's warnings, shown once the outputs are in place
    try:
        video, info, source = _source(opts, prepared, detector)
        stages = _stages(opts, prepared, info, source)
        frames = stages.frames  # decoded beside the detector with --pipeline overlapped
        stage = Staging(prepared.plan)
        lap("load_models")
        if opts.multi:
            tracks = _detect_tracks(opts, detector, video, info, frames)
            detector.close()
            lap("detect_2d")
            if tracks.num_tracks > 1:
                persons, flips = _lift_persons(opts, lifter, tracks, info)
                lap("lift_3d")
                mocap = _capture(opts, prepared, info, persons.keypoints_2d, persons.scores_2d, persons.poses_3d,
                                 persons.present, held)
                lap("mocap")
                if opts.render:
                    _render_persons(stage, opts, video, info, persons, lifter, stages, mocap)
                    lap("render")
                _save_persons(stage, opts, info, tracks, persons, lifter, timings, flips, mocap)
                _export(stage, opts, prepared.stem, mocap, persons.ids)
                lap("save")
                files = stage.commit()
                held.replay()
                _log_timings(timings, persons.present.shape[1], lifter)
                return DemoResult(prepared.plan.folder, files, int(persons.present.shape[1]), persons.found[0],
                                  persons.poses_3d[0], persons.keypoints_2d[0], timings, lifter.name,
                                  lifter.trained, persons.quality[0], persons, stages.steps(), mocap)
            detection = tracks.person(0)  # one person: the single-person path and files
        else:
            detection = _detect(opts, detector, video, info, frames)
            detector.close()
            lap("detect_2d")
        kp, scores, flips = _to_h36m(detection, opts.fix_flips)
        if flips:
            _logger.info("undid %d short left/right label mix-ups of the 2-D detector", flips)
        _logger.info("person found in %d of %d frames (%.1f%%); the others are interpolated",
                     int(detection.found.sum()), detection.num_frames, 100 * detection.found.mean())
        poses = _lift(opts, lifter, kp, scores, info)
        check_lifted_poses(poses, lifter.checkpoint)
        lap("lift_3d")
        quality = pose_quality(poses, info.fps, BONES)
        if opts.constant_bones:
            raw = {f"raw_{k}": v for k, v in quality.items()}
            poses = constant_bone_lengths(poses, h36m_skeleton().parents)
            check_finite(poses, "the 3-D poses after the bone-length step", "pass --raw-bones to skip that step")
            quality = {**pose_quality(poses, info.fps, BONES), **raw}
        mocap = _capture(opts, prepared, info, kp, scores * detection.found[:, None], poses, held=held)
        lap("mocap")
        if opts.render:
            _render(stage, opts, video, info, kp, poses, detection.found, lifter, stages)
            lap("render")
        _save(stage, opts, info, detection, kp, scores, poses, lifter, timings, quality, flips, mocap)
        _export(stage, opts, prepared.stem, mocap)
        lap("save")
        files = stage.commit()
    except OSError as exc:  # writing the outputs (disk full, folder removed or made read-only during the run)
        if stage is not None:
            stage.abort()
        raise DemoError(f"cannot write the outputs into {prepared.plan.folder}: {describe_os_error(exc)}; nothing "
                        "was written there (free some space or pass --output another folder)") from None
    except BaseException:
        if stage is not None:
            stage.abort()
        raise
    finally:
        detector.close()
    held.replay()
    _log_timings(timings, len(poses), lifter)
    _logger.info("3-D plausibility: bone-length CV max %.3f, left/right swaps %d, mean acceleration %.2f m/s²",
                 quality["bone_length_cv_max"], quality["left_right_swaps"], quality["acceleration_mean_m_s2"])
    if "raw_bone_length_cv_max" in quality:
        _logger.info("  model output before the bone-length step: bone-length CV max %.3f (median %.3f), "
                     "left/right swaps %d, mean acceleration %.2f m/s²", quality["raw_bone_length_cv_max"],
                     quality["raw_bone_length_cv_median"], quality["raw_left_right_swaps"],
                     quality["raw_acceleration_mean_m_s2"])
    return DemoResult(prepared.plan.folder, files, len(poses), detection.found, poses, kp, timings, lifter.name,
                      lifter.trained, quality, steps=stages.steps(), mocap=mocap)
