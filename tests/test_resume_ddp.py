"""Operational guarantees of the engine, in real processes on a tiny real-data configuration (CPU):

* a run killed with SIGKILL in the middle of an epoch and resumed from its last.pth produces the same
  per-epoch losses as an uninterrupted run;
* ``torchrun --nproc_per_node 2`` (gloo) trains like one process with the same global batch.
"""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def tiny_flags(h36m_dir: Path, run_dir: Path, *extra: str) -> list:
    """A few-second MixSTE configuration on real data (S1 → S9, Walking, 16 SH joints)."""
    return [
        "--model", "mixste.mixste", "--root_path", str(h36m_dir), "--keypoints", "sh_pt_mpii",
        "--frames", "27", "--stride", "27", "--channel", "32", "--d_hid", "64", "--depth", "2", "--drop_path", "0",
        "--subjects_train", "S1", "--subjects_test", "S9", "--actions", "Walking", "--subset", "0.1",
        "--downsample", "2", "--batch_size", "8", "--lr", "1e-3", "--device", "cpu", "--no_progress",
        "--checkpoint", str(run_dir), *extra,
    ]


def losses(run_dir: Path) -> dict:
    with open(run_dir / "metrics.csv") as fh:
        return {int(r["epoch"]): float(r["loss"]) for r in csv.DictReader(fh)}


def run(args: list, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def full_run(h36m_dir, tmp_path_factory) -> Path:
    """An uninterrupted 3-epoch single-process run (shared by both tests)."""
    full = tmp_path_factory.mktemp("full") / "run"
    run([sys.executable, "main_mixste.py"] + tiny_flags(h36m_dir, full, "--nepoch", "3"))
    return full


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(h36m_dir, tmp_path, full_run):
    script = [sys.executable, "main_mixste.py"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(script + tiny_flags(h36m_dir, killed, "--nepoch", "3"), cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while not (killed / "last.pth").exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)  # now inside epoch 2
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    saved = torch.load(killed / "last.pth", map_location="cpu", weights_only=True)
    assert saved["epoch"] == 1 and "optimizer" in saved and "rng" in saved
    run([sys.executable, "main_mixste.py", "--resume", str(killed / "last.pth"), "--no_progress"])
    expected, got = losses(full_run), losses(killed)
    assert sorted(got) == [1, 2, 3]
    assert [got[e] for e in (2, 3)] == [expected[e] for e in (2, 3)]  # bit-identical after the resume
    assert torch.load(killed / "last.pth", weights_only=True)["epoch"] == 3


def test_torchrun_two_processes_match_one(h36m_dir, tmp_path, full_run):
    one, two = full_run, tmp_path / "two"
    run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "main_mixste.py"]
        + tiny_flags(h36m_dir, two, "--nepoch", "1"))
    assert losses(two)[1] == pytest.approx(losses(one)[1], rel=1e-5)
    p1 = [float(next(csv.DictReader(open(d / "metrics.csv")))["p1"]) for d in (one, two)]
    assert p1[1] == pytest.approx(p1[0], rel=1e-4)
