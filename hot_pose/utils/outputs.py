"""Output files of the tools: checked before the work starts, written atomically, nothing left when a run fails.

Part of a re-implementation of HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose
Estimation", CVPR 2024, arXiv:2311.12028). Every tool that writes files (``hot_pose.cli.export_onnx``, ``hot_pose.cli.bench``,
``hot-profile --json``, the report tools ...) follows the same rules:

* the destinations are checked **before** the long work (a benchmark, an export, an evaluation): not under
  ``/proc``, ``/sys`` or ``/dev``; not a folder; the folder it goes into is a folder and writable (probed by creating
  and removing an empty temporary file in the nearest existing folder; missing folders are created only when the
  results are written); an existing file is refused unless ``--overwrite``, except the tracked tables a tool
  regenerates in the project's own ``benchmarks/`` folder (git keeps their previous versions);
* the results are written to temporary files beside their destinations (``.<name>.<random>.tmp<suffix>``), flushed
  and fsynced, and renamed over the destinations (``os.replace``) only when every file of the run was written (and
  verified, for an ONNX export); on any failure the temporary files and the folders created for them are removed,
  so a destination either keeps its previous content or gets the complete new one.

Errors: ``OutputError`` (a destination refused before the work; exit status 2) and ``WriteError`` (writing failed,
e.g. a full disk; exit status 1); both carry one line naming the file, the reason and what to do.
"""
from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, List, Mapping, Optional, Tuple, Union

from hot_pose.utils.paths import BENCHMARKS

__all__ = ["OutputError", "WriteError", "TRACKED_DIR", "VIRTUAL_ROOTS", "in_tracked_dir", "check_output_file",
           "check_output_dir", "check_outputs_in", "StagedOutputs", "atomic_write", "describe_write_error",
           "write_json_and_markdown"]

PathLike = Union[str, Path]

#: the project's tracked benchmark tables: tools regenerate their own outputs there without ``--overwrite``
TRACKED_DIR = BENCHMARKS
#: kernel filesystems: never a place for a tool's files (replacing a /dev node would even destroy it)
VIRTUAL_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))


class OutputError(ValueError):
    """An output destination refused before the work starts; the message names the path, the reason and the fix."""


class WriteError(RuntimeError):
    """Writing the outputs failed (disk full, permissions changed ...); nothing was left at the destinations."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def in_tracked_dir(path: PathLike) -> bool:
    """Whether ``path`` lies in the project's ``benchmarks/`` folder (tracked outputs a tool may regenerate)."""
    return TRACKED_DIR is not None and _under(Path(path).expanduser().resolve(), TRACKED_DIR.resolve())


def _virtual_root(path: Path) -> Optional[Path]:
    """The kernel filesystem ``path`` lies under (symlinks followed), or None."""
    resolved = path.expanduser().resolve()
    for root in VIRTUAL_ROOTS:
        if _under(resolved, root) or _under(path.expanduser().absolute(), root):
            return root
    return None


