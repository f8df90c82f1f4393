"""Stochastic depth (DropPath), written here so the project does not depend on timm.

Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016.
"""
from __future__ import annotations

import torch
from torch import nn


def drop_path(x: torch.Tensor, drop_prob: float = 0.0, training: bool = False) -> torch.Tensor:
    """Zero whole samples of a residual branch with probability ``drop_prob``.

    Args:
        x: any tensor whose first axis is the sample axis, shape (B, ...).
        drop_prob: probability of dropping a sample's branch.
        training: only active when True.

    Returns:
        Tensor of the same shape; kept samples are scaled by 1 / (1 - drop_prob).
    """
    if drop_prob == 0.0 or not training:
        return x
    keep = 1.0 - drop_prob
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask.div_(keep)


class DropPath(nn.Module):
    """Per-sample stochastic depth; identity at evaluation or when ``drop_prob == 0``."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.3f}"
