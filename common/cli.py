"""Command-line plumbing shared by every entry point: one ``error:`` line for whatever escapes, quiet natives.

Part of a re-implementation of HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human
Pose Estimation", CVPR 2024, arXiv:2311.12028). Every entry point (training, demo, ONNX export, benchmark,
profile, the console commands) runs its body through ``guarded``: the errors it expects are reported by the body
itself with a precise message; ``guarded`` is the last resort for the rest, so that a user never sees a traceback
unless they ask for it (``--verbose``).
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Optional, Tuple, Type

__all__ = ["first_line", "describe_os_error", "guarded", "quiet_native_logs", "LAST_RESORT"]

#: what ``guarded`` turns into one line (programming errors such as TypeError/KeyError stay tracebacks: a bug)
LAST_RESORT: Tuple[Type[BaseException], ...] = (OSError, ValueError, RuntimeError, MemoryError)


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, or its class name when the message is empty."""
    for line in str(exc).strip().splitlines():
        if line.strip():
            return line.strip()
    return exc.__class__.__name__


def describe_os_error(exc: OSError) -> str:
    """``"No space left on device (/path)"``: the system's words and the file, without errno numbers."""
    text = exc.strerror or first_line(exc)
    return f"{text} ({exc.filename})" if exc.filename else text


def guarded(body: Callable[[], int], verbose: bool = False, interrupted: str = "interrupted",
            after_os_error: str = "", stream=None) -> int:
    """Run ``body`` (an entry point's work, returning its exit status) and report what escapes it in one line.

    Args:
        body: the work; its own user errors should already be one line and a return status.
        verbose: re-raise instead (the user asked for the traceback).
        interrupted: what Ctrl-C prints (exit status 130).
        after_os_error: appended to an OS error's line, e.g. "; checkpoints already written are intact".
        stream: where the line goes (default ``sys.stderr``).

    Returns:
        ``body``'s status; 1 for an error caught here, 130 for Ctrl-C. ``SystemExit`` (argparse) passes through.
    """
    out = stream or sys.stderr
    try:
        return body()
    except KeyboardInterrupt:
        if verbose:
            raise
        print(interrupted, file=out)
        return 130
    except OSError as exc:
        if verbose:
            raise
        print(f"error: {describe_os_error(exc)}{after_os_error}", file=out)
        return 1
    except LAST_RESORT as exc:
        if verbose:
            raise
        print(f"error: {first_line(exc)} (--verbose shows where)", file=out)
        return 1


def quiet_native_logs(level: Optional[str] = None) -> None:
    """Silence the lines FFmpeg, OpenCV, TFLite/MediaPipe (glog/absl) print on their own, so that an error stays one
    line. Must run before ``cv2``/``mediapipe`` are imported; ``HOT_NATIVE_LOGS=1`` (or ``level``) keeps them."""
    if os.environ.get("HOT_NATIVE_LOGS") == "1" or level == "keep":
        return
    for key, value in (("OPENCV_LOG_LEVEL", "OFF"), ("OPENCV_FFMPEG_LOGLEVEL", "-8"),
                       ("OPENCV_VIDEOIO_DEBUG", "0"), ("GLOG_minloglevel", "3"), ("TF_CPP_MIN_LOG_LEVEL", "3")):
        os.environ.setdefault(key, value)
