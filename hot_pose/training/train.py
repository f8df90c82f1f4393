"""One training epoch of a HoT pose lifter, with a global-batch sampler that makes torchrun exact.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). The step follows the reference: the target is the ground truth with its root
joint zeroed, gathered at the model's ``index`` when the model outputs only kept frames (TPC), then the recipe's
loss, backward, optimizer step; the epoch loss is the sample-weighted mean.

Distributed data parallel: ``GlobalBatchSampler`` draws one permutation per epoch from ``(seed, epoch)`` and
cuts it into global batches of ``--batch_size``; process r takes the r-th contiguous part of each. Each process
scales its loss by ``b_r · world / b`` (its share of the global batch), so the averaged gradient is exactly the
gradient of the global batch's mean loss: N processes train like one process with the same global batch
(up to float rounding, and with dropout/stochastic depth off, whose random masks depend on the split).
"""
from __future__ import annotations

import logging
import math
import time
from typing import Callable, Iterator, List, Optional, Tuple

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import Sampler

from hot_pose.training.evaluate import autocast, take_frames
from hot_pose.utils.runtime import AverageMeter, NumericalError, all_reduce_sum, epoch_seed, progress_bar

_logger = logging.getLogger(__name__)

__all__ = ["GlobalBatchSampler", "WeightEMA", "train_one_epoch", "shard_range", "add_noise_2d"]


class GlobalBatchSampler(Sampler[List[int]]):
    """Batches of dataset indices for one process; the same global batches whatever the process count.

    Args:
        n: dataset length.
        batch_size: global batch size.
        rank, world_size: this process and the process count.
        seed: run seed; the permutation of epoch e is drawn from ``epoch_seed(seed, e)``.
        shuffle: permute (training) or keep the order.
        fraction: share of the dataset drawn per epoch (a fresh random subset every epoch; needs ``shuffle``).
            CPU recipes use it to make epochs short enough to evaluate and checkpoint often.

    With several processes a final global batch smaller than ``world_size`` is dropped (every process needs
    at least one sample per step).
    """

    def __init__(self, n: int, batch_size: int, rank: int = 0, world_size: int = 1, seed: int = 0,
                 shuffle: bool = True, fraction: float = 1.0) -> None:
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"the epoch fraction must be in (0, 1], got {fraction}")
        if fraction < 1.0 and not shuffle:
            raise ValueError("an epoch fraction below 1 needs shuffling")
        self.n, self.batch_size, self.rank, self.world_size = n, batch_size, rank, world_size
        self.seed, self.shuffle, self.epoch = seed, shuffle, 0
        self.count = n if fraction >= 1.0 else max(1, round(n * fraction))  # samples drawn per epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _global_batches(self) -> List[torch.Tensor]:
        if self.shuffle:
            gen = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
            order = torch.randperm(self.n, generator=gen)[: self.count]
        else:
            order = torch.arange(self.n)
        batches = list(torch.split(order, self.batch_size))
        if self.world_size > 1 and batches and len(batches[-1]) < self.world_size:
            batches.pop()
        return batches

    def __iter__(self) -> Iterator[List[int]]:
        for batch in self._global_batches():
            yield batch.tensor_split(self.world_size)[self.rank].tolist()  # contiguous part r

    def __len__(self) -> int:
        return len(self._global_batches())

    def share(self, batch_len: int, step: int) -> float:
        """Loss scale ``b_r · world / b`` of this process at ``step`` (1.0 for a single process)."""
        if self.world_size == 1:
            return 1.0
        full = self.count // self.batch_size
        global_len = self.batch_size if step < full else self.count - full * self.batch_size
        return batch_len * self.world_size / global_len


