"""MixSTE: mixed spatio-temporal encoder, the backbone of HoT's main models.

Zhang et al., "MixSTE: Seq2seq Mixed Spatio-Temporal Encoder for 3D Human Pose Estimation in Video",
CVPR 2022; HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose
Estimation", CVPR 2024 (arXiv:2311.12028).

One class, :class:`MixSTE`, serves the three variants of the family. It alternates a spatial block
(attention over the J joints of a frame) and a temporal block (attention over the F frames of a joint),
``depth`` times each. HoT's two modules plug in as optional sub-modules:

* ``prune`` (:class:`~model.hot.TokenPruningCluster`) fires at the start of block pair ``layer_index``
  (valid 1 … depth−1; 0 or ≥ depth never fires) and keeps f of the F frames;
* ``recover`` (:class:`~model.hot.TokenRecoveringAttention`) restores the full length before the head.

With ``prune`` and ``recover`` the model is HoT w. MixSTE (seq2seq, ``hot_mixste``); with ``prune`` only
it outputs the kept frames and their index (TPC w. MixSTE, ``tpc_mixste``); with neither it is MixSTE.
Reference parameter names (``STEblocks``, ``TTEblocks``, ``Spatial_norm`` …) are kept so official
checkpoints load; HoT's parameters live under ``prune.`` / ``recover.`` and ``reference_key_map``
renames the official ``pos_embed_token`` / ``x_token`` / ``cross_attention.*`` keys.
"""
from __future__ import annotations

import functools
import logging
from typing import Optional

import torch
from torch import nn

from hot_pose.models import build_model
from hot_pose.models.config import LiftOutput, ModelConfig, check_pose_input
from hot_pose.models.hot import PruneTrace, TokenPruningCluster, TokenRecoveringAttention, pruning_steps
from hot_pose.models.layers import Block, LayerNorm6

_logger = logging.getLogger(__name__)

#: reference sizes (the reference CLI defaults: ``--frames 243 --channel 512 --d_hid 1024``)
DEFAULTS = dict(frames=243, channel=512, d_hid=1024, depth=8, num_heads=8, drop_path=0.1, n_joints=17, in_channels=2)

__all__ = ["MixSTE", "DEFAULTS", "build", "from_config", "Model"]


