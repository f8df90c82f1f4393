"""MHFormer's multi-hypothesis generation (MHG) encoder: a plain pre-LN transformer.

Li et al., "MHFormer: Multi-Hypothesis Transformer for 3D Human Pose Estimation", CVPR 2022; used by
HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation",
CVPR 2024, arXiv:2311.12028) as the first stage of TPC w. MHFormer.

In MHG the tokens are the 2·J coordinate channels of the input and each token is an F-dimensional
temporal vector, so ``embed_dim`` = F and ``length`` = 2·J.
"""
from __future__ import annotations

import logging

import torch
from torch import nn

from hot_pose.models.layers import Block, LayerNorm6

_logger = logging.getLogger(__name__)

__all__ = ["Transformer"]


class Transformer(nn.Module):
    """Learnable positional embedding → dropout → ``depth`` pre-LN blocks → LayerNorm (eps 1e-6).

    Parameter names (``pos_embed``, ``blocks.N.*``, ``norm``) match the reference checkpoints.

    Args:
        depth: number of blocks (reference: 4).
        embed_dim: token width (reference: the number of frames F).
        mlp_hidden_dim: MLP hidden width (reference: 2·F).
        num_heads: attention heads (reference: 9); must divide ``embed_dim``.
        drop_rate: dropout after the positional embedding, in the MLPs and after attention projections.
        drop_path_rate: stochastic depth of the last block; block i uses linspace(0, rate, depth)[i].
        length: number of tokens N (reference: 2·J).
        qkv_bias: bias on the qkv projections (reference: True).
    """

    def __init__(
        self,
        depth: int = 4,
        embed_dim: int = 351,
        mlp_hidden_dim: int = 702,
        num_heads: int = 9,
        drop_rate: float = 0.1,
        drop_path_rate: float = 0.2,
        length: int = 34,
        qkv_bias: bool = True,
    ) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, length, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_hidden_dim, qkv_bias=qkv_bias, drop=drop_rate, drop_path=rate)
            for rate in rates
        )
        self.norm = LayerNorm6(embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, D) → (B, N, D). The positional embedding is added out of place (autograd-safe)."""
        x = self.pos_drop(x + self.pos_embed)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)
