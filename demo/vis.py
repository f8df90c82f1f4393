"""In-the-wild 3-D human pose demo of HoT: video → 2-D keypoints → 3-D poses → rendered video and files.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). Run from anywhere:

    python demo/vis.py                                  # the sample clip (fetched once), default detector/model
    python demo/vis.py --video my.mp4 --checkpoint checkpoint/run/best.pth
    python demo/vis.py --video my.mp4 --detector keypoints --keypoints my_2d.npz --no-render
    python demo/vis.py --keypoints my_2d.npz --size 1920x1080 --fps 30   # no video: drawn on a blank canvas

Outputs go to ``demo/output/<video name>/`` (or ``--output``): ``<name>.mp4``, ``keypoints_2d.npz``,
``poses_3d.npz`` and ``poses_3d.json``; units and layouts in docs/demo.md.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from common.arguments import OneLineArgumentParser  # noqa: E402
from demo.lib.detectors import DEFAULT_DETECTOR, DETECTORS  # noqa: E402
from demo.lib.errors import DemoError  # noqa: E402

_logger = logging.getLogger("demo.vis")


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def image_size(text: str) -> tuple:
    """argparse type: ``WxH`` → (W, H), both ≥ 1."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, e.g. 1920x1080, got {text!r}") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"width and height must be positive, got {text!r}")
    return width, height


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The demo's command line."""
    p = OneLineArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    g = p.add_argument_group("input and output")
    g.add_argument("--video", "-v", default=None,
                   help="input video; 'sample' or omitted = the BSD-3 Pose2Sim walkway clip, 'sample-multi' = its "
                        "two-person clip (each downloaded once)")
    g.add_argument("--output", "-o", default=None, help="output folder (default demo/output/<video name>/)")
    g.add_argument("--no-render", dest="render", action="store_false",
                   help="write only keypoints_2d.npz, poses_3d.npz and poses_3d.json, no video")
    g.add_argument("--max-frames", type=positive_int, default=None, help="process only the first N frames")
    g.add_argument("--fix-z", "--fix_z", dest="fix_z", action="store_true",
                   help="fixed vertical range [0, 1.5] m in the 3-D view")
    g.add_argument("--max-height", type=positive_int, default=720, help="height cap of the rendered video in pixels")
    g = p.add_argument_group("2-D detection")
    g.add_argument("--detector", choices=list(DETECTORS), default=None,
                   help="mediapipe: BlazePose (offline, default); hrnet: YOLOv3 + HRNet-W48 (weights in "
                        "demo/lib/checkpoint/); keypoints: read 2-D from --keypoints (the default when it is given)")
    g.add_argument("--keypoints", default=None, help="npz/json keypoint file (implies --detector keypoints); with "
                   "--video its frames must match the video's, without one give --size")
    g.add_argument("--size", type=image_size, default=None, metavar="WxH",
                   help="--keypoints without --video: the image size its pixels refer to; rendered on a blank canvas")
    g.add_argument("--fps", type=positive_float, default=None,
                   help="--keypoints without --video: frame rate of the keypoints (default 25)")
    g.add_argument("--keypoints-layout", choices=["auto", "coco", "h36m"], default="auto",
                   help="joint order of --keypoints (auto: the file's 'layout' entry, else coco)")
    g.add_argument("--raw-bones", dest="constant_bones", action="store_false",
                   help="keep the model's bone lengths frame by frame (default: every bone rescaled to its median "
                        "length over the video, directions kept; the raw numbers stay in the report)")
    g.add_argument("--no-fix-flips", dest="fix_flips", action="store_false",
                   help="keep the detector's left/right labels as they are (default: undo stretches of up to "
                        "240 frames where it mirrored a limb pair, e.g. taking a person's front for their back; "
                        "the labelling of most frames is taken as right)")
    g.add_argument("--yolo-weights", default=None, help="yolov3.weights (default demo/lib/checkpoint/yolov3.weights)")
    g.add_argument("--hrnet-weights", default=None,
                   help="pose_hrnet_w48_384x288.pth (default demo/lib/checkpoint/pose_hrnet_w48_384x288.pth)")
    g = p.add_argument_group("3-D lifting")
    g.add_argument("--model", default=None,
                   help="model variant, e.g. mixste.hot_mixste (default: the checkpoint's own, else hot_mixste)")
    g.add_argument("--checkpoint", default=None,
                   help="lifting weights .pth (default: the shipped in-the-wild model, "
                        "checkpoint/shipped/hot_mixste_27_wild_vc/best.pth)")
    g.add_argument("--frames", type=positive_int, default=None,
                   help="window length F (default: the checkpoint's / model's)")
    g.add_argument("--no-flip", dest="flip", action="store_false", help="disable test-time flip augmentation")
    g.add_argument("--batch-size", type=positive_int, default=8, help="windows per forward pass (memory grows with it)")
    g.add_argument("--stride", type=positive_int, default=None,
                   help="step between seq2seq windows (default F: no overlap); e.g. F/2 cross-fades the joins "
                        "between windows (smoother, 2x lifting time)")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (lifting and hrnet)")
    g.add_argument("--gpu", default=None, help=argparse.SUPPRESS)  # accepted for the reference's commands
    g = p.add_argument_group("several persons (--multi; see docs/demo.md)")
    g.add_argument("--multi", action="store_true",
                   help="detect, track and lift every person (mediapipe or hrnet); the files get a person axis "
                        "when more than one person is tracked; --video sample-multi is a two-person clip")
    g.add_argument("--max-persons", type=int, default=4, help="--multi: most persons kept (the longest tracks)")
    g.add_argument("--min-track-frames", type=int, default=10,
                   help="--multi: fewest frames a person must be detected in to be kept")
    g.add_argument("--person", type=int, default=None, metavar="ID",
                   help="--multi: keep only this track id (as drawn in the video), with the single-person files")
    g = p.add_argument_group("real-time streaming (--stream; see demo/lib/stream.py)")
    g.add_argument("--stream", action="store_true",
                   help="lift frames one at a time as they are decoded (--video: a file or a camera index such "
                        "as 0), each pose after a fixed latency; prints frames/s and latency, no rendering")
    g.add_argument("--hop", type=positive_int, default=None,
                   help="--stream: frames per forward (default F/9); latency = lookahead + hop - 1 frames")
    g.add_argument("--lookahead", type=int, default=0, help="--stream: future frames the lifter sees (default 0)")
    g.add_argument("--background", action="store_true",
                   help="--stream: lift in a worker thread, overlapping 2-D detection (latency + hop frames)")
    g.add_argument("--dtype", choices=["auto", "fp32", "bf16"], default="auto",
                   help="--stream: compute dtype (auto: bf16 on CPUs with native bf16, else fp32)")
    g.add_argument("--stream-flip", action="store_true", help="--stream: flip test-time augmentation (2x cost)")
    g = p.add_argument_group("misc")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bars, warnings only")
    g.add_argument("--verbose", action="store_true", help="debug logging and full tracebacks")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 user error, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s")
    from demo.lib.pipeline import DemoOptions, run_demo

    stream_flags = ("stream", "hop", "lookahead", "background", "dtype", "stream_flip")
    args.detector = args.detector or ("keypoints" if args.keypoints else DEFAULT_DETECTOR)
    fields = {k: v for k, v in vars(args).items() if k not in ("quiet", "verbose", "gpu") + stream_flags}
    try:
        if args.stream:
            from demo.lib.stream import stream_main

            return stream_main(args)
        result = run_demo(DemoOptions(**fields, progress=not args.quiet))
    except DemoError as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # disk full, permissions changed mid-run ...
        if args.verbose:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}; no output written", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; no output written", file=sys.stderr)
        return 130
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
