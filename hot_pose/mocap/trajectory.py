"""Metric root (pelvis) trajectory in the camera frame from 2-D keypoints and lifted root-relative 3-D poses.

HoT (Li et al., CVPR 2024, arXiv:2311.12028) gives root-relative Human3.6M-17 joints ``P_tj`` (metres, camera
axes: x right, y down, z forward); this module finds where the root is. Model: the camera sees joint j of frame t
at ``X_tj = s·P_tj + T_t`` with ``s`` the pose's scale (from the person's standing height,
``hot_pose.mocap.height``) and ``T_t`` the unknown root position. With ``(x_tj, y_tj)`` the undistorted normalised
2-D (``Intrinsics.normalise``) the pinhole projection ``x = X/Z`` gives two equations per joint, linear in T:

    T_x − x_tj·T_z = x_tj·s·P_tj,z − s·P_tj,x        T_y − y_tj·T_z = y_tj·s·P_tj,z − s·P_tj,y

(the same linear system as VideoPose3D's / MotioNet's root solvers; Pavllo et al., CVPR 2019). Their residual is
the image residual times the joint's depth Z_tj. Each equation is weighted by
``w_tj = c_tj · ρ_tj / (Z_tj²·σ_2d²/c_tj + σ_tj²)``: the 2-D confidence c, a robust weight ρ of the joint's
standardised reprojection residual u (Cauchy 1/(1 + (u/3)²) in the first passes, its square, Geman-McClure, in
the last two, so a grossly wrong joint ends with no influence), and the inverse variance of the residual when the
2-D has noise σ_2d (``noise_px`` / focal) and the lifted joint an error σ_tj (``pose_noise_m``, plus the
foreshortening term below); weights and depths are re-estimated ``iterations`` times (iteratively reweighted
least squares: the fit converges to the robust reprojection-error minimiser, not the algebraic one).

Over time the root follows a constant-velocity model with white-noise acceleration (spectral density ``accel_psd``
m²/s³; state = position and velocity): the MAP trajectory under that prior and the per-frame Gaussian measurement
terms is one block-tridiagonal (banded) linear least-squares problem (``scipy.linalg.solveh_banded``), i.e. the
Rauch-Tung-Striebel smoother's solution, and the posterior covariance's diagonal blocks come from the RTS
backward recursion. Frames without a detection get no measurement term and are interpolated by the prior.

Outputs per frame: the root (T, 3), its posterior standard deviation (T, 3), and ``confidence`` in [0, 1]: the
share of the skeleton's joint weight that is detected and consistent with the fit, ``Σ_j c_tj ρ_tj / Σ_j 1``
(0 for frames without a detection, which are interpolated).

**Depth and scale.** Z scales with s (a person scaled by 1.1 at 1.1× the depth projects identically), so the
height given (or ``DEFAULT_HEIGHT_M``) fixes the depth, and x, y follow Z. The focal length plays the same role:
Z ∝ f for a fixed person size. A height or focal length off by x % puts the person x % too near or too far.

Before the fit the lifted pose gets constant bone lengths (``hot_pose.mocap.height.constant_bones``: each bone
its median length, the lifter's direction): the lifter's per-frame size changes would otherwise move the depth
one for one. The noise model (``preset``, ``NOISE_PRESETS``) depends on the 2-D source: ``"detector"`` (default)
an isotropic pose noise; ``"exact"`` (2-D that is the projection of the same skeleton: GT or synthetic 2-D) adds
a foreshortening term (``foreshortening_noise``): a bone in the image plane fixes the depth to second order, one
pointing at the camera to first order, so joints reached through foreshortened bones count less.

Measured results (Human3.6M S9+S11 MRPE, ``tools/mocap_h36m.py``): ``docs/mocap.md`` and
``benchmarks/mocap_h36m.md``.
"""
from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np
from scipy.linalg import solveh_banded

from hot_pose.mocap.height import BONES, constant_bones as _constant_bones, height_scale
from hot_pose.mocap.intrinsics import Intrinsics
from hot_pose.utils.checks import FPS_RANGE, check_int, check_number

_logger = logging.getLogger(__name__)

__all__ = ["Trajectory", "solve_root_trajectory", "frame_normal_equations", "smooth_positions",
           "foreshortening_noise", "DEFAULT_ACCEL_PSD", "DEFAULT_NOISE_PX", "DEFAULT_POSE_NOISE_M",
           "DEFAULT_ANGLE_NOISE_RAD", "NOISE_PRESETS"]

