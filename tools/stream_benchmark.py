"""Speed of the streaming lifter end to end: decoding, MediaPipe 2-D and HoT lifting per hop and threading mode.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). Writes ``benchmarks/streaming_cpu.{json,md}``:

    python -m tools.stream_benchmark --video ../shared/data/video/skating.mp4 --hops 27 40 81
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import torch

from hot_pose.utils.console import OneLineArgumentParser
from hot_pose.wild.stream import StreamingLifter, fast_bf16, run_stream

_logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# measurement: python -m tools.stream_benchmark --video ../shared/data/video/skating.mp4
# ---------------------------------------------------------------------------------------------
def benchmark_stream(video: Union[str, Path], model_name: str = "mixste.hot_mixste", dtype: str = "auto",
                     hops: Sequence[int] = (27, 40, 81), background: Sequence[bool] = (False, True),
                     lookahead: int = 0, max_frames: Optional[int] = None) -> List[Dict[str, Any]]:
    """End-to-end frames/s (decode + MediaPipe + lifting, no rendering) per hop and threading mode.

    One model and one MediaPipe graph serve every run; runs alternate so load changes hit all alike.
    Random weights: the speed is that of trained ones.
    """
    from hot_pose.models import build_model
    from hot_pose.models.inference import prepare_for_inference
    from hot_pose.wild.detectors import build_detector

    dtype = ("bf16" if fast_bf16("cpu") else "fp32") if dtype == "auto" else dtype
    torch.manual_seed(0)
    net = prepare_for_inference(build_model(model_name), dtype, inplace=True)
    frames = net.config.frames
    net(torch.zeros(1, frames, net.config.n_joints, net.config.in_channels))  # warm-up
    rows = []
    with build_detector("mediapipe") as detector:
        for hop in hops:
            for bg in background:
                with StreamingLifter(net, frames, lookahead=lookahead, hop=hop, background=bg) as lifter:
                    result = run_stream(video, lifter, detector, in_channels=net.config.in_channels,
                                        max_frames=max_frames, keep_poses=False)
                rows.append(dict(model=model_name, dtype=dtype, hop=hop, lookahead=lookahead, background=bg,
                                 frames=result.frames, fps=result.fps, latency_frames=result.latency_frames,
                                 latency_s=result.latency_frames / result.source_fps,
                                 ms_per_frame={k: 1000 * v / max(result.frames, 1) for k, v in result.seconds.items()}))
                _logger.info("%s", result.summary())
    return rows


def _stream_markdown(rows: List[Dict[str, Any]], header: str) -> str:
    lines = [header, "", "| Model | dtype | hop | lifting | frames/s | latency (frames) | latency (s) | decode ms | "
             "2-D ms | lifting ms (caller) | model ms |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ms = r["ms_per_frame"]
        lines.append(f"| `{r['model']}` | {r['dtype']} | {r['hop']} | {'background' if r['background'] else 'inline'} "
                     f"| {r['fps']:.1f} | {r['latency_frames']} | {r['latency_s']:.2f} | {ms['decode']:.1f} | "
                     f"{ms['detect']:.1f} | {ms['lift']:.1f} | {ms['forward']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m tools.stream_benchmark``: measure the streaming pipeline; writes benchmarks/streaming_cpu.{json,md}."""
    import datetime
    import json
    import os

    root = ROOT
    p = OneLineArgumentParser(prog="python -m tools.stream_benchmark", description=main.__doc__)
    p.add_argument("--video", required=True, help="video file (e.g. ../shared/data/video/skating.mp4)")
    p.add_argument("--model", default="mixste.hot_mixste", help="lifting variant (random weights)")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16"], help="compute dtype")
    p.add_argument("--hops", nargs="+", type=int, default=[27, 40, 81], help="frames per forward to try")
    p.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    p.add_argument("--name", default="streaming_cpu", help="report name under benchmarks/")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    load = os.getloadavg()
    rows = benchmark_stream(args.video, args.model, args.dtype, args.hops, max_frames=args.max_frames)
    from hot_pose.utils.system import cpu_name

    header = (f"Measured {datetime.date.today()} on {cpu_name()} ({os.cpu_count()} cores), torch {torch.__version__}, "
              f"video `{Path(args.video).name}`, MediaPipe BlazePose full; load average at start "
              f"{', '.join(f'{x:.1f}' for x in load)}. Command: `python -m tools.stream_benchmark "
              f"{' '.join(argv if argv is not None else sys.argv[1:])}`.")
    out = root / "benchmarks"
    out.mkdir(exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(dict(header=header, rows=rows), indent=1), encoding="utf-8")
    (out / f"{args.name}.md").write_text(_stream_markdown(rows, header), encoding="utf-8")
    sys.stdout.write(_stream_markdown(rows, header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
