"""The device script: check every CUDA path of the project and train a real-size HoT model, in one time budget.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028) is meant to be trained on a GPU; this script makes one GPU session count. Run it with
``bash tools/gpu_check.sh`` on any CUDA machine that has the project's requirements and a Human3.6M
``--root_path`` (the npz files with GT 2-D, or the data pack of ``python dataset/prepare_data_h36m.py --pack``).

Stages, in order; each writes its files into ``--out`` as it ends, and ``summary.json`` is rewritten after
every stage, so a run cut short still leaves everything that finished:

1. ``device``: torch, CUDA, the GPU, bf16 support, NCCL, onnxruntime's providers → ``device.json``.
2. ``tests``: the CUDA-marked tests (``tests/test_cuda.py``: AMP fp16/bf16 training, pinned-memory loader
   workers, ``--compile``, torchrun with NCCL, GPU vs CPU outputs, ONNX on CUDA) → ``cuda_tests.xml``.
3. ``benchmark``: ``python -m hot_pose.cli.bench --device cuda`` on every family at its published size
   → ``benchmark_cuda.md`` / ``.json``.
4. ``train``: HoT w. MixSTE at 81 frames, 8 block pairs of width 256, GT 2-D, bf16 autocast, for the minutes
   left (``--time_limit``) → ``train/`` (best.pth, last.pth, train.log, metrics.csv).
5. ``test``: ``--test`` of ``train/best.pth`` on S9+S11 (4 cameras, flip) → ``test_report.json``.

With ``--export DIR`` the small files are also kept, after every stage, in ``DIR/gpu_check_results.tar.gz``,
and ``best.pth`` is copied there (in parts of < 15 MiB when larger), for machines that return few files.
``--dry-run`` runs the same stages on the CPU at tiny sizes (a test of the suite does, so it cannot rot).

    bash tools/gpu_check.sh                                  # 12 minutes on the GPU; results in runs/gpu_check_*
    bash tools/gpu_check.sh --minutes 8 --out /tmp/gc --export "$OUT"
    bash tools/gpu_check.sh --dry-run --data ./dataset/      # CPU, ~2 minutes
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hot_pose.utils.console import OneLineArgumentParser, fail, finite_float, guarded
from hot_pose.utils.outputs import OutputError, StagedOutputs, WriteError, atomic_write, check_output_dir

_logger = logging.getLogger("gpu_check")

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("device", "tests", "benchmark", "train", "test")
#: a file above this is exported in parts (what some machines return is limited to 16 MiB a file)
PART_BYTES = 15 * 2**20
#: seconds a stopped stage gets to write what it measured after SIGINT, before it is killed
GRACE_S = 30


@dataclass(frozen=True)
class Plan:
    """What each stage runs: the real sizes on CUDA, tiny ones for ``--dry-run`` on the CPU."""

    device: str
    #: the longest each stage may take (seconds); training gets what is left
    caps: Dict[str, float]
    benchmark: List[str]
    train: List[str]
    test: List[str]
    #: seconds of training-process start-up and final evaluation outside ``--time_limit``'s epochs
    train_overhead_s: float


def make_plan(dry_run: bool) -> Plan:
    """The stages' commands and caps."""
    if dry_run:
        tiny = ["--frames", "27", "--channel", "32", "--d_hid", "64", "--depth", "2", "--token_num", "9",
                "--layer_index", "1"]
        return Plan(
            device="cpu",
            caps=dict(device=60, tests=240, benchmark=120, test=90),
            benchmark=["--models", "mixste.mixste", "mixste.hot_mixste", *tiny, "--batch", "2", "--dtype", "fp32",
                       "--repeats", "2", "--min-repeats", "1", "--warmup", "1", "--no-reference", "--inprocess"],
            train=["--model", "mixste.hot_mixste", "--stride", "27", *tiny, "--subjects_train", "S1",
                   "--subjects_test", "S9", "--actions", "Walking", "--subset", "0.1", "--batch_size", "32",
                   "--lr", "5e-4", "--nepoch", "2"],
            # the training's batch: its validation and this test then run the very same forwards
            test=["--subjects_test", "S9", "--actions", "Walking", "--subset", "0.1", "--batch_size", "32"],
            train_overhead_s=20,
        )
    return Plan(
        device="cuda",
        caps=dict(device=60, tests=240, benchmark=150, test=150),
        benchmark=["--batch", "1", "16", "--dtype", "fp32", "bf16", "fp16", "--repeats", "10", "--min-repeats", "3",
                   "--max-seconds", "6", "--warmup", "3"],
        # HoT w. MixSTE at a third of the published window: 81 frames, 27 kept before block pair 4 (as 243 → 81
        # before pair 4 in the paper), width 256 (MLP 512), 8 block pairs; bf16 autocast, large batches
        train=["--model", "mixste.hot_mixste", "--frames", "81", "--stride", "81", "--channel", "256",
               "--d_hid", "512", "--depth", "8", "--token_num", "27", "--layer_index", "3", "--amp", "bf16",
               "--batch_size", "128", "--lr", "2e-4", "--lr_decay", "0.95", "--nepoch", "200"],
        test=["--batch_size", "256", "--amp", "bf16"],
        train_overhead_s=90,
    )


