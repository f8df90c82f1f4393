"""Layer 2 of ``hot_pose``: exports of trained models (ONNX, HoT's data-dependent token pruning included).

HoT: Li et al., CVPR 2024 (arXiv:2311.12028).
"""
