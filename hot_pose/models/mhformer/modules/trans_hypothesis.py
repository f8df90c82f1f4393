"""MHFormer's hypothesis transformer: self-hypothesis refinement (SHR) and cross-hypothesis
interaction (CHI) over three pose hypotheses, with optional HoT token pruning.

Li et al., "MHFormer: Multi-Hypothesis Transformer for 3D Human Pose Estimation", CVPR 2022;
HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation",
CVPR 2024 (arXiv:2311.12028), whose TPC w. MHFormer prunes all three streams to the same f frames
at the start of SHR block n. Without a pruner this is the plain MHFormer module.

Parameter names (``pos_embed_k``, ``SHR_blocks.N.{norm1_k, attn_k, norm2, mlp}``,
``CHI_blocks.0.{norm3_kl, attn_k, norm2, mlp}``, ``norm``) match the reference checkpoints.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional, Tuple

import torch
from torch import nn

from hot_pose.models.hot import TokenPruningCluster, gather_tokens
from hot_pose.models.layers import Attention, CrossAttention, DropPath, LayerNorm6, Mlp

_logger = logging.getLogger(__name__)

__all__ = ["SHRBlock", "CHIBlock", "HypothesisTransformer"]

Streams = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]
NormFactory = Callable[[int], nn.Module]
_STREAMS = (1, 2, 3)


class _HypothesisBlock(nn.Module):
    """What SHR and CHI share: per-stream layers (built by ``_init_streams``), then the joint step
    X = concat(x₁, x₂, x₃); X += DropPath(MLP(LN(X))); split X back in three.

    Args:
        dim: channels C of each stream.
        num_heads: attention heads.
        mlp_hidden_dim: hidden width of the MLP on the concatenated 3C channels.
        qkv_bias: bias on the q/k/v projections.
        drop: dropout in the MLP and after attention projections.
        attn_drop: dropout on attention weights.
        drop_path: stochastic-depth rate of every residual branch.
        norm_layer: LayerNorm factory (eps 1e-6).
    """

    def __init__(self, dim: int, num_heads: int, mlp_hidden_dim: int, qkv_bias: bool = True, drop: float = 0.0,
                 attn_drop: float = 0.0, drop_path: float = 0.0, norm_layer: NormFactory = LayerNorm6) -> None:
        super().__init__()
        self._init_streams(dim, norm_layer, num_heads=num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop,
                           proj_drop=drop)
        # created after the per-stream layers, as in the reference (state_dict and init order)
        self.drop_path = DropPath(drop_path)
        self.norm2 = norm_layer(3 * dim)
        self.mlp = Mlp(3 * dim, mlp_hidden_dim, drop=drop)

    def _init_streams(self, dim: int, norm_layer: NormFactory, **attn_kwargs) -> None:
        raise NotImplementedError

    def _mix(self, x_1: torch.Tensor, x_2: torch.Tensor, x_3: torch.Tensor) -> Streams:
        x = torch.cat([x_1, x_2, x_3], dim=-1)  # (B, N, 3C)
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return tuple(x.chunk(3, dim=-1))  # 3 × (B, N, C)


class SHRBlock(_HypothesisBlock):
    """Self-hypothesis refinement: x_k += DropPath(MHSA_k(LN(x_k))) per stream, then the joint MLP.

    Arguments as :class:`_HypothesisBlock`.
    """

    def _init_streams(self, dim: int, norm_layer: NormFactory, **attn_kwargs) -> None:
        for k in _STREAMS:
            setattr(self, f"norm1_{k}", norm_layer(dim))
        for k in _STREAMS:
            setattr(self, f"attn_{k}", Attention(dim, **attn_kwargs))

    def forward(self, x_1: torch.Tensor, x_2: torch.Tensor, x_3: torch.Tensor) -> Streams:
        """Each x_k: (B, N, C) → three (B, N, C)."""
        x_1 = x_1 + self.drop_path(self.attn_1(self.norm1_1(x_1)))
        x_2 = x_2 + self.drop_path(self.attn_2(self.norm1_2(x_2)))
        x_3 = x_3 + self.drop_path(self.attn_3(self.norm1_3(x_3)))
        return self._mix(x_1, x_2, x_3)


class CHIBlock(_HypothesisBlock):
    """Cross-hypothesis interaction, updated in sequence so later streams see earlier updates:

        x₁ += DropPath(CA₁(q=LN(x₂), k=LN(x₃), v=LN(x₁)))
        x₂ += DropPath(CA₂(q=LN(x₁), k=LN(x₃), v=LN(x₂)))     (x₁ already updated)
        x₃ += DropPath(CA₃(q=LN(x₁), k=LN(x₂), v=LN(x₃)))     (x₁, x₂ already updated)

    then the joint MLP. ``norm3_kl`` is the LayerNorm of argument l of ``attn_k``. Arguments as
    :class:`_HypothesisBlock`.
    """

    def _init_streams(self, dim: int, norm_layer: NormFactory, **attn_kwargs) -> None:
        for k in _STREAMS:
            for arg in _STREAMS:
                setattr(self, f"norm3_{k}{arg}", norm_layer(dim))
        for k in _STREAMS:
            setattr(self, f"attn_{k}", CrossAttention(dim, **attn_kwargs))

    def forward(self, x_1: torch.Tensor, x_2: torch.Tensor, x_3: torch.Tensor) -> Streams:
        """Each x_k: (B, N, C) → three (B, N, C)."""
        x_1 = x_1 + self.drop_path(self.attn_1(self.norm3_11(x_2), self.norm3_12(x_3), self.norm3_13(x_1)))
        x_2 = x_2 + self.drop_path(self.attn_2(self.norm3_21(x_1), self.norm3_22(x_3), self.norm3_23(x_2)))
        x_3 = x_3 + self.drop_path(self.attn_3(self.norm3_31(x_1), self.norm3_32(x_2), self.norm3_33(x_3)))
        return self._mix(x_1, x_2, x_3)


class HypothesisTransformer(nn.Module):
    """Positional embeddings → ``depth − 1`` SHR blocks → one CHI block → LN(3C) on the concatenation.

    Args:
        depth: SHR blocks + 1 (reference: 3, i.e. 2 SHR and 1 CHI).
        embed_dim: channels C of each hypothesis.
        mlp_hidden_dim: MLP hidden width (``--d_hid``).
        num_heads: attention heads.
        drop_rate: dropout after the positional embeddings, in MLPs and after attention projections.
        drop_path_rate: stochastic depth of the CHI block; block i uses linspace(0, rate, depth)[i].
        length: input frames F (length of the positional embeddings).
        qkv_bias: bias on the q/k/v projections (reference: True).
        prune: HoT TPC module (``TokenPruningCluster(f, center=(F−1)//2)``), or ``None`` for MHFormer.
        prune_at: n, the SHR block at whose start ``prune`` keeps f frames of all three streams
            (0 ≤ n < depth − 1; any other value never prunes, like the reference).
    """

    def __init__(
        self,
        depth: int = 3,
        embed_dim: int = 512,
        mlp_hidden_dim: int = 1024,
        num_heads: int = 8,
        drop_rate: float = 0.1,
        drop_path_rate: float = 0.2,
        length: int = 27,
        qkv_bias: bool = True,
        prune: Optional[TokenPruningCluster] = None,
        prune_at: int = 1,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"hypothesis transformer depth must be at least 1 (the CHI block), got {depth}")
        self.pos_embed_1 = nn.Parameter(torch.zeros(1, length, embed_dim))
        self.pos_embed_2 = nn.Parameter(torch.zeros(1, length, embed_dim))
        self.pos_embed_3 = nn.Parameter(torch.zeros(1, length, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()
        kwargs = dict(num_heads=num_heads, mlp_hidden_dim=mlp_hidden_dim, qkv_bias=qkv_bias, drop=drop_rate)
        self.SHR_blocks = nn.ModuleList(SHRBlock(embed_dim, drop_path=rate, **kwargs) for rate in rates[:-1])
        self.CHI_blocks = nn.ModuleList([CHIBlock(embed_dim, drop_path=rates[-1], **kwargs)])
        self.norm = LayerNorm6(3 * embed_dim)
        self.prune = prune
        self.prune_at = prune_at
        if prune is not None and not self.prunes:
            _logger.info("prune_at %d is outside 0..%d: token pruning is disabled", prune_at, depth - 2)

    @property
    def prunes(self) -> bool:
        """Whether a pruner is present and ``prune_at`` names an SHR block, so pruning happens."""
        return self.prune is not None and 0 <= self.prune_at < len(self.SHR_blocks)

    def forward(
        self, x_1: torch.Tensor, x_2: torch.Tensor, x_3: torch.Tensor, index: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Refine and fuse the three hypotheses.

        Args:
            x_1, x_2, x_3: hypotheses, each (B, F, C).
            index: (B, f) frames to keep instead of clustering (flip pass); ignored when not pruning.

        Returns:
            (features (B, F', 3C), index (B, f) sorted, or ``None`` when nothing was pruned and F' = F).
        """
        x_1 = self.pos_drop(x_1 + self.pos_embed_1)  # out of place (the reference adds in place)
        x_2 = self.pos_drop(x_2 + self.pos_embed_2)
        x_3 = self.pos_drop(x_3 + self.pos_embed_3)
        kept = None
        for i, block in enumerate(self.SHR_blocks):
            if i == self.prune_at and self.prunes:
                if index is None:
                    index = self.prune.select(torch.cat([x_1, x_2, x_3], dim=-1))  # (B, F, 3C) → (B, f)
                kept = index
                x_1, x_2, x_3 = (gather_tokens(x, kept) for x in (x_1, x_2, x_3))  # 3 × (B, f, C)
            x_1, x_2, x_3 = block(x_1, x_2, x_3)
        x_1, x_2, x_3 = self.CHI_blocks[0](x_1, x_2, x_3)
        return self.norm(torch.cat([x_1, x_2, x_3], dim=-1)), kept  # (B, F', 3C)
