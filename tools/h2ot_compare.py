"""Equal-budget comparison of MixSTE, HoT and H2OT on real Human3.6M at the CPU size of the shipped checkpoints.

H2OT: Li et al., "H2OT: Hierarchical Hourglass Tokenizer for Efficient Video Pose Transformers", TPAMI 2025
(arXiv:2509.06956); HoT: Li et al., CVPR 2024 (arXiv:2311.12028). Every configuration is trained by
``main_mixste.py`` with the same recipe, windows, seed and budget (``--epochs`` × ``--epoch_fraction`` of the
training windows, lr 1e-3 × 0.7 per epoch: the first stage of the shipped checkpoints' chain, shortened), then
tested with flip augmentation on S9+S11 (GT 2-D, stride 27); FLOPs are counted on the meta device and CPU
throughput is timed in this process, all models alternated, ratios against MixSTE. Writes
``benchmarks/h2ot_cpu.{json,md}`` (the README block ``h2ot_cpu``) and ``benchmarks/h2ot_flops_p1.png``.

    python -m tools.h2ot_compare                    # train (or reuse) the four runs, test, time, write
    python -m tools.h2ot_compare --reference-size   # also FLOPs/throughput at 243 frames, C 512 (random weights)

``--out`` and ``--runs`` are checked before any training (outside the project's ``benchmarks/``, existing result
files are kept unless ``--overwrite``); the three result files are written atomically, together, at the end.
"""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch

from hot_pose.utils.console import OneLineArgumentParser, fail, finite_float, guarded, int_at_least
from hot_pose.utils.outputs import (
    OutputError,
    StagedOutputs,
    WriteError,
    atomic_write,
    check_output_dir,
    check_outputs_in,
)

_logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
#: the shipped checkpoints' CPU size (hot_pose/checkpoints/README.md)
CPU_SIZE = ["--frames", "27", "--stride", "27", "--channel", "64", "--d_hid", "128", "--depth", "4", "--drop_path",
            "0.0", "--keypoints", "gt", "--batch_size", "8", "--test_augmentation", "0", "--no_progress"]
#: label → (description, variant flags)
CONFIGS: Dict[str, tuple] = {
    "mixste": ("MixSTE", ["--model", "mixste.mixste"]),
    "hot_9": ("HoT (1:9, cluster + TRA)", ["--model", "mixste.hot_mixste", "--token_num", "9", "--layer_index", "1"]),
    "h2ot_cluster_tra": ("H2OT (1:13,2:7, cluster + TRA)", ["--model", "mixste.h2ot_mixste", "--prune_schedule",
                                                             "1:13,2:7"]),
    "h2ot_sample_tri": ("H2OT (1:13,2:7, sample + TRI)", ["--model", "mixste.h2ot_mixste", "--prune_schedule",
                                                           "1:13,2:7", "--prune_strategy", "sample",
                                                           "--recover_strategy", "interpolation"]),
}
#: the reference size for --reference-size (random weights: FLOPs and speed only)
REFERENCE = {"mixste": ("mixste.mixste", {}), "hot": ("mixste.hot_mixste", {}),
             "h2ot": ("mixste.h2ot_mixste", {}),
             "h2ot_sample_tri": ("mixste.h2ot_mixste", {"prune_strategy": "sample",
                                                        "recover_strategy": "interpolation"})}


def recipe(epochs: int, fraction: float) -> List[str]:
    """The training flags every configuration shares."""
    return CPU_SIZE + ["--epoch_fraction", str(fraction), "--lr", "1e-3", "--lr_decay", "0.7", "--nepoch", str(epochs)]


def train(label: str, run_dir: Path, epochs: int, fraction: float, root_path: str,
          extra: Sequence[str] = ()) -> float:
    """Train one configuration into ``run_dir`` (skipped when its best.pth exists); returns wall seconds.
    ``extra``: more ``main_mixste.py`` flags (e.g. a data subset for a quick check)."""
    import hot_pose.models as model
    from hot_pose.training.arguments import parse_args
    from hot_pose.training.engine import run
    from hot_pose.training.recipes import MIXSTE

    if (run_dir / "best.pth").is_file() and (run_dir / "last.pth").is_file():
        _logger.info("%s: reusing %s", label, run_dir)
        return float(json.loads((run_dir / "h2ot_compare.json").read_text())["train_s"])
    argv = CONFIGS[label][1] + recipe(epochs, fraction) + ["--root_path", root_path, "--checkpoint", str(run_dir),
                                                            "--overwrite", *extra]
    _logger.info("python main_mixste.py %s", " ".join(argv))
    start = time.perf_counter()
    run(parse_args(argv, **MIXSTE.defaults), MIXSTE, model)
    seconds = time.perf_counter() - start
    atomic_write(run_dir / "h2ot_compare.json", json.dumps({"train_s": seconds, "argv": argv}) + "\n")
    return seconds


