"""Motion files (hot_pose.export: BVH, TRC, C3D): structure, conventions and round trips on real Human3.6M motion
and on awkward synthetic motion.

HoT: Li et al., CVPR 2024 (arXiv:2311.12028). Real motion is a few slices of Human3.6M's world 3-D
(``../shared/data/h36m/data_3d_h36m.npz`` through ``hot_pose.data.h36m.Human36mDataset``, the 17-joint set of
``hot_pose.data.skeleton``, metres, z up, 50 Hz), never copied. The bounds asserted are the brief's (BVH forward
kinematics within 1 mm) and the measured ones (the text precision: about 1e-8 m; C3D's float32).
"""
from __future__ import annotations

from typing import Dict

import numpy as np
import pytest

from hot_pose.data.h36m import Human36mDataset
from hot_pose.export.bvh import (
    BVH_JOINT_NAMES,
    BVH_SKELETON,
    H36M_TO_BVH_NAME,
    NECK_TILT_DEG,
    bvh_forward_kinematics,
    bvh_world_joints,
    h36m_bone_lengths,
    read_bvh,
    read_bvh_joints,
    write_bvh,
)
from hot_pose.export.motion import JOINT_NAMES, MARKER_NAMES, PARENTS
from hot_pose.export.rotations import EULER_ORDERS, euler_to_matrix, matrix_to_euler, quaternion_to_matrix, shortest_arc
from hot_pose.export.trc import TRC_HEADER_FIELDS, read_trc, write_trc

#: the real sequences the tests export: (subject, action, first frame, frame count)
H36M_SLICES = (
    ("S11", "Walking", 0, 1000),
    ("S9", "SittingDown", 0, 1200),
    ("S9", "Greeting", 0, 800),
    ("S11", "Photo", 0, 800),
    ("S1", "WalkDog", 0, 800),
    ("S5", "Eating", 0, 800),
)


@pytest.fixture(scope="session")
def h36m_motion(h36m_dir) -> Dict[str, np.ndarray]:
    """``{"S11/Walking": (N, 17, 3) float64 world metres, z up}`` for :data:`H36M_SLICES`."""
    data = Human36mDataset(h36m_dir / "data_3d_h36m.npz", subjects=sorted({s for s, *_ in H36M_SLICES}))
    return {f"{subject}/{action}": data[subject][action][start:start + count].astype(np.float64)
            for subject, action, start, count in H36M_SLICES}


# --------------------------------------------------------------------------------------------------------------
# synthetic motion: what real data rarely shows (lying down, straight limbs, limbs opposite the rest pose, random
# non-rigid poses, zero-length bones); z up, metres, facing -y
# --------------------------------------------------------------------------------------------------------------
STANDING = np.array([
    [0.00, 0.00, 0.95], [-0.13, 0.00, 0.93], [-0.13, -0.01, 0.50], [-0.13, 0.02, 0.08],
    [0.13, 0.00, 0.93], [0.13, -0.01, 0.50], [0.13, 0.02, 0.08], [0.00, 0.01, 1.18],
    [0.00, 0.00, 1.45], [0.00, -0.08, 1.55], [0.00, -0.02, 1.70], [0.18, 0.00, 1.42],
    [0.20, 0.00, 1.14], [0.22, -0.05, 0.90], [-0.18, 0.00, 1.42], [-0.20, 0.00, 1.14],
    [-0.22, -0.05, 0.90]])


