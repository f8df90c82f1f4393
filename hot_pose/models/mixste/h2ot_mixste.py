"""H2OT w. MixSTE: MixSTE pruned in several steps (a pyramid of kept frames) and recovered once before the head.

Li et al., "H2OT: Hierarchical Hourglass Tokenizer for Efficient Video Pose Transformers", TPAMI 2025
(arXiv:2509.06956), extending HoT (CVPR 2024, arXiv:2311.12028); backbone: Zhang et al., "MixSTE", CVPR 2022.

The HoT w. MixSTE builder with a default schedule ``"3:81,5:40"`` (243 → 81 frames before block pair 3, as HoT,
then → 40 before block pair 5), DPC-kNN clustering at every step and TRA recovery; ``--prune_schedule``,
``--prune_strategy`` and ``--recover_strategy`` change them (``docs/h2ot.md``). The one-step schedule
``"3:81"`` is exactly ``hot_mixste``.
"""
from __future__ import annotations

import functools

from hot_pose.models import build_model
from hot_pose.models.mixste.hot_mixste import DEFAULTS as HOT_DEFAULTS
from hot_pose.models.mixste.hot_mixste import build

#: reference size with the default pyramid (token_num / layer_index follow from the schedule)
DEFAULTS = dict(HOT_DEFAULTS, prune_schedule="3:81,5:40")

__all__ = ["DEFAULTS", "build", "Model"]

#: ``Model(args)``, as the other variants
Model = functools.partial(build_model, "mixste.h2ot_mixste")
