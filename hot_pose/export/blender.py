"""Open a BVH in Blender, headless: Blender's own importer, then the frame count and bone positions for checks.

Part of ``hot_pose.export`` (HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose
Estimation", CVPR 2024, arXiv:2311.12028). :func:`blender_import_bvh` runs

    blender -b --factory-startup --python-exit-code 1 --python <script> -- IN.bvh OUT.json SCALE FRAME...

where the script (:data:`IMPORT_SCRIPT`, written to a temporary folder) calls ``bpy.ops.import_anim.bvh`` and
dumps, for the requested frames, the world head and tail of every bone. Import options: ``axis_forward='-Z',
axis_up='Y'`` (Blender's defaults: BVH +y -> Blender +z, BVH +z -> Blender -y, so a file of
:func:`hot_pose.export.bvh.write_bvh` lands in its original z-up world), ``global_scale`` = 0.01 for a cm file
(1 for m, 0.001 for mm: Blender works in metres), ``rotate_mode='NATIVE'`` (the file's Euler order),
``frame_start=1`` (BVH frame i -> Blender frame 1 + i), ``use_fps_scale=False``, ``update_scene_fps=True`` (scene
fps = file fps), ``update_scene_duration=True``. Bone heads therefore compare directly with the joints that
``write_bvh`` returned.

Debian 12's Blender 3.4.1 (``apt-get install blender``) runs Python 3.11, whose ``open`` rejects the mode ``"rU"``
that its BVH importer still passes (``ValueError: invalid mode: 'rU'``); the script maps any mode with ``U`` to
the same mode without it around the import (harmless on other versions). Blender is found as ``$BLENDER`` or
``blender`` on ``PATH`` (:func:`find_blender`).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from hot_pose.export.motion import UNIT_SCALE, PathLike

__all__ = ["IMPORT_SCRIPT", "BlenderBvhImport", "find_blender", "blender_import_bvh"]

_logger = logging.getLogger(__name__)

#: runs inside Blender (2.8+; only ``bpy`` and the standard library):
#: ``blender -b --factory-startup --python this.py -- IN.bvh OUT.json SCALE [FRAME ...]`` (0-based BVH frames;
#: none = every frame)
IMPORT_SCRIPT = '''\
import builtins
import json
import sys
import time

import bpy


def open_without_u(real_open):
    """Debian's Blender 3.4 importer opens the file with mode "rU", which Python 3.11 refuses: drop the U."""
    def patched(file, mode="r", *args, **kwargs):
        if isinstance(mode, str) and "U" in mode:
            mode = mode.replace("U", "") or "r"
        return real_open(file, mode, *args, **kwargs)
    return patched


def main(argv):
    bvh_path, out_path, scale = argv[0], argv[1], float(argv[2])
    started = time.time()
    real_open = builtins.open
    builtins.open = open_without_u(real_open)
    try:
        result = bpy.ops.import_anim.bvh(
            filepath=bvh_path, target="ARMATURE", global_scale=scale, axis_forward="-Z", axis_up="Y",
            rotate_mode="NATIVE", frame_start=1, use_fps_scale=False, update_scene_fps=True,
            update_scene_duration=True)
    finally:
        builtins.open = real_open
    if "FINISHED" not in result:
        raise RuntimeError("the BVH import returned %s" % (result,))
    arm = bpy.context.view_layer.objects.active
    scene = bpy.context.scene
    action = arm.animation_data.action
    keys = {fc.data_path + "[%d]" % fc.array_index: len(fc.keyframe_points) for fc in action.fcurves}
    first, last = action.frame_range
    frames = [int(f) for f in argv[3:]] or list(range(int(round(last - first)) + 1))
    out = {
        "blender_version": bpy.app.version_string,
        "import_seconds": time.time() - started,
        "fps": scene.render.fps / scene.render.fps_base,
        "action_frame_range": [first, last],
        "keyframes": keys,
        "bones": [b.name for b in arm.data.bones],
        "parents": [b.parent.name if b.parent else "" for b in arm.data.bones],
        "frames": frames,
        "head": [],
        "tail": [],
    }
    world = arm.matrix_world
    for frame in frames:
        scene.frame_set(1 + frame)
        out["head"].append([list(world @ arm.pose.bones[n].head) for n in out["bones"]])
        out["tail"].append([list(world @ arm.pose.bones[n].tail) for n in out["bones"]])
    with open(out_path, "w") as handle:
        json.dump(out, handle)


