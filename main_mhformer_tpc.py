"""Train or test a video pose lifter with the ``main_mhformer_tpc`` recipe of HoT.

TPC w. MHFormer (mhformer.tpc_mhformer): seq2frame, loss on the kept frames.
HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). The flags and recipes are in README.md; ``python main_mhformer_tpc.py --help`` lists every flag.
"""
import sys

from hot_pose.cli.train import run_recipe

if __name__ == "__main__":
    sys.exit(run_recipe("mhformer_tpc"))
