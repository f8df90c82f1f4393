"""The demo's motion capture (``hot_pose.mocap`` inside ``demo/vis.py`` and the Python API): one command from a real
video to BVH/TRC/C3D files, the metric trajectory and world frame in ``poses_3d.npz``/``.json``, several persons in
one world frame, the camera and height flags, and their one-line errors.

HoT (Li et al., CVPR 2024, arXiv:2311.12028) lifts root-relative poses; ``hot_pose.mocap`` places them in the scene.
Real data: the walkway clip (``../shared/data/video``) and the Pose2Sim two-person clip with its Qualisys
calibration (fetched once, as in ``test_multi_person.py``). Short ``--max-frames`` runs without rendering.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import VIDEO

from hot_pose.cli.demo import main as vis_main
from hot_pose.export.bvh import read_bvh_joints
from hot_pose.export.c3d import read_c3d
from hot_pose.export.trc import read_trc
from hot_pose.wild.outputs import MANIFEST

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WALKWAY = VIDEO / "walkway_cam03.mp4"
FRAMES = 30
MULTI_FRAMES = 30


@pytest.fixture(scope="module")
def single_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mocap") / "walk"
    assert vis_main(["--video", str(WALKWAY), "--max-frames", str(FRAMES), "--no-render", "-o", str(out), "--quiet",
                     "--export", "bvh,trc,c3d"]) == 0
    return out


@pytest.fixture(scope="module")
def multi_dir() -> Path:
    from hot_pose.wild.sample import demo_set

    return demo_set(which="multiperson")


@pytest.fixture(scope="module")
def multi_run(multi_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mocap_multi") / "two"
    assert vis_main(["--video", str(multi_dir / "cam02.mp4"), "--multi", "--max-frames", str(MULTI_FRAMES),
                     "--no-render", "-o", str(out), "--quiet", "--export", "bvh,trc", "--calibration",
                     str(multi_dir / "Calib.qca.txt"), "--camera", "cam02", "--height", "1.65,1.80"]) == 0
    return out


def test_export_files_read_back_as_the_world_joints(single_run):
    with np.load(single_run / "poses_3d.npz") as f:
        world, fps = f["joints_world"], float(f["fps"])
    assert world.shape == (FRAMES, 17, 3) and np.isfinite(world).all()
    joints, bvh_fps = read_bvh_joints(single_run / "walkway_cam03.bvh")
    assert joints.shape == world.shape and bvh_fps == pytest.approx(fps)
    assert np.abs(joints - world).max() <= 1e-3  # forward kinematics of the file = the exported joints, ≤ 1 mm
    trc = read_trc(single_run / "walkway_cam03.trc")
    assert np.abs(trc.world_joints() - world).max() <= 1e-4
    c3d = read_c3d(single_run / "walkway_cam03.c3d")
    assert c3d.rate == pytest.approx(fps) and np.abs(c3d.world_joints() - world).max() <= 1e-3
    listed = json.loads((single_run / MANIFEST).read_text())["files"]
    assert {"walkway_cam03.bvh", "walkway_cam03.trc", "walkway_cam03.c3d", "poses_3d.npz"} <= set(listed)


def test_pose_files_gain_the_trajectory_world_frame_and_camera(single_run):
    with np.load(single_run / "poses_3d.npz") as f:
        d = {k: f[k] for k in f.files}
    assert d["poses_3d"].shape == (FRAMES, 17, 3) and d["found"].shape == (FRAMES,)  # the existing keys as before
    assert np.allclose(d["poses_3d"][:, 0], 0)
    shapes = {"trajectory": (FRAMES, 3), "confidence": (FRAMES,), "joints_camera": (FRAMES, 17, 3),
              "contacts": (FRAMES, 2), "K": (3, 3), "camera_rotation": (3, 3), "camera_position": (3,),
              "height_m": (), "camera_height_m": (), "pitch_deg": (), "roll_deg": ()}
    for name, shape in shapes.items():
        assert d[name].shape == shape, name
    traj, cam = d["trajectory"], d["joints_camera"]
    assert np.allclose(cam[:, 0], traj) and (traj[:, 2] > 1.0).all()  # in front of the camera, metres
    assert float(d["height_m"]) == pytest.approx(1.70)
    R, c = d["camera_rotation"], d["camera_position"]
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-9)
    unlocked = d["joints_world"] - d["lock_shift"][:, None]
    assert np.allclose(cam @ R.T + c, unlocked, atol=1e-6)  # world = R · camera + position (+ foot-lock shift)
    ankles = d["joints_world"][:, [3, 6], 2]
    assert -0.05 < ankles.min() < 0.25 and ankles.max() < 0.6  # the walker's ankles are near the floor z = 0
    assert 0.5 < float(d["camera_height_m"]) < 5.0 and 0.0 < float(d["pitch_deg"]) < 70.0
    width, height = d["image_size"]
    focal_default = max(width, height) / 2 / np.tan(np.radians(65) / 2)  # the default: 65° across the longer side
    assert d["K"][0, 0] == pytest.approx(focal_default) and str(d["intrinsics_source"]) == "default"
    summary = json.loads(str(d["meta"]))["mocap_summary"]
    assert summary["focal_default"] and summary["height_default"] and summary["height_m"] == [1.7]
    assert summary["camera_height_m"] == pytest.approx(float(d["camera_height_m"]), abs=1e-3)
    assert summary["exports"] == ["bvh", "trc", "c3d"]
    doc = json.loads((single_run / "poses_3d.json").read_text())
    assert len(doc["frames"]) == FRAMES and doc["mocap_summary"] == summary
    assert np.allclose(doc["mocap"]["trajectory"], traj, atol=1e-5)
    assert np.allclose(doc["mocap"]["joints_world"], d["joints_world"], atol=1e-5)
    assert np.array(doc["mocap"]["contacts"]).shape == (FRAMES, 2)


def test_height_and_focal_scale_the_depth(single_run, tmp_path):
    """A keypoint file without the video (``--size``) resolves the camera from the size: the same trajectory as
    the video run; 10 % more height, and twice the focal length, put the person 10 % and 100 % farther."""
    with np.load(single_run / "keypoints_2d.npz") as f:
        size = f"{int(f['width'])}x{int(f['height'])}"
        fps = str(float(f["fps"]))
    with np.load(single_run / "poses_3d.npz") as f:
        z_video, focal = f["trajectory"][:, 2], float(f["K"][0, 0])
    depth = {}
    for name, flags in (("same", []), ("tall", ["--height", "1.87", "--no-foot-lock"]),
                        ("focal", ["--focal", str(2 * focal)])):
        out = tmp_path / name
        assert vis_main(["--keypoints", str(single_run / "keypoints_2d.npz"), "--size", size, "--fps", fps,
                         "--no-render", "-o", str(out), "--quiet", *flags]) == 0
        with np.load(out / "poses_3d.npz") as f:
            depth[name] = f["trajectory"][:, 2]
            meta = json.loads(str(f["meta"]))["mocap_summary"]
        if name == "tall":
            assert meta["height_m"] == [1.87] and not meta["height_default"] and not meta["foot_locked"]
        if name == "focal":
            assert not meta["focal_default"] and meta["focal_px"] == pytest.approx(2 * focal, rel=1e-4)
    assert np.allclose(depth["same"], z_video, rtol=0.01)
    assert np.median(depth["tall"] / depth["same"]) == pytest.approx(1.1, rel=0.02)
    assert np.median(depth["focal"] / depth["same"]) == pytest.approx(2.0, rel=0.03)


def test_several_persons_get_one_file_each_in_one_world_frame(multi_run):
    with np.load(multi_run / "poses_3d.npz") as f:
        world, present, traj = f["joints_world"], f["present"], f["trajectory"]
        source, K, heights = str(f["intrinsics_source"]), f["K"], f["height_m"]
        assert f["poses_3d"].shape == (2, MULTI_FRAMES, 17, 3) and f["contacts"].shape == (2, MULTI_FRAMES, 2)
    assert source == "calibration" and K[0, 0] > 1000  # Qualisys cam02 of the Pose2Sim demo
    assert heights.tolist() == [1.65, 1.80]  # one height per track id
    assert world.shape == (2, MULTI_FRAMES, 17, 3) and traj.shape == (2, MULTI_FRAMES, 3)
    for p in range(2):
        assert np.isfinite(world[p][present[p]]).all() and np.isnan(world[p][~present[p]]).all()
        joints, _ = read_bvh_joints(multi_run / f"cam02_p{p}.bvh")
        assert np.abs(joints[present[p]] - world[p][present[p]]).max() <= 1e-3
        markers = read_trc(multi_run / f"cam02_p{p}.trc").world_joints()
        assert np.abs(markers[present[p]] - world[p][present[p]]).max() <= 1e-4
    both = present[0] & present[1]
    apart = np.linalg.norm(world[0, both, 0, :2] - world[1, both, 0, :2], axis=-1)  # pelvis to pelvis on the floor
    assert np.median(apart) > 0.4  # two persons side by side, not one on top of the other
    assert not (multi_run / "cam02.bvh").exists()
    doc = json.loads((multi_run / "poses_3d.json").read_text())
    assert np.array(doc["mocap"]["joints_world"], dtype=float).shape == (2, MULTI_FRAMES, 17, 3)


def test_world_view_draws_everybody_where_they_are():
    """The ``--multi`` 3-D view with world joints: a person moved 1 m to the right is drawn to the right, the
    trail appears once the person moves, and nothing is drawn for an absent person."""
    from hot_pose.wild.render import MultiPersonRenderer

    rng = np.random.default_rng(0)
    T = 12
    pose = np.zeros((17, 3))
    pose[:, 2] = np.linspace(0.1, 1.7, 17)  # an upright stick person, feet on the floor
    pose[:, 0] = rng.normal(0, 0.05, 17)
    world = np.stack([np.repeat(pose[None], T, 0), np.repeat(pose[None], T, 0)])
    world[0, :, :, 1] += 4.0
    world[1, :, :, 1] += 4.0
    world[1, :, :, 0] += np.linspace(1.0, 2.0, T)[:, None]  # person 1 walks to the right
    renderer = MultiPersonRenderer((640, 480), 2, "test", 480, world=world, fps=10)
    panel = np.zeros((480, renderer.left_width, 3), np.uint8)
    kp = np.full((2, 17, 2), 100.0)
    present = np.array([True, True])
    frame = renderer.compose(panel, kp, np.zeros((2, 17, 3)), present, present, [0, 1], T - 1)
    assert frame.shape == (480, renderer.size[0], 3)
    view = frame[:, renderer.left_width:]
    assert renderer.pixels[1, T - 1, :, 0].mean() > renderer.pixels[0, T - 1, :, 0].mean() + 20
    alone = renderer.compose(panel, kp, np.zeros((2, 17, 3)), np.array([True, False]), present, [0, 1], 0)
    changed = np.abs(view.astype(int) - alone[:, renderer.left_width:].astype(int)).sum(-1) > 0
    cols = np.flatnonzero(changed.any(axis=0))
    assert cols.size and cols.mean() > renderer.pixels[0, T - 1, :, 0].mean()  # only person 1's side changed
    renderer.close()


@pytest.mark.parametrize("flags, message", [
    (["--focal", "0"], "--focal must be a finite focal length > 0"),
    (["--fov", "200"], "--fov must be a field of view in (0, 180) degrees"),
    (["--height", "-1"], "--height must be"),
    (["--height", "180"], "not centimetres"),
    (["--height", "1.8,1.6"], "one per person works with --multi only"),
    (["--export", "fbx"], "unknown format 'fbx'; give a comma list of bvh, trc, c3d"),
    (["--focal", "1500", "--fov", "60"], "--focal and --fov both set"),
    (["--camera", "cam02"], "add --calibration FILE"),
    (["--calibration", "no_such_calib.toml"], "calibration file not found"),
    (["--stream", "--export", "bvh"], "--export works without --stream only"),
])
def test_bad_mocap_flags_are_one_line_errors_and_write_nothing(tmp_path, capsys, flags, message):
    out = tmp_path / "out"
    code = vis_main(["--video", str(WALKWAY), "--max-frames", "5", "--no-render", "-o", str(out), "--quiet"] + flags)
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.startswith("error: ") and message in err and "\n" not in err
    assert not out.exists()


def test_a_calibration_for_another_camera_is_refused_before_any_work(multi_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code = vis_main(["--video", str(WALKWAY), "--no-render", "-o", str(out), "--quiet", "--calibration",
                     str(multi_dir / "Calib.qca.txt")])  # four cameras: which one?
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.startswith("error: --calibration: ") and "choose one" in err and "\n" not in err
    assert not out.exists()


def test_an_export_never_replaces_a_file_of_the_user(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "walkway_cam03.bvh").write_text("my own animation")
    code = vis_main(["--video", str(WALKWAY), "--max-frames", "5", "--no-render", "-o", str(out), "--quiet",
                     "--export", "bvh"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "already holds walkway_cam03.bvh" in err and "\n" not in err
    assert [p.name for p in out.iterdir()] == ["walkway_cam03.bvh"]
    assert (out / "walkway_cam03.bvh").read_text() == "my own animation"


def test_api_capture_round_trip(single_run, tmp_path):
    from hot_pose import PoseLifter, capture

    with np.load(single_run / "keypoints_2d.npz") as f:
        kp, sc = f["keypoints_h36m"], f["scores_h36m"]
        size, fps = (int(f["width"]), int(f["height"])), float(f["fps"])
    with np.load(single_run / "poses_3d.npz") as f:
        demo_traj = f["trajectory"]
    lifter = PoseLifter.load(device="cpu")
    mc = lifter.capture(np.concatenate([kp, sc[..., None]], -1), size, fps, height=1.70)
    assert mc.num_persons == 1 and mc.joints_world.shape == (1, FRAMES, 17, 3)
    assert np.median(np.linalg.norm(mc.trajectory[0] - demo_traj, axis=-1)) < 0.02  # as the demo
    exported = mc.to_bvh(tmp_path / "api.bvh")
    joints, _ = read_bvh_joints(tmp_path / "api.bvh")
    assert np.abs(joints - mc.joints_world[0]).max() <= 1e-3 and np.abs(exported - mc.joints_world[0]).max() <= 1e-3
    mc.to_trc(tmp_path / "api.trc", units="m")
    assert np.abs(read_trc(tmp_path / "api.trc").world_joints() - mc.joints_world[0]).max() <= 1e-6
    mc.to_c3d(tmp_path / "api.c3d")
    assert read_c3d(tmp_path / "api.c3d").points.shape == (FRAMES, 17, 3)
    with pytest.raises(ValueError, match="person must be an index 0 to 0"):
        mc.to_bvh(tmp_path / "x.bvh", person=1)
    with pytest.raises(ValueError, match="give at most one of focal_px, fov_deg"):
        lifter.capture(kp, size, fps, focal_px=1000, fov_deg=60)
    with pytest.raises(ValueError, match="height"):
        lifter.capture(kp, size, fps, height=170)
    with pytest.raises(FileNotFoundError):
        capture(tmp_path / "missing.mp4")
    for kwargs in (dict(focal_px=0), dict(fov_deg=200), dict(height=-1), dict(focal_px=900, fov_deg=50),
                   dict(camera="cam02"), dict(foot_lock="yes")):
        with pytest.raises(ValueError):
            capture(WALKWAY, **kwargs)
    with pytest.raises(FileNotFoundError):
        capture(WALKWAY, calibration=tmp_path / "none.toml")
    assert not (tmp_path / "x.bvh").exists()