def shard_range(n: int, rank: int, world_size: int) -> range:
    """Contiguous part ``rank`` of ``range(n)`` split in ``world_size`` near-equal parts (evaluation shards)."""
    bounds = [(n * r) // world_size for r in range(world_size + 1)]
    return range(bounds[rank], bounds[rank + 1])


def train_one_epoch(
    model: nn.Module,
    loader,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    device: torch.device,
    *,
    amp: str = "none",
    scaler: Optional[torch.amp.GradScaler] = None,
    progress: bool = True,
    epoch: int = 0,
    noise_2d: float = 0.0,
    ema: Optional["WeightEMA"] = None,
) -> dict:
    """Train ``model`` for one pass over ``loader``.

    Args:
        model: the (possibly DDP-wrapped) model; returns ``LiftOutput``.
        loader: yields dicts with "input_2d" (B, F, J, 2) and "gt_3d" (B, F, J, 3); its ``batch_sampler``
            is a ``GlobalBatchSampler``.
        optimizer: the recipe's optimizer.
        loss_fn: the recipe's loss ``(pred, target) -> scalar``.
        device: where to compute.
        amp: ``none``/``bf16``/``fp16`` autocast.
        scaler: gradient scaler for fp16, else None.
        progress: show a tqdm bar with the running loss and throughput.
        epoch: for the progress bar.
        noise_2d: 2-D noise augmentation: each window gets i.i.d. Gaussian jitter on every coordinate with a
            standard deviation drawn uniformly from [0, noise_2d] (screen-normalised units: 0.01 = 0.5 % of
            the image width), so the model sees clean and detector-like inputs.
        ema: if given, its average is updated after every optimizer step.

    Returns:
        ``{"loss": sample-weighted mean loss over all processes, "samples": count, "seconds": wall time,
        "samples_per_s": throughput of all processes}``.
    """
    model.train()
    meter = AverageMeter()
    sampler = loader.batch_sampler
    start = time.perf_counter()
    bar = progress_bar(loader, desc=f"train {epoch}", enabled=progress, unit="batch")
    for step, batch in enumerate(bar):
        loss, n = _train_step(model, batch, optimizer, loss_fn, device, amp, scaler,
                              sampler.share(batch["input_2d"].shape[0], step), noise_2d, (epoch, step + 1))
        meter.update(loss, n)
        if ema is not None:
            ema.update()
        if progress:
            rate = meter.count * getattr(sampler, "world_size", 1) / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(loss=f"{meter.avg:.4f}", samples_s=f"{rate:.0f}", refresh=False)
    seconds = time.perf_counter() - start
    total, count = all_reduce_sum([meter.sum, meter.count], device)
    return {"loss": total / max(count, 1), "samples": int(count), "seconds": seconds,
            "samples_per_s": count / max(seconds, 1e-9)}


class WeightEMA:
    """Exponential moving average of a model's weights, updated after every optimizer step (``--ema``).

    ``average = decay · average + (1 − decay) · weights``; the first update copies the weights. Buffers are
    copied, not averaged. A thin holder of ``torch.optim.swa_utils.AveragedModel``.

    Args:
        model: the unwrapped model being trained (not its DDP / ``torch.compile`` wrapper).
        decay: per-step decay in [0, 1); 0.999 averages over roughly the last 1,000 steps.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.source, self.decay = model, decay
        self.averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=False)

    @property
    def module(self) -> nn.Module:
        """The averaged copy of the model (same class, same state-dict keys)."""
        return self.averaged.module

    @property
    def steps(self) -> int:
        """Updates so far."""
        return int(self.averaged.n_averaged)

    def update(self) -> None:
        """Fold the source model's current weights into the average."""
        self.averaged.update_parameters(self.source)

    def state_dict(self) -> dict:
        """``{"model": averaged weights, "steps": updates so far}`` for last.pth."""
        return {"model": self.module.state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` saved."""
        self.module.load_state_dict(state["model"])
        self.averaged.n_averaged.fill_(int(state["steps"]))


def add_noise_2d(inputs: torch.Tensor, noise_2d: float) -> torch.Tensor:
    """``inputs`` (B, F, J, 2) plus Gaussian jitter of a per-window std drawn from U[0, noise_2d]."""
    if noise_2d <= 0:
        return inputs
    sigma = noise_2d * torch.rand(inputs.shape[0], 1, 1, 1)
    return inputs + sigma.to(inputs.device) * torch.randn(inputs.shape).to(inputs.device)


def check_loss(loss: float, where: Tuple[int, int], device: torch.device) -> None:
    """Raise ``NumericalError`` when the loss of any process is NaN/inf (one flag reduced over processes, so
    every process of a distributed run stops at the same step), before the optimizer applies the step."""
    bad = 0.0 if math.isfinite(loss) else 1.0
    if all_reduce_sum([bad], device)[0] > 0:
        epoch, step = where
        raise NumericalError(f"training diverged: the loss is {loss} in epoch {epoch}, step {step}; lower --lr "
                             "(or use --amp none), or --resume the last good last.pth with a lower --lr")


def _train_step(model, batch, optimizer, loss_fn, device, amp, scaler, share: float, noise_2d: float = 0.0,
                where: Tuple[int, int] = (0, 0)):
    """One optimizer step; returns (loss value of this process's samples, their count).

    Raises:
        NumericalError: the loss is NaN/inf (``where`` = (epoch, step) for the message); no step is taken.
    """
    inputs = add_noise_2d(batch["input_2d"].to(device, non_blocking=True), noise_2d)
    gt = batch["gt_3d"].to(device, non_blocking=True).float()
    target = gt.clone()
    target[..., 0, :] = 0  # root-relative target; the prediction's root is learnt to be ~0
    optimizer.zero_grad(set_to_none=True)
    with autocast(device, amp):
        out = model(inputs)
    if out.index is not None:
        target = take_frames(target, out.index)  # (B, f, J, 3): the frames a TPC model outputs
    loss = loss_fn(out.pose, target)
    value = loss.item()
    check_loss(value, where, device)
    scaled = loss * share
    if scaler is not None:
        scaler.scale(scaled).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        scaled.backward()
        optimizer.step()
    return value, inputs.shape[0]