#: white-noise acceleration spectral density of the root (m²/s³): ~1 m/s of velocity change per second
DEFAULT_ACCEL_PSD = 1.0
#: noise models of the measurement (``preset`` of ``solve_root_trajectory``), each chosen by the MRPE on the
#: Human3.6M *training* subjects S1, S5-S8 (stride 10, constant bones, exact skeleton height, the shipped lifters'
#: predictions for those subjects; the same choice in every leave-one-subject-out fold):
#:
#: * ``"detector"`` (default): 2-D from a keypoint detector (Stacked Hourglass on Human3.6M, MediaPipe in the
#:   demo) whose joints differ from the 3-D skeleton's by centimetres: 2-D noise 4 px, isotropic pose noise
#:   0.05 m, no foreshortening term. A grid of 4/8/15 px × 0.01/0.03/0.05 m × 0/0.3/0.5 rad on the SH 2-D is flat
#:   in the noise level (127.4 mm here, the minimum 126.0 mm at 8 px); the foreshortening term hurts (146-187 mm:
#:   it trusts the hips, spine and head, which the SH 2-D places worst, 45, 124 and 95 mm RMS);
#: * ``"exact"``: 2-D that is the projection of the same skeleton (GT 2-D, synthetic data): 4 px, 0.01 m and the
#:   foreshortening term with 0.5 rad (grid 0.1-1.0 rad × 0.005-0.03 m: 53.2 mm; isotropic 0.05 m: 56.2 mm).
#:
#: Per-joint noise levels measured on the training subjects were within 1 mm of these models, so are not used.
NOISE_PRESETS = {"detector": dict(noise_px=4.0, pose_noise_m=0.05, angle_noise_rad=0.0),
                 "exact": dict(noise_px=4.0, pose_noise_m=0.01, angle_noise_rad=0.5)}
#: the default preset's values
DEFAULT_NOISE_PX = NOISE_PRESETS["detector"]["noise_px"]
DEFAULT_POSE_NOISE_M = NOISE_PRESETS["detector"]["pose_noise_m"]
DEFAULT_ANGLE_NOISE_RAD = NOISE_PRESETS["detector"]["angle_noise_rad"]
#: Cauchy constant of the robust weights (in standard deviations)
ROBUST_C = 3.0
#: frames need this many joints with weight > 0 to count as measured
MIN_JOINTS = 3


@dataclass
class Trajectory:
    """Result of ``solve_root_trajectory``.

    Attributes:
        root: (T, 3) root (pelvis) position in the camera frame, metres.
        std: (T, 3) posterior standard deviation of ``root``, metres.
        confidence: (T,) in [0, 1] (see the module docstring); 0 where interpolated.
        measured: (T,) bool, frames with a detection.
        per_frame: (T, 3) the unsmoothed per-frame solution (NaN where not measured).
        scale: (T,) the scale s applied to the root-relative poses.
        reprojection_px: (T,) RMS reprojection error of the fitted joints (weighted by c·ρ), pixels.
        inlier: (T, J) robust weights ρ in [0, 1].
    """

    root: np.ndarray
    std: np.ndarray
    confidence: np.ndarray
    measured: np.ndarray
    per_frame: np.ndarray
    scale: np.ndarray
    reprojection_px: np.ndarray
    inlier: np.ndarray
    poses: Optional[np.ndarray] = None

    def joints(self, poses: Optional[np.ndarray] = None) -> np.ndarray:
        """(T, J, 3) camera-frame joints s·P + T of root-relative poses P (default: ``self.poses``, the poses the
        solver used, i.e. with constant bone lengths when it enforced them)."""
        P = self.poses if poses is None else np.asarray(poses, np.float64)
        if P is None:
            raise ValueError("give the poses: this trajectory stores none")
        return self.scale[:, None, None] * P + self.root[:, None, :]


