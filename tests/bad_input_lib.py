"""Shared machinery of the bad-input suites (``tests/test_bad_input*.py``): cases, inputs, running them.

Every case runs the real script in a fresh Python process on real data (../shared/data) and asserts what a user
must see: a non-zero exit, exactly one line on stderr starting with ``error:`` (no "Traceback"), the problem
named, every file that existed before byte-identical afterwards, and no code run from a data file (the crafted
pickles would create the case's marker file). HoT: Li et al., CVPR 2024 (arXiv:2311.12028).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest
import torch
from conftest import ROOT, VIDEO  # noqa: E402 - tests/ is on sys.path under pytest

import hot_pose.models as model
from hot_pose.models.checkpoint import atomic_save
from hot_pose.training.engine import main
from hot_pose.training.recipes import MIXSTE

WALKWAY = VIDEO / "walkway_cam03.mp4"

#: a seconds-long CPU run on real data (S1 Walking for training, S9 for testing, Stacked-Hourglass 2-D)
TINY = ["--model", "mixste.hot_mixste", "--keypoints", "sh_pt_mpii", "--subjects_train", "S1", "--subjects_test",
        "S9", "--actions", "Walking", "--subset", "0.1", "--downsample", "2", "--frames", "27", "--stride", "27",
        "--channel", "32", "--d_hid", "64", "--depth", "2", "--token_num", "9", "--layer_index", "1", "--nepoch",
        "1", "--device", "cpu", "--no_progress"]


class Evil:
    """Unpickling this runs ``touch "$HOT_PWNED"``: what a crafted data or checkpoint file could do. Each case's
    process gets its own ``HOT_PWNED`` path, so a case that runs the code is caught by itself."""

    def __reduce__(self):
        return os.system, ('touch "${HOT_PWNED:-/dev/null}"',)


@dataclass
class Case:
    """One bad input: the command, the words the error line must hold, the files that must not change."""

    name: str
    command: List[str]
    needle: str
    protect: List[Path] = field(default_factory=list)
    gone: List[Path] = field(default_factory=list)  # must not exist afterwards
    exit_code: Optional[int] = None  # None: any non-zero
    ignore: Sequence[str] = ()  # file-name patterns not compared (append-only logs)
    skip: str = ""


def snapshot(paths: Sequence[Path], ignore: Sequence[str] = ()) -> Dict[str, bytes]:
    """Every file under ``paths`` (recursively) → its bytes."""
    out = {}
    for base in paths:
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        out.update({str(p): p.read_bytes() for p in files if not any(fnmatch(p.name, pat) for pat in ignore)})
    return out


def engine(*args: str) -> List[str]:
    return [sys.executable, str(ROOT / "main_mixste.py"), *args]


def demo(*args: str) -> List[str]:
    return [sys.executable, str(ROOT / "demo" / "vis.py"), "--video", str(WALKWAY), "--no-render", "--max-frames",
            "10", "--quiet", *args]


def tool(module: str, *args: str) -> List[str]:
    return [sys.executable, "-m", module, *args]


def _walkway_keypoints(rng: np.random.Generator) -> np.ndarray:
    """10 frames of plausible COCO-17 pixels inside the 1088×1920 walkway frame."""
    base = rng.uniform([300, 500], [800, 1500], size=(1, 17, 2))
    return (base + rng.normal(0, 3, size=(10, 17, 2))).astype(np.float32)


@dataclass(frozen=True)
class Inputs:
    """Where the cases' inputs live (``make_inputs`` writes them)."""

    tmp: Path
    h36m: Path

    def __getattr__(self, name: str) -> Path:  # inputs.finished, inputs.nan_weights, ...: paths under tmp
        if name.startswith("__"):
            raise AttributeError(name)
        return self.tmp / name


