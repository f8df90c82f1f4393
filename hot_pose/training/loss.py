"""Training losses of the HoT entry scripts (pure functions of predicted and target poses).

HoT: Li et al., CVPR 2024 (arXiv:2311.12028). The MixSTE-family loss comes from MixSTE (Zhang et al.,
"MixSTE: Seq2seq Mixed Spatio-Temporal Encoder for 3D Human Pose Estimation in Video", CVPR 2022,
arXiv:2203.00859): weighted MPJPE + 0.5 · temporal consistency + 2.0 · mean velocity error. The MHFormer
family (Li et al., CVPR 2022, arXiv:2111.12707) trains with plain MPJPE. All poses are (B, F, J, 3) in metres.
"""
from __future__ import annotations

import logging
from typing import Sequence

import torch

_logger = logging.getLogger(__name__)

__all__ = [
    "H36M_JOINT_WEIGHTS", "joint_weights", "mpjpe", "weighted_mpjpe", "temporal_consistency", "mean_velocity",
    "mixste_loss", "mpjpe_loss",
]

#: MixSTE's per-joint weights in H36M-17 order (limb ends weigh more)
H36M_JOINT_WEIGHTS = (1.0, 1.0, 2.5, 2.5, 1.0, 2.5, 2.5, 1.0, 1.0, 1.0, 1.5, 1.5, 4.0, 4.0, 1.5, 4.0, 4.0)
#: joint removed from the 17-joint layout by 16-joint detectors (sh*/hr*): neck/nose
_DROPPED_JOINT_16 = 9


def joint_weights(n_joints: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """MixSTE's joint weights (n_joints,) for the H36M layout: 17 joints, or 16 without the neck/nose.

    Any other joint count gets uniform weights.
    """
    if n_joints == 17:
        w: Sequence[float] = H36M_JOINT_WEIGHTS
    elif n_joints == 16:
        w = H36M_JOINT_WEIGHTS[:_DROPPED_JOINT_16] + H36M_JOINT_WEIGHTS[_DROPPED_JOINT_16 + 1:]
    else:
        w = (1.0,) * n_joints
    return torch.tensor(w, device=device, dtype=dtype)


def mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-joint position error: mean over (B, F, J) of ‖pred − target‖₂. Inputs (B, F, J, 3)."""
    return torch.linalg.vector_norm(pred - target, dim=-1).mean()


def weighted_mpjpe(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean over (B, F, J) of w_j · ‖pred − target‖₂. ``weights`` (J,)."""
    return (torch.linalg.vector_norm(pred - target, dim=-1) * weights).mean()


def temporal_consistency(pred: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted squared-velocity smoothness of the prediction alone (the target is not used).

    Mean over (B, F−1, J, 3) of w_j · (pred[t+1] − pred[t])²; zero for a single frame.
    """
    if pred.shape[1] < 2:
        return pred.new_zeros(())
    diff = pred[:, 1:] - pred[:, :-1]  # (B, F-1, J, 3)
    return (diff.square() * weights[:, None]).mean()


def mean_velocity(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-joint velocity error (MPJVE): mean over (B, F−1, J) of ‖Δpred − Δtarget‖₂; zero for one frame."""
    if pred.shape[1] < 2:
        return pred.new_zeros(())
    vel_pred = pred[:, 1:] - pred[:, :-1]  # (B, F-1, J, 3)
    vel_target = target[:, 1:] - target[:, :-1]
    return torch.linalg.vector_norm(vel_pred - vel_target, dim=-1).mean()


def mixste_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MixSTE-family loss: weighted MPJPE + 0.5 · temporal consistency + 2.0 · MPJVE (in float32)."""
    pred, target = pred.float(), target.float()
    w = joint_weights(pred.shape[-2], device=pred.device)
    return weighted_mpjpe(pred, target, w) + 0.5 * temporal_consistency(pred, w) + 2.0 * mean_velocity(pred, target)


def mpjpe_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MHFormer-family loss: MPJPE (in float32)."""
    return mpjpe(pred.float(), target.float())
