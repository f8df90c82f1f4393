"""H2OT w. MotionBERT: DSTformer pruned in several steps and recovered once (the ``motionbert.h2ot_motionbert`` variant).

Li et al., "H2OT: Hierarchical Hourglass Tokenizer for Efficient Video Pose Transformers", TPAMI 2025
(arXiv:2509.06956); backbone: Zhu et al.'s DSTformer (MotionBERT, ICCV 2023, arXiv:2210.06551).

The HoT w. MotionBERT builder with a default schedule ``"1:81,3:40"`` (243 → 81 frames before depth 1, as HoT,
then → 40 before depth 3), clustering and TRA; ``--prune_schedule``/``--prune_strategy``/``--recover_strategy``
change them (``docs/h2ot.md``).
"""
from __future__ import annotations

from hot_pose.models.motionbert.hot_motionbert import DEFAULTS as HOT_DEFAULTS
from hot_pose.models.motionbert.hot_motionbert import build
from hot_pose.models.motionbert.ops import entry_point

DEFAULTS = dict(HOT_DEFAULTS, prune_schedule="1:81,3:40")

__all__ = ["DEFAULTS", "build", "Model"]

Model = entry_point(build, DEFAULTS)