def foreshortening_noise(poses: np.ndarray, angle_noise_rad: float = 0.5, base_noise_m: float = 0.01,
                         bones: Sequence[Sequence[int]] = BONES) -> np.ndarray:
    """Per-frame, per-joint lateral error (m) of a lifted pose from its bones' depth-angle uncertainty.

    A bone of length L whose direction makes the angle θ with the image plane has the lateral (image-plane)
    extent L·cos θ; an error δ of the lifted θ changes it by −L·sin θ·δ (first order): bones in the image
    plane are insensitive (second order), bones pointing at the camera are not. The errors add up along the
    kinematic chain from the root, so

        σ_j² = base_noise_m² + Σ_{bones b on the path root → j} (L_b · sin θ_b · angle_noise_rad)²

    (sin θ_b = |d_z| / L_b of the bone in camera coordinates). Used as ``pose_noise_m`` by
    ``solve_root_trajectory``.

    Args:
        poses: (T, J, 3) scaled root-relative poses, camera axes, metres (NaN allowed: σ = base there).
        angle_noise_rad: σ_δ, radians (≥ 0).
        base_noise_m: σ_0, metres (≥ 0).
        bones: (parent, child) pairs, parents before children.

    Returns:
        (T, J) standard deviations, metres.
    """
    P = np.asarray(poses, np.float64)
    var = np.zeros(P.shape[:2])
    for a, b in bones:
        d = np.nan_to_num(P[:, b] - P[:, a])
        var[:, b] = var[:, a] + (np.abs(d[:, 2]) * angle_noise_rad) ** 2  # (L sin θ)² = d_z²
    return np.sqrt(var + base_noise_m ** 2)


def frame_normal_equations(xy: np.ndarray, sp: np.ndarray, w: np.ndarray):
    """Per-frame normal equations of the linear reprojection system.

    Args:
        xy: (T, J, 2) undistorted normalised 2-D.
        sp: (T, J, 3) scaled root-relative poses s·P.
        w: (T, J) weights of the two equations of each joint (0 = unused).

    Returns:
        ``(N, r)``: (T, 3, 3) information matrices Σ w aᵀa and (T, 3) vectors Σ w aᵀb, so that the weighted
        squared residual of frame t is ``Tᵀ N T − 2 rᵀ T + const``.
    """
    x, y = xy[..., 0], xy[..., 1]
    bx = x * sp[..., 2] - sp[..., 0]
    by = y * sp[..., 2] - sp[..., 1]
    sw = w.sum(-1)
    N = np.empty(xy.shape[:1] + (3, 3))
    N[:, 0, 0] = sw
    N[:, 1, 1] = sw
    N[:, 0, 1] = N[:, 1, 0] = 0.0
    N[:, 0, 2] = N[:, 2, 0] = -(w * x).sum(-1)
    N[:, 1, 2] = N[:, 2, 1] = -(w * y).sum(-1)
    N[:, 2, 2] = (w * (x * x + y * y)).sum(-1)
    r = np.stack([(w * bx).sum(-1), (w * by).sum(-1), -(w * (x * bx + y * by)).sum(-1)], axis=-1)
    return N, r


def _per_frame_solve(N: np.ndarray, r: np.ndarray, ok: np.ndarray) -> np.ndarray:
    out = np.full(r.shape, np.nan)
    if ok.any():
        ridge = 1e-12 * np.trace(N[ok], axis1=1, axis2=2)[:, None, None] * np.eye(3)
        out[ok] = np.linalg.solve(N[ok] + ridge, r[ok][..., None])[..., 0]
    return out


def _cv_blocks(dt: float, q: float):
    """Constant-velocity transition F (6, 6) and inverse process covariance Q⁻¹ (6, 6)."""
    I3 = np.eye(3)
    F = np.block([[I3, dt * I3], [np.zeros((3, 3)), I3]])
    Q = q * np.block([[dt ** 3 / 3 * I3, dt ** 2 / 2 * I3], [dt ** 2 / 2 * I3, dt * I3]])
    return F, np.linalg.inv(Q)


