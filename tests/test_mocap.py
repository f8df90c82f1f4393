"""``hot_pose.mocap``: metric trajectory, world frame, contacts and the one-call ``reconstruct``.

Synthetic data isolates each unit (a known trajectory through a distorting camera, a walker with planted feet
seen by a tilted camera); the real-data checks run on a slice of Human3.6M S9 (GT 2-D projected by the project's
camera code, GT root-relative 3-D, the subject's stature), on the Pose2Sim demo's Qualisys calibration, and the
measurement tool ``tools.mocap_h36m --quick`` end to end.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hot_pose.mocap import (DEFAULT_HEIGHT_M, Intrinsics, MotionCapture, camera_angles, estimate_world, foot_contacts,
                            load_calibration, lock_feet, reconstruct, skating, skeleton_height, solve_root_trajectory,
                            stature)
from hot_pose.mocap.height import check_height, constant_bones
from hot_pose.mocap.intrinsics import focal_from_fov

# ---------------------------------------------------------------------------------------------
# synthetic scenes
# ---------------------------------------------------------------------------------------------
#: an upright Human3.6M-17 skeleton in a world frame (x right, y forward, z up), pelvis at 0, metres (~1.75 m)
TEMPLATE = np.array([
    [0.00, 0.00, 0.00], [-0.13, 0.00, -0.01], [-0.13, 0.01, -0.47], [-0.13, -0.02, -0.92],
    [0.13, 0.00, -0.01], [0.13, 0.01, -0.47], [0.13, -0.02, -0.92], [0.00, -0.01, 0.24], [0.00, 0.00, 0.49],
    [0.00, 0.08, 0.58], [0.00, 0.02, 0.68], [0.18, 0.00, 0.47], [0.22, 0.00, 0.20], [0.24, 0.03, -0.04],
    [-0.18, 0.00, 0.47], [-0.22, 0.00, 0.20], [-0.24, 0.03, -0.04],
])
#: the template's ankle above the floor when standing, m
TEMPLATE_ANKLE = 0.08
THIGH = float(np.linalg.norm(TEMPLATE[2] - TEMPLATE[1]))
SHANK = float(np.linalg.norm(TEMPLATE[3] - TEMPLATE[2]))
#: a camera with OpenCV lens distortion
CAM = Intrinsics(1100.0, 1100.0, 640.0, 360.0, 1280, 720, (-0.12, 0.03, 0.0005, -0.0003, 0.0), "opencv")


def _rot_x(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])


def _rot_z(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])


def camera_pose(height: float, pitch_deg: float, roll_deg: float = 0.0):
    """World → camera (X_cam = R X + t) of a camera at (0, 0, height) looking along world +y, pitched down by
    ``pitch_deg`` and rolled by ``roll_deg``."""
    base = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # rows: camera axes of a level camera, world coords
    R = _rot_z(roll_deg) @ _rot_x(pitch_deg) @ base
    return R, -R @ np.array([0.0, 0.0, height])


def _leg(hip: np.ndarray, ankle: np.ndarray, forward: np.ndarray):
    """Ankle (pulled in if out of reach) and knee of a leg with the template's bone lengths."""
    v = ankle - hip
    dist = np.linalg.norm(v)
    reach = 0.999 * (THIGH + SHANK)
    if dist > reach:
        ankle, v, dist = hip + v * reach / dist, v * reach / dist, reach
    u = v / dist
    a = (THIGH ** 2 - SHANK ** 2 + dist ** 2) / (2 * dist)
    perp = forward - (forward @ u) * u
    return ankle, hip + a * u + math.sqrt(max(THIGH ** 2 - a ** 2, 0.0)) * perp / np.linalg.norm(perp)


def walker(T: int = 240, fps: float = 60.0, speed: float = 1.2, start=(0.0, 2.0), heading_deg: float = 0.0,
           stride_frames: int = 40):
    """A stepping skeleton in the world (floor z = 0): each foot planted for 60 % of a stride, swinging between.

    Returns:
        ``(joints (T, 17, 3), contacts (T, 2) bool (left, right))``.
    """
    d = np.array([math.sin(math.radians(heading_deg)), math.cos(math.radians(heading_deg)), 0.0])
    side = np.array([d[1], -d[0], 0.0])
    R = np.stack([side, d, [0, 0, 1]], axis=1)
    t = np.arange(T) / fps
    pelvis = np.array([start[0], start[1], 0.93])[None] + speed * t[:, None] * d
    pelvis[:, 2] += 0.02 * np.sin(2 * math.pi * t * fps / (stride_frames / 2))
    J = pelvis[:, None, :] + (TEMPLATE @ R.T)[None]
    contacts = np.zeros((T, 2), bool)
    step = speed * stride_frames / fps
    for f, (ankle, knee, hip, phase) in enumerate(((6, 5, 4, 0.0), (3, 2, 1, 0.5))):
        lateral = (0.13 if f == 0 else -0.13) * side
        for i in range(T):
            cyc = (i / stride_frames + phase) % 1.0
            k = math.floor(i / stride_frames + phase)
            plant = np.array([start[0], start[1], 0.0]) + (k - phase + 0.3) * step * d + lateral
            if cyc < 0.6:
                pos = plant + [0, 0, TEMPLATE_ANKLE]
                contacts[i, f] = True
            else:
                u = (cyc - 0.6) / 0.4
                pos = plant + u * step * d + [0, 0, TEMPLATE_ANKLE + 0.12 * math.sin(math.pi * u)]
            J[i, ankle], J[i, knee] = _leg(J[i, hip], pos, d)
    return J, contacts


