"""Real-time streaming 3-D lifting: 2-D frames in one at a time, each frame's 3-D pose out after a fixed delay.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028); backbones as in ``hot_pose.wild.lift``.

:class:`StreamingLifter` keeps only the last F (+ hop − 1) frames of 2-D keypoints. Every ``hop`` frames it
runs the model once on the window that ends at the newest frame and keeps the poses of ``hop`` frames
that lie ``lookahead`` frames before its end (seq2seq), or the centres of ``hop`` windows (seq2frame,
where the look-ahead is the half window, F // 2). Poses are then handed out one per pushed frame, so the
**latency is fixed**: the pose of frame t comes back from the push of frame t + ``latency``, with

    latency = lookahead + hop − 1   frames   (seq2frame: F // 2 + hop − 1).

``hop = 1, lookahead = 0`` is a causal lifter with no delay but one full forward per frame; a larger hop
divides the lifting cost per frame by ``hop`` at the price of ``hop − 1`` frames of delay. With
``background=True`` each forward runs in a worker thread while the caller goes on decoding and detecting
the next ``hop`` frames (on a multi-core CPU the two overlap); its poses are due one hop later, so then

    latency = lookahead + 2·hop − 1   frames,

still fixed: if a forward is late, ``push`` waits for it. Before the
first F frames the window is padded with copies of frame 0 (as the offline lift pads); :meth:`flush` ends
a stream by padding with the last frame. ``run_stream`` adds decoding and MediaPipe 2-D detection for a
video file or a camera and measures frames per second per stage.
"""
from __future__ import annotations

import logging
import sys
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from hot_pose.utils.checks import check_int
from hot_pose.wild.checks import MAX_ABS_NORMALISED, check_lift_input, check_lifted_poses
from hot_pose.wild.errors import DemoError
from hot_pose.wild.lift import flip_keypoints, forward_pose
from hot_pose.wild.preflight import STREAM_FILE

_logger = logging.getLogger(__name__)

__all__ = ["StreamingLifter", "StreamResult", "run_stream", "open_source"]

#: one emitted pose: (frame number, (J, 3) root-relative pose in metres)
StreamPose = Tuple[int, np.ndarray]