def rot(axis: str, angle: float) -> np.ndarray:
    """3x3 rotation about a world axis by ``angle`` radians."""
    c, s = np.cos(angle), np.sin(angle)
    return {"x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def bone_vectors(pose: np.ndarray) -> np.ndarray:
    """``(17, 3)`` bone vectors parent -> joint of one pose (row 0 zero)."""
    vec = np.zeros_like(pose)
    for j in range(1, 17):
        vec[j] = pose[j] - pose[PARENTS[j]]
    return vec


def pose_from_directions(root: np.ndarray, directions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``(T, 17, 3)`` joints from the root ``(T, 3)``, bone directions ``(T, 17, 3)`` and lengths ``(T, 17)``."""
    out = np.zeros(directions.shape)
    out[:, 0] = root
    for j in range(1, 17):
        d = directions[:, j] / np.linalg.norm(directions[:, j], axis=-1, keepdims=True)
        out[:, j] = out[:, PARENTS[j]] + lengths[:, j, None] * d
    return out


def lying_down(num_frames: int = 120, seed: int = 0) -> np.ndarray:
    """On the back, rolling over the side onto the face (ZXY gimbal lock of the root), 3 mm noise."""
    rng = np.random.default_rng(seed)
    bones = bone_vectors(STANDING)
    out = np.zeros((num_frames, 17, 3))
    for t in range(num_frames):
        rmat = rot("y", np.pi * t / (num_frames - 1)) @ rot("x", np.pi / 2) @ rot("z", 0.3 * np.sin(t / 9))
        vec = bones @ rmat.T
        out[t, 0] = [0.5 + 0.01 * t, 0.2, 0.12]
        for j in range(1, 17):
            out[t, j] = out[t, PARENTS[j]] + vec[j]
    return out + rng.normal(scale=0.003, size=out.shape)


def straight_and_opposite(num_frames: int = 90) -> np.ndarray:
    """Knees and elbows through fully straight, the right leg raised to straight up and the left arm swung across
    the chest, both ending exactly opposite their rest direction, the right arm overhead."""
    base = bone_vectors(STANDING)
    lengths = np.linalg.norm(base, axis=-1)
    dirs = np.zeros((num_frames, 17, 3))
    down, up, left, right, fwd = [0, 0, -1.0], [0, 0, 1.0], [1.0, 0, 0], [-1.0, 0, 0], [0, -1.0, 0]
    for t in range(num_frames):
        s = t / (num_frames - 1)
        flex = 0.15 * np.cos(2 * np.pi * s)
        lift = np.pi * s
        dirs[t] = base / np.maximum(lengths[:, None], 1e-9)
        dirs[t, 1], dirs[t, 4] = right, left
        dirs[t, 2] = np.cos(lift) * np.array(down) + np.sin(lift) * np.array(fwd)
        dirs[t, 3] = rot("x", flex) @ dirs[t, 2]
        dirs[t, 5] = down
        dirs[t, 6] = rot("x", -flex) @ np.array(down)
        dirs[t, 7], dirs[t, 8], dirs[t, 10] = up, up, up
        dirs[t, 11], dirs[t, 14] = left, right
        dirs[t, 12] = np.cos(lift) * np.array(left) + np.sin(lift) * np.array(fwd)
        dirs[t, 13] = rot("z", flex) @ dirs[t, 12]
        dirs[t, 15] = up
        dirs[t, 16] = rot("y", flex) @ np.array(up)
    root = np.stack([np.linspace(0, 1, num_frames), np.zeros(num_frames), np.full(num_frames, 0.95)], axis=1)
    return pose_from_directions(root, dirs, np.broadcast_to(lengths, (num_frames, 17)))


def random_poses(num_frames: int = 200, seed: int = 1) -> np.ndarray:
    """Every bone in a random direction, lengths varying +-20 % (a noisy non-rigid 'prediction'), random root."""
    rng = np.random.default_rng(seed)
    lengths = np.linalg.norm(bone_vectors(STANDING), axis=-1)
    dirs = rng.normal(size=(num_frames, 17, 3))
    root = rng.uniform(-2, 2, size=(num_frames, 3))
    return pose_from_directions(root, dirs, lengths[None] * rng.uniform(0.8, 1.2, size=(num_frames, 17)))


def degenerate_frames() -> np.ndarray:
    """Standing, with zero-length bones in some frames and twist vectors parallel to the main axis in others."""
    out = np.repeat(STANDING[None], 12, axis=0).copy()
    out[3, 12] = out[3, 11]                 # zero-length upper arm
    out[4, 2] = out[4, 1]                   # the knee on the hip
    out[6, 11] = out[6, 8] + [0, 0, 0.1]    # shoulders in line with the neck
    out[6, 14] = out[6, 8] - [0, 0, 0.1]
    out[6, 9] = out[6, 8] + [0, 0, 0.12]
    out[8, 4] = out[8, 7] + (out[8, 7] - out[8, 0]) * 0.5  # hip axis along the spine
    out[8, 1] = out[8, 0] - (out[8, 7] - out[8, 0]) * 0.5
    return out


SYNTHETIC = {"lying_down": lying_down(), "straight_and_opposite": straight_and_opposite(),
             "random_poses": random_poses(), "degenerate_frames": degenerate_frames()}


def max_err_mm(a: np.ndarray, b: np.ndarray) -> float:
    return float(1000 * np.linalg.norm(a - b, axis=-1).max())


def bone_lengths_of(joints: np.ndarray) -> np.ndarray:
    return np.stack([np.linalg.norm(joints[:, j] - joints[:, PARENTS[j]], axis=-1) for j in range(1, 17)], axis=1)


# --------------------------------------------------------------------------------------------------------------
# rotation maths
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", EULER_ORDERS)
def test_euler_round_trip_including_gimbal_lock(order: str) -> None:
    rng = np.random.default_rng(3)
    mats = quaternion_to_matrix(rng.normal(size=(2000, 4)))
    assert np.abs(euler_to_matrix(matrix_to_euler(mats, order), order) - mats).max() < 1e-12
    angles = rng.uniform(-np.pi, np.pi, size=(500, 3))
    angles[:, 1] = np.pi / 2 * rng.choice([-1.0, 1.0], size=500) + rng.normal(scale=1e-10, size=500)
    locked = euler_to_matrix(angles, order)
    assert np.abs(euler_to_matrix(matrix_to_euler(locked, order), order) - locked).max() < 1e-6


def test_euler_order_is_the_product_in_channel_order() -> None:
    a, b, c = 0.3, -0.7, 1.1
    rz = euler_to_matrix(np.array([a, 0.0, 0.0]), "ZXY")
    rx = euler_to_matrix(np.array([b, 0.0, 0.0]), "XYZ")
    ry = euler_to_matrix(np.array([c, 0.0, 0.0]), "YXZ")
    assert np.allclose(euler_to_matrix(np.array([a, b, c]), "ZXY"), rz @ rx @ ry)
    assert np.allclose(rz, [[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def test_shortest_arc_maps_source_to_target_even_when_opposite() -> None:
    rng = np.random.default_rng(4)
    src = rng.normal(size=(300, 3))
    src /= np.linalg.norm(src, axis=1, keepdims=True)
    dst = rng.normal(size=(300, 3))
    dst /= np.linalg.norm(dst, axis=1, keepdims=True)
    dst[:50] = -src[:50]
    dst[50:60] = src[50:60]
    mats = shortest_arc(src, dst)
    assert np.abs(np.einsum("tij,tj->ti", mats, src) - dst).max() < 1e-9
    assert np.allclose(np.linalg.det(mats), 1.0)
    assert np.allclose(mats[50:60], np.eye(3))


# --------------------------------------------------------------------------------------------------------------
# BVH
# --------------------------------------------------------------------------------------------------------------
def test_bvh_hierarchy_follows_the_projects_skeleton() -> None:
    """Every Human3.6M bone parent(j) -> j is a chain of the BVH hierarchy from the joint at parent(j) to the one
    at j, through zero-offset helpers only; the names are the Mixamo-style ones."""
    names = [s.name for s in BVH_SKELETON]
    for j in range(1, 17):
        b = names.index(H36M_TO_BVH_NAME[j])
        up = BVH_SKELETON[b].parent
        while BVH_SKELETON[up].h36m is None:
            up = BVH_SKELETON[up].parent
        assert BVH_SKELETON[up].h36m == PARENTS[j], (JOINT_NAMES[j], names[up])
    assert {"Hips", "Spine", "Spine1", "Neck", "Head", "HeadTop", "LeftArm", "LeftForeArm", "LeftHand",
            "RightUpLeg", "RightLeg", "RightFoot"} <= set(BVH_JOINT_NAMES)


def test_bvh_file_structure_axes_and_rest_pose(tmp_path) -> None:
    joints = SYNTHETIC["straight_and_opposite"]
    path = tmp_path / "walk.bvh"
    write_bvh(path, joints, 30.0)
    text = path.read_text()
    assert text.startswith("HIERARCHY\nROOT Hips\n")
    assert "\nMOTION\nFrames: 90\nFrame Time: 0.0333333333333\n" in text
    assert text.count("End Site") == 5
    data = read_bvh(path)
    names, parents, offsets, channels, motion = data
    assert names == BVH_JOINT_NAMES and len(names) == 22
    assert channels[0] == ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
    assert all(c == ("Zrotation", "Xrotation", "Yrotation") for c in channels[1:])
    assert motion.shape == (90, 6 + 21 * 3)
    assert data.fps == pytest.approx(30.0, rel=1e-9)
    assert names[parents[names.index("LeftForeArm")]] == "LeftArm"

    def direction(name: str) -> np.ndarray:
        return offsets[names.index(name)] / np.linalg.norm(offsets[names.index(name)])

    # rest pose: a T-pose along the axes (y up, left = +x, facing +z), the nose bone tilted forward
    assert np.allclose(direction("LeftArm"), [1, 0, 0]) and np.allclose(direction("RightForeArm"), [-1, 0, 0])
    assert np.allclose(direction("RightLeg"), [0, -1, 0]) and np.allclose(direction("Spine"), [0, 1, 0])
    tilt = np.radians(NECK_TILT_DEG)
    assert np.allclose(direction("Head"), [0, np.cos(tilt), np.sin(tilt)])
    assert np.allclose(offsets[0], 0) and np.allclose(offsets[names.index("LeftShoulder")], 0)
    # root channels: the pelvis in cm, y up: (x, y, z) -> (x, z, -y)
    assert np.allclose(motion[:, :3], np.stack([joints[:, 0, 0], joints[:, 0, 2], -joints[:, 0, 1]], 1) * 100,
                       atol=1e-5)


@pytest.mark.parametrize("units, scale", [("cm", 100.0), ("m", 1.0), ("mm", 1000.0)])
def test_bvh_units_scale_offsets_and_positions(tmp_path, units, scale) -> None:
    joints = SYNTHETIC["lying_down"]
    write_bvh(tmp_path / "a.bvh", joints, 50, units=units)
    data = read_bvh(tmp_path / "a.bvh")
    thigh = data.offsets[BVH_JOINT_NAMES.index("RightLeg")]
    assert np.linalg.norm(thigh) == pytest.approx(h36m_bone_lengths(joints)[2] * scale, rel=1e-6)
    assert np.allclose(data.motion[:, 1], joints[:, 0, 2] * scale, atol=1e-4)


def test_bvh_bone_lengths_are_the_median_and_constant(tmp_path) -> None:
    joints = SYNTHETIC["random_poses"]
    exported = write_bvh(tmp_path / "r.bvh", joints, 25)
    lengths = bone_lengths_of(exported)
    assert np.allclose(lengths, lengths[0], atol=1e-12)
    assert np.allclose(lengths[0], np.median(bone_lengths_of(joints), axis=0))
    for j in range(1, 17):  # the bones keep their observed directions
        a = exported[:, j] - exported[:, PARENTS[j]]
        b = joints[:, j] - joints[:, PARENTS[j]]
        cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        assert cos.min() > 1 - 1e-12
    assert np.allclose(exported[:, 0], joints[:, 0])


def test_bvh_given_bone_lengths_are_used(tmp_path) -> None:
    given = np.linspace(0.1, 0.5, 17)
    exported = write_bvh(tmp_path / "g.bvh", SYNTHETIC["lying_down"], 50, units="m", bone_lengths=given)
    assert np.allclose(bone_lengths_of(exported), given[1:], atol=1e-12)
    back, _ = read_bvh_joints(tmp_path / "g.bvh", units="m")
    assert max_err_mm(back, exported) < 1e-3


def test_bvh_round_trip_real_h36m_motion(tmp_path, h36m_motion) -> None:
    """Real Human3.6M world motion: the file's forward kinematics equals the exported joints within 1 mm (the
    brief's bound; measured ~3e-5 mm, asserted < 1e-3 mm), and the constant bone lengths move the mocap joints by
    less than 1 mm (Human3.6M's bones are rigid)."""
    for name, joints in h36m_motion.items():
        path = tmp_path / (name.replace("/", "_") + ".bvh")
        exported = write_bvh(path, joints, 50.0)
        back, fps = read_bvh_joints(path)
        assert fps == pytest.approx(50.0) and back.shape == joints.shape
        err = max_err_mm(back, exported)
        assert err <= 1.0, f"{name}: forward kinematics {err:.4f} mm from the exported joints"
        assert err < 1e-3, f"{name}: {err:.4g} mm is far above the text precision (1e-8 m)"
        assert max_err_mm(exported, joints) < 1.0, f"{name}: constant bone lengths moved joints"


@pytest.mark.parametrize("units", ["cm", "m", "mm"])
@pytest.mark.parametrize("order", EULER_ORDERS)
def test_bvh_round_trip_awkward_synthetic_motion(tmp_path, units, order) -> None:
    """Lying down (gimbal lock of the ZXY root), limbs straight or opposite their rest direction, random non-rigid
    poses, degenerate frames: forward kinematics within 1e-3 mm in every unit and rotation order."""
    for name, joints in SYNTHETIC.items():
        path = tmp_path / f"{name}.bvh"
        exported = write_bvh(path, joints, 60, units=units, rotation_order=order)
        err = max_err_mm(bvh_world_joints(read_bvh(path), units=units), exported)
        assert err < 1e-3, f"{name} {units} {order}: {err:.4g} mm"


def test_bvh_degenerate_frames_keep_lengths(tmp_path) -> None:
    exported = write_bvh(tmp_path / "d.bvh", SYNTHETIC["degenerate_frames"], 30)
    lengths = bone_lengths_of(exported)
    assert np.allclose(lengths, lengths[0]) and (lengths > 0.05).all()
    # the zero-length upper arm of frame 3 takes the direction of frame 2
    assert np.allclose(exported[2, 12] - exported[2, 11], exported[3, 12] - exported[3, 11])


def test_bvh_invalid_frames_are_interpolated(tmp_path) -> None:
    joints = SYNTHETIC["straight_and_opposite"].copy()
    valid = np.ones(len(joints), dtype=bool)
    valid[10:13] = False
    joints[10:13] = np.nan
    exported = write_bvh(tmp_path / "v.bvh", joints, 30, valid=valid)
    assert np.isfinite(exported).all()
    back, _ = read_bvh_joints(tmp_path / "v.bvh")
    assert max_err_mm(back, exported) < 1e-3
    assert np.allclose(exported[11, 0], (joints[9, 0] + joints[13, 0]) / 2)  # the pelvis, linearly


def test_bvh_forward_kinematics_of_generic_channels() -> None:
    """A hand-made two-joint file: position channels replace the offset, rotations compose in the listed order."""
    parents = np.array([-1, 0])
    offsets = np.array([[9.0, 9.0, 9.0], [0.0, 2.0, 0.0]])
    channels = (("Xposition", "Yposition", "Zposition", "Yrotation", "Xrotation", "Zrotation"), ("Xrotation",))
    motion = np.array([[1.0, 2.0, 3.0, 0.0, 0.0, 90.0, 0.0],
                       [0.0, 0.0, 0.0, 90.0, 90.0, 0.0, 0.0]])
    pos = bvh_forward_kinematics(parents, offsets, channels, motion)
    assert np.allclose(pos[0], [[1, 2, 3], [1 - 2, 2, 3]])  # Rz(90) takes +y to -x
    assert np.allclose(pos[1], [[0, 0, 0], [2, 0, 0]])      # Ry(90) Rx(90) takes +y to +x


def test_bvh_rotations_are_continuous_through_straight_and_opposite_limbs(tmp_path) -> None:
    """Knees and elbows through fully straight, limbs swinging to exactly opposite their rest direction: no joint's
    local rotation jumps (bone directions move <= 1 degree per frame here; a bend-plane twist would flip 180)."""
    path = tmp_path / "s.bvh"
    write_bvh(path, straight_and_opposite(num_frames=181), 30)
    data = read_bvh(path)
    mats = euler_to_matrix(np.radians(data.motion[:, 3:].reshape(len(data.motion), -1, 3)), "ZXY")
    rel = np.einsum("tjki,tjkl->tjil", mats[:-1], mats[1:])
    step = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1, 1)))
    assert step.max() < 5.0, dict(zip(data.names, step.max(axis=0).round(2), strict=True))


