"""Gravity-aligned world frame with the floor at z = 0, estimated from the motion of one or several persons.

Part of ``hot_pose.mocap`` (metric motion capture on top of HoT: Li et al., CVPR 2024, arXiv:2311.12028).

Input: each person's absolute camera-frame joints ``s·P + T`` (``Trajectory.joints``). Output: a
``WorldFrame``: the up direction and the floor in camera coordinates, hence the camera's height above the
floor, its pitch and roll, and the rigid transform camera → world.

Method (``estimate_world``):

1. Rough up u_r (only to find the contacts of the first pass): the confidence-weighted mean over frames of
   the unit vector from the ankles' midpoint to the head, over the frames where the body is extended (that
   distance ≥ 85 % of the ankle-knee-hip-spine-thorax-head chain), trimmed to within 20° of the first mean.
2. Contacts: per frame and foot, the ankle when it is within 10 cm (along the current up) of the lower ankle
   and moves < 0.5 m/s (later passes: ``hot_pose.mocap.contacts.foot_contacts`` against the current floor).
3. Balance prior u₀ (``support_up``): the mean over contact frames of (centre of mass − centre of the feet
   in contact); the centre of mass (``center_of_mass``, Winter's segment masses on the 17 joints) stays above
   the support on average, so u₀ is vertical whatever the body leans (a person lunging with the trunk 15-20°
   off vertical, hips 15° off level: ankle→head and hip-line priors fail by that much, u₀ stays within ~4°
   on the triangulated reference of the Pose2Sim demo).
4. Floor normal n: the smallest eigenvector of
   ``Σ_i w_i (p_i − p̄)(p_i − p̄)ᵀ / σ_c² + Σ_k w_k d_k d_kᵀ / σ_p² + (I − u₀u₀ᵀ) / sin²θ₀``:
   a total-least-squares plane through the contact ankles p_i; the root path's displacements d_k over 1 s
   (``path_scatter``: the pelvis of a walking person moves parallel to the floor, and a displacement's
   direction does not change when a depth error scales a viewing ray's x, y, z alike); regularised towards u₀
   (θ₀ = 5°) in the directions neither spans (standing still: two feet; walking straight: a line).
   σ_c = 0.25 m (``CONTACT_SIGMA_M``: the contacts carry the trajectory's depth errors and the lifted ankles'
   depth errors relative to the pelvis), σ_p = 0.03 m (``PATH_SIGMA_M``: pelvis bob + the difference of two
   frames' depth errors along the slope of the ray). Robust: Cauchy reweighting of the contacts' distances to
   the plane (c = 3σ_c), 3 passes. n is oriented like u₀ (up).
5. Floor offset: camera height h = median_i (ANKLE_HEIGHT_M − n·p_i), so that a contact ankle is
   ``ANKLE_HEIGHT_M`` above the floor (``hot_pose.mocap.height``).
6. Steps 2-5 are repeated once with the contacts labelled against this floor.

Camera orientation from n (world up in camera coordinates): pitch = asin(−n_z) (positive: looking down),
roll = atan2(n_x, −n_y) (0 for an upright camera). World axes: z = n, y = the optical axis projected on the
floor, x = y × z (x to the camera's right); the camera centre is at (0, 0, h).

Several persons (``estimate_world`` with a list): the contacts of all persons are pooled into one plane fit
and u₀ is their pooled balance prior, so everyone shares the floor and their positions stay consistent.

Sensitivities: the normal comes from u₀, the contacts' spread and the direction of travel: the lifter's errors
in the body's tilt relative to the camera tilt u₀ one for one, depth errors along the camera rays tilt the
contact plane (a uniform scale error does not); the camera height h follows the pitch (≈ distance × pitch
error) and scales with the trajectory's scale/focal errors.

Measured (each Pose2Sim demo camera alone against its calibration, ``tools/mocap_wild.py``): ``docs/mocap.md``
and ``benchmarks/mocap_wild.md``. With the triangulated reference's own 3-D the method is within ~0.15 m / ~1.5°
on all four views; with the lifted 3-D two views miss, because the lifted body leans towards those cameras
(see ``docs/mocap.md``).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import numpy as np

from hot_pose.mocap.contacts import FEET, foot_contacts, horizontal_speed
from hot_pose.mocap.height import (ANKLE_HEIGHT_M, HEAD, LANKLE, LHIP, LKNEE, PELVIS, RANKLE, RHIP, RKNEE, SPINE,
                                   THORAX, check_poses)
from hot_pose.utils.checks import FPS_RANGE, check_number

_logger = logging.getLogger(__name__)

__all__ = ["WorldFrame", "estimate_world", "camera_angles", "body_up", "fit_floor", "path_scatter", "world_from_up"]

#: noise of a contact ankle's height in the camera-frame estimate (m): the floor contact itself is within ~3 cm,
#: but every contact point carries the trajectory's monocular depth error (~5 % of a 3-5 m distance along the
#: viewing ray, a few tenths of it vertical), which differs between foot placements and tilts a plane fit
CONTACT_SIGMA_M = 0.25
#: 1-σ tolerance of the balance prior (degrees): ~4° on the triangulated reference of the Pose2Sim demo
PRIOR_DEG = 5.0
#: vertical noise of a root displacement over ``PATH_WINDOW_S`` (m): the pelvis' vertical bob (±2 cm) and the
#: difference of two frames' depth errors (~1.2 % of the depth each on Human3.6M, ×√2) times the slope of the
#: viewing ray (y/z ≈ 0.1-0.3): ~1.5 cm; together ~3 cm. Smaller than the contacts' ``CONTACT_SIGMA_M``,
#: which also carry the lifted ankles' depth errors relative to the pelvis
PATH_SIGMA_M = 0.03
#: interval of the root displacements (s): about one stride, so the pelvis' vertical bob averages out
PATH_WINDOW_S = 1.0


def camera_angles(up_cam: np.ndarray):
    """(3,) world up in camera coordinates → (pitch_deg, roll_deg): pitch > 0 looking down, roll 0 upright."""
    n = np.asarray(up_cam, np.float64)
    n = n / np.linalg.norm(n)
    return math.degrees(math.asin(np.clip(-n[2], -1, 1))), math.degrees(math.atan2(n[0], -n[1]))


def world_from_up(up_cam: np.ndarray, camera_height: float) -> np.ndarray:
    """(4, 4) camera → world transform for world z = ``up_cam``, y = optical axis on the floor, floor z = 0."""
    z = np.asarray(up_cam, np.float64)
    z = z / np.linalg.norm(z)
    fwd = np.array([0.0, 0.0, 1.0]) - z[2] * z
    if np.linalg.norm(fwd) < 1e-6:  # looking straight down/up: use the image's up as forward
        fwd = np.array([0.0, -1.0, 0.0]) - z[1] * z
    y = fwd / np.linalg.norm(fwd)
    x = np.cross(y, z)
    M = np.eye(4)
    M[:3, :3] = np.stack([x, y, z])
    M[:3, 3] = [0.0, 0.0, camera_height]
    return M


@dataclass
class WorldFrame:
    """A gravity-aligned world frame (z up, floor z = 0) seen from the camera.

    Attributes:
        up: (3,) unit world up in camera coordinates.
        camera_height: height of the camera centre above the floor, m.
        pitch_deg: downward tilt of the optical axis below the horizon, degrees.
        roll_deg: rotation of the image about the optical axis, degrees.
        transform: (4, 4) camera → world (``to_world``).
        body_up: (3,) the body-up prior u₀ (camera coordinates).
        contacts_used: number of contact points in the final fit.
        normal_std_deg: approximate 1-σ uncertainty of the floor normal, degrees.
    """

    up: np.ndarray
    camera_height: float
    pitch_deg: float
    roll_deg: float
    transform: np.ndarray
    body_up: np.ndarray
    contacts_used: int
    normal_std_deg: float

    @classmethod
    def from_up(cls, up_cam: np.ndarray, camera_height: float, body_up: Optional[np.ndarray] = None,
                contacts_used: int = 0, normal_std_deg: float = float("nan")) -> "WorldFrame":
        """A world frame from a known up vector (camera coordinates) and camera height."""
        n = np.asarray(up_cam, np.float64)
        if n.shape != (3,) or not np.isfinite(n).all() or np.linalg.norm(n) == 0:
            raise ValueError(f"up must be a finite non-zero 3-vector, got {up_cam!r}")
        if not math.isfinite(camera_height):
            raise ValueError(f"camera_height must be finite, got {camera_height!r}")
        n = n / np.linalg.norm(n)
        pitch, roll = camera_angles(n)
        return cls(n, float(camera_height), pitch, roll, world_from_up(n, camera_height),
                   n if body_up is None else np.asarray(body_up, np.float64), contacts_used, normal_std_deg)

    def to_world(self, points_cam: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points → (..., 3) world points (z = height above the floor)."""
        p = np.asarray(points_cam, np.float64)
        return p @ self.transform[:3, :3].T + self.transform[:3, 3]

    def to_camera(self, points_world: np.ndarray) -> np.ndarray:
        """Inverse of ``to_world``."""
        p = np.asarray(points_world, np.float64)
        return (p - self.transform[:3, 3]) @ self.transform[:3, :3]

    def height(self, points_cam: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points → (...,) height above the floor, m."""
        return np.asarray(points_cam, np.float64) @ self.up + self.camera_height


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def body_up(joints_cam: Sequence[np.ndarray], weights: Optional[Sequence[np.ndarray]] = None,
            extended: float = 0.85) -> np.ndarray:
    """Body-up prior u₀ (step 1 of the module docstring).

    Args:
        joints_cam: per person (T, 17, 3) camera-frame joints.
        weights: per person (T,) frame weights (default 1; NaN frames are skipped).
        extended: fraction of the chain length the ankle→head distance must reach.

    Returns:
        (3,) unit vector.

    Raises:
        ValueError: no usable frame.
    """
    dirs, ws = [], []
    for i, J in enumerate(joints_cam):
        w = np.ones(len(J)) if weights is None else np.asarray(weights[i], np.float64)
        mid = 0.5 * (J[:, LANKLE] + J[:, RANKLE])
        v = J[:, HEAD] - mid
        L = lambda a, b: np.linalg.norm(J[:, a] - J[:, b], axis=-1)  # noqa: E731
        chain = 0.5 * (L(RANKLE, RKNEE) + L(RKNEE, RHIP) + L(LANKLE, LKNEE) + L(LKNEE, LHIP)) \
            + L(PELVIS, SPINE) + L(SPINE, THORAX) + L(THORAX, HEAD)
        ok = np.isfinite(v).all(-1) & np.isfinite(chain) & (w > 0)
        ok &= np.linalg.norm(np.nan_to_num(v), axis=-1) >= extended * np.nan_to_num(chain)
        dirs.append(_unit(v[ok]))
        ws.append(w[ok])
    d, w = np.concatenate(dirs), np.concatenate(ws)
    if not len(d):
        raise ValueError("no frame with an extended (standing or walking) body: cannot find the body's up")
    u = _unit((w[:, None] * d).sum(0))
    keep = d @ u >= math.cos(math.radians(20))
    if keep.sum() >= 3:
        u = _unit((w[keep, None] * d[keep]).sum(0))
    return u


#: Human3.6M-17 segments for the centre of mass: (from, to, COM fraction along the segment, mass fraction);
#: Winter (2009) / Dempster mass fractions, the trunk from the pelvis to the thorax, the hand lumped with the
#: forearm and the foot placed at the ankle
SEGMENTS = (((0, 8), 0.5, 0.497), ((8, 10), 0.5, 0.081), ((11, 12), 0.436, 0.028), ((14, 15), 0.436, 0.028),
            ((12, 13), 0.43, 0.022), ((15, 16), 0.43, 0.022), ((1, 2), 0.433, 0.100), ((4, 5), 0.433, 0.100),
            ((2, 3), 0.433, 0.0465), ((5, 6), 0.433, 0.0465), ((3, 3), 0.0, 0.0145), ((6, 6), 0.0, 0.0145))


def center_of_mass(joints: np.ndarray) -> np.ndarray:
    """(..., 17, 3) joints → (..., 3) whole-body centre of mass (segment model ``SEGMENTS``)."""
    J = np.asarray(joints, np.float64)
    total = sum(m for _, _, m in SEGMENTS)
    return sum(m * (J[..., a, :] + f * (J[..., b, :] - J[..., a, :])) for (a, b), f, m in SEGMENTS) / total


def support_up(joints_cam: Sequence[np.ndarray], contacts: Sequence[np.ndarray],
               weights: Optional[Sequence[np.ndarray]] = None) -> Optional[np.ndarray]:
    """Up from balance: the mean over contact frames of (centre of mass − centre of the feet in contact).

    Over time the centre of mass stays above the support (its horizontal acceleration averages out), so this
    mean vector is vertical whatever the body's lean; its component along the walking direction (the COM leads
    the support while walking) is fixed by the contacts' spread in ``fit_floor``.

    Args:
        joints_cam: per person (T, 17, 3).
        contacts: per person (T, 2) bool (left, right).
        weights: per person (T,) frame weights.

    Returns:
        (3,) unit vector, or None without any contact frame.
    """
    vs, ws = [], []
    for i, (J, C) in enumerate(zip(joints_cam, contacts)):
        w = np.ones(len(J)) if weights is None else np.asarray(weights[i], np.float64)
        C = np.asarray(C, bool)
        n = C.sum(1)
        sup = (C[:, 0:1] * np.nan_to_num(J[:, LANKLE]) + C[:, 1:2] * np.nan_to_num(J[:, RANKLE])) \
            / np.maximum(n, 1)[:, None]
        v = center_of_mass(J) - sup
        ok = (n > 0) & np.isfinite(v).all(-1) & (w > 0)
        vs.append(v[ok])
        ws.append(w[ok])
    v, w = np.concatenate(vs), np.concatenate(ws)
    if not len(v):
        return None
    return _unit((w[:, None] * v).sum(0))


def path_scatter(paths: Sequence[np.ndarray], weights: Sequence[np.ndarray], sigma: Optional[float] = None,
                 window_s: float = PATH_WINDOW_S, fps: float = 30.0) -> np.ndarray:
    """(3, 3) information about the floor normal from the root paths: Σ_k w_k d_k d_kᵀ / σ² over the root
    displacements d_k = r(t + Δ) − r(t) (Δ = ``window_s``, one per frame), each of which is horizontal
    (the pelvis of a walking person moves parallel to the floor; its bob and a lunge's dip are a few cm).

    A displacement's direction is scale-invariant (a depth error that scales a ray's x, y, z alike leaves it),
    so the path constrains the normal in the direction of travel even when the contact points' relative depths
    are off (on the Pose2Sim demo: the net pelvis displacement is within 0.5-4.6° of horizontal in all four
    views, the contact line up to 11°). Standing still gives (near) zero: no information.

    Args:
        paths: per person (T, 3) root positions (camera frame; NaN = absent).
        weights: per person (T,) frame weights.
        sigma: vertical noise of one displacement, m.
        window_s: displacement interval, s (longer than a step, so the bob averages out).
        fps: frame rate.
    """
    sigma = PATH_SIGMA_M if sigma is None else sigma
    M = np.zeros((3, 3))
    lag = max(1, int(round(window_s * fps)))
    for r, w in zip(paths, weights):
        r = np.asarray(r, np.float64)
        if len(r) <= lag:
            continue
        d = r[lag:] - r[:-lag]
        wd = np.minimum(np.asarray(w, np.float64)[lag:], np.asarray(w, np.float64)[:-lag])
        ok = np.isfinite(d).all(-1) & (wd > 0)
        # one displacement per frame overlaps its neighbours: count each interval once (÷ lag)
        M += (wd[ok, None, None] * d[ok, :, None] * d[ok, None, :]).sum(0) / sigma ** 2 / lag
    return M


def fit_floor(points: np.ndarray, weights: np.ndarray, prior_up: np.ndarray, sigma: float = CONTACT_SIGMA_M,
              prior_deg: float = PRIOR_DEG, passes: int = 3, extra: Optional[np.ndarray] = None):
    """Robust plane normal through contact points, regularised towards ``prior_up`` (step 4).

    Args:
        points: (N, 3) contact ankle positions (camera frame).
        weights: (N,) weights ≥ 0.
        prior_up: (3,) unit prior normal.
        extra: (3, 3) further information on directions the normal is perpendicular to (``path_scatter``).

    Returns:
        ``(normal (3,), offsets (N,) n·p_i, robust weights (N,), normal_std_deg)``.
    """
    p = np.asarray(points, np.float64)
    w0 = np.asarray(weights, np.float64)
    u0 = _unit(np.asarray(prior_up, np.float64))
    prior = (np.eye(3) - np.outer(u0, u0)) / math.sin(math.radians(prior_deg)) ** 2
    if extra is not None:
        prior = prior + np.asarray(extra, np.float64)
    rho = np.ones(len(p))
    n = u0
    for _ in range(passes):
        w = w0 * rho
        if w.sum() <= 0:
            break
        mean = (w[:, None] * p).sum(0) / w.sum()
        d = p - mean
        M = (w[:, None, None] * d[:, :, None] * d[:, None, :]).sum(0) / sigma ** 2 + prior
        evals, evecs = np.linalg.eigh(M)
        n = evecs[:, 0]
        if n @ u0 < 0:
            n = -n
        r = d @ n
        rho = 1.0 / (1.0 + (r / (3 * sigma)) ** 2)
    # 1-σ tilt uncertainty: 1/sqrt of the second-smallest curvature of the quadratic form
    std = math.degrees(1.0 / math.sqrt(max(evals[1] - evals[0], 1e-12))) if len(p) else float("nan")
    return n, p @ n, rho, std


def _contact_labels(J: np.ndarray, up: np.ndarray, fps: float, max_height: float, max_speed: float,
                    world: Optional[WorldFrame]) -> np.ndarray:
    """(T, 2) contact labels of one person: against the floor of ``world``, else along ``up`` only."""
    if world is not None:
        return foot_contacts(world.to_world(J), fps, max_height=max_height, max_speed=max_speed)
    feet = J[:, list(FEET)]  # (T, 2, 3)
    h = feet @ up
    lower = np.fmin(h[:, 0], h[:, 1])  # the lower ankle along the up direction
    C = np.zeros((len(J), 2), bool)
    e1 = _unit(np.cross(up, [1.0, 0.0, 0.0]) if abs(up[0]) < 0.9 else np.cross(up, [0.0, 0.0, 1.0]))
    e2 = np.cross(up, e1)
    for f in range(2):
        hz = np.stack([np.nan_to_num(feet[:, f]) @ e1, np.nan_to_num(feet[:, f]) @ e2], -1)
        speed = horizontal_speed(hz, fps, 2)
        C[:, f] = np.isfinite(h[:, f]) & (h[:, f] <= lower + max_height) & (speed <= max_speed)
    return C


def _contact_points(J: np.ndarray, C: np.ndarray, weights: np.ndarray):
    """Contact ankle points (M, 3) and their weights (M,) of one person (one point per contact frame)."""
    pts, ws = [], []
    for f, joint in enumerate(FEET):
        m = C[:, f] & np.isfinite(J[:, joint]).all(-1) & (weights > 0)
        pts.append(J[m, joint])
        ws.append(weights[m])
    return np.concatenate(pts), np.concatenate(ws)


def estimate_world(joints_cam: Union[np.ndarray, Sequence[np.ndarray]], fps: float,
                   weights: Optional[Union[np.ndarray, Sequence[np.ndarray]]] = None, max_height: float = 0.10,
                   max_speed: float = 0.5, prior_deg: float = PRIOR_DEG, sigma: float = CONTACT_SIGMA_M,
                   refine: int = 1, use_path: bool = True) -> WorldFrame:
    """Floor, up direction and camera pose from the motion of one or several persons.

    Args:
        joints_cam: (T, 17, 3) camera-frame joints of one person, or a list of such arrays (one per person,
            each its own length; NaN frames = absent).
        fps: frame rate.
        weights: per person (T,) frame weights, e.g. ``Trajectory.confidence`` (default 1).
        max_height, max_speed: contact rule (see ``hot_pose.mocap.contacts``).
        prior_deg: tolerance of the balance prior, degrees.
        sigma: contact height noise, m.
        refine: passes with contacts labelled against the current floor.
        use_path: add the root paths' horizontal-motion term (``path_scatter``).

    Returns:
        ``WorldFrame`` (``body_up`` holds the balance prior u₀).

    Raises:
        ValueError: bad shapes, fps, or no contact / extended frame found.
    """
    persons: List[np.ndarray] = [joints_cam] if isinstance(joints_cam, np.ndarray) and np.ndim(joints_cam) == 3 \
        else list(joints_cam)
    if not persons:
        raise ValueError("no person given")
    persons = [check_poses(J, "joints_cam", allow_nan=True) for J in persons]
    fps = check_number(fps, "fps", *FPS_RANGE)
    if weights is None:
        ws = [np.ones(len(J)) for J in persons]
    elif isinstance(weights, np.ndarray) and weights.ndim == 1 and len(persons) == 1:
        ws = [np.asarray(weights, np.float64)]
    else:
        ws = [np.asarray(w, np.float64) for w in weights]
    if len(ws) != len(persons) or any(w.shape != (len(J),) for w, J in zip(ws, persons)):
        raise ValueError("weights must give one (T,) array per person")
    ws = [np.where(np.isfinite(J).all(axis=(1, 2)), np.nan_to_num(w), 0.0) for w, J in zip(ws, persons)]
    up = body_up(persons, ws)  # rough: only to find the contacts of the first pass
    world: Optional[WorldFrame] = None
    u0 = up
    for _ in range(1 + max(0, refine)):
        contacts = [_contact_labels(J, up, fps, max_height, max_speed, world) for J in persons]
        balance = support_up(persons, contacts, ws)
        if balance is None:
            if world is not None:
                break  # the refinement found no contact: keep the previous pass
            raise ValueError("no foot-contact frame found: cannot estimate the floor")
        u0 = balance
        pts, pw = zip(*[_contact_points(J, C, w) for J, C, w in zip(persons, contacts, ws)])
        pts, pw = np.concatenate(pts), np.concatenate(pw)
        if len(pts) < 3:
            if world is not None:
                break
            raise ValueError("fewer than 3 foot-contact points found: cannot estimate the floor")
        extra = path_scatter([J[:, PELVIS] for J in persons], ws, fps=fps) if use_path else None
        n, offsets, rho, std = fit_floor(pts, pw, u0, sigma=sigma, prior_deg=prior_deg, extra=extra)
        h = float(np.median(ANKLE_HEIGHT_M - offsets[rho > 0.5])) if (rho > 0.5).any() else \
            float(np.median(ANKLE_HEIGHT_M - offsets))
        world = WorldFrame.from_up(n, h, body_up=u0, contacts_used=int(len(pts)), normal_std_deg=std)
        up = n
    assert world is not None
    _logger.debug("floor from %d contact points: camera height %.2f m, pitch %.1f°, roll %.1f° (balance prior "
                 "pitch %.1f°)", world.contacts_used, world.camera_height, world.pitch_deg, world.roll_deg,
                 camera_angles(u0)[0])
    return world
