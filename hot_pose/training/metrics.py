"""Evaluation metrics of 3-D human pose estimation on Human3.6M and the per-action report.

Protocol #1 (MPJPE, "P1"), protocol #2 (P-MPJPE, "P2": error after a rigid Procrustes alignment with scale)
and MPJVE, aggregated per action as in HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based
3D Human Pose Estimation", CVPR 2024, arXiv:2311.12028) and its MHFormer/VideoPose3D ancestry: every sample
(chunk or window) has weight 1 within its action, and the final number is the unweighted mean over actions.

Differences from the reference: P2 is aligned and averaged per sample, so a sample's error
does not depend on which other samples share its batch (``p2_compat=True`` reproduces the reference's
mixed-batch behaviour); action names are matched exactly (``Sitting`` never pulls in ``SittingDown``);
unknown actions raise ``ValueError``; the per-action table is always available (``table()``).

All functions accept torch tensors (any device) or numpy arrays and return the same kind; inputs in metres
give errors in metres.
"""
from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from hot_pose.data.h36m import ACTIONS, canonical_action

_logger = logging.getLogger(__name__)

Array = Union[torch.Tensor, np.ndarray]


def _to_torch(x: Array) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))


def _like(result: torch.Tensor, ref: Array) -> Array:
    return result if isinstance(ref, torch.Tensor) else result.detach().cpu().numpy()


def _as_frames(pred: Array, target: Array) -> tuple:
    """Check shapes; (B, J, 3) inputs become (B, 1, J, 3)."""
    p, t = _to_torch(pred), _to_torch(target)
    if p.shape != t.shape or p.shape[-1] != 3 or p.dim() not in (3, 4):
        raise ValueError(f"expected prediction and target of equal shape (B, [F,] J, 3), got "
                         f"{tuple(p.shape)} and {tuple(t.shape)}")
    if p.dim() == 3:
        p, t = p[:, None], t[:, None]
    return p, t.to(p.device)


def _masked_frame_mean(per_frame: torch.Tensor, valid: Optional[Array]) -> torch.Tensor:
    """(B, F) → (B,) mean over frames, over ``valid`` frames only when given."""
    if valid is None:
        return per_frame.mean(dim=1)
    v = _to_torch(valid).to(per_frame.device).reshape(per_frame.shape).to(per_frame.dtype)
    return (per_frame * v).sum(dim=1) / v.sum(dim=1).clamp_min(1)


def mpjpe(pred: Array, target: Array) -> Array:
    """Mean per-joint position error over all leading axes: mean ‖pred − target‖₂ (a 0-d result).

    Args:
        pred, target: (..., J, 3).
    """
    p, t = _to_torch(pred), _to_torch(target)
    if p.shape != t.shape:
        raise ValueError(f"shape mismatch {tuple(p.shape)} vs {tuple(t.shape)}")
    return _like(torch.linalg.vector_norm(p - t.to(p.device), dim=-1).mean(), pred)


def mpjpe_per_sample(pred: Array, target: Array, valid: Optional[Array] = None) -> Array:
    """P1 of every sample: mean over its frames and joints of ‖pred − target‖₂.

    Args:
        pred, target: (B, F, J, 3) or (B, J, 3). Centre the roots first (the protocol sets joint 0 to 0).
        valid: optional (B, F) bool mask; only True frames count (default: all frames, as the reference).

    Returns:
        (B,) errors.
    """
    p, t = _as_frames(pred, target)
    per_frame = torch.linalg.vector_norm(p - t, dim=-1).mean(dim=-1)  # (B, F)
    return _like(_masked_frame_mean(per_frame, valid), pred)


