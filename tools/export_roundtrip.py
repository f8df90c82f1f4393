"""Round trips of the motion files on Human3.6M: every sequence written as BVH, TRC and C3D, read back, compared.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). The writers of ``hot_pose.export`` (``docs/export_formats.md``) take the 17 world joints in
metres, z up; Human3.6M's motion capture (``data_3d_h36m.npz``, 50 Hz, through ``hot_pose.data.h36m``) is that
kind of input. For every sequence (every ``--stride``-th frame) the tool writes BVH (cm, ZXY), TRC (mm) and C3D (mm,
through ezc3d) into a temporary folder, reads each back with the package's readers, and measures per-joint
Euclidean errors in mm:

* ``bvh_fk``: forward kinematics of the BVH against the constant-bone-length joints ``write_bvh`` returned (what
  the file encodes: text precision);
* ``bvh_bone_lengths``: those joints against the mocap joints (what constant bone lengths change);
* ``bvh_vs_input``: forward kinematics against the mocap joints (both together);
* ``trc``, ``c3d``: the markers / points read back against the mocap joints (text decimals; C3D's float32).

Writes ``<out-dir>/<name>.json`` (per format and per sequence) and ``.md`` (the table), default
``benchmarks/export_roundtrip.{json,md}``; both checked before the work and written atomically together.

    python -m tools.export_roundtrip                                  # all 7 subjects, every frame (~3-4 min)
    python -m tools.export_roundtrip --stride 10 --subjects S9,S11 --out-dir /tmp/rt
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from hot_pose.utils.console import OneLineArgumentParser, fail, guarded, int_at_least, plain_name
from hot_pose.utils.outputs import OutputError, StagedOutputs, WriteError, check_outputs_in

_logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "h36m" / "data_3d_h36m.npz"

#: measured quantities: key -> (format, units written, what is compared)
METRICS: Dict[str, Tuple[str, str, str]] = {
    "bvh_fk": ("BVH", "cm, ZXY, y up", "forward kinematics vs the constant-bone-length joints write_bvh returns"),
    "bvh_bone_lengths": ("BVH", "cm, ZXY, y up", "constant-bone-length joints vs the mocap joints"),
    "bvh_vs_input": ("BVH", "cm, ZXY, y up", "forward kinematics vs the mocap joints"),
    "trc": ("TRC", "mm, y up", "read_trc markers (back to z-up metres) vs the mocap joints"),
    "c3d": ("C3D", "mm, z up, float32", "read_c3d points vs the mocap joints"),
}


class _Errors:
    """Running max / mean of per-joint errors (mm) over sequences, and the worst sequence."""

    def __init__(self) -> None:
        self.max_mm, self.sum_mm, self.count, self.worst = 0.0, 0.0, 0, ""

    def add(self, err_m: np.ndarray, sequence: str) -> Tuple[float, float]:
        err = 1000.0 * err_m
        worst, mean = float(err.max()), float(err.mean())
        if worst >= self.max_mm:
            self.max_mm, self.worst = worst, sequence
        self.sum_mm += float(err.sum())
        self.count += err.size
        return worst, mean

    def summary(self) -> Dict[str, Any]:
        return dict(max_mm=self.max_mm, mean_mm=self.sum_mm / max(self.count, 1), worst_sequence=self.worst)


def _timed(clock: Dict[str, float], key: str, call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)``, its wall time added to ``clock[key]``."""
    start = time.perf_counter()
    out = call(*args)
    clock[key] = clock.get(key, 0.0) + time.perf_counter() - start
    return out


