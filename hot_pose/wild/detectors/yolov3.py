"""YOLOv3 person detector (Redmon & Farhadi, 2018, arXiv:1804.02767) for the HoT demo's ``hrnet`` detector.

HoT: Li et al., CVPR 2024 (arXiv:2311.12028); its demo finds the person with YOLOv3 before HRNet. This is
our own definition of the network of Darknet's ``yolov3.cfg`` (Darknet-53 backbone, three detection scales,
COCO's 80 classes) that reads the public ``yolov3.weights`` file in Darknet's binary format: a header
(major, minor, revision as int32, then the images-seen counter as int64 from format 0.2 on), followed by
float32 tensors conv by conv in cfg order: with batch norm (bias, scale, running mean, running variance,
conv weights), without (conv bias, conv weights). The file must be consumed exactly.

No torchvision: letterboxing uses OpenCV and non-maximum suppression ``cv2.dnn.NMSBoxes``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch import nn

from hot_pose.wild.errors import DemoError

_logger = logging.getLogger(__name__)

#: anchors (w, h) in input pixels, and which three each detection scale uses (coarse scale first)
ANCHORS = ((10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119), (116, 90), (156, 198), (373, 326))
MASKS = ((6, 7, 8), (3, 4, 5), (0, 1, 2))
PERSON = 0
#: candidate boxes kept for non-maximum suppression
MAX_CANDIDATES = 1000


def yolov3_layers(num_classes: int = 80, width: float = 1.0) -> List[tuple]:
    """The layer list of Darknet's yolov3.cfg (107 layers), with channel widths scaled by ``width`` (tests).

    Entries: ("conv", out_channels, kernel, stride, batch_norm), ("shortcut", -3), ("route", (layers,)),
    ("upsample", 2), ("yolo", mask). Route/shortcut indices are relative when negative.
    """
    layers: List[tuple] = []

    def conv(channels: int, kernel: int, stride: int = 1) -> None:
        layers.append(("conv", max(2, int(round(channels * width))), kernel, stride, True))

    def residual(blocks: int, channels: int) -> None:
        for _ in range(blocks):
            conv(channels // 2, 1)
            conv(channels, 3)
            layers.append(("shortcut", -3))

    def head(channels: int, mask: Tuple[int, ...]) -> None:
        for _ in range(3):
            conv(channels, 1)
            conv(channels * 2, 3)
        layers.append(("conv", 3 * (5 + num_classes), 1, 1, False))
        layers.append(("yolo", mask))

    conv(32, 3)
    for channels, blocks in ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)):  # Darknet-53: outputs at 36, 61, 74
        conv(channels, 3, 2)
        residual(blocks, channels)
    head(512, MASKS[0])  # layers 75-82
    for channels, skip in ((256, 61), (128, 36)):
        layers.append(("route", (-4,)))
        conv(channels, 1)
        layers.append(("upsample", 2))
        layers.append(("route", (-1, skip)))
        head(channels, MASKS[1] if skip == 61 else MASKS[2])
    return layers


class YOLOv3(nn.Module):
    """YOLOv3 (Darknet cfg semantics). ``forward`` returns decoded boxes.

    Args:
        num_classes: 80 for the COCO weights.
        width: channel multiplier (1.0 = the real network; smaller only for tests).
    """

    def __init__(self, num_classes: int = 80, width: float = 1.0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.spec = yolov3_layers(num_classes, width)
        self.layers = nn.ModuleList()
        channels: List[int] = []
        in_ch = 3
        for i, entry in enumerate(self.spec):
            kind = entry[0]
            if kind == "conv":
                _, out_ch, kernel, stride, bn = entry
                block = nn.Sequential()
                block.add_module("conv", nn.Conv2d(in_ch, out_ch, kernel, stride, (kernel - 1) // 2, bias=not bn))
                if bn:
                    block.add_module("bn", nn.BatchNorm2d(out_ch))
                    block.add_module("act", nn.LeakyReLU(0.1))
                self.layers.append(block)
                in_ch = out_ch
            else:
                self.layers.append(nn.Identity())
                if kind == "route":
                    in_ch = sum(channels[r if r >= 0 else i + r] for r in entry[1])
            channels.append(in_ch)

    def conv_layers(self) -> List[nn.Sequential]:
        """The conv blocks in cfg order (the order of the Darknet weight file)."""
        return [layer for layer, entry in zip(self.layers, self.spec) if entry[0] == "conv"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) RGB in [0, 1] (S a multiple of 32) → (B, N, 5 + classes) boxes.

        Each row: centre x, centre y, width, height (input pixels), objectness, class probabilities.
        """
        size = x.shape[-1]
        outputs: List[torch.Tensor] = []
        detections = []
        for i, (entry, layer) in enumerate(zip(self.spec, self.layers)):
            kind = entry[0]
            if kind == "conv":
                x = layer(x)
            elif kind == "shortcut":
                x = x + outputs[i + entry[1]]
            elif kind == "route":
                x = torch.cat([outputs[r if r >= 0 else i + r] for r in entry[1]], dim=1)
            elif kind == "upsample":
                x = nn.functional.interpolate(x, scale_factor=entry[1], mode="nearest")
            elif kind == "yolo":
                detections.append(self._decode(x, entry[1], size))
            outputs.append(x)
        return torch.cat(detections, dim=1)

    def _decode(self, p: torch.Tensor, mask: Sequence[int], size: int) -> torch.Tensor:
        """Raw head output (B, 3·(5+C), H, W) → (B, 3·H·W, 5+C) boxes in input pixels."""
        b, _, h, w = p.shape
        p = p.view(b, len(mask), 5 + self.num_classes, h, w).permute(0, 1, 3, 4, 2)  # (B, A, H, W, 5+C)
        stride = size / h
        gy, gx = torch.meshgrid(torch.arange(h, device=p.device), torch.arange(w, device=p.device), indexing="ij")
        anchors = torch.tensor([ANCHORS[m] for m in mask], dtype=p.dtype, device=p.device).view(1, -1, 1, 1, 2)
        xy = (torch.sigmoid(p[..., :2]) + torch.stack([gx, gy], -1)) * stride
        wh = torch.exp(p[..., 2:4].clamp(max=20)) * anchors
        rest = torch.sigmoid(p[..., 4:])
        return torch.cat([xy, wh, rest], -1).reshape(b, -1, 5 + self.num_classes)


