"""MotionBERT (DSTformer) family: ``motionbert`` (baseline) and ``hot_motionbert`` (HoT).

Zhu et al., ICCV 2023 (arXiv:2210.06551); Li et al., CVPR 2024 (arXiv:2311.12028).
``ops`` also serves the MotionAGFormer family (spatial/temporal attention on (B, T, J, C) tokens,
adaptive fusion, the HoT forward loop).
"""
