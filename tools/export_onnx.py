"""Export a seq2seq model of the zoo to ONNX, HoT's data-dependent token pruning included, and verify it.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028) prunes frames by DPC-kNN clustering inside the network. The exported graph keeps that
step (``cdist`` as a matrix product, ``TopK``, sort, ``GatherElements``), so an ONNX runtime keeps the same
frames PyTorch keeps.

The clustering adds a tiny uniform tie-break noise (× 1e-6) drawn from a seeded CPU generator on every
call; a traced graph cannot hold a generator. ``--tie-break frozen`` (default) stores the (1, F) noise row
the generator would draw (:func:`model.hot.freeze_tie_break_noise`; one row shared by every clip), which
keeps results identical to PyTorch for any batch size; ``--tie-break none`` uses zero noise
(no table; exact ties then go to the lower frame index, differences from PyTorch only on exact ties).

    python -m tools.export_onnx --model mixste.hot_mixste --checkpoint checkpoint/run/best.pth -o hot_mixste.onnx
    python -m tools.export_onnx --model motionbert.hot_motionbert --frames 27 --channel 64 -o small.onnx

The graph's input is ``keypoints_2d`` (B, F, J, C_in) float32 (B dynamic), its outputs ``pose``
(B, F, J, 3) and, for HoT models, ``kept`` (B, f) int64. Verification runs onnxruntime against PyTorch on
random input (batch 1 and 2 by default) and fails above ``--atol`` (1e-4).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from common.arguments import OneLineArgumentParser
from model import available_models, prunes
from model.hot import TokenPruningCluster, freeze_tie_break_noise, pruning_steps
from model.profile import is_seq2frame

_logger = logging.getLogger(__name__)

__all__ = ["ExportError", "export_onnx", "verify_onnx", "main"]

_SIZE_FLAGS = ("frames", "channel", "d_hid", "token_num", "layer_index", "depth", "n_joints", "in_channels")
#: H2OT's choices (strings)
_STRATEGY_FLAGS = ("prune_schedule", "prune_strategy", "recover_strategy")


class ExportError(RuntimeError):
    """A user-facing export problem (unsupported model, failed verification, missing package)."""


class _Exportable(nn.Module):
    """Unpacks ``LiftOutput`` into plain tensors: ``pose`` and, when TPC ran, the kept frames of every pruning step
    (``kept_0``, ... of a pyramid's earlier steps, then ``kept``, the last step's)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        out = self.model(x)
        return out.pose if out.kept is None else (out.pose, *out.kept_steps)


def _output_names(model: nn.Module) -> List[str]:
    steps = len(pruning_steps(getattr(model, "prune", None), getattr(model, "layer_index", 0))) if prunes(model) else 0
    return ["pose"] + [f"kept_{i}" for i in range(steps - 1)] + (["kept"] if steps else [])


@contextmanager
def _tie_break(model: nn.Module, mode: str) -> Iterator[None]:
    """Inside the block, TPC modules draw their tie-break noise from a table: the seeded draw
    (``"frozen"``, identical to the default) or zeros (``"none"``)."""
    if not prunes(model):
        yield
        return
    freeze_tie_break_noise(model, model.config.frames)
    modules = [m for m in model.modules() if isinstance(m, TokenPruningCluster)]
    previous = [m.exact_distance for m in modules]
    for m in modules:
        m.exact_distance = True
        if mode == "none":
            m.tie_break_noise = torch.zeros_like(m.tie_break_noise)
    try:
        yield
    finally:
        freeze_tie_break_noise(model, 0)
        for m, exact in zip(modules, previous):
            m.exact_distance = exact


