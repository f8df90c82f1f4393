"""Bad 2-D input never turns into silent garbage: every stage of the demo checks its output, the lifters refuse
unnormalised or non-finite keypoints, keypoint files with wrong shapes, ragged lists, non-numbers, inf or
pickles are refused in one line, and ``demo/vis.py`` exits 1 without a traceback and without touching an
existing output folder.

HoT demo (Li et al., CVPR 2024, arXiv:2311.12028). The video is the real walkway clip (1088x1920, 60 fps);
the keypoint files are a plausible person in pixels of that clip, and corrupted copies of it.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from hot_pose.cli.demo import main
from hot_pose.wild.checks import (
    MAX_ABS_NORMALISED,
    check_finite,
    check_lift_input,
    check_lifted_poses,
    check_pixel_keypoints,
    lift_input_bound,
    mask_far_outside,
)
from hot_pose.wild.detectors import Detector2D
from hot_pose.wild.detectors.keypoints_file import load_keypoint_file
from hot_pose.wild.errors import DemoError
from hot_pose.wild.lift import sliding_window_lift
from hot_pose.wild.stream import StreamingLifter, run_stream

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]
W, H, T = 1088, 1920, 10  # the walkway clip's frame size; frames used per run


def person(t: int = T) -> np.ndarray:
    """A walking-sized upright COCO-17 person in pixels of the 1088x1920 walkway frame, drifting right: (t, 17, 2)."""
    kp = np.array([[100, 50], [105, 45], [95, 45], [110, 48], [90, 48], [120, 70], [80, 70], [125, 95], [75, 95],
                   [128, 120], [72, 120], [112, 130], [88, 130], [113, 170], [87, 170], [114, 210], [86, 210]],
                  np.float32)
    kp = (kp - [100, 130]) * 5 + [W / 2, H / 2]  # ~ 825 px tall, centred
    return (kp[None] + np.arange(t, dtype=np.float32)[:, None, None] * [3, 0]).astype(np.float32)


def save(path: Path, **entries) -> Path:
    np.savez(path, **entries)
    return path


def one_line_error(fn, *args, match: str, **kwargs) -> str:
    with pytest.raises(DemoError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and match in message, message
    return message


# ---------------------------------------------------------------------------------------------------------
# keypoint files
# ---------------------------------------------------------------------------------------------------------
def test_good_files_still_load(tmp_path):
    kp = person()
    det = load_keypoint_file(save(tmp_path / "k.npz", keypoints=kp, scores=np.full((T, 17), 0.9, np.float32),
                                  found=np.ones(T, bool)))
    assert det.keypoints.shape == (T, 17, 2) and det.found.all() and np.allclose(det.scores, 0.9)
    np.save(tmp_path / "k.npy", kp)
    assert load_keypoint_file(tmp_path / "k.npy").num_frames == T
    frames = [kp[0].tolist(), None, np.c_[kp[2], np.full(17, 0.5)].tolist()]  # (17, 2), null and (17, 3) mixed
    (tmp_path / "k.json").write_text(json.dumps(frames))
    det = load_keypoint_file(tmp_path / "k.json")
    assert det.found.tolist() == [True, False, True] and np.isnan(det.keypoints[1]).all()
    assert det.scores[2].tolist() == [0.5] * 17 and (det.scores[1] == 0).all()


def test_wrong_size_scores_and_found(tmp_path):
    kp = person()
    path = save(tmp_path / "s.npz", keypoints=kp, scores=np.ones((T, 5), np.float32))
    msg = one_line_error(load_keypoint_file, path, match="'scores' has shape (10, 5), expected (10, 17)")
    assert str(path) in msg
    one_line_error(load_keypoint_file, save(tmp_path / "s2.npz", keypoints=kp, scores=np.ones((17, T), np.float32)),
                   match="'scores' has shape (17, 10), expected (10, 17)")  # transposed: no silent reshape
    one_line_error(load_keypoint_file, save(tmp_path / "f.npz", keypoints=kp, found=np.ones(T - 1, bool)),
                   match="'found' has shape (9,), expected (10,)")
    one_line_error(load_keypoint_file, save(tmp_path / "f2.npz", keypoints=kp, found=np.full(T, 2)),
                   match="'found' holds values other than 0/1")


@pytest.mark.parametrize("doc,match", [
    ({"keypoints": "person()"}, "'keypoints' holds strings"),  # whole entry a string
    ("frames of different lengths", "'keypoints' frame 1 has shape (16, 2), expected (17, 2) or (17, 3)"),
    ("mixed depth", "'keypoints' frame 0 is ragged"),
    ("string coordinates", "'keypoints' holds strings"),
    ("string joint among nulls", "'keypoints' frame 2 holds strings"),
    ({"keypoints": {"x": 1}}, "'keypoints' holds Python objects or nulls"),
    ("ragged scores", "'scores' is ragged"),
    ("json string", "holds a JSON str; expected an object with 'keypoints'"),
    ([], "'keypoints' holds 0 frames"),
])
def test_bad_json_is_one_line(tmp_path, doc, match):
    kp = person(3).tolist()
    if doc == "frames of different lengths":
        doc = [kp[0], kp[1][:16], kp[2]]
    elif doc == "mixed depth":
        doc = [[kp[0][0], [kp[0][1]]] + kp[0][2:], kp[1], kp[2]]
    elif doc == "string coordinates":
        doc = [[[str(v) for v in joint] for joint in frame] for frame in kp]
    elif doc == "string joint among nulls":
        doc = [kp[0], None, [["1", "2"]] * 17]
    elif doc == "ragged scores":
        doc = {"keypoints": kp, "scores": [[1.0] * 17, [1.0] * 3, [1.0] * 17]}
    elif doc == "json string":
        doc = "keypoints"
    path = tmp_path / "k.json"
    path.write_text(json.dumps(doc))
    assert str(path) in one_line_error(load_keypoint_file, path, match=match)


@pytest.mark.parametrize("values,match", [
    (person().astype(str), "'keypoints' holds strings"),
    (person().astype(np.complex64), "'keypoints' holds complex numbers"),
    (np.ones((T, 17, 2), bool), "'keypoints' holds booleans"),
    (np.zeros((0, 17, 2), np.float32), "'keypoints' holds 0 frames"),
])
def test_non_numeric_and_empty_npz(tmp_path, values, match):
    one_line_error(load_keypoint_file, save(tmp_path / "k.npz", keypoints=values), match=match)


def test_infinite_values_are_refused(tmp_path):
    kp = person()
    kp[3, 4, 0] = np.inf
    one_line_error(load_keypoint_file, save(tmp_path / "a.npz", keypoints=kp),
                   match="'keypoints' holds 1 infinite values (or beyond the float32 range) in 1 frames, first frame 3")
    scores = np.ones((T, 17), np.float32)
    scores[5, 0] = -np.inf
    one_line_error(load_keypoint_file, save(tmp_path / "b.npz", keypoints=person(), scores=scores),
                   match="'scores' holds 1 infinite values")
    big = person().astype(np.float64)
    big[0, 0] = 1e300  # finite in float64, inf in float32
    one_line_error(load_keypoint_file, save(tmp_path / "c.npz", keypoints=big), match="infinite values")
    doc = person(2).tolist()
    doc[1][0][0] = float("inf")
    (tmp_path / "d.json").write_text(json.dumps(doc))  # JSON's Infinity token
    assert "Infinity" in (tmp_path / "d.json").read_text()
    one_line_error(load_keypoint_file, tmp_path / "d.json", match="'keypoints' holds 1 infinite values")


class _Marker:
    """Unpickling this object creates ``path`` (by ``open(path, "w")``): evidence that a pickle ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def test_pickled_object_array_is_refused_and_never_run(tmp_path):
    def pickled_npz(name: str, marker: Path) -> Path:
        obj = np.empty(1, dtype=object)
        obj[0] = _Marker(str(marker))
        return save(tmp_path / name, keypoints=obj)

    # the payload is real: numpy's pickle path runs it
    proof = tmp_path / "proof-marker"
    with np.load(pickled_npz("proof.npz", proof), allow_pickle=True) as npz:
        npz["keypoints"]
    assert proof.exists()
    marker = tmp_path / "marker"
    msg = one_line_error(load_keypoint_file, pickled_npz("evil.npz", marker),
                         match="'keypoints' is an object array (pickled Python objects), refused")
    assert "evil.npz" in msg and not marker.exists()