def make_inputs(inputs: Inputs) -> None:
    """A finished run (2 epochs, kept epochs) and damaged or crafted copies of its files and of the data."""
    tmp, h36m = inputs.tmp, inputs.h36m
    run = inputs.finished
    assert main(MIXSTE, model, ["--root_path", str(h36m)] + TINY + ["--checkpoint", str(run), "--nepoch", "2",
                                                                      "--keep_epochs"]) == 0
    best = torch.load(run / "best.pth", weights_only=True)

    def folder(name: str, files: Dict[str, Callable[[Path], None]]) -> None:
        (tmp / name).mkdir()
        for file, write in files.items():
            write(tmp / name / file)

    def with_nan(path: Path) -> None:
        bad = dict(best, model=dict(best["model"]))
        key = next(k for k, v in bad["model"].items() if v.is_floating_point())
        bad["model"][key] = torch.full_like(bad["model"][key], float("nan"))
        atomic_save(bad, path)

    folder("nan_weights", {"best.pth": with_nan})
    folder("evil_ckpt", {"best.pth": lambda p: torch.save({"model": Evil()}, p)})
    folder("truncated", {"best.pth": lambda p: p.write_bytes((run / "best.pth").read_bytes()[:200])})
    folder("epochs_only", {"epoch_1.pth": lambda p: shutil.copy(run / "epoch_1.pth", p)})
    shutil.copytree(run, inputs.resumed)
    real_3d = h36m / "data_3d_h36m.npz"
    folder("evil_3d", {"data_3d_h36m.npz": lambda p: np.savez(p, positions_3d=np.array(Evil())),
                       "data_2d_h36m_sh_pt_mpii.npz": lambda p: p.symlink_to(h36m / "data_2d_h36m_sh_pt_mpii.npz")})
    folder("evil_2d", {"data_3d_h36m.npz": lambda p: p.symlink_to(real_3d),
                       "data_2d_h36m_gt.npz": lambda p: np.savez(p, positions_2d=np.array(Evil()))})
    folder("garbage_2d", {"data_3d_h36m.npz": lambda p: p.symlink_to(real_3d),
                          "data_2d_h36m_gt.npz": lambda p: p.write_bytes(b"not a zip file")})
    inputs.a_file.write_text("not a folder")
    good = _walkway_keypoints(np.random.default_rng(0))
    folder("keypoints", {
        "huge.npz": lambda p: np.savez(p, keypoints=good * 1e30),
        "normalised.npz": lambda p: np.savez(p, keypoints=good / np.array([1088, 1920], np.float32)),
        "scores.npz": lambda p: np.savez(p, keypoints=good, scores=np.ones((10, 5), np.float32)),
        "ragged.json": lambda p: p.write_text("[[[1, 2], [3, 4]], [[1, 2]]]"),
        "evil.npz": lambda p: np.savez(p, keypoints=np.array(Evil())),
        "good.npz": lambda p: np.savez(p, keypoints=good),
    })
    folder("demo_out", {"poses_3d.json": lambda p: p.write_text('{"earlier": true}'),
                        "notes.txt": lambda p: p.write_text("mine")})
    shutil.copy(run / "best.pth", inputs.averaged)


#: imported once by the fork server, so a case's process starts without paying for them (never cv2/mediapipe:
#: the entry points silence their native logs through environment variables read when those load)
PRELOAD = ("numpy", "torch", "torch.nn", "scipy.optimize", "einops")


@dataclass
class Result:
    """What a finished case left: like ``subprocess.CompletedProcess`` (returncode, stdout, stderr)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float = 0.0


def _entry(command: Sequence[str]) -> Optional[Tuple[str, str]]:
    """``("path", script)`` or ``("module", name)`` for ``[python, script.py, ...]`` / ``[python, -m, module, ...]``
    commands (they can start from the fork server), else None (run as a plain subprocess)."""
    if len(command) >= 2 and command[0] == sys.executable:
        if command[1] == "-m" and len(command) >= 3:
            return "module", command[2]
        if command[1].endswith(".py"):
            return "path", command[1]
    return None


def _child(command: Sequence[str], cwd: str, env: Dict[str, str], out: str, err: str) -> None:
    """In the forked process: the case's working folder, environment, stdin/stdout/stderr (file descriptors, so
    native libraries' output is caught too) and argv, then its entry point run as ``__main__``."""
    import atexit
    import logging
    import runpy

    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path, mode in ((0, os.devnull, os.O_RDONLY), (1, out, os.O_WRONLY), (2, err, os.O_WRONLY)):
        handle = os.open(path, mode)
        os.dup2(handle, fd)
        os.close(handle)
    kind, target = _entry(command)
    sys.argv = [target if kind == "path" else command[2], *command[(2 if kind == "path" else 3):]]
    code = 0
    try:
        if kind == "path":
            sys.path.insert(0, str(Path(target).parent))
            runpy.run_path(target, run_name="__main__")
        else:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except BaseException:  # what the interpreter would print for an uncaught exception
        import traceback

        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


