"""The GPU paths, on real Human3.6M: mixed-precision training (bf16 autocast; fp16 with loss scaling), pinned
memory DataLoader workers, ``--compile``, torchrun with NCCL, device inference against the CPU, ONNX on CUDA.

Marked ``cuda``. They run on the device ``HOT_TEST_DEVICE`` (default ``cuda``) and are skipped when it has no
CUDA; ``tools/gpu_check.sh`` runs them on a GPU, and its ``--dry-run`` runs the CPU-capable ones with
``HOT_TEST_DEVICE=cpu`` so that they cannot rot. Data: ``HOT_DATA`` (default ``./dataset/``: the npz pair
with GT 2-D, or a data pack from ``python dataset/prepare_data_h36m.py --pack``).
"""
from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import hot_pose.models as model
import hot_pose.training.engine as engine
from hot_pose.data.dataset import PoseWindowDataset, load_h36m
from hot_pose.models.inference import cpu_native_bf16, load_model, prepare_for_inference
from hot_pose.training.arguments import parse_args
from hot_pose.training.recipes import MIXSTE

ROOT = Path(__file__).resolve().parents[1]
DEVICE = os.environ.get("HOT_TEST_DEVICE", "cuda")
DATA = Path(os.environ.get("HOT_DATA", ROOT / "dataset"))
SHIPPED = ROOT / "hot_pose" / "checkpoints"
ON_CUDA = DEVICE.startswith("cuda")

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(ON_CUDA and not torch.cuda.is_available(),
                       reason="no CUDA device (tools/gpu_check.sh runs these on a GPU; HOT_TEST_DEVICE=cpu "
                              "runs the CPU-capable ones)"),
]
needs_cuda = pytest.mark.skipif(not ON_CUDA, reason="CUDA only")
#: bf16 training on a CPU without bf16 instructions is emulated and ~4x slower than fp32: not worth a test
fast_bf16 = pytest.mark.skipif(not ON_CUDA and not cpu_native_bf16(), reason="bf16 is emulated on this CPU")


def tiny(run_dir: Path, *extra: str) -> list:
    """A short real training run: S1 → S9, Walking, a 2-block-pair HoT w. MixSTE at 27 frames."""
    return ["--model", "mixste.hot_mixste", "--root_path", str(DATA), "--keypoints", "gt", "--subjects_train", "S1",
            "--subjects_test", "S9", "--actions", "Walking", "--subset", "0.12", "--frames", "27", "--stride", "27",
            "--channel", "64", "--d_hid", "128", "--depth", "2", "--token_num", "9", "--layer_index", "1",
            "--nepoch", "2", "--batch_size", "32", "--lr", "5e-4", "--device", DEVICE, "--no_progress",
            "--checkpoint", str(run_dir), *extra]


def history(run_dir: Path) -> list:
    return list(csv.DictReader((run_dir / "metrics.csv").open()))


@pytest.fixture(scope="module")
def s9_windows() -> torch.Tensor:
    """(64, 27, 17, 2) real S9 GT 2-D windows and their (64, 27, 17, 3) targets."""
    data = load_h36m(DATA, "gt", subjects=["S9"])
    windows = PoseWindowDataset(data, ["S9"], frames=27, stride=27, train=False, test_flip=False,
                                actions=["Walking", "Eating"])
    items = [windows[int(i)] for i in np.linspace(0, len(windows) - 1, 64)]
    return torch.stack([w["input_2d"] for w in items]), torch.stack([w["gt_3d"] for w in items])


@pytest.mark.parametrize("amp", ["none", pytest.param("bf16", marks=fast_bf16), pytest.param("fp16", marks=needs_cuda)])
def test_training_with_amp_and_loader_workers(amp, tmp_path, monkeypatch):
    loaders = []
    real_loader = engine.DataLoader

    def recording(*args, **kwargs):
        loaders.append(kwargs)
        return real_loader(*args, **kwargs)

    monkeypatch.setattr(engine, "DataLoader", recording)
    run_dir = tmp_path / "run"
    result = engine.run(parse_args(tiny(run_dir, "--amp", amp, "--workers", "2"), **MIXSTE.defaults), MIXSTE, model)
    rows = history(run_dir)
    assert len(rows) == 2 and all(math.isfinite(float(r["loss"])) for r in rows)
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])  # it learns
    assert math.isfinite(result.p1) and result.p1 < 400
    assert all(k["num_workers"] == 2 and k["pin_memory"] == ON_CUDA for k in loaders) and len(loaders) == 2
    last = torch.load(run_dir / "last.pth", map_location="cpu", weights_only=True)
    assert last["args"]["amp"] == amp and last["args"]["device"] == DEVICE
    if amp == "fp16":  # loss scaling ran and is resumable
        assert last["scaler"] is not None and last["scaler"]["scale"] > 0


