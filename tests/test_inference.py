"""Fast inference keeps results: fp32 equals the straightforward implementation, bf16 stays close; the
benchmark and precision tools run end to end on tiny models.

HoT: Li et al., CVPR 2024 (arXiv:2311.12028). The straightforward implementation is the model with explicit
softmax attention (``hot_pose.cli.bench.reference_attention``), as the reference code computes it.
"""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from hot_pose.cli import bench as benchmark
from hot_pose.cli.bench import explicit_attention, reference_attention
from hot_pose.models import available_models, build_model
from hot_pose.models.checkpoint import atomic_save
from hot_pose.models.inference import (
    PackedLinear,
    load_model,
    pack_linears,
    packed_linear_available,
    prepare_for_inference,
    resolve_dtype,
    tune_allocator,
)
from tools import precision_check

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(frames=27, channel=32, d_hid=64, token_num=9, depth=2, layer_index=1)


#: H2OT variants: a two-step pyramid needs a third block
TINY_H2OT = dict(depth=3, prune_schedule="1:13,2:9")


def tiny(name: str, **extra) -> nn.Module:
    torch.manual_seed(0)
    pyramid = TINY_H2OT if ".h2ot_" in name else {}
    return build_model(name, **{**TINY, **pyramid, **extra}).eval()


def inputs(model: nn.Module, batch: int = 3) -> torch.Tensor:
    cfg = model.config
    return torch.rand(batch, cfg.frames, cfg.n_joints, 2, generator=torch.Generator().manual_seed(1)) * 2 - 1


def replay(out) -> dict:
    """Keyword arguments that make another run keep the same frames (seq2frame: index, HoT: kept)."""
    kept = out.index if out.index is not None else out.kept
    if kept is not None and out.kept_steps is not None and len(out.kept_steps) > 1:
        return {"index": out.kept_steps}  # a pyramid: every step's frames
    return {} if kept is None else {"index": kept}


@pytest.mark.parametrize("name", available_models())
def test_fp32_fast_path_equals_the_straightforward_implementation(name):
    model = tiny(name)
    x = inputs(model)
    with torch.no_grad(), reference_attention():
        plain = model(x)
    fast = prepare_for_inference(model, "fp32")
    out = fast(x, **replay(plain))
    assert out.pose.dtype == torch.float32
    assert (out.pose - plain.pose).abs().max() <= 1e-5
    # Not compared: the frames each path keeps by itself. Fused and explicit attention differ by ~1e-7, which
    # flips DPC-kNN's near-ties differently on different CPUs (AVX2 vs AVX-512); frame choice is tested below
    # on features without near-ties.


