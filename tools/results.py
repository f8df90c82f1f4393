"""Results of the project's trained checkpoints: accuracy, cost, speed, and the FLOPs-vs-MPJPE plot.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028) claims −39.6 % FLOPs for +0.1 mm P1 on MixSTE. This tool measures the same comparison for the
checkpoints shipped in ``hot_pose/checkpoints/``:

1. ``--evaluate``: runs the project's own ``--test`` (``hot_pose.training.engine.run``, the code behind ``main_mixste.py``)
   on S9+S11, all 4 cameras, flip TTA, for every checkpoint and 2-D source, writing
   ``benchmarks/results/<name>_<keypoints>.json``; without it the existing JSON reports are read;
2. params and FLOPs (thop-compatible and full, ``hot_pose.models.profile``) of each checkpoint's configuration;
3. CPU inference throughput (fp32, eager, batch ``--batch``), every model timed in the same process in
   alternation (A B A B …), median of ``--repeats`` rounds;
4. writes ``benchmarks/results.json`` and the markdown blocks ``results_summary``, ``results_comparison``,
   ``results_actions`` that ``python -m tools.update_readme`` puts into README.md, and the plot
   ``benchmarks/flops_mpjpe.png``.

Nothing is written without ``--write`` (the outputs are tracked files): ``python -m tools.results`` prints the
tables, ``python -m tools.results --evaluate --write`` re-measures everything and updates ``benchmarks/``. With
``--write`` the destinations are checked first (in a ``--out-dir`` other than the project's ``benchmarks/``, existing
files are kept unless ``--overwrite``) and the tables, ``results.json`` and the plot are written atomically, together.

Usage: ``python -m tools.results [--evaluate] [--write] [--root_path dataset/]``.
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

import torch

from hot_pose.data.h36m import ACTIONS
from hot_pose.utils.console import OneLineArgumentParser, fail, guarded, int_at_least
from hot_pose.utils.outputs import OutputError, StagedOutputs, WriteError, check_outputs_in

ROOT = Path(__file__).resolve().parents[1]

_logger = logging.getLogger("tools.results")

#: the shipped checkpoints, in table order: (folder name under hot_pose/checkpoints, role)
SHIPPED = (
    ("hot_mixste_27_gt", "HoT w. MixSTE, GT 2-D"),
    ("hot_mixste_27_n11_gt", "HoT w. MixSTE, 11 frames kept, GT 2-D"),
    ("mixste_27_gt", "MixSTE (same size), GT 2-D"),
    ("hot_mixste_27_wild", "HoT w. MixSTE, in the wild (the previous demo default)"),
    ("hot_mixste_27_wild_vc", "HoT w. MixSTE, in the wild with virtual cameras (demo default)"),
)
#: the pairs compared against the paper's claim (HoT, its same-size baseline): ``comparisons`` in results.json
PAIRS = (("hot_mixste_27_gt", "mixste_27_gt"), ("hot_mixste_27_n11_gt", "mixste_27_gt"))
#: 2-D sources every checkpoint is tested on
KEYPOINTS = ("gt", "sh_pt_mpii")
#: short names of the 2-D sources in the tables
_SOURCE = {"gt": "GT", "sh_pt_mpii": "SH"}
#: HoT w. MixSTE vs MixSTE in the paper (Table 5 / Fig. 1, 243 frames, CPN 2-D): FLOPs and P1 change
PAPER = {"flops_change_pct": -39.6, "p1_change_mm": 0.1}


def report_path(out_dir: Path, name: str, keypoints: str) -> Path:
    return out_dir / "results" / f"{name}_{keypoints}.json"


def evaluate_checkpoint(ckpt_dir: Path, keypoints: str, root_path: str, report: Path, batch_size: int) -> None:
    """Run ``main_mixste.py --test`` in this process for one checkpoint and 2-D source."""
    import hot_pose.models as model
    from hot_pose.training.arguments import parse_args
    from hot_pose.training.engine import run
    from hot_pose.training.recipes import MIXSTE

    argv = ["--test", "--previous_dir", str(ckpt_dir), "--keypoints", keypoints, "--root_path", root_path,
            "--report", str(report), "--batch_size", str(batch_size), "--no_progress"]
    _logger.info("python main_mixste.py %s", " ".join(argv))
    run(parse_args(argv, **MIXSTE.defaults), MIXSTE, model)


def load_model(ckpt_dir: Path):
    """The checkpoint's model (eval mode, CPU, ``hot_pose.models.inference.load_model``) and its metadata."""
    from hot_pose.models.checkpoint import read_checkpoint
    from hot_pose.models.inference import load_model as load

    path = ckpt_dir / "best.pth"
    meta = read_checkpoint(path)
    return load(checkpoint=str(path)).eval(), meta


