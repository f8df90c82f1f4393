"""Bad input of the demo (``demo/vis.py``, offline and ``--stream``), end to end through the real command line.

Each case runs the real script in a fresh process on a real video or real files and asserts one ``error:`` line,
a non-zero exit and nothing lost (``bad_input_lib.check_outcome``): the input files (copies of the real walkway
clip, keypoint files, checkpoints) and every output folder are byte-identical afterwards, and a new output folder
is not left behind. The module makes its own extra inputs under ``<bad inputs>/demo_cli``: a real earlier run of
the demo (its outputs and manifest, and the user's notes beside them), output folders holding the user's own
files, a manifest of the demo that lists a changed file, a foreign manifest, one that points outside its folder,
checkpoints the demo cannot run, a corrupt video, and (as root) a read-only and a full tmpfs. Flags, files and the
output folder are checked before torch, a model or a detector loads (``hot_pose.wild.preflight``), so most cases fail
within the interpreter's start-up time.
HoT: Li et al., CVPR 2024 (arXiv:2311.12028).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import numpy as np
import pytest
import torch
from bad_input_lib import ROOT, WALKWAY, Case, Inputs, check_outcome, demo, run_cases

from hot_pose.models import build_model
from hot_pose.wild.outputs import MANIFEST, MANIFEST_FORMAT

#: the small lifter of the hand-made checkpoints (as TINY in bad_input_lib)
SMALL = dict(model="mixste.hot_mixste", frames=27, channel=32, d_hid=64, token_num=9, layer_index=1, depth=2)


def vis(*args: str) -> List[str]:
    """``demo/vis.py`` with exactly these flags (``--quiet``)."""
    return [sys.executable, str(ROOT / "demo" / "vis.py"), "--quiet", *args]


def _digest(data: bytes) -> dict:
    import hashlib

    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _save_small(path: Path, **sizes) -> None:
    """A small hot_mixste checkpoint (random weights) with other joints/channels than the demo feeds."""
    torch.manual_seed(0)
    args = dict(SMALL, **sizes)
    model = build_model(args["model"], args)
    torch.save({"model": model.state_dict(), "args": args, "model_config": model.config.to_dict()}, path)


def _mount_tmpfs(folder: Path, options: str) -> bool:
    """A small tmpfs on ``folder`` (root only); False when that is not possible here."""
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    return done.returncode == 0


@pytest.fixture(scope="module")
def demo_inputs(bad_inputs: Inputs):
    """This module's inputs under ``<bad inputs>/demo_cli`` (see the module docstring)."""
    base = bad_inputs.tmp / "demo_cli"
    for name in ("clip", "kept", "changed", "foreign", "traversal", "kpout", "ckout", "stream_kept", "no_pth",
                 "readonly", "full"):
        (base / name).mkdir(parents=True, exist_ok=True)
    shutil.copy(WALKWAY, base / "clip" / "clip.mp4")  # the user's video, where its render would go
    shutil.copy(WALKWAY, base / "kept" / "walkway_cam03.mp4")  # a user's own <stem>.mp4 in the output folder
    (base / "kept" / "notes.txt").write_text("mine")
    (base / "changed" / "poses_3d.json").write_text('{"edited": "by the user"}')
    (base / "changed" / MANIFEST).write_text(json.dumps(
        {"format": MANIFEST_FORMAT, "files": {"poses_3d.json": _digest(b'{"written": "by the demo"}')}}))
    (base / "foreign" / MANIFEST).write_text("my own notes, not a manifest")
    (base / "victim.txt").write_text("precious")
    (base / "traversal" / MANIFEST).write_text(json.dumps(
        {"format": MANIFEST_FORMAT, "files": {"../victim.txt": _digest(b"precious")}}))
    shutil.copy(bad_inputs.keypoints / "good.npz", base / "kpout" / "keypoints_2d.npz")
    shutil.copy(bad_inputs.finished / "best.pth", base / "ckout" / "poses_3d.npz")
    np.savez(base / "stream_kept" / "poses_3d_stream.npz", mine=np.arange(3))
    (base / "no_pth" / "README.txt").write_text("no weights here")
    (base / "text.pth").write_text("not a checkpoint\n")
    (base / "empty.pth").write_bytes(b"")
    _save_small(base / "joints15.pth", n_joints=15)
    _save_small(base / "channels4.pth", in_channels=4)
    (base / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    (base / "notes.mp4").write_text("a text file named like a video")
    (base / "k.txt").write_text("1 2 3\n")
    (base / "garbage.npz").write_bytes(b"not a zip archive")
    earlier = base / "earlier"  # a real earlier run of the demo into the folder, then the user's own notes
    done = subprocess.run(vis("--video", str(WALKWAY), "--detector", "keypoints", "--keypoints",
                              str(bad_inputs.keypoints / "good.npz"), "--max-frames", "10", "--output", str(earlier)),
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT)))
    assert done.returncode == 0 and (earlier / MANIFEST).is_file(), done.stderr
    (earlier / "notes.txt").write_text("the user's own notes")
    mounted = [folder for folder, options in ((base / "readonly", "ro,size=64k"), (base / "full", "size=12k"))
               if _mount_tmpfs(folder, options)]  # the outputs of 10 frames need about 22 KiB
    if base / "readonly" not in mounted:
        (base / "readonly").chmod(0o555)
    yield base
    for folder in mounted:
        subprocess.run(["umount", str(folder)], capture_output=True)
    (base / "readonly").chmod(0o755)


