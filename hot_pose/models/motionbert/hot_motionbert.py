"""HoT w. MotionBERT (the ``motionbert.hot_motionbert`` variant).

Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028) on Zhu et al.'s DSTformer (MotionBERT, ICCV 2023, arXiv:2210.06551).

The DSTformer backbone with TPC (``prune``) at the start of depth ``layer_index`` (default 1) keeping
``token_num`` frames (default 81) plus a zero-initialised rank embedding ``prune.pos_embed_token``,
and TRA (``recover``, 8 heads, qkv bias) after the final LayerNorm; then ``pre_logits`` → head.
The reference hard-codes f = 81 and n = 1 and ignores the arguments; here they come from the config
with those defaults. TRA's Linear layers get the backbone's trunc_normal(0.02) init, as in the
reference. 16,347,661 parameters at frames 243.
"""
from __future__ import annotations

import logging

from hot_pose.models.config import ModelConfig
from hot_pose.models.motionbert.motionbert import DEFAULTS as BASE_DEFAULTS
from hot_pose.models.motionbert.motionbert import DSTformer
from hot_pose.models.motionbert.ops import HOT_REFERENCE_KEY_MAP, entry_point, hot_modules, lifter_kwargs

_logger = logging.getLogger(__name__)

DEFAULTS = dict(BASE_DEFAULTS, token_num=81, layer_index=1)


class HoTDSTformer(DSTformer):
    """DSTformer with TPC and TRA; reference checkpoints load through ``reference_key_map``."""

    reference_key_map = HOT_REFERENCE_KEY_MAP


def build(cfg: ModelConfig) -> HoTDSTformer:
    """HoT w. MotionBERT with the sizes of ``cfg`` (TRA: the backbone's heads, qkv bias)."""
    return HoTDSTformer(**lifter_kwargs(cfg, "MotionBERT"), **hot_modules(cfg, qkv_bias=True))


Model = entry_point(build, DEFAULTS)