class StreamingLifter:
    """Fixed-latency, bounded-memory lifting of a stream of 2-D poses.

    Args:
        model: callable (B, F, J, C) → ``LiftOutput`` or a (B, F', J, 3) tensor (e.g. an
            ``hot_pose.models.inference.InferenceModel``).
        frames: the model's window length F.
        mode: ``"seq2seq"`` (one pose per window frame) or ``"seq2frame"`` (the centre frame's pose).
        lookahead: seq2seq: future frames the model sees beyond the emitted ones (0 = causal). Ignored for
            seq2frame (always F // 2).
        hop: frames between two forwards; poses of ``hop`` frames come from each.
        flip: average with the mirrored input (doubles the cost).
        joints_left: left joints (swapped with ``joints_right`` when mirroring).
        joints_right: right joints.
        device: where the model runs.
        background: run each forward in a worker thread (one more hop of latency, see the module docstring).
        max_abs: largest |value| ``push`` accepts (default ``hot_pose.wild.checks.MAX_ABS_NORMALISED`` = 8: normalised
            screen coordinates are within ±1 (x) and ±h/w (y) inside the frame; pixels are far beyond).
        joints: joints per pushed frame (default: the model's ``config.n_joints``; without a config, the first
            push fixes it).
        channels: channels per joint (default: the model's ``config.in_channels``; a 3-channel model also takes
            2 channels, as the models do, but one stream keeps one shape).

    Raises:
        ValueError: ``frames`` or ``hop`` below 1 or not whole numbers, a negative look-ahead, or
            ``lookahead + hop > frames`` (seq2seq).
    """

    def __init__(
        self,
        model: Callable,
        frames: int,
        mode: str = "seq2seq",
        lookahead: int = 0,
        hop: int = 1,
        flip: bool = False,
        joints_left: Sequence[int] = (4, 5, 6, 11, 12, 13),
        joints_right: Sequence[int] = (1, 2, 3, 14, 15, 16),
        device: Union[str, torch.device] = "cpu",
        background: bool = False,
        max_abs: float = MAX_ABS_NORMALISED,
        joints: Optional[int] = None,
        channels: Optional[int] = None,
    ) -> None:
        if mode not in ("seq2seq", "seq2frame"):
            raise ValueError(f"mode must be 'seq2seq' or 'seq2frame', got {mode!r}")
        frames = check_int(frames, "frames", 1)
        hop = check_int(hop, "hop", 1)
        lookahead = check_int(lookahead, "lookahead", 0)
        if mode == "seq2frame":
            lookahead = frames // 2
        elif lookahead + hop > frames:
            raise ValueError(f"lookahead {lookahead} + hop {hop} must not exceed the window of {frames} frames")
        self.model, self.frames, self.mode = model, frames, mode
        config = getattr(model, "config", None)
        joints = joints if joints is not None else getattr(config, "n_joints", None)
        channels = channels if channels is not None else getattr(config, "in_channels", None)
        self.joints = None if joints is None else check_int(joints, "joints", 1)
        self.channels = None if channels is None else check_int(channels, "channels", 1)
        self.max_abs = float(max_abs)
        self.lookahead, self.hop, self.flip = lookahead, hop, flip
        self.joints_left, self.joints_right = tuple(joints_left), tuple(joints_right)
        self.device = torch.device(device)
        span = frames + (hop - 1 if mode == "seq2frame" else 0)  # frames the next forward needs
        self._buffer: Deque[np.ndarray] = deque(maxlen=span)
        self._pending: Deque[StreamPose] = deque()
        self._running: Deque[Future] = deque()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lift") if background else None
        self.received = 0  # real frames pushed
        self._pushed = 0  # frames in the stream, padding after flush() included
        self.emitted = 0
        self.forwards = 0
        self.lift_seconds = 0.0
        self._flushed = False
        self._broken: Optional[str] = None  # why the stream cannot go on (a forward failed in the background)

    @property
    def background(self) -> bool:
        """Whether forwards run in a worker thread."""
        return self._pool is not None

    @property
    def latency(self) -> int:
        """Frames between a frame's arrival and its pose: the pose of frame t is returned by the push of t + latency."""
        return self.lookahead + self.hop - 1 + (self.hop if self.background else 0)

    def close(self) -> None:
        """Stop the worker thread (background mode); pending forwards are finished first."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> "StreamingLifter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def buffered_frames(self) -> int:
        """2-D frames held in memory (bounded by F + hop − 1)."""
        return len(self._buffer)

    def push(self, keypoints: np.ndarray) -> Optional[StreamPose]:
        """Add the next frame's normalised 2-D keypoints (J, C); returns the pose now due, if any.

        Returns:
            ``(t, pose (J_out, 3))`` for frame t = (frames pushed so far) − 1 − ``latency``, or ``None``
            while the stream is younger than the latency.

        Raises:
            ValueError: not one frame (J, C) with the model's joints and channels (or another shape than the
                frames before), NaN/inf values, or values beyond ±``max_abs`` (pixels: normalise with
                ``hot_pose.data.camera.normalize_screen_coordinates(kp, w, h)``). The stream is unchanged then, and
                so it is when the model's forward raises (the frame was not added).
            RuntimeError: a push after ``flush`` (start a new stream), or after a background forward failed.
        """
        if self._flushed:
            raise RuntimeError("this stream was flushed (ended); start a new StreamingLifter for more frames")
        if self._broken:
            raise RuntimeError(f"this stream stopped: {self._broken}; start a new StreamingLifter")
        kp = np.asarray(keypoints)
        self._check_frame(kp)
        check_lift_input(kp, self.max_abs)
        kp = kp.astype(np.float32)
        saved = (list(self._buffer), self._pushed)
        try:
            pose = self._advance(kp)
        except BaseException:
            if self._pool is None:  # inline: undo, as if the frame had never come
                self._buffer.clear()
                self._buffer.extend(saved[0])
                self._pushed = saved[1]
            raise
        self.received += 1
        return pose

    def _check_frame(self, kp: np.ndarray) -> None:
        """Refuse a frame the model cannot take (``ValueError``), before anything changes."""
        if kp.ndim != 2:
            raise ValueError(f"expected one frame of keypoints (J, C), got shape {kp.shape}")
        joints, channels = kp.shape
        if self.joints is not None and joints != self.joints:
            raise ValueError(f"expected {self.joints} joints per frame (the model's), got shape {kp.shape}")
        if self.channels is not None and channels not in ((self.channels, 2) if self.channels == 3
                                                          else (self.channels,)):
            what = "x, y" if self.channels == 2 else "x, y and a confidence (or x, y)"
            raise ValueError(f"expected {self.channels} channels per joint ({what}), got shape {kp.shape}")
        if self._buffer and kp.shape != self._buffer[-1].shape:
            raise ValueError(f"every frame of a stream has the same shape: {self._buffer[-1].shape} so far, got "
                             f"{kp.shape}")

    def flush(self) -> List[StreamPose]:
        """End of stream: pad with the last frame until every pushed frame has its pose; returns them in order.
        A stream that had frames ends here: ``push`` refuses more (start a new one)."""
        out: List[StreamPose] = []
        if not self._buffer:
            return out
        self._flushed = True
        last = self._buffer[-1]
        while self.emitted < self.received:
            pose = self._advance(last)
            if pose is not None and pose[0] < self.received:
                out.append(pose)
        return out

    def _advance(self, kp: np.ndarray) -> Optional[StreamPose]:
        if not self._buffer:  # left edge padding: the window starts full of frame 0
            self._buffer.extend([kp] * self._buffer.maxlen)
        else:
            self._buffer.append(kp)
        newest = self._pushed
        self._pushed += 1
        first = newest - (self.lookahead + self.hop - 1)  # the first frame of the block this window completes
        if first >= 0 and first % self.hop == 0:
            window = np.stack(self._buffer)  # (span, J, C), a copy: the buffer moves on
            if self._pool is None:
                self._pending.extend(self._compute(window, first))
            else:
                self._running.append(self._pool.submit(self._compute, window, first))
        due = newest - self.latency
        if due < 0:
            return None
        while (not self._pending or self._pending[0][0] > due) and self._running:
            try:
                self._pending.extend(self._running.popleft().result())  # waits only if the forward is late
            except Exception as exc:
                self._broken = f"a forward in the background failed ({exc.__class__.__name__}: {exc})"
                raise
        self.emitted += 1
        return self._pending.popleft()

    def _compute(self, window: np.ndarray, first: int) -> List[StreamPose]:
        """One forward on ``window`` (the buffered frames); the poses of frames first … first + hop − 1."""
        start = time.perf_counter()
        if self.mode == "seq2seq":
            x = torch.from_numpy(window[None])  # (1, F, J, C), the window ending at the newest frame
        else:
            x = torch.from_numpy(np.stack([window[i:i + self.frames] for i in range(self.hop)]))  # (hop, F, J, C)
        pose = self._predict(x.to(self.device))  # seq2seq (1, F, J, 3); seq2frame (hop, J, 3)
        if self.mode == "seq2seq":
            end = self.frames - 1 - self.lookahead  # window position of frame first + hop − 1
            pose = pose[0, end - self.hop + 1:end + 1]  # (hop, J, 3)
        pose = pose - pose[:, :1]  # root-relative
        self.forwards += 1
        self.lift_seconds += time.perf_counter() - start
        return [(first + i, p) for i, p in enumerate(pose.numpy())]

    @torch.no_grad()
    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F, J, C) → seq2seq (B, F, J, 3), seq2frame (B, J, 3) centre poses; flip-averaged if asked."""
        pose, index = forward_pose(self.model, x)
        if self.flip:
            mirrored, _ = forward_pose(self.model, flip_keypoints(x, self.joints_left, self.joints_right), index)
            pose = (pose + flip_keypoints(mirrored, self.joints_left, self.joints_right)) / 2
        pose = pose.float().cpu()
        if self.mode == "seq2frame":
            centre = self.frames // 2
            if index is None:
                pos = torch.full((pose.shape[0],), centre if pose.shape[1] == self.frames else 0)
            else:
                pos = (index.cpu() - centre).abs().argmin(dim=1)  # TPC keeps the centre frame
            pose = pose[torch.arange(pose.shape[0]), pos]  # (B, J, 3)
        return pose


