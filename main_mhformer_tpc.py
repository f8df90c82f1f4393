"""Train or test a video pose lifter with the ``main_mhformer_tpc`` recipe of HoT.

TPC w. MHFormer (mhformer.tpc_mhformer): seq2frame, loss on the kept frames.
HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). The flags and recipes are in README.md; ``python main_mhformer_tpc.py --help`` lists every flag.
"""
import sys

from common.arguments import precheck

if __name__ == "__main__":
    precheck("main_mhformer_tpc")  # a mistyped flag or number: one error line at once, before torch is imported
    import model
    from common.engine import main
    from common.recipes import MHFORMER_TPC

    sys.exit(main(MHFORMER_TPC, model))
