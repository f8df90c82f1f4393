"""MotionAGFormer in HoT's configuration (the ``motionagformer.motionagformer`` variant).

Mehraban et al., "MotionAGFormer: Enhancing 3D Human Pose Estimation with a Transformer-GCNFormer
Network", WACV 2024 (arXiv:2310.16288), as configured by Li et al., "Hourglass Tokenizer for Efficient
Transformer-Based 3D Human Pose Estimation", CVPR 2024 (arXiv:2311.12028): the MotionAGFormer-B size,
16 layers, dim 128, 4 heads, MLP ratio 4, no qkv bias, layer scale 1e-5, adaptive fusion, temporal
top-4 similarity graph, 243 frames. 11,723,811 parameters plus 8,352 BatchNorm buffers.

``joints_embed`` + ``pos_embed`` (no temporal embedding) → 16 blocks → LayerNorm → ``rep_logit``
(Linear + Tanh) → head. The backbone takes optional HoT modules (``prune``/``recover``); the layers
from the pruning point on are built for f frames, because the temporal GCN's BatchNorm1d has one
channel per frame.

Differences from the reference (documented in the report):
* 2-channel input is accepted by a 3-channel model: a confidence channel of ones is appended
  (HoT's pipeline never provides confidences); ``in_channels=2`` builds a 2-input embedding instead.
* 16-joint skeletons get their own graph (``modules.skeleton_connections``); the reference only
  has the 17-joint one.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Optional

import torch
from torch import nn

from hot_pose.models.config import ModelConfig
from hot_pose.models.hot import TokenPruningCluster, TokenRecoveringAttention
from hot_pose.models.hot.hierarchy import frames_at
from hot_pose.models.motionagformer.modules import MotionAGFormerBlock
from hot_pose.models.motionbert.ops import PrunableLifter, entry_point, lifter_kwargs

_logger = logging.getLogger(__name__)

#: reference sizes of the variant (HoT's hard-coded MotionAGFormer-B configuration)
DEFAULTS = dict(channel=128, d_hid=512, in_channels=3, depth=16, num_heads=4, drop_path=0.0)
#: width of the representation before the head (``rep_logit``)
DIM_REP = 512


class MotionAGFormer(PrunableLifter):
    """Transformer-GCNFormer lifting (B, T, J, C_in) 2-D poses to (B, T, J, 3).

    Args:
        dim_in: input channels (3 = x, y, confidence as the reference; 2 also supported).
        dim_feat: embedding width C.
        dim_rep: width of ``rep_logit``.
        depth: number of MotionAGFormer blocks (``n_layers``).
        num_joints: joints J (17, or 16 for H36M without joint 9).
        num_frames: input frames T (``n_frames``).
        prune: optional TPC module (HoT), run before layer ``prune_at``; layers from there on see f frames.
        prune_at: layer index where ``prune`` fires.
        recover: optional TRA module, run after the final LayerNorm.
        **block_kwargs: ``modules.AGFormerBlock`` options, same in every layer: num_heads (4),
            mlp_hidden_dim (512), qkv_bias (False), layer_scale_init (1e-5), neighbour_num (4),
            drop, attn_drop, drop_path (0).
    """

    def __init__(
        self,
        dim_in: int = 3,
        dim_feat: int = 128,
        dim_rep: int = DIM_REP,
        depth: int = 16,
        num_joints: int = 17,
        num_frames: int = 243,
        prune: Optional[TokenPruningCluster] = None,
        prune_at: int = 7,
        recover: Optional[TokenRecoveringAttention] = None,
        **block_kwargs: Any,
    ) -> None:
        super().__init__(dim_in, num_joints, num_frames, depth, prune, prune_at, recover, exact_length=True)
        self.joints_embed = nn.Linear(dim_in, dim_feat)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_joints, dim_feat))
        self.norm = nn.LayerNorm(dim_feat)
        self.layers = nn.Sequential(
            *(MotionAGFormerBlock(dim_feat, self.frames_at(i), num_joints, **block_kwargs) for i in range(depth))
        )
        self.rep_logit = nn.Sequential(OrderedDict([("fc", nn.Linear(dim_feat, dim_rep)), ("act", nn.Tanh())]))
        self.head = nn.Linear(dim_rep, 3)

    def frames_at(self, idx: int) -> int:
        """Frames layer ``idx`` sees: T, or the kept frames of the last pruning step at or before it."""
        return frames_at(self.prune, self.prune_at, idx, self.num_frames)

    def forward_embed(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, J, C_in) → tokens (B, T, J, C) with the joint embedding (no temporal one)."""
        return self.joints_embed(x) + self.pos_embed

    def forward_block(self, idx: int, x: torch.Tensor) -> torch.Tensor:
        """Layer ``idx``: (B, T, J, C) → same."""
        return self.layers[idx](x)

    def forward_head(self, x: torch.Tensor, kept: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x: (B, f or T, J, C) → final LN → TRA (if any) → rep_logit → head → (B, T, J, 3)."""
        x = self.recover_frames(self.norm(x), kept)
        return self.head(self.rep_logit(x))


def build(cfg: ModelConfig) -> MotionAGFormer:
    """MotionAGFormer with the sizes of ``cfg`` (``None`` fields resolved by ``hot_pose.models.build_model``)."""
    return MotionAGFormer(**lifter_kwargs(cfg, "MotionAGFormer"))


Model = entry_point(build, DEFAULTS)
