"""HoT's two modules, composable with any video pose transformer.

Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation",
CVPR 2024, arXiv:2311.12028. TPC prunes pose tokens of redundant frames; TRA recovers them. H2OT (Li et al.,
TPAMI 2025, arXiv:2509.06956) prunes in several steps (``PruningPyramid``, ``--prune_schedule``) with a choice of
pruning and recovery strategies (``hierarchy``).
"""
from __future__ import annotations

from typing import Optional

from torch import nn

from hot_pose.models.hot.clustering import (
    cluster_dpc_knn,
    dpc_knn_score,
    gather_tokens,
    pairwise_distance,
    select_tokens,
    tie_break_noise,
)
from hot_pose.models.hot.hierarchy import (
    PruneTrace,
    PruningPyramid,
    build_pruning,
    build_recovery,
    format_schedule,
    frames_at,
    parse_schedule,
    pruning_steps,
    schedule_of,
)
from hot_pose.models.hot.pruning import PRUNE_STRATEGIES, TokenPruningCluster, TokenPruningModule
from hot_pose.models.hot.recovery import RECOVER_STRATEGIES, TokenRecoveringAttention, TokenRecoveringInterpolation

__all__ = [
    "cluster_dpc_knn",
    "dpc_knn_score",
    "pairwise_distance",
    "gather_tokens",
    "select_tokens",
    "tie_break_noise",
    "TokenPruningCluster",
    "TokenPruningModule",
    "TokenRecoveringAttention",
    "TokenRecoveringInterpolation",
    "PruningPyramid",
    "PruneTrace",
    "build_pruning",
    "build_recovery",
    "parse_schedule",
    "format_schedule",
    "pruning_steps",
    "frames_at",
    "schedule_of",
    "PRUNE_STRATEGIES",
    "RECOVER_STRATEGIES",
    "set_pruning_generator",
    "freeze_tie_break_noise",
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


def freeze_tie_break_noise(model: nn.Module, frames: Optional[int] = None) -> int:
    """Store in every TPC module the tie-break noise its per-call generator would draw (for tracing/ONNX).

    The default noise is one seeded (1, F) row shared by every sample, so the frozen model keeps exactly
    the frames the plain one keeps, for any batch size.

    Args:
        model: any model of the zoo.
        frames: F, the number of frames TPC sees (default ``hot_pose.models.config.frames``); ``0`` removes the rows.

    Returns:
        The number of TPC modules updated.

    Raises:
        ValueError: a module has a stateful generator (its noise changes per call and cannot be frozen),
            or ``frames`` is unknown.
    """
    if frames is None:
        frames = getattr(getattr(model, "config", None), "frames", None)
        if frames is None:
            raise ValueError("pass frames=: the model has no config.frames")
    # a pyramid's later steps see the frames the step before kept
    seen = {id(later): earlier.num_tokens for pyramid in model.modules() if isinstance(pyramid, PruningPyramid)
            for earlier, later in zip(pyramid.stages, pyramid.stages[1:])}
    count = 0
    for module in model.modules():
        if isinstance(module, TokenPruningCluster):
            if module.generator is not None:
                raise ValueError("a TPC module has a stateful generator; its noise cannot be frozen")
            ref = next(iter(module.parameters()), None)
            if frames:
                table = tie_break_noise(1, seen.get(id(module), frames), seed=module.seed)  # (1, F)
                module.tie_break_noise = table.to(ref.device) if ref is not None else table
            else:
                module.tie_break_noise = None
            count += 1
    return count
