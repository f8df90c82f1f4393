"""The demo never deletes or replaces a file it did not write (``hot_pose/wild/outputs.py``), on real files.

The issue: ``mkdir x; cp V x/clip.mp4; python demo/vis.py --video x/clip.mp4 --no-render --output x`` exited 0 and
the input video was gone (with rendering on it was replaced by the render), and any ``<stem>.mp4`` a user kept in
the output folder was deleted as a "stale" output. Now an output that would replace an input is refused in one
line before any work, an output name that exists and is not the demo's own is refused, and the clean-up of a
previous run's outputs touches only the files the folder's manifest (written by that run) lists with exactly
their bytes. The video is the real walkway clip (1088x1920, 60 fps) copied into a temporary folder.
HoT demo (Li et al., CVPR 2024, arXiv:2311.12028).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hot_pose.cli.demo import main
from hot_pose.wild.errors import DemoError
from hot_pose.wild.outputs import MANIFEST, Staging, plan_outputs, read_manifest

ROOT = Path(__file__).resolve().parents[1]
W, H, T = 1088, 1920, 10
OUTPUTS = ["keypoints_2d.npz", "poses_3d.json", "poses_3d.npz"]


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` (hidden ones too) → its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def listed(folder: Path) -> list:
    return sorted(json.loads((folder / MANIFEST).read_text())["files"])


@pytest.fixture(scope="module")
def keypoints(tmp_path_factory) -> Path:
    """10 frames of a plausible person in pixels of the walkway clip (the demo's keypoint-file input)."""
    rng = np.random.default_rng(0)
    base = rng.uniform([300, 500], [800, 1500], size=(1, 17, 2))
    path = tmp_path_factory.mktemp("kp") / "person.npz"
    np.savez(path, keypoints=(base + rng.normal(0, 3, size=(T, 17, 2))).astype(np.float32))
    return path


def vis(video: Path, out: Path, keypoints: Path, *extra: str) -> list:
    return ["--video", str(video), "--detector", "keypoints", "--keypoints", str(keypoints), "--max-frames", str(T),
            "--output", str(out), "--quiet", *extra]


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_the_issue_command_keeps_the_input_video(video_dir, tmp_path):
    """The issue's command, through the real script with the default detector: the input stays byte-identical."""
    pytest.importorskip("mediapipe")
    x = tmp_path / "x"
    x.mkdir()
    clip = x / "clip.mp4"
    shutil.copy(video_dir / "walkway_cam03.mp4", clip)
    original = clip.read_bytes()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, str(ROOT / "demo" / "vis.py"), "--video", str(clip), "--no-render",
                          "--output", str(x), "--max-frames", str(T), "--quiet"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert clip.read_bytes() == original
    assert sorted(p.name for p in x.iterdir()) == sorted([MANIFEST, "clip.mp4"] + OUTPUTS)
    assert listed(x) == OUTPUTS  # the input is not the demo's: never listed, never cleaned up
    # with rendering on, the render would replace the input: refused in one line before any work
    before = snapshot(x)
    run = subprocess.run([sys.executable, str(ROOT / "demo" / "vis.py"), "--video", str(clip), "--output", str(x),
                          "--max-frames", str(T), "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert lines[0] == (f"error: the output clip.mp4 would replace the --video input {clip}; pass --output another "
                        "folder (or --no-render)")
    assert snapshot(x) == before


def test_user_files_are_kept_and_runs_replace_only_their_own(video_dir, tmp_path, keypoints, capsys):
    out = tmp_path / "out"
    out.mkdir()
    video = tmp_path / "walkway_cam03.mp4"
    shutil.copy(video_dir / "walkway_cam03.mp4", video)
    shutil.copy(video, out / "walkway_cam03.mp4")  # the user keeps a <stem>.mp4 of their own in the folder
    (out / "notes.txt").write_text("the user's notes")
    users = snapshot(out)

    # a render would replace the user's <stem>.mp4: refused, nothing changes
    assert main(vis(video, out, keypoints)) == 1
    assert "already holds walkway_cam03.mp4 (the demo did not write it); it would be replaced: pass --output " \
           "another folder" in one_line(capsys)
    assert snapshot(out) == users
    # without rendering nothing collides: the outputs are written beside the user's files, which stay as they were
    assert main(vis(video, out, keypoints, "--no-render")) == 0
    assert listed(out) == OUTPUTS
    assert {k: v for k, v in snapshot(out).items() if k in users} == users

    # the user moves their video away; a render run writes the demo's own <stem>.mp4 and lists it
    (out / "walkway_cam03.mp4").rename(tmp_path / "mine.mp4")
    assert main(vis(video, out, keypoints)) == 0
    assert listed(out) == OUTPUTS + ["walkway_cam03.mp4"]
    first = {name: (out / name).stat().st_ino for name in OUTPUTS}

    # a second run into the same folder replaces its own files and removes its own stale video, nothing else
    assert main(vis(video, out, keypoints, "--no-render")) == 0
    assert not (out / "walkway_cam03.mp4").exists() and (out / "notes.txt").read_text() == "the user's notes"
    assert listed(out) == OUTPUTS
    assert all((out / name).stat().st_ino != first[name] for name in OUTPUTS)  # replaced (staged, moved in)

    # a demo file the user changed is theirs now: never deleted as stale, and refused as a target
    assert main(vis(video, out, keypoints)) == 0
    with open(out / "walkway_cam03.mp4", "ab") as fh:
        fh.write(b"the user's edit")
    edited = (out / "walkway_cam03.mp4").read_bytes()
    assert main(vis(video, out, keypoints, "--no-render")) == 0
    assert (out / "walkway_cam03.mp4").read_bytes() == edited and listed(out) == OUTPUTS
    before = snapshot(out)
    assert main(vis(video, out, keypoints)) == 1
    assert "already holds walkway_cam03.mp4 (the demo did not write it)" in one_line(capsys)
    assert snapshot(out) == before
    (out / "poses_3d.json").write_text('{"edited": true}')
    before = snapshot(out)
    assert main(vis(video, out, keypoints, "--no-render")) == 1
    assert "already holds poses_3d.json (it changed since the demo wrote it)" in one_line(capsys)
    assert snapshot(out) == before
    assert (tmp_path / "mine.mp4").read_bytes() == video.read_bytes()


def test_the_keypoint_input_is_never_an_output(video_dir, tmp_path, keypoints, capsys):
    """Re-lifting a run's own keypoints_2d.npz into the same folder would overwrite the input: refused."""
    out = tmp_path / "out"
    assert main(vis(video_dir / "walkway_cam03.mp4", out, keypoints, "--no-render")) == 0
    before = snapshot(out)
    assert main(vis(video_dir / "walkway_cam03.mp4", out, out / "keypoints_2d.npz", "--no-render")) == 1
    assert "the output keypoints_2d.npz would replace the --keypoints input" in one_line(capsys)
    assert snapshot(out) == before
    shutil.copy(out / "keypoints_2d.npz", tmp_path / "k2d.npz")  # the fix: a copy elsewhere (or --output elsewhere)
    assert main(vis(video_dir / "walkway_cam03.mp4", out, tmp_path / "k2d.npz", "--no-render")) == 0


def test_a_manifest_never_reaches_outside_its_folder(tmp_path):
    """A manifest naming a path (``../x``) is not one the demo wrote: the folder is refused, the file untouched."""
    (tmp_path / "victim.txt").write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text(json.dumps({"format": "hot-demo-outputs-1", "files": {
        "../victim.txt": {"size": 8, "sha256": "0" * 64}}}))
    with pytest.raises(DemoError, match="is not a manifest this demo wrote"):
        read_manifest(out)
    with pytest.raises(DemoError, match="is not a manifest this demo wrote"):
        plan_outputs(out, ["poses_3d.json"], {})
    assert (tmp_path / "victim.txt").read_text() == "precious"


def test_staging_commit_writes_the_manifest_and_abort_leaves_nothing(tmp_path):
    out = tmp_path / "a" / "b"
    stage = Staging(plan_outputs(out, ["one.txt"], {}))
    stage.path("one.txt").write_text("1")
    assert [p.name for p in stage.commit()] == ["one.txt"] and listed(out) == ["one.txt"]
    stage = Staging(plan_outputs(out, ["two.txt"], {}))
    stage.path("two.txt").write_text("2")
    stage.commit()  # one.txt was the demo's own and this run did not write it: removed
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "two.txt"]
    fresh = tmp_path / "c" / "d"
    stage = Staging(plan_outputs(fresh, ["x.txt"], {}))
    stage.path("x.txt").write_text("x")
    stage.abort()
    assert not (tmp_path / "c").exists()  # every folder the failed run created is gone, and only those