def test_unreadable_files_are_one_line(tmp_path):
    good = save(tmp_path / "good.npz", keypoints=person())
    (tmp_path / "cut.npz").write_bytes(good.read_bytes()[:200])
    one_line_error(load_keypoint_file, tmp_path / "cut.npz", match="cannot read keypoint file")
    (tmp_path / "bad.json").write_text("{not json")
    one_line_error(load_keypoint_file, tmp_path / "bad.json", match="cannot read keypoint file")
    one_line_error(load_keypoint_file, save(tmp_path / "x.npz", points=person()),
                   match="has no 'keypoints' entry (found: points)")


def test_scores_outside_0_1_are_clipped_with_a_warning(tmp_path, caplog):
    scores = np.full((T, 17), 0.5, np.float32)
    scores[0, 0], scores[1, 1] = 3.0, -1.0
    with caplog.at_level("WARNING"):
        det = load_keypoint_file(save(tmp_path / "k.npz", keypoints=person(), scores=scores))
    assert det.scores[0, 0] == 1 and det.scores[1, 1] == 0 and "2 scores lie outside [0, 1]" in caplog.text


# ---------------------------------------------------------------------------------------------------------
# stage checks
# ---------------------------------------------------------------------------------------------------------
def test_pixel_check_bounds():
    check_pixel_keypoints(person(), W, H, "k")  # a person in the frame
    edge = person(2)
    edge[0, 0] = [-W, 2 * H]  # exactly one frame width/height outside: still accepted
    edge[1] = np.nan  # the documented "missing" marker
    check_pixel_keypoints(edge, W, H, "k")
    far = person()
    far[2:4, 5, 0] = 2 * W + 1
    msg = one_line_error(check_pixel_keypoints, far, W, H, "keypoint file k.npz",
                         match="2 joints in 2 of 10 frames lie more than one frame width/height outside the 1088x1920")
    assert "keypoints must be pixel coordinates of this video" in msg and msg.startswith("keypoint file k.npz")
    inf = person()
    inf[1, 1, 1] = -np.inf
    one_line_error(check_pixel_keypoints, inf, W, H, "k", match="1 keypoint coordinates are infinite")
    one_line_error(check_pixel_keypoints, person() / [W, H], W, H, "k", match="look normalised")
    one_line_error(check_pixel_keypoints, person() / [W / 2, W / 2] - [1, H / W], W, H, "k", match="look normalised")
    check_pixel_keypoints(person() / 30, 40, 40, "k")  # tiny frames: a 3-pixel person is possible
    check_pixel_keypoints(np.full((3, 17, 2), np.nan), W, H, "k")  # nobody: left to fill_gaps ("no person")


