"""The device script (tools/gpu_check.sh) in its CPU dry run on real data, so that it cannot rot; its time
handling and export on their own."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import tools.gpu_check as gpu_check

ROOT = Path(__file__).resolve().parents[1]


def test_dry_run_runs_every_stage_and_exports(prepared_root, tmp_path):
    out, export = tmp_path / "out", tmp_path / "export"
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh"), "--dry-run", "--data", str(prepared_root),
                           "--out", str(out), "--export", str(export)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    stages = summary["stages"]
    assert list(stages) == list(gpu_check.STAGES) and summary["dry_run"]
    assert all(s["status"] == "passed" for s in stages.values()), stages
    assert stages["device"]["device"]["cuda_available"] in (True, False)
    tests = stages["tests"]
    assert tests["tests"] >= 9 and tests["failures"] == tests["errors"] == 0
    assert tests["outcomes"]["test_device_forward_matches_cpu"] == "passed"  # the CUDA tests' code ran on the CPU
    assert stages["train"]["epochs"] == 2 and stages["train"]["best_pth"]
    # --test reproduces the validation (same windows and batches)
    assert stages["test"]["p1"] == pytest.approx(stages["train"]["best_p1"], abs=1e-4)
    assert "| `mixste.hot_mixste` | fp32 | 2 |" in (out / "benchmark_cpu.md").read_text()
    with tarfile.open(export / "gpu_check_results.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"summary.json", "benchmark_cpu.md", "cuda_tests.xml", "test_report.json", "train/train.log"} <= names
    assert not any(n.endswith(".pth") for n in names)
    assert (export / "best.pth").read_bytes() == (out / "train" / "best.pth").read_bytes()


def test_a_stage_past_its_time_gets_sigint_and_is_recorded(tmp_path):
    # a shell, not Python: its trap is in place within milliseconds, so a loaded machine cannot deliver the
    # SIGINT before the handler exists (a Python child's start-up can take longer than the 1-s timeout)
    script = "trap 'echo wrote partial; exit 3' INT; sleep 60 & wait"
    result = gpu_check.run_command(["bash", "-c", script], tmp_path / "s.log", timeout=1, env=dict(os.environ))
    assert result["timed_out"] and result["rc"] == 3 and result["seconds"] < 30
    assert "wrote partial" in (tmp_path / "s.log").read_text()


def test_a_stage_gets_sigint_even_when_the_check_was_started_with_sigint_ignored(tmp_path):
    """``bash tools/gpu_check.sh &`` starts the check with SIGINT ignored, which its stages would inherit (a shell
    cannot even trap a signal ignored on entry): run_command gives each stage SIGINT's default back."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        script = "trap 'echo wrote partial; exit 3' INT; sleep 60 & wait"
        result = gpu_check.run_command(["bash", "-c", script], tmp_path / "s.log", timeout=1, env=dict(os.environ))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert result["timed_out"] and result["rc"] == 3 and result["seconds"] < 30


def test_export_splits_a_large_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_check, "PART_BYTES", 1000)
    check = gpu_check.Check(gpu_check.build_parser().parse_args(
        ["--dry-run", "--out", str(tmp_path / "out"), "--export", str(tmp_path / "x"), "--minutes", "1"]))
    (tmp_path / "out" / "train").mkdir()
    blob = os.urandom(2500)
    (tmp_path / "out" / "train" / "best.pth").write_bytes(blob)
    check.export(checkpoint=True)
    parts = sorted((tmp_path / "x").glob("best.pth.part*"))
    assert [p.name for p in parts] == ["best.pth.part0", "best.pth.part1", "best.pth.part2"]
    assert b"".join(p.read_bytes() for p in parts) == blob


def test_bad_data_is_a_one_line_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tools.gpu_check", "--dry-run", "--data", str(tmp_path),
                           "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and proc.stderr.startswith("error: --data") and proc.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_an_earlier_run_or_export_is_not_reused_without_overwrite(prepared_root, tmp_path, capsys):
    out, export = tmp_path / "out", tmp_path / "export"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    flags = ["--dry-run", "--data", str(prepared_root), "--minutes", "1"]
    assert gpu_check.main([*flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {out} holds an earlier run") and err.count("\n") == 1
    export.mkdir()
    (export / "best.pth").write_bytes(b"mine")
    assert gpu_check.main([*flags, "--out", str(tmp_path / "new"), "--export", str(export)]) == 2
    assert "holds an earlier export" in capsys.readouterr().err
    assert (out / "summary.json").read_text() == "{}" and (export / "best.pth").read_bytes() == b"mine"
    assert not (tmp_path / "new").exists()
    assert gpu_check.main([*flags, "--out", "/proc/gpu_check"]) == 2
    assert "is under /proc" in capsys.readouterr().err
