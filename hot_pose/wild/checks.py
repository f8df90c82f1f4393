"""Sanity checks between the stages of the HoT demo, so that no NaN, inf or absurd value reaches an output.

HoT: Li et al., CVPR 2024 (arXiv:2311.12028). The demo's stages and what each check refuses:

* 2-D keypoints from a file (pixels): ±inf (NaN is the documented "missing joint/frame" marker and is
  allowed); joints more than ``OUTSIDE_FRAMES`` frame widths/heights outside the image (not pixels of this
  video); a whole sequence that fits in ``NORMALISED_SPAN_PX`` pixels of a frame at least ``MIN_FRAME_PX``
  on each side (coordinates normalised to [0, 1] or [-1, 1], not pixels). → ``DemoError``
  (``check_pixel_keypoints``).
* 2-D keypoints from a built-in detector: ±inf → ``DemoError``; a joint more than ``OUTSIDE_FRAMES``
  outside the image (a detector's guess for a body part far out of view, e.g. the feet in a close-up) is
  marked missing, with a warning, and filled from the other frames (``mask_far_outside``).
* Any later array (H36M keypoints after mapping and gap filling, scores, lifted poses, poses after the
  bone-length step): must be all finite. → ``DemoError``.
* Lifter input (normalised screen coordinates, see ``hot_pose.data.camera.normalize_screen_coordinates``: x in
  [-1, 1], y in [-h/w, h/w]): finite and ``|value| <= MAX_ABS_NORMALISED``. The bound leaves room for
  joints outside the frame and for portrait videos (y up to ±1.78 at 9:16 inside the frame) while pixels
  (hundreds) are caught. → ``ValueError`` (library code: ``hot_pose.wild.lift``, ``hot_pose.wild.stream``).
* Lifted poses (metres, root-relative): finite and within ``MAX_POSE_M`` of the root; anything else from
  checked, in-range input means broken weights. → ``DemoError`` naming the checkpoint.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

from hot_pose.wild.errors import DemoError

_logger = logging.getLogger(__name__)

#: largest |value| accepted as a normalised screen coordinate (or confidence) by the lifters
MAX_ABS_NORMALISED = 8.0
#: 2-D joints may lie at most this many frame widths (x) / heights (y) outside the image
OUTSIDE_FRAMES = 1.0
#: a sequence whose keypoints all fit in a box this small (pixels, both axes) ...
NORMALISED_SPAN_PX = 4.0
#: ... in a frame at least this large on each side is taken for normalised coordinates
MIN_FRAME_PX = 64
#: largest distance (metres) of a lifted joint from the root that a human pose can have
MAX_POSE_M = 1000.0

NORMALISE_HINT = "normalise pixels with hot_pose.data.camera.normalize_screen_coordinates(kp, w, h)"


def _frames_with(mask: np.ndarray) -> np.ndarray:
    """(T, ...) bool → frame numbers where any entry is set."""
    return np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))


def _frame_list(frames: np.ndarray, limit: int = 3) -> str:
    """"0, 1, 2, ..." for the first ``limit`` frame numbers."""
    shown = ", ".join(str(int(t)) for t in frames[:limit])
    return shown + (", ..." if len(frames) > limit else "")


def check_lift_input(keypoints: np.ndarray, max_abs: float = MAX_ABS_NORMALISED) -> None:
    """Refuse lifter input that is not finite normalised screen coordinates.

    Args:
        keypoints: (T, J, C) or (J, C) normalised keypoints (C = 2, or 3 with a confidence channel).
        max_abs: largest accepted |value| (default ``MAX_ABS_NORMALISED``).

    Raises:
        ValueError: NaN/inf values, or values beyond ±``max_abs`` (e.g. pixels); the message says how to
            normalise.
    """
    kp = np.asarray(keypoints)
    if kp.dtype.kind not in "iuf":
        raise ValueError(f"keypoints must be numbers, got dtype {kp.dtype}")
    if kp.size == 0:
        return
    finite = np.isfinite(kp)
    if not finite.all():
        where = f" in frames {_frame_list(_frames_with(~finite))}" if kp.ndim == 3 else ""
        raise ValueError(f"keypoints hold {int((~finite).sum())} NaN/inf values{where}; fill missing joints first "
                         "(hot_pose.wild.preprocess.fill_gaps), then " + NORMALISE_HINT)
    biggest = float(np.abs(kp).max())
    if biggest > max_abs:
        where = f" in frames {_frame_list(_frames_with(np.abs(kp) > max_abs))}" if kp.ndim == 3 else ""
        raise ValueError(f"keypoints reach |value| = {biggest:.4g}{where}, beyond ±{max_abs:g}: expected normalised "
                         "screen coordinates (x in [-1, 1], y in [-h/w, h/w]), not pixels; " + NORMALISE_HINT)


def lift_input_bound(width: int, height: int) -> float:
    """The ``max_abs`` for a video of this size: ``MAX_ABS_NORMALISED``, or more for videos taller than 8:3,
    whose in-bound joints (``OUTSIDE_FRAMES`` below the image) normalise to y up to (1 + 2·OUTSIDE_FRAMES)·h/w."""
    return max(MAX_ABS_NORMALISED, (1 + 2 * OUTSIDE_FRAMES) * height / width)


def _far_outside(kp: np.ndarray, width: int, height: int) -> np.ndarray:
    """(T, J, 2) pixels → (T, J) bool: more than ``OUTSIDE_FRAMES`` frame widths/heights outside the image."""
    x, y = kp[..., 0], kp[..., 1]
    with np.errstate(invalid="ignore"):  # NaN compares False: missing joints are never "outside"
        return (x < -OUTSIDE_FRAMES * width) | (x > (1 + OUTSIDE_FRAMES) * width) \
            | (y < -OUTSIDE_FRAMES * height) | (y > (1 + OUTSIDE_FRAMES) * height)


def _refuse_inf(kp: np.ndarray, source: str) -> None:
    inf = np.isinf(kp)
    if inf.any():
        raise DemoError(f"{source}: {int(inf.sum())} keypoint coordinates are infinite (frames "
                        f"{_frame_list(_frames_with(inf))}); use NaN for a missing joint or frame and pixels for the "
                        "others")


def mask_far_outside(keypoints: np.ndarray, scores: np.ndarray, width: int, height: int,
                     source: str) -> Tuple[np.ndarray, np.ndarray]:
    """A built-in detector's keypoints with joints far outside the image marked missing.

    Args:
        keypoints: (T, J, 2) pixels; NaN marks a missing joint or frame.
        scores: (T, J) confidences.
        width: frame width in pixels.
        height: frame height in pixels.
        source: the detector, for the messages.

    Returns:
        ``(keypoints, scores)``: copies with the joints more than ``OUTSIDE_FRAMES`` frame widths/heights
        outside the image set to NaN (score 0); a warning says how many.

    Raises:
        DemoError: ±inf coordinates (a detector never means them).
    """
    kp = np.array(keypoints, dtype=np.float32)
    sc = np.array(scores, dtype=np.float32)
    _refuse_inf(kp, source)
    far = _far_outside(kp.astype(np.float64), width, height)
    if far.any():
        _logger.warning("%s: %d joints in %d frames lie more than one frame width/height outside the %dx%d video; "
                        "treated as missing and filled from the other frames", source, int(far.sum()),
                        len(_frames_with(far)), width, height)
        kp[far] = np.nan
        sc[far] = 0.0
    return kp, sc


def check_pixel_keypoints(keypoints: np.ndarray, width: int, height: int, source: str) -> None:
    """Refuse 2-D detections that cannot be pixel coordinates of a ``width`` × ``height`` video.

    Args:
        keypoints: (T, J, 2) pixels (x right, y down); NaN marks a missing joint or frame.
        width: frame width in pixels.
        height: frame height in pixels.
        source: what produced them, for the message (e.g. "keypoint file k.npz", "detector 'hrnet'").

    Raises:
        DemoError: ±inf values, joints more than ``OUTSIDE_FRAMES`` frames outside the image, or a sequence
            that spans at most ``NORMALISED_SPAN_PX`` pixels (normalised coordinates).
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[-1] != 2:
        raise DemoError(f"{source}: keypoints have shape {kp.shape}, expected (T, J, 2)")
    _refuse_inf(kp, source)
    finite = np.isfinite(kp).all(axis=-1)  # (T, J)
    if not finite.any():
        return  # nobody anywhere: fill_gaps reports "no person"
    x, y = kp[..., 0], kp[..., 1]
    outside = _far_outside(kp, width, height)
    if outside.any():
        frames = _frames_with(outside)
        t, j = np.argwhere(outside)[0]
        raise DemoError(
            f"{source}: {int(outside.sum())} joints in {len(frames)} of {len(kp)} frames lie more than one frame "
            f"width/height outside the {width}x{height} video (e.g. frame {t} joint {j} at x={x[t, j]:.4g}, "
            f"y={y[t, j]:.4g}); the keypoints must be pixel coordinates of this video (x in [0, {width}], "
            f"y in [0, {height}])")
    span_x = float(x[finite].max() - x[finite].min())
    span_y = float(y[finite].max() - y[finite].min())
    if min(width, height) >= MIN_FRAME_PX and max(span_x, span_y) <= NORMALISED_SPAN_PX:
        raise DemoError(
            f"{source}: all keypoints of the sequence fit in {span_x:.3g}x{span_y:.3g} pixels of the "
            f"{width}x{height} video; they look normalised (or degenerate): the file must hold pixel coordinates "
            f"of this video (x in [0, {width}], y in [0, {height}])")


