"""MotionAGFormer family: ``motionagformer`` (baseline) and ``hot_motionagformer`` (HoT).

Mehraban et al., WACV 2024 (arXiv:2310.16288); Li et al., CVPR 2024 (arXiv:2311.12028).
Blocks (GCN, AGFormer, MotionAGFormer) live in ``modules``; the forward loop is shared with
MotionBERT through ``hot_pose.models.motionbert.ops``.
"""
