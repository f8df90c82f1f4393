"""One run per run folder: the exclusive claim of ``hot_pose.training.run_lock``, in real concurrent training processes.

Two ``main_mixste.py`` processes given the same ``--checkpoint`` used to overwrite each other's checkpoints and
interleave one ``train.log``, and a failing one deleted the folder a healthy one was writing. Here the second
process is started only once the first holds the folder (its pid is in the lock file), and the first is paused
(SIGSTOP) while the second runs, so the overlap is certain, not a matter of timing. Real data (S1 → S9, Walking),
tiny models, CPU. HoT: Li et al., CVPR 2024 (arXiv:2311.12028).
"""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from hot_pose.training.run_lock import LOCK_NAME, RunFolderBusy, RunFolderLock, read_holder

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs POSIX signals to pause a process")


def tiny(h36m_dir: Path, *extra: str) -> List[str]:
    """The brief's TINY slice: a few seconds per epoch on a CPU."""
    return [sys.executable, str(ROOT / "main_mixste.py"), "--root_path", str(h36m_dir), "--model",
            "mixste.hot_mixste", "--keypoints", "sh_pt_mpii", "--subjects_train", "S1", "--subjects_test", "S9",
            "--actions", "Walking", "--subset", "0.05", "--frames", "27", "--stride", "27", "--channel", "32",
            "--d_hid", "64", "--depth", "2", "--token_num", "9", "--layer_index", "1", "--device", "cpu",
            "--no_progress", *extra]


def start(command: List[str]) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)