def measure(data_path: Path, stride: int = 1, subjects: Optional[Sequence[str]] = None,
            actions: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Write, read back and compare every selected sequence.

    Args:
        data_path: ``data_3d_h36m.npz``.
        stride: use every ``stride``-th frame (the frame rate written is 50 / stride).
        subjects: subjects to use (default all in the file).
        actions: action names to keep (default all).
    Returns:
        the report (``formats``: one row per metric; ``sequences``: per-sequence max/mean; ``frames``, ...).
    Raises:
        DataError: the data file is missing or malformed.
        ValueError: no sequence matches ``actions``.
    """
    from hot_pose.data.h36m import FPS, Human36mDataset
    from hot_pose.export.bvh import read_bvh_joints, write_bvh
    from hot_pose.export.c3d import read_c3d, write_c3d
    from hot_pose.export.trc import read_trc, write_trc

    data = Human36mDataset(data_path, subjects=subjects)
    fps = FPS / stride
    errors = {key: _Errors() for key in METRICS}
    clock: Dict[str, float] = {}
    sizes = {"BVH": 0, "TRC": 0, "C3D": 0}
    rows: List[Dict[str, Any]] = []
    frames = 0
    with tempfile.TemporaryDirectory(prefix="hot_export_roundtrip_") as tmp:
        paths = {fmt: Path(tmp) / f"motion.{fmt.lower()}" for fmt in sizes}
        for subject in data.subjects():
            for action, positions in data[subject].items():
                if actions is not None and action not in actions:
                    continue
                joints = positions[::stride].astype(np.float64)
                name = f"{subject}/{action}"
                exported = _timed(clock, "BVH write", write_bvh, paths["BVH"], joints, fps)
                back, _ = _timed(clock, "BVH read", read_bvh_joints, paths["BVH"])
                _timed(clock, "TRC write", write_trc, paths["TRC"], joints, fps)
                trc = _timed(clock, "TRC read", read_trc, paths["TRC"]).world_joints()
                _timed(clock, "C3D write", write_c3d, paths["C3D"], joints, fps)
                c3d = _timed(clock, "C3D read", read_c3d, paths["C3D"]).world_joints()
                for fmt, path in paths.items():
                    sizes[fmt] += path.stat().st_size
                pairs = {"bvh_fk": (back, exported), "bvh_bone_lengths": (exported, joints),
                         "bvh_vs_input": (back, joints), "trc": (trc, joints), "c3d": (c3d, joints)}
                row: Dict[str, Any] = dict(sequence=name, frames=len(joints))
                for key, (a, b) in pairs.items():
                    worst, mean = errors[key].add(np.linalg.norm(a - b, axis=-1), name)
                    row[key] = dict(max_mm=float(f"{worst:.3g}"), mean_mm=float(f"{mean:.3g}"))
                rows.append(row)
                frames += len(joints)
                _logger.info("%-22s %5d frames  BVH FK %.1e mm  bone lengths %.2f mm  TRC %.1e mm  C3D %.1e mm", name,
                             len(joints), row["bvh_fk"]["max_mm"], row["bvh_bone_lengths"]["max_mm"],
                             row["trc"]["max_mm"], row["c3d"]["max_mm"])
    if not rows:
        raise ValueError(f"no sequence of {data_path} matches --actions {','.join(actions or [])}; "
                         "give action names as in the file (e.g. Walking,Greeting)")
    formats = []
    for key, (fmt, units, compared) in METRICS.items():
        formats.append(dict(metric=key, format=fmt, units=units, compared=compared, **errors[key].summary(),
                            bytes_per_frame=sizes[fmt] / frames,
                            write_s=clock[f"{fmt} write"], read_s=clock[f"{fmt} read"]))
    return dict(formats=formats, sequences=rows, frames=frames, num_sequences=len(rows), fps=fps, stride=stride)


def markdown(report: Dict[str, Any]) -> str:
    """The summary table (one row per metric) with the settings."""
    env = report["environment"]
    lines = [f"Round trips of `hot_pose.export` on Human3.6M world 3-D (`{Path(report['data']).name}`): "
             f"{report['num_sequences']} sequences, {report['frames']:,} frames (stride {report['stride']}, written at "
             f"{report['fps']:g} fps). Per-joint Euclidean errors in mm, over every frame and joint. "
             f"Measured {report['created'][:10]} on {env['cpu']} (numpy {env['numpy']}, ezc3d {env['ezc3d']}, "
             f"Python {env['python']}) in {report['wall_s']:.0f} s. Command: `{report['command']}`.", "",
             "| format | units, axes | compared | max (mm) | mean (mm) | worst sequence | bytes/frame | write s "
             "| read s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report["formats"]:
        lines.append(f"| {r['format']} | {r['units']} | {r['compared']} | {r['max_mm']:.2g} | {r['mean_mm']:.2g} | "
                     f"{r['worst_sequence']} | {r['bytes_per_frame']:.0f} | {r['write_s']:.1f} | {r['read_s']:.1f} |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m tools.export_roundtrip`` argument parser."""
    p = OneLineArgumentParser(prog="python -m tools.export_roundtrip", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="Human3.6M data_3d_h36m.npz (default ../shared/data/h36m/data_3d_h36m.npz beside the checkout)")
    p.add_argument("--stride", type=int_at_least(1), default=1,
                   help="use every N-th frame of each sequence (default 1: every frame)")
    p.add_argument("--subjects", default="", help="comma-separated subjects, e.g. S9,S11 (default all)")
    p.add_argument("--actions", default="",
                   help="comma-separated action names as in the file, e.g. 'Walking,Walking 1' (default all)")
    p.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks",
                   help="where to write the results (default benchmarks/, regenerated in place); checked first")
    p.add_argument("--name", type=plain_name, default="export_roundtrip",
                   help="file stem of the results: <out-dir>/<name>.json/.md (default export_roundtrip)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing <name>.json/.md in an --out-dir other than the project's benchmarks/")
    p.add_argument("-v", "--verbose", action="store_true", help="the traceback of an unexpected error")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status (0 done, 2 bad flags, data or destination, 1 failed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("hot_pose.export").setLevel(logging.WARNING)  # one line per sequence is enough
    return guarded(lambda: _main(args, argv), verbose=args.verbose)


def _main(args: argparse.Namespace, argv: List[str]) -> int:
    from hot_pose.data.h36m import DataError
    from hot_pose.utils.system import cpu_name

    try:
        json_path, md_path = check_outputs_in(args.out_dir, [f"{args.name}.json", f"{args.name}.md"], "--out-dir",
                                              args.overwrite, hint="choose another --name or --out-dir")
        import ezc3d  # noqa: F401 - C3D is measured too: say so before the work
    except OutputError as exc:
        return fail(exc, 2)
    except ImportError:
        return fail("C3D files need ezc3d: pip install ezc3d==1.7.2", 2)
    subjects = [s.strip() for s in args.subjects.split(",") if s.strip()] or None
    actions = [a.strip() for a in args.actions.split(",") if a.strip()] or None
    started = time.perf_counter()
    try:
        report = measure(args.data, args.stride, subjects, actions)
    except (DataError, ValueError) as exc:
        return fail(exc, 2)
    from importlib.metadata import version

    report = dict(
        tool="tools.export_roundtrip",
        paper="Li et al., Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation, CVPR 2024, "
              "arXiv:2311.12028",
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        command=" ".join(["python -m tools.export_roundtrip", *argv]),
        data=str(args.data), wall_s=round(time.perf_counter() - started, 1),
        environment=dict(cpu=cpu_name(), cores=os.cpu_count(), python=platform.python_version(),
                         numpy=np.__version__, ezc3d=version("ezc3d")),
        **report)
    text = markdown(report)
    try:
        with StagedOutputs() as stage:
            stage.write(json_path, json.dumps(report, indent=1) + "\n")
            stage.write(md_path, text)
    except WriteError as exc:
        return fail(exc, 1)
    sys.stdout.write(text)
    _logger.info("wrote %s and %s", json_path, md_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