def smooth_positions(N: np.ndarray, r: np.ndarray, dt: float, accel_psd: float, prior_pos: np.ndarray,
                     with_cov: bool = True):
    """MAP positions under a constant-velocity prior and per-frame quadratic measurement terms.

    Minimises ``Σ_t (p_tᵀ N_t p_t − 2 r_tᵀ p_t) + Σ_t ‖x_{t+1} − F x_t‖²_{Q⁻¹}`` over the states
    x_t = (p_t, v_t) (plus a very weak prior p_0 ~ N(prior_pos, 100² m²), v_0 ~ N(0, 10² m²/s²) that keeps the
    problem well posed), by one banded Cholesky solve.

    Args:
        N: (T, 3, 3) symmetric PSD information matrices (zeros for unmeasured frames).
        r: (T, 3) information vectors.
        dt: frame interval, s.
        accel_psd: white-noise acceleration spectral density q, m²/s³ (> 0).
        prior_pos: (3,) weak prior mean of the first position.
        with_cov: also return the posterior covariances of the positions.

    Returns:
        ``(positions (T, 3), covariances (T, 3, 3) or None)``.
    """
    T = len(N)
    F, Qi = _cv_blocks(dt, accel_psd)
    D = np.zeros((T, 6, 6))
    D[:, :3, :3] = N
    D[1:] += Qi
    D[:-1] += F.T @ Qi @ F
    D[0, :3, :3] += np.eye(3) * 1e-4
    D[0, 3:, 3:] += np.eye(3) * 1e-2
    off = -Qi @ F  # block (t+1, t)
    b = np.zeros((T, 6))
    b[:, :3] = r
    b[0, :3] += 1e-4 * np.asarray(prior_pos, np.float64)
    # lower banded storage: ab[i - j, j] = H[i, j]
    n = 6 * T
    ab = np.zeros((12, n))
    rr, cc = np.tril_indices(6)
    cols = (6 * np.arange(T)[:, None] + cc[None]).ravel()
    ab[np.tile(rr - cc, T), cols] = D[:, rr, cc].ravel()
    if T > 1:
        r2, c2 = np.meshgrid(np.arange(6), np.arange(6), indexing="ij")
        r2, c2 = r2.ravel(), c2.ravel()
        cols = (6 * np.arange(T - 1)[:, None] + c2[None]).ravel()
        ab[np.tile(6 + r2 - c2, T - 1), cols] = np.tile(off[r2, c2], T - 1)
    x = solveh_banded(ab, b.ravel(), lower=True, check_finite=False).reshape(T, 6)
    if not with_cov:
        return x[:, :3], None
    # diagonal blocks of H⁻¹ (block-tridiagonal recursion, the RTS backward pass)
    S_inv = np.empty((T, 6, 6))
    S = D[0]
    S_inv[0] = np.linalg.inv(S)
    for t in range(1, T):
        S = D[t] - off @ S_inv[t - 1] @ off.T
        S_inv[t] = np.linalg.inv(S)
    cov = np.empty((T, 6, 6))
    cov[-1] = S_inv[-1]
    for t in range(T - 2, -1, -1):
        G = S_inv[t] @ off.T  # (6, 6)
        cov[t] = S_inv[t] + G @ cov[t + 1] @ G.T
    return x[:, :3], cov[:, :3, :3]


