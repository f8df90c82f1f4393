"""The demo's overlapped stages (``hot_pose.wild.stages``) and its fast 3-D view (``hot_pose.wild.render``).

``--pipeline overlapped`` (decoding beside the 2-D detector, composing beside the encoder, a cache of shrunk frames
between the passes) must write exactly what ``--pipeline sequential`` writes: the same arrays in both npz files, the
same JSON (apart from the measured seconds in ``timings_s``), identical frames handed to the encoder and a
byte-identical mp4, on the real walkway clip and
on the real two-person clip, with the whole video cached, part of it (the render pass decodes the first frames
again) or none. The thread plumbing is checked on synthetic frames (order, errors, early stops, bounded queues),
the OpenCV-drawn 3-D view against matplotlib's own drawing of the same pose, and the new flags' bad values are
one-line errors. Speed itself is measured by ``python -m tools.demo_speed`` (``benchmarks/demo_speed.md``), never
asserted here. HoT: Li et al., CVPR 2024 (arXiv:2311.12028).
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from hot_pose.cli.demo import main
from hot_pose.wild.render import (
    BONES,
    COLOURS_BGR,
    RADIUS,
    MultiPersonRenderer,
    Pose3DView,
    SideBySideRenderer,
    left_panel,
    left_panel_size,
    view_world,
)
from hot_pose.wild.stages import QUEUE_FRAMES, FrameStages, PanelCache, threaded
from test_demo_pipeline import needs_mediapipe  # skips without MediaPipe, except in CI (where it must be there)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLIP_FRAMES = 24
#: MiB holding 5 of the walkway's 408 x 720 panels (881 KB each): the render pass decodes the first 19 again
PART_CACHE_MB = 5


def _outputs(folder: Path) -> dict:
    """Everything a run wrote, comparable: npz arrays, the JSON without its measured seconds, the mp4's bytes."""
    out = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".npz":
            with np.load(path) as f:
                out[path.name] = {k: f[k] for k in f.files}
        elif path.suffix == ".json" and not path.name.startswith("."):
            doc = json.loads(path.read_text())
            assert set(doc.pop("timings_s")) >= {"detect_2d", "lift_3d", "render"}
            out[path.name] = doc
        elif path.suffix == ".mp4":
            out[path.name] = path.read_bytes()
    return out


def _assert_same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for name, value in a.items():
        if name.endswith(".npz"):
            assert sorted(value) == sorted(b[name]), name
            for key, array in value.items():
                other = b[name][key]
                assert array.dtype == other.dtype and array.shape == other.shape, (name, key)
                assert np.array_equal(array, other, equal_nan=array.dtype.kind == "f"), (name, key)
        else:
            assert value == b[name], f"{name} differs"


def _run(argv, out: Path, monkeypatch) -> dict:
    """Run the demo; its outputs, and the SHA-256 of every frame handed to the encoder (exact, before the codec's
    rounding, which may hide a small difference)."""
    import hashlib

    from hot_pose.wild.video import VideoWriter

    encoded = []
    write = VideoWriter.write

    def recording(self, frame):
        encoded.append(hashlib.sha256(np.ascontiguousarray(frame).tobytes()).hexdigest())
        write(self, frame)

    with monkeypatch.context() as patch:
        patch.setattr(VideoWriter, "write", recording)
        assert main(argv + ["--output", str(out), "--quiet"]) == 0
    return dict(_outputs(out), frames_encoded=encoded)


@needs_mediapipe
def test_overlapped_demo_writes_what_the_sequential_one_writes(video_dir, tmp_path, small_checkpoint, monkeypatch):
    argv = ["--video", str(video_dir / "walkway_cam03.mp4"), "--checkpoint", str(small_checkpoint),
            "--max-frames", str(CLIP_FRAMES)]
    sequential = _run(argv + ["--pipeline", "sequential"], tmp_path / "sequential", monkeypatch)
    assert len(sequential["walkway_cam03.mp4"]) > 10_000 and len(sequential["frames_encoded"]) == CLIP_FRAMES
    with np.load(tmp_path / "sequential" / "poses_3d.npz") as f:
        assert f["poses_3d"].shape == (CLIP_FRAMES, 17, 3)
    for name, extra in (("all cached", []), ("part cached", ["--frame-cache", str(PART_CACHE_MB)]),
                        ("none cached", ["--frame-cache", "0"])):
        _assert_same(_run(argv + extra, tmp_path / name.replace(" ", "_"), monkeypatch), sequential)


