"""Generic tests over every variant of the zoo (``hot_pose.models.available_models()``).

Small models (frames 27, channel 32, d_hid 64, token_num 9) for behaviour; the README sizes, built on
the ``meta`` device (no memory, no initialisation), for parameter counts, FLOPs and checkpoint keys.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hot_pose.models import LiftOutput, available_models, build_model
from hot_pose.models.checkpoint import CheckpointError, atomic_save, load_weights, set_tpc_distance
from hot_pose.models.hot import TokenPruningCluster, set_pruning_generator
from hot_pose.models.profile import build_on_device, profile_variant

ROOT = Path(__file__).resolve().parents[1]
KEYS_JSON = ROOT.parent / "shared" / "docs" / "reference_state_dict_keys.json"

MODELS = available_models()
#: variants with published reference checkpoints (H2OT has no public code or weights)
REFERENCE_MODELS = [n for n in MODELS if ".h2ot_" not in n]
SMALL = dict(frames=27, channel=32, d_hid=64, token_num=9)
#: the H2OT variants' pyramids at the small size (ending at SMALL's 9 kept frames)
SMALL_SCHEDULES = {"mixste.h2ot_mixste": "3:13,5:9", "motionbert.h2ot_motionbert": "1:13,3:9",
                   "motionagformer.h2ot_motionagformer": "7:13,11:9"}
CENTRE = (SMALL["frames"] - 1) // 2

#: total parameters at the README configurations
PARAMS = {
    "mixste.mixste": 33_783_811,
    "mixste.hot_mixste": 35_000_323,
    "mixste.tpc_mixste": 33_783_811,
    "mhformer.mhformer": 31_516_125,
    "mhformer.tpc_mhformer": 31_516_125,
    "motionbert.motionbert": 16_001_549,
    "motionbert.hot_motionbert": 16_347_661,
    "motionagformer.motionagformer": 11_723_811,
    "motionagformer.hot_motionagformer": 11_828_031,
    # H2OT (default pyramids; no published numbers to match: measured here, HoT + one rank embedding per step)
    "mixste.h2ot_mixste": 35_020_803,
    "motionbert.h2ot_motionbert": 16_357_901,
    "motionagformer.h2ot_motionagformer": 11_832_741,
}
#: thop-FLOPs per clip (G, LayerNorm not counted — the paper's numbers), the same
#: with LayerNorm counted (thop 0.1.1's default), and thop-style params (M)
THOP = {
    "mixste.mixste": (277.25, 278.08, 33.651),
    "mixste.hot_mixste": (167.52, 168.01, 34.701),
    "mixste.tpc_mixste": (251.29, 252.03, 33.651),
    "mhformer.mhformer": (14.15, 14.19, 30.941),
    "mhformer.tpc_mhformer": (8.22, 8.24, 30.941),
    "motionbert.motionbert": (131.09, 131.44, 15.935),
    "motionbert.hot_motionbert": (63.21, 63.37, 16.198),
    "motionagformer.motionagformer": (96.06, 96.60, 11.705),
    "motionagformer.hot_motionagformer": (60.61, 60.95, 11.768),
    "mixste.h2ot_mixste": (149.25, 149.69, 34.701),
    "motionbert.h2ot_motionbert": (54.26, 54.39, 16.198),
    "motionagformer.h2ot_motionagformer": (55.53, 55.84, 11.768),
}

meta_copy_warning = pytest.mark.filterwarnings("ignore:for .*copying from a non-meta parameter")


def small_model(name: str, seed: int = 0, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    schedule = {"prune_schedule": SMALL_SCHEDULES[name]} if name in SMALL_SCHEDULES else {}
    return build_model(name, **{**SMALL, **schedule, **overrides}).eval()


def small_input(model: torch.nn.Module, batch: int = 2, seed: int = 1) -> torch.Tensor:
    cfg = model.config
    return torch.randn(batch, cfg.frames, cfg.n_joints, cfg.in_channels, generator=torch.Generator().manual_seed(seed))


def prunes(name: str) -> bool:
    return ".hot_" in name or ".tpc_" in name or ".h2ot_" in name


def assert_sorted_unique(index: torch.Tensor, frames: int) -> None:
    assert index.dtype == torch.int64
    assert torch.all(index[:, 1:] > index[:, :-1]), "index must be sorted ascending without repeats"
    assert int(index.min()) >= 0 and int(index.max()) < frames


# --------------------------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("name", MODELS)
def test_output_contract(name):
    model = small_model(name)
    x = small_input(model)
    with torch.no_grad():
        out = model(x)
    assert isinstance(out, LiftOutput)
    cfg = model.config
    frames_out = cfg.frames if out.index is None else out.index.shape[1]
    assert out.pose.shape == (2, frames_out, cfg.out_joints, 3)
    assert torch.isfinite(out.pose).all()
    if ".tpc_" in name:  # seq2frame: the kept frames, centre forced
        assert out.index is not None and out.index.shape == (2, SMALL["token_num"])
        assert_sorted_unique(out.index, cfg.frames)
        assert bool((out.index == CENTRE).any(dim=1).all()), "the centre frame must be kept"
        with torch.no_grad():  # the flip pass reuses the index
            again = model(torch.flip(x, dims=[2]), index=out.index)
        assert torch.equal(again.index, out.index)
    elif ".hot_" in name or ".h2ot_" in name:  # seq2seq: all frames out, kept frames reported
        assert out.index is None
        assert out.kept is not None and out.kept.shape == (2, SMALL["token_num"])
        assert_sorted_unique(out.kept, cfg.frames)
        steps = out.kept_steps
        assert torch.equal(steps[-1], out.kept) and len(steps) == (2 if ".h2ot_" in name else 1)
        for earlier, later in zip(steps, steps[1:]):  # each step keeps frames of the step before
            assert all(set(b.tolist()) <= set(a.tolist()) for a, b in zip(earlier, later))
        with torch.no_grad():  # replaying the kept frames gives the same output
            again = model(x, index=steps if len(steps) > 1 else steps[0])
        assert torch.equal(again.pose, out.pose)
    else:
        assert out.index is None and out.kept is None


@pytest.mark.parametrize("name", [n for n in MODELS if prunes(n)])
def test_kept_frames_deterministic(name):
    model = small_model(name)
    x = small_input(model)

    def kept(m):
        with torch.no_grad():
            out = m(x)
        return out.kept if out.index is None else out.index

    first = kept(model)
    assert torch.equal(first, kept(model)), "the same input must keep the same frames"
    assert torch.equal(first, kept(small_model(name))), "a rebuilt model must keep the same frames"
    assert set_pruning_generator(model, seed=5) >= 1
    pruners = [m for m in model.modules() if isinstance(m, TokenPruningCluster)]
    assert pruners and all(m.seed == 5 and m.generator is None for m in pruners)
    assert torch.equal(kept(model), kept(model))
    assert set_pruning_generator(model, generator=torch.Generator().manual_seed(3)) >= 1
    assert_sorted_unique(kept(model), model.config.frames)


@pytest.mark.parametrize("name", [n for n in MODELS if not prunes(n)])
def test_baselines_have_no_pruning(name):
    assert set_pruning_generator(small_model(name), seed=1) == 0


@pytest.mark.parametrize("name", MODELS)
def test_two_channel_input_accepted(name):
    model = small_model(name)
    x = small_input(model)[..., :2]
    with torch.no_grad():
        assert model(x).pose.shape[-1] == 3


# --------------------------------------------------------------------------------------------- sizes and FLOPs


@pytest.mark.parametrize("name", MODELS)
def test_parameter_count_at_readme_config(name):
    model = build_on_device(name, "meta")
    assert sum(p.numel() for p in model.parameters()) == PARAMS[name]


@pytest.mark.parametrize("name", list(THOP))
def test_thop_flops_and_params_match_the_paper(name):
    gflops, gflops_ln, mparams = THOP[name]
    result = profile_variant(name, {})
    assert result["flops_thop"] / 1e9 == pytest.approx(gflops, rel=1e-3)
    assert result["flops_thop_ln"] / 1e9 == pytest.approx(gflops_ln, rel=1e-3)
    assert result["params_thop"] / 1e6 == pytest.approx(mparams, abs=6e-4)
    assert result["params"] == PARAMS[name]


# --------------------------------------------------------------------------------------------- checkpoints


def reference_keys(name: str) -> dict:
    if not KEYS_JSON.is_file():
        pytest.fail(f"reference key list not found at {KEYS_JSON}")
    return json.loads(KEYS_JSON.read_text())[name]["state_dict"]


@meta_copy_warning
@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_reference_checkpoint_loads_strictly(name, tmp_path):
    # stride-0 tensors of the reference shapes: a few bytes on disk whatever the model size
    state = {k: torch.zeros(()).expand(shape) for k, shape in reference_keys(name).items()}
    atomic_save(state, tmp_path / "reference.pth")
    model = build_on_device(name, "meta")
    load_weights(model, tmp_path / "reference.pth")


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_checkpoint_round_trip(name, tmp_path):
    model = small_model(name, seed=0)
    with torch.no_grad():  # make the zero-initialised embeddings count
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    atomic_save({"epoch": 3, "model": model.state_dict()}, tmp_path / "ck.pth")
    fresh = small_model(name, seed=1)
    extra = load_weights(fresh, tmp_path / "ck.pth")
    assert extra["epoch"] == 3
    # a checkpoint without this project's metadata counts as a reference one: reference distances
    assert all(not m.exact_distance for m in fresh.modules() if hasattr(m, "exact_distance"))
    set_tpc_distance(model, exact=False)
    x = small_input(model)
    with torch.no_grad():
        a, b = model(x), fresh(x)
    assert torch.equal(a.pose, b.pose)


@pytest.mark.parametrize("wrap", ["bare", "model", "model_pos", "state_dict", "module_prefix"])
def test_checkpoint_wrappers(wrap, tmp_path):
    model = small_model("mixste.hot_mixste", seed=0)
    state = model.state_dict()
    obj = {
        "bare": state,
        "model": {"model": state, "epoch": 1},
        "model_pos": {"model_pos": state},
        "state_dict": {"state_dict": state, "optimizer": {}},
        "module_prefix": {"module." + k: v for k, v in state.items()},
    }[wrap]
    atomic_save(obj, tmp_path / "w.pth")
    fresh = small_model("mixste.hot_mixste", seed=1)
    load_weights(fresh, tmp_path / "w.pth")
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_checkpoint_mismatch_lists_every_problem(tmp_path):
    model = small_model("mixste.hot_mixste")
    state = dict(model.state_dict())
    del state["STEblocks.2.attn.qkv.weight"]
    state["STEblocks.9.norm1.weight"] = torch.zeros(32)
    state["head.1.weight"] = torch.zeros(17, 32)
    atomic_save(state, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as err:
        load_weights(small_model("mixste.hot_mixste"), tmp_path / "bad.pth")
    message = str(err.value)
    for part in ("missing", "STEblocks.2.attn.qkv.weight", "unexpected", "STEblocks.9.norm1.weight",
                 "shape", "head.1.weight", "mixste.hot_mixste"):
        assert part in message, part


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError) as err:
        build_model("mixste.nope")
    for name in MODELS:
        assert name in str(err.value)
