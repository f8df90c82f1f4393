"""The in-the-wild benchmark (``tools.wild_benchmark``) and its multi-view geometry (``hot_pose.data.multiview``) on the
real Pose2Sim demo data: calibration parsing and reprojection, triangulation of synthetic points through the real
cameras, metric units, and a short end-to-end run.

The data (pose2sim==0.10.49 from PyPI, BSD-3-Clause) is fetched once into the user cache (``$HOT_CACHE_DIR``,
else ``~/.cache/hot-pose``); without it these tests fail with the reason, they never skip.
"""
from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hot_pose.data.multiview import (
    CalibrationError,
    parse_qca,
    reprojection_errors,
    stack_views,
    synchronise,
    triangulate,
    triangulate_robust,
)
from hot_pose.wild.errors import DemoError
from tools import wild_benchmark as wb

#: frames of every camera the calibration check reads (the benchmark itself reads all 100)
CHECK_FRAMES = 30
#: bounds measured on the real data (30 frames: 10.3 px with outliers dropped, 10.7 px with every view; 100 frames:
#: 10.7 and 15.4 px), with a margin for other CPUs' MediaPipe arithmetic
MAX_MEDIAN_REPROJECTION_PX = 15.0
MAX_MEDIAN_REPROJECTION_ALL_VIEWS_PX = 20.0


@pytest.fixture(scope="session")
def demo_set_dir() -> Path:
    """The multi-view demo set in the user cache (downloaded once, reused by every test and later sessions)."""
    from hot_pose.wild.sample import demo_set

    try:
        return demo_set()
    except DemoError as exc:
        pytest.fail(f"cannot fetch the Pose2Sim multi-view demo set (pip download pose2sim==0.10.49 from PyPI): {exc}")


@pytest.fixture(scope="session")
def cameras(demo_set_dir):
    return parse_qca(demo_set_dir / wb.CALIBRATION_NAME)


@pytest.fixture(scope="session")
def mediapipe_views(demo_set_dir, cameras):
    """The limb joints' undistorted MediaPipe pixels (T, 12, 2) and visibilities (T, 12) of the first
    CHECK_FRAMES frames of every camera, plus whether ``detect_frame`` agreed with ``detect_landmarks``."""
    from hot_pose.wild.detectors.mediapipe import BLAZEPOSE_TO_COCO, MediaPipeDetector
    from hot_pose.wild.video import iter_frames

    points, weights, agree = [], [], True
    for name, cam in cameras.items():
        sink = []
        detector = MediaPipeDetector(landmark_sink=sink.append)
        try:
            image, vis = [], []
            for frame in iter_frames(demo_set_dir / f"{name}.mp4", CHECK_FRAMES):
                result = detector.detect_frame(frame)
                lm = sink[-1]
                if result is None or lm is None:
                    agree &= result is None and lm is None
                    image.append(np.full((33, 2), np.nan))
                    vis.append(np.zeros(33))
                    continue
                agree &= bool(np.array_equal(result[0], lm.image[list(BLAZEPOSE_TO_COCO)]))
                agree &= lm.world.shape == (33, 3) and bool(np.isfinite(lm.world).all())
                image.append(lm.image)
                vis.append(lm.visibility)
        finally:
            detector.close()
        assert len(sink) == len(image) == CHECK_FRAMES
        points.append(cam.undistort(wb.from_blazepose(np.array(image))))
        weights.append(wb.from_blazepose(np.array(vis), channels=False))
    return points, weights, agree