def run(command: List[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the process ended before {what}: {proc.returncode}\n{out[-2000:]}\n{err[-2000:]}")
        if time.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def wait_for_claim(folder: Path, proc: subprocess.Popen) -> None:
    """Until ``proc`` holds ``folder`` (its pid is in the lock file)."""
    lock = folder / LOCK_NAME
    wait_for(lambda: lock.is_file() and f"pid={proc.pid}\n" in lock.read_text(), proc, "it claimed the folder")


def finish(proc: subprocess.Popen, timeout: float = 300) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def refused_line(done: subprocess.CompletedProcess, folder: Path, holder: int) -> str:
    """Assert the one-line refusal naming the holder's pid (exit status 2); returns it."""
    err = done.stderr.strip()
    assert done.returncode == 2, (done.returncode, err[-2000:])
    assert "\n" not in err and "Traceback" not in err and err.startswith("error: "), err
    assert f"--checkpoint {folder} is in use by another run (pid {holder} " in err, err
    return err


def epochs(folder: Path) -> List[int]:
    with open(folder / "metrics.csv") as fh:
        return [int(row["epoch"]) for row in csv.DictReader(fh)]


@pytest.fixture
def paused():
    """``pause(proc)`` SIGSTOPs a process until the test ends (or ``resume(proc)``), never leaving it stopped."""
    stopped: List[subprocess.Popen] = []

    class Pauser:
        def pause(self, proc: subprocess.Popen) -> None:
            os.kill(proc.pid, signal.SIGSTOP)
            stopped.append(proc)

        def resume(self, proc: subprocess.Popen) -> None:
            stopped.remove(proc)
            os.kill(proc.pid, signal.SIGCONT)

    yield Pauser()
    for proc in stopped:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
    for proc in stopped:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------------------------------- the lock itself
def test_lock_is_exclusive_names_its_holder_and_leaves_nothing(tmp_path):
    folder = tmp_path / "a" / "run"
    with RunFolderLock(folder) as first:
        assert first.made == [tmp_path / "a", folder] and (folder / LOCK_NAME).is_file()
        pid, words = read_holder((folder / LOCK_NAME).read_text())
        assert pid == os.getpid() and words.startswith(f"pid {os.getpid()} on ")
        with pytest.raises(RunFolderBusy) as busy:  # a second claim (another open file) is refused at once
            RunFolderLock(folder).acquire()
        assert busy.value.pid == os.getpid() and busy.value.folder == folder
        assert (folder / LOCK_NAME).is_file()  # the refused claim touched nothing
        text = (folder / LOCK_NAME).read_text()
        with pytest.raises(RunFolderBusy):
            RunFolderLock(folder).probe()  # the read-only look says the same
        assert (folder / LOCK_NAME).read_text() == text
    RunFolderLock(folder).probe()  # free again: nothing raised
    RunFolderLock(tmp_path / "nowhere").probe()
    assert not (tmp_path / "nowhere").exists()  # a probe makes nothing
    assert list(folder.iterdir()) == []  # released: the lock file is gone, the folder stays (a success)


def test_stale_lock_file_of_a_dead_process_does_not_block(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / LOCK_NAME).write_text("pid=999999\nhost=elsewhere\nsince=yesterday\n")  # its holder is gone
    with RunFolderLock(folder) as lock:
        assert read_holder((folder / LOCK_NAME).read_text())[0] == os.getpid()
        assert lock.made == [] and lock.before == frozenset()
    assert not (folder / LOCK_NAME).exists()


def test_discard_removes_only_this_process_outputs_and_made_folders_while_empty(tmp_path):
    folder = tmp_path / "made" / "run"
    lock = RunFolderLock(folder).acquire()
    (folder / "train.log").write_text("mine")
    (folder / "tensorboard").mkdir()
    (folder / "tensorboard" / "events").write_text("mine")
    (folder / "notes.txt").write_text("the user's")  # not a run output: never removed
    removed = lock.discard(("train.log", "tensorboard", "*.pth"))
    assert sorted(p.name for p in removed) == ["tensorboard", "train.log"]
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"] and not lock.held
    # with nothing else in it, the folders this process made go too (rmdir only, innermost first)
    (folder / "notes.txt").unlink()
    lock = RunFolderLock(tmp_path / "made2" / "run").acquire()
    (lock.folder / "train.log").write_text("mine")
    lock.discard(("train.log",))
    assert not (tmp_path / "made2").exists()
    # outputs that were there before the claim are another run's: kept
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "train.log").write_text("earlier run")
    lock = RunFolderLock(earlier).acquire()
    (earlier / "config.json").write_text("{}")
    lock.discard(("train.log", "config.json"))
    assert sorted(p.name for p in earlier.iterdir()) == ["train.log"]


def test_a_claim_on_a_file_its_releasing_holder_unlinked_is_retried(tmp_path, monkeypatch):
    """Holder A releases (unlinks the lock file, then unlocks) between B's open and B's lock: B's lock on the
    unlinked file must not count, or a third process could claim the folder through the new file as well."""
    import hot_pose.training.run_lock as run_lock

    folder = tmp_path / "run"
    holder = RunFolderLock(folder).acquire()
    real, calls = run_lock._try_lock, []

    def racing(fd: int) -> bool:
        if not calls:
            holder.release()  # A releases after B opened the (old) lock file
        calls.append(fd)
        return real(fd)

    monkeypatch.setattr(run_lock, "_try_lock", racing)
    with RunFolderLock(folder) as claim:
        assert len(calls) == 2  # the first lock was on the unlinked file: tried again on the current one
        assert os.fstat(claim._fd).st_ino == os.stat(folder / LOCK_NAME).st_ino
        monkeypatch.setattr(run_lock, "_try_lock", real)
        with pytest.raises(RunFolderBusy):
            RunFolderLock(folder).acquire()


# ------------------------------------------------------------------------------ real concurrent training runs
def test_a_second_run_into_a_busy_folder_is_refused_and_the_first_run_is_intact(h36m_dir, tmp_path, paused):
    """``for s in 1 2; do main_mixste.py TINY --nepoch $((4-s)) --seed $s --checkpoint SAME & done``: the second
    is refused in one line naming the first's pid; the first's outputs are all its own, its log one run's."""
    same = tmp_path / "same"
    first = start(tiny(h36m_dir, "--nepoch", "3", "--seed", "1", "--checkpoint", str(same)))
    wait_for_claim(same, first)
    paused.pause(first)  # the first holds the folder for the whole of the second's life
    second = run(tiny(h36m_dir, "--nepoch", "2", "--seed", "2", "--checkpoint", str(same)))
    refused_line(second, same, first.pid)
    assert "outputs in" not in second.stdout  # the refused run reports no outputs
    paused.resume(first)
    done = finish(first)
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((same / "config.json").read_text())
    assert (config["seed"], config["nepoch"]) == (1, 3) and epochs(same) == [1, 2, 3]
    log = (same / "train.log").read_text()
    assert log.count("run folder:") == 1 and log.count("main_mixste: mixste.hot_mixste on cpu") == 1
    assert [line.split("epoch: ")[1].split(",")[0] for line in log.splitlines() if "epoch: " in line] == ["1", "2", "3"]
    assert not (same / LOCK_NAME).exists()  # released at the end


def test_a_failing_run_never_deletes_a_folder_another_run_uses(h36m_dir, tmp_path, paused):
    """``main_mixste.py TINY --lr 1e30 --checkpoint C & sleep .3; main_mixste.py TINY --nepoch 3 --checkpoint C``:
    whichever claims C first runs alone. Failing first: the healthy one is refused and the failing one removes
    the folder it made. Healthy first: the failing one is refused before it trains, the healthy run keeps its
    train.log and checkpoints."""
    c = tmp_path / "c"
    failing = start(tiny(h36m_dir, "--lr", "1e30", "--checkpoint", str(c)))
    wait_for_claim(c, failing)
    paused.pause(failing)
    healthy = run(tiny(h36m_dir, "--nepoch", "3", "--checkpoint", str(c)))
    refused_line(healthy, c, failing.pid)
    paused.resume(failing)
    done = finish(failing)
    assert done.returncode == 1 and done.stderr.strip().startswith("error: training diverged"), done.stderr
    assert not c.exists()  # it made the folder and only its own files were in it

    c2 = tmp_path / "c2"
    healthy_proc = start(tiny(h36m_dir, "--nepoch", "2", "--checkpoint", str(c2)))
    wait_for_claim(c2, healthy_proc)
    paused.pause(healthy_proc)
    failing_done = run(tiny(h36m_dir, "--lr", "1e30", "--checkpoint", str(c2)))
    refused_line(failing_done, c2, healthy_proc.pid)
    paused.resume(healthy_proc)
    done = finish(healthy_proc)
    assert done.returncode == 0, done.stderr[-3000:]
    assert epochs(c2) == [1, 2] and (c2 / "best.pth").is_file() and (c2 / "last.pth").is_file()
    assert "epoch: 2," in (c2 / "train.log").read_text()


def test_a_failing_run_removes_only_its_own_files(h36m_dir, tmp_path, paused):
    """A diverging run made its folder; a file another process put there meanwhile survives (and so does the
    folder); the run's own log, configs, TensorBoard files and lock file are gone."""
    folder = tmp_path / "diverging"
    failing = start(tiny(h36m_dir, "--lr", "1e30", "--checkpoint", str(folder)))
    wait_for_claim(folder, failing)
    paused.pause(failing)
    (folder / "notes.txt").write_text("someone else's")
    paused.resume(failing)
    done = finish(failing)
    assert done.returncode == 1 and "training diverged" in done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    assert (folder / "notes.txt").read_text() == "someone else's"


def test_resume_of_a_training_run_is_refused_and_a_killed_holder_does_not_block(h36m_dir, tmp_path, paused):
    """``--resume`` while the original still trains is refused (naming its pid); after ``kill -9`` of the
    original (its lock file stays, with its dead pid) a new ``--resume`` claims the folder and finishes it."""
    folder = tmp_path / "run"
    original = start(tiny(h36m_dir, "--nepoch", "3", "--checkpoint", str(folder)))
    wait_for(lambda: (folder / "last.pth").is_file(), original, "its first epoch")
    paused.pause(original)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != "train.log"}
    resumed = run([sys.executable, str(ROOT / "main_mixste.py"), "--resume", str(folder), "--no_progress"])
    err = refused_line(resumed, folder, original.pid)
    assert "--resume again" in err
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name in before} == before
    os.kill(original.pid, signal.SIGKILL)
    original.wait(timeout=60)
    assert read_holder((folder / LOCK_NAME).read_text())[0] == original.pid  # the stale file of a dead holder
    again = run([sys.executable, str(ROOT / "main_mixste.py"), "--resume", str(folder), "--no_progress"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert epochs(folder)[-1] == 3 and not (folder / LOCK_NAME).exists()