def case_list(inputs: Inputs) -> List[Case]:
    """Every case (pure: the inputs are made by ``make_inputs`` and ``demo_inputs``)."""
    tmp, nan_dir, evil_ckpt, run = inputs.tmp, inputs.nan_weights, inputs.evil_ckpt, inputs.finished
    kp, out = inputs.keypoints, inputs.demo_out
    base = tmp / "demo_cli"
    clip, kept, changed, foreign = base / "clip", base / "kept", base / "changed", base / "foreign"
    traversal, kpout, ckout, stream_kept = base / "traversal", base / "kpout", base / "ckout", base / "stream_kept"
    new = base / "new_out"  # never created by a failing case
    earlier = base / "earlier"  # an earlier run's outputs (with its manifest) and the user's notes.txt
    good = ["--detector", "keypoints", "--keypoints", str(kp / "good.npz")]
    kp_only = ["--keypoints", str(kp / "good.npz"), "--no-render", "--output", str(new)]
    stream = ["--stream", "--video", str(WALKWAY), "--max-frames", "6"]
    readonly_skip = "" if os.geteuid() != 0 or os.path.ismount(base / "readonly") else \
        "root without a read-only tmpfs: a chmod 0555 folder does not stop root"
    full_skip = "" if os.path.ismount(base / "full") else "no 12 KiB tmpfs here (needs root)"
    cases = [
        # 2-D keypoint files and lifting weights
        Case("demo: keypoints far outside the frame", demo("--detector", "keypoints", "--keypoints",
                                                           str(kp / "huge.npz"), "--output", str(earlier)),
             "outside", [earlier, kp], exit_code=1),
        Case("demo: normalised keypoints", demo("--detector", "keypoints", "--keypoints", str(kp / "normalised.npz"),
                                                "--output", str(earlier)), "normalised", [earlier, kp], exit_code=1),
        Case("demo: scores of the wrong size", demo("--detector", "keypoints", "--keypoints", str(kp / "scores.npz"),
                                                    "--output", str(earlier)), "scores", [earlier, kp], exit_code=1),
        Case("demo: ragged JSON keypoints", demo("--detector", "keypoints", "--keypoints", str(kp / "ragged.json"),
                                                 "--output", str(earlier)), "ragged.json", [earlier, kp], exit_code=1),
        Case("demo: keypoint file with a pickle", demo("--detector", "keypoints", "--keypoints",
                                                       str(kp / "evil.npz"), "--output", str(earlier)),
             "evil.npz", [earlier, kp], exit_code=1),
        Case("demo: keypoint file in .txt", demo("--keypoints", str(base / "k.txt"), "--output", str(new)),
             "the format '.txt' is not supported; use .npz, .npy, .json", [base / "k.txt"], [new], exit_code=1),
        Case("demo: .npz keypoint file that is no zip", demo("--keypoints", str(base / "garbage.npz"), "--output",
                                                            str(new)),
             "not a valid .npz file", [base / "garbage.npz"], [new], exit_code=1),
        Case("demo: NaN lifter weights", demo(*good, "--checkpoint", str(nan_dir / "best.pth"), "--output",
                                              str(earlier)), "NaN/inf values", [earlier, nan_dir], exit_code=1),
        Case("demo: lifter checkpoint that runs code", demo(*good, "--checkpoint", str(evil_ckpt / "best.pth"),
                                                            "--output", str(earlier)),
             "refusing to load", [earlier, evil_ckpt], exit_code=1),
        Case("demo: --checkpoint a text file", demo(*good, "--checkpoint", str(base / "text.pth"), "--output",
                                                    str(new)), "text.pth", [base / "text.pth"], [new], exit_code=1),
        Case("demo: --checkpoint an empty file", demo(*good, "--checkpoint", str(base / "empty.pth"), "--output",
                                                      str(new)), "empty.pth", [base / "empty.pth"], [new],
             exit_code=1),
        Case("demo: --checkpoint a folder without weights", demo(*good, "--checkpoint", str(base / "no_pth"),
                                                                 "--output", str(new)),
             "no *.pth file in", [base / "no_pth"], [new], exit_code=1),
        Case("demo: --checkpoint of 15 joints", demo(*good, "--checkpoint", str(base / "joints15.pth"), "--output",
                                                     str(new)),
             "is a model of 15 input and 15 output joints", [base / "joints15.pth"], [new], exit_code=1),
        Case("demo: --checkpoint of 4 channels", demo(*good, "--checkpoint", str(base / "channels4.pth"),
                                                      "--output", str(new)),
             "takes 4 channels per joint", [base / "channels4.pth"], [new], exit_code=1),
        Case("demo: --frames that does not fit the checkpoint", demo(*good, "--checkpoint", str(run / "best.pth"),
                                                                     "--frames", "9", "--output", str(new)),
             "--frames 9 does not fit checkpoint", [run], [new], exit_code=1),
        Case("demo: --frames shorter than the frames TPC keeps", demo("--frames", "1", "--output", str(new)),
             "--frames 1 is shorter than the 81 frames", gone=[new], exit_code=1),
        Case("demo: unknown --model", demo("--model", "resnet", "--output", str(new)), "unknown model 'resnet'",
             gone=[new], exit_code=1),
        # motion capture flags (checked before anything loads; docs/mocap.md)
        Case("demo: --focal 0", demo("--focal", "0", "--output", str(new)), "--focal must be a finite focal length > 0",
             gone=[new], exit_code=1),
        Case("demo: --fov 200", demo("--fov", "200", "--output", str(new)), "--fov must be a field of view in (0, 180)",
             gone=[new], exit_code=1),
        Case("demo: --height -1", demo("--height", "-1", "--output", str(new)), "--height must be", gone=[new],
             exit_code=1),
        Case("demo: --export fbx", demo("--export", "fbx", "--output", str(new)),
             "unknown format 'fbx'; give a comma list of bvh, trc, c3d", gone=[new], exit_code=1),
        Case("demo: --focal with --fov", demo("--focal", "1500", "--fov", "60", "--output", str(new)),
             "--focal and --fov both set", gone=[new], exit_code=1),
        # videos
        Case("demo: missing video", vis("--video", str(tmp / "no.mp4"), "--no-render", "--output", str(out)),
             "no.mp4", [out], exit_code=1),
        Case("demo: corrupt video (random bytes)", vis("--video", str(base / "corrupt.mp4"), "--output", str(new)),
             "cannot open video", [base / "corrupt.mp4"], [new], exit_code=1),
        Case("demo: a text file as --video", vis("--video", str(base / "notes.mp4"), "--output", str(new)),
             "cannot open video", [base / "notes.mp4"], [new], exit_code=1),
        # outputs: the demo never deletes or replaces a file it did not write
        Case("demo: rendered video would replace the input video", vis("--video", str(clip / "clip.mp4"),
                                                                       "--max-frames", "10", "--output", str(clip)),
             "would replace the --video input", [clip], exit_code=1),
        Case("demo: --output is the input video", vis("--video", str(clip / "clip.mp4"), "--no-render", "--output",
                                                      str(clip / "clip.mp4")),
             "is a file, not a folder", [clip], exit_code=1),
        Case("demo: a user's <stem>.mp4 in --output", vis("--video", str(WALKWAY), "--max-frames", "10", "--output",
                                                          str(kept)),
             "already holds walkway_cam03.mp4 (the demo did not write it)", [kept], exit_code=1),
        Case("demo: a user's poses_3d.json in --output", demo("--output", str(out)),
             "already holds poses_3d.json (the demo did not write it)", [out], exit_code=1),
        Case("demo: a demo output changed since", demo("--output", str(changed)),
             "already holds poses_3d.json (it changed since the demo wrote it)", [changed], exit_code=1),
        Case("demo: a foreign manifest file", demo("--output", str(foreign)), "is not a manifest this demo wrote",
             [foreign], exit_code=1),
        Case("demo: a manifest pointing outside its folder", demo("--output", str(traversal)),
             "is not a manifest this demo wrote", [traversal, base / "victim.txt"], exit_code=1),
        Case("demo: --keypoints is an output", demo("--keypoints", str(kpout / "keypoints_2d.npz"), "--output",
                                                    str(kpout)),
             "would replace the --keypoints input", [kpout], exit_code=1),
        Case("demo: --checkpoint is an output", demo("--checkpoint", str(ckout / "poses_3d.npz"), "--output",
                                                     str(ckout)),
             "would replace the --checkpoint input", [ckout], exit_code=1),
        Case("demo: --output is a file", demo("--output", str(inputs.a_file)), "is a file, not a folder",
             [inputs.a_file], exit_code=1),
        Case("demo: --output below a file", demo("--output", str(inputs.a_file / "out")),
             "cannot write to output folder", [inputs.a_file], exit_code=1),
        Case("demo: --output in a read-only folder", demo("--output", str(base / "readonly" / "out")),
             "is not writable", [base / "readonly"], exit_code=1, skip=readonly_skip),
        Case("demo: --output on a full disk", demo(*good, "--output", str(base / "full" / "out")),
             "No space left on device; nothing was written there", [base / "full"], [base / "full" / "out"],
             exit_code=1, skip=full_skip),
        # numbers out of range (flags: exit 2, before anything loads)
        Case("demo: --max-frames 0", demo("--max-frames", "0"), "argument --max-frames: must be >= 1", exit_code=2),
        Case("demo: --max-frames NaN", demo("--max-frames", "nan"), "argument --max-frames: expected a whole number",
             exit_code=2),
        Case("demo: --max-height 1", demo("--max-height", "1"), "argument --max-height: must be between 64 and",
             exit_code=2),
        Case("demo: --max-height huge", demo("--max-height", "1000000"), "argument --max-height: must be between",
             exit_code=2),
        Case("demo: --fps 0.0001", vis(*kp_only, "--size", "1088x1920", "--fps", "0.0001"),
             "argument --fps: must be between 0.1 and 1000", gone=[new], exit_code=2),
        Case("demo: --fps 1e150", vis(*kp_only, "--size", "1088x1920", "--fps", "1e150"),
             "argument --fps: must be between 0.1 and 1000", gone=[new], exit_code=2),
        Case("demo: --fps NaN", vis(*kp_only, "--size", "1088x1920", "--fps", "nan"),
             "argument --fps: must be a finite number", gone=[new], exit_code=2),
        Case("demo: --fps negative", vis(*kp_only, "--size", "1088x1920", "--fps", "-25"),
             "argument --fps: must be between", gone=[new], exit_code=2),
        Case("demo: --size 100000x100000", vis(*kp_only, "--size", "100000x100000"),
             "argument --size: each side must be 64 to 16384 pixels", gone=[new], exit_code=2),
        Case("demo: --size 0x0", vis(*kp_only, "--size", "0x0"), "argument --size: each side must be", gone=[new],
             exit_code=2),
        Case("demo: --size without a height", vis(*kp_only, "--size", "1920"), "expected WIDTHxHEIGHT", gone=[new],
             exit_code=2),
        Case("demo: --size with a video", demo("--size", "1920x1080", "--output", str(new)),
             "--size and --fps are for --keypoints without a video", gone=[new], exit_code=1),
        Case("demo: --frames 0", demo("--frames", "0"), "argument --frames: must be between 1 and 1024", exit_code=2),
        Case("demo: --frames huge", demo("--frames", "1000000"), "argument --frames: must be between 1 and 1024",
             exit_code=2),
        Case("demo: --batch-size 0", demo("--batch-size", "0"), "argument --batch-size: must be between 1 and",
             exit_code=2),
        Case("demo: --batch-size huge", demo("--batch-size", "1000000000"), "argument --batch-size: must be between",
             exit_code=2),
        Case("demo: --stride 0", demo("--stride", "0"), "argument --stride: must be >= 1", exit_code=2),
        Case("demo: --stride beyond the window", demo(*good, "--stride", "1000", "--output", str(new)),
             "--stride 1000 is longer than the 27-frame window", gone=[new], exit_code=1),
        Case("demo: --device tpu", demo("--device", "tpu", "--output", str(new)), "--device 'tpu' is not a device",
             gone=[new], exit_code=1),
        Case("demo: --device cuda:7", demo("--device", "cuda:7", "--output", str(new)), "--device cuda:7",
             gone=[new], exit_code=1),
        # several persons
        Case("demo: --max-persons 0", demo("--multi", "--max-persons", "0", "--output", str(new)),
             "--max-persons must be between 1 and 100, got 0", gone=[new], exit_code=1),
        Case("demo: --max-persons huge", demo("--multi", "--max-persons", "100000", "--output", str(new)),
             "--max-persons must be between 1 and 100", gone=[new], exit_code=1),
        Case("demo: --max-persons without --multi", demo("--max-persons", "2", "--output", str(new)),
             "--max-persons is for several persons: add --multi", gone=[new], exit_code=1),
        Case("demo: --min-track-frames 0", demo("--multi", "--min-track-frames", "0", "--output", str(new)),
             "--min-track-frames must be >= 1", gone=[new], exit_code=1),
        Case("demo: --person -1", demo("--multi", "--person", "-1", "--output", str(new)),
             "--person must be a track id >= 0", gone=[new], exit_code=1),
        Case("demo: --person with a one-person source", demo(*good, "--person", "0", "--output", str(new)),
             "drop --person", gone=[new], exit_code=1),
        Case("demo: non-numeric --max-frames", demo("--max-frames", "ten"), "--max-frames", [out], exit_code=2),
        # --stream
        Case("stream: --lookahead -1", vis(*stream, "--lookahead", "-1"), "argument --lookahead: must be >= 0",
             exit_code=2),
        Case("stream: --lookahead 100", vis(*stream, "--lookahead", "100"),
             "--lookahead 100 + --hop 3 exceed the 27-frame window", exit_code=1),
        Case("stream: --hop 0", vis(*stream, "--hop", "0"), "argument --hop: must be >= 1", exit_code=2),
        Case("stream: --hop beyond the window", vis(*stream, "--hop", "1000"),
             "--hop 1000 is longer than the 27-frame window of 'mixste.hot_mixste': use --hop 1 to 27",
             exit_code=1),
        Case("stream: --device tpu", vis(*stream, "--device", "tpu"), "--device 'tpu' is not a device",
             exit_code=1),
        Case("stream: missing video", vis("--stream", "--video", str(tmp / "no.mp4")), "video not found",
             exit_code=1),
        Case("stream: --checkpoint a text file", vis(*stream, "--checkpoint", str(base / "text.pth")), "text.pth",
             [base / "text.pth"], exit_code=1),
        Case("stream: --output is a file", vis(*stream, "--output", str(inputs.a_file)), "is a file, not a folder",
             [inputs.a_file], exit_code=1),
        Case("stream: a user's poses_3d_stream.npz in --output", vis(*stream, "--output", str(stream_kept)),
             "already holds poses_3d_stream.npz (the demo did not write it)", [stream_kept], exit_code=1),
        Case("stream: with --keypoints", vis(*stream, "--keypoints", str(kp / "good.npz")),
             "--keypoints works without --stream only", [kp], exit_code=1),
        Case("stream: --hop without --stream", demo("--hop", "3", "--output", str(new)),
             "--hop is for --stream: add --stream", gone=[new], exit_code=1),
    ]
    for case in cases:  # an offline run without --output would write into demo/output/: give it a new folder
        if "--output" not in case.command and "--stream" not in case.command:
            case.command += ["--output", str(new)]
            case.gone.append(new)
    return cases


@pytest.fixture(scope="module")
def outcomes(bad_inputs: Inputs, demo_inputs: Path):
    """Run this module's cases, two at a time, on the shared inputs (``conftest.bad_inputs``) and this module's."""
    return run_cases(case_list(bad_inputs), bad_inputs.tmp)


CASE_NAMES = [c.name for c in case_list(Inputs(Path("/inputs"), Path("/h36m")))]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_is_one_line_and_destroys_nothing(outcomes, name):
    check_outcome(outcomes, name)


def test_enough_cases():
    assert len(CASE_NAMES) >= 40 and len(set(CASE_NAMES)) == len(CASE_NAMES)
