"""Token Recovering Attention (TRA): restore the full-length sequence from the kept tokens.

Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation",
CVPR 2024 (arXiv:2311.12028), Sec. 3.3: learnable queries ``x_token`` (1, T, C) attend to the
f kept tokens with one cross-attention layer, X_full = x_token + CrossAttn(x_token, X_kept, X_kept).
"""
from __future__ import annotations

import torch
from torch import nn

from model.layers.attention import CrossAttention


class TokenRecoveringAttention(nn.Module):
    """(N, f, C) kept tokens → (N, T, C) full-length tokens.

    Args:
        dim: channels C.
        num_frames: output length T.
        num_heads: heads of the cross-attention.
        qkv_bias: bias on the q/k/v projections.
    """

    def __init__(self, dim: int, num_frames: int, num_heads: int = 8, qkv_bias: bool = True) -> None:
        super().__init__()
        self.x_token = nn.Parameter(torch.zeros(1, num_frames, dim))
        self.cross_attention = CrossAttention(dim, num_heads=num_heads, qkv_bias=qkv_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, f, C) → (N, T, C)."""
        return self.x_token + self.cross_attention(self.x_token, x, x)
