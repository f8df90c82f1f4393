"""Checkpoint loading (strict, reference-compatible) and atomic saving.

Loads the project's own checkpoints and state_dicts written by the reference HoT code
(NationalGAILab/HoT). Foreign key names go through one converter, ``convert_reference_state_dict``:
a model that nests HoT's modules under new names declares ``reference_key_map`` (reference prefix →
our prefix), and the converter renames keys accordingly. Any missing, unexpected or mis-shaped key
fails with a message listing them: never a silent partial load.
"""
from __future__ import annotations

import logging
import os
import pickle
import re
import tempfile
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Union

import torch
from torch import nn

_logger = logging.getLogger(__name__)

#: wrapper keys under which common training scripts store the weights, tried in order
WRAPPER_KEYS = ("model", "model_pos", "state_dict", "model_state_dict", "net")
#: prefixes added by DataParallel/DistributedDataParallel and torch.compile
STRIP_PREFIXES = ("module.", "_orig_mod.")


#: tag of the checkpoints the training engine writes (``common.engine``)
CHECKPOINT_FORMAT = "hot-engine-1"


#: flags that set model sizes; what a checkpoint records of them is ``CheckpointInfo.sizes``
SIZE_FLAGS = ("frames", "channel", "d_hid", "token_num", "layer_index", "n_joints", "out_joints", "depth",
              "drop_path", "prune_schedule", "prune_strategy", "recover_strategy")


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read or does not match the model."""


@dataclass(frozen=True)
class CheckpointInfo:
    """A checkpoint read once: what it says about itself, and the loaded object.

    The one rule every reader (training engine, demo, Python API, tools) applies to sizes: **given now >
    recorded in the checkpoint > the variant's defaults**. ``sizes`` is the checkpoint's part: the run's
    size flags with the resolved ``model_config`` over them (it holds what defaults filled in).

    Attributes:
        path: the file.
        obj: the loaded object (CPU tensors).
        variant: ``<family>.<variant>`` it holds, or None (a reference checkpoint: a bare state_dict).
        sizes: model sizes it records (``SIZE_FLAGS`` of its flags, every ``ModelConfig`` field of its
            ``model_config``; only those it has).
        args: the training run's flags (``{}`` when not written by this project's engine).
        engine: written by this project's training engine (``format`` = ``CHECKPOINT_FORMAT``).
    """

    path: Path
    obj: Any = field(repr=False)
    variant: Optional[str]
    sizes: Dict[str, Any]
    args: Dict[str, Any]
    engine: bool

    def resolve(self, name: Optional[str] = None, **given: Any) -> tuple:
        """``(variant, sizes)`` by the one rule: ``name``/``given`` (non-None) > the checkpoint > defaults.

        Raises:
            CheckpointError: ``name`` differs from the variant the checkpoint holds, or neither says one.
        """
        if name and self.variant and name != self.variant:
            raise CheckpointError(f"{self.path} holds '{self.variant}' weights, not '{name}'")
        variant = name or self.variant
        if variant is None:
            raise CheckpointError(f"{self.path} does not say which variant it holds; pass the model name")
        return variant, {**self.sizes, **{k: v for k, v in given.items() if v is not None}}


def inspect_checkpoint(path: Union[str, Path], check_finite: bool = False) -> CheckpointInfo:
    """Read ``path`` once (``read_checkpoint``) and describe it (``CheckpointInfo``).

    ``check_finite``: refuse NaN/inf weights now (``CheckpointError``), before anything else is set up.
    """
    path = Path(path)
    obj = read_checkpoint(path)
    if check_finite:
        try:
            weights = extract_state_dict(obj)
        except CheckpointError:  # no state_dict: load_weights says so with the model's keys
            weights = {}
        check_finite_weights(weights, str(path))
    meta = obj if isinstance(obj, Mapping) else {}
    args = dict(meta["args"]) if isinstance(meta.get("args"), Mapping) else {}
    variant = meta.get("variant") if isinstance(meta.get("variant"), str) else None
    variant = variant or (args.get("model") if isinstance(args.get("model"), str) and args.get("model") else None)
    sizes = {k: args[k] for k in SIZE_FLAGS if args.get(k) is not None}
    config = meta.get("model_config")
    if isinstance(config, Mapping):
        sizes.update({k: v for k, v in config.items() if v is not None})  # ModelConfig: in_channels, num_heads too
    return CheckpointInfo(path=path, obj=obj, variant=variant, sizes=sizes, args=args,
                          engine=meta.get("format") == CHECKPOINT_FORMAT)


def extract_state_dict(obj: Any) -> Dict[str, torch.Tensor]:
    """The state_dict inside a loaded checkpoint: a bare state_dict or one under a wrapper key."""
    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(torch.is_tensor(v) for v in inner.values()):
                return dict(inner)
        if obj and all(torch.is_tensor(v) for v in obj.values()):
            return dict(obj)
    raise CheckpointError(
        "no state_dict found: expected a dict of tensors, or one under " + "/".join(repr(k) for k in WRAPPER_KEYS)
    )


def strip_prefixes(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Remove ``module.`` / ``_orig_mod.`` prefixes (repeatedly) from every key."""
    out = {}
    for key, value in state_dict.items():
        changed = True
        while changed:
            changed = False
            for prefix in STRIP_PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix):], True
        out[key] = value
    return out


