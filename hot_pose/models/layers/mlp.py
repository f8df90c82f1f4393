"""Two-layer feed-forward network used by every transformer block in the zoo."""
from __future__ import annotations

from typing import Optional, Type

import torch
from torch import nn


class Mlp(nn.Module):
    """Linear(d→h) → act → Dropout → Linear(h→d_out) → Dropout.

    Parameter names (``fc1``, ``fc2``) match the reference checkpoints.

    Args:
        in_features: input channels d.
        hidden_features: hidden channels h (default d).
        out_features: output channels (default d).
        act_layer: activation class (default GELU).
        drop: dropout after the activation and after ``fc2``.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: Optional[int] = None,
        out_features: Optional[int] = None,
        act_layer: Type[nn.Module] = nn.GELU,
        drop: float = 0.0,
    ) -> None:
        super().__init__()
        hidden_features = hidden_features or in_features
        out_features = out_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_features, out_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., in_features) → (..., out_features)."""
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))