def turning_scene(T: int = 120, fps: float = 30.0):
    """A person crossing the view while turning; camera axes. Returns (root (T, 3), root-relative (T, 17, 3))."""
    t = np.arange(T) / fps
    root = np.column_stack([-1.0 + 0.5 * t, 0.3 + 0.02 * np.sin(6 * t), 4.0 + 0.8 * t])
    to_cam = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # template (x right, y forward, z up) → camera
    rel = np.stack([TEMPLATE @ (to_cam @ _rot_z(math.degrees(a))).T for a in 0.8 * t])
    return root, rel - rel[:, :1]


# ---------------------------------------------------------------------------------------------
# camera and height
# ---------------------------------------------------------------------------------------------
def test_intrinsics_from_focal_fov_and_default():
    land, portrait = Intrinsics.from_fov(65.0, 1920, 1080), Intrinsics.from_fov(65.0, 1080, 1920)
    assert land.fx == pytest.approx(960 / math.tan(math.radians(32.5)))
    assert portrait.fx == pytest.approx(land.fx)  # the longer side, whatever the orientation
    assert Intrinsics.resolve(1920, 1080).fx == pytest.approx(land.fx) and Intrinsics.resolve(1920, 1080).source == \
        "default"
    f = Intrinsics.resolve(1280, 720, focal_px=1000.0)
    assert (f.fx, f.cx, f.cy, f.source) == (1000.0, 640.0, 360.0, "focal")
    assert f.fov_deg() == pytest.approx(2 * math.degrees(math.atan(640 / 1000)))
    # distortion round trip (OpenCV and Human3.6M models)
    pts = np.random.default_rng(0).uniform([-1, -0.5, 3], [1, 0.5, 6], (50, 3))
    for cam in (CAM, Intrinsics(1145.0, 1144.0, 512.0, 515.0, 1000, 1002, (-0.207, 0.248, -0.003, -0.001, -0.0014),
                                "h36m")):
        xy = cam.normalise(cam.project(pts))
        np.testing.assert_allclose(xy, pts[:, :2] / pts[:, 2:], atol=1e-9)
    assert Intrinsics.from_focal(1000.0, 1920, 1080).scaled_to(960, 540).fx == pytest.approx(500.0)


def test_h36m_intrinsics_match_the_project_camera(h36m_dir):
    """The Human3.6M lens model of ``Intrinsics(model="h36m")`` is the project's ``Camera.project``."""
    from hot_pose.data.h36m import h36m_cameras
    from tools.mocap_h36m import camera_intrinsics

    cam = h36m_cameras("S9")[1]
    pts = np.random.default_rng(1).uniform([-1.5, -1.0, 3.5], [1.5, 1.0, 6.0], (100, 3))
    np.testing.assert_allclose(camera_intrinsics(cam).project(pts), cam.project(pts), atol=1e-6)


