"""Everything the demo checks before it loads torch, a model or a detector: flags, files, the output folder.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). ``preflight`` (offline demo) and ``stream_preflight`` (``--stream``) refuse, in one line
(``DemoError``), numbers out of range, device names that are no device, flags that do not go together, a missing
or undecodable video, an unreadable keypoint file or one that is not pixels of the video, and an output that
would destroy a file the demo did not write (``hot_pose.wild.outputs``). They import only NumPy, OpenCV and the demo's
light modules, so a bad command line fails in a fraction of a second; ``run_demo`` and ``stream_main`` run them
themselves too (cheap), so callers from Python get the same checks.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

from hot_pose.utils.checks import (
    FPS_RANGE,
    MAX_BATCH,
    MAX_FRAMES_WINDOW,
    MAX_HEIGHT_RANGE,
    MAX_PERSONS,
    MIN_SIDE,
    check_device_name,
    check_image_size,
    check_int,
    check_number,
)
from hot_pose.utils.paths import default_output_root
from hot_pose.wild.detectors import DEFAULT_DETECTOR, MEDIAPIPE_MODELS, detector_class
from hot_pose.wild.errors import DemoError
from hot_pose.wild.outputs import OutputPlan, plan_outputs
from hot_pose.wild.stages import DEFAULT_CACHE_MB, MAX_CACHE_MB, PIPELINES

__all__ = ["DemoOptions", "Prepared", "preflight", "stream_preflight", "OUTPUT_FILES", "STREAM_FILE",
           "DEFAULT_OUTPUT_ROOT", "DEFAULT_MAX_PERSONS", "DEFAULT_MIN_TRACK_FRAMES", "EXPORT_FORMATS", "export_names",
           "parse_export", "parse_heights"]

#: where ``<video name>/`` goes without ``--output`` (the checkout's demo/output, else ./hot_pose_output)
DEFAULT_OUTPUT_ROOT = default_output_root()
#: the files every run writes (plus ``<video name>.mp4`` unless --no-render)
OUTPUT_FILES = ("keypoints_2d.npz", "poses_3d.npz", "poses_3d.json")
#: the file ``--stream --output DIR`` writes
STREAM_FILE = "poses_3d_stream.npz"
#: ``--multi`` defaults: most persons kept, fewest detected frames of a kept track
DEFAULT_MAX_PERSONS, DEFAULT_MIN_TRACK_FRAMES = 4, 10
#: motion-capture file formats of ``--export`` (``hot_pose.export``): file extension → what it is
EXPORT_FORMATS = {"bvh": "BVH animated skeleton (Blender, Maya, MotionBuilder)", "trc": "OpenSim TRC markers",
                  "c3d": "C3D points (needs ezc3d)"}


def parse_export(text: Any) -> Tuple[str, ...]:
    """``--export``: a comma list (or a sequence) of ``EXPORT_FORMATS`` → the formats, in order, without repeats.

    Raises:
        DemoError: an unknown or empty format (one line naming the valid ones).
    """
    items = text.split(",") if isinstance(text, str) else list(text or ())
    formats = []
    for item in (i for i in items if str(i).strip()):  # "" (the default): no export
        name = str(item).strip().lower().lstrip(".")
        if name not in EXPORT_FORMATS:
            raise DemoError(f"--export: unknown format {str(item).strip()!r}; give a comma list of "
                            f"{', '.join(EXPORT_FORMATS)}, e.g. --export bvh,trc")
        if name not in formats:
            formats.append(name)
    return tuple(formats)


def parse_heights(text: Any) -> Optional[Tuple[float, ...]]:
    """``--height``: metres, one value or a comma list (one per tracked person, ``--multi``) → floats in
    ``hot_pose.mocap.MIN_HEIGHT_M`` to ``MAX_HEIGHT_M``; ``None`` stays ``None`` (the default height).

    Raises:
        DemoError: not numbers, or outside the range (one line).
    """
    from hot_pose.mocap.height import check_height

    if text is None:
        return None
    items = text.split(",") if isinstance(text, str) else list(text) if isinstance(text, (list, tuple)) else [text]
    heights = []
    for item in items:
        try:
            value = float(item.strip()) if isinstance(item, str) else item
            heights.append(check_height(value, "--height"))
        except ValueError as exc:
            msg = str(exc) if not isinstance(item, str) or _is_float(item) else \
                f"--height must be metres (e.g. 1.75, or 1.80,1.65 per person with --multi), got {item.strip()!r}"
            raise DemoError(msg) from None
    if not heights:
        raise DemoError("--height needs a value in metres, e.g. 1.75")
    return tuple(heights)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def export_names(stem: str, formats: Sequence[str], multi: bool, max_persons: int) -> Tuple[str, ...]:
    """The files of ``--export``: ``<stem>.<ext>`` per format (one person), and with ``multi`` also
    ``<stem>_p<id>.<ext>`` for the track ids 0 to ``max_persons`` - 1 (which of them a run writes depends on the
    persons it tracks; all are planned so none replaces a file of the user)."""
    names = [f"{stem}.{ext}" for ext in formats]
    if multi:
        names += [f"{stem}_p{i}.{ext}" for i in range(max_persons) for ext in formats]
    return tuple(names)


@dataclass
class DemoOptions:
    """Everything ``run_demo`` needs (the CLI flags of ``demo/vis.py``).

    Attributes:
        video: input path; ``None`` or "sample" = the sample clip (with the "keypoints" detector, ``None`` = no
            video: the keypoints alone, drawn on a blank canvas of ``size``).
        size: (width, height) in pixels the keypoint file refers to, when there is no video.
        fps: frame rate of the keypoints when there is no video (default ``video.FALLBACK_FPS``).
        output: output folder (default ``demo/output/<video stem>/``); never a file of the user is replaced
            (``hot_pose.wild.outputs``).
        detector: "mediapipe", "hrnet" or "keypoints".
        keypoints: keypoint file for the "keypoints" detector.
        keypoints_layout: "auto", "coco" or "h36m".
        yolo_weights: YOLOv3 weights for "hrnet" (default in hot_pose/wild/checkpoint/).
        hrnet_weights: HRNet-W48 weights for "hrnet".
        model: lifting model variant (default: the checkpoint's, else ``lift.DEFAULT_MODEL``).
        checkpoint: lifting weights, a ``.pth`` file or a training run folder (default
            ``lift.DEFAULT_CHECKPOINT``); 17-joint and 16-joint (Human3.6M without Neck/Nose) models run.
        frames: window length override (1 to ``options.MAX_FRAMES_WINDOW``; must match a given checkpoint's).
        flip: test-time flip augmentation.
        fix_flips: undo the 2-D detector's left/right label mix-ups (``fix_left_right_flips``).
        constant_bones: rescale every bone to its median length over the video (``quality`` then also holds
            the ``raw_*`` numbers of the model's own output).
        batch_size: windows per forward pass (1 to ``options.MAX_BATCH``).
        stride: seq2seq window step, 1 to F (default F, no overlap); smaller = smoother joins, slower.
        render: write the side-by-side mp4.
        fix_z: fixed vertical range in the 3-D view.
        max_height: output video height cap (``options.MAX_HEIGHT_RANGE``).
        device: "auto", "cpu", "cuda", "cuda:N", "mps".
        max_frames: process only the first N frames.
        progress: show tqdm progress bars.
        detector_options: extra keyword arguments of the detector's constructor (e.g. reduced network
            widths in tests).
        multi: detect, track and lift every person (see the module docstring).
        max_persons: ``multi``: most persons kept (the most detected tracks; default ``DEFAULT_MAX_PERSONS``).
        min_track_frames: ``multi``: fewest detected frames of a kept track (default ``DEFAULT_MIN_TRACK_FRAMES``).
        person: keep only this track id (ids as drawn by ``multi``: 0, 1, ... by first appearance); without
            ``multi`` the single-person output follows it (default: the person seen most, ``tracks.follow_one``).
        mediapipe_model: BlazePose landmark model of the mediapipe detector, "full" or "heavy" (``None``: the
            default, ``detectors.DEFAULT_MEDIAPIPE_MODEL``).
        heavy_model: the BlazePose Heavy file (``.tflite`` or the npm ``.tgz``) for ``mediapipe_model="heavy"``;
            default: the cached copy, fetched with npm once (``hot_pose.wild.sample.heavy_model``); ``preflight``
            replaces it by the checked cached file.
        pipeline: "overlapped" (decoding beside the detector, rendering beside the encoder, on worker threads) or
            "sequential" (one stage after another); same outputs (``hot_pose.wild.stages``).
        frame_cache: MiB of shrunk frames kept from the detection pass for the render pass (``overlapped``; 0 =
            decode the video again).
        focal: the camera's focal length in pixels (``hot_pose.mocap.Intrinsics``); at most one of ``focal``,
            ``fov`` and ``calibration``; none: ``hot_pose.mocap.DEFAULT_FOV_DEG`` (65°) across the longer side.
        fov: the camera's field of view across the longer image side, degrees, in (0, 180).
        calibration: a calibration file (JSON, Pose2Sim TOML, Qualisys QCA; ``hot_pose.mocap.load_calibration``).
        camera: the camera of a ``calibration`` file with several.
        height: standing height(s) in metres, one for everybody or one per tracked person (``multi``), each
            ``hot_pose.mocap.MIN_HEIGHT_M`` to ``MAX_HEIGHT_M``; ``None``: ``hot_pose.mocap.DEFAULT_HEIGHT_M``
            (1.70 m). A comma string ("1.8,1.65") is accepted too.
        export: motion-capture files to write beside the others (``EXPORT_FORMATS``; a comma string or a sequence).
        foot_lock: foot-lock the world-frame joints (``hot_pose.mocap.lock_feet``; the exports use them).
    """

    video: Optional[str] = None
    size: Optional[Tuple[int, int]] = None
    fps: Optional[float] = None
    output: Optional[str] = None
    detector: str = DEFAULT_DETECTOR
    keypoints: Optional[str] = None
    keypoints_layout: str = "auto"
    yolo_weights: Optional[str] = None
    hrnet_weights: Optional[str] = None
    model: Optional[str] = None
    checkpoint: Optional[str] = None
    frames: Optional[int] = None
    flip: bool = True
    fix_flips: bool = True
    constant_bones: bool = True
    batch_size: int = 8
    stride: Optional[int] = None
    render: bool = True
    fix_z: bool = False
    max_height: int = 720
    device: str = "auto"
    max_frames: Optional[int] = None
    progress: bool = True
    detector_options: Dict[str, Any] = field(default_factory=dict)
    multi: bool = False
    max_persons: Optional[int] = None
    min_track_frames: Optional[int] = None
    person: Optional[int] = None
    mediapipe_model: Optional[str] = None
    heavy_model: Optional[str] = None
    pipeline: str = "overlapped"
    frame_cache: int = DEFAULT_CACHE_MB
    focal: Optional[float] = None
    fov: Optional[float] = None
    calibration: Optional[str] = None
    camera: Optional[str] = None
    height: Any = None
    export: Any = ()
    foot_lock: bool = True


@dataclass
class Prepared:
    """What ``preflight`` found: the checked options and where the run reads and writes.

    Attributes:
        opts: the options with the ``multi`` defaults filled in.
        keypoints_only: a keypoint file without a video (drawn on a blank canvas).
        video: the video file (the sample clip resolved), ``None`` for ``keypoints_only``.
        info: what the video says of itself (``hot_pose.wild.video.VideoInfo``), ``None`` for ``keypoints_only``.
        stem: the name of the outputs (the video's, or the keypoint file's).
        plan: the checked output plan (``hot_pose.wild.outputs.plan_outputs``).
        intrinsics: the camera (``hot_pose.mocap.Intrinsics``) resolved from ``focal``/``fov``/``calibration``
            or the default field of view, for the video's (or ``size``'s) pixels.
    """

    opts: DemoOptions
    keypoints_only: bool
    video: Optional[Path]
    info: Any
    stem: str
    plan: OutputPlan = field(repr=False)
    intrinsics: Any = None


def check_numbers(opts: DemoOptions) -> None:
    """Refuse out-of-range numbers and a device name that is no device (``DemoOptions`` may come from Python,
    not only from ``demo/vis.py``'s checked flags).

    Raises:
        DemoError: one line naming the flag and its range.
    """
    checks = [("--size", opts.size, lambda v, n: check_image_size(v, n, MIN_SIDE)),
              ("--fps", opts.fps, lambda v, n: check_number(v, n, *FPS_RANGE)),
              ("--max-height", opts.max_height, lambda v, n: check_int(v, n, *MAX_HEIGHT_RANGE)),
              ("--max-frames", opts.max_frames, lambda v, n: check_int(v, n, 1)),
              ("--frames", opts.frames, lambda v, n: check_int(v, n, 1, MAX_FRAMES_WINDOW)),
              ("--batch-size", opts.batch_size, lambda v, n: check_int(v, n, 1, MAX_BATCH)),
              ("--stride", opts.stride, lambda v, n: check_int(v, n, 1)),
              ("--frame-cache", opts.frame_cache, lambda v, n: check_int(v, n, 0, MAX_CACHE_MB)),
              ("--device", opts.device, lambda v, n: check_device_name(v, n))]
    try:
        for flag, value, check in checks:
            if value is not None:
                check(value, flag)
    except ValueError as exc:
        raise DemoError(str(exc)) from None
    if opts.pipeline not in PIPELINES:
        raise DemoError(f"--pipeline must be one of {', '.join(PIPELINES)}, got {opts.pipeline!r}")


def check_mocap(opts: DemoOptions) -> DemoOptions:
    """The camera, height and export flags of the motion capture (``hot_pose.mocap``); returns ``opts`` with
    ``height`` and ``export`` parsed to tuples.

    Raises:
        DemoError: one line naming the flag and the fix.
    """
    from hot_pose.mocap.intrinsics import check_focal, check_fov

    given = [flag for flag, value in (("--focal", opts.focal), ("--fov", opts.fov),
                                      ("--calibration", opts.calibration)) if value is not None]
    if len(given) > 1:
        raise DemoError(f"{given[0]} and {given[1]} both set the camera's focal length: give one of --focal, --fov "
                        "and --calibration")
    try:
        if opts.focal is not None:
            check_focal(opts.focal, "--focal")
        if opts.fov is not None:
            check_fov(opts.fov, "--fov")
    except ValueError as exc:
        raise DemoError(str(exc)) from None
    if opts.camera is not None and opts.calibration is None:
        raise DemoError("--camera picks a camera of a --calibration file: add --calibration FILE (or drop --camera)")
    if opts.calibration is not None and not Path(opts.calibration).is_file():
        raise DemoError(f"calibration file not found: {opts.calibration} (pass --calibration FILE: .json, .toml or "
                        ".qca.txt)")
    heights = parse_heights(opts.height)
    if heights is not None and len(heights) > 1 and not opts.multi:
        raise DemoError(f"--height got {len(heights)} values: one per person works with --multi only; give one "
                        "height")
    formats = parse_export(opts.export)
    if "c3d" in formats:
        import importlib.util

        if importlib.util.find_spec("ezc3d") is None:
            from hot_pose.export.c3d import EZC3D_VERSION

            raise DemoError(f"--export c3d needs ezc3d: pip install ezc3d=={EZC3D_VERSION} (or drop c3d)")
    return replace(opts, height=heights, export=formats, foot_lock=bool(opts.foot_lock))


def _intrinsics(opts: DemoOptions, width: int, height: int) -> Any:
    """The camera for images of ``width`` × ``height`` pixels (a calibration file is read and checked here)."""
    from hot_pose.mocap.intrinsics import Intrinsics
    from hot_pose.utils.console import first_line

    try:
        return Intrinsics.resolve(width, height, focal_px=opts.focal, fov_deg=opts.fov, calibration=opts.calibration,
                                  camera=opts.camera)
    except (ValueError, FileNotFoundError) as exc:
        flag = "--calibration" if opts.calibration is not None else "--focal" if opts.focal is not None else "--fov"
        raise DemoError(f"{flag}: {first_line(exc)}") from None


def _file(value: Optional[str]) -> Optional[Path]:
    """An input file of the run, for the output collision check (``None`` if not given or not a file)."""
    return Path(value) if value and Path(value).is_file() else None


def preflight(opts: DemoOptions) -> Prepared:
    """Check everything that needs no model, before any work (see the module docstring).

    Raises:
        DemoError: the first problem, in one line naming it and the fix.
    """
    from hot_pose.wild.checks import check_pixel_keypoints
    from hot_pose.wild.detectors.keypoints_file import load_keypoint_file
    from hot_pose.wild.sample import resolve_video
    from hot_pose.wild.video import probe_video

    check_numbers(opts)
    keypoints_only = opts.video is None and opts.detector == "keypoints"
    if not keypoints_only and (opts.size is not None or opts.fps is not None):
        raise DemoError("--size and --fps are for --keypoints without a video; a video gives its own size and fps")
    if keypoints_only and opts.size is None:
        raise DemoError("--keypoints without --video needs --size WxH, the image size its pixels refer to "
                        "(and --fps, default 25), e.g. --size 1920x1080")
    opts = _check_multi(opts)
    opts = check_mocap(opts)
    _check_mediapipe_model(opts)
    video = info = None
    if keypoints_only:
        stem = Path(opts.keypoints).stem
    else:
        video = resolve_video(opts.video)
        info = probe_video(video)  # a missing or undecodable video fails here
        stem = video.stem
    if opts.detector == "keypoints":
        if not opts.keypoints:
            raise DemoError("--detector keypoints needs --keypoints FILE (.npz, .npy or .json)")
        detection = load_keypoint_file(opts.keypoints, opts.keypoints_layout)  # a bad file fails here
        width, height = opts.size if keypoints_only else (info.width, info.height)
        check_pixel_keypoints(detection.keypoints, width, height, f"keypoint file {opts.keypoints}")
    width, height = opts.size if keypoints_only else (info.width, info.height)
    intrinsics = _intrinsics(opts, width, height)
    output = Path(opts.output) if opts.output else DEFAULT_OUTPUT_ROOT / stem
    names = OUTPUT_FILES + ((f"{stem}.mp4",) if opts.render else ()) + export_names(
        stem, opts.export, opts.multi, opts.max_persons)
    inputs = {"--video": video, "--keypoints": _file(opts.keypoints), "--checkpoint": _file(opts.checkpoint),
              "--yolo-weights": _file(opts.yolo_weights), "--hrnet-weights": _file(opts.hrnet_weights),
              "--heavy-model": _file(opts.heavy_model), "--calibration": _file(opts.calibration)}
    plan = plan_outputs(output, names, inputs)
    opts = _heavy_model(opts)  # may fetch (npm): after every cheaper check
    return Prepared(opts, keypoints_only, video, info, stem, plan, intrinsics)


def stream_preflight(args: Any) -> Tuple[str, bool, Optional[OutputPlan]]:
    """``--stream``'s checks before any model loads: numbers, the device name, the video or camera, the output.

    Returns:
        ``(video, is_camera, plan)``: the video (the sample clip resolved) or camera index, whether it is a
        camera, and the checked plan of ``poses_3d_stream.npz`` (``None`` without ``--output``).

    Raises:
        DemoError: one line naming the problem and the fix.
    """
    video = getattr(args, "video", None)
    if video is None or str(video) == "sample":
        from hot_pose.wild.sample import resolve_video

        video = resolve_video(video)
    video = str(video)
    is_camera = video.isdigit()
    numbers = (("--frames", getattr(args, "frames", None), 1, MAX_FRAMES_WINDOW),
               ("--hop", getattr(args, "hop", None), 1, None),
               ("--lookahead", getattr(args, "lookahead", None), 0, None),
               ("--max-frames", getattr(args, "max_frames", None), 1, None))
    try:
        check_device_name(getattr(args, "device", None) or "auto")
        for flag, value, low, high in numbers:
            if value is not None:
                check_int(value, flag, low, high)
    except ValueError as exc:
        raise DemoError(str(exc)) from None
    if not is_camera:
        if not Path(video).is_file():
            raise DemoError(f"video not found: {video} (pass a video file or a camera index such as 0)")
        from hot_pose.wild.video import probe_video

        probe_video(video)  # a file OpenCV cannot decode fails here
    output = getattr(args, "output", None)
    if not output:
        return video, is_camera, None
    inputs = {"--video": None if is_camera else Path(video), "--checkpoint": _file(getattr(args, "checkpoint", None))}
    return video, is_camera, plan_outputs(Path(output), (STREAM_FILE,), inputs)


def _check_multi(opts: DemoOptions) -> DemoOptions:
    """Flags of ``multi`` (checked before anything loads); returns ``opts`` with their defaults filled in."""
    flags = {"--max-persons": opts.max_persons, "--min-track-frames": opts.min_track_frames}
    given = [flag for flag, value in flags.items() if value is not None]
    if opts.person is not None and not (isinstance(opts.person, int) and opts.person >= 0):
        raise DemoError(f"--person must be a track id >= 0, got {opts.person}")
    if not opts.multi:
        if opts.person is not None and not detector_class(opts.detector).multi_person:
            raise DemoError(f"--person picks one of several tracked persons; '{opts.detector}' gives one person per "
                            "frame: drop --person (or use --detector mediapipe or hrnet)")
        if given:
            raise DemoError(f"{given[0]} is for several persons: add --multi (or drop {given[0]})")
        return replace(opts, max_persons=DEFAULT_MAX_PERSONS, min_track_frames=DEFAULT_MIN_TRACK_FRAMES)
    if not detector_class(opts.detector).multi_person:
        raise DemoError(f"--multi needs a detector that finds several persons (mediapipe or hrnet), not "
                        f"'{opts.detector}' (one person per frame)")
    opts = replace(opts, max_persons=DEFAULT_MAX_PERSONS if opts.max_persons is None else opts.max_persons,
                   min_track_frames=DEFAULT_MIN_TRACK_FRAMES if opts.min_track_frames is None
                   else opts.min_track_frames)
    try:
        check_int(opts.max_persons, "--max-persons", 1, MAX_PERSONS)
        check_int(opts.min_track_frames, "--min-track-frames", 1)
    except ValueError as exc:
        raise DemoError(str(exc)) from None
    return opts


def _check_mediapipe_model(opts: DemoOptions) -> None:
    """``--mediapipe-model`` and ``--heavy-model``: a known size, for the mediapipe detector."""
    if opts.mediapipe_model is None and opts.heavy_model is None:
        return
    if opts.detector != "mediapipe":
        flag = "--mediapipe-model" if opts.mediapipe_model is not None else "--heavy-model"
        raise DemoError(f"{flag} is for --detector mediapipe, not '{opts.detector}'; drop {flag}")
    if opts.mediapipe_model is not None and opts.mediapipe_model not in MEDIAPIPE_MODELS:
        raise DemoError(f"--mediapipe-model must be one of {', '.join(MEDIAPIPE_MODELS)}, got {opts.mediapipe_model!r}")
    if opts.heavy_model is not None and opts.mediapipe_model != "heavy":
        raise DemoError("--heavy-model is the BlazePose Heavy file of --mediapipe-model heavy: add --mediapipe-model "
                        "heavy (or drop --heavy-model)")


def _heavy_model(opts: DemoOptions) -> DemoOptions:
    """With ``--mediapipe-model heavy``: BlazePose Heavy checked (taken from ``--heavy-model`` or the cache,
    else fetched once with npm) before anything loads; ``opts`` with ``heavy_model`` the checked cached file."""
    if opts.detector != "mediapipe" or opts.mediapipe_model != "heavy":
        return opts
    from hot_pose.wild.sample import heavy_model

    return replace(opts, heavy_model=str(heavy_model(opts.heavy_model)))
