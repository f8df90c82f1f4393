"""Train or test a video pose lifter with the ``main_mhformer`` recipe of HoT.

MHFormer (mhformer.mhformer): seq2frame, loss on all frames.
HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). The flags and recipes are in README.md; ``python main_mhformer.py --help`` lists every flag.
"""
import sys

from hot_pose.cli.train import run_recipe

if __name__ == "__main__":
    sys.exit(run_recipe("mhformer"))