# ---------------------------------------------------------------------------------------------
# stages


def probe() -> Dict[str, Any]:
    """What the machine has: torch, CUDA, GPUs, bf16, NCCL, onnxruntime providers, CPU."""
    import platform

    import torch

    from hot_pose.models.inference import cpu_native_bf16

    info: Dict[str, Any] = dict(python=platform.python_version(), torch=torch.__version__,
                                torch_cuda=torch.version.cuda, cuda_available=torch.cuda.is_available(),
                                cpu_count=os.cpu_count(), cpu_native_bf16=cpu_native_bf16())
    if torch.cuda.is_available():
        info["gpus"] = [dict(name=torch.cuda.get_device_name(i),
                             capability=".".join(map(str, torch.cuda.get_device_capability(i))),
                             memory_gib=round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1))
                        for i in range(torch.cuda.device_count())]
        info["bf16_supported"] = torch.cuda.is_bf16_supported()
        info["cudnn"] = torch.backends.cudnn.version()
        x = torch.randn(1024, 1024, device="cuda")
        info["matmul_ok"] = bool(torch.allclose((x @ x).cpu(), x.cpu() @ x.cpu(), rtol=1e-2, atol=1e-2))
    info["nccl"] = bool(torch.distributed.is_available() and torch.distributed.is_nccl_available())
    try:
        import onnxruntime

        info["onnxruntime"] = dict(version=onnxruntime.__version__, providers=onnxruntime.get_available_providers())
    except ImportError:
        info["onnxruntime"] = None
    return info


def _default_sigint() -> None:
    """In the stage's process before it starts: SIGINT back to its default. A check started in the background
    (``bash tools/gpu_check.sh &``, nohup-like launchers) has SIGINT ignored, children inherit that, and a stage
    that ignores SIGINT cannot stop in time and write what it has; it would only be killed after ``GRACE_S``."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_command(cmd: Sequence[str], log: Path, timeout: float, env: Dict[str, str]) -> Dict[str, Any]:
    """Run ``cmd`` with its output in ``log``; past ``timeout`` it gets SIGINT (to write what it has), then
    SIGKILL after ``GRACE_S``. Returns rc, seconds and whether it timed out."""
    start = time.monotonic()
    with open(log, "w", encoding="utf-8") as fh:
        fh.write("$ " + shlex.join(cmd) + "\n")
        fh.flush()
        proc = subprocess.Popen(list(cmd), cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, preexec_fn=_default_sigint)
        timed_out = False
        try:
            rc = proc.wait(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGINT)
            try:
                rc = proc.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                rc = proc.wait()
    return dict(rc=rc, seconds=round(time.monotonic() - start, 1), timed_out=timed_out, log=log.name)


def junit_results(path: Path) -> Dict[str, Any]:
    """Counts and per-test outcomes (skip reasons, first failure line) of a pytest junit XML file."""
    if not path.is_file():
        return {}
    suite = ET.parse(path).getroot()
    suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
    outcomes = {}
    for case in suite.iter("testcase"):
        name = case.get("name")
        result = "passed"
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                result = f"{tag}: {(node.get('message') or '').splitlines()[0][:300] if node.get('message') else ''}"
                break
        outcomes[name] = result
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    return dict(counts, outcomes=outcomes)


def train_results(run_dir: Path) -> Dict[str, Any]:
    """Epochs done, best P1 and speed from a run folder's metrics.csv."""
    metrics = run_dir / "metrics.csv"
    if not metrics.is_file():
        return {}
    rows = list(csv.DictReader(metrics.open()))
    if not rows:
        return {}
    last = rows[-1]
    return dict(epochs=len(rows), best_p1=float(last["best_p1"]), best_epoch=int(last["best_epoch"]),
                last_loss=float(last["loss"]), samples_per_s=float(last["samples_per_s"]),
                train_s_per_epoch=round(sum(float(r["train_s"]) for r in rows) / len(rows), 1),
                best_pth=(run_dir / "best.pth").is_file())


