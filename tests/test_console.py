"""The console commands of ``pip install -e .`` ([project.scripts]), run from another folder."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COMMANDS = ("hot-demo", "hot-train", "hot-profile", "hot-export-onnx", "hot-bench")


def run(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    exe = BIN / argv[0]
    if not exe.is_file():
        pytest.fail(f"{exe} is missing: install the project with `pip install -e .` (README, Install)")
    return subprocess.run([str(exe), *argv[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help_from_another_folder(command, tmp_path):
    proc = run(tmp_path, command, "--help")
    assert proc.returncode == 0 and "usage:" in proc.stdout, proc.stderr[-2000:]


def test_profile_and_train_from_another_folder(tmp_path):
    proc = run(tmp_path, "hot-profile", "--model", "mixste.hot_mixste")
    assert proc.returncode == 0 and "mixste.hot_mixste (T 243, C 512, f 81, n 3)" in proc.stdout, proc.stderr
    proc = run(tmp_path, "hot-train", "--recipe", "mhformer", "--help")
    assert proc.returncode == 0 and "Loss: MPJPE" in " ".join(proc.stdout.split())
    proc = run(tmp_path, "hot-train", "--recipe", "nope")  # one line, not the usage block
    assert proc.returncode == 2 and proc.stderr.strip() == ("error: unknown --recipe 'nope'; choose one of mixste, "
                                                            "mixste_tpc, mhformer, mhformer_tpc (see hot-train --help)")
    proc = run(tmp_path, "hot-train", "--nepoch", "x")  # argparse errors: one line naming hot-train
    assert proc.returncode == 2 and proc.stderr.strip() == ("error: argument --nepoch: invalid int value: 'x' (see "
                                                            "hot-train --help)")
    assert list(tmp_path.iterdir()) == []  # nothing written where it ran