@needs_mediapipe
def test_overlapped_multi_person_demo_writes_what_the_sequential_one_writes(tmp_path, small_checkpoint, monkeypatch):
    from hot_pose.wild.sample import MULTI_SAMPLE_NAME, demo_set

    argv = ["--video", str(demo_set(which="multiperson") / MULTI_SAMPLE_NAME), "--multi", "--checkpoint",
            str(small_checkpoint), "--max-frames", "20", "--min-track-frames", "5"]
    sequential = _run(argv + ["--pipeline", "sequential"], tmp_path / "sequential", monkeypatch)
    with np.load(tmp_path / "sequential" / "poses_3d.npz") as f:
        assert f["poses_3d"].shape[0] == 2  # both persons: the multi-person renderer is what is compared
    _assert_same(_run(argv + ["--frame-cache", "3"], tmp_path / "overlapped", monkeypatch), sequential)


def test_keypoints_on_a_blank_canvas_overlapped_and_sequential(tmp_path, small_checkpoint, monkeypatch):
    """No video: the keypoints alone on a blank canvas (nothing cached) give the same files both ways."""
    rng = np.random.default_rng(0)
    base = np.array([[960, 300], [950, 290], [970, 290], [940, 295], [980, 295], [900, 400], [1020, 400],
                     [880, 500], [1040, 500], [870, 600], [1050, 600], [920, 620], [1000, 620], [915, 780],
                     [1005, 780], [910, 940], [1010, 940]], np.float32)
    keypoints = base[None] + rng.normal(0, 3, (30, 17, 2)).astype(np.float32)
    np.savez(tmp_path / "k.npz", keypoints=keypoints)
    argv = ["--keypoints", str(tmp_path / "k.npz"), "--size", "1920x1080", "--checkpoint", str(small_checkpoint)]
    _assert_same(_run(argv, tmp_path / "overlapped", monkeypatch),
                 _run(argv + ["--pipeline", "sequential"], tmp_path / "seq", monkeypatch))


# --- the thread plumbing, on synthetic frames -------------------------------------------------------------------

def _frames(count: int, size=(64, 48)):
    """``frames(limit)``: distinct synthetic BGR frames (each one's value is its index)."""
    def frames(limit=None):
        for t in range(count if limit is None else min(limit, count)):
            yield np.full((size[1], size[0], 3), t % 256, np.uint8)
    return frames


def test_threaded_keeps_order_raises_at_the_failing_item_and_stops_early():
    assert list(threaded(range(100), "t")) == list(range(100))

    def failing():
        yield from range(5)
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for item in threaded(failing(), "t"):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]

    closed = threading.Event()
    produced = []

    def endless():
        try:
            t = 0
            while True:
                produced.append(t)
                yield t
                t += 1
        finally:
            closed.set()

    before = threading.active_count()
    items = threaded(endless(), "t", maxsize=2)
    consumed = 0
    for item in items:
        consumed += 1
        assert len(produced) - consumed <= 2 + 2  # the queue, one being put, one being made: memory bounded
        if item == 50:
            break
    items.close()  # the consumer gives up: the worker stops and closes its source in its own thread
    assert closed.wait(5) and threading.active_count() == before


def test_panel_cache_keeps_the_most_recent_frames_within_its_budget():
    cache = PanelCache(budget=3 * 100)
    for t in range(10):
        cache.add(t, np.zeros(100, np.uint8))
    assert cache.span() == (7, 10) and cache.bytes == 300 and len(cache) == 3
    assert cache.pop()[0] == 7 and cache.span() == (8, 10)
    cache.add(0, np.zeros(100, np.uint8))  # not the next frame: a new pass
    assert cache.span() == (0, 1)
    assert PanelCache(0).span() == (0, 0)
    empty = PanelCache(50)
    empty.add(0, np.zeros(100, np.uint8))  # larger than the budget: not kept
    assert len(empty) == 0


