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
with any number of DataLoader workers (spec §9.20).

Deliberate differences from the reference: sequences without 3-D are skipped with one warning instead of
crashing; a 16-joint 2-D file in the MPII order of the Stacked-Hourglass detections (recognised by its
``keypoints_symmetry``) is permuted into the H36M order so that input joint j matches output joint j;
action filters match exact names (spec §9.7); the GT 2-D file is only read with ``keypoints="gt"``;
``reverse_aug`` adds reversed copies of both the plain and the flipped windows.
"""
from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from common.camera import Camera
from common.h36m_dataset import (ALL_SUBJECTS, DATA_HELP, DataError, Human36mDataset, check_finite,
                                 load_npz_dict)
from common.metrics import canonical_action, parse_actions
from common.skeleton import Skeleton

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

    Only ``data_3d_<dataset>.npz`` and ``data_2d_<dataset>_<keypoints>.npz`` are read. For every sequence
    and camera: 3-D world → camera frame, joints 1.. made root-relative; 2-D cropped to the mocap length
    and normalised to screen coordinates with the camera's resolution. A 16-joint 2-D source drops 3-D
    joint 9 (Neck/Nose), unless ``complete_16``: then the 2-D gets that joint back (``complete_h36m16``) and
    all 17 3-D joints are kept, so a 17-joint model can be trained on 16-joint detections.

    Args:
        root_path: folder with the npz files (e.g. ``./dataset/`` or ``../shared/data/h36m``).
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
    if not root.is_dir():
        raise DataError(f"--root_path {root} is not a folder; {DATA_HELP}")
    positions_2d, kps_left, kps_right, n_joints, perm = _read_2d(path_2d, keypoints, reorder_mpii)
    subjects = [s for s in ALL_SUBJECTS if s in positions_2d] if subjects is None else list(subjects)
    missing = [s for s in subjects if s not in positions_2d]
    if missing:
        raise DataError(f"{path_2d} has no 2-D for subject(s) {', '.join(missing)}")
    mocap = Human36mDataset(path_3d, subjects=subjects)
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
                    kps_left, kps_right, skipped, {s: mocap.cameras(s) for s in subjects},
                    [str(path_3d), str(path_2d)])


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


def flip_pose(pose: np.ndarray, left: Sequence[int], right: Sequence[int]) -> np.ndarray:
    """Mirror poses: negate x and swap the left/right joints. (..., J, C) → (..., J, C), a new array."""
    out = np.array(pose, copy=True)
    out[..., 0] *= -1
    out[..., list(left) + list(right), :] = out[..., list(right) + list(left), :]
    return out


#: entries of the 9-vector intrinsics that change sign under a horizontal flip (cx, first tangential)
CAM_FLIP_SIGNS = np.array([1, 1, -1, 1, 1, 1, 1, -1, 1], dtype=np.float32)


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

    ``__getitem__`` returns a dict: ``input_2d`` float32 (F, J, 2) or (2, F, J, 2); ``gt_3d`` float32
    (F, J, 3) camera frame metres (joint 0 absolute, others root-relative; never flipped at test);
    ``valid`` bool (F,) False on edge-padded frames; ``cam`` (9,); ``action`` (e.g. "Walking 1");
    ``subject``; ``cam_idx``; ``start`` (window start, may be < 0); ``flip``; ``reverse``.
    """

    def __init__(self, data: H36MData, subjects: Sequence[str], frames: int, stride: int, train: bool,
                 actions: Union[None, str, Sequence[str]] = None, downsample: int = 1, subset: float = 1.0,
                 flip_aug: bool = True, reverse_aug: bool = False, test_flip: bool = True) -> None:
        if frames < 1 or stride < 1:
            raise ValueError(f"frames and stride must be ≥ 1, got {frames} and {stride}")
        self.frames, self.stride, self.train = int(frames), int(stride), bool(train)
        self.flip_aug, self.reverse_aug = bool(flip_aug and train), bool(reverse_aug and train)
        self.test_flip = bool(test_flip and not train)
        self.subjects, self.downsample, self.subset = list(subjects), int(downsample), float(subset)
        self.actions = parse_actions(actions)
        self.keypoints, self.skipped = data.keypoints, [s for s in data.skipped if s[0] in self.subjects]
        self.joints_left, self.joints_right = tuple(data.joints_left), tuple(data.joints_right)
        self.kps_left, self.kps_right = tuple(data.kps_left), tuple(data.kps_right)
        self.sequences: List[PoseSequence] = []
        for seq in data.select(self.subjects, self.actions):
            cut = temporal_slice(len(seq), self.downsample, self.subset)
            if len(range(*cut.indices(len(seq)))) == 0:
                continue
            self.sequences.append(PoseSequence(seq.subject, seq.action, seq.cam_idx, seq.pose_2d[cut],
                                               seq.pose_3d[cut], seq.cam))
        if not self.sequences:
            raise DataError(f"no sequences for subjects {self.subjects} and actions {self.actions or 'all'}")
        self._samples = self._build_samples()

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

    def __getitem__(self, index: int) -> Dict[str, Any]:
        seq_idx, start, flip, reverse = (int(v) for v in self._samples[index])
        seq = self.sequences[seq_idx]
        pose_2d, pose_3d, valid = self.window(seq_idx, start)
        cam = seq.cam
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
            "sequences": len(self.sequences), "frames_total": self.num_frames, "samples": len(self),
            "skipped_sequences": [f"{s} {a}" for s, a in self.skipped],
        }


def summarize_frames(data: H36MData) -> Mapping[str, int]:
    """Frames per camera of every loaded subject."""
    return {s: data.num_frames([s]) for s in data.subjects()}