# ---------------------------------------------------------------------------------------------
# video file / camera → MediaPipe 2-D → streaming lifter
# ---------------------------------------------------------------------------------------------
@dataclass
class StreamResult:
    """What ``run_stream`` measured.

    Attributes:
        frames: frames decoded.
        lifted: frames that got a 3-D pose (frames before the first detected person get none).
        seconds: stage → wall seconds of the loop (``decode``, ``detect``, ``lift``: time spent in ``push``,
            waiting included; ``total``) and ``forward``: the model's own time (in the worker thread when
            the lifter runs in the background, overlapping the others).
        latency_frames: the lifter's fixed latency in frames.
        fps: frames per second of the whole loop (decode + 2-D + lifting, no rendering).
        source_fps: the source's frame rate (for the latency in seconds).
        poses: (lifted, J, 3) poses if kept, else ``None``.
        first_frame: number of the first lifted frame.
        settings: the lifter's settings.
    """

    frames: int
    lifted: int
    seconds: Dict[str, float]
    latency_frames: int
    fps: float
    source_fps: float
    poses: Optional[np.ndarray] = None
    first_frame: int = 0
    settings: Dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """One paragraph for the console."""
        per = {k: 1000 * v / max(self.frames, 1) for k, v in self.seconds.items()}
        background = " in the background" if self.settings.get("background") else ""
        return (
            f"{self.frames} frames at {self.fps:.1f} frames/s end to end (per frame: decode {per['decode']:.1f} ms, "
            f"2-D {per['detect']:.1f} ms, lifting {per['lift']:.1f} ms, model {per['forward']:.1f} ms{background}; "
            f"no rendering); fixed latency {self.latency_frames} frames = "
            f"{self.latency_frames / self.source_fps:.2f} s at {self.source_fps:.0f} fps"
        )