def test_detector_joints_far_out_of_view_become_missing(caplog):
    kp = person()
    kp[3, 15:17, 1] = 2 * H + 50  # the feet of a close-up, guessed far below the frame
    with caplog.at_level("WARNING"):
        masked, sc = mask_far_outside(kp, np.ones((T, 17)), W, H, "detector 'mediapipe'")
    assert np.isnan(masked[3, 15:17]).all() and (sc[3, 15:17] == 0).all()
    assert np.array_equal(np.isnan(masked).sum(), 4) and np.array_equal(masked[:3], kp[:3])
    assert "2 joints in 1 frames lie more than one frame width/height outside the 1088x1920" in caplog.text
    kp[0, 0, 0] = np.inf
    one_line_error(mask_far_outside, kp, np.ones((T, 17)), W, H, "detector 'x'", match="infinite")


def test_finite_and_pose_checks():
    check_finite(np.zeros((3, 17, 2)), "x", "fix")
    bad = np.zeros((4, 17, 3))
    bad[2, 3, 1] = np.nan
    one_line_error(check_finite, bad, "the 3-D poses after the bone-length step", "pass --raw-bones",
                   match="the 3-D poses after the bone-length step holds 1 NaN/inf values (frames 2 of 4); pass")
    one_line_error(check_lifted_poses, bad, "ckpt/best.pth",
                   match="weights are likely corrupt (checkpoint ckpt/best.pth)")
    huge = np.zeros((4, 17, 3))
    huge[0, 5] = 5e3
    one_line_error(check_lifted_poses, huge, None, match="farther than 1000 m")
    check_lifted_poses(np.random.default_rng(0).normal(scale=0.3, size=(4, 17, 3)), None)


def _identity(x: torch.Tensor, index=None) -> torch.Tensor:
    return torch.cat([x[..., :2], torch.zeros_like(x[..., :1])], dim=-1)