def export_onnx(
    model: nn.Module,
    path: str | Path,
    opset: int = 17,
    tie_break: str = "frozen",
) -> Dict[str, Any]:
    """Trace ``model`` (eval, float32, CPU) to an ONNX file with a dynamic batch axis.

    Args:
        model: a seq2seq model of the zoo (``model.config`` gives the input shape).
        path: the ``.onnx`` file to write.
        opset: ONNX opset.
        tie_break: ``"frozen"`` (identical to PyTorch) or ``"none"`` (zero noise), see the module docstring.

    Returns:
        dict with ``path``, ``inputs``, ``outputs``, ``input_shape``, ``opset``, ``tie_break``.

    Raises:
        ExportError: a seq2frame model, or an unknown ``tie_break``.
    """
    if is_seq2frame(model):
        raise ExportError(f"{getattr(model, 'variant_name', type(model).__name__)} is seq2frame; "
                          "ONNX export covers the seq2seq variants (mixste, hot_mixste, motionbert, ...)")
    if tie_break not in ("frozen", "none"):
        raise ExportError(f"tie_break must be 'frozen' or 'none', got {tie_break!r}")
    cfg = model.config
    model = model.eval().float().cpu()
    shape = (1, cfg.frames, cfg.n_joints, cfg.in_channels)
    outputs = _output_names(model)
    dynamic = {"keypoints_2d": {0: "batch"}, **{name: {0: "batch"} for name in outputs}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad(), _tie_break(model, tie_break):
        warnings.simplefilter("ignore")  # tracer warnings on static shape checks (F, J, C are fixed)
        # an eval-mode wrapper: the exporter restores the wrapper's mode afterwards, recursively
        torch.onnx.export(_Exportable(model).eval(), (torch.zeros(shape),), str(path), dynamo=False,
                          input_names=["keypoints_2d"], output_names=outputs, dynamic_axes=dynamic,
                          opset_version=opset)
    return dict(path=str(path), inputs=["keypoints_2d"], outputs=outputs, input_shape=["batch", *shape[1:]],
                opset=opset, tie_break=tie_break)


def verify_onnx(model: nn.Module, path: str | Path, batches: Sequence[int] = (1, 2), atol: float = 1e-4,
                seed: int = 0, tie_break: str = "frozen",
                providers: Sequence[str] = ("CPUExecutionProvider",)) -> Dict[str, Any]:
    """Run the ONNX file with onnxruntime and PyTorch on the same random input.

    Two checks. (1) The kept frames: equal when both see the same features, but DPC-kNN is a discrete
    choice, so rounding-level differences of the features (a different matrix-product order in
    onnxruntime) can flip near-ties; untrained models, whose frame features are nearly alike, have many.
    (2) The poses with the frames onnxruntime kept replayed in PyTorch (``index=``): everything but the
    choice itself, which must agree within ``atol``.

    ``tie_break`` must be the export's: with ``"none"`` PyTorch runs with zero tie-break noise too.
    ``providers``: onnxruntime execution providers, in preference order (e.g. ``CUDAExecutionProvider``).

    Returns:
        dict with ``max_abs_diff`` (pose, ONNX kept frames replayed in PyTorch), ``max_abs_diff_own``
        (pose, each choosing its own frames), ``kept_equal`` (all samples kept the same frames),
        ``kept_agreement`` (share of samples that did) and per-batch results; ``ok`` when ``max_abs_diff``
        ≤ ``atol``.

    Raises:
        ExportError: onnxruntime is not installed.
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ExportError("verification needs onnxruntime: pip install onnxruntime") from exc
    cfg = model.config
    session = ort.InferenceSession(str(path), providers=list(providers))
    gen = torch.Generator().manual_seed(seed)
    results: List[Dict[str, Any]] = []
    model = model.eval().float().cpu()
    for b in batches:
        x = torch.rand((b, cfg.frames, cfg.n_joints, cfg.in_channels), generator=gen) * 2 - 1
        got = session.run(None, {"keypoints_2d": x.numpy()})
        with torch.no_grad(), _tie_break(model, tie_break):
            ref = model(x)
            steps = [torch.from_numpy(g) for g in got[1:]]  # every step's kept frames, in order
            replayed = ref if ref.kept is None else model(x, index=steps if len(steps) > 1 else steps[0])
        same = np.ones(b, bool) if ref.kept is None else (got[-1] == ref.kept.numpy()).all(axis=1)
        results.append(dict(batch=b, max_abs_diff=float(np.abs(got[0] - replayed.pose.numpy()).max()),
                            max_abs_diff_own=float(np.abs(got[0] - ref.pose.numpy()).max()),
                            kept_equal=bool(same.all()), kept_agreement=float(same.mean())))
    worst = max(r["max_abs_diff"] for r in results)
    agreement = float(np.mean([r["kept_agreement"] for r in results]))
    return dict(ok=worst <= atol, max_abs_diff=worst, max_abs_diff_own=max(r["max_abs_diff_own"] for r in results),
                kept_equal=all(r["kept_equal"] for r in results), kept_agreement=agreement, atol=atol,
                batches=results)


def seq2seq_models() -> list:
    """The variants of the zoo that predict every frame of their window (their module has no ``SEQ2FRAME``)."""
    return [n for n in available_models() if not getattr(importlib.import_module(f"model.{n}"), "SEQ2FRAME", False)]


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m tools.export_onnx`` argument parser."""
    p = OneLineArgumentParser(prog="python -m tools.export_onnx", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, choices=available_models(), metavar="NAME",
                   help="variant to export, one of the seq2seq variants: " + ", ".join(seq2seq_models())
                   + " (the seq2frame ones, TPC and MHFormer, score one frame per clip and are not exported)")
    p.add_argument("--checkpoint", default=None, help="weights .pth (default: random weights, with a warning)")
    p.add_argument("--output", "-o", default=None, help="output .onnx file (default <model>.onnx)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--tie-break", choices=["frozen", "none"], default="frozen",
                   help="DPC-kNN tie-break noise: frozen table identical to PyTorch (default) or none")
    p.add_argument("--no-verify", dest="verify", action="store_false", help="skip the onnxruntime check")
    p.add_argument("--atol", type=float, default=1e-4, help="largest pose difference accepted (default 1e-4)")
    g = p.add_argument_group("sizes (default: the checkpoint's, else the variant's README configuration)")
    for flag in _SIZE_FLAGS:
        g.add_argument(f"--{flag}", type=int, default=None, help=f"override {flag}")
    g.add_argument("--prune_schedule", default=None, metavar="BLOCK:KEPT,...", help="H2OT pruning steps, e.g. 3:81,5:40")
    g.add_argument("--prune_strategy", choices=("cluster", "sample", "motion"), default=None, help="how frames are picked")
    g.add_argument("--recover_strategy", choices=("attention", "interpolation"), default=None,
                   help="how the full length is recovered")
    return p


def _load(args: argparse.Namespace) -> nn.Module:
    from common.checkpoint import CheckpointError
    from model.inference import load_model

    overrides = {k: getattr(args, k) for k in _SIZE_FLAGS + _STRATEGY_FLAGS if getattr(args, k) is not None}
    try:
        return load_model(args.model, args.checkpoint, **overrides)
    except CheckpointError as exc:
        raise ExportError(str(exc)) from exc


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        model = _load(args)
        out = args.output or f"{args.model.split('.')[-1]}.onnx"
        info = export_onnx(model, out, opset=args.opset, tie_break=args.tie_break)
        _logger.info("wrote %s: input %s, outputs %s", info["path"], info["input_shape"], ", ".join(info["outputs"]))
        if args.verify:
            check = verify_onnx(model, out, atol=args.atol, tie_break=args.tie_break)
            _logger.info("onnxruntime vs PyTorch: max |Δpose| %.2e with the same kept frames; samples keeping the "
                         "same frames: %.0f%%", check["max_abs_diff"], 100 * check["kept_agreement"])
            if not check["kept_equal"]:
                _logger.warning("some samples kept other frames in onnxruntime: rounding-level feature differences "
                                "flip DPC-kNN near-ties (many in untrained models); max |Δpose| then %.2e",
                                check["max_abs_diff_own"])
            if not check["ok"]:
                raise ExportError(f"verification failed: max |Δpose| {check['max_abs_diff']:.2e} > {args.atol} "
                                  "with the same kept frames")
    except (ExportError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
