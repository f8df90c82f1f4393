"""In-the-wild 3-D human pose demo of HoT: video → 2-D keypoints → 3-D poses → rendered video and files.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). The seed's command, kept: ``python demo/vis.py [flags]`` is ``hot-demo [flags]``
(``hot_pose.cli.demo``; ``--help`` lists every flag). Outputs go to ``demo/output/<video name>/``.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout: make the package importable
    sys.path.insert(0, str(ROOT))

from hot_pose.cli.demo import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
