"""Layer 0 of ``hot_pose``: helpers every other layer may use, importing nothing of the package above them.

Console errors and argument types (``console``), number and device checks (``checks``), output destinations and
atomic writes (``outputs``), where files live (``paths``), reading pickled data without running code
(``safe_io``), run-time set-up (``runtime``: seeds, devices, logging, torchrun) and the CPU's name (``system``).
HoT: Li et al., CVPR 2024 (arXiv:2311.12028).
"""