def _nearest_existing(path: Path) -> Path:
    """``path`` itself or its nearest existing ancestor (the folder new folders would be created in)."""
    current = path.expanduser().absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def _probe_writable(folder: Path) -> Optional[str]:
    """Why no file can be created in ``folder`` (the system's words), or None when one can (checked by creating and
    removing an empty temporary file: permissions, read-only mounts and ACLs all show)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".hot-write-check.", suffix=".tmp", dir=folder)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    try:
        os.unlink(tmp)
    except OSError:
        pass
    return None


def _check_parent(path: Path, flag: str, what: str) -> None:
    """The folder ``path`` goes into is (or can be created as) a writable folder."""
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise OutputError(f"{flag} {path}: {base} is a file, not a folder; choose another {what}")
    problem = _probe_writable(base)
    if problem:
        raise OutputError(f"{flag} {path}: cannot write into {base} ({problem}); choose a writable folder")


def check_output_file(path: PathLike, flag: str, overwrite: bool = False, example: str = "out.json") -> Path:
    """Check an output file before the work that produces it; nothing is left (the writability probe removes its
    empty temporary file).

    Args:
        path: the destination.
        flag: the flag that named it (for the message), e.g. ``"--output"``.
        overwrite: an existing file may be replaced (``--overwrite``, or a tracked table of the tool's own).
        example: a file name for the message when ``path`` is a folder.

    Returns:
        ``path`` as a ``Path`` (``~`` expanded).

    Raises:
        OutputError: under /proc, /sys or /dev; a folder or another non-file; an existing file without
            ``overwrite``; a parent that is a file or not writable.
    """
    if str(path).strip() == "":
        raise OutputError(f"{flag} is empty; give a file name such as {example}")
    p = Path(path).expanduser()
    root = _virtual_root(p)
    if root is not None:
        raise OutputError(f"{flag} {path} is under {root}, a kernel filesystem, not a place for files; "
                          "choose a path on a disk")
    if p.is_dir():
        raise OutputError(f"{flag} {path} is a folder; give a file name, e.g. {p / example}")
    if p.exists() or p.is_symlink():
        if not p.is_file():
            raise OutputError(f"{flag} {path} exists and is not a regular file; choose another file name")
        if not overwrite:
            raise OutputError(f"{flag} {path} already exists; choose a new file or add --overwrite to replace it")
    _check_parent(p, flag, "file name")
    return p


def check_output_dir(path: PathLike, flag: str) -> Path:
    """Check an output folder (it may not exist yet: it is created when the results are written).

    Raises:
        OutputError: under /proc, /sys or /dev; an existing file; an ancestor that is a file; not writable.
    """
    if str(path).strip() == "":
        raise OutputError(f"{flag} is empty; give a folder")
    p = Path(path).expanduser()
    root = _virtual_root(p)
    if root is not None:
        raise OutputError(f"{flag} {path} is under {root}, a kernel filesystem, not a place for files; "
                          "choose a folder on a disk")
    if p.exists() and not p.is_dir():
        raise OutputError(f"{flag} {path} is a file, not a folder; choose a folder")
    base = _nearest_existing(p)
    if not base.is_dir():
        raise OutputError(f"{flag} {path}: {base} is a file, not a folder; choose another folder")
    problem = _probe_writable(base)
    if problem:
        raise OutputError(f"{flag} {path}: cannot write into {base} ({problem}); choose a writable folder")
    return p


def check_outputs_in(folder: PathLike, names: Iterable[str], flag: str, overwrite: bool = False,
                     hint: str = "choose another folder") -> List[Path]:
    """Check ``folder`` (``check_output_dir``) and the files ``names`` a tool writes into it. Existing files are
    replaced only with ``overwrite`` or inside the project's ``benchmarks/`` (the tools' tracked tables).

    Returns:
        the destinations, ``folder / name`` for each name.

    Raises:
        OutputError: see ``check_output_dir``; an existing file (or folder) of one of the names otherwise.
    """
    base = check_output_dir(folder, flag)
    replace = overwrite or in_tracked_dir(base)
    out = []
    for name in names:
        dest = base / name
        if dest.is_dir():
            raise OutputError(f"{flag} {folder}: {dest} is a folder where the tool writes a file; {hint}")
        if (dest.exists() or dest.is_symlink()) and not replace:
            raise OutputError(f"{flag} {folder} already holds {name}; {hint} or add --overwrite to replace it")
        out.append(dest)
    return out


def describe_write_error(exc: OSError, dest: PathLike) -> str:
    """``"cannot write X: No space left on device; free some space or write elsewhere"``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        fix = "free some space or write elsewhere"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "choose a writable folder"
    else:
        fix = "choose another destination"
    return f"cannot write {dest}: {reason}; {fix} (nothing was written)"