# ---------------------------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------------------------
def test_calibration_parsing(cameras):
    assert list(cameras) == ["cam01", "cam02", "cam03", "cam04"]
    cam = cameras["cam01"]
    assert cam.size == (1088, 1920)
    assert cam.K[0, 0] == pytest.approx(107599.671875 / 64) and cam.K[1, 1] == pytest.approx(107588.828125 / 64)
    assert cam.K[0, 2] == pytest.approx(34110.316406 / 64) and cam.K[1, 2] == pytest.approx(60680.792969 / 64)
    assert cam.dist == pytest.approx(np.array([-0.046183, 0.139983, 0.000608, 0.00069, 0.0]) / 64)
    assert cam.centre == pytest.approx([1.4602323709, -1.9091590482, 1.8965058524])  # x, y, z of <transform>, mm → m
    assert cam.residual == pytest.approx(0.402)
    for cam in cameras.values():
        assert np.allclose(cam.R @ cam.R.T, np.eye(3)) and np.linalg.det(cam.R) == pytest.approx(1.0)
        # every camera looks at the walkway: a point 1 m above the world origin is in front of it and in view
        x_cam = cam.world_to_camera(np.array([0.0, 0.0, 1.0]))
        u, v = cam.project(np.array([0.0, 0.0, 1.0]))
        assert 2.0 < x_cam[2] < 6.0 and 0 < u < cam.size[0] and 0 < v < cam.size[1]
        # and the ground lies below it (image y grows downwards)
        assert cam.project(np.array([0.0, 0.0, 0.0]))[1] > v


def test_calibration_reprojection_on_real_videos(cameras, mediapipe_views):
    points, weights, agree = mediapipe_views
    assert agree, "MediaPipeDetector.detect_frame disagrees with detect_landmarks / the landmark sink"
    P = np.stack([c.P for c in cameras.values()])
    sync = synchronise(points, weights, P, max_offset=5)
    assert sync.offsets[0] == 0 and all(abs(o) <= 3 for o in sync.offsets)
    assert sync.cost_px <= sync.cost_px_unshifted
    frames = np.arange(CHECK_FRAMES)
    views, w = stack_views(points, sync.offsets, frames), stack_views(weights, sync.offsets, frames, fill=0.0)
    robust = triangulate_robust(views, P, w, threshold_px=30.0)
    every_view = triangulate_robust(views, P, w, threshold_px=math.inf)
    assert np.median(robust.used_errors) < MAX_MEDIAN_REPROJECTION_PX
    assert np.median(every_view.used_errors) < MAX_MEDIAN_REPROJECTION_ALL_VIEWS_PX
    assert every_view.used.sum() == (w > 0).sum()  # nothing dropped without a threshold
    # a plausible person: thighs and shanks 30-50 cm, standing on the floor (z up, ankles below 30 cm)
    skeleton = wb.with_pelvis(robust.points)
    thigh = np.linalg.norm(skeleton[:, 9] - skeleton[:, 7], axis=-1)
    assert 0.30 < np.nanmedian(thigh) < 0.50 and np.nanmedian(skeleton[:, 11, 2]) < 0.3


def test_calibration_errors(tmp_path, cameras):
    with pytest.raises(CalibrationError, match="not found"):
        parse_qca(tmp_path / "missing.qca.txt")
    bad = tmp_path / "bad.qca.txt"
    bad.write_text("<calibration><cameras><camera serial='c1'>")
    with pytest.raises(CalibrationError, match="not a Qualisys XML"):
        parse_qca(bad)
    bad.write_text("<calibration><cameras></cameras></calibration>")
    with pytest.raises(CalibrationError, match="no <cameras><camera>"):
        parse_qca(bad)
    bad.write_text("<calibration><cameras><camera serial='c1'><fov_video left='0' top='0' right='9' bottom='9'/>"
                   "<intrinsic focalLengthU='64'/></camera></cameras></calibration>")
    with pytest.raises(CalibrationError, match="lacks the 'focalLengthV' attribute"):
        parse_qca(bad)


# ---------------------------------------------------------------------------------------------
# triangulation
# ---------------------------------------------------------------------------------------------
def _synthetic_points(n: int = 40, seed: int = 0) -> np.ndarray:
    """(n, 13, 3) points in the capture volume (metres, z up)."""
    rng = np.random.default_rng(seed)
    return rng.uniform([-1.0, -1.0, 0.0], [1.0, 1.0, 1.9], size=(n, 13, 3))