def test_calibration_files(tmp_path, demo_calibration):
    K = [[1500.0, 0.0, 960.0], [0.0, 1490.0, 540.0], [0.0, 0.0, 1.0]]
    path = tmp_path / "cam.json"
    path.write_text(json.dumps({"K": K, "dist": [-0.1, 0.02, 0.0, 0.0], "size": [1920, 1080]}))
    cam = load_calibration(path, 1920, 1080)
    assert (cam.fx, cam.fy, cam.dist, cam.source) == (1500.0, 1490.0, (-0.1, 0.02, 0.0, 0.0), "calibration")
    half = Intrinsics.resolve(960, 540, calibration=path)  # a resized video: K scaled
    assert (half.fx, half.cx) == (750.0, 480.0)
    toml = tmp_path / "Calib.toml"
    toml.write_text('[cam_01]\nname = "cam01"\nsize = [ 1920.0, 1080.0]\nmatrix = [ [ 1500.0, 0.0, 960.0], '
                    '[ 0.0, 1500.0, 540.0], [ 0.0, 0.0, 1.0]]\ndistortions = [ -0.05, 0.01, 0.0, 0.0]\n'
                    'rotation = [ 0.0, 0.0, 0.0]\ntranslation = [ 0.0, 0.0, 3.0]\nfisheye = false\n\n'
                    '[cam_02]\nname = "cam02"\nsize = [ 1920.0, 1080.0]\nmatrix = [ [ 1700.0, 0.0, 950.0], '
                    '[ 0.0, 1700.0, 530.0], [ 0.0, 0.0, 1.0]]\ndistortions = [ 0.0, 0.0, 0.0, 0.0]\n'
                    'rotation = [ 0.0, 0.0, 0.0]\ntranslation = [ 0.0, 0.0, 3.0]\nfisheye = false\n')
    assert load_calibration(toml, 1920, 1080, camera="cam02").fx == 1700.0
    assert load_calibration(toml, 1920, 1080, camera="cam_01").dist == (-0.05, 0.01, 0.0, 0.0)
    with pytest.raises(ValueError, match="choose one with camera"):
        load_calibration(toml, 1920, 1080)
    # the Pose2Sim demo's Qualisys file (1088-row calibration, 1080-row videos: used as it is)
    qca = load_calibration(demo_calibration, 1080, 1920, camera="cam02")
    assert 1600 < qca.fx < 1750 and len(qca.dist) == 5
    with pytest.raises(ValueError, match="no camera 'cam9'"):
        load_calibration(demo_calibration, 1080, 1920, camera="cam9")
    with pytest.raises(ValueError, match="another aspect"):
        load_calibration(path, 1000, 1000)
    with pytest.raises(FileNotFoundError):
        load_calibration(tmp_path / "missing.json", 1920, 1080)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"K": [[1, 2], [3, 4]]}))
    with pytest.raises(ValueError, match="3x3"):
        load_calibration(bad, 1920, 1080)


