"""The MHFormer family: MHFormer (Li et al., CVPR 2022) and TPC w. MHFormer.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation",
CVPR 2024 (arXiv:2311.12028). One model class (:class:`MHFormer`); the variant modules ``mhformer``
and ``tpc_mhformer`` are builders over it, the latter injecting a TPC pruner into the hypothesis
transformer.
"""
from hot_pose.models.mhformer.mhformer import MHFormer

__all__ = ["MHFormer"]