def test_exact_distances_keep_the_same_frames_after_rounding_level_changes():
    """Features of 9 separated groups of 3 frames: with exact (symmetric, zero-diagonal) distances the choice
    survives a 1e-6 relative perturbation, the size of the differences between arithmetic paths. With k = 2
    a group's closest pair has exactly equal densities: the tie-break noise decides it in exact mode (the same
    on every machine), the matrix product's rounding in the reference mode (so that mode is not asserted)."""
    from hot_pose.models.hot import TokenPruningCluster

    gen = torch.Generator().manual_seed(3)
    centres = 30.0 * torch.randn(9, 64, generator=gen)
    spread = torch.linspace(1.5, 2.2, 9)[:, None, None]
    z = (centres[:, None] + spread * torch.randn(9, 3, 64, generator=gen)).reshape(1, 27, 64).repeat(2, 1, 1)
    tpc = TokenPruningCluster(9)
    tpc.exact_distance = True
    kept = tpc.select(z)
    assert torch.equal(kept[0], kept[1]) and len(set((kept[0] // 3).tolist())) >= 6  # spread over the groups
    for seed in range(5):
        noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(tpc.select(z * (1 + 1e-6 * noise)), kept)
        assert torch.equal(tpc.select(z * (1 + 1e-6)), kept)


@pytest.mark.parametrize("name", ["mixste.hot_mixste", "motionbert.hot_motionbert", "mhformer.tpc_mhformer"])
def test_bf16_fast_path_stays_close_with_replayed_frames(name):
    model = tiny(name)
    x = inputs(model)
    with torch.no_grad():
        ref = model(x)
    fast = prepare_for_inference(model, "bf16")
    assert next(fast.model.parameters()).dtype == torch.bfloat16 or fast.packed
    out = fast(x, **replay(ref))
    assert out.pose.dtype == torch.float32
    scale = ref.pose.abs().max().clamp_min(1e-3)
    assert (out.pose - ref.pose).abs().max() <= 0.05 * scale
    assert model.training is False and next(model.parameters()).dtype == torch.float32  # original untouched


def test_inference_model_stays_in_eval_mode():
    fast = prepare_for_inference(tiny("mixste.hot_mixste"), "fp32")
    fast.train()
    assert not fast.training and not fast.model.training


@pytest.mark.skipif(not packed_linear_available(), reason="no oneDNN bf16 linear on this CPU build")
def test_packed_linear_fuses_bias_and_gelu():
    torch.manual_seed(0)
    lin = nn.Linear(32, 48).to(torch.bfloat16)
    x = torch.randn(5, 7, 32, dtype=torch.bfloat16)
    with torch.no_grad():
        assert torch.allclose(PackedLinear(lin)(x).float(), lin(x).float(), atol=3e-2)
        gelu = nn.functional.gelu(lin(x).float())
        assert torch.allclose(PackedLinear(lin, "gelu")(x).float(), gelu, atol=3e-2)
    model = tiny("mixste.hot_mixste").to(torch.bfloat16)
    linears = sum(isinstance(m, nn.Linear) for m in model.modules())
    assert pack_linears(model) == linears  # fc1 + GELU count once
    assert not any(type(m) is nn.Linear for m in model.modules())


def test_dtype_names_and_allocator():
    assert resolve_dtype("bf16") is torch.bfloat16 and resolve_dtype(torch.float16) is torch.float16
    with pytest.raises(ValueError, match="valid"):
        resolve_dtype("int8")
    assert tune_allocator() is tune_allocator()  # idempotent (True on glibc Linux)


def test_explicit_attention_equals_sdpa():
    q, k, v = torch.randn(3, 2, 4, 7, 8).unbind(0)
    sdpa = nn.functional.scaled_dot_product_attention(q, k, v)
    assert torch.allclose(explicit_attention(q, k, v), sdpa, atol=1e-6)


def test_load_model_from_an_engine_style_checkpoint(tmp_path):
    model = tiny("motionbert.hot_motionbert")
    path = tmp_path / "best.pth"
    atomic_save(dict(variant="motionbert.hot_motionbert", args=dict(TINY), model=model.state_dict()), path)
    loaded = load_model(checkpoint=str(path))
    assert torch.equal(loaded(inputs(model)).pose, model(inputs(model)).pose)
    with pytest.raises(ValueError, match="holds"):
        load_model("mixste.hot_mixste", str(path))


def test_benchmark_runs_and_writes_json_and_markdown(tmp_path):
    argv = ["--models", "mixste.mixste", "mixste.hot_mixste", "--batch", "2", "--repeats", "2", "--inprocess",
            "--dtype", "fp32", "bf16", "--out-dir", str(tmp_path), "--name", "tiny", "--quiet"] + \
        [f"--{k}={v}" for k, v in TINY.items()]
    assert benchmark.main(argv) == 0
    report = json.loads((tmp_path / "tiny.json").read_text())
    runs = {(r["variant"], r["engine"]): r for r in report["runs"]}
    assert set(runs) == {(v, e) for v in ("mixste.mixste", "mixste.hot_mixste") for e in ("reference", "fp32", "bf16")}
    hot = runs[("mixste.hot_mixste", "fp32")]
    assert len(hot["times_s"]) == 2 and hot["output_frames_per_s"] > 0 and hot["wall_ratio_vs_baseline"] > 0
    assert hot["max_abs_diff_vs_first_engine"] <= 1e-5  # fp32 fast path = reference, same kept frames
    assert report["static"]["mixste.hot_mixste"]["flops_clustering"] > 0
    assert "| `mixste.hot_mixste` | bf16 | 2 |" in (tmp_path / "tiny.md").read_text()
    assert benchmark.main(["--models", "nope.nope"]) == 2


def test_benchmark_skips_emulated_bf16_by_default_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmark, "cpu_native_bf16", lambda: False)
    argv = ["--models", "mixste.hot_mixste", "--batch", "1", "--repeats", "1", "--min-repeats", "1", "--inprocess",
            "--no-reference", "--no-static", "--out-dir", str(tmp_path), "--name", "nobf16", "--quiet"] + \
        [f"--{k}={v}" for k, v in TINY.items()]
    assert benchmark.main(argv) == 0
    report = json.loads((tmp_path / "nobf16.json").read_text())
    assert {r["engine"] for r in report["runs"]} == {"fp32"}
    assert "bf16 not timed: this CPU has no bf16 instructions" in (tmp_path / "nobf16.md").read_text()


def test_precision_check_runs_the_engine_protocol(tmp_path, h36m_dir):
    torch.manual_seed(0)
    model = build_model("mixste.hot_mixste", **{**TINY, "n_joints": 16})
    atomic_save(model.state_dict(), tmp_path / "best.pth")
    engine = ["--model", "mixste.hot_mixste", "--stride", "27", "--root_path", str(h36m_dir), "--keypoints",
              "sh_pt_mpii", "--actions", "Walking", "--subset", "0.02", "--no_progress", "--batch_size", "64",
              "--previous_dir", str(tmp_path), "--subjects_test", "S9"] + [f"--{k}={v}" for k, v in TINY.items()]
    report = tmp_path / "precision.json"
    assert precision_check.main(["--report", str(report), "--"] + engine) == 0
    rows = json.loads(report.read_text())["rows"]
    assert [r["precision"] for r in rows] == ["fp32", "bf16-autocast", "bf16"]
    assert rows[0]["delta_p1"] == 0 and all(r["n_windows"] == rows[0]["n_windows"] > 0 for r in rows)
