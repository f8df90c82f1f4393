"""MotionBERT's DSTformer in HoT's 16 M configuration (the ``motionbert.motionbert`` variant).

Zhu et al., "MotionBERT: A Unified Perspective on Learning Human Motion Representations", ICCV 2023
(arXiv:2210.06551), as configured by Li et al., "Hourglass Tokenizer for Efficient Transformer-Based
3D Human Pose Estimation", CVPR 2024 (arXiv:2311.12028): dim 256, MLP 1024, dim_rep 512, depth 5,
8 heads, qkv bias, LayerNorm eps 1e-6, maxlen = frames (243). 16,001,549 parameters.

Each depth runs two pre-LN streams on the same tokens, ST (spatial then temporal) and TS (temporal
then spatial), fused per token by α = softmax(ts_attn([x_ST, x_TS])). The backbone takes optional
HoT modules (``prune``/``recover``), which ``hot_motionbert`` supplies.

Differences from the reference (all documented in the report):
* 2-channel input is accepted by a 3-channel model: a confidence channel of ones is appended
  (the reference needs (x, y, conf), which HoT's pipeline never provides).
* ``temp_embed`` is sliced to the input length, so inputs shorter than ``frames`` work (the
  reference adds it unsliced and needs exactly 243 frames); longer inputs are rejected.
* Init order quirk: the reference creates ``ts_attn`` after ``apply(_init_weights)``, so it gets
  PyTorch's default init that is then overwritten with weight 0 / bias 0.5. The final values are the
  same here; ``ts_attn`` is also registered last so the state_dict order matches the reference.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Optional

import torch
from torch import nn

from hot_pose.models.config import ModelConfig
from hot_pose.models.hot import TokenPruningCluster, TokenRecoveringAttention
from hot_pose.models.layers import Attention, DropPath, LayerNorm6, Mlp
from hot_pose.models.motionbert.ops import (
    PrunableLifter,
    adaptive_fusion,
    attend,
    entry_point,
    init_fusion,
    lifter_kwargs,
)

_logger = logging.getLogger(__name__)

#: reference sizes of the variant (HoT's hard-coded DSTformer configuration)
DEFAULTS = dict(channel=256, d_hid=1024, in_channels=3, depth=5, num_heads=8, drop_path=0.0)
#: width of the representation before the head (``pre_logits``)
DIM_REP = 512


class DSTBlock(nn.Module):
    """One DSTformer stream: spatial and temporal pre-LN attention + MLP sub-blocks in either order.

    Args:
        dim: channels C.
        num_heads: attention heads.
        mlp_hidden_dim: MLP hidden width.
        order: ``"st"`` (spatial first, ``blocks_st``) or ``"ts"`` (temporal first, ``blocks_ts``).
        qkv_bias: bias on the qkv projections.
        drop: dropout after attention projections and in the MLPs.
        attn_drop: dropout on the attention weights.
        drop_path: stochastic-depth rate of the four residual branches.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_hidden_dim: int,
        order: str = "st",
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if order not in ("st", "ts"):
            raise ValueError(f"order must be 'st' or 'ts', got {order!r}")
        self.order = order
        self.norm1_s = LayerNorm6(dim)
        self.norm1_t = LayerNorm6(dim)
        self.attn_s = Attention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop)
        self.attn_t = Attention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop)
        self.drop_path = DropPath(drop_path)
        self.norm2_s = LayerNorm6(dim)
        self.norm2_t = LayerNorm6(dim)
        self.mlp_s = Mlp(dim, mlp_hidden_dim, drop=drop)
        self.mlp_t = Mlp(dim, mlp_hidden_dim, drop=drop)

    def _sub_block(
        self, x: torch.Tensor, norm1: nn.Module, attn: Attention, norm2: nn.Module, mlp: Mlp, over: str
    ) -> torch.Tensor:
        x = x + self.drop_path(attend(attn, norm1(x), over))
        return x + self.drop_path(mlp(norm2(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, J, C) → (B, T, J, C)."""
        spatial = (self.norm1_s, self.attn_s, self.norm2_s, self.mlp_s, "joints")
        temporal = (self.norm1_t, self.attn_t, self.norm2_t, self.mlp_t, "frames")
        for part in (spatial, temporal) if self.order == "st" else (temporal, spatial):
            x = self._sub_block(x, *part)
        return x


class DSTformer(PrunableLifter):
    """Dual-stream spatio-temporal transformer lifting (B, T, J, C_in) 2-D poses to (B, T, J, 3).

    Args:
        dim_in: input channels (3 = x, y, confidence as the reference; 2 also supported).
        dim_feat: embedding width C.
        dim_rep: width of ``pre_logits``.
        depth: number of ST/TS block pairs.
        num_heads: attention heads.
        mlp_hidden_dim: MLP hidden width.
        num_joints: joints J.
        num_frames: frames T the model is built for (``maxlen``, the length of ``temp_embed``).
        qkv_bias: bias on the qkv projections.
        drop_rate: dropout rate.
        attn_drop_rate: attention-weight dropout rate.
        drop_path: stochastic depth, linear from 0 at the first depth to this at the last.
        prune: optional TPC module (HoT), run before depth ``prune_at``.
        prune_at: depth index where ``prune`` fires.
        recover: optional TRA module, run after the final LayerNorm.
    """

    def __init__(
        self,
        dim_in: int = 3,
        dim_feat: int = 256,
        dim_rep: int = DIM_REP,
        depth: int = 5,
        num_heads: int = 8,
        mlp_hidden_dim: int = 1024,
        num_joints: int = 17,
        num_frames: int = 243,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path: float = 0.0,
        prune: Optional[TokenPruningCluster] = None,
        prune_at: int = 1,
        recover: Optional[TokenRecoveringAttention] = None,
    ) -> None:
        super().__init__(dim_in, num_joints, num_frames, depth, prune=prune, prune_at=prune_at, recover=recover)
        self.joints_embed = nn.Linear(dim_in, dim_feat)
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = [drop_path * i / max(depth - 1, 1) for i in range(depth)]  # linear decay rule (torch.linspace)
        self.blocks_st, self.blocks_ts = (
            nn.ModuleList(
                DSTBlock(dim_feat, num_heads, mlp_hidden_dim, order, qkv_bias, drop_rate, attn_drop_rate, dpr[i])
                for i in range(depth)
            )
            for order in ("st", "ts")
        )
        self.norm = LayerNorm6(dim_feat)
        self.pre_logits = nn.Sequential(OrderedDict([("fc", nn.Linear(dim_feat, dim_rep)), ("act", nn.Tanh())]))
        self.head = nn.Linear(dim_rep, 3)
        self.temp_embed = nn.Parameter(torch.zeros(1, num_frames, 1, dim_feat))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_joints, dim_feat))
        nn.init.trunc_normal_(self.temp_embed, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.apply(_init_weights)  # also reaches the Linear layers of ``recover`` (as in the reference)
        # registered after the init, as in the reference (its keys come last in the state_dict)
        self.ts_attn = nn.ModuleList(init_fusion(nn.Linear(2 * dim_feat, 2)) for _ in range(depth))

    def forward_embed(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, J, C_in) → tokens (B, T, J, C) with joint and frame embeddings."""
        t = x.shape[1]
        x = self.joints_embed(x) + self.pos_embed + self.temp_embed[:, :t]  # (B, T, J, C)
        return self.pos_drop(x)

    def forward_block(self, idx: int, x: torch.Tensor) -> torch.Tensor:
        """Depth ``idx``: ST and TS streams on the same tokens, adaptively fused. (B, T, J, C) → same."""
        return adaptive_fusion(self.ts_attn[idx], self.blocks_st[idx](x), self.blocks_ts[idx](x))

    def forward_head(self, x: torch.Tensor, kept: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x: (B, f or T, J, C) → final LN → TRA (if any) → pre_logits → head → (B, T, J, 3)."""
        x = self.recover_frames(self.norm(x), kept)
        return self.head(self.pre_logits(x))


def _init_weights(m: nn.Module) -> None:
    """MotionBERT init: Linear weights trunc_normal(0.02) with zero bias; LayerNorm 1 / 0."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def build(cfg: ModelConfig) -> DSTformer:
    """DSTformer with the sizes of ``cfg`` (``None`` fields resolved by ``hot_pose.models.build_model``)."""
    return DSTformer(**lifter_kwargs(cfg, "MotionBERT"))


Model = entry_point(build, DEFAULTS)
