"""MotionAGFormer building blocks: skeleton adjacency, GCN mixer, AGFormer and MotionAGFormer blocks.

Mehraban et al., "MotionAGFormer: Enhancing 3D Human Pose Estimation with a Transformer-GCNFormer
Network", WACV 2024 (arXiv:2310.16288), as used by Li et al., "Hourglass Tokenizer for Efficient
Transformer-Based 3D Human Pose Estimation", CVPR 2024 (arXiv:2311.12028).

A MotionAGFormer block runs two streams on (B, T, J, C) tokens and fuses them adaptively:
attention (spatial MHSA over joints → temporal MHSA over frames) and graph (spatial GCN on the
skeleton → temporal GCN on each joint's top-k most similar frames). Each stream step is an
``AGFormerBlock``: x += ls₁·mixer(LN(x)); x += ls₂·MLP(LN(x)) with plain LayerNorm (eps 1e-5).
"""
from __future__ import annotations

import logging
import math
from typing import Dict, List, Optional

import torch
from torch import nn

from hot_pose.models.layers import Attention, DropPath, Mlp
from hot_pose.models.motionbert.ops import adaptive_fusion, attend, init_fusion

_logger = logging.getLogger(__name__)

#: The reference's H36M neighbour lists (row i lists the joints whose features joint i aggregates).
#: Kept exactly, including its asymmetry: hip 0 does not list joint 4 and thorax 8 does not list the
#: shoulders 11 and 14, although those list 0 and 8. Trained checkpoints depend on it.
H36M_CONNECTIONS: Dict[int, List[int]] = {
    10: [9], 9: [8, 10], 8: [7, 9], 14: [15, 8], 15: [16, 14], 11: [12, 8], 12: [13, 11],
    7: [0, 8], 0: [1, 7], 1: [2, 0], 2: [3, 1], 4: [5, 0], 5: [6, 4], 16: [15], 13: [12], 3: [2], 6: [5],
}  # fmt: skip
#: the 17-joint joint dropped by 16-joint skeletons (the nose/neck between thorax 8 and head 10)
DROPPED_JOINT = 9


def skeleton_connections(num_joints: int) -> Dict[int, List[int]]:
    """Neighbour lists for the H36M skeleton with 17 joints, or 16 (joint 9 removed).

    For 16 joints, joint 9 is contracted: its neighbours take its place in each other's lists (the
    head, 10, then connects to the thorax, 8) and joints above 9 shift down by one.

    Raises:
        ValueError: for any other joint count.
    """
    if num_joints == 17:
        return {i: list(n) for i, n in H36M_CONNECTIONS.items()}
    if num_joints != 16:
        raise ValueError(f"MotionAGFormer's skeleton graph exists for 17 or 16 (H36M) joints, not {num_joints}")
    bridge = H36M_CONNECTIONS[DROPPED_JOINT]  # [8, 10]

    def renum(j: int) -> int:
        return j - 1 if j > DROPPED_JOINT else j

    out = {}
    for i, neighbours in H36M_CONNECTIONS.items():
        if i == DROPPED_JOINT:
            continue
        rerouted = [k for j in neighbours for k in ([b for b in bridge if b != i] if j == DROPPED_JOINT else [j])]
        out[renum(i)] = [renum(j) for j in rerouted]
    return out


def normalize_adjacency(adj: torch.Tensor) -> torch.Tensor:
    """D^−½ A D^−½ with D = row sums (out-degrees), batched.

    Args:
        adj: (..., N, N) 0/1 adjacency; every row needs at least one entry.

    Returns:
        (..., N, N) with entry (i, j) = A_ij / √(d_i d_j).
    """
    inv_sqrt = adj.sum(dim=-1).rsqrt()  # (..., N)
    return inv_sqrt.unsqueeze(-1) * adj * inv_sqrt.unsqueeze(-2)


def skeleton_adjacency(num_joints: int) -> torch.Tensor:
    """Normalised spatial adjacency (J, J) of the skeleton, no self loops (float32, CPU)."""
    adj = torch.zeros(num_joints, num_joints, device="cpu")
    for i, neighbours in skeleton_connections(num_joints).items():
        adj[i, neighbours] = 1.0
    return normalize_adjacency(adj)