def test_bvh_reader_rejects_broken_files(tmp_path) -> None:
    path = tmp_path / "ok.bvh"
    write_bvh(path, SYNTHETIC["lying_down"], 50)
    text = path.read_text()
    cases = {"truncated": (text[: int(len(text) * 0.8)], "truncated or corrupt"),
             "not bvh": ("hello\nMOTION\n", "HIERARCHY"),
             "channel": (text.replace("Xposition", "Wposition", 1), "unknown channel"),
             "no motion": (text.split("MOTION")[0], "no MOTION")}
    for name, (content, message) in cases.items():
        broken = tmp_path / f"{name}.bvh"
        broken.write_text(content)
        with pytest.raises(ValueError, match=message):
            read_bvh(broken)
    with pytest.raises(ValueError, match="no joint 'Hips'"):
        bvh_world_joints(_renamed(read_bvh(path)))
    with pytest.raises(FileNotFoundError):
        read_bvh(tmp_path / "missing.bvh")


def _renamed(data):
    """A parsed BVH whose joints have other names (a file this package did not write)."""
    import dataclasses

    return dataclasses.replace(data, names=tuple(f"j{i}" for i in range(len(data.names))))


# --------------------------------------------------------------------------------------------------------------
# TRC
# --------------------------------------------------------------------------------------------------------------
def test_trc_header_and_layout(tmp_path) -> None:
    joints = SYNTHETIC["lying_down"]
    path = tmp_path / "m.trc"
    write_trc(path, joints, 29.97, units="mm")
    lines = path.read_text().split("\n")
    assert lines[0] == "PathFileType\t4\t(X/Y/Z)\tm.trc"
    assert lines[1].split("\t") == list(TRC_HEADER_FIELDS)
    assert lines[2].split("\t") == ["29.97", "29.97", str(len(joints)), "17", "mm", "29.97", "1", str(len(joints))]
    cells = lines[3].split("\t")
    assert cells[:5] == ["Frame#", "Time", "Pelvis", "", ""] and [c for c in cells[2:] if c] == list(MARKER_NAMES)
    assert "Neck_Nose" in MARKER_NAMES and not any("/" in n for n in MARKER_NAMES)
    assert lines[4].split("\t")[:5] == ["", "", "X1", "Y1", "Z1"] and lines[4].endswith("Z17")
    assert lines[5] == ""
    first = lines[6].split("\t")
    assert first[:2] == ["1", "0.000000"] and len(first) == 2 + 51
    assert lines[7].split("\t")[1] == f"{1 / 29.97:.6f}"


