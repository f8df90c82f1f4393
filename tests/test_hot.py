"""Unit tests of HoT's modules (hot_pose/models/hot) and of DropPath: DPC-kNN clustering, TPC, TRA."""
from __future__ import annotations

import math

import pytest
import torch

from hot_pose.models.hot import (
    TokenPruningCluster,
    TokenRecoveringAttention,
    cluster_dpc_knn,
    dpc_knn_score,
    gather_tokens,
    select_tokens,
    set_pruning_generator,
)
from hot_pose.models.layers import DropPath


def clustered_frames(segments, dim=16, spread=2.0, seed=0):
    """Frames (1, sum(segments), dim): segment s holds `segments[s]` noisy copies of its own pose."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(len(segments), dim, generator=g) * 50
    parts = [c + spread * torch.randn(n, dim, generator=g) for c, n in zip(centres, segments)]
    return torch.cat(parts)[None]


def segment_of(frame, segments):
    bounds = torch.tensor(segments).cumsum(0)
    return int((frame < bounds).nonzero()[0])


def naive_score(z, noise, k=2):
    """γ = ρ·δ of DPC-kNN with explicit loops, for one sample z (F, C); distances by torch.cdist
    (its matmul path rounds self-distances like the reference, which decides near-ties)."""
    f, c = z.shape
    dist = (torch.cdist(z[None], z[None])[0] / math.sqrt(c)).tolist()
    rho = [math.exp(-sum(d * d for d in sorted(row)[:k]) / k) for row in dist]
    rho = (torch.tensor(rho) + noise * 1e-6).tolist()  # float32, as the reference
    dmax = max(max(row) for row in dist)
    delta = [min([dist[i][j] for j in range(f) if rho[j] > rho[i]], default=dmax) for i in range(f)]
    return torch.tensor([r * d for r, d in zip(rho, delta)])


# --------------------------------------------------------------------------------------------- clustering


@pytest.mark.parametrize("segments", [(5, 5, 5), (3, 9, 4, 7), (8, 2, 6, 6, 5)])
def test_dpc_knn_keeps_one_frame_per_cluster(segments):
    # Fixed data and noise seeds: with k = 2 mutual nearest neighbours have exactly equal densities, and
    # the 1e-6 tie-break noise, rounded to float32, leaves an exact tie in a few % of draws (as in the
    # reference); both members of such a pair then score as peaks.
    z = clustered_frames(segments)
    index = cluster_dpc_knn(z, num_keep=len(segments))
    hit = sorted(segment_of(i, segments) for i in index[0].tolist())
    assert hit == list(range(len(segments)))


def test_dpc_knn_score_matches_naive_definition():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(2, 30, 8, generator=g)  # F > 25: cdist's matmul path, like the reference
    score = dpc_knn_score(z, generator=torch.Generator().manual_seed(7))
    noise = torch.rand((2, 30), generator=torch.Generator().manual_seed(7))
    for b in range(2):
        expected = naive_score(z[b], noise[b])
        assert torch.allclose(score[b], expected, rtol=1e-4, atol=1e-6)
        assert set(score[b].topk(10).indices.tolist()) == set(expected.topk(10).indices.tolist())


def test_indices_sorted_unique_int64():
    z = torch.randn(4, 40, 12)
    index = cluster_dpc_knn(z, num_keep=11)
    assert index.shape == (4, 11) and index.dtype == torch.int64
    assert torch.all(index[:, 1:] > index[:, :-1])  # sorted and unique
    assert int(index.min()) >= 0 and int(index.max()) < 40


def test_centre_forcing_keeps_centre_even_when_it_scores_worst():
    z = clustered_frames((10, 11, 10))  # the centre frame 15 lies inside a cluster: a low score
    centre = (31 - 1) // 2
    score = dpc_knn_score(z)
    assert centre not in cluster_dpc_knn(z, num_keep=4)[0].tolist()
    index = cluster_dpc_knn(z, num_keep=4, center=centre)
    assert centre in index[0].tolist() and torch.all(index[:, 1:] > index[:, :-1])
    assert cluster_dpc_knn(z, num_keep=1, center=centre).tolist() == [[centre]]
    # the other K-1 frames are the best K-1 by score, ignoring the centre
    others = [i for i in index[0].tolist() if i != centre]
    ranked = [i for i in score[0].argsort(descending=True).tolist() if i != centre][:3]
    assert sorted(ranked) == others


def test_select_tokens_rejects_bad_sizes():
    with pytest.raises(ValueError):
        select_tokens(torch.randn(1, 5), num_keep=6)
    with pytest.raises(ValueError):
        select_tokens(torch.randn(1, 5), num_keep=0)


def test_same_input_same_index_and_seeds_break_ties_differently():
    z = torch.randn(2, 30, 8)
    assert torch.equal(cluster_dpc_knn(z, 9), cluster_dpc_knn(z, 9))  # default: a fixed-seed generator
    # equidistant frames (simplex): every density ties, only the tie-break noise decides
    ties = torch.eye(30)[None]
    picks = {tuple(cluster_dpc_knn(ties, 5, generator=torch.Generator().manual_seed(s))[0].tolist()) for s in range(6)}
    assert len(picks) > 1
    same = [cluster_dpc_knn(ties, 5, generator=torch.Generator().manual_seed(4)) for _ in range(2)]
    assert torch.equal(*same)


@pytest.mark.parametrize("rest", [(), (17,), (17, 5)])
def test_gather_tokens(rest):
    x = torch.randn(3, 10, *rest)
    index = torch.tensor([[0, 4, 9], [1, 2, 3], [5, 6, 8]])
    out = gather_tokens(x, index)
    assert out.shape == (3, 3, *rest)
    for b in range(3):
        assert torch.equal(out[b], x[b, index[b]])


# --------------------------------------------------------------------------------------------- TPC module


def test_tpc_module_prunes_joint_mean_and_adds_rank_embedding():
    tpc = TokenPruningCluster(num_tokens=6, dim=8)
    assert tpc.pos_embed_token.shape == (1, 6, 8) and torch.count_nonzero(tpc.pos_embed_token) == 0
    x = torch.randn(2, 20, 17, 8)
    with torch.no_grad():
        tpc.pos_embed_token.copy_(torch.arange(6.0)[None, :, None].expand(1, 6, 8))
    out, index = tpc(x)
    assert torch.equal(index, cluster_dpc_knn(x.mean(dim=2), 6))
    expected = gather_tokens(x, index) + torch.arange(6.0)[None, :, None, None]  # by rank, all joints
    assert torch.allclose(out, expected)


def test_tpc_module_reuses_given_index_and_handles_3d():
    tpc = TokenPruningCluster(num_tokens=4, center=7)
    assert tpc.pos_embed_token is None
    x = torch.randn(2, 15, 6)
    out, index = tpc(x)
    assert out.shape == (2, 4, 6) and bool(index.eq(7).any(dim=1).all())
    given = torch.tensor([[0, 1, 7, 14], [2, 7, 9, 10]])
    out2, index2 = tpc(x, index=given)
    assert index2 is given and torch.equal(out2, gather_tokens(x, given))


def test_set_pruning_generator():
    net = torch.nn.Sequential(TokenPruningCluster(5), torch.nn.Linear(2, 2), TokenPruningCluster(3, center=4))
    assert set_pruning_generator(net, seed=11) == 2
    assert all(m.seed == 11 and m.generator is None for m in (net[0], net[2]))
    gen = torch.Generator().manual_seed(1)
    assert set_pruning_generator(net, generator=gen) == 2 and net[0].generator is gen
    ties = torch.eye(30)[None]
    first, second = net[0].select(ties), net[0].select(ties)  # a stateful generator moves on
    fixed = TokenPruningCluster(5)
    fixed.seed = 11
    assert torch.equal(fixed.select(ties), fixed.select(ties))
    assert first.shape == second.shape == (1, 5)


# --------------------------------------------------------------------------------------------- TRA


def test_tra_shapes_and_initial_state():
    tra = TokenRecoveringAttention(dim=16, num_frames=27, num_heads=4, qkv_bias=True)
    assert tra.x_token.shape == (1, 27, 16) and torch.count_nonzero(tra.x_token) == 0
    out = tra(torch.randn(34, 9, 16))
    assert out.shape == (34, 27, 16)
    # zero queries: every output position is the same mix of the kept tokens
    assert torch.allclose(out, out[:, :1].expand_as(out), atol=1e-6)
    with torch.no_grad():
        tra.x_token.normal_()
    out = tra(torch.randn(34, 9, 16))
    assert not torch.allclose(out[:, 0], out[:, 1])


# --------------------------------------------------------------------------------------------- DropPath


def test_drop_path_eval_identity_and_train_scaling():
    x = torch.randn(4000, 3, 2) + 5
    layer = DropPath(0.25)
    layer.eval()
    assert torch.equal(layer(x), x)
    layer.train()
    torch.manual_seed(0)
    y = layer(x)
    ratio = (y / x).flatten(1)
    kept = ratio[:, 0] != 0
    assert torch.allclose(ratio[kept], torch.full_like(ratio[kept], 1 / 0.75))  # kept samples scaled by 1/(1-p)
    assert torch.all(ratio[~kept] == 0)  # whole samples dropped
    assert abs(kept.float().mean().item() - 0.75) < 0.03
    assert torch.equal(DropPath(0.0).train()(x), x)


def test_default_noise_is_independent_of_batch_position_and_size():
    """A clip keeps the same frames alone, first or last in a batch (the engine's re-tests rely on it)."""
    from hot_pose.models.hot import TokenPruningCluster

    tpc = TokenPruningCluster(9)
    # duplicated frames make exact density ties, so the kept set is decided by the tie-break noise
    base = torch.randn(3, 9, 8).repeat_interleave(3, dim=1)  # (3, 27, 8): every frame three times
    together = tpc.select(base)
    for i in range(3):
        assert torch.equal(tpc.select(base[i : i + 1]), together[i : i + 1])
    assert torch.equal(tpc.select(base.flip(0)), together.flip(0))