class Check:
    """One run of the stages: time budget, outputs, summary."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.plan = make_plan(args.dry_run)
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.deadline = time.monotonic() + args.minutes * 60
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", HOT_TEST_DEVICE=self.plan.device,
                        HOT_DATA=str(Path(args.data).resolve()),
                        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        self.summary: Dict[str, Any] = dict(
            started=datetime.datetime.now().astimezone().isoformat(timespec="seconds"), dry_run=args.dry_run,
            minutes=args.minutes, data=str(args.data), out=str(self.out), stages={})

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def record(self, stage: str, result: Dict[str, Any]) -> None:
        result.setdefault("status", "passed" if result.get("rc") == 0 and not result.get("timed_out") else
                          "timed out" if result.get("timed_out") else "failed")
        self.summary["stages"][stage] = result
        self.summary["seconds_left"] = round(self.left(), 1)
        atomic_write(self.out / "summary.json", json.dumps(self.summary, indent=1))
        _logger.info("[%s] %s in %.0f s; %.0f s left", stage, result["status"], result.get("seconds", 0), self.left())
        if self.args.export:
            self.export()

    def export(self, checkpoint: bool = False) -> None:
        """The small files into ``--export``'s tarball (atomically); with ``checkpoint`` also best.pth."""
        dest = Path(self.args.export)
        dest.mkdir(parents=True, exist_ok=True)

        def tarball(tmp: Path) -> None:
            with tarfile.open(tmp, "w:gz") as tar:
                for path in sorted(self.out.rglob("*")):
                    staged = path.name.endswith(".tmp") or (path.name.startswith(".") and ".tmp" in path.name)
                    if path.is_file() and path.suffix != ".pth" and not staged:
                        tar.add(path, arcname=str(path.relative_to(self.out)))

        with StagedOutputs() as stage:  # every file complete, or none replaced
            stage.fill(dest / "gpu_check_results.tar.gz", tarball)
        best = self.out / "train" / "best.pth"
        if checkpoint and best.is_file():
            data = best.read_bytes()
            with StagedOutputs() as stage:
                if len(data) <= PART_BYTES:
                    stage.write(dest / "best.pth", data)
                else:  # reassemble with: cat best.pth.part* > best.pth
                    for i in range(0, len(data), PART_BYTES):
                        stage.write(dest / f"best.pth.part{i // PART_BYTES}", data[i:i + PART_BYTES])
                written = set(stage.commit())
            for old in dest.glob("best.pth*"):  # parts of an earlier, larger checkpoint
                if old not in written:
                    old.unlink()

    def stage_cap(self, stage: str, reserve: float = 0.0) -> float:
        """Seconds the stage may take: its cap, within what is left after ``reserve``."""
        return min(self.plan.caps[stage], self.left() - reserve)

    def run(self) -> int:
        py = sys.executable
        data = str(Path(self.args.data))
        skip = set(self.args.skip)
        reserve_test = self.plan.caps["test"]
        for stage in STAGES:
            if stage in skip:
                self.record(stage, dict(status="skipped", reason="--skip"))
                continue
            if stage == "train":
                budget = self.left() - reserve_test - 15
                if budget < self.plan.train_overhead_s + 30:
                    self.record(stage, dict(status="skipped", reason=f"only {budget:.0f} s left for training"))
                    continue
                minutes = max(0.2, (budget - self.plan.train_overhead_s) / 60)
                cmd = [py, "main_mixste.py", *self.plan.train, "--root_path", data, "--keypoints", "gt",
                       "--device", self.plan.device, "--no_progress", "--time_limit", f"{minutes:.2f}",
                       "--checkpoint", str(self.out / "train"), "--overwrite"]
                result = run_command(cmd, self.out / "train_stage.log", budget, self.env)
                result.update(train_results(self.out / "train"), time_limit_min=round(minutes, 2))
                if self.args.export:
                    self.export(checkpoint=True)
                self.record(stage, result)
                continue
            cap = self.stage_cap(stage, reserve=0 if stage == "test" else reserve_test)
            if cap < 10:
                self.record(stage, dict(status="skipped", reason=f"only {max(cap, 0):.0f} s left"))
                continue
            if stage == "device":
                cmd = [py, "-m", "tools.gpu_check", "--probe", str(self.out / "device.json")]
                result = run_command(cmd, self.out / "device.log", cap, self.env)
                if (self.out / "device.json").is_file():
                    result["device"] = json.loads((self.out / "device.json").read_text())
                    if not self.args.dry_run and not result["device"].get("cuda_available"):
                        result.update(status="failed", reason="torch sees no CUDA device; use --dry-run on CPU")
                        self.record(stage, result)
                        return 2
            elif stage == "tests":
                xml = self.out / "cuda_tests.xml"
                cmd = [py, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-m", "cuda", "tests/test_cuda.py",
                       f"--junitxml={xml}"]
                result = run_command(cmd, self.out / "cuda_tests.log", cap, self.env)
                result.update(junit_results(xml))
            elif stage == "benchmark":
                name = f"benchmark_{self.plan.device}"
                cmd = [py, "-m", "hot_pose.cli.bench", "--device", self.plan.device, *self.plan.benchmark,
                       "--name", name, "--out-dir", str(self.out), "--overwrite"]  # --out was checked here
                result = run_command(cmd, self.out / "benchmark.log", cap - GRACE_S, self.env)
                result["table"] = f"{name}.md" if (self.out / f"{name}.md").is_file() else None
            else:  # test
                if not (self.out / "train" / "best.pth").is_file():
                    self.record(stage, dict(status="skipped", reason="no train/best.pth"))
                    continue
                report = self.out / "test_report.json"
                cmd = [py, "main_mixste.py", "--test", "--previous_dir", str(self.out / "train"), "--root_path",
                       data, "--keypoints", "gt", "--device", self.plan.device, "--no_progress",
                       *self.plan.test, "--report", str(report)]
                result = run_command(cmd, self.out / "test.log", cap, self.env)
                if report.is_file():
                    body = json.loads(report.read_text())
                    result.update(p1=body.get("results", body).get("p1"), p2=body.get("results", body).get("p2"))
            self.record(stage, result)
        statuses = [s["status"] for s in self.summary["stages"].values()]
        _logger.info("done: %s; results in %s", ", ".join(f"{k} {v['status']}" for k, v in
                                                           self.summary["stages"].items()), self.out)
        return 0 if all(s in ("passed", "skipped") for s in statuses) else 1


