"""HoT — Hourglass Tokenizer for efficient transformer-based 3-D human pose estimation, as one installable package.

Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). The public API (``hot_pose.api``), imported on first use so that ``import hot_pose`` and the
console commands start fast:

    >>> from hot_pose import PoseLifter, detect_2d
    >>> keypoints, size, fps = detect_2d("my_video.mp4")               # (T, 17, 3) COCO-17 pixels + scores
    >>> poses = PoseLifter.load().lift(keypoints, size, layout="coco")  # (T, 17, 3) metres, camera frame
    >>> from hot_pose import capture
    >>> capture("my_video.mp4", height=1.80).to_bvh("me.bvh")           # metric motion capture → BVH

The layers, bottom to top (imports run downwards only; ``docs/architecture.md``): ``utils`` → ``data``, ``models``
→ ``training``, ``export`` → ``mocap`` → ``wild`` (video → 2-D → 3-D) → ``api`` → ``cli`` (the console commands).
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name → the module that defines it
_PUBLIC = {
    "PoseLifter": "hot_pose.api",
    "detect_2d": "hot_pose.api",
    "track_2d": "hot_pose.api",
    "capture": "hot_pose.api",
    "JOINT_NAMES": "hot_pose.api",
    "LAYOUTS": "hot_pose.api",
    "SHIPPED": "hot_pose.api",
    "build_model": "hot_pose.models",
    "available_models": "hot_pose.models",
}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first access (PEP 562)."""
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hot_pose' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(_PUBLIC))
