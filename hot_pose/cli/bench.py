"""Benchmark of the model zoo: params, FLOPs, latency and throughput, HoT vs. baseline in the same run.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028) claims cheaper video pose transformers; this tool measures how much cheaper, on the
machine at hand, for every variant of the zoo:

* params and FLOPs per clip and per output frame: thop-compatible (the paper's count) and full
  (``FlopCounterMode`` matrix products incl. attention, plus the DPC-kNN clustering);
* latency (median and p90 of repeated forwards after warm-up) and throughput in *output frames* per
  second, for each batch size, device, dtype and compiled/eager engine. Seq2frame variants (TPC w.
  MixSTE, MHFormer, TPC w. MHFormer) output one scored frame per window and are counted so;
* ratios measured in the same run: every case of a family (baseline, HoT variants) × engine is timed in
  turn, round after round (A B C … C B A …), so a slow spell of a shared machine hits all of them.

Engines: ``reference`` is the straightforward implementation as the reference code runs it (float32
eager, explicit softmax attention, the process's default glibc allocator, in its own worker process);
``fp32``/``bf16``/``fp16`` are :func:`hot_pose.models.inference.prepare_for_inference` (tuned allocator, SDPA,
cast weights, oneDNN fused linears in bf16 on CPU), each optionally ``+compile``.

    python -m hot_pose.cli.bench                                  # defaults: CPU, batch 1 and 4, reference/fp32/bf16
    python -m hot_pose.cli.bench --models mixste.mixste mixste.hot_mixste --batch 4 --repeats 7
    python -m hot_pose.cli.bench --device cuda --dtype fp32 bf16 fp16 --batch 1 4 16 64 --name benchmark_cuda

Writes ``benchmarks/<name>.json`` (everything, raw timings included) and ``benchmarks/<name>.md``
(the tables; ``python -m tools.update_readme`` copies it into the README). Every flag and the destinations are
checked before anything is timed: ``--out-dir`` must be a writable folder (created if missing), and outside the
project's ``benchmarks/`` an existing ``<name>.json``/``.md`` is kept unless ``--overwrite``. Both files are
written atomically, together (``hot_pose.utils.outputs``); the tables are printed first, so a failed write loses nothing
on screen.
"""
from __future__ import annotations

import argparse
import datetime
import difflib
import gc
import json
import logging
import math
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from hot_pose.models.inference import cpu_native_bf16
from hot_pose.utils.console import (
    OneLineArgumentParser,
    console_prog,
    fail,
    finite_float,
    guarded,
    int_at_least,
    list_models_command,
    plain_name,
)
from hot_pose.utils.outputs import OutputError, StagedOutputs, WriteError, check_outputs_in
from hot_pose.utils.paths import BENCHMARKS
from hot_pose.utils.system import cpu_flags, cpu_name

_logger = logging.getLogger(__name__)

#: families benchmarked by default: baseline first, then its HoT / TPC variants
DEFAULT_GROUPS = (
    ("mixste.mixste", "mixste.hot_mixste", "mixste.tpc_mixste"),
    ("motionbert.motionbert", "motionbert.hot_motionbert"),
    ("motionagformer.motionagformer", "motionagformer.hot_motionagformer"),
    ("mhformer.mhformer", "mhformer.tpc_mhformer"),
)
_SIZE_FLAGS = ("frames", "channel", "d_hid", "token_num", "layer_index", "depth", "n_joints", "in_channels")


# ---------------------------------------------------------------------------------------------
# engines and cases
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Engine:
    """How a model is run.

    Attributes:
        dtype: ``fp32``, ``bf16`` or ``fp16`` (weights cast; DPC-kNN stays float32).
        compile: ``torch.compile`` the model.
        fast: use :func:`hot_pose.models.inference.prepare_for_inference` (SDPA attention, tuned allocator, packed
            bf16 linears); False = the reference-style path (explicit softmax attention, default allocator).
    """

    dtype: str = "fp32"
    compile: bool = False
    fast: bool = True

    @property
    def name(self) -> str:
        if not self.fast:
            return "reference"
        return self.dtype + ("+compile" if self.compile else "")

    @property
    def allocator(self) -> str:
        """``tuned`` (``hot_pose.models.inference.tune_allocator``) or ``system`` (glibc defaults)."""
        return "tuned" if self.fast else "system"


