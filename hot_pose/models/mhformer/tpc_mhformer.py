"""TPC w. MHFormer: MHFormer whose hypothesis transformer keeps f frames from SHR block n on.

Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation",
CVPR 2024 (arXiv:2311.12028); backbone: Li et al., "MHFormer: Multi-Hypothesis Transformer for
3D Human Pose Estimation", CVPR 2022. Behaviour: as in the reference implementation.

At the start of SHR block n, DPC-kNN on concat(x₁, x₂, x₃) (B, F, 3C) keeps the centre frame
(F−1)//2 and the f−1 best-scoring others; all three hypotheses are gathered at those frames and the
remaining SHR blocks, the CHI block and the regression run on f tokens. The model returns the f
poses and their sorted input-frame ``index``; ``forward(x, index)`` reuses a given index (flip
pass). Same parameters as MHFormer (TPC adds none). README config: f = 117, n = 1.
"""
from __future__ import annotations

import functools

from hot_pose.models import build_model
from hot_pose.models.config import ModelConfig
from hot_pose.models.hot import TokenPruningCluster
from hot_pose.models.mhformer.mhformer import DEFAULTS as MHFORMER_DEFAULTS
from hot_pose.models.mhformer.mhformer import MHFormer, from_config

#: README configuration
DEFAULTS = dict(MHFORMER_DEFAULTS, token_num=117, layer_index=1)
#: the evaluation scores one (centre) pose per window
SEQ2FRAME = True


def build(cfg: ModelConfig) -> MHFormer:
    """TPC w. MHFormer: outputs the ``cfg.token_num`` kept frames, centre included, and their index."""
    prune = TokenPruningCluster(cfg.token_num, center=(cfg.frames - 1) // 2)
    return from_config(cfg, prune=prune, layer_index=cfg.layer_index)


#: ``Model(args)`` for old ``from model.mhformer.tpc_mhformer import Model`` imports
Model = functools.partial(build_model, "mhformer.tpc_mhformer")