def training_summary(meta: Dict[str, Any]) -> str:
    """How a checkpoint was trained, from its stored flags: epochs × share of the windows per epoch, the 2-D
    source (and noise), the epochs averaged (``tools.average_checkpoints``) and the run it was fine-tuned from.
    E.g. ``5 × 40 % GT, from hot_mixste_27_gt2`` (``meta['epoch']`` is the epoch best.pth was saved at, the
    latest averaged one for an average), ``5 × 40 % GT, mean of epochs 2–5, from hot_mixste_27_gt4_avg`` or, for
    ``--ema`` weights, ``5 × 40 % GT, weight EMA 0.9998, from hot_mixste_27_gt5_avg``."""
    args = meta.get("args", {})
    source = _SOURCE.get(args.get("keypoints"), args.get("keypoints"))
    text = f"{meta['epoch']} × {args.get('epoch_fraction', 1.0) * 100:.0f} % {source}"
    if args.get("noise_2d"):
        text += f" + noise {args['noise_2d']:g}"
    if args.get("virtual_cameras"):
        text += f" + {args['virtual_cameras'] * 100:.0f} % virtual cameras"
    if args.get("ema"):
        text += f", weight EMA {args['ema']:g}"
    averaged = meta.get("averaged_from", [])
    weights = {round(float(a.get("weight", 1.0 / len(averaged))), 6) for a in averaged}
    # a weighted mean or one across runs (tools.average_checkpoints --weights)
    if averaged and (len({a.get("run") for a in averaged}) > 1 or len(weights) > 1):
        start = args.get("previous_dir") or args.get("checkpoint_file")
        text += f", from {Path(start).name}" if start else ""
        return text + "; weights " + " + ".join(f"{a['weight']:.2g} × {a['run']}/{a['file']}" for a in averaged)
    epochs = sorted(a["epoch"] for a in averaged)
    if epochs:
        span = epochs == list(range(epochs[0], epochs[-1] + 1))
        text += ", mean of epochs " + (f"{epochs[0]}–{epochs[-1]}" if span else ", ".join(map(str, epochs)))
    start = args.get("previous_dir") or args.get("checkpoint_file")
    if start and args.get("previous_dir") and args.get("checkpoint_file"):  # an epoch other than best.pth
        return text + f", from {Path(start).name}/{Path(args['checkpoint_file']).name}"
    return text + (f", from {Path(start).name}" if start else "")


def profile(net: torch.nn.Module) -> Dict[str, Any]:
    from hot_pose.models.profile import profile_model

    cfg = net.config
    return profile_model(net, (1, cfg.frames, cfg.n_joints, cfg.in_channels), device="meta")


@torch.inference_mode()
def throughput(nets: Dict[str, torch.nn.Module], batch: int, repeats: int, threads: Optional[int]) -> Dict[str, Any]:
    """Output frames/s of every model, timed in alternation in this process (median over ``repeats``)."""
    if threads:
        torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    inputs = {n: torch.rand(batch, m.config.frames, m.config.n_joints, m.config.in_channels, generator=gen)
              for n, m in nets.items()}
    for n, m in nets.items():  # warm-up
        m(inputs[n])
    times: Dict[str, List[float]] = {n: [] for n in nets}
    for _ in range(repeats):
        for n, m in nets.items():
            start = time.perf_counter()
            m(inputs[n])
            times[n].append(time.perf_counter() - start)
    out = {}
    for n, t in times.items():
        med = statistics.median(t)
        out[n] = {"median_s": med, "frames_per_s": batch * nets[n].config.frames / med, "times_s": t}
    return out