@pytest.mark.parametrize("units, scale", [("mm", 1000.0), ("m", 1.0)])
def test_trc_round_trip_real_motion_y_up(tmp_path, h36m_motion, units, scale) -> None:
    joints = h36m_motion["S11/Walking"]
    path = tmp_path / f"walk_{units}.trc"
    write_trc(path, joints, 50, units=units)
    data = read_trc(path)
    assert data.units == units and data.data_rate == 50.0 and data.marker_names == MARKER_NAMES
    assert np.array_equal(data.frame_numbers, np.arange(1, len(joints) + 1))
    assert np.allclose(data.times, np.arange(len(joints)) / 50.0, atol=1e-6)
    # y up in the file: (x, y, z) -> (x, z, -y)
    expected = np.stack([joints[..., 0], joints[..., 2], -joints[..., 1]], axis=-1) * scale
    half_last_decimal = {"mm": 0.5e-5, "m": 0.5e-8}[units]  # written with 5 decimals in mm, 8 in m
    assert np.abs(data.markers - expected).max() <= half_last_decimal * 1.001
    assert max_err_mm(data.world_joints(), joints) < 1e-4  # equal to the written decimals (1e-5 mm, 1e-8 m)
    assert (data.markers[..., 1] > -0.05 * scale).all()  # feet on or above the floor: y is up


