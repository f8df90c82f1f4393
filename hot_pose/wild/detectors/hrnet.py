"""HRNet-W48 top-down 2-D pose (Sun et al., CVPR 2019, arXiv:1902.09212) behind a YOLOv3 person detector.

The ``hrnet`` detector of the HoT demo (Li et al., CVPR 2024, arXiv:2311.12028). ``PoseHRNet`` is our own
definition of the high-resolution network whose parameter names match the public COCO checkpoint
``pose_hrnet_w48_384x288.pth`` (stem, ``layer1`` bottlenecks, ``transition1..3``, ``stage2..4`` of
high-resolution modules with ``branches``/``fuse_layers``, ``final_layer``), so it loads strictly through
``hot_pose.models.checkpoint``'s state-dict helpers (only BatchNorm step counters may be absent).

Differences from the reference demo: the crop keeps the network's 3:4 aspect ratio
(the reference used the frame's), the crop is converted to RGB *before* ImageNet normalisation (the
reference normalised BGR and swapped after), and a frame without a person box reuses the last box for a
few frames and is otherwise reported as "no person" instead of crashing or being dropped.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch import nn

from hot_pose.models.checkpoint import (
    CheckpointError,
    check_finite_weights,
    check_state_dict,
    extract_state_dict,
    read_checkpoint,
    strip_prefixes,
)
from hot_pose.utils.paths import cache_dir
from hot_pose.wild.detectors.base import Detector2D, FrameResult, PersonDetection
from hot_pose.wild.detectors.yolov3 import PersonDetector, best_box, load_yolov3
from hot_pose.wild.errors import DemoError

_logger = logging.getLogger(__name__)

#: where the two weight files are looked for by default (``docs/demo.md`` says where to get them)
CHECKPOINT_DIR = cache_dir() / "weights"
YOLO_WEIGHTS = CHECKPOINT_DIR / "yolov3.weights"
HRNET_WEIGHTS = CHECKPOINT_DIR / "pose_hrnet_w48_384x288.pth"
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
#: frames for which a lost person box is replaced by the last one (the reference reused it indefinitely)
BOX_MEMORY = 5


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, relu: bool) -> nn.Sequential:
    """Conv (no bias) + BatchNorm (+ ReLU): keys ``0.weight``, ``1.*`` as in the checkpoint."""
    layers: List[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3×3 convs with a residual (HRNet branches)."""

    expansion = 1

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + x)


class Bottleneck(nn.Module):
    """1×1 → 3×3 → 1×1 (×4) residual block of the stem's ``layer1``."""

    expansion = 4

    def __init__(self, cin: int, planes: int) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)) if cin != cout else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class HighResolutionModule(nn.Module):
    """Parallel branches (4 basic blocks each) followed by all-to-all fusion.

    Args:
        channels: width of every branch (high to low resolution).
        blocks: basic blocks per branch.
        multi_scale_output: fuse into every branch (else only into the highest resolution).
    """

    def __init__(self, channels: Sequence[int], blocks: int = 4, multi_scale_output: bool = True) -> None:
        super().__init__()
        n = len(channels)
        self.branches = nn.ModuleList(
            nn.Sequential(*[BasicBlock(c, c) for _ in range(blocks)]) for c in channels
        )
        self.fuse_layers = nn.ModuleList()
        for i in range(n if multi_scale_output else 1):
            row = nn.ModuleList()
            for j in range(n):
                if j > i:  # lower resolution → 1×1 conv, nearest upsampling
                    row.append(nn.Sequential(nn.Conv2d(channels[j], channels[i], 1, bias=False),
                                             nn.BatchNorm2d(channels[i]),
                                             nn.Upsample(scale_factor=2 ** (j - i), mode="nearest")))
                elif j == i:
                    row.append(nn.Identity())
                else:  # higher resolution → (i - j) strided 3×3 convs
                    steps = [_conv_bn(channels[j], channels[j], 3, 2, True) for _ in range(i - j - 1)]
                    steps.append(_conv_bn(channels[j], channels[i], 3, 2, False))
                    row.append(nn.Sequential(*steps))
            self.fuse_layers.append(row)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        return [self.relu(sum(layer(x) for layer, x in zip(row, xs))) for row in self.fuse_layers]