_SERVER = None


def _fork_server():
    """A multiprocessing fork server with ``PRELOAD`` imported (started once per test session)."""
    global _SERVER
    if _SERVER is None:
        import multiprocessing

        _SERVER = multiprocessing.get_context("forkserver")
        _SERVER.set_forkserver_preload(list(PRELOAD))
    return _SERVER


def run_command(command: Sequence[str], cwd: Path, env: Dict[str, str], timeout: float = 300) -> Result:
    """Run one case's command: a ``python script.py``/``python -m module`` command is forked from the fork server
    (a fresh process with the heavy libraries already imported: the same code and argv, a fraction of the start-up
    time); anything else is a plain subprocess."""
    start = time.perf_counter()
    if _entry(command) is None:
        done = subprocess.run(list(command), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        return Result(done.returncode, done.stdout, done.stderr, time.perf_counter() - start)
    with tempfile.TemporaryDirectory(prefix="case-") as folder:
        out, err = Path(folder) / "stdout", Path(folder) / "stderr"
        out.touch()
        err.touch()
        process = _fork_server().Process(target=_child, args=(list(command), str(cwd), env, str(out), str(err)))
        process.start()
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(list(command), timeout)
        return Result(process.exitcode, out.read_text(errors="replace"), err.read_text(errors="replace"),
                      time.perf_counter() - start)


def run_cases(cases: Sequence[Case], tmp: Path, workers: int = 2, timeout: float = 300):
    """Run every case (two at a time: the machine has two cores) and record what happened.

    Returns ``(cases by name, results by name, snapshots before, snapshots after, markers by name)``.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    runnable = [c for c in cases if not c.skip]
    before = {c.name: snapshot(c.protect, c.ignore) for c in runnable}
    markers = {c.name: tmp / f"PWNED_{abs(hash(c.name))}" for c in runnable}

    def execute(case: Case) -> Result:
        return run_command(case.command, ROOT, dict(env, HOT_PWNED=str(markers[case.name])), timeout)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = dict(zip([c.name for c in runnable], pool.map(execute, runnable)))
    after = {c.name: snapshot(c.protect, c.ignore) for c in runnable}
    return {c.name: c for c in cases}, results, before, after, markers


def check_outcome(outcomes, name: str) -> None:
    """Assert what a user must see for case ``name``: non-zero exit (the case's code if it gives one), one
    ``error:`` line holding the needle and no traceback, protected files unchanged, ``gone`` paths absent, no
    code run from a data file."""
    cases, results, before, after, markers = outcomes
    case = cases[name]
    if case.skip:
        pytest.skip(case.skip)
    done = results[name]
    err = done.stderr.strip()
    assert done.returncode != 0, (name, done.stdout[-2000:], err)
    if case.exit_code is not None:
        assert done.returncode == case.exit_code, (name, done.returncode, err)
    assert "Traceback" not in done.stderr and "\n" not in err and err.startswith("error: "), (name, err)
    assert case.needle in err, (name, err)
    assert "weights_only=False" not in err and "weights_only` set to `False" not in err
    assert after[name] == before[name], f"{name}: files changed: " + ", ".join(
        sorted(k for k in set(before[name]) | set(after[name]) if before[name].get(k) != after[name].get(k)))
    for path in case.gone:
        assert not path.exists(), f"{name}: {path} was left behind"
    assert not markers[name].exists(), f"{name}: a data file ran code"