def test(run_dir: Path, root_path: str, extra: Sequence[str] = ()) -> Dict[str, float]:
    """``main_mixste.py --test --previous_dir run_dir`` (flip augmentation on; the JSON report beside the weights);
    returns P1 and P2 in mm."""
    import hot_pose.models as model
    from hot_pose.training.arguments import parse_args
    from hot_pose.training.engine import run
    from hot_pose.training.recipes import MIXSTE

    report = run_dir / "test_flip.json"
    argv = ["--test", "--previous_dir", str(run_dir), "--root_path", root_path, "--report", str(report),
            "--no_progress", *extra]
    result = run(parse_args(argv, **MIXSTE.defaults), MIXSTE, model)
    return {"p1": float(result.p1), "p2": float(result.p2)}


def measure(nets: Dict[str, torch.nn.Module], repeats: int, batch: int = 4) -> Dict[str, Dict[str, Any]]:
    """FLOPs (thop-style and full) and CPU frames/s (alternated in this process) of every model; ``speedup``
    against the first."""
    from tools.results import profile, throughput

    speed = throughput(nets, batch=batch, repeats=repeats, threads=None)
    out = {}
    for name, net in nets.items():
        counts = profile(net)
        out[name] = dict(params=sum(p.numel() for p in net.parameters()), flops_thop=counts["flops_thop"],
                         flops=counts["flops"], frames_per_s=speed[name]["frames_per_s"])
    base = out[next(iter(out))]
    for row in out.values():
        row["speedup"] = row["frames_per_s"] / base["frames_per_s"]
    return out