class MixSTE(nn.Module):
    """MixSTE backbone with optional HoT token pruning (TPC) and recovery (TRA).

    Args:
        frames: input length F; inputs of any other length are rejected.
        n_joints: input joints J (17 for Human3.6M, 16 for the SH detections).
        in_channels: input channels per joint (2 = x, y; 3 adds a confidence channel, and 2-channel
            input then gets a confidence of ones appended).
        channel: embedding width C.
        d_hid: MLP hidden width of every block.
        depth: number of spatial and of temporal blocks.
        num_heads: attention heads.
        drop_path: stochastic-depth rate of the last block pair; pair i uses linspace(0, rate, depth)[i].
        out_joints: output joints; when it differs from ``n_joints`` a ``joint_map`` Linear(J→J_out) over
            the joint axis follows the head (not in the reference, which has J_out = J).
        qkv_bias: bias on the attention qkv projections (reference: True).
        prune: TPC module, or ``None`` for no pruning; a ``PruningPyramid`` prunes in several steps (H2OT).
        layer_index: n, the block pair before which ``prune`` fires (a pyramid's first step).
        recover: TRA module restoring F frames before the head (or ``TokenRecoveringInterpolation``), or
            ``None``.
    """

    reference_key_map = {
        "pos_embed_token": "prune.pos_embed_token",
        "x_token": "recover.x_token",
        "cross_attention.": "recover.cross_attention.",
    }

    def __init__(
        self,
        frames: int = 243,
        n_joints: int = 17,
        in_channels: int = 2,
        channel: int = 512,
        d_hid: int = 1024,
        depth: int = 8,
        num_heads: int = 8,
        drop_path: float = 0.1,
        out_joints: Optional[int] = None,
        qkv_bias: bool = True,
        prune: Optional[TokenPruningCluster] = None,
        layer_index: int = 0,
        recover: Optional[TokenRecoveringAttention] = None,
    ) -> None:
        super().__init__()
        if channel % num_heads:
            raise ValueError(f"--channel {channel} must be divisible by the {num_heads} attention heads")
        if prune is not None and not 1 <= prune.num_tokens <= frames:
            raise ValueError(f"--token_num {prune.num_tokens} must be between 1 and --frames {frames}")
        if prune is not None and not 1 <= layer_index < depth:
            _logger.info("layer_index %d is outside 1..%d: token pruning is disabled", layer_index, depth - 1)
        later = [at for at, _ in pruning_steps(prune, layer_index)[1:] if not layer_index < at < depth]
        if later:
            raise ValueError(f"--prune_schedule: a step before block {later[0]} lies outside blocks "
                             f"{layer_index + 1}..{depth - 1}")
        self.frames, self.n_joints, self.in_channels = frames, n_joints, in_channels
        self.depth, self.layer_index = depth, layer_index
        out_joints = out_joints or n_joints

        self.Spatial_patch_to_embedding = nn.Linear(in_channels, channel)
        self.Spatial_pos_embed = nn.Parameter(torch.zeros(1, n_joints, channel))
        self.Temporal_pos_embed = nn.Parameter(torch.zeros(1, frames, channel))
        rates = torch.linspace(0, drop_path, depth, device="cpu").tolist()  # shared by STE_i and TTE_i

        def blocks() -> nn.ModuleList:
            return nn.ModuleList(
                Block(channel, num_heads, d_hid, qkv_bias=qkv_bias, drop_path=rate, norm_layer=LayerNorm6)
                for rate in rates
            )

        self.STEblocks = blocks()
        self.TTEblocks = blocks()
        self.Spatial_norm = LayerNorm6(channel)  # one norm shared by all depths (reference)
        self.Temporal_norm = LayerNorm6(channel)
        self.prune = prune
        self.recover = recover
        self.head = nn.Sequential(nn.LayerNorm(channel), nn.Linear(channel, 3))  # LayerNorm eps 1e-5 here
        self.joint_map = nn.Linear(n_joints, out_joints) if out_joints != n_joints else None

    @property
    def prunes(self) -> bool:
        """Whether ``prune`` is present and ``layer_index`` lets it fire."""
        return self.prune is not None and 1 <= self.layer_index < self.depth

    def _spatial(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Spatial block i + shared Spatial_norm: attention over joints. (B, F, J, C) → (B, F, J, C)."""
        b, f, j, c = x.shape
        x = self.Spatial_norm(self.STEblocks[i](x.reshape(b * f, j, c)))  # (B·F, J, C)
        return x.reshape(b, f, j, c)

    def _temporal(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Temporal block i + shared Temporal_norm: attention over frames. (B, F, J, C) → (B, F, J, C)."""
        b, f, j, c = x.shape
        x = x.transpose(1, 2).reshape(b * j, f, c)  # (B·J, F, C)
        if i == 0:
            x = x + self.Temporal_pos_embed
        x = self.Temporal_norm(self.TTEblocks[i](x))
        return x.reshape(b, j, f, c).transpose(1, 2)  # (B, F, J, C)

    def forward(self, x: torch.Tensor, index: Optional[torch.Tensor] = None) -> LiftOutput:
        """Lift a 2-D pose sequence to 3-D.

        Args:
            x: (B, F, J, C_in) 2-D poses (normalised image coordinates, optionally with confidence).
            index: (B, f) frames to keep instead of clustering (the flip pass of seq2frame TPC reuses
                the index of the un-flipped pass). Ignored when the model does not prune.

        Returns:
            ``LiftOutput``: pose (B, F, J_out, 3), ``kept`` (B, f) for HoT (``recover`` present); pose
            (B, f, J_out, 3) with ``index`` = ``kept`` (B, f) for TPC-only; pose (B, F, J_out, 3) otherwise.
        """
        x = check_pose_input(x, "MixSTE", self.frames, self.n_joints, self.in_channels)
        x = self.Spatial_patch_to_embedding(x) + self.Spatial_pos_embed  # (B, F, J, C)
        trace = PruneTrace(self.prune if self.prunes else None, self.layer_index, index, x.shape[0])
        for i in range(self.depth):
            x = trace(i, x)  # pruning step(s): (B, f, J, C)
            x = self._temporal(i, self._spatial(i, x))
        kept = trace.kept
        if self.recover is not None:
            b, f, j, c = x.shape
            frames = kept if kept is not None else torch.arange(f, device=x.device).expand(b, f)
            x = self.recover(x.transpose(1, 2).reshape(b * j, f, c), frames.repeat_interleave(j, dim=0))
            x = x.reshape(b, j, -1, c).transpose(1, 2)  # (B·J, f, C) → (B·J, F, C) → (B, F, J, C)
        pose = self.head(x)  # (B, F', J, 3)
        if self.joint_map is not None:
            pose = self.joint_map(pose.transpose(2, 3)).transpose(2, 3)  # (B, F', J_out, 3)
        if kept is None or self.recover is not None:
            return LiftOutput(pose, None, kept, trace.all_kept)
        return LiftOutput(pose, kept, kept, trace.all_kept)


#: ModelConfig fields that are MixSTE constructor arguments of the same name
_CONFIG_FIELDS = (
    "frames", "n_joints", "in_channels", "channel", "d_hid", "depth", "num_heads", "drop_path", "out_joints"
)


def from_config(cfg: ModelConfig, **kwargs) -> MixSTE:
    """A :class:`MixSTE` with the sizes of ``cfg``; ``kwargs`` override or add (``d_hid``, ``prune`` …)."""
    sizes = {name: getattr(cfg, name) for name in _CONFIG_FIELDS}
    return MixSTE(**{**sizes, **kwargs})


def reference_hidden(cfg: ModelConfig, variant: str) -> int:
    """MLP width of the HoT/TPC variants: 2·channel, as the reference hard-codes (it ignores ``--d_hid``)."""
    hidden = 2 * cfg.channel
    if cfg.d_hid not in (hidden, ModelConfig.GLOBAL_DEFAULTS["d_hid"]):  # a --d_hid the user asked for
        _logger.warning("%s uses an MLP width of 2*channel = %d like the reference; --d_hid %s is ignored",
                        variant, hidden, cfg.d_hid)
    return hidden


def build(cfg: ModelConfig) -> MixSTE:
    """MixSTE baseline (MLP width ``cfg.d_hid``)."""
    return from_config(cfg)


#: ``Model(args)`` for old ``from model.mixste.mixste import Model`` imports
Model = functools.partial(build_model, "mixste.mixste")