def _fmt(v: Optional[float], digits: int = 1) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def summary_md(rows: List[Dict[str, Any]], env: Dict[str, Any]) -> str:
    lines = ["| checkpoint | model | frames / kept | params | FLOPs/clip (thop) | FLOPs/clip (full) | "
             "P1 / P2 GT 2-D (mm) | P1 / P2 SH 2-D (mm) | CPU frames/s | training (epochs × windows) | size |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cfg = r["config"]
        kept = cfg.get("token_num") if r["prunes"] else cfg["frames"]
        gt, sh = r["eval"].get("gt"), r["eval"].get("sh_pt_mpii")
        lines.append(
            f"| `{r['name']}` | {r['variant']} | {cfg['frames']} / {kept} | {r['params'] / 1e6:.3f} M | "
            f"{r['flops_thop'] / 1e9:.3f} G | {r['flops'] / 1e9:.3f} G | "
            f"{_fmt(gt and gt['p1'], 2)} / {_fmt(gt and gt['p2'], 2)} | "
            f"{_fmt(sh and sh['p1'], 2)} / {_fmt(sh and sh['p2'], 2)} | {r['frames_per_s']:.0f} | "
            f"{r['training']} | {r['size_mb']:.2f} MB |")
    lines += ["", f"S9+S11, all 4 cameras, flip TTA, seq2seq windows of the model's length (stride = frames), "
              f"every frame scored; P2 per window. SH 2-D: Stacked-Hourglass detections (16 joints; the 17-joint "
              f"models get the Neck/Nose placed on the thorax-head segment and are scored on the other 16). "
              f"Throughput: fp32 eager, batch {env['batch']}, {env['threads']} threads, {env['cpu']}, median of "
              f"{env['repeats']} alternated rounds. Training: the checkpoint's own run (epochs × share of the "
              f"training windows per epoch, 2-D source) and the run it started from (every stage in "
              f"hot_pose/checkpoints/README.md). Measured {env['date']} with `{env['command']}`."]
    return "\n".join(lines) + "\n"


def comparison_md(cmps: List[Dict[str, Any]]) -> str:
    """One table: the baseline(s), each HoT against its baseline, the paper's claim."""
    def pct(v: float) -> str:
        return f"{v:+.1f} %"

    lines = ["| | P1 GT (mm) | P1 change | FLOPs (thop) change | full FLOPs change | CPU speed-up |",
             "|---|---|---|---|---|---|"]
    for base in dict.fromkeys(c["baseline"] for c in cmps):
        p1 = next(c["p1_baseline"] for c in cmps if c["baseline"] == base)
        lines.append(f"| MixSTE (`{base}`) | {p1:.2f} | | | | 1.00× |")
    for cmp in cmps:
        lines.append(f"| HoT w. MixSTE (`{cmp['hot']}`) | {cmp['p1_hot']:.2f} | {cmp['p1_change_mm']:+.2f} mm "
                     f"({pct(cmp['p1_change_pct'])}) | {pct(cmp['flops_thop_change_pct'])} | "
                     f"{pct(cmp['flops_change_pct'])} | {cmp['speedup']:.2f}× |")
    lines.append(f"| paper (MixSTE, 243 frames, CPN 2-D) | | +{PAPER['p1_change_mm']:.1f} mm | "
                 f"{PAPER['flops_change_pct']:.1f} % | | |")
    return "\n".join(lines) + "\n"


def actions_md(rows: List[Dict[str, Any]]) -> str:
    cols = [(r["name"], kp) for r in rows for kp in KEYPOINTS if r["eval"].get(kp)]
    head = "| action | " + " | ".join(f"`{n}` {('GT' if kp == 'gt' else 'SH')}" for n, kp in cols) + " |"
    lines = [head, "|---|" + "---|" * len(cols)]
    by = {(r["name"], kp): r["eval"][kp] for r in rows for kp in KEYPOINTS if r["eval"].get(kp)}
    for action in list(ACTIONS) + ["Average"]:
        cells = []
        for key in cols:
            res = by[key]
            item = res if action == "Average" else res["per_action"].get(action)
            cells.append("–" if item is None else f"{item['p1']:.1f} / {item['p2']:.1f}")
        name = f"**{action}**" if action == "Average" else action
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "P1 / P2 in mm per action (unweighted mean over actions in the last row). S9 Discussion 1 has no "
              "3-D ground truth in the data and is skipped (as are S5 Discussion 2/3, S7 Discussion and S7 "
              "SittingDown 1 in training)."]
    return "\n".join(lines) + "\n"