@pytest.mark.parametrize("cache_frames", [0, 3, 10, 40])
def test_panels_are_the_same_with_any_cache(cache_frames):
    count, size = 25, (32, 24)
    panel = lambda frame: left_panel(frame, size)  # noqa: E731
    frame_bytes = size[0] * size[1] * 3
    reference = [panel(f) for f in _frames(count)()]
    stages = FrameStages(_frames(count), overlapped=True, panel=panel, cache_bytes=cache_frames * frame_bytes)
    detected = [int(f[0, 0, 0]) for f in stages.frames(None)]
    assert detected == list(range(count))
    assert stages.cache.span() == ((count - min(cache_frames, count), count) if cache_frames else (0, 0))
    got = list(stages.panels(count))
    assert len(got) == count and all(np.array_equal(a, b) for a, b in zip(got, reference))
    assert len(stages.cache) == 0 and stages.cache.bytes == 0  # freed as the pass went

    sequential = FrameStages(_frames(count), overlapped=False, panel=panel, cache_bytes=10 ** 9)
    assert sum(1 for _ in sequential.frames(None)) == count and len(sequential.cache) == 0  # never caches
    assert all(np.array_equal(a, b) for a, b in zip(sequential.panels(count), reference))


def test_render_pass_writes_in_order_and_counts_a_shorter_second_decode():
    class Writer:
        def __init__(self):
            self.frames = []

        def write(self, frame):
            self.frames.append(int(frame[0, 0, 0]))

    for overlapped in (True, False):
        stages = FrameStages(_frames(30), overlapped=overlapped, panel=lambda f: f, cache_bytes=0)
        list(stages.frames(None))
        writer = Writer()
        assert stages.render(writer, 30, lambda t, panel: panel + 1) == 30
        assert writer.frames == [t + 1 for t in range(30)]
        assert set(stages.steps()) >= {"decode", "panel", "compose", "encode"}
        short = FrameStages(_frames(20), overlapped=overlapped, panel=lambda f: f)
        assert short.render(Writer(), 30, lambda t, panel: panel) == 20  # the caller reports the mismatch

    def broken(t, panel):
        if t == 7:
            raise ValueError("bad pose")
        return panel

    stages = FrameStages(_frames(30), overlapped=True, panel=lambda f: f)
    writer = Writer()
    with pytest.raises(ValueError, match="bad pose"):
        stages.render(writer, 30, broken)
    assert writer.frames == list(range(7))
    with pytest.raises(ValueError, match="cache_bytes"):
        FrameStages(_frames(3), cache_bytes=-1)


def test_queue_bound_is_small():
    assert 1 <= QUEUE_FRAMES <= 8  # frames in flight between two threads (each up to a decoded 4K frame)


# --- the 3-D view: OpenCV on matplotlib's static background and projection ------------------------------------

def _matplotlib_view(pose: np.ndarray, size: int) -> np.ndarray:
    """The reference demo's drawing of one pose: matplotlib lines, limits moved to the root (BGR image)."""
    import cv2
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size / 100, size / 100), dpi=100)
    canvas = FigureCanvasAgg(figure)
    ax = figure.add_axes((0, 0, 1, 0.94), projection="3d")
    ax.view_init(elev=15.0, azim=70.0)
    ax.set_box_aspect((1, 1, 1))
    world = view_world(pose)
    from hot_pose.wild.render import BONE_SIDES

    for (a, b), side in zip(BONES, BONE_SIDES):
        rgb = tuple(c / 255 for c in COLOURS_BGR[side][::-1])
        ax.plot(*([world[a, i], world[b, i]] for i in range(3)), lw=3, color=rgb, solid_capstyle="round")
    root = world[0]
    ax.set_xlim3d(root[0] - RADIUS, root[0] + RADIUS)
    ax.set_ylim3d(root[1] - RADIUS, root[1] + RADIUS)
    ax.set_zlim3d(root[2] - RADIUS, root[2] + RADIUS)
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_ticklabels([])
        axis.set_pane_color((1.0, 1.0, 1.0, 1.0))
    canvas.draw()
    return cv2.cvtColor(np.asarray(canvas.buffer_rgba()), cv2.COLOR_RGBA2BGR)