def test_lifters_refuse_pixels_and_non_finite_input():
    pixels = person()
    with pytest.raises(ValueError, match=r"normalize_screen_coordinates\(kp, w, h\)") as info:
        sliding_window_lift(_identity, pixels, 9)
    assert "not pixels" in str(info.value)
    nan = person() / W
    nan[4, 2] = np.nan
    with pytest.raises(ValueError, match="NaN/inf values in frames 4"):
        sliding_window_lift(_identity, nan, 9)
    with pytest.raises(ValueError, match="NaN/inf"):
        check_lift_input(np.full((2, 17, 2), np.inf))
    from hot_pose.data.camera import normalize_screen_coordinates

    ok = normalize_screen_coordinates(person(), W, H)  # portrait: y up to ±1.76
    assert np.abs(ok).max() < MAX_ABS_NORMALISED
    out = sliding_window_lift(_identity, ok, 9)
    assert np.isfinite(out).all()
    sliding_window_lift(_identity, np.full((3, 17, 2), MAX_ABS_NORMALISED), 9)  # the bound itself is accepted
    assert lift_input_bound(W, H) == MAX_ABS_NORMALISED and lift_input_bound(100, 400) == 12.0

    lifter = StreamingLifter(_identity, 9)
    with pytest.raises(ValueError, match="normalize_screen_coordinates"):
        lifter.push(pixels[0])
    with pytest.raises(ValueError, match="NaN/inf"):
        lifter.push(nan[4])
    assert lifter.received == 0 and lifter.buffered_frames == 0  # refused frames leave the stream unchanged
    assert lifter.push(ok[0]) is not None


def test_run_stream_treats_an_unusable_detection_as_missing(video_dir, caplog):
    class Detector:
        calls = 0

        def detect_frame(self, frame):
            self.calls += 1
            kp = np.random.default_rng(0).uniform(100, 600, (17, 2)).astype(np.float32)
            if self.calls == 3:
                kp[4] = 1e9  # absurd pixels: ~1e6 once normalised
            return kp, np.ones(17, np.float32), None

    with caplog.at_level("WARNING"):
        result = run_stream(video_dir / "skating.mp4", StreamingLifter(_identity, 9), Detector(), max_frames=5)
    assert result.frames == 5 and result.lifted == 5 and np.isfinite(result.poses).all()
    assert np.abs(result.poses).max() <= MAX_ABS_NORMALISED
    assert "frame 2: 2-D detection refused" in caplog.text and "1 of 5 frames" in caplog.text


