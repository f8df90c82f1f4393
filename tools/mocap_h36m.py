"""Root-position accuracy of ``hot_pose.mocap`` on Human3.6M: MRPE of the metric pelvis in the camera frame.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028) is scored root-relative; ``hot_pose.mocap`` places its poses in the scene. This tool measures
where it puts the root on the test subjects S9 and S11 (all four cameras, every frame unless ``--stride``), with
each camera's real intrinsics and lens distortion (Human3.6M's toolbox model):

* 2-D: ``gt`` (the 3-D projected by the project's camera code, ``Human36mDataset.project_gt_2d``) and ``sh``
  (Stacked-Hourglass detections ``sh_pt_mpii``: 16 joints, Neck/Nose completed on the thorax→head segment as
  ``hot_pose.data.dataset.load_h36m(complete_16=True)`` does);
* root-relative 3-D: ``lifted``, the shipped lifters (``hot_mixste_27_gt`` on GT 2-D, ``hot_mixste_27_wild_vc``
  on SH 2-D; ``hot_pose.wild.lift.load_lifter`` + ``lift_sequences``: 27-frame windows, flip test-time
  augmentation, as the demo lifts), and ``gt``, the true root-relative pose (the upper bound);
* the noise preset of the 2-D source (``hot_pose.mocap.trajectory.NOISE_PRESETS``): ``exact`` for GT 2-D (it is
  the projection of the same skeleton), ``detector`` for SH 2-D;
* heights: ``default`` (``DEFAULT_HEIGHT_M`` = 1.70 m: the height unknown), ``true`` (each subject's stature,
  ``hot_pose.mocap.height.stature``: floor → head-top site, median over its upright standing frames, + 0.06 m;
  S9 1.748 m, S11 1.716 m), ``skeleton`` (an oracle: the rule's height of the sequence's GT skeleton, so the
  rule's own error is out) and ``lifter`` (the lifter's own metric size, scale 1; lifted 3-D only).

MRPE = mean over frames of ‖root − pelvis_GT‖ in the camera frame (mm); also its median, the depth (|z|) and
lateral (x, y) parts, the mean signed depth error in % of the depth (bias), per subject, and the jitter: mean
‖Δ²root − Δ²pelvis_GT‖ (mm/frame² at the evaluated stride) beside the lifted pose's own acceleration error.

    python -m tools.mocap_h36m                 # S9+S11, 4 cameras, every frame → benchmarks/mocap_h36m.{json,md}
    python -m tools.mocap_h36m --quick --out-dir /tmp/m   # 4 short Walking sequences of camera 0 (a smoke test)

The lifts are cached in the user cache (``<cache>/mocap_h36m/``, keyed by the checkpoint's SHA-256; ``--no-cache``
recomputes); they take ~10 min per 2-D source at one thread, the evaluation ~8 min.
"""
from __future__ import annotations

import argparse
import io
import logging
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from hot_pose.utils.console import OneLineArgumentParser, int_at_least

_logger = logging.getLogger("tools.mocap_h36m")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_H36M = Path(os.environ.get("HOT_SHARED_DATA", ROOT.parent / "shared" / "data")) / "h36m"
OUTPUT_STEM = "mocap_h36m"
SUBJECTS = ("S9", "S11")
#: 2-D source → the shipped lifter for it and the trajectory's noise preset
SOURCES: Dict[str, Dict[str, str]] = {
    "gt": dict(checkpoint="hot_mixste_27_gt", preset="exact",
               label="GT 2-D (the 3-D projected with each camera's intrinsics and distortion)"),
    "sh": dict(checkpoint="hot_mixste_27_wild_vc", preset="detector",
               label="Stacked-Hourglass 2-D (sh_pt_mpii, Neck/Nose completed)"),
}
POSES = ("lifted", "gt")
HEIGHTS = ("default", "true", "skeleton", "lifter")
#: the --quick selection: camera 0, the Walking sequences, the first frames
QUICK = dict(cameras=(0,), actions="Walking", max_frames=300)
FPS = 50.0


