"""In-the-wild accuracy of ``hot_pose.mocap`` on the Pose2Sim multi-view demo: root position, floor and camera
pose, foot skating, each camera alone against the calibrated multi-view reference.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028) lifts the demo's 2-D; ``hot_pose.mocap`` places it in the scene from ONE camera. Here four
calibrated, synchronisable 60 fps views of one walking person (Pose2Sim ``Demo_SinglePerson``, the project's
fetcher ``hot_pose.wild.sample.demo_set``) give the answer:

1. every camera through the demo pipeline (``tools.wild_benchmark.run_camera``: MediaPipe → H36M-17 → the shipped
   ``hot_mixste_27_wild_vc``, flip TTA, constant bone lengths), keeping the 2-D it lifted (``keypoints_h36m``,
   ``scores_h36m``) and the 33 BlazePose landmarks;
2. the reference: the views synchronised (``hot_pose.data.multiview.synchronise`` on the limb landmarks), all 33
   landmarks triangulated per frame (``triangulate_robust``, visibility-weighted DLT, views above ``--outlier-px``
   dropped) in the Qualisys world (z up, floor z = 0); pelvis = the hip landmarks' midpoint;
3. the person's height from the reference, by Pose2Sim's own rule (``Pose2Sim.common.compute_height``,
   re-implemented in ``reference_height``): per frame heel→ankle + ankle→knee + knee→hip + hip→shoulder (left and
   right averaged) + 1.5 × mid-shoulder→nose, over the frames whose hip and knee flexion is below 90° (at least the
   50 least flexed), then the mean of the middle 50 %: segment lengths, so the walking posture does not lower it;
4. per camera, ``hot_pose.mocap.reconstruct`` on that camera's 2-D and lifted poses with
   - the calibration's intrinsics (``hot_pose.mocap.load_calibration`` of ``Calib.qca.txt``: K and distortion)
     or the default focal length (65° across the longer side), and
   - the reference height or the default 1.70 m (plus, with the calibration: the lifter's own size, and the
     ``exact`` noise preset for comparison);
5. scores per camera: the root error ‖root − pelvis_ref‖ in that camera's frame (``X_cam = R X + t``), mean over
   the frames with a complete reference and a detection (also its depth |z| and lateral parts and the signed depth
   bias); the camera height, pitch and roll estimated from that camera's motion alone against the calibration's
   (height = the centre's z; pitch/roll from the world up R·(0, 0, 1) by ``hot_pose.mocap.camera_angles``, the
   same formulas as the estimate); the foot skating (mm of horizontal ankle motion per frame of contact, on the
   contact labels ``reconstruct`` found) without and with foot locking; and, as checks of the method without the
   lifter, the world frame estimated from the reference's own 3-D seen in that camera and the reference's own
   skating;
6. where the depth error comes from (``depth_diagnostics``): the root error of a limbs-only fit and of MediaPipe's
   own metric landmarks, and per bone group how the lifted skeleton's size agrees with the 2-D at the true depth;
   and a second reference height (``eye_height_stature``) to show the first is not the cause.

    python -m tools.mocap_wild                    # → benchmarks/mocap_wild.{json,md} (~3 min at one thread)
    python -m tools.mocap_wild --cameras cam01,cam02,cam03 --max-frames 40 --out-dir /tmp/mw
    python -m tools.mocap_wild --checkpoint hot_pose/checkpoints/hot_mixste_27_gt --out-dir /tmp/mw_gt
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from hot_pose.utils.console import OneLineArgumentParser, finite_float, int_at_least

_logger = logging.getLogger("tools.mocap_wild")

ROOT = Path(__file__).resolve().parents[1]
OUTPUT_STEM = "mocap_wild"
CAMERAS = ("cam01", "cam02", "cam03", "cam04")
CALIBRATION_NAME = "Calib.qca.txt"
#: BlazePose landmarks
L_EYE, R_EYE = 2, 5
NOSE, L_SHOULDER, R_SHOULDER, L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE, L_HEEL, R_HEEL = (
    0, 11, 12, 23, 24, 25, 26, 27, 28, 29, 30)
#: BlazePose-33 landmark(s) of each Human3.6M-17 joint (averaged): a pseudo-H36M reference skeleton for the
#: contacts, the skating and the world frame of the reference itself
BLAZE_TO_H36M = ((23, 24), (24,), (26,), (28,), (23,), (25,), (27,), (11, 12, 23, 24), (11, 12), (0,), (7, 8),
                 (11,), (13,), (15,), (12,), (14,), (16,))
#: Human3.6M-17 limb joints (knees, ankles, shoulders, elbows, wrists) of the ``limbs_only`` diagnostic fit
LIMB_JOINTS = (2, 3, 5, 6, 11, 12, 13, 14, 15, 16)
#: BlazePose landmarks of the ``mediapipe_world`` diagnostic fit: nose, shoulders to wrists, hips to toes
MEDIAPIPE_FIT_LANDMARKS = (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32)
#: bone groups (Human3.6M-17 (parent, child) pairs) of the ``bone_ratio`` diagnostic
DIAGNOSTIC_BONES: Dict[str, Tuple[Tuple[int, int], ...]] = {
    "hips": ((0, 1), (0, 4)), "thighs": ((1, 2), (4, 5)), "shanks": ((2, 3), (5, 6)), "trunk": ((0, 7), (7, 8)),
    "upper arms": ((11, 12), (14, 15)), "forearms": ((12, 13), (15, 16))}
#: the variants scored: name → (intrinsics, height, extra options)
VARIANTS: Dict[str, Tuple[str, str, Dict[str, Any]]] = {
    "calibrated|reference_height": ("calibrated", "reference", {}),
    "calibrated|default_height": ("calibrated", "default", {}),
    "default_focal|reference_height": ("default", "reference", {}),
    "default_focal|default_height": ("default", "default", {}),
    "calibrated|lifter_size": ("calibrated", "lifter", {}),
    "calibrated|reference_height|exact_preset": ("calibrated", "reference", {"preset": "exact"}),
}


class ToolError(RuntimeError):
    """A user-facing problem (bad flag, missing data); the message names it and the fix."""


# ---------------------------------------------------------------------------------------------
# reference
# ---------------------------------------------------------------------------------------------
def blaze_to_h36m(landmarks: np.ndarray) -> np.ndarray:
    """(..., 33, 3) BlazePose landmarks → (..., 17, 3) pseudo-Human3.6M joints (``BLAZE_TO_H36M``)."""
    x = np.asarray(landmarks, np.float64)
    return np.stack([x[..., list(idx), :].mean(-2) for idx in BLAZE_TO_H36M], axis=-2)


#: stature − eye height of adults, m (anthropometric mean, men and women; ``eye_height_stature``)
VERTEX_ABOVE_EYES_M = 0.115


def eye_height_stature(world33: np.ndarray) -> float:
    """A second estimate of the person's stature (m), independent of Pose2Sim's segment sum: the median height of
    the eyes' midpoint above the floor over the upright standing frames (``hot_pose.mocap.height.upright_frames``
    on the pseudo-Human3.6M skeleton), plus ``VERTEX_ABOVE_EYES_M``; NaN without an upright frame."""
    from hot_pose.mocap.height import upright_frames

    w = np.asarray(world33, np.float64)
    ok = np.isfinite(w).all(axis=(1, 2))
    if not ok.any():
        return math.nan
    up = upright_frames(blaze_to_h36m(w[ok]))
    if not up.any():
        return math.nan
    return float(np.median(w[ok][up][:, [L_EYE, R_EYE]].mean(1)[:, 2]) + VERTEX_ABOVE_EYES_M)


def _flexion_deg(w: np.ndarray, a: int, b: int, c: int) -> np.ndarray:
    """180° minus the angle at landmark b of the chain a-b-c, per frame."""
    u, v = w[:, a] - w[:, b], w[:, c] - w[:, b]
    cos = (u * v).sum(-1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-12)
    return 180.0 - np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def reference_height(world33: np.ndarray) -> float:
    """The person's height (m) from triangulated BlazePose landmarks by Pose2Sim's ``compute_height`` rule (module
    docstring, step 3).

    Args:
        world33: (N, 33, 3) landmarks in metres (NaN where not triangulated).

    Raises:
        ToolError: no frame with every landmark the rule needs.
    """
    w = np.asarray(world33, np.float64)

    def L(a: int, b: int) -> np.ndarray:
        return np.linalg.norm(w[:, a] - w[:, b], axis=-1)

    mid_shoulder = w[:, [L_SHOULDER, R_SHOULDER]].mean(1)
    heights = (0.5 * (L(L_HEEL, L_ANKLE) + L(R_HEEL, R_ANKLE)) + 0.5 * (L(L_ANKLE, L_KNEE) + L(R_ANKLE, R_KNEE))
               + 0.5 * (L(L_KNEE, L_HIP) + L(R_KNEE, R_HIP)) + 0.5 * (L(L_HIP, L_SHOULDER) + L(R_HIP, R_SHOULDER))
               + 1.5 * np.linalg.norm(mid_shoulder - w[:, NOSE], axis=-1))
    flexion = np.mean([_flexion_deg(w, L_HIP, L_KNEE, L_ANKLE), _flexion_deg(w, R_HIP, R_KNEE, R_ANKLE),
                       _flexion_deg(w, L_SHOULDER, L_HIP, L_KNEE), _flexion_deg(w, R_SHOULDER, R_HIP, R_KNEE)], axis=0)
    ok = np.isfinite(heights) & np.isfinite(flexion)
    if not ok.any():
        raise ToolError("no frame of the reference has the landmarks of the height rule (heels to nose)")
    keep = ok & (flexion < 90)
    if keep.sum() < min(50, ok.sum()):
        keep = np.zeros_like(ok)
        keep[np.flatnonzero(ok)[np.argsort(flexion[ok])[:50]]] = True
    h = np.sort(heights[keep])
    cut = int(round(0.25 * len(h)))
    return float(h[cut:len(h) - cut].mean() if len(h) - 2 * cut > 0 else h.mean())


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------
def _camera_truth(cal: Any) -> Dict[str, float]:
    from hot_pose.mocap import camera_angles

    pitch, roll = camera_angles(cal.R @ np.array([0.0, 0.0, 1.0]))
    return dict(camera_height_m=float(cal.centre[2]), pitch_deg=pitch, roll_deg=roll)


def score_camera(name: str, cal: Any, run: Dict[str, Any], world33: np.ndarray, frames: np.ndarray, offset: int,
                 height_ref: float, intrinsics: Dict[str, Any], fps: float) -> Dict[str, Any]:
    """Every variant (``VARIANTS``) of one camera against the reference (module docstring, step 5)."""
    from hot_pose.mocap import DEFAULT_HEIGHT_M, LIFTER, estimate_world, foot_contacts, reconstruct, skating

    idx = frames + offset
    found = run["found"]
    ref_cam = cal.world_to_camera(world33)  # (N, 33, 3)
    ref_root = ref_cam[:, [L_HIP, R_HIP]].mean(1)
    ok = np.isfinite(ref_root).all(-1) & found[idx]
    if not ok.any():
        raise ToolError(f"{name}: no frame with both a complete reference pelvis and a detection")
    scores = np.where(found[:, None], run["scores"], 0.0)
    truth = _camera_truth(cal)
    out: Dict[str, Any] = dict(truth=truth, frames=int(ok.sum()),
                               focal_px={k: v.focal for k, v in intrinsics.items()})
    for variant, (iname, hname, options) in VARIANTS.items():
        height = {"reference": height_ref, "default": DEFAULT_HEIGHT_M, "lifter": LIFTER}[hname]
        mc = reconstruct(run["keypoints"], run["lifted"], intrinsics[iname], fps, scores=scores, heights=height,
                         **options)
        err = (mc.trajectory[0][idx] - ref_root)[ok]
        e = np.linalg.norm(err, axis=-1)
        unlocked = mc.joints_world[0] - mc.lock_shift[0][:, None, :]
        out[variant] = dict(
            root_mm=1000 * float(e.mean()), root_median_mm=1000 * float(np.median(e)),
            depth_mm=1000 * float(np.abs(err[:, 2]).mean()), lateral_mm=1000 * float(np.linalg.norm(err[:, :2],
                                                                                                    axis=-1).mean()),
            depth_bias_mm=1000 * float(err[:, 2].mean()), height_m=float(mc.height_m[0]),
            camera_height_m=mc.camera_height_m, pitch_deg=mc.pitch_deg, roll_deg=mc.roll_deg,
            camera_height_error_m=mc.camera_height_m - truth["camera_height_m"],
            pitch_error_deg=mc.pitch_deg - truth["pitch_deg"], roll_error_deg=mc.roll_deg - truth["roll_deg"],
            floor_method=mc.floor_method, contact_frames=int(mc.contacts[0].sum()),
            skating_unlocked_mm=skating(unlocked, mc.contacts[0]), skating_locked_mm=skating(mc.joints_world[0],
                                                                                             mc.contacts[0]),
            confidence_mean=float(mc.confidence[0].mean()))
    # the method without the lifter: the world frame from the reference's own 3-D seen in this camera
    ref17 = blaze_to_h36m(world33)
    complete = np.isfinite(ref17).all(axis=(1, 2))
    wf = estimate_world(cal.world_to_camera(ref17), fps, weights=complete.astype(np.float64))
    out["reference_3d_world"] = dict(camera_height_m=wf.camera_height, pitch_deg=wf.pitch_deg, roll_deg=wf.roll_deg,
                                     camera_height_error_m=wf.camera_height - truth["camera_height_m"],
                                     pitch_error_deg=wf.pitch_deg - truth["pitch_deg"])
    contacts = foot_contacts(ref17, fps, valid=complete)
    out["reference_skating_mm"] = skating(ref17, contacts)
    out["diagnostics"] = depth_diagnostics(cal, run, world33, idx, ok, intrinsics["calibrated"], height_ref, fps)
    return out


def _root_error(root: np.ndarray, ref_root: np.ndarray, ok: np.ndarray) -> Dict[str, float]:
    err = (root - ref_root)[ok]
    return dict(root_mm=1000 * float(np.linalg.norm(err, axis=-1).mean()), depth_bias_mm=1000 * float(err[:, 2].mean()))


def depth_diagnostics(cal: Any, run: Dict[str, Any], world33: np.ndarray, idx: np.ndarray, ok: np.ndarray,
                      intrinsics: Any, height_ref: float, fps: float) -> Dict[str, Any]:
    """Where the root depth of one camera comes from (calibrated focal, reference height): the root error of two
    other fits and how the lifted skeleton's size agrees with the 2-D, bone by bone (``DIAGNOSTIC_BONES``).

    * ``limbs_only``: the trajectory fitted to the limb joints only (knees, ankles, shoulders, elbows, wrists:
      the pelvis, hips, spine, thorax and head of the MediaPipe → Human3.6M mapping get weight 0);
    * ``mediapipe_world``: MediaPipe's own metric world landmarks (hip-centred, the same landmark definitions as
      its 2-D, so no joint-convention mismatch) scaled to the reference height by the reference's own height rule
      (``reference_height``), fitted to the 17 limb and nose landmarks;
    * ``bone_ratio``: per bone group, the median over frames of (the lifted bone, scaled to the reference height
      and placed at the reference root, projected) / (its 2-D length): above 1 the lifted bone is too long for the
      2-D at the true depth and pulls the fit too far, below 1 too near.
    """
    from hot_pose.mocap import solve_root_trajectory
    from hot_pose.mocap.height import constant_bones, height_scale

    ref_root = cal.world_to_camera(world33)[:, [L_HIP, R_HIP]].mean(1)
    scores = np.where(run["found"][:, None], run["scores"], 0.0)
    limbs = np.zeros(17)
    limbs[list(LIMB_JOINTS)] = 1.0
    out: Dict[str, Any] = {}
    tr = solve_root_trajectory(run["keypoints"], run["lifted"], intrinsics, scores=scores, height=height_ref,
                               fps=fps, joint_weights=limbs, with_std=False)
    out["limbs_only"] = _root_error(tr.root[idx], ref_root, ok)
    W = np.asarray(run["world"], np.float64)
    W = W - W[:, [L_HIP, R_HIP]].mean(1, keepdims=True)
    sel = list(MEDIAPIPE_FIT_LANDMARKS)
    P = np.concatenate([np.zeros_like(W[:, :1]), W[:, sel]], axis=1) * (height_ref / reference_height(W))
    kp = np.concatenate([run["image"][:, [L_HIP, R_HIP]].mean(1, keepdims=True), run["image"][:, sel]], axis=1)
    vis = np.concatenate([run["visibility"][:, [L_HIP, R_HIP]].mean(1, keepdims=True), run["visibility"][:, sel]],
                         axis=1)
    present = run["found"] & np.isfinite(P).all(axis=(1, 2)) & np.isfinite(kp).all(axis=(1, 2))
    vis = np.where(present[:, None], np.clip(vis, 0.0, 1.0), 0.0)
    tr = solve_root_trajectory(np.where(present[:, None, None], kp, np.nan), np.nan_to_num(P), intrinsics,
                               scores=vis, scale=1.0, fps=fps, constant_bones=False, with_std=False)
    out["mediapipe_world"] = _root_error(tr.root[idx], ref_root, ok)
    lifted = constant_bones(run["lifted"])
    X = lifted[idx] * height_scale(lifted, height_ref) + ref_root[:, None, :]
    proj = X[..., :2] / X[..., 2:3]
    x2 = intrinsics.normalise(run["keypoints"][idx])
    ratios = {}
    for group, bones in DIAGNOSTIC_BONES.items():
        r = [np.linalg.norm(proj[:, b] - proj[:, a], axis=-1) / np.linalg.norm(x2[:, b] - x2[:, a], axis=-1)
             for a, b in bones]
        ratios[group] = float(np.nanmedian(np.concatenate([v[ok] for v in r])))
    out["bone_ratio"] = ratios
    return out


def run_camera(name: str, video: Path, max_frames: Optional[int], device: str, workdir: Path,
               checkpoint: Optional[str] = None) -> Dict[str, Any]:
    """The demo pipeline on one camera (``tools.wild_benchmark.run_camera``), plus the H36M-17 2-D and scores it
    lifted (read from the demo's ``keypoints_2d.npz``)."""
    from tools.wild_benchmark import run_camera as demo_camera

    cam = demo_camera(name, video, checkpoint, max_frames, device, workdir)
    with np.load(workdir / name / "keypoints_2d.npz") as d:
        keypoints, scores = np.asarray(d["keypoints_h36m"], np.float64), np.asarray(d["scores_h36m"], np.float64)
    return dict(image=cam.image, visibility=cam.visibility, world=cam.world, found=cam.found, lifted=cam.lifted,
                keypoints=keypoints, scores=scores, fps=cam.fps, size=cam.size, model=cam.model, checkpoint=cam.checkpoint,
                seconds=cam.seconds)


def run(args: argparse.Namespace) -> Dict[str, Any]:
    """Everything but the file writing: returns the report.

    Raises:
        ToolError, CalibrationError, DemoError: user-facing problems (one line).
    """
    import torch

    from hot_pose.data.multiview import parse_qca, stack_views, synchronise, triangulate_robust
    from hot_pose.mocap import DEFAULT_FOV_DEG, DEFAULT_HEIGHT_M, Intrinsics, load_calibration
    from hot_pose.wild.sample import DEMO_SET_ATTRIBUTION, SAMPLE_PACKAGE, demo_set
    from tools.wild_benchmark import BLAZEPOSE_12, environment, relative_to_project

    start = time.perf_counter()
    torch.set_num_threads(args.threads)
    names = args.cameras
    folder = demo_set(args.cache_dir, wheel=args.wheel)
    calibration = parse_qca(folder / CALIBRATION_NAME)
    missing = [n for n in names if n not in calibration]
    if missing:
        raise ToolError(f"camera(s) {', '.join(missing)} not in the calibration (it has {', '.join(calibration)})")
    runs: Dict[str, Dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="hot-mocap-wild-") as tmp:
        for name in names:
            _logger.info("%s: MediaPipe + lifter on %s", name, folder / f"{name}.mp4")
            runs[name] = run_camera(name, folder / f"{name}.mp4", args.max_frames, args.device, Path(tmp),
                                    args.checkpoint)
    fps_values = {round(r["fps"], 3) for r in runs.values()}
    if len(fps_values) != 1:
        raise ToolError(f"the cameras' frame rates differ ({sorted(fps_values)}); integer offsets need one rate")
    fps = runs[names[0]]["fps"]

    cams = [calibration[n] for n in names]
    P = np.stack([c.P for c in cams])
    pts = [c.undistort(runs[n]["image"]) for c, n in zip(cams, names)]  # V × (T_v, 33, 2)
    vis = [runs[n]["visibility"] for n in names]
    limbs = list(BLAZEPOSE_12)
    try:
        sync = synchronise([x[:, limbs] for x in pts], [v[:, limbs] for v in vis], P, reference=0,
                           max_offset=args.max_offset)
    except ValueError as exc:
        raise ToolError(f"cannot synchronise the views: {exc} (see --max-offset, --max-frames)") from None
    lengths = [len(x) for x in pts]
    t_ref = np.arange(lengths[0])
    common = t_ref[np.all([(t_ref + o >= 0) & (t_ref + o < n) for o, n in zip(sync.offsets, lengths)], axis=0)]
    views = stack_views(pts, sync.offsets, common)  # (V, N, 33, 2)
    weights = stack_views(vis, sync.offsets, common, fill=0.0)
    world33 = triangulate_robust(views, P, weights, threshold_px=args.outlier_px).points  # (N, 33, 3)
    height_ref = reference_height(world33)
    feet = world33[:, [L_HEEL, R_HEEL, 31, 32], 2]  # heels and foot indices (toes)
    _logger.info("reference: %d frames, offsets %s, person height %.3f m (Pose2Sim's rule)", len(common),
                 dict(zip(names, sync.offsets)), height_ref)

    results: Dict[str, Any] = {}
    for name, cal in zip(names, cams):
        w, h = runs[name]["size"]
        intrinsics = {"calibrated": load_calibration(folder / CALIBRATION_NAME, w, h, camera=name),
                      "default": Intrinsics.default(w, h)}
        results[name] = score_camera(name, cal, runs[name], world33, common, int(sync.offsets[names.index(name)]),
                                     height_ref, intrinsics, fps)
        results[name]["video_size"] = [int(w), int(h)]
        results[name]["calibration_size"] = list(cal.size)
    first = runs[names[0]]
    return dict(
        tool="tools.mocap_wild",
        paper="HoT: Li et al., Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation, "
              "CVPR 2024, arXiv:2311.12028",
        command=" ".join(["python -m tools.mocap_wild", *args.argv]),
        environment=environment(),
        data=dict(package=SAMPLE_PACKAGE, attribution=DEMO_SET_ATTRIBUTION, fps=fps,
                  frames={n: int(len(runs[n]["found"])) for n in names},
                  person_found={n: float(runs[n]["found"].mean()) for n in names}),
        settings=dict(cameras=list(names), max_frames=args.max_frames, max_offset=args.max_offset,
                      outlier_px=args.outlier_px, device=args.device, default_fov_deg=DEFAULT_FOV_DEG,
                      default_height_m=DEFAULT_HEIGHT_M, lifter=dict(model=first["model"],
                                                                     checkpoint=relative_to_project(first["checkpoint"]))),
        reference=dict(frames=int(len(common)), offsets=dict(zip(names, map(int, sync.offsets))),
                       sync_median_reprojection_px=sync.cost_px, height_m=height_ref,
                       height_rule="Pose2Sim compute_height: heel-ankle + ankle-knee + knee-hip + hip-shoulder "
                                   "+ 1.5 x mid-shoulder-nose, frames with hip/knee flexion < 90°, mean of the middle "
                                   "50 %",
                       eye_height_stature_m=eye_height_stature(world33),
                       lowest_foot_landmark_p1_m=float(np.nanpercentile(feet, 1)),
                       floor="Qualisys world z = 0"),
        results=results,
        wall_s=round(time.perf_counter() - start, 1),
    )


# ---------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------
def _mean(values: List[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def markdown(report: Dict[str, Any]) -> str:
    """The report as Markdown: root errors, camera pose, skating, definitions, command, environment."""
    res, ref, s, env = report["results"], report["reference"], report["settings"], report["environment"]
    names = s["cameras"]
    lines = [
        "# Motion capture in the wild: Pose2Sim Demo_SinglePerson, each camera alone",
        "",
        f"{report['data']['attribution']} {len(names)} cameras at {report['data']['fps']:g} fps, "
        f"{ref['frames']} synchronised frames; reference: per-frame robust DLT triangulation of all 33 MediaPipe "
        f"landmarks from the {len(names)} views (views above {s['outlier_px']:g} px dropped), in the Qualisys world "
        f"(floor z = 0); person height {ref['height_m']:.3f} m ({ref['height_rule']}). Every camera is processed "
        f"alone: the demo pipeline (MediaPipe → `{s['lifter']['checkpoint']}`), then `hot_pose.mocap.reconstruct`. "
        "Generated by `tools/mocap_wild.py`.",
        "",
        "## Root (pelvis) error vs the triangulated hip midpoint, camera frame, mm",
        "",
        "Mean over frames (depth \\|z\\| / lateral xy in brackets); the focal length in px is the calibration's / the "
        f"default {s['default_fov_deg']:g}° across the longer side.",
        "",
        "| camera | focal (px) | cal. focal, ref. height | cal. focal, default 1.70 m | default focal, ref. height | "
        "default focal, default 1.70 m | cal. focal, lifter's size (its height) | cal. focal, ref. height, `exact` "
        "preset | frames |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    main = ("calibrated|reference_height", "calibrated|default_height", "default_focal|reference_height",
            "default_focal|default_height")
    for n in names:
        r = res[n]
        cells = [f"{r[k]['root_mm']:.0f} ({r[k]['depth_mm']:.0f} / {r[k]['lateral_mm']:.0f})" for k in main]
        lif, ex = r["calibrated|lifter_size"], r["calibrated|reference_height|exact_preset"]
        lines.append(f"| {n} | {r['focal_px']['calibrated']:.0f} / {r['focal_px']['default']:.0f} | "
                     + " | ".join(cells) + f" | {lif['root_mm']:.0f} ({lif['height_m']:.2f} m) | {ex['root_mm']:.0f} | "
                     f"{r['frames']} |")
    lines.append("| mean | | " + " | ".join(f"{_mean([res[n][k]['root_mm'] for n in names]):.0f}" for k in main)
                 + f" | {_mean([res[n]['calibrated|lifter_size']['root_mm'] for n in names]):.0f} | "
                 f"{_mean([res[n]['calibrated|reference_height|exact_preset']['root_mm'] for n in names]):.0f} | |")
    lines += [
        "",
        "Signed depth bias (mm, calibrated focal, reference height; + = too far): "
        + ", ".join(f"{n} {res[n]['calibrated|reference_height']['depth_bias_mm']:+.0f}" for n in names) + ".",
        "",
        "### Where the depth error comes from",
        "",
        "Calibrated focal, reference height. Root error (signed depth bias) of the default fit, of the same fit on "
        "the limb joints only, and of MediaPipe's own metric world landmarks scaled to the reference height by the "
        "reference's height rule (its landmarks, so no joint-convention mismatch); then, per bone group, the lifted "
        "bone (scaled to the reference height, placed at the true root, projected) over its 2-D length, median over "
        "frames: above 1 the lifted skeleton is too big for the 2-D at the true depth and the fit puts it too far.",
        "",
        "| camera | default fit | limbs only | MediaPipe world landmarks | "
        + " | ".join(DIAGNOSTIC_BONES) + " |",
        "|---|---:|---:|---:|" + "---:|" * len(DIAGNOSTIC_BONES),
    ]
    for n in names:
        dg, a = res[n]["diagnostics"], res[n]["calibrated|reference_height"]
        lines.append(f"| {n} | {a['root_mm']:.0f} ({a['depth_bias_mm']:+.0f}) | "
                     + " | ".join(f"{dg[k]['root_mm']:.0f} ({dg[k]['depth_bias_mm']:+.0f})"
                                  for k in ("limbs_only", "mediapipe_world"))
                     + " | " + " | ".join(f"{dg['bone_ratio'][g]:.2f}" for g in DIAGNOSTIC_BONES) + " |")
    lines += [
        "",
        "## Camera height, pitch and roll from one camera's motion",
        "",
        "Truth from the calibration (height of the camera centre above the floor, pitch = tilt of the optical axis "
        "below the horizon, roll about the optical axis); estimated by `reconstruct` from that camera alone. The "
        "last column runs the same floor estimate on the reference's own 3-D seen from that camera (the method "
        "without the lifter).",
        "",
        "| camera | truth: height (m) / pitch (°) / roll (°) | cal. focal, ref. height | error (height / pitch) | "
        "default focal, default height | error | from the reference 3-D (error) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in names:
        r = res[n]
        t, a, b, w = r["truth"], r["calibrated|reference_height"], r["default_focal|default_height"], \
            r["reference_3d_world"]
        lines.append(
            f"| {n} | {t['camera_height_m']:.2f} / {t['pitch_deg']:.1f} / {t['roll_deg']:.1f} | "
            f"{a['camera_height_m']:.2f} / {a['pitch_deg']:.1f} / {a['roll_deg']:.1f} | "
            f"{a['camera_height_error_m']:+.2f} m / {a['pitch_error_deg']:+.1f}° | "
            f"{b['camera_height_m']:.2f} / {b['pitch_deg']:.1f} / {b['roll_deg']:.1f} | "
            f"{b['camera_height_error_m']:+.2f} m / {b['pitch_error_deg']:+.1f}° | "
            f"{w['camera_height_m']:.2f} / {w['pitch_deg']:.1f} ({w['camera_height_error_m']:+.2f} m / "
            f"{w['pitch_error_deg']:+.1f}°) |")
    lines += [
        "",
        "## Foot skating",
        "",
        "Mean horizontal ankle displacement per frame while the foot is in contact (mm/frame; contacts as "
        "`reconstruct` labels them; calibrated focal, reference height), without and with foot locking; the "
        "reference's own ankles for scale.",
        "",
        "| camera | unlocked | locked | locked / unlocked | contact frames (L+R) | reference |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for n in names:
        a = res[n]["calibrated|reference_height"]
        ratio = a["skating_locked_mm"] / a["skating_unlocked_mm"] if a["skating_unlocked_mm"] > 0 else math.nan
        lines.append(f"| {n} | {a['skating_unlocked_mm']:.1f} | {a['skating_locked_mm']:.1f} | {ratio:.2f} | "
                     f"{a['contact_frames']} | {res[n]['reference_skating_mm']:.1f} |")
    sizes = [f"{n} video {res[n]['video_size'][0]}×{res[n]['video_size'][1]} vs calibration "
             f"{res[n]['calibration_size'][0]}×{res[n]['calibration_size'][1]}" for n in names
             if res[n]["video_size"] != res[n]["calibration_size"]]
    lines += [
        "",
        "## Notes",
        "",
        "* Frame offsets (camera c's frame t + offset shows the timeline's frame t): "
        + ", ".join(f"{n} {o:+d}" for n, o in ref["offsets"].items())
        + "; median reprojection error of the synchronised limb landmarks "
        f"{ref['sync_median_reprojection_px']:.2f} px.",
        f"* The reference height by another rule: the eyes' height in the upright frames + {VERTEX_ABOVE_EYES_M} m "
        f"= {ref['eye_height_stature_m']:.3f} m (Pose2Sim's rule: {ref['height_m']:.3f} m).",
        f"* Floor check: the lowest foot landmarks (heels, toes; 1st percentile) are at "
        f"{ref['lowest_foot_landmark_p1_m']:+.3f} m in the Qualisys world.",
    ]
    if sizes:
        lines.append("* Image sizes differ (" + "; ".join(sizes) + "): the calibration's pixels are used as they are.")
    lines += [
        "",
        "## Reproduce",
        "",
        "```",
        report["command"],
        "```",
        "",
        f"Environment: Python {env['python']}, torch {env['torch']}, numpy {env['numpy']}, OpenCV {env['opencv']}, "
        f"MediaPipe {env['mediapipe']}, {env['cpu']} ({env['cpus']} CPUs, {env['torch_threads']} torch threads); "
        f"{report['wall_s']:.0f} s wall time. Everything is in `{OUTPUT_STEM}.json`.",
        "",
    ]
    return "\n".join(lines)


def write_outputs(report: Dict[str, Any], out_dir: Path, overwrite: bool) -> Tuple[Path, Path]:
    """Write ``mocap_wild.json`` and ``.md`` into ``out_dir`` atomically, together.

    Raises:
        ToolError: the destinations are refused or cannot be written.
    """
    from hot_pose.utils.outputs import OutputError, WriteError, write_json_and_markdown

    try:
        return write_json_and_markdown(out_dir, OUTPUT_STEM, report, markdown(report), overwrite)
    except (OutputError, WriteError) as exc:
        raise ToolError(str(exc)) from None


def _cameras(text: str) -> List[str]:
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    unknown = [n for n in names if n not in CAMERAS]
    if unknown or len(set(names)) != len(names) or len(names) < 3:
        raise argparse.ArgumentTypeError(f"expected at least 3 distinct cameras from {','.join(CAMERAS)} (the "
                                         f"reference needs the others), got {text!r}")
    return names


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m tools.mocap_wild`` argument parser."""
    p = OneLineArgumentParser(prog="python -m tools.mocap_wild", description=__doc__.split("\n\n")[0])
    p.add_argument("--cameras", type=_cameras, default=list(CAMERAS),
                   help=f"comma-separated cameras, at least 3 (default {','.join(CAMERAS)})")
    p.add_argument("--max-frames", type=int_at_least(30), default=None,
                   help="use only the first N frames of every video (default: all, 100)")
    p.add_argument("--max-offset", type=int_at_least(0, 30), default=10,
                   help="largest |frame offset| tried when synchronising the views (default 10)")
    p.add_argument("--outlier-px", type=finite_float(0, low_open=True), default=30.0,
                   help="reprojection error (px) above which a view of a landmark is dropped from the triangulation "
                        "(default 30)")
    p.add_argument("--checkpoint", default=None,
                   help="lifter weights (default: the demo's, hot_pose/checkpoints/hot_mixste_27_wild_vc/best.pth; "
                        "or any .pth / run folder, e.g. hot_pose/checkpoints/hot_mixste_27_gt)")
    p.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks",
                   help="where to write mocap_wild.json and mocap_wild.md (default benchmarks/)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace mocap_wild.json/.md in an --out-dir other than the project's benchmarks/")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="cache folder of the downloaded data (default $HOT_CACHE_DIR, else ~/.cache/hot-pose)")
    p.add_argument("--wheel", type=Path, default=None,
                   help="an already downloaded pose2sim-0.10.49 wheel to extract the data from (default: pip download)")
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
    from hot_pose.data.multiview import CalibrationError
    from hot_pose.utils.checks import check_device_name
    from hot_pose.utils.outputs import OutputError, check_outputs_in
    from hot_pose.wild.errors import DemoError
    from tools.wild_benchmark import BenchmarkError

    try:
        try:
            check_device_name(args.device)
            check_outputs_in(args.out_dir, [f"{OUTPUT_STEM}.json", f"{OUTPUT_STEM}.md"], "--out-dir", args.overwrite)
            if args.wheel is not None and not Path(args.wheel).is_file():
                raise ToolError(f"--wheel {args.wheel} not found")
        except (OutputError, ValueError) as exc:
            raise ToolError(str(exc)) from None
        report = run(args)
        json_path, md_path = write_outputs(report, args.out_dir, args.overwrite)
    except (ToolError, BenchmarkError, CalibrationError, DemoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown(report).split("\n## Notes")[0])
    _logger.info("wrote %s and %s (%.0f s)", json_path, md_path, report["wall_s"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