@needs_cuda
def test_compiled_training(tmp_path):
    run_dir = tmp_path / "run"
    engine.run(parse_args(tiny(run_dir, "--compile", "--amp", "bf16", "--nepoch", "1"), **MIXSTE.defaults),
               MIXSTE, model)
    assert math.isfinite(float(history(run_dir)[0]["p1"]))
    state = torch.load(run_dir / "best.pth", map_location="cpu", weights_only=True)["model"]
    assert not any(k.startswith("_orig_mod.") for k in state)  # saved as the plain model


@needs_cuda
def test_torchrun_one_process_nccl(tmp_path):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
           str(ROOT / "main_mixste.py"), *tiny(run_dir, "--nepoch", "1", "--amp", "bf16")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (run_dir / "train.log").read_text()
    assert "backend nccl" in log and (run_dir / "best.pth").is_file()


def test_device_forward_matches_cpu(s9_windows):
    inputs, targets = s9_windows
    for name in ("mixste_27_gt", "hot_mixste_27_gt"):
        net = load_model(checkpoint=str(SHIPPED / name / "best.pth")).eval()
        with torch.no_grad():
            cpu = net(inputs)
            dev = net.to(DEVICE)(inputs.to(DEVICE))
        if cpu.kept is None:
            assert torch.allclose(dev.pose.cpu(), cpu.pose, atol=1e-4)
        else:  # near-tied frames may be kept differently: compare the error, and the poses where all agree
            same = (dev.kept.cpu() == cpu.kept).all(dim=1)
            assert same.float().mean() > 0.8
            assert torch.allclose(dev.pose.cpu()[same], cpu.pose[same], atol=1e-4)
        err = [float((p.pose.float().cpu() - targets)[..., 1:, :].norm(dim=-1).mean()) * 1000 for p in (cpu, dev)]
        assert abs(err[0] - err[1]) < 0.1 and err[0] < 80, err  # mm


@pytest.mark.parametrize("dtype", ["bf16", pytest.param("fp16", marks=needs_cuda)])
def test_reduced_precision_inference_is_close(s9_windows, dtype):
    inputs, targets = s9_windows
    net = load_model(checkpoint=str(SHIPPED / "mixste_27_gt" / "best.pth")).eval()
    with torch.no_grad():
        ref = net(inputs).pose
        fast = prepare_for_inference(net, dtype=dtype, device=DEVICE)(inputs.to(DEVICE)).pose.float().cpu()
    # a pose moves by the dtype's rounding (bf16: ~4 mm), the error against the truth hardly
    assert float((fast - ref).norm(dim=-1).mean()) * 1000 < 10.0
    err = [float((p - targets)[..., 1:, :].norm(dim=-1).mean()) * 1000 for p in (ref, fast)]
    assert abs(err[1] - err[0]) < 1.0, err  # mm


@needs_cuda
def test_onnx_on_cuda(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip(f"onnxruntime {ort.__version__} has no CUDAExecutionProvider (install onnxruntime-gpu); "
                    f"available: {', '.join(ort.get_available_providers())}")
    from hot_pose.export.onnx import export_onnx, verify_onnx

    net = load_model(checkpoint=str(SHIPPED / "hot_mixste_27_gt" / "best.pth"))
    export_onnx(net, tmp_path / "hot.onnx")
    report = verify_onnx(net, tmp_path / "hot.onnx", batches=(1, 8), atol=1e-3,
                         providers=("CUDAExecutionProvider", "CPUExecutionProvider"))
    assert report["ok"], report