class PoseHRNet(nn.Module):
    """HRNet for 2-D pose heatmaps (the W48 COCO configuration by default).

    Args:
        width: channels of the highest-resolution branch (48; the others are 2×, 4×, 8×).
        num_joints: heatmaps (17 COCO keypoints).
        stem_channels: stem width (64).
        modules_per_stage: high-resolution modules in stages 2, 3, 4 (1, 4, 3).

    Input (B, 3, 384, 288) ImageNet-normalised RGB → heatmaps (B, 17, 96, 72).
    """

    def __init__(self, width: int = 48, num_joints: int = 17, stem_channels: int = 64,
                 modules_per_stage: Sequence[int] = (1, 4, 3)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem_channels, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_channels)
        self.conv2 = nn.Conv2d(stem_channels, stem_channels, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(stem_channels)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(*[Bottleneck(stem_channels if i == 0 else 256, 64) for i in range(4)])
        previous = [256]
        for stage, num_modules in enumerate(modules_per_stage, start=2):
            channels = [width * 2 ** b for b in range(stage)]
            setattr(self, f"transition{stage - 1}", self._transition(previous, channels))
            last = stage == 1 + len(modules_per_stage)
            setattr(self, f"stage{stage}", nn.Sequential(*[
                HighResolutionModule(channels, 4, multi_scale_output=not (last and m == num_modules - 1))
                for m in range(num_modules)
            ]))
            previous = channels
        self.num_stages = len(modules_per_stage)
        self.final_layer = nn.Conv2d(width, num_joints, 1)

    @staticmethod
    def _transition(previous: Sequence[int], current: Sequence[int]) -> nn.ModuleList:
        """Adapt the branches of one stage to the next; a new branch is a strided conv of the lowest one."""
        layers = nn.ModuleList()
        for i, cout in enumerate(current):
            if i < len(previous):
                layers.append(nn.Identity() if previous[i] == cout else _conv_bn(previous[i], cout, 3, 1, True))
            else:
                steps = [_conv_bn(previous[-1], previous[-1], 3, 2, True) for _ in range(i - len(previous))]
                steps.append(_conv_bn(previous[-1], cout, 3, 2, True))
                layers.append(nn.Sequential(*steps))
        return layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))
        xs = [self.layer1(x)]
        for stage in range(2, 2 + self.num_stages):
            transition = getattr(self, f"transition{stage - 1}")
            # existing branches pass through (or are re-widened); a new branch grows from the lowest resolution
            xs = [transition[i](xs[i] if i < len(xs) else xs[-1]) for i in range(len(transition))]
            xs = getattr(self, f"stage{stage}")(xs)
        return self.final_layer(xs[0])


def load_hrnet(path: Union[str, Path], width: int = 48, device: Union[str, torch.device] = "cpu") -> PoseHRNet:
    """Build ``PoseHRNet(width)`` and load a checkpoint strictly (bare state_dict, wrapper or ``module.`` keys).

    Only BatchNorm's ``num_batches_tracked`` counters may be absent (older PyTorch did not save them);
    every weight must be present with the right shape.

    Raises:
        DemoError: unreadable file or any missing, unexpected or mis-shaped weight.
    """
    model = PoseHRNet(width=width)
    try:
        obj = read_checkpoint(path)  # weights only: a file holding other objects is refused, never run
        state = strip_prefixes(extract_state_dict(obj))
        for key, value in model.state_dict().items():
            if key.endswith("num_batches_tracked") and key not in state:
                state[key] = value
        check_state_dict(model, state, source=str(path))
        check_finite_weights(state, source=str(path))
    except CheckpointError as exc:
        raise DemoError(f"{exc} (expected pose_hrnet_w48_384x288.pth)") from exc
    except Exception as exc:  # pickle/zip errors of a damaged or foreign file
        raise DemoError(f"cannot read HRNet weights {path}: {exc.__class__.__name__}: {exc}") from exc
    model.load_state_dict(state, strict=True)
    _logger.info("loaded HRNet-W%d weights from %s", width, path)
    return model.eval().to(device)


def box_to_centre_scale(box: np.ndarray, aspect: float, enlarge: float = 1.25) -> Tuple[np.ndarray, float]:
    """Person box (x1, y1, x2, y2) → crop centre and crop width in pixels, widened to ``aspect`` (w/h)."""
    x1, y1, x2, y2 = [float(v) for v in box]
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    if w < aspect * h:
        w = aspect * h
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2], np.float32), w * enlarge


