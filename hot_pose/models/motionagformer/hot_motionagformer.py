"""HoT w. MotionAGFormer (the ``motionagformer.hot_motionagformer`` variant).

Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028) on Mehraban et al.'s MotionAGFormer (WACV 2024, arXiv:2310.16288).

The MotionAGFormer backbone with TPC (``prune``) at the start of layer ``layer_index`` (default 7)
keeping ``token_num`` frames (default 81) plus a zero-initialised rank embedding
``prune.pos_embed_token``; layers from there on are built for f frames (temporal GCN BatchNorm).
TRA (``recover``: 4 heads, no qkv bias, PyTorch default init) runs after the final LayerNorm, then
``rep_logit`` → head. The reference hard-codes f = 81 and n = 7; here they come from the config with
those defaults. 11,828,031 parameters plus 5,436 BatchNorm buffers at frames 243.
"""
from __future__ import annotations

import logging

from hot_pose.models.config import ModelConfig
from hot_pose.models.motionagformer.motionagformer import DEFAULTS as BASE_DEFAULTS
from hot_pose.models.motionagformer.motionagformer import MotionAGFormer
from hot_pose.models.motionbert.ops import HOT_REFERENCE_KEY_MAP, entry_point, hot_modules, lifter_kwargs

_logger = logging.getLogger(__name__)

DEFAULTS = dict(BASE_DEFAULTS, token_num=81, layer_index=7)


class HoTMotionAGFormer(MotionAGFormer):
    """MotionAGFormer with TPC and TRA; reference checkpoints load through ``reference_key_map``."""

    reference_key_map = HOT_REFERENCE_KEY_MAP


def build(cfg: ModelConfig) -> HoTMotionAGFormer:
    """HoT w. MotionAGFormer with the sizes of ``cfg`` (TRA: the backbone's heads, no qkv bias)."""
    return HoTMotionAGFormer(**lifter_kwargs(cfg, "MotionAGFormer"), **hot_modules(cfg, qkv_bias=False))


Model = entry_point(build, DEFAULTS)
