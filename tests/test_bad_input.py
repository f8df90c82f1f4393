"""Bad input and faults of training and ``--test``, end to end through the real command lines (``main_*.py``,
``hot-train``).

Each case runs the real script in a fresh process on real data and asserts one ``error:`` line, a non-zero exit and
nothing lost (``bad_input_lib.check_outcome``). The module makes its own extra inputs under ``<bad inputs>/engine``
(damaged data packs, files that are not checkpoints, a run folder another live process holds). Every numeric flag
is checked before anything is loaded, so most cases fail within the interpreter's start-up time. HoT: Li et al.,
CVPR 2024 (arXiv:2311.12028).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import numpy as np
import pytest
import torch
from bad_input_lib import ROOT, TINY, Case, Inputs, check_outcome, engine, run_cases

from hot_pose.data.pack import build_pack
from hot_pose.training.run_lock import LOCK_NAME

CONSOLE = Path(sys.executable).parent
#: damaged copies of a real data pack (S1, S9): what changes in each
PACKS = {
    "no_unit": dict(unit=None),
    "no_extrinsics": dict(cam_extrinsics=None),
    "intrinsics_4x5": dict(cam_intrinsics=lambda a: a[:, :5]),
    "resolution_0": dict(cam_intrinsics=lambda a: np.where(np.arange(12) == 9, 0.0, a)),
    # the first sequence's length made negative, the second's grown by as much: the total still matches
    "negative_length": dict(seq_length=lambda a: np.concatenate([[-5], [a[1] + a[0] + 5], a[2:]])),
}

def case_list(inputs: Inputs) -> List[Case]:
    """Every case (pure: the inputs are made by ``make_inputs``)."""
    tmp, h36m = inputs.tmp, inputs.h36m
    base = ["--root_path", str(h36m)] + TINY
    run, nan_dir, evil_ckpt, truncated = inputs.finished, inputs.nan_weights, inputs.evil_ckpt, inputs.truncated
    epochs_only, resumed, evil_3d, evil_2d = inputs.epochs_only, inputs.resumed, inputs.evil_3d, inputs.evil_2d
    garbage_2d, a_file = inputs.garbage_2d, inputs.a_file
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
        *new_cases(inputs),
    ]


def _flag_case(base: List[str], gone: Path, flag: str, value: str, needle: str) -> Case:
    return Case(f"{flag} {value}", engine(*base, "--checkpoint", str(gone), f"{flag}={value}"), needle, gone=[gone],
                exit_code=2)


def new_cases(inputs: Inputs) -> List[Case]:
    """Numeric flags (NaN, inf, out of range: refused up front), pruning flags, checkpoints that are not
    checkpoints, damaged data packs, a run folder held by another process, ``hot-train``."""
    tmp, h36m = inputs.tmp, inputs.h36m
    own = tmp / "engine"
    base = ["--root_path", str(h36m)] + TINY
    test = ["--test", "--root_path", str(h36m), "--subjects_test", "S9", "--actions", "Walking", "--subset", "0.1",
            "--device", "cpu", "--no_progress"]
    x = own / "never"  # no case may leave it behind
    numeric = [
        ("--lr", "nan", "--lr must be > 0 and finite, got nan"),
        ("--lr", "inf", "--lr must be > 0 and finite, got inf"),
        ("--seed", str(2**70), f"--seed must be between 0 and {2**64 - 1}"),
        ("--seed", "-1", "--seed must be between 0 and"),
        ("--lr_decay", "-1", "--lr_decay must be in (0, 1]"),
        ("--lr_decay", "nan", "--lr_decay must be in (0, 1]"),
        ("--lr_decay", "1.5", "--lr_decay must be in (0, 1]"),
        ("--lr_decay_large", "0", "--lr_decay_large must be in (0, 1]"),
        ("--lr_decay_large", "inf", "--lr_decay_large must be in (0, 1]"),
        ("--noise_2d", "nan", "--noise_2d must be >= 0 and finite"),
        ("--noise_2d", "inf", "--noise_2d must be >= 0 and finite"),
        ("--subset", "nan", "--subset must be in (0, 1]"),
        ("--subset", "0", "--subset must be in (0, 1]"),
        ("--epoch_fraction", "nan", "--epoch_fraction must be in (0, 1]"),
        ("--time_limit", "inf", "--time_limit must be >= 0 and finite"),
        ("--ema", "nan", "--ema must be in [0, 1)"),
        ("--virtual_cameras", "inf", "--virtual_cameras must be in [0, 1]"),
        ("--drop_path", "nan", "--drop_path must be in [0, 1)"),
        ("--previous_best", "nan", "--previous_best must be a P1 in mm > 0"),
        ("--workers", "-1", "--workers must be >= 0"),
        ("--channel", "0", "--channel must be >= 1"),
        ("--depth", "0", "--depth must be >= 1"),
        ("--layer_index", "-1", "--layer_index must be >= 0"),
        ("--nepoch", "0", "--nepoch must be >= 1"),
        ("--lr_decay_epoch", "0", "--lr_decay_epoch must be >= 1"),
        ("--batch_size", str(2**40), "--batch_size must be at most 2147483647"),
        ("--frames", str(2**40 + 1), "--frames must be at most 2147483647"),
        ("--n_joints", "0", "--n_joints must be >= 1"),
    ]
    cases = [_flag_case(base, x, flag, value, needle) for flag, value, needle in numeric]
    pack = own / "packs"
    not_ckpt, busy = own / "not_checkpoints", own / "busy"
    return cases + [
        # pruning flags
        Case("--prune_schedule with a superscript digit", engine(*base, "--checkpoint", str(x), "--model",
                                                                  "mixste.h2ot_mixste", "--prune_schedule", "¹:9"),
             "--prune_schedule '¹:9': each step is BLOCK:KEPT", gone=[x], exit_code=2),
        Case("--prune_schedule on a model that does not prune",
             engine(*base, "--checkpoint", str(x), "--model", "mixste.mixste", "--prune_schedule", "1:9"),
             "--prune_schedule applies to models that prune frames, and mixste.mixste does not", gone=[x],
             exit_code=2),
        Case("--prune_strategy on a model that does not prune",
             engine(*base, "--checkpoint", str(x), "--model", "mhformer.mhformer", "--prune_strategy", "sample"),
             "--prune_strategy applies to models that prune frames", gone=[x], exit_code=2),
        # too small a subset: refused once the sequences are known, naming the smallest that works
        Case("--subset too small for one frame", engine(*base, "--checkpoint", str(own / "tiny_subset"),
                                                        "--subset", "1e-9"),
             "--subset 1e-09 is too small: it keeps no frame", gone=[own / "tiny_subset"], exit_code=2),
        # files that are not checkpoints: every reader says what the file is
        Case("--checkpoint_file that is a text file", engine(*test, "--checkpoint_file", str(not_ckpt / "text.pth")),
             "a text file (it starts with '101')", [not_ckpt], exit_code=2),
        Case("--checkpoint_file that is empty", engine(*test, "--checkpoint_file", str(not_ckpt / "empty.pth")),
             "an empty file (0 bytes)", [not_ckpt], exit_code=2),
        Case("--checkpoint_file that is an npz", engine(*test, "--checkpoint_file", str(not_ckpt / "arrays.pth")),
             "a zip archive without a PyTorch checkpoint inside", [not_ckpt], exit_code=2),
        Case("--previous_dir whose best.pth is text", engine(*base, "--checkpoint", str(x), "--previous_dir",
                                                            str(not_ckpt / "text_run")),
             "a text file", [not_ckpt], [x], exit_code=2),
        Case("--resume of an empty last.pth", engine("--resume", str(not_ckpt / "empty_run")), "an empty file",
             [not_ckpt], exit_code=2),
        # damaged data packs
        *[Case(f"data pack: {name.replace('_', ' ')}", engine(*base, "--root_path", str(pack / f"{name}.npz"),
                                                              "--keypoints", "gt", "--checkpoint",
                                                              str(own / f"pack_{name}")),
               needle, [pack], [own / f"pack_{name}"], exit_code=2)
          for name, needle in (("no_unit", "it lacks the array(s) unit"),
                               ("no_extrinsics", "it lacks the array(s) cam_extrinsics"),
                               ("intrinsics_4x5", "'cam_intrinsics' is float64 of shape (4, 5), expected shape "
                                                  "(4, 12)"),
                               ("resolution_0", "a camera's resolution is 0 pixels"),
                               ("negative_length", "'seq_length' holds -5"))],
        # a run folder another live process holds (a helper process holding the lock: see busy_folder)
        Case("fresh run into a folder another run holds", engine(*base, "--checkpoint", str(busy)),
             "is in use by another run (pid ", [busy], exit_code=2),
        Case("--overwrite of a folder another run holds", engine(*base, "--checkpoint", str(busy), "--overwrite"),
             "is in use by another run (pid ", [busy], exit_code=2),
        Case("--resume of a folder another run holds", engine("--resume", str(busy), "--nepoch", "5"),
             "then --resume again", [busy], exit_code=2),
        # hot-train: one line too
        Case("hot-train with an unknown --recipe", [str(CONSOLE / "hot-train"), "--recipe", "x"],
             "error: unknown --recipe 'x'; choose one of mixste", exit_code=2),
        Case("hot-train with a non-numeric flag", [str(CONSOLE / "hot-train"), "--nepoch", "abc"],
             "argument --nepoch: invalid int value: 'abc'", exit_code=2),
        Case("hot-train with NaN --lr", [str(CONSOLE / "hot-train"), *base, "--checkpoint", str(x), "--lr", "nan"],
             "--lr must be > 0 and finite", gone=[x], exit_code=2),
    ]


def make_engine_inputs(inputs: Inputs) -> None:
    """This module's extra inputs under ``<bad inputs>/engine``: damaged data packs, files that are not
    checkpoints, and a copy of the finished run (``busy``) for ``busy_folder`` to hold."""
    own = inputs.tmp / "engine"
    packs = own / "packs"
    packs.mkdir(parents=True)
    build_pack(inputs.h36m / "data_3d_h36m.npz", packs / "good.npz", subjects=["S1", "S9"])
    arrays = dict(np.load(packs / "good.npz"))
    for name, changes in PACKS.items():
        damaged = dict(arrays)
        for key, change in changes.items():
            if change is None:
                del damaged[key]
            else:
                damaged[key] = change(arrays[key])
        np.savez(packs / f"{name}.npz", **damaged)
    not_ckpt = own / "not_checkpoints"
    for folder in (not_ckpt / "text_run", not_ckpt / "empty_run"):
        folder.mkdir(parents=True)
    (not_ckpt / "text.pth").write_text("101\n")
    (not_ckpt / "text_run" / "best.pth").write_text("101\n")
    (not_ckpt / "empty.pth").write_bytes(b"")
    (not_ckpt / "empty_run" / "last.pth").write_bytes(b"")
    with open(not_ckpt / "arrays.pth", "wb") as fh:
        np.savez(fh, weights=np.zeros(3))
    shutil.copytree(inputs.finished, own / "busy")


@pytest.fixture(scope="module")
def outcomes(bad_inputs: Inputs):
    """Run this module's cases, two at a time, on the shared inputs (``conftest.bad_inputs``) and this module's
    own (``make_engine_inputs``), while a helper process holds ``engine/busy`` the way a training run does."""
    make_engine_inputs(bad_inputs)
    busy = bad_inputs.tmp / "engine" / "busy"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from hot_pose.training.run_lock import RunFolderLock; "
                               "RunFolderLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(3600)",
                               str(busy)], cwd=ROOT, stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert f"pid={holder.pid}\n" in (busy / LOCK_NAME).read_text()
        return run_cases(case_list(bad_inputs), bad_inputs.tmp)
    finally:
        holder.kill()
        holder.wait()


CASE_NAMES = [c.name for c in case_list(Inputs(Path("/inputs"), Path("/h36m")))]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_is_one_line_and_destroys_nothing(outcomes, name):
    check_outcome(outcomes, name)


def test_at_least_30_distinct_cases():
    import test_bad_input_demo
    import test_bad_input_tools

    names = CASE_NAMES + test_bad_input_demo.CASE_NAMES + test_bad_input_tools.CASE_NAMES
    assert len(names) >= 30 and len(set(names)) == len(names)
