"""What low precision costs in accuracy: P1/P2 of one checkpoint in float32, bf16 autocast and fast bf16.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028). The fast bf16 path (:func:`hot_pose.models.inference.prepare_for_inference`: bf16 weights and
activations, fused oneDNN linears, DPC-kNN in float32) is ~3× faster on a CPU with native bf16; whether
it is *accurate enough* can only be measured with trained weights on real data. This tool runs the
engine's own test protocol (``hot_pose.training.evaluate.evaluate``, the same data, windows, flip augmentation and
per-action averaging as ``main_*.py --test``) once per precision on the same loaded model, and reports
P1, P2, their change against float32 and the wall time.

    python -m tools.precision_check --recipe main_mixste -- --model mixste.hot_mixste \\
        --previous_dir checkpoint/hot_mixste --root_path ../shared/data/h36m --keypoints sh_pt_mpii

Everything after ``--`` is a ``main_<recipe>.py`` command line (``--test`` is implied). Precisions:
``fp32``, ``bf16-autocast`` (the engine's ``--amp bf16``), ``bf16`` (fast path), ``fp16`` (fast path, CUDA).
Writes a JSON report with ``--report`` and the markdown table with ``--markdown``: both checked before the
evaluation (outside the project's ``benchmarks/`` an existing file is kept unless ``--overwrite``) and written
atomically, together.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hot_pose.utils.console import OneLineArgumentParser, fail, guarded
from hot_pose.utils.outputs import OutputError, StagedOutputs, WriteError, check_output_file, in_tracked_dir

_logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16-autocast", "bf16", "fp16")


def _recipes() -> Dict[str, Any]:
    from hot_pose.training import recipes

    return {r.name: r for r in (recipes.MIXSTE, recipes.MIXSTE_TPC, recipes.MHFORMER, recipes.MHFORMER_TPC)}


def evaluate_precisions(engine_argv: Sequence[str], recipe_name: str = "main_mixste",
                        precisions: Sequence[str] = ("fp32", "bf16-autocast", "bf16")) -> Dict[str, Any]:
    """Evaluate one model (``main_<recipe>.py --test`` flags) once per precision.

    Returns:
        dict with ``rows`` (precision, p1, p2, delta_p1, delta_p2 vs the first precision, seconds,
        n_windows), ``model``, ``weights``, ``protocol``.
    """
    import hot_pose.models as zoo
    from hot_pose.models.inference import prepare_for_inference
    from hot_pose.training.arguments import parse_args
    from hot_pose.training.engine import build, eval_kwargs, load_data, protocol, resolve_joints, resolve_run, setup
    from hot_pose.training.evaluate import evaluate

    recipe = _recipes()[recipe_name]
    argv = list(engine_argv) + ([] if "--test" in engine_argv else ["--test"])
    ctx = setup(resolve_run(parse_args(argv, **recipe.defaults), zoo), recipe)
    ctx.data = load_data(ctx)
    ctx.cfg = resolve_joints(ctx.cfg, ctx.data["data"].num_joints, zoo)
    net = build(ctx, zoo)
    if ctx.weights is None:
        _logger.warning("no --previous_dir/--checkpoint_file: RANDOM weights, the P1 numbers mean nothing")
    kwargs = eval_kwargs(ctx)
    rows: List[Dict[str, Any]] = []
    for precision in precisions:
        amp, runner = "none", net
        if precision == "bf16-autocast":
            amp = "bf16"
        elif precision in ("bf16", "fp16"):
            runner = prepare_for_inference(net, precision, device=ctx.device)
        start = time.perf_counter()
        result = evaluate(runner, ctx.data["test"], ctx.device, **{**kwargs, "amp": amp})
        rows.append(dict(precision=precision, p1=result.p1, p2=result.p2, n_windows=result.n_windows,
                         seconds=time.perf_counter() - start))
        _logger.info("%-14s P1 %.3f mm  P2 %.3f mm  (%.1f s)", precision, result.p1, result.p2, rows[-1]["seconds"])
    for row in rows:
        row["delta_p1"] = row["p1"] - rows[0]["p1"]
        row["delta_p2"] = row["p2"] - rows[0]["p2"]
    return dict(rows=rows, model=ctx.cfg.model, weights=str(ctx.weights) if ctx.weights else None,
                trained=ctx.weights is not None, protocol=protocol(ctx))


def markdown(report: Dict[str, Any]) -> str:
    """The report as a markdown table."""
    lines = [f"Model `{report['model']}`, weights {report['weights'] or 'RANDOM (not meaningful)'}.", "",
             "| Precision | P1 (mm) | P2 (mm) | ΔP1 vs first | ΔP2 vs first | windows | seconds |",
             "|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        lines.append(f"| {r['precision']} | {r['p1']:.2f} | {r['p2']:.2f} | {r['delta_p1']:+.3f} | "
                     f"{r['delta_p2']:+.3f} | {r['n_windows']} | {r['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m tools.precision_check`` argument parser (its own flags; the engine's follow ``--``)."""
    p = OneLineArgumentParser(prog="python -m tools.precision_check", description=__doc__.split("\n\n")[0],
                                usage="%(prog)s [options] -- <main_*.py flags>")
    p.add_argument("--recipe", default="main_mixste", choices=sorted(_recipes()),
                   help="which main_*.py recipe the flags after -- belong to (default main_mixste)")
    p.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=["fp32", "bf16-autocast", "bf16"],
                   help="precisions to evaluate; deltas are against the first (default fp32 bf16-autocast bf16)")
    p.add_argument("--report", default=None, help="also write the results as JSON to this file")
    p.add_argument("--markdown", default=None, help="also write the table to this markdown file (e.g. "
                   "benchmarks/precision_cpu.md, a README block of tools.update_readme)")
    p.add_argument("--overwrite", action="store_true", help="replace --report / --markdown if they exist (files in "
                   "the project's benchmarks/ are regenerated without it)")
    p.add_argument("--verbose", action="store_true", help="show the traceback of an unexpected error")
    return p


def _destination(path: Optional[str], flag: str, overwrite: bool, example: str) -> Optional[Path]:
    if not path:
        return None
    return check_output_file(path, flag, overwrite or in_tracked_dir(path), example)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status (0 done, 2 bad flags, files or destination, 1 failed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    own, engine_argv = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    args = build_parser().parse_args(own)
    return guarded(lambda: _run(args, engine_argv), verbose=args.verbose)


def _run(args: argparse.Namespace, engine_argv: List[str]) -> int:
    from hot_pose.training.engine import USER_ERRORS  # the engine sets up logging itself

    try:
        report_path = _destination(args.report, "--report", args.overwrite, "precision.json")
        md_path = _destination(args.markdown, "--markdown", args.overwrite, "precision.md")
        if report_path is not None and md_path is not None and report_path.resolve() == md_path.resolve():
            raise OutputError("--report and --markdown name the same file; give them different names")
        report = evaluate_precisions(engine_argv, args.recipe, args.precisions)
    except OutputError as exc:
        return fail(exc, 2)
    except USER_ERRORS as exc:
        return fail(exc, 2)
    text = markdown(report)
    sys.stdout.write(text)
    try:
        with StagedOutputs() as stage:
            if report_path is not None:
                stage.write(report_path, json.dumps(report, indent=1, default=str))
            if md_path is not None:
                stage.write(md_path, text)
    except WriteError as exc:
        return fail(exc, 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
