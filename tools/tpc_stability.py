"""Frame-choice stability of HoT's Token Pruning Cluster under 1e-6 perturbations of its input features.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028, Sec. 3.2) keeps f of F frames with DPC-kNN: pairwise distances of the frame features,
kNN density, δ (distance to the nearest denser frame), score ρ·δ, top-f. Near-ties make the kept frames
depend on arithmetic at the 1e-7 level, so two machines (or two attention kernels) can keep different
frames for the same clip. This tool measures how often that happens, for the reference-style distances
(``TokenPruningCluster.exact_distance = False``: ``torch.cdist``'s matrix-product path, non-zero
self-distances, not symmetric) and for ``exact_distance = True`` (features centred per clip, symmetric,
zero diagonal):

1. the real clustering input is captured: each model runs forward on real Human3.6M windows with its TPC
   module's ``select`` wrapped, which records the (B, F, C) features ``z`` it clusters, the tie-break noise
   it uses and the frames it keeps, then stops the forward (nothing after TPC is needed);
2. for each distance mode, the kept frames of ``z`` (``hot_pose.models.hot.clustering.dpc_knn_score`` +
   ``select_tokens`` with the module's ``k``, ``num_tokens``, ``center`` and the captured noise) are
   compared with those of perturbed copies of ``z``:

   * ``none``: ``z`` itself again (a sanity row: must be 0);
   * ``elementwise``: ``z · (1 + ε·N(0, 1))``, several seeds, each reported;
   * ``scale``: ``z · (1 + ε)``;
   * ``attention``: ``z`` computed by the same model on the same input with SDPA attention vs the explicit
     softmax attention of the reference (``hot_pose.cli.bench.reference_attention``): two arithmetic paths,
     which is what really differs between machines.

   The share changed of a clip is |kept_a Δ kept_b| / (2f) (= the fraction of a's kept frames not in b),
   averaged over clips.

Models: the trained shipped checkpoints that prune (each fed the 2-D it was trained on: GT, or the
Stacked-Hourglass detections with Neck/Nose completed for ``hot_mixste_27_wild``) and random-initialised
models (seeded) of every pruning variant of the zoo, at reference sizes by default.

    python -m tools.tpc_stability                 # default measurement → benchmarks/tpc_stability.{json,md}
    python -m tools.tpc_stability --quick --out-dir /tmp/x     # seconds, tiny (unit test)
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import math
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from hot_pose.utils.console import OneLineArgumentParser, fail, finite_float, guarded, int_at_least, plain_name
from hot_pose.utils.outputs import OutputError, StagedOutputs, WriteError, check_outputs_in
from hot_pose.utils.system import cpu_isa, cpu_name

_logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
#: the trained checkpoints of the repository that prune
DEFAULT_CHECKPOINTS = (
    "hot_pose/checkpoints/hot_mixste_27_gt/best.pth",
    "hot_pose/checkpoints/hot_mixste_27_n11_gt/best.pth",
    "hot_pose/checkpoints/hot_mixste_27_wild/best.pth",
    "hot_pose/checkpoints/hot_mixste_27_wild_vc/best.pth",
)
#: size overrides of the random-initialised models (``reference``: the variants' own defaults)
RANDOM_SIZES: Dict[str, Dict[str, int]] = {
    "reference": {},
    "reduced": dict(frames=81, channel=128, d_hid=256, token_num=27),
    "tiny": dict(frames=27, channel=32, d_hid=64, token_num=9, depth=3, layer_index=1),
}
#: perturbation keys in report order
DISTANCE_MODES = (("reference", False), ("exact", True))


def pruning_variants() -> List[str]:
    """Variants of the zoo that prune (``hot_`` or ``tpc_`` in the variant part of the name)."""
    from hot_pose.models import available_models

    return [n for n in available_models() if n.split(".", 1)[1].startswith(("hot_", "tpc_"))]


# ---------------------------------------------------------------------------------------------
# capturing the clustering input
# ---------------------------------------------------------------------------------------------
class _Captured(Exception):
    """Raised by the wrapped ``select`` to stop the forward once TPC has clustered."""


@dataclass
class Capture:
    """What one TPC call clustered: features, tie-break noise, kept frames, and the module's settings."""

    z: torch.Tensor  # (B, F, C) float32
    noise: torch.Tensor  # broadcastable to (B, F)
    index: torch.Tensor  # (B, f) frames the model kept
    k: int
    num_tokens: int
    center: Optional[int]
    exact_distance: bool


