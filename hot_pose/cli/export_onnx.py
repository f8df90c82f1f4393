"""``hot-export-onnx`` / ``python -m hot_pose.cli.export_onnx``: export a seq2seq model of the zoo to ONNX and verify it.

HoT: Li et al., CVPR 2024 (arXiv:2311.12028); what the graph holds and how it is verified: ``hot_pose.export.onnx``.

    hot-export-onnx --model mixste.hot_mixste --checkpoint checkpoint/run/best.pth -o hot_mixste.onnx
    hot-export-onnx --model motionbert.hot_motionbert --frames 27 --channel 64 -o small.onnx

Nothing is left half-written: ``--output`` and ``--report`` are checked before the model is built, the graph is
written to a temporary file beside the destination, verified from that file, and renamed into place only when the
verification passed; a failed export, verification or write leaves nothing.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence, Tuple

import torch
from torch import nn

from hot_pose.cli import model_name_type
from hot_pose.export.onnx import ExportError, check_exportable, opset_range, seq2seq_models, verify_onnx, write_graph
from hot_pose.models import available_models
from hot_pose.utils.console import (
    OneLineArgumentParser,
    console_prog,
    fail,
    finite_float,
    guarded,
    int_at_least,
    join_negative_values,
    list_models_command,
)
from hot_pose.utils.outputs import OutputError, StagedOutputs, WriteError, check_output_file

_logger = logging.getLogger(__name__)


_SIZE_FLAGS = ("frames", "channel", "d_hid", "token_num", "layer_index", "depth", "n_joints", "in_channels")


#: H2OT's choices (strings)
_STRATEGY_FLAGS = ("prune_schedule", "prune_strategy", "recover_strategy")


def build_parser() -> argparse.ArgumentParser:
    """The ``hot-export-onnx`` argument parser."""
    low, high = opset_range()
    p = OneLineArgumentParser(prog=console_prog("hot_pose.cli.export_onnx", "hot-export-onnx"),
                              description="Export a seq2seq model of the zoo to ONNX, HoT's data-dependent token pruning included, and verify it.")
    p.add_argument("--model", required=True, type=model_name_type(available_models, list_models_command, " (the seq2seq ones are exported)"), metavar="NAME",
                   help="variant to export, one of the seq2seq variants: " + ", ".join(seq2seq_models())
                   + " (the seq2frame ones, TPC and MHFormer, score one frame per clip and are not exported)")
    p.add_argument("--checkpoint", default=None, help="weights .pth (default: random weights, with a warning)")
    p.add_argument("--output", "-o", default=None, help="output .onnx file (default <variant>.onnx in the current "
                   "folder); written atomically once verified; an existing file is kept unless --overwrite")
    p.add_argument("--report", default=None, metavar="PATH", help="also write the export and verification "
                   "results as JSON to PATH (atomically, with the .onnx file)")
    p.add_argument("--overwrite", action="store_true", help="replace --output / --report if they exist")
    p.add_argument("--opset", type=int_at_least(low, high, " (the opsets this torch exports the models to)"),
                   default=17, help=f"ONNX opset, {low}..{high} with the installed torch (default 17)")
    p.add_argument("--tie-break", choices=["frozen", "none"], default="frozen",
                   help="DPC-kNN tie-break noise: frozen table identical to PyTorch (default) or none")
    p.add_argument("--no-verify", dest="verify", action="store_false", help="skip the onnxruntime check")
    p.add_argument("--atol", type=finite_float(0.0), default=1e-4,
                   help="largest pose difference accepted, >= 0 (default 1e-4)")
    p.add_argument("--verbose", action="store_true", help="show the exporter's own output and the traceback of an "
                   "unexpected error")
    g = p.add_argument_group("sizes (default: the checkpoint's, else the variant's README configuration)")
    for flag in _SIZE_FLAGS:
        g.add_argument(f"--{flag}", type=int_at_least(0 if flag == "layer_index" else 1), default=None,
                       help=f"override {flag}")
    g.add_argument("--prune_schedule", default=None, metavar="BLOCK:KEPT,...", help="H2OT pruning steps, e.g. 3:81,5:40")
    g.add_argument("--prune_strategy", choices=("cluster", "sample", "motion"), default=None, help="how frames are picked")
    g.add_argument("--recover_strategy", choices=("attention", "interpolation"), default=None,
                   help="how the full length is recovered")
    return p


def _load(args: argparse.Namespace) -> nn.Module:
    from hot_pose.models.checkpoint import CheckpointError
    from hot_pose.models.inference import load_model

    overrides = {k: getattr(args, k) for k in _SIZE_FLAGS + _STRATEGY_FLAGS if getattr(args, k) is not None}
    try:
        return load_model(args.model, args.checkpoint, **overrides)
    except CheckpointError as exc:
        raise OutputError(str(exc)) from exc  # a bad input file: exit status 2 like the other flag errors


def _check_flags(args: argparse.Namespace) -> Tuple[Path, Optional[Path]]:
    """Everything that needs no model: the variant, the checkpoint file, the destinations. Returns (onnx, report).

    Raises:
        OutputError: the problem and its fix (exit status 2).
    """
    if args.model not in seq2seq_models():
        raise OutputError(f"--model {args.model} is seq2frame (one scored frame per clip) and is not exported; "
                          f"export one of: {', '.join(seq2seq_models())}")
    if args.checkpoint is not None:
        ckpt = Path(args.checkpoint)
        if ckpt.is_dir():
            raise OutputError(f"--checkpoint {ckpt} is a folder; give the weights file, e.g. {ckpt / 'best.pth'}")
        if not ckpt.is_file():
            raise OutputError(f"--checkpoint {ckpt} not found; give a .pth file written by training")
    out = check_output_file(args.output or f"{args.model.split('.')[-1]}.onnx", "--output", args.overwrite,
                            example=f"{args.model.split('.')[-1]}.onnx")
    report = None
    if args.report:
        report = check_output_file(args.report, "--report", args.overwrite, example="export.json")
        if report.resolve() == out.resolve():
            raise OutputError(f"--report {args.report} is the --output file; give the report another name")
    if args.checkpoint is not None and Path(args.checkpoint).resolve() in {out.resolve(), report and report.resolve()}:
        raise OutputError(f"--checkpoint {args.checkpoint} would be overwritten by the export; write elsewhere")
    return out, report


def _run(args: argparse.Namespace) -> int:
    try:
        out, report_path = _check_flags(args)
        model = _load(args)
    except (OutputError, ValueError) as exc:  # ValueError: sizes the variant cannot take
        return fail(exc, 2)
    try:
        check_exportable(model, args.tie_break)
        with StagedOutputs() as stage:
            info = write_graph(stage, model, out, args.opset, args.tie_break, quiet=not args.verbose)
            staged = info.pop("staged")
            _logger.info("exported %s: input %s, outputs %s (%.1f MB)", out, info["input_shape"],
                         ", ".join(info["outputs"]), info.pop("bytes") / 2**20)
            if args.verify:
                check = verify_onnx(model, staged, atol=args.atol, tie_break=args.tie_break)
                info["verification"] = check
                _logger.info("onnxruntime vs PyTorch: max |Δpose| %.2e with the same kept frames; samples keeping "
                             "the same frames: %.0f%%", check["max_abs_diff"], 100 * check["kept_agreement"])
                if not check["kept_equal"]:
                    _logger.warning("some samples kept other frames in onnxruntime: rounding-level feature "
                                    "differences flip DPC-kNN near-ties (many in untrained models); max |Δpose| "
                                    "then %.2e", check["max_abs_diff_own"])
                if not check["ok"]:
                    raise ExportError(f"verification failed: max |Δpose| {check['max_abs_diff']:.2e} > --atol "
                                      f"{args.atol:g} with the same kept frames; nothing was written (a larger "
                                      "--atol accepts it, --no-verify skips the check)")
            if report_path is not None:
                info.update(model=args.model, checkpoint=args.checkpoint, torch=torch.__version__)
                stage.write(report_path, json.dumps(info, indent=1, default=str) + "\n")
    except (ExportError, WriteError) as exc:
        return fail(exc, 1)
    _logger.info("wrote %s%s", out, f" and {report_path}" if report_path else "")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status (0 written, 1 export/verification/write failed, 2 bad
    flags or files)."""
    parser = build_parser()
    args = parser.parse_args(join_negative_values(parser, sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)  # stderr: errors only
    return guarded(lambda: _run(args), verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