def open_source(source: Union[str, int, Path]):
    """``cv2.VideoCapture`` of a video file or a camera index ("0" → camera 0).

    Raises:
        DemoError: the file or camera cannot be opened.
    """
    import cv2

    src: Union[str, int] = str(source)
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        src = int(source)
    elif not Path(src).is_file():
        raise DemoError(f"video not found: {source} (pass a video file or a camera index such as 0)")
    cap = cv2.VideoCapture(src)
    if not cap.isOpened():
        raise DemoError(f"cannot open {'camera' if isinstance(src, int) else 'video'} {source}")
    return cap


def run_stream(
    source: Union[str, int, Path],
    lifter: StreamingLifter,
    detector: Any,
    in_channels: int = 2,
    max_frames: Optional[int] = None,
    keep_poses: bool = True,
    on_pose: Optional[Callable[[int, np.ndarray], Any]] = None,
) -> StreamResult:
    """Decode frames one at a time, detect 2-D (COCO-17 → H36M-17), lift with ``lifter``.

    Frames before the first detected person get no pose; afterwards a frame without a detection repeats
    the last detected keypoints (with score 0), causally. A detection the lifter cannot take (NaN/inf, or
    beyond ``lifter.max_abs`` once normalised) counts as no detection, with a warning. The video is never
    held in memory.

    Args:
        source: video file or camera index.
        lifter: the streaming lifter.
        detector: a ``hot_pose.wild.detectors`` detector (``detect_frame(frame) -> (kp, scores, box) or None``).
        in_channels: 3 appends the detection score as a confidence channel.
        max_frames: stop after this many frames (a camera runs until interrupted otherwise).
        keep_poses: collect the poses in the result (memory grows with the stream; off for cameras).
        on_pose: called with ``(frame number, pose (J, 3))`` as each pose is emitted.
    """
    import cv2

    from hot_pose.data.camera import normalize_screen_coordinates
    from hot_pose.wild.preprocess import coco_to_h36m

    cap = open_source(source)
    source_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    source_fps = source_fps if np.isfinite(source_fps) and 0 < source_fps < 1000 else 25.0
    seconds = dict(decode=0.0, detect=0.0, lift=0.0)
    poses: List[np.ndarray] = []
    last: Optional[np.ndarray] = None
    first_frame, frames = -1, 0
    refused = 0

    def emit(item: Optional[StreamPose]) -> None:
        if item is None:
            return
        if keep_poses:
            poses.append(item[1])
        if on_pose is not None:
            on_pose(first_frame + item[0], item[1])

    start = time.perf_counter()
    try:
        while max_frames is None or frames < max_frames:
            t0 = time.perf_counter()
            ok, frame = cap.read()
            t1 = time.perf_counter()
            seconds["decode"] += t1 - t0
            if not ok or frame is None or frame.size == 0:
                break
            frames += 1
            result = detector.detect_frame(frame)
            t2 = time.perf_counter()
            seconds["detect"] += t2 - t1
            x = None
            if result is not None:
                kp, sc = coco_to_h36m(np.asarray(result[0], np.float32)[None], np.asarray(result[1], np.float32)[None])
                x = normalize_screen_coordinates(kp[0], w=frame.shape[1], h=frame.shape[0])  # (17, 2)
                x = np.concatenate([x, sc[0][:, None]], axis=-1) if in_channels == 3 else x
                try:
                    check_lift_input(x, lifter.max_abs)
                except ValueError as exc:
                    if not refused:
                        _logger.warning("frame %d: 2-D detection refused (%s); treated as no detection",
                                        frames - 1, exc)
                    refused += 1
                    x = None
            if x is not None:
                last = x
                if first_frame < 0:
                    first_frame = frames - 1
            elif last is not None and in_channels == 3:
                last = np.concatenate([last[:, :2], np.zeros((last.shape[0], 1), np.float32)], axis=-1)
            if last is not None:
                emit(lifter.push(last))
            seconds["lift"] += time.perf_counter() - t2
        t2 = time.perf_counter()
        for item in lifter.flush():
            emit(item)
        seconds["lift"] += time.perf_counter() - t2
    finally:
        cap.release()
    if refused:
        _logger.warning("%d of %d frames had a 2-D detection the lifter could not take", refused, frames)
    seconds["total"] = time.perf_counter() - start
    seconds["forward"] = lifter.lift_seconds
    settings = dict(frames=lifter.frames, mode=lifter.mode, lookahead=lifter.lookahead, hop=lifter.hop,
                    flip=lifter.flip, forwards=lifter.forwards, background=lifter.background)
    return StreamResult(
        frames=frames, lifted=lifter.emitted, seconds=seconds, latency_frames=lifter.latency,
        fps=frames / seconds["total"] if seconds["total"] > 0 else 0.0, source_fps=source_fps,
        poses=np.stack(poses) if keep_poses and poses else None, first_frame=max(first_frame, 0),
        settings=settings,
    )


