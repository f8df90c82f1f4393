"""Fast inference for the model zoo: allocator tuning, low-precision weights, fused linears, torch.compile.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028) exists to make video pose transformers cheap; this module makes the re-implementation
cheap to *run* without touching what it computes:

* :func:`tune_allocator` stops glibc from ``mmap``-ing and page-faulting the large activation buffers on
  every forward (the single biggest fp32 cost on CPU at batch ≥ 4, see PERF_NOTES.md). It calls
  ``mallopt`` at run time, so no environment variable has to be set before the process starts;
  :data:`ALLOCATOR_ENV` is the equivalent environment for other processes.
* :func:`prepare_for_inference` returns an :class:`InferenceModel`: eval mode, no autograd, weights cast
  to bf16/fp16 if asked, on CPU every ``nn.Linear`` of a bf16 model replaced by a :class:`PackedLinear`
  (oneDNN pre-packed weight, bias and GELU fused into the matrix product), optionally ``torch.compile``.
  Its forward takes float32 input and returns a float32 :class:`~model.config.LiftOutput`.

float32 without ``compile`` computes exactly what the plain model computes (same kernels, same order).
bf16 changes outputs at the 1e-2 level of random-weight poses; its MPJPE cost must be measured with
trained weights (``python -m tools.precision_check``). DPC-kNN always clusters in float32
(``TokenPruningCluster.select``), so a low-precision model sees the same distances its features allow.

    >>> from model import build_model
    >>> from model.inference import prepare_for_inference
    >>> fast = prepare_for_inference(build_model("mixste.hot_mixste"), dtype="bf16")
    >>> pose = fast(x).pose      # x (B, 243, 17, 2) float32 → (B, 243, 17, 3) float32
"""
from __future__ import annotations

import contextlib
import copy
import ctypes
import ctypes.util
import logging
import sys
from typing import Any, Dict, Optional, Union

import torch
from torch import nn

from hot_pose.models.config import LiftOutput
from hot_pose.models.layers import Mlp

_logger = logging.getLogger(__name__)

__all__ = [
    "DTYPES",
    "ALLOCATOR_ENV",
    "resolve_dtype",
    "tune_allocator",
    "packed_linear_available",
    "PackedLinear",
    "pack_linears",
    "InferenceModel",
    "prepare_for_inference",
    "load_model",
]

#: accepted dtype names → torch dtypes
DTYPES: Dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}

#: the environment equivalent of :func:`tune_allocator`, for processes started by others (must be set
#: before the process starts: glibc reads it once): no mmap for large blocks, no trimming of the heap top
ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": "17179869184", "MALLOC_TRIM_THRESHOLD_": "17179869184"}

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_allocator_tuned = False


def resolve_dtype(dtype: Union[str, torch.dtype]) -> torch.dtype:
    """``"bf16"`` / ``"bfloat16"`` / ``torch.bfloat16`` … → the torch dtype.

    Raises:
        ValueError: an unknown name; the message lists the valid ones.
    """
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise ValueError(f"unsupported dtype {dtype}; use fp32, bf16 or fp16")
        return dtype
    try:
        return DTYPES[str(dtype).lower()]
    except KeyError:
        raise ValueError(f"unknown dtype '{dtype}'; valid: {', '.join(DTYPES)}") from None


def dtype_name(dtype: Union[str, torch.dtype]) -> str:
    """Short name (``fp32``, ``bf16``, ``fp16``) of a dtype or dtype name."""
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[resolve_dtype(dtype)]


def tune_allocator(trim_threshold: int = 2**31 - 1) -> bool:
    """Keep freed activation memory in the process instead of returning it to the OS (glibc only).

    glibc serves blocks above its mmap threshold (dynamic, at most 32 MiB) with a fresh ``mmap``, and the
    kernel zero-fills every page of it on first touch: at batch 4 a MixSTE forward page-faults ~3 M
    times. ``mallopt(M_MMAP_MAX, 0)`` makes every block come from the heap, and a large
    ``M_TRIM_THRESHOLD`` stops glibc from giving the heap top back after each forward, so the next
    forward reuses the same, already mapped pages. The cost: the process keeps its peak heap (the
    largest forward's activations) until it exits. Idempotent; affects later allocations only.

    Args:
        trim_threshold: bytes of free heap top glibc may keep before trimming (C ``int``, ≤ 2 GiB − 1).

    Returns:
        True if applied (now or before), False where there is no glibc ``mallopt`` (macOS, Windows, musl).
    """
    global _allocator_tuned
    if _allocator_tuned:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)) == 1
    _allocator_tuned = ok
    if ok:
        _logger.debug("glibc allocator tuned: no mmap for large blocks, trim threshold %d", trim_threshold)
    return ok


