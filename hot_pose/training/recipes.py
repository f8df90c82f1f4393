"""Training recipes of the four HoT entry scripts: what differs between them, and nothing more.

HoT (Li et al., CVPR 2024, arXiv:2311.12028) ships four near-identical scripts. They differ in the loss
(MixSTE family, after Zhang et al. CVPR 2022: weighted MPJPE + 0.5 · temporal consistency + 2.0 · velocity;
MHFormer family, after Li et al. CVPR 2022: MPJPE), the optimizer (AdamW, weight decay 0.1 / Adam with
AMSGrad) and the seed (1126 / 1). Which frame a seq2frame test scores follows from the model's output
(``LiftOutput.index``: the centre column, or the kept column equal to the centre), so it needs no field here.
The LR schedule is shared: after every epoch ``lr *= lr_decay``, or ``lr *= lr_decay_large`` when the epoch
is a multiple of ``lr_decay_epoch``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import torch

from hot_pose.training.arguments import RECIPE_FLAGS
from hot_pose.training.loss import mixste_loss, mpjpe_loss

__all__ = ["Recipe", "MIXSTE", "MIXSTE_TPC", "MHFORMER", "MHFORMER_TPC", "lr_factor", "adamw", "adam_amsgrad"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
OptimizerFactory = Callable[[Iterable[torch.nn.Parameter], float], torch.optim.Optimizer]


def adamw(params: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """MixSTE scripts: AdamW, weight decay 0.1, default betas and eps."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.1)


def adam_amsgrad(params: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """MHFormer scripts: Adam with AMSGrad, no weight decay."""
    return torch.optim.Adam(params, lr=lr, amsgrad=True)


@dataclass(frozen=True)
class Recipe:
    """One entry script's choices.

    Attributes:
        name: script name, e.g. ``main_mixste``.
        seed: default ``--seed``.
        loss: ``loss(pred (B, F', J, 3), target (B, F', J, 3)) -> scalar``; the target's root is already zero.
        make_optimizer: ``make_optimizer(params, lr) -> Optimizer``.
        defaults: flag defaults of this script (its recipe; the reference shares one set of defaults between
            all scripts and passes the recipe on the command line, which works the same here).
    """

    name: str
    seed: int
    loss: LossFn
    make_optimizer: OptimizerFactory
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def description(self) -> str:
        """The head of ``--help``: what the script trains, with which loss and optimizer."""
        def first(fn: Callable) -> str:
            return (fn.__doc__ or fn.__name__).strip().splitlines()[0].split(": ", 1)[-1].rstrip(".")

        return (f"{self.name}: train or test a video pose lifter (HoT, CVPR 2024) on Human3.6M. Loss: "
                f"{first(self.loss)}. Optimizer: {first(self.make_optimizer)}. Default seed {self.seed}. The "
                "defaults below are this script's recipe; the README lists the paper's commands.")


def lr_factor(epoch: int, lr_decay: float, lr_decay_large: float, lr_decay_epoch: int) -> float:
    """Multiplier applied to the LR after ``epoch`` (1-based), as the reference does after each test."""
    return lr_decay_large if epoch % lr_decay_epoch == 0 else lr_decay


# the flag defaults live in hot_pose.training.arguments.RECIPE_FLAGS (free of torch: checked before torch is imported); the
# MHFormer scripts' (paper Table 6 / the reference README): 351 frames, one window per frame, 20 epochs at lr
# 1e-3, ×0.95 per epoch and ×0.5 every 5 epochs
MIXSTE = Recipe("main_mixste", 1126, mixste_loss, adamw, dict(RECIPE_FLAGS["main_mixste"]))
MIXSTE_TPC = Recipe("main_mixste_tpc", 1126, mixste_loss, adamw, dict(RECIPE_FLAGS["main_mixste_tpc"]))
MHFORMER = Recipe("main_mhformer", 1, mpjpe_loss, adam_amsgrad, dict(RECIPE_FLAGS["main_mhformer"]))
MHFORMER_TPC = Recipe("main_mhformer_tpc", 1, mpjpe_loss, adam_amsgrad, dict(RECIPE_FLAGS["main_mhformer_tpc"]))