def procrustes_align(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Align every pose of ``pred`` to ``target`` by the optimal similarity transform (rotation, scale,
    translation; reflections excluded).

    Args:
        pred, target: (N, J, 3) poses.

    Returns:
        (N, J, 3) aligned predictions, float64.
    """
    x = target.to(torch.float64)
    y = pred.to(torch.float64)
    mu_x, mu_y = x.mean(dim=1, keepdim=True), y.mean(dim=1, keepdim=True)
    x0, y0 = x - mu_x, y - mu_y
    norm_x = torch.linalg.matrix_norm(x0).clamp_min(1e-12)[:, None, None]  # (N, 1, 1) Frobenius norms
    norm_y = torch.linalg.matrix_norm(y0).clamp_min(1e-12)[:, None, None]
    x0, y0 = x0 / norm_x, y0 / norm_y
    h = x0.transpose(1, 2) @ y0  # (N, 3, 3)
    u, s, vt = torch.linalg.svd(h)
    v = vt.transpose(1, 2)
    # exclude reflections: flip the last singular direction where det(R) < 0
    sign = torch.sign(torch.linalg.det(v @ u.transpose(1, 2)))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    v = torch.cat([v[:, :, :2], v[:, :, 2:] * sign[:, None, None]], dim=2)
    s = torch.cat([s[:, :2], s[:, 2:] * sign[:, None]], dim=1)
    rot = v @ u.transpose(1, 2)  # (N, 3, 3), applied as y @ rot
    scale = s.sum(dim=1)[:, None, None] * norm_x / norm_y
    translation = mu_x - scale * (mu_y @ rot)
    return scale * (y @ rot) + translation


def p_mpjpe_per_sample(pred: Array, target: Array, valid: Optional[Array] = None) -> Array:
    """P2 of every sample: each pose is Procrustes-aligned (with scale) to its target on its own, then the
    per-joint errors are averaged over joints and the sample's frames.

    Args:
        pred, target: (B, F, J, 3) or (B, J, 3).
        valid: optional (B, F) bool mask of the frames that count.

    Returns:
        (B,) errors, float32 like the inputs' kind (computed in float64).
    """
    p, t = _as_frames(pred, target)
    b, f = p.shape[:2]
    aligned = procrustes_align(p.reshape(b * f, *p.shape[2:]), t.reshape(b * f, *t.shape[2:]))
    per_pose = torch.linalg.vector_norm(aligned - t.reshape(b * f, *t.shape[2:]).to(torch.float64), dim=-1)
    per_frame = per_pose.mean(dim=-1).reshape(b, f)  # (B·F, J) → (B, F)
    return _like(_masked_frame_mean(per_frame, valid).to(p.dtype), pred)


def mpjve(pred: Array, target: Array) -> Array:
    """Mean per-joint velocity error: mean over (b, t < F−1, j) of ‖(P[t+1] − P[t]) − (Y[t+1] − Y[t])‖₂.

    Args:
        pred, target: (B, F, J, 3) with F ≥ 2.
    """
    p, t = _as_frames(pred, target)
    if p.shape[1] < 2:
        raise ValueError("mpjve needs at least 2 frames")
    dv = (p[:, 1:] - p[:, :-1]) - (t[:, 1:] - t[:, :-1])
    return _like(torch.linalg.vector_norm(dv, dim=-1).mean(), pred)


class ActionErrorAccumulator:
    """Per-action running means of per-sample P1 and P2 (metres in, millimetres out).

    Every sample has weight 1 in its action; the summary is the unweighted mean over the actions that
    received samples (the reference's "average over the 15 actions").

    Args:
        actions: canonical actions to report, in table order (default: the 15 of ``ACTIONS``).
        p2_compat: reproduce the reference's mixed-batch P2 bug: when a batch holds more than
            one sequence name, each of its samples is credited the whole batch's mean P2.
    """

    def __init__(self, actions: Optional[Sequence[str]] = None, p2_compat: bool = False) -> None:
        self.actions = list(actions) if actions is not None else list(ACTIONS)
        self.p2_compat = p2_compat
        self._sum = {a: np.zeros(2, dtype=np.float64) for a in self.actions}
        self._count = {a: 0 for a in self.actions}

    def update(self, actions: Sequence[str], p1: Array, p2: Array) -> None:
        """Add a batch.

        Args:
            actions: B sequence names (e.g. "Walking 1") or canonical actions.
            p1, p2: (B,) per-sample errors in metres.

        Raises:
            ValueError: for an action not in ``self.actions`` or mismatched lengths.
        """
        p1 = np.asarray(_like(_to_torch(p1).detach().double().cpu(), np.zeros(0)), dtype=np.float64).reshape(-1)
        p2 = np.asarray(_like(_to_torch(p2).detach().double().cpu(), np.zeros(0)), dtype=np.float64).reshape(-1)
        if not len(actions) == len(p1) == len(p2):
            raise ValueError(f"got {len(actions)} actions, {len(p1)} P1 and {len(p2)} P2 values")
        if self.p2_compat and len(set(actions)) > 1:
            p2 = np.full_like(p2, p2.mean())
        for name, e1, e2 in zip(actions, p1, p2):
            action = canonical_action(name)
            if action not in self._count:
                raise ValueError(f"action '{name}' is not among the evaluated actions {self.actions}")
            self._sum[action] += (e1, e2)
            self._count[action] += 1

    def per_action(self) -> Dict[str, Dict[str, float]]:
        """``{action: {"p1": mm, "p2": mm, "samples": n}}``; NaN for an action without samples."""
        out = {}
        for a in self.actions:
            n = self._count[a]
            mean = self._sum[a] / n * 1000.0 if n else (math.nan, math.nan)
            out[a] = {"p1": float(mean[0]), "p2": float(mean[1]), "samples": n}
        return out

    def summary(self) -> Dict[str, float]:
        """Unweighted mean over actions with samples: ``{"p1": mm, "p2": mm, "samples": total}``."""
        rows = [r for r in self.per_action().values() if r["samples"]]
        if not rows:
            return {"p1": math.nan, "p2": math.nan, "samples": 0}
        return {"p1": float(np.mean([r["p1"] for r in rows])), "p2": float(np.mean([r["p2"] for r in rows])),
                "samples": int(sum(r["samples"] for r in rows))}

    def table(self) -> str:
        """The per-action table (mm) as text, one action per row plus the average."""
        lines = [f"{'Action':<14}{'P1 (mm)':>10}{'P2 (mm)':>10}{'samples':>10}"]
        for a, r in self.per_action().items():
            lines.append(f"{a:<14}{r['p1']:>10.2f}{r['p2']:>10.2f}{r['samples']:>10d}")
        s = self.summary()
        lines.append(f"{'Average':<14}{s['p1']:>10.2f}{s['p2']:>10.2f}{s['samples']:>10d}")
        return "\n".join(lines)

    def to_dict(self) -> Dict[str, Any]:
        """All numbers (mm): ``{"p1", "p2", "samples"`` (the averages), ``"per_action": {action: {"p1", "p2",
        "samples"}}, "unit": "mm", "p2_compat": bool}``."""
        return {**self.summary(), "per_action": self.per_action(), "unit": "mm", "p2_compat": self.p2_compat}


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.generic, torch.Tensor)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_eval_report(path: Union[str, Path], results: Mapping[str, Any], protocol: Mapping[str, Any]) -> Path:
    """Write ``{"results": results, "protocol": protocol}`` as JSON atomically (temp file + rename).

    NaN/inf become ``null``; numpy/torch scalars and paths are converted.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"results": _json_safe(results), "protocol": _json_safe(protocol)}, indent=2)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _logger.info("evaluation report written to %s", path)
    return path