def heatmap_peaks(heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Argmax of each (J, H, W) heatmap with the quarter-pixel shift towards the higher neighbour.

    Returns:
        ``(coords (J, 2) in heatmap pixels, maxvals (J,))``.
    """
    joints, h, w = heatmaps.shape
    flat = heatmaps.reshape(joints, -1)
    idx = flat.argmax(axis=1)
    maxvals = flat[np.arange(joints), idx]
    coords = np.stack([idx % w, idx // w], axis=1).astype(np.float32)
    for j in range(joints):
        px, py = int(coords[j, 0]), int(coords[j, 1])
        if 1 < px < w - 1 and 1 < py < h - 1:
            hm = heatmaps[j]
            coords[j] += 0.25 * np.sign([hm[py, px + 1] - hm[py, px - 1], hm[py + 1, px] - hm[py - 1, px]])
    return coords, maxvals


class HRNetDetector(Detector2D):
    """YOLOv3 person box → HRNet-W48 keypoints (COCO-17) per frame.

    Args:
        yolo_weights: Darknet ``yolov3.weights``.
        hrnet_weights: ``pose_hrnet_w48_384x288.pth``.
        device: where both networks run.
        confidence: YOLO objectness threshold.
        nms_threshold: YOLO NMS IoU.
        yolo_width: YOLOv3 channel multiplier (1.0 for the real weights; tests use less).
        hrnet_width: HRNet branch width (48 for the real weights; tests use less).
        input_size: HRNet input (width, height).
    """

    name = "hrnet"
    gives_boxes = True
    multi_person = True
    #: most persons ``detect_persons`` returns per frame (the most confident boxes)
    max_boxes = 20

    def __init__(
        self,
        yolo_weights: Union[str, Path, None] = None,
        hrnet_weights: Union[str, Path, None] = None,
        device: Union[str, torch.device] = "cpu",
        confidence: float = 0.3,
        nms_threshold: float = 0.4,
        yolo_width: float = 1.0,
        hrnet_width: int = 48,
        input_size: Tuple[int, int] = (288, 384),
    ) -> None:
        yolo_path = Path(yolo_weights or YOLO_WEIGHTS)
        hrnet_path = Path(hrnet_weights or HRNET_WEIGHTS)
        missing = [str(p) for p in (yolo_path, hrnet_path) if not p.is_file()]
        if missing:
            raise DemoError(
                f"--detector hrnet needs the public weight files, missing: {', '.join(missing)}; download "
                f"yolov3.weights and pose_hrnet_w48_384x288.pth into {CHECKPOINT_DIR} (see docs/demo.md, HRNet weights) "
                "or pass --yolo-weights/--hrnet-weights"
            )
        self.device = device
        self.person = PersonDetector(load_yolov3(yolo_path, yolo_width, device), confidence=confidence,
                                     nms_threshold=nms_threshold, device=device)
        self.hrnet = load_hrnet(hrnet_path, hrnet_width, device)
        self.input_size = input_size
        self._last_box: Optional[np.ndarray] = None
        self._lost = 0

    def _track(self, frame: np.ndarray) -> Optional[np.ndarray]:
        """The person box of this frame, following the previous one; the last box for a few lost frames."""
        boxes, _ = self.person(frame)
        box = best_box(boxes, self._last_box)
        if box is None:
            self._lost += 1
            return self._last_box if self._lost <= BOX_MEMORY else None
        self._last_box, self._lost = box, 0
        return box

    def detect_frame(self, frame: np.ndarray) -> FrameResult:
        """Person box → affine crop → HRNet heatmaps → COCO-17 keypoints in frame pixels."""
        box = self._track(frame)
        if box is None:
            return None
        return self._keypoints(frame, box)

    def detect_persons(self, frame: np.ndarray) -> List[PersonDetection]:
        """Every YOLOv3 person box of the frame (most confident first) → HRNet keypoints."""
        boxes, _ = self.person(frame)
        return [PersonDetection(*self._keypoints(frame, box)) for box in boxes[:self.max_boxes]]

    @torch.no_grad()
    def _keypoints(self, frame: np.ndarray, box: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """COCO-17 keypoints (17, 2) pixels, scores (17,) and the box (4,) of the person in ``box``."""
        in_w, in_h = self.input_size
        centre, crop_w = box_to_centre_scale(box, in_w / in_h)
        s = in_w / crop_w  # crop pixels per frame pixel
        warp = np.array([[s, 0, in_w / 2 - s * centre[0]], [0, s, in_h / 2 - s * centre[1]]], np.float32)
        crop = cv2.warpAffine(frame, warp, (in_w, in_h), flags=cv2.INTER_LINEAR)
        rgb = (cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
        x = torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None].to(self.device)  # (1, 3, H, W)
        heatmaps = self.hrnet(x)[0].float().cpu().numpy()  # (17, H/4, W/4)
        coords, maxvals = heatmap_peaks(heatmaps)
        hm_w = heatmaps.shape[2]
        keypoints = centre + (coords - np.array([hm_w, heatmaps.shape[1]]) / 2) * (crop_w / hm_w)
        return keypoints.astype(np.float32), np.clip(maxvals, 0.0, 1.0), np.asarray(box, np.float32)
