"""Bad input and faults, end to end through the real command lines (training, ``--test``, the demo, the tools).

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import pytest
import torch

import model
from common.checkpoint import atomic_save
from common.engine import main
from common.recipes import MIXSTE

from conftest import ROOT, VIDEO  # noqa: E402 - tests/ is on sys.path under pytest

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


def case_list(inputs: Inputs) -> List[Case]:
    """Every case (pure: the inputs are made by ``make_inputs``)."""
    tmp, h36m = inputs.tmp, inputs.h36m
    base = ["--root_path", str(h36m)] + TINY
    run, nan_dir, evil_ckpt, truncated = inputs.finished, inputs.nan_weights, inputs.evil_ckpt, inputs.truncated
    epochs_only, resumed, evil_3d, evil_2d = inputs.epochs_only, inputs.resumed, inputs.evil_3d, inputs.evil_2d
    garbage_2d, a_file, kp, out, averaged = (inputs.garbage_2d, inputs.a_file, inputs.keypoints, inputs.demo_out,
                                             inputs.averaged)
    test = ["--test", "--root_path", str(h36m), "--subjects_test", "S9", "--actions", "Walking", "--subset", "0.1",
            "--device", "cpu", "--no_progress"]
    return [
        # training: earlier results are never destroyed
        Case("fresh run into a finished run", engine(*base, "--checkpoint", str(run)), "already holds a run",
             [run], exit_code=2),
        Case("fresh run into a folder of kept epochs", engine(*base, "--checkpoint", str(epochs_only)),
             "already holds a run", [epochs_only], exit_code=2),
        Case("--resume with --overwrite", engine("--resume", str(run), "--overwrite"), "give only one", [run]),
        Case("--resume of a finished run", engine("--resume", str(run)), "nothing to train", [run], exit_code=2),
        Case("diverging fresh run", engine(*base, "--checkpoint", str(tmp / "diverged"), "--lr", "1e30"),
             "training diverged", gone=[tmp / "diverged"], exit_code=1),
        Case("diverging resumed run", engine("--resume", str(resumed), "--nepoch", "3", "--lr", "1e30"),
             "training diverged", [resumed], exit_code=1, ignore=("train.log", "events.out.tfevents.*")),
        Case("training from NaN weights", engine(*base, "--checkpoint", str(tmp / "from_nan"), "--previous_dir",
                                                 str(nan_dir)), "NaN/inf values", [nan_dir], [tmp / "from_nan"]),
        # flags
        Case("negative --lr without =", engine(*base, "--checkpoint", str(tmp / "x1"), "--lr", "-1e-3"),
             "--lr must be > 0", gone=[tmp / "x1"]),
        Case("even --frames", engine(*base, "--frames", "26", "--stride", "26"), "is even"),
        Case("--gpu on a CPU-only machine", engine(*base, "--checkpoint", str(tmp / "x2"), "--device", "auto",
                                                   "--gpu", "0"), "asks for CUDA", gone=[tmp / "x2"],
             skip="CUDA is available" if torch.cuda.is_available() else ""),
        Case("unknown --model", engine(*base, "--model", "mixste.nope"), "unknown --model"),
        Case("unknown action", engine(*base, "--actions", "Walking,Dancing"), "Dancing"),
        Case("--stride beyond --frames", engine(*base, "--stride", "40"), "--stride 40"),
        Case("--batch_size 0", engine(*base, "--batch_size", "0"), "--batch_size must be >= 1"),
        Case("non-numeric --nepoch", engine(*base, "--nepoch", "abc"), "invalid int value"),
        Case("--test without weights", engine(*test, "--model", "mixste.mixste"), "--test needs weights"),
        Case("--resume of nothing", engine("--resume", str(tmp / "nowhere")), "no such checkpoint"),
        Case("missing 2-D source", engine(*base, "--keypoints", "nosuch"), "not found"),
        # weights and data files
        Case("--test on NaN weights", engine(*test, "--previous_dir", str(nan_dir)), "NaN/inf values", [nan_dir]),
        Case("--test on a pickle that runs code", engine(*test, "--previous_dir", str(evil_ckpt)),
             "refusing to load", [evil_ckpt]),
        Case("--test on a truncated checkpoint", engine(*test, "--previous_dir", str(truncated)),
             "cannot read checkpoint", [truncated]),
        Case("--checkpoint_file that does not exist", engine(*test, "--checkpoint_file", str(tmp / "no.pth")),
             "not found"),
        Case("--test with weights of another model", engine(*test, "--previous_dir", str(run), "--model",
                                                            "mixste.mixste"), "holds 'mixste.hot_mixste'", [run]),
        Case("3-D data file that runs code", engine(*base, "--root_path", str(evil_3d), "--checkpoint",
                                                    str(tmp / "x3")), "refusing to load the pickled object",
             [evil_3d], [tmp / "x3"]),
        Case("2-D data file that runs code", engine(*base, "--root_path", str(evil_2d), "--keypoints", "gt",
                                                    "--checkpoint", str(tmp / "x4")),
             "refusing to load the pickled object", [evil_2d], [tmp / "x4"]),
        Case("2-D data file that is not an npz", engine(*base, "--root_path", str(garbage_2d), "--keypoints", "gt"),
             "cannot read", [garbage_2d]),
        # outputs that cannot be written
        Case("--checkpoint under a regular file", engine(*base, "--checkpoint", str(a_file / "run")),
             "is a file", [a_file]),
        Case("--checkpoint under /proc", engine(*base, "--checkpoint", "/proc/hot_pose_run"), "/proc"),
        Case("--checkpoint where the system refuses writes", engine(*base, "--checkpoint", "/sys/hot_pose_run"),
             "/sys/hot_pose_run"),
        Case("--report under a regular file", engine(*test, "--previous_dir", str(run), "--report",
                                                     str(a_file / "r.json")), "is a file", [run, a_file]),
        Case("--report under /proc", engine(*test, "--previous_dir", str(run), "--report", "/proc/hot/r.json"),
             "--report", [run]),
        # the demo
        Case("demo: keypoints far outside the frame", demo("--detector", "keypoints", "--keypoints",
                                                           str(kp / "huge.npz"), "--output", str(out)),
             "outside", [out, kp], exit_code=1),
        Case("demo: normalised keypoints", demo("--detector", "keypoints", "--keypoints", str(kp / "normalised.npz"),
                                                "--output", str(out)), "normalised", [out, kp], exit_code=1),
        Case("demo: scores of the wrong size", demo("--detector", "keypoints", "--keypoints", str(kp / "scores.npz"),
                                                    "--output", str(out)), "scores", [out, kp], exit_code=1),
        Case("demo: ragged JSON keypoints", demo("--detector", "keypoints", "--keypoints", str(kp / "ragged.json"),
                                                 "--output", str(out)), "ragged.json", [out, kp], exit_code=1),
        Case("demo: keypoint file with a pickle", demo("--detector", "keypoints", "--keypoints",
                                                       str(kp / "evil.npz"), "--output", str(out)),
             "evil.npz", [out, kp], exit_code=1),
        Case("demo: NaN lifter weights", demo("--detector", "keypoints", "--keypoints", str(kp / "good.npz"),
                                              "--checkpoint", str(nan_dir / "best.pth"), "--output", str(out)),
             "NaN/inf values", [out, nan_dir], exit_code=1),
        Case("demo: lifter checkpoint that runs code", demo("--detector", "keypoints", "--keypoints",
                                                            str(kp / "good.npz"), "--checkpoint",
                                                            str(evil_ckpt / "best.pth"), "--output", str(out)),
             "refusing to load", [out, evil_ckpt], exit_code=1),
        Case("demo: missing video", [sys.executable, str(ROOT / "demo" / "vis.py"), "--video", str(tmp / "no.mp4"),
                                     "--no-render", "--output", str(out)], "no.mp4", [out], exit_code=1),
        Case("demo: non-numeric --max-frames", demo("--max-frames", "ten"), "--max-frames", [out]),
        # the tools
        Case("average_checkpoints over an existing file", tool("tools.average_checkpoints", "--out", str(averaged),
                                                                str(run / "epoch_1.pth"), str(run / "epoch_2.pth")),
             "already exists", [averaged, run]),
        Case("average_checkpoints of a pickle that runs code",
             tool("tools.average_checkpoints", "--out", str(tmp / "avg2.pth"), str(run / "epoch_1.pth"),
                  str(evil_ckpt / "best.pth")), "refusing to load", [run, evil_ckpt], [tmp / "avg2.pth"]),
        Case("export_onnx of NaN weights", tool("tools.export_onnx", "--model", "mixste.hot_mixste", "--checkpoint",
                                               str(nan_dir / "best.pth"), "--output", str(tmp / "m.onnx")),
             "NaN/inf values", [nan_dir], [tmp / "m.onnx"]),
        Case("prepare_data_h36m from a data file that runs code",
             [sys.executable, str(ROOT / "dataset" / "prepare_data_h36m.py"), "--source", str(evil_3d),
              "--root_path", str(tmp / "prepared")], "refusing to load the pickled object", [evil_3d],
             [tmp / "prepared" / "data_2d_h36m_gt.npz"]),
    ]


@pytest.fixture(scope="module")
def outcomes(h36m_dir, tmp_path_factory):
    """Run every case (two at a time: the machine has two cores) and record what happened."""
    inputs = Inputs(tmp_path_factory.mktemp("bad_input"), h36m_dir)
    make_inputs(inputs)
    cases = case_list(inputs)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    runnable = [c for c in cases if not c.skip]
    before = {c.name: snapshot(c.protect, c.ignore) for c in runnable}

    markers = {c.name: inputs.tmp / f"PWNED_{i}" for i, c in enumerate(runnable)}

    def execute(case: Case):
        return subprocess.run(case.command, cwd=ROOT, env=dict(env, HOT_PWNED=str(markers[case.name])),
                              capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip([c.name for c in runnable], pool.map(execute, runnable)))
    after = {c.name: snapshot(c.protect, c.ignore) for c in runnable}
    return {c.name: c for c in cases}, results, before, after, markers


CASE_NAMES = [c.name for c in case_list(Inputs(Path("/inputs"), Path("/h36m")))]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_is_one_line_and_destroys_nothing(outcomes, name):
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


def test_at_least_30_distinct_cases():
    assert len(CASE_NAMES) >= 30 and len(set(CASE_NAMES)) == len(CASE_NAMES)
