"""Parameter and FLOP counts of the model zoo, as the paper reports them and as the code really costs.

Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation",
CVPR 2024 (arXiv:2311.12028) reports FLOPs as 2 × the multiply-accumulates that ``thop.profile``
counts for one clip (batch 1), with LayerNorm not counted. This module gives, per clip:

* ``params``: every parameter;
* ``params_thop``: thop's count: only parameters of modules of the layer types thop hooks (Linear,
  LayerNorm, Conv, BatchNorm, …) that ran; directly-owned ``nn.Parameter``s (positional embeddings,
  ``x_token``, ``pos_embed_token``) are not included;
* ``flops_thop``: 2 × the MACs of those layers, by thop 0.1.1's formulas, LayerNorm = 0 (the paper's
  numbers); ``flops_thop_ln`` counts LayerNorm too (what thop 0.1.1 prints by default). Attention
  matrix products, softmax and the DPC-kNN clustering are not counted;
* ``flops``: ``torch.utils.flop_counter.FlopCounterMode`` (matrix products incl. attention, convolutions);
* ``*_per_frame``: per scored output frame; seq2frame models score one frame per clip.

Two rules reproduce the reference's thop numbers where this code is leaner: TPC's joint mean counts as
the reference's ``AdaptiveAvgPool1d``, and TRA's query projection counts once per key sequence as the
reference computes it (our ``CrossAttention`` projects the shared queries once and broadcasts, which
``flops`` shows). Counting runs on the ``meta`` device: no memory, no arithmetic, instant.

    hot-profile --model mixste.hot_mixste
    hot-profile --all --markdown
    hot-profile --list                # the variants' names

``--json PATH`` also writes the results (atomically; an existing file is kept unless ``--overwrite``).
"""
from __future__ import annotations

import copy
import importlib
import logging
import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from hot_pose.models import ModelConfig, build_model
from hot_pose.models.hot import TokenPruningCluster
from hot_pose.models.layers import CrossAttention

_logger = logging.getLogger(__name__)

__all__ = ["profile_model", "profile_variant", "build_on_device", "thop_counts", "count_flops", "is_seq2frame"]

# ---------------------------------------------------------------------------------------------
# thop 0.1.1 counting rules: MACs of one call, from the module, its inputs and its output
# ---------------------------------------------------------------------------------------------
MacRule = Callable[[nn.Module, Tuple[Any, ...], Any], float]


def _zero(m: nn.Module, inputs: Tuple[Any, ...], y: Any) -> float:
    return 0.0


def _linear(m: nn.Linear, inputs: Tuple[Any, ...], y: torch.Tensor) -> float:
    return m.in_features * y.numel()  # bias not counted


def _conv(m: nn.modules.conv._ConvNd, inputs: Tuple[Any, ...], y: torch.Tensor) -> float:
    return y.numel() * (inputs[0].shape[1] // m.groups) * math.prod(m.weight.shape[2:])


def _norm(m: nn.Module, inputs: Tuple[Any, ...], y: torch.Tensor) -> float:
    affine = getattr(m, "affine", False) or getattr(m, "elementwise_affine", False)
    return 2 * inputs[0].numel() * (2 if affine else 1)


def _prelu(m: nn.PReLU, inputs: Tuple[Any, ...], y: torch.Tensor) -> float:
    return inputs[0].numel()


def _softmax(m: nn.Softmax, inputs: Tuple[Any, ...], y: torch.Tensor) -> float:
    n = inputs[0].shape[m.dim]
    return inputs[0].numel() // n * (3 * n - 1)  # exp, add, div per feature


def _avgpool(m: nn.Module, inputs: Tuple[Any, ...], y: torch.Tensor) -> float:
    return y.numel()


def _adaptive_avgpool(m: nn.Module, inputs: Tuple[Any, ...], y: torch.Tensor) -> float:
    kernel = math.prod(a / b for a, b in zip(inputs[0].shape[2:], y.shape[2:]))
    return int((kernel + 1) * y.numel())


#: ops per output element by interpolation mode (thop counts other modes as zero)
_UPSAMPLE_OPS = {"nearest": 1, "linear": 5, "bilinear": 11, "bicubic": 259}


def _upsample(m: nn.Upsample, inputs: Tuple[Any, ...], y: torch.Tensor) -> float:
    return y.numel() * _UPSAMPLE_OPS.get(m.mode, 0)


def _tpc_pool(m: TokenPruningCluster, inputs: Tuple[Any, ...], y: Any) -> float:
    """The reference pools joints with AdaptiveAvgPool1d (B, F·C, J) → (B, F·C, 1) before clustering."""
    x = inputs[0]
    clustered = len(inputs) < 2 or inputs[1] is None
    if x.ndim != 4 or not clustered:
        return 0.0
    b, f, j, c = x.shape
    return (j + 1) * b * f * c


#: (rule, whether thop counts the module's parameters); matched on the exact type, as thop does
THOP_RULES: Dict[type, Tuple[MacRule, bool]] = {
    nn.Linear: (_linear, True),
    nn.LayerNorm: (_norm, True),  # hooked (params); its MACs are left out of the paper's numbers
    nn.Softmax: (_softmax, True),
    nn.PReLU: (_prelu, True),
    **{t: (_upsample, True) for t in (nn.Upsample, nn.UpsamplingBilinear2d, nn.UpsamplingNearest2d)},
    TokenPruningCluster: (_tpc_pool, False),
    **{t: (_conv, True) for t in (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                                  nn.ConvTranspose3d)},
    **{t: (_norm, True) for t in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm,
                                  nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)},
    **{t: (_avgpool, True) for t in (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)},
    **{t: (_adaptive_avgpool, True) for t in (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)},
    **{t: (_zero, True) for t in (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Dropout, nn.ZeroPad2d, nn.PixelShuffle,
                                  nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d,
                                  nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.Sequential)},
}


