"""C3D files of the 17 world joints through ezc3d (pyomeca's maintained C3D library): writer and reader.

Part of ``hot_pose.export`` (HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose
Estimation", CVPR 2024, arXiv:2311.12028). C3D (www.c3d.org) is the binary format of biomechanics and motion-capture
labs (Vicon, Qualisys, Visual3D, Mokka, OpenSim's C3DFileAdapter). The bytes are written by ezc3d (Michaud &
Begon, JOSS 2021; pinned ``ezc3d==1.7.2`` in requirements.txt, the ``mocap`` extra of pyproject.toml), never by
hand; ezc3d is imported only when a C3D function is called.

Conventions of the written file
-------------------------------
* **Axes:** the z-up input world unchanged (C3D has no fixed up axis; labs and Human3.6M use z up), stated as
  ``POINT:X_SCREEN = "+X"`` and ``POINT:Y_SCREEN = "+Z"`` (viewers show +z as screen-up).
* **Units:** ``"mm"`` (default, the C3D norm) or ``"m"``, in ``POINT:UNITS``. Points are stored as float32
  (``POINT:SCALE`` = -1): about 1e-7 relative precision (1.4e-4 mm at 3 m).
* **Points:** one per joint, ``POINT:LABELS`` = :data:`~hot_pose.export.motion.MARKER_NAMES`,
  ``POINT:DESCRIPTIONS`` = the joint names, ``POINT:RATE`` = fps, first frame 1. The points of invalid frames
  have residual -1 (C3D's flag for a missing point), which ezc3d reads back as NaN.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np

from hot_pose.export.motion import (
    JOINT_NAMES,
    MARKER_NAMES,
    NUM_JOINTS,
    PathLike,
    check_fps,
    check_joints,
    unit_scale,
    write_file_atomic,
)

__all__ = ["EZC3D_VERSION", "C3dData", "write_c3d", "read_c3d"]

_logger = logging.getLogger(__name__)

#: the ezc3d release this module is tested with
EZC3D_VERSION = "1.7.2"


def _ezc3d():  # type: ignore[no-untyped-def]
    """The ezc3d module, imported on first use (C3D is optional)."""
    try:
        import ezc3d  # noqa: PLC0415 - optional dependency, imported on use
    except ImportError:
        raise ImportError(f"C3D files need ezc3d: pip install ezc3d=={EZC3D_VERSION}") from None
    return ezc3d


def _check_labels(labels: Sequence[str]) -> Tuple[str, ...]:
    names = tuple(labels)
    if len(names) != NUM_JOINTS or not all(isinstance(n, str) and n.strip() for n in names):
        raise ValueError(f"labels must be {NUM_JOINTS} non-empty strings (one per joint), got {len(names)} item(s)")
    if len(set(names)) != NUM_JOINTS:
        raise ValueError("labels must be unique")
    return names


def write_c3d(path: PathLike, joints_world: np.ndarray, fps: float, units: str = "mm", *,
              valid: Optional[np.ndarray] = None, labels: Sequence[str] = MARKER_NAMES) -> None:
    """Write the 17 world joints as C3D 3-D points (z up; conventions: the module doc).

    Args:
        path: the ``.c3d`` file, written atomically (an existing file is replaced only by a complete new one).
        joints_world: ``(T, 17, 3)`` world positions, metres, z up; invalid frames may hold NaN.
        fps: frames per second (finite, > 0), ``POINT:RATE``.
        units: ``"mm"`` (default) or ``"m"``, ``POINT:UNITS``.
        valid: optional ``(T,)`` bool; the points of invalid frames are flagged missing (residual -1).
        labels: 17 point labels (default :data:`~hot_pose.export.motion.MARKER_NAMES`).
    Raises:
        ValueError: bad joints, fps, units, valid or labels (before anything is written).
        ImportError: ezc3d is not installed (one line naming ``pip install ezc3d==1.7.2``).
        OSError: the file cannot be written (the message names the path; nothing is left).
    """
    arr, mask = check_joints(joints_world, valid)
    rate = check_fps(fps)
    scale = unit_scale(units, ("mm", "m"))
    names = _check_labels(labels)
    ezc3d = _ezc3d()

    num_frames = arr.shape[0]
    points = np.ones((4, NUM_JOINTS, num_frames))
    points[:3] = np.where(mask[:, None, None], arr * scale, np.nan).transpose(2, 1, 0)
    residuals = np.where(mask[None, None, :], 0.0, -1.0) * np.ones((1, NUM_JOINTS, 1))
    c3d = ezc3d.c3d()
    c3d["parameters"]["POINT"]["RATE"]["value"] = np.array([rate])
    c3d["parameters"]["POINT"]["LABELS"]["value"] = names
    c3d["parameters"]["POINT"]["DESCRIPTIONS"]["value"] = JOINT_NAMES
    c3d["parameters"]["POINT"]["UNITS"]["value"] = [units]
    c3d["data"]["points"] = points
    c3d["data"]["meta_points"] = {"residuals": residuals,
                                  "camera_masks": np.zeros((7, NUM_JOINTS, num_frames), dtype=bool)}
    c3d.add_parameter("POINT", "X_SCREEN", "+X")
    c3d.add_parameter("POINT", "Y_SCREEN", "+Z")

    def write(tmp: Path) -> None:
        # ezc3d appends ".c3d" to a name that does not end with it: write there, then move onto ``tmp``
        target = tmp if tmp.name.endswith(".c3d") else tmp.with_name(tmp.name + ".c3d")
        try:
            c3d.write(str(target))
            if target != tmp:
                os.replace(target, tmp)
        except RuntimeError as exc:  # ezc3d reports I/O failures as RuntimeError
            raise OSError(f"ezc3d failed to write {tmp} ({exc})") from None
        finally:
            if target != tmp and target.exists():
                target.unlink()

    dest = write_file_atomic(path, "C3D file", writer=write)
    _logger.info("wrote %s (%d points, %d frames, %g Hz, %s, z up; %d invalid frame(s) flagged)", dest,
                 NUM_JOINTS, num_frames, rate, units, int((~mask).sum()))


@dataclass(frozen=True)
class C3dData:
    """3-D points of a C3D file.

    Attributes:
        labels: N point labels.
        rate: point rate in Hz.
        units: ``POINT:UNITS`` (e.g. ``"mm"``).
        points: ``(T, N, 3)`` float64 in the file's frame and units; NaN where the point is missing.
        residuals: ``(T, N)`` float64; -1 marks a missing point.
    """
    labels: Tuple[str, ...]
    rate: float
    units: str
    points: np.ndarray
    residuals: np.ndarray

    def world_joints(self) -> np.ndarray:
        """``(T, N, 3)`` points in metres (the file's own axes: z up for files of :func:`write_c3d`), NaN where
        missing.

        Raises:
            ValueError: the units are not m, cm or mm.
        """
        return self.points / unit_scale(self.units.strip())


def read_c3d(path: PathLike) -> C3dData:
    """Read the 3-D points of a C3D file with ezc3d.

    Args:
        path: the ``.c3d`` file.
    Returns:
        :class:`C3dData`.
    Raises:
        FileNotFoundError: no such file.
        ValueError: ezc3d cannot parse it.
        ImportError: ezc3d is not installed.
    """
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise FileNotFoundError(f"no C3D file at {name}")
    ezc3d = _ezc3d()
    try:
        c3d = ezc3d.c3d(name)
    except (RuntimeError, IndexError, ValueError, OSError) as exc:
        raise ValueError(f"{name}: not a readable C3D file ({exc})") from None
    point = c3d["parameters"]["POINT"]
    points = np.asarray(c3d["data"]["points"], dtype=np.float64)[:3].transpose(2, 1, 0)
    residuals = np.asarray(c3d["data"]["meta_points"]["residuals"], dtype=np.float64)[0].T
    units = point["UNITS"]["value"][0] if len(point["UNITS"]["value"]) else ""
    return C3dData(tuple(str(s) for s in point["LABELS"]["value"]), float(point["RATE"]["value"][0]),
                   str(units).strip(), points, residuals)
