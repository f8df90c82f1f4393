"""Shared transformer layers: each defined once here and reused by every model family."""
from hot_pose.models.layers.attention import Attention, CrossAttention
from hot_pose.models.layers.block import Block, LayerNorm6
from hot_pose.models.layers.drop import DropPath, drop_path
from hot_pose.models.layers.mlp import Mlp

__all__ = ["Attention", "CrossAttention", "Block", "LayerNorm6", "DropPath", "drop_path", "Mlp"]