def test_trc_invalid_frames_are_nan(tmp_path) -> None:
    joints = SYNTHETIC["random_poses"].copy()
    valid = np.ones(len(joints), dtype=bool)
    valid[[0, 7, 8, len(joints) - 1]] = False
    joints[7] = np.nan
    path = tmp_path / "v.trc"
    write_trc(path, joints, 25, valid=valid)
    back = read_trc(path).world_joints()
    assert np.isnan(back[~valid]).all()
    assert max_err_mm(back[valid], joints[valid]) < 1e-4
    assert path.read_text().split("\n")[6].split("\t")[2] == "NaN"


def test_trc_reader_rejects_broken_files(tmp_path) -> None:
    path = tmp_path / "ok.trc"
    write_trc(path, SYNTHETIC["lying_down"][:10], 25)
    lines = path.read_text().split("\n")
    cases = {"not trc": ("hello\n" * 6, "PathFileType"),
             "truncated": ("\n".join(lines[:-4]) + "\n", "header says 10 frames"),
             "bad number": ("\n".join(lines[:6] + [lines[6].replace("\t0.000000\t", "\tx\t")] + lines[7:]),
                            "not a number")}
    for name, (content, message) in cases.items():
        broken = tmp_path / f"{name}.trc"
        broken.write_text(content)
        with pytest.raises(ValueError, match=message):
            read_trc(broken)


