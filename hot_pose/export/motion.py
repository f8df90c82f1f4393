"""What every motion-file writer shares: the 17 input joints, the world axes and units, the input checks and the
atomic write of a file.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028) lifts 2-D keypoints to the 17 Human3.6M joints; the writers of ``hot_pose.export`` (``bvh``,
``trc``, ``c3d``) turn such a sequence placed in a world frame into files that animation and biomechanics
programs open.

* **Input of every writer:** ``joints_world`` ``(T, 17, 3)`` in **metres**, a right-handed world frame with
  **z up** (gravity along -z, the floor ideally at z = 0): the frame of Human3.6M's ``data_3d_h36m.npz`` and of
  ``hot_pose.mocap``'s output. Joint order :data:`JOINT_NAMES` (``hot_pose.data.skeleton.H36M_17_NAMES``),
  parents :data:`PARENTS` (``hot_pose.data.skeleton.h36m_skeleton``). ``fps``: a finite number > 0. ``valid``:
  optional ``(T,)`` booleans, False for frames without a pose; only those frames may hold NaN.
* **Axes per format:** BVH and TRC (OpenSim) are **y up**: the writers rotate the world by -90 degrees about x,
  ``(x, y, z) -> (x, z, -y)`` (:func:`z_up_to_y_up`; a proper rotation, handedness kept), the readers rotate
  back. C3D keeps the **z-up** world (the lab convention) and says so in its ``POINT:X_SCREEN``/``Y_SCREEN``.
* **Units:** :data:`UNIT_SCALE` (``"m"``, ``"cm"``, ``"mm"``); each writer accepts the units its format uses.
* **Checks first, then an atomic write:** bad input raises ``ValueError`` naming the problem and the fix before
  anything is written; an unwritable destination raises an ``OSError`` (``FileNotFoundError``,
  ``NotADirectoryError``, ``IsADirectoryError``, ``PermissionError`` ...) whose message names the path. The file
  is written to a temporary file beside it and renamed over it (``hot_pose.utils.outputs.StagedOutputs``): a
  failure leaves nothing, and an existing file is replaced only by a complete new one (whether to overwrite is
  the caller's decision).
"""
from __future__ import annotations

import errno
import logging
import math
import numbers
import os
import tempfile
from pathlib import Path
from typing import Callable, Optional, Tuple, Union

import numpy as np

from hot_pose.data.skeleton import H36M_17_NAMES, h36m_skeleton
from hot_pose.utils.outputs import VIRTUAL_ROOTS, StagedOutputs, WriteError

__all__ = ["NUM_JOINTS", "JOINT_NAMES", "PARENTS", "MARKER_NAMES", "Z_UP_TO_Y_UP", "UNIT_SCALE", "PathLike",
           "z_up_to_y_up", "y_up_to_z_up", "unit_scale", "check_fps", "check_joints", "fill_invalid_frames",
           "check_destination", "write_file_atomic"]

_logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

#: number of joints every writer takes (the Human3.6M 17-joint set of the models)
NUM_JOINTS = 17
#: joint names, in the models' order
JOINT_NAMES: Tuple[str, ...] = tuple(H36M_17_NAMES)
#: parent of every joint (-1 = root): pelvis root, legs, spine, thorax, head, arms hanging off the thorax
PARENTS: Tuple[int, ...] = tuple(h36m_skeleton().parents)
#: marker / point labels of TRC and C3D: the joint names with "/" written "_" ("Neck/Nose" -> "Neck_Nose"), since
#: OpenSim uses "/" as its component-path separator and refuses it in marker names
MARKER_NAMES: Tuple[str, ...] = tuple(name.replace("/", "_") for name in JOINT_NAMES)

#: rotation from the z-up world to the y-up convention of BVH and OpenSim: ``p_yup = Z_UP_TO_Y_UP @ p_zup``
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0],
                         [0.0, 0.0, 1.0],
                         [0.0, -1.0, 0.0]])

#: length units of the writers and their factor from metres
UNIT_SCALE = {"m": 1.0, "cm": 100.0, "mm": 1000.0}


def z_up_to_y_up(points: np.ndarray) -> np.ndarray:
    """Rotate z-up world points to the y-up convention of BVH and OpenSim.

    Args:
        points: ``(..., 3)`` z-up coordinates.
    Returns:
        ``(..., 3)`` float64 y-up coordinates ``(x, z, -y)``.
    """
    return np.asarray(points, dtype=np.float64) @ Z_UP_TO_Y_UP.T


