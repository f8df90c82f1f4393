"""HoT w. MixSTE: MixSTE with token pruning (TPC) after block pair n and token recovery (TRA).

Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation",
CVPR 2024 (arXiv:2311.12028); backbone: Zhang et al., "MixSTE", CVPR 2022.

Seq2seq: F frames in, F poses out. Block pairs 0 … n−1 see all F frames, the rest only the f kept
ones (plus a learnable rank embedding ``prune.pos_embed_token``); TRA's F learnable queries
``recover.x_token`` attend to the kept tokens before the head. README config: f = 81, n = 3.
Like the reference, the MLP width is 2·channel whatever ``--d_hid`` says.
"""
from __future__ import annotations

import functools

from hot_pose.models import build_model
from hot_pose.models.config import ModelConfig
from hot_pose.models.hot import build_pruning, build_recovery
from hot_pose.models.hot.hierarchy import schedule_of
from hot_pose.models.mixste.mixste import DEFAULTS as MIXSTE_DEFAULTS
from hot_pose.models.mixste.mixste import MixSTE, from_config, reference_hidden

#: README configuration; the MLP width is fixed to 2·channel (1024 here), see module docstring
DEFAULTS = dict(MIXSTE_DEFAULTS, token_num=81, layer_index=3)


def build(cfg: ModelConfig) -> MixSTE:
    """HoT w. MixSTE: keeps ``cfg.token_num`` frames from block pair ``cfg.layer_index`` on, outputs all; with a
    ``cfg.prune_schedule`` (H2OT) prunes in several steps; ``cfg.prune_strategy``/``recover_strategy`` choose
    how frames are picked and recovered (default: DPC-kNN clustering and TRA, HoT's)."""
    prune, layer_index = build_pruning(schedule_of(cfg), dim=cfg.channel, strategy=cfg.prune_strategy or "cluster")
    return from_config(
        cfg,
        d_hid=reference_hidden(cfg, "hot_mixste"),
        prune=prune,
        layer_index=layer_index,
        recover=build_recovery(cfg.recover_strategy or "attention", cfg.channel, cfg.frames, cfg.num_heads),
    )


#: ``Model(args)`` for old ``from model.mixste.hot_mixste import Model`` imports
Model = functools.partial(build_model, "mixste.hot_mixste")