def test_opensim_reads_the_trc(tmp_path, h36m_motion) -> None:
    """OpenSim's own reader (TRCFileAdapter through ``TimeSeriesTableVec3``) sees the labels, rate, units, times and
    every marker (NaN where invalid) as written. Runs only where ``import opensim`` works in this environment."""
    opensim = pytest.importorskip("opensim", reason="OpenSim is not installed in this environment (it is not a "
                                  "project dependency; `pip install opensim` in its own venv reads these files)")
    joints = h36m_motion["S9/Greeting"][:300].copy()
    valid = np.ones(len(joints), dtype=bool)
    valid[100:105] = False
    joints[100:105] = np.nan
    path = tmp_path / "greet.trc"
    write_trc(path, joints, 50, valid=valid, units="mm")
    table = opensim.TimeSeriesTableVec3(str(path))
    assert tuple(table.getColumnLabels()) == MARKER_NAMES
    assert table.getTableMetaDataAsString("DataRate") == "50" and table.getTableMetaDataAsString("Units") == "mm"
    assert np.allclose(np.array(list(table.getIndependentColumn())), np.arange(300) / 50.0)
    seen = np.array([[[table.getDependentColumnAtIndex(c)[r].get(k) for k in range(3)] for c in range(17)]
                     for r in range(table.getNumRows())])
    ours = read_trc(path).markers
    assert np.isnan(seen[~valid]).all()
    assert np.abs(seen[valid] - ours[valid]).max() < 1e-9