REFERENCE = Engine(fast=False)


@dataclass(frozen=True)
class Case:
    """One timed configuration: a variant at a batch size on an engine."""

    variant: str
    engine: Engine
    batch: int

    @property
    def key(self) -> str:
        return f"{self.variant}|{self.engine.name}|b{self.batch}"


# ---------------------------------------------------------------------------------------------
# the reference-style attention (explicit softmax, as the reference code computes it)
# ---------------------------------------------------------------------------------------------
def explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout_p: float = 0.0,
                       **_: Any) -> torch.Tensor:
    """softmax(QKᵀ·d^−½)V materialising the attention matrix. q (…, N, d), k/v (…, M, d) → (…, N, d)."""
    attn = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5  # (…, N, M)
    return attn.softmax(dim=-1) @ v


@contextmanager
def reference_attention() -> Iterator[None]:
    """Make ``hot_pose.models.layers.attention`` use :func:`explicit_attention` instead of SDPA inside the block."""
    import torch.nn.functional as functional

    import hot_pose.models.layers.attention as attention

    proxy = SimpleNamespace(**{k: getattr(functional, k) for k in dir(functional) if not k.startswith("__")})
    proxy.scaled_dot_product_attention = explicit_attention
    saved = attention.F
    attention.F = proxy
    try:
        yield
    finally:
        attention.F = saved


# ---------------------------------------------------------------------------------------------
# running one case (inside a worker process, or in-process)
# ---------------------------------------------------------------------------------------------
class Runner:
    """Builds prepared models and times single forwards; lives in the process that runs them."""

    def __init__(self, device: str, threads: Optional[int], tune: bool) -> None:
        from hot_pose.models.inference import tune_allocator

        if threads:
            torch.set_num_threads(threads)
        self.tuned = tune_allocator() if tune else False
        self.device = torch.device(device)
        self.cases: Dict[str, Tuple[Any, torch.Tensor, bool]] = {}

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def build(self, case: Case, overrides: Dict[str, Any], seed: int, warmup: int,
              index: Optional[Any] = None) -> Dict[str, Any]:
        """Build, prepare, warm up; returns build/warm-up seconds and one checked output."""
        from hot_pose.models import build_model
        from hot_pose.models.inference import prepare_for_inference

        torch.manual_seed(seed)  # same weights for every engine of a variant
        t0 = time.perf_counter()
        net = build_model(case.variant, **overrides).eval()
        cfg = net.config
        gen = torch.Generator().manual_seed(seed)
        x = torch.rand((case.batch, cfg.frames, cfg.n_joints, 2), generator=gen) * 2 - 1  # normalised 2-D
        x = x.to(self.device)
        eng = case.engine
        if eng.fast:
            model = prepare_for_inference(net, eng.dtype, compile=eng.compile, device=self.device, inplace=True)
        else:
            model = net.to(self.device)
        self.cases[case.key] = (model, x, eng.fast)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(warmup):
            self._forward(case.key)
        warm = time.perf_counter() - t0
        replay = None if index is None else torch.as_tensor(index, device=self.device)
        out = self._forward(case.key, replay)
        pose = out.pose.float().cpu()
        kept = out.kept if out.kept is not None else out.index
        return dict(build_s=built, warmup_s=warm, pose=pose.numpy(),
                    kept=None if kept is None else kept.cpu().numpy(), out_frames=int(pose.shape[1]),
                    allocator_tuned=self.tuned)

    def _forward(self, key: str, index: Optional[torch.Tensor] = None):
        model, x, fast = self.cases[key]
        if fast:
            out = model(x, index=index)
        else:
            with torch.inference_mode(), reference_attention():
                out = model(x) if index is None else model(x, index=index)
        self._sync()
        return out

    def time(self, key: str) -> float:
        """Seconds of one forward (device-synchronised)."""
        self._sync()
        t0 = time.perf_counter()
        self._forward(key)
        return time.perf_counter() - t0

    def drop(self) -> None:
        self.cases.clear()
        gc.collect()


