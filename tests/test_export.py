"""ONNX export of the seq2seq variants, HoT's data-dependent pruning included, checked with onnxruntime.

HoT: Li et al., CVPR 2024 (arXiv:2311.12028). Small models (27 frames, 32 channels, 2 block pairs) keep
the suite fast; the graph is the same at the reference sizes.
"""
from __future__ import annotations

import json

import pytest
import torch

from hot_pose.cli.export_onnx import main
from hot_pose.export.onnx import ExportError, export_onnx, opset_range, verify_onnx
from hot_pose.models import build_model
from hot_pose.models.hot import TokenPruningCluster, freeze_tie_break_noise, pairwise_distance, tie_break_noise

pytest.importorskip("onnxruntime")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = dict(frames=27, channel=32, d_hid=64, token_num=9, depth=2, layer_index=1)


def tiny(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, **TINY).eval()


@pytest.mark.parametrize("name", ["mixste.hot_mixste", "motionbert.hot_motionbert",
                                  "motionagformer.hot_motionagformer", "mixste.mixste"])
def test_onnxruntime_matches_pytorch(name, tmp_path):
    model = tiny(name)
    info = export_onnx(model, tmp_path / "m.onnx")
    assert info["outputs"] == (["pose", "kept"] if name.split(".")[1].startswith("hot_") else ["pose"])
    for seed in range(3):  # several inputs: the kept frames are data-dependent
        check = verify_onnx(model, tmp_path / "m.onnx", batches=(1, 3), seed=seed)
        assert check["ok"], check
        # poses with onnxruntime's kept frames replayed; which frames each side keeps by itself is not compared
        # (their features differ by rounding, which can flip DPC-kNN's near-ties differently on another CPU)
        assert check["max_abs_diff"] <= 1e-4 and 0.0 <= check["kept_agreement"] <= 1.0
    assert model.prune is None or model.prune.tie_break_noise is None  # the export leaves the model as it was
    assert not any(m.training for m in model.modules())


def test_zero_noise_export_is_verified_against_zero_noise_pytorch(tmp_path):
    model = tiny("mixste.hot_mixste")
    export_onnx(model, tmp_path / "m.onnx", tie_break="none")
    assert verify_onnx(model, tmp_path / "m.onnx", batches=(2,), tie_break="none")["ok"]


def test_frozen_noise_keeps_the_same_frames_for_every_batch_size():
    model = tiny("mixste.hot_mixste")
    x = torch.rand(5, 27, 17, 2) * 2 - 1
    with torch.no_grad():
        plain = model(x)
        freeze_tie_break_noise(model)
        frozen = model(x)
        assert torch.equal(plain.kept, frozen.kept) and torch.equal(plain.pose, frozen.pose)
        assert torch.equal(model(x[3:4]).kept, plain.kept[3:4])  # any batch size, any position
        with pytest.raises(ValueError, match="tie_break_noise"):
            model.prune.select(torch.rand(1, 26, 8))
        freeze_tie_break_noise(model, 0)
        assert torch.equal(model(x).kept, plain.kept)


@pytest.mark.parametrize("frames", [9, 27, 81])
def test_pairwise_distance_is_cdist_bit_for_bit_and_exact_mode_is_symmetric(frames):
    z = torch.randn(3, frames, 40)
    assert torch.equal(pairwise_distance(z), torch.cdist(z, z))
    exact = pairwise_distance(z, exact=True)
    assert torch.equal(exact, exact.transpose(1, 2))
    assert torch.equal(torch.diagonal(exact, dim1=1, dim2=2), torch.zeros(3, frames))
    assert torch.allclose(exact, torch.cdist(z, z), atol=2e-2)  # cdist: self-distances slightly above 0


