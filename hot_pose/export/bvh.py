"""BVH (Biovision hierarchy) motion files of the 17 world joints: writer, reader and forward kinematics.

Part of ``hot_pose.export`` (HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose
Estimation", CVPR 2024, arXiv:2311.12028): turns a lifted ``(T, 17, 3)`` world sequence (``hot_pose.export.motion``:
metres, z up) into an animated skeleton that Blender, MotionBuilder, Maya or Unreal import. The format is
Biovision's (Meredith & Maddock, "Motion capture file formats explained", 2001).

Conventions of the written file
-------------------------------
* **Axes:** y up, the usual BVH convention. The z-up input world is rotated by -90 degrees about x,
  ``(x, y, z) -> (x, z, -y)``. Blender's BVH importer with its defaults ``axis_forward='-Z', axis_up='Y'`` maps
  the file back to exactly the input world (Blender is z up); see ``hot_pose.export.blender``.
* **Units:** BVH records none; ``units`` picks centimetres (default, the usual BVH unit), metres or millimetres,
  and the reader must be told the same. In Blender import with ``global_scale`` = 0.01 (cm), 1 (m) or 0.001 (mm)
  to work in metres.
* **Skeleton:** constant bone lengths (the median over the valid frames of every bone, or ``bone_lengths``).
  Each frame is rebuilt from the pelvis outwards along its observed bone directions with those lengths
  (:func:`fixed_bone_length_joints`); the file reproduces that sequence, which :func:`write_bvh` returns, to
  the text precision (about 1e-8 m). Invalid frames (``valid`` False) are filled by linear interpolation: BVH
  cannot mark a frame missing.
* **Hierarchy** (22 joints, Mixamo/HumanIK names; the Human3.6M joint at each joint's head in brackets)::

      Hips [Pelvis] (root: 3 position + 3 rotation channels)
        RightHipJoint [Pelvis] > RightUpLeg [RHip] > RightLeg [RKnee] > RightFoot [RAnkle] > End Site
        LeftHipJoint [Pelvis] > LeftUpLeg [LHip] > LeftLeg [LKnee] > LeftFoot [LAnkle] > End Site
        Spine [Spine] > Spine1 [Thorax]
          Neck [Thorax] > Head [Neck/Nose] > HeadTop [Head] > End Site
          LeftShoulder [Thorax] > LeftArm [LShoulder] > LeftForeArm [LElbow] > LeftHand [LWrist] > End Site
          RightShoulder [Thorax] > RightArm [RShoulder] > RightForeArm [RElbow] > RightHand [RWrist] > End Site

  ``RightHipJoint``/``LeftHipJoint`` (as in the CMU BVH set), ``Neck`` and the clavicles ``LeftShoulder``/
  ``RightShoulder`` are zero-offset helper joints: their bones run from the pelvis to a hip and from the thorax to
  the nose or a shoulder, so the pelvis and thorax "triangles", not rigid in predicted poses, are reproduced
  exactly. (``Spine1`` has only zero-offset children, so Blender gives its bone a stub tail.)
* **Rest pose:** a T-pose with bones along the axes, facing +z, left = +x, up = +y: legs straight down, arms
  straight out sideways, spine and head straight up, the thorax -> nose bone tilted :data:`NECK_TILT_DEG`
  = 40 degrees forward (Human3.6M's joint 9 is the nose). End Sites (no data): feet 10 cm forward, hands 8 cm
  along the arm, head 10 cm up.
* **Rotations:** every joint's global rotation makes its child bone point where the data says. ``Hips`` and
  ``Spine1`` take a full frame from two vectors: y along pelvis -> spine (spine -> thorax), x along right hip ->
  left hip (right shoulder -> left shoulder) made perpendicular to y; this fixes the pelvis and chest twist.
  Every other joint takes the shortest-arc rotation from its parent's frame (swing only, no twist about the
  bone), so twist never flips with near-straight knees or elbows; where a bone points exactly opposite its rest
  direction, the swing axis of the previous frame is kept (half-turn continuity). Leaf joints (feet, hands,
  head top) keep their parent's orientation.
* **Channels:** Euler angles in degrees, order ``rotation_order`` (default ``"ZXY"``: ``Zrotation Xrotation
  Yrotation``, local ``R = Rz @ Rx @ Ry``; also ZYX, XYZ, XZY, YXZ, YZX); the root also has ``Xposition
  Yposition Zposition`` (the absolute pelvis position; its OFFSET is 0). ``Frame Time`` = 1 / fps (12
  significant digits). Near gimbal lock the first angle takes the whole locked rotation.
* **Reader semantics** (Blender's): rotations compose in the listed order; position channels replace the OFFSET
  component; ``p_j = p_parent + G_parent @ t_j``, ``G_j = G_parent @ R_j``.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from hot_pose.export.motion import (
    JOINT_NAMES,
    NUM_JOINTS,
    PARENTS,
    PathLike,
    check_fps,
    check_joints,
    fill_invalid_frames,
    unit_scale,
    write_file_atomic,
    y_up_to_z_up,
    z_up_to_y_up,
)
from hot_pose.export.rotations import (
    EULER_ORDERS,
    axis_rotation,
    frame_from_two_vectors,
    matrix_to_euler,
    normalize,
    previous_axes,
    shortest_arc,
)

__all__ = ["BvhJointSpec", "BVH_SKELETON", "BVH_JOINT_NAMES", "H36M_TO_BVH_NAME", "NECK_TILT_DEG", "BvhData",
           "h36m_bone_lengths", "fixed_bone_length_joints", "write_bvh", "read_bvh", "bvh_forward_kinematics",
           "bvh_world_joints", "read_bvh_joints"]

_logger = logging.getLogger(__name__)

_LEFT, _RIGHT = (1.0, 0.0, 0.0), (-1.0, 0.0, 0.0)
_UP, _DOWN = (0.0, 1.0, 0.0), (0.0, -1.0, 0.0)
#: forward tilt (degrees) of the thorax -> nose bone in the rest pose: Human3.6M's joint 9 is the nose, whose bone
#: leaves the spine line (spine -> thorax) at a median of 35 (S9 Directions), 40 (S1 Posing) and 47 (S11 Walking)
#: degrees, so a neutral pose gives a small neck rotation
NECK_TILT_DEG = 40.0
_NECK = (0.0, float(np.cos(np.radians(NECK_TILT_DEG))), float(np.sin(np.radians(NECK_TILT_DEG))))


@dataclass(frozen=True)
class BvhJointSpec:
    """One joint of the exported hierarchy.

    Attributes:
        name: BVH joint name.
        parent: index of the parent in :data:`BVH_SKELETON` (-1 for the root).
        h36m: the Human3.6M joint at this joint's head, ``None`` for the zero-offset joints.
        rest_dir: unit direction of the OFFSET from the parent in the rest pose (y up, facing +z).
        end_site: End Site offset in metres for leaf joints, else ``None``.
    """
    name: str
    parent: int
    h36m: Optional[int]
    rest_dir: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    end_site: Optional[Tuple[float, float, float]] = None


#: the exported hierarchy in file (depth-first) order
BVH_SKELETON: Tuple[BvhJointSpec, ...] = (
    BvhJointSpec("Hips", -1, 0),
    BvhJointSpec("RightHipJoint", 0, None),
    BvhJointSpec("RightUpLeg", 1, 1, _RIGHT),
    BvhJointSpec("RightLeg", 2, 2, _DOWN),
    BvhJointSpec("RightFoot", 3, 3, _DOWN, (0.0, 0.0, 0.10)),
    BvhJointSpec("LeftHipJoint", 0, None),
    BvhJointSpec("LeftUpLeg", 5, 4, _LEFT),
    BvhJointSpec("LeftLeg", 6, 5, _DOWN),
    BvhJointSpec("LeftFoot", 7, 6, _DOWN, (0.0, 0.0, 0.10)),
    BvhJointSpec("Spine", 0, 7, _UP),
    BvhJointSpec("Spine1", 9, 8, _UP),
    BvhJointSpec("Neck", 10, None),
    BvhJointSpec("Head", 11, 9, _NECK),
    BvhJointSpec("HeadTop", 12, 10, _UP, (0.0, 0.10, 0.0)),
    BvhJointSpec("LeftShoulder", 10, None),
    BvhJointSpec("LeftArm", 14, 11, _LEFT),
    BvhJointSpec("LeftForeArm", 15, 12, _LEFT),
    BvhJointSpec("LeftHand", 16, 13, _LEFT, (0.08, 0.0, 0.0)),
    BvhJointSpec("RightShoulder", 10, None),
    BvhJointSpec("RightArm", 18, 14, _RIGHT),
    BvhJointSpec("RightForeArm", 19, 15, _RIGHT),
    BvhJointSpec("RightHand", 20, 16, _RIGHT, (-0.08, 0.0, 0.0)),
)
#: BVH joint names in file order
BVH_JOINT_NAMES: Tuple[str, ...] = tuple(spec.name for spec in BVH_SKELETON)
#: for every Human3.6M joint (index order), the BVH joint whose head sits on it
H36M_TO_BVH_NAME: Tuple[str, ...] = tuple(
    next(spec.name for spec in BVH_SKELETON if spec.h36m == j) for j in range(NUM_JOINTS))
#: joints whose rotation is a full frame from two vectors: BVH name -> ((a, b), (c, d)) with y along
#: joint b - joint a and x along joint d - joint c (Human3.6M indices)
TWO_VECTOR_FRAMES: Dict[str, Tuple[Tuple[int, int], Tuple[int, int]]] = {
    "Hips": ((0, 7), (1, 4)),      # pelvis -> spine; right hip -> left hip
    "Spine1": ((7, 8), (14, 11)),  # spine -> thorax; right shoulder -> left shoulder
}
_CHANNEL_AXES = {"xposition": ("p", 0), "yposition": ("p", 1), "zposition": ("p", 2),
                 "xrotation": ("r", 0), "yrotation": ("r", 1), "zrotation": ("r", 2)}


def _children(index: int) -> List[int]:
    return [b for b, spec in enumerate(BVH_SKELETON) if spec.parent == index]


def _head_joint(index: int) -> int:
    """The Human3.6M joint at the head of BVH joint ``index`` (zero-offset joints: their parent's)."""
    while BVH_SKELETON[index].h36m is None:
        index = BVH_SKELETON[index].parent
    return BVH_SKELETON[index].h36m  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------------------
# constant bone lengths
# ----------------------------------------------------------------------------------------------------------

def h36m_bone_lengths(joints: np.ndarray, valid: Optional[np.ndarray] = None) -> np.ndarray:
    """Median length of every bone over the valid frames.

    Args:
        joints: ``(T, 17, 3)`` world positions (metres).
        valid: optional ``(T,)`` bool mask of the frames to use.
    Returns:
        ``(17,)`` metres; entry j is the length of the bone parent(j) -> j, entry 0 (the root) is 0.
    Raises:
        ValueError: bad input (see :func:`hot_pose.export.motion.check_joints`).
    """
    arr, mask = check_joints(joints, valid)
    lengths = np.zeros(NUM_JOINTS)
    for j in range(1, NUM_JOINTS):
        bone = arr[mask, j] - arr[mask, PARENTS[j]]
        lengths[j] = float(np.median(np.linalg.norm(bone, axis=-1)))
    return lengths


def _check_bone_lengths(bone_lengths: object) -> np.ndarray:
    try:
        lengths = np.array(bone_lengths, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"bone_lengths must be 17 numbers (metres, entry j = bone parent(j)->j), "
                         f"got {type(bone_lengths).__name__}") from None
    if lengths.shape != (NUM_JOINTS,):
        raise ValueError(f"bone_lengths must have shape ({NUM_JOINTS},) (entry j = length of the bone "
                         f"parent(j)->j in metres, entry 0 ignored), got shape {lengths.shape}")
    bad = [j for j in range(1, NUM_JOINTS) if not (np.isfinite(lengths[j]) and lengths[j] > 0.0)]
    if bad:
        j = bad[0]
        raise ValueError(f"bone_lengths[{j}] (bone {JOINT_NAMES[PARENTS[j]]}->{JOINT_NAMES[j]}) "
                         f"must be a finite length > 0 in metres, got {lengths[j]!r}")
    lengths[0] = 0.0
    return lengths


def fixed_bone_length_joints(joints: np.ndarray, bone_lengths: np.ndarray) -> np.ndarray:
    """Rebuild every frame from the pelvis outwards with constant bone lengths along the observed bone
    directions.

    A bone of zero length in some frame (child on its parent) takes its direction from the nearest
    earlier frame where it is defined (else the nearest later one).

    Args:
        joints: ``(T, 17, 3)`` finite world positions (metres).
        bone_lengths: ``(17,)`` metres, entry j for the bone parent(j) -> j (entry 0 unused), all > 0.
    Returns:
        ``(T, 17, 3)`` positions with ``|q_j - q_parent(j)| = bone_lengths[j]`` in every frame and
        ``q_0 = joints[:, 0]``.
    Raises:
        ValueError: a bone has zero length in every frame.
    """
    out = np.empty_like(joints, dtype=np.float64)
    out[:, 0] = joints[:, 0]
    for j in range(1, NUM_JOINTS):
        parent = PARENTS[j]
        direction, degenerate = normalize(joints[:, j] - joints[:, parent], eps=1e-9)
        if degenerate.any():
            good = np.flatnonzero(~degenerate)
            if good.size == 0:
                raise ValueError(f"bone {JOINT_NAMES[parent]}->{JOINT_NAMES[j]} has zero length in every "
                                 "frame: its direction is unknown; check the joint order of the input")
            frames = np.arange(len(direction))
            pick = np.searchsorted(good, frames, side="right") - 1  # nearest earlier good frame
            pick = np.where(pick < 0, 0, pick)
            direction = direction[good[pick]]
            _logger.warning("bone %s->%s has zero length in %d frame(s): direction taken from a neighbouring "
                            "frame", JOINT_NAMES[parent], JOINT_NAMES[j], int(degenerate.sum()))
        out[:, j] = out[:, parent] + bone_lengths[j] * direction
    return out


# ----------------------------------------------------------------------------------------------------------
# solving joint rotations
# ----------------------------------------------------------------------------------------------------------

def _rest_offsets(bone_lengths: np.ndarray, scale: float) -> np.ndarray:
    """``(22, 3)`` rest OFFSET of every BVH joint in file units."""
    offsets = np.zeros((len(BVH_SKELETON), 3))
    for b, spec in enumerate(BVH_SKELETON):
        if spec.parent >= 0 and spec.h36m is not None:
            offsets[b] = np.asarray(spec.rest_dir) * bone_lengths[spec.h36m] * scale
    return offsets


def _global_rotations(points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Global rotation of every BVH joint in every frame.

    Args:
        points: ``(T, 17, 3)`` constant-bone-length joints in the BVH frame (y up).
        offsets: ``(22, 3)`` rest offsets (their directions matter).
    Returns:
        ``(T, 22, 3, 3)``: ``G[t, b] @ offsets[c] = points[t, head(c)] - points[t, head(b)]`` for every child
        ``c`` of ``b`` with a non-zero offset.
    """
    num_frames = points.shape[0]
    rest_global = np.zeros_like(offsets)  # rest positions of the BVH joints (no rest rotations)
    for b, spec in enumerate(BVH_SKELETON):
        if spec.parent >= 0:
            rest_global[b] = rest_global[spec.parent] + offsets[b]
    rest_h36m = {spec.h36m: rest_global[b] for b, spec in enumerate(BVH_SKELETON) if spec.h36m is not None}
    glob = np.empty((num_frames, len(BVH_SKELETON), 3, 3))
    for b, spec in enumerate(BVH_SKELETON):
        parent_rot = glob[:, spec.parent] if spec.parent >= 0 else np.broadcast_to(np.eye(3), (num_frames, 3, 3))
        if spec.name in TWO_VECTOR_FRAMES:
            (a0, a1), (s0, s1) = TWO_VECTOR_FRAMES[spec.name]
            observed, _ = frame_from_two_vectors(points[:, a1] - points[:, a0], points[:, s1] - points[:, s0])
            rest, _ = frame_from_two_vectors((rest_h36m[a1] - rest_h36m[a0])[None],
                                             (rest_h36m[s1] - rest_h36m[s0])[None])
            glob[:, b] = observed @ rest[0].T
            continue
        bone_children = [c for c in _children(b) if np.linalg.norm(offsets[c]) > 0.0]
        if not bone_children:  # leaf joint (or zero-offset children only): keep the parent's orientation
            glob[:, b] = parent_rot
            continue
        child = bone_children[0]
        target, _ = normalize(points[:, BVH_SKELETON[child].h36m] - points[:, _head_joint(b)])
        local_target = np.einsum("tji,tj->ti", parent_rot, target)  # parent_rot^T @ target
        rest_dir = offsets[child] / np.linalg.norm(offsets[child])
        fallback = previous_axes(rest_dir, local_target)  # keeps a swing through a half turn continuous
        glob[:, b] = parent_rot @ shortest_arc(rest_dir, local_target, fallback)
    return glob


# ----------------------------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------------------------

#: decimals of every written value per unit: about 1e-8 m, which keeps the round trip within ~1e-4 mm
_DECIMALS = {"m": 8, "cm": 6, "mm": 5}


def _check_rotation_order(order: object) -> str:
    if not isinstance(order, str) or order.upper() not in EULER_ORDERS:
        raise ValueError(f"rotation_order must be one of {', '.join(EULER_ORDERS)}, got {order!r}")
    return order.upper()


def _hierarchy_lines(offsets: np.ndarray, rot_channels: str, scale: float, decimals: int) -> List[str]:
    """The HIERARCHY section: every joint's OFFSET (file units) and CHANNELS, End Sites of the leaves."""
    fmt = f"{{:.{decimals}f}}"

    def vec(v: Sequence[float]) -> str:
        return " ".join(fmt.format(float(x) + 0.0) for x in v)

    lines = ["HIERARCHY"]

    def emit(b: int, depth: int) -> None:
        spec = BVH_SKELETON[b]
        ind = "\t" * depth
        lines.append(f"{ind}{'ROOT' if spec.parent < 0 else 'JOINT'} {spec.name}")
        lines.append(ind + "{")
        lines.append(f"{ind}\tOFFSET {vec(offsets[b])}")
        if spec.parent < 0:
            lines.append(f"{ind}\tCHANNELS 6 Xposition Yposition Zposition {rot_channels}")
        else:
            lines.append(f"{ind}\tCHANNELS 3 {rot_channels}")
        for child in _children(b):
            emit(child, depth + 1)
        if spec.end_site is not None:
            lines.extend([f"{ind}\tEnd Site", f"{ind}\t{{",
                          f"{ind}\t\tOFFSET {vec(np.asarray(spec.end_site) * scale)}", f"{ind}\t}}"])
        lines.append(ind + "}")

    emit(0, 0)
    return lines


def write_bvh(path: PathLike, joints_world: np.ndarray, fps: float, valid: Optional[np.ndarray] = None,
              units: str = "cm", rotation_order: str = "ZXY", bone_lengths: Optional[np.ndarray] = None) -> np.ndarray:
    """Write the 17 world joints as an animated BVH skeleton (conventions: the module doc).

    Args:
        path: the ``.bvh`` file, written atomically (an existing file is replaced only by a complete new one).
        joints_world: ``(T, 17, 3)`` world positions, metres, z up; invalid frames may hold NaN.
        fps: frames per second (finite, > 0); ``Frame Time`` = 1 / fps.
        valid: optional ``(T,)`` bool, False for frames without a pose; BVH cannot mark a frame missing, so those
            frames are filled by linear interpolation between the valid ones.
        units: ``"cm"`` (default), ``"m"`` or ``"mm"`` for the OFFSETs and the root position (values written
            with 6, 8 or 5 decimals: about 1e-8 m).
        rotation_order: Euler channel order, one of ``ZXY`` (default), ``ZYX``, ``XYZ``, ``XZY``, ``YXZ``, ``YZX``.
        bone_lengths: optional ``(17,)`` metres, entry j = the bone parent(j) -> j (entry 0 ignored); default the
            median of every bone over the valid frames.
    Returns:
        ``(T, 17, 3)`` float64: the world joints (metres, z up) the file encodes, i.e. the input with constant
        bone lengths (and invalid frames filled); the file's forward kinematics reproduces them.
    Raises:
        ValueError: bad joints, fps, valid, units, rotation_order or bone_lengths (before anything is written).
        OSError: the file cannot be written (the message names the path; nothing is left).
    """
    arr, mask = check_joints(joints_world, valid)
    rate = check_fps(fps)
    scale = unit_scale(units)
    order = _check_rotation_order(rotation_order)
    decimals = _DECIMALS[units]
    lengths = h36m_bone_lengths(arr, mask) if bone_lengths is None else _check_bone_lengths(bone_lengths)
    short = [j for j in range(1, NUM_JOINTS) if lengths[j] <= 1e-6]
    if short:
        j = short[0]
        raise ValueError(f"bone {JOINT_NAMES[PARENTS[j]]}->{JOINT_NAMES[j]} has a median length of "
                         f"{lengths[j]:.3g} m over the valid frames: the input is not the Human3.6M 17-joint "
                         "skeleton (check the joint order) or give bone_lengths")

    filled = fill_invalid_frames(arr, mask)
    exported = fixed_bone_length_joints(filled, lengths)
    moved = np.linalg.norm(exported - filled, axis=-1)[mask]
    _logger.info("BVH export: %d frames at %g fps; constant bone lengths moved joints by at most %.1f mm "
                 "(median %.1f mm)", arr.shape[0], rate, 1000 * moved.max(), 1000 * np.median(moved))

    points = z_up_to_y_up(exported) * scale  # (T, 17, 3) in the file's frame and units
    offsets = _rest_offsets(lengths, scale)
    glob = _global_rotations(points, offsets)
    local = glob.copy()
    for b, spec in enumerate(BVH_SKELETON):
        if spec.parent >= 0:
            local[:, b] = np.swapaxes(glob[:, spec.parent], -1, -2) @ glob[:, b]
    euler = np.degrees(matrix_to_euler(local, order))  # (T, 22, 3)
    motion = np.concatenate([points[:, 0], euler.reshape(len(euler), -1)], axis=1) + 0.0  # no "-0.0"

    rot_channels = " ".join(f"{axis}rotation" for axis in order)
    lines = _hierarchy_lines(offsets, rot_channels, scale, decimals)
    lines += ["MOTION", f"Frames: {motion.shape[0]}", f"Frame Time: {1.0 / rate:.12g}"]
    row_fmt = " ".join([f"%.{decimals}f"] * motion.shape[1])
    lines += [row_fmt % tuple(row) for row in motion]
    dest = write_file_atomic(path, "BVH file", "\n".join(lines) + "\n")
    _logger.info("wrote %s (%d joints, %d frames, %s, %s order)", dest, len(BVH_SKELETON), motion.shape[0],
                 units, order)
    return exported


# ----------------------------------------------------------------------------------------------------------
# reading and forward kinematics
# ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BvhData:
    """A parsed BVH file. Unpacks as ``names, parents, offsets, channels, motion = read_bvh(path)``.

    Attributes:
        names: ``J`` joint names in file order.
        parents: ``(J,)`` int parent indices (-1 for the root).
        offsets: ``(J, 3)`` OFFSETs in file units.
        channels: per joint, its channel names as written (e.g. ``("Zrotation", "Xrotation", "Yrotation")``).
        motion: ``(T, C)`` float64 channel values, C = total channel count, columns in file order.
        frame_time: seconds per frame.
        end_sites: joint index -> ``(3,)`` End Site offset.
    """
    names: Tuple[str, ...]
    parents: np.ndarray
    offsets: np.ndarray
    channels: Tuple[Tuple[str, ...], ...]
    motion: np.ndarray
    frame_time: float
    end_sites: Dict[int, np.ndarray] = field(default_factory=dict)

    def __iter__(self) -> Iterator[object]:
        return iter((self.names, self.parents, self.offsets, self.channels, self.motion))

    @property
    def fps(self) -> float:
        """Frames per second (1 / frame_time)."""
        return 1.0 / self.frame_time


class _Tokens:
    def __init__(self, text: str, path: str) -> None:
        self.items = text.split()
        self.pos = 0
        self.path = path

    def next(self, expected: str = "", what: str = "") -> str:
        """The next token; with ``expected``, check it equals that keyword (case-insensitive)."""
        if self.pos >= len(self.items):
            raise ValueError(f"{self.path}: not a valid BVH file: it ends early"
                             + (f" (expected {expected or what})" if (expected or what) else ""))
        tok = self.items[self.pos]
        self.pos += 1
        if expected and tok.upper() != expected.upper():
            raise ValueError(f"{self.path}: not a valid BVH file: expected {expected!r}, found {tok!r} "
                             f"(token {self.pos})")
        return tok

    def number(self, what: str) -> float:
        tok = self.next(what=what)
        try:
            return float(tok)
        except ValueError:
            raise ValueError(f"{self.path}: not a valid BVH file: {what} must be a number, found {tok!r}") from None


def read_bvh(path: PathLike) -> BvhData:
    """Parse a BVH file (any hierarchy, any channel layout).

    Args:
        path: the ``.bvh`` file.
    Returns:
        :class:`BvhData` (unpacks as ``names, parents, offsets, channels, motion``).
    Raises:
        ValueError: the file is not valid BVH (message names the file and the problem).
        OSError: the file cannot be read.
    """
    name = os.fspath(path)
    with open(path, "r", encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    parts = re.split(r"^[ \t]*MOTION[ \t]*\r?$", text, maxsplit=1, flags=re.MULTILINE | re.IGNORECASE)
    if len(parts) != 2:
        raise ValueError(f"{name}: not a valid BVH file: no MOTION line")
    head, tail = parts
    tok = _Tokens(head, name)
    tok.next("HIERARCHY")
    names: List[str] = []
    parents: List[int] = []
    offsets: List[List[float]] = []
    channels: List[Tuple[str, ...]] = []
    end_sites: Dict[int, np.ndarray] = {}

    def joint(parent: int) -> None:
        index = len(names)
        names.append(tok.next(what="joint name"))
        parents.append(parent)
        tok.next("{")
        tok.next("OFFSET")
        offsets.append([tok.number("OFFSET x"), tok.number("OFFSET y"), tok.number("OFFSET z")])
        tok.next("CHANNELS")
        count_tok = tok.next(what="channel count")
        if not count_tok.isdigit():
            raise ValueError(f"{name}: not a valid BVH file: channel count of {names[-1]!r} is {count_tok!r}")
        chans = tuple(tok.next(what="channel name") for _ in range(int(count_tok)))
        for chan in chans:
            if chan.lower() not in _CHANNEL_AXES:
                raise ValueError(f"{name}: unknown channel {chan!r} in joint {names[index]!r}")
        channels.append(chans)
        while True:
            word = tok.next(what="JOINT, End Site or }")
            if word.upper() == "JOINT":
                joint(index)
            elif word.upper() == "END":
                tok.next("Site")
                tok.next("{")
                tok.next("OFFSET")
                end_sites[index] = np.array([tok.number("End Site x"), tok.number("End Site y"),
                                             tok.number("End Site z")])
                tok.next("}")
            elif word == "}":
                return
            else:
                raise ValueError(f"{name}: not a valid BVH file: unexpected {word!r} in joint {names[index]!r}")

    tok.next("ROOT")
    joint(-1)
    if tok.pos != len(tok.items):
        raise ValueError(f"{name}: not a valid BVH file: only one ROOT is supported, found more after "
                         f"{names[0]!r}")
    mtok = _Tokens(tail, name)
    mtok.next("Frames:")
    frames_tok = mtok.next(what="frame count")
    if not frames_tok.isdigit():
        raise ValueError(f"{name}: not a valid BVH file: 'Frames:' must be followed by a count, got {frames_tok!r}")
    num_frames = int(frames_tok)
    mtok.next("Frame")
    mtok.next("Time:")
    frame_time = mtok.number("Frame Time")
    if not np.isfinite(frame_time) or frame_time <= 0:
        raise ValueError(f"{name}: Frame Time must be > 0, got {frame_time!r}")
    num_channels = sum(len(c) for c in channels)
    values = mtok.items[mtok.pos:]
    if len(values) != num_frames * num_channels:
        raise ValueError(f"{name}: MOTION holds {len(values)} values, expected {num_frames} frames x "
                         f"{num_channels} channels = {num_frames * num_channels} (truncated or corrupt file)")
    try:
        motion = np.array(values, dtype=np.float64).reshape(num_frames, num_channels)
    except ValueError:
        raise ValueError(f"{name}: MOTION holds a value that is not a number") from None
    return BvhData(tuple(names), np.array(parents, dtype=np.int64), np.array(offsets, dtype=np.float64),
                   tuple(channels), motion, float(frame_time), end_sites)


def bvh_forward_kinematics(parents: np.ndarray, offsets: np.ndarray, channels: Sequence[Sequence[str]],
                           motion: np.ndarray) -> np.ndarray:
    """World positions of every joint in every frame.

    Semantics (those of Blender's importer): a joint's local rotation is the product of its rotation
    channels in the order listed (``Zrotation Xrotation Yrotation`` -> ``Rz @ Rx @ Ry``, degrees); position
    channels, where present, replace the matching OFFSET component (for the root: absolute position);
    ``p_j = p_parent + G_parent @ t_j`` and ``G_j = G_parent @ R_j``.

    Args:
        parents: ``(J,)`` parent indices, each parent before its children (-1 for the root).
        offsets: ``(J, 3)``.
        channels: per joint, its channel names.
        motion: ``(T, C)`` channel values in file order.
    Returns:
        ``(T, J, 3)`` float64 positions in the file's frame and units.
    Raises:
        ValueError: inconsistent arguments.
    """
    parents = np.asarray(parents, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.float64)
    motion = np.atleast_2d(np.asarray(motion, dtype=np.float64))
    num_joints = len(parents)
    if offsets.shape != (num_joints, 3) or len(channels) != num_joints:
        raise ValueError(f"parents ({num_joints}), offsets {offsets.shape} and channels ({len(channels)}) "
                         "must describe the same joints")
    if motion.shape[1] != sum(len(c) for c in channels):
        raise ValueError(f"motion has {motion.shape[1]} columns, channels list {sum(len(c) for c in channels)}")
    num_frames = motion.shape[0]
    pos = np.empty((num_frames, num_joints, 3))
    rot = np.empty((num_frames, num_joints, 3, 3))
    col = 0
    for j in range(num_joints):
        parent = int(parents[j])
        if parent >= j:
            raise ValueError(f"joint {j} has parent {parent}: parents must come before their children")
        trans = np.broadcast_to(offsets[j], (num_frames, 3)).copy()
        local = np.broadcast_to(np.eye(3), (num_frames, 3, 3))
        for chan in channels[j]:
            kind, axis = _CHANNEL_AXES[chan.lower()]
            values = motion[:, col]
            col += 1
            if kind == "p":
                trans[:, axis] = values
            else:
                local = local @ axis_rotation(axis, np.radians(values))
        if parent < 0:
            pos[:, j] = trans
            rot[:, j] = local
        else:
            pos[:, j] = pos[:, parent] + np.einsum("tij,tj->ti", rot[:, parent], trans)
            rot[:, j] = rot[:, parent] @ local
    return pos


def bvh_world_joints(data: BvhData, units: str = "cm") -> np.ndarray:
    """The Human3.6M-17 world joints (metres, z up) of a BVH written by :func:`write_bvh`.

    Args:
        data: parsed file (:func:`read_bvh`).
        units: the units the file was written in (BVH does not record them).
    Returns:
        ``(T, 17, 3)`` float64.
    Raises:
        ValueError: bad units, or the file lacks one of the joints of :data:`H36M_TO_BVH_NAME`.
    """
    scale = unit_scale(units)
    missing = [n for n in H36M_TO_BVH_NAME if n not in data.names]
    if missing:
        raise ValueError(f"the BVH has no joint {missing[0]!r}: it was not written by hot_pose.export.bvh.write_bvh "
                         f"(its joints: {', '.join(data.names[:8])}...)")
    positions = bvh_forward_kinematics(data.parents, data.offsets, data.channels, data.motion)
    picked = positions[:, [data.names.index(n) for n in H36M_TO_BVH_NAME]]
    return y_up_to_z_up(picked / scale)


def read_bvh_joints(path: PathLike, units: str = "cm") -> Tuple[np.ndarray, float]:
    """Read a BVH written by :func:`write_bvh` back to world joints.

    Args:
        path: the ``.bvh`` file.
        units: the units it was written in.
    Returns:
        ``(joints (T, 17, 3) metres z up, fps)``.
    """
    data = read_bvh(path)
    return bvh_world_joints(data, units), data.fps