def cpu_native_bf16() -> Optional[bool]:
    """Whether this CPU has bf16 arithmetic instructions (x86 AVX512-BF16 or AMX-BF16, Arm BF16).

    Without them PyTorch emulates bf16 on the CPU through float32 conversions: correct, but several times
    slower than float32 (seen on AVX2-only AMD EPYC). Read from ``/proc/cpuinfo`` on Linux; macOS on Apple
    silicon reports True (M2 and later have BF16; M1's emulation is fast enough); ``None`` where unknown.
    """
    if sys.platform == "darwin":
        import platform

        return platform.machine() == "arm64"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip().lower() in ("flags", "features"):
                    flags = set(value.split())
                    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})
    except OSError:
        return None
    return None


def packed_linear_available(dtype: torch.dtype = torch.bfloat16) -> bool:
    """Whether oneDNN's fused linear (``torch.ops.mkldnn._linear_pointwise``) runs here for ``dtype`` on CPU."""
    if dtype != torch.bfloat16 or not torch.backends.mkldnn.is_available():
        return False
    try:
        lin = nn.Linear(8, 8).to(dtype)
        packed = PackedLinear(lin)
        x = torch.ones(2, 8, dtype=dtype)
        with torch.no_grad():
            return bool(torch.allclose(packed(x).float(), lin(x).float(), atol=1e-2))
    except (RuntimeError, AttributeError, NotImplementedError) as exc:
        _logger.debug("packed linear unavailable: %s", exc)
        return False