def tpc_modules(net: nn.Module) -> List[nn.Module]:
    """The ``TokenPruningCluster`` modules of ``net``."""
    from hot_pose.models.hot import TokenPruningCluster

    return [m for m in net.modules() if isinstance(m, TokenPruningCluster)]


@contextlib.contextmanager
def capture_tpc(net: nn.Module) -> Iterator[List[Capture]]:
    """Within the block, the first TPC call of a forward records a :class:`Capture` and stops the forward.

    ``hot_pose.models.hot.pruning.dpc_knn_score`` is wrapped to see the noise and settings ``select`` passes, and the
    module's ``select`` to see the kept frames; both are restored on exit.
    """
    import hot_pose.models.hot.pruning as pruning

    modules = tpc_modules(net)
    if not modules:
        raise ValueError(f"{type(net).__name__} has no TokenPruningCluster")
    captures: List[Capture] = []
    seen: Dict[str, Any] = {}
    original_score = pruning.dpc_knn_score

    def score(z: torch.Tensor, k: int = 2, generator=None, noise=None, exact_distance: bool = True):
        seen.update(z=z, k=k, noise=noise, exact_distance=exact_distance)
        return original_score(z, k=k, generator=generator, noise=noise, exact_distance=exact_distance)

    def wrap(module: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        bound = module.select

        def select(z: torch.Tensor) -> torch.Tensor:
            seen.clear()
            index = bound(z)
            if seen.get("noise") is None:
                raise RuntimeError("TPC select did not pass its tie-break noise to dpc_knn_score")
            captures.append(Capture(seen["z"], seen["noise"], index, int(seen["k"]), module.num_tokens,
                                    module.center, bool(seen["exact_distance"])))
            raise _Captured

        return select

    pruning.dpc_knn_score = score
    for module in modules:
        module.select = wrap(module)
    try:
        yield captures
    finally:
        pruning.dpc_knn_score = original_score
        for module in modules:
            del module.select  # the instance attribute; the class method is visible again


@torch.no_grad()
def capture_batches(net: nn.Module, batches: Sequence[torch.Tensor], explicit: bool = False) -> List[Capture]:
    """One :class:`Capture` per input batch (B, F, J, C_in); ``explicit``: the reference's softmax attention."""
    from hot_pose.cli.bench import reference_attention

    out: List[Capture] = []
    attention = reference_attention() if explicit else contextlib.nullcontext()
    with attention, capture_tpc(net) as captures:
        for x in batches:
            before = len(captures)
            try:
                net(x)
            except _Captured:
                pass
            if len(captures) != before + 1:
                raise RuntimeError(f"{type(net).__name__}: TPC did not fire on a batch (does the model prune?)")
        out.extend(captures)
    return out


# ---------------------------------------------------------------------------------------------
# kept frames and their changes
# ---------------------------------------------------------------------------------------------
@torch.no_grad()
def kept_frames(z: torch.Tensor, cap: Capture, exact: bool) -> torch.Tensor:
    """Frames (B, f) TPC keeps for features ``z`` with ``cap``'s noise and settings, distances ``exact`` or not."""
    from hot_pose.models.hot.clustering import dpc_knn_score, select_tokens

    score = dpc_knn_score(z, k=cap.k, noise=cap.noise, exact_distance=exact)
    return select_tokens(score, cap.num_tokens, center=cap.center)


def changed_per_clip(a: torch.Tensor, b: torch.Tensor, frames: int) -> torch.Tensor:
    """Per clip, the number of frames kept in ``a`` (B, f) but not in ``b`` (B, f) (= |a Δ b| / 2)."""
    mask_a = torch.zeros(a.shape[0], frames, dtype=torch.bool).scatter_(1, a, True)
    mask_b = torch.zeros(b.shape[0], frames, dtype=torch.bool).scatter_(1, b, True)
    return (mask_a & ~mask_b).sum(dim=1)


def summarise(changed: torch.Tensor, f: int) -> Dict[str, Any]:
    """Share of kept frames changed (mean over clips of changed/f), clips with any change, frames changed."""
    return dict(share=float(changed.double().mean() / f) if len(changed) else float("nan"),
                clips_changed=float((changed > 0).double().mean()) if len(changed) else float("nan"),
                frames_changed=int(changed.sum()))


def stability_rows(caps: Sequence[Capture], other: Optional[Sequence[Capture]], seeds: Sequence[int],
                   eps: float) -> Dict[str, Dict[str, Any]]:
    """Every perturbation × distance mode for the captured batches ``caps`` (``other``: the explicit-attention
    captures of the same inputs, or ``None`` to skip that row)."""
    frames, f = caps[0].z.shape[1], caps[0].num_tokens
    rows: Dict[str, Dict[str, Any]] = {}

    def row(key: str, label: str, perturb: Callable[[int, Capture], torch.Tensor]) -> None:
        entry: Dict[str, Any] = dict(label=label)
        for mode, exact in DISTANCE_MODES:
            changed = torch.cat([changed_per_clip(kept_frames(c.z, c, exact), kept_frames(perturb(i, c), c, exact),
                                                  frames) for i, c in enumerate(caps)])
            entry[mode] = summarise(changed, f)
        rows[key] = entry

    row("none", "none (rerun on the same z)", lambda i, c: c.z.clone())
    for seed in seeds:
        gen = torch.Generator().manual_seed(int(seed))
        draws = [torch.randn(c.z.shape, generator=gen, dtype=c.z.dtype) for c in caps]
        row(f"elementwise_s{seed}", f"z·(1+{eps:g}·N(0,1)), seed {seed}",
            lambda i, c, d=draws: c.z * (1 + eps * d[i]))
    if seeds:
        rows["elementwise_mean"] = dict(label=f"z·(1+{eps:g}·N(0,1)), mean of {len(seeds)} seeds", **{
            mode: dict(share=float(np.mean([rows[f"elementwise_s{s}"][mode]["share"] for s in seeds])),
                       clips_changed=float(np.mean([rows[f"elementwise_s{s}"][mode]["clips_changed"] for s in seeds])),
                       frames_changed=int(sum(rows[f"elementwise_s{s}"][mode]["frames_changed"] for s in seeds)))
            for mode, _ in DISTANCE_MODES})
    row("scale", f"z·(1+{eps:g})", lambda i, c: c.z * (1 + eps))
    if other is not None:
        row("attention", "SDPA vs explicit softmax attention (same input)", lambda i, c: other[i].z)
        rel = [float((c.z - o.z).abs().max() / c.z.abs().max().clamp_min(1e-30)) for c, o in zip(caps, other)]
        rows["attention"]["z_max_rel_diff"] = max(rel)
    return rows


# ---------------------------------------------------------------------------------------------
# models and inputs
# ---------------------------------------------------------------------------------------------
@dataclass
class ModelCase:
    """One model to measure: a name, how it was made, its network and the 2-D it reads."""

    name: str
    kind: str  # "trained" or "random"
    net: nn.Module
    keypoints: str
    checkpoint: Optional[str] = None
    init_seed: Optional[int] = None
    sizes: Dict[str, Any] = field(default_factory=dict)


def _sizes(net: nn.Module) -> Dict[str, Any]:
    cfg = net.config.to_dict() if hasattr(net.config, "to_dict") else dict(vars(net.config))
    keys = ("frames", "channel", "d_hid", "depth", "token_num", "layer_index", "n_joints", "in_channels")
    return {k: cfg[k] for k in keys if k in cfg and cfg[k] is not None}


def trained_case(checkpoint: str) -> ModelCase:
    """A shipped checkpoint, with the 2-D source recorded in its ``args['keypoints']``."""
    from hot_pose.models.inference import load_model

    path = Path(checkpoint)
    path = path if path.is_absolute() else ROOT / path
    meta = torch.load(path, map_location="cpu", weights_only=True)
    keypoints = (meta.get("args") or {}).get("keypoints", "gt")
    net = load_model(checkpoint=str(path)).eval()
    return ModelCase(path.parent.name, "trained", net, keypoints, checkpoint=str(checkpoint), sizes=_sizes(net))


def random_case(variant: str, sizes: str, seed: int) -> ModelCase:
    """A random-initialised ``variant`` (``torch.manual_seed(seed)`` before building) fed GT 2-D."""
    from hot_pose.models import build_model

    torch.manual_seed(seed)
    net = build_model(variant, **RANDOM_SIZES[sizes]).eval()
    keypoints = "gt" if net.config.n_joints == 17 else "sh_pt_mpii"
    return ModelCase(f"{variant} (random, {sizes})", "random", net, keypoints, init_seed=seed, sizes=_sizes(net))


class Inputs:
    """Real Human3.6M windows, loaded once per 2-D source and cut once per window length."""

    def __init__(self, root: Path, subjects: Sequence[str], actions: Optional[str], include_padded: bool) -> None:
        self.root, self.subjects, self.actions = root, list(subjects), actions
        self.include_padded = include_padded
        self._data: Dict[str, Any] = {}

    def data(self, keypoints: str):
        """``load_h36m`` of ``keypoints`` (16-joint detections get Neck/Nose completed: 17 joints)."""
        from hot_pose.data.dataset import load_h36m

        if keypoints not in self._data:
            t0 = time.perf_counter()
            self._data[keypoints] = load_h36m(self.root, keypoints, subjects=self.subjects, complete_16=True)
            _logger.info("loaded %s 2-D of %s in %.1f s", keypoints, ",".join(self.subjects), time.perf_counter() - t0)
        return self._data[keypoints]

    def windows(self, keypoints: str, frames: int, clips: int) -> Tuple[torch.Tensor, Dict[str, Any]]:
        """``clips`` windows (N, F, J, 2) spread evenly over the test windows (stride F, no flip), and a
        description; windows with edge-replicated frames are left out unless ``include_padded``."""
        from hot_pose.data.dataset import PoseWindowDataset

        ds = PoseWindowDataset(self.data(keypoints), self.subjects, frames, frames, train=False,
                               actions=self.actions, test_flip=False)
        table = ds.samples  # (S, 4): sequence, start, flip, reverse
        lengths = np.array([len(seq) for seq in ds.sequences])
        interior = (table[:, 1] >= 0) & (table[:, 1] + frames <= lengths[table[:, 0]])
        candidates = [int(i) for i in np.flatnonzero(interior | self.include_padded)]
        if not candidates:
            raise ValueError(f"no {frames}-frame windows of {self.subjects} without padding; use --include-padded")
        picks = sorted(set(np.linspace(0, len(candidates) - 1, min(clips, len(candidates))).round().astype(int)))
        samples = [ds[candidates[i]] for i in picks]
        x = torch.stack([torch.as_tensor(s["input_2d"]) for s in samples]).float()
        actions = sorted({s["action"].split(" ")[0] for s in samples})
        return x, dict(windows=len(samples), of=len(candidates), actions=actions,
                       subjects=sorted({s["subject"] for s in samples}))


def measure(case: ModelCase, inputs: Inputs, clips: int, batch: int, seeds: Sequence[int], eps: float,
            attention: bool) -> Dict[str, Any]:
    """Capture the clustering input of ``case`` on real windows and compute its stability rows."""
    t0 = time.perf_counter()
    net = case.net
    module = tpc_modules(net)[0]
    x, where = inputs.windows(case.keypoints, net.config.frames, clips)
    batches = list(torch.split(x, batch))
    caps = capture_batches(net, batches)
    t_fwd = time.perf_counter() - t0
    other = capture_batches(net, batches, explicit=True) if attention else None
    matches = all(torch.equal(kept_frames(c.z, c, c.exact_distance), c.index) for c in caps)
    rows = stability_rows(caps, other, seeds, eps)
    seconds = time.perf_counter() - t0
    def pair(key: str) -> str:
        row = rows.get(key)
        return "n/a" if row is None else f"{row['reference']['share']:.4f} / {row['exact']['share']:.4f}"

    _logger.info("%s: %d clips, F=%d, f=%d; share changed (reference / exact): elementwise %s, scale %s, "
                 "attention %s; %.1f s", case.name, len(x), x.shape[1], module.num_tokens, pair("elementwise_mean"),
                 pair("scale"), pair("attention"), seconds)
    return dict(name=case.name, kind=case.kind, variant=getattr(net, "variant_name", None), checkpoint=case.checkpoint,
                init_seed=case.init_seed, sizes=case.sizes, keypoints=case.keypoints, inputs=where,
                frames_clustered=int(caps[0].z.shape[1]), feature_dim=int(caps[0].z.shape[2]),
                num_tokens=module.num_tokens, k=module.k, center=module.center,
                model_exact_distance=bool(caps[0].exact_distance), capture_matches_model=bool(matches),
                results=rows, seconds=round(seconds, 2), forward_seconds=round(t_fwd, 2))


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------
def _pct(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.2f} %"


def _cell(row: Optional[Dict[str, Any]]) -> str:
    return "–" if row is None else f"{_pct(row['reference']['share'])} / {_pct(row['exact']['share'])}"


def _sizes_text(sizes: Dict[str, Any]) -> str:
    keys = ("frames", "channel", "depth", "token_num", "layer_index")
    return ", ".join(f"{k} {sizes[k]}" for k in keys if k in sizes)


def markdown(report: Dict[str, Any]) -> str:
    """The Markdown tables of a report."""
    eps = report["settings"]["eps"]
    seeds = report["settings"]["seeds"]
    lines = [
        "## TPC frame-choice stability",
        "",
        f"Share of kept frames that change (|kept_a Δ kept_b| / 2f, mean over clips) when the features DPC-kNN "
        f"clusters are perturbed by a relative {eps:g}; each cell is **reference distances / exact distances** "
        "(`TokenPruningCluster.exact_distance` False / True). Features captured at the model's TPC module on real "
        f"Human3.6M test windows ({', '.join(report['settings']['subjects'])}, stride F, no flip"
        f"{', padded windows included' if report['settings']['include_padded'] else ', windows without padding'}); "
        "kept frames recomputed with `hot_pose.models.hot.clustering.dpc_knn_score` + `select_tokens` and the captured "
        "tie-break noise. *elementwise*: z·(1+ε·N(0,1)), mean of "
        f"{len(seeds)} seeds; *scale*: z·(1+ε); *attention*: the same input through SDPA vs the explicit softmax "
        "attention of the reference; *rerun*: the same z again (sanity, must be 0).",
        "",
        "| model | sizes | 2-D | clips | rerun | elementwise | scale | attention |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in report["models"]:
        r = m["results"]
        lines.append(f"| {m['name']} | {_sizes_text(m['sizes'])} | {m['keypoints']} | {m['inputs']['windows']} | "
                     f"{_cell(r['none'])} | {_cell(r.get('elementwise_mean'))} | {_cell(r['scale'])} | "
                     f"{_cell(r.get('attention'))} |")
    if seeds:
        lines += ["", "Elementwise perturbation per seed, and clips with any change (reference / exact):", "",
                  "| model | " + " | ".join(f"seed {s}" for s in seeds) + " | clips changed (elementwise mean) | "
                  "clips changed (attention) | max rel. Δz (attention) |",
                  "|---|" + "---|" * len(seeds) + "---|---|---|"]
        for m in report["models"]:
            r = m["results"]
            att = r.get("attention")
            lines.append(f"| {m['name']} | " + " | ".join(_cell(r[f'elementwise_s{s}']) for s in seeds) + " | "
                         f"{_pct(r['elementwise_mean']['reference']['clips_changed'])} / "
                         f"{_pct(r['elementwise_mean']['exact']['clips_changed'])} | "
                         + (f"{_pct(att['reference']['clips_changed'])} / {_pct(att['exact']['clips_changed'])} | "
                            f"{att['z_max_rel_diff']:.1e} |" if att else "– | – |"))
    env = report["environment"]
    lines += ["", f"Measured on {env['cpu']} ({env['isa']}), torch {env['torch']}, {env['threads']} thread(s), "
              f"in {report['wall_s']:.0f} s wall time, with:", "", "```", report["command"], "```", ""]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m tools.tpc_stability`` argument parser."""
    positive = int_at_least(1)
    p = OneLineArgumentParser(prog="python -m tools.tpc_stability", description=__doc__.split("\n\n")[0])
    p.add_argument("--root-path", "--root_path", type=Path, default=ROOT / "dataset",
                   help="folder with data_3d_h36m.npz, data_2d_h36m_gt.npz (dataset/prepare_data_h36m.py builds it) "
                        "and data_2d_h36m_sh_pt_mpii.npz (default ./dataset)")
    p.add_argument("--subjects", default="S9,S11",
                   help="comma-separated test subjects to take windows from (default S9,S11)")
    p.add_argument("--actions", default="*", help="comma-separated action names, or * for all (default *)")
    p.add_argument("--checkpoints", nargs="*", default=list(DEFAULT_CHECKPOINTS),
                   help="trained checkpoints that prune (default: the three shipped HoT checkpoints); "
                        "none: give the flag alone")
    p.add_argument("--random-models", nargs="*", default=None,
                   help="variants to measure random-initialised (default: every pruning variant of the zoo); "
                        "none: give the flag alone")
    p.add_argument("--random-sizes", choices=sorted(RANDOM_SIZES), default="reference",
                   help="sizes of the random models: the variants' reference sizes, or reduced/tiny overrides "
                        "(default reference)")
    p.add_argument("--init-seed", type=int_at_least(0), default=0,
                   help="torch.manual_seed before building each random model (default 0)")
    p.add_argument("--trained-clips", type=positive, default=512, help="windows per trained model (default 512)")
    p.add_argument("--random-clips", type=positive, default=16, help="windows per random model (default 16)")
    p.add_argument("--batch-size", type=positive, default=8, help="windows per forward (default 8)")
    p.add_argument("--seeds", type=positive, default=5, help="seeds 0..N-1 of the elementwise perturbation (default 5)")
    p.add_argument("--eps", type=finite_float(0.0, low_open=True), default=1e-6,
                   help="relative size of the perturbations, > 0 (default 1e-6)")
    p.add_argument("--no-attention", action="store_true",
                   help="skip the SDPA-vs-explicit-attention comparison (halves the forwards)")
    p.add_argument("--include-padded", action="store_true",
                   help="also use windows with edge-replicated frames at sequence ends (exact duplicates)")
    p.add_argument("--threads", type=positive, default=1, help="torch threads (default 1)")
    p.add_argument("--system-allocator", action="store_true",
                   help="keep glibc's default allocator (default: model.inference.tune_allocator, faster forwards, "
                        "same arithmetic; never applied with --quick)")
    p.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks",
                   help="where to write the results (default benchmarks/, regenerated in place); checked first")
    p.add_argument("--name", type=plain_name, default="tpc_stability",
                   help="file stem of the results: <out-dir>/<name>.json/.md")
    p.add_argument("--overwrite", action="store_true", help="replace existing <name>.json/.md in an --out-dir other "
                   "than the project's benchmarks/")
    p.add_argument("--quick", action="store_true",
                   help="a seconds-long run for tests: S9 Walking, 16 windows per trained model, 2 per tiny random "
                        "model, 2 seeds")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="debug logging, and the traceback of an unexpected error")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status (0 done, 2 bad flags, data or destination, 1 failed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                            format="%(asctime)s %(name)s %(levelname)s: %(message)s", stream=sys.stdout)
    return guarded(lambda: _main(args, argv), verbose=args.verbose)


def _main(args: argparse.Namespace, argv: List[str]) -> int:
    if args.quick:
        args.subjects, args.actions = "S9", "Walking"
        args.trained_clips, args.random_clips, args.seeds, args.batch_size = 16, 2, 2, 16
        args.random_sizes = "tiny"
    from hot_pose.data.h36m import DataError

    try:
        json_path, md_path = check_outputs_in(args.out_dir, [f"{args.name}.json", f"{args.name}.md"], "--out-dir",
                                              args.overwrite, hint="choose another --name or --out-dir")
    except OutputError as exc:
        return fail(exc, 2)
    if not (args.quick or args.system_allocator):
        from hot_pose.models.inference import tune_allocator

        tune_allocator()  # process-wide: no page faults on the large activations; changes no arithmetic
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    try:
        report = run(args)
    except (DataError, FileNotFoundError, ValueError) as exc:
        return fail(exc, 2)
    finally:
        torch.set_num_threads(threads)
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    report["command"] = " ".join(["python -m tools.tpc_stability", *argv])
    try:
        with StagedOutputs() as stage:
            stage.write(json_path, json.dumps(report, indent=1) + "\n")
            stage.write(md_path, markdown(report))
    except WriteError as exc:
        return fail(exc, 1)
    _logger.info("wrote %s and %s (%.0f s)", json_path, md_path, report["wall_s"])
    return 0


def run(args: argparse.Namespace) -> Dict[str, Any]:
    """Measure every requested model; the report without ``wall_s`` and ``command``."""
    subjects = [s.strip() for s in args.subjects.split(",") if s.strip()]
    actions = None if args.actions.strip() in ("", "*") else args.actions
    inputs = Inputs(args.root_path, subjects, actions, args.include_padded)
    seeds = list(range(args.seeds))
    variants = pruning_variants() if args.random_models is None else list(args.random_models)
    models: List[Dict[str, Any]] = []
    common = dict(batch=args.batch_size, seeds=seeds, eps=args.eps, attention=not args.no_attention)
    for checkpoint in args.checkpoints:
        _logger.info("trained model %s", checkpoint)
        models.append(measure(trained_case(checkpoint), inputs, args.trained_clips, **common))
    for variant in variants:
        _logger.info("random model %s (%s sizes, seed %d)", variant, args.random_sizes, args.init_seed)
        models.append(measure(random_case(variant, args.random_sizes, args.init_seed), inputs, args.random_clips,
                              **common))
    name, isa = cpu_name(), cpu_isa()
    return dict(
        tool="tools.tpc_stability",
        paper="Li et al., Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation, CVPR 2024, "
              "arXiv:2311.12028",
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        environment=dict(cpu=name, isa=isa, torch=torch.__version__, python=platform.python_version(),
                         threads=args.threads),
        settings=dict(eps=args.eps, seeds=seeds, subjects=subjects, actions=args.actions, root_path=str(args.root_path),
                      trained_clips=args.trained_clips, random_clips=args.random_clips, random_sizes=args.random_sizes,
                      init_seed=args.init_seed, batch_size=args.batch_size, attention=not args.no_attention,
                      include_padded=args.include_padded, quick=args.quick,
                      tuned_allocator=not (args.quick or args.system_allocator)),
        definition="share = mean over clips of |kept_a Δ kept_b| / (2 f); clips_changed = fraction of clips with any "
                   "change; reference = exact_distance False (torch.cdist matrix-product path), exact = True",
        models=models,
    )


if __name__ == "__main__":
    sys.exit(main())
