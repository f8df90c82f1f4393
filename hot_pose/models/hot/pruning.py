"""Token Pruning Cluster (TPC): keep the f most representative frames of a pose-token sequence.

Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation",
CVPR 2024 (arXiv:2311.12028), Sec. 3.2. The same module is H2OT's token pruning module (Li et al., TPAMI 2025,
arXiv:2509.06956) with a choice of strategy (``PRUNE_STRATEGIES``):

* ``cluster``: DPC-kNN density-peak clustering of the frame features (HoT's TPC; the default);
* ``sample``: uniform sampling, ``round(linspace(0, F - 1, f))``: input-independent, no computation;
* ``motion``: the f frames whose features change most, the score of frame t being
  ‖z_t − z_{t−1}‖ + ‖z_{t+1} − z_t‖ (one-sided, doubled, at the ends; ties: the earlier frame).

With ``center`` the centre frame is always kept (seq2frame models).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn

from hot_pose.models.hot.clustering import dpc_knn_score, gather_tokens, select_tokens, tie_break_noise

#: how a pruning step chooses its frames (see the module docstring)
PRUNE_STRATEGIES = ("cluster", "sample", "motion")


def uniform_index(batch: int, frames: int, num_tokens: int, center: Optional[int] = None,
                  device: Optional[torch.device] = None) -> torch.Tensor:
    """(B, f) evenly spaced frames ``round(linspace(0, F - 1, f))``, sorted and distinct; with ``center``, the kept
    frame nearest to it is replaced by it."""
    index = torch.linspace(0, frames - 1, num_tokens, device=device).round().long()
    if center is not None and not bool((index == center).any()):
        index[(index - center).abs().argmin()] = center  # its neighbours lie on either side: still sorted
    return index.unsqueeze(0).expand(batch, -1)


def motion_score(z: torch.Tensor) -> torch.Tensor:
    """(B, F, C) frame features → (B, F) how much frame t differs from its neighbours (see the module docstring)."""
    step = (z[:, 1:] - z[:, :-1]).norm(dim=-1)  # (B, F - 1)
    if step.shape[1] == 0:
        return torch.zeros(z.shape[:2], device=z.device)
    left = torch.cat([step[:, :1], step], dim=1)  # ‖z_t − z_{t−1}‖, frame 0 uses its right step
    right = torch.cat([step, step[:, -1:]], dim=1)
    return left + right


class TokenPruningCluster(nn.Module):
    """Prune a (B, F, J, C) or (B, F, C) token sequence to ``num_tokens`` frames (DPC-kNN, or ``strategy``).

    Frame features for clustering are the joint mean (4-D input) or the tokens themselves (3-D).

    Args:
        num_tokens: frames kept, f.
        dim: if given, a learnable rank embedding ``pos_embed_token`` (1, f, dim), zero-initialised,
            is added to the kept tokens (HoT's ``hot_*`` models); ``None`` adds nothing (``tpc_*``).
        center: frame that is always kept (seq2frame centre forcing), or ``None``.
        k: kNN neighbours, counting the token itself (``cluster``).
        strategy: ``PRUNE_STRATEGIES``: ``cluster`` (HoT's DPC-kNN), ``sample`` or ``motion``.

    Attributes:
        generator: optional ``torch.Generator`` for the tie-break noise (one (B, F) draw per call). ``None``
            (default) draws one (1, F) row from a fresh generator seeded with ``seed`` on every call, shared
            by all samples: the same clip keeps the same frames whatever the call, batch size or batch
            position; set a generator (``hot_pose.models.hot.set_pruning_generator``) to vary it.
        seed: seed of the per-call generator.
        tie_break_noise: optional (1, F) row (non-persistent buffer): the noise the per-call generator
            would draw, frozen. ONNX export sets it with ``hot_pose.models.hot.freeze_tie_break_noise``, because a
            traced graph cannot hold a generator; results are identical for any batch size.
        exact_distance: cluster on symmetric, zero-diagonal distances of centred features
            (``clustering.pairwise_distance(exact=True)``; True, the default) or on the reference's
            matrix-product ``cdist`` (False). The distances are the same up to rounding, but the reference's
            rounding decides DPC-kNN's near-ties (every mutual nearest-neighbour pair ties exactly with k = 2),
            so a change at the 1e-6 level (another CPU, fused attention) flipped up to 15 % of the kept frames
            of reference-size models in ``python -m tools.tpc_stability``, against at most 0.25 % with exact
            distances. Loading a reference (non-engine) checkpoint switches to False, so that its published
            numbers are reproduced; ``hot_pose.models.checkpoint.set_tpc_distance`` and ``--tpc_distance`` choose.
    """

    def __init__(self, num_tokens: int, dim: Optional[int] = None, center: Optional[int] = None, k: int = 2,
                 strategy: str = "cluster") -> None:
        super().__init__()
        if strategy not in PRUNE_STRATEGIES:
            raise ValueError(f"pruning strategy {strategy!r}: choose one of {', '.join(PRUNE_STRATEGIES)}")
        self.strategy = strategy
        self.num_tokens = num_tokens
        self.center = center
        self.k = k
        self.generator: Optional[torch.Generator] = None
        self.seed = 0
        self.pos_embed_token = nn.Parameter(torch.zeros(1, num_tokens, dim)) if dim else None
        self.register_buffer("tie_break_noise", None, persistent=False)
        self.exact_distance = True

    def select(self, z: torch.Tensor) -> torch.Tensor:
        """Kept frame indices (B, f), sorted, for frame features ``z`` (B, F, C).

        Clustering always runs in float32 (a no-op for float32 features), so a bf16/fp16 model scores
        the same distances as its features allow rather than rounding them again.
        """
        z = z.detach().float()
        if self.strategy == "sample":
            return uniform_index(z.shape[0], z.shape[1], self.num_tokens, self.center, z.device)
        if self.strategy == "motion":
            score = motion_score(z)
            # ties → the earlier frame: a tiny decreasing ramp far below any real difference
            score = score - torch.arange(z.shape[1], device=z.device) * (score.abs().max() * 1e-6 + 1e-12)
            return select_tokens(score, self.num_tokens, center=self.center)
        if self.tie_break_noise is not None:
            if self.tie_break_noise.shape[-1] != z.shape[1]:
                raise ValueError(f"tie_break_noise has {self.tie_break_noise.shape[-1]} frames but the input has {z.shape[1]}")
            noise = self.tie_break_noise  # (1, F), frozen for tracing
        else:
            noise = tie_break_noise(z.shape[0], z.shape[1], self.generator, seed=self.seed)  # (1 or B, F)
        gen = None
        score = dpc_knn_score(z, k=self.k, generator=gen, noise=noise, exact_distance=self.exact_distance)  # (B, F)
        return select_tokens(score, self.num_tokens, center=self.center)

    def forward(self, x: torch.Tensor, index: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Prune ``x``.

        Args:
            x: (B, F, J, C) or (B, F, C) tokens.
            index: (B, f) frames to keep; computed by clustering when ``None`` (the flip pass of
                seq2frame models reuses the un-flipped pass's index).

        Returns:
            (tokens (B, f, J, C) or (B, f, C), index (B, f) sorted ascending).
        """
        if index is None:
            index = self.select(x.mean(dim=2, dtype=torch.float32) if x.ndim == 4 else x)  # (B, F, C)
        x = gather_tokens(x, index)
        if self.pos_embed_token is not None:
            pos = self.pos_embed_token
            x = x + (pos.unsqueeze(2) if x.ndim == 4 else pos)  # rank embedding, shared by joints
        return x, index

    def steps(self, layer_index: int) -> Tuple[Tuple[int, "TokenPruningCluster"], ...]:
        """((block, self),): one pruning step before block ``layer_index`` (``PruningPyramid`` has several)."""
        return ((layer_index, self),)

    def extra_repr(self) -> str:
        strategy = "" if self.strategy == "cluster" else f", strategy={self.strategy}"
        return f"num_tokens={self.num_tokens}, center={self.center}, k={self.k}{strategy}"


#: H2OT's name for the module (the same class: every strategy)
TokenPruningModule = TokenPruningCluster