def _read_header(data: bytes) -> int:
    """Byte length of a Darknet weight-file header (20 from format 0.2 on, else 16)."""
    major, minor, _ = np.frombuffer(data[:12], dtype=np.int32)
    return 20 if (major * 10 + minor) >= 2 and major < 1000 and minor < 1000 else 16


def load_darknet_weights(model: YOLOv3, path: Union[str, Path]) -> None:
    """Fill ``model`` from a Darknet ``.weights`` file, which must match it exactly.

    Raises:
        DemoError: missing file, or a float count that does not fit the network.
    """
    path = Path(path)
    if not path.is_file():
        raise DemoError(f"YOLOv3 weights not found: {path}")
    data = path.read_bytes()
    values = np.frombuffer(data, dtype=np.float32, offset=_read_header(data))
    tensors = []
    for block in model.conv_layers():
        conv = block.conv
        if hasattr(block, "bn"):
            tensors += [block.bn.bias, block.bn.weight, block.bn.running_mean, block.bn.running_var]
        else:
            tensors.append(conv.bias)
        tensors.append(conv.weight)
    needed = sum(t.numel() for t in tensors)
    if needed != values.size:
        raise DemoError(f"{path} holds {values.size} floats but YOLOv3 needs {needed}: not a yolov3.weights file")
    offset = 0
    with torch.no_grad():
        for t in tensors:
            t.copy_(torch.from_numpy(values[offset:offset + t.numel()].copy()).view_as(t))
            offset += t.numel()


def write_darknet_weights(model: YOLOv3, path: Union[str, Path], seen: int = 0) -> None:
    """Write ``model`` in the Darknet format (format 0.2 header); the inverse of ``load_darknet_weights``."""
    parts = [np.array([0, 2, 0], np.int32).tobytes(), np.array([seen], np.int64).tobytes()]
    for block in model.conv_layers():
        group = [block.bn.bias, block.bn.weight, block.bn.running_mean, block.bn.running_var] if hasattr(
            block, "bn") else [block.conv.bias]
        for t in group + [block.conv.weight]:
            parts.append(t.detach().cpu().numpy().astype(np.float32).tobytes())
    Path(path).write_bytes(b"".join(parts))


def darknet_float_count(model: YOLOv3) -> int:
    """Number of float32 values the model's Darknet weight file holds (62,001,757 for yolov3.weights)."""
    count = 0
    for block in model.conv_layers():
        extra = 4 * block.bn.num_features if hasattr(block, "bn") else block.conv.bias.numel()
        count += block.conv.weight.numel() + extra
    return count


