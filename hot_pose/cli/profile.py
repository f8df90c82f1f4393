"""``hot-profile`` / ``python -m hot_pose.cli.profile``: parameters and FLOPs of the model zoo, no data needed.

HoT: Li et al., CVPR 2024 (arXiv:2311.12028); what is counted and how: ``hot_pose.models.profile``.

    hot-profile --model mixste.hot_mixste
    hot-profile --all --markdown
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Optional, Sequence

import torch

from hot_pose.cli import model_name_type
from hot_pose.models import available_models
from hot_pose.models.profile import markdown_table, profile_variant, text_line
from hot_pose.utils.console import OneLineArgumentParser, console_prog, int_at_least, list_models_command

_logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
_SIZE_FLAGS = ("frames", "channel", "d_hid", "token_num", "layer_index", "n_joints", "out_joints", "in_channels",
               "prune_schedule", "prune_strategy", "recover_strategy")


def _prog() -> str:

    return console_prog("hot_pose.cli.profile", "hot-profile")


def build_parser() -> argparse.ArgumentParser:
    """The ``hot-profile`` (``python -m hot_pose.cli.profile``) argument parser."""

    parser = OneLineArgumentParser(
        prog=_prog(),
        description="Parameters and FLOPs per clip (batch 1) of the HoT model zoo, counted on the meta device.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", type=model_name_type(available_models, list_models_command), metavar="NAME",
                       help="variant to profile, <family>.<variant>: " + ", ".join(available_models()))
    which.add_argument("--all", action="store_true", help="profile every variant at its README configuration")
    which.add_argument("--list", action="store_true", help="list the variants' names, one per line, and exit")
    positive = int_at_least(1)
    sizes = parser.add_argument_group("sizes (default: the variant's README configuration)")
    sizes.add_argument("--frames", type=positive, help="input frames T")
    sizes.add_argument("--channel", type=positive, help="embedding width C")
    sizes.add_argument("--d_hid", type=positive, help="MLP hidden width (MixSTE baseline, MHFormer)")
    sizes.add_argument("--token_num", type=positive, help="frames kept by TPC, f")
    sizes.add_argument("--layer_index", type=int_at_least(0), help="block before which TPC prunes, n")
    sizes.add_argument("--prune_schedule", metavar="BLOCK:KEPT,...", help="H2OT pruning steps, e.g. 3:81,5:40")
    sizes.add_argument("--prune_strategy", choices=("cluster", "sample", "motion"), help="how frames are picked")
    sizes.add_argument("--recover_strategy", choices=("attention", "interpolation"), help="how frames come back")
    sizes.add_argument("--n_joints", type=positive, help="input joints")
    sizes.add_argument("--out_joints", type=positive, help="output joints (default: --n_joints)")
    sizes.add_argument("--in_channels", type=positive, help="input channels per joint (2 = x, y; 3 adds confidence)")
    out = parser.add_argument_group("output")
    out.add_argument("--markdown", action="store_true", help="print a markdown table (the README's)")
    out.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH (atomically; an existing "
                     "file is kept unless --overwrite)")
    out.add_argument("--overwrite", action="store_true", help="replace the --json file if it exists")
    out.add_argument("--device", default="meta", help="device to count on: meta (default: instant, no memory), cpu "
                     "or cuda[:N]")
    out.add_argument("--verbose", action="store_true", help="show the traceback of an unexpected error")
    return parser


def _check_device(device: str) -> None:
    """``meta``, ``cpu`` or an available ``cuda[:N]``; raises ``ValueError`` naming the choices."""
    kind, _, index = device.partition(":")
    if kind in ("meta", "cpu") and not index:
        return
    if kind == "cuda" and (not index or index.isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: this torch sees no CUDA device; use --device meta or cpu")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(f"--device {device}: there are {torch.cuda.device_count()} CUDA device(s)")
        return
    raise ValueError(f"--device {device} is not a device; use meta (default), cpu or cuda[:N]")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status (0 done, 2 bad flags or output, 1 failed)."""
    from hot_pose.utils.console import guarded

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return guarded(lambda: _run(args), verbose=args.verbose)


def _run(args: argparse.Namespace) -> int:
    from hot_pose.utils.console import fail
    from hot_pose.utils.outputs import OutputError, WriteError, atomic_write, check_output_file

    if args.list:
        sys.stdout.write("\n".join(available_models()) + "\n")
        return 0
    try:
        _check_device(args.device)
        json_path = check_output_file(args.json, "--json", args.overwrite, "profile.json") if args.json else None
    except (OutputError, ValueError) as exc:
        return fail(exc, 2)
    overrides = {k: getattr(args, k) for k in _SIZE_FLAGS if getattr(args, k) is not None}
    names = available_models() if args.all else [args.model]
    results = []
    for name in names:
        try:
            results.append(profile_variant(name, overrides, device=args.device))
        except ModuleNotFoundError as exc:
            if not args.all:
                return fail(f"model '{name}' is not available in this checkout ({exc})", 1)
            _logger.warning("skipping %s: not available in this checkout (%s)", name, exc)
        except ValueError as exc:
            return fail(f"{name}: {exc}", 2)
    sys.stdout.write((markdown_table(results) if args.markdown else "\n".join(map(text_line, results))) + "\n")
    if json_path is not None:
        try:
            atomic_write(json_path, json.dumps(results if args.all else results[0], indent=1) + "\n")
        except WriteError as exc:
            return fail(exc, 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