# ---------------------------------------------------------------------------------------------------------
# the whole demo on the real walkway clip
# ---------------------------------------------------------------------------------------------------------
def _snapshot(folder: Path) -> dict:
    """{relative path: sha256} of everything in ``folder`` (hidden staging folders included)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def _argv(video_dir: Path, keypoints: Path, out: Path, *extra: str) -> list:
    return ["--video", str(video_dir / "walkway_cam03.mp4"), "--detector", "keypoints", "--keypoints", str(keypoints),
            "--output", str(out), "--no-render", "--max-frames", str(T), "--quiet", *extra]


@pytest.fixture(scope="module")
def good_run(video_dir, tmp_path_factory) -> Path:
    """A successful run of a good keypoint file: its output folder (copied as the 'existing' folder below)."""
    folder = tmp_path_factory.mktemp("good")
    path = save(folder / "good.npz", keypoints=person(), scores=np.full((T, 17), 0.9, np.float32))
    assert main(_argv(video_dir, path, folder / "out")) == 0
    return folder / "out"


def test_a_good_keypoint_file_works(good_run):
    assert sorted(p.name for p in good_run.iterdir()) == [".hot-demo-outputs.json", "keypoints_2d.npz",
                                                          "poses_3d.json", "poses_3d.npz"]
    with np.load(good_run / "poses_3d.npz") as p3, np.load(good_run / "keypoints_2d.npz") as k2:
        assert p3["poses_3d"].shape == (T, 17, 3) and np.isfinite(p3["poses_3d"]).all()
        assert np.isfinite(k2["keypoints_h36m"]).all() and np.isfinite(k2["scores_h36m"]).all()
        assert 0.2 < np.ptp(p3["poses_3d"][..., 1]) < 3  # metres: a person, not ±1e30 or ±0.001
    doc = json.loads((good_run / "poses_3d.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert len(doc["frames"]) == T


def _existing(good_run: Path, tmp_path: Path) -> Path:
    import shutil

    out = tmp_path / "out"
    shutil.copytree(good_run, out)
    (out / "notes.txt").write_text("the user's own file")
    return out


def _bad_files(tmp_path: Path) -> dict:
    kp = person()
    evil = np.empty(1, dtype=object)
    evil[0] = _Marker(str(tmp_path / "marker"))
    ragged = person().tolist()
    ragged[4] = ragged[4][:12]
    (tmp_path / "ragged.json").write_text(json.dumps(ragged))
    return {
        "x1e30": (save(tmp_path / "x1e30.npz", keypoints=kp * 1e30), "lie more than one frame width/height outside "
                  "the 1088x1920 video"),
        "normalised": (save(tmp_path / "normalised.npz", keypoints=kp / [W, H]), "look normalised"),
        "pickle": (save(tmp_path / "evil.npz", keypoints=evil), "object array (pickled Python objects)"),
        "ragged": (tmp_path / "ragged.json", "'keypoints' frame 4 has shape (12, 2)"),
        "scores": (save(tmp_path / "scores.npz", keypoints=kp, scores=np.ones((T, 5))), "'scores' has shape (10, 5)"),
        "inf": (save(tmp_path / "inf.npz", keypoints=np.where(kp > 900, np.inf, kp)), "infinite values"),
    }


@pytest.mark.parametrize("case", ["x1e30", "normalised", "pickle", "ragged"])
def test_vis_script_fails_in_one_line_and_keeps_the_folder(video_dir, good_run, tmp_path, case):
    """The real script, as a user runs it: exit 1, one 'error:' line, no traceback, existing files untouched."""
    out = _existing(good_run, tmp_path)
    before = _snapshot(out)
    path, match = _bad_files(tmp_path)[case]
    run = subprocess.run([sys.executable, str(ROOT / "demo" / "vis.py"), *_argv(video_dir, path, out)],
                         capture_output=True, text=True, timeout=120)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and "Traceback" not in run.stderr and len(lines) == 1, run.stderr
    assert lines[0].startswith("error: ") and match in lines[0] and str(path) in lines[0], lines[0]
    assert run.stdout == "" and _snapshot(out) == before
    assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize("case", ["scores", "inf"])
def test_main_fails_in_one_line(video_dir, good_run, tmp_path, capsys, case):
    out = _existing(good_run, tmp_path)
    before = _snapshot(out)
    path, match = _bad_files(tmp_path)[case]
    assert main(_argv(video_dir, path, out)) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and match in err and "\n" not in err, err
    assert _snapshot(out) == before


def test_corrupt_weights_are_named(video_dir, good_run, tmp_path, capsys):
    """Finite but absurd weights (the loader refuses NaN/inf ones) make the lifter return NaN: refused."""
    from hot_pose.models import build_model

    args = dict(model="mixste.hot_mixste", frames=27, channel=32, token_num=9, layer_index=1, depth=2)
    torch.manual_seed(0)
    state = build_model(args["model"], args).state_dict()
    state["Spatial_patch_to_embedding.weight"] *= 1e35
    ckpt = tmp_path / "corrupt.pth"
    torch.save({"model": state, "args": args}, ckpt)
    out = _existing(good_run, tmp_path)
    before = _snapshot(out)
    keypoints = save(tmp_path / "k.npz", keypoints=person())
    assert main(_argv(video_dir, keypoints, out, "--checkpoint", str(ckpt))) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the lifting model returned NaN/inf values in 10 of 10 frames") and "\n" not in err
    assert f"weights are likely corrupt (checkpoint {ckpt})" in err
    assert _snapshot(out) == before


@pytest.mark.parametrize("stage,target,match", [
    ("gap filling", "fill_gaps", "the H36M 2-D keypoints after joint mapping and gap filling holds"),
    ("bone lengths", "constant_bone_lengths", "the 3-D poses after the bone-length step holds"),
])
def test_a_stage_that_returns_nan_stops_the_run(video_dir, good_run, tmp_path, capsys, monkeypatch, stage, target,
                                                match):
    """Each stage's output is checked: a (simulated) stage fault that yields NaN is refused before any file."""
    import hot_pose.wild.pipeline as pipeline

    real = getattr(pipeline, target)

    def broken(*args, **kwargs):
        out = real(*args, **kwargs)
        first = out[0] if isinstance(out, tuple) else out
        first[1, 2] = np.nan
        return out

    monkeypatch.setattr(pipeline, target, broken)
    out = _existing(good_run, tmp_path)
    before = _snapshot(out)
    assert main(_argv(video_dir, save(tmp_path / "k.npz", keypoints=person()), out)) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and match in err and "\n" not in err, err
    assert _snapshot(out) == before