def stream_main(args: Any) -> int:
    """``demo/vis.py --stream``: lift a video file or camera live and report speed and latency.

    Uses ``args.video`` (file, "sample" or a camera index), ``args.model``, ``args.checkpoint``,
    ``args.frames``, ``args.device``, ``args.max_frames``, ``args.output`` and the stream flags ``args.hop``
    (default F // 9: 27 frames for F = 243), ``args.lookahead`` (0), ``args.dtype`` ("auto": bf16 where the CPU
    has native bf16), ``args.background`` (False: lift inline; True overlaps lifting with decoding and 2-D
    detection for more frames/s at one more hop of latency) and ``args.stream_flip`` (False: no flip
    averaging, which would double the lifting cost); missing ones take their defaults.
    Writes the summary line to stdout (and ``poses_3d_stream.npz`` into ``args.output`` if given, by the output
    folder rule of ``hot_pose.wild.outputs``: it never replaces a file the demo did not write).

    Raises:
        DemoError: a bad flag value (device, numbers, ``--lookahead`` + ``--hop`` beyond the window), a missing
            video or camera, an output that would replace a file the demo did not write, a checkpoint the demo
            cannot run.
    """
    from hot_pose.models.inference import prepare_for_inference
    from hot_pose.utils.checks import check_device
    from hot_pose.wild.detectors import build_detector
    from hot_pose.wild.lift import h36m_sides, load_lifter
    from hot_pose.wild.outputs import Staging
    from hot_pose.wild.preflight import stream_preflight

    video, is_camera, plan = stream_preflight(args)  # numbers, device name, video, output: before anything loads
    frames, hop = getattr(args, "frames", None), getattr(args, "hop", None)
    lookahead, max_frames = getattr(args, "lookahead", None) or 0, getattr(args, "max_frames", None)
    try:
        device = check_device(getattr(args, "device", None) or "auto")
    except ValueError as exc:
        raise DemoError(str(exc)) from None
    open_source(video).release()  # an unreadable file or a missing camera fails here, before the models load
    checkpoint = getattr(args, "checkpoint", None)
    loaded = load_lifter(getattr(args, "model", None), checkpoint, frames, device)
    hop = hop or max(1, loaded.frames // 9)
    if loaded.mode == "seq2seq" and hop > loaded.frames:
        raise DemoError(f"--hop {hop} is longer than the {loaded.frames}-frame window of '{loaded.name}': use --hop "
                        f"1 to {loaded.frames} (and --lookahead + --hop <= {loaded.frames})")
    if loaded.mode == "seq2seq" and lookahead + hop > loaded.frames:
        raise DemoError(f"--lookahead {lookahead} + --hop {hop} exceed the {loaded.frames}-frame window of "
                        f"'{loaded.name}': keep --lookahead + --hop <= {loaded.frames} (e.g. --lookahead "
                        f"{max(0, loaded.frames - hop)} at most with this hop)")
    dtype = getattr(args, "dtype", None) or "auto"
    if dtype == "auto":
        dtype = "bf16" if fast_bf16(device) else "fp32"
    model = prepare_for_inference(loaded.model, dtype, device=device, inplace=True)
    left, right = h36m_sides()
    lifter = StreamingLifter(model, loaded.frames, loaded.mode, lookahead=lookahead, hop=hop,
                             flip=bool(getattr(args, "stream_flip", False)), joints_left=left, joints_right=right,
                             device=device, background=bool(getattr(args, "background", False)))
    stage = Staging(plan) if plan is not None else None  # an unwritable --output fails before the stream
    try:
        with build_detector("mediapipe") as detector, lifter:
            result = run_stream(video, lifter, detector, in_channels=loaded.in_channels, max_frames=max_frames,
                                keep_poses=not is_camera)
        if result.poses is not None:
            check_lifted_poses(result.poses, loaded.checkpoint)
        sys.stdout.write(result.summary() + "\n")
        if stage is not None and result.poses is not None:
            np.savez_compressed(stage.path(STREAM_FILE), poses_3d=result.poses, first_frame=result.first_frame,
                                latency_frames=result.latency_frames, fps=result.fps, **{
                                    f"setting_{k}": v for k, v in result.settings.items()})
            for path in stage.commit():
                sys.stdout.write(f"poses written to {path}\n")
            stage = None
    except OSError as exc:  # writing the poses (disk full, folder removed during the stream)
        from hot_pose.utils.console import describe_os_error

        raise DemoError(f"cannot write the poses into {plan.folder}: {describe_os_error(exc)}; nothing was written "
                        "there (free some space or pass --output another folder)") from None
    finally:
        if stage is not None:
            stage.abort()
    return 0


def fast_bf16(device: Union[str, torch.device]) -> bool:
    """Whether bf16 is the faster choice: a CUDA device, or a CPU with native bf16 (AVX512-BF16 / AMX)."""
    if torch.device(device).type == "cuda":
        return True
    if torch.device(device).type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
