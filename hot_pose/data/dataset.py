"""Human3.6M loading (3-D in camera frames, normalised 2-D) and the windowed torch Dataset of HoT.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028) inherits its data pipeline from MHFormer (Li et al., CVPR 2022, arXiv:2111.12707) and
VideoPose3D (Pavllo et al., CVPR 2019, arXiv:1811.11742). ``load_h36m`` reads the npz files once;
``PoseWindowDataset`` cuts the sequences into windows:

* seq2seq (``stride != 1``): windows of F frames with step S, centred on the sequence
  (``n = ceil((N - F)/S + 1)`` windows starting at ``k·S - ((n-1)·S + F - N)//2``);
* seq2frame (``stride == 1``): one window of F frames centred on every frame.

Out-of-range frames are edge-replicated (and flagged in ``valid``). Samples are a table of integers
(sequence, start, flip, reverse); ``__getitem__`` slices without touching any state, so the dataset works
with any number of DataLoader workers (the reference wrote each batch into attributes of its generator
object, safe only because every worker holds its own copy).

Virtual-camera augmentation (``virtual_cameras=p``; not in the reference): with
probability p a training window is re-projected through a random pinhole camera placed around the subject
(``VirtualCameraSampler``: azimuth all round the vertical axis through the window's mean root, elevation, distance,
roll, field of view, image size, principal point, aim), and its 3-D target is moved into that camera's frame.
"Up" is the world's z axis (Human3.6M's floor normal) seen from the real camera (``world_up``), not an estimate
from the pose. The draws of sample i in epoch e come from a generator seeded with (seed, e, i). With a
detector's 2-D (not GT), the re-projected views are given that detector's look, measured on the training
sequences (``hot_pose.data.detector_style``: its hip and shoulder conventions, per-joint noise, filled gaps), while
the windows seen through their real cameras keep the real detections.

Deliberate differences from the reference: sequences without 3-D are skipped with one warning instead of
crashing; a 16-joint 2-D file in the MPII order of the Stacked-Hourglass detections (recognised by its
``keypoints_symmetry``) is permuted into the H36M order so that input joint j matches output joint j;
action filters match exact names (the reference matched prefixes, so "Sitting" also took "SittingDown");
the GT 2-D file is only read with ``keypoints="gt"``;
``reverse_aug`` adds reversed copies of both the plain and the flipped windows.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from hot_pose.data.camera import (
    Camera,
    matrix_to_quaternion,
    normalize_screen_coordinates,
    project_to_2d,
    qinverse,
    qrot,
    to_absolute,
    to_root_relative,
)
from hot_pose.data.detector_style import DetectorStyle, apply_detector_style, measure_detector_style, style_pairs
from hot_pose.data.h36m import (
    ALL_SUBJECTS,
    DATA_HELP,
    DataError,
    Human36mDataset,
    canonical_action,
    check_finite,
    load_npz_dict,
    parse_actions,
)
from hot_pose.data.pack import find_pack, load_pack
from hot_pose.data.skeleton import Skeleton

_logger = logging.getLogger(__name__)

PathLike = Union[str, Path]

#: ``keypoints_symmetry`` of VideoPose3D's Stacked-Hourglass files, whose joints are in MPII order
MPII_SYMMETRY = ((3, 4, 5, 13, 14, 15), (0, 1, 2, 10, 11, 12))
#: MPII order (RAnkle, RKnee, RHip, LHip, LKnee, LAnkle, Pelvis, Spine, Thorax, Head, RWrist, RElbow,
#: RShoulder, LShoulder, LElbow, LWrist) → H36M order without joint 9: ``h36m = mpii[:, MPII_TO_H36M16]``
MPII_TO_H36M16 = (6, 2, 1, 0, 3, 4, 5, 7, 8, 9, 13, 14, 15, 12, 11, 10)
#: side joints of the H36M order without joint 9, paired element-wise
H36M16_LEFT, H36M16_RIGHT = (4, 5, 6, 10, 11, 12), (1, 2, 3, 13, 14, 15)
#: the 3-D joint removed when the 2-D has 16 joints (Neck/Nose), as the reference does for sh*/hr* files
JOINT_DROPPED_FOR_16 = 9
#: Neck/Nose ≈ Thorax + NOSE_ALPHA · (Head − Thorax) in 2-D: the mean projection of the nose on the thorax→head
#: segment over the GT 2-D of S1, S5–S8 (every 10th frame, 146,724 poses); 10.0 px mean error at 38 px
#: thorax–head length. Lets a 17-joint model read 16-joint detections (``complete_h36m16``).
NOSE_ALPHA = 0.42


def complete_h36m16(x: torch.Tensor) -> torch.Tensor:
    """Insert joint 9 (Neck/Nose) into 2-D poses in the H36M order without it: (..., 16, C) → (..., 17, C).

    The new joint lies on the thorax→head segment at ``NOSE_ALPHA`` (16-joint indices 8 and 9); any channel
    after the two coordinates (a confidence) is copied from the head.
    """
    if x.shape[-2] != 16:
        raise ValueError(f"expected 16 joints (H36M order without Neck/Nose), got {x.shape[-2]}")
    thorax, head = x[..., 8:9, :], x[..., 9:10, :]
    nose = head.clone()
    nose[..., :2] = thorax[..., :2] + NOSE_ALPHA * (head[..., :2] - thorax[..., :2])
    return torch.cat([x[..., :JOINT_DROPPED_FOR_16, :], nose, x[..., JOINT_DROPPED_FOR_16:, :]], dim=-2)


@dataclass
class PoseSequence:
    """One (subject, action, camera) sequence.

    Attributes:
        pose_2d: (N, J, 2) float32 2-D keypoints in screen coordinates of the camera.
        pose_3d: (N, J, 3) float32 camera-frame positions in metres; joint 0 is the absolute root, the other
            joints are relative to it (as in the reference).
        cam: (9,) float32 normalised intrinsics (focal 2, centre 2, radial 3, tangential 2).
    """

    subject: str
    action: str
    cam_idx: int
    pose_2d: np.ndarray
    pose_3d: np.ndarray
    cam: np.ndarray

    def __len__(self) -> int:
        return len(self.pose_3d)


@dataclass
class H36MData:
    """Everything ``load_h36m`` read: sequences, skeleton metadata and what was skipped.

    Attributes:
        sequences: ``{(subject, action, cam_idx): PoseSequence}`` in subject, 2-D-file action, camera order.
        skeleton: the 3-D skeleton (17 joints, or 16 when the 2-D has 16).
        joints_left, joints_right: 3-D side joints (from the skeleton).
        kps_left, kps_right: 2-D side joints (from the 2-D file's metadata, in the delivered joint order).
        skipped: (subject, action) pairs present in the 2-D file but without 3-D.
        cameras: ``{subject: (Camera, ...)}``.
    """

    root_path: Path
    keypoints: str
    sequences: Dict[Tuple[str, str, int], PoseSequence]
    skeleton: Skeleton
    joints_left: Tuple[int, ...]
    joints_right: Tuple[int, ...]
    kps_left: Tuple[int, ...]
    kps_right: Tuple[int, ...]
    skipped: List[Tuple[str, str]] = field(default_factory=list)
    cameras: Dict[str, Tuple[Camera, ...]] = field(default_factory=dict)
    files: List[str] = field(default_factory=list)

    @property
    def num_joints(self) -> int:
        """Joints per pose (2-D and 3-D agree)."""
        return self.skeleton.num_joints

    def subjects(self) -> List[str]:
        """Subjects with at least one sequence."""
        return list(dict.fromkeys(k[0] for k in self.sequences))

    def select(self, subjects: Iterable[str], actions: Union[None, str, Iterable[str]] = None) -> List[PoseSequence]:
        """Sequences of ``subjects`` (in that order) whose canonical action is in ``actions`` (exact match).

        Raises:
            DataError: a subject that was not loaded.
            ValueError: an unknown action.
        """
        wanted = parse_actions(actions)
        subjects = list(subjects)
        missing = [s for s in subjects if s not in self.cameras]
        if missing:
            raise DataError(f"subject(s) {', '.join(missing)} not loaded from {self.root_path} "
                            f"(loaded: {', '.join(self.cameras)})")
        return [seq for s in subjects for (subj, _, _), seq in self.sequences.items()
                if subj == s and (wanted is None or canonical_action(seq.action) in wanted)]

    def num_frames(self, subjects: Optional[Iterable[str]] = None) -> int:
        """Frames per camera summed over sequences of ``subjects`` (default all), i.e. total / 4."""
        subjects = set(subjects) if subjects is not None else None
        seqs = [q for q in self.sequences.values() if subjects is None or q.subject in subjects]
        return sum(len(q) for q in seqs if q.cam_idx == 0)


def file_2d(root_path: PathLike, keypoints: str, dataset: str = "h36m") -> Path:
    """Path of the 2-D keypoint file ``data_2d_<dataset>_<keypoints>.npz``."""
    return Path(root_path) / f"data_2d_{dataset}_{keypoints}.npz"


def file_3d(root_path: PathLike, dataset: str = "h36m") -> Path:
    """Path of the 3-D file ``data_3d_<dataset>.npz``."""
    return Path(root_path) / f"data_3d_{dataset}.npz"


def _read_2d(path: Path, keypoints: str, reorder_mpii: bool = True
             ) -> Tuple[dict, Tuple[int, ...], Tuple[int, ...], int, Optional[Tuple]]:
    """The 2-D dict, its side joints, its joint count and the permutation to apply (or None)."""
    if not path.is_file():
        hint = ("build it with `python dataset/prepare_data_h36m.py`" if keypoints == "gt"
                else "download it (dataset/README.md) or choose --keypoints gt / sh_pt_mpii")
        raise DataError(f"2-D keypoint file not found: {path}; {hint}")
    positions, metadata = load_npz_dict(path, "positions_2d")
    if not metadata or "keypoints_symmetry" not in metadata:
        raise DataError(f"{path} has no metadata['keypoints_symmetry']; expected the VideoPose3D npz layout")
    left, right = (tuple(int(j) for j in side) for side in metadata["keypoints_symmetry"])
    n_joints = int(metadata.get("num_joints", 0)) or None
    first = next((np.asarray(a) for acts in positions.values() for cams in acts.values() for a in cams), None)
    if first is None:
        raise DataError(f"{path} holds no sequences")
    n_joints = n_joints or first.shape[-2]
    if n_joints not in (16, 17):
        raise DataError(f"{path} has {n_joints} joints per pose; only the 17-joint H36M set and the 16-joint "
                        "set without Neck/Nose are supported")
    perm = None
    if reorder_mpii and n_joints == 16 and (left, right) == MPII_SYMMETRY:
        # VideoPose3D's SH metadata lists the sides unpaired (LHip..LAnkle vs RAnkle..RHip), so a
        # pairwise swap would map LHip to RAnkle; after the permutation the H36M pairs apply.
        perm = MPII_TO_H36M16
        left, right = H36M16_LEFT, H36M16_RIGHT
        _logger.info("%s: 16 joints in MPII order, permuted to the H36M order", path.name)
    if len(left) != len(right) or set(left) & set(right) or max(left + right) >= n_joints:
        raise DataError(f"{path}: metadata keypoints_symmetry {left} / {right} is not a pairing of "
                        f"{n_joints} joints")
    return positions, left, right, n_joints, perm


def _check_2d(arrays: Any, path: Path, subject: str, action: str, n_joints: int, n_frames: int) -> List[np.ndarray]:
    """Validate one sequence's per-camera 2-D arrays and crop them to the mocap length."""
    if not isinstance(arrays, (list, tuple)) or len(arrays) != 4:
        raise DataError(f"{path}: {subject} '{action}' should hold a list of 4 camera arrays")
    out = []
    for cam_idx, kp in enumerate(arrays):
        kp = np.asarray(kp)
        where = f"{subject} '{action}' camera {cam_idx}"
        if kp.ndim != 3 or kp.shape[1:] != (n_joints, 2):
            raise DataError(f"{path}: {where} has shape {kp.shape}, expected (N, {n_joints}, 2); "
                            "mixed joint counts or a foreign layout")
        if len(kp) < n_frames:
            raise DataError(f"{path}: {where} has {len(kp)} frames but the 3-D has {n_frames}; "
                            "the 2-D file does not match data_3d")
        kp = kp[:n_frames]
        check_finite(kp, path, where)
        out.append(kp)
    return out


def load_h36m(root_path: PathLike, keypoints: str = "cpn_ft_h36m_dbb", subjects: Optional[Iterable[str]] = None,
              dataset: str = "h36m", reorder_mpii: bool = True, complete_16: bool = False) -> H36MData:
    """Load Human3.6M 3-D and one 2-D source and convert them to camera-frame training pairs.

    Only ``data_3d_<dataset>.npz`` and ``data_2d_<dataset>_<keypoints>.npz`` are read, or, when ``root_path``
    is a data pack (``hot_pose.data.pack``: the file itself, or a folder with ``data_h36m_pack.npz`` but without
    those two files), the pack, whose GT 2-D is projected here (``keypoints`` must be ``gt``). For every sequence
    and camera: 3-D world → camera frame, joints 1.. made root-relative; 2-D cropped to the mocap length
    and normalised to screen coordinates with the camera's resolution. A 16-joint 2-D source drops 3-D
    joint 9 (Neck/Nose), unless ``complete_16``: then the 2-D gets that joint back (``complete_h36m16``) and
    all 17 3-D joints are kept, so a 17-joint model can be trained on 16-joint detections.

    Args:
        root_path: folder with the npz files (e.g. ``./dataset/`` or ``../shared/data/h36m``), or a data pack.
        keypoints: 2-D source: ``gt``, ``cpn_ft_h36m_dbb``, ``sh_pt_mpii`` or any ``<name>`` of a file
            ``data_2d_h36m_<name>.npz``.
        subjects: subjects to load (default: all of S1, S5-S9, S11 present in the 2-D file).
        dataset: the ``<dataset>`` part of the file names.
        reorder_mpii: permute MPII-ordered 16-joint files (Stacked Hourglass) into the H36M order;
            ``False`` keeps the file order, as the reference does.
        complete_16: for a 16-joint source in the H36M order (after ``reorder_mpii``), insert the 2-D
            Neck/Nose on the thorax→head segment and keep 17 joints; ignored for 17-joint sources.

    Raises:
        DataError: a missing/malformed file, a missing subject, a wrong joint count or non-finite values.
    """
    root = Path(root_path)
    path_2d, path_3d = file_2d(root, keypoints, dataset), file_3d(root, dataset)
    pack = find_pack(root, (path_3d, path_2d))
    if pack is not None:
        mocap, positions_2d = _read_pack(pack, keypoints, path_2d.name, subjects)
        subjects, files = mocap.subjects(), [str(pack)]
        kps_left, kps_right, n_joints, perm = mocap.skeleton.joints_left, mocap.skeleton.joints_right, 17, None
        path_2d = path_3d = pack
    else:
        if not root.is_dir():
            raise DataError(f"--root_path {root} is not a folder; {DATA_HELP}")
        positions_2d, kps_left, kps_right, n_joints, perm = _read_2d(path_2d, keypoints, reorder_mpii)
        subjects = [s for s in ALL_SUBJECTS if s in positions_2d] if subjects is None else list(subjects)
        missing = [s for s in subjects if s not in positions_2d]
        if missing:
            raise DataError(f"{path_2d} has no 2-D for subject(s) {', '.join(missing)}")
        mocap = Human36mDataset(path_3d, subjects=subjects)
        files = [str(path_3d), str(path_2d)]
    complete = complete_16 and n_joints == 16
    if complete and not (perm is not None or (kps_left, kps_right) == (H36M16_LEFT, H36M16_RIGHT)):
        raise DataError(f"{path_2d}: its 16 joints are not in the H36M order without Neck/Nose, so the missing "
                        "joint cannot be placed; use a 16-joint model (--n_joints 16) for this file")
    full = n_joints == 17 or complete
    skeleton = mocap.skeleton if full else mocap.skeleton.remove_joints([JOINT_DROPPED_FOR_16])
    kept = list(range(17)) if full else [j for j in range(17) if j != JOINT_DROPPED_FOR_16]
    if complete:
        kps_left, kps_right = tuple(skeleton.joints_left), tuple(skeleton.joints_right)
        _logger.info("%s: Neck/Nose placed on the thorax-head segment; 17 joints", path_2d.name)
    sequences: Dict[Tuple[str, str, int], PoseSequence] = {}
    skipped: List[Tuple[str, str]] = []
    for subject in subjects:
        cams = mocap.cameras(subject)
        for action, arrays in positions_2d[subject].items():
            if action not in mocap[subject]:
                skipped.append((subject, action))
                continue
            n_frames = len(mocap[subject][action])
            for cam_idx, kp in enumerate(_check_2d(arrays, path_2d, subject, action, n_joints, n_frames)):
                kp = kp[:, list(perm)] if perm is not None else kp
                kp = complete_h36m16(torch.from_numpy(np.ascontiguousarray(kp))).numpy() if complete else kp
                pos = mocap.camera_positions(subject, action, cam_idx)[:, kept]  # (N, J, 3) float32
                pos[:, 1:] -= pos[:, :1]
                sequences[(subject, action, cam_idx)] = PoseSequence(
                    subject, action, cam_idx, cams[cam_idx].normalize(kp.astype(np.float32, copy=False)),
                    pos, cams[cam_idx].intrinsic(normalised=True))
        no_2d = [a for a in mocap[subject] if a not in positions_2d[subject]]
        if no_2d:
            _logger.warning("%s: %d sequence(s) with 3-D but no 2-D in %s are not used: %s", subject, len(no_2d),
                            path_2d.name, ", ".join(no_2d))
    if skipped:
        _logger.warning("skipped %d sequence(s) of %s without 3-D in %s: %s", len(skipped), path_2d.name,
                        path_3d.name, ", ".join(f"{s} {a}" for s, a in skipped))
    return H36MData(root, keypoints, sequences, skeleton, skeleton.joints_left, skeleton.joints_right,
                    kps_left, kps_right, skipped, {s: mocap.cameras(s) for s in subjects}, files)


def _read_pack(pack: Path, keypoints: str, file_2d_name: str, subjects: Optional[Iterable[str]]
               ) -> Tuple[Human36mDataset, Dict[str, Dict[str, List[np.ndarray]]]]:
    """The mocap of a data pack and its GT 2-D, projected now (the pack holds no 2-D)."""
    if keypoints != "gt":
        raise DataError(f"{pack} is a data pack: it holds 3-D poses and cameras, from which only --keypoints gt "
                        f"is made; for '{keypoints}' point --root_path at the folder with {file_2d_name}")
    present = load_pack(pack, subjects=subjects)
    if subjects is None:  # the npz rule: the Human3.6M subjects, in their order
        order = [s for s in ALL_SUBJECTS if s in present.subjects()] + \
            [s for s in present.subjects() if s not in ALL_SUBJECTS]
        present = Human36mDataset.from_positions(pack, {s: present[s] for s in order},
                                                 {s: present.cameras(s) for s in order})
    return present, {s: {a: present.project_gt_2d(s, a) for a in present[s]} for s in present.subjects()}


# ------------------------------------------------------------------------------------------ windows
def chunk_starts(n_frames: int, frames: int, stride: int) -> np.ndarray:
    """Window start frames of one sequence (may be < 0; windows are ``[start, start + frames)``).

    ``stride == 1``: one window centred on every frame (seq2frame), ``start = i - (frames-1)//2``.
    Otherwise (seq2seq): ``n = ceil((N - F)/S + 1)`` (1 when N ≤ F) windows starting at
    ``k·S - ((n-1)·S + F - N)//2``, so the padding is split evenly between both ends.
    """
    if frames < 1 or stride < 1 or n_frames < 1:
        raise ValueError(f"frames, stride and sequence length must be ≥ 1, got {frames}, {stride}, {n_frames}")
    if stride == 1:
        return np.arange(n_frames, dtype=np.int64) - (frames - 1) // 2
    n_chunks = max(1, math.ceil((n_frames - frames) / stride + 1))
    offset = ((n_chunks - 1) * stride + frames - n_frames) // 2
    return np.arange(n_chunks, dtype=np.int64) * stride - offset


def deterministic_random(min_value: int, max_value: int, data: str) -> int:
    """The reference's reproducible "random" integer: SHA-256 of ``data``, first 4 bytes little-endian,
    scaled to ``[min_value, max_value)``."""
    digest = hashlib.sha256(data.encode()).digest()
    raw = int.from_bytes(digest[:4], byteorder="little", signed=False)
    return int(raw / (2 ** 32 - 1) * (max_value - min_value)) + min_value


def temporal_slice(n_frames: int, downsample: int = 1, subset: float = 1.0) -> slice:
    """Frames kept by ``--downsample``/``--subset`` (reference ``Fusion.fetch``).

    With ``subset < 1``: ``n = round(N//s · subset)·s`` frames from a deterministic offset, every s-th;
    otherwise every s-th frame.
    """
    if downsample < 1 or not 0 < subset <= 1:
        raise ValueError(f"need downsample ≥ 1 and 0 < subset ≤ 1, got {downsample}, {subset}")
    if subset < 1:
        n = int(round(n_frames // downsample * subset)) * downsample
        start = deterministic_random(0, n_frames - n + 1, str(n_frames))
        return slice(start, start + n, downsample)
    return slice(0, n_frames, downsample)


def smallest_subset(frames: int) -> float:
    """The smallest ``--subset``, rounded up to two significant digits, that keeps at least one frame of a
    sequence of ``frames`` frames (after ``--downsample``): ``round(frames * subset) >= 1``."""
    value = 1.0 / max(int(frames), 1)
    scale = 10.0 ** (math.floor(math.log10(value)) - 1)
    return min(1.0, math.ceil(value / scale - 1e-9) * scale)


def flip_pose(pose: np.ndarray, left: Sequence[int], right: Sequence[int]) -> np.ndarray:
    """Mirror poses: negate x and swap the left/right joints. (..., J, C) → (..., J, C), a new array."""
    out = np.array(pose, copy=True)
    out[..., 0] *= -1
    out[..., list(left) + list(right), :] = out[..., list(right) + list(left), :]
    return out


#: entries of the 9-vector intrinsics that change sign under a horizontal flip (cx, first tangential)
CAM_FLIP_SIGNS = np.array([1, 1, -1, 1, 1, 1, 1, -1, 1], dtype=np.float32)


# ------------------------------------------------------------------------------------------ virtual cameras
#: the up direction of the Human3.6M world frame (its floor is z = 0)
WORLD_UP = (0.0, 0.0, 1.0)
#: default virtual image sizes (width, height): landscape, portrait and square video
VIRTUAL_IMAGE_SIZES: Tuple[Tuple[int, int], ...] = ((1920, 1080), (1280, 720), (1080, 1920), (720, 1280),
                                                    (1080, 1080), (720, 720))



def _unit(v: np.ndarray) -> np.ndarray:
    """(3,) vector scaled to length 1."""
    return v / np.linalg.norm(v)


def world_up(camera: Camera) -> np.ndarray:
    """(3,) float64 unit vector: the world's up direction (``WORLD_UP``) in the frame of ``camera``
    (normalised: the calibration's quaternions are unit only to float32 precision)."""
    return _unit(qrot(qinverse(np.asarray(camera.orientation, dtype=np.float64)), np.asarray(WORLD_UP)))


def look_at_camera(target: np.ndarray, up: np.ndarray, forward: np.ndarray, azimuth: float, elevation: float,
                   distance: float, roll: float, size: Tuple[int, int], focal: float, center: Tuple[float, float],
                   aim: Tuple[float, float] = (0.0, 0.0)) -> Camera:
    """A pinhole ``Camera`` placed around ``target``, in a given frame (the real camera's, for the dataset).

    The returned camera's "world" is the frame the arguments are expressed in: ``Camera.world_to_camera``
    maps points of that frame into the new camera's (x right, y down, z forward, as Human3.6M's cameras).

    Args:
        target: (3,) the point looked at (e.g. a window's mean root), metres.
        up: (3,) the vertical direction of the scene in that frame (unit).
        forward: (3,) the direction of azimuth 0 (projected on the horizontal plane), e.g. ``target`` itself:
            the direction from the real camera (the origin) to the subject.
        azimuth: degrees, rotation of the camera position about the vertical axis through ``target``
            (counter-clockwise seen from above).
        elevation: degrees above the horizontal plane of ``target`` (positive: the camera looks down).
        distance: metres from the camera centre to ``target``.
        roll: degrees about the line of sight (0: image rows horizontal).
        size: (width, height) in pixels.
        focal: focal length in pixels (square pixels).
        center: principal point in pixels.
        aim: where ``target`` appears, as a fraction of the half image size from the principal point
            ((0, 0): on the optical axis); the camera is panned/tilted accordingly.
    """
    up = _unit(np.asarray(up, dtype=np.float64))
    target = np.asarray(target, dtype=np.float64)
    horizontal = np.asarray(forward, dtype=np.float64) - np.dot(forward, up) * up
    if np.linalg.norm(horizontal) < 1e-9:  # looking straight down/up: any horizontal direction
        horizontal = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
    horizontal = _unit(horizontal)
    az, el, rl = np.radians([azimuth, elevation, roll])
    heading = np.cos(az) * horizontal + np.sin(az) * np.cross(up, horizontal)  # rotated about the vertical
    z = np.cos(el) * heading - np.sin(el) * up  # line of sight, camera → target
    centre = target - distance * z
    y = _unit(np.dot(up, z) * z - up)  # image "down": minus up, orthogonal to the line of sight
    x = np.cross(y, z)
    x, y = np.cos(rl) * x + np.sin(rl) * y, np.cos(rl) * y - np.sin(rl) * x
    look = np.stack([x, y, z])  # rows: frame → camera, target on the optical axis
    w, h = size
    ray = _unit(np.array([aim[0] * w / 2 / focal, aim[1] * h / 2 / focal, 1.0]))
    k = np.cross([0.0, 0.0, 1.0], ray)  # e_z → ray, Rodrigues: I + [k]x + [k]x² / (1 + cos)
    skew = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    rotation = (np.eye(3) + skew + skew @ skew / (1.0 + ray[2])) @ look
    return Camera(id="virtual", res_w=int(w), res_h=int(h), center=(float(center[0]), float(center[1])),
                  focal_length=(float(focal), float(focal)), radial_distortion=(0.0, 0.0, 0.0),
                  tangential_distortion=(0.0, 0.0),
                  orientation=tuple(float(v) for v in matrix_to_quaternion(rotation.T)),
                  translation=tuple(float(v) for v in centre), azimuth=float(azimuth))


def view_through(camera: Camera, pose_3d: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a distortion-free ``camera`` sees of a window given in its "world" frame.

    Args:
        camera: a camera whose world frame is the frame of ``pose_3d`` (``look_at_camera``); its distortion
            coefficients are used as they are, without the toolbox's clipping (``project_to_2d(clip=False)``).
        pose_3d: (F, J, 3) in the ``PoseSequence.pose_3d`` layout (joint 0 absolute, others root-relative).

    Returns:
        ``(pose_2d, pose_3d, pixels)``: (F, J, 2) float32 screen coordinates (``normalize_screen_coordinates``
        with the camera's image size, as the real 2-D), (F, J, 3) float32 in the camera's frame in the same
        layout as the input, and (F, J, 3) float64 (u, v, depth) in pixels and metres.
    """
    points = camera.world_to_camera(to_absolute(np.asarray(pose_3d, dtype=np.float64)))
    pixels = project_to_2d(points, camera.intrinsic(normalised=False).astype(np.float64), clip=False)
    pose_2d = normalize_screen_coordinates(pixels, camera.res_w, camera.res_h).astype(np.float32)
    return pose_2d, to_root_relative(points).astype(np.float32), np.concatenate([pixels, points[..., 2:]], -1)


@dataclass(frozen=True)
class VirtualView:
    """One virtual camera drawn for a window, and what it sees.

    Attributes:
        camera: a pinhole ``Camera`` (``id="virtual"``) whose world frame is the real camera's frame.
        pose_2d: (F, J, 2) float32 screen coordinates of the virtual image.
        pose_3d: (F, J, 3) float32 virtual-camera frame, joint 0 absolute, the others root-relative.
        azimuth, elevation, roll, fov: the draw, degrees (azimuth relative to the real camera's; ``fov`` across
            the longer image side).
        distance: metres from the camera to the window's mean root.
        aim: (2,) where the mean root appears (fraction of the half image size from the principal point).
        inside: share of the window's (frame, joint) points inside the image.
        attempts: draws made (the first ``attempts - 1`` did not frame the subject).
        zoomed: no draw framed the subject: the last one was moved back (``distance`` then exceeds its range).
    """

    camera: Camera
    pose_2d: np.ndarray
    pose_3d: np.ndarray
    azimuth: float
    elevation: float
    roll: float
    fov: float
    distance: float
    aim: Tuple[float, float]
    inside: float
    attempts: int
    zoomed: bool


def _check_range(name: str, value: Tuple[float, float], low: float = -math.inf, high: float = math.inf) -> None:
    if len(value) != 2 or not low <= value[0] <= value[1] <= high:
        raise ValueError(f"{name} must be a range (min, max) with {low} <= min <= max <= {high}, got {value}")


class VirtualCameraSampler:
    """Random virtual cameras around a window's subject (virtual-camera augmentation).

    Per draw, all uniform: azimuth about the vertical axis through the window's mean root (relative to the
    real camera's), elevation of the camera above the root's horizontal plane, distance to the mean root, roll,
    image size (from ``image_sizes``), field of view across the longer image side (``focal = L/2 / tan(fov/2)``,
    L = max(width, height), so a portrait video gets the same lens as a landscape one), principal point
    ``size/2 + U(±center_jitter)·size`` and aim (where the mean root lands, ``U(±placement)`` of the half image
    size from the principal point). A draw is kept when at least ``min_inside`` of the window's (frame, joint)
    points fall inside the image and every point is at least ``min_depth`` in front of the camera; otherwise up
    to ``max_tries`` draws are made, then the last one is moved back along its line of sight until it frames
    the subject (``VirtualView.zoomed``). Cameras are pinholes (no lens distortion).

    Args:
        azimuth: degrees, default (-180, 180): all round the subject.
        elevation: degrees, default (-15, 45): from slightly below to well above.
        distance: metres, default (2.5, 8.0) (Human3.6M's cameras are at ~5 m).
        fov: degrees across the longer side, default (40, 90) (Human3.6M: ~47° at 1000 px, focal ~1145 px).
        image_sizes: (width, height) choices, default ``VIRTUAL_IMAGE_SIZES``.
        center_jitter: principal point offset, fraction of the image size, default 0.03.
        roll: degrees, default (-5, 5) (hand-held cameras are rarely level).
        placement: half-width of the aim range, fraction of the half image size, default 0.25.
        min_inside: share of the (frame, joint) points that must be inside the image, default 0.95.
        min_depth: metres in front of the camera every point must be, default 0.5.
        max_tries: draws before the fallback, default 20.
    """

    def __init__(self, azimuth: Tuple[float, float] = (-180.0, 180.0), elevation: Tuple[float, float] = (-15.0, 45.0),
                 distance: Tuple[float, float] = (2.5, 8.0), fov: Tuple[float, float] = (40.0, 90.0),
                 image_sizes: Sequence[Tuple[int, int]] = VIRTUAL_IMAGE_SIZES, center_jitter: float = 0.03,
                 roll: Tuple[float, float] = (-5.0, 5.0), placement: float = 0.25, min_inside: float = 0.95,
                 min_depth: float = 0.5, max_tries: int = 20) -> None:
        _check_range("azimuth", azimuth)
        _check_range("elevation", elevation, -89.0, 89.0)
        _check_range("distance", distance, 1e-3)
        _check_range("fov", fov, 1.0, 170.0)
        _check_range("roll", roll)
        if not image_sizes or any(len(s) != 2 or min(s) < 1 for s in image_sizes):
            raise ValueError(f"image_sizes must be (width, height) pairs of positive integers, got {image_sizes}")
        if not (0 <= center_jitter < 0.5 and 0 <= placement < 1 and 0 <= min_inside <= 1 and min_depth > 0
                and max_tries >= 1):
            raise ValueError("need 0 <= center_jitter < 0.5, 0 <= placement < 1, 0 <= min_inside <= 1, "
                             f"min_depth > 0 and max_tries >= 1, got {center_jitter}, {placement}, {min_inside}, "
                             f"{min_depth}, {max_tries}")
        self.azimuth, self.elevation, self.distance = tuple(azimuth), tuple(elevation), tuple(distance)
        self.fov, self.roll = tuple(fov), tuple(roll)
        self.image_sizes = tuple((int(w), int(h)) for w, h in image_sizes)
        self.center_jitter, self.placement = float(center_jitter), float(placement)
        self.min_inside, self.min_depth, self.max_tries = float(min_inside), float(min_depth), int(max_tries)

    def _frames(self, pixels: np.ndarray, size: Tuple[int, int]) -> Tuple[bool, float]:
        """Whether (F, J, 3) pixels + depth frame the subject, and the share of points inside the image."""
        u, v, depth = pixels[..., 0], pixels[..., 1], pixels[..., 2]
        inside = float(np.mean((u >= 0) & (u < size[0]) & (v >= 0) & (v < size[1]) & (depth > 0)))
        return inside >= self.min_inside and bool(depth.min() >= self.min_depth), inside

    def sample(self, pose_3d: np.ndarray, up: np.ndarray, rng: np.random.Generator) -> VirtualView:
        """Draw a virtual camera for one window and view the window through it.

        Args:
            pose_3d: (F, J, 3) real-camera frame, ``PoseSequence.pose_3d`` layout (joint 0 absolute).
            up: (3,) the world's up direction in the real camera's frame (``world_up``).
            rng: the source of every random number (the same generator state gives the same view).
        """
        pose_3d = np.asarray(pose_3d, dtype=np.float64)
        target = pose_3d[:, 0].mean(axis=0)  # the window's mean root
        for attempt in range(1, self.max_tries + 1):
            azimuth, elevation, distance, roll, fov = (rng.uniform(*r) for r in (
                self.azimuth, self.elevation, self.distance, self.roll, self.fov))
            w, h = self.image_sizes[int(rng.integers(len(self.image_sizes)))]
            center = tuple((np.array([w, h]) * (0.5 + rng.uniform(-self.center_jitter, self.center_jitter, 2))))
            aim = tuple(rng.uniform(-self.placement, self.placement, 2).tolist())
            focal = max(w, h) / 2 / math.tan(math.radians(fov) / 2)
            for step in range(1 if attempt < self.max_tries else 61):  # the last draw: moved back until framed
                camera = look_at_camera(target, up, target, azimuth, elevation, distance * 1.25 ** step, roll,
                                        (w, h), focal, center, aim)
                pose_2d, pose_v, pixels = view_through(camera, pose_3d)
                framed, inside = self._frames(pixels, (w, h))
                if framed:
                    break
            if framed:
                break
        # (after 60 steps back, ~19 doublings, a real subject is a point at ``aim``: always framed)
        return VirtualView(camera, pose_2d, pose_v, azimuth, elevation, roll, fov, distance * 1.25 ** step, aim,
                           inside, attempt, step > 0)


class PoseWindowDataset(Dataset):
    """Windows of F frames over the (subject, action, camera) sequences of ``data``.

    Args:
        data: ``load_h36m`` output.
        subjects: subjects to use, in order (e.g. ``["S9", "S11"]``).
        frames: window length F (the model's receptive field).
        stride: seq2seq step (≠ 1) or 1 for seq2frame. The caller picks the test stride (the reference
            uses F at test time unless the stride is 1 or F).
        train: training samples (single 2-D input, flip/reverse copies) or test samples (flip pair).
        actions: canonical action names to keep (exact match), ``None``/"*" for all.
        downsample, subset: temporal subsampling (``temporal_slice``).
        flip_aug: training: add a mirrored copy of every window (2-D, 3-D and camera vector flipped).
        reverse_aug: training: add time-reversed copies of every (plain and flipped) window.
        test_flip: test: ``input_2d`` is the pair (original, mirrored), shape (2, F, J, 2).
        virtual_cameras: training: probability that a window is seen through a random virtual camera
            (``VirtualCameraSampler``) instead of its real one; 0 (default) = off. With a detector's 2-D the
            views get its measured look (``detector_style``, ``hot_pose.data.detector_style``), so 17 joints are needed.
        seed: with ``virtual_cameras``: the draws of sample ``index`` in epoch ``e`` (``set_epoch``) come from
            a generator seeded with (seed, e, index), so they do not depend on the order of the samples, the
            DataLoader workers or the process count.
        camera_sampler: the virtual-camera ranges (default: ``VirtualCameraSampler()``).

    ``__getitem__`` returns a dict: ``input_2d`` float32 (F, J, 2) or (2, F, J, 2); ``gt_3d`` float32
    (F, J, 3) camera frame metres (joint 0 absolute, others root-relative; never flipped at test);
    ``valid`` bool (F,) False on edge-padded frames; ``cam`` (9,); ``action`` (e.g. "Walking 1");
    ``subject``; ``cam_idx``; ``start`` (window start, may be < 0); ``flip``; ``reverse``.

    A virtual view replaces ``input_2d``, ``gt_3d`` (in the virtual camera's frame) and ``cam`` (the virtual
    camera's normalised intrinsics, zero distortion) before the flip and the reversal, which then apply as to a
    real view; the other keys keep the real sequence's values (``virtual_view`` tells which samples are virtual).
    """

    def __init__(self, data: H36MData, subjects: Sequence[str], frames: int, stride: int, train: bool,
                 actions: Union[None, str, Sequence[str]] = None, downsample: int = 1, subset: float = 1.0,
                 flip_aug: bool = True, reverse_aug: bool = False, test_flip: bool = True,
                 virtual_cameras: float = 0.0, seed: int = 0,
                 camera_sampler: Optional[VirtualCameraSampler] = None) -> None:
        if frames < 1 or stride < 1:
            raise ValueError(f"frames and stride must be ≥ 1, got {frames} and {stride}")
        if not 0.0 <= virtual_cameras <= 1.0:
            raise ValueError(f"virtual_cameras must be a probability in [0, 1], got {virtual_cameras}")
        self.virtual_cameras = float(virtual_cameras) if train else 0.0
        self.seed, self.camera_sampler = int(seed), camera_sampler or VirtualCameraSampler()
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()  # shared with DataLoader workers
        self.frames, self.stride, self.train = int(frames), int(stride), bool(train)
        self.flip_aug, self.reverse_aug = bool(flip_aug and train), bool(reverse_aug and train)
        self.test_flip = bool(test_flip and not train)
        self.subjects, self.downsample, self.subset = list(subjects), int(downsample), float(subset)
        self.actions = parse_actions(actions)
        self.keypoints, self.skipped = data.keypoints, [s for s in data.skipped if s[0] in self.subjects]
        self.joints_left, self.joints_right = tuple(data.joints_left), tuple(data.joints_right)
        self.kps_left, self.kps_right = tuple(data.kps_left), tuple(data.kps_right)
        self.sequences: List[PoseSequence] = []
        selected = list(data.select(self.subjects, self.actions))
        for seq in selected:
            cut = temporal_slice(len(seq), self.downsample, self.subset)
            if len(range(*cut.indices(len(seq)))) == 0:
                continue
            self.sequences.append(PoseSequence(seq.subject, seq.action, seq.cam_idx, seq.pose_2d[cut],
                                               seq.pose_3d[cut], seq.cam))
        if selected and not self.sequences:  # every sequence cut to nothing by --subset/--downsample
            longest = max(len(seq) for seq in selected) // self.downsample
            if longest < 1:
                most = max(len(seq) for seq in selected)
                raise DataError(f"--downsample {self.downsample} is longer than every sequence of "
                                f"{', '.join(self.subjects)} ({most} frames at most); use a smaller --downsample")
            raise DataError(f"--subset {self.subset:g} is too small: it keeps no frame of any sequence of "
                            f"{', '.join(self.subjects)} (the longest has {longest} frames after --downsample "
                            f"{self.downsample}); use --subset {smallest_subset(longest):g} or more")
        if not self.sequences:
            raise DataError(f"no sequences for subjects {self.subjects} and actions {self.actions or 'all'}")
        self._samples = self._build_samples()
        # the world's up direction in each sequence's camera frame (the axis virtual cameras turn about)
        self._up = np.stack([world_up(data.cameras[s.subject][s.cam_idx]) for s in self.sequences]) \
            if self.virtual_cameras > 0 else None
        # detector 2-D: virtual views get the detector's measured look (joint conventions, noise, gaps)
        self.detector_style: Optional[DetectorStyle] = None
        if self.virtual_cameras > 0 and self.keypoints != "gt":
            if data.num_joints != 17:
                raise ValueError(f"virtual cameras on detector 2-D need 17 joints (got {data.num_joints}): load a "
                                 "16-joint source with complete_16 for a 17-joint model")
            self.detector_style = measure_detector_style(style_pairs(self.sequences, data.cameras), self.keypoints)

    def _build_samples(self) -> np.ndarray:
        """(S, 4) int64 table of (sequence, start, flip, reverse), per sequence: plain windows, then flipped."""
        variants = [(0, 0)]
        if self.reverse_aug:
            variants.append((0, 1))
        if self.flip_aug:
            variants += [(1, 0), (1, 1)] if self.reverse_aug else [(1, 0)]
        blocks = []
        for seq_idx, seq in enumerate(self.sequences):
            starts = chunk_starts(len(seq), self.frames, self.stride)
            for flip, reverse in variants:
                block = np.empty((len(starts), 4), dtype=np.int64)
                block[:, 0], block[:, 1], block[:, 2], block[:, 3] = seq_idx, starts, flip, reverse
                blocks.append(block)
        return np.concatenate(blocks)

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def samples(self) -> np.ndarray:
        """(S, 4) int64 sample table: sequence index, window start, flip, reverse (read-only view)."""
        view = self._samples.view()
        view.flags.writeable = False
        return view

    @property
    def num_frames(self) -> int:
        """Frames (per camera × 4 cameras, after downsample/subset) covered by the sequences."""
        return sum(len(s) for s in self.sequences)

    def window(self, seq_idx: int, start: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Edge-padded 2-D (F, J, 2), 3-D (F, J, 3) and valid mask (F,) of one window (unflipped)."""
        seq = self.sequences[seq_idx]
        n, end = len(seq), start + self.frames
        if start >= 0 and end <= n:  # interior window: plain slices (views)
            return seq.pose_2d[start:end], seq.pose_3d[start:end], np.ones(self.frames, dtype=bool)
        frame = np.arange(start, end)
        idx = np.clip(frame, 0, n - 1)  # edge replication
        return seq.pose_2d[idx], seq.pose_3d[idx], (frame >= 0) & (frame < n)

    @property
    def epoch(self) -> int:
        """The epoch the virtual-camera draws are made for (``set_epoch``; 0 until set)."""
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Draw the virtual cameras of ``epoch`` from now on, in this process and its DataLoader workers
        (the counter is in shared memory, so persistent workers follow too)."""
        self._epoch.fill_(int(epoch))

    def _virtual(self, index: int, seq_idx: int, pose_3d: np.ndarray) -> Optional[VirtualView]:
        """The virtual view of sample ``index`` in the current epoch (drawn from (seed, epoch, index)), or None."""
        if self.virtual_cameras <= 0:
            return None
        rng = np.random.default_rng([self.seed % 2 ** 64, self.epoch, int(index) % len(self)])
        if rng.random() >= self.virtual_cameras:
            return None
        view = self.camera_sampler.sample(pose_3d, self._up[seq_idx], rng)
        if self.detector_style is not None:
            view = dataclasses.replace(view, pose_2d=apply_detector_style(view.pose_2d, self.detector_style, rng))
        return view

    def virtual_view(self, index: int) -> Optional[VirtualView]:
        """The virtual view that ``self[index]`` uses in the current epoch (before its flip/reversal), or None
        when the sample is seen through its real camera."""
        seq_idx, start = (int(v) for v in self._samples[index][:2])
        return self._virtual(index, seq_idx, self.window(seq_idx, start)[1])

    def __getitem__(self, index: int) -> Dict[str, Any]:
        seq_idx, start, flip, reverse = (int(v) for v in self._samples[index])
        seq = self.sequences[seq_idx]
        pose_2d, pose_3d, valid = self.window(seq_idx, start)
        cam = seq.cam
        view = self._virtual(index, seq_idx, pose_3d)
        if view is not None:
            pose_2d, pose_3d, cam = view.pose_2d, view.pose_3d, view.camera.intrinsic(normalised=True)
        if flip:
            pose_2d = flip_pose(pose_2d, self.kps_left, self.kps_right)
            pose_3d = flip_pose(pose_3d, self.joints_left, self.joints_right)
            cam = cam * CAM_FLIP_SIGNS
        if reverse:
            pose_2d, pose_3d, valid = pose_2d[::-1], pose_3d[::-1], valid[::-1]
        if self.test_flip:
            pose_2d = np.stack([pose_2d, flip_pose(pose_2d, self.kps_left, self.kps_right)])  # (2, F, J, 2)
        return {
            "input_2d": torch.from_numpy(np.ascontiguousarray(pose_2d, dtype=np.float32)),
            "gt_3d": torch.from_numpy(np.ascontiguousarray(pose_3d, dtype=np.float32)),
            "valid": torch.from_numpy(np.ascontiguousarray(valid)),
            "cam": torch.from_numpy(np.ascontiguousarray(cam, dtype=np.float32)),
            "action": seq.action,
            "subject": seq.subject,
            "cam_idx": seq.cam_idx,
            "start": start,
            "flip": bool(flip),
            "reverse": bool(reverse),
        }

    def protocol(self) -> Dict[str, Any]:
        """What this dataset covers, for evaluation reports."""
        return {
            "keypoints": self.keypoints, "subjects": self.subjects, "actions": self.actions or "all",
            "frames": self.frames, "stride": self.stride, "mode": "seq2frame" if self.stride == 1 else "seq2seq",
            "downsample": self.downsample, "subset": self.subset, "train": self.train,
            "flip_aug": self.flip_aug, "reverse_aug": self.reverse_aug, "test_flip": self.test_flip,
            "virtual_cameras": self.virtual_cameras,
            "detector_style": self.detector_style.summary() if self.detector_style is not None else None,
            "sequences": len(self.sequences), "frames_total": self.num_frames, "samples": len(self),
            "skipped_sequences": [f"{s} {a}" for s, a in self.skipped],
        }


def summarize_frames(data: H36MData) -> Mapping[str, int]:
    """Frames per camera of every loaded subject."""
    return {s: data.num_frames([s]) for s in data.subjects()}
