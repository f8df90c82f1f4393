"""MHFormer: multi-hypothesis transformer for 3-D pose lifting, the seq2frame backbone of HoT's
TPC w. MHFormer.

Li et al., "MHFormer: Multi-Hypothesis Transformer for 3D Human Pose Estimation", CVPR 2022;
HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation",
CVPR 2024 (arXiv:2311.12028). Behaviour: that of the reference MHFormer and TPC w. MHFormer.

One class, :class:`MHFormer`, serves both variants:

1. MHG: the input (B, F, J, 2) becomes (B, 2J, F) (channel = joint·2 + coordinate); three chained
   encoders over the 2J coordinate tokens (width F) give hypotheses x₁ = x + Enc₁(LN₁(x)),
   x₂ = x₁ + Enc₂(LN₂(x₁)), x₃ = x₂ + Enc₃(LN₃(x₂)).
2. Embedding: Conv1d(2J → C, k=1) per hypothesis (F ≤ 27: Conv1d → BN → ReLU → Dropout(0.25)).
3. SHR ×(depth−1) and CHI ×1 (:class:`~model.mhformer.modules.HypothesisTransformer`), with an optional
   TPC pruner at the start of SHR block n (``tpc_mhformer``).
4. Regression: BN(3C) → Conv1d(3C → 3·J_out) per frame.

It outputs a pose for every frame it still holds: all F (MHFormer) or the f kept ones with their
sorted input-frame ``index`` (TPC). Reference parameter names are kept, so official checkpoints load
with no renaming. Seq2frame: the evaluation scores the centre frame.
"""
from __future__ import annotations

import functools
import logging
from typing import Optional

import torch
from torch import nn

from hot_pose.models import build_model
from hot_pose.models.config import LiftOutput, ModelConfig, check_index, check_pose_input
from hot_pose.models.hot import TokenPruningCluster
from hot_pose.models.mhformer.modules import HypothesisTransformer, Transformer

_logger = logging.getLogger(__name__)

#: reference sizes (README: ``--frames 351 --channel 512 --d_hid 1024``); depth/heads/drop_path
#: are those of the hypothesis transformer (2 SHR + 1 CHI, 8 heads, stochastic depth up to 0.2)
DEFAULTS = dict(frames=351, channel=512, d_hid=1024, depth=3, num_heads=8, drop_path=0.2, n_joints=17, in_channels=2)
#: the evaluation scores one (centre) pose per window
SEQ2FRAME = True
#: MHG encoders: depth 4, 9 heads, MLP 2·F, stochastic depth up to 0.2 (fixed in the reference)
MHG_DEPTH, MHG_HEADS, MHG_DROP_PATH = 4, 9, 0.2
#: up to this many frames the embeddings are Conv1d → BatchNorm → ReLU → Dropout (reference rule)
BN_EMBEDDING_MAX_FRAMES = 27

__all__ = ["MHFormer", "DEFAULTS", "SEQ2FRAME", "build", "from_config", "Model"]


def _embedding(in_channels: int, channel: int, frames: int) -> nn.Module:
    """(B, in_channels, F) → (B, C, F): a k=1 convolution, with BN, ReLU and dropout for F ≤ 27."""
    conv = nn.Conv1d(in_channels, channel, kernel_size=1)
    if frames > BN_EMBEDDING_MAX_FRAMES:
        return conv
    return nn.Sequential(conv, nn.BatchNorm1d(channel, momentum=0.1), nn.ReLU(), nn.Dropout(0.25))