class ToolError(RuntimeError):
    """A user-facing problem (bad flag, missing data); the message names it and the fix."""


@dataclass
class Sequence2D:
    """One (subject, action, camera) sequence.

    Attributes:
        subject, action, camera: its names.
        pixels: (N, 17, 2) 2-D keypoints in pixels (distorted, as a detector sees them).
        normalised: (N, 17, 2) the same in the lifter's screen coordinates.
        gt: (N, 17, 3) the true absolute joints in the camera frame, metres.
        intrinsics: the camera (``hot_pose.mocap.Intrinsics``, Human3.6M distortion).
    """

    subject: str
    action: str
    camera: int
    pixels: np.ndarray
    normalised: np.ndarray
    gt: np.ndarray
    intrinsics: Any

    @property
    def key(self) -> str:
        return f"{self.subject}|{self.action}|{self.camera}"


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def camera_intrinsics(camera: Any) -> Any:
    """A ``hot_pose.data.camera.Camera`` → ``hot_pose.mocap.Intrinsics`` with the Human3.6M lens model."""
    from hot_pose.mocap import Intrinsics

    return Intrinsics(float(camera.focal_length[0]), float(camera.focal_length[1]), float(camera.center[0]),
                      float(camera.center[1]), int(camera.res_w), int(camera.res_h),
                      (*camera.radial_distortion, *camera.tangential_distortion), "h36m", source="calibration")


def _wanted(action: str, actions: Optional[List[str]]) -> bool:
    from hot_pose.data.h36m import canonical_action

    return actions is None or canonical_action(action) in actions


def load_sequences(h36m: Path, source: str, subjects: Sequence[str], cameras: Sequence[int],
                   actions: Optional[List[str]], max_frames: Optional[int]) -> Tuple[List[Sequence2D], Any]:
    """The sequences of one 2-D source, and the ``Human36mDataset`` (world poses) of ``subjects``.

    Raises:
        DataError: missing or malformed files (``hot_pose.data``).
    """
    from hot_pose.data.camera import image_coordinates, to_absolute
    from hot_pose.data.dataset import load_h36m
    from hot_pose.data.h36m import Human36mDataset

    mocap = Human36mDataset(h36m / "data_3d_h36m.npz", subjects=subjects)
    cut = slice(None, max_frames)
    out: List[Sequence2D] = []
    if source == "gt":
        for s in subjects:
            cams = mocap.cameras(s)
            for a in mocap[s]:
                if not _wanted(a, actions):
                    continue
                for c in cameras:
                    gt = mocap.camera_positions(s, a, c, dtype=np.float64)[cut]
                    px = cams[c].project(gt)
                    out.append(Sequence2D(s, a, c, px, cams[c].normalize(px), gt, camera_intrinsics(cams[c])))
    else:
        data = load_h36m(h36m, "sh_pt_mpii", subjects=subjects, complete_16=True)
        for (s, a, c), seq in data.sequences.items():
            if c not in cameras or not _wanted(a, actions):
                continue
            cam = data.cameras[s][c]
            norm = np.asarray(seq.pose_2d, np.float64)[cut]
            out.append(Sequence2D(s, a, c, image_coordinates(norm, cam.res_w, cam.res_h), norm,
                                  to_absolute(seq.pose_3d).astype(np.float64)[cut], camera_intrinsics(cam)))
    out.sort(key=lambda q: (q.subject, q.action, q.camera))
    return out, mocap


def statures(mocap: Any, subjects: Sequence[str]) -> Dict[str, float]:
    """Each subject's stature from all its world frames (``hot_pose.mocap.height.stature``), metres."""
    from hot_pose.mocap.height import stature

    return {s: stature(np.concatenate([np.asarray(p, np.float64) for p in mocap[s].values()])) for s in subjects}


# ---------------------------------------------------------------------------------------------
# lifting
# ---------------------------------------------------------------------------------------------
def _read_cache(path: Optional[Path]) -> Dict[str, np.ndarray]:
    if path is None or not path.is_file():
        return {}
    try:
        with np.load(path) as d:
            return {k: d[k] for k in d.files}
    except Exception as exc:  # noqa: BLE001 - a damaged cache is recomputed, never trusted
        _logger.warning("ignoring the unreadable lift cache %s (%s)", path, exc)
        return {}


