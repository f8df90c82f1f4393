"""The MixSTE family: MixSTE (Zhang et al., CVPR 2022), HoT w. MixSTE and TPC w. MixSTE.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation",
CVPR 2024 (arXiv:2311.12028). One backbone class (:class:`MixSTE`); the variant modules
``mixste``, ``hot_mixste`` and ``tpc_mixste`` are builders over it.
"""
from hot_pose.models.mixste.mixste import MixSTE

__all__ = ["MixSTE"]
