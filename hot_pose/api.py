"""HoT from Python: 2-D keypoints (pixels) → 3-D poses, and video → 2-D keypoints.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). The public API, a thin layer over the library: ``hot_pose.models`` (the zoo, checkpoints),
``hot_pose.data`` (cameras, skeletons) and ``hot_pose.wild`` (detectors, gap filling, sliding-window lifting,
streaming); ``import hot_pose`` re-exports these names:

    >>> from hot_pose import PoseLifter, detect_2d
    >>> lifter = PoseLifter.load()                                   # the shipped in-the-wild model
    >>> poses = lifter.lift(keypoints_px, image_size=(1920, 1080))   # (T, 17, 3) metres
    >>> from hot_pose import capture                                 # video → metric motion capture
    >>> mc = capture("my_video.mp4", height=1.80)                    # hot_pose.mocap.MotionCapture
    >>> mc.to_bvh("me.bvh"); mc.trajectory[0]                        # (T, 3) pelvis, camera frame, metres

``lift`` returns root-relative poses in the camera frame (x right, y down, z away from the camera), in
metres, joints in the Human3.6M-17 order (``JOINT_NAMES``). 17-joint checkpoints and 16-joint ones (trained on
16-joint detections such as ``--keypoints sh_pt_mpii``) both lift the 17 joints.

Errors: ``ValueError`` for a bad argument (with a message naming it and its range), ``FileNotFoundError`` for a
missing path; nothing else is raised for bad input.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional, Tuple, Union

from hot_pose.utils.console import quiet_native_logs

quiet_native_logs()  # before cv2/mediapipe are imported: FFmpeg's own lines would clutter a one-line error

import numpy as np  # noqa: E402
import torch  # noqa: E402

from hot_pose.data.camera import normalize_screen_coordinates  # noqa: E402
from hot_pose.data.skeleton import H36M_17_NAMES  # noqa: E402
from hot_pose.mocap import Intrinsics, MotionCapture, reconstruct  # noqa: E402
from hot_pose.models.checkpoint import CheckpointError, find_checkpoint  # noqa: E402
from hot_pose.models.inference import prepare_for_inference  # noqa: E402
from hot_pose.utils import paths  # noqa: E402
from hot_pose.utils.checks import MAX_PERSONS, check_device, check_image_size, check_int  # noqa: E402
from hot_pose.wild.checks import check_pixel_keypoints, lift_input_bound  # noqa: E402
from hot_pose.wild.detectors.mediapipe import BLAZEPOSE_TO_COCO  # noqa: E402
from hot_pose.wild.errors import DemoError  # noqa: E402
from hot_pose.wild.lift import DEFAULT_CHECKPOINT, Lifter, h36m_sides, load_lifter, sliding_window_lift  # noqa: E402
from hot_pose.wild.preprocess import coco_to_h36m, fill_gaps, fix_left_right_flips  # noqa: E402
from hot_pose.wild.stream import StreamingLifter  # noqa: E402

__all__ = ["PoseLifter", "detect_2d", "track_2d", "capture", "JOINT_NAMES", "LAYOUTS", "SHIPPED"]

_logger = logging.getLogger(__name__)

#: folder of the shipped checkpoints (package data); ``PoseLifter.load("<name>")`` takes a folder name from it
SHIPPED = paths.SHIPPED
#: joints of the output, Human3.6M-17 order
JOINT_NAMES = tuple(H36M_17_NAMES)
#: input layouts ``lift`` accepts → their joint count
LAYOUTS = {"h36m": 17, "coco": 17, "mediapipe": 33}

PathLike = Union[str, Path]


def _resolve_checkpoint(source: Optional[PathLike]) -> Path:
    """None → the shipped in-the-wild model; a shipped name; a run folder (its best.pth rule); a .pth file.

    Raises:
        ValueError: not a path or name (an empty string included: it would pick a file of the current folder), or
            a folder whose weights file is ambiguous. FileNotFoundError: nothing there, or a folder without one.
    """
    if source is None:
        return DEFAULT_CHECKPOINT
    if not isinstance(source, (str, os.PathLike)) or not str(source).strip():
        raise ValueError(f"source must be a .pth file, a run folder or a shipped name (or None for the default "
                         f"model), got {source!r}")
    path = Path(source)
    if path.is_file():
        return path
    folder = path if path.is_dir() else SHIPPED / str(source) if (SHIPPED / str(source)).is_dir() else None
    if folder is not None:
        try:
            return find_checkpoint(folder)
        except CheckpointError:
            found = sorted(p.name for p in folder.glob("*.pth"))
            if not found:
                raise FileNotFoundError(f"no checkpoint in {folder}: it holds no .pth file; give a .pth file, a "
                                        "training run folder or a shipped name") from None
            raise ValueError(f"{folder} holds several .pth files ({', '.join(found)}) and no best.pth or last.pth; "
                             "give the .pth file itself") from None
    names = sorted(p.name for p in SHIPPED.iterdir() if p.is_dir()) if SHIPPED.is_dir() else []
    raise FileNotFoundError(f"no checkpoint '{source}': give a .pth file, a run folder, or a shipped name "
                            f"({', '.join(names)})")


class PoseLifter:
    """A trained lifting model with the demo's pre-processing: pixels in, metres out.

    Use ``PoseLifter.load``. Attributes: ``name`` (variant), ``frames`` (window length), ``checkpoint``,
    ``device``, ``dtype``, ``flip`` (test-time flip augmentation, on by default).
    """

    def __init__(self, lifter: Lifter, device: torch.device, dtype: str = "fp32", flip: bool = True) -> None:
        self._lifter = lifter
        self.name, self.frames, self.checkpoint = lifter.name, lifter.frames, lifter.checkpoint
        self.device, self.dtype, self.flip = device, dtype, flip
        self._model = prepare_for_inference(lifter.model, dtype=dtype, device=device) if dtype != "fp32" \
            else lifter.model

    @classmethod
    def load(cls, source: Optional[PathLike] = None, device: str = "auto", dtype: str = "fp32",
             flip: bool = True) -> "PoseLifter":
        """Load a lifter.

        Args:
            source: None (the shipped in-the-wild checkpoint), a shipped name (e.g. ``"hot_mixste_27_gt"``),
                a run folder (best.pth, else last.pth, ...) or a ``.pth`` file. Variant and sizes come from the
                checkpoint.
            device: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:1``, ``mps``.
            dtype: ``fp32``, ``bf16`` or ``fp16`` (compute dtype; bf16/fp16 cost a little accuracy).
            flip: average with the mirrored input (test-time augmentation).

        Raises:
            FileNotFoundError: no such checkpoint, or a folder without a ``.pth`` file. ValueError: an empty or
            non-path ``source``, an unknown or absent device, an unknown dtype, or a checkpoint that is unreadable,
            not a lifting model, or of joints/channels the pre-processing cannot feed (17-joint and 16-joint
            Human3.6M models with 2 or 3 channels run).
        """
        if dtype not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"dtype must be fp32, bf16 or fp16, got {dtype!r}")
        path = _resolve_checkpoint(source)
        dev = check_device(device, "device")
        try:
            lifter = load_lifter(checkpoint=path, device=dev)
        except DemoError as exc:
            raise ValueError(str(exc)) from None
        return cls(lifter, dev, dtype, flip)

    def __repr__(self) -> str:
        return (f"PoseLifter({self.name}, {self.frames} frames, {self.dtype} on {self.device}, "
                f"checkpoint={self.checkpoint})")

    def _prepare(self, keypoints: np.ndarray, image_size: Tuple[int, int], layout: str) -> np.ndarray:
        """Pixels in any layout (NaN = missing) → gap-free normalised H36M lifter input (T, 17, C)."""
        return self._pixels_and_input(keypoints, image_size, layout)[2]

    def _pixels_and_input(self, keypoints: np.ndarray, image_size: Tuple[int, int], layout: str
                          ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixels in any layout (NaN = missing) → gap-free H36M pixels (T, 17, 2), their scores (T, 17; 0 where
        filled) and the normalised lifter input (T, 17, C)."""
        if not isinstance(layout, str) or layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        w, h = check_image_size(image_size, "image_size")
        try:
            kp = np.asarray(keypoints, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("keypoints must be an array of numbers (T, J, 2) or (T, J, 3), got "
                             f"{type(keypoints).__name__}") from None
        if kp.ndim == 2:
            kp = kp[None]
        if kp.ndim != 3 or kp.shape[-1] not in (2, 3) or len(kp) == 0:
            raise ValueError(f"keypoints must be (T, J, 2) pixels or (T, J, 3) with scores, T >= 1; got shape "
                             f"{tuple(np.shape(keypoints))}")
        if kp.shape[1] != LAYOUTS[layout]:
            guess = [name for name, j in LAYOUTS.items() if j == kp.shape[1]]
            hint = f" (layout={guess[0]!r}?)" if guess else ""
            raise ValueError(f"layout {layout!r} has {LAYOUTS[layout]} joints but the keypoints have "
                             f"{kp.shape[1]}{hint}")
        xy = kp[..., :2].copy()
        missing = ~np.isfinite(xy).all(axis=-1)
        scores = kp[..., 2].copy() if kp.shape[-1] == 3 else np.ones(xy.shape[:2])
        scores = np.where(missing | ~np.isfinite(scores), 0.0, np.clip(scores, 0.0, 1.0))
        xy[missing] = np.nan
        try:
            check_pixel_keypoints(xy, w, h, "keypoints")
            if layout == "mediapipe":
                xy, scores = xy[:, list(BLAZEPOSE_TO_COCO)], scores[:, list(BLAZEPOSE_TO_COCO)]
            if layout in ("coco", "mediapipe"):
                xy, scores = coco_to_h36m(xy, scores)
            found = np.isfinite(xy).all(axis=-1).any(axis=1)
            if not found.any():
                raise ValueError("no person was found: every joint of every frame is missing (NaN), nothing to lift")
            xy, scores = fill_gaps(xy, scores, found)
            xy, scores, _ = fix_left_right_flips(xy, scores)
        except DemoError as exc:
            raise ValueError(str(exc)) from None
        x = normalize_screen_coordinates(xy.astype(np.float32), w=w, h=h)
        if self._lifter.in_channels == 3:
            x = np.concatenate([x, scores[..., None].astype(np.float32)], axis=-1)
        return xy, scores, x

    def lift(self, keypoints: np.ndarray, image_size: Tuple[int, int], layout: str = "h36m",
             batch_size: int = 64) -> np.ndarray:
        """2-D keypoints of one person over T frames → their 3-D poses.

        Args:
            keypoints: (T, J, 2) pixel coordinates (x right, y down), or (T, J, 3) with per-joint scores in
                [0, 1]; NaN marks a missing joint or frame (filled by interpolation over time, as the demo
                does); any T ≥ 1. Not normalised: pixels of the image.
            image_size: (width, height) of the images in whole pixels (1 to 16384 each).
            layout: joint order of ``keypoints``: ``h36m`` (17, ``JOINT_NAMES``), ``coco`` (COCO-17) or
                ``mediapipe`` (BlazePose-33).
            batch_size: windows per forward pass (>= 1).

        Returns:
            (T, 17, 3) float32 metres: root-relative (pelvis = 0), camera frame, Human3.6M-17 order.

        Raises:
            ValueError: wrong shape or layout, already-normalised or out-of-image values, no joint ever seen, a
            bad ``image_size`` (not whole pixels, 0, negative, NaN, inf) or ``batch_size`` below 1.
        """
        batch_size = check_int(batch_size, "batch_size", 1)
        x = self._prepare(keypoints, image_size, layout)
        return self._lift_input(x, image_size, batch_size)

    def _lift_input(self, x: np.ndarray, image_size: Tuple[int, int], batch_size: int) -> np.ndarray:
        left, right = h36m_sides()
        w, h = check_image_size(image_size, "image_size")
        return sliding_window_lift(self._model, x, self.frames, self._lifter.mode, flip=self.flip, joints_left=left,
                                   joints_right=right, batch_size=batch_size, device=self.device,
                                   max_abs=lift_input_bound(w, h))

    def capture(self, keypoints: np.ndarray, image_size: Tuple[int, int], fps: float, layout: str = "h36m",
                focal_px: Optional[float] = None, fov_deg: Optional[float] = None,
                calibration: Optional[PathLike] = None, camera: Optional[str] = None,
                height: Optional[float] = None, foot_lock: bool = True, batch_size: int = 64) -> MotionCapture:
        """2-D keypoints of one person → metric motion capture: ``lift``, then ``hot_pose.mocap.reconstruct``
        (the root trajectory in the camera frame, the world frame with the floor at z = 0, foot contacts; see
        ``docs/mocap.md``).

        Args:
            keypoints, image_size, layout, batch_size: as ``lift`` (NaN = missing; filled frames get no weight in
                the trajectory fit).
            fps: frame rate of the keypoints (0.1 to 1000).
            focal_px, fov_deg, calibration, camera: the camera (at most one of the first three; none: a 65° field
                of view across the longer side; ``hot_pose.mocap.Intrinsics.resolve``). Depth scales with it.
            height: the person's standing height in metres (0.5 to 2.5; default 1.70). Depth scales with it.
            foot_lock: lock planted feet in ``joints_world`` (``hot_pose.mocap.lock_feet``).

        Returns:
            ``hot_pose.mocap.MotionCapture`` with one person (index ``[0]``); ``.to_bvh(path)``, ``.to_trc(path)``,
            ``.to_c3d(path)`` write its world joints.

        Raises:
            ValueError: a bad argument (as ``lift``; the camera, height or fps out of range). FileNotFoundError: no
            such calibration file.
        """
        batch_size = check_int(batch_size, "batch_size", 1)
        if not isinstance(foot_lock, bool):
            raise ValueError(f"foot_lock must be True or False, got {foot_lock!r}")
        xy, scores, x = self._pixels_and_input(keypoints, image_size, layout)
        w, h = check_image_size(image_size, "image_size")
        cam = Intrinsics.resolve(w, h, focal_px=focal_px, fov_deg=fov_deg, calibration=calibration, camera=camera)
        poses = self._lift_input(x, image_size, batch_size)
        return reconstruct(xy, poses, cam, fps, scores=scores, heights=height, foot_lock=foot_lock)

    def lift_stream(self, hop: Optional[int] = None, lookahead: int = 0) -> StreamingLifter:
        """A fixed-latency streaming lifter over this model (``hot_pose.wild.stream.StreamingLifter``): ``push``
        one frame of *normalised* H36M keypoints (``hot_pose.data.camera.normalize_screen_coordinates``) at a time,
        get the poses that are ready back. ``hop``: frames per forward (>= 1, default F/9); latency = lookahead +
        hop − 1 frames; ``lookahead`` >= 0 with lookahead + hop <= F (seq2seq models).

        Raises:
            ValueError: ``hop`` below 1, a negative ``lookahead``, or lookahead + hop beyond the window.
        """
        left, right = h36m_sides()
        hop = max(1, self.frames // 9) if hop is None else check_int(hop, "hop", 1)
        lookahead = check_int(lookahead, "lookahead", 0)
        return StreamingLifter(self._model, self.frames, self._lifter.mode, lookahead=lookahead, hop=hop,
                               flip=self.flip, joints_left=left, joints_right=right, device=self.device)


def _video_path(video: Any) -> Path:
    """The video file, or ``FileNotFoundError`` (``ValueError`` for something that is not a path)."""
    if not isinstance(video, (str, os.PathLike)) or not str(video).strip():
        raise ValueError(f"video must be a path to a video file, got {video!r}")
    path = Path(video)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    return path


def _video_detector(detector: Any) -> None:
    """Refuse a detector name that cannot read a video (``ValueError``, listing the ones that can)."""
    from hot_pose.wild.detectors import DETECTORS

    video_detectors = [name for name in DETECTORS if name != "keypoints"]
    if detector == "keypoints":
        raise ValueError("detector 'keypoints' reads 2-D keypoints from a file, not from a video; use "
                         f"{' or '.join(video_detectors)} (a keypoint file needs no detection: load it with "
                         "hot_pose.wild.detectors.keypoints_file.load_keypoint_file)")
    if not isinstance(detector, str) or detector not in DETECTORS:
        raise ValueError(f"unknown detector {detector!r}; use {' or '.join(video_detectors)}")


def _with_model_size(detector: str, model_size: Optional[str], options: dict) -> dict:
    """``options`` with MediaPipe's ``model_size`` ("full" or "heavy"; ``ValueError`` for another detector or
    size). Heavy is fetched once with npm into the user cache, or taken from ``heavy_model=FILE`` in
    ``options`` (``hot_pose.wild.sample.heavy_model``)."""
    from hot_pose.wild.detectors import MEDIAPIPE_MODELS

    if model_size is None:
        return options
    if detector != "mediapipe":
        raise ValueError(f"model_size is for detector 'mediapipe' (BlazePose), not {detector!r}")
    if not isinstance(model_size, str) or model_size not in MEDIAPIPE_MODELS:
        raise ValueError(f"model_size must be one of {', '.join(MEDIAPIPE_MODELS)}, got {model_size!r}")
    return {**options, "model_size": model_size}


def _build(detector: str, options: dict):
    """``build_detector`` with options it does not take as a ``ValueError`` (not a ``TypeError``)."""
    import inspect

    from hot_pose.wild.detectors import build_detector, detector_class

    params = inspect.signature(detector_class(detector).__init__).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = [str(name) for name in options if name not in params or name == "self"]
        if unknown:  # named before anything is built (the options the caller gave, not the ones added here)
            raise ValueError(f"detector {detector!r} does not take these options ({', '.join(unknown)}); it takes "
                             f"{', '.join(n for n in params if n != 'self')}")
    try:
        return build_detector(detector, **options)
    except TypeError as exc:
        raise ValueError(f"detector {detector!r} does not take these options ({', '.join(map(str, options))}): "
                         f"{exc}") from None


def detect_2d(video: PathLike, detector: str = "mediapipe", max_frames: Optional[int] = None,
              model_size: Optional[str] = None, **options) -> Tuple[np.ndarray, Tuple[int, int], float]:
    """2-D keypoints of one person in ``video`` with one of the demo's detectors (offline MediaPipe by default):
    the same person in every frame, the one seen most when several are there (the demo's rule,
    ``hot_pose.wild.tracks.follow_one``; ``track_2d`` gives them all).

    Args:
        video: the video file.
        detector: ``mediapipe`` or ``hrnet`` (``hot_pose.wild.detectors``).
        max_frames: read only the first N frames (>= 1; default all).
        model_size: ``mediapipe``'s BlazePose model, "full" (default, in the wheel) or "heavy" (fetched once).
        options: keyword arguments of the detector's constructor (e.g. ``hrnet_weights``).

    Returns:
        ``(keypoints, (width, height), fps)``: keypoints (T, 17, 3) COCO-17 pixels + score, NaN where nobody was
        found, ready for ``PoseLifter.lift(keypoints, size, layout="coco")``.

    Raises:
        FileNotFoundError: no such video. ValueError: an undecodable video, a detector that is not a video
        detector or cannot run, options it does not take, ``max_frames`` below 1, or an unknown ``model_size``
        (or BlazePose Heavy neither cached nor fetchable).
    """
    from hot_pose.wild.detectors import detector_class
    from hot_pose.wild.preflight import DEFAULT_MAX_PERSONS, DEFAULT_MIN_TRACK_FRAMES
    from hot_pose.wild.tracks import follow_one, track_video
    from hot_pose.wild.video import iter_frames, probe_video

    path = _video_path(video)
    max_frames = None if max_frames is None else check_int(max_frames, "max_frames", 1)
    _video_detector(detector)
    options = _with_model_size(detector, model_size, options)
    if detector == "mediapipe":
        options = {"multi": True, **options}
    try:
        info = probe_video(path)
        det = _build(detector, options)
        try:
            if detector_class(detector).multi_person:  # every person tracked, one followed
                tracker = track_video(det, iter_frames(path, max_frames))
                tracks = tracker.result(min_frames=DEFAULT_MIN_TRACK_FRAMES, max_persons=DEFAULT_MAX_PERSONS)
                if tracks.num_tracks == 0:  # a short video: persons seen in fewer frames still count
                    tracks = tracker.result(min_frames=1, max_persons=DEFAULT_MAX_PERSONS)
                if tracks.num_tracks == 0:
                    kp = np.full((tracker.frame, 17, 3), np.nan, np.float32)
                    return kp, (info.width, info.height), float(info.fps)
                one = follow_one(tracks)
                det.followed(one.detections)
                detection = one.detection
            else:
                detection = det(iter_frames(path, max_frames))
        finally:
            det.close()
    except DemoError as exc:
        raise ValueError(str(exc)) from None
    if detection.layout != "coco":
        raise ValueError(f"detector {detector!r} gives {detection.layout} keypoints; use mediapipe or hrnet")
    kp = np.concatenate([detection.keypoints, detection.scores[..., None]], axis=-1).astype(np.float32)
    kp[~detection.found] = np.nan
    return kp, (info.width, info.height), float(info.fps)



def track_2d(video: PathLike, detector: str = "mediapipe", max_frames: Optional[int] = None, max_persons: int = 4,
             min_track_frames: int = 10, model_size: Optional[str] = None,
             **options) -> Tuple[np.ndarray, Tuple[int, int], float]:
    """2-D keypoints of every person in ``video``, linked into tracks (``demo/vis.py --multi``'s detection and
    tracking; see ``docs/demo.md``). ``model_size``: as in ``detect_2d``.

    Returns:
        ``(keypoints, (width, height), fps)``: keypoints (P, T, 17, 3) COCO-17 pixels + score, track ids 0..P-1
        by first appearance, NaN where the person was not detected. Lift person p over the frames of its life
        (``first = np.isfinite(kp[p, :, 0, 0]).argmax()`` ... its last finite frame), e.g.
        ``lifter.lift(kp[p, first:end], size, layout="coco")``.

    Raises:
        FileNotFoundError: no such video. ValueError: an undecodable video, a detector that cannot run or finds
        one person only, options it does not take, ``max_persons`` outside 1 to 100, ``min_track_frames`` or
        ``max_frames`` below 1, or nobody detected for ``min_track_frames`` frames.
    """
    from hot_pose.wild.detectors import detector_class
    from hot_pose.wild.tracks import track_video
    from hot_pose.wild.video import iter_frames, probe_video

    path = _video_path(video)
    max_frames = None if max_frames is None else check_int(max_frames, "max_frames", 1)
    max_persons = check_int(max_persons, "max_persons", 1, MAX_PERSONS)
    min_track_frames = check_int(min_track_frames, "min_track_frames", 1)
    _video_detector(detector)
    options = _with_model_size(detector, model_size, options)
    if detector == "mediapipe":
        options = {"multi": True, "max_persons": max_persons, **options}
    try:
        if not detector_class(detector).multi_person:
            raise DemoError(f"detector {detector!r} finds one person per frame; use mediapipe or hrnet")
        info = probe_video(path)
        det = _build(detector, options)
        try:
            tracks = track_video(det, iter_frames(path, max_frames)).result(min_frames=min_track_frames,
                                                                           max_persons=max_persons)
        finally:
            det.close()
    except DemoError as exc:
        raise ValueError(str(exc)) from None
    if tracks.num_tracks == 0:
        raise ValueError(f"no person detected in {path} for at least min_track_frames={min_track_frames} frames")
    kp = np.concatenate([tracks.keypoints, tracks.scores[..., None]], axis=-1).astype(np.float32)
    kp[~tracks.found] = np.nan
    return kp, (info.width, info.height), float(info.fps)


def capture(video: PathLike, source: Optional[PathLike] = None, detector: str = "mediapipe",
            max_frames: Optional[int] = None, device: str = "auto", focal_px: Optional[float] = None,
            fov_deg: Optional[float] = None, calibration: Optional[PathLike] = None, camera: Optional[str] = None,
            height: Optional[float] = None, foot_lock: bool = True) -> MotionCapture:
    """One video → metric motion capture of its person (the one seen most): ``detect_2d``, ``PoseLifter.load``
    (``source``, ``device``) and ``PoseLifter.capture`` (the camera, ``height``, ``foot_lock``). The demo's
    ``--export`` writes the same files from the command line (``hot-demo --video my.mp4 --export bvh``).

    Example::

        mc = hot_pose.capture("walk.mp4", height=1.80)
        mc.to_bvh("walk.bvh"); mc.to_trc("walk.trc"); mc.to_c3d("walk.c3d")

    Raises:
        FileNotFoundError: no such video, checkpoint or calibration file. ValueError: a bad argument, an
        undecodable video, or nobody found in it.
    """
    from hot_pose.mocap import check_height
    from hot_pose.mocap.intrinsics import check_focal, check_fov

    path = _video_path(video)  # every argument checked before the slow detection
    given = [n for n, v in (("focal_px", focal_px), ("fov_deg", fov_deg), ("calibration", calibration))
             if v is not None]
    if len(given) > 1:
        raise ValueError(f"give at most one of focal_px, fov_deg and calibration, got {' and '.join(given)}")
    if focal_px is not None:
        check_focal(focal_px)
    if fov_deg is not None:
        check_fov(fov_deg)
    if camera is not None and calibration is None:
        raise ValueError("camera selects a camera of a calibration file: give calibration too")
    if calibration is not None and not Path(calibration).is_file():
        raise FileNotFoundError(f"calibration file not found: {calibration}")
    if height is not None:
        check_height(height, "height")
    if not isinstance(foot_lock, bool):
        raise ValueError(f"foot_lock must be True or False, got {foot_lock!r}")
    lifter = PoseLifter.load(source, device=device)
    keypoints, size, fps = detect_2d(path, detector=detector, max_frames=max_frames)
    return lifter.capture(keypoints, size, fps, layout="coco", focal_px=focal_px, fov_deg=fov_deg,
                          calibration=calibration, camera=camera, height=height, foot_lock=foot_lock)