def _worker_main(conn, device: str, threads: Optional[int], tune: bool) -> None:
    """Worker process loop: ``(op, args)`` requests → ``("ok", result)`` or ``("error", text)``."""
    logging.basicConfig(level=logging.WARNING)
    runner = Runner(device, threads, tune)
    while True:
        op, args = conn.recv()
        if op == "stop":
            break
        try:
            conn.send(("ok", getattr(runner, op)(*args)))
        except Exception as exc:  # reported to the parent, which decides
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))


class Executor:
    """Runs cases for one allocator setting: in a worker process (default) or in this process."""

    def __init__(self, allocator: str, device: str, threads: Optional[int], inprocess: bool) -> None:
        self.allocator = allocator
        tune = allocator == "tuned"
        self.local = Runner(device, threads, tune) if inprocess else None
        if self.local is None:
            ctx = mp.get_context("spawn")
            self.conn, child = ctx.Pipe()
            self.proc = ctx.Process(target=_worker_main, args=(child, device, threads, tune), daemon=True)
            self.proc.start()

    def call(self, op: str, *args: Any) -> Any:
        if self.local is not None:
            return getattr(self.local, op)(*args)
        try:
            self.conn.send((op, args))
            status, value = self.conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError) as exc:
            raise RuntimeError(f"the {self.allocator}-allocator worker process died (out of memory?)") from exc
        if status != "ok":
            raise RuntimeError(value)
        return value

    def close(self) -> None:
        if self.local is None and self.proc.is_alive():
            try:
                self.conn.send(("stop", ()))
            except (BrokenPipeError, OSError):
                pass
            self.proc.join(timeout=30)