class _StubDetector(Detector2D):
    """A 2-D detector whose answer is known: ``person()`` frame by frame, with ``edit(t, kp)`` applied."""

    name = "stub"

    def __init__(self, edit) -> None:
        self.t, self.edit = 0, edit

    def detect_frame(self, frame):
        kp = person(self.t + 1)[-1].copy()
        self.edit(self.t, kp)
        self.t += 1
        return kp, np.ones(17, np.float32), None


def test_pipeline_with_a_detector_far_out_of_view_and_inf(video_dir, tmp_path, capsys, caplog, monkeypatch):
    import hot_pose.wild.pipeline as pipeline

    def far_feet(t, kp):
        if t == 4:
            kp[15:17, 1] = 3 * H
    monkeypatch.setattr(pipeline, "_build_detector", lambda opts, device: _StubDetector(far_feet))
    argv = ["--video", str(video_dir / "walkway_cam03.mp4"), "--output", str(tmp_path / "a"), "--no-render",
            "--max-frames", str(T), "--quiet"]
    with caplog.at_level("WARNING"):
        assert main(argv) == 0, capsys.readouterr().err
    assert "detector 'mediapipe': 2 joints in 1 frames lie more than one frame width/height outside" in caplog.text
    with np.load(tmp_path / "a" / "keypoints_2d.npz") as k2, np.load(tmp_path / "a" / "poses_3d.npz") as p3:
        assert np.isnan(k2["keypoints"][4, 15:17]).all() and np.isfinite(k2["keypoints_h36m"]).all()
        assert np.isfinite(p3["poses_3d"]).all()

    def inf(t, kp):
        kp[2, 0] = np.inf
    monkeypatch.setattr(pipeline, "_build_detector", lambda opts, device: _StubDetector(inf))
    argv[3] = str(tmp_path / "b")
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: detector 'mediapipe': 10 keypoint coordinates are infinite") and "\n" not in err
    assert not (tmp_path / "b").exists()


def test_zip_file_is_not_an_npz(tmp_path):
    with zipfile.ZipFile(tmp_path / "k.npz", "w") as zf:
        zf.writestr("readme.txt", "no arrays here")
    one_line_error(load_keypoint_file, tmp_path / "k.npz", match="keypoint file")


# ---------------------------------------------------------------------------------------------------------
# keypoints without a video


def test_keypoints_without_a_video_render_on_a_blank_canvas(prepared_root, tmp_path, capsys):
    """Real GT 2-D of S9 (camera 0, 1000x1002 px, 50 fps) as a keypoint file, no video: the whole demo runs."""
    import cv2

    from hot_pose.data.camera import image_coordinates
    from hot_pose.data.dataset import load_h36m

    seq = load_h36m(prepared_root, "gt", subjects=["S9"]).sequences[("S9", "Walking", 0)]
    pixels = image_coordinates(seq.pose_2d[:60], 1000, 1002)
    kp_file = save(tmp_path / "s9_walk.npz", keypoints=pixels, scores=np.ones((60, 17), np.float32),
                   layout=np.array("h36m"))
    out = tmp_path / "out"
    assert main(["--keypoints", str(kp_file), "--size", "1000x1002", "--fps", "50", "--output", str(out), "-q"]) == 0
    with np.load(out / "poses_3d.npz") as npz:
        poses, fps = npz["poses_3d"], float(npz["fps"])
    assert poses.shape == (60, 17, 3) and fps == 50 and np.isfinite(poses).all()
    cap = cv2.VideoCapture(str(out / "s9_walk.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 60
    cap.release()
    # one-line errors, nothing written
    missing = tmp_path / "missing"
    for argv, needle in ((["--keypoints", str(kp_file)], "needs --size WxH"),
                         (["--keypoints", str(kp_file), "--size", "1000x1002", "--video", "sample"],
                          "--size and --fps are for --keypoints without a video")):
        capsys.readouterr()
        assert main([*argv, "--output", str(missing), "-q"]) == 1
        err = capsys.readouterr().err.strip()
        assert needle in err and "\n" not in err and not missing.exists()
    with pytest.raises(SystemExit):
        main(["--keypoints", str(kp_file), "--size", "1000by1002"])
    assert "expected WIDTHxHEIGHT" in capsys.readouterr().err