def _as_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a float64 array; ValueError naming ``name`` if it is not numbers."""
    try:
        return np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {type(value).__name__}") from None


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _non_negative(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _as_scale(scale: Union[float, np.ndarray], T: int) -> np.ndarray:
    s = _as_array(scale, "scale")
    if s.ndim == 0:
        s = np.full(T, float(s))
    if s.shape != (T,) or not np.isfinite(s).all() or (s <= 0).any():
        raise ValueError(f"scale must be a positive finite number or (T,) array, got shape {s.shape}")
    return s


def solve_root_trajectory(
    keypoints: np.ndarray,
    poses: np.ndarray,
    intrinsics: Intrinsics,
    scores: Optional[np.ndarray] = None,
    height: Optional[float] = None,
    scale: Optional[Union[float, np.ndarray]] = None,
    fps: float = 30.0,
    joint_weights: Optional[Sequence[float]] = None,
    accel_psd: float = DEFAULT_ACCEL_PSD,
    preset: str = "detector",
    noise_px: Optional[float] = None,
    pose_noise_m: Optional[Union[float, np.ndarray]] = None,
    angle_noise_rad: Optional[float] = None,
    constant_bones: bool = True,
    robust: bool = True,
    smooth: bool = True,
    iterations: int = 6,
    with_std: bool = True,
) -> Trajectory:
    """The root trajectory of one person (see the module docstring for the method).

    Args:
        keypoints: (T, J, 2) detected pixels (distorted, as in the video); NaN = missing joint.
        poses: (T, J, 3) root-relative lifted poses (metres, camera axes), joint 0 = root (Human3.6M-17 order
            for the height); NaN frames allowed where the keypoints are missing too.
        intrinsics: the camera (``Intrinsics.resolve``).
        scores: (T, J) 2-D confidences in [0, 1] (default 1 where the keypoint is finite).
        height: the person's standing height in metres (default ``DEFAULT_HEIGHT_M``); sets the scale.
        scale: explicit scale s (float or (T,)) instead of ``height``.
        fps: frame rate (> 0).
        joint_weights: (J,) per-joint weights (default 1).
        accel_psd: white-noise acceleration spectral density, m²/s³ (> 0).
        preset: noise model, a key of ``NOISE_PRESETS`` (``"detector"`` or ``"exact"``); the three arguments
            below override it.
        noise_px: 2-D noise at confidence 1, pixels (≥ 0).
        pose_noise_m: per-joint error of the lifted pose, metres: a float, (J,) or (T, J) (≥ 0; not both zero).
        angle_noise_rad: with 17 joints, add the foreshortening term of ``foreshortening_noise`` (0: off).
        constant_bones: with 17 joints, give every bone its median length first (``hot_pose.mocap.
            height.constant_bones``; the poses used are returned in ``Trajectory.poses``).
        robust: reweight outlier joints (Cauchy, then Geman-McClure).
        smooth: False gives the independent per-frame solutions (missing frames NaN).
        iterations: reweighting iterations (≥ 1).
        with_std: compute the posterior standard deviations (NaN otherwise).

    Returns:
        ``Trajectory``.

    Raises:
        ValueError: bad shapes, non-finite poses where the keypoints are valid, bad parameters, both
            ``height`` and ``scale``, or no frame with at least ``MIN_JOINTS`` joints.
    """
    kp = _as_array(keypoints, "keypoints")
    P = _as_array(poses, "poses")
    if kp.ndim != 3 or kp.shape[-1] != 2 or P.shape != kp.shape[:2] + (3,):
        raise ValueError(f"expected keypoints (T, J, 2) pixels and poses (T, J, 3) metres, got shapes {kp.shape} "
                         f"and {P.shape}")
    if np.isinf(kp).any():
        raise ValueError("keypoints contain inf values (mark a missing joint with NaN)")
    T, J = kp.shape[:2]
    if not isinstance(intrinsics, Intrinsics):
        raise ValueError(f"intrinsics must be a hot_pose.mocap.Intrinsics, got {type(intrinsics).__name__}")
    fps = check_number(fps, "fps", *FPS_RANGE)
    accel_psd = _positive(accel_psd, "accel_psd")
    if preset not in NOISE_PRESETS:
        raise ValueError(f"preset must be one of {', '.join(NOISE_PRESETS)}, got {preset!r}")
    noise_px = _non_negative(NOISE_PRESETS[preset]["noise_px"] if noise_px is None else noise_px, "noise_px")
    pose_noise_m = NOISE_PRESETS[preset]["pose_noise_m"] if pose_noise_m is None else pose_noise_m
    angle_noise_rad = _non_negative(NOISE_PRESETS[preset]["angle_noise_rad"] if angle_noise_rad is None
                                    else angle_noise_rad, "angle_noise_rad")
    pose_noise = _as_array(pose_noise_m, "pose_noise_m")
    if pose_noise.ndim and pose_noise.shape not in ((J,), (T, J)):
        raise ValueError(f"pose_noise_m must be a number, (J,) or (T, J), got shape {pose_noise.shape}")
    if not (np.isfinite(pose_noise).all() and (pose_noise >= 0).all() and (noise_px > 0 or (pose_noise > 0).all())):
        raise ValueError(f"pose_noise_m must be finite and >= 0, and not 0 together with noise_px, got {pose_noise_m}")
    iterations = check_int(iterations, "iterations", 1, 100)
    if height is not None and scale is not None:
        raise ValueError("give height or scale, not both")
    c = np.ones((T, J)) if scores is None else _as_array(scores, "scores")
    if c.shape != (T, J):
        raise ValueError(f"scores must be (T, J) = {(T, J)}, got shape {c.shape}")
    if not np.isfinite(c).all() or (c < 0).any():
        raise ValueError("scores must be finite and >= 0")
    jw = np.ones(J) if joint_weights is None else _as_array(joint_weights, "joint_weights")
    if jw.shape != (J,) or not np.isfinite(jw).all() or (jw < 0).any() or jw.sum() <= 0:
        raise ValueError(f"joint_weights must be (J,) = ({J},) finite, >= 0, not all 0")
    valid = np.isfinite(kp).all(-1) & np.isfinite(P).all(-1) & (c > 0)
    if (np.isfinite(kp).all(-1) & (c > 0) & ~np.isfinite(P).all(-1)).any():
        raise ValueError("poses are NaN/inf where keypoints are valid")
    if constant_bones and J == 17 and np.isfinite(P).all(-1).all(-1).any():
        P = _constant_bones(P)
    base = np.where(valid, np.minimum(c, 1.0) * jw, 0.0)
    measured = (base > 0).sum(-1) >= MIN_JOINTS
    if not measured.any():
        raise ValueError(f"no frame has at least {MIN_JOINTS} valid keypoints")
    base[~measured] = 0.0
    if scale is None:
        if J != 17:
            raise ValueError(f"the height needs Human3.6M-17 poses (got {J} joints): give scale instead")
        scale = height_scale(P[measured], height)
    s = _as_scale(scale, T)
    sp = np.nan_to_num(P) * s[:, None, None]
    if angle_noise_rad > 0 and J == 17:
        pose_noise = np.sqrt(pose_noise ** 2 + foreshortening_noise(sp, angle_noise_rad, 0.0) ** 2)
    xy = np.nan_to_num(intrinsics.normalise(np.where(valid[..., None], kp, np.nan)))
    f = intrinsics.focal
    var_2d = (noise_px / f) ** 2
    dt = 1.0 / fps

    rho = np.ones((T, J))
    # start: equal weights, depth unknown → the algebraic per-frame solution
    N, r = frame_normal_equations(xy, sp, base)
    root = _per_frame_solve(N, r, measured)
    prior = np.nanmedian(root[measured], axis=0)
    root = _fill(root, measured)
    cov = None
    per_frame = root.copy()
    for it in range(iterations):
        Z = np.maximum(sp[..., 2] + root[:, None, 2], 0.05)
        var_img = var_2d / np.maximum(c, 1e-3) + (pose_noise / Z) ** 2  # image-plane variance per joint
        w = base * rho / (Z ** 2 * var_img)
        N, r = frame_normal_equations(xy, sp, w)
        per_frame = _per_frame_solve(N, r, measured)
        last = it == iterations - 1
        if smooth:
            root, cov = smooth_positions(N, r, dt, accel_psd, prior, with_cov=with_std and last)
        else:
            root = _fill(per_frame, measured)
        X = sp + root[:, None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            proj = X[..., :2] / np.maximum(X[..., 2:3], 1e-6)
        err = np.linalg.norm(proj - xy, axis=-1)  # normalised image units
        u = err / np.sqrt(var_img)
        if robust and not last:
            # Cauchy first (wide basin from the algebraic start), then Geman-McClure (outliers lose all influence)
            cauchy = 1.0 / (1.0 + (u / ROBUST_C) ** 2)
            rho = cauchy if it < iterations - 3 else cauchy ** 2
    if not smooth:
        root = np.where(measured[:, None], per_frame, np.nan)
    if cov is None and with_std and not smooth:
        with np.errstate(invalid="ignore"):
            cov = np.full((T, 3, 3), np.nan)
            ok = measured
            cov[ok] = np.linalg.inv(N[ok] + 1e-12 * np.eye(3))
    std = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0, None)) if cov is not None else np.full((T, 3), np.nan)
    wsum = (base * rho).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rms = np.sqrt((base * rho * err ** 2).sum(-1) / wsum) * f
    rms[~measured] = np.nan
    confidence = np.where(measured, (np.minimum(c, 1.0) * valid * rho * jw).sum(-1) / jw.sum(), 0.0)
    return Trajectory(root=root, std=std, confidence=np.clip(confidence, 0.0, 1.0), measured=measured,
                      per_frame=np.where(measured[:, None], per_frame, np.nan), scale=s, reprojection_px=rms,
                      inlier=rho, poses=P)


def _fill(root: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Linear interpolation (constant at the ends) of the unmeasured frames of (T, 3) positions."""
    out = root.copy()
    t = np.arange(len(root))
    m = measured & np.isfinite(root).all(-1)
    for k in range(3):
        out[:, k] = np.interp(t, t[m], root[m, k])
    return out