class StagedOutputs:
    """Outputs written to temporary files beside their destinations and moved into place together.

    ``with StagedOutputs() as stage: stage.write(dest, data)`` writes every file to a temporary one and renames
    them all over their destinations when the block ends without an exception; on an exception every temporary
    file, and every folder created for them (when empty), is removed, and nothing at the destinations changes.
    ``stage.path(dest)`` gives a temporary path for writers that need one (``torch.onnx.export``,
    ``Figure.savefig``: the suffix is kept); ``stage.commit()`` moves the files before the block ends.

    Raises:
        WriteError: writing or moving failed (the temporary files are removed first).
    """

    def __init__(self) -> None:
        self._staged: List[Tuple[Path, Path]] = []  # (temporary, destination)
        self._made: List[Path] = []  # folders created, outermost first

    def __enter__(self) -> "StagedOutputs":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()

    def _mkdirs(self, folder: Path) -> None:
        missing = []
        current = folder
        while not current.exists() and current != current.parent:
            missing.append(current)
            current = current.parent
        for d in reversed(missing):
            d.mkdir()
            self._made.append(d)

    def path(self, dest: PathLike) -> Path:
        """A new empty temporary file beside ``dest`` (same folder, same suffix), removed unless committed."""
        dest = Path(dest)
        try:
            self._mkdirs(dest.parent)
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=f".tmp{dest.suffix}", dir=dest.parent)
        except OSError as exc:
            self.discard()
            raise WriteError(describe_write_error(exc, dest)) from exc
        os.close(fd)
        self._staged.append((Path(tmp), dest))
        try:  # mkstemp makes 0600 files: give the new file the destination's mode, or the umask's default
            os.chmod(tmp, dest.stat().st_mode & 0o7777 if dest.is_file() else 0o666 & ~_umask())
        except OSError:
            pass
        return Path(tmp)

    def write(self, dest: PathLike, data: Union[str, bytes]) -> Path:
        """Write ``data`` (text as UTF-8) to a temporary file for ``dest``, flushed and fsynced; returns its path."""
        tmp = self.path(dest)
        try:
            with open(tmp, "wb") as fh:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            self.discard()
            raise WriteError(describe_write_error(exc, dest)) from exc
        return tmp

    def fill(self, dest: PathLike, writer: Callable[[Path], None]) -> Path:
        """``writer(temporary_path)`` writes the file for ``dest`` (e.g. ``fig.savefig``); fsynced afterwards."""
        tmp = self.path(dest)
        try:
            writer(tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        except OSError as exc:
            self.discard()
            raise WriteError(describe_write_error(exc, dest)) from exc
        except BaseException:
            self.discard()
            raise
        return tmp

    def commit(self) -> List[Path]:
        """Rename every temporary file over its destination; returns the destinations."""
        done = []
        try:
            for tmp, dest in self._staged:
                os.replace(tmp, dest)
                done.append(dest)
        except OSError as exc:
            self.discard()
            raise WriteError(describe_write_error(exc, dest)) from exc
        self._staged, self._made = [], []
        return done

    def discard(self) -> None:
        """Remove the temporary files and the (empty) folders created for them."""
        for tmp, _ in self._staged:
            try:
                tmp.unlink()
            except OSError:
                pass
        for folder in reversed(self._made):
            try:
                folder.rmdir()
            except OSError:
                pass
        self._staged, self._made = [], []


def atomic_write(dest: PathLike, data: Union[str, bytes]) -> Path:
    """Write one file atomically (``StagedOutputs`` of one file). Raises ``WriteError``."""
    with StagedOutputs() as stage:
        stage.write(dest, data)
    return Path(dest)


def write_json_and_markdown(folder: PathLike, stem: str, report: Mapping[str, Any], markdown: str,
                            overwrite: bool = False, flag: str = "--out-dir", indent: int = 1) -> Tuple[Path, Path]:
    """A measurement tool's report: ``<stem>.json`` (``report``) and ``<stem>.md`` (``markdown``) in ``folder``,
    checked (``check_outputs_in``) and written together (``StagedOutputs``: both complete, or neither replaced).

    Returns:
        ``(json path, markdown path)``.

    Raises:
        OutputError: a destination refused; WriteError: writing failed (nothing is left).
    """
    json_path, md_path = check_outputs_in(folder, [f"{stem}.json", f"{stem}.md"], flag, overwrite)
    with StagedOutputs() as stage:
        stage.write(json_path, json.dumps(report, indent=indent, allow_nan=True) + "\n")
        stage.write(md_path, markdown)
    return json_path, md_path
