"""Evaluation on the Human3.6M test subjects with HoT's protocol: flip TTA, scored frames, per-action P1/P2.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). The protocol follows the reference test loop:

* flip test-time augmentation: the model sees the window and its mirror; the mirrored prediction is un-flipped
  (x negated, left/right joints swapped) and averaged. Models that return an ``index`` (seq2frame TPC) get the
  un-flipped pass's index back in the flipped pass, so both passes keep the same frames;
* scored frames: seq2frame (``--stride 1``) scores the centre frame ``pad`` (for a model with an ``index``, the
  kept column whose index is ``pad``); seq2seq scores every output frame against the ground truth at the frames
  it covers, edge-padded frames included, each window weighing 1;
* the root joint of prediction and target is zeroed, then P1 (MPJPE) and P2 (P-MPJPE) are taken per window;
  per-action means, then the unweighted mean over actions. Unlike the reference, P2 is each window's own
  Procrustes error, so it does not depend on the batch composition.

Under ``torchrun`` each process evaluates a contiguous shard and the per-window errors are gathered in window
order, so the numbers do not depend on the number of processes.
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from hot_pose.data.dataset import JOINT_DROPPED_FOR_16, complete_h36m16
from hot_pose.training.metrics import ActionErrorAccumulator, mpjpe_per_sample, p_mpjpe_per_sample
from hot_pose.utils.runtime import NumericalError, all_gather_objects, progress_bar

_logger = logging.getLogger(__name__)

__all__ = ["JointCompletion", "EvalResult", "take_frames", "unflip_pose", "predict", "scored_frames", "evaluate",
           "autocast"]


@dataclass
class EvalResult:
    """Outcome of one evaluation (valid on the main process).

    Attributes:
        p1: MPJPE in mm, unweighted mean over actions.
        p2: P-MPJPE in mm, unweighted mean over actions.
        table: per-action text table.
        report: JSON-ready dict (per-action numbers, counts).
        n_windows: number of scored windows.
    """

    p1: float
    p2: float
    table: str = ""
    report: Dict[str, Any] = field(default_factory=dict)
    n_windows: int = 0


class JointCompletion(nn.Module):
    """Test a 17-joint model on 16-joint 2-D (Stacked-Hourglass order: H36M without Neck/Nose).

    The missing 2-D joint is placed on the thorax→head segment (``hot_pose.data.dataset.complete_h36m16``) and the
    prediction of that joint is dropped, so the output (B, F', 16, 3) matches the 16-joint 3-D targets the
    reference scores for such files.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.keep = [j for j in range(17) if j != JOINT_DROPPED_FOR_16]

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any):
        """x (B, F, 16, C) → the wrapped model's ``LiftOutput`` with pose (B, F', 16, 3)."""
        out = self.model(complete_h36m16(x), *args, **kwargs)
        return out._replace(pose=out.pose[..., self.keep, :])