def _bone_mask(image: np.ndarray) -> np.ndarray:
    """Pixels of the coloured bones (grid, panes and text are grey)."""
    img = image.astype(int)
    return (img.max(axis=-1) - img.min(axis=-1)) > 60


def test_the_3d_view_puts_the_bones_where_matplotlib_draws_them():
    rng = np.random.default_rng(1)
    size = 360
    view = Pose3DView(size)
    for _ in range(3):
        pose = rng.normal(0, 0.25, (17, 3))
        pose[0] = 0
        ours, reference = _bone_mask(view.render(pose)), _bone_mask(_matplotlib_view(pose, size))
        assert reference.sum() > 500
        overlap = (ours & reference).sum() / (ours | reference).sum()
        assert overlap > 0.6, overlap  # 4-px lines one pixel off each other would overlap less than 0.5
        ys, xs = np.nonzero(ours)
        ry, rx = np.nonzero(reference)
        assert abs(xs.mean() - rx.mean()) < 1.0 and abs(ys.mean() - ry.mean()) < 1.0
    view.close()


def test_renderers_compose_what_render_draws():
    frame = np.random.default_rng(0).integers(0, 255, (480, 300, 3), np.uint8)
    pose = np.zeros((17, 3))
    pose[1:, 1] = np.linspace(-0.8, 0.8, 16)
    kp = np.random.default_rng(1).uniform(20, 280, (17, 2))
    single = SideBySideRenderer((300, 480), "t", max_height=240)
    assert (single.left_width, single.height) == left_panel_size((300, 480), 240) == (150, 240)
    out = single.render(frame, kp, pose, True, 3)
    assert out.shape == (240, 150 + 240, 3)
    assert np.array_equal(out, single.compose(single.panel(frame), kp, pose, True, 3))
    multi = MultiPersonRenderer((300, 480), 2, "t", max_height=240)
    args = (np.stack([kp, kp + 5]), np.stack([pose, pose]), np.array([True, False]), np.array([True, False]), [0, 1])
    out = multi.render(frame, *args, index=2)
    assert out.shape == (240, 390, 3) and np.array_equal(out, multi.compose(multi.panel(frame), *args, index=2))
    assert left_panel(frame, (300, 480)) is frame  # the size already: no copy (callers draw on copies)


# --- the new flags -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("flags,message", [
    (["--pipeline", "fast"], "argument --pipeline: invalid choice: 'fast'"),
    (["--frame-cache", "-1"], "argument --frame-cache: must be between 0 and"),
    (["--frame-cache", "lots"], "argument --frame-cache: expected a whole number, got 'lots'"),
    (["--frame-cache", "1e9"], "argument --frame-cache: expected a whole number"),
    (["--stream", "--pipeline", "sequential"], "--pipeline works without --stream only"),
    (["--stream", "--frame-cache", "0"], "--frame-cache works without --stream only"),
])
def test_bad_speed_flags_are_one_line_errors(tmp_path, capsys, flags, message, video_dir):
    out = tmp_path / "out"
    try:
        code = main(["--video", str(video_dir / "walkway_cam03.mp4")] + flags + ["--output", str(out), "--quiet"])
    except SystemExit as exc:  # argparse: status 2
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code in (1, 2) and err.startswith("error:") and message in err and "\n" not in err, err
    assert not out.exists()


def test_bad_speed_options_from_python_are_one_line_errors(video_dir, tmp_path):
    from hot_pose.wild.errors import DemoError
    from hot_pose.wild.preflight import DemoOptions, preflight

    video = str(video_dir / "walkway_cam03.mp4")
    with pytest.raises(DemoError, match="--pipeline must be one of overlapped, sequential, got 'parallel'"):
        preflight(DemoOptions(video=video, output=str(tmp_path / "o"), pipeline="parallel"))
    with pytest.raises(DemoError, match="--frame-cache must be"):
        preflight(DemoOptions(video=video, output=str(tmp_path / "o"), frame_cache=-5))
    assert not (tmp_path / "o").exists()