@pytest.mark.parametrize("call,name", [
    (lambda: Intrinsics.from_focal(0.0, 640, 480), "focal_px"),
    (lambda: Intrinsics.from_focal(-5.0, 640, 480), "focal_px"),
    (lambda: Intrinsics.from_focal(float("nan"), 640, 480), "focal_px"),
    (lambda: Intrinsics.resolve(640, 480, focal_px=float("inf")), "focal_px"),
    (lambda: Intrinsics.from_fov(0.0, 640, 480), "fov_deg"),
    (lambda: Intrinsics.from_fov(180.0, 640, 480), "fov_deg"),
    (lambda: Intrinsics.resolve(640, 480, fov_deg=float("nan")), "fov_deg"),
    (lambda: focal_from_fov(-10.0, 640, 480), "fov_deg"),
    (lambda: Intrinsics.resolve(640, 480, focal_px=500.0, fov_deg=60.0), "at most one"),
    (lambda: Intrinsics.from_focal(500.0, 0, 480), "image size"),
    (lambda: check_height(0.0), "height"),
    (lambda: check_height(-1.7), "height"),
    (lambda: check_height(float("nan")), "height"),
    (lambda: check_height(175.0), "0.5-2.5 m"),
    (lambda: check_height(0.3), "0.5-2.5 m"),
])
def test_bad_camera_and_height_arguments(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_skeleton_height_rule_and_constant_bones():
    """The rule scales exactly with the skeleton; constant bones keep directions and give median lengths."""
    H = skeleton_height(TEMPLATE)
    assert 1.6 < H < 1.9
    assert skeleton_height(1.1 * TEMPLATE) == pytest.approx(1.1 * H)
    rng = np.random.default_rng(0)
    frames = TEMPLATE[None] * (1 + 0.05 * rng.standard_normal((50, 1, 1)))  # a lifter's size jitter
    fixed = constant_bones(frames)
    lengths = np.linalg.norm(fixed[:, 2] - fixed[:, 1], axis=-1)
    assert lengths.std() < 1e-12 and lengths[0] == pytest.approx(np.median(np.linalg.norm(frames[:, 2] - frames[:, 1],
                                                                                          axis=-1)), rel=1e-9)
    d0 = (frames[:, 3] - frames[:, 2]) / np.linalg.norm(frames[:, 3] - frames[:, 2], axis=-1, keepdims=True)
    d1 = (fixed[:, 3] - fixed[:, 2]) / np.linalg.norm(fixed[:, 3] - fixed[:, 2], axis=-1, keepdims=True)
    np.testing.assert_allclose(d0, d1, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# trajectory
# ---------------------------------------------------------------------------------------------
def test_known_trajectory_recovered_through_a_distorting_camera():
    root, rel = turning_scene()
    px = CAM.project(rel + root[:, None])
    exact = solve_root_trajectory(px, rel, CAM, scale=1.0, fps=30.0, smooth=False)
    np.testing.assert_allclose(exact.root, root, atol=1e-6)
    assert np.nanmax(exact.reprojection_px) < 1e-3 and exact.confidence.min() == pytest.approx(1.0)
    smooth = solve_root_trajectory(px, rel, CAM, height=skeleton_height(rel), fps=30.0)
    assert np.abs(smooth.root - root).max() < 0.01
    assert (smooth.std[:, 2] > smooth.std[:, 0]).all()  # depth is the uncertain axis


def test_depth_scales_with_height_and_focal():
    """x % more height (or focal length) puts the person x % further; the lateral image position is kept."""
    root, rel = turning_scene()
    px = CAM.project(rel + root[:, None])
    H = skeleton_height(rel)
    for k in (0.9, 1.1):
        tr = solve_root_trajectory(px, rel, CAM, height=H * k, fps=30.0, smooth=False)
        np.testing.assert_allclose(tr.root, k * root, rtol=1e-6, atol=1e-6)
    plain = Intrinsics.from_focal(1000.0, 1280, 720)
    px = plain.project(rel + root[:, None])
    longer = Intrinsics.from_focal(1100.0, 1280, 720)  # the same pixels read with a focal length 10 % too long
    tr = solve_root_trajectory(px, rel, longer, scale=1.0, fps=30.0, smooth=False)
    assert np.median(tr.root[:, 2] / root[:, 2]) == pytest.approx(1.1, abs=0.01)


def test_outlier_joint_missing_frames_and_jitter():
    root, rel = turning_scene()
    rng = np.random.default_rng(1)
    px = CAM.project(rel + root[:, None]) + rng.normal(0, 2.0, (120, 17, 2))
    px[:, 13] += 150.0  # a wrist 150 px off in every frame
    px[40:50] = np.nan  # a gap in the detections
    tr = solve_root_trajectory(px, rel, CAM, scale=1.0, fps=30.0)
    seen = ~np.isin(np.arange(120), range(40, 50))
    assert np.abs(tr.root - root)[seen].max() < 0.05
    assert np.abs(tr.root[40:50] - root[40:50]).max() < 0.08  # interpolated by the motion prior
    assert (tr.confidence[40:50] == 0).all() and tr.inlier[:, 13].mean() < 0.2 < tr.inlier[:, 3].mean()
    raw = solve_root_trajectory(px, rel, CAM, scale=1.0, fps=30.0, smooth=False)

    def accel(x):
        return np.linalg.norm(x[2:] - 2 * x[1:-1] + x[:-2], axis=-1)[:35].mean()

    assert accel(tr.root) < 0.2 * accel(raw.root)


def test_bad_trajectory_arguments():
    root, rel = turning_scene(T=10)
    px = CAM.project(rel + root[:, None])
    cases = [(dict(keypoints=px[:, :, :1]), "keypoints"), (dict(fps=0), "fps"), (dict(fps=float("nan")), "fps"),
             (dict(height=-1.0), "height"), (dict(height=1.7, scale=1.0), "height or scale"),
             (dict(keypoints=np.full_like(px, np.nan)), "valid keypoints"), (dict(preset="nope"), "preset"),
             (dict(scores=np.ones((10, 5))), "scores"), (dict(intrinsics="cam"), "intrinsics")]
    for kwargs, name in cases:
        args = dict(keypoints=px, poses=rel, intrinsics=CAM)
        args.update(kwargs)
        with pytest.raises(ValueError, match=name):
            solve_root_trajectory(**args)


# ---------------------------------------------------------------------------------------------
# world frame, contacts, locking
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("height,pitch,roll,heading", [(1.8, 20.0, 5.0, 0.0), (2.1, 35.0, -12.0, 30.0),
                                                       (1.2, 5.0, 0.0, -60.0)])
def test_tilted_camera_floor_height_pitch_roll_recovered(height, pitch, roll, heading):
    J, _ = walker(heading_deg=heading, start=(-1.0, 3.0))
    R, t = camera_pose(height, pitch, roll)
    wf = estimate_world(J @ R.T + t, 60.0)
    # the synthetic ankle stands 8 cm above the floor, the model's 7.3 cm: 7 mm of offset
    assert wf.camera_height == pytest.approx(height, abs=0.04)
    assert wf.pitch_deg == pytest.approx(pitch, abs=1.0)
    assert wf.roll_deg == pytest.approx(roll, abs=1.0)
    assert camera_angles(R @ [0, 0, 1.0]) == pytest.approx((pitch, roll), abs=1e-9)  # the same angle convention
    Jw = wf.to_world(J @ R.T + t)
    assert np.median(Jw[:, [3, 6], 2].min(axis=1)) == pytest.approx(TEMPLATE_ANKLE, abs=0.02)


def test_contacts_labelled_and_locking_reduces_skating():
    J, truth = walker()
    C = foot_contacts(J, 60.0)
    assert (C == truth).mean() > 0.85
    # a smooth wobble of the whole skeleton (~2 cm, as a monocular trajectory has): the planted feet skate
    from scipy.ndimage import gaussian_filter1d

    wobble = gaussian_filter1d(np.random.default_rng(0).normal(0, 0.05, (len(J), 2)), 4.0, axis=0)
    slid = J.copy()
    slid[..., :2] += (wobble - wobble.mean(0))[:, None, :]
    locked, shift = lock_feet(slid, truth, 60.0)
    before, after = skating(slid, truth), skating(locked, truth)
    assert before > 2.0 and after < 0.3 * before
    assert np.abs(shift[:, :2]).max() < 0.2 and (shift[:, 2] == 0).all()
    assert skating(J, truth) < 0.5
    with pytest.raises(ValueError, match="contacts"):
        lock_feet(J, truth[:-1], 60.0)
    with pytest.raises(ValueError, match="fps"):
        foot_contacts(J, 0.0)


# ---------------------------------------------------------------------------------------------
# reconstruct
# ---------------------------------------------------------------------------------------------
def _seen(T=180, start=(-1.5, 3.0), heading=10.0, cam=None, pose=(1.7, 15.0, 0.0)):
    J, truth = walker(T=T, start=start, heading_deg=heading)
    R, t = camera_pose(*pose)
    Jc = J @ R.T + t
    return Jc, (cam or CAM).project(Jc), truth


def test_reconstruct_one_person_end_to_end():
    Jc, px, truth = _seen(pose=(1.9, 22.0, -4.0))
    rel = Jc - Jc[:, :1]
    mc = reconstruct(px, rel, CAM, 60.0, heights=skeleton_height(rel))
    assert isinstance(mc, MotionCapture) and mc.num_persons == 1 and mc.num_frames == 180
    assert np.abs(mc.trajectory[0] - Jc[:, 0]).max() < 0.02
    assert mc.camera_height_m == pytest.approx(1.9, abs=0.05) and mc.pitch_deg == pytest.approx(22.0, abs=1.0)
    assert mc.roll_deg == pytest.approx(-4.0, abs=1.0) and mc.floor_method == "contacts"
    assert (mc.contacts[0] == truth).mean() > 0.8
    # the world frame: z up, floor 0, the camera at (0, 0, h); the transforms are each other's inverse
    np.testing.assert_allclose(mc.camera_position, [0, 0, mc.camera_height_m])
    np.testing.assert_allclose(mc.world_to_camera(mc.camera_to_world(Jc[:5])), Jc[:5], atol=1e-9)
    unlocked = mc.joints_world[0] - mc.lock_shift[0][:, None]
    np.testing.assert_allclose(unlocked, mc.camera_to_world(mc.joints_camera[0]), atol=1e-9)
    assert skating(mc.joints_world[0], mc.contacts[0]) <= skating(unlocked, mc.contacts[0]) + 1e-9
    # default height: the person is put 1.70/H too near or far, along the viewing rays
    H = skeleton_height(rel)
    default = reconstruct(px, rel, CAM, 60.0, foot_lock=False)
    assert default.height_m[0] == DEFAULT_HEIGHT_M and default.foot_locked is False
    np.testing.assert_allclose(default.trajectory[0, :, 2], Jc[:, 0, 2] * DEFAULT_HEIGHT_M / H, rtol=0.01)
    # npz / json round trips
    d = mc.to_dict()
    assert d["trajectory"].shape == (1, 180, 3) and d["joint_names"][0] == "Pelvis" and isinstance(d["fps"], float)
    back = json.loads(json.dumps(mc.to_dict(json_safe=True)))
    assert back["image_size"] == [1280, 720] and all(isinstance(c, bool) for c in back["contacts"][0][0])
    assert back["K"] == mc.K.tolist() and back["world_axes"].startswith("world frame: z up")


def test_two_persons_share_the_floor_and_keep_their_distance():
    cam = Intrinsics.from_fov(60.0, 1920, 1080)
    A, pa, _ = _seen(start=(-1.5, 3.0), heading=10.0, cam=cam)
    B, pb, _ = _seen(start=(1.0, 5.0), heading=-20.0, cam=cam)
    rel = np.stack([A - A[:, :1], B - B[:, :1]])
    present = np.ones((2, 180), bool)
    present[1, :30] = False  # the second person enters later
    mc = reconstruct(np.stack([pa, pb]), rel, cam, 60.0, present=present,
                     heights=[skeleton_height(rel[0]), skeleton_height(rel[1])])
    assert np.isnan(mc.trajectory[1, :30]).all() and not mc.contacts[1, :30].any()
    d_est = np.linalg.norm(mc.trajectory[0, 30:] - mc.trajectory[1, 30:], axis=-1)
    d_true = np.linalg.norm(A[30:, 0] - B[30:, 0], axis=-1)
    assert np.abs(d_est - d_true).max() < 0.03
    assert mc.camera_height_m == pytest.approx(1.7, abs=0.04) and mc.pitch_deg == pytest.approx(15.0, abs=1.0)
    # the lifter's own size (here the true one) is kept with "lifter"
    own = reconstruct(np.stack([pa, pb]), rel, cam, 60.0, heights="lifter", foot_lock=False)
    assert np.abs(own.trajectory[1] - B[:, 0]).max() < 0.02
    assert own.height_m[0] == pytest.approx(skeleton_height(rel[0]), rel=1e-6)


def test_no_contacts_falls_back_to_the_body_axis():
    """Feet that never rest (a person running on the spot): no floor from contacts; the body axis gives the up."""
    J, _ = walker(T=120)
    w = 10.0 * np.arange(120) / 60.0  # ankles circling at 1 m/s: never at rest
    J[:, [3, 6], :2] += 0.1 * np.stack([np.cos(w), np.sin(w)], -1)[:, None, :]
    R, t = camera_pose(1.6, 10.0)
    Jc = J @ R.T + t
    mc = reconstruct(CAM.project(Jc), Jc - Jc[:, :1], CAM, 60.0, heights=skeleton_height(Jc - Jc[:, :1]))
    assert mc.floor_method == "body_axis"
    assert mc.pitch_deg == pytest.approx(10.0, abs=3.0) and mc.camera_height_m == pytest.approx(1.6, abs=0.1)


def test_bad_reconstruct_arguments():
    Jc, px, _ = _seen(T=30)
    rel = Jc - Jc[:, :1]
    cases = [(dict(heights=175.0), "heights"), (dict(heights=[1.7, 1.8]), "one per person"),
             (dict(heights="tall"), "heights"), (dict(fps=-1.0), "fps"), (dict(present=np.ones(29, bool)), "present"),
             (dict(scores=np.ones((30, 16))), "scores"), (dict(preset="x"), "preset"),
             (dict(intrinsics=None), "intrinsics"), (dict(poses_root_relative=rel[:, :16]), "poses_root_relative"),
             (dict(present=np.zeros(30, bool)), "no frame")]
    for kwargs, name in cases:
        args = dict(keypoints_px=px, poses_root_relative=rel, intrinsics=CAM, fps=60.0)
        args.update(kwargs)
        with pytest.raises(ValueError, match=name):
            reconstruct(**args)


# ---------------------------------------------------------------------------------------------
# real data
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def s9_walking(h36m_dir):
    """S9 'Walking', camera 0, 400 frames: GT pixels (the project's camera code), GT camera-frame joints, the
    camera, the subject's stature and its camera's true height and pitch."""
    from hot_pose.data.h36m import Human36mDataset
    from tools.mocap_h36m import camera_intrinsics

    data = Human36mDataset(h36m_dir / "data_3d_h36m.npz", subjects=["S9"])
    cam = data.cameras("S9")[0]
    gt = data.camera_positions("S9", "Walking", 0, dtype=np.float64)[:400]
    H = stature(np.concatenate([np.asarray(p, np.float64) for p in data["S9"].values()]))
    up = cam.world_to_camera(np.array([[0.0, 0.0, 1.0]])) - cam.world_to_camera(np.zeros((1, 3)))
    return dict(px=cam.project(gt), gt=gt, intrinsics=camera_intrinsics(cam), stature=H,
                camera_height=float(cam.translation[2]), up=up[0])


def test_h36m_slice_mrpe_with_true_height(s9_walking):
    """GT 2-D and GT root-relative 3-D of S9: with the rule's exact height of the skeleton only the geometry is left
    (< 10 mm); with S9's true stature the depth is off by exactly the stature rule's error on this sequence's
    skeleton (+1.7 % here, +1.09 % over all S9 frames), about 90 mm at 5.5 m, no more."""
    d = s9_walking
    assert d["stature"] == pytest.approx(1.748, abs=0.002)  # the documented definition
    rel = d["gt"] - d["gt"][:, :1]
    exact = reconstruct(d["px"], rel, d["intrinsics"], 50.0, heights=skeleton_height(rel), preset="exact")
    assert np.linalg.norm(exact.trajectory[0] - d["gt"][:, 0], axis=-1).mean() < 0.010
    mc = reconstruct(d["px"], rel, d["intrinsics"], 50.0, heights=d["stature"], preset="exact")
    z, z_gt = mc.trajectory[0, :, 2], d["gt"][:, 0, 2]
    rule_error = skeleton_height(rel) / d["stature"] - 1
    assert 0.005 < rule_error < 0.025
    assert np.mean(z / z_gt - 1) == pytest.approx(1 / (1 + rule_error) - 1, abs=0.003)
    mrpe = np.linalg.norm(mc.trajectory[0] - d["gt"][:, 0], axis=-1).mean()
    assert mrpe < 0.020 * z_gt.mean() and mrpe < 0.110
    # Human3.6M's floor is its world z = 0: the camera's height and pitch from the walk
    pitch, _ = camera_angles(d["up"])
    assert exact.camera_height_m == pytest.approx(d["camera_height"], abs=0.10)
    assert exact.pitch_deg == pytest.approx(pitch, abs=3.0)


@pytest.fixture(scope="session")
def demo_calibration():
    """The Pose2Sim demo's Qualisys calibration (fetched once into the user cache, as tests/test_wild_benchmark)."""
    from hot_pose.wild.errors import DemoError
    from hot_pose.wild.sample import demo_set

    try:
        return demo_set() / "Calib.qca.txt"
    except DemoError as exc:
        pytest.fail(f"cannot fetch the Pose2Sim multi-view demo set (pip download pose2sim==0.10.49): {exc}")


def test_mocap_h36m_tool_quick_end_to_end(tmp_path, h36m_dir):
    """``python -m tools.mocap_h36m --quick``: both 2-D sources lifted by the shipped lifters and measured."""
    from tools import mocap_h36m

    out = tmp_path / "report"
    assert mocap_h36m.main(["--quick", "--h36m", str(h36m_dir), "--out-dir", str(out), "--threads", "1"]) == 0
    report = json.loads((out / "mocap_h36m.json").read_text())
    assert report["heights"]["true_m"] == pytest.approx({"S9": 1.748, "S11": 1.716}, abs=0.002)
    for source in ("gt", "sh"):
        r = report["results"][source]
        assert r["gt|skeleton"]["mrpe_mm"] < (15 if source == "gt" else 200)
        assert all(math.isfinite(c["mrpe_mm"]) for k, c in r.items() if k != "pose_accel_error_mm_f2")
        assert report["sources"][source]["frames"] == 4 * 300
    assert r["lifted|lifter"]["frames"] == 1200 and "gt|lifter" not in r
    assert report["results"]["gt"]["lifted|true"]["mrpe_mm"] < 120  # the shipped GT lifter, its subject's height
    md = (out / "mocap_h36m.md").read_text()
    assert "| GT | lifted |" in md and report["command"].startswith("python -m tools.mocap_h36m --quick")


@pytest.mark.parametrize("argv,words", [
    (["--stride", "0"], "--stride"),
    (["--cameras", "0,7"], "--cameras"),
    (["--sources", "cpn"], "--sources"),
    (["--actions", "Flying"], "--actions"),
])
def test_mocap_h36m_tool_bad_flags(argv, words, tmp_path, capsys):
    from tools import mocap_h36m

    try:
        status = mocap_h36m.main([*argv, "--out-dir", str(tmp_path)])
    except SystemExit as exc:  # argparse: one line, exit 2
        status = exc.code
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.startswith("error:") and words in err and len(err.splitlines()) == 1
    assert not list(tmp_path.iterdir())  # nothing written


def _blazepose_standing(n: int = 60) -> np.ndarray:
    """(n, 33, 3) BlazePose landmarks of a person standing upright (z up), with small frame-to-frame noise."""
    base = np.zeros((33, 3))
    for side, x in ((0, 0.1), (1, -0.1)):  # left, right
        base[11 + side] = [1.8 * x, 0.0, 1.45]  # shoulder
        base[23 + side] = [x, 0.0, 0.92]  # hip
        base[25 + side] = [x, 0.02, 0.50]  # knee
        base[27 + side] = [x, 0.0, 0.08]  # ankle
        base[29 + side] = [x, -0.05, 0.02]  # heel
        base[31 + side] = [x, 0.15, 0.02]  # foot index
    base[0] = [0.0, 0.08, 1.62]  # nose
    return base[None] + np.random.default_rng(0).normal(0, 0.002, (n, 33, 3))


def test_mocap_wild_reference_height_follows_pose2sims_rule():
    from tools.mocap_wild import blaze_to_h36m, reference_height

    w = _blazepose_standing()
    L = lambda a, b: np.linalg.norm(w[:, a] - w[:, b], axis=-1)  # noqa: E731
    per_frame = (0.5 * (L(29, 27) + L(30, 28)) + 0.5 * (L(27, 25) + L(28, 26)) + 0.5 * (L(25, 23) + L(26, 24))
                 + 0.5 * (L(23, 11) + L(24, 12)) + 1.5 * np.linalg.norm(w[:, [11, 12]].mean(1) - w[:, 0], axis=-1))
    h = np.sort(per_frame)
    assert reference_height(w) == pytest.approx(h[15:45].mean(), rel=1e-12)  # the middle 50 %
    # deeply flexed frames (hips and knees bent ~145°, their segments measured longer) are left out, even 40 %
    crouch = w.copy()[:40]
    crouch[:, [25, 26]] += [0.0, 0.55, 0.35]  # knees forward and up
    crouch[:, [11, 12]] += [0.0, 0.6, -0.5]  # trunk folded forward
    assert reference_height(np.concatenate([w, crouch])) == pytest.approx(reference_height(w), rel=1e-3)
    assert blaze_to_h36m(w).shape == (60, 17, 3)
    np.testing.assert_allclose(blaze_to_h36m(w)[:, 0], w[:, [23, 24]].mean(1))


def test_mocap_wild_eye_height_stature():
    from tools.mocap_wild import VERTEX_ABOVE_EYES_M, eye_height_stature

    w = _blazepose_standing()
    w[:, [2, 5]] = [[-0.03, 0.1, 1.55], [0.03, 0.1, 1.55]]  # the eyes, 1.55 m above the floor
    assert eye_height_stature(w) == pytest.approx(1.55 + VERTEX_ABOVE_EYES_M, abs=1e-9)
    w[::2] = np.nan  # frames without a triangulation are left out
    assert eye_height_stature(w) == pytest.approx(1.55 + VERTEX_ABOVE_EYES_M, abs=1e-9)
    assert np.isnan(eye_height_stature(np.full((5, 33, 3), np.nan)))


def test_mocap_wild_depth_diagnostics_on_an_exactly_seen_person():
    """Synthetic 2-D that is the exact projection of the person (a unit check of the diagnostics): MediaPipe's
    landmarks at the reference's height rule put the root exactly; the lifted skeleton, rescaled to that height
    by the other (Human3.6M) rule, is s times too big, which every bone ratio and the limbs-only depth show."""
    from hot_pose.mocap import Intrinsics
    from hot_pose.mocap.height import constant_bones, skeleton_height
    from tools.mocap_wild import DIAGNOSTIC_BONES, blaze_to_h36m, depth_diagnostics, reference_height

    class Camera:  # 1.0 m high, level, 3.5 m in front of the person (world z up → camera y down, z forward)
        @staticmethod
        def world_to_camera(points):
            x = np.asarray(points, np.float64)
            return np.stack([x[..., 0], 1.0 - x[..., 2], x[..., 1] + 3.5], axis=-1)

    world = _blazepose_standing()
    n = len(world)
    cam33 = Camera.world_to_camera(world)
    cam17 = blaze_to_h36m(cam33)
    intr = Intrinsics.from_focal(1500.0, 1920, 1080)
    run = dict(keypoints=intr.project(cam17), scores=np.ones((n, 17)), lifted=cam17 - cam17[:, :1],
               world=cam33 - cam33[:, [23, 24]].mean(1, keepdims=True), image=intr.project(cam33),
               visibility=np.ones((n, 33)), found=np.ones(n, bool))
    href = reference_height(world)
    idx, ok = np.arange(n), np.ones(n, bool)
    out = depth_diagnostics(Camera, run, world, idx, ok, intr, href, 60.0)
    s = href / skeleton_height(constant_bones(run["lifted"]))
    assert abs(s - 1) > 0.05  # the two height rules differ on this skeleton, so the check below can fail
    assert out["mediapipe_world"]["root_mm"] < 5.0  # the smoother evens out the landmarks' 2-mm jitter
    assert set(out["bone_ratio"]) == set(DIAGNOSTIC_BONES)
    for group, ratio in out["bone_ratio"].items():
        assert ratio == pytest.approx(s, rel=0.02), group
    assert out["limbs_only"]["depth_bias_mm"] == pytest.approx(1000 * (s - 1) * 3.5, rel=0.1)


@pytest.mark.parametrize("argv,words", [(["--cameras", "cam01,cam02"], "--cameras"),
                                        (["--outlier-px", "0"], "--outlier-px"),
                                        (["--max-frames", "5"], "--max-frames")])
def test_mocap_wild_tool_bad_flags(argv, words, tmp_path, capsys):
    from tools import mocap_wild

    with pytest.raises(SystemExit) as exc:
        mocap_wild.main([*argv, "--out-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err.startswith("error:") and words in err and len(err.splitlines()) == 1
    assert not list(tmp_path.iterdir())
