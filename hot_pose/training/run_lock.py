"""An exclusive claim on a training run folder: one run (fresh, ``--resume`` or ``--overwrite``) per folder at a time.

Part of a re-implementation of HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose
Estimation", CVPR 2024, arXiv:2311.12028). Two training processes given the same ``--checkpoint`` folder would
otherwise overwrite each other's ``best.pth``/``last.pth``/configs, interleave one ``train.log``, and a failing one
could delete the folder the other is using. The engine (``hot_pose.training.engine``) therefore claims the folder before it
checks whether the folder already holds a run, and holds the claim until the run ends:

* the claim is an exclusive, non-blocking lock on the file ``.hot_run.lock`` inside the folder: ``fcntl.flock``
  on POSIX, ``msvcrt.locking`` on Windows. The kernel drops it when the process ends in any way (even
  ``kill -9``), so a killed run never blocks the next one; the holder's pid, host and start time are written in
  the file for the message a refused run prints (informational only: the lock, not the pid, decides);
* a second process is refused at once (``RunFolderBusy``) with the holder's pid;
* the lock file is removed when the claim is released, while it is still held: a process that opened the old
  file in between notices (its file is no longer the one the path names) and tries again, so two processes
  never both believe they hold the folder;
* ``discard`` (a run that failed before its first checkpoint) removes only what this process created: entries
  that match the run's output names and were not there when the claim was taken, then the folders this process
  made, each only if it is empty: never a folder or a file another process uses.

Under torchrun only rank 0 takes the claim; the other ranks wait for its verdict.
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from fnmatch import fnmatch
from pathlib import Path
from typing import FrozenSet, Iterable, List, Optional, Union

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
try:  # Windows
    import msvcrt
except ImportError:
    msvcrt = None  # type: ignore[assignment]

_logger = logging.getLogger(__name__)

__all__ = ["LOCK_NAME", "RunFolderBusy", "RunFolderLock", "read_holder"]

#: the lock file inside a run folder
LOCK_NAME = ".hot_run.lock"
#: byte locked by ``msvcrt.locking`` (Windows locks are mandatory: the pid text before it stays readable)
_WINDOWS_LOCK_OFFSET = 4096


class RunFolderBusy(RuntimeError):
    """Another live process holds the run folder; ``pid`` is the holder's (``None`` when it could not be read)."""

    def __init__(self, folder: Path, pid: Optional[int], holder: str) -> None:
        self.folder, self.pid, self.holder = Path(folder), pid, holder
        super().__init__(f"{folder} is in use by another run ({holder})")


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock of ``fd`` without waiting; False when another process holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            return False
        return True
    if msvcrt is not None:  # pragma: no cover - Windows
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    raise OSError("this platform has neither fcntl nor msvcrt file locks: a run folder cannot be claimed")


def _lock_patiently(fd: int, tries: int = 5, pause: float = 0.02) -> bool:
    """``_try_lock`` a few times over ~0.1 s: a ``probe`` holds the lock for microseconds, a run for its life."""
    for attempt in range(tries):
        if _try_lock(fd):
            return True
        if attempt + 1 < tries:
            time.sleep(pause)
    return False


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    elif msvcrt is not None:  # pragma: no cover - Windows
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (a releasing holder may have unlinked it)."""
    try:
        now, mine = os.stat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    if os.name == "nt":  # pragma: no cover - st_ino of an open handle is not reliable everywhere on Windows
        return True
    return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)


def _read_text(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 1024).decode("utf-8", "replace")


def read_holder(text: str) -> tuple:
    """``(pid or None, "pid 123 on host, since 2024-05-01 12:00:00")`` from a lock file's text."""
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    try:
        pid: Optional[int] = int(fields.get("pid", ""))
    except ValueError:
        pid = None
    words = f"pid {pid}" if pid is not None else "pid unknown"
    if fields.get("host"):
        words += f" on {fields['host']}"
    if fields.get("since"):
        words += f", since {fields['since']}"
    return pid, words


