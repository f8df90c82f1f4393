"""Bad input of the Python API (``hot_pose``) and of the demo's library pieces it is made of, in-process.

The documented contract: a bad argument raises ``ValueError`` whose message names the argument (and its range), a
missing path raises ``FileNotFoundError``; nothing else (no ``TypeError``, ``RuntimeError``, ``CheckpointError``,
``IndexError`` from deep inside). Every numeric argument of the public API is checked: ``lift``'s
``batch_size`` and ``image_size``, ``lift_stream``'s ``hop`` and ``lookahead``, ``detect_2d``/``track_2d``'s
``max_frames``, ``max_persons`` and ``min_track_frames``, and ``sliding_window_lift``'s / ``StreamingLifter``'s
``frames``, ``batch_size``, ``stride`` and ``hop``. Real inputs: the walkway clip (1088x1920) and the shipped
in-the-wild model. A frame refused by a stream (or a forward that fails) leaves the stream as it was.
HoT: Li et al., CVPR 2024 (arXiv:2311.12028).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from bad_input_lib import WALKWAY

from hot_pose.api import PoseLifter, detect_2d, track_2d
from hot_pose.data.camera import normalize_screen_coordinates
from hot_pose.models import build_model
from hot_pose.wild.lift import sliding_window_lift
from hot_pose.wild.stream import StreamingLifter

pytestmark = pytest.mark.usefixtures("one_torch_thread")

W, H = 1088, 1920
SMALL = dict(frames=27, channel=32, d_hid=64, token_num=9, layer_index=1, depth=2)


def person(frames: int = 10) -> np.ndarray:
    """A plausible COCO-17 person in pixels of the walkway frame, (frames, 17, 2)."""
    rng = np.random.default_rng(0)
    base = rng.uniform([300, 500], [800, 1500], size=(1, 17, 2))
    return (base + rng.normal(0, 3, size=(frames, 17, 2))).astype(np.float32)


@pytest.fixture(scope="module")
def lifter() -> PoseLifter:
    return PoseLifter.load(device="cpu")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """Checkpoints and folders the API cannot use, and a video OpenCV cannot decode."""
    base = tmp_path_factory.mktemp("api_inputs")
    (base / "no_weights").mkdir()
    (base / "no_weights" / "README.txt").write_text("no .pth here")
    (base / "two_weights").mkdir()
    for name in ("a.pth", "b.pth"):
        (base / "two_weights" / name).write_bytes(b"")
    (base / "text.pth").write_text("not a checkpoint\n")
    (base / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    for name, sizes in (("joints15.pth", dict(n_joints=15)), ("channels4.pth", dict(in_channels=4))):
        torch.manual_seed(0)
        args = dict(SMALL, model="mixste.hot_mixste", **sizes)
        model = build_model(args["model"], args)
        torch.save({"model": model.state_dict(), "args": args, "model_config": model.config.to_dict()}, base / name)
    return base


#: (id, call(lifter, files), exception type, words of the message)
CASES = [
    ("lift batch_size=0", lambda lp, f: lp.lift(person(), (W, H), "coco", batch_size=0), ValueError,
     "batch_size must be >= 1, got 0"),
    ("lift batch_size=-1", lambda lp, f: lp.lift(person(), (W, H), "coco", batch_size=-1), ValueError,
     "batch_size must be >= 1, got -1"),
    ("lift batch_size=2.5", lambda lp, f: lp.lift(person(), (W, H), "coco", batch_size=2.5), ValueError,
     "batch_size must be a whole number"),
    ("lift image_size=(inf, h)", lambda lp, f: lp.lift(person(), (math.inf, H), "coco"), ValueError,
     "image_size must be (width, height) in whole pixels between 1 and 16384; got width inf"),
    ("lift image_size=(0, h)", lambda lp, f: lp.lift(person(), (0, H), "coco"), ValueError, "got width 0"),
    ("lift image_size=(-w, h)", lambda lp, f: lp.lift(person(), (-W, H), "coco"), ValueError, "got width -1088"),
    ("lift image_size=(w, nan)", lambda lp, f: lp.lift(person(), (W, math.nan), "coco"), ValueError,
     "got height nan"),
    ("lift image_size=(w, 1e9)", lambda lp, f: lp.lift(person(), (W, 10 ** 9), "coco"), ValueError,
     "got height 1000000000"),
    ("lift image_size=(w.5, h)", lambda lp, f: lp.lift(person(), (W + 0.5, H), "coco"), ValueError,
     "whole pixels"),
    ("lift image_size=(w,)", lambda lp, f: lp.lift(person(), (W,), "coco"), ValueError,
     "image_size must be (width, height) in pixels"),
    ("lift layout unknown", lambda lp, f: lp.lift(person(), (W, H), "openpose"), ValueError,
     "layout must be one of h36m, coco, mediapipe"),
    ("lift keypoints not numbers", lambda lp, f: lp.lift("a person", (W, H), "coco"), ValueError,
     "keypoints must be an array of numbers"),
    ("load device='tpu'", lambda lp, f: PoseLifter.load(device="tpu"), ValueError,
     "device 'tpu' is not a device; use auto, cpu, cuda, cuda:N or mps"),
    ("load device='cuda:7'", lambda lp, f: PoseLifter.load(device="cuda:7"), ValueError, "device cuda:7"),
    ("load dtype='int8'", lambda lp, f: PoseLifter.load(dtype="int8"), ValueError,
     "dtype must be fp32, bf16 or fp16"),
    ("load a folder without .pth", lambda lp, f: PoseLifter.load(f / "no_weights"), FileNotFoundError,
     "it holds no .pth file"),
    ("load a folder of two .pth", lambda lp, f: PoseLifter.load(f / "two_weights"), ValueError,
     "holds several .pth files"),
    ("load ''", lambda lp, f: PoseLifter.load(""), ValueError, "source must be a .pth file, a run folder or a "
     "shipped name"),
    ("load blanks", lambda lp, f: PoseLifter.load("   "), ValueError, "source must be"),
    ("load a number", lambda lp, f: PoseLifter.load(3), ValueError, "source must be"),
    ("load a missing file", lambda lp, f: PoseLifter.load(f / "missing.pth"), FileNotFoundError,
     "no checkpoint"),
    ("load a text file", lambda lp, f: PoseLifter.load(f / "text.pth"), ValueError, "text.pth"),
    ("load 15 joints", lambda lp, f: PoseLifter.load(f / "joints15.pth", device="cpu"), ValueError,
     "is a model of 15 input and 15 output joints"),
    ("load 4 channels", lambda lp, f: PoseLifter.load(f / "channels4.pth", device="cpu"), ValueError,
     "takes 4 channels per joint"),
    ("lift_stream hop=0", lambda lp, f: lp.lift_stream(hop=0), ValueError, "hop must be >= 1, got 0"),
    ("lift_stream hop=-2", lambda lp, f: lp.lift_stream(hop=-2), ValueError, "hop must be >= 1, got -2"),
    ("lift_stream hop=2.5", lambda lp, f: lp.lift_stream(hop=2.5), ValueError, "hop must be a whole number"),
    ("lift_stream lookahead=-1", lambda lp, f: lp.lift_stream(lookahead=-1), ValueError,
     "lookahead must be >= 0, got -1"),
    ("lift_stream lookahead=100", lambda lp, f: lp.lift_stream(lookahead=100), ValueError,
     "lookahead 100 + hop 3 must not exceed the window of 27 frames"),
    ("detect_2d detector='keypoints'", lambda lp, f: detect_2d(WALKWAY, detector="keypoints"), ValueError,
     "detector 'keypoints' reads 2-D keypoints from a file, not from a video"),
    ("detect_2d unknown detector", lambda lp, f: detect_2d(WALKWAY, detector="openpose"), ValueError,
     "unknown detector 'openpose'"),
    ("detect_2d max_frames=0", lambda lp, f: detect_2d(WALKWAY, max_frames=0), ValueError,
     "max_frames must be >= 1, got 0"),
    ("detect_2d max_frames=nan", lambda lp, f: detect_2d(WALKWAY, max_frames=math.nan), ValueError,
     "max_frames must be a whole number"),
    ("detect_2d unknown option", lambda lp, f: detect_2d(WALKWAY, max_frames=1, colour="red"), ValueError,
     "detector 'mediapipe' does not take these options (colour)"),
    ("detect_2d missing video", lambda lp, f: detect_2d(f / "missing.mp4"), FileNotFoundError, "video not found"),
    ("detect_2d corrupt video", lambda lp, f: detect_2d(f / "corrupt.mp4"), ValueError, "cannot open video"),
    ("detect_2d video=None", lambda lp, f: detect_2d(None), ValueError, "video must be a path to a video file"),
    ("track_2d max_persons=0", lambda lp, f: track_2d(WALKWAY, max_persons=0), ValueError,
     "max_persons must be between 1 and 100, got 0"),
    ("track_2d max_persons=1000", lambda lp, f: track_2d(WALKWAY, max_persons=1000), ValueError,
     "max_persons must be between 1 and 100, got 1000"),
    ("track_2d min_track_frames=0", lambda lp, f: track_2d(WALKWAY, min_track_frames=0), ValueError,
     "min_track_frames must be >= 1, got 0"),
    ("track_2d max_frames=-3", lambda lp, f: track_2d(WALKWAY, max_frames=-3), ValueError,
     "max_frames must be >= 1, got -3"),
    ("track_2d detector='keypoints'", lambda lp, f: track_2d(WALKWAY, detector="keypoints"), ValueError,
     "reads 2-D keypoints from a file"),
    ("sliding_window_lift stride=0", lambda lp, f: sliding_window_lift(
        lambda x: x, np.zeros((5, 17, 2), np.float32), 27, stride=0), ValueError, "stride must be between 1 and 27"),
    ("sliding_window_lift stride>F", lambda lp, f: sliding_window_lift(
        lambda x: x, np.zeros((5, 17, 2), np.float32), 27, stride=28), ValueError,
     "stride must be between 1 and 27, got 28"),
    ("sliding_window_lift batch_size=0", lambda lp, f: sliding_window_lift(
        lambda x: x, np.zeros((5, 17, 2), np.float32), 27, batch_size=0), ValueError,
     "batch_size must be >= 1, got 0"),
    ("sliding_window_lift frames=0", lambda lp, f: sliding_window_lift(
        lambda x: x, np.zeros((5, 17, 2), np.float32), 0), ValueError, "frames must be >= 1, got 0"),
    ("StreamingLifter frames=0", lambda lp, f: StreamingLifter(lambda x: x, 0), ValueError,
     "frames must be >= 1, got 0"),
    ("StreamingLifter hop=1.5", lambda lp, f: StreamingLifter(lambda x: x, 27, hop=1.5), ValueError,
     "hop must be a whole number"),
]


@pytest.mark.parametrize("call, error, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_argument_raises_the_documented_error(lifter, files, call, error, words):
    with pytest.raises(Exception) as info:
        call(lifter, files)
    assert type(info.value) is error, (type(info.value), info.value)
    message = str(info.value)
    assert words in message and "\n" not in message, message


def test_enough_cases():
    assert len(CASES) >= 20 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("frame, words", [
    (np.zeros((16, 2), np.float32), "expected 17 joints per frame"),
    (np.zeros((17, 4), np.float32), "expected 2 channels per joint"),
    (np.zeros(17, np.float32), "expected one frame of keypoints (J, C)"),
    (np.full((17, 2), 500.0, np.float32), "not pixels"),
    (np.full((17, 2), np.nan, np.float32), "NaN/inf"),
])
def test_a_refused_push_leaves_the_stream_unchanged(lifter, frame, words):
    """A frame of the wrong shape (or pixels, or NaN) is refused before any state changes: the pushes that follow
    give exactly the poses of a stream that never saw it (the docstring's promise; before, the next valid push
    raised "IndexError: pop from an empty deque")."""
    kp = normalize_screen_coordinates(person(12)[:, :17], W, H)  # any 17 normalised joints
    clean = lifter.lift_stream(hop=3)
    expected = [clean.push(x) for x in kp] + clean.flush()
    stream = lifter.lift_stream(hop=3)
    got = []
    for t, x in enumerate(kp):
        if t in (0, 4):
            with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
                stream.push(frame)
        got.append(stream.push(x))
    got += stream.flush()
    assert len(got) == len(expected) and stream.received == len(kp)
    for a, b in zip(got, expected):
        assert (a is None) == (b is None)
        if a is not None:
            assert a[0] == b[0]
            np.testing.assert_allclose(a[1], b[1], atol=1e-6)


def test_a_stream_that_ended_refuses_more_frames(lifter):
    kp = normalize_screen_coordinates(person(4)[:, :17], W, H)
    stream = lifter.lift_stream(hop=3)
    for x in kp:
        stream.push(x)
    assert len(stream.flush()) > 0
    with pytest.raises(RuntimeError, match="flushed"):
        stream.push(kp[0])


def test_a_failing_forward_leaves_the_stream_unchanged():
    """The model's own error (here: a simulated one on the third forward) does not corrupt the stream either."""
    torch.manual_seed(0)
    net = build_model("mixste.hot_mixste", **SMALL).eval()
    calls = {"n": 0}

    def flaky(x, index=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated out of memory")
        return net(x) if index is None else net(x, index=index)

    kp = np.random.default_rng(1).uniform(-1, 1, (8, 17, 2)).astype(np.float32)
    reference = StreamingLifter(net, 27, hop=1)
    expected = [reference.push(x) for x in kp]
    stream = StreamingLifter(flaky, 27, hop=1)
    got = []
    for t, x in enumerate(kp):
        if t == 2:
            with pytest.raises(RuntimeError, match="simulated"):
                stream.push(x)
        got.append(stream.push(x))
    for a, b in zip(got, expected):
        assert a[0] == b[0]
        np.testing.assert_allclose(a[1], b[1], atol=1e-6)


def test_load_does_not_pick_a_file_of_the_current_folder(tmp_path, monkeypatch, lifter):
    """``load("")`` once meant "." and loaded whatever .pth the current folder held."""
    torch.save({"model": {}}, tmp_path / "best.pth")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="source must be"):
        PoseLifter.load("")
