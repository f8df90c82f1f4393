"""H2OT: hierarchical token pruning — a pyramid of pruning steps — and the modules a backbone composes.

Li et al., "H2OT: Hierarchical Hourglass Tokenizer for Efficient Video Pose Transformers", TPAMI 2025
(arXiv:2509.06956), extending HoT (Li et al., CVPR 2024, arXiv:2311.12028). HoT prunes once (before block n,
keeping f frames) and recovers once; H2OT prunes progressively — e.g. 243 → 81 frames before block 3, then
81 → 40 before block 5 — and recovers the full length once before the head. A *schedule* lists the steps as
``"block:kept,block:kept"`` (``--prune_schedule "3:81,5:40"``): blocks strictly increasing, kept frames
strictly decreasing. HoT is the one-step schedule ``"n:f"`` and builds exactly HoT's modules (same state-dict
keys and outputs); several steps build a ``PruningPyramid`` whose steps keep frames *of the frames the
previous step kept*. ``PruneTrace`` runs the steps inside a backbone's block loop and composes their kept
indices into absolute frame indices of the input (reported per step in ``LiftOutput.kept_steps``; passing
them back as ``index=`` replays the same pruning, e.g. for the flip pass). Every step uses one pruning
strategy (``hot_pose.models.hot.pruning.PRUNE_STRATEGIES``), and the recovery one of ``RECOVER_STRATEGIES``; what the
paper says and what was chosen here is in ``docs/h2ot.md``.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from hot_pose.models.hot.pruning import PRUNE_STRATEGIES, TokenPruningCluster
from hot_pose.models.hot.recovery import RECOVER_STRATEGIES, TokenRecoveringAttention, TokenRecoveringInterpolation

__all__ = ["parse_schedule", "format_schedule", "PruningPyramid", "PruneTrace", "build_pruning", "build_recovery",
           "pruning_steps", "frames_at", "schedule_of", "Schedule"]

#: ((block, kept frames), ...)
Schedule = Tuple[Tuple[int, int], ...]
#: a step's number in a schedule's text
_INTEGER = re.compile(r"-?[0-9]+")


def parse_schedule(text: Union[str, Sequence[Tuple[int, int]]]) -> Schedule:
    """``"3:81,5:40"`` → ``((3, 81), (5, 40))``.

    Raises:
        ValueError: malformed, blocks not strictly increasing or kept frames not strictly decreasing / < 1.
    """
    if isinstance(text, str):
        steps = []
        for part in text.replace(" ", "").split(","):
            block, sep, kept = part.partition(":")
            # ASCII digits only: str.isdigit() also accepts '¹' or '②', which int() then rejects
            if not sep or not _INTEGER.fullmatch(block) or not _INTEGER.fullmatch(kept):
                raise ValueError(f"--prune_schedule {text!r}: each step is BLOCK:KEPT with whole numbers, e.g. "
                                 "'3:81,5:40'")
            steps.append((int(block), int(kept)))
    else:
        steps = [(int(b), int(k)) for b, k in text]
    if not steps:
        raise ValueError("--prune_schedule is empty; give steps such as '3:81,5:40'")
    for (b0, k0), (b1, k1) in zip(steps, steps[1:]):
        if b1 <= b0 or k1 >= k0:
            raise ValueError(f"--prune_schedule {format_schedule(steps)}: blocks must increase and kept frames "
                             f"decrease from step to step ({b0}:{k0} then {b1}:{k1})")
    if steps[-1][1] < 1 or steps[0][0] < 0:
        raise ValueError(f"--prune_schedule {format_schedule(steps)}: blocks >= 0 and kept frames >= 1")
    return tuple(steps)


def format_schedule(steps: Sequence[Tuple[int, int]]) -> str:
    """``((3, 81), (5, 40))`` → ``"3:81,5:40"``."""
    return ",".join(f"{b}:{k}" for b, k in steps)


class PruningPyramid(nn.Module):
    """Several pruning steps: step s fires before block ``at[s]`` and keeps ``steps[s].num_tokens`` of the frames
    step s − 1 kept (H2OT's token pruning module applied progressively).

    Args:
        steps: one pruning module per step (``TokenPruningCluster`` with any strategy).
        at: the block before which each step fires (strictly increasing).
    """

    def __init__(self, steps: Sequence[TokenPruningCluster], at: Sequence[int]) -> None:
        super().__init__()
        if len(steps) != len(at) or not steps:
            raise ValueError("PruningPyramid needs one block index per step")
        self.stages = nn.ModuleList(steps)
        self.at = tuple(int(a) for a in at)

    @property
    def num_tokens(self) -> int:
        """Frames kept after the last step."""
        return self.stages[-1].num_tokens

    @property
    def center(self) -> Optional[int]:
        return self.stages[0].center

    def steps(self, layer_index: int = 0) -> Tuple[Tuple[int, TokenPruningCluster], ...]:
        """(block, module) of every step (``layer_index`` is unused: each step knows its block)."""
        return tuple(zip(self.at, self.stages))

    def extra_repr(self) -> str:
        return "schedule=" + format_schedule((a, s.num_tokens) for a, s in zip(self.at, self.stages))


def pruning_steps(prune: Optional[nn.Module], layer_index: int = 0) -> Tuple[Tuple[int, TokenPruningCluster], ...]:
    """(block, module) of every pruning step of a model's ``prune`` (one step before ``layer_index`` for a
    ``TokenPruningCluster``); ``()`` for ``None``."""
    if prune is None:
        return ()
    return prune.steps(layer_index)


def frames_at(prune: Optional[nn.Module], layer_index: int, block: int, frames: int) -> int:
    """Frames block ``block`` sees: ``frames``, or the kept frames of the last step at or before it."""
    for at, step in pruning_steps(prune, layer_index):
        if block >= at:
            frames = step.num_tokens
    return frames


class PruneTrace:
    """Runs a model's pruning steps inside its block loop: ``x = trace(i, x)`` before block i.

    Args:
        prune: the model's pruning module (``TokenPruningCluster`` = one step, ``PruningPyramid``), or ``None``.
        layer_index: the block of a one-step module.
        index: replay instead of selecting: (B, f) the last step's absolute frames for a one-step module, or
            the per-step absolute frames (``LiftOutput.kept_steps``) for a pyramid.
        batch: B, to check ``index``.
    """

    def __init__(self, prune: Optional[nn.Module], layer_index: int = 0,
                 index: Union[torch.Tensor, Sequence[torch.Tensor], None] = None, batch: Optional[int] = None) -> None:
        self.steps: Dict[int, TokenPruningCluster] = dict(pruning_steps(prune, layer_index))
        self.kept_steps: List[torch.Tensor] = []
        self.replay: Optional[List[torch.Tensor]] = None
        if index is not None and self.steps:
            replay = [index] if isinstance(index, torch.Tensor) else list(index)
            sizes = [m.num_tokens for _, m in sorted(self.steps.items())]
            if len(replay) != len(sizes):
                raise ValueError(f"index must give the frames of all {len(sizes)} pruning steps (LiftOutput."
                                 f"kept_steps), got {len(replay)}")
            for got, size in zip(replay, sizes):
                if got.ndim != 2 or (batch is not None and got.shape[0] != batch) or got.shape[1] != size:
                    raise ValueError(f"index must have shape (batch, token_num) = ({batch}, {size}), got "
                                     f"{tuple(got.shape)}")
            self.replay = replay

    def __call__(self, block: int, x: torch.Tensor) -> torch.Tensor:
        """Prune ``x`` (B, F, J, C) or (B, F, C) if a step fires before ``block``; else return it unchanged."""
        step = self.steps.get(block)
        if step is None:
            return x
        previous = self.kept_steps[-1] if self.kept_steps else None
        relative = None
        if self.replay is not None:
            target = self.replay[len(self.kept_steps)].to(x.device)
            relative = target if previous is None else torch.searchsorted(previous, target)
        x, relative = step(x, relative)
        self.kept_steps.append(relative if previous is None else torch.gather(previous, 1, relative))
        return x

    @property
    def kept(self) -> Optional[torch.Tensor]:
        """(B, f) absolute input frames kept after the last step that ran, or ``None``."""
        return self.kept_steps[-1] if self.kept_steps else None

    @property
    def all_kept(self) -> Optional[Tuple[torch.Tensor, ...]]:
        """Every step's absolute kept frames, or ``None`` when nothing was pruned."""
        return tuple(self.kept_steps) if self.kept_steps else None