main(sys.argv[sys.argv.index("--") + 1:])
'''


@dataclass(frozen=True)
class BlenderBvhImport:
    """What Blender made of a BVH.

    Attributes:
        version: Blender's version string.
        fps: the scene's frame rate after the import.
        frame_count: number of animated frames: the most keys on an F-curve (the importer keys every BVH frame on
            every channel's curve; BVH frame i -> Blender frame 1 + i).
        action_frame_range: first and last keyed Blender frame.
        keyframes: F-curve (``data_path[index]``) -> number of keyframes.
        bones: bone names (the BVH joint names).
        parents: parent bone of each bone (``""`` for the root).
        frames: the 0-based BVH frames sampled.
        head: ``(F, B, 3)`` world bone heads (metres, z up, when imported with the file's units).
        tail: ``(F, B, 3)`` world bone tails.
        seconds: wall time of the whole Blender run (start included).
    """
    version: str
    fps: float
    frame_count: int
    action_frame_range: Tuple[float, float]
    keyframes: Dict[str, int]
    bones: Tuple[str, ...]
    parents: Tuple[str, ...]
    frames: Tuple[int, ...]
    head: np.ndarray
    tail: np.ndarray
    seconds: float


def find_blender() -> Optional[str]:
    """The Blender executable: ``$BLENDER`` when set, else ``blender`` on ``PATH``, else ``None``."""
    env = os.environ.get("BLENDER", "").strip()
    if env:
        return env
    return shutil.which("blender")


def blender_import_bvh(bvh_path: PathLike, frames: Optional[Sequence[int]] = None, units: str = "cm",
                       blender: Optional[str] = None, timeout: float = 300.0) -> BlenderBvhImport:
    """Import a BVH into a fresh headless Blender (factory settings) and read back its animation.

    Args:
        bvh_path: the ``.bvh`` file.
        frames: 0-based BVH frames to sample bone positions at; ``None``: every frame.
        units: the units the BVH was written in (``"cm"``, ``"m"``, ``"mm"``); sets ``global_scale`` so that
            Blender works in metres.
        blender: the Blender executable (default :func:`find_blender`).
        timeout: seconds before Blender is stopped.
    Returns:
        :class:`BlenderBvhImport`.
    Raises:
        ValueError: bad units or frames.
        FileNotFoundError: no Blender, or no BVH file.
        RuntimeError: Blender failed or timed out (the message ends with Blender's last output).
    """
    if not isinstance(units, str) or units not in UNIT_SCALE:
        raise ValueError(f"units must be one of {', '.join(repr(u) for u in UNIT_SCALE)}, got {units!r}")
    frame_list = [] if frames is None else [int(f) for f in frames]
    if frames is not None and (not frame_list or min(frame_list) < 0):
        raise ValueError(f"frames must be 0-based frame indices (at least one), got {frame_list}")
    exe = blender or find_blender()
    if not exe or shutil.which(exe) is None:
        raise FileNotFoundError(f"Blender not found{f' at {exe}' if exe else ''}: install it (Debian/Ubuntu: "
                                "apt-get install blender; or blender.org) or set BLENDER=/path/to/blender")
    if not os.path.isfile(bvh_path):
        raise FileNotFoundError(f"no BVH file at {bvh_path}")
    with tempfile.TemporaryDirectory(prefix="hot_blender_") as tmp:
        script = Path(tmp) / "import_bvh.py"
        script.write_text(IMPORT_SCRIPT, encoding="utf-8")
        out_json = Path(tmp) / "bones.json"
        cmd = [exe, "-b", "--factory-startup", "--python-exit-code", "1", "--python", str(script), "--",
               os.path.abspath(bvh_path), str(out_json), repr(1.0 / UNIT_SCALE[units])] + [str(f) for f in frame_list]
        started = time.monotonic()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"Blender did not finish importing {bvh_path} within {timeout:g} s") from None
        seconds = time.monotonic() - started
        if proc.returncode != 0 or not out_json.is_file():
            output = (proc.stdout + proc.stderr).strip()[-2000:]
            raise RuntimeError(f"Blender failed (exit {proc.returncode}) importing {bvh_path}:\n{output}")
        raw = json.loads(out_json.read_text(encoding="utf-8"))
    first, last = raw["action_frame_range"]
    _logger.info("Blender %s imported %s in %.1f s", raw["blender_version"], bvh_path, seconds)
    return BlenderBvhImport(raw["blender_version"], float(raw["fps"]), max(raw["keyframes"].values(), default=0),
                            (float(first), float(last)), dict(raw["keyframes"]), tuple(raw["bones"]),
                            tuple(raw["parents"]), tuple(raw["frames"]), np.asarray(raw["head"], dtype=np.float64),
                            np.asarray(raw["tail"], dtype=np.float64), seconds)