def _write_cache(path: Path, lifts: Dict[str, np.ndarray]) -> None:
    from hot_pose.utils.outputs import WriteError, atomic_write

    buffer = io.BytesIO()
    np.savez(buffer, **{k: v.astype(np.float32) for k, v in lifts.items()})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, buffer.getvalue())
    except (OSError, WriteError) as exc:
        _logger.warning("could not write the lift cache %s (%s); continuing without it", path, exc)


def lift(sequences: List[Sequence2D], checkpoint: Path, batch_size: int, device: str,
         cache: Optional[Path]) -> Tuple[Dict[str, np.ndarray], int]:
    """Root-relative 3-D of every sequence by the lifter of ``checkpoint``, as the demo lifts (sliding 27-frame
    windows, flip test-time augmentation); cached sequences are read from ``cache``.

    Returns:
        ``({key: (N, 17, 3) float64}, how many sequences were lifted now rather than read from the cache)``.

    Raises:
        DemoError: the checkpoint cannot be loaded or run (``hot_pose.wild.lift.load_lifter``).
    """
    from hot_pose.wild.lift import h36m_sides, lift_sequences, load_lifter

    known = _read_cache(cache)
    todo = [q for q in sequences if q.key not in known or len(known[q.key]) != len(q.normalised)]
    if todo:
        lifter = load_lifter(checkpoint=checkpoint, device=device)
        left, right = h36m_sides()
        start = time.perf_counter()
        for i in range(0, len(todo), 16):
            chunk = todo[i:i + 16]
            x = [q.normalised.astype(np.float32) for q in chunk]
            if lifter.in_channels == 3:  # a confidence channel: 1 (GT and SH files carry none)
                x = [np.concatenate([v, np.ones(v.shape[:2] + (1,), np.float32)], -1) for v in x]
            out = lift_sequences(lifter.model, x, lifter.frames, lifter.mode, flip=True, joints_left=left,
                                 joints_right=right, batch_size=batch_size, device=device)
            known.update({q.key: p for q, p in zip(chunk, out)})
            _logger.info("lifted %d/%d sequences with %s (%.0f s)", i + len(chunk), len(todo), checkpoint.parent.name,
                         time.perf_counter() - start)
        if cache is not None:
            _write_cache(cache, known)
    return {q.key: np.asarray(known[q.key], np.float64) for q in sequences}, len(todo)


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------
def second_difference(x: np.ndarray) -> np.ndarray:
    """(N, ...) → (N − 2, ...) x(t+1) − 2x(t) + x(t−1)."""
    return x[2:] - 2 * x[1:-1] + x[:-2]


class Accumulator:
    """Per-frame errors of one table cell (2-D source × 3-D poses × height), concatenated over sequences."""

    def __init__(self) -> None:
        self.parts: Dict[str, List[np.ndarray]] = {k: [] for k in ("e", "z", "xy", "bias", "jit", "subject")}

    def add(self, root: np.ndarray, gt_root: np.ndarray, subject: str) -> None:
        err = root - gt_root
        self.parts["e"].append(np.linalg.norm(err, axis=-1))
        self.parts["z"].append(np.abs(err[:, 2]))
        self.parts["xy"].append(np.linalg.norm(err[:, :2], axis=-1))
        self.parts["bias"].append(err[:, 2] / gt_root[:, 2])
        self.parts["jit"].append(np.linalg.norm(second_difference(root) - second_difference(gt_root), axis=-1))
        self.parts["subject"].append(np.full(len(root), subject))

    def summary(self) -> Dict[str, Any]:
        cat = {k: np.concatenate(v) for k, v in self.parts.items()}
        e = cat["e"]
        return dict(mrpe_mm=1000 * float(e.mean()), median_mm=1000 * float(np.median(e)),
                    depth_mm=1000 * float(cat["z"].mean()), lateral_mm=1000 * float(cat["xy"].mean()),
                    depth_bias_pct=100 * float(cat["bias"].mean()),
                    jitter_mm_f2=1000 * float(cat["jit"].mean()) if cat["jit"].size else math.nan,
                    per_subject_mm={s: 1000 * float(e[cat["subject"] == s].mean())
                                    for s in sorted(set(cat["subject"].tolist()))},
                    frames=int(e.size))


