"""Multi-head self- and cross-attention on ``torch.nn.functional.scaled_dot_product_attention``.

One definition of each, shared by MixSTE, MHFormer, MotionBERT, MotionAGFormer and HoT's token
recovering attention (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose
Estimation", CVPR 2024, arXiv:2311.12028). Parameter names match the reference checkpoints.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, N, C) → (B, H, N, C/H)."""
    b, n, c = x.shape
    return x.reshape(b, n, num_heads, c // num_heads).transpose(1, 2)


class _MultiHeadAttention(nn.Module):
    """Shared part of self- and cross-attention: head split check, SDPA, head merge, output projection.

    ``inputs`` are the input projections (``qkv``, or ``linear_q``/``linear_k``/``linear_v``); they are
    registered before ``proj`` so the state_dict order matches the reference checkpoints.
    """

    def __init__(self, dim: int, num_heads: int, attn_drop: float, proj_drop: float, **inputs: nn.Module) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"attention dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        for name, module in inputs.items():
            self.add_module(name, module)
        self.attn_drop = float(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """q: (B, H, N, C/H), k and v: (B, H, M, C/H) → projected output (B, N, C)."""
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        b, h, n, d = x.shape
        x = x.transpose(1, 2).reshape(b, n, h * d)  # (B, N, C)
        return self.proj_drop(self.proj(x))


class Attention(_MultiHeadAttention):
    """Multi-head self-attention: ``qkv`` Linear(d→3d), softmax(QKᵀ/√(d/H))V, ``proj`` Linear(d→d).

    Args:
        dim: channels d; must be divisible by ``num_heads``.
        num_heads: heads H.
        qkv_bias: bias on the qkv projection.
        attn_drop: dropout on the attention weights (training only).
        proj_drop: dropout after the output projection.
    """

    def __init__(
        self, dim: int, num_heads: int = 8, qkv_bias: bool = False, attn_drop: float = 0.0, proj_drop: float = 0.0
    ) -> None:
        super().__init__(dim, num_heads, attn_drop, proj_drop, qkv=nn.Linear(dim, dim * 3, bias=qkv_bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C) → (B, N, C)."""
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        return self._attend(*qkv.unbind(0))  # q, k, v each (B, H, N, C/H)


class CrossAttention(_MultiHeadAttention):
    """Multi-head cross-attention with separate ``linear_q``, ``linear_k``, ``linear_v`` and ``proj``.

    Queries come from ``q`` (length N), keys and values from ``k`` and ``v`` (length M).
    """

    def __init__(
        self, dim: int, num_heads: int = 8, qkv_bias: bool = False, attn_drop: float = 0.0, proj_drop: float = 0.0
    ) -> None:
        super().__init__(
            dim,
            num_heads,
            attn_drop,
            proj_drop,
            linear_q=nn.Linear(dim, dim, bias=qkv_bias),
            linear_k=nn.Linear(dim, dim, bias=qkv_bias),
            linear_v=nn.Linear(dim, dim, bias=qkv_bias),
        )

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """q: (B, N, C), k and v: (B, M, C) → (B, N, C). A batch axis of 1 in ``q`` broadcasts."""
        qh = _split_heads(self.linear_q(q), self.num_heads)
        kh = _split_heads(self.linear_k(k), self.num_heads)
        vh = _split_heads(self.linear_v(v), self.num_heads)
        if q.shape[0] == 1:  # broadcast the shared queries; the size stays symbolic when traced (ONNX)
            qh = qh.expand(kh.shape[0], -1, -1, -1)
        return self._attend(qh, kh, vh)
