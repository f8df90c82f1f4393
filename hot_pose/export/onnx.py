"""Export a seq2seq model of the zoo to ONNX, HoT's data-dependent token pruning included, and verify it.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028) prunes frames by DPC-kNN clustering inside the network. The exported graph keeps that
step (``cdist`` as a matrix product, ``TopK``, sort, ``GatherElements``), so an ONNX runtime keeps the same
frames PyTorch keeps.

The clustering adds a tiny uniform tie-break noise (× 1e-6) drawn from a seeded CPU generator on every
call; a traced graph cannot hold a generator. ``--tie-break frozen`` (default) stores the (1, F) noise row
the generator would draw (:func:`hot_pose.models.hot.freeze_tie_break_noise`; one row shared by every clip), which
keeps results identical to PyTorch for any batch size; ``--tie-break none`` uses zero noise
(no table; exact ties then go to the lower frame index, differences from PyTorch only on exact ties).

    hot-export-onnx --model mixste.hot_mixste --checkpoint checkpoint/run/best.pth -o hot_mixste.onnx
    hot-export-onnx --model motionbert.hot_motionbert --frames 27 --channel 64 -o small.onnx

The graph's input is ``keypoints_2d`` (B, F, J, C_in) float32 (B dynamic), its outputs ``pose``
(B, F, J, 3) and, for HoT models, ``kept`` (B, f) int64. Verification runs onnxruntime against PyTorch on
random input (batch 1 and 2 by default) and fails above ``--atol`` (1e-4).

Nothing is left half-written: ``--output`` and ``--report`` are checked before the model is built (an existing file
is kept unless ``--overwrite``; a folder, /proc, /sys or an unwritable folder is refused), the graph is written to
a temporary file beside the destination, verified from that file, and renamed into place only when the
verification passed (``hot_pose.utils.outputs.StagedOutputs``); a failed export, verification or write leaves nothing.
"""
from __future__ import annotations

import importlib
import io
import logging
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from hot_pose.models import available_models, prunes
from hot_pose.models.hot import TokenPruningCluster, freeze_tie_break_noise, pruning_steps
from hot_pose.models.profile import is_seq2frame
from hot_pose.utils.console import native_stderr_to
from hot_pose.utils.outputs import StagedOutputs

_logger = logging.getLogger(__name__)

__all__ = ["ExportError", "export_onnx", "verify_onnx", "opset_range", "seq2seq_models", "check_exportable", "write_graph"]


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


#: the lowest opset the zoo exports to: attention is ``scaled_dot_product_attention``, exported from opset 14 on
MIN_MODEL_OPSET = 14


