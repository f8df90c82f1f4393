"""Where things live: the package's own data, the user's cache, and (only when running from a source checkout)
the checkout's folders.

Part of a re-implementation of HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose
Estimation", CVPR 2024, arXiv:2311.12028). The package never writes into itself: the shipped checkpoints are read
from ``SHIPPED`` (package data, installed with the wheel), downloads go to the user cache, and outputs go where
the user says (or to a default outside the package).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional

__all__ = ["PACKAGE", "SHIPPED", "CHECKOUT", "BENCHMARKS", "cache_dir", "default_output_root", "shipped_names",
           "sha256_of"]

#: the installed (or checked-out) ``hot_pose`` folder
PACKAGE = Path(__file__).resolve().parents[1]
#: the shipped checkpoints (package data): ``SHIPPED / <name> / best.pth``
SHIPPED = PACKAGE / "checkpoints"


def _checkout() -> Optional[Path]:
    """The source checkout holding this package (its pyproject.toml names hot-pose), or None when installed."""
    root = PACKAGE.parent
    project = root / "pyproject.toml"
    try:
        return root if project.is_file() and 'name = "hot-pose"' in project.read_text(encoding="utf-8") else None
    except OSError:
        return None


#: the source checkout (``None`` for an installed package)
CHECKOUT: Optional[Path] = _checkout()
#: the checkout's tracked benchmark tables, which the tools regenerate in place (``None`` when installed)
BENCHMARKS: Optional[Path] = CHECKOUT / "benchmarks" if CHECKOUT is not None else None


def cache_dir() -> Path:
    """The user cache (downloads, detector weights): ``$HOT_CACHE_DIR``, ``$XDG_CACHE_HOME/hot-pose`` or
    ``~/.cache/hot-pose``."""
    if os.environ.get("HOT_CACHE_DIR"):
        return Path(os.environ["HOT_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "hot-pose"


def default_output_root() -> Path:
    """Where the demo writes ``<video name>/`` without ``--output``: the checkout's ``demo/output`` (git-ignored)
    when running from a checkout, else ``./hot_pose_output`` in the current folder."""
    return CHECKOUT / "demo" / "output" if CHECKOUT is not None else Path.cwd() / "hot_pose_output"


def shipped_names() -> list:
    """Names of the shipped checkpoints (folders of ``SHIPPED`` with a ``best.pth``)."""
    return sorted(p.name for p in SHIPPED.iterdir() if (p / "best.pth").is_file()) if SHIPPED.is_dir() else []


def sha256_of(path: "os.PathLike[str] | str") -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (downloads, checkpoints, the demo's output manifest)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
