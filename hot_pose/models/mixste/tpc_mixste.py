"""TPC w. MixSTE: MixSTE with centre-forced token pruning and no recovery (seq2frame).

Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation",
CVPR 2024 (arXiv:2311.12028); backbone: Zhang et al., "MixSTE", CVPR 2022.

At block pair n the model keeps f frames: the centre frame (F−1)//2 plus the f−1 best DPC-kNN
scores; the remaining blocks and the head run on them, and the model returns those f poses with
their sorted input-frame ``index``. ``forward(x, index)`` reuses a given index (flip test pass).
Seq2frame: only the centre pose is scored. README config: f = 61, n = 7. Like the reference, the
MLP width is 2·channel whatever ``--d_hid`` says; no weights are added to MixSTE.
"""
from __future__ import annotations

import functools

from hot_pose.models import build_model
from hot_pose.models.config import ModelConfig
from hot_pose.models.hot import TokenPruningCluster
from hot_pose.models.mixste.mixste import DEFAULTS as MIXSTE_DEFAULTS
from hot_pose.models.mixste.mixste import MixSTE, from_config, reference_hidden

#: README configuration; the MLP width is fixed to 2·channel (1024 here), see module docstring
DEFAULTS = dict(MIXSTE_DEFAULTS, token_num=61, layer_index=7)
#: the evaluation scores one (centre) pose per window
SEQ2FRAME = True


def build(cfg: ModelConfig) -> MixSTE:
    """TPC w. MixSTE: outputs the ``cfg.token_num`` kept frames, centre included, and their index."""
    return from_config(
        cfg,
        d_hid=reference_hidden(cfg, "tpc_mixste"),
        prune=TokenPruningCluster(cfg.token_num, center=(cfg.frames - 1) // 2),
        layer_index=cfg.layer_index,
    )


#: ``Model(args)`` for old ``from model.mixste.tpc_mixste import Model`` imports
Model = functools.partial(build_model, "mixste.tpc_mixste")
