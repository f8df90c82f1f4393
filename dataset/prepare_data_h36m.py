"""Set up ``dataset/`` for Human3.6M and build the ground-truth 2-D file ``data_2d_h36m_gt.npz``.

HoT (Li et al., CVPR 2024, arXiv:2311.12028) uses Human3.6M in the VideoPose3D npz layout (Pavllo et al.,
CVPR 2019, arXiv:1811.11742). Given a folder holding ``data_3d_h36m.npz`` (and optionally 2-D detections
``data_2d_h36m_<name>.npz``), this script links those files into ``--root_path`` (symlinks: nothing is
copied) and projects the 3-D poses with the Human3.6M cameras, distortion included, into
``data_2d_h36m_gt.npz`` there, written atomically.

    python dataset/prepare_data_h36m.py --source ../shared/data/h36m        # → ./dataset/
    python dataset/prepare_data_h36m.py --root_path /data/h36m              # 3-D file already there
    python dataset/prepare_data_h36m.py --source ../shared/data/h36m --pack # + dataset/data_h36m_pack.npz

``--pack`` also writes a compact data pack (``hot_pose.data.pack``: 3-D joints in int16 0.1 mm units, root
trajectory, cameras; ~30 MiB instead of ~400 MiB) to move a ``--keypoints gt`` training set to another
machine: give it as ``--root_path`` there.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hot_pose.data.h36m import DataError, build_gt_2d  # noqa: E402
from hot_pose.data.pack import PACK_NAME, build_pack  # noqa: E402
from hot_pose.utils.console import (  # noqa: E402
    OneLineArgumentParser,  # noqa: E402
    describe_os_error,
    first_line,
    guarded,
)

_logger = logging.getLogger("prepare_data_h36m")
DEFAULT_ROOT = Path(__file__).resolve().parent


def link_sources(source: Path, root: Path) -> List[str]:
    """Symlink ``data_3d_h36m.npz`` and every ``data_2d_h36m_*.npz`` of ``source`` into ``root``.

    An existing regular file of the same name is kept; an existing symlink is replaced.
    """
    if not (source / "data_3d_h36m.npz").is_file():
        raise DataError(f"--source {source} has no data_3d_h36m.npz; see dataset/README.md for where to get it")
    root.mkdir(parents=True, exist_ok=True)
    linked = []
    for src in sorted([source / "data_3d_h36m.npz", *source.glob("data_2d_h36m_*.npz")]):
        dst = root / src.name
        if dst.resolve() == src.resolve():
            continue
        if dst.exists() and not dst.is_symlink():
            _logger.info("keeping existing %s", dst)
            continue
        if dst.is_symlink():
            dst.unlink()
        dst.symlink_to(os.path.relpath(src.resolve(), root.resolve()))  # relative: survives moving both
        linked.append(src.name)
    return linked


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=None,
                        help="folder with data_3d_h36m.npz (+ data_2d_h36m_*.npz) to link into --root_path")
    parser.add_argument("--root_path", type=Path, default=DEFAULT_ROOT,
                        help="folder the training scripts read (default: this dataset/ folder)")
    parser.add_argument("--force", action="store_true", help="rebuild data_2d_h36m_gt.npz if it exists")
    parser.add_argument("--compress", action="store_true",
                        help="write a compressed npz (smaller, slower to write and read)")
    parser.add_argument("--subjects", default=None, help="comma-separated subjects (default: all in the file)")
    parser.add_argument("--pack", nargs="?", const="", default=None, metavar="FILE",
                        help="also write the compact data pack (default FILE: --root_path/data_h36m_pack.npz); "
                        "an existing pack is rebuilt only with --force")
    parser.add_argument("--verbose", action="store_true", help="show the traceback of an unexpected error "
                        "(default: one 'error:' line)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point: 0 on success; one ``error:`` line and 2 for a missing or bad input file, 1 for
    an error writing the outputs (``--verbose`` keeps the traceback of an unexpected one)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    return guarded(lambda: _prepare(args), verbose=args.verbose)


def _prepare(args: argparse.Namespace) -> int:
    try:
        root = args.root_path
        if args.source is not None:
            for name in link_sources(args.source, root):
                _logger.info("linked %s -> %s", root / name, (args.source / name).resolve())
        path_3d, out = root / "data_3d_h36m.npz", root / "data_2d_h36m_gt.npz"
        if not path_3d.is_file():
            raise DataError(f"{path_3d} not found; pass --source DIR holding data_3d_h36m.npz (dataset/README.md)")
        subjects = [s.strip() for s in args.subjects.split(",")] if args.subjects else None
        if out.exists() and not args.force:
            _logger.info("%s exists (use --force to rebuild)", out)
        else:
            start = time.time()
            counts = build_gt_2d(path_3d, out, subjects=subjects, compress=args.compress)
            _logger.info("built %s in %.1f s; frames per camera: %s", out, time.time() - start,
                         ", ".join(f"{s} {n}" for s, n in counts.items()))
        if args.pack is not None:
            pack = Path(args.pack) if args.pack else root / PACK_NAME
            if pack.exists() and not args.force:
                _logger.info("%s exists (use --force to rebuild)", pack)
            else:
                start = time.time()
                build_pack(path_3d, pack, subjects=subjects)
                _logger.info("built %s (%.1f MiB) in %.1f s; use it as --root_path %s --keypoints gt", pack,
                             pack.stat().st_size / 2**20, time.time() - start, pack)
    except DataError as exc:
        print(f"error: {first_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
