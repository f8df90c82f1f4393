"""Checks of the numbers, sizes and devices that the demo's flags and the Python API take, done before any work.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). One place for the ranges, so ``demo/vis.py`` (flags, exit 2), ``hot_pose.wild.pipeline``
(``DemoOptions`` built in Python), ``hot_pose.wild.stream`` and ``hot_pose`` refuse the same values with the same
words. Every check raises ``ValueError`` naming the argument (``--fps`` for the demo, ``fps`` for the API), the
value and the accepted range.
"""
from __future__ import annotations

import math
import numbers
import re
from typing import TYPE_CHECKING, Any, Optional, Tuple

if TYPE_CHECKING:  # torch is imported when a device is checked: a bad flag fails without loading it
    import torch

__all__ = ["MAX_SIDE", "MIN_SIDE", "FPS_RANGE", "MAX_HEIGHT_RANGE", "MAX_BATCH", "MAX_FRAMES_WINDOW", "MAX_PERSONS",
           "check_int", "check_number", "check_image_size", "check_device_name", "check_device"]

#: largest image side (pixels) accepted for ``--size`` / ``image_size`` (16K; 8K video is 7680 × 4320)
MAX_SIDE = 16384
#: smallest side of ``--size`` (a rendered panel below it is unreadable; the 2-D checks assume at least this)
MIN_SIDE = 64
#: frame rates the demo accepts for keypoints without a video (the mp4v encoder takes about 0.01 to 65535)
FPS_RANGE = (0.1, 1000.0)
#: output video height cap (the 3-D view is a square of that height: below 64 px it is unreadable)
MAX_HEIGHT_RANGE = (64, MAX_SIDE)
#: windows per forward pass (more only costs memory: a video rarely has that many windows)
MAX_BATCH = 4096
#: longest window ``--frames`` (the reference sizes are 27 to 351; attention memory grows with its square)
MAX_FRAMES_WINDOW = 1024
#: persons tracked at once (each MediaPipe follower is a BlazePose graph)
MAX_PERSONS = 100


def _is_integral(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Integral):
        return True
    return isinstance(value, numbers.Real) and math.isfinite(float(value)) and float(value).is_integer()


def check_int(value: Any, name: str, minimum: int = 1, maximum: Optional[int] = None) -> int:
    """``value`` as an int within [minimum, maximum] (whole floats such as 8.0 are accepted).

    Raises:
        ValueError: not a whole number (booleans, strings, 1.5, NaN, inf included) or out of range; the message
            names ``name`` and the range.
    """
    limits = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
    if not _is_integral(value):
        raise ValueError(f"{name} must be a whole number {limits}, got {value!r}")
    number = int(value)
    if number < minimum or (maximum is not None and number > maximum):
        raise ValueError(f"{name} must be {limits}, got {number}")
    return number


def check_number(value: Any, name: str, minimum: float, maximum: float) -> float:
    """``value`` as a finite float within [minimum, maximum].

    Raises:
        ValueError: not a real number, NaN/inf, or out of range; the message names ``name`` and the range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number between {minimum:g} and {maximum:g}, got {value!r}")
    number = float(value)
    if not minimum <= number <= maximum:
        raise ValueError(f"{name} must be between {minimum:g} and {maximum:g}, got {number:g}")
    return number


def check_image_size(size: Any, name: str = "image_size", minimum: int = 1) -> Tuple[int, int]:
    """(width, height) in whole pixels, each between ``minimum`` and ``MAX_SIDE``.

    Raises:
        ValueError: not a pair, or a side that is not a whole number in range (0, negative, NaN, inf, 1.5).
    """
    try:
        width, height = size
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (width, height) in pixels, got {size!r}") from None
    sides = []
    for side, value in (("width", width), ("height", height)):
        if not _is_integral(value) or not minimum <= int(value) <= MAX_SIDE:
            raise ValueError(f"{name} must be (width, height) in whole pixels between {minimum} and {MAX_SIDE}; "
                             f"got {side} {value!r}")
        sides.append(int(value))
    return sides[0], sides[1]


_DEVICE = re.compile(r"(auto|cpu|mps|cuda)(?::(\d+))?")


def check_device_name(name: Any, flag: str = "--device") -> Tuple[str, Optional[int]]:
    """``(kind, index)`` of a device name (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``), without importing
    torch and without asking whether this machine has it (``check_device`` does).

    Raises:
        ValueError: another name (``tpu``, ``cuda:x``, ``cpu:1``).
    """
    text = str(name).strip().lower() if isinstance(name, str) or type(name).__name__ == "device" else None
    match = _DEVICE.fullmatch(text) if text else None
    if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
        raise ValueError(f"{flag} {name!r} is not a device; use auto, cpu, cuda, cuda:N or mps")
    return match.group(1), None if match.group(2) is None else int(match.group(2))


def check_device(name: Any, flag: str = "--device") -> "torch.device":
    """The torch device for ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, checked to exist here.

    ``auto`` picks CUDA, then MPS, then the CPU.

    Raises:
        ValueError: another name (``tpu``, ``cuda:x``), or a device this machine does not have.
    """
    kind, index = check_device_name(name, flag)
    import torch

    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{flag} {name}: no CUDA device is available here (use cpu or auto)")
        count = torch.cuda.device_count()
        if index is not None and index >= count:
            raise ValueError(f"{flag} {name}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
        return torch.device("cuda", index or 0)
    if kind == "mps" and not mps:
        raise ValueError(f"{flag} {name}: MPS is not available here (use cpu or auto)")
    return torch.device(kind)
