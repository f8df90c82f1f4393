"""Train or test a video pose lifter with the ``main_mixste_tpc`` recipe of HoT.

TPC w. MixSTE (mixste.tpc_mixste): trained seq2seq, tested seq2frame with --stride 1.
HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). The flags and recipes are in README.md; ``python main_mixste_tpc.py --help`` lists every flag.
"""
import sys

import model
from common.engine import main
from common.recipes import MIXSTE_TPC

if __name__ == "__main__":
    sys.exit(main(MIXSTE_TPC, model))