class Select(torch.nn.Module):
    """TPC's frame choice alone, on given features, as exported graphs compute it."""

    def __init__(self, frames: int) -> None:
        super().__init__()
        self.tpc = TokenPruningCluster(frames // 3)
        self.tpc.exact_distance = True
        self.tpc.tie_break_noise = tie_break_noise(1, frames)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.tpc.select(z)


@pytest.mark.filterwarnings("ignore")  # tracer warnings on the static shape checks
@pytest.mark.parametrize("offset", [0.0, 30.0])
def test_exported_frame_choice_equals_pytorch_on_the_same_features(offset, tmp_path):
    """Nearly alike frames (densities near 1, as in untrained models), far from the origin: the centred,
    symmetric distances keep rounding out of the choice, so onnxruntime keeps exactly PyTorch's frames."""
    import onnxruntime as ort

    z = offset + 0.01 * torch.randn(4, 81, 256, generator=torch.Generator().manual_seed(0))
    select = Select(81)
    torch.onnx.export(select, (z,), str(tmp_path / "s.onnx"), dynamo=False, input_names=["z"], opset_version=17)
    got = ort.InferenceSession(str(tmp_path / "s.onnx")).run(None, {"z": z.numpy()})[0]
    assert (got == select(z).numpy()).all()


def test_seq2frame_variants_are_refused(tmp_path):
    with pytest.raises(ExportError, match="seq2frame"):
        export_onnx(tiny("mixste.tpc_mixste"), tmp_path / "m.onnx")


def test_cli_exports_and_verifies(tmp_path, capsys):
    out = tmp_path / "cli.onnx"
    args = ["--model", "motionbert.hot_motionbert", "-o", str(out)]
    args += [f"--{k}={v}" for k, v in TINY.items()]
    assert main(args) == 0
    assert out.is_file()
    assert main(["--model", "mixste.hot_mixste", "--checkpoint", str(tmp_path / "missing.pth")]) == 2
    assert "not found" in capsys.readouterr().err


CLI_TINY = [f"--{k}={v}" for k, v in TINY.items()]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_cli_keeps_an_existing_output_and_replaces_it_only_with_overwrite(tmp_path, capsys):
    out, report = tmp_path / "m.onnx", tmp_path / "m.json"
    out.write_bytes(b"mine")
    assert main(["--model", "mixste.hot_mixste", *CLI_TINY, "-o", str(out), "--report", str(report)]) == 2
    assert "already exists" in _one_error_line(capsys) and out.read_bytes() == b"mine" and not report.exists()
    assert main(["--model", "mixste.hot_mixste", *CLI_TINY, "-o", str(out), "--report", str(report),
                 "--overwrite"]) == 0
    assert out.read_bytes()[:4] != b"mine" and (out.stat().st_mode & 0o777) != 0o600
    info = json.loads(report.read_text())
    assert info["verification"]["ok"] and info["outputs"] == ["pose", "kept"] and info["opset"] == 17
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.onnx"]  # no temporary file left


def test_failed_verification_leaves_nothing_and_keeps_the_old_file(tmp_path, capsys, monkeypatch):
    import hot_pose.cli.export_onnx as export

    out = tmp_path / "m.onnx"
    out.write_bytes(b"mine")
    real = export.verify_onnx

    def failing(*args, **kwargs):
        return dict(real(*args, **kwargs), ok=False)

    monkeypatch.setattr(export, "verify_onnx", failing)
    args = ["--model", "mixste.hot_mixste", *CLI_TINY, "-o", str(out), "--overwrite", "--report",
            str(tmp_path / "r.json")]
    assert main(args) == 1
    assert "verification failed" in _one_error_line(capsys)
    assert out.read_bytes() == b"mine" and sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    new = tmp_path / "new" / "m.onnx"  # a folder created for the output goes too
    assert main(["--model", "mixste.hot_mixste", *CLI_TINY, "-o", str(new)]) == 1
    assert not (tmp_path / "new").exists()
    capsys.readouterr()


def test_a_full_disk_mid_write_leaves_nothing_and_is_one_line(tmp_path, capsys, monkeypatch):
    import errno

    import hot_pose.utils.outputs as outputs

    class Full:
        """A file that takes half of what it is given, then reports a full disk (ENOSPC)."""

        def __init__(self, fh):
            self.fh = fh

        def write(self, data):
            self.fh.write(data[:len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(outputs, "open", lambda *a, **k: Full(open(*a, **k)), raising=False)
    out = tmp_path / "m.onnx"
    out.write_bytes(b"mine")
    assert main(["--model", "mixste.hot_mixste", *CLI_TINY, "-o", str(out), "--overwrite"]) == 1
    err = _one_error_line(capsys)
    assert f"cannot write {out}: No space left on device" in err
    assert out.read_bytes() == b"mine" and sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


@pytest.mark.parametrize("flags, needle", [
    (["--opset", "5"], "--opset: must be between 14 and"),
    (["--opset", "999"], "--opset: must be between 14 and"),
    (["--atol", "-1"], "--atol: must be a finite number >= 0"),
    (["--atol", "nan"], "--atol: must be a finite number >= 0"),
    (["--frames", "0"], "--frames: must be >= 1"),
    (["--model", "mixste.nope"], "unknown model 'mixste.nope'"),
])
def test_bad_numbers_and_names_are_argparse_lines(flags, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--model", "mixste.hot_mixste", *flags])
    assert exc.value.code == 2 and needle in _one_error_line(capsys)


def test_opset_range_follows_the_installed_exporter():
    low, high = opset_range()
    assert low == 14 and 17 <= high  # SDPA needs opset 14; torch 2.x exports at least up to 17


def test_library_export_is_atomic_and_check_can_refuse(tmp_path):
    model = tiny("mixste.mixste")
    out = tmp_path / "m.onnx"
    out.write_bytes(b"mine")

    def refuse(path):
        assert path.parent == tmp_path and path.stat().st_size > 1000  # the complete graph, beside the output
        raise ExportError("refused")

    with pytest.raises(ExportError, match="refused"):
        export_onnx(model, out, check=refuse)
    assert out.read_bytes() == b"mine" and sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    with pytest.raises(ExportError, match="opset 5 is outside"):
        export_onnx(model, out, opset=5)
    info = export_onnx(model, out, check=lambda path: verify_onnx(model, path)["ok"])
    assert info["check"] is True and out.read_bytes()[:4] != b"mine"


@pytest.mark.parametrize("name, strategies", [
    ("mixste.h2ot_mixste", {}),
    ("motionbert.h2ot_motionbert", {"recover_strategy": "interpolation"}),
    ("motionagformer.h2ot_motionagformer", {"prune_strategy": "sample", "recover_strategy": "interpolation"}),
])
def test_h2ot_pyramids_export_every_steps_kept_frames(name, strategies, tmp_path):
    torch.manual_seed(0)
    model = build_model(name, **{**TINY, "depth": 3, "prune_schedule": "1:13,2:9", **strategies}).eval()
    info = export_onnx(model, tmp_path / "m.onnx")
    assert info["outputs"] == ["pose", "kept_0", "kept"]
    check = verify_onnx(model, tmp_path / "m.onnx", batches=(1, 3), seed=0)
    assert check["ok"] and check["max_abs_diff"] <= 1e-4, check
    assert all(stage.tie_break_noise is None for stage in model.prune.stages)  # left as it was