# --------------------------------------------------------------------------------------------------------------
# C3D (ezc3d)
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ezc3d():
    return pytest.importorskip("ezc3d", reason="C3D needs ezc3d: pip install ezc3d==1.7.2")


@pytest.mark.parametrize("units, scale", [("mm", 1000.0), ("m", 1.0)])
def test_c3d_round_trip_real_motion(tmp_path, ezc3d, h36m_motion, units, scale) -> None:
    from hot_pose.export.c3d import read_c3d, write_c3d

    joints = h36m_motion["S9/SittingDown"]
    path = tmp_path / f"sit_{units}.c3d"
    write_c3d(path, joints, 50, units=units)
    data = read_c3d(path)
    assert data.labels == MARKER_NAMES and data.rate == 50.0 and data.units == units
    assert data.points.shape == joints.shape
    # stored as float32 (POINT:SCALE -1): read back exactly the float32 of the scaled input
    assert np.array_equal(data.points, (joints * scale).astype(np.float32).astype(np.float64))
    assert max_err_mm(data.world_joints(), joints) < 1e-3
    assert (data.residuals == 0).all()


def test_c3d_parameters_and_z_up(tmp_path, ezc3d) -> None:
    from hot_pose.export.c3d import read_c3d, write_c3d

    joints = SYNTHETIC["lying_down"]
    path = tmp_path / "lie.c3d"
    write_c3d(path, joints, 120.0)
    raw = ezc3d.c3d(str(path))
    point = raw["parameters"]["POINT"]
    assert list(point["X_SCREEN"]["value"]) == ["+X"] and list(point["Y_SCREEN"]["value"]) == ["+Z"]
    assert tuple(point["DESCRIPTIONS"]["value"]) == JOINT_NAMES
    assert list(point["UNITS"]["value"]) == ["mm"]
    assert raw["header"]["points"]["frame_rate"] == 120.0
    assert raw["header"]["points"]["last_frame"] - raw["header"]["points"]["first_frame"] + 1 == len(joints)
    assert np.allclose(read_c3d(path).points[..., 2], joints[..., 2] * 1000, atol=1e-3)  # z stays up