def y_up_to_z_up(points: np.ndarray) -> np.ndarray:
    """Inverse of :func:`z_up_to_y_up`: ``(x, y, z)`` y up -> ``(x, -z, y)`` z up.

    Args:
        points: ``(..., 3)`` y-up coordinates.
    Returns:
        ``(..., 3)`` float64 z-up coordinates.
    """
    return np.asarray(points, dtype=np.float64) @ Z_UP_TO_Y_UP


def unit_scale(units: object, allowed: Tuple[str, ...] = ("m", "cm", "mm")) -> float:
    """Factor from metres to ``units``.

    Raises:
        ValueError: ``units`` is not one of ``allowed``.
    """
    if not isinstance(units, str) or units not in allowed:
        raise ValueError(f"units must be one of {', '.join(repr(u) for u in allowed)}, got {units!r}")
    return UNIT_SCALE[units]


def check_fps(fps: object) -> float:
    """``fps`` as a float, checked to be a finite number > 0.

    Raises:
        ValueError: not a real number (booleans and strings included), NaN/inf, or <= 0.
    """
    if isinstance(fps, (bool, np.bool_)) or not isinstance(fps, numbers.Real):
        raise ValueError(f"fps must be a finite number of frames per second > 0, got {fps!r} "
                         f"({type(fps).__name__})")
    value = float(fps)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"fps must be a finite number > 0 (e.g. 50 for Human3.6M), got {value!r}")
    return value


def check_joints(joints: object, valid: Optional[object] = None,
                 what: str = "joints_world") -> Tuple[np.ndarray, np.ndarray]:
    """Check a world-frame joint sequence and its optional per-frame validity.

    Args:
        joints: ``(T, 17, 3)`` world coordinates in metres (z up), T >= 1. Frames marked invalid may hold NaN;
            every valid frame must be finite.
        valid: optional ``(T,)`` booleans (True = the frame holds a pose; 0/1 integers accepted); ``None``: every
            frame is valid.
        what: the argument's name, for messages.
    Returns:
        ``(joints (T, 17, 3) float64 copy, valid (T,) bool)``, with at least one valid frame.
    Raises:
        ValueError: not numeric, wrong shape, no frame, a bad ``valid``, no valid frame, NaN/inf in a valid frame.
    """
    if isinstance(joints, np.ndarray) and joints.dtype.kind not in "fiu":
        raise ValueError(f"{what} must hold real numbers (metres), got dtype {joints.dtype}")
    try:
        arr = np.array(joints, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a numeric array of shape (T, {NUM_JOINTS}, 3) in metres, got "
                         f"{type(joints).__name__} ({exc})") from None
    if arr.ndim != 3 or arr.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"{what} must have shape (T, {NUM_JOINTS}, 3) (frames, Human3.6M joints, xyz), "
                         f"got shape {arr.shape}")
    num_frames = arr.shape[0]
    if num_frames < 1:
        raise ValueError(f"{what} has no frame (shape {arr.shape}); give at least one frame")
    if valid is None:
        mask = np.ones(num_frames, dtype=bool)
    else:
        flags = np.asarray(valid)
        if flags.shape != (num_frames,):
            raise ValueError(f"valid must have shape ({num_frames},) (one flag per frame of {what}), "
                             f"got shape {flags.shape}")
        if flags.dtype.kind == "b" or (flags.dtype.kind in "iu" and np.isin(flags, (0, 1)).all()):
            mask = flags.astype(bool)
        else:
            raise ValueError(f"valid must hold booleans (True = the frame holds a pose), got dtype {flags.dtype}")
    if not mask.any():
        raise ValueError(f"no valid frame in {what} ({num_frames} frames, all marked invalid); nothing to export")
    bad = mask[:, None] & ~np.isfinite(arr).all(axis=2)  # (T, 17)
    if bad.any():
        frame, joint = (int(i) for i in np.argwhere(bad)[0])
        count = int(bad.any(axis=1).sum())
        raise ValueError(f"{what} has NaN/inf at frame {frame}, joint {joint} ({JOINT_NAMES[joint]}) ({count} "
                         "frame(s) affected); mark such frames invalid with `valid` or fix the input")
    return arr, mask