def thop_counts(model: nn.Module, x: torch.Tensor, count_layernorm: bool = False) -> Tuple[float, int]:
    """thop-compatible MACs and parameters of one forward of ``model`` on ``x``.

    Args:
        model: any module; run once in eval mode under ``no_grad``.
        x: its input.
        count_layernorm: count LayerNorm as thop 0.1.1 does by default (2·numel, ×2 if affine).

    Returns:
        (MACs, thop-style parameter count).
    """
    macs, macs_ln, params = _thop_totals(model, x)
    return (macs_ln if count_layernorm else macs), params


def _thop_totals(model: nn.Module, x: torch.Tensor) -> Tuple[float, float, int]:
    """(MACs without LayerNorm, MACs with LayerNorm, thop-style params) from one forward."""
    macs: Dict[nn.Module, float] = {}
    ran: set = set()
    query_factor: Dict[nn.Module, int] = {}
    handles = []

    def hook(m: nn.Module, inputs: Tuple[Any, ...], y: Any) -> None:
        rule = _norm if type(m) is nn.LayerNorm else THOP_RULES[type(m)][0]
        macs[m] = macs.get(m, 0.0) + rule(m, inputs, y) * query_factor.get(m, 1)
        ran.add(m)

    def cross_attention_pre(m: CrossAttention, inputs: Tuple[Any, ...]) -> None:
        # the reference projects the (broadcast) queries once per key sequence
        query_factor[m.linear_q] = max(1, inputs[1].shape[0] // inputs[0].shape[0])

    for m in model.modules():
        if type(m) in THOP_RULES:
            handles.append(m.register_forward_hook(hook))
        if isinstance(m, CrossAttention):
            handles.append(m.register_forward_pre_hook(cross_attention_pre))
    training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(training)
        for h in handles:
            h.remove()

    def walk(module: nn.Module) -> Tuple[float, float, int]:
        """thop's dfs_count: a hooked child reports its own totals, anything else is walked into."""
        ops, ops_ln, params = 0.0, 0.0, 0
        for child in module.children():
            if type(child) in THOP_RULES and not isinstance(child, (nn.Sequential, nn.ModuleList)):
                ops_ln += macs.get(child, 0.0)
                ops += 0.0 if type(child) is nn.LayerNorm else macs.get(child, 0.0)
                if child in ran and THOP_RULES[type(child)][1]:
                    params += sum(p.numel() for p in child.parameters())
            else:
                sub = walk(child)
                ops, ops_ln, params = ops + sub[0], ops_ln + sub[1], params + sub[2]
        return ops, ops_ln, params

    ops, ops_ln, params = walk(model)
    root = macs.get(model, 0.0)  # a bare hooked layer profiled on its own
    return ops + (0.0 if type(model) is nn.LayerNorm else root), ops_ln + root, params


def count_flops(model: nn.Module, x: torch.Tensor) -> Tuple[int, Any]:
    """FLOPs of one forward by ``FlopCounterMode`` (eval, ``no_grad``, math attention); also returns the output."""
    training = model.training
    try:
        model.eval()
        # the math SDPA backend on every device: fused CPU kernels are invisible to FlopCounterMode
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            out = model(x)
    finally:
        model.train(training)
    return counter.get_total_flops(), out


def is_seq2frame(model: nn.Module) -> bool:
    """Whether the model's evaluation scores one (centre) frame per clip: its variant module's
    ``SEQ2FRAME`` attribute (set by ``build_model``'s ``variant_name``), else False."""
    name = getattr(model, "variant_name", None)
    if name is None:
        return False
    module = importlib.import_module(f"hot_pose.models.{name}")
    return bool(getattr(module, "SEQ2FRAME", False))


def _on_device(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` if it already lives on ``device``, else a moved copy (the caller's model is untouched)."""
    tensors = list(model.parameters()) + list(model.buffers())
    if all(t.device == device for t in tensors):
        return model
    return copy.deepcopy(model).to(device)


def profile_model(
    model: nn.Module,
    x_shape: Sequence[int],
    device: str = "meta",
    seq2frame: Optional[bool] = None,
) -> Dict[str, Any]:
    """Parameters and FLOPs of ``model`` for one input of shape ``x_shape``.

    Args:
        model: a model of the zoo (or any module taking one tensor).
        x_shape: input shape (B, F, J, C_in); counts are divided by B, so they are per clip.
        device: where to run; ``"meta"`` costs no memory or arithmetic. A model on another device is
            copied there. If the forward cannot run on ``meta``, it is repeated on the CPU.
        seq2frame: whether one frame per clip is scored; ``None`` asks :func:`is_seq2frame`.

    Returns:
        dict with ``params``, ``params_thop``, ``flops``, ``flops_thop``, ``flops_thop_ln`` (per clip),
        ``flops_per_frame``, ``flops_thop_per_frame`` (per scored output frame), ``scored_frames``,
        ``seq2frame``, ``input_shape``, ``output_shape``, ``device``.
    """
    dev = torch.device(device)
    try:
        net = _on_device(model, dev)
        x = torch.rand(tuple(x_shape), device=dev)
        flops, out = count_flops(net, x)
        macs, macs_ln, params_thop = _thop_totals(net, x)
    except (NotImplementedError, RuntimeError) as exc:
        if dev.type != "meta":
            raise
        _logger.warning("cannot count on the meta device (%s); counting on the CPU", exc)
        return profile_model(model, x_shape, device="cpu", seq2frame=seq2frame)
    pose = out[0] if isinstance(out, tuple) else out
    batch = x_shape[0]
    seq2frame = is_seq2frame(model) if seq2frame is None else seq2frame
    scored = 1 if seq2frame else pose.shape[1]
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "params_thop": params_thop,
        "flops": flops / batch,
        "flops_thop": 2 * macs / batch,
        "flops_thop_ln": 2 * macs_ln / batch,
        "flops_per_frame": flops / batch / scored,
        "flops_thop_per_frame": 2 * macs / batch / scored,
        "scored_frames": scored,
        "seq2frame": seq2frame,
        "input_shape": list(x_shape),
        "output_shape": list(pose.shape),
        "device": str(dev),
    }



def _config_text(cfg: ModelConfig, prunes: bool) -> str:
    text = f"T {cfg.frames}, C {cfg.channel}"
    if prunes and cfg.prune_schedule and "," in cfg.prune_schedule:  # an H2OT pyramid: block:kept per step
        text += f", steps {cfg.prune_schedule}"
    elif prunes:
        text += f", f {cfg.token_num}, n {cfg.layer_index}"
    strategies = [s for s in (cfg.prune_strategy, cfg.recover_strategy) if s and s not in ("cluster", "attention")]
    return text + "".join(f", {s}" for s in strategies)


def build_on_device(name: str, device: str = "meta", **overrides: Any) -> nn.Module:
    """``build_model(name, **overrides)`` with its tensors created on ``device`` (``meta``: no memory,
    no initialisation cost); falls back to the CPU for a constructor that reads tensor values."""
    try:
        with torch.device(device):
            return build_model(name, **overrides)
    except (NotImplementedError, RuntimeError) as exc:
        _logger.debug("building %s on %s failed (%s); building on the CPU", name, device, exc)
        return build_model(name, **overrides)


def profile_variant(name: str, overrides: Dict[str, Any], device: str = "meta") -> Dict[str, Any]:
    """Build ``name`` (README config + ``overrides``) on ``device`` and profile it on one clip."""
    model = build_on_device(name, device, **overrides)
    cfg: ModelConfig = model.config
    result = profile_model(model, (1, cfg.frames, cfg.n_joints, cfg.in_channels), device=device)
    prunes = any(isinstance(m, TokenPruningCluster) for m in model.modules())
    return {"model": name, "config": _config_text(cfg, prunes), **result}


def _si(flops: float) -> str:
    """FLOPs in G from 1 G on, else in M."""
    return f"{flops / 1e9:.2f} G" if flops >= 1e9 else f"{flops / 1e6:.1f} M"


def _per_frame(r: Dict[str, Any]) -> str:
    return _si(r["flops_thop_per_frame"]) + (" (seq2frame: whole clip)" if r["seq2frame"] else "")


def text_line(r: Dict[str, Any]) -> str:
    return (
        f"{r['model']} ({r['config']}): params {r['params']:,} (thop-style {r['params_thop'] / 1e6:.3f} M), "
        f"thop-FLOPs {_si(r['flops_thop'])} (incl. LayerNorm {_si(r['flops_thop_ln'])}), "
        f"FLOPs {_si(r['flops'])} (FlopCounterMode), "
        f"thop-FLOPs per output frame {_per_frame(r)}"
    )


def markdown_table(results: List[Dict[str, Any]]) -> str:
    """The README table of ``profile_variant`` results."""
    lines = [
        (
            "| Model | Config | Output | Params | Params (thop-style) | thop-FLOPs / clip | FLOPs / clip "
            "(FlopCounterMode) | thop-FLOPs / output frame |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        shape = "(B, " + ", ".join(map(str, r["output_shape"][1:])) + ")"
        lines.append(
            f"| `{r['model']}` | {r['config']} | {shape} | {r['params']:,} | {r['params_thop'] / 1e6:.3f} M | "
            f"{_si(r['flops_thop'])} | {_si(r['flops'])} | {_per_frame(r)} |"
        )
    return "\n".join(lines)