# ---------------------------------------------------------------------------------------------
# static counts
# ---------------------------------------------------------------------------------------------
def clustering_flops(name: str, overrides: Dict[str, Any]) -> float:
    """FLOPs of the DPC-kNN clustering of one clip (batch 1), counted analytically per TPC call.

    Joint mean J·F·C; distances 2·F²·C (matrix product) + 3·F²; density, δ and score ~8·F². Top-k and
    sort are comparisons, not counted.
    """
    from hot_pose.models.hot import TokenPruningCluster
    from hot_pose.models.profile import build_on_device

    model = build_on_device(name, "meta", **overrides).eval()
    cfg = model.config
    total = [0.0]

    def hook(module: Any, inputs: Tuple[Any, ...]) -> None:
        x = inputs[0]
        if len(inputs) > 1 and inputs[1] is not None:
            return
        b, f, c = x.shape[0], x.shape[1], x.shape[-1]
        joints = x.shape[2] if x.ndim == 4 else 1
        total[0] += b * (joints * f * c + 2 * f * f * c + 11 * f * f)

    handles = [m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, TokenPruningCluster)]
    try:
        with torch.no_grad():
            model(torch.zeros(1, cfg.frames, cfg.n_joints, cfg.in_channels, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return total[0]


def static_counts(name: str, overrides: Dict[str, Any]) -> Dict[str, Any]:
    """Params and FLOPs of one clip (``hot_pose.models.profile``) plus clustering and the full per-frame count."""
    from hot_pose.models.profile import profile_variant

    stats = profile_variant(name, overrides)
    cluster = clustering_flops(name, overrides)
    stats["flops_clustering"] = cluster
    stats["flops_full"] = stats["flops"] + cluster
    stats["flops_full_per_frame"] = stats["flops_full"] / stats["scored_frames"]
    return stats


# ---------------------------------------------------------------------------------------------
# the timed run
# ---------------------------------------------------------------------------------------------
def _summary(times: List[float], batch: int, frames_out: int) -> Dict[str, Any]:
    ordered = sorted(times)
    median = statistics.median(ordered)
    p90 = ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]
    return dict(times_s=times, median_s=median, p90_s=p90, mean_s=statistics.fmean(ordered), min_s=ordered[0],
                output_frames_per_s=batch * frames_out / median)


def _max_diff(a: Any, b: Any) -> Optional[float]:
    """Largest absolute difference of two pose arrays (None if either is missing or shapes differ)."""
    if a is None or b is None or a.shape != b.shape:
        return None
    return float(abs(a - b).max())


def run_group(variants: Sequence[str], engines: Sequence[Engine], batch: int, args: argparse.Namespace,
              executors: Dict[str, Executor], static: Dict[str, Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Time every variant × engine of one family at one batch size, alternating round after round."""
    overrides = _overrides(args)
    cases = [Case(v, e, batch) for v in variants for e in engines]
    info: Dict[str, Dict[str, Any]] = {}
    anchor: Dict[str, Any] = {}  # variant → kept frames of its first engine (replayed by the others' check)
    for case in cases:
        _logger.info("building %s", case.key)
        ex = executors[case.engine.allocator]
        try:
            info[case.key] = ex.call("build", case, overrides, args.seed, args.warmup, anchor.get(case.variant))
        except RuntimeError as exc:
            _logger.warning("skipping %s: %s", case.key, str(exc).splitlines()[0])
            continue
        anchor.setdefault(case.variant, info[case.key]["kept"])
    live = [c for c in cases if c.key in info]
    times: Dict[str, List[float]] = {c.key: [] for c in live}
    start = time.perf_counter()
    for r in range(args.repeats):
        order = live if r % 2 == 0 else live[::-1]  # A B C … then … C B A: drift hits all alike
        for case in order:
            times[case.key].append(executors[case.engine.allocator].call("time", case.key))
        _logger.info("  round %d/%d of %d cases done, %.0f s", r + 1, args.repeats, len(order),
                     time.perf_counter() - start)
        if args.max_seconds and time.perf_counter() - start > args.max_seconds and r + 1 >= args.min_repeats:
            _logger.info("time budget reached after %d rounds", r + 1)
            break
    for ex in executors.values():
        ex.call("drop")
    rows = []
    for case in live:
        first = next(c for c in live if c.variant == case.variant)
        scored = static[case.variant]["scored_frames"]
        row = dict(variant=case.variant, engine=case.engine.name, dtype=case.engine.dtype,
                   compiled=case.engine.compile, allocator=case.engine.allocator, batch=batch,
                   scored_frames_per_clip=scored, build_s=info[case.key]["build_s"],
                   warmup_s=info[case.key]["warmup_s"],
                   max_abs_diff_vs_first_engine=_max_diff(info[case.key]["pose"], info[first.key]["pose"]),
                   first_engine=first.engine.name, **_summary(times[case.key], batch, scored))
        rows.append(row)
    _add_ratios(rows, variants[0], times)
    return rows


def _paired_ratio(num: List[float], den: List[float]) -> float:
    """Median over rounds of num_r / den_r (each round's two samples were taken back to back)."""
    return statistics.median(a / b for a, b in zip(num, den))


def _add_ratios(rows: List[Dict[str, Any]], baseline: str, times: Dict[str, List[float]]) -> None:
    """Speed-up vs. the reference engine (same variant) and vs. the baseline variant (same engine)."""
    by = {(r["variant"], r["engine"]): r for r in rows}
    for r in rows:
        ref = by.get((r["variant"], "reference"))
        base = by.get((baseline, r["engine"]))
        ref_base = by.get((baseline, "reference"))
        r["speedup_vs_reference"] = _paired_ratio(ref["times_s"], r["times_s"]) if ref else None
        r["wall_ratio_vs_baseline"] = (
            _paired_ratio(base["times_s"], r["times_s"]) if base and r["variant"] != baseline else None)
        # per output frame: baseline and variant may output different numbers of frames per clip
        r["throughput_ratio_vs_baseline"] = (
            r["output_frames_per_s"] / base["output_frames_per_s"] if base and r["variant"] != baseline else None)
        r["throughput_ratio_vs_baseline_reference"] = (
            r["output_frames_per_s"] / ref_base["output_frames_per_s"] if ref_base else None)


def _overrides(args: argparse.Namespace) -> Dict[str, Any]:
    return {k: getattr(args, k) for k in _SIZE_FLAGS if getattr(args, k, None) is not None}


def _groups(models: Optional[Sequence[str]]) -> List[Tuple[str, ...]]:
    """Variants grouped by family (baseline first), in the zoo's order."""
    from hot_pose.models import available_models

    if not models:
        return [g for g in DEFAULT_GROUPS]
    unknown = [m for m in models if m not in available_models()]
    if unknown:
        close = [m for u in unknown for m in difflib.get_close_matches(u, available_models(), n=1)]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"unknown --models {' '.join(unknown)}{hint}; list the models with "
                         f"`{list_models_command()}`")
    groups: Dict[str, List[str]] = {}
    for name in available_models():
        if name in models:
            groups.setdefault(name.split(".")[0], []).append(name)
    return [tuple(g) for g in groups.values()]


def _engines(args: argparse.Namespace) -> List[Engine]:
    compiles = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    engines = [REFERENCE] if args.reference else []
    engines += [Engine(d, c) for d in args.dtype for c in compiles]
    return engines



def environment(args: argparse.Namespace, argv: Sequence[str]) -> Dict[str, Any]:
    """Date, hardware, software and load: what the numbers depend on."""
    env = dict(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        command="python -m hot_pose.cli.bench " + " ".join(argv),
        device=args.device,
        cpu=cpu_name(),
        cpu_flags=cpu_flags(),
        cpu_count=os.cpu_count(),
        threads=args.threads or torch.get_num_threads(),
        torch=torch.__version__,
        python=platform.python_version(),
        platform=platform.platform(),
        load_average_start=os.getloadavg() if hasattr(os, "getloadavg") else None,
    )
    if args.device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(torch.device(args.device))
    return env


def _fmt_flops(v: float) -> str:
    return f"{v / 1e9:.2f} G" if v >= 1e9 else f"{v / 1e6:.1f} M"


def _fmt_diff(v: Optional[float], first: bool) -> str:
    return "–" if first or v is None else f"{v:.1e}"


def _fmt_ratio(v: Optional[float]) -> str:
    return "–" if v is None else f"{v:.2f}×"


def markdown(report: Dict[str, Any]) -> str:
    """The report's tables (the README's efficiency section)."""
    env = report["environment"]
    lines = [
        f"Measured {env['date'][:10]} on {env.get('gpu') or env['cpu']} ({env['cpu_count']} cores, "
        f"{env['threads']} threads), torch {env['torch']}, device `{env['device']}`; load average at start "
        f"{', '.join(f'{x:.1f}' for x in env['load_average_start'] or [])}. Command: `{env['command']}`.",
        *(f"\n{note}" for note in report.get("notes", [])),
        "",
        "| Model | Params | thop-FLOPs / clip | full FLOPs / clip | output frames / clip | thop-FLOPs / output frame "
        "| full FLOPs / output frame |",
        "|---|---|---|---|---|---|---|",
    ]
    if not report["static"]:
        lines = lines[:2]
    for name, s in report["static"].items():
        lines.append(
            f"| `{name}` | {s['params'] / 1e6:.2f} M | {_fmt_flops(s['flops_thop'])} | "
            f"{_fmt_flops(s['flops_full'])} | {s['scored_frames']} | {_fmt_flops(s['flops_thop_per_frame'])} | "
            f"{_fmt_flops(s['flops_full_per_frame'])} |"
        )
    lines += [
        "",
        "thop-FLOPs: 2 × MACs of module layers, as the paper counts (no attention matmuls, LayerNorm or "
        "clustering). Full: every matrix product incl. attention (`FlopCounterMode`) + DPC-kNN clustering. "
        "Seq2frame models score one frame per clip.",
        "",
        "| Model | Engine | Batch | Median ms | p90 ms | min ms | Output frames/s | vs. reference engine | "
        "wall-time ratio baseline / this | frames/s vs. baseline reference | max abs Δpose vs. first engine |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        lines.append(
            f"| `{r['variant']}` | {r['engine']} | {r['batch']} | {1000 * r['median_s']:.1f} | "
            f"{1000 * r['p90_s']:.1f} | {1000 * r['min_s']:.1f} | {r['output_frames_per_s']:.1f} | "
            f"{_fmt_ratio(r['speedup_vs_reference'])} | "
            f"{_fmt_ratio(r['wall_ratio_vs_baseline'])} | {_fmt_ratio(r['throughput_ratio_vs_baseline_reference'])} | "
            f"{_fmt_diff(r['max_abs_diff_vs_first_engine'], r['engine'] == r['first_engine'])} |"
        )
    lines += targets_table(report["runs"])
    lines += [
        "",
        "Engines: *reference* = float32 eager with explicit softmax attention and the default glibc allocator "
        "(how the reference code runs); *fp32* / *bf16* / *fp16* = `hot_pose.models.inference.prepare_for_inference` "
        "(SDPA, tuned allocator, cast weights, oneDNN fused linears in bf16 on CPU); *+compile* = torch.compile. "
        "Ratios are medians of per-round ratios: every case of a family was timed in turn, round after round, "
        f"{report['settings']['repeats']} rounds after {report['settings']['warmup']} warm-up forward(s). "
        "Δpose: the first engine's kept frames replayed, so only arithmetic differs (random weights: bf16 "
        "deviations say nothing about MPJPE; see `python -m tools.precision_check`).",
    ]
    return "\n".join(lines) + "\n"


#: the efficiency issue's targets for HoT w. MixSTE (same-run ratios): (label, kind, engine, bound)
TARGETS = (
    ("HoT w. MixSTE fp32 speed-up vs. reference engine", "speedup", "fp32", 1.3),
    ("HoT w. MixSTE bf16 speed-up vs. reference engine", "speedup", "bf16", 3.0),
    ("MixSTE / HoT w. MixSTE wall time, fp32", "ratio", "fp32", 1.8),
    ("MixSTE / HoT w. MixSTE wall time, bf16", "ratio", "bf16", 1.8),
    ("MixSTE / HoT w. MixSTE wall time, reference engine", "ratio", "reference", 1.8),
)


def targets_table(runs: List[Dict[str, Any]]) -> List[str]:
    """Markdown lines checking :data:`TARGETS` on the HoT w. MixSTE rows (empty if they were not run)."""
    rows = []
    for label, kind, engine, bound in TARGETS:
        for r in runs:
            if r["variant"] != "mixste.hot_mixste" or r["engine"] != engine:
                continue
            value = r["speedup_vs_reference"] if kind == "speedup" else r["wall_ratio_vs_baseline"]
            if value is not None:
                met = "yes" if value >= bound else "no"
                rows.append(f"| {label} | {r['batch']} | {value:.2f}× | ≥ {bound}× | {met} |")
    if not rows:
        return []
    header = ["", "| Target (efficiency issue) | Batch | Measured, same run | Target | Met |", "|---|---|---|---|---|"]
    return header + rows


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m hot_pose.cli.bench`` (``hot-bench``) argument parser."""
    positive = int_at_least(1)
    p = OneLineArgumentParser(prog=console_prog("hot_pose.cli.bench", "hot-bench"), description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("what to run")
    g.add_argument("--models", nargs="+", metavar="NAME",
                   help="variants to time (default: every family: MixSTE, MotionBERT, MotionAGFormer, MHFormer)")
    g.add_argument("--batch", nargs="+", type=positive, default=[1, 4], help="batch sizes, each >= 1 (default 1 4)")
    g.add_argument("--dtype", nargs="+", choices=["fp32", "bf16", "fp16"], default=None,
                   help="compute dtypes of the fast engines (default fp32 bf16; on a CPU without bf16 "
                        "instructions, where bf16 is emulated and slow, fp32 only, said in the table)")
    g.add_argument("--compile", choices=["off", "on", "both"], default="off",
                   help="torch.compile the fast engines: off (default), on, or both eager and compiled")
    g.add_argument("--no-reference", dest="reference", action="store_false",
                   help="skip the reference-style engine (explicit attention, default allocator)")
    g.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    g.add_argument("--threads", type=positive, default=None, help="intra-op threads, >= 1 (default: torch's default)")
    g = p.add_argument_group("timing")
    g.add_argument("--repeats", type=positive, default=3, help="timed rounds per case, >= 1 (default 3)")
    g.add_argument("--warmup", type=int_at_least(0), default=1,
                   help="untimed forwards per case before timing, >= 0 (default 1)")
    g.add_argument("--max-seconds", type=finite_float(0.0, low_open=True), default=None,
                   help="stop adding rounds to a family once it ran this long, > 0 (keeps --min-repeats)")
    g.add_argument("--min-repeats", type=positive, default=3, help="rounds kept even past --max-seconds (default 3)")
    g.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the random weights and inputs")
    g.add_argument("--inprocess", action="store_true",
                   help="run every engine in this process (no worker processes; the reference engine then "
                        "shares the tuned allocator)")
    g = p.add_argument_group("sizes (default: each variant's README configuration)")
    for flag in _SIZE_FLAGS:
        g.add_argument(f"--{flag}", type=int_at_least(0 if flag == "layer_index" else 1), default=None,
                       help=f"override {flag} for every variant")
    g = p.add_argument_group("output")
    g.add_argument("--name", type=plain_name, default=None,
                   help="report name: <out-dir>/<name>.json and .md (default benchmark_<device>)")
    g.add_argument("--out-dir", default=str(BENCHMARKS or "benchmarks"), help="folder of the JSON and markdown reports "
                   "(default the project's benchmarks/, whose tables are regenerated in place); checked before the "
                   "benchmark runs")
    g.add_argument("--overwrite", action="store_true",
                   help="replace an existing <name>.json/.md in an --out-dir other than the project's benchmarks/")
    g.add_argument("--no-static", dest="static", action="store_false", help="skip the params/FLOPs table")
    g.add_argument("--quiet", action="store_true", help="warnings only")
    g.add_argument("--verbose", action="store_true", help="show the traceback of an unexpected error")
    return p


def _check_device(device: str) -> None:
    """``cpu`` or an available ``cuda[:N]``; raises ``OutputError`` (a bad flag) naming the choices."""
    kind, _, index = device.partition(":")
    if kind == "cpu" and not index:
        return
    if kind != "cuda" or (index and not index.isdigit()):
        raise OutputError(f"--device {device} is not supported; use cpu or cuda[:N]")
    if not torch.cuda.is_available():
        raise OutputError(f"--device {device} asked but this torch has no usable CUDA device; use --device cpu")
    if index and int(index) >= torch.cuda.device_count():
        raise OutputError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                          f"cuda:0..cuda:{torch.cuda.device_count() - 1}")


def _check_args(args: argparse.Namespace) -> None:
    """Every check that needs no model or timing, destinations included. Raises ``OutputError``."""
    _check_device(args.device)


def _destinations(args: argparse.Namespace, name: str) -> Tuple[Path, Path]:
    json_path, md_path = check_outputs_in(args.out_dir, [f"{name}.json", f"{name}.md"], "--out-dir", args.overwrite,
                                          hint="choose another --name or --out-dir")
    return json_path, md_path


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status (0 done, 1 a case failed or writing failed, 2 bad flags
    or destination, 130 interrupted: what was measured is still written)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s",
                        stream=sys.stdout)
    return guarded(lambda: _run(args, argv), verbose=args.verbose)


def _run(args: argparse.Namespace, argv: List[str]) -> int:
    name = args.name or f"benchmark_{args.device.split(':')[0]}"
    try:
        _check_args(args)
        groups = _groups(args.models)
        json_path, md_path = _destinations(args, name)
    except (OutputError, ValueError) as exc:
        return fail(exc, 2)
    notes = []
    if args.dtype is None:
        args.dtype = ["fp32", "bf16"]
        if args.device == "cpu" and cpu_native_bf16() is False:
            args.dtype = ["fp32"]
            notes.append("bf16 not timed: this CPU has no bf16 instructions (AVX512-BF16/AMX), so PyTorch emulates "
                         "bf16 and it is several times slower than fp32; `--dtype fp32 bf16` times it anyway.")
            _logger.warning(notes[-1])
    if "fp16" in args.dtype and args.device == "cpu":
        _logger.warning("fp16 on CPU runs without fused kernels here and is usually slower than fp32")
    engines = _engines(args)
    report: Dict[str, Any] = dict(environment=environment(args, argv), static={}, runs=[],
                                  settings=dict(repeats=args.repeats, warmup=args.warmup, batches=args.batch,
                                                engines=[asdict(e) | {"name": e.name} for e in engines],
                                                overrides=_overrides(args), seed=args.seed), notes=notes)
    try:
        for group in groups:
            for v in group:
                report["static"][v] = static_counts(v, _overrides(args))
    except ValueError as exc:  # sizes a variant cannot take
        return fail(exc, 2)
    allocators = sorted({e.allocator for e in engines})
    if args.inprocess:  # one runner for everything: the reference engine shares the tuned allocator
        shared = Executor("tuned", args.device, args.threads, inprocess=True)
        executors = {a: shared for a in allocators}
    else:
        executors = {a: Executor(a, args.device, args.threads, inprocess=False) for a in allocators}
    status = 0
    try:
        for group in groups:
            for batch in args.batch:
                _logger.info("== %s, batch %d", ", ".join(group), batch)
                rows = run_group(group, engines, batch, args, executors, report["static"])
                report["runs"].extend(rows)
                for r in rows:
                    _logger.info("%-34s %-10s b%-3d %9.1f ms  %8.1f frames/s", r["variant"], r["engine"], batch,
                                 1000 * r["median_s"], r["output_frames_per_s"])
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; writing what was measured\n")
        status = 130
    except RuntimeError as exc:
        sys.stderr.write(f"error: {str(exc).splitlines()[0]}; writing what was measured\n")
        status = 1
    finally:
        for ex in set(executors.values()):
            ex.close()
    report["environment"]["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    if not args.static:
        report["static"] = {}
    text = markdown(report)
    sys.stdout.write(text)  # first: a failed write below still leaves the tables on screen
    sys.stdout.flush()
    try:
        with StagedOutputs() as stage:
            stage.write(json_path, json.dumps(report, indent=1) + "\n")
            stage.write(md_path, text)
    except WriteError as exc:
        return fail(exc, 1)
    _logger.info("wrote %s and %s", json_path, md_path)
    return status


if __name__ == "__main__":
    sys.exit(main())