def evaluate(sequences: List[Sequence2D], lifts: Dict[str, np.ndarray], preset: str, stride: int,
             heights: Dict[str, float]) -> Dict[str, Any]:
    """Every cell (3-D poses × height) for one 2-D source; see the module docstring.

    Returns:
        ``{"<poses>|<height>": Accumulator.summary(), ..., "pose_accel_error_mm_f2": float}``.
    """
    from hot_pose.mocap import DEFAULT_HEIGHT_M, skeleton_height, solve_root_trajectory

    acc: Dict[str, Accumulator] = {}
    pose_acc = []
    start = time.perf_counter()
    for i, q in enumerate(sequences):
        gt = q.gt[::stride]
        kp = q.pixels[::stride]
        gt_rel = gt - gt[:, :1]
        pred = lifts[q.key][::stride]
        pose_acc.append(np.linalg.norm(second_difference(pred) - second_difference(gt_rel), axis=-1).mean(-1))
        for poses in POSES:
            P = pred if poses == "lifted" else gt_rel
            for hname in HEIGHTS:
                if hname == "lifter" and poses == "gt":
                    continue
                size: Dict[str, float]
                if hname == "lifter":
                    size = dict(scale=1.0)
                else:
                    size = dict(height={"default": DEFAULT_HEIGHT_M, "true": heights[q.subject],
                                        "skeleton": skeleton_height(gt_rel)}[hname])
                tr = solve_root_trajectory(kp, P, q.intrinsics, fps=FPS / stride, preset=preset, with_std=False,
                                           **size)
                acc.setdefault(f"{poses}|{hname}", Accumulator()).add(tr.root, gt[:, 0], q.subject)
        if (i + 1) % 40 == 0:
            _logger.info("evaluated %d/%d sequences (%.0f s)", i + 1, len(sequences), time.perf_counter() - start)
    out: Dict[str, Any] = {name: a.summary() for name, a in acc.items()}
    out["pose_accel_error_mm_f2"] = 1000 * float(np.concatenate(pose_acc).mean())
    return out


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> Dict[str, Any]:
    """Everything but the file writing: returns the report.

    Raises:
        ToolError, DataError, DemoError: user-facing problems (one line).
    """
    import torch

    from hot_pose.data.h36m import parse_actions
    from hot_pose.mocap import DEFAULT_HEIGHT_M
    from hot_pose.utils.paths import SHIPPED, cache_dir, sha256_of

    start = time.perf_counter()
    torch.set_num_threads(args.threads)
    h36m = Path(args.h36m)
    for name in ("data_3d_h36m.npz", "data_2d_h36m_sh_pt_mpii.npz"):
        if not (h36m / name).is_file():
            raise ToolError(f"{h36m / name} not found; pass --h36m DIR with Human3.6M's data_3d_h36m.npz and "
                            "data_2d_h36m_sh_pt_mpii.npz (or set HOT_SHARED_DATA)")
    subjects = [s.strip() for s in args.subjects.split(",") if s.strip()]
    if not subjects:
        raise ToolError("--subjects is empty; give e.g. S9,S11")
    cameras = QUICK["cameras"] if args.quick else tuple(args.cameras)
    try:
        actions = parse_actions(QUICK["actions"] if args.quick else args.actions)
    except ValueError as exc:
        raise ToolError(f"--actions: {exc}") from None
    max_frames = QUICK["max_frames"] if args.quick and args.max_frames is None else args.max_frames
    cache_root = None if args.no_cache or max_frames is not None else Path(args.cache_dir or cache_dir()) / OUTPUT_STEM
    report_sources: Dict[str, Any] = {}
    results: Dict[str, Any] = {}
    timings: Dict[str, float] = {}
    heights: Dict[str, float] = {}
    for source in args.sources:
        spec = SOURCES[source]
        ckpt = SHIPPED / spec["checkpoint"] / "best.pth"
        if not ckpt.is_file():
            raise ToolError(f"the shipped checkpoint {ckpt} is missing; reinstall the package")
        clock = time.perf_counter()
        sequences, mocap = load_sequences(h36m, source, subjects, cameras, actions, max_frames)
        if not sequences:
            raise ToolError(f"no {source} sequence matches --subjects {args.subjects} --cameras "
                            f"{','.join(map(str, cameras))} --actions {args.actions or 'all'}")
        if not heights:
            heights = statures(mocap, subjects)
        timings[f"load_{source}"] = time.perf_counter() - clock
        clock = time.perf_counter()
        digest = sha256_of(ckpt)
        cache = cache_root / f"lift_{source}_{digest[:16]}.npz" if cache_root is not None else None
        lifts, lifted_now = lift(sequences, ckpt, args.batch_size, args.device, cache)
        timings[f"lift_{source}"] = time.perf_counter() - clock
        clock = time.perf_counter()
        results[source] = evaluate(sequences, lifts, spec["preset"], args.stride, heights)
        timings[f"evaluate_{source}"] = time.perf_counter() - clock
        report_sources[source] = dict(label=spec["label"], checkpoint=f"hot_pose/checkpoints/{spec['checkpoint']}/"
                                      "best.pth", checkpoint_sha256=digest, preset=spec["preset"],
                                      sequences=len(sequences), lifted_now=lifted_now,
                                      frames=int(sum(len(q.gt[::args.stride]) for q in sequences)))
    return dict(
        tool="tools.mocap_h36m",
        paper="HoT: Li et al., Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation, "
              "CVPR 2024, arXiv:2311.12028",
        command=" ".join(["python -m tools.mocap_h36m", *args.argv]),
        environment=environment(),
        settings=dict(subjects=subjects, cameras=list(cameras), actions=actions or "all", stride=args.stride,
                      max_frames=max_frames, quick=bool(args.quick), fps=FPS / args.stride,
                      lifting="hot_pose.wild.lift.lift_sequences: sliding windows of the checkpoint's 27 frames, "
                              "flip test-time augmentation (the demo's lifting)"),
        sources=report_sources,
        heights=dict(default_m=DEFAULT_HEIGHT_M, true_m=heights,
                     definition="stature: floor → head-top site, median over the subject's upright standing frames, "
                                "+ 0.06 m (hot_pose.mocap.height.stature)"),
        results=results,
        timings_s={k: round(v, 1) for k, v in timings.items()},
        wall_s=round(time.perf_counter() - start, 1),
    )