def autocast(device: torch.device, amp: str):
    """Autocast context for ``--amp`` (``none`` → a null context)."""
    if amp == "none":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def take_frames(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Per-sample frame gather: (B, F, ...) and index (B, K) → (B, K, ...)."""
    rows = torch.arange(x.shape[0], device=x.device)[:, None]  # (B, 1)
    return x[rows, index.to(x.device)]


def unflip_pose(pose: torch.Tensor, joints_left: Sequence[int], joints_right: Sequence[int]) -> torch.Tensor:
    """Undo a horizontal flip of 3-D poses (B, F, J, 3): negate x, swap left and right joints."""
    pose = pose.clone()
    pose[..., 0] *= -1
    left, right = list(joints_left), list(joints_right)
    pose[..., left + right, :] = pose[..., right + left, :]
    return pose


def predict(
    model: nn.Module,
    inputs: torch.Tensor,
    flip: bool,
    joints_left: Sequence[int],
    joints_right: Sequence[int],
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Forward with optional flip TTA.

    Args:
        model: a zoo model returning ``LiftOutput``.
        inputs: (B, 2, F, J, 2) original and flipped windows when ``flip``, else (B, F, J, 2).
        flip: average with the un-flipped prediction of the mirrored input.
        joints_left, joints_right: 3-D joint indices swapped by the un-flip.

    Returns:
        (pose (B, F', J, 3) in float32, index (B, F') or None) of the un-flipped pass.
    """
    out = model(inputs[:, 0] if flip else inputs)
    pose = out.pose.float()
    if flip:
        mirrored = model(inputs[:, 1], index=out.index)  # the flip pass reuses the kept frames
        pose = (pose + unflip_pose(mirrored.pose.float(), joints_left, joints_right)) / 2
    return pose, out.index


def _centre_column(index: torch.Tensor, centre: int) -> torch.Tensor:
    """(B, 1) column of each row of ``index`` (B, F') that holds frame ``centre``."""
    hit = index == centre  # (B, F')
    if not bool(hit.any(dim=1).all()):
        raise RuntimeError("the model did not keep the centre frame; seq2frame scoring needs it")
    return hit.float().argmax(dim=1, keepdim=True)


def scored_frames(
    pose: torch.Tensor, index: Optional[torch.Tensor], gt: torch.Tensor, seq2frame: bool, centre: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The (prediction, target) pair that is scored, root joint zeroed.

    Args:
        pose: (B, F', J, 3) model output.
        index: (B, F') input frames ``pose`` covers, or None for all F.
        gt: (B, F, J, 3) ground truth of the window.
        seq2frame: score only the centre frame (``--stride 1``).
        centre: the centre frame index, (F − 1) // 2.

    Returns:
        (pred, target), both (B, F'', J, 3) with F'' = 1 for seq2frame.
    """
    if seq2frame:
        target = gt[:, centre:centre + 1]  # (B, 1, J, 3)
        pred = pose[:, centre:centre + 1] if index is None else take_frames(pose, _centre_column(index, centre))
    else:
        pred = pose
        target = gt if index is None else take_frames(gt, index)
    pred, target = pred.clone(), target.clone()
    pred[..., 0, :] = 0
    target[..., 0, :] = 0
    return pred, target


def _eval_loop(
    model: nn.Module, loader, device: torch.device, *, flip: bool, seq2frame: bool, centre: int,
    joints_left: Sequence[int], joints_right: Sequence[int], amp: str, progress: bool,
) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """Per-window actions, P1 and P2 (metres) in loader order."""
    actions: List[str] = []
    p1: List[np.ndarray] = []
    p2: List[np.ndarray] = []
    bar = progress_bar(loader, desc="test", enabled=progress, unit="batch")
    start = time.perf_counter()
    for step, batch in enumerate(bar):
        if step == 1 and progress and len(loader) > 2:  # the first batch done: an estimate of the whole
            took = time.perf_counter() - start
            _logger.info("testing %d batches of %d windows; about %.0f s at the first batch's %.2f s",
                         len(loader), len(batch["action"]), took * len(loader), took)
        inputs = batch["input_2d"].to(device, non_blocking=True)
        gt = batch["gt_3d"].to(device, non_blocking=True).float()
        with autocast(device, amp):
            pose, index = predict(model, inputs, flip, joints_left, joints_right)
        pred, target = scored_frames(pose, index, gt, seq2frame, centre)
        pred_np = pred.detach().cpu().double().numpy()
        if not np.isfinite(pred_np).all():
            raise NumericalError(f"the model's 3-D output is NaN/inf in test window {len(actions) + 1} or the "
                                 f"{len(pred_np) - 1} after it (diverged or corrupt weights); use other weights")
        target_np = target.detach().cpu().double().numpy()
        p1.append(np.asarray(mpjpe_per_sample(pred_np, target_np), dtype=np.float64))
        p2.append(np.asarray(p_mpjpe_per_sample(pred_np, target_np), dtype=np.float64))
        actions.extend(batch["action"])
    empty = np.zeros(0, dtype=np.float64)
    return actions, (np.concatenate(p1) if p1 else empty), (np.concatenate(p2) if p2 else empty)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader,
    device: torch.device,
    *,
    flip: bool,
    seq2frame: bool,
    centre: int,
    joints_left: Sequence[int],
    joints_right: Sequence[int],
    amp: str = "none",
    progress: bool = True,
    actions: Optional[Sequence[str]] = None,
) -> EvalResult:
    """Evaluate ``model`` on ``loader`` (unshuffled; under torchrun each process's shard, in order).

    ``actions`` (canonical names, default all 15) are the rows of the table; the average is over those with windows.

    Returns:
        ``EvalResult`` with P1/P2 in mm on the main process (rank 0); other processes get the same object
        (the per-window errors are gathered everywhere).
    """
    was_training = model.training
    model.eval()
    try:
        local = _eval_loop(model, loader, device, flip=flip, seq2frame=seq2frame, centre=centre,
                           joints_left=joints_left, joints_right=joints_right, amp=amp, progress=progress)
    finally:
        model.train(was_training)
    shards = all_gather_objects(local)  # rank order = window order (contiguous shards)
    names = [a for shard in shards for a in shard[0]]
    p1 = np.concatenate([shard[1] for shard in shards])
    p2 = np.concatenate([shard[2] for shard in shards])
    acc = ActionErrorAccumulator(actions)
    acc.update(names, p1, p2)
    summary = acc.summary()
    return EvalResult(float(summary["p1"]), float(summary["p2"]), acc.table(), acc.to_dict(), len(names))