class MHFormer(nn.Module):
    """MHFormer with an optional HoT token pruner (TPC w. MHFormer).

    Args:
        frames: input length F; must be divisible by the 9 MHG heads (27, 81, 243, 351 …).
        n_joints: input joints J (17 for Human3.6M, 16 for the SH detections).
        in_channels: coordinates per joint (2).
        channel: width C of each hypothesis; divisible by ``num_heads``.
        d_hid: MLP hidden width of the SHR/CHI blocks.
        out_joints: output joints (default ``n_joints``).
        depth: SHR blocks + 1 CHI block (reference: 3).
        num_heads: heads of the SHR/CHI attention (reference: 8).
        drop_path: stochastic-depth rate of the CHI block (SHR blocks: linspace(0, rate, depth)).
        prune: TPC module (``TokenPruningCluster(f, center=(F−1)//2)``), or ``None``.
        layer_index: n, the SHR block at whose start ``prune`` fires (n ≥ depth − 1 never prunes).
    """

    #: reference checkpoints already use our names (TPC here has no parameters)
    reference_key_map: dict = {}

    def __init__(
        self,
        frames: int = 351,
        n_joints: int = 17,
        in_channels: int = 2,
        channel: int = 512,
        d_hid: int = 1024,
        out_joints: Optional[int] = None,
        depth: int = 3,
        num_heads: int = 8,
        drop_path: float = 0.2,
        prune: Optional[TokenPruningCluster] = None,
        layer_index: int = 1,
    ) -> None:
        super().__init__()
        if frames % MHG_HEADS:
            raise ValueError(f"--frames {frames} must be divisible by {MHG_HEADS} (MHG attention heads), e.g. 351")
        if channel % num_heads:
            raise ValueError(f"--channel {channel} must be divisible by the {num_heads} attention heads")
        if prune is not None and not 1 <= prune.num_tokens <= frames:
            raise ValueError(f"--token_num {prune.num_tokens} must be between 1 and --frames {frames}")
        self.frames, self.n_joints, self.in_channels = frames, n_joints, in_channels
        self.out_joints = out_joints or n_joints
        coords = n_joints * in_channels  # 2J MHG tokens / embedding input channels

        # definition order = the reference's (HoT commit 806ea13): state_dict order and init RNG order
        self.embedding_1 = _embedding(coords, channel, frames)
        self.embedding_2 = _embedding(coords, channel, frames)
        self.embedding_3 = _embedding(coords, channel, frames)
        self.Transformer_hypothesis = HypothesisTransformer(
            depth, channel, d_hid, num_heads=num_heads, drop_path_rate=drop_path, length=frames,
            prune=prune, prune_at=layer_index,
        )
        self.regression = nn.Sequential(
            nn.BatchNorm1d(3 * channel, momentum=0.1), nn.Conv1d(3 * channel, 3 * self.out_joints, kernel_size=1)
        )
        self.norm_1 = nn.LayerNorm(frames)  # eps 1e-5 here
        self.norm_2 = nn.LayerNorm(frames)
        self.norm_3 = nn.LayerNorm(frames)
        mhg = dict(depth=MHG_DEPTH, embed_dim=frames, mlp_hidden_dim=2 * frames, num_heads=MHG_HEADS,
                   drop_path_rate=MHG_DROP_PATH, length=coords)
        self.Transformer_encoder_1 = Transformer(**mhg)
        self.Transformer_encoder_2 = Transformer(**mhg)
        self.Transformer_encoder_3 = Transformer(**mhg)

    @property
    def prune(self) -> Optional[TokenPruningCluster]:
        """The TPC module, or ``None``."""
        return self.Transformer_hypothesis.prune

    @property
    def prunes(self) -> bool:
        """Whether the model prunes (a pruner is present and ``layer_index`` names an SHR block)."""
        return self.Transformer_hypothesis.prunes

    def forward(self, x: torch.Tensor, index: Optional[torch.Tensor] = None) -> LiftOutput:
        """Lift a 2-D pose sequence to 3-D.

        Args:
            x: (B, F, J, C_in) 2-D poses.
            index: (B, f) frames to keep instead of clustering (the flip pass reuses the index of the
                un-flipped pass). Ignored when the model does not prune.

        Returns:
            ``LiftOutput``: pose (B, F, J_out, 3) and ``index`` ``None`` without pruning; pose
            (B, f, J_out, 3) with ``index`` = ``kept`` (B, f), sorted, with pruning.
        """
        x = check_pose_input(x, "MHFormer", self.frames, self.n_joints, self.in_channels)
        if self.prunes:
            check_index(index, x.shape[0], self.prune.num_tokens)
        b, f, j, c = x.shape
        x = x.permute(0, 2, 3, 1).reshape(b, j * c, f)  # (B, J·C_in, F): channel = joint·C_in + coord
        x_1 = x + self.Transformer_encoder_1(self.norm_1(x))  # MHG hypotheses, each (B, J·C_in, F)
        x_2 = x_1 + self.Transformer_encoder_2(self.norm_2(x_1))
        x_3 = x_2 + self.Transformer_encoder_3(self.norm_3(x_2))
        x_1 = self.embedding_1(x_1).transpose(1, 2)  # (B, C, F) → (B, F, C)
        x_2 = self.embedding_2(x_2).transpose(1, 2)
        x_3 = self.embedding_3(x_3).transpose(1, 2)
        x, kept = self.Transformer_hypothesis(x_1, x_2, x_3, index if self.prunes else None)  # (B, F', 3C)
        x = self.regression(x.transpose(1, 2))  # (B, 3C, F') → (B, 3·J_out, F')
        pose = x.reshape(b, self.out_joints, 3, -1).permute(0, 3, 1, 2).contiguous()  # (B, F', J_out, 3)
        return LiftOutput(pose, kept, kept)


#: ModelConfig fields that are MHFormer constructor arguments of the same name
_CONFIG_FIELDS = ("frames", "n_joints", "in_channels", "channel", "d_hid", "out_joints", "depth", "num_heads",
                  "drop_path")


def from_config(cfg: ModelConfig, **kwargs) -> MHFormer:
    """An :class:`MHFormer` with the sizes of ``cfg``; ``kwargs`` override or add (``prune`` …)."""
    sizes = {name: getattr(cfg, name) for name in _CONFIG_FIELDS}
    return MHFormer(**{**sizes, **kwargs})


def build(cfg: ModelConfig) -> MHFormer:
    """MHFormer (no pruning): F frames in, F poses out."""
    return from_config(cfg)


#: ``Model(args)`` for old ``from model.mhformer.mhformer import Model`` imports
Model = functools.partial(build_model, "mhformer.mhformer")