class PackedLinear(nn.Module):
    """Inference-only ``nn.Linear`` on a oneDNN pre-packed weight, bias (and optionally GELU) fused.

    ``F.linear`` on CPU first copies the broadcast bias into the output, then runs the matrix product
    on top of it; in bf16 that copy costs ~40 % of a MixSTE linear. oneDNN adds the bias (and the exact
    erf GELU of ``Mlp``) in the product's epilogue instead. Same arithmetic up to bf16 rounding order.

    Args:
        linear: the layer to pack (its weight is cast to its own dtype's packed layout; not modified).
        activation: ``None`` or ``"gelu"`` (exact erf GELU, ``nn.GELU()``'s default).
    """

    def __init__(self, linear: nn.Linear, activation: Optional[str] = None) -> None:
        super().__init__()
        if activation not in (None, "gelu"):
            raise ValueError(f"activation must be None or 'gelu', got {activation!r}")
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.activation = activation
        weight = linear.weight.detach()
        self.register_buffer("weight", torch.ops.mkldnn._reorder_linear_weight(weight, None))
        bias = None if linear.bias is None else linear.bias.detach().clone()
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., in_features) → (..., out_features)."""
        attr, algorithm = ("gelu", "none") if self.activation == "gelu" else ("none", "")
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, attr, [], algorithm)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


def pack_linears(model: nn.Module) -> int:
    """Replace, in place, every ``nn.Linear`` of a bf16 CPU model by a :class:`PackedLinear`.

    ``Mlp.fc1`` followed by an exact ``nn.GELU`` becomes one GELU-fused layer (the ``act`` becomes
    ``nn.Identity``). Only for inference: packed weights are buffers, not parameters.

    Returns:
        The number of layers replaced.
    """
    count = 0
    for module in list(model.modules()):
        if isinstance(module, Mlp) and type(module.act) is nn.GELU and module.act.approximate == "none":
            if type(module.fc1) is nn.Linear:
                module.fc1 = PackedLinear(module.fc1, activation="gelu")
                module.act = nn.Identity()
                count += 1
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is nn.Linear:
                setattr(module, name, PackedLinear(child))
                count += 1
    return count


def _compile_settings(compiled: bool):
    """Inductor settings for a compiled model: ``freezing`` (weights become constants, so inductor packs
    them for oneDNN and fuses bias/activations). Active while a call may (re)compile."""
    if not compiled:
        return contextlib.nullcontext()
    import torch._inductor.config as inductor_config

    return inductor_config.patch(freezing=True)


class InferenceModel(nn.Module):
    """A prepared model: float32 input → float32 ``LiftOutput``, under ``torch.inference_mode``.

    Attributes:
        model: the (cast, packed) network; ``runner`` is it or its compiled form.
        dtype: the compute dtype.
        packed: number of linears packed by :func:`pack_linears`.
        compiled: whether ``torch.compile`` wraps the network.
        variant_name, config: copied from the wrapped model (``hot_pose.models.profile.is_seq2frame`` reads them).
    """

    def __init__(self, model: nn.Module, dtype: torch.dtype, packed: int = 0, compiled: bool = False) -> None:
        super().__init__()
        self.model = model
        self.dtype = dtype
        self.packed = packed
        self.compiled = compiled
        self.runner = torch.compile(model, dynamic=False) if compiled else model
        self.variant_name = getattr(model, "variant_name", None)
        self.config = getattr(model, "config", None)
        self.eval()

    def train(self, mode: bool = True) -> "InferenceModel":
        """Inference only: the wrapped network stays in eval mode whatever is asked (evaluation loops
        restore the previous mode with ``train(was_training)``)."""
        self.training = False
        return self

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        tensor = next(iter(self.model.parameters()), None)
        if tensor is None:
            tensor = next(iter(self.model.buffers()))
        return tensor.device

    def forward(self, x: torch.Tensor, index: Optional[torch.Tensor] = None) -> LiftOutput:
        """x: (B, F, J, C_in) any float dtype → ``LiftOutput`` with a float32 pose.

        ``index`` is passed on (seq2frame flip pass, or replaying kept frames to compare precisions).
        """
        with torch.inference_mode(), _compile_settings(self.compiled):
            x = x.to(device=self.device, dtype=self.dtype)
            out = self.runner(x) if index is None else self.runner(x, index=index)
            if isinstance(out, torch.Tensor):
                return LiftOutput(out.float())
            return LiftOutput(out.pose.float(), out.index, out.kept, out.kept_steps)

    def extra_repr(self) -> str:
        return f"dtype={self.dtype}, packed={self.packed}, compiled={self.compiled}"


def prepare_for_inference(
    model: nn.Module,
    dtype: Union[str, torch.dtype] = "fp32",
    compile: bool = False,
    pack: bool = True,
    device: Optional[Union[str, torch.device]] = None,
    allocator: bool = True,
    inplace: bool = False,
) -> InferenceModel:
    """A copy of ``model`` ready for fast inference.

    Args:
        model: any model of the zoo (left untouched unless ``inplace``).
        dtype: compute dtype, ``fp32`` / ``bf16`` / ``fp16``. Weights are cast; DPC-kNN stays float32.
        compile: wrap in ``torch.compile`` (first call compiles: ~1 min for MixSTE on 2 CPU cores).
        pack: on CPU in bf16, fuse bias/GELU into oneDNN linears (:func:`pack_linears`); ignored elsewhere
            and with ``compile`` (inductor cannot lower the packed weights; it fuses on its own).
        device: move the model there (default: where it is).
        allocator: call :func:`tune_allocator` (CPU only; process-wide, see its docstring).
        inplace: modify ``model`` itself instead of a deep copy (saves memory for large models).

    Returns:
        :class:`InferenceModel`.
    """
    torch_dtype = resolve_dtype(dtype)
    net = model if inplace else copy.deepcopy(model)
    net = net.eval()
    if device is not None:
        net = net.to(device)
    for p in net.parameters():
        p.requires_grad_(False)
    if torch_dtype != torch.float32:
        net = net.to(torch_dtype)
    on_cpu = all(p.device.type == "cpu" for p in net.parameters())
    if allocator and on_cpu:
        tune_allocator()
    packed = 0
    if pack and on_cpu and not compile and packed_linear_available(torch_dtype):
        packed = pack_linears(net)
    for attr in ("variant_name", "config"):
        if hasattr(model, attr):
            setattr(net, attr, getattr(model, attr))
    _logger.debug("prepared %s: dtype %s, %d packed linears, compile %s", type(model).__name__, torch_dtype,
                  packed, compile)
    return InferenceModel(net, torch_dtype, packed=packed, compiled=compile)


def load_model(name: Optional[str] = None, checkpoint: Optional[str] = None, **overrides: Any) -> nn.Module:
    """Build a variant and load its weights strictly.

    The variant and its sizes follow the one rule of ``hot_pose.models.checkpoint.CheckpointInfo.resolve``: ``name`` and
    ``overrides``, else what the checkpoint records, else the variant's defaults. Without ``checkpoint`` the
    weights are random (a warning is logged).

    Raises:
        ValueError: no variant name anywhere, or a checkpoint for another variant than ``name``.
        hot_pose.models.checkpoint.CheckpointError: unreadable or mismatching checkpoint (missing file included).
    """
    from hot_pose.models import build_model

    if checkpoint is None:
        if name is None:
            raise ValueError("give a model name or a checkpoint")
        _logger.warning("no checkpoint: %s has RANDOM weights", name)
        return build_model(name, **overrides)
    from hot_pose.models.checkpoint import CheckpointError, inspect_checkpoint, load_weights

    info = inspect_checkpoint(checkpoint)  # CheckpointError: missing, unreadable or unsafe file
    try:
        name, sizes = info.resolve(name, **overrides)  # given > checkpoint > variant defaults
    except CheckpointError as exc:
        raise ValueError(str(exc)) from None
    model = build_model(name, sizes)
    load_weights(model, info)
    return model
