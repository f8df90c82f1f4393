"""Token recovery: restore the full-length sequence from the kept tokens.

Token Recovering Attention (TRA), Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose
Estimation", CVPR 2024 (arXiv:2311.12028), Sec. 3.3: learnable queries ``x_token`` (1, T, C) attend to the
f kept tokens with one cross-attention layer, X_full = x_token + CrossAttn(x_token, X_kept, X_kept).
H2OT's token recovering module (Li et al., TPAMI 2025, arXiv:2509.06956) also recovers by interpolation
(``TokenRecoveringInterpolation``): parameter-free, linear in time between the kept frames.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from hot_pose.models.layers.attention import CrossAttention

#: how the full length is recovered: TRA, or interpolation from the kept frames' indices
RECOVER_STRATEGIES = ("attention", "interpolation")


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

    def forward(self, x: torch.Tensor, index: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x: (N, f, C) → (N, T, C); ``index`` (which frames were kept) is not needed."""
        return self.x_token + self.cross_attention(self.x_token, x, x)


class TokenRecoveringInterpolation(nn.Module):
    """(N, f, C) tokens of the kept frames ``index`` (N, f) → (N, T, C): every frame t linearly interpolated between
    the kept frames on either side of it, and the kept value copied before the first and after the last kept
    frame. No parameters; exact at the kept frames.

    Args:
        num_frames: output length T.
    """

    def __init__(self, num_frames: int) -> None:
        super().__init__()
        self.num_frames = int(num_frames)

    def forward(self, x: torch.Tensor, index: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x: (N, f, C), index: (N, f) sorted absolute frames in [0, T) → (N, T, C)."""
        if index is None:
            raise ValueError("interpolation recovery needs the kept frames' index")
        n, f, c = x.shape
        index = index.to(x.device)
        t = torch.arange(self.num_frames, device=x.device)
        after = (index[:, None, :] <= t[None, :, None]).sum(-1)  # (N, T): kept frames at or before t
        left = (after - 1).clamp(0, f - 1)
        right = after.clamp(0, f - 1)
        i_left, i_right = torch.gather(index, 1, left), torch.gather(index, 1, right)
        span = (i_right - i_left).clamp(min=1)
        weight = ((t[None] - i_left).float() / span.float()).clamp(0, 1).to(x.dtype)[..., None]  # (N, T, 1)
        x_left = torch.gather(x, 1, left[..., None].expand(n, self.num_frames, c))
        x_right = torch.gather(x, 1, right[..., None].expand(n, self.num_frames, c))
        return x_left + weight * (x_right - x_left)

    def extra_repr(self) -> str:
        return f"num_frames={self.num_frames}"
