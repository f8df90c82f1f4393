"""Motion files (hot_pose.export: BVH, TRC, C3D) given bad input or an unwritable destination: a clear error before
anything is written, no file (nor temporary file) left, an existing file unchanged; a failure in the middle of a
write (full disk, Ctrl-C, the C3D library) leaves nothing either.

HoT: Li et al., CVPR 2024 (arXiv:2311.12028). Synthetic input only: what is tested is the checking and the
writing, not the motion.
"""
from __future__ import annotations

import errno
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
import pytest
from test_export_formats import SYNTHETIC

from hot_pose.export.bvh import write_bvh
from hot_pose.export.c3d import read_c3d, write_c3d
from hot_pose.export.motion import check_destination
from hot_pose.export.trc import write_trc

WRITERS: Dict[str, Callable[..., object]] = {"bvh": write_bvh, "trc": write_trc, "c3d": write_c3d}


@pytest.fixture(params=sorted(WRITERS))
def writer(request):
    """``(suffix, write function)`` for every format (C3D only where ezc3d is installed)."""
    if request.param == "c3d":
        pytest.importorskip("ezc3d", reason="C3D needs ezc3d: pip install ezc3d==1.7.2")
    return request.param, WRITERS[request.param]


@pytest.fixture()
def good() -> np.ndarray:
    return SYNTHETIC["straight_and_opposite"][:20].copy()


def listing(folder: Path) -> List[str]:
    return sorted(p.name for p in folder.iterdir())


def _with(value: float, frame: int, joint: int) -> Callable[[np.ndarray], np.ndarray]:
    def make(good: np.ndarray) -> np.ndarray:
        bad = good.copy()
        bad[frame, joint, 1] = value
        return bad
    return make


BAD_JOINTS = {
    "nan": (_with(np.nan, 5, 9), r"NaN/inf at frame 5, joint 9 \(Neck/Nose\).*mark such frames invalid"),
    "inf": (_with(np.inf, 0, 0), r"NaN/inf at frame 0, joint 0 \(Pelvis\)"),
    "16 joints": (lambda g: g[:, :16], r"shape \(T, 17, 3\).*got shape \(20, 16, 3\)"),
    "2-D points": (lambda g: g[..., :2], r"shape \(T, 17, 3\).*got shape \(20, 17, 2\)"),
    "one pose": (lambda g: g[0], r"shape \(T, 17, 3\).*got shape \(17, 3\)"),
    "no frame": (lambda g: g[:0], r"no frame"),
    "strings": (lambda g: np.full((2, 17, 3), "a"), r"real numbers"),
    "booleans": (lambda g: np.ones((2, 17, 3), dtype=bool), r"real numbers"),
    "None": (lambda g: None, r"shape \(T, 17, 3\)"),
}


@pytest.mark.parametrize("case", sorted(BAD_JOINTS))
def test_bad_joints(tmp_path, writer, good, case) -> None:
    suffix, write = writer
    make, message = BAD_JOINTS[case]
    with pytest.raises(ValueError, match=message):
        write(tmp_path / f"out.{suffix}", make(good), 30)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("fps", [0, -25, float("nan"), float("inf"), "50", True, None])
def test_bad_fps(tmp_path, writer, good, fps) -> None:
    suffix, write = writer
    with pytest.raises(ValueError, match="fps must be a finite number"):
        write(tmp_path / f"out.{suffix}", good, fps)
    assert listing(tmp_path) == []


def test_bad_valid(tmp_path, writer, good) -> None:
    suffix, write = writer
    for valid, message in ((np.ones(19, dtype=bool), r"valid must have shape \(20,\)"),
                           (np.zeros(20, dtype=bool), "no valid frame"),
                           (np.full(20, 0.5), "valid must hold booleans")):
        with pytest.raises(ValueError, match=message):
            write(tmp_path / f"out.{suffix}", good, 30, valid=valid)
    assert listing(tmp_path) == []


def test_nan_is_allowed_in_invalid_frames_only(tmp_path, writer, good) -> None:
    suffix, write = writer
    joints = good.copy()
    joints[3] = np.nan
    with pytest.raises(ValueError, match="NaN/inf at frame 3"):
        write(tmp_path / f"out.{suffix}", joints, 30)
    valid = np.ones(20, dtype=bool)
    valid[3] = False
    write(tmp_path / f"out.{suffix}", joints, 30, valid=valid)
    assert listing(tmp_path) == [f"out.{suffix}"]


