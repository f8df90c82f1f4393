"""2-D → 3-D lifting of a whole video with any model of the zoo.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). Backbones: MixSTE (Zhang et al., CVPR 2022), MHFormer (Li et al., CVPR 2022),
MotionBERT (Zhu et al., ICCV 2023), MotionAGFormer (Mehraban et al., WACV 2024).

``sliding_window_lift`` is a pure function of a model callable and normalised keypoints: seq2seq models
(MixSTE, HoT, MotionBERT, MotionAGFormer) are slid over the video in windows of F frames (the last one
aligned with the end, overlaps cross-faded, edge padding only for videos shorter than F); seq2frame models
(TPC, MHFormer) get one centred, edge-padded window per frame and give its centre. Test-time flip averages
the prediction with the un-flipped prediction of the mirrored input. Output is root-relative, in the
camera frame, in metres.

Joints: the demo feeds Human3.6M-17 2-D. A 16-joint model (trained on 16-joint detections such as the
Stacked-Hourglass ``--keypoints sh_pt_mpii``: Human3.6M-17 without joint 9, Neck/Nose) runs through
``H36M16Adapter``: joint 9 is dropped from the 2-D going in and put back in the 3-D coming out on the
thorax–head segment. Any other joint count or channel count is refused by ``load_lifter`` in one line.
"""
from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from hot_pose.data.dataset import JOINT_DROPPED_FOR_16
from hot_pose.data.skeleton import h36m_skeleton
from hot_pose.models import VARIANTS, build_model
from hot_pose.models.checkpoint import CheckpointError, find_checkpoint, inspect_checkpoint, load_weights
from hot_pose.utils.checks import check_int
from hot_pose.utils.paths import SHIPPED
from hot_pose.wild.checks import MAX_ABS_NORMALISED, check_lift_input
from hot_pose.wild.errors import DemoError

_logger = logging.getLogger(__name__)

#: THE shipped in-the-wild checkpoint (HoT w. MixSTE, 27 frames, GT 2-D then Stacked-Hourglass detections +
#: 2-D noise; see hot_pose/checkpoints/README.md). Its dict carries ``args`` (model name and sizes), so nothing else needs to change.
DEFAULT_CHECKPOINT = SHIPPED / "hot_mixste_27_wild_vc" / "best.pth"
#: model used when neither --checkpoint nor DEFAULT_CHECKPOINT exists (random weights, loudly warned)
DEFAULT_MODEL = "mixste.hot_mixste"
#: the 3-D Neck/Nose of a 16-joint model's output: Thorax + NOSE_ALPHA_3D · (Head − Thorax). The mean projection
#: of the 3-D Neck/Nose on the thorax→head segment over Human3.6M S1, S5–S8 (every 10th frame, 36,681 poses:
#: 0.503, median 0.513); the true joint lies 4.3 cm from that point on average (it sits in front of the segment).
NOSE_ALPHA_3D = 0.50
#: how to get a checkpoint the demo can run, for the messages
FITTING_CHECKPOINT = ("train on Human3.6M-17 2-D (--keypoints gt) or on 16-joint detections (--keypoints "
                      "sh_pt_mpii), with 2 input channels (x, y) or 3 (x, y, confidence)")


