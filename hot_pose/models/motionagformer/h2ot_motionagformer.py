"""H2OT w. MotionAGFormer: pruned in several steps and recovered once (``motionagformer.h2ot_motionagformer``).

Li et al., "H2OT: Hierarchical Hourglass Tokenizer for Efficient Video Pose Transformers", TPAMI 2025
(arXiv:2509.06956); backbone: Mehraban et al., "MotionAGFormer", WACV 2024.

The HoT w. MotionAGFormer builder with a default schedule ``"7:81,11:40"`` (243 → 81 frames before layer 7, as
HoT, then → 40 before layer 11), clustering and TRA; every layer's graph and attention are built for the frames
it sees. ``--prune_schedule``/``--prune_strategy``/``--recover_strategy`` change them (``docs/h2ot.md``).
"""
from __future__ import annotations

from hot_pose.models.motionagformer.hot_motionagformer import DEFAULTS as HOT_DEFAULTS
from hot_pose.models.motionagformer.hot_motionagformer import build
from hot_pose.models.motionbert.ops import entry_point

DEFAULTS = dict(HOT_DEFAULTS, prune_schedule="7:81,11:40")

__all__ = ["DEFAULTS", "build", "Model"]

Model = entry_point(build, DEFAULTS)