def test_bad_options(tmp_path, good) -> None:
    cases = [
        (lambda p: write_bvh(p / "a.bvh", good, 30, units="inch"), "units must be one of 'm', 'cm', 'mm'"),
        (lambda p: write_bvh(p / "a.bvh", good, 30, rotation_order="XXY"), "rotation_order must be one of ZXY"),
        (lambda p: write_bvh(p / "a.bvh", good, 30, bone_lengths=np.ones(16)), r"bone_lengths must have shape \(17"),
        (lambda p: write_bvh(p / "a.bvh", good, 30, bone_lengths=np.array([0, 1, 1, -1] + [1] * 13)),
         r"bone_lengths\[3\] \(bone RKnee->RAnkle\)"),
        (lambda p: write_bvh(p / "a.bvh", np.repeat(good[:, :1], 17, axis=1), 30),
         "median length.*check the joint order"),
        (lambda p: write_trc(p / "a.trc", good, 30, units="cm"), "units must be one of 'mm', 'm'"),
        (lambda p: write_trc(p / "a.trc", good, 30, marker_names=["a"] * 3), "marker_names must be 17"),
        (lambda p: write_trc(p / "a.trc", good, 30, marker_names=[f"m {i}" for i in range(17)]), "without spaces"),
        (lambda p: write_c3d(p / "a.c3d", good, 30, units="inch"), "units must be one of 'mm', 'm'"),
        (lambda p: write_c3d(p / "a.c3d", good, 30, labels=["a"] * 17), "labels must be unique"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call(tmp_path)
    assert listing(tmp_path) == []


def test_unwritable_destinations(tmp_path, writer, good) -> None:
    suffix, write = writer
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    (tmp_path / f"dir.{suffix}").mkdir()
    cases = [
        (a_file / f"out.{suffix}", NotADirectoryError, rf"cannot write .*plain.txt/out.{suffix}: .* is not a folder"),
        (tmp_path / "missing" / f"out.{suffix}", FileNotFoundError,
         rf"cannot write .*missing/out.{suffix}: the folder .* does not exist; create it first"),
        (tmp_path / f"dir.{suffix}", IsADirectoryError, rf"cannot write .*dir.{suffix}: it is a folder"),
        (f"/proc/hot_export_test.{suffix}", PermissionError, "/proc is a kernel filesystem"),
        ("", IsADirectoryError, "the path is empty"),
    ]
    for path, error, message in cases:
        with pytest.raises(error, match=message):
            write(path, good, 30)
    assert listing(tmp_path) == [f"dir.{suffix}", "plain.txt"]
    assert listing(tmp_path / f"dir.{suffix}") == [] and a_file.read_text() == "x"


def test_device_files_are_refused_before_anything_is_written() -> None:
    """/dev/null would be replaced by the rename of an atomic write: refused up front (checked without writing)."""
    with pytest.raises(PermissionError, match="/dev is a kernel filesystem"):
        check_destination("/dev/null", "BVH file")


def test_read_only_folder(tmp_path, writer, good, monkeypatch) -> None:
    """A folder the process may not write into: chmod 0o500, or, as root (who ignores permission bits), the
    system's refusal to create the temporary file simulated."""
    suffix, write = writer
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:
        def refuse(*args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    else:
        folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match=rf"cannot write .*ro/out.{suffix}: Permission denied; choose a "
                                                  "writable folder"):
            write(folder / f"out.{suffix}", good, 30)
    finally:
        folder.chmod(0o700)
        monkeypatch.undo()
    assert listing(folder) == []


def test_failed_rename_keeps_the_existing_file(tmp_path, writer, good, monkeypatch) -> None:
    suffix, write = writer
    target = tmp_path / f"out.{suffix}"
    target.write_bytes(b"previous content")

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(OSError, match=rf"cannot write .*out.{suffix}: No space left on device") as info:
        write(target, good, 30)
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC
    assert listing(tmp_path) == [f"out.{suffix}"] and target.read_bytes() == b"previous content"


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_failure_while_writing_leaves_nothing(tmp_path, writer, good, monkeypatch, failure) -> None:
    """A full disk or Ctrl-C while the bytes go to disk (the fsync): the temporary file is removed, an existing
    file keeps its content."""
    suffix, write = writer
    target = tmp_path / f"out.{suffix}"
    target.write_bytes(b"previous content")

    def fail(fd):
        raise failure

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(type(failure)):
        write(target, good, 30)
    monkeypatch.undo()
    assert listing(tmp_path) == [f"out.{suffix}"] and target.read_bytes() == b"previous content"


def test_a_complete_file_replaces_an_existing_one(tmp_path, writer, good) -> None:
    suffix, write = writer
    target = tmp_path / f"out.{suffix}"
    target.write_bytes(b"previous content " * 1000)
    write(target, good, 30)
    (tmp_path / "sub").mkdir()
    fresh = tmp_path / "sub" / f"out.{suffix}"  # same name (TRC records it), written where nothing was
    write(fresh, good, 30)
    assert target.read_bytes() == fresh.read_bytes() and listing(tmp_path) == [target.name, "sub"]


def test_c3d_library_failure_leaves_nothing(tmp_path, good, monkeypatch) -> None:
    ezc3d = pytest.importorskip("ezc3d", reason="C3D needs ezc3d: pip install ezc3d==1.7.2")

    def failing_write(self, path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        raise RuntimeError("simulated ezc3d failure")

    monkeypatch.setattr(ezc3d.c3d, "write", failing_write)
    with pytest.raises(OSError, match=r"cannot write .*x.c3d: .*simulated ezc3d failure"):
        write_c3d(tmp_path / "x.c3d", good, 30)
    with pytest.raises(OSError, match="simulated ezc3d failure"):
        write_c3d(tmp_path / "no_suffix", good, 30)  # ezc3d's own ".c3d" name is removed too
    assert listing(tmp_path) == []


def test_missing_ezc3d_is_one_line_naming_the_install(tmp_path, good, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ezc3d", None)  # makes `import ezc3d` fail as if it were not installed
    for call in (lambda: write_c3d(tmp_path / "x.c3d", good, 30), lambda: read_c3d(__file__)):
        with pytest.raises(ImportError) as info:
            call()
        assert str(info.value) == "C3D files need ezc3d: pip install ezc3d==1.7.2"
    with pytest.raises(ValueError, match="fps must be"):  # bad input is still reported first
        write_c3d(tmp_path / "x.c3d", good, 0)
    assert listing(tmp_path) == []
