"""Layer 1 of ``hot_pose``: Human3.6M and camera geometry, independent of the models.

The data set and its cameras (``h36m``), windows and augmentation (``dataset``), projection (``camera``),
skeletons (``skeleton``), the compact training pack (``pack``), detector-like 2-D (``detector_style``) and
calibrated multi-view geometry (``multiview``). HoT: Li et al., CVPR 2024 (arXiv:2311.12028).
"""
