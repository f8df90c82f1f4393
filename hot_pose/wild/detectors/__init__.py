"""Pluggable 2-D detectors of the HoT demo (Li et al., CVPR 2024, arXiv:2311.12028).

``DETECTORS`` maps a ``--detector`` name to ``"module:Class"``; the module is imported only when chosen, so
a missing optional dependency (MediaPipe) matters only to whoever picks that detector.

* ``mediapipe`` (default): BlazePose via MediaPipe's legacy solution, offline; ``MEDIAPIPE_MODELS`` sizes: full
  (weights inside the wheel) or heavy (fetched once, ``hot_pose.wild.sample.heavy_model``).
* ``hrnet``: YOLOv3 + HRNet-W48 (384×288) with the public weight files in ``hot_pose/wild/checkpoint/``.
* ``keypoints``: 2-D keypoints read from an npz/json file (any external detector).
"""
from __future__ import annotations

import importlib
from typing import Any, Type

from hot_pose.wild.detectors.base import Detection2D, Detector2D
from hot_pose.wild.errors import DemoError

DETECTORS = {
    "mediapipe": "hot_pose.wild.detectors.mediapipe:MediaPipeDetector",
    "hrnet": "hot_pose.wild.detectors.hrnet:HRNetDetector",
    "keypoints": "hot_pose.wild.detectors.keypoints_file:KeypointFileDetector",
}
DEFAULT_DETECTOR = "mediapipe"
#: BlazePose landmark model sizes of ``mediapipe`` (``--mediapipe-model``) and the default, chosen by
#: ``python -m tools.multi_benchmark --sizes full,heavy`` (``benchmarks/detector_size.md``): the fastest size unless
#: a slower one lowers both P-MPJPE and MPJPE by >= 10 % against every size's reference. Heavy: 3.8 % at most
#: (P-MPJPE 75.9 → 72.0-73.0 mm, MPJPE 109.7-110.8 → 105.3-105.5 mm) for a 2-D stage 1.8x slower, so full.
MEDIAPIPE_MODELS = ("full", "heavy")
DEFAULT_MEDIAPIPE_MODEL = "full"

__all__ = ["DETECTORS", "DEFAULT_DETECTOR", "DEFAULT_MEDIAPIPE_MODEL", "MEDIAPIPE_MODELS", "Detection2D", "Detector2D",
           "build_detector", "detector_class"]


def detector_class(name: str) -> Type[Detector2D]:
    """The class of detector ``name`` (imported, not constructed).

    Raises:
        DemoError: unknown name (the message lists the valid ones).
    """
    if name not in DETECTORS:
        raise DemoError(f"unknown detector '{name}'; valid names: {', '.join(DETECTORS)}")
    module_name, class_name = DETECTORS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_detector(name: str, **kwargs: Any) -> Detector2D:
    """Import and construct detector ``name`` with its keyword arguments.

    Raises:
        DemoError: unknown name (the message lists the valid ones) or a detector that cannot start.
    """
    return detector_class(name)(**kwargs)
