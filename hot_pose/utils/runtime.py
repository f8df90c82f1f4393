"""Run-time helpers of the training engine: seeding, RNG snapshots, device choice, logging, distributed.

Part of a re-implementation of HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human
Pose Estimation", CVPR 2024, arXiv:2311.12028). Nothing here knows about models or data.
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np
import torch
import torch.distributed as dist

_logger = logging.getLogger(__name__)

__all__ = [
    "NumericalError", "AverageMeter", "DistInfo", "set_seed", "epoch_seed", "get_rng_state", "set_rng_state", "resolve_device",
    "setup_logging", "attach_log_file", "detach_log_file", "init_distributed", "cleanup_distributed", "all_reduce_sum", "broadcast_object",
    "all_gather_objects",
]


class NumericalError(RuntimeError):
    """The training loss or the model's output became NaN/inf; the message says where and what to try."""


def set_seed(seed: int) -> None:
    """Seed Python ``random``, NumPy and torch (all devices) with ``seed``; deterministic cuDNN like the reference."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def epoch_seed(seed: int, epoch: int) -> int:
    """A distinct, reproducible seed for ``epoch`` of a run seeded with ``seed`` (resume-safe)."""
    return (seed * 1_000_003 + epoch * 7919) % 2**31


def get_rng_state() -> Dict[str, Any]:
    """Snapshot of the Python, NumPy and torch RNGs, storable with ``torch.save`` and ``weights_only`` loading."""
    version, internal, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: Dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos), int(np_has_gauss),
                  float(np_gauss)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore a snapshot from ``get_rng_state`` (CUDA states only when CUDA is in use)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np.random.set_state((np_name, np_keys.numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


class AverageMeter:
    """Running weighted mean: ``update(value, n)`` adds ``value`` with weight ``n``."""

    def __init__(self) -> None:
        self.sum = 0.0
        self.count = 0

    def update(self, value: float, n: int = 1) -> None:
        self.sum += float(value) * n
        self.count += n

    @property
    def avg(self) -> float:
        return self.sum / self.count if self.count else 0.0


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """The torch device for ``--device``: ``auto`` picks CUDA, then MPS, then CPU.

    Raises:
        ValueError: the requested device is not available here.
    """
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA device is available (use --device cpu or auto)")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("--device mps: MPS is not available (use --device cpu or auto)")
    return torch.device(name)


class LineProgress:
    """A progress report for a redirected stderr (log file, CI): one line per ``step`` of the total (or every
    30 s when the total is unknown) instead of tqdm's carriage-return redraws. Takes tqdm's common API:
    iteration, ``update``, ``set_postfix``, ``refresh``, ``close``, ``n``/``total``, context manager."""

    def __init__(self, iterable: Any = None, total: Optional[int] = None, desc: str = "", unit: str = "it",
                 step: float = 0.1) -> None:
        self.iterable, self.desc, self.unit, self.step = iterable, desc, unit, step
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.n, self._next, self._postfix = 0, step, ""
        self._start = self._last = time.perf_counter()

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)

    def __len__(self) -> int:
        return int(self.total or 0)

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if self.total:
            if self.n >= self._next * self.total - 1e-9:
                while self._next * self.total <= self.n + 1e-9:
                    self._next += self.step
                self._write(now)
        elif now - self._last >= 30:
            self._write(now)

    def _write(self, now: float) -> None:
        self._last = now
        elapsed = now - self._start
        done = f"{self.n}/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%)" if self.total else \
            f"{self.n} {self.unit}"
        left = f", {elapsed / self.n * (self.total - self.n):.0f} s left" if self.total and self.n < self.total else ""
        sys.stderr.write(f"{self.desc}: {done}, {elapsed:.0f} s{left}{self._postfix}\n")
        sys.stderr.flush()

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        items = dict(ordered_dict or {}, **kwargs)
        self._postfix = (", " + ", ".join(f"{k} {v}" for k, v in items.items())) if items else ""

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(iterable: Any = None, total: Optional[int] = None, desc: str = "", enabled: bool = True,
                 unit: str = "it", leave: bool = False) -> Any:
    """tqdm on a terminal; on a redirected stderr no bar but ``LineProgress`` (a line per 10 %); nothing
    when ``enabled`` is False (``--no_progress`` / ``--quiet``)."""
    from tqdm import tqdm

    if not enabled:
        return tqdm(iterable, total=total, disable=True)
    if not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return LineProgress(iterable, total, desc, unit)
    return tqdm(iterable, total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=leave)


class _TqdmStreamHandler(logging.Handler):
    """Console handler that writes through ``tqdm.write`` so progress bars stay intact.

    The stream is looked up at every record (``sys.stdout`` now, not when the handler was made), so a
    replaced or closed stdout (pytest capture, notebooks) never breaks logging.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stdout)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def _file_handler(log_file: str) -> logging.Handler:
    handler = logging.FileHandler(log_file, mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%Y/%m/%d %H:%M:%S"))
    return handler


def _engine_handlers() -> list:
    return [h for h in logging.getLogger().handlers if getattr(h, "_hot_engine", False)]


def setup_logging(log_file: Optional[str] = None, main_process: bool = True, level: int = logging.INFO) -> None:
    """Console logging (message only) and, if ``log_file``, a file log ("asctime message", like the reference).

    Without ``log_file`` the records are also kept in memory (up to 10,000) until ``attach_log_file`` names
    the file, so a run folder made only after every check passed still logs the run from its first line.
    Non-main processes of a distributed run log warnings only and write no file. Calling again replaces the
    handlers this function installed before.
    """
    root = logging.getLogger()
    for handler in _engine_handlers():
        root.removeHandler(handler)
        handler.close()
    console = _TqdmStreamHandler()
    console.setFormatter(logging.Formatter("%(message)s"))
    handlers: list = [console]
    if log_file and main_process:
        handlers.append(_file_handler(log_file))
    elif main_process:
        buffer = logging.handlers.BufferingHandler(10_000)
        buffer._hot_buffer = True  # type: ignore[attr-defined]
        handlers.append(buffer)
    for handler in handlers:
        handler._hot_engine = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level if main_process else logging.WARNING)