def letterbox(frame: np.ndarray, size: int) -> Tuple[np.ndarray, float, Tuple[int, int]]:
    """Resize keeping the aspect ratio (cubic) into a ``size``² canvas of grey 128, BGR → RGB in [0, 1].

    Returns:
        ``(image (3, size, size) float32, scale, (pad_x, pad_y))``.
    """
    h, w = frame.shape[:2]
    scale = min(size / w, size / h)
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    canvas = np.full((size, size, 3), 128, np.uint8)
    pad_x, pad_y = (size - nw) // 2, (size - nh) // 2
    canvas[pad_y:pad_y + nh, pad_x:pad_x + nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_CUBIC)
    image = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB).astype(np.float32).transpose(2, 0, 1) / 255.0
    return image, scale, (pad_x, pad_y)


class PersonDetector:
    """YOLOv3 → person boxes of one frame.

    Args:
        model: a loaded ``YOLOv3``.
        input_size: network input (416 as in the reference; any multiple of 32).
        confidence: objectness threshold (the reference demo passes 0.30).
        nms_threshold: IoU threshold of non-maximum suppression (0.4).
        device: where the network runs.
    """

    def __init__(self, model: YOLOv3, input_size: int = 416, confidence: float = 0.3, nms_threshold: float = 0.4,
                 device: Union[str, torch.device] = "cpu") -> None:
        if input_size % 32:
            raise ValueError(f"YOLOv3 input size must be a multiple of 32, got {input_size}")
        self.model = model.eval().to(device)
        self.input_size = input_size
        self.confidence = confidence
        self.nms_threshold = nms_threshold
        self.device = device

    @torch.no_grad()
    def __call__(self, frame: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Person boxes of a BGR frame: ``(boxes (N, 4) x1 y1 x2 y2 pixels, scores (N,))``, best first."""
        image, scale, (pad_x, pad_y) = letterbox(frame, self.input_size)
        pred = self.model(torch.from_numpy(image)[None].to(self.device))[0].float().cpu().numpy()  # (N, 5 + C)
        obj = pred[:, 4]
        keep = (obj > self.confidence) & (pred[:, 5:].argmax(axis=1) == PERSON)
        pred, obj = pred[keep], obj[keep]
        if not len(pred):
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        if len(pred) > MAX_CANDIDATES:  # NMS is quadratic: keep the most confident candidates
            top = np.argsort(-obj)[:MAX_CANDIDATES]
            pred, obj = pred[top], obj[top]
        xywh = np.stack([pred[:, 0] - pred[:, 2] / 2, pred[:, 1] - pred[:, 3] / 2, pred[:, 2], pred[:, 3]], 1)
        idx = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), obj.tolist(), self.confidence, self.nms_threshold)).reshape(-1)
        idx = idx[np.argsort(-obj[idx])]
        boxes = xywh[idx].copy()
        boxes[:, 2:] += boxes[:, :2]  # x1 y1 x2 y2
        boxes[:, [0, 2]] = (boxes[:, [0, 2]] - pad_x) / scale
        boxes[:, [1, 3]] = (boxes[:, [1, 3]] - pad_y) / scale
        h, w = frame.shape[:2]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w - 1)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h - 1)
        return boxes.astype(np.float32), obj[idx].astype(np.float32)


def load_yolov3(path: Union[str, Path], width: float = 1.0, device: Union[str, torch.device] = "cpu") -> YOLOv3:
    """Build YOLOv3 and load ``path`` (Darknet format)."""
    model = YOLOv3(width=width)
    load_darknet_weights(model, path)
    _logger.info("loaded YOLOv3 weights from %s", path)
    return model.eval().to(device)


def best_box(boxes: np.ndarray, previous: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """The box to follow: the one overlapping ``previous`` most (IoU > 0.3), else the first (highest score)."""
    if not len(boxes):
        return None
    if previous is not None:
        x1 = np.maximum(boxes[:, 0], previous[0])
        y1 = np.maximum(boxes[:, 1], previous[1])
        x2 = np.minimum(boxes[:, 2], previous[2])
        y2 = np.minimum(boxes[:, 3], previous[3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        iou = inter / (area + (previous[2] - previous[0]) * (previous[3] - previous[1]) - inter + 1e-9)
        if iou.max() > 0.3:
            return boxes[int(iou.argmax())]
    return boxes[0]