def markdown(report: Dict[str, Any]) -> str:
    rows = report["rows"]
    base = rows[0]
    lines = ["| model | schedule (block:kept) | pruning / recovery | params | FLOPs/clip (thop) | FLOPs/clip (full) | "
             f"P1 / P2 (mm) | CPU frames/s (× {base['label']}) | training |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        change = "" if r is base else f" ({100 * (r['flops_thop'] / base['flops_thop'] - 1):+.1f} %)"
        lines.append(f"| {r['label']} | {r['schedule']} | {r['strategies']} | {r['params'] / 1e6:.3f} M | "
                     f"{r['flops_thop'] / 1e9:.4f} G{change} | {r['flops'] / 1e9:.4f} G | {r['p1']:.2f} / {r['p2']:.2f} | "
                     f"{r['frames_per_s']:.0f} ({r['speedup']:.2f}×) | {r['train_min']:.1f} min |")
    env = report["environment"]
    lines += ["", f"Real Human3.6M (S1, S5–S8 train; S9+S11 test, all 4 cameras, GT 2-D, 27-frame windows, stride 27, "
              f"flip TTA, every frame scored). Same recipe, windows, seed and budget for every row: "
              f"{report['epochs']} epochs × {100 * report['epoch_fraction']:g} % of the training windows, AdamW "
              f"lr 1e-3 × 0.7 per epoch, batch 8, 27 frames, C 64, 4 block pairs (the shipped checkpoints' first "
              f"stage, shortened); best epoch by validation. Throughput: fp32 eager, batch 4, median of "
              f"{report['repeats']} alternated rounds in one process, {env['threads']} threads, {env['cpu']}. "
              f"Measured {env['date']} with `python -m tools.h2ot_compare`."]
    if report.get("engine_flags"):
        lines += ["", f"**Quick check only**: run with the extra flags `{' '.join(report['engine_flags'])}`."]
    if report.get("reference"):
        lines += ["", "At the reference size (243 frames, C 512, 8 block pairs; random weights, batch 1):", "",
                  "| model | FLOPs/clip (thop) | FLOPs/clip (full) | CPU frames/s (× MixSTE) |", "|---|---|---|---|"]
        for name, r in report["reference"].items():
            lines.append(f"| {name} | {r['flops_thop'] / 1e9:.2f} G | {r['flops'] / 1e9:.2f} G | "
                         f"{r['frames_per_s']:.0f} ({r['speedup']:.2f}×) |")
    return "\n".join(lines) + "\n"


def plot(rows: List[Dict[str, Any]], path: Path) -> None:
    """FLOPs (thop) against P1, one point per configuration."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for r in rows:
        ax.scatter(r["flops_thop"] / 1e6, r["p1"], s=40)
        ax.annotate(r["label"], (r["flops_thop"] / 1e6, r["p1"]), textcoords="offset points", xytext=(4, 4),
                    fontsize=7)
    ax.set_xlabel("FLOPs per 27-frame clip (thop, M)")
    ax.set_ylabel("P1 (mm), S9+S11, GT 2-D")
    ax.set_title("MixSTE vs HoT vs H2OT at the same training budget (CPU size)", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="python -m tools.h2ot_compare", description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--root_path", default="./dataset/", help="Human3.6M folder (python dataset/prepare_data_h36m.py)")
    p.add_argument("--runs", default="checkpoint/h2ot_compare", help="folder of the four training runs")
    p.add_argument("--epochs", type=int_at_least(1), default=3, help="epochs per run")
    p.add_argument("--epoch_fraction", type=finite_float(0.0, 1.0, low_open=True), default=0.12,
                   help="share of the training windows per epoch, in (0, 1]")
    p.add_argument("--only", nargs="+", choices=list(CONFIGS), default=list(CONFIGS), help="configurations to run")
    p.add_argument("--repeats", type=int_at_least(1), default=15, help="alternated timing rounds")
    p.add_argument("--reference-size", action="store_true", help="also FLOPs and throughput at 243 frames, C 512")
    p.add_argument("--out", default="benchmarks", help="folder for h2ot_cpu.{json,md} and h2ot_flops_p1.png")
    p.add_argument("--overwrite", action="store_true", help="replace existing result files in an --out other than "
                   "the project's benchmarks/ (whose tables are always regenerated)")
    p.add_argument("--engine_flags", default="", help="more main_mixste.py flags for training and testing, e.g. "
                   "'--subjects_test S9 --actions Walking' for a quick check (the recorded table uses none)")
    p.add_argument("--verbose", action="store_true", help="show the traceback of an unexpected error")
    return p


#: the files written into ``--out``
WRITTEN = ("h2ot_cpu.json", "h2ot_cpu.md", "h2ot_flops_p1.png")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status (0 done, 2 bad flags, data or destination, 1 failed)."""
    args = build_parser().parse_args(argv)
    return guarded(lambda: _run(args), verbose=args.verbose)


def _run(args: argparse.Namespace) -> int:
    from hot_pose.training.engine import USER_ERRORS
    from hot_pose.utils.runtime import setup_logging

    try:
        json_path, md_path, png_path = check_outputs_in(args.out, WRITTEN, "--out", args.overwrite)
        check_output_dir(args.runs, "--runs")
        extra = shlex.split(args.engine_flags)
    except (OutputError, ValueError) as exc:  # ValueError: unbalanced quotes in --engine_flags
        return fail(exc, 2)
    setup_logging()  # the engine's console logging (it replaces it per run, so lines are not doubled)
    from hot_pose.models import build_model
    from hot_pose.models.inference import load_model
    from hot_pose.utils.system import cpu_name

    try:
        runs = Path(args.runs)
        rows, nets = [], {}
        for label in args.only:
            seconds = train(label, runs / label, args.epochs, args.epoch_fraction, args.root_path, extra)
            report = test(runs / label, args.root_path, extra)
            net = load_model(checkpoint=str(runs / label / "best.pth")).eval()
            nets[label] = net
            cfg = net.config
            schedule = cfg.prune_schedule or (f"{cfg.layer_index}:{cfg.token_num}" if cfg.token_num and label != "mixste"
                                              else "—")
            strategies = "—" if label == "mixste" else f"{cfg.prune_strategy or 'cluster'} / {cfg.recover_strategy or 'attention'}"
            rows.append(dict(label=CONFIGS[label][0], key=label, schedule=schedule, strategies=strategies,
                             p1=report["p1"], p2=report["p2"], train_min=seconds / 60))
        speed = measure(nets, args.repeats)
        for row in rows:
            row.update(speed[row["key"]])
        reference = None
        if args.reference_size:
            big = {}
            for name, (variant, sizes) in REFERENCE.items():
                torch.manual_seed(0)
                big[name] = build_model(variant, **sizes).eval()
            reference = measure(big, max(3, args.repeats // 3), batch=1)
    except USER_ERRORS as exc:
        return fail(exc, 2)
    env = dict(cpu=cpu_name(), threads=torch.get_num_threads(), date=time.strftime("%Y-%m-%d"),
               torch=torch.__version__)
    report = dict(rows=rows, epochs=args.epochs, epoch_fraction=args.epoch_fraction, repeats=args.repeats,
                  environment=env, reference=reference, engine_flags=extra)
    text = markdown(report)
    print(text)
    try:
        with StagedOutputs() as stage:
            stage.write(json_path, json.dumps(report, indent=2) + "\n")
            stage.write(md_path, text)
            stage.fill(png_path, lambda tmp: plot(rows, tmp))
    except WriteError as exc:
        return fail(exc, 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