def build_parser() -> argparse.ArgumentParser:
    prog = "bash tools/gpu_check.sh"
    p = OneLineArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--minutes", type=finite_float(0.0, low_open=True), default=None,
                   help="time budget of all stages together, > 0 (default 12; 5 with --dry-run)")
    p.add_argument("--out", default=None, help="results folder (default runs/gpu_check_<date-time>); one holding an "
                   "earlier run's summary.json is refused unless --overwrite")
    p.add_argument("--export", default=None, metavar="DIR",
                   help="also keep a tarball of the small results and best.pth (in < 15 MiB parts) in DIR; one "
                        "holding an earlier export is refused unless --overwrite")
    p.add_argument("--overwrite", action="store_true", help="reuse an --out / --export folder of an earlier run")
    p.add_argument("--data", default=str(ROOT / "dataset"),
                   help="--root_path of the training data: npz files with GT 2-D, or a data pack (default ./dataset/)")
    p.add_argument("--dry-run", action="store_true", help="the same stages on the CPU at tiny sizes")
    p.add_argument("--skip", nargs="+", default=[], choices=STAGES, help="stages not to run")
    p.add_argument("--verbose", action="store_true", help="show the traceback of an unexpected error")
    p.add_argument("--probe", default=None, metavar="FILE", help=argparse.SUPPRESS)
    return p


def _check_destinations(args: argparse.Namespace) -> None:
    """``--out`` and ``--export``: writable folders that hold no earlier run (unless ``--overwrite``)."""
    out = check_output_dir(args.out, "--out")
    if (out / "summary.json").exists() and not args.overwrite:
        raise OutputError(f"--out {args.out} holds an earlier run (summary.json); choose a new folder or add "
                          "--overwrite")
    if args.export:
        export = check_output_dir(args.export, "--export")
        earlier = (export / "gpu_check_results.tar.gz").exists() or any(export.glob("best.pth*"))
        if earlier and not args.overwrite:
            raise OutputError(f"--export {args.export} holds an earlier export (gpu_check_results.tar.gz or "
                              "best.pth*); choose a new folder or add --overwrite")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status (0 every stage passed, 1 one failed, 2 bad flags)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    return guarded(lambda: _run(args), verbose=args.verbose)


def _run(args: argparse.Namespace) -> int:
    if args.probe:
        info = probe()
        try:
            atomic_write(args.probe, json.dumps(info, indent=1))
        except WriteError as exc:
            return fail(exc, 1)
        print(json.dumps(info, indent=1))
        return 0
    if args.minutes is None:
        args.minutes = 5.0 if args.dry_run else 12.0
    data = Path(args.data)
    if not (data.is_file() or (data / "data_3d_h36m.npz").is_file() or (data / "data_h36m_pack.npz").is_file()):
        return fail(f"--data {data} holds neither the Human3.6M npz files nor a data pack; run "
                    "`python dataset/prepare_data_h36m.py --source DIR [--pack]` first (dataset/README.md)", 2)
    if args.out is None:
        args.out = str(ROOT / "runs" / datetime.datetime.now().strftime("gpu_check_%Y%m%d_%H%M%S"))
    try:
        _check_destinations(args)
    except OutputError as exc:
        return fail(exc, 2)
    return Check(args).run()


if __name__ == "__main__":
    sys.exit(main())
