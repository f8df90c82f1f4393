"""Pieces shared by DSTformer (MotionBERT) and MotionAGFormer, with and without HoT.

Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028); Zhu et al., "MotionBERT: A Unified Perspective on Learning Human Motion
Representations", ICCV 2023 (arXiv:2210.06551); Mehraban et al., "MotionAGFormer: Enhancing 3D Human
Pose Estimation with a Transformer-GCNFormer Network", WACV 2024 (arXiv:2310.16288).

Both backbones keep tokens as (B, T, J, C): spatial attention runs over the J joints of each frame,
temporal attention over the T frames of each joint, two parallel streams are fused per token by
α = softmax(Linear(2C→2)([a, b])), and HoT prunes frames before one block (TPC) and recovers them
after the final LayerNorm (TRA). ``PrunableLifter`` holds that shared forward loop.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Optional

import torch
from torch import nn

from hot_pose.models.config import LiftOutput, ModelConfig, check_pose_input
from hot_pose.models.hot import PruneTrace, build_pruning, build_recovery, pruning_steps
from hot_pose.models.hot.hierarchy import schedule_of
from hot_pose.models.layers import Attention

_logger = logging.getLogger(__name__)

#: reference (official HoT) key prefixes → ours, for every ``hot_*`` model of both families
HOT_REFERENCE_KEY_MAP = {
    "pos_embed_token": "prune.pos_embed_token",
    "x_token": "recover.x_token",
    "cross_attention.": "recover.cross_attention.",
}


def attend(attn: Attention, x: torch.Tensor, over: str) -> torch.Tensor:
    """Self-attention of (B, T, J, C) tokens along one axis.

    Args:
        attn: a ``hot_pose.models.layers.Attention``.
        x: (B, T, J, C).
        over: ``"joints"`` (spatial: each frame's J joints attend to each other) or ``"frames"``
            (temporal: each joint's T frames attend to each other).

    Returns:
        (B, T, J, C).
    """
    b, t, j, c = x.shape
    if over == "joints":
        return attn(x.reshape(b * t, j, c)).reshape(b, t, j, c)  # (B·T, J, C) sequences
    seq = x.transpose(1, 2).reshape(b * j, t, c)  # (B·J, T, C) sequences
    return attn(seq).reshape(b, j, t, c).transpose(1, 2)  # (B, T, J, C)


def init_fusion(linear: nn.Linear) -> nn.Linear:
    """Adaptive-fusion init of both references: weight 0, bias 0.5 (equal weights at the start)."""
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.fill_(0.5)
    return linear


def adaptive_fusion(linear: nn.Linear, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-token convex mix of two streams: α = softmax(linear([a, b])), out = α₀·a + α₁·b.

    Args:
        linear: Linear(2C → 2).
        a, b: (..., C) stream outputs.

    Returns:
        (..., C).
    """
    alpha = linear(torch.cat([a, b], dim=-1)).softmax(dim=-1)  # (..., 2)
    return a * alpha[..., 0:1] + b * alpha[..., 1:2]


def lifter_kwargs(cfg: ModelConfig, family: str) -> dict:
    """Constructor arguments of ``DSTformer`` / ``MotionAGFormer`` for ``cfg``.

    Raises:
        ValueError: ``out_joints`` differs from ``n_joints`` (both heads predict every input joint).
    """
    if cfg.out_joints != cfg.n_joints:
        raise ValueError(f"{family} predicts every input joint; out_joints {cfg.out_joints} must equal n_joints")
    return dict(
        dim_in=cfg.in_channels,
        dim_feat=cfg.channel,
        depth=cfg.depth,
        num_heads=cfg.num_heads,
        mlp_hidden_dim=cfg.d_hid,
        num_joints=cfg.n_joints,
        num_frames=cfg.frames,
        drop_path=cfg.drop_path,
    )


def hot_modules(cfg: ModelConfig, qkv_bias: bool) -> dict:
    """HoT's modules for ``cfg``: TPC keeping ``token_num`` frames before block ``layer_index``, with a
    rank embedding ``pos_embed_token`` (1, f, C), and TRA back to ``frames`` frames; with a
    ``prune_schedule``, H2OT's pyramid of such steps; ``prune_strategy``/``recover_strategy`` choose how
    frames are picked and recovered (``hot_pose.models.hot.hierarchy``)."""
    prune, prune_at = build_pruning(schedule_of(cfg), dim=cfg.channel, strategy=cfg.prune_strategy or "cluster")
    recover = build_recovery(cfg.recover_strategy or "attention", cfg.channel, cfg.frames, cfg.num_heads, qkv_bias)
    return dict(prune=prune, prune_at=prune_at, recover=recover)


def entry_point(build: Callable[[ModelConfig], nn.Module], defaults: dict) -> Callable[[Any], nn.Module]:
    """A reference-style ``Model(args)`` for a variant: ``args`` (Namespace, dict or None) merged with ``defaults``."""

    def model(args: Any = None) -> nn.Module:
        return build(ModelConfig.resolve(args, defaults))

    model.__doc__ = f"Build with ``{build.__module__}.build`` from args (reference entry point)."
    return model


class PrunableLifter(nn.Module):
    """Forward loop shared by DSTformer and MotionAGFormer, with optional HoT modules.

    Subclasses define ``forward_embed(x) -> (B, T, J, C)``, ``forward_block(idx, x)`` for
    ``idx < depth`` and ``forward_head(x) -> (B, T, J, 3)`` (which calls ``recover_frames`` after its
    final LayerNorm). ``forward`` runs embed → blocks, calling ``prune`` (TPC) before block
    ``prune_at`` → head.

    Args:
        in_channels: input channels the embedding was built for (2 = x, y; 3 adds a confidence).
        num_joints: joints J.
        num_frames: the length T the model was built for.
        depth: number of blocks.
        prune: TPC module, or ``None`` for the plain backbone.
        prune_at: index of the block before which ``prune`` runs.
        recover: TRA module restoring T frames after the last block, or ``None``.
        exact_length: the input must have exactly ``num_frames`` frames (else at most that many).
    """

    def __init__(
        self,
        in_channels: int,
        num_joints: int,
        num_frames: int,
        depth: int,
        prune: Optional[nn.Module] = None,
        prune_at: int = 0,
        recover: Optional[nn.Module] = None,
        exact_length: bool = False,
    ) -> None:
        super().__init__()
        if in_channels not in (2, 3):
            raise ValueError(f"in_channels must be 2 (x, y) or 3 (x, y, confidence), got {in_channels}")
        for at, step in pruning_steps(prune, prune_at):
            if not 0 <= at < depth:
                raise ValueError(f"layer_index {at} is outside the {depth} blocks; use 0..{depth - 1}")
            if not 1 <= step.num_tokens <= num_frames:
                raise ValueError(f"token_num {step.num_tokens} must be between 1 and frames ({num_frames})")
        self.in_channels = in_channels
        self.num_joints = num_joints
        self.num_frames = num_frames
        self.depth = depth
        self.prune = prune
        self.prune_at = prune_at
        self.recover = recover
        # TRA emits exactly num_frames frames, so a pruning model needs full-length input
        self.exact_length = exact_length or recover is not None

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        """Check the input and append a confidence channel of ones to 2-channel input of a 3-channel model.

        Args:
            x: (B, T, J, 2 or 3).

        Returns:
            (B, T, J, in_channels).
        """
        return check_pose_input(x, type(self).__name__, self.num_frames, self.num_joints, self.in_channels,
                                exact_frames=self.exact_length)

    def recover_frames(self, x: torch.Tensor, kept: Optional[torch.Tensor] = None) -> torch.Tensor:
        """TRA (or interpolation): (B, f, J, C) tokens of the kept frames ``kept`` (B, f) → (B, T, J, C);
        identity without ``recover``."""
        if self.recover is None:
            return x
        b, f, j, c = x.shape
        frames = kept if kept is not None else torch.arange(f, device=x.device).expand(b, f)
        seq = x.transpose(1, 2).reshape(b * j, f, c)  # (B·J, f, C): one sequence per joint
        return self.recover(seq, frames.repeat_interleave(j, dim=0)).reshape(b, j, -1, c).transpose(1, 2)

    def forward_embed(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_block(self, idx: int, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, kept: Optional[torch.Tensor] = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, x: torch.Tensor, index: Optional[torch.Tensor] = None) -> LiftOutput:
        """Lift 2-D poses to 3-D.

        Args:
            x: (B, T, J, C_in) 2-D poses (C_in 2, or 3 with a confidence channel).
            index: (B, f) frames for TPC to keep instead of clustering (e.g. the un-flipped pass's
                ``kept``); unused by models without pruning.

        Returns:
            ``LiftOutput(pose (B, T, J, 3), index=None, kept=(B, f) TPC's frames or None)``.
        """
        x = self.forward_embed(self.prepare_input(x))  # (B, T, J, C)
        trace = PruneTrace(self.prune, self.prune_at, index, x.shape[0])
        for idx in range(self.depth):
            x = self.forward_block(idx, trace(idx, x))  # pruning step(s) before the block: (B, f, J, C)
        return LiftOutput(self.forward_head(x, trace.kept), None, trace.kept, trace.all_kept)
