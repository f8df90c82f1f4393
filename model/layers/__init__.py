"""Shared transformer layers: each defined once here and reused by every model family."""
from model.layers.attention import Attention, CrossAttention
from model.layers.block import Block, LayerNorm6
from model.layers.drop import DropPath, drop_path
from model.layers.mlp import Mlp

__all__ = ["Attention", "CrossAttention", "Block", "LayerNorm6", "DropPath", "drop_path", "Mlp"]
