"""Layer 3 of ``hot_pose``: in-the-wild 3-D pose, video → 2-D keypoints → 3-D poses → files and a rendered video.

2-D detectors (``detectors``), COCO→H36M conversion and gap filling (``preprocess``), sliding-window lifting
(``lift``), streaming (``stream``), multi-person tracking (``tracks``), plausibility (``quality``), rendering
(``render``), video input/output (``video``), sample clips (``sample``), the checks before and between the stages
(``preflight``, ``checks``), the output manifest (``outputs``) and the demo's pipeline (``pipeline``).
HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). The stages are plain functions so each can be tested without a video or a GPU.
"""
