"""Average the weights of several checkpoints of one training run into one ``best.pth``-format file.

Checkpoint averaging (a uniform Polyak average of the weights at several epochs, as in fairseq's
``average_checkpoints``) removes much of the epoch-to-epoch noise of a short, low-learning-rate schedule: the
epochs of one run sit in one basin, and their mean lies nearer its floor than any single epoch. HoT (Li et al.,
"Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024, arXiv:2311.12028) does
not use it; this project used it for its shipped GT checkpoints (the mean of the last four epochs of stages 4
and 5, the same rule for HoT and MixSTE, from which the final stage started; see hot_pose/checkpoints/README.md).

Inputs are checkpoints written by this project's engine (``epoch_<n>.pth`` from ``--keep_epochs``,
``last.pth``, ``best.pth``): same variant, same model sizes, same keys and shapes. Floating-point tensors are
averaged in float64 and cast back; any other tensor must be identical in every file. The output holds the mean
weights, the variant and sizes, the flags of the latest epoch and ``averaged_from`` (file name and epoch of each
input), loads strictly, and ``--test --previous_dir`` scores it like any other checkpoint.

With ``--weights``, the mean is weighted, and the files may come from different runs of one model: e.g. the
interpolation between a model and its fine-tune (WiSE-FT, Wortsman et al., "Robust fine-tuning of zero-shot
models", CVPR 2022: weights ``(1 - a)·original + a·fine-tuned`` keep much of what the fine-tune gained and
of what it lost). The output then takes the flags and the epoch of the last file given.

The output is checked before anything is read (an existing file is kept unless ``--overwrite``; a folder,
/proc, /sys or an unwritable folder is refused), written to a temporary file beside it, loaded back strictly from
there, and renamed into place only when that load passed: a failed average leaves nothing.

Usage::

    python -m tools.average_checkpoints --out checkpoint/avg/best.pth checkpoint/RUN/epoch_{7,8,9,10}.pth
    python -m tools.average_checkpoints --out checkpoint/mix/best.pth --weights 0.5,0.5 ORIGINAL.pth FINE_TUNED.pth
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch

from hot_pose.models.checkpoint import CheckpointError, atomic_save
from hot_pose.utils.console import OneLineArgumentParser, fail, guarded
from hot_pose.utils.outputs import OutputError, StagedOutputs, WriteError, check_output_file, describe_write_error

_logger = logging.getLogger("tools.average_checkpoints")


def _read(path: Path) -> Dict[str, Any]:
    """An engine checkpoint (``inspect_checkpoint``); ``CheckpointError`` for a missing, unreadable or foreign file."""
    from hot_pose.models.checkpoint import inspect_checkpoint

    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    info = inspect_checkpoint(path)
    obj = info.obj
    if not info.engine:
        raise CheckpointError(f"{path} is not a checkpoint written by this project's engine (it needs the variant "
                              f"and sizes); average best.pth / last.pth / epoch_<n>.pth files of a run")
    return obj


def average_checkpoints(paths: Sequence[Path], weights: Optional[Sequence[float]] = None) -> Dict[str, Any]:
    """The mean of the weights of ``paths`` (≥ 2 engine checkpoints of one model), as a best.pth-format dict.

    Args:
        paths: the checkpoints.
        weights: one positive weight per path (normalised to sum 1), or None for a uniform mean. Without weights
            the output takes the flags of the latest epoch; with weights, those of the last path.

    Raises:
        CheckpointError: fewer than two files, an unreadable or foreign file, files of different variants,
            sizes, keys or shapes, or weights that are not one positive number per file.
    """
    if len(paths) < 2:
        raise CheckpointError(f"give at least two checkpoints to average (got {len(paths)})")
    if weights is not None:
        if len(weights) != len(paths) or not all(w > 0 and math.isfinite(w) for w in weights):
            raise CheckpointError(f"--weights needs one positive number per checkpoint ({len(paths)}), got "
                                  f"{' '.join(f'{w:g}' for w in weights)}")
        ckpts = [(_read(Path(p)), Path(p)) for p in paths]
        share = torch.tensor([w / sum(weights) for w in weights], dtype=torch.float64)
    else:
        ckpts = sorted(((_read(Path(p)), Path(p)) for p in paths), key=lambda cp: cp[0].get("epoch", 0))
        share = torch.full((len(paths),), 1.0 / len(paths), dtype=torch.float64)
    first, first_path = ckpts[0]
    for ckpt, path in ckpts[1:]:
        for field in ("variant", "model_config"):
            if ckpt.get(field) != first.get(field):
                raise CheckpointError(f"{path} and {first_path} hold different models ({field}: "
                                      f"{ckpt.get(field)!r} vs {first.get(field)!r}); average files of one run")
        if ckpt["model"].keys() != first["model"].keys():
            diff = sorted(set(ckpt["model"]) ^ set(first["model"]))
            raise CheckpointError(f"{path} and {first_path} have different weights: {', '.join(diff[:5])}")
    mean: Dict[str, torch.Tensor] = {}
    for key, ref in first["model"].items():
        tensors = [ckpt["model"][key] for ckpt, _ in ckpts]
        for (ckpt, path), tensor in zip(ckpts[1:], tensors[1:]):
            if tensor.shape != ref.shape:
                raise CheckpointError(f"{key}: shape {tuple(tensor.shape)} in {path}, {tuple(ref.shape)} in "
                                      f"{first_path}; average files of one run")
        if ref.is_floating_point():
            stacked = torch.stack([t.double() for t in tensors])
            mean[key] = torch.tensordot(share, stacked, dims=1).to(ref.dtype)
        elif all(torch.equal(t, ref) for t in tensors[1:]):
            mean[key] = ref.clone()
        else:
            raise CheckpointError(f"{key} is not floating-point and differs between the files; cannot average it")
    last = ckpts[-1][0]
    return dict(format=last["format"], variant=last["variant"], model=mean, epoch=last.get("epoch"),
                args=last.get("args", {}), model_config=last.get("model_config", {}),
                averaged_from=[dict(file=path.name, run=path.parent.name, epoch=ckpt.get("epoch"),
                                    weight=float(w)) for (ckpt, path), w in zip(ckpts, share.tolist())])


def _weights(text: str) -> List[float]:
    """``--weights`` value: "0.5,0.5" → [0.5, 0.5] (the count and signs are checked with the files)."""
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0.5,0.5, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m tools.average_checkpoints",
        description="Average the weights of several checkpoints of one run (e.g. its last epochs) into one file "
                    "that --test --previous_dir loads.")
    parser.add_argument("checkpoints", nargs="+", type=Path, help="engine checkpoints of one run "
                        "(epoch_<n>.pth from --keep_epochs, last.pth, best.pth), at least two")
    parser.add_argument("--out", type=Path, required=True, help="output file, e.g. checkpoint/avg/best.pth "
                        "(written atomically; its folder is created); an existing file is kept unless --overwrite")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--verbose", action="store_true", help="show the traceback of an unexpected error")
    parser.add_argument("--weights", type=_weights, default=None, help="comma-separated positive weights, one "
                        "per checkpoint, for a weighted mean (normalised to sum 1; the files may come from "
                        "different runs of one model, e.g. --weights 0.5,0.5 ORIGINAL FINE_TUNED); the flags come "
                        "from the last file")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status (0 written, 2 bad flags or files, 1 writing failed)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    return guarded(lambda: _run(args), verbose=args.verbose)


def _run(args: argparse.Namespace) -> int:
    from hot_pose.models.inference import load_model

    try:
        if args.out.resolve() in {Path(p).resolve() for p in args.checkpoints}:
            raise CheckpointError(f"--out {args.out} is one of the inputs; write the average to a new file")
        check_output_file(args.out, "--out", args.overwrite, example="best.pth")
        averaged = average_checkpoints(args.checkpoints, args.weights)
        with StagedOutputs() as stage:
            staged = stage.path(args.out)
            try:
                atomic_save(averaged, staged)
            except OSError as exc:
                raise WriteError(describe_write_error(exc, args.out)) from exc
            load_model(checkpoint=str(staged))  # strict load: the file is usable as written
    except (CheckpointError, OutputError) as exc:
        return fail(exc, 2)
    except WriteError as exc:
        return fail(exc, 1)
    parts: List[str] = [f"{a['run']}/{a['file']} (epoch {a['epoch']}, weight {a['weight']:.3g})"
                        for a in averaged["averaged_from"]]
    _logger.info("%s: mean of %d checkpoints of %s: %s", args.out, len(parts), averaged["variant"], ", ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
