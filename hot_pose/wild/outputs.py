"""The demo's output folder: it never deletes or replaces a file it did not write.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). The rule, checked before any work (``plan_outputs``) and applied at the end (``Staging``):

* An output that would be one of the run's inputs (the video, the keypoint file, a checkpoint or weights file)
  is refused, e.g. ``--output`` = the video's folder with a rendered ``<video name>.mp4``.
* Every successful run writes a manifest, ``.hot-demo-outputs.json``, into the output folder: the name, size
  and SHA-256 of each file it wrote. A file of the folder is the demo's own only while the manifest lists it
  with those exact bytes.
* An output name that exists in the folder and is not the demo's own (a user's file, or a demo file changed
  since) is refused in one line naming the file and the fix (``--output`` another folder, or move the file).
* Outputs are written into a hidden staging folder and moved into place only when everything succeeded; then
  the demo's own files of the previous run that this run did not write (e.g. an old video after
  ``--no-render``) are deleted, so the folder holds exactly the latest run's outputs, and the manifest is
  replaced. Nothing else in the folder is touched.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

from hot_pose.utils.paths import sha256_of
from hot_pose.wild.errors import DemoError

_logger = logging.getLogger(__name__)

__all__ = ["MANIFEST", "MANIFEST_FORMAT", "OutputPlan", "plan_outputs", "read_manifest", "Staging"]

#: the hidden file listing what the last run wrote into the folder
MANIFEST = ".hot-demo-outputs.json"
MANIFEST_FORMAT = "hot-demo-outputs-1"
FIX = "pass --output another folder (or move the file away)"


def _digest(path: Path) -> Dict[str, object]:
    """``{"size": bytes, "sha256": hex}`` of a regular file."""
    return {"size": path.stat().st_size, "sha256": sha256_of(path)}


def _plain_name(name: object) -> bool:
    """A file name without any folder part (a manifest must never point outside its folder)."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name \
        and "\0" not in name


def read_manifest(folder: Path) -> Dict[str, Dict[str, object]]:
    """The manifest of ``folder`` (name → size and SHA-256), ``{}`` when there is none.

    Raises:
        DemoError: a file of that name that is not a manifest of this demo (it would be replaced).
    """
    path = Path(folder) / MANIFEST
    if not (path.exists() or path.is_symlink()):
        return {}
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            raise ValueError("not a regular file")
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"] if isinstance(data, dict) and data.get("format") == MANIFEST_FORMAT else None
        if not isinstance(files, dict) or not all(_plain_name(k) and isinstance(v, dict) for k, v in files.items()):
            raise ValueError("another format")
    except (OSError, ValueError, UnicodeDecodeError):
        raise DemoError(f"output folder {folder} holds {MANIFEST}, which is not a manifest this demo wrote; it "
                        f"would be replaced: {FIX}") from None
    return files


def _owned(folder: Path, name: str, manifest: Mapping[str, Mapping[str, object]]) -> bool:
    """Whether ``folder/name`` is a regular file the manifest lists with exactly its size and SHA-256."""
    entry = manifest.get(name)
    path = folder / name
    if entry is None or not _plain_name(name):
        return False
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_size != entry.get("size"):
            return False
        return _digest(path)["sha256"] == entry.get("sha256")
    except OSError:
        return False


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (same resolved path, or the same inode through a link)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@dataclass
class OutputPlan:
    """What a run will write, checked against the folder before any work (``plan_outputs``).

    Attributes:
        folder: the output folder (may not exist yet).
        names: the file names the run writes into it.
        manifest: the folder's manifest before the run (name → size, SHA-256).
    """

    folder: Path
    names: Sequence[str]
    manifest: Dict[str, Dict[str, object]] = field(default_factory=dict)


