"""HoT's two modules, composable with any video pose transformer.

Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation",
CVPR 2024, arXiv:2311.12028. TPC prunes pose tokens of redundant frames; TRA recovers them.
"""
from __future__ import annotations

from typing import Optional

from torch import nn

from model.hot.clustering import cluster_dpc_knn, dpc_knn_score, gather_tokens, select_tokens
from model.hot.pruning import TokenPruningCluster
from model.hot.recovery import TokenRecoveringAttention

__all__ = [
    "cluster_dpc_knn",
    "dpc_knn_score",
    "gather_tokens",
    "select_tokens",
    "TokenPruningCluster",
    "TokenRecoveringAttention",
    "set_pruning_generator",
]


def set_pruning_generator(model: nn.Module, generator=None, seed: Optional[int] = None) -> int:
    """Set the tie-break noise source of every TPC module in ``model``.

    Args:
        model: any model of the zoo.
        generator: a ``torch.Generator`` to draw from (stateful), or ``None`` for per-call seeding.
        seed: seed of the per-call generator when ``generator`` is ``None``.

    Returns:
        The number of TPC modules updated.
    """
    count = 0
    for module in model.modules():
        if isinstance(module, TokenPruningCluster):
            module.generator = generator
            if seed is not None:
                module.seed = seed
            count += 1
    return count
