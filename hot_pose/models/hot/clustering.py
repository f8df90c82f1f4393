"""DPC-kNN token clustering for HoT's Token Pruning Cluster (TPC).

Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation",
CVPR 2024 (arXiv:2311.12028), Sec. 3.2; density-peak clustering after Rodriguez & Laio (2014)
with the kNN density of Du et al. (2016).

For features Z (B, F, C) of F frames:
    D = cdist(Z, Z) / √C (exact by default, see ``pairwise_distance``),  ρ_i = exp(−mean of the k smallest D_i·²) (+ tie-break noise · 1e-6),
    δ_i = min{D_ij : ρ_j > ρ_i} (the densest token gets max D),  γ_i = ρ_i · δ_i,
and the kept frames are the top-``num_keep`` of γ, returned in ascending (temporal) order.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

#: scale of the uniform tie-break noise added to the density (as in the reference).
TIE_BREAK_SCALE = 1e-6


def default_generator(seed: int = 0) -> torch.Generator:
    """A fresh CPU generator seeded with ``seed``: the default makes every call deterministic."""
    return torch.Generator().manual_seed(seed)


#: ``torch.cdist`` computes Euclidean distances by a matrix product for more than this many rows
CDIST_MM_ROWS = 25


def pairwise_distance(z: torch.Tensor, exact: bool = False) -> torch.Tensor:
    """``torch.cdist(z, z)`` written out, so that traced graphs (ONNX) compute it the same way.

    For more than 25 rows ``torch.cdist`` takes its matrix-product path, ‖a‖² − 2a·b + ‖b‖² in one matmul
    of padded operands, so self-distances come out slightly above 0; by default
    this function repeats exactly those operations, bit for bit on the same backend. (The ONNX exporter
    would lower ``cdist`` to the direct difference form instead.)

    ``exact=True`` returns a bitwise-symmetric matrix with an exact zero diagonal, computed from features
    centred per clip (the distances are the same; the norms, and so the cancellation error of the matrix
    product form, are much smaller). With k = 2 the kNN density of a mutual nearest-neighbour pair then
    ties exactly and the tie-break noise decides, as intended; on the reference path the rounding of the
    matrix product decides, and that rounding differs between backends (MKL, cuBLAS, onnxruntime).
    Exported graphs use it.

    Args:
        z: (B, F, C).
        exact: symmetric, zero-diagonal distances (see above).

    Returns:
        (B, F, F) distances.
    """
    if exact:
        z = z - z.mean(dim=1, keepdim=True)  # same distances; small norms, so ‖a‖² + ‖b‖² − 2a·b cancels less
        norm = z.pow(2).sum(dim=-1)  # (B, F)
        gram = z.matmul(z.transpose(-2, -1))  # (B, F, F)
        gram = (gram + gram.transpose(-2, -1)) * 0.5  # bitwise symmetric
        sq = (norm[:, :, None] + norm[:, None, :]) - 2 * gram
        frame = torch.arange(z.shape[1], device=z.device)
        diagonal = frame[:, None] == frame[None, :]  # (F, F)
        return sq.clamp_min(0).masked_fill(diagonal, 0.0).sqrt()
    if z.shape[1] <= CDIST_MM_ROWS:
        return torch.cdist(z, z)
    norm = z.pow(2).sum(dim=-1, keepdim=True)  # (B, F, 1)
    ones = torch.ones_like(norm)
    left = torch.cat([z.mul(-2), norm, ones], dim=-1)  # (B, F, C + 2)
    right = torch.cat([z, ones, norm], dim=-1)  # (B, F, C + 2)
    return left.matmul(right.transpose(-2, -1)).clamp_min(0).sqrt()


def tie_break_noise(batch: int, frames: int, generator: Optional[torch.Generator] = None, seed: int = 0) -> torch.Tensor:
    """Uniform [0, 1) tie-break noise: (B, F) from a stateful ``generator``, else one (1, F) row from a fresh
    generator seeded with ``seed`` (deterministic, and the same for every sample of any batch)."""
    if generator is not None:
        return torch.rand((batch, frames), generator=generator, device=generator.device, dtype=torch.float32)
    return torch.rand((1, frames), generator=default_generator(seed), dtype=torch.float32)


@torch.no_grad()
def dpc_knn_score(
    z: torch.Tensor,
    k: int = 2,
    generator: Optional[torch.Generator] = None,
    noise: Optional[torch.Tensor] = None,
    exact_distance: bool = True,
) -> torch.Tensor:
    """Density-peak score γ = ρ·δ of every token.

    Args:
        z: token features, (B, F, C).
        k: neighbours in the kNN density, counting the token itself (reference: 2).
        generator: source of the tie-break noise, one (B, F) draw per call (on the CPU, then moved to
            ``z``'s device). ``None`` draws one (1, F) row from a fresh generator seeded with 0, shared by
            every sample, so a clip's score depends on neither the call nor its batch position.
        noise: uniform [0, 1) tie-break noise broadcastable to (B, F), used instead of drawing it
            (``generator`` is then ignored). ONNX export passes a frozen (1, F) row here: a traced graph
            cannot hold a generator.
        exact_distance: symmetric zero-diagonal distances (``pairwise_distance(exact=True)``, the default);
            False = the reference's matrix-product ``cdist``, whose rounding decides near-ties.

    Returns:
        γ, (B, F).
    """
    b, f, c = z.shape
    dist = pairwise_distance(z, exact=exact_distance) / math.sqrt(c)  # (B, F, F)
    knn = dist.topk(k, dim=-1, largest=False).values  # (B, F, k)
    density = (-(knn**2).mean(dim=-1)).exp()  # (B, F)
    if noise is None:
        noise = tie_break_noise(b, f, generator)
    density = density + noise.to(device=density.device, dtype=density.dtype) * TIE_BREAK_SCALE
    higher = density[:, None, :] > density[:, :, None]  # (B, F, F): ρ_j > ρ_i
    dist_max = dist.flatten(1).max(dim=-1).values[:, None, None]  # (B, 1, 1)
    delta = torch.where(higher, dist, dist_max).min(dim=-1).values  # (B, F)
    return density * delta


@torch.no_grad()
def select_tokens(score: torch.Tensor, num_keep: int, center: Optional[int] = None) -> torch.Tensor:
    """Indices of the ``num_keep`` highest-scoring tokens, sorted ascending.

    Args:
        score: (B, F) scores.
        num_keep: tokens to keep, 1 ≤ num_keep ≤ F.
        center: if given, this frame is always kept (centre forcing for seq2frame models) and
            ``num_keep − 1`` others are chosen by score.

    Returns:
        index, (B, num_keep) int64, sorted ascending.
    """
    f = score.shape[1]
    if not 1 <= num_keep <= f:
        raise ValueError(f"cannot keep {num_keep} of {f} tokens")
    if center is None:
        index = score.topk(num_keep, dim=-1).indices
    else:
        score = score.clone()
        score[:, center] = -math.inf
        index = score.topk(num_keep - 1, dim=-1).indices
        index = torch.cat([index, index.new_full((index.shape[0], 1), center)], dim=1)
    return index.sort(dim=-1).values


def cluster_dpc_knn(
    z: torch.Tensor,
    num_keep: int,
    k: int = 2,
    center: Optional[int] = None,
    generator: Optional[torch.Generator] = None,
    exact_distance: bool = True,
) -> torch.Tensor:
    """Kept frame indices (B, num_keep), sorted, for features ``z`` (B, F, C). See module docstring."""
    score = dpc_knn_score(z, k=k, generator=generator, exact_distance=exact_distance)
    return select_tokens(score, num_keep, center=center)


def gather_tokens(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Per-sample gather along axis 1.

    Args:
        x: (B, F, *rest).
        index: (B, K) indices into axis 1.

    Returns:
        (B, K, *rest) with out[b, k] = x[b, index[b, k]].
    """
    view = index.reshape(index.shape + (1,) * (x.ndim - 2))
    return torch.gather(x, 1, view.expand(index.shape + x.shape[2:]))
