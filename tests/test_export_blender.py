"""A real consumer of the BVH files: Blender's own importer (``bpy.ops.import_anim.bvh``, headless) gives the right
skeleton, frame count and frame rate, and its bones' world heads and tails match the exported joints within 1 cm
in every frame.

HoT: Li et al., CVPR 2024 (arXiv:2311.12028). Import options (``hot_pose.export.blender``): ``axis_forward='-Z',
axis_up='Y'`` (Blender's defaults: the file's y up becomes Blender's z up, so Blender's world is the exporter's
z-up input world), ``global_scale`` 0.01 for a cm file and 1 for a m file (Blender works in metres),
``frame_start=1`` (BVH frame i = Blender frame 1 + i), ``update_scene_fps=True``; Debian 12's Blender 3.4.1 needs
the ``"rU"`` open-mode shim the import script applies. Skipped only where Blender is not installed (``.ci/run``
installs it where apt-get exists) or cannot start here; the skip says which.
"""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
from test_export_formats import lying_down, straight_and_opposite

from hot_pose.data.h36m import Human36mDataset
from hot_pose.export.blender import BlenderBvhImport, blender_import_bvh, find_blender
from hot_pose.export.bvh import BVH_JOINT_NAMES, BVH_SKELETON, H36M_TO_BVH_NAME, write_bvh

#: the brief's bound: 1 cm (Blender keeps float32; measured about 0.0002 mm)
TOL_M = 0.01


@pytest.fixture(scope="module")
def blender() -> str:
    exe = find_blender()
    if exe is None:
        pytest.skip("Blender is not installed, so the BVH import check did not run (Debian/Ubuntu: apt-get install "
                    "-y --no-install-recommends blender, as .ci/run does where apt-get exists; or set BLENDER)")
    try:
        proc = subprocess.run([exe, "-b", "--factory-startup", "--version"], capture_output=True, text=True,
                              timeout=120, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"Blender at {exe} cannot run here ({exc}), so the BVH import check did not run")
    if proc.returncode != 0:
        pytest.skip(f"Blender at {exe} cannot run here (exit {proc.returncode}: {proc.stderr.strip()[-300:]}), so "
                    "the BVH import check did not run")
    return exe


def check_import(result: BlenderBvhImport, exported: np.ndarray, fps: float) -> float:
    """Assert skeleton, frame count, frame rate and every sampled bone head/tail; returns the worst error (m)."""
    num_frames = len(exported)
    assert result.bones == BVH_JOINT_NAMES
    assert list(result.parents) == [BVH_SKELETON[s.parent].name if s.parent >= 0 else "" for s in BVH_SKELETON]
    assert result.frame_count == num_frames and set(result.keyframes.values()) == {num_frames}
    assert result.action_frame_range == (1.0, float(num_frames))
    assert result.fps == pytest.approx(fps, rel=1e-6)
    worst = 0.0
    for i, frame in enumerate(result.frames):
        for j, name in enumerate(H36M_TO_BVH_NAME):  # the bone of every joint starts on it
            err = float(np.linalg.norm(result.head[i, result.bones.index(name)] - exported[frame, j]))
            worst = max(worst, err)
            assert err < TOL_M, f"frame {frame} joint {name}: head {err * 1000:.2f} mm off"
        for b, spec in enumerate(BVH_SKELETON):  # a single-child bone ends on its child's joint
            kids = [c for c, s in enumerate(BVH_SKELETON) if s.parent == b]
            if len(kids) == 1:
                err = float(np.linalg.norm(result.tail[i, b] - exported[frame, BVH_SKELETON[kids[0]].h36m]))
                worst = max(worst, err)
                assert err < TOL_M, f"frame {frame} bone {spec.name}: tail {err * 1000:.2f} mm off"
    return worst


def test_blender_imports_real_motion(tmp_path, blender, h36m_dir) -> None:
    """300 frames of Human3.6M S9 Greeting at 25 fps, in cm: every frame checked."""
    data = Human36mDataset(h36m_dir / "data_3d_h36m.npz", subjects=["S9"])
    joints = data["S9"]["Greeting"][::2][:300].astype(np.float64)
    path = tmp_path / "greeting.bvh"
    exported = write_bvh(path, joints, 25.0, units="cm")
    result = blender_import_bvh(path, units="cm", blender=blender)
    assert result.frames == tuple(range(300))
    worst = check_import(result, exported, 25.0)
    assert worst < 1e-5, f"{worst * 1000:.4f} mm: more than float32 rounding"
    print(f"Blender {result.version}: {result.seconds:.1f} s, worst bone error {worst * 1000:.4f} mm")


def test_blender_imports_awkward_motion(tmp_path, blender) -> None:
    """Lying down and rolling over, then limbs straight and opposite their rest direction, in m with ZYX order."""
    joints = np.concatenate([lying_down(), straight_and_opposite()])
    path = tmp_path / "awkward.bvh"
    exported = write_bvh(path, joints, 60.0, units="m", rotation_order="ZYX")
    frames = [0, 30, 60, 119, 120, 150, 209]
    result = blender_import_bvh(path, frames, units="m", blender=blender)
    worst = check_import(result, exported, 60.0)
    assert worst < 1e-5, f"{worst * 1000:.4f} mm: more than float32 rounding"


def test_blender_errors(tmp_path, monkeypatch) -> None:
    """Where Blender is missing or the file is, one clear error (no Blender needed for this test)."""
    monkeypatch.setenv("BLENDER", str(tmp_path / "no-blender"))
    with pytest.raises(FileNotFoundError, match="Blender not found at .*no-blender.*apt-get install blender"):
        blender_import_bvh(tmp_path / "x.bvh")
    monkeypatch.delenv("BLENDER")
    with pytest.raises(ValueError, match="units must be one of"):
        blender_import_bvh(tmp_path / "x.bvh", units="inch")
    with pytest.raises(ValueError, match="frames must be"):
        blender_import_bvh(tmp_path / "x.bvh", frames=[-1])
    if find_blender() is not None:
        with pytest.raises(FileNotFoundError, match="no BVH file at"):
            blender_import_bvh(tmp_path / "x.bvh")


def test_blender_failure_is_reported(tmp_path, blender) -> None:
    """A file Blender's importer cannot read: a RuntimeError carrying the end of Blender's output."""
    broken = tmp_path / "broken.bvh"
    broken.write_text("HIERARCHY\nROOT Hips\n{\n")
    with pytest.raises(RuntimeError, match=r"Blender failed \(exit 1\) importing .*broken.bvh"):
        blender_import_bvh(broken, blender=blender)
