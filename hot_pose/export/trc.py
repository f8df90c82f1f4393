"""TRC marker files (OpenSim's motion-capture marker format) of the 17 world joints: writer and plain reader.

Part of ``hot_pose.export`` (HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose
Estimation", CVPR 2024, arXiv:2311.12028): the 17 lifted joints (``hot_pose.export.motion``: metres, z up) become
17 virtual markers for OpenSim's scaling and inverse-kinematics tools (Delp et al., IEEE TBME 2007; Seth et al.,
PLoS Comput Biol 2018) or any TRC reader. The layout is the one OpenSim's own ``TRCFileAdapter`` writes.

Conventions of the written file
-------------------------------
* **Axes:** OpenSim is **y up** (gravity along -y). The z-up input world is rotated by -90 degrees about x,
  ``(x, y, z) -> (x, z, -y)``; :meth:`TrcData.world_joints` rotates back. The walking direction is unchanged
  (OpenSim models face +x: rotate the model or the data in OpenSim if needed).
* **Units:** ``"mm"`` (default, as most lab TRC files) or ``"m"``, declared in the ``Units`` header field.
* **Layout:** tab-separated. Line 1 ``PathFileType 4 (X/Y/Z) <file name>``; line 2 the header names ``DataRate
  CameraRate NumFrames NumMarkers Units OrigDataRate OrigDataStartFrame OrigNumFrames``; line 3 their values
  (every rate = fps, start frame 1); line 4 ``Frame#``, ``Time`` and the marker names (each followed by two
  empty cells); line 5 ``X1 Y1 Z1 X2 ...``; an empty line; then one line per frame: the frame number (from 1),
  the time in seconds (frame index / fps, 6 decimals) and X Y Z of every marker (5 decimals in mm, 8 in m).
  Markers of invalid frames are written ``NaN``: OpenSim 4.6 reads that as missing, whereas it rejects a line
  whose trailing cells are empty ("Unexpected number of columns").
* **Marker names:** :data:`~hot_pose.export.motion.MARKER_NAMES`, the joint names with "Neck/Nose" written
  "Neck_Nose" (OpenSim forbids "/" in names).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from hot_pose.export.motion import (
    MARKER_NAMES,
    NUM_JOINTS,
    PathLike,
    check_fps,
    check_joints,
    unit_scale,
    write_file_atomic,
    y_up_to_z_up,
    z_up_to_y_up,
)

__all__ = ["TRC_HEADER_FIELDS", "TrcData", "write_trc", "read_trc"]

_logger = logging.getLogger(__name__)

#: the header fields of line 2, in order
TRC_HEADER_FIELDS: Tuple[str, ...] = ("DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units",
                                      "OrigDataRate", "OrigDataStartFrame", "OrigNumFrames")


def _check_names(marker_names: Sequence[str]) -> Tuple[str, ...]:
    names = tuple(marker_names)
    if len(names) != NUM_JOINTS or not all(isinstance(n, str) for n in names):
        raise ValueError(f"marker_names must be {NUM_JOINTS} strings (one per joint), got {len(names)} item(s)")
    for name in names:
        if not name or any(ch.isspace() for ch in name):
            raise ValueError(f"marker name {name!r} must be non-empty without spaces or tabs")
    if len(set(names)) != len(names):
        raise ValueError("marker_names must be unique")
    return names


def write_trc(path: PathLike, joints_world: np.ndarray, fps: float, units: str = "mm", *,
              valid: Optional[np.ndarray] = None, marker_names: Sequence[str] = MARKER_NAMES) -> None:
    """Write the 17 world joints as an OpenSim TRC marker file (y up; conventions: the module doc).

    Args:
        path: the ``.trc`` file, written atomically (an existing file is replaced only by a complete new one).
        joints_world: ``(T, 17, 3)`` world positions, metres, z up; invalid frames may hold NaN.
        fps: frames per second (finite, > 0): DataRate, CameraRate and OrigDataRate.
        units: ``"mm"`` (default) or ``"m"``.
        valid: optional ``(T,)`` bool; the markers of invalid frames are written ``NaN`` (missing).
        marker_names: 17 names without whitespace (default :data:`~hot_pose.export.motion.MARKER_NAMES`).
    Raises:
        ValueError: bad joints, fps, units, valid or names (before anything is written).
        OSError: the file cannot be written (the message names the path; nothing is left).
    """
    arr, mask = check_joints(joints_world, valid)
    rate = check_fps(fps)
    scale = unit_scale(units, ("mm", "m"))
    names = _check_names(marker_names)
    num_frames = arr.shape[0]
    points = z_up_to_y_up(np.where(mask[:, None, None], arr, 0.0)) * scale  # (T, 17, 3)
    decimals = 5 if units == "mm" else 8
    lines = [
        "\t".join(("PathFileType", "4", "(X/Y/Z)", Path(os.fspath(path)).name)),
        "\t".join(TRC_HEADER_FIELDS),
        "\t".join((f"{rate:.10g}", f"{rate:.10g}", str(num_frames), str(NUM_JOINTS), units, f"{rate:.10g}", "1",
                   str(num_frames))),
        "\t".join(["Frame#", "Time"] + [f"{n}\t\t" for n in names]).rstrip("\t"),
        "\t".join(["", ""] + [f"X{i}\tY{i}\tZ{i}" for i in range(1, NUM_JOINTS + 1)]),
        "",
    ]
    row_fmt = "\t".join([f"%.{decimals}f"] * (3 * NUM_JOINTS))
    missing = "\t".join(["NaN"] * (3 * NUM_JOINTS))
    for t in range(num_frames):
        values = row_fmt % tuple(points[t].ravel() + 0.0) if mask[t] else missing
        lines.append(f"{t + 1}\t{t / rate:.6f}\t{values}")
    dest = write_file_atomic(path, "TRC file", "\n".join(lines) + "\n")
    _logger.info("wrote %s (%d markers, %d frames, %g Hz, %s, y up; %d invalid frame(s) written NaN)", dest,
                 NUM_JOINTS, num_frames, rate, units, int((~mask).sum()))


@dataclass(frozen=True)
class TrcData:
    """A parsed TRC file.

    Attributes:
        header: line-2 field -> line-3 value (strings), e.g. ``{"DataRate": "50", "Units": "mm", ...}``.
        marker_names: M names.
        frame_numbers: ``(T,)`` int, the Frame# column.
        times: ``(T,)`` seconds.
        markers: ``(T, M, 3)`` float64 in the file's frame (y up) and units; NaN where missing (NaN or empty cell).
    """
    header: Dict[str, str]
    marker_names: Tuple[str, ...]
    frame_numbers: np.ndarray
    times: np.ndarray
    markers: np.ndarray

    @property
    def data_rate(self) -> float:
        """DataRate in Hz."""
        return float(self.header["DataRate"])

    @property
    def units(self) -> str:
        """Declared units (``"mm"`` or ``"m"``...)."""
        return self.header["Units"]

    def world_joints(self) -> np.ndarray:
        """``(T, M, 3)`` markers in the z-up world frame in metres (NaN for missing ones).

        Raises:
            ValueError: the declared units are not m, cm or mm.
        """
        return y_up_to_z_up(self.markers / unit_scale(self.units))


def read_trc(path: PathLike) -> TrcData:
    """Parse a TRC marker file (tab-separated, the layout of :func:`write_trc` and OpenSim).

    Args:
        path: the ``.trc`` file.
    Returns:
        :class:`TrcData`.
    Raises:
        ValueError: not a TRC file, or its header and data disagree (the message names the file and line).
        OSError: the file cannot be read.
    """
    name = os.fspath(path)
    with open(path, "r", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise ValueError(f"{name}: not a TRC file (line 1 must start with PathFileType)")
    keys = lines[1].strip().split("\t")
    values = lines[2].strip().split("\t")
    if len(keys) != len(values) or "NumMarkers" not in keys or "DataRate" not in keys or "Units" not in keys:
        raise ValueError(f"{name}: TRC header lines 2-3 must give DataRate, NumMarkers, Units... "
                         f"with one value each, got {keys} / {values}")
    header = dict(zip(keys, values, strict=True))
    try:
        num_markers = int(header["NumMarkers"])
        num_frames = int(header["NumFrames"]) if "NumFrames" in header else None
    except ValueError:
        raise ValueError(f"{name}: NumMarkers/NumFrames must be integers, got {header}") from None
    label_cells = lines[3].split("\t")
    if label_cells[:2] != ["Frame#", "Time"]:
        raise ValueError(f"{name}: line 4 must start with Frame# and Time, got {label_cells[:2]}")
    marker_names = tuple(c.strip() for c in label_cells[2:] if c.strip())
    if len(marker_names) != num_markers:
        raise ValueError(f"{name}: header says {num_markers} markers, line 4 names {len(marker_names)}")
    rows = [ln for ln in lines[5:] if ln.strip()]
    frames = np.empty(len(rows), dtype=np.int64)
    times = np.empty(len(rows))
    markers = np.full((len(rows), num_markers, 3), np.nan)
    for i, row in enumerate(rows):
        cells = row.split("\t")
        if len(cells) > 2 + 3 * num_markers or len(cells) < 2:
            raise ValueError(f"{name}: data line {i + 7} has {len(cells)} cells, expected at most "
                             f"{2 + 3 * num_markers}")
        try:
            frames[i] = int(cells[0])
            times[i] = float(cells[1])
            vals = [float(c) if c.strip() else np.nan for c in cells[2:]]
        except ValueError:
            raise ValueError(f"{name}: data line {i + 7} holds a value that is not a number") from None
        vals += [np.nan] * (3 * num_markers - len(vals))
        markers[i] = np.asarray(vals).reshape(num_markers, 3)
    if num_frames is not None and num_frames != len(rows):
        raise ValueError(f"{name}: header says {num_frames} frames, the file holds {len(rows)} data lines "
                         "(truncated file?)")
    return TrcData(header, marker_names, frames, times, markers)