def check_finite(array: np.ndarray, what: str, fix: str) -> None:
    """Refuse an array with NaN or inf values.

    Args:
        array: (T, ...) any numeric array, frames first.
        what: the array and the stage that made it, for the message.
        fix: what the user can do about it.

    Raises:
        DemoError: "``what`` holds N NaN/inf values in frames ...; ``fix``".
    """
    arr = np.asarray(array)
    bad = ~np.isfinite(arr)
    if bad.any():
        frames = _frames_with(bad) if arr.ndim >= 1 else np.zeros(1, int)
        raise DemoError(f"{what} holds {int(bad.sum())} NaN/inf values (frames {_frame_list(frames)} of "
                        f"{len(arr) if arr.ndim else 1}); {fix}")


def check_lifted_poses(poses: np.ndarray, checkpoint: Optional[Union[str, Path]]) -> None:
    """Refuse lifted poses that are not finite or farther than ``MAX_POSE_M`` from the root.

    The input was checked before lifting, so such output means the lifting weights are broken.

    Args:
        poses: (T, J, 3) root-relative metres.
        checkpoint: the weights file (``None``: random weights).

    Raises:
        DemoError: naming the checkpoint.
    """
    arr = np.asarray(poses, dtype=np.float64)
    finite = np.isfinite(arr)
    with np.errstate(invalid="ignore"):
        huge = finite & (np.abs(arr) > MAX_POSE_M)
    bad = ~finite | huge
    if bad.any():
        frames = _frames_with(bad)
        weights = f"checkpoint {checkpoint}" if checkpoint else "the random weights"
        kind = "NaN/inf values" if (~finite).any() else f"joints farther than {MAX_POSE_M:g} m from the pelvis"
        raise DemoError(f"the lifting model returned {kind} in {len(frames)} of {len(arr)} frames from valid 2-D "
                        f"input: its weights are likely corrupt ({weights}); re-download or re-train it, or pass "
                        "another --checkpoint")
