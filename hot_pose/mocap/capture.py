"""One call from 2-D keypoints and lifted root-relative poses of one or several persons to metric motion capture.

HoT (Li et al., CVPR 2024, arXiv:2311.12028) lifts each tracked person's 2-D to root-relative Human3.6M-17
joints in the camera frame. ``reconstruct`` places them in the scene:

1. every person's root trajectory in the camera frame (``hot_pose.mocap.trajectory.solve_root_trajectory``:
   robust reprojection fit of the constant-bone pose scaled to the person's height, RTS-smoothed), hence its
   absolute camera-frame joints;
2. one world frame for everybody (``hot_pose.mocap.world.estimate_world``: all persons' foot contacts pooled
   into one floor, the balance prior, the root paths' direction of travel): z up, floor z = 0; so persons keep
   their true relative positions (they share the camera and the floor; each one's depth follows from its own
   height, and a wrong height moves only that person along its viewing rays);
3. per person the foot contacts against that floor (``hot_pose.mocap.contacts.foot_contacts``) and, with
   ``foot_lock``, foot locking (``lock_feet``: a smooth horizontal shift of the whole skeleton in the world
   frame, so the planted feet do not skate; the pose itself is unchanged).

When no floor can be found from foot contacts (fewer than 3 contact points: sitting, very short clips), the up
direction falls back to the mean ankle→head axis of the extended frames, or, without any, to a level camera;
the floor is then put under the lowest ankles (5th percentile along the up direction) and ``floor_method`` says
which fallback was used (``"contacts"`` normally).

Depth and scale: the depth of each person is proportional to its height and to the focal length (see
``hot_pose.mocap.trajectory``): a height or focal length off by x % puts the person x % too near or too far.
"""
from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass, fields
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from hot_pose.mocap.contacts import FEET, foot_contacts, lock_feet
from hot_pose.mocap.height import ANKLE_HEIGHT_M, DEFAULT_HEIGHT_M, JOINT_NAMES, check_height, skeleton_height
from hot_pose.mocap.intrinsics import Intrinsics
from hot_pose.mocap.trajectory import NOISE_PRESETS, solve_root_trajectory
from hot_pose.mocap.world import WorldFrame, body_up, estimate_world
from hot_pose.utils.checks import FPS_RANGE, check_number

_logger = logging.getLogger(__name__)

__all__ = ["MotionCapture", "reconstruct", "LIFTER", "CAMERA_AXES", "WORLD_AXES", "FLOOR_METHODS"]

#: ``heights`` value that keeps the lifter's own metric size instead of a height
LIFTER = "lifter"
#: the camera frame of every camera-frame output (the lifter's axes)
CAMERA_AXES = "camera frame: x right, y down, z forward (along the optical axis), metres"
#: the world frame of every world-frame output
WORLD_AXES = ("world frame: z up (gravity), floor at z = 0; y = the camera's optical axis projected on the floor "
              "(forward), x = y × z (to the camera's right); origin on the floor below the camera; metres")
#: how the floor was found: foot contacts (normal), the body axis (no contacts), a level camera (neither)
FLOOR_METHODS = ("contacts", "body_axis", "level_camera")


