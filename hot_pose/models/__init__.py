"""The model zoo: video pose transformers with and without HoT.

Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation",
CVPR 2024 (arXiv:2311.12028). Variants are named ``<family>.<variant>``; the name is the module
path under ``hot_pose/models/`` (``mixste.hot_mixste`` → ``hot_pose/models/mixste/hot_mixste.py``). Each variant module
defines ``DEFAULTS`` (its reference sizes) and ``build(cfg: ModelConfig) -> nn.Module``.

    >>> from model import build_model
    >>> net = build_model("mixste.hot_mixste", args)   # args: argparse.Namespace, dict or None
    >>> out = net(x)                                    # x (B, F, J, 2) → LiftOutput(pose, index, kept)
"""
from __future__ import annotations

import importlib
from typing import Any, List, Union

from torch import nn

from hot_pose.models.config import LiftOutput, ModelConfig

#: every registered variant, in the order of the paper's tables
VARIANTS = (
    "mixste.mixste",
    "mixste.hot_mixste",
    "mixste.tpc_mixste",
    "mixste.h2ot_mixste",
    "mhformer.mhformer",
    "mhformer.tpc_mhformer",
    "motionbert.motionbert",
    "motionbert.hot_motionbert",
    "motionbert.h2ot_motionbert",
    "motionagformer.motionagformer",
    "motionagformer.hot_motionagformer",
    "motionagformer.h2ot_motionagformer",
)

__all__ = ["VARIANTS", "available_models", "build_model", "prunes", "resolve_config", "LiftOutput", "ModelConfig"]


class UnknownModelError(ValueError):
    """Raised for a model name that is not in ``VARIANTS``."""


def available_models() -> List[str]:
    """Names accepted by ``build_model`` / ``--model``."""
    return list(VARIANTS)


def _variant_module(name: str):
    if name not in VARIANTS:
        raise UnknownModelError(f"unknown model '{name}'; valid names: {', '.join(VARIANTS)}")
    return importlib.import_module(f"hot_pose.models.{name}")


def prunes(name_or_model: Union[str, nn.Module]) -> bool:
    """Whether a variant (by name) or a built model prunes tokens (HoT / TPC).

    The one rule: a variant prunes when its ``DEFAULTS`` give a ``token_num``; a built model, when it holds a
    ``TokenPruningCluster`` that runs (its ``prunes`` property: False when ``layer_index`` lies beyond the
    blocks).
    """
    if isinstance(name_or_model, str):
        return getattr(_variant_module(name_or_model), "DEFAULTS", {}).get("token_num") is not None
    from hot_pose.models.hot import TokenPruningCluster

    model = name_or_model
    return bool(getattr(model, "prunes", True)) and any(isinstance(m, TokenPruningCluster) for m in model.modules())


def resolve_config(name: str, args: Any = None, **overrides: Any) -> ModelConfig:
    """The sizes ``build_model(name, args, **overrides)`` would use."""
    return ModelConfig.resolve(args, getattr(_variant_module(name), "DEFAULTS", {}), **overrides)


def build_model(name: str, args: Any = None, **overrides: Any) -> nn.Module:
    """Build variant ``name`` with sizes from ``args`` (``None`` entries → the variant's defaults).

    Raises:
        UnknownModelError: ``name`` is not registered; the message lists the valid names.
    """
    module = _variant_module(name)
    cfg = ModelConfig.resolve(args, getattr(module, "DEFAULTS", {}), **overrides)
    model = module.build(cfg)
    model.variant_name = name
    model.config = cfg
    return model
