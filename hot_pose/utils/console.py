"""Command-line plumbing shared by every entry point: one ``error:`` line for whatever escapes, quiet natives.

Part of a re-implementation of HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human
Pose Estimation", CVPR 2024, arXiv:2311.12028). Every entry point (training, demo, ONNX export, benchmark,
profile, the console commands) runs its body through ``guarded``: the errors it expects are reported by the body
itself with a precise message; ``guarded`` is the last resort for the rest, so that a user never sees a traceback
unless they ask for it (``--verbose``).
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
from pathlib import Path
from typing import Callable, Iterator, List, NoReturn, Optional, Sequence, Tuple, Type, Union

__all__ = ["first_line", "describe_os_error", "guarded", "quiet_native_logs", "LAST_RESORT", "OneLineArgumentParser",
           "str2bool", "int_bool", "join_negative_values", "fail", "console_prog", "list_models_command", "INT_MAX",
           "int_at_least", "finite_float", "plain_name", "native_stderr_to", "run_tool"]

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


def run_tool(parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace], int],
             argv: Optional[Sequence[str]] = None) -> int:
    """A measurement tool's entry point: parse ``argv`` (default ``sys.argv[1:]``; kept as ``args.argv`` for the
    report), log to stdout (debug with ``--verbose``) unless logging is already set up, and run ``body(args)``
    under ``guarded``. The parser must have a ``--verbose`` flag. Returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s",
                            stream=sys.stdout)
    return guarded(lambda: body(args), verbose=args.verbose)


def quiet_native_logs(level: Optional[str] = None) -> None:
    """Silence the lines FFmpeg, OpenCV, TFLite/MediaPipe (glog/absl) print on their own, so that an error stays one
    line. Must run before ``cv2``/``mediapipe`` are imported; ``HOT_NATIVE_LOGS=1`` (or ``level``) keeps them."""
    if os.environ.get("HOT_NATIVE_LOGS") == "1" or level == "keep":
        return
    for key, value in (("OPENCV_LOG_LEVEL", "OFF"), ("OPENCV_FFMPEG_LOGLEVEL", "-8"),
                       ("OPENCV_VIDEOIO_DEBUG", "0"), ("GLOG_minloglevel", "3"), ("TF_CPP_MIN_LOG_LEVEL", "3")):
        os.environ.setdefault(key, value)


class OneLineArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage errors are one line on stderr (exit status 2), naming the flag
    and pointing to ``--help``, instead of the usage block followed by the message."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def str2bool(value: str) -> bool:
    """Parse a boolean flag value: 1/0, true/false, yes/no, on/off (case-insensitive)."""
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "on"):
        return True
    if text in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {value!r}")


def int_bool(value: str) -> int:
    """A 0/1 flag that also takes true/false, yes/no, on/off (``str2bool``): the value stays an int (1 or 0), as
    the reference's flags and the stored checkpoints have it."""
    return int(str2bool(value))


def join_negative_values(parser: argparse.ArgumentParser, argv: Sequence[str]) -> List[str]:
    """``--lr -1e-3`` → ``--lr=-1e-3``: argparse reads a value such as ``-1e-3`` as an unknown option and says
    "expected one argument"; joined, the value reaches the flag's own check, which names the real problem."""
    takes_value = {opt for a in parser._actions if a.option_strings and a.nargs is None and a.type is not None
                   for opt in a.option_strings}
    out: List[str] = []
    for token in argv:
        if out and out[-1] in takes_value and token.startswith("-") and token not in parser._option_string_actions:
            try:
                float(token)
            except ValueError:
                pass
            else:
                out[-1] = f"{out[-1]}={token}"
                continue
        out.append(token)
    return out


def fail(exc: Union[BaseException, str], status: int, stream=None) -> int:
    """Print ``error: <first line of exc>`` on stderr and return ``status``."""
    text = next((line.strip() for line in str(exc).strip().splitlines() if line.strip()), type(exc).__name__)
    print(text if text.startswith("error: ") else f"error: {text}", file=stream or sys.stderr)
    return status


def console_prog(module: str, console: str) -> str:
    """The program name to show: the console command (``hot-bench``) when it runs as one, else
    ``python -m <module>``."""
    return console if Path(sys.argv[0]).name == console else f"python -m {module}"


def list_models_command() -> str:
    """How to list the model zoo, in the user's terms: ``hot-profile --list`` from a console command (``hot-*``),
    else ``python -m hot_pose.cli.profile --list``."""
    console = Path(sys.argv[0]).name.startswith("hot-")
    return "hot-profile --list" if console else "python -m hot_pose.cli.profile --list"


# ---------------------------------------------------------------------------------------------
# argparse value types: a bad number is one argparse line naming the flag and the allowed range
# ---------------------------------------------------------------------------------------------
#: the largest value of an integer flag (a 32-bit int, as ``hot_pose.training.arguments`` bounds the engine's)
INT_MAX = 2**31 - 1


def int_at_least(low: int, high: Optional[int] = None, what: str = "") -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``[low, high]`` (``high`` default ``INT_MAX``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            span = f">= {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"must be {span}{what}, got {value}")
        if value > INT_MAX:
            raise argparse.ArgumentTypeError(f"must be at most {INT_MAX} (2**31 - 1){what}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def finite_float(low: Optional[float] = None, high: Optional[float] = None, low_open: bool = False,
                 what: str = "") -> Callable[[str], float]:
    """An argparse ``type``: a finite number, ``>= low`` (``> low`` with ``low_open``) and ``<= high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        bad = not math.isfinite(value)
        if low is not None:
            bad = bad or (value <= low if low_open else value < low)
        if high is not None:
            bad = bad or value > high
        if bad:
            bounds = []
            if low is not None:
                bounds.append(f"{'>' if low_open else '>='} {low:g}")
            if high is not None:
                bounds.append(f"<= {high:g}")
            rule = "a finite number" + (" " + " and ".join(bounds) if bounds else "")
            raise argparse.ArgumentTypeError(f"must be {rule}{what}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


def plain_name(text: str) -> str:
    """An argparse ``type``: a file stem without folders (``--name``)."""
    if not text or text in (".", "..") or "/" in text or "\\" in text or "\0" in text:
        raise argparse.ArgumentTypeError(f"must be a plain file name without folders, got {text!r} "
                                         "(the folder is --out-dir)")
    return text


@contextlib.contextmanager
def native_stderr_to(sink: Union[None, str, Path] = os.devnull) -> Iterator[None]:
    """Inside the block, send what native code writes to file descriptor 2 (MediaPipe/TFLite start-up lines, the
    TorchScript exporter's IR dump on failure) into ``sink`` (default: nowhere); ``None`` leaves stderr alone.
    Python exceptions still raise."""
    if sink is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(sink, "wb") as fh:
            os.dup2(fh.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)
