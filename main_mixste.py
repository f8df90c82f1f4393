"""Train or test a video pose lifter with the ``main_mixste`` recipe of HoT.

MixSTE family, seq2seq: mixste.mixste, mixste.hot_mixste (or any registered variant).
HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). The flags and recipes are in README.md; ``python main_mixste.py --help`` lists every flag.
"""
import sys

from common.arguments import precheck

if __name__ == "__main__":
    precheck("main_mixste")  # a mistyped flag or number: one error line at once, before torch is imported
    import model
    from common.engine import main
    from common.recipes import MIXSTE

    sys.exit(main(MIXSTE, model))