def environment() -> Dict[str, Any]:
    """Versions, CPU and thread count."""
    import scipy
    import torch

    from hot_pose.utils.system import cpu_name

    return dict(python=platform.python_version(), platform=platform.platform(), cpu=cpu_name(),
                cpus=os.cpu_count(), torch_threads=torch.get_num_threads(), torch=torch.__version__,
                numpy=np.__version__, scipy=scipy.__version__)


# ---------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------
_HEIGHT_LABELS = {"default": "default 1.70 m", "true": "true stature", "skeleton": "exact skeleton height (oracle)",
                  "lifter": "lifter's own size"}


def markdown(report: Dict[str, Any]) -> str:
    """The report as Markdown: the MRPE table, the details per cell, definitions, command, environment."""
    s, env, res = report["settings"], report["environment"], report["results"]
    true = report["heights"]["true_m"]
    scope = (f"{', '.join(s['subjects'])}, camera(s) {', '.join(map(str, s['cameras']))}, "
             f"{'all actions' if s['actions'] == 'all' else 'actions ' + ', '.join(s['actions'])}, "
             f"{'every frame' if s['stride'] == 1 else 'every %dth frame' % s['stride']}"
             + (f", first {s['max_frames']} frames per sequence" if s["max_frames"] else ""))
    lines = [
        "# Motion capture on Human3.6M: root position error (MRPE)",
        "",
        f"`hot_pose.mocap` places the lifted root-relative poses in the camera frame; MRPE = mean ‖root − pelvis_GT‖ "
        f"in the camera frame, mm ({scope}; real intrinsics and lens distortion; "
        f"{sum(r['frames'] for r in report['sources'].values())} frames in all). Generated by `tools/mocap_h36m.py`.",
        "",
        "| 2-D | root-relative 3-D | " + " | ".join(_HEIGHT_LABELS[h] for h in HEIGHTS) + " |",
        "|---|---|" + "---:|" * len(HEIGHTS),
    ]
    for source, r in res.items():
        for poses in POSES:
            cells = [f"{r[f'{poses}|{h}']['mrpe_mm']:.1f}" if f"{poses}|{h}" in r else "–" for h in HEIGHTS]
            label = "lifted" if poses == "lifted" else "GT (upper bound)"
            lines.append(f"| {source.upper()} | {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Heights: default " + f"{report['heights']['default_m']:.2f} m; true stature "
        + ", ".join(f"{k} {v:.3f} m" for k, v in true.items()) + f" ({report['heights']['definition']}); the "
        "oracle uses the rule's height of each sequence's GT skeleton; the lifter's own size keeps the lifted "
        "pose's metric scale.",
        "",
        "## Details",
        "",
        "| 2-D | 3-D | height | MRPE | median | depth \\|z\\| | lateral xy | depth bias | "
        + " | ".join(true) + " | jitter (mm/frame²) |",
        "|---|---|---|---:|---:|---:|---:|---:|" + "---:|" * len(true) + "---:|",
    ]
    for source, r in res.items():
        for name, c in r.items():
            if name == "pose_accel_error_mm_f2":
                continue
            poses, h = name.split("|")
            lines.append(f"| {source.upper()} | {poses} | {h} | {c['mrpe_mm']:.1f} | {c['median_mm']:.1f} | "
                         f"{c['depth_mm']:.1f} | {c['lateral_mm']:.1f} | {c['depth_bias_pct']:+.2f} % | "
                         + " | ".join(f"{c['per_subject_mm'].get(k, math.nan):.1f}" for k in true)
                         + f" | {c['jitter_mm_f2']:.2f} |")
    lines += [""] + [f"* {source.upper()}: the lifted pose's own acceleration error (root-relative joints) "
                     f"{r['pose_accel_error_mm_f2']:.2f} mm/frame²; the root's jitter above is "
                     f"{r['lifted|true']['jitter_mm_f2']:.2f} (lifted, true stature)." for source, r in res.items()]
    lines += ["", "## Sources", ""]
    for source, r in report["sources"].items():
        lines.append(f"* {source.upper()}: {r['label']}; lifter `{r['checkpoint']}`; noise preset `{r['preset']}`; "
                     f"{r['sequences']} sequences, {r['frames']} frames.")
    lines += [
        f"* Lifting: {s['lifting']}.",
        "",
        "## Reproduce",
        "",
        "```",
        report["command"],
        "```",
        "",
        f"Environment: Python {env['python']}, torch {env['torch']}, numpy {env['numpy']}, scipy {env['scipy']}, "
        f"{env['cpu']} ({env['cpus']} CPUs, {env['torch_threads']} torch threads); {report['wall_s']:.0f} s wall time "
        f"(sequences lifted in this run: "
        + ", ".join(f"{k.upper()} {r['lifted_now']}/{r['sequences']}" for k, r in report["sources"].items())
        + ", the others read from the lift cache). "
        f"Everything is in `{OUTPUT_STEM}.json`.",
        "",
    ]
    return "\n".join(lines)