class GCN(nn.Module):
    """Graph convolution x → ReLU(x + BN(Â·V(x) + U(x))) over joints (spatial) or frames (temporal).

    Spatial mode uses the fixed normalised skeleton adjacency; temporal mode links each frame of a
    joint to its ``neighbour_num`` most similar frames (dot product, self included, ties kept), then
    normalises like the spatial graph. BatchNorm1d has one channel per node (J or T), so a temporal
    GCN is tied to its sequence length.

    Args:
        dim: channels C.
        num_nodes: J (spatial) or T (temporal).
        mode: ``"spatial"`` or ``"temporal"``.
        neighbour_num: k of the temporal top-k graph.
    """

    def __init__(self, dim: int, num_nodes: int, mode: str = "spatial", neighbour_num: int = 4) -> None:
        super().__init__()
        if mode not in ("spatial", "temporal"):
            raise ValueError(f"GCN mode must be 'spatial' or 'temporal', got {mode!r}")
        if mode == "temporal" and not 1 <= neighbour_num <= num_nodes:
            raise ValueError(f"neighbour_num {neighbour_num} must be between 1 and the {num_nodes} frames")
        self.mode = mode
        self.num_nodes = num_nodes
        self.neighbour_num = neighbour_num
        self.U = nn.Linear(dim, dim)
        self.V = nn.Linear(dim, dim)
        self.batch_norm = nn.BatchNorm1d(num_nodes)
        nn.init.normal_(self.U.weight, 0.0, math.sqrt(2.0 / dim))
        nn.init.normal_(self.V.weight, 0.0, math.sqrt(2.0 / dim))
        # a constant, not a buffer: the reference's state_dict has no adjacency
        self._adj: Optional[torch.Tensor] = skeleton_adjacency(num_nodes) if mode == "spatial" else None

    def _apply(self, fn, *args, **kwargs):  # keep the constant adjacency with the module on .to()/.half()
        if self._adj is not None:
            self._adj = fn(self._adj)
        return super()._apply(fn, *args, **kwargs)

    def _similarity_adjacency(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, T, C) → normalised top-k similarity adjacency (N, T, T)."""
        sim = x @ x.transpose(1, 2)  # (N, T, T)
        threshold = sim.topk(self.neighbour_num, dim=-1).values[..., -1:]  # (N, T, 1): k-th largest
        return normalize_adjacency((sim >= threshold).to(x.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, J, C) → (B, T, J, C)."""
        b, t, j, c = x.shape
        if self.mode == "spatial":
            seq = x.reshape(b * t, j, c)  # (B·T, J, C): nodes are joints
            adj = self._adj.to(device=x.device, dtype=x.dtype)  # (J, J), broadcast over B·T; no-op normally
        else:
            seq = x.transpose(1, 2).reshape(b * j, t, c)  # (B·J, T, C): nodes are frames
            adj = self._similarity_adjacency(seq)  # (B·J, T, T)
        out = torch.relu(seq + self.batch_norm(adj @ self.V(seq) + self.U(seq)))  # BN over the node axis
        if self.mode == "spatial":
            return out.reshape(b, t, j, c)
        return out.reshape(b, j, t, c).transpose(1, 2)  # (B, T, J, C)

    def extra_repr(self) -> str:
        return f"mode={self.mode}, num_nodes={self.num_nodes}, neighbour_num={self.neighbour_num}"


class AGFormerBlock(nn.Module):
    """x += DropPath(ls₁·mixer(LN(x))); x += DropPath(ls₂·MLP(LN(x))) on (B, T, J, C) tokens.

    Args:
        dim: channels C.
        mixer: ``"attention"`` (MHSA) or ``"graph"`` (``GCN``).
        mode: ``"spatial"`` (over joints) or ``"temporal"`` (over frames).
        num_nodes: joints J (spatial) or frames T (temporal), for the GCN's BatchNorm.
        num_heads: attention heads.
        mlp_hidden_dim: MLP hidden width.
        qkv_bias: bias on the qkv projection.
        layer_scale_init: initial value of the per-channel layer scales.
        neighbour_num: k of the temporal GCN graph.
        drop, attn_drop, drop_path: dropout, attention dropout and stochastic-depth rates.
    """

    def __init__(
        self,
        dim: int,
        mixer: str,
        mode: str,
        num_nodes: int,
        num_heads: int = 4,
        mlp_hidden_dim: int = 512,
        qkv_bias: bool = False,
        layer_scale_init: float = 1e-5,
        neighbour_num: int = 4,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if mode not in ("spatial", "temporal"):
            raise ValueError(f"mode must be 'spatial' or 'temporal', got {mode!r}")
        self.mode = mode
        self.norm1 = nn.LayerNorm(dim)
        if mixer == "attention":
            self.mixer = Attention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop)
        elif mixer == "graph":
            self.mixer = GCN(dim, num_nodes, mode=mode, neighbour_num=neighbour_num)
        else:
            raise ValueError(f"mixer must be 'attention' or 'graph', got {mixer!r}")
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_hidden_dim, drop=drop)
        self.drop_path = DropPath(drop_path)
        self.layer_scale_1 = nn.Parameter(torch.full((dim,), layer_scale_init))
        self.layer_scale_2 = nn.Parameter(torch.full((dim,), layer_scale_init))

    def _mix(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.mixer, GCN):
            return self.mixer(x)
        return attend(self.mixer, x, "joints" if self.mode == "spatial" else "frames")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, J, C) → (B, T, J, C)."""
        x = x + self.drop_path(self.layer_scale_1 * self._mix(self.norm1(x)))
        return x + self.drop_path(self.layer_scale_2 * self.mlp(self.norm2(x)))


class MotionAGFormerBlock(nn.Module):
    """Attention stream (spatial → temporal) and graph stream (spatial → temporal), adaptively fused.

    Args:
        dim: channels C.
        num_frames: frames T this block sees (the temporal GCN's BatchNorm size).
        num_joints: joints J.
        **kwargs: ``AGFormerBlock`` options (num_heads, mlp_hidden_dim, qkv_bias, layer_scale_init,
            neighbour_num, drop, attn_drop, drop_path).
    """

    def __init__(self, dim: int, num_frames: int, num_joints: int = 17, **kwargs) -> None:
        super().__init__()
        self.att_spatial = AGFormerBlock(dim, "attention", "spatial", num_joints, **kwargs)
        self.att_temporal = AGFormerBlock(dim, "attention", "temporal", num_frames, **kwargs)
        self.graph_spatial = AGFormerBlock(dim, "graph", "spatial", num_joints, **kwargs)
        self.graph_temporal = AGFormerBlock(dim, "graph", "temporal", num_frames, **kwargs)
        self.fusion = init_fusion(nn.Linear(2 * dim, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, J, C) → (B, T, J, C)."""
        x_attn = self.att_temporal(self.att_spatial(x))
        x_graph = self.graph_temporal(self.graph_spatial(x))
        return adaptive_fusion(self.fusion, x_attn, x_graph)
