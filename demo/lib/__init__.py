"""Library behind ``demo/vis.py``: 2-D detectors, COCO→H36M conversion, sliding-window lifting, rendering.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). The stages are plain functions so each can be tested without a video or a GPU.
"""