def attach_log_file(log_file: str, main_process: bool = True) -> None:
    """Start the file log of ``setup_logging`` now, writing first the records kept since it was called."""
    root = logging.getLogger()
    buffers = [h for h in _engine_handlers() if getattr(h, "_hot_buffer", False)]
    for buffer in buffers:
        root.removeHandler(buffer)
    if not main_process:
        return
    handler = _file_handler(log_file)
    for buffer in buffers:
        for record in buffer.buffer:
            handler.handle(record)
        buffer.close()
    handler._hot_engine = True  # type: ignore[attr-defined]
    root.addHandler(handler)


def detach_log_file(log_file: str) -> None:
    """Close the file log writing ``log_file`` (before its folder is removed)."""
    root = logging.getLogger()
    for handler in _engine_handlers():
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == Path(log_file).resolve():
            root.removeHandler(handler)
            handler.close()


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_env() -> DistInfo:
    """The rank layout torchrun put in the environment (single process when absent)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def init_distributed(info: DistInfo, device: torch.device) -> None:
    """Join the process group torchrun prepared: NCCL on CUDA, gloo otherwise. No-op for one process."""
    if not info.enabled or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)
    _logger.info("distributed: %d processes, backend %s", info.world_size, backend)


def cleanup_distributed() -> None:
    """Leave the process group, if any."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: Sequence[float], device: torch.device) -> list:
    """Sum ``values`` over processes (float64); identity for one process."""
    if not (dist.is_available() and dist.is_initialized()):
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` of process ``src`` on every process; identity for one process."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_objects(obj: Any) -> list:
    """List of every process's ``obj`` (rank order); ``[obj]`` for one process."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    """Wait for every process; no-op for one process."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
