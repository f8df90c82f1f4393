"""Bad input of the tools (ONNX export, benchmark, profile, checkpoint averaging, reports, data preparation).

Each case runs the real command in a fresh process and asserts one ``error:`` line, a non-zero exit and nothing lost
(``bad_input_lib.check_outcome``): existing files byte-identical, no output (or temporary file) left where a run
failed. The destinations are checked before the work, so almost every case fails before a model is built; the few
that must export use a 27-frame, 32-channel, 2-block model. HoT: Li et al., CVPR 2024 (arXiv:2311.12028).

A full disk and a read-only folder are real when the tests run as root (small tmpfs mounts: 64 KiB, and a
read-only one); otherwise the read-only folder is a chmod 0555 folder and the full-disk case is skipped (an
in-process ENOSPC test in tests/test_export.py covers it everywhere).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
from bad_input_lib import ROOT, Case, Inputs, check_outcome, run_cases, tool

#: the small model of the cases that must export
SMALL = ["--frames", "27", "--channel", "32", "--d_hid", "64", "--depth", "2", "--token_num", "9", "--layer_index",
         "1"]
HOT = ["--model", "mixste.hot_mixste"]
CONSOLE = Path(sys.executable).parent


def _mount_tmpfs(folder: Path, options: str) -> bool:
    """Mount a small tmpfs on ``folder`` (root only); False when that is not possible here."""
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    return done.returncode == 0


@pytest.fixture(scope="module")
def tool_inputs(bad_inputs: Inputs):
    """Files and folders of these cases under ``<bad inputs>/tools``: existing outputs ("mine"), a folder, a file
    where a folder is expected, a read-only folder and (as root) a full 64 KiB tmpfs."""
    base = bad_inputs.tmp / "tools"
    for folder in ("outputs", "a_folder", "bench_out", "readonly", "full"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    for path in (base / "outputs" / "existing.onnx", base / "outputs" / "existing.json",
                 base / "outputs" / "kept.onnx", base / "bench_out" / "benchmark_cpu.md", base / "a_file"):
        path.write_bytes(b"mine")
    mounted = [d for d, opts in ((base / "full", "size=64k"), (base / "readonly", "ro,size=64k"))
               if _mount_tmpfs(d, opts)]
    if base / "readonly" not in mounted:
        (base / "readonly").chmod(0o555)
    yield base
    for folder in mounted:
        subprocess.run(["umount", str(folder)], capture_output=True)
    (base / "readonly").chmod(0o755)


def case_list(inputs: Inputs) -> List[Case]:
    """Every case (pure: the inputs are made by ``make_inputs`` and ``tool_inputs``)."""
    tmp, run, nan_dir, evil_ckpt = inputs.tmp, inputs.finished, inputs.nan_weights, inputs.evil_ckpt
    evil_3d, averaged = inputs.evil_3d, inputs.averaged
    base = tmp / "tools"
    out, folder, bench_out = base / "outputs", base / "a_folder", base / "bench_out"
    existing, existing_json, kept = out / "existing.onnx", out / "existing.json", out / "kept.onnx"
    new, report = out / "new.onnx", out / "new.json"
    full, readonly, a_file = base / "full", base / "readonly", base / "a_file"
    everything = [base]  # every case: nothing under tools/ changes, no temporary file is left
    root = os.geteuid() == 0
    no_tmpfs = "" if os.path.ismount(full) else "no 64 KiB tmpfs here (needs root): tests/test_export.py simulates it"
    console = CONSOLE / "hot-profile"
    return [
        Case("average_checkpoints over an existing file", tool("tools.average_checkpoints", "--out", str(averaged),
                                                                str(run / "epoch_1.pth"), str(run / "epoch_2.pth")),
             "already exists", [averaged, run]),
        Case("average_checkpoints of a pickle that runs code",
             tool("tools.average_checkpoints", "--out", str(tmp / "avg2.pth"), str(run / "epoch_1.pth"),
                  str(evil_ckpt / "best.pth")), "refusing to load", [run, evil_ckpt], [tmp / "avg2.pth"]),
        Case("export_onnx of NaN weights", tool("hot_pose.cli.export_onnx", "--model", "mixste.hot_mixste", "--checkpoint",
                                               str(nan_dir / "best.pth"), "--output", str(tmp / "m.onnx")),
             "NaN/inf values", [nan_dir], [tmp / "m.onnx"]),
        Case("prepare_data_h36m from a data file that runs code",
             [sys.executable, str(ROOT / "dataset" / "prepare_data_h36m.py"), "--source", str(evil_3d),
              "--root_path", str(tmp / "prepared")], "refusing to load the pickled object", [evil_3d],
             [tmp / "prepared" / "data_2d_h36m_gt.npz"]),
        # --- export_onnx: destinations, checked before the model is built
        Case("export_onnx over an existing -o file", tool("hot_pose.cli.export_onnx", *HOT, "-o", str(existing)),
             f"--output {existing} already exists; choose a new file or add --overwrite", everything, exit_code=2),
        Case("export_onnx over an existing --report", tool("hot_pose.cli.export_onnx", *HOT, "-o", str(new), "--report",
                                                           str(existing_json)),
             f"--report {existing_json} already exists", everything, [new], exit_code=2),
        Case("export_onnx -o under /proc", tool("hot_pose.cli.export_onnx", *HOT, "-o", "/proc/m.onnx"),
             "--output /proc/m.onnx is under /proc, a kernel filesystem", everything, exit_code=2),
        Case("export_onnx -o under /sys", tool("hot_pose.cli.export_onnx", *HOT, "-o", "/sys/m.onnx"),
             "--output /sys/m.onnx is under /sys", everything, exit_code=2),
        Case("export_onnx -o a folder", tool("hot_pose.cli.export_onnx", *HOT, "-o", str(folder)),
             f"--output {folder} is a folder; give a file name", everything, exit_code=2),
        Case("export_onnx -o into a read-only folder", tool("hot_pose.cli.export_onnx", *HOT, "-o", str(readonly / "m.onnx")),
             f"cannot write into {readonly} (" + ("Read-only file system" if root and os.path.ismount(readonly)
                                                  else "Permission denied"),
             everything, [readonly / "m.onnx"], exit_code=2),
        Case("export_onnx -o below a file", tool("hot_pose.cli.export_onnx", *HOT, "-o", str(a_file / "m.onnx")),
             f"{a_file} is a file, not a folder", everything, exit_code=2),
        Case("export_onnx --report same as -o", tool("hot_pose.cli.export_onnx", *HOT, "-o", str(new), "--report", str(new)),
             "is the --output file", everything, [new], exit_code=2),
        # --- export_onnx: flags
        Case("export_onnx --opset 5", tool("hot_pose.cli.export_onnx", *HOT, "-o", str(new), "--opset", "5"),
             "argument --opset: must be between 14 and", everything, [new], exit_code=2),
        Case("export_onnx --opset 999", tool("hot_pose.cli.export_onnx", *HOT, "-o", str(new), "--opset", "999"),
             "argument --opset: must be between 14 and", everything, [new], exit_code=2),
        Case("export_onnx --atol -1", tool("hot_pose.cli.export_onnx", *HOT, "-o", str(new), "--atol", "-1"),
             "argument --atol: must be a finite number >= 0, got -1", everything, [new], exit_code=2),
        Case("export_onnx --frames 0", tool("hot_pose.cli.export_onnx", *HOT, "-o", str(new), "--frames", "0"),
             "argument --frames: must be >= 1, got 0", everything, [new], exit_code=2),
        Case("export_onnx of an unknown model", tool("hot_pose.cli.export_onnx", "--model", "mixste.nope", "-o", str(new)),
             "unknown model 'mixste.nope'", everything, [new], exit_code=2),
        Case("export_onnx of a seq2frame model", tool("hot_pose.cli.export_onnx", "--model", "mixste.tpc_mixste", "-o",
                                                      str(new)),
             "--model mixste.tpc_mixste is seq2frame", everything, [new], exit_code=2),
        Case("export_onnx --checkpoint a folder", tool("hot_pose.cli.export_onnx", *HOT, "-o", str(new), "--checkpoint",
                                                       str(run)),
             f"--checkpoint {run} is a folder; give the weights file", everything + [run], [new], exit_code=2),
        # --- export_onnx: the work fails; nothing is left, the replaced file is kept
        Case("export_onnx whose verification fails", tool("hot_pose.cli.export_onnx", *HOT, *SMALL, "-o", str(kept),
                                                          "--overwrite", "--report", str(report), "--atol", "0"),
             "verification failed: max |Δpose|", everything, [report], exit_code=1),
        Case("export_onnx onto a full disk", tool("hot_pose.cli.export_onnx", *HOT, *SMALL, "-o", str(full / "m.onnx"),
                                                  "--no-verify"),
             f"cannot write {full / 'm.onnx'}: No space left on device", everything, [full / "m.onnx"], exit_code=1,
             skip=no_tmpfs),
        # --- benchmark: everything before the benchmark runs
        Case("benchmark --out-dir under /proc", tool("hot_pose.cli.bench", "--out-dir", "/proc/b"),
             "--out-dir /proc/b is under /proc", everything, exit_code=2),
        Case("benchmark --threads -1", tool("hot_pose.cli.bench", "--threads", "-1", "--out-dir", str(bench_out)),
             "argument --threads: must be >= 1, got -1", everything, exit_code=2),
        Case("benchmark --device tpu", tool("hot_pose.cli.bench", "--device", "tpu", "--out-dir", str(bench_out)),
             "--device tpu is not supported; use cpu or cuda[:N]", everything, exit_code=2),
        Case("benchmark over existing results", tool("hot_pose.cli.bench", "--out-dir", str(bench_out)),
             "already holds benchmark_cpu.md", everything, exit_code=2),
        Case("benchmark --out-dir a file", tool("hot_pose.cli.bench", "--out-dir", str(a_file)),
             f"--out-dir {a_file} is a file, not a folder", everything, exit_code=2),
        Case("benchmark --max-seconds nan", tool("hot_pose.cli.bench", "--max-seconds", "nan", "--out-dir",
                                                 str(bench_out)),
             "argument --max-seconds: must be a finite number > 0", everything, exit_code=2),
        Case("benchmark --name with a folder", tool("hot_pose.cli.bench", "--name", "../escape", "--out-dir",
                                                    str(bench_out)),
             "argument --name: must be a plain file name", everything, [base / "escape.json"], exit_code=2),
        # --- profile
        Case("profile of an unknown model", tool("hot_pose.cli.profile", "--model", "x"),
             "unknown model 'x'; list the models with `python -m hot_pose.cli.profile --list`", everything, exit_code=2),
        Case("hot-profile of an unknown model", [str(console), "--model", "x"],
             "unknown model 'x'; list the models with `hot-profile --list`", everything, exit_code=2,
             skip="" if console.is_file() else "hot-profile is not installed (pip install -e .)"),
        Case("profile --json over an existing file", tool("hot_pose.cli.profile", *HOT, "--json", str(existing_json)),
             f"--json {existing_json} already exists", everything, exit_code=2),
        Case("profile --json under /proc", tool("hot_pose.cli.profile", *HOT, "--json", "/proc/p.json"),
             "--json /proc/p.json is under /proc", everything, exit_code=2),
        Case("profile --device tpu", tool("hot_pose.cli.profile", *HOT, "--device", "tpu"),
             "--device tpu is not a device", everything, exit_code=2),
        # --- the other tools' destinations and numbers
        Case("average_checkpoints --out a folder", tool("tools.average_checkpoints", "--out", str(folder),
                                                        str(run / "epoch_1.pth"), str(run / "epoch_2.pth")),
             f"--out {folder} is a folder", everything + [run], exit_code=2),
        Case("baseline --report over an existing file", tool("tools.baseline", "--root_path", str(inputs.h36m),
                                                             "--report", str(existing_json)),
             f"--report {existing_json} already exists", everything, exit_code=2),
        Case("precision_check --report under /proc", tool("tools.precision_check", "--report", "/proc/p.json", "--",
                                                          "--previous_dir", str(run)),
             "--report /proc/p.json is under /proc", everything + [run], exit_code=2),
        Case("tpc_stability --out-dir under /proc", tool("tools.tpc_stability", "--quick", "--out-dir", "/proc/t"),
             "--out-dir /proc/t is under /proc", everything, exit_code=2),
        Case("wild_benchmark --out-dir under /proc", tool("tools.wild_benchmark", "--mean-pose", "reference",
                                                          "--out-dir", "/proc/w"),
             "--out-dir /proc/w is under /proc", everything, exit_code=2),
        Case("gpu_check --minutes nan", tool("tools.gpu_check", "--dry-run", "--minutes", "nan"),
             "argument --minutes: must be a finite number > 0", everything, exit_code=2),
        Case("gpu_check --out under /proc", tool("tools.gpu_check", "--dry-run", "--data", str(inputs.h36m),
                                                 "--out", "/proc/g"),
             "--out /proc/g is under /proc", everything, exit_code=2),
        Case("results --batch 0", tool("tools.results", "--batch", "0"), "argument --batch: must be >= 1, got 0",
             everything, exit_code=2),
        Case("h2ot_compare --epochs 0", tool("tools.h2ot_compare", "--epochs", "0", "--out", str(bench_out)),
             "argument --epochs: must be >= 1, got 0", everything, exit_code=2),
    ]


@pytest.fixture(scope="module")
def outcomes(bad_inputs: Inputs, tool_inputs: Path):
    """Run this module's cases, two at a time, on the shared inputs (``conftest.bad_inputs``) and this module's
    (``tool_inputs``)."""
    return run_cases(case_list(bad_inputs), bad_inputs.tmp)


CASE_NAMES = [c.name for c in case_list(Inputs(Path("/inputs"), Path("/h36m")))]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_is_one_line_and_destroys_nothing(outcomes, name):
    check_outcome(outcomes, name)


def test_overwrite_replaces_an_existing_export(tool_inputs: Path, tmp_path: Path):
    """The other side of "already exists": with --overwrite the file is replaced by a verified graph, atomically
    (no temporary file left beside it)."""
    out = tmp_path / "m.onnx"
    out.write_bytes(b"mine")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run(tool("hot_pose.cli.export_onnx", *HOT, *SMALL, "-o", str(out), "--overwrite"), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert out.read_bytes()[:4] != b"mine" and out.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]
