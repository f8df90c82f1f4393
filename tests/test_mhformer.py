"""Tests of the MHFormer family (hot_pose/models/mhformer): shapes, sizes, reference checkpoint layout, the TPC
index contract and a functional re-computation of the SHR and CHI blocks."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hot_pose.models import build_model
from hot_pose.models.checkpoint import CheckpointError, load_weights
from hot_pose.models.hot import TokenPruningCluster, cluster_dpc_knn
from hot_pose.models.mhformer.modules import CHIBlock, SHRBlock

KEYS_JSON = Path(__file__).resolve().parents[2] / "shared" / "docs" / "reference_state_dict_keys.json"
VARIANTS = ("mhformer.mhformer", "mhformer.tpc_mhformer")
SMALL = dict(channel=32, d_hid=64)
PARAMS, BUFFERS = 31_516_125, 3_073


def small(name: str, frames: int = 27, **overrides) -> nn.Module:
    torch.manual_seed(0)
    kwargs = dict(SMALL, frames=frames, token_num=9, layer_index=1)
    return build_model(name, **{**kwargs, **overrides}).eval()


def poses(batch: int = 2, frames: int = 27, joints: int = 17, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, frames, joints, 2, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------------
# shapes and sizes
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("frames", [27, 81])
@pytest.mark.parametrize("name", VARIANTS)
def test_output_shapes(name: str, frames: int) -> None:
    model = small(name, frames)
    with torch.no_grad():
        out = model(poses(frames=frames))
    if name == "mhformer.mhformer":
        assert out.pose.shape == (2, frames, 17, 3) and out.index is None and out.kept is None
    else:
        assert out.pose.shape == (2, 9, 17, 3) and out.index.shape == (2, 9)
        assert torch.equal(out.index, out.kept)
    assert torch.isfinite(out.pose).all()
    # F ≤ 27: Conv1d → BN → ReLU → Dropout embeddings (BN buffers present); F > 27: a bare Conv1d
    assert isinstance(model.embedding_3, nn.Sequential) == (frames <= 27)
    assert ("embedding_1.1.running_mean" in model.state_dict()) == (frames <= 27)


def test_sixteen_joints_and_out_joints() -> None:
    model = small("mhformer.mhformer", n_joints=16)
    assert model.embedding_1[0].in_channels == 32 and model.embedding_3[0].in_channels == 32
    assert model.Transformer_encoder_1.pos_embed.shape == (1, 32, 27)
    with torch.no_grad():
        assert model(poses(joints=16)).pose.shape == (2, 27, 16, 3)
        other = small("mhformer.tpc_mhformer", n_joints=16, out_joints=17)
        assert other(poses(joints=16)).pose.shape == (2, 9, 17, 3)


@pytest.mark.parametrize("name", VARIANTS)
def test_reference_parameter_count(name: str) -> None:
    with torch.device("meta"):
        model = build_model(name)
    assert model.config.frames == 351 and model.config.channel == 512 and model.config.d_hid == 1024
    assert sum(p.numel() for p in model.parameters()) == PARAMS
    assert sum(b.numel() for b in model.buffers()) == BUFFERS
    sizes = {n: sum(p.numel() for p in getattr(model, n).parameters())
             for n in ("Transformer_hypothesis", "Transformer_encoder_1", "regression", "embedding_1", "norm_1")}
    assert sizes == dict(Transformer_hypothesis=19_467_264, Transformer_encoder_1=3_970_512, regression=81_459,
                         embedding_1=17_920, norm_1=702)
    if name == "mhformer.tpc_mhformer":
        assert model.prune.num_tokens == 117 and model.prune.center == 175 and model.prunes


def test_bad_input_is_rejected() -> None:
    model = small("mhformer.tpc_mhformer")
    with pytest.raises(ValueError, match="--frames"):
        model(poses(frames=81))
    with pytest.raises(ValueError, match="index"):
        model(poses(), index=torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="divisible"):
        build_model("mhformer.mhformer", frames=100, **SMALL)


# ------------------------------------------------------------------------------------------------
# reference checkpoints
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", VARIANTS)
def test_strict_load_of_reference_state_dict(name: str, tmp_path: Path) -> None:
    reference = json.loads(KEYS_JSON.read_text())[name]["state_dict"]
    with torch.device("meta"):
        model = build_model(name)
    assert list(model.state_dict()) == list(reference)  # same names, same order
    model = model.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(0)
    state = {k: (torch.tensor(7) if k.endswith("num_batches_tracked") else torch.randn(shape, generator=gen))
             for k, shape in reference.items()}
    torch.save({"model_pos": state}, tmp_path / "ref.pth")
    load_weights(model, tmp_path / "ref.pth")
    own = model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in state.items())
    del state["regression.1.bias"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match="regression.1.bias"):
        load_weights(model, tmp_path / "broken.pth")


# ------------------------------------------------------------------------------------------------
# TPC index contract
# ------------------------------------------------------------------------------------------------
def test_tpc_index_contract() -> None:
    model = small("mhformer.tpc_mhformer")
    x = poses(batch=3)
    captured = {}
    model.Transformer_hypothesis.SHR_blocks[0].register_forward_hook(lambda m, i, o: captured.update(z=o))
    with torch.no_grad():
        out = model(x)
        index = out.index
        assert index.shape == (3, 9) and index.dtype == torch.long
        assert (index[:, 1:] > index[:, :-1]).all()  # sorted and unique
        assert (index == 13).any(dim=1).all()  # centre (27 − 1) // 2 always kept
        # clustering runs on concat(x₁, x₂, x₃) at the start of SHR block 1, centre forced
        z = torch.cat(captured["z"], dim=-1)  # (B, F, 3C)
        assert torch.equal(index, cluster_dpc_knn(z, 9, center=13))
        again = model(x, index=index)  # flip pass: the given index is reused
        assert torch.equal(again.index, index) and torch.equal(again.pose, out.pose)
        flipped = model(-x, index=index)
        assert torch.equal(flipped.index, index)


def test_tpc_is_mhformer_with_a_pruner() -> None:
    base = small("mhformer.mhformer")
    never = small("mhformer.tpc_mhformer", layer_index=2)  # n ≥ number of SHR blocks: no pruning
    first = small("mhformer.tpc_mhformer", layer_index=0)
    never.load_state_dict(base.state_dict(), strict=True)
    x = poses()
    with torch.no_grad():
        out, ref = never(x), base(x)
        assert out.index is None and torch.equal(out.pose, ref.pose)
        assert isinstance(first.prune, TokenPruningCluster) and first(x).pose.shape == (2, 9, 17, 3)
        assert base(x, index=torch.zeros(2, 9, dtype=torch.long)).pose.shape == (2, 27, 17, 3)  # ignored


@pytest.mark.parametrize("name", VARIANTS)
def test_eval_is_deterministic_and_training_backpropagates(name: str) -> None:
    model = small(name)
    x = poses()
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a.pose, b.pose)
    model.train()
    model(x).pose.square().mean().backward()
    hyp = model.Transformer_hypothesis
    for p in (hyp.pos_embed_1, hyp.pos_embed_3, model.Transformer_encoder_2.pos_embed, model.norm_1.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0


# ------------------------------------------------------------------------------------------------
# layouts and an independent functional re-computation
# ------------------------------------------------------------------------------------------------
def test_input_and_output_layouts() -> None:
    model = small("mhformer.mhformer")
    seen = {}
    model.norm_1.register_forward_pre_hook(lambda m, i: seen.update(x=i[0]))
    model.regression.register_forward_hook(lambda m, i, o: seen.update(y=o))
    x = poses()
    with torch.no_grad():
        pose = model(x).pose
    for j, c in ((0, 0), (0, 1), (5, 1), (16, 0)):
        assert torch.equal(seen["x"][:, j * 2 + c], x[:, :, j, c])  # channel = joint·2 + coordinate
    for j, c in ((0, 0), (3, 2), (16, 1)):
        assert torch.equal(pose[:, :, j, c], seen["y"][:, j * 3 + c])  # (B, (j c), F) → (B, F, J, 3)


def _ln(x: torch.Tensor, p: dict, name: str) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], p[f"{name}.weight"], p[f"{name}.bias"], eps=1e-6)


def _heads(x: torch.Tensor, h: int) -> torch.Tensor:
    b, n, c = x.shape
    return x.reshape(b, n, h, c // h).transpose(1, 2)  # (B, H, N, C/H)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, p: dict, name: str, h: int) -> torch.Tensor:
    b, n, c = q.shape
    w = (_heads(q, h) @ _heads(k, h).transpose(-2, -1) * (c // h) ** -0.5).softmax(dim=-1)
    out = (w @ _heads(v, h)).transpose(1, 2).reshape(b, n, c)
    return F.linear(out, p[f"{name}.proj.weight"], p[f"{name}.proj.bias"])


def _mhsa(x: torch.Tensor, p: dict, name: str, h: int) -> torch.Tensor:
    q, k, v = F.linear(x, p[f"{name}.qkv.weight"], p[f"{name}.qkv.bias"]).chunk(3, dim=-1)
    return _attend(q, k, v, p, name, h)


def _cross(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, p: dict, name: str, h: int) -> torch.Tensor:
    q, k, v = (F.linear(t, p[f"{name}.linear_{s}.weight"], p[f"{name}.linear_{s}.bias"])
               for t, s in ((q, "q"), (k, "k"), (v, "v")))
    return _attend(q, k, v, p, name, h)


def _mlp_split(xs, p: dict):
    x = torch.cat(xs, dim=-1)
    hidden = F.gelu(F.linear(_ln(x, p, "norm2"), p["mlp.fc1.weight"], p["mlp.fc1.bias"]))
    x = x + F.linear(hidden, p["mlp.fc2.weight"], p["mlp.fc2.bias"])
    c = x.shape[-1] // 3
    return x[..., :c], x[..., c:2 * c], x[..., 2 * c:]


def _randomised(block: nn.Module) -> dict:
    torch.manual_seed(3)
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return dict(block.named_parameters())


def test_shr_block_matches_functional_spec() -> None:
    block = SHRBlock(32, num_heads=4, mlp_hidden_dim=48, drop=0.1, drop_path=0.1).eval()
    p = _randomised(block)
    xs = tuple(torch.randn(2, 11, 32, generator=torch.Generator().manual_seed(s)) for s in (4, 5, 6))
    ref = [x + _mhsa(_ln(x, p, f"norm1_{k}"), p, f"attn_{k}", 4) for k, x in zip((1, 2, 3), xs)]
    ref = _mlp_split(ref, p)
    with torch.no_grad():
        ours = block(*xs)
    for a, b in zip(ours, ref):
        assert torch.allclose(a, b.detach(), atol=1e-5, rtol=0)


def test_chi_block_matches_functional_spec() -> None:
    block = CHIBlock(32, num_heads=4, mlp_hidden_dim=48, drop=0.1, drop_path=0.2).eval()
    p = _randomised(block)
    x1, x2, x3 = (torch.randn(2, 11, 32, generator=torch.Generator().manual_seed(s)) for s in (7, 8, 9))
    x1 = x1 + _cross(_ln(x2, p, "norm3_11"), _ln(x3, p, "norm3_12"), _ln(x1, p, "norm3_13"), p, "attn_1", 4)
    x2 = x2 + _cross(_ln(x1, p, "norm3_21"), _ln(x3, p, "norm3_22"), _ln(x2, p, "norm3_23"), p, "attn_2", 4)
    x3 = x3 + _cross(_ln(x1, p, "norm3_31"), _ln(x2, p, "norm3_32"), _ln(x3, p, "norm3_33"), p, "attn_3", 4)
    ref = _mlp_split((x1, x2, x3), p)
    xs = tuple(torch.randn(2, 11, 32, generator=torch.Generator().manual_seed(s)) for s in (7, 8, 9))
    with torch.no_grad():
        ours = block(*xs)
    for a, b in zip(ours, ref):
        assert torch.allclose(a, b.detach(), atol=1e-5, rtol=0)
    assert not math.isclose(float((ours[0] - xs[0]).abs().max()), 0.0)  # the block did something