def test_triangulation_recovers_synthetic_points(cameras):
    X = _synthetic_points()
    cams = list(cameras.values())
    P = np.stack([c.P for c in cams])
    observed = np.stack([c.project(X) for c in cams])  # distorted pixels, as a detector would see them
    assert np.abs(observed - np.stack([c.project(X, distort=False) for c in cams])).max() > 0.1  # distortion matters
    views = np.stack([c.undistort(o) for c, o in zip(cams, observed)])
    assert np.abs(triangulate(views, P) - X).max() < 1e-3  # < 1 mm
    weights = np.random.default_rng(1).uniform(0.2, 1.0, size=views.shape[:-1])
    assert np.abs(triangulate(views, P, weights) - X).max() < 1e-3
    assert reprojection_errors(X, views, P).max() < 1e-3  # px
    for bad_view in range(len(cams)):  # one corrupted view: dropped everywhere, the points still recovered
        corrupted = views.copy()
        corrupted[bad_view] += np.array([60.0, -45.0])
        plain = triangulate(corrupted, P)
        assert np.abs(plain - X).max() > 0.01
        robust = triangulate_robust(corrupted, P, threshold_px=5.0)
        assert np.abs(robust.points - X).max() < 1e-3
        assert not robust.used[bad_view].any() and robust.used[np.arange(len(cams)) != bad_view].all()
    # missing views: NaN pixels or weight 0 leave them out; fewer than 2 views give NaN
    partial = views.copy()
    partial[:2, :5] = np.nan
    assert np.abs(triangulate(partial, P) - X).max() < 1e-3
    alone = np.zeros(views.shape[:-1])
    alone[0] = 1.0
    assert np.isnan(triangulate(views, P, alone)).all()
    with pytest.raises(ValueError, match="weights have shape"):
        triangulate(views, P, alone[:, :1])


def test_synchronise_finds_a_known_offset(cameras):
    t = np.arange(60)[:, None, None]
    base = _synthetic_points(1, seed=2)[0][None]  # (1, 13, 3)
    walk = base + np.concatenate([0.02 * t, 0.3 * np.sin(t / 6.0), 0 * t], axis=-1)  # (60, 13, 3), moving
    cams = list(cameras.values())
    P = np.stack([c.P for c in cams])
    true = [0, 2, -3, 1]
    points = [c.project(walk[np.clip(np.arange(60) + o, 0, 59)], distort=False) for c, o in zip(cams, true)]
    # view v's frame t shows the instant t + true[v] ... so the instant of reference frame t is in frame t - true[v]
    weights = [np.ones(p.shape[:-1]) for p in points]
    result = synchronise(points, weights, P, max_offset=5)
    assert result.offsets == [-o for o in true]
    assert result.cost_px < 1e-3 < result.cost_px_unshifted
    with pytest.raises(ValueError, match="frames overlap"):
        synchronise([p[:8] for p in points], [w[:8] for w in weights], P, max_offset=5)


