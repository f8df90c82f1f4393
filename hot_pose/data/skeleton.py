"""Kinematic skeletons of Human3.6M: the 32-joint motion-capture set and its 17-joint reduction.

Used by HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation",
CVPR 2024, arXiv:2311.12028) through the VideoPose3D data layout (Pavllo et al., CVPR 2019,
arXiv:1811.11742). Unlike the reference, there is no module-level skeleton that is mutated in place:
``Skeleton`` is immutable and ``remove_joints`` returns a new object, so building several datasets in
one process is safe.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence, Tuple

_logger = logging.getLogger(__name__)

#: parents of the 32 Human3.6M motion-capture joints (-1 = root)
H36M_32_PARENTS = (-1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 12,
                   16, 17, 18, 19, 20, 19, 22, 12, 24, 25, 26, 27, 28, 27, 30)
H36M_32_LEFT = (6, 7, 8, 9, 10, 16, 17, 18, 19, 20, 21, 22, 23)
H36M_32_RIGHT = (1, 2, 3, 4, 5, 24, 25, 26, 27, 28, 29, 30, 31)
#: the 15 static/duplicate joints VideoPose3D removes to obtain the 17-joint set
H36M_32_REMOVED = (4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31)

#: names of the 17 kept joints, in the order of the reduced skeleton
H36M_17_NAMES = ("Pelvis", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "Spine", "Thorax",
                 "Neck/Nose", "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist")


@dataclass(frozen=True)
class Skeleton:
    """An immutable kinematic tree.

    Attributes:
        parents: parent index of every joint (-1 for the root).
        joints_left: indices of the left-side joints.
        joints_right: indices of the right-side joints, paired element-wise with ``joints_left``
            where the skeleton is symmetric (as in the 17-joint H36M set).
        names: optional joint names (empty tuple when unknown).
        kept: for a reduced skeleton, the index of every joint in the original skeleton.
    """

    parents: Tuple[int, ...]
    joints_left: Tuple[int, ...]
    joints_right: Tuple[int, ...]
    names: Tuple[str, ...] = ()
    kept: Tuple[int, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.parents)
        for j, p in enumerate(self.parents):
            if not -1 <= p < n or p == j:
                raise ValueError(f"joint {j} has invalid parent {p}")
        for j in self.joints_left + self.joints_right:
            if not 0 <= j < n:
                raise ValueError(f"side joint {j} is out of range for {n} joints")
        if self.names and len(self.names) != n:
            raise ValueError(f"{len(self.names)} names for {n} joints")

    @property
    def num_joints(self) -> int:
        """Number of joints."""
        return len(self.parents)

    def children(self) -> Tuple[Tuple[int, ...], ...]:
        """Children of every joint."""
        return tuple(tuple(c for c, p in enumerate(self.parents) if p == j) for j in range(self.num_joints))

    def flip_permutation(self) -> Tuple[int, ...]:
        """Joint permutation of a left/right mirror: ``x_flipped = x[..., perm, :]`` swaps the sides."""
        perm = list(range(self.num_joints))
        for a, b in zip(self.joints_left, self.joints_right):
            perm[a], perm[b] = b, a
        return tuple(perm)

    def remove_joints(self, remove: Sequence[int]) -> "Skeleton":
        """A new skeleton without the joints in ``remove``.

        A kept joint whose parent is removed is re-linked to its nearest kept ancestor; left/right lists
        and names are re-indexed. The original skeleton is left untouched.
        """
        remove_set = set(int(j) for j in remove)
        keep = [j for j in range(self.num_joints) if j not in remove_set]
        new_index = {old: new for new, old in enumerate(keep)}
        parents = []
        for old in keep:
            p = self.parents[old]
            while p != -1 and p in remove_set:
                p = self.parents[p]
            parents.append(-1 if p == -1 else new_index[p])
        left = tuple(new_index[j] for j in self.joints_left if j in new_index)
        right = tuple(new_index[j] for j in self.joints_right if j in new_index)
        names = tuple(self.names[j] for j in keep) if self.names else ()
        base = self.kept or tuple(range(self.num_joints))
        return Skeleton(tuple(parents), left, right, names, tuple(base[j] for j in keep))

    def with_parents(self, **changes: int) -> "Skeleton":
        """A copy with some parents changed, given as ``j<index>=<parent>`` keyword arguments."""
        parents = list(self.parents)
        for key, value in changes.items():
            parents[int(key.lstrip("j"))] = value
        return Skeleton(tuple(parents), self.joints_left, self.joints_right, self.names, self.kept)


def h36m_32_skeleton() -> Skeleton:
    """The full 32-joint Human3.6M motion-capture skeleton."""
    return Skeleton(H36M_32_PARENTS, H36M_32_LEFT, H36M_32_RIGHT)


def h36m_skeleton() -> Skeleton:
    """The 17-joint Human3.6M skeleton used by VideoPose3D, MixSTE, MHFormer and HoT (a fresh object).

    Joint order: Pelvis, RHip, RKnee, RAnkle, LHip, LKnee, LAnkle, Spine, Thorax, Neck/Nose, Head,
    LShoulder, LElbow, LWrist, RShoulder, RElbow, RWrist. Left ``(4, 5, 6, 11, 12, 13)``,
    right ``(1, 2, 3, 14, 15, 16)``. The shoulders hang off the thorax (joint 8), as in VideoPose3D.
    """
    reduced = h36m_32_skeleton().remove_joints(H36M_32_REMOVED)
    # re-linking through removed joints would attach the shoulders to the neck; VideoPose3D uses the thorax
    reduced = reduced.with_parents(j11=8, j14=8)
    return Skeleton(reduced.parents, reduced.joints_left, reduced.joints_right, H36M_17_NAMES, reduced.kept)