def convert_reference_state_dict(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> Dict[str, torch.Tensor]:
    """Rename reference (official HoT) keys to this project's names.

    ``model.reference_key_map`` maps a reference key prefix to ours, e.g.
    ``{"x_token": "recover.x_token", "cross_attention.": "recover.cross_attention."}``. A key already
    known to the model is left alone, so our own checkpoints pass through unchanged.
    """
    mapping: Mapping[str, str] = getattr(model, "reference_key_map", {}) or {}
    own = set(model.state_dict().keys())
    out = {}
    for key, value in state_dict.items():
        if key not in own:
            for ref_prefix, our_prefix in mapping.items():
                if key.startswith(ref_prefix):
                    key = our_prefix + key[len(ref_prefix):]
                    break
        out[key] = value
    return out


def check_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Raise ``CheckpointError`` listing missing, unexpected and mis-shaped keys, if any."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        name = getattr(model, "variant_name", type(model).__name__)
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
            if items:
                shown = ", ".join(items[:8]) + (f", ... ({len(items)} in all)" if len(items) > 8 else "")
                parts.append(f"{label} keys: {shown}")
        raise CheckpointError(
            f"{source} does not fit model '{name}' (wrong --model or size flags?): " + "; ".join(parts)
        )


def read_checkpoint(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: tensors, containers, numbers and strings only, never code.

    Raises:
        CheckpointError: missing or unreadable file, or one that holds other Python objects (one line, naming
            the object; torch's own text would suggest ``weights_only=False``, which could run the file's code).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        what = f"the Python object '{found.group(1)}'" if found else "Python objects other than tensors"
        raise CheckpointError(f"refusing to load {path}: it holds {what}, and loading it could run code; only "
                              "checkpoints of tensors, dicts, lists, strings and numbers are read") from None
    except Exception as exc:  # zip and torch errors of a truncated or foreign file
        first = (str(exc).strip().splitlines() or [""])[0]
        if "central directory" in first or "PytorchStreamReader" in first:
            first = "the file is truncated or not a PyTorch checkpoint (re-download or re-save it)"
        raise CheckpointError(f"cannot read checkpoint {path}: {first}") from None


def check_finite_weights(state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Raise ``CheckpointError`` naming the first floating-point tensor that holds NaN or inf values."""
    for key, value in state_dict.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(f"{source}: tensor '{key}' has {bad} NaN/inf values (a diverged or corrupt "
                                  "checkpoint); use an earlier one")


def set_tpc_distance(model: nn.Module, exact: bool) -> int:
    """Choose the distances of every token-pruning (TPC) module of ``model``: exact (symmetric, zero-diagonal;
    the default of this project's models) or the reference's matrix-product ``cdist`` (``exact=False``, what
    the published HoT checkpoints were trained and evaluated with). Returns the number of modules set."""
    count = 0
    for module in model.modules():
        if hasattr(module, "exact_distance"):
            module.exact_distance = bool(exact)
            count += 1
    return count


def is_reference_checkpoint(obj: Any) -> bool:
    """Whether a loaded checkpoint comes from outside this project (a bare or wrapped state_dict without this
    project's ``format``/``variant`` metadata, e.g. the published HoT weights), i.e. was made with the
    reference's distances."""
    return not (isinstance(obj, Mapping) and (obj.get("format") == CHECKPOINT_FORMAT or "variant" in obj))


def load_weights(
    model: nn.Module, path: Union[str, Path, CheckpointInfo], map_location: Union[str, torch.device] = "cpu"
) -> Dict[str, Any]:
    """Load weights from ``path`` into ``model`` strictly.

    ``path`` may be a ``CheckpointInfo`` (``inspect_checkpoint``): its object is used, the file is not read again.
    Accepts a bare state_dict, the wrappers in ``WRAPPER_KEYS``, ``module.``/``_orig_mod.`` prefixes
    and reference key names. Uses ``torch.load(weights_only=True)``. A checkpoint not written by this
    project's engine (``is_reference_checkpoint``) switches the model's token pruning to the reference's
    distances (``set_tpc_distance(model, exact=False)``), so published weights keep their published frames.

    Returns:
        The whole loaded object when it was a dict (e.g. our training checkpoint with ``epoch``,
        ``best_p1``, ``args``), else ``{}``.

    Raises:
        CheckpointError: unreadable or unsafe file, any key/shape mismatch, or NaN/inf weights.
    """
    if isinstance(path, CheckpointInfo):  # already read: not read again
        path, obj = path.path, path.obj
    else:
        path = Path(path)
        obj = read_checkpoint(path, map_location)
    state_dict = convert_reference_state_dict(strip_prefixes(extract_state_dict(obj)), model)
    check_state_dict(model, state_dict, source=str(path))
    check_finite_weights(state_dict, source=str(path))
    model.load_state_dict(state_dict, strict=True)
    _logger.info("loaded %d tensors from %s", len(state_dict), path)
    if is_reference_checkpoint(obj) and set_tpc_distance(model, exact=False):
        _logger.info("reference checkpoint: token pruning uses the reference's cdist distances")
    return obj if isinstance(obj, dict) else {}


def atomic_save(obj: Any, path: Union[str, Path]) -> Path:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def find_checkpoint(directory: Union[str, Path], prefer: Optional[str] = None) -> Path:
    """Pick the weights file in ``directory`` by an explicit rule.

    Rule: ``prefer`` if given and present; else ``best.pth``; else ``last.pth``; else the only
    ``*.pth``; else, among reference-style ``model_<epoch>_<p1x100>.pth`` files, the lowest P1;
    else fail listing the candidates.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint folder not found: {directory}")
    for name in filter(None, (prefer, "best.pth", "last.pth")):
        if (directory / name).is_file():
            return directory / name
    files = sorted(directory.glob("*.pth"))
    if len(files) == 1:
        return files[0]
    if not files:
        raise CheckpointError(f"no *.pth file in {directory}")
    scored = []
    for f in files:
        parts = f.stem.split("_")
        if len(parts) == 3 and parts[0] == "model" and parts[1].isdigit() and parts[2].isdigit():
            scored.append((int(parts[2]), f))
    if scored:
        return min(scored)[1]
    raise CheckpointError(
        f"{directory} holds several .pth files ({', '.join(f.name for f in files)}); name one with --checkpoint_file"
    )
