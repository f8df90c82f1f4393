"""Pre-LN transformer block: x += DropPath(MHSA(LN(x))); x += DropPath(MLP(LN(x)))."""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn

from hot_pose.models.layers.attention import Attention
from hot_pose.models.layers.drop import DropPath
from hot_pose.models.layers.mlp import Mlp

#: LayerNorm used inside blocks by the reference models (eps 1e-6).
LayerNorm6 = partial(nn.LayerNorm, eps=1e-6)


class Block(nn.Module):
    """Transformer block with parameter names ``norm1``, ``attn``, ``norm2``, ``mlp`` (reference layout).

    Args:
        dim: channels C.
        num_heads: attention heads.
        mlp_hidden_dim: hidden width of the MLP.
        qkv_bias: bias on the qkv projection.
        drop: dropout in the MLP and after the attention projection.
        attn_drop: dropout on attention weights.
        drop_path: stochastic-depth rate of both residual branches.
        norm_layer: LayerNorm factory (default eps 1e-6).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_hidden_dim: int,
        qkv_bias: bool = False,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = LayerNorm6,
    ) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop)
        self.drop_path = DropPath(drop_path)
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, mlp_hidden_dim, drop=drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C) → (B, N, C)."""
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))