@dataclass
class MotionCapture:
    """Metric motion capture of P persons over T frames seen by one camera (``reconstruct``).

    Per-person arrays have a leading person axis (P = 1 for one person: use ``[0]``); frames where a person is
    not ``present`` are NaN (``contacts`` False, ``confidence`` 0).

    Attributes:
        trajectory: (P, T, 3) root (pelvis) position in the camera frame (``CAMERA_AXES``), metres.
        confidence: (P, T) in [0, 1]: the share of the joints detected and consistent with the fit (0 where the
            person was not detected and the trajectory is interpolated).
        trajectory_std: (P, T, 3) posterior standard deviation of ``trajectory``, metres (depth, z, dominates).
        joints_camera: (P, T, 17, 3) absolute joints in the camera frame (constant bone lengths), metres.
        joints_world: (P, T, 17, 3) the same in the world frame (``WORLD_AXES``), foot-locked when
            ``foot_locked``; ``joints_world − lock_shift[..., None, :]`` are the unlocked ones.
        lock_shift: (P, T, 3) the horizontal world-frame shift foot locking applied (zeros without it).
        contacts: (P, T, 2) bool foot contacts (left, right).
        present: (P, T) bool.
        height_m: (P,) the standing height used per person, metres (with ``"lifter"``: the lifted skeleton's own).
        K: (3, 3) intrinsic matrix, pixels.
        image_size: (2,) width, height in pixels.
        distortion: (n,) lens distortion coefficients (empty: none) of ``distortion_model``.
        distortion_model: ``"opencv"`` or ``"h36m"``.
        intrinsics_source: ``"calibration"``, ``"focal"``, ``"fov"`` or ``"default"``.
        camera_rotation: (3, 3) camera → world rotation R: ``X_world = R @ X_camera + camera_position``; its
            columns are the camera's axes in world coordinates.
        camera_position: (3,) the camera centre in the world frame, (0, 0, camera_height_m).
        camera_height_m: the camera centre's height above the floor, metres.
        pitch_deg: the optical axis' tilt below the horizon, degrees (positive: looking down).
        roll_deg: the image's rotation about the optical axis, degrees (0: upright).
        up_camera: (3,) the world's up direction in camera coordinates.
        floor_method: one of ``FLOOR_METHODS``.
        fps: frame rate.
        foot_locked: whether ``joints_world`` are foot-locked.
        preset: the trajectory's noise preset (``hot_pose.mocap.trajectory.NOISE_PRESETS``).
    """

    trajectory: np.ndarray
    confidence: np.ndarray
    trajectory_std: np.ndarray
    joints_camera: np.ndarray
    joints_world: np.ndarray
    lock_shift: np.ndarray
    contacts: np.ndarray
    present: np.ndarray
    height_m: np.ndarray
    K: np.ndarray
    image_size: np.ndarray
    distortion: np.ndarray
    distortion_model: str
    intrinsics_source: str
    camera_rotation: np.ndarray
    camera_position: np.ndarray
    camera_height_m: float
    pitch_deg: float
    roll_deg: float
    up_camera: np.ndarray
    floor_method: str
    fps: float
    foot_locked: bool
    preset: str

    @property
    def num_persons(self) -> int:
        """P."""
        return int(self.trajectory.shape[0])

    @property
    def num_frames(self) -> int:
        """T."""
        return int(self.trajectory.shape[1])

    def world_to_camera(self, points_world: np.ndarray) -> np.ndarray:
        """(..., 3) world points → (..., 3) camera-frame points."""
        return (np.asarray(points_world, np.float64) - self.camera_position) @ self.camera_rotation

    def camera_to_world(self, points_camera: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points → (..., 3) world points."""
        return np.asarray(points_camera, np.float64) @ self.camera_rotation.T + self.camera_position

    def _person(self, person: int) -> int:
        if isinstance(person, bool) or not isinstance(person, numbers.Integral) or not 0 <= person < self.num_persons:
            raise ValueError(f"person must be an index 0 to {self.num_persons - 1}, got {person!r}")
        return int(person)

    def to_bvh(self, path: Any, person: int = 0, units: str = "cm", rotation_order: str = "ZXY") -> np.ndarray:
        """Write one person's ``joints_world`` as an animated BVH skeleton (``hot_pose.export.bvh.write_bvh``: y up,
        ``units`` cm by default; frames where the person is not ``present`` are interpolated, BVH cannot mark them).

        Returns:
            (T, 17, 3) the world joints (metres, z up) the file encodes.

        Raises:
            ValueError: a bad ``person``, ``units`` or ``rotation_order``. OSError: the file cannot be written.
        """
        from hot_pose.export.bvh import write_bvh

        p = self._person(person)
        return write_bvh(path, self.joints_world[p], self.fps, valid=self.present[p], units=units,
                         rotation_order=rotation_order)

    def to_trc(self, path: Any, person: int = 0, units: str = "mm") -> None:
        """Write one person's ``joints_world`` as OpenSim TRC markers (``hot_pose.export.trc.write_trc``: y up,
        ``units`` mm or m; frames where the person is not ``present`` are written NaN).

        Raises:
            ValueError: a bad ``person`` or ``units``. OSError: the file cannot be written.
        """
        from hot_pose.export.trc import write_trc

        p = self._person(person)
        write_trc(path, self.joints_world[p], self.fps, units, valid=self.present[p])

    def to_c3d(self, path: Any, person: int = 0, units: str = "mm") -> None:
        """Write one person's ``joints_world`` as C3D points (``hot_pose.export.c3d.write_c3d``: z up, ``units`` mm
        or m; frames where the person is not ``present`` are flagged missing). Needs ezc3d.

        Raises:
            ValueError: a bad ``person`` or ``units``. ImportError: no ezc3d. OSError: the file cannot be written.
        """
        from hot_pose.export.c3d import write_c3d

        p = self._person(person)
        write_c3d(path, self.joints_world[p], self.fps, units, valid=self.present[p])

    def to_dict(self, json_safe: bool = False) -> Dict[str, Any]:
        """Every field plus ``joint_names``, ``camera_axes``, ``world_axes`` and ``units``.

        Args:
            json_safe: arrays as nested lists with NaN → None (for ``json.dumps``); otherwise numpy arrays and
                plain scalars (for ``np.savez``: ``np.savez(path, **capture.to_dict())``).
        """
        out: Dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                if json_safe:
                    value = _json_array(value)
            elif isinstance(value, (bool, np.bool_)):
                value = bool(value)
            elif isinstance(value, (numbers.Real, np.floating)):
                value = float(value)
            out[f.name] = value
        out.update(joint_names=list(JOINT_NAMES), camera_axes=CAMERA_AXES, world_axes=WORLD_AXES, units="metres")
        return out


def _json_array(a: np.ndarray) -> Any:
    if a.dtype == bool or np.issubdtype(a.dtype, np.integer):
        return a.tolist()
    a = np.asarray(a, np.float64)
    return np.where(np.isfinite(a), a, None).tolist() if a.size else []


def _per_person(value: Any, P: int) -> list:
    if value is None or isinstance(value, str) or np.ndim(value) == 0:
        return [value] * P
    values = list(value)
    if len(values) != P:
        raise ValueError(f"heights must be one value or one per person ({P}), got {len(values)}")
    return values


def _height(h: Any) -> Union[float, str]:
    if h is None:
        return DEFAULT_HEIGHT_M
    if isinstance(h, str):
        if h != LIFTER:
            raise ValueError(f"heights must be metres, None (default {DEFAULT_HEIGHT_M} m) or {LIFTER!r}, got {h!r}")
        return LIFTER
    return check_height(h, "heights")


def _as_float_array(value: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {type(value).__name__}") from None


def _fallback_world(joints: List[np.ndarray], weights: List[np.ndarray]) -> Tuple[WorldFrame, str]:
    """A world frame without foot contacts: up from the body axis (or a level camera), floor under the lowest
    ankles (5th percentile along up); and the ``FLOOR_METHODS`` name of the fallback."""
    try:
        up, method = body_up(joints, weights), "body_axis"
    except ValueError:
        up, method = np.array([0.0, -1.0, 0.0]), "level_camera"
    ankles = np.concatenate([J[:, list(FEET)].reshape(-1, 3) for J in joints])
    ankles = ankles[np.isfinite(ankles).all(-1)]
    h = float(ANKLE_HEIGHT_M - np.percentile(ankles @ up, 5)) if len(ankles) else float("nan")
    if not math.isfinite(h):
        raise ValueError("no finite ankle position: cannot place the floor")
    return WorldFrame.from_up(up, h), method


def reconstruct(keypoints_px: np.ndarray, poses_root_relative: np.ndarray, intrinsics: Intrinsics, fps: float,
                scores: Optional[np.ndarray] = None, present: Optional[np.ndarray] = None,
                heights: Union[None, float, str, Sequence[Union[None, float, str]]] = None, foot_lock: bool = True,
                preset: str = "detector") -> MotionCapture:
    """Metric motion capture of one or several persons seen by one camera.

    Args:
        keypoints_px: (T, 17, 2) or (P, T, 17, 2) detected pixels, Human3.6M-17 order (``JOINT_NAMES``), as in
            the video (lens distortion is removed with ``intrinsics``); NaN = a missing joint.
        poses_root_relative: (T, 17, 3) or (P, T, 17, 3) the lifter's root-relative poses, metres, camera axes
            (x right, y down, z forward); any values where the person is not present.
        intrinsics: the camera (``Intrinsics.resolve``: a calibration, a focal length, a field of view or the
            default 65° across the longer side).
        fps: frame rate (0.1-1000).
        scores: (T, 17) or (P, T, 17) 2-D confidences in [0, 1] (default 1).
        present: (T,) or (P, T) bool, frames where each person is tracked (default: all).
        heights: standing height(s) in metres (0.5-2.5), one for all or one per person; None (or a None entry)
            = ``DEFAULT_HEIGHT_M`` (1.70 m); ``"lifter"`` keeps the lifter's own metric size (works only where
            the lifter learnt the camera distance, e.g. Human3.6M with GT 2-D; see ``docs/mocap.md``).
        foot_lock: foot-lock ``joints_world``.
        preset: the trajectory's noise model: ``"detector"`` (default: 2-D from a keypoint detector) or
            ``"exact"`` (2-D that is the projection of the same skeleton, e.g. ground truth or synthetic).

    Returns:
        ``MotionCapture`` (always with a person axis).

    Raises:
        ValueError: bad shapes, heights, fps, preset or intrinsics, non-finite poses where the keypoints are
            valid, or a person without any frame of at least 3 valid keypoints.
    """
    kp = _as_float_array(keypoints_px, "keypoints_px")
    P3 = _as_float_array(poses_root_relative, "poses_root_relative")
    single = kp.ndim == 3
    if single:
        kp, P3 = kp[None], P3[None]
    if kp.ndim != 4 or kp.shape[2:] != (17, 2) or P3.shape != kp.shape[:3] + (3,):
        raise ValueError("expected keypoints_px (T, 17, 2) and poses_root_relative (T, 17, 3), or (P, T, 17, 2) "
                         f"and (P, T, 17, 3), got shapes {np.shape(keypoints_px)} and {np.shape(poses_root_relative)}")
    nP, T = kp.shape[:2]
    if T < 1 or nP < 1:
        raise ValueError(f"keypoints_px hold no frame or no person (shape {np.shape(keypoints_px)})")
    if not isinstance(intrinsics, Intrinsics):
        raise ValueError(f"intrinsics must be a hot_pose.mocap.Intrinsics, got {type(intrinsics).__name__}")
    fps = check_number(fps, "fps", *FPS_RANGE)
    if preset not in NOISE_PRESETS:
        raise ValueError(f"preset must be one of {', '.join(NOISE_PRESETS)}, got {preset!r}")
    if scores is None:
        sc = np.ones(kp.shape[:3])
    else:
        sc = _as_float_array(scores, "scores")
        sc = sc[None] if single else sc
    if present is None:
        pr = np.ones((nP, T), bool)
    else:
        pr = np.asarray(present)
        if pr.dtype != bool:
            raise ValueError(f"present must be a bool array, got dtype {pr.dtype}")
        pr = pr[None] if single else pr
    if sc.shape != kp.shape[:3]:
        raise ValueError(f"scores must be {kp.shape[1:3] if single else kp.shape[:3]}, got shape {np.shape(scores)}")
    if pr.shape != (nP, T):
        raise ValueError(f"present must be {(T,) if single else (nP, T)}, got shape {np.shape(present)}")
    hs = [_height(h) for h in _per_person(heights, nP)]

    traj = np.full((nP, T, 3), np.nan)
    std = np.full((nP, T, 3), np.nan)
    conf = np.zeros((nP, T))
    joints_cam = np.full((nP, T, 17, 3), np.nan)
    used = np.zeros(nP)
    for i in range(nP):
        if not pr[i].any():
            raise ValueError(f"person {i} is present in no frame")
        k = np.where(pr[i][:, None, None], kp[i], np.nan)
        pose = np.where(pr[i][:, None, None], P3[i], np.nan)
        size = dict(scale=1.0) if hs[i] == LIFTER else dict(height=hs[i])
        try:
            tr = solve_root_trajectory(k, pose, intrinsics, scores=np.where(pr[i][:, None], sc[i], 0.0), fps=fps,
                                       preset=preset, **size)
        except ValueError as exc:
            raise ValueError(f"person {i}: {exc}" if nP > 1 else str(exc)) from None
        J = tr.joints()
        J[~pr[i]] = np.nan
        joints_cam[i] = J
        traj[i] = np.where(pr[i][:, None], tr.root, np.nan)
        std[i] = np.where(pr[i][:, None], tr.std, np.nan)
        conf[i] = np.where(pr[i], tr.confidence, 0.0)
        used[i] = skeleton_height(J[pr[i]] - J[pr[i], :1]) if hs[i] == LIFTER else hs[i]

    persons = [joints_cam[i] for i in range(nP)]
    weights = [conf[i] for i in range(nP)]
    try:
        world = estimate_world(persons, fps, weights=weights)
        method = "contacts"
    except ValueError as exc:
        world, method = _fallback_world(persons, weights)
        _logger.warning("no floor from foot contacts (%s): up from the %s, floor under the lowest ankles; camera "
                        "height %.2f m, pitch %.1f°", exc, method.replace("_", " "), world.camera_height,
                        world.pitch_deg)
    joints_world = world.to_world(joints_cam)
    contacts = np.zeros((nP, T, 2), bool)
    shift = np.zeros((nP, T, 3))
    for i in range(nP):
        contacts[i] = foot_contacts(joints_world[i], fps, valid=pr[i])
        if foot_lock:
            joints_world[i], shift[i] = lock_feet(joints_world[i], contacts[i], fps)
    M = world.transform
    return MotionCapture(
        trajectory=traj, confidence=conf, trajectory_std=std, joints_camera=joints_cam, joints_world=joints_world,
        lock_shift=np.where(pr[..., None], shift, np.nan), contacts=contacts, present=pr.copy(), height_m=used,
        K=intrinsics.K, image_size=np.array([intrinsics.width, intrinsics.height]),
        distortion=np.asarray(intrinsics.dist, np.float64), distortion_model=intrinsics.model,
        intrinsics_source=intrinsics.source, camera_rotation=M[:3, :3].copy(), camera_position=M[:3, 3].copy(),
        camera_height_m=float(world.camera_height), pitch_deg=float(world.pitch_deg),
        roll_deg=float(world.roll_deg), up_camera=world.up.copy(), floor_method=method, fps=fps,
        foot_locked=bool(foot_lock), preset=preset)