def plan_outputs(folder: Path, names: Sequence[str], inputs: Mapping[str, Optional[Path]]) -> OutputPlan:
    """Check that writing ``names`` into ``folder`` destroys nothing the demo did not write.

    Args:
        folder: the output folder (``--output``).
        names: the files the run will write there.
        inputs: flag → input file of the run (``--video``, ``--keypoints``, ``--checkpoint`` ...; ``None`` skipped).

    Raises:
        DemoError: ``folder`` is an existing file or cannot be created there; an output would replace an input; an
            output name exists in the folder and is not the demo's own (see the module docstring). One line naming
            the file and the fix.
    """
    folder = Path(folder)
    if (folder.exists() or folder.is_symlink()) and not folder.is_dir():
        raise DemoError(f"--output {folder} is a file, not a folder; pass --output DIR (a new folder or one the "
                        "demo wrote before)")
    existing = folder
    while not (existing.exists() or existing.is_symlink()) and existing.parent != existing:
        existing = existing.parent  # the folder the run would create its output folder in
    if not existing.is_dir():
        raise DemoError(f"cannot write to output folder {folder}: {existing} is a file, not a folder; pass --output "
                        "DIR")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DemoError(f"cannot write to output folder {folder}: {existing} is not writable (read-only or no "
                        "permission); pass --output DIR")
    for flag, source in inputs.items():
        if source is None:
            continue
        source = Path(source)
        if _same_file(source, folder):
            raise DemoError(f"--output {folder} is the {flag} input itself; pass --output a folder")
        for name in list(names) + [MANIFEST]:
            if _same_file(source, folder / name):
                also = " (or --no-render)" if name.endswith(".mp4") else ""
                raise DemoError(f"the output {name} would replace the {flag} input {source}; pass --output "
                                f"another folder{also}")
    manifest: Dict[str, Dict[str, object]] = {}
    if folder.is_dir():
        manifest = read_manifest(folder)
        for name in names:
            target = folder / name
            if (target.exists() or target.is_symlink()) and not _owned(folder, name, manifest):
                what = "it is not a file" if target.is_dir() else (
                    "it changed since the demo wrote it" if name in manifest else "the demo did not write it")
                raise DemoError(f"--output {folder} already holds {name} ({what}); it would be replaced: {FIX}")
    return OutputPlan(folder, tuple(names), manifest)


class Staging:
    """A hidden folder inside the output folder; ``commit`` moves its files up, ``abort`` removes everything new.

    Args:
        plan: the checked plan (``plan_outputs``).

    Raises:
        DemoError: the output folder cannot be created or written.
    """

    def __init__(self, plan: OutputPlan) -> None:
        self.plan = plan
        self.final = plan.folder
        self.made: List[Path] = []  # the folders this run creates, innermost first
        folder = self.final
        while not (folder.exists() or folder.is_symlink()) and folder.parent != folder:
            self.made.append(folder)
            folder = folder.parent
        try:
            self.final.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=self.final))
        except OSError as exc:
            self._remove_created()
            raise DemoError(f"cannot write to output folder {self.final}: {exc.strerror or exc}; pass --output DIR"
                            ) from None

    def path(self, name: str) -> Path:
        """Where to write output ``name`` (in the staging folder)."""
        return self.tmp / name

    def commit(self) -> List[Path]:
        """Move the staged files into place, delete the demo's own files of the previous run that this run did
        not write, and write the new manifest. Returns the files written (absolute paths)."""
        written = sorted(item.name for item in self.tmp.iterdir())
        unplanned = set(written) - set(self.plan.names)
        if unplanned:  # a programming error: every output must be planned (checked against the folder)
            raise RuntimeError(f"outputs written without a plan: {', '.join(sorted(unplanned))}")
        for name in written:  # the folder may have changed during the run: the rule still holds
            target = self.final / name
            if (target.exists() or target.is_symlink()) and not _owned(self.final, name, self.plan.manifest):
                raise DemoError(f"--output {self.final} now holds {name}, which the demo did not write; it would be "
                                f"replaced: {FIX}")
        digests = {name: _digest(self.tmp / name) for name in written}
        for name in self.plan.manifest:
            if name in digests:
                continue
            if _owned(self.final, name, self.plan.manifest):
                (self.final / name).unlink()
            elif (self.final / name).exists():
                _logger.info("kept %s: it changed since the demo wrote it", self.final / name)
        files = []
        for name in written:
            os.replace(self.tmp / name, self.final / name)
            files.append(self.final / name)
        manifest = self.tmp / MANIFEST
        manifest.write_text(json.dumps({"format": MANIFEST_FORMAT, "files": digests}, indent=1), encoding="utf-8")
        os.replace(manifest, self.final / MANIFEST)
        self.tmp.rmdir()
        return files

    def abort(self) -> None:
        """Remove the staging folder (and the output folder if this run created it and it is empty)."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._remove_created()

    def _remove_created(self) -> None:
        """Remove the folders this run created, innermost first, while they are empty."""
        for folder in self.made:
            try:
                folder.rmdir()
            except OSError:
                return
