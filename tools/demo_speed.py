"""Speed of the in-the-wild demo per stage and end to end, against its own 2-D detector on the same clips.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). For each clip, each repeat runs, one after another in this process: the 2-D detector alone
(the demo's own 2-D stage with nothing after it: ``--no-render --pipeline sequential``, its ``detect_2d`` time:
decoding + MediaPipe + following the persons, frame by frame in one thread), then the whole demo (``run_demo``,
default model and flags, rendering on) with ``--pipeline sequential`` and with ``--pipeline overlapped``. End to
end = detection pass + lifting + render pass + saving (model loading excluded, as the detector's own figure
excludes building it); the ratio is the overlapped demo's end-to-end frames/s over the detector's frames/s of the
same repeat. Figures are medians over the repeats; "best" is the fastest demo repeat over the fastest detector
repeat, and "cores" the process's CPU seconds over the wall seconds of a demo run (whether the threads found a
second core). Writes ``benchmarks/demo_speed.{json,md}``:

    python -m tools.demo_speed                      # walkway (the sample clip), skating, sample-multi; 3 repeats
    python -m tools.demo_speed --clips walkway --repeats 5

``--before FILE.json`` adds the figures of an earlier version of the demo (this tool's JSON, run in that version's
tree, where the demo had no ``--pipeline``: one "sequential" run per repeat) as a before/after table. The load
average is recorded with the numbers: the machine is shared, measure when it is low (under 1.5).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any, Dict, List, Optional, Sequence

from hot_pose.utils.console import OneLineArgumentParser, fail, guarded, int_at_least
from hot_pose.utils.outputs import OutputError, StagedOutputs, WriteError, check_output_file
from hot_pose.utils.paths import BENCHMARKS, CHECKOUT

_logger = logging.getLogger("tools.demo_speed")

#: the clips: name → (video, --multi)
CLIPS = {"walkway": ("walkway_cam03.mp4", False), "skating": ("skating.mp4", False), "sample-multi": (None, True)}
#: the demo's stages, in order (``DemoResult.timings``)
STAGES = ("load_models", "detect_2d", "lift_3d", "render", "save")
#: the frame steps of ``hot_pose.wild.stages`` (busy seconds, whichever thread ran them)
STEPS = ("decode", "panel", "compose", "encode")


def _video(name: str, video_dir: Path) -> Path:
    file, _ = CLIPS[name]
    if file is None:  # sample-multi: fetched once into the user cache by hot_pose.wild.sample
        from hot_pose.wild.sample import resolve_video

        return Path(resolve_video("sample-multi"))
    return video_dir / file


def detector_alone(video: Path, multi: bool, folder: Path, max_frames: Optional[int] = None) -> Dict[str, float]:
    """The demo's 2-D stage alone, as it ran before the stages overlapped: ``run_demo`` with ``--no-render`` and
    ``--pipeline sequential`` (decoding, then the detector and whatever the demo does per frame to follow persons,
    frame by frame in one thread); its ``detect_2d`` seconds, split into decoding and detection."""
    from hot_pose.wild.pipeline import DemoOptions, run_demo

    extra = {} if _modes() == [None] else dict(pipeline="sequential")
    result = run_demo(DemoOptions(video=str(video), output=str(folder), multi=multi, render=False, progress=False,
                                  max_frames=max_frames, **extra))
    frames, seconds = result.num_frames, result.timings["detect_2d"]
    decode = getattr(result, "steps", {}).get("decode")
    return dict(frames=frames, seconds=seconds, fps=frames / seconds,
                decode_ms=None if decode is None else 1000 * decode / frames,
                detect_ms=1000 * (seconds - (decode or 0.0)) / frames)


def demo_run(video: Path, multi: bool, mode: Optional[str], folder: Path, max_frames: Optional[int] = None
             ) -> Dict[str, Any]:
    """One whole demo run (default model and flags, rendering on) into ``folder``; ``mode`` = ``--pipeline``
    (``None`` for a demo without it)."""
    from hot_pose.wild.pipeline import DemoOptions, run_demo

    extra = {} if mode is None else dict(pipeline=mode)
    opts = DemoOptions(video=str(video), output=str(folder), multi=multi, progress=False, max_frames=max_frames,
                       **extra)
    before, wall = os.times(), time.perf_counter()
    result = run_demo(opts)
    after, wall = os.times(), time.perf_counter() - wall
    cores = (after.user - before.user + after.system - before.system) / wall
    frames = result.num_frames
    stages = {k: 1000 * v / frames for k, v in result.timings.items()}
    end_to_end = sum(v for k, v in result.timings.items() if k != "load_models")
    steps = {k: 1000 * v / frames for k, v in getattr(result, "steps", {}).items()}
    return dict(frames=frames, stages_ms=stages, steps_ms=steps, end_to_end_s=end_to_end, fps=frames / end_to_end,
                whole_s=sum(result.timings.values()), persons=0 if result.persons is None else len(result.persons.ids),
                cores=cores)


def _modes() -> List[Optional[str]]:
    """``--pipeline`` values of this demo (an older one has none: ``[None]``)."""
    from hot_pose.wild.preflight import DemoOptions

    if "pipeline" not in {f.name for f in dataclasses.fields(DemoOptions)}:
        return [None]
    from hot_pose.wild.stages import PIPELINES

    return ["sequential", "overlapped"] if set(PIPELINES) == {"sequential", "overlapped"} else list(PIPELINES)


def measure_clip(name: str, video: Path, repeats: int, work: Path, max_frames: Optional[int] = None
                 ) -> Dict[str, Any]:
    """``repeats`` × (detector alone, then the demo in every mode); medians and the ratio."""
    _, multi = CLIPS[name]
    modes = _modes()
    rounds = []
    for r in range(repeats):
        load = os.getloadavg()[0]
        row: Dict[str, Any] = dict(load_1min=load, runs={},
                                   detector=detector_alone(video, multi, work / f"{name}_detector_{r}", max_frames))
        for mode in modes:
            label = mode or "sequential"
            row["runs"][label] = demo_run(video, multi, mode, work / f"{name}_{label}_{r}", max_frames)
        fps = row["detector"]["fps"]
        row["ratio"] = {label: run["fps"] / fps for label, run in row["runs"].items()}
        _logger.info("%s repeat %d (load %.2f): detector %.1f frames/s; %s", name, r + 1, load, fps, "; ".join(
            f"{label} {run['fps']:.1f} frames/s (ratio {row['ratio'][label]:.2f})"
            for label, run in row["runs"].items()))
        rounds.append(row)
    first = rounds[0]

    def med(values):
        return median(list(values))

    summary: Dict[str, Any] = dict(
        frames=first["detector"]["frames"],
        detector={k: (None if first["detector"][k] is None else med(r["detector"][k] for r in rounds))
                  for k in ("fps", "decode_ms", "detect_ms")},
        runs={}, ratio={}, load_1min=dict(min=min(r["load_1min"] for r in rounds),
                                          max=max(r["load_1min"] for r in rounds)))
    for label in first["runs"]:
        runs = [r["runs"][label] for r in rounds]
        summary["runs"][label] = dict(
            fps=med(x["fps"] for x in runs), whole_s=med(x["whole_s"] for x in runs),
            stages_ms={k: med(x["stages_ms"].get(k, 0.0) for x in runs) for k in runs[0]["stages_ms"]},
            steps_ms={k: med(x["steps_ms"].get(k, 0.0) for x in runs) for k in runs[0]["steps_ms"]},
            persons=runs[0]["persons"], cores=med(x.get("cores", float("nan")) for x in runs))
        summary["ratio"][label] = dict(median=med(r["ratio"][label] for r in rounds),
                                       min=min(r["ratio"][label] for r in rounds),
                                       best=max(x["fps"] for x in runs) / max(r["detector"]["fps"] for r in rounds))
    return dict(clip=name, video=str(video), multi=multi, repeats=rounds, summary=summary)


def _clip_title(clip: Dict[str, Any]) -> str:
    return f"{clip['clip']}{' (--multi)' if clip['multi'] else ''}"


def markdown(report: Dict[str, Any]) -> str:
    """The report as markdown tables."""
    head = report["header"]
    lines = ["# Demo speed per stage (`python -m tools.demo_speed`)", "",
             f"Measured {head['date']} on {head['cpu']} ({head['cores']} cores), torch {head['torch']}, OpenCV "
             f"{head['opencv']}, MediaPipe {head['mediapipe']}; load average {head['load_start']} at the start, "
             f"{head['load_end']} at the end (1, 5, 15 min). Command: `{head['command']}`. Default model "
             "(`hot_mixste_27_wild_vc`, flip test), MediaPipe BlazePose full, 720-px output; medians of "
             f"{head['repeats']} repeats. ms are per frame. *End to end* = 2-D pass + lifting + render pass + saving "
             "(model loading excluded, as from the detector's own figure); *ratio* = the demo's end-to-end frames/s "
             "over the detector's frames/s in the same repeat (median, and the lowest repeat); *best* = the fastest "
             "demo repeat over the fastest detector repeat (what the least disturbed runs reach); *cores* = the "
             "process's CPU "
             "seconds over the wall seconds of a demo run (2 would be both cores busy).", "",
             "| clip | frames | detector alone: decode + 2-D ms | detector frames/s | demo | end-to-end frames/s | "
             "ratio (lowest) | best | cores |", "|---|---:|---:|---:|---|---:|---:|---:|---:|"]
    for clip in report["clips"]:
        s = clip["summary"]
        d = s["detector"]
        for i, (label, run) in enumerate(s["runs"].items()):
            ratio = s["ratio"][label]
            split = (f"{d['detect_ms']:.1f}" if d["decode_ms"] is None else
                     f"{d['decode_ms']:.1f} + {d['detect_ms']:.1f}")
            first = f"| {_clip_title(clip)} | {s['frames']} | {split} | {d['fps']:.1f} |" if i == 0 else "| | | | |"
            best = ratio.get("best")
            lines.append(f"{first} {label} | {run['fps']:.1f} | **{ratio['median']:.2f}** ({ratio['min']:.2f}) | "
                         f"{'–' if best is None else f'{best:.2f}'} | {run.get('cores', float('nan')):.2f} |")
    lines += ["", "Per stage (wall ms per frame) and, for the frame steps, the ms each worked (whichever thread ran "
              "it; in the overlapped demo they run beside the detector or the encoder):", "",
              "| clip | demo | load | 2-D pass | lifting | render pass | save | end to end | decode | shrink | "
              "compose | encode |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for clip in report["clips"]:
        for label, run in clip["summary"]["runs"].items():
            st, sp = run["stages_ms"], run["steps_ms"]
            cells = [f"{st.get(k, 0.0):.1f}" for k in STAGES]
            steps = [f"{sp[k]:.1f}" if k in sp else "–" for k in STEPS]
            lines.append(f"| {_clip_title(clip)} | {label} | {' | '.join(cells)} | {1000 / run['fps']:.1f} | "
                         f"{' | '.join(steps)} |")
    before = report.get("before")
    if before:
        lines += ["", f"Before (the same tool in the demo's earlier tree: {before['header'].get('label', '')}; "
                  f"measured {before['header']['date']}, load {before['header']['load_start']} at the start):", "",
                  "| clip | detector frames/s | before: end-to-end frames/s (ratio) | 2-D | lifting | rendering | "
                  "now, overlapped: end-to-end frames/s (ratio) | 2-D pass | lifting | render pass |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        now = {c["clip"]: c["summary"] for c in report["clips"]}
        for clip in before["clips"]:
            old = clip["summary"]
            run = next(iter(old["runs"].values()))
            ratio = next(iter(old["ratio"].values()))["median"]
            st = run["stages_ms"]
            new = now.get(clip["clip"])
            tail = "| – | – | – | – |"
            if new and "overlapped" in new["runs"]:
                o = new["runs"]["overlapped"]
                tail = (f"| {o['fps']:.1f} ({new['ratio']['overlapped']['median']:.2f}) | "
                        f"{o['stages_ms']['detect_2d']:.1f} | {o['stages_ms']['lift_3d']:.1f} | "
                        f"{o['stages_ms'].get('render', 0.0):.1f} |")
            lines.append(f"| {_clip_title(clip)} | {old['detector']['fps']:.1f} | {run['fps']:.1f} ({ratio:.2f}) | "
                         f"{st['detect_2d']:.1f} | {st['lift_3d']:.1f} | {st.get('render', 0.0):.1f} {tail}")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m tools.demo_speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", nargs="+", choices=list(CLIPS), default=list(CLIPS),
                   help="clips to measure (walkway = the sample clip, --video sample; sample-multi with --multi)")
    p.add_argument("--video-dir", default=str((CHECKOUT or Path.cwd()).parent / "shared" / "data" / "video"),
                   help="folder of walkway_cam03.mp4 and skating.mp4 (default ../shared/data/video)")
    p.add_argument("--repeats", type=int_at_least(1), default=3, help="repeats per clip (>= 1); medians are reported")
    p.add_argument("--max-frames", type=int_at_least(1), default=None, help="only the first N frames of each clip")
    p.add_argument("--out", default=str(BENCHMARKS / "demo_speed") if BENCHMARKS else None,
                   help="report prefix: writes PREFIX.json and PREFIX.md (default benchmarks/demo_speed)")
    p.add_argument("--before", default=None,
                   help="this tool's JSON from an earlier version of the demo, shown as a before/after table")
    p.add_argument("--label", default="", help="a note on what was measured, kept in the header")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report outside benchmarks/")
    p.add_argument("--verbose", action="store_true", help="show the traceback of an unexpected error")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m tools.demo_speed``; returns the exit status (0 done, 2 bad flags or files, 1 failed)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    return guarded(lambda: _run(args, argv), verbose=args.verbose)


def _run(args, argv) -> int:
    from hot_pose.utils.outputs import in_tracked_dir

    if not args.out:
        return fail("--out is needed outside a source checkout (e.g. --out demo_speed)", 2)
    try:
        prefix = Path(args.out)
        outputs = [check_output_file(prefix.with_name(prefix.name + ext), "--out",
                                     args.overwrite or in_tracked_dir(prefix.with_name(prefix.name + ext)),
                                     f"demo_speed{ext}") for ext in (".json", ".md")]
        before = None
        if args.before:
            try:
                before = json.loads(Path(args.before).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise OutputError(f"--before {args.before}: cannot read it as this tool's JSON ({exc})") from None
            if not isinstance(before, dict) or "clips" not in before or "header" not in before:
                raise OutputError(f"--before {args.before}: not a report of tools.demo_speed (no 'clips')")
        videos = {name: _video(name, Path(args.video_dir)) for name in args.clips}
        for name, video in videos.items():
            if not video.is_file():
                raise OutputError(f"clip {name}: {video} not found (pass --video-dir, or drop it from --clips)")
    except OutputError as exc:
        return fail(exc, 2)
    import cv2
    import torch

    try:
        import mediapipe

        mp_version = mediapipe.__version__
    except ImportError:
        mp_version = "not installed"
    from hot_pose.utils.system import cpu_name

    for name in ("hot_pose", "absl"):
        logging.getLogger(name).setLevel(logging.WARNING)
    load_start = os.getloadavg()
    if load_start[0] > 1.5:
        _logger.warning("load average %.2f: the machine is busy, the figures will be slow and noisy", load_start[0])
    clips = []
    with tempfile.TemporaryDirectory(prefix="demo_speed_") as work:
        for name, video in videos.items():
            clips.append(measure_clip(name, video, args.repeats, Path(work), args.max_frames))
    load_end = os.getloadavg()
    fmt = lambda load: ", ".join(f"{x:.2f}" for x in load)  # noqa: E731
    header = dict(date=str(datetime.date.today()), cpu=cpu_name(), cores=os.cpu_count(), torch=torch.__version__,
                  opencv=cv2.__version__, mediapipe=mp_version, load_start=fmt(load_start), load_end=fmt(load_end),
                  repeats=args.repeats, label=args.label,
                  command="python -m tools.demo_speed " + " ".join(argv if argv is not None else sys.argv[1:]))
    report: Dict[str, Any] = dict(header=header, clips=clips)
    if before is not None:
        report["before"] = dict(header=before["header"], clips=[dict(clip=c["clip"], multi=c.get("multi", False),
                                                                     summary=c["summary"]) for c in before["clips"]])
    text = markdown(report)
    try:
        with StagedOutputs() as stage:
            stage.write(outputs[0], json.dumps(report, indent=1) + "\n")
            stage.write(outputs[1], text)
    except WriteError as exc:
        return fail(exc, 1)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