def test_c3d_invalid_frames_flagged_missing(tmp_path, ezc3d) -> None:
    from hot_pose.export.c3d import read_c3d, write_c3d

    joints = SYNTHETIC["random_poses"].copy()
    valid = np.ones(len(joints), dtype=bool)
    valid[[3, 4, 50]] = False
    joints[3] = np.nan
    path = tmp_path / "v.c3d"
    write_c3d(path, joints, 30, valid=valid)
    data = read_c3d(path)
    assert (data.residuals[~valid] == -1).all() and (data.residuals[valid] == 0).all()
    assert np.isnan(data.points[~valid]).all()
    assert max_err_mm(data.world_joints()[valid], joints[valid]) < 1e-3


def test_c3d_names_without_the_suffix_and_broken_files(tmp_path, ezc3d) -> None:
    """ezc3d appends ".c3d" to a name without it: the file still lands exactly at the given path."""
    from hot_pose.export.c3d import read_c3d, write_c3d

    write_c3d(tmp_path / "motion", SYNTHETIC["lying_down"], 30)
    write_c3d(tmp_path / "MOTION.C3D", SYNTHETIC["lying_down"], 30)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MOTION.C3D", "motion"]
    assert read_c3d(tmp_path / "motion").points.shape == (120, 17, 3)
    with pytest.raises(FileNotFoundError):
        read_c3d(tmp_path / "none.c3d")
    junk = tmp_path / "junk.c3d"
    junk.write_bytes(b"not a c3d file at all")
    with pytest.raises(ValueError, match="not a readable C3D"):
        read_c3d(junk)


# --------------------------------------------------------------------------------------------------------------
# the measurement tool (tools/export_roundtrip.py), on two short real sequences
# --------------------------------------------------------------------------------------------------------------
def test_export_roundtrip_tool(tmp_path, h36m_dir, ezc3d, capsys) -> None:
    import json

    from tools.export_roundtrip import main

    out = tmp_path / "rt"
    assert main(["--data", str(h36m_dir / "data_3d_h36m.npz"), "--subjects", "S9", "--actions", "Walking,Greeting",
                 "--stride", "10", "--out-dir", str(out)]) == 0
    report = json.loads((out / "export_roundtrip.json").read_text())
    rows = {r["metric"]: r for r in report["formats"]}
    assert report["num_sequences"] == 2 and report["fps"] == 5.0 and len(report["sequences"]) == 2
    assert rows["bvh_fk"]["max_mm"] < 1e-3 and rows["trc"]["max_mm"] < 1e-4 and rows["c3d"]["max_mm"] < 1e-3
    assert rows["bvh_bone_lengths"]["max_mm"] < 1.0
    assert "| BVH | cm, ZXY, y up |" in (out / "export_roundtrip.md").read_text()
    assert main(["--data", str(h36m_dir / "data_3d_h36m.npz"), "--out-dir", str(out)]) == 2  # existing: refused
    assert "already holds export_roundtrip.json" in capsys.readouterr().err