def fill_invalid_frames(joints: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill invalid frames by linear interpolation of every coordinate between the nearest valid frames (held
    constant before the first and after the last valid frame).

    Args:
        joints: ``(T, J, 3)`` positions; invalid frames may hold anything (NaN included).
        valid: ``(T,)`` bool with at least one True.
    Returns:
        ``(T, J, 3)`` positions, equal to ``joints`` on the valid frames.
    """
    if valid.all():
        return joints
    frames = np.arange(joints.shape[0])
    good = np.flatnonzero(valid)
    flat = joints.reshape(joints.shape[0], -1)
    out = np.empty_like(flat)
    for col in range(flat.shape[1]):
        out[:, col] = np.interp(frames, good, flat[good, col])
    _logger.info("filled %d invalid frame(s) of %d by linear interpolation", int((~valid).sum()), joints.shape[0])
    return out.reshape(joints.shape)


def _os_error(exc: OSError, what: str, path: Path, fix: str) -> OSError:
    """An ``OSError`` of the same class and errno as ``exc`` whose message names the file and the fix."""
    reason = exc.strerror or str(exc)
    return type(exc)(exc.errno or errno.EIO, f"cannot write {what} {path}: {reason}; {fix}")


def check_destination(path: PathLike, what: str) -> Path:
    """Check that a file can be written at ``path``; nothing is left behind (the probe removes its empty file).

    Args:
        path: the destination file (it may exist: the caller decides about overwriting).
        what: what is written (``"BVH file"`` ...), for messages.
    Returns:
        ``path`` as a ``Path`` (``~`` expanded).
    Raises:
        IsADirectoryError: ``path`` is empty or a folder.
        PermissionError: ``path`` is under /proc, /sys or /dev, or its folder is not writable.
        FileNotFoundError: its folder does not exist.
        NotADirectoryError: its "folder" is a file.
        OSError: ``path`` exists and is not a regular file, or another system error; each message names the path.
    """
    text = os.fspath(path)
    if not str(text).strip():
        raise IsADirectoryError(errno.EISDIR, f"cannot write {what}: the path is empty; give a file name")
    dest = Path(text).expanduser()
    if dest.name in ("", ".", "..") or dest.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"cannot write {what} {dest}: it is a folder; give a file name "
                                "(inside it, or elsewhere)")
    absolute = dest.absolute()
    for root in VIRTUAL_ROOTS:
        if root == absolute or root in absolute.parents or root in dest.resolve().parents:
            raise PermissionError(errno.EACCES, f"cannot write {what} {dest}: {root} is a kernel filesystem, not a "
                                  "place for files; choose a path on a disk")
    if (dest.exists() or dest.is_symlink()) and not dest.is_file():
        raise OSError(errno.EEXIST, f"cannot write {what} {dest}: it exists and is not a regular file; choose "
                      "another file name")
    folder = absolute.parent
    if not folder.exists():
        raise FileNotFoundError(errno.ENOENT, f"cannot write {what} {dest}: the folder {folder} does not exist; "
                                "create it first")
    if not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"cannot write {what} {dest}: {folder} is not a folder; choose "
                                 "a path inside a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".probe", dir=folder)
    except OSError as exc:
        raise _os_error(exc, what, dest, "choose a writable folder") from None
    os.close(fd)
    os.unlink(probe)
    return dest


def write_file_atomic(path: PathLike, what: str, data: Union[str, bytes, None] = None,
                      writer: Optional[Callable[[Path], None]] = None) -> Path:
    """Write one file atomically: ``data`` (text as UTF-8), or whatever ``writer(temporary_path)`` writes.

    The destination is checked first (:func:`check_destination`); the bytes go to a temporary file beside it
    (``.<name>.<random>.tmp<suffix>``, flushed and fsynced) that is renamed over ``path`` only when complete. On
    any failure (a full disk, an exception in ``writer``, Ctrl-C) the temporary file is removed and an existing
    ``path`` keeps its content.

    Args:
        path: the destination file.
        what: what is written (``"BVH file"`` ...), for messages.
        data: the content; exactly one of ``data`` and ``writer``.
        writer: fills the temporary file (same suffix as ``path``); raise ``OSError`` on failure.
    Returns:
        the destination.
    Raises:
        OSError: see :func:`check_destination`; writing or renaming failed (same class and errno as the system's
            error, the message names the path; nothing was written).
    """
    if (data is None) == (writer is None):
        raise ValueError("give exactly one of data and writer")
    dest = check_destination(path, what)
    try:
        with StagedOutputs() as stage:
            if writer is None:
                stage.write(dest, data)  # type: ignore[arg-type]
            else:
                stage.fill(dest, writer)
    except WriteError as exc:
        cause = exc.__cause__
        err_class = type(cause) if isinstance(cause, OSError) else OSError
        code = cause.errno if isinstance(cause, OSError) and cause.errno else errno.EIO
        raise err_class(code, f"{what}: {exc}") from None
    _logger.debug("wrote %s %s", what, dest)
    return dest
