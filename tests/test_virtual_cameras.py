"""Virtual-camera augmentation (``--virtual_cameras``) on real Human3.6M data (S1, GT 2-D).

The H36M 3-D of a window (real camera frame) is re-projected through random pinhole cameras placed around the
subject; the checks: the real camera as the "virtual" one reproduces the GT 2-D, the projection agrees with a
hand-built K[R|t], the new target is a rigid motion of the old one, the draws respect their ranges and frame the
subject, they are reproducible from (seed, epoch, index) whatever the DataLoader workers, p = 0 is today's data,
and the flag reaches the engine.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torch.utils.data._utils.collate import default_collate

import hot_pose.models as model
from hot_pose.data.camera import image_coordinates, matrix_to_quaternion, quaternion_to_matrix, to_absolute
from hot_pose.data.dataset import (
    CAM_FLIP_SIGNS,
    VIRTUAL_IMAGE_SIZES,
    PoseWindowDataset,
    VirtualCameraSampler,
    file_3d,
    flip_pose,
    load_h36m,
    view_through,
    world_up,
)
from hot_pose.data.h36m import Human36mDataset
from hot_pose.training.arguments import parse_args
from hot_pose.training.engine import main, run
from hot_pose.training.recipes import MIXSTE
from hot_pose.training.train import GlobalBatchSampler

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: H36M 17-joint indices used below
HEAD, ANKLES = 10, (3, 6)


@pytest.fixture(scope="module")
def gt_s1(prepared_root):
    return load_h36m(prepared_root, "gt", subjects=["S1"])


def walking(data, p: float = 1.0, frames: int = 27, seed: int = 7, **kw) -> PoseWindowDataset:
    return PoseWindowDataset(data, ["S1"], frames, frames, True, actions=["Walking"], subset=0.1,
                             virtual_cameras=p, seed=seed, **kw)


def bones(pose_3d: np.ndarray, parents) -> np.ndarray:
    """(F, J-1) bone lengths of poses in the dataset layout."""
    absolute = to_absolute(np.asarray(pose_3d, dtype=np.float64))
    return np.stack([np.linalg.norm(absolute[:, j] - absolute[:, p], axis=-1) for j, p in enumerate(parents)
                     if p >= 0], axis=-1)


def rotation_by_hand(q) -> np.ndarray:
    """Camera → world rotation of a (w, x, y, z) quaternion: (w² − |u|²) I + 2 u uᵀ + 2 w [u]×."""
    w, u = q[0], np.asarray(q[1:])
    cross = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    return (w * w - u @ u) * np.eye(3) + 2 * np.outer(u, u) + 2 * w * cross


def pinhole_by_hand(camera, absolute: np.ndarray) -> np.ndarray:
    """K [R | t] of ``camera`` (world = the real camera's frame), then the screen normalisation: (F, J, 2)."""
    rot = rotation_by_hand(camera.orientation).T  # world → camera
    t = -rot @ np.asarray(camera.translation)
    k = np.array([[camera.focal_length[0], 0, camera.center[0]], [0, camera.focal_length[1], camera.center[1]],
                  [0, 0, 1]])
    x = np.einsum("ij,fkj->fki", k @ rot, absolute) + k @ t
    uv = x[..., :2] / x[..., 2:]
    w, h = camera.res_w, camera.res_h
    return np.stack([uv[..., 0] * 2 / w - 1, uv[..., 1] * 2 / w - h / w], axis=-1)


# ------------------------------------------------------------------------------------------ geometry
def test_the_real_camera_as_virtual_camera_reproduces_the_gt_2d(gt_s1, prepared_root):
    """Zero motion + real intrinsics: without distortion = ``Camera.project`` of a distortion-free copy of the
    camera (to float32 rounding); with the real distortion = the data's GT 2-D; the two differ by H36M's lens
    distortion only (up to ~8 px on these frames)."""
    mocap = Human36mDataset(file_3d(prepared_root), subjects=["S1"])
    identity = dict(orientation=(1.0, 0.0, 0.0, 0.0), translation=(0.0, 0.0, 0.0))
    no_lens = dict(radial_distortion=(0.0, 0.0, 0.0), tangential_distortion=(0.0, 0.0))
    for cam_idx in range(4):
        seq = gt_s1.sequences[("S1", "Walking", cam_idx)]
        cam = gt_s1.cameras["S1"][cam_idx]
        frames = slice(0, None, 97)
        pose_2d, pose_3d, _ = view_through(dataclasses.replace(cam, **identity, **no_lens), seq.pose_3d[frames])
        assert np.array_equal(pose_3d, seq.pose_3d[frames])  # the identity motion keeps the target
        # the absolute positions rebuilt from the layout are the mocap's camera-frame positions
        cam_frame = mocap.camera_positions("S1", "Walking", cam_idx, dtype=np.float64)[frames]
        expected = cam.normalize(dataclasses.replace(cam, **no_lens).project(cam_frame))
        assert np.abs(pose_2d - expected).max() * cam.res_w / 2 < 1e-3  # pixels
        distorted, _, _ = view_through(dataclasses.replace(cam, **identity), seq.pose_3d[frames])
        assert np.abs(distorted - seq.pose_2d[frames]).max() * cam.res_w / 2 < 1e-3
        lens = np.abs(pose_2d - seq.pose_2d[frames]).max() * cam.res_w / 2
        assert 0.1 < lens < 25.0, lens  # H36M: k1 ≈ -0.2, ~20 px at the image border


def test_world_up_is_the_vertical_of_the_real_camera_frame(gt_s1):
    """``world_up`` in camera c = the camera frame's image of the world's z (the floor's normal): the ankles
    are below the head along it in every frame of every camera."""
    for cam_idx in range(4):
        up = world_up(gt_s1.cameras["S1"][cam_idx])
        absolute = to_absolute(gt_s1.sequences[("S1", "Walking", cam_idx)].pose_3d[::50])
        height = (absolute[:, HEAD] - absolute[:, list(ANKLES)].mean(1)) @ up
        assert np.isclose(np.linalg.norm(up), 1) and height.min() > 1.0  # metres: the head is > 1 m above


def test_virtual_projection_matches_a_hand_built_pinhole_and_the_target_is_a_rigid_motion(gt_s1):
    ds = walking(gt_s1)
    parents = gt_s1.skeleton.parents
    rng = np.random.default_rng(0)
    sampler = VirtualCameraSampler()
    for index in range(0, len(ds), max(1, len(ds) // 16)):
        seq_idx, start = (int(v) for v in ds.samples[index][:2])
        window = ds.window(seq_idx, start)[1]
        view = sampler.sample(window, world_up(gt_s1.cameras["S1"][ds.sequences[seq_idx].cam_idx]), rng)
        cam = view.camera
        assert cam.radial_distortion == (0, 0, 0) and cam.tangential_distortion == (0, 0)
        # (b) the 2-D is K [R | t] of the absolute window
        absolute = to_absolute(np.asarray(window, dtype=np.float64))
        assert np.abs(view.pose_2d - pinhole_by_hand(cam, absolute)).max() < 1e-5
        # (c) rigid: same bones, root-relative shape rotated, root moved by the camera motion
        assert np.abs(bones(view.pose_3d, parents) - bones(window, parents)).max() < 1e-5
        rot = rotation_by_hand(cam.orientation).T
        assert np.abs(view.pose_3d[:, 1:] - window[:, 1:] @ rot.T).max() < 1e-5
        assert np.abs(view.pose_3d[:, 0] - (window[:, 0] - cam.translation) @ rot.T).max() < 1e-5
        # (c) the new 3-D projected with the sampled intrinsics (no extrinsics) is the new 2-D
        own = dataclasses.replace(cam, orientation=(1.0, 0.0, 0.0, 0.0), translation=(0.0, 0.0, 0.0))
        assert np.abs(pinhole_by_hand(own, to_absolute(view.pose_3d.astype(np.float64))) - view.pose_2d).max() < 1e-5
        assert view_through(own, view.pose_3d)[0] == pytest.approx(view.pose_2d, abs=1e-6)


def test_sampled_cameras_respect_their_ranges_and_frame_the_subject(gt_s1):
    """200 draws on 81-frame windows (the subject walks up to ~2 m in one): ranges, the geometry the numbers
    describe, at least 95 % of the points inside every image, the head above the ankles in the image."""
    sampler = VirtualCameraSampler()
    ds = walking(gt_s1, frames=81)
    rng = np.random.default_rng(1)
    inside_all, zoomed = [], 0
    for draw in range(200):
        seq_idx, start = (int(v) for v in ds.samples[draw % len(ds)][:2])
        window = np.asarray(ds.window(seq_idx, start)[1], dtype=np.float64)
        up = world_up(gt_s1.cameras["S1"][ds.sequences[seq_idx].cam_idx])
        view = sampler.sample(window, up, rng)
        cam = view.camera
        w, h = cam.res_w, cam.res_h
        assert (w, h) in VIRTUAL_IMAGE_SIZES
        assert -180 <= view.azimuth <= 180 and -15 <= view.elevation <= 45 and -5 <= view.roll <= 5
        assert 40 <= view.fov <= 90 and abs(view.aim[0]) <= 0.25 and abs(view.aim[1]) <= 0.25
        assert cam.focal_length[0] == cam.focal_length[1] == pytest.approx(max(w, h) / 2 / np.tan(np.radians(
            view.fov) / 2))
        assert abs(cam.center[0] / w - 0.5) <= 0.03 and abs(cam.center[1] / h - 0.5) <= 0.03
        zoomed += view.zoomed
        assert view.zoomed or 2.5 <= view.distance <= 8.0
        # the camera centre sits at (azimuth, elevation, distance) from the mean root
        target = window[:, 0].mean(0)
        offset = np.asarray(cam.translation) - target
        assert np.linalg.norm(offset) == pytest.approx(view.distance)
        assert np.degrees(np.arcsin(offset @ up / view.distance)) == pytest.approx(view.elevation, abs=1e-6)
        ref, side = target - (target @ up) * up, np.cross(up, target)
        heading = -(offset - (offset @ up) * up)  # camera → subject, horizontal
        azimuth = np.degrees(np.arctan2(heading @ side / np.linalg.norm(side), heading @ ref / np.linalg.norm(ref)))
        assert (azimuth - view.azimuth + 180) % 360 - 180 == pytest.approx(0, abs=1e-6)
        # the mean root lands at the aim point
        root_px = image_coordinates(pinhole_by_hand(cam, target[None, None])[0, 0], w, h)
        assert root_px == pytest.approx(np.array(cam.center) + np.array(view.aim) * (w / 2, h / 2), abs=1e-6)
        # inside the image, counted from the normalised 2-D
        px = image_coordinates(view.pose_2d, w, h)
        inside = (px[..., 0] >= 0) & (px[..., 0] < w) & (px[..., 1] >= 0) & (px[..., 1] < h)
        assert inside.mean() >= 0.95 and inside.mean() == pytest.approx(view.inside)
        inside_all.append(inside.mean())
        assert (px[:, HEAD, 1] < px[:, list(ANKLES), 1].mean(1)).all()  # image y points down: head above
    assert np.mean(inside_all) >= 0.95 and zoomed <= 10


def test_matrix_to_quaternion_inverts_quaternion_to_matrix():
    q = np.random.default_rng(2).normal(size=(500, 4))
    q = np.concatenate([q, np.eye(4), [[0.0, 1.0, 1.0, 0.0]]])  # + the identity and half turns (1 + trace = 0)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True) * np.where(q[:, :1] < 0, -1, 1)
    assert np.abs(matrix_to_quaternion(quaternion_to_matrix(q)) - q).max() < 1e-12
    assert np.abs(quaternion_to_matrix(q) - np.stack([rotation_by_hand(v) for v in q])).max() < 1e-12


def test_sampler_refuses_bad_ranges():
    for kwargs in (dict(distance=(8.0, 2.5)), dict(elevation=(-90.0, 10.0)), dict(fov=(0.0, 60.0)),
                   dict(image_sizes=[(0, 720)]), dict(min_inside=1.5)):
        with pytest.raises(ValueError):
            VirtualCameraSampler(**kwargs)


# ------------------------------------------------------------------------------------------ dataset
def test_dataset_samples_are_the_views_flipped_and_reversed_like_real_ones(gt_s1):
    ds = walking(gt_s1, p=1.0, reverse_aug=True)
    seen = set()
    for index in range(len(ds)):
        _, _, flip, reverse = (int(v) for v in ds.samples[index])
        if (flip, reverse) in seen:
            continue
        seen.add((flip, reverse))
        view, sample = ds.virtual_view(index), ds[index]
        pose_2d, pose_3d, cam = view.pose_2d, view.pose_3d, view.camera.intrinsic(normalised=True)
        if flip:
            pose_2d = flip_pose(pose_2d, ds.kps_left, ds.kps_right)
            pose_3d = flip_pose(pose_3d, ds.joints_left, ds.joints_right)
            cam = cam * CAM_FLIP_SIGNS
        if reverse:
            pose_2d, pose_3d = pose_2d[::-1], pose_3d[::-1]
        assert torch.equal(sample["input_2d"], torch.from_numpy(np.ascontiguousarray(pose_2d)))
        assert torch.equal(sample["gt_3d"], torch.from_numpy(np.ascontiguousarray(pose_3d)))
        assert torch.equal(sample["cam"], torch.from_numpy(cam))
        f, c = view.camera.focal_length[0], view.camera.center
        assert sample["cam"][4:].abs().max() == 0 and sample["cam"][0] == pytest.approx(2 * f / view.camera.res_w)
        assert abs(float(sample["cam"][2])) == pytest.approx(abs(2 * c[0] / view.camera.res_w - 1), abs=1e-6)
    assert seen == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_draws_depend_only_on_seed_epoch_and_index(gt_s1):
    a, b = walking(gt_s1, p=0.5), walking(gt_s1, p=0.5)
    a.set_epoch(3)
    b.set_epoch(3)
    views = [a.virtual_view(i) for i in range(len(a))]
    assert 0.3 < np.mean([v is not None for v in views]) < 0.7  # p = 0.5 of the windows
    for i in reversed(range(len(a))):  # another order, another object: the same samples
        assert torch.equal(a[i]["input_2d"], b[i]["input_2d"]) and torch.equal(a[i]["gt_3d"], b[i]["gt_3d"])
    b.set_epoch(4)
    virtual = [i for i, v in enumerate(views) if v is not None]
    moved = [i for i in virtual if not torch.equal(a[i]["input_2d"], b[i]["input_2d"])]
    assert len(moved) >= 0.9 * len(virtual)  # another epoch: other draws (and other windows made virtual)
    assert {i for i in range(len(b)) if b.virtual_view(i) is not None} != set(virtual)
    c = walking(gt_s1, p=0.5, seed=8)
    c.set_epoch(3)
    assert any(not torch.equal(a[i]["input_2d"], c[i]["input_2d"]) for i in virtual)


def test_dataloader_workers_draw_what_the_main_process_draws(gt_s1):
    """Persistent workers follow the epoch that the engine sets on the dataset (``run_epoch``)."""
    ds, reference = walking(gt_s1, p=0.5), walking(gt_s1, p=0.5)
    sampler = GlobalBatchSampler(len(ds), 16, seed=5)
    loader = DataLoader(ds, batch_sampler=sampler, num_workers=2, persistent_workers=True)
    for epoch in (1, 2):
        sampler.set_epoch(epoch)
        ds.set_epoch(epoch)
        reference.set_epoch(epoch)
        for indices, batch in zip(list(sampler), loader):
            expected = default_collate([reference[i] for i in indices])
            assert torch.equal(batch["input_2d"], expected["input_2d"])
            assert torch.equal(batch["gt_3d"], expected["gt_3d"]) and torch.equal(batch["cam"], expected["cam"])


def test_p0_gives_todays_samples_and_never_draws(gt_s1, monkeypatch):
    today = PoseWindowDataset(gt_s1, ["S1"], 27, 27, True, actions=["Walking"], subset=0.1, reverse_aug=True)
    half = walking(gt_s1, p=0.5, reverse_aug=True)
    half.set_epoch(2)
    kept = [i for i in range(len(half)) if half.virtual_view(i) is None]
    monkeypatch.setattr(VirtualCameraSampler, "sample", lambda *a, **k: pytest.fail("p = 0 drew a camera"))
    off = walking(gt_s1, p=0.0, reverse_aug=True)
    off.set_epoch(2)
    state = np.random.get_state()[1].copy()
    for i in range(len(today)):
        old, new = today[i], off[i]
        assert old.keys() == new.keys()
        for key, value in old.items():
            if torch.is_tensor(value):
                assert value.dtype == new[key].dtype and value.numpy().tobytes() == new[key].numpy().tobytes()
            else:
                assert value == new[key]
    assert np.array_equal(np.random.get_state()[1], state)  # the global RNG is untouched
    monkeypatch.undo()
    assert 0 < len(kept) < len(half)
    for i in kept:  # p = 0.5: the windows left real are today's too
        assert half[i]["input_2d"].numpy().tobytes() == today[i]["input_2d"].numpy().tobytes()
        assert half[i]["gt_3d"].numpy().tobytes() == today[i]["gt_3d"].numpy().tobytes()


def test_dataset_refuses_bad_probabilities_and_ignores_test_sets(gt_s1):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        walking(gt_s1, p=1.5)
    test_set = PoseWindowDataset(gt_s1, ["S1"], 27, 27, False, actions=["Walking"], subset=0.1, virtual_cameras=1.0)
    assert test_set.virtual_cameras == 0 and test_set.virtual_view(0) is None
    assert test_set.protocol()["virtual_cameras"] == 0


# ------------------------------------------------------------------------------------------ engine
def tiny(root, run_dir, *extra: str) -> list:
    """A few-second CPU run on real data (the flags of ``small`` in tests/test_engine.py), GT 2-D."""
    return ["--model", "mixste.hot_mixste", "--stride", "27", "--token_num", "9", "--layer_index", "1",
            "--batch_size", "8", "--lr", "2e-3", "--root_path", str(root), "--keypoints", "gt",
            "--subjects_train", "S1", "--subjects_test", "S1", "--actions", "Walking", "--subset", "0.1",
            "--downsample", "2", "--frames", "27", "--channel", "32", "--d_hid", "64", "--depth", "2",
            "--nepoch", "1", "--device", "cpu", "--no_progress", "--checkpoint", str(run_dir), *extra]


def test_bad_flag_values_are_one_line_errors(prepared_root, tmp_path, capsys):
    for extra, needle in ((["--virtual_cameras", "1.5"], "--virtual_cameras must be in [0, 1]"),
                          (["--virtual_cameras", "-0.1"], "--virtual_cameras must be in [0, 1]"),
                          (["--virtual_cameras", "nan"], "--virtual_cameras must be in [0, 1]")):
        code = main(MIXSTE, model, tiny(prepared_root, tmp_path / "run", *extra))
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith(f"error: {needle}") and "\n" not in err, err
    assert not (tmp_path / "run").exists()


def test_one_epoch_with_virtual_cameras_trains_and_records_the_flag(prepared_root, tmp_path):
    run_dir = tmp_path / "run"
    result = run(parse_args(tiny(prepared_root, run_dir, "--virtual_cameras", "0.5"), **MIXSTE.defaults),
                 MIXSTE, model)
    assert 0 < result.p1 < 1000
    assert json.loads((run_dir / "config.json").read_text())["virtual_cameras"] == 0.5
    assert "virtual cameras: 50% of the training windows" in (run_dir / "train.log").read_text()
    saved = torch.load(run_dir / "last.pth", weights_only=True)
    assert saved["args"]["virtual_cameras"] == 0.5 and parse_args([]).virtual_cameras == 0.0
