"""A compact Human3.6M training pack: the 3-D poses and cameras that training and testing need, in ~30 MiB.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028) trains on Human3.6M in the VideoPose3D layout: ``data_3d_h36m.npz`` (138 MiB) plus
a 2-D file (the ground-truth projection ``data_2d_h36m_gt.npz`` alone is 257 MiB). To move a training set
to another machine (a rented GPU, a cluster node) this module writes everything a ``--keypoints gt`` run
needs into one small file built from the user's own copy (it is never committed: Human3.6M licence):

* the 16 non-root joints of the 17-joint skeleton, relative to the root, in the **world** frame, as
  int16 in 0.1 mm units (|offset| < 3.3 m), stored as per-sequence frame-to-frame differences so that
  zlib compresses them to a third (rounding error ≤ 0.05 mm per coordinate);
* the root trajectory in float32 metres (exact: the npz values are float32 already);
* the four cameras' intrinsics and every subject's extrinsics.

Rotation is linear, so the camera-frame root-relative targets of a packed pose differ from the npz ones by
the rounding error alone; the GT 2-D is projected at load time with the same lens model (distortion
included) as ``dataset/prepare_data_h36m.py``. ``load_h36m`` reads a pack when ``--root_path`` names the
file, or names a folder without the npz pair but with ``data_h36m_pack.npz``.

    python dataset/prepare_data_h36m.py --source ../shared/data/h36m --pack   # → dataset/data_h36m_pack.npz
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple, Union

import numpy as np

from hot_pose.data.camera import Camera
from hot_pose.data.h36m import DataError, Human36mDataset
from hot_pose.utils.safe_io import UnsafeFileError, load_npz

_logger = logging.getLogger(__name__)

PathLike = Union[str, Path]

PACK_FORMAT = "hot-pose-h36m-pack/1"
#: file name looked for inside a ``--root_path`` folder
PACK_NAME = "data_h36m_pack.npz"
#: metres per int16 step of the root-relative joints (0.1 mm)
UNIT = 1e-4
_INTRINSIC_FIELDS = ("center", "focal_length", "radial_distortion", "tangential_distortion")


def build_pack(path_3d: PathLike, out_path: PathLike, subjects: Optional[Iterable[str]] = None) -> Dict[str, int]:
    """Write the pack of ``path_3d`` (``data_3d_h36m.npz``) to ``out_path``, atomically.

    Arrays (plain, no pickles): ``format``; ``seq_subject``/``seq_action`` (S,) str and ``seq_length`` (S,)
    int64 in file order; ``offsets`` (N, 16, 3) int16 per-sequence time differences of the root-relative
    world joints in ``unit`` metres (the first frame of a sequence holds its value); ``root`` (N, 3) float32
    world metres; ``cam_ids`` (4,) str, ``cam_intrinsics`` (4, 12) float64 (centre 2, focal 2, radial 3,
    tangential 2, width, height, azimuth); ``cam_subjects`` (K,) str, ``cam_extrinsics`` (K, 4, 7) float64
    (orientation quaternion w, x, y, z; camera centre in metres).

    Returns:
        ``{subject: frames}`` of what was written.
    """
    mocap = Human36mDataset(path_3d, subjects=subjects)
    out_path = Path(out_path)
    names: List[Tuple[str, str]] = []
    lengths, offsets, roots = [], [], []
    for subject in mocap.subjects():
        for action, pos in mocap[subject].items():
            rel = np.round((pos[:, 1:].astype(np.float64) - pos[:, :1]) / UNIT)
            if np.abs(rel).max() > np.iinfo(np.int16).max // 2:  # differences must fit int16 too
                raise DataError(f"{path_3d}: {subject} '{action}' has a joint > 1.6 m from the root; "
                                "not a Human3.6M skeleton")
            rel = rel.astype(np.int16)
            offsets.append(np.diff(rel, axis=0, prepend=np.zeros_like(rel[:1])))
            roots.append(pos[:, 0].astype(np.float32))
            names.append((subject, action))
            lengths.append(len(pos))
    cams0 = mocap.cameras(mocap.subjects()[0])
    intrinsics = np.array([[*c.center, *c.focal_length, *c.radial_distortion, *c.tangential_distortion,
                            c.res_w, c.res_h, c.azimuth] for c in cams0], dtype=np.float64)
    extrinsics = np.array([[[*c.orientation, *c.translation] for c in mocap.cameras(s)] for s in mocap.subjects()],
                          dtype=np.float64)
    arrays = dict(format=np.array(PACK_FORMAT), unit=np.array(UNIT),
                  seq_subject=np.array([s for s, _ in names]), seq_action=np.array([a for _, a in names]),
                  seq_length=np.array(lengths, dtype=np.int64), offsets=np.concatenate(offsets),
                  root=np.concatenate(roots), cam_ids=np.array([c.id for c in cams0]),
                  cam_intrinsics=intrinsics, cam_subjects=np.array(mocap.subjects()), cam_extrinsics=extrinsics)
    tmp = out_path.with_name(f"{out_path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, out_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    counts = {s: mocap.num_frames([s]) for s in mocap.subjects()}
    _logger.info("wrote %s: %d sequences, %d frames, %.1f MiB", out_path, len(names), sum(counts.values()),
                 out_path.stat().st_size / 2**20)
    return counts


#: what to do about a damaged pack
REBUILD = "rebuild it with `python dataset/prepare_data_h36m.py --source DIR --pack`"
#: every array of a pack (``build_pack``)
PACK_ARRAYS = ("format", "unit", "seq_subject", "seq_action", "seq_length", "offsets", "root", "cam_ids",
               "cam_intrinsics", "cam_subjects", "cam_extrinsics")


def check_pack(arrays: Dict[str, np.ndarray], path: PathLike) -> None:
    """Check a pack's arrays against the layout ``build_pack`` writes (names, shapes, kinds, values) before any
    is used, so a damaged or hand-edited pack stops with one line instead of a traceback or silent garbage.

    Raises:
        DataError: the first problem found, naming the array and how to fix it (rebuild the pack).
    """
    def bad(what: str) -> DataError:
        return DataError(f"{path}: {what}; the pack is damaged, {REBUILD}")

    missing = [name for name in PACK_ARRAYS if name not in arrays]
    if missing:
        raise bad(f"it lacks the array(s) {', '.join(missing)}")

    def shape(name: str, expected: tuple, kinds: str) -> np.ndarray:
        array = arrays[name]
        ok = array.ndim == len(expected) and all(e is None or s == e for s, e in zip(array.shape, expected))
        if not ok or array.dtype.kind not in kinds:
            dims = ", ".join("N" if e is None else str(e) for e in expected)
            raise bad(f"'{name}' is {array.dtype} of shape {array.shape}, expected shape ({dims}"
                      f"{',' if len(expected) == 1 else ''}) of {'numbers' if kinds != 'U' else 'strings'}")
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            raise bad(f"'{name}' holds NaN/inf values")
        return array

    unit = shape("unit", (), "f")
    if not 0 < float(unit) <= 1:
        raise bad(f"'unit' is {float(unit)} m per step, expected a positive step such as {UNIT}")
    lengths = shape("seq_length", (None,), "iu")
    n_seq = len(lengths)
    shape("seq_subject", (n_seq,), "U")
    shape("seq_action", (n_seq,), "U")
    if n_seq and int(lengths.min()) < 1:
        raise bad(f"'seq_length' holds {int(lengths.min())}: every sequence has at least one frame")
    n = int(lengths.sum())
    offsets, root = shape("offsets", (None, 16, 3), "i"), shape("root", (None, 3), "f")
    if len(offsets) != n or len(root) != n:
        raise bad(f"joint arrays {offsets.shape} / {root.shape} do not match the {n} frames of its sequences")
    ids = shape("cam_ids", (None,), "U")
    intrinsics = shape("cam_intrinsics", (len(ids), 12), "f")
    subjects = shape("cam_subjects", (None,), "U")
    shape("cam_extrinsics", (len(subjects), len(ids), 7), "f")
    if len(ids) and (intrinsics[:, 9:11] < 1).any():
        raise bad(f"a camera's resolution is {intrinsics[:, 9:11].min():g} pixels (cam_intrinsics columns 9-10: "
                  "width, height), expected >= 1")
    if len(ids) and (intrinsics[:, 2:4] <= 0).any():
        raise bad("a camera's focal length is <= 0 (cam_intrinsics columns 2-3)")
    unknown = sorted(set(str(s) for s in arrays["seq_subject"]) - set(str(s) for s in subjects))
    if unknown:
        raise bad(f"no cameras for subject(s) {', '.join(unknown)}")


def _cameras(arrays: Dict[str, np.ndarray], subject: str, path: Path) -> Tuple[Camera, ...]:
    subjects = [str(s) for s in arrays["cam_subjects"]]
    if subject not in subjects:
        raise DataError(f"{path} has no cameras of {subject}; rebuild the pack")
    cams = []
    for cam_id, intr, extr in zip(arrays["cam_ids"], arrays["cam_intrinsics"],
                                  arrays["cam_extrinsics"][subjects.index(subject)]):
        cams.append(Camera(id=str(cam_id), center=tuple(intr[0:2]), focal_length=tuple(intr[2:4]),
                           radial_distortion=tuple(intr[4:7]), tangential_distortion=tuple(intr[7:9]),
                           res_w=int(intr[9]), res_h=int(intr[10]), azimuth=float(intr[11]),
                           orientation=tuple(extr[:4]), translation=tuple(extr[4:])))
    return tuple(cams)


def load_pack(path: PathLike, subjects: Optional[Iterable[str]] = None) -> Human36mDataset:
    """The ``Human36mDataset`` (17 joints, world metres, cameras) of a pack written by ``build_pack``.

    Raises:
        DataError: the file is missing, not a pack, of another format version, or inconsistent.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data pack not found: {path}; build it with "
                        "`python dataset/prepare_data_h36m.py --source DIR --pack`")
    try:
        arrays = load_npz(path, allow_objects=False)
    except UnsafeFileError as exc:
        raise DataError(str(exc)) from None
    except Exception as exc:  # zip errors of a truncated or foreign file
        raise DataError(f"cannot read {path} ({type(exc).__name__}: {exc}); rebuild the pack") from exc
    fmt = str(arrays["format"]) if "format" in arrays else None
    if fmt != PACK_FORMAT:
        raise DataError(f"{path} is not a data pack of this version (format {fmt!r}, expected {PACK_FORMAT!r}); "
                        f"{REBUILD}")
    check_pack(arrays, path)
    lengths = arrays["seq_length"]
    unit = float(arrays["unit"])
    seq_subject = [str(s) for s in arrays["seq_subject"]]
    present = list(dict.fromkeys(seq_subject))
    wanted = present if subjects is None else list(subjects)
    missing = [s for s in wanted if s not in present]
    if missing:
        raise DataError(f"{path} has no 3-D data for subject(s) {', '.join(missing)} (it has {', '.join(present)})")
    positions: Dict[str, Dict[str, np.ndarray]] = {s: {} for s in wanted}
    starts = np.concatenate([[0], np.cumsum(lengths)])
    for i, (subject, action) in enumerate(zip(seq_subject, arrays["seq_action"])):
        if subject not in positions:
            continue
        sl = slice(starts[i], starts[i + 1])
        rel = np.cumsum(arrays["offsets"][sl].astype(np.int32), axis=0).astype(np.float64) * unit
        root = arrays["root"][sl]
        pos = np.empty((len(root), 17, 3), dtype=np.float32)
        pos[:, 0] = root
        pos[:, 1:] = rel + root[:, None].astype(np.float64)
        positions[subject][str(action)] = pos
    cameras = {s: _cameras(arrays, s, path) for s in wanted}
    return Human36mDataset.from_positions(path, positions, cameras)


def find_pack(root_path: PathLike, files: Iterable[PathLike] = ()) -> Optional[Path]:
    """The pack ``root_path`` stands for, or None when the npz files are to be read.

    ``root_path`` is a pack when it is a file; a folder stands for its ``data_h36m_pack.npz`` when that
    exists and one of ``files`` (the npz files a run would read) does not.
    """
    root = Path(root_path)
    if root.is_file():
        return root
    pack = root / PACK_NAME
    if pack.is_file() and not all(Path(f).is_file() for f in files):
        return pack
    return None