def write_outputs(report: Dict[str, Any], out_dir: Path, overwrite: bool) -> Tuple[Path, Path]:
    """Write ``mocap_h36m.json`` and ``.md`` into ``out_dir`` atomically, together.

    Raises:
        ToolError: the destinations are refused or cannot be written.
    """
    from hot_pose.utils.outputs import OutputError, WriteError, write_json_and_markdown

    try:
        return write_json_and_markdown(out_dir, OUTPUT_STEM, report, markdown(report), overwrite)
    except (OutputError, WriteError) as exc:
        raise ToolError(str(exc)) from None


def _cameras(text: str) -> List[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected camera indices such as 0,1,2,3, got {text!r}") from None
    if not values or any(v not in (0, 1, 2, 3) for v in values) or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected distinct camera indices from 0-3 such as 0,1,2,3, got {text!r}")
    return values


def _sources(text: str) -> List[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values or any(v not in SOURCES for v in values) or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected distinct 2-D sources from {','.join(SOURCES)}, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m tools.mocap_h36m`` argument parser."""
    p = OneLineArgumentParser(prog="python -m tools.mocap_h36m", description=__doc__.split("\n\n")[0])
    p.add_argument("--h36m", type=Path, default=DEFAULT_H36M,
                   help="folder with data_3d_h36m.npz and data_2d_h36m_sh_pt_mpii.npz (default ../shared/data/h36m "
                        "or $HOT_SHARED_DATA/h36m)")
    p.add_argument("--subjects", default=",".join(SUBJECTS), help="comma-separated subjects (default S9,S11)")
    p.add_argument("--cameras", type=_cameras, default=[0, 1, 2, 3], help="comma-separated camera indices (default "
                   "0,1,2,3)")
    p.add_argument("--actions", default=None, help="comma-separated actions, e.g. Walking,Sitting (default: all)")
    p.add_argument("--sources", type=_sources, default=list(SOURCES), help="2-D sources to measure (default gt,sh)")
    p.add_argument("--stride", type=int_at_least(1), default=1,
                   help="evaluate every n-th frame (the lifter still sees every frame; default 1)")
    p.add_argument("--max-frames", type=int_at_least(30), default=None,
                   help="use only the first N frames of every sequence (default: all; lifts are then not cached)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke test: camera 0, the Walking sequences, the first 300 frames (unless --max-frames)")
    p.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks",
                   help="where to write mocap_h36m.json and mocap_h36m.md (default benchmarks/)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace mocap_h36m.json/.md in an --out-dir other than the project's benchmarks/")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="cache folder for the lifts (default $HOT_CACHE_DIR or ~/.cache/hot-pose; a mocap_h36m/ "
                        "folder in it)")
    p.add_argument("--no-cache", action="store_true", help="lift again instead of reading or writing the cache")
    p.add_argument("--batch-size", type=int_at_least(1, 4096), default=64, help="windows per forward pass (default 64)")
    p.add_argument("--threads", type=int_at_least(1, 256), default=1, help="torch threads (default 1)")
    p.add_argument("--device", default="cpu", help="lifter device: cpu, cuda or mps (default cpu)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging, and the traceback of an unexpected "
                   "error")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 2 user error, 1 failed)."""
    from hot_pose.utils.console import run_tool

    return run_tool(build_parser(), _main, argv)


def _main(args: argparse.Namespace) -> int:
    from hot_pose.data.h36m import DataError
    from hot_pose.utils.checks import check_device_name
    from hot_pose.utils.outputs import OutputError, check_outputs_in
    from hot_pose.wild.errors import DemoError

    try:
        try:
            check_device_name(args.device)
            check_outputs_in(args.out_dir, [f"{OUTPUT_STEM}.json", f"{OUTPUT_STEM}.md"], "--out-dir", args.overwrite)
        except (OutputError, ValueError) as exc:
            raise ToolError(str(exc)) from None
        report = run(args)
        json_path, md_path = write_outputs(report, args.out_dir, args.overwrite)
    except (ToolError, DataError, DemoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for source, r in report["results"].items():
        for name, c in r.items():
            if name != "pose_accel_error_mm_f2":
                _logger.info("%s %-16s MRPE %6.1f mm (depth %6.1f, lateral %5.1f, bias %+.2f %%)", source.upper(),
                             name, c["mrpe_mm"], c["depth_mm"], c["lateral_mm"], c["depth_bias_pct"])
    print(markdown(report).split("\n## Details")[0])
    _logger.info("wrote %s and %s (%.0f s)", json_path, md_path, report["wall_s"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