# ---------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------
def _rot_z(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


def test_metric_units_on_synthetic_poses():
    rng = np.random.default_rng(3)
    ref = rng.normal(scale=0.3, size=(10, 13, 3))
    moved = 1.1 * ref @ _rot_z(25).T + np.array([0.5, -0.2, 3.0])
    errors, scales = wb.procrustes_errors(moved, ref)
    assert errors.max() < 1e-9 and scales == pytest.approx(np.full(10, 1 / 1.1))
    off = ref.copy()
    off[:, 5] += [0.013, 0.0, 0.0]  # one joint of 13 off by 13 mm
    assert wb.root_aligned_errors(off, ref) == pytest.approx(np.full(10, 0.001))  # 1 mm
    assert wb.root_aligned_errors(ref + 0.7, ref) == pytest.approx(np.zeros(10))  # the root is aligned
    flat = ref.copy()
    flat[..., 2] = 0.0  # every limb in the x-y plane: a 10° turn about z turns every limb by 10°
    assert wb.limb_angle_errors(flat @ _rot_z(10).T, flat) == pytest.approx(np.full((10, 12), 10.0))
    # acceleration: one joint of 13 on a parabola 0.5 mm·t² (2nd difference 1 mm/frame²) vs a still reference
    T = 30
    still = np.repeat(ref[:1], T, axis=0)
    moving = still.copy()
    moving[:, 3, 1] += 0.0005 * np.arange(T) ** 2
    valid = np.ones(T, bool)
    acc = wb.acceleration_errors(moving, wb.smooth_in_time(still, valid, 2.0), valid)
    assert acc.shape == (T - 2,) and acc == pytest.approx(np.full(T - 2, 0.001 / 13))
    # smoothing keeps a straight-line motion (away from the ends and gaps) and ignores invalid frames
    line = still + 0.01 * np.arange(T)[:, None, None]
    valid[10] = False
    smoothed = wb.smooth_in_time(np.where(valid[:, None, None], line, 99.0), valid, 1.0)
    far = np.r_[4:7, 14:T - 4]
    assert np.abs(smoothed[far] - line[far]).max() < 1e-9
    assert np.abs(smoothed[8:13] - line[8:13]).max() < 0.01  # the invalid frame's 99 m never leaks in
    scored = wb.score_camera(moved, ref, np.ones(10, bool), fps=60.0, sigma=0.0)
    assert scored["p_mpjpe_mm"] < 1e-6 and scored["procrustes_scale"] == pytest.approx(1 / 1.1)
    assert scored["accel_error_m_s2"] == pytest.approx(scored["accel_error_mm_f2"] * 3.6)


def test_joint_mappings():
    h36m = np.zeros((17, 3))
    h36m[:, 0] = np.arange(17)  # x = the H36M joint index
    mapped = wb.from_h36m(h36m)
    assert mapped[1:, 0].tolist() == [11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3]
    assert mapped[0, 0] == pytest.approx(2.5)  # pelvis = midpoint of the hips (4 and 1), not H36M's joint 0
    blaze = np.arange(33)[:, None] * np.ones((33, 3))
    assert wb.from_blazepose(blaze)[:, 0].tolist() == [11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
    assert wb.from_blazepose(np.arange(33.0), channels=False).tolist() == list(wb.BLAZEPOSE_12)
    # facing_camera: a person facing world +y (left = −x) ends up facing the camera (left = +x, head up = −y)
    pose = np.zeros((1, 13, 3))
    pose[0, 7], pose[0, 8] = [-0.1, 0, 0], [0.1, 0, 0]  # left hip at −x, right hip at +x
    pose[0, 1] = [-0.15, 0.0, 0.5]  # left shoulder above the left hip
    pose[0, 9] = [-0.1, 0.2, -0.4]  # left knee forward (+y) and down
    out = wb.facing_camera(pose)[0]
    assert out[7] == pytest.approx([0.1, 0, 0]) and out[1] == pytest.approx([0.15, -0.5, 0.0])
    assert out[9] == pytest.approx([0.1, 0.4, -0.2])  # forward = towards the camera = −z


# ---------------------------------------------------------------------------------------------
# the tool
# ---------------------------------------------------------------------------------------------
def test_demo_set_extraction_checks_sha256(tmp_path):
    from hot_pose.wild.sample import extract_demo_set

    wheel = tmp_path / "pose2sim-0.10.49-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("Pose2Sim/a.mp4", b"video")
        zf.writestr("Pose2Sim/b.txt", b"calibration")
        zf.writestr("pose2sim-0.10.49.dist-info/licenses/LICENSE", "BSD 3-Clause License\nperfanalytics")
    import hashlib

    good = {"a.mp4": ("Pose2Sim/a.mp4", hashlib.sha256(b"video").hexdigest()),
            "b.txt": ("Pose2Sim/b.txt", hashlib.sha256(b"calibration").hexdigest())}
    with pytest.raises(DemoError, match="checksum mismatch"):
        extract_demo_set(wheel, tmp_path / "bad", {**good, "b.txt": ("Pose2Sim/b.txt", "0" * 64)})
    assert not (tmp_path / "bad" / "b.txt").exists() and not list((tmp_path / "bad").glob(".sample-*"))
    with pytest.raises(DemoError, match="does not contain Pose2Sim/c.mp4"):
        extract_demo_set(wheel, tmp_path / "bad", {"c.mp4": ("Pose2Sim/c.mp4", "0" * 64)})
    folder = extract_demo_set(wheel, tmp_path / "ok", good)
    assert (folder / "a.mp4").read_bytes() == b"video" and "perfanalytics" in (folder / "LICENSE.txt").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--cameras", "cam01"], "at least 2 cameras"),
    (["--cameras", "cam01,cam09"], "unknown camera(s) cam09"),
    (["--cameras", "cam01,cam01"], "lists a camera twice"),
    (["--max-frames", "2"], "--max-frames must be >= 3"),
    (["--max-frames", "10", "--max-offset", "5"], "too short for --max-offset 5"),
    (["--reference-camera", "cam04", "--cameras", "cam01,cam02"], "not among --cameras"),
    (["--checkpoint", "/nonexistent/best.pth"], "--checkpoint /nonexistent/best.pth not found"),
])
def test_bad_flags_give_one_line_errors(argv, message, tmp_path, capsys):
    assert wb.main([*argv, "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_out_dir_is_checked_before_the_benchmark_runs(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "wild_benchmark.md").write_text("mine")
    assert wb.main(["--mean-pose", "reference", "--out-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out-dir {out} already holds wild_benchmark.md") and err.count("\n") == 1
    assert wb.main(["--mean-pose", "reference", "--out-dir", "/proc/wild"]) == 2
    assert "is under /proc" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["wild_benchmark.md"] and (out / "wild_benchmark.md").read_text() == "mine"


def test_short_benchmark_end_to_end(demo_set_dir, h36m_dir, tmp_path):
    out = tmp_path / "out"
    argv = ["--cameras", "cam01,cam03", "--max-frames", "20", "--max-offset", "3", "--out-dir", str(out),
            "--cache-dir", str(demo_set_dir.parent), "--h36m", str(h36m_dir / "data_3d_h36m.npz")]
    assert wb.main(argv) == 0
    report = json.loads((out / "wild_benchmark.json").read_text())
    assert report["command"] == "python -m tools.wild_benchmark " + " ".join(argv)
    assert report["settings"]["cameras"] == ["cam01", "cam03"] and report["data"]["frames"] == {"cam01": 20, "cam03": 20}
    assert report["settings"]["lifter"]["checkpoint"] == "hot_pose/checkpoints/hot_mixste_27_wild_vc/best.pth"
    assert set(report["results"]) == {"cam01", "cam03", "mean"}
    assert list(report["methods"]) == ["ours", "mediapipe_world", "mean_pose_h36m", "mean_pose_reference"]
    sync = report["sync"]
    assert sync["offsets"]["cam01"] == 0 and abs(sync["offsets"]["cam03"]) <= 3
    assert report["calibration"]["check"]["median_reprojection_px"] < MAX_MEDIAN_REPROJECTION_PX
    for view in ("cam01", "cam03", "mean"):
        for method, r in report["results"][view].items():
            assert all(math.isfinite(r[k]) for k in wb.METRICS), (view, method, r)
            assert r["frames"] >= (10 if view != "mean" else 20)
    ours, mp = report["results"]["mean"]["ours"], report["results"]["mean"]["mediapipe_world"]
    for r in (ours, mp):  # a working lifter: a person-sized skeleton, far better than chance
        assert 20 < r["p_mpjpe_mm"] < 150 and 0.7 < r["procrustes_scale"] < 1.3 and r["limb_angle_deg"] < 40
    assert report["results"]["mean"]["mean_pose_h36m"]["p_mpjpe_mm"] > ours["p_mpjpe_mm"]
    md = (out / "wild_benchmark.md").read_text()
    assert "| View | Method | P-MPJPE (mm)" in md and "| **mean** | ours (lifter) |" in md
    assert "Frame offsets vs cam01" in md and report["command"] in md
