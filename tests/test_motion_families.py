"""Tests of the MotionBERT (DSTformer) and MotionAGFormer families, with and without HoT.

Small models (frames 27, channel 32) for behaviour; full-size models only to count parameters and to
load state_dicts with exactly the reference keys and shapes.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from hot_pose.models import build_model
from hot_pose.models.checkpoint import CheckpointError, load_weights
from hot_pose.models.layers import Attention
from hot_pose.models.motionagformer.modules import GCN, H36M_CONNECTIONS, skeleton_adjacency, skeleton_connections
from hot_pose.models.motionbert.ops import attend

KEYS_JSON = Path(__file__).resolve().parents[2] / "shared" / "docs" / "reference_state_dict_keys.json"

MB, HOT_MB = "motionbert.motionbert", "motionbert.hot_motionbert"
AG, HOT_AG = "motionagformer.motionagformer", "motionagformer.hot_motionagformer"
ALL = (MB, HOT_MB, AG, HOT_AG)
HOT = (HOT_MB, HOT_AG)

#: small sizes per family: T 27, f 9; MotionBERT 3 depths, MotionAGFormer 4 layers
SMALL = {
    MB: dict(frames=27, channel=32, d_hid=64, depth=3, num_heads=4),
    AG: dict(frames=27, channel=32, d_hid=64, depth=4, num_heads=4),
}
SMALL[HOT_MB] = dict(SMALL[MB], token_num=9, layer_index=1)
SMALL[HOT_AG] = dict(SMALL[AG], token_num=9, layer_index=2)

#: reference totals at frames 243: (parameters, state_dict tensors' elements that are not parameters)
FULL_COUNTS = {MB: (16_001_549, 0), HOT_MB: (16_347_661, 0), AG: (11_723_811, 8_352), HOT_AG: (11_828_031, 5_436)}


def small(name: str, **overrides) -> nn.Module:
    torch.manual_seed(0)
    return build_model(name, **{**SMALL[name], **overrides}).eval()


@pytest.fixture(scope="module")
def full_models():
    """Every variant at its reference size, built once."""
    torch.manual_seed(0)
    return {name: build_model(name) for name in ALL}


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("channels", [2, 3])
def test_shapes_2_and_3_channel_input(name, channels):
    model = small(name)
    x = torch.randn(2, 27, 17, channels)
    with torch.no_grad():
        out = model(x)
    assert out.pose.shape == (2, 27, 17, 3)
    assert out.index is None
    assert (out.kept is None) == (name not in HOT)
    assert torch.isfinite(out.pose).all()


@pytest.mark.parametrize("name", ALL)
def test_two_channel_input_means_confidence_one(name):
    model = small(name)
    x = torch.randn(1, 27, 17, 2)
    with torch.no_grad():
        a = model(x).pose
        b = model(torch.cat([x, torch.ones(1, 27, 17, 1)], dim=-1)).pose
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", ALL)
def test_in_channels_2_builds_a_2_input_embedding(name):
    model = small(name, in_channels=2)
    assert model.joints_embed.weight.shape == (32, 2)
    with torch.no_grad():
        assert model(torch.randn(1, 27, 17, 2)).pose.shape == (1, 27, 17, 3)
    with pytest.raises(ValueError, match="in_channels=3"):
        model(torch.randn(1, 27, 17, 3))


@pytest.mark.parametrize("name", ALL)
def test_16_joints(name):
    model = small(name, n_joints=16)
    with torch.no_grad():
        assert model(torch.randn(1, 27, 16, 2)).pose.shape == (1, 27, 16, 3)
    with pytest.raises(ValueError, match="expects input"):
        model(torch.randn(1, 27, 17, 2))


def test_input_length_rules():
    with torch.no_grad():
        assert small(MB)(torch.randn(1, 20, 17, 3)).pose.shape == (1, 20, 17, 3)  # temp_embed sliced
    for name in ALL:
        with pytest.raises(ValueError, match="frames=30"):
            small(name)(torch.randn(1, 30, 17, 3))
    for name in (HOT_MB, AG, HOT_AG):  # TRA output length / temporal BatchNorm fix the length
        with pytest.raises(ValueError, match="exactly 27"):
            small(name)(torch.randn(1, 20, 17, 3))


@pytest.mark.parametrize("name", ALL)
def test_parameter_counts_at_reference_size(full_models, name):
    model = full_models[name]
    params = sum(p.numel() for p in model.parameters())
    names = {n for n, _ in model.named_parameters()}
    buffers = sum(t.numel() for k, t in model.state_dict().items() if k not in names)
    assert (params, buffers) == FULL_COUNTS[name]


@pytest.mark.parametrize("name", ALL)
def test_strict_load_of_reference_keys(full_models, name, tmp_path):
    if not KEYS_JSON.is_file():
        pytest.fail(f"reference key list not found at {KEYS_JSON}")
    spec = json.loads(KEYS_JSON.read_text())[name]["state_dict"]
    # expanded scalars: the right shapes, a few bytes on disk
    state = {
        k: (torch.zeros((), dtype=torch.long) if k.endswith("num_batches_tracked") else torch.full((1,), 0.25))
        .expand(shape)
        for k, shape in spec.items()
    }
    torch.save(state, tmp_path / "ref.pth")
    model = full_models[name]
    load_weights(model, tmp_path / "ref.pth")
    assert torch.all(model.head.weight == 0.25)
    if name in HOT:
        assert torch.all(model.recover.x_token == 0.25) and torch.all(model.prune.pos_embed_token == 0.25)
    del state[next(iter(state))]
    torch.save(state, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="missing"):
        load_weights(model, tmp_path / "missing.pth")


@pytest.mark.parametrize("name", HOT)
def test_hot_kept_index_contract(name):
    model = small(name)
    x = torch.randn(3, 27, 17, 2)
    with torch.no_grad():
        out = model(x)
        kept = out.kept
        assert kept.shape == (3, 9) and kept.dtype == torch.long
        assert (kept.diff(dim=1) > 0).all() and kept.min() >= 0 and kept.max() < 27
        again = model(x, index=kept)  # replaying the kept frames reproduces the output
        assert torch.equal(again.pose, out.pose) and torch.equal(again.kept, kept)
        forced = torch.arange(0, 27, 3).expand(3, 9)
        other = model(x, index=forced)
    assert torch.equal(other.kept, forced)
    with pytest.raises(ValueError, match="token_num"):
        model(x, index=forced[:, :5])


@pytest.mark.parametrize("name", ALL)
def test_deterministic(name):
    x = torch.randn(2, 27, 17, 3)
    with torch.no_grad():
        a, b = small(name)(x), small(name)(x)
    assert torch.equal(a.pose, b.pose)
    if name in HOT:
        assert torch.equal(a.kept, b.kept)


def test_motionbert_init():
    model = small(HOT_MB)
    for fuse in model.ts_attn:
        assert torch.all(fuse.weight == 0) and torch.all(fuse.bias == 0.5)
    linears = [m for n, m in model.named_modules() if isinstance(m, nn.Linear) and not n.startswith("ts_attn")]
    assert any(n.startswith("recover.") for n, m in model.named_modules() if isinstance(m, nn.Linear))
    for m in linears:  # trunc_normal(0.02) weights (TRA included), zero biases
        assert m.weight.abs().max() <= 2.0 and 0.01 < m.weight.std() < 0.03
        assert m.bias is None or torch.all(m.bias == 0)
    assert all(m.eps == 1e-6 for m in model.modules() if isinstance(m, nn.LayerNorm))
    assert model.blocks_st[0].attn_s.qkv.bias is not None
    assert torch.all(model.prune.pos_embed_token == 0) and torch.all(model.recover.x_token == 0)
    assert 0.01 < model.temp_embed.std() < 0.03 and 0.01 < model.pos_embed.std() < 0.03


def test_motionagformer_init():
    model = small(HOT_AG)
    for layer in model.layers:
        assert torch.all(layer.fusion.weight == 0) and torch.all(layer.fusion.bias == 0.5)
        for branch in (layer.att_spatial, layer.att_temporal, layer.graph_spatial, layer.graph_temporal):
            assert torch.all(branch.layer_scale_1 == 1e-5) and torch.all(branch.layer_scale_2 == 1e-5)
        assert layer.att_spatial.mixer.qkv.bias is None
    assert all(m.eps == 1e-5 for m in model.modules() if isinstance(m, nn.LayerNorm))
    assert torch.all(model.pos_embed == 0) and torch.all(model.prune.pos_embed_token == 0)
    assert model.recover.cross_attention.linear_q.bias is None
    # temporal BatchNorm sizes: T before the pruning layer, f from it on
    sizes = [layer.graph_temporal.mixer.batch_norm.num_features for layer in model.layers]
    assert sizes == [27, 27, 9, 9]
    assert model.layers[0].graph_spatial.mixer.batch_norm.num_features == 17


def test_fusion_starts_as_the_mean_of_both_streams():
    model = small(AG)
    layer = model.layers[0]
    x = torch.randn(1, 27, 17, 32)
    with torch.no_grad():
        mean = 0.5 * (layer.att_temporal(layer.att_spatial(x)) + layer.graph_temporal(layer.graph_spatial(x)))
        assert torch.allclose(layer(x), mean, atol=1e-6)


def test_skeleton_adjacency_17():
    adj = skeleton_adjacency(17)
    assert torch.all(adj.diagonal() == 0)  # no self loops
    pattern = adj > 0
    for i, neighbours in H36M_CONNECTIONS.items():
        assert sorted(pattern[i].nonzero().flatten().tolist()) == sorted(neighbours)
    # the reference's lists are asymmetric: hip 0 does not list 4, thorax 8 does not list 11 and 14
    assert pattern[4, 0] and not pattern[0, 4] and pattern[11, 8] and not pattern[8, 11]
    deg = pattern.sum(dim=1).float()
    expected = pattern.float() / (deg[:, None] * deg[None, :]).sqrt()  # D^-1/2 A D^-1/2, row degrees
    assert torch.allclose(adj, expected)


def test_skeleton_adjacency_16_connects_head_to_thorax():
    conn = skeleton_connections(16)
    assert sorted(conn) == list(range(16))
    assert conn[9] == [8] and conn[8] == [7, 9]  # head (old 10) ↔ thorax 8
    assert all(0 <= j < 16 and j != i for i, ns in conn.items() for j in ns)
    assert conn[13] == [14, 8] and conn[10] == [11, 8]  # shoulders still hang from the thorax
    with pytest.raises(ValueError, match="17 or 16"):
        skeleton_connections(15)


def test_temporal_gcn_top_k_graph():
    gcn = GCN(8, num_nodes=12, mode="temporal", neighbour_num=4)
    seq = torch.randn(5, 12, 8)
    adj = gcn._similarity_adjacency(seq)
    pattern = adj > 0
    assert torch.all(pattern.sum(dim=-1) == 4)  # k neighbours per frame (no ties in random data)
    sim = seq @ seq.transpose(1, 2)
    assert torch.equal(pattern, sim >= sim.topk(4, dim=-1).values[..., -1:])
    deg = pattern.sum(dim=-1).float()
    assert torch.allclose(adj, pattern.float() / (deg[..., :, None] * deg[..., None, :]).sqrt())


def test_attend_over_frames_is_per_joint_attention():
    attn = Attention(16, num_heads=2).eval()
    x = torch.randn(2, 7, 5, 16)
    with torch.no_grad():
        out = attend(attn, x, "frames")
        for j in range(5):
            assert torch.allclose(out[:, :, j], attn(x[:, :, j]), atol=1e-6)
        spatial = attend(attn, x, "joints")
        assert torch.allclose(spatial[:, 3], attn(x[:, 3]), atol=1e-6)


def test_config_errors():
    with pytest.raises(ValueError, match="out_joints"):
        build_model(MB, **SMALL[MB], out_joints=16)
    with pytest.raises(ValueError, match="layer_index"):
        build_model(HOT_AG, **{**SMALL[HOT_AG], "layer_index": 4})
    with pytest.raises(ValueError, match="token_num"):
        build_model(HOT_MB, **{**SMALL[HOT_MB], "token_num": 28})


def test_reference_entry_point():
    from hot_pose.models.motionbert.hot_motionbert import Model

    model = Model({**SMALL[HOT_MB]})
    assert model.prune.num_tokens == 9 and model.prune_at == 1
