"""HoT from Python: 2-D keypoints (pixels) → 3-D poses, and video → 2-D keypoints.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). A thin façade over ``model/`` (the zoo), ``common/`` (checkpoints, cameras) and
``demo/`` (detectors, gap filling, sliding-window lifting, streaming):

    >>> from hot_pose import PoseLifter, detect_2d
    >>> lifter = PoseLifter.load()                                   # the shipped in-the-wild model
    >>> poses = lifter.lift(keypoints_px, image_size=(1920, 1080))   # (T, 17, 3) metres

``lift`` returns root-relative poses in the camera frame (x right, y down, z away from the camera), in
metres, joints in the Human3.6M-17 order (``JOINT_NAMES``).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
import torch

from common.camera import normalize_screen_coordinates
from common.checkpoint import find_checkpoint
from common.skeleton import H36M_17_NAMES
from common.utils import resolve_device
from demo.lib.checks import check_pixel_keypoints, lift_input_bound
from demo.lib.detectors.mediapipe import BLAZEPOSE_TO_COCO
from demo.lib.errors import DemoError
from demo.lib.lift import DEFAULT_CHECKPOINT, Lifter, h36m_sides, load_lifter, sliding_window_lift
from demo.lib.preprocess import coco_to_h36m, fill_gaps, fix_left_right_flips
from demo.lib.stream import StreamingLifter
from model.inference import prepare_for_inference

__all__ = ["PoseLifter", "detect_2d", "track_2d", "JOINT_NAMES", "LAYOUTS", "SHIPPED"]

_logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
#: folder of the shipped checkpoints; ``PoseLifter.load("<name>")`` takes a folder name from it
SHIPPED = ROOT / "checkpoint" / "shipped"
#: joints of the output, Human3.6M-17 order
JOINT_NAMES = tuple(H36M_17_NAMES)
#: input layouts ``lift`` accepts → their joint count
LAYOUTS = {"h36m": 17, "coco": 17, "mediapipe": 33}

PathLike = Union[str, Path]


def _resolve_checkpoint(source: Optional[PathLike]) -> Path:
    """None → the shipped in-the-wild model; a shipped name; a run folder (its best.pth rule); a .pth file."""
    if source is None:
        return DEFAULT_CHECKPOINT
    path = Path(source)
    if path.is_file():
        return path
    if path.is_dir():
        return find_checkpoint(path)
    if (SHIPPED / str(source)).is_dir():
        return find_checkpoint(SHIPPED / str(source))
    names = sorted(p.name for p in SHIPPED.iterdir() if p.is_dir()) if SHIPPED.is_dir() else []
    raise FileNotFoundError(f"no checkpoint '{source}': give a .pth file, a run folder, or a shipped name "
                            f"({', '.join(names)})")


class PoseLifter:
    """A trained lifting model with the demo's pre-processing: pixels in, metres out.

    Use ``PoseLifter.load``. Attributes: ``name`` (variant), ``frames`` (window length), ``checkpoint``,
    ``device``, ``dtype``, ``flip`` (test-time flip augmentation, on by default).
    """

    def __init__(self, lifter: Lifter, device: torch.device, dtype: str = "fp32", flip: bool = True) -> None:
        self._lifter = lifter
        self.name, self.frames, self.checkpoint = lifter.name, lifter.frames, lifter.checkpoint
        self.device, self.dtype, self.flip = device, dtype, flip
        self._model = prepare_for_inference(lifter.model, dtype=dtype, device=device) if dtype != "fp32" \
            else lifter.model

    @classmethod
    def load(cls, source: Optional[PathLike] = None, device: str = "auto", dtype: str = "fp32",
             flip: bool = True) -> "PoseLifter":
        """Load a lifter.

        Args:
            source: None (the shipped in-the-wild checkpoint), a shipped name (e.g. ``"hot_mixste_27_gt"``),
                a run folder (best.pth, else last.pth, ...) or a ``.pth`` file. Variant and sizes come from the
                checkpoint.
            device: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:1``, ``mps``.
            dtype: ``fp32``, ``bf16`` or ``fp16`` (compute dtype; bf16/fp16 cost a little accuracy).
            flip: average with the mirrored input (test-time augmentation).

        Raises:
            FileNotFoundError: no such checkpoint. ValueError: an unknown device or dtype, or a checkpoint that
            is unreadable or not a lifting model.
        """
        if dtype not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"dtype must be fp32, bf16 or fp16, got {dtype!r}")
        path = _resolve_checkpoint(source)
        dev = resolve_device(device)
        try:
            lifter = load_lifter(checkpoint=path, device=dev)
        except DemoError as exc:
            raise ValueError(str(exc)) from None
        return cls(lifter, dev, dtype, flip)

    def __repr__(self) -> str:
        return (f"PoseLifter({self.name}, {self.frames} frames, {self.dtype} on {self.device}, "
                f"checkpoint={self.checkpoint})")

    def _prepare(self, keypoints: np.ndarray, image_size: Tuple[int, int], layout: str) -> np.ndarray:
        """Pixels in any layout (NaN = missing) → gap-free normalised H36M lifter input (T, 17, C)."""
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        try:
            w, h = (int(v) for v in image_size)
        except (TypeError, ValueError):
            raise ValueError(f"image_size must be (width, height) in pixels, got {image_size!r}") from None
        if w < 1 or h < 1:
            raise ValueError(f"image_size must be positive (width, height), got {image_size!r}")
        kp = np.asarray(keypoints, dtype=np.float64)
        if kp.ndim == 2:
            kp = kp[None]
        if kp.ndim != 3 or kp.shape[-1] not in (2, 3) or len(kp) == 0:
            raise ValueError(f"keypoints must be (T, J, 2) pixels or (T, J, 3) with scores, T >= 1; got shape "
                             f"{tuple(np.shape(keypoints))}")
        if kp.shape[1] != LAYOUTS[layout]:
            guess = [name for name, j in LAYOUTS.items() if j == kp.shape[1]]
            hint = f" (layout={guess[0]!r}?)" if guess else ""
            raise ValueError(f"layout {layout!r} has {LAYOUTS[layout]} joints but the keypoints have "
                             f"{kp.shape[1]}{hint}")
        xy = kp[..., :2].copy()
        missing = ~np.isfinite(xy).all(axis=-1)
        scores = kp[..., 2].copy() if kp.shape[-1] == 3 else np.ones(xy.shape[:2])
        scores = np.where(missing | ~np.isfinite(scores), 0.0, np.clip(scores, 0.0, 1.0))
        xy[missing] = np.nan
        try:
            check_pixel_keypoints(xy, w, h, "keypoints")
            if layout == "mediapipe":
                xy, scores = xy[:, list(BLAZEPOSE_TO_COCO)], scores[:, list(BLAZEPOSE_TO_COCO)]
            if layout in ("coco", "mediapipe"):
                xy, scores = coco_to_h36m(xy, scores)
            found = np.isfinite(xy).all(axis=-1).any(axis=1)
            if not found.any():
                raise ValueError("no person was found: every joint of every frame is missing (NaN), nothing to lift")
            xy, scores = fill_gaps(xy, scores, found)
            xy, scores, _ = fix_left_right_flips(xy, scores)
        except DemoError as exc:
            raise ValueError(str(exc)) from None
        x = normalize_screen_coordinates(xy.astype(np.float32), w=w, h=h)
        if self._lifter.in_channels == 3:
            x = np.concatenate([x, scores[..., None].astype(np.float32)], axis=-1)
        return x

    def lift(self, keypoints: np.ndarray, image_size: Tuple[int, int], layout: str = "h36m",
             batch_size: int = 64) -> np.ndarray:
        """2-D keypoints of one person over T frames → their 3-D poses.

        Args:
            keypoints: (T, J, 2) pixel coordinates (x right, y down), or (T, J, 3) with per-joint scores in
                [0, 1]; NaN marks a missing joint or frame (filled by interpolation over time, as the demo
                does); any T ≥ 1. Not normalised: pixels of the image.
            image_size: (width, height) of the images in pixels.
            layout: joint order of ``keypoints``: ``h36m`` (17, ``JOINT_NAMES``), ``coco`` (COCO-17) or
                ``mediapipe`` (BlazePose-33).
            batch_size: windows per forward pass.

        Returns:
            (T, 17, 3) float32 metres: root-relative (pelvis = 0), camera frame, Human3.6M-17 order.

        Raises:
            ValueError: wrong shape or layout, already-normalised or out-of-image values, or no joint ever seen.
        """
        x = self._prepare(keypoints, image_size, layout)
        left, right = h36m_sides()
        w, h = (int(v) for v in image_size)
        return sliding_window_lift(self._model, x, self.frames, self._lifter.mode, flip=self.flip, joints_left=left,
                                   joints_right=right, batch_size=batch_size, device=self.device,
                                   max_abs=lift_input_bound(w, h))

    def lift_stream(self, hop: Optional[int] = None, lookahead: int = 0) -> StreamingLifter:
        """A fixed-latency streaming lifter over this model (``demo.lib.stream.StreamingLifter``): ``push``
        one frame of *normalised* H36M keypoints (``common.camera.normalize_screen_coordinates``) at a time,
        get the poses that are ready back. ``hop``: frames per forward (default F/9); latency = lookahead +
        hop − 1 frames."""
        left, right = h36m_sides()
        hop = hop or max(1, self.frames // 9)
        return StreamingLifter(self._model, self.frames, self._lifter.mode, lookahead=lookahead, hop=hop,
                               flip=self.flip, joints_left=left, joints_right=right, device=self.device)


def detect_2d(video: PathLike, detector: str = "mediapipe", max_frames: Optional[int] = None,
              **options) -> Tuple[np.ndarray, Tuple[int, int], float]:
    """2-D keypoints of the person in ``video`` with one of the demo's detectors (offline MediaPipe by default).

    Returns:
        ``(keypoints, (width, height), fps)``: keypoints (T, 17, 3) COCO-17 pixels + score, NaN where nobody was
        found, ready for ``PoseLifter.lift(keypoints, size, layout="coco")``.

    Raises:
        FileNotFoundError: no such video. ValueError: an undecodable video or a detector that cannot run.
    """
    from demo.lib.detectors import build_detector
    from demo.lib.video import iter_frames, probe_video

    path = Path(video)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    try:
        info = probe_video(path)
        det = build_detector(detector, **options)
        try:
            detection = det(iter_frames(path, max_frames))
        finally:
            det.close()
    except DemoError as exc:
        raise ValueError(str(exc)) from None
    if detection.layout != "coco":
        raise ValueError(f"detector {detector!r} gives {detection.layout} keypoints; use mediapipe or hrnet")
    kp = np.concatenate([detection.keypoints, detection.scores[..., None]], axis=-1).astype(np.float32)
    kp[~detection.found] = np.nan
    return kp, (info.width, info.height), float(info.fps)



def track_2d(video: PathLike, detector: str = "mediapipe", max_frames: Optional[int] = None, max_persons: int = 4,
             min_track_frames: int = 10, **options) -> Tuple[np.ndarray, Tuple[int, int], float]:
    """2-D keypoints of every person in ``video``, linked into tracks (``demo/vis.py --multi``'s detection and
    tracking; see ``docs/demo.md``).

    Returns:
        ``(keypoints, (width, height), fps)``: keypoints (P, T, 17, 3) COCO-17 pixels + score, track ids 0..P-1
        by first appearance, NaN where the person was not detected. Lift person p over the frames of its life
        (``first = np.isfinite(kp[p, :, 0, 0]).argmax()`` ... its last finite frame), e.g.
        ``lifter.lift(kp[p, first:end], size, layout="coco")``.

    Raises:
        FileNotFoundError: no such video. ValueError: an undecodable video, a detector that cannot run or finds
        one person only, or nobody detected for ``min_track_frames`` frames.
    """
    from demo.lib.detectors import build_detector, detector_class
    from demo.lib.tracks import track_video
    from demo.lib.video import iter_frames, probe_video

    path = Path(video)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    if detector == "mediapipe":
        options = {"multi": True, "max_persons": max_persons, **options}
    try:
        if not detector_class(detector).multi_person:
            raise DemoError(f"detector {detector!r} finds one person per frame; use mediapipe or hrnet")
        info = probe_video(path)
        det = build_detector(detector, **options)
        try:
            tracks = track_video(det, iter_frames(path, max_frames)).result(min_frames=min_track_frames,
                                                                           max_persons=max_persons)
        finally:
            det.close()
    except DemoError as exc:
        raise ValueError(str(exc)) from None
    if tracks.num_tracks == 0:
        raise ValueError(f"no person detected in {path} for at least {min_track_frames} frames")
    kp = np.concatenate([tracks.keypoints, tracks.scores[..., None]], axis=-1).astype(np.float32)
    kp[~tracks.found] = np.nan
    return kp, (info.width, info.height), float(info.fps)