def build_pruning(schedule: Union[str, Schedule], dim: Optional[int], strategy: str = "cluster",
                  center: Optional[int] = None) -> Tuple[nn.Module, int]:
    """The pruning module of a schedule and the block of its first step.

    One step: a ``TokenPruningCluster`` (HoT's module, same parameters); several: a ``PruningPyramid``.

    Args:
        schedule: ``"3:81,5:40"`` or parsed steps.
        dim: channels of the learnable rank embedding each step adds (``None``: none, as TPC-only models).
        strategy: pruning strategy of every step (``PRUNE_STRATEGIES``).
        center: frame always kept (seq2frame), or ``None``.
    """
    steps = parse_schedule(schedule)
    if center is not None and len(steps) > 1:
        raise ValueError("a seq2frame model (centre frame always kept) prunes in one step; give one BLOCK:KEPT")
    if strategy not in PRUNE_STRATEGIES:
        raise ValueError(f"--prune_strategy {strategy!r}: choose one of {', '.join(PRUNE_STRATEGIES)}")
    modules = [TokenPruningCluster(kept, dim=dim, center=center, strategy=strategy) for _, kept in steps]
    if len(modules) == 1:
        return modules[0], steps[0][0]
    return PruningPyramid(modules, [block for block, _ in steps]), steps[0][0]


def build_recovery(strategy: str, dim: int, frames: int, num_heads: int = 8, qkv_bias: bool = True) -> nn.Module:
    """The recovery module: ``attention`` (TRA, HoT's) or ``interpolation`` (parameter-free, linear in time)."""
    if strategy == "attention":
        return TokenRecoveringAttention(dim, frames, num_heads=num_heads, qkv_bias=qkv_bias)
    if strategy == "interpolation":
        return TokenRecoveringInterpolation(frames)
    raise ValueError(f"--recover_strategy {strategy!r}: choose one of {', '.join(RECOVER_STRATEGIES)}")


def schedule_of(cfg) -> str:
    """A config's schedule: ``cfg.prune_schedule``, else HoT's one step ``"layer_index:token_num"``."""
    return cfg.prune_schedule or f"{cfg.layer_index}:{cfg.token_num}"
