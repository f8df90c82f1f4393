"""MHFormer's building blocks: the MHG encoder and the SHR/CHI hypothesis transformer."""
from hot_pose.models.mhformer.modules.trans import Transformer
from hot_pose.models.mhformer.modules.trans_hypothesis import CHIBlock, HypothesisTransformer, SHRBlock

__all__ = ["Transformer", "HypothesisTransformer", "SHRBlock", "CHIBlock"]