def opset_range() -> Tuple[int, int]:
    """The ONNX opsets this export accepts: from ``MIN_MODEL_OPSET`` (the attention's) to the highest the
    installed ``torch.onnx`` TorchScript exporter writes (``dynamo=False``)."""
    try:
        from torch.onnx import _constants as constants

        low = int(getattr(constants, "ONNX_MIN_OPSET", 7))
        high = int(getattr(constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", getattr(constants, "ONNX_MAX_OPSET", 17)))
    except ImportError:  # a torch without the private constants: the opsets every recent torch exports
        low, high = 7, 17
    return max(low, MIN_MODEL_OPSET), high


def check_exportable(model: nn.Module, tie_break: str) -> None:
    """Raise ``ExportError`` for a model the exporter cannot take (seq2frame) or an unknown tie-break mode."""
    if is_seq2frame(model):
        raise ExportError(f"{getattr(model, 'variant_name', type(model).__name__)} is seq2frame; "
                          "ONNX export covers the seq2seq variants (mixste, hot_mixste, motionbert, ...)")
    if tie_break not in ("frozen", "none"):
        raise ExportError(f"tie_break must be 'frozen' or 'none', got {tie_break!r}")


def _trace(model: nn.Module, opset: int, tie_break: str, quiet: bool = True) -> Tuple[bytes, Dict[str, Any]]:
    """Trace ``model`` into ONNX bytes (in memory: the file is written by the caller, with the system's own error
    for a full disk); ``quiet`` hides what the exporter prints on file descriptor 2."""
    cfg = model.config
    model = model.eval().float().cpu()
    shape = (1, cfg.frames, cfg.n_joints, cfg.in_channels)
    outputs = _output_names(model)
    dynamic = {"keypoints_2d": {0: "batch"}, **{name: {0: "batch"} for name in outputs}}
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="hot_onnx_log_") as scratch:
        sink = Path(scratch) / "stderr.txt" if quiet else None
        try:
            with warnings.catch_warnings(), torch.no_grad(), _tie_break(model, tie_break), native_stderr_to(sink):
                warnings.simplefilter("ignore")  # tracer warnings on static shape checks (F, J, C are fixed)
                # an eval-mode wrapper: the exporter restores the wrapper's mode afterwards, recursively
                torch.onnx.export(_Exportable(model).eval(), (torch.zeros(shape),), buffer, dynamo=False,
                                  input_names=["keypoints_2d"], output_names=outputs, dynamic_axes=dynamic,
                                  opset_version=opset)
        except (RuntimeError, ValueError) as exc:  # torch.onnx.OnnxExporterError is a RuntimeError
            text = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            raise ExportError(f"torch.onnx could not export {getattr(model, 'variant_name', 'the model')} at opset "
                              f"{opset}: {text}") from exc
    return buffer.getvalue(), dict(inputs=["keypoints_2d"], outputs=outputs, input_shape=["batch", *shape[1:]],
                                   opset=opset, tie_break=tie_break)


def export_onnx(
    model: nn.Module,
    path: str | Path,
    opset: int = 17,
    tie_break: str = "frozen",
    check: Optional[Callable[[Path], Any]] = None,
) -> Dict[str, Any]:
    """Trace ``model`` (eval, float32, CPU) to an ONNX file with a dynamic batch axis, atomically.

    The graph is written to a temporary file in ``path``'s folder (created if missing), ``check`` (if given) runs
    on that file, and the file is renamed over ``path`` only when both succeeded; on any failure ``path`` is left
    as it was and no temporary file remains.

    Args:
        model: a seq2seq model of the zoo (``hot_pose.models.config`` gives the input shape).
        path: the ``.onnx`` file to write.
        opset: ONNX opset (``opset_range()``).
        tie_break: ``"frozen"`` (identical to PyTorch) or ``"none"`` (zero noise), see the module docstring.
        check: called with the temporary file's path before it is moved into place; raise to refuse it.

    Returns:
        dict with ``path``, ``inputs``, ``outputs``, ``input_shape``, ``opset``, ``tie_break`` and, with ``check``,
        ``check`` (what it returned).

    Raises:
        ExportError: a seq2frame model, an unknown ``tie_break``, an opset out of ``opset_range()`` or an operator
            the exporter cannot write.
        hot_pose.utils.outputs.WriteError: the file could not be written (e.g. a full disk).
    """
    check_exportable(model, tie_break)
    low, high = opset_range()
    if not low <= opset <= high:
        raise ExportError(f"opset {opset} is outside {low}..{high}, the opsets this torch exports these models to")
    path = Path(path)
    with StagedOutputs() as stage:
        info = write_graph(stage, model, path, opset, tie_break)
        if check is not None:
            info["check"] = check(Path(info.pop("staged")))
        info.pop("staged", None)
    return info


def write_graph(stage: StagedOutputs, model: nn.Module, path: Path, opset: int, tie_break: str,
                 quiet: bool = True) -> Dict[str, Any]:
    """Trace, then write the graph to a staged temporary file for ``path`` (``staged`` in the result)."""
    data, info = _trace(model, opset, tie_break, quiet=quiet)
    tmp = stage.write(path, data)
    return dict(path=str(path), staged=str(tmp), bytes=len(data), **info)


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
    try:
        session = ort.InferenceSession(str(path), providers=list(providers))
    except Exception as exc:  # onnxruntime's own exception types (Fail, InvalidGraph, ...)
        text = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ExportError(f"onnxruntime cannot load the exported graph: {text}") from exc
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
    return [n for n in available_models() if not getattr(importlib.import_module(f"hot_pose.models.{n}"), "SEQ2FRAME", False)]