class RunFolderLock:
    """The exclusive claim on one run folder (see the module docstring).

    Args:
        folder: the run folder; it (and missing parents) is made by ``acquire`` when absent, and those made
            folders are what ``discard`` may remove again (only when empty).

    Attributes:
        path: the lock file, ``folder / LOCK_NAME``.
        made: folders this process made, outermost first.
        before: names in the folder when the claim was taken (they are never the failed run's own files).
    """

    def __init__(self, folder: Union[str, Path]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.made: List[Path] = []
        self.before: FrozenSet[str] = frozenset()
        self._fd: Optional[int] = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _make_folder(self) -> None:
        missing = []
        probe = self.folder
        while not probe.is_dir():
            missing.append(probe)
            if probe.parent == probe:
                break
            probe = probe.parent
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            if folder not in self.made:
                self.made.append(folder)

    def acquire(self, attempts: int = 50) -> "RunFolderLock":
        """Claim the folder now (never waits for a holder).

        Raises:
            RunFolderBusy: another live process holds it (nothing of that process is touched).
            OSError: the folder or the lock file cannot be made.
        """
        if self.held:
            return self
        try:
            self._claim(attempts)
        except BaseException:
            self._remove_made()  # e.g. the lock file could not be made: leave no empty folder behind
            raise
        return self

    def _claim(self, attempts: int) -> None:
        for _ in range(attempts):
            self._make_folder()
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:  # the folder was removed under us (a failed run's cleanup): make it again
                continue
            try:
                if not _lock_patiently(fd):
                    busy = self._busy(fd)
                    os.close(fd)
                    fd = -1
                    raise busy
                if _same_file(fd, self.path):
                    break
                _unlock(fd)  # we locked a file a releasing holder had just unlinked: try the current one
            except BaseException:
                if fd >= 0:
                    os.close(fd)
                raise
            os.close(fd)
        else:
            raise OSError(f"could not claim {self.folder}: its lock file keeps changing")
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            since = time.strftime("%Y-%m-%d %H:%M:%S")
            os.write(fd, f"pid={os.getpid()}\nhost={socket.gethostname()}\nsince={since}\n".encode())
            self.before = frozenset(p.name for p in self.folder.iterdir()) - {LOCK_NAME}
        except BaseException:
            self.release()
            raise

    def _busy(self, fd: int) -> RunFolderBusy:
        text = ""
        for _ in range(20):  # the holder writes its pid right after locking
            text = _read_text(fd)
            if "pid=" in text:
                break
            time.sleep(0.05)
        pid, holder = read_holder(text)
        return RunFolderBusy(self.folder, pid, holder)

    def probe(self) -> None:
        """Raise ``RunFolderBusy`` when a live process holds the folder now; creates and changes nothing (the
        lock file, if there is one, is opened read-only)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:  # no lock file (or none readable): nobody holds the folder
            return
        try:
            if _lock_patiently(fd):
                _unlock(fd)
                return
            raise self._busy(fd)
        finally:
            os.close(fd)

    def forget(self, names: Iterable[str]) -> None:
        """Count ``names`` as this run's own from now on (e.g. an earlier run's outputs ``--overwrite`` deleted:
        what appears under those names next is written by this run)."""
        self.before = self.before - set(names)

    def release(self) -> None:
        """End the claim: remove the lock file (while still holding it), unlock, close. Idempotent."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if _same_file(fd, self.path):
                try:
                    self.path.unlink()
                except OSError:  # Windows cannot delete an open file: unlink after closing (below)
                    pass
        finally:
            try:
                _unlock(fd)
            finally:
                os.close(fd)
        if self.path.exists() and os.name == "nt":  # pragma: no cover - Windows
            try:
                self.path.unlink()
            except OSError:
                pass

    def own_entries(self, patterns: Iterable[str]) -> List[Path]:
        """Entries of the folder matching ``patterns`` that were not there when the claim was taken."""
        if not self.folder.is_dir():
            return []
        patterns = tuple(patterns)
        return sorted(p for p in self.folder.iterdir() if p.name not in self.before and p.name != LOCK_NAME
                      and any(fnmatch(p.name, pat) for pat in patterns))

    def discard(self, patterns: Iterable[str]) -> List[Path]:
        """A failed run: remove what it wrote (``own_entries(patterns)``), release the claim, then remove the
        folders this process made if they are empty. Returns what was removed."""
        removed = []
        try:
            for path in self.own_entries(patterns) if self.held else []:
                try:
                    shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
                    removed.append(path)
                except OSError as exc:
                    _logger.warning("could not remove %s: %s", path, exc)
        finally:
            self.release()
        removed += self._remove_made()
        return removed

    def _remove_made(self) -> List[Path]:
        """``rmdir`` (never a recursive delete) the folders this process made, innermost first, while empty."""
        removed = []
        for folder in reversed(self.made):
            try:
                folder.rmdir()
            except OSError:  # not empty (another run or the user put something there), or already gone
                break
            removed.append(folder)
        self.made = [f for f in self.made if f not in removed]
        return removed

    def __enter__(self) -> "RunFolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
