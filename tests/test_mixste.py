"""MixSTE family: equivalence with an independent functional forward written from the reference's definitions,
and the family's own options (layer_index range, input checks, joint counts, d_hid rule).

The functional forward consumes a state_dict with the *reference* parameter names (``pos_embed_token``,
``x_token``, ``cross_attention.*``), uses explicit softmax attention and its own DPC-kNN (loops,
AdaptiveAvgPool-style joint mean), and must agree with our models to 1e-5 with the same kept frames.
"""
from __future__ import annotations

import math
from typing import Dict, Optional

import pytest
import torch
import torch.nn.functional as F

from hot_pose.models import build_model
from hot_pose.models.checkpoint import set_tpc_distance

SMALL = dict(frames=27, channel=32, d_hid=64, token_num=9)
HEADS = 8

# --------------------------------------------------------------------------------------------- functional reference


def to_reference_names(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Our keys → the reference checkpoint's keys."""
    renames = {"prune.pos_embed_token": "pos_embed_token", "recover.x_token": "x_token",
               "recover.cross_attention.": "cross_attention."}
    out = {}
    for key, value in state.items():
        for ours, ref in renames.items():
            if key.startswith(ours):
                key = ref + key[len(ours):]
        out[key] = value
    return out


def linear(sd, name, x):
    return x @ sd[name + ".weight"].T + sd[name + ".bias"]


def layer_norm(sd, name, x, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * sd[name + ".weight"] + sd[name + ".bias"]


def heads(x):
    n, t, c = x.shape
    return x.reshape(n, t, HEADS, c // HEADS).permute(0, 2, 1, 3)  # (N, H, T, C/H)


def attend(q, k, v):
    """softmax(QKᵀ·(C/H)^−0.5)V with an explicit softmax; q (N, Tq, C), k/v (N, Tk, C)."""
    n, t, c = q.shape
    scores = heads(q) @ heads(k).transpose(-2, -1) * (c // HEADS) ** -0.5
    weights = scores.exp() / scores.exp().sum(-1, keepdim=True)
    return (weights @ heads(v)).permute(0, 2, 1, 3).reshape(n, t, c)


def block(sd, name, x):
    """Pre-LN block (eps 1e-6): x += MHSA(LN(x)); x += MLP(LN(x))."""
    h = layer_norm(sd, name + ".norm1", x, 1e-6)
    q, k, v = linear(sd, name + ".attn.qkv", h).chunk(3, dim=-1)
    x = x + linear(sd, name + ".attn.proj", attend(q, k, v))
    h = layer_norm(sd, name + ".norm2", x, 1e-6)
    return x + linear(sd, name + ".mlp.fc2", F.gelu(linear(sd, name + ".mlp.fc1", h)))


def dpc_knn(z, keep, centre=None, seed=0):
    """DPC-kNN per sample with loops; the tie-break noise is our default draw: one seeded CPU row
    shared by every sample."""
    b, f, c = z.shape
    noise = torch.rand((1, f), generator=torch.Generator().manual_seed(seed)).expand(b, f)
    kept = []
    dists = torch.cdist(z, z) / math.sqrt(c)  # batched, like the model: mutual neighbours tie exactly
    for s in range(b):
        dist = dists[s]
        rho = torch.exp(-(dist.sort(dim=1).values[:, :2] ** 2).mean(1)) + noise[s] * 1e-6
        delta = torch.stack([dist[i][rho > rho[i]].min() if (rho > rho[i]).any() else dist.max() for i in range(f)])
        score = rho * delta
        if centre is None:
            chosen = score.topk(keep).indices.tolist()
        else:
            score[centre] = -math.inf
            chosen = score.topk(keep - 1).indices.tolist() + [centre]
        kept.append(sorted(chosen))
    return torch.tensor(kept)


def reference_forward(sd, x, depth=8, layer_index=None, keep=None, centre=None, recover=False, index=None):
    """Functional MixSTE / HoT / TPC forward. x (B, F, J, 2) → (pose, kept index or None)."""
    b, f, j, _ = x.shape
    t = linear(sd, "Spatial_patch_to_embedding", x.reshape(b * f, j, -1)) + sd["Spatial_pos_embed"]
    t = layer_norm(sd, "Spatial_norm", block(sd, "STEblocks.0", t), 1e-6)
    t = t.reshape(b, f, j, -1).permute(0, 2, 1, 3).reshape(b * j, f, -1) + sd["Temporal_pos_embed"]
    t = layer_norm(sd, "Temporal_norm", block(sd, "TTEblocks.0", t), 1e-6)  # (B·J, F, C)
    kept = None
    for i in range(1, depth):
        c = t.shape[-1]
        frames = t.shape[1]
        t = t.reshape(b, j, frames, c).permute(0, 2, 1, 3)  # (B, F, J, C)
        if i == layer_index:
            # joint mean (the reference's AdaptiveAvgPool1d, written as the same reduction the model uses, so
            # float rounding cannot flip the exact density ties of mutual nearest neighbours)
            pooled = t.mean(dim=2)  # (B, F, C)
            kept = index if index is not None else dpc_knn(pooled, keep, centre)
            t = torch.stack([t[s, kept[s]] for s in range(b)])  # (B, f, J, C)
            if "pos_embed_token" in sd:
                t = t + sd["pos_embed_token"][:, :, None, :]
            frames = t.shape[1]
        t = t.reshape(b * frames, j, c)
        t = layer_norm(sd, "Spatial_norm", block(sd, f"STEblocks.{i}", t), 1e-6)
        t = t.reshape(b, frames, j, c).permute(0, 2, 1, 3).reshape(b * j, frames, c)
        t = layer_norm(sd, "Temporal_norm", block(sd, f"TTEblocks.{i}", t), 1e-6)
    if recover:
        queries = sd["x_token"].expand(t.shape[0], -1, -1)
        mixed = attend(*(linear(sd, "cross_attention.linear_" + n, a) for n, a in zip("qkv", (queries, t, t))))
        t = queries + linear(sd, "cross_attention.proj", mixed)
    frames = t.shape[1]
    t = t.reshape(b, j, frames, -1).permute(0, 2, 1, 3)  # (B, F', J, C)
    return linear(sd, "head.1", layer_norm(sd, "head.0", t, 1e-5)), kept


# --------------------------------------------------------------------------------------------- equivalence


def randomised(name: str, **overrides) -> torch.nn.Module:
    """A small model whose zero-initialised embeddings and norms are randomised too; its token pruning uses the
    reference's distances (the functional forward below is the reference's computation)."""
    torch.manual_seed(0)
    model = build_model(name, **{**SMALL, **overrides}).eval()
    set_tpc_distance(model, exact=False)
    with torch.no_grad():
        for key, p in model.named_parameters():
            if "pos_embed" in key or "x_token" in key or "norm" in key or "head.0" in key:
                p.add_(0.1 * torch.randn_like(p))
    return model


def inputs(batch: int = 2, joints: int = 17) -> torch.Tensor:
    return torch.randn(batch, SMALL["frames"], joints, 2, generator=torch.Generator().manual_seed(1))


def compare(model, x, index: Optional[torch.Tensor] = None, **ref_kwargs):
    """Our output and the functional forward's; ``index`` is replayed into the reference only when the
    model itself takes no index (HoT models always cluster; TPC models reuse a given index)."""
    with torch.no_grad():
        takes_index = getattr(model, "recover", None) is None
        ours = model(x, index=index if takes_index else None)
        sd = to_reference_names(model.state_dict())
        pose, kept = reference_forward(sd, x, index=index, **ref_kwargs)
    assert ours.pose.shape == pose.shape
    assert (ours.pose - pose).abs().max().item() <= 1e-5
    return ours, kept


def test_mixste_matches_reference():
    ours, kept = compare(randomised("mixste.mixste"), inputs())
    assert ours.index is None and ours.kept is None and kept is None


@pytest.mark.parametrize("layer_index", [1, 3, 7])
def test_hot_mixste_matches_reference(layer_index):
    """Kept frames = the spec's clustering of the model's own features; outputs = the functional forward
    with those frames replayed (features of two implementations differ by ~1e-7, enough to flip the
    near-ties of the non-symmetric matmul cdist, so clusterings are compared on identical inputs)."""
    model = randomised("mixste.hot_mixste", layer_index=layer_index)
    seen = {}
    hook = model.prune.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
    with torch.no_grad():
        ours = model(inputs())
    hook.remove()
    assert torch.equal(ours.kept, dpc_knn(seen["x"].mean(dim=2), 9)) and ours.index is None
    replayed, kept = compare(model, inputs(), layer_index=layer_index, keep=9, recover=True, index=ours.kept)
    assert torch.equal(replayed.kept, ours.kept) and torch.equal(kept, ours.kept)


def test_tpc_mixste_matches_reference_and_reuses_index():
    """As for HoT: the kept frames are the spec's clustering (centre forced) of the model's own features; the
    outputs are compared with those frames replayed into the functional forward."""
    model = randomised("mixste.tpc_mixste", layer_index=4)
    x = inputs()
    seen = {}
    hook = model.prune.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
    with torch.no_grad():
        own = model(x)
    hook.remove()
    assert torch.equal(own.index, dpc_knn(seen["x"].mean(dim=2), 9, centre=13)) and torch.equal(own.kept, own.index)
    ours, kept = compare(model, x, index=own.index, layer_index=4, keep=9, centre=13)
    assert torch.equal(ours.index, own.index) and torch.equal(kept, own.index)
    given = torch.tensor([[0, 2, 5, 8, 13, 14, 20, 21, 26], [1, 3, 4, 9, 10, 13, 17, 19, 25]])
    ours, _ = compare(model, x, index=given, layer_index=4, keep=9, centre=13)
    assert torch.equal(ours.index, given)


@pytest.mark.parametrize("layer_index", [0, 8, 12])
def test_layer_index_outside_range_disables_pruning(layer_index):
    hot, _ = compare(randomised("mixste.hot_mixste", layer_index=layer_index), inputs(), recover=True)
    assert hot.kept is None and hot.pose.shape == (2, 27, 17, 3)  # TRA still runs
    tpc, _ = compare(randomised("mixste.tpc_mixste", layer_index=layer_index), inputs())
    assert tpc.index is None and tpc.pose.shape == (2, 27, 17, 3)


# --------------------------------------------------------------------------------------------- options


def test_hot_and_tpc_use_twice_channel_as_mlp_width():
    for name in ("mixste.hot_mixste", "mixste.tpc_mixste"):
        model = build_model(name, frames=27, channel=48, d_hid=1000, token_num=9)
        assert model.STEblocks[0].mlp.fc1.out_features == 96
    assert build_model("mixste.mixste", frames=27, channel=48, d_hid=100).TTEblocks[0].mlp.fc1.out_features == 100


def test_drop_path_schedule_and_zero_embeddings():
    model = build_model("mixste.hot_mixste", **SMALL)
    rates = [blk.drop_path.drop_prob for blk in model.STEblocks]
    assert rates == pytest.approx(torch.linspace(0, 0.1, 8).tolist())
    assert rates == [blk.drop_path.drop_prob for blk in model.TTEblocks]
    for p in (model.Spatial_pos_embed, model.Temporal_pos_embed, model.prune.pos_embed_token, model.recover.x_token):
        assert torch.count_nonzero(p) == 0
    assert model.Spatial_norm.eps == 1e-6 and model.head[0].eps == 1e-5


@pytest.mark.parametrize("name", ["mixste.mixste", "mixste.hot_mixste", "mixste.tpc_mixste"])
def test_wrong_input_is_a_clear_value_error(name):
    model = build_model(name, **SMALL).eval()
    with pytest.raises(ValueError, match="--frames 27"):
        model(torch.randn(1, 26, 17, 2))
    with pytest.raises(ValueError, match="joints"):
        model(torch.randn(1, 27, 16, 2))
    with pytest.raises(ValueError, match="channels"):
        model(torch.randn(1, 27, 17, 4))
    if name != "mixste.mixste":
        with pytest.raises(ValueError, match="index"):
            model(torch.randn(2, 27, 17, 2), index=torch.zeros(2, 5, dtype=torch.long))


def test_other_joint_counts_and_confidence_channel():
    model = build_model("mixste.hot_mixste", n_joints=16, **SMALL).eval()
    assert model(inputs(joints=16)).pose.shape == (2, 27, 16, 3)
    model = build_model("mixste.tpc_mixste", n_joints=16, out_joints=17, **SMALL).eval()
    out = model(inputs(joints=16))
    assert out.pose.shape == (2, 9, 17, 3) and model.joint_map.weight.shape == (17, 16)
    model = build_model("mixste.mixste", in_channels=3, **SMALL).eval()
    x = inputs()
    with torch.no_grad():
        assert torch.equal(model(x).pose, model(torch.cat([x, torch.ones_like(x[..., :1])], -1)).pose)


def test_token_num_larger_than_frames_rejected():
    with pytest.raises(ValueError, match="token_num"):
        build_model("mixste.hot_mixste", frames=27, channel=32, token_num=28)


def test_model_alias_for_old_imports():
    from hot_pose.models.mixste.hot_mixste import Model

    model = Model(dict(frames=27, channel=32, token_num=9, layer_index=2))
    assert model.variant_name == "mixste.hot_mixste" and model.prune.num_tokens == 9
