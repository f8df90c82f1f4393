"""Layer 2 of ``hot_pose``: training and evaluation on Human3.6M with HoT's recipes.

The engine behind ``main_*.py``/``hot-train`` (``engine``), flags → typed run configuration (``arguments``), the
four recipes (``recipes``), one epoch (``train``), evaluation and metrics (``evaluate``, ``metrics``), losses
(``loss``), run outputs (``run_outputs``) and the one-run-per-folder lock (``run_lock``).
HoT: Li et al., CVPR 2024 (arXiv:2311.12028).
"""