class H36M16Adapter(nn.Module):
    """A 16-joint model (Human3.6M-17 without joint 9, Neck/Nose) behind a 17-joint interface.

    Input (B, F, 17, C) → joint 9 dropped → the model → (B, F', 16, 3) → joint 9 re-inserted on the thorax–head
    segment (``NOSE_ALPHA_3D``) → (B, F', 17, 3). The left/right joints of both layouts correspond, so the
    17-joint flip augmentation and the model's own training flips agree. ``config`` is the model's with 17
    joints in and out (what the callers feed and get); ``model`` is the wrapped network.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.variant_name = getattr(model, "variant_name", type(model).__name__)
        config = getattr(model, "config", None)
        self.config = replace(config, n_joints=17, out_joints=17) if config is not None else None
        keep = [j for j in range(17) if j != JOINT_DROPPED_FOR_16]
        self.register_buffer("keep", torch.tensor(keep), persistent=False)

    def forward(self, x: torch.Tensor, index: Optional[torch.Tensor] = None):
        """(B, F, 17, C) → ``LiftOutput`` (or a tensor, as the model returns) with (B, F', 17, 3) poses."""
        x16 = x.index_select(-2, self.keep.to(x.device))
        out = self.model(x16) if index is None else self.model(x16, index=index)
        pose = out if isinstance(out, torch.Tensor) else out.pose
        thorax, head = pose[..., 8:9, :], pose[..., 9:10, :]  # 16-joint indices of Thorax and Head
        nose = thorax + NOSE_ALPHA_3D * (head - thorax)
        full = torch.cat([pose[..., :JOINT_DROPPED_FOR_16, :], nose, pose[..., JOINT_DROPPED_FOR_16:, :]], dim=-2)
        return full if isinstance(out, torch.Tensor) else out._replace(pose=full)


def resolve_checkpoint_path(checkpoint: Union[str, Path]) -> Path:
    """``--checkpoint``: a ``.pth`` file, or a run folder (its ``best.pth``, else ``last.pth``, else its only
    ``.pth``; ``hot_pose.models.checkpoint.find_checkpoint``).

    Raises:
        DemoError: nothing there, or a folder without a weights file.
    """
    path = Path(checkpoint)
    if path.is_dir():
        try:
            return find_checkpoint(path)
        except CheckpointError as exc:
            raise DemoError(f"--checkpoint {path}: {exc}; pass a .pth file or a training run folder") from None
    if not path.is_file():
        raise DemoError(f"checkpoint not found: {path} (pass --checkpoint PATH to a .pth file or a run folder)")
    return path


@dataclass
class Lifter:
    """A model ready for ``sliding_window_lift``.

    Attributes:
        model: the network in eval mode.
        name: its variant name (``<family>.<variant>``).
        frames: its window length F.
        mode: ``"seq2seq"`` or ``"seq2frame"``.
        in_channels: 2 (x, y) or 3 (x, y, confidence).
        checkpoint: the weights file, or ``None`` for random weights.
    """

    model: nn.Module
    name: str
    frames: int
    mode: str
    in_channels: int
    checkpoint: Optional[Path]

    @property
    def trained(self) -> bool:
        """Whether real weights were loaded."""
        return self.checkpoint is not None


def lift_mode(name: str) -> str:
    """``"seq2frame"`` for variants whose module declares ``SEQ2FRAME = True`` (TPC, MHFormer), else ``"seq2seq"``."""
    module = importlib.import_module(f"hot_pose.models.{canonical_model_name(name)}")
    return "seq2frame" if getattr(module, "SEQ2FRAME", False) else "seq2seq"


def canonical_model_name(name: str) -> str:
    """Map ``hot_mixste`` / ``mixste.hot_mixste`` (or a path-like ``hot_pose/models/mixste/hot_mixste``) to a variant name.

    Raises:
        DemoError: the name matches no variant; the message lists them.
    """
    cleaned = str(name).strip().replace("/", ".").removeprefix("model.").removesuffix(".py")
    if cleaned in VARIANTS:
        return cleaned
    matches = [v for v in VARIANTS if v.split(".")[-1] == cleaned.split(".")[-1]]
    if len(matches) == 1:
        return matches[0]
    raise DemoError(f"unknown model '{name}'; valid names: {', '.join(VARIANTS)}")


def flip_keypoints(x: torch.Tensor, joints_left: Sequence[int], joints_right: Sequence[int]) -> torch.Tensor:
    """Mirror poses horizontally: negate x and swap left/right joints.

    Args:
        x: (..., J, C) with x in channel 0 (normalised screen or camera coordinates).

    Returns:
        A new tensor of the same shape.
    """
    out = x.clone()
    out[..., 0] *= -1
    out[..., list(joints_left) + list(joints_right), :] = out[..., list(joints_right) + list(joints_left), :]
    return out


def _window_starts(num_frames: int, window: int, stride: int) -> list:
    """Seq2seq window starts covering [0, T): every ``stride`` frames, the last one ending at T.

    A video shorter than the window gets one centred window (negative start = padding on the left).
    """
    if num_frames <= window:
        return [-((window - num_frames) // 2)]
    starts = list(range(0, num_frames - window + 1, stride))
    if starts[-1] + window < num_frames:
        starts.append(num_frames - window)
    return starts


def forward_pose(model: Callable, x: torch.Tensor, index: Optional[torch.Tensor] = None):
    """Call the model and unpack ``LiftOutput`` (or a bare tensor from a simple callable)."""
    out = model(x) if index is None else model(x, index=index)
    if isinstance(out, torch.Tensor):
        return out, None
    return out.pose, out.index


def _predict(
    model: Callable, x: torch.Tensor, flip: bool, joints_left: Sequence[int], joints_right: Sequence[int]
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """(B, F, J, C) windows → (B, F', J, 3) poses (flip-averaged) and the covered input frames (or None)."""
    pose, index = forward_pose(model, x)
    if flip:
        flipped, _ = forward_pose(model, flip_keypoints(x, joints_left, joints_right), index)
        pose = (pose + flip_keypoints(flipped, joints_left, joints_right)) / 2
    return pose, index


def sliding_window_lift(model: Callable, keypoints: np.ndarray, frames: int, mode: str = "seq2seq",
                        **options: Any) -> np.ndarray:
    """Lift a whole sequence of normalised 2-D keypoints (T, J, C) to root-relative 3-D (T, J_out, 3) float32:
    ``lift_sequences`` of one sequence (same arguments and errors)."""
    return lift_sequences(model, [keypoints], frames, mode, **options)[0]


@torch.no_grad()
def lift_sequences(
    model: Callable,
    sequences: Sequence[np.ndarray],
    frames: int,
    mode: str = "seq2seq",
    flip: bool = True,
    joints_left: Sequence[int] = (4, 5, 6, 11, 12, 13),
    joints_right: Sequence[int] = (1, 2, 3, 14, 15, 16),
    batch_size: int = 8,
    stride: Optional[int] = None,
    device: Union[str, torch.device] = "cpu",
    progress: Optional[Callable[[int], Any]] = None,
    max_abs: float = MAX_ABS_NORMALISED,
) -> List[np.ndarray]:
    """Lift sequences of normalised 2-D keypoints to root-relative 3-D with sliding windows. Several sequences
    (e.g. one per tracked person) share every forward pass (a batch mixes their windows), and no window crosses
    from one sequence into the next (each is edge-padded within its own sequence).

    Args:
        model: callable (B, F, J, C) → ``LiftOutput`` (or a (B, F', J, 3) tensor); ``index=`` is passed to
            the flip pass when the first pass returned one (seq2frame TPC models).
        sequences: (T_i, J, C) normalised screen coordinates (C = 2, or 3 with a confidence channel), the same
            J and C for all.
        frames: the model's window length F.
        mode: ``"seq2seq"`` (one pose per input frame per window) or ``"seq2frame"`` (centre frame only).
        flip: average with the mirrored input (test-time augmentation).
        joints_left: left joints, swapped with ``joints_right`` when mirroring.
        joints_right: right joints.
        batch_size: windows per forward pass.
        stride: seq2seq window step (default F: no overlap except the last window). Overlapping windows
            are cross-faded with triangular weights, which hides the jumps between independent windows.
        device: where the model runs.
        progress: called with the number of output frames finished after every batch.
        max_abs: largest accepted |value| of the input (default ``hot_pose.wild.checks.MAX_ABS_NORMALISED`` = 8:
            normalised coordinates are within ±1 (x) and ±h/w (y) inside the frame; pixels are far beyond).

    Returns:
        one (T_i, J_out, 3) float32 array per sequence, root (joint 0) at the origin.

    Raises:
        ValueError: wrong shape or mode, NaN/inf input, input beyond ±``max_abs`` (unnormalised pixels:
            normalise with ``hot_pose.data.camera.normalize_screen_coordinates(kp, w, h)``), ``frames`` or ``batch_size``
            below 1, or a ``stride`` outside 1 … ``frames`` (frames between windows would get no pose).
    """
    frames = check_int(frames, "frames", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    if stride is not None:
        stride = check_int(stride, "stride", 1, frames)
    arrays = [np.asarray(seq) for seq in sequences]
    if not arrays:
        return []
    for arr in arrays:
        if arr.ndim != 3 or arr.shape[0] == 0:
            raise ValueError(f"expected keypoints (T, J, C) with T > 0, got {tuple(arr.shape)}")
        if arr.shape[1:] != arrays[0].shape[1:]:
            raise ValueError(f"sequences must share (J, C): {tuple(arrays[0].shape[1:])} vs {tuple(arr.shape[1:])}")
        check_lift_input(arr, max_abs)
    if mode not in ("seq2seq", "seq2frame"):
        raise ValueError(f"mode must be 'seq2seq' or 'seq2frame', got {mode!r}")
    kp = torch.as_tensor(np.concatenate(arrays), dtype=torch.float32)  # (sum T_i, J, C)
    lengths = [len(arr) for arr in arrays]
    ends = np.cumsum(lengths).tolist()
    # every window: (first frame, last frame of its sequence, start) in the concatenated index
    windows: List[Tuple[int, int, int]] = []
    for length, end in zip(lengths, ends):
        first = end - length
        local = (_window_starts(length, frames, stride or frames) if mode == "seq2seq"
                 else [t - frames // 2 for t in range(length)])
        windows.extend((first, end - 1, first + start) for start in local)
    offsets = torch.arange(frames)
    # triangular weights: a window trusts its centre more than its edges (only matters where windows overlap)
    blend = torch.minimum(offsets + 1, frames - offsets).float()
    out = counts = None
    done = 0
    for b in range(0, len(windows), batch_size):
        lo, hi, start = (torch.tensor(column) for column in zip(*windows[b:b + batch_size]))
        frame_idx = start[:, None] + offsets[None]  # (B, F) input frame of every window position
        clamped = torch.maximum(torch.minimum(frame_idx, hi[:, None]), lo[:, None])  # edge padding per sequence
        x = kp[clamped].to(device)  # (B, F, J, C)
        pose, index = _predict(model, x, flip, joints_left, joints_right)
        pose = pose.float().cpu()
        if out is None:
            out = torch.zeros(len(kp), pose.shape[2], 3)
            counts = torch.zeros(len(kp))
        if mode == "seq2frame":
            pos = _centre_position(index, frames, pose.shape[:2])
            out[frame_idx[:, frames // 2]] += pose[torch.arange(pose.shape[0]), pos]
            counts[frame_idx[:, frames // 2]] += 1
        else:
            if pose.shape[1] != frames:
                raise ValueError(f"seq2seq model returned {pose.shape[1]} frames for {frames}; use mode='seq2frame'")
            real = (frame_idx >= lo[:, None]) & (frame_idx <= hi[:, None])  # padded positions are not written back
            weight = blend.expand_as(frame_idx)[real]
            out.index_put_((frame_idx[real],), pose[real] * weight[:, None, None], accumulate=True)
            counts.index_put_((frame_idx[real],), weight, accumulate=True)
        if progress is not None:
            finished = int((counts > 0).sum())
            progress(finished - done)
            done = finished
    out = out / counts[:, None, None]
    out = out - out[:, :1]  # root-relative
    return [part.numpy().astype(np.float32) for part in torch.split(out, lengths)]


def _centre_position(index: Optional[torch.Tensor], frames: int, out_shape: Tuple[int, int]) -> torch.Tensor:
    """Position of each window's centre frame in the model output (B, F') → (B,)."""
    batch, out_frames = out_shape
    centre = frames // 2
    if index is None:
        if out_frames not in (frames, 1):
            raise ValueError(f"model returned {out_frames} frames without an index for a {frames}-frame window")
        return torch.full((batch,), centre if out_frames == frames else 0, dtype=torch.long)
    index = index.cpu()
    # the kept frame nearest the centre (TPC keeps the centre, so normally an exact match)
    return (index - centre).abs().argmin(dim=1)


def load_lifter(
    model_name: Optional[str] = None,
    checkpoint: Optional[Union[str, Path]] = None,
    frames: Optional[int] = None,
    device: Union[str, torch.device] = "cpu",
) -> Lifter:
    """Build and load the lifting model.

    Resolution: ``checkpoint`` if given, else ``DEFAULT_CHECKPOINT`` if it exists and fits the requested
    ``model_name`` / ``frames``, else random weights with a warning. The model name comes from ``model_name``,
    else the checkpoint's ``args['model']``, else
    ``DEFAULT_MODEL``; sizes come from the checkpoint's ``args`` (when it is for the same model), then the
    variant's defaults; ``frames`` overrides the window length.

    A 16-joint checkpoint (Human3.6M without Neck/Nose) is wrapped in ``H36M16Adapter`` (17 joints in and out).

    Raises:
        DemoError: unknown model name, a checkpoint that is missing, unreadable or does not fit the model, a
            ``frames`` that does not fit the checkpoint or the model, or a model whose joints or channels the
            demo cannot feed.
    """
    path = resolve_checkpoint_path(checkpoint) if checkpoint else (
        DEFAULT_CHECKPOINT if DEFAULT_CHECKPOINT.is_file() else None)
    info = None
    if path is not None:
        try:
            info = inspect_checkpoint(path)  # read once; its sizes follow the one rule of CheckpointInfo.resolve
        except CheckpointError as exc:
            raise DemoError(str(exc)) from None
    args = dict(info.sizes) if info is not None else {}
    stored_name = info.variant if info is not None else None
    why_random = f"the shipped in-the-wild checkpoint {DEFAULT_CHECKPOINT} is missing"
    if not checkpoint and path is not None and (
            (model_name and canonical_model_name(model_name) != canonical_model_name(stored_name))
            or (frames and frames != args.get("frames"))):
        why_random = f"the shipped checkpoint is a {args.get('frames')}-frame '{stored_name}', not the requested model"
        path, args, stored_name, info = None, {}, None, None
    name = canonical_model_name(model_name or stored_name or DEFAULT_MODEL)
    if stored_name and canonical_model_name_or_none(stored_name) != name:
        args = {}  # sizes of another model do not apply
    if checkpoint and frames and args.get("frames") and frames != args["frames"]:
        raise DemoError(f"--frames {frames} does not fit checkpoint {path}, trained with {args['frames']}-frame "
                        "windows; drop --frames (the checkpoint's window is used)")
    overrides = {"frames": frames} if frames else {}
    try:
        model = build_model(name, args, **overrides)
    except (TypeError, ValueError) as exc:
        raise DemoError(_build_error(name, frames, exc)) from None
    if info is not None:
        try:
            load_weights(model, info)
        except CheckpointError as exc:
            raise DemoError(str(exc)) from None
    else:
        _logger.warning(
            "WARNING: %s and no --checkpoint was given: lifting with RANDOM weights of '%s', so the 3-D poses "
            "are meaningless. Pass --checkpoint PATH (or drop --model/--frames to use the shipped one).",
            why_random, name,
        )
    cfg = getattr(model, "config", None)
    joints = (int(getattr(cfg, "n_joints", None) or 17), int(getattr(cfg, "out_joints", None) or 17))
    in_channels = int(getattr(cfg, "in_channels", None) or 2)
    source = f"checkpoint {path}" if path is not None else f"model '{name}'"
    if in_channels not in (2, 3):
        raise DemoError(f"{source} takes {in_channels} channels per joint; the demo and hot_pose give 2 (x, y) or "
                        f"3 (x, y, confidence): {FITTING_CHECKPOINT}")
    if joints == (16, 16):
        _logger.info("%s is a 16-joint model (Human3.6M without Neck/Nose): the 2-D Neck/Nose is dropped going in "
                     "and the 3-D one placed on the thorax-head segment", source)
        model = H36M16Adapter(model)
    elif joints != (17, 17):
        raise DemoError(f"{source} is a model of {joints[0]} input and {joints[1]} output joints; the demo and "
                        f"hot_pose feed Human3.6M-17 2-D (or its 16 joints without Neck/Nose): {FITTING_CHECKPOINT}")
    model.eval().to(device)
    return Lifter(
        model=model,
        name=name,
        frames=int(getattr(cfg, "frames", None) or frames or 243),
        mode=lift_mode(name),
        in_channels=in_channels,
        checkpoint=path,
    )


def _build_error(name: str, frames: Optional[int], exc: Exception) -> str:
    """One line for a model that cannot be built with these sizes, in the demo's words (it has --frames, not the
    training script's size flags)."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    kept = re.search(r"--token_num (\d+) must be between 1 and --frames", reason)
    if frames and kept:
        return (f"--frames {frames} is shorter than the {kept.group(1)} frames '{name}' keeps after token pruning; "
                f"pass --frames {kept.group(1)} or more (or drop --frames to use the checkpoint's window)")
    reason = re.sub(r"--(?!frames\b)([a-z_]+)", r"\1", reason)  # size flags of training, not of the demo
    return f"cannot build model '{name}' with these sizes: {reason}"


def canonical_model_name_or_none(name: str) -> Optional[str]:
    """``canonical_model_name`` that returns ``None`` instead of raising."""
    try:
        return canonical_model_name(name)
    except DemoError:
        return None


def h36m_sides() -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """Left and right joints of the 17-joint Human3.6M skeleton (from ``hot_pose.data.skeleton``)."""
    skeleton = h36m_skeleton()
    return skeleton.joints_left, skeleton.joints_right