def plot(rows: List[Dict[str, Any]], path: Path) -> None:
    """The FLOPs-vs-MPJPE figure as a PNG file at ``path`` (written in place: ``main`` gives a staged file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    placed: List[tuple] = []
    try:
        for r in rows:
            gt = r["eval"].get("gt")
            if not gt:
                continue
            x = r["flops_thop"] / r["config"]["frames"] / 1e6
            colour = "tab:red" if r["prunes"] else "tab:blue"
            ax.scatter([x], [gt["p1"]], s=60 + r["params"] / 5e3, color=colour, zorder=3,
                       marker="*" if r["prunes"] else "o")
            crowded = any(abs(px - x) < 1.0 and abs(py - gt["p1"]) < 3 for px, py in placed)  # label below
            ax.annotate(r["name"], (x, gt["p1"]), textcoords="offset points", xytext=(6, -12 if crowded else 6),
                        fontsize=8)
            placed.append((x, gt["p1"]))
        by = {r["name"]: r for r in rows}
        for hot, base in _pairs(by):
            ax.annotate("", xy=(hot["flops_thop"] / hot["config"]["frames"] / 1e6, hot["eval"]["gt"]["p1"]),
                        xytext=(base["flops_thop"] / base["config"]["frames"] / 1e6, base["eval"]["gt"]["p1"]),
                        arrowprops=dict(arrowstyle="->", color="gray"))
        ax.set_xlabel("MFLOPs per output frame (thop-compatible)")
        ax.set_ylabel("MPJPE P1 on S9+S11, GT 2-D (mm)")
        ax.set_title("Project checkpoints: cost vs. accuracy (Human3.6M)")
        ax.grid(alpha=0.3)
        ax.margins(x=0.25, y=0.25)
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)


def _pairs(by: Dict[str, Dict[str, Any]]) -> Iterator[tuple]:
    """(hot row, baseline row) of each pair in PAIRS whose two checkpoints are shipped and tested on GT 2-D."""
    for pair in PAIRS:
        rows = [by.get(n) for n in pair]
        if all(r and r["eval"].get("gt") for r in rows):
            yield tuple(rows)


def build_parser() -> argparse.ArgumentParser:
    positive = int_at_least(1)
    p = OneLineArgumentParser(prog="python -m tools.results", description=__doc__.splitlines()[0],
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--evaluate", action="store_true", help="run --test for every checkpoint and 2-D source first "
                   "(~2-4 min each on 2 CPU cores); otherwise read the existing JSON reports")
    p.add_argument("--root_path", default="dataset/", help="folder with the Human3.6M npz files")
    p.add_argument("--shipped", type=Path, default=ROOT / "hot_pose" / "checkpoints", help="checkpoint folders")
    p.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks", help="where the reports go")
    p.add_argument("--batch", type=positive, default=4, help="batch size of the throughput measurement")
    p.add_argument("--repeats", type=positive, default=15, help="alternated timing rounds")
    p.add_argument("--threads", type=positive, default=None, help="torch threads for timing (None: torch's choice)")
    p.add_argument("--eval-batch", type=positive, default=64, help="batch size of --evaluate")
    p.add_argument("--write", action="store_true", help="write the JSON reports, the markdown tables, results.json "
                   "and the plot into --out-dir (tracked files under benchmarks/ by default); without it the tables "
                   "are only printed and nothing is written (--evaluate then reports into a temporary folder)")
    p.add_argument("--overwrite", action="store_true", help="with --write, replace existing files in an --out-dir "
                   "other than the project's benchmarks/ (whose tables are always regenerated)")
    p.add_argument("--verbose", action="store_true", help="show the traceback of an unexpected error")
    return p


#: the files ``--write`` puts into ``--out-dir`` (``results_comparison.md`` only when a pair was tested)
WRITTEN = ("results_summary.md", "results_actions.md", "results_comparison.md", "results.json", "flops_mpjpe.png")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status (0 done, 2 bad flags or destination, 1 failed)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    return guarded(lambda: _run(args, argv), verbose=args.verbose)


def _run(args: argparse.Namespace, argv: Optional[Sequence[str]]) -> int:
    if not args.shipped.is_dir():
        return fail(f"--shipped {args.shipped} is not a folder of checkpoint folders (default hot_pose/checkpoints)", 2)
    names = [n for n, _ in SHIPPED if (args.shipped / n / "best.pth").is_file()]
    if not names:
        return fail(f"no shipped checkpoints in {args.shipped}", 2)
    if args.write:
        written = list(WRITTEN)
        if args.evaluate:
            written += [str(report_path(Path(), n, kp)) for n in names for kp in KEYPOINTS]
        try:
            check_outputs_in(args.out_dir, written, "--out-dir", args.overwrite)
        except OutputError as exc:
            return fail(exc, 2)
    with tempfile.TemporaryDirectory(prefix="hot_results_") as scratch:
        reports = args.out_dir if args.write else Path(scratch)
        if args.evaluate:
            from hot_pose.training.engine import USER_ERRORS

            try:
                for name in names:
                    for kp in KEYPOINTS:
                        evaluate_checkpoint(args.shipped / name, kp, args.root_path, report_path(reports, name, kp),
                                            args.eval_batch)
            except USER_ERRORS as exc:  # flags, checkpoints or data the engine refused
                return fail(exc, 2)
        elif not args.write:
            reports = args.out_dir  # read the existing reports, write nothing
        try:
            return _tables(args, argv, names, reports)
        except WriteError as exc:
            return fail(exc, 1)


def _tables(args: argparse.Namespace, argv: Optional[Sequence[str]], names: List[str], reports: Path) -> int:
    """Profile and time the checkpoints, build the tables from the reports in ``reports``; write them with
    ``--write``."""
    nets, rows = {}, []
    for name in names:
        net, meta = load_model(args.shipped / name)
        nets[name] = net
        prof = profile(net)
        evals = {}
        for kp in KEYPOINTS:
            path = report_path(reports, name, kp)
            if path.is_file():
                evals[kp] = json.loads(path.read_text())["results"]
        rows.append(dict(name=name, role=dict(SHIPPED)[name], variant=meta["variant"], config=meta["model_config"],
                         prunes=meta["variant"].split(".")[-1].startswith(("hot", "tpc")),
                         params=prof["params"], flops=prof["flops"], flops_thop=prof["flops_thop"],
                         epochs=meta["epoch"], training=training_summary(meta),
                         size_mb=(args.shipped / name / "best.pth").stat().st_size / 2**20,
                         eval=evals))
    speed = throughput(nets, args.batch, args.repeats, args.threads)
    for r in rows:
        r["frames_per_s"] = speed[r["name"]]["frames_per_s"]
    from hot_pose.utils.system import cpu_name

    env = dict(date=date.today().isoformat(), cpu=cpu_name(), threads=torch.get_num_threads(), batch=args.batch,
               repeats=args.repeats, torch=torch.__version__, python=platform.python_version(),
               command="python -m tools.results" + (" " + " ".join(argv) if argv else ""))
    report: Dict[str, Any] = {"environment": env, "models": rows, "throughput": speed}
    by = {r["name"]: r for r in rows}
    blocks = {"results_summary": summary_md(rows, env), "results_actions": actions_md(rows)}
    cmps = []
    for hot, base in _pairs(by):
        p1h, p1b = hot["eval"]["gt"]["p1"], base["eval"]["gt"]["p1"]
        cmps.append(dict(hot=hot["name"], baseline=base["name"], p1_hot=p1h, p1_baseline=p1b, p1_change_mm=p1h - p1b,
                         p1_change_pct=100 * (p1h - p1b) / p1b,
                         flops_thop_change_pct=100 * (hot["flops_thop"] / base["flops_thop"] - 1),
                         flops_change_pct=100 * (hot["flops"] / base["flops"] - 1),
                         speedup=hot["frames_per_s"] / base["frames_per_s"], paper=PAPER))
    if cmps:
        report["comparisons"] = cmps
        blocks["results_comparison"] = comparison_md(cmps)
    print("".join(blocks.values()))
    if not args.write:
        _logger.info("nothing written: pass --write to update %s (then python -m tools.update_readme)", args.out_dir)
        return 0
    with StagedOutputs() as stage:
        for block, text in blocks.items():
            stage.write(args.out_dir / f"{block}.md", text)
        stage.write(args.out_dir / "results.json", json.dumps(report, indent=2) + "\n")
        stage.fill(args.out_dir / "flops_mpjpe.png", lambda tmp: plot(rows, tmp))
    _logger.info("wrote the tables, results.json and flops_mpjpe.png into %s", args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
