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
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import torch
from torch import nn

_logger = logging.getLogger(__name__)

#: wrapper keys under which common training scripts store the weights, tried in order
WRAPPER_KEYS = ("model", "model_pos", "state_dict", "model_state_dict", "net")
#: prefixes added by DataParallel/DistributedDataParallel and torch.compile
STRIP_PREFIXES = ("module.", "_orig_mod.")


#: tag of the checkpoints the training engine writes (``hot_pose.training.engine``)
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

    ``hot_pose.models.reference_key_map`` maps a reference key prefix to ours, e.g.
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


#: the start of a file written by ``torch.save`` before the zip format (pickle protocol 2, LONG1 of 10 bytes)
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a"
_ADVICE = "give a .pth written by torch.save (e.g. a training run's best.pth)"


def describe_unreadable(path: Path) -> str:
    """What a file that ``torch.load`` could not read is, judged by its bytes, e.g. ``"an empty file (0
    bytes)"``, ``"a text file (it starts with '101')"``, ``"a truncated zip archive (200 bytes: ...)"``; ``""``
    when it looks like a complete PyTorch checkpoint (the error is then about its content)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(512)
    if size == 0:
        return "an empty file (0 bytes): the save or copy was cut short"
    if head.startswith(b"PK\x03\x04"):
        if not zipfile.is_zipfile(path):
            return f"a truncated zip archive ({size} bytes): the save or copy was cut short"
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return f"a damaged zip archive ({size} bytes)"
        if not any(name.endswith("data.pkl") for name in names):
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            return f"a zip archive without a PyTorch checkpoint inside (it holds {shown or 'nothing'})"
        return ""
    if head.startswith(b"\x1f\x8b"):
        return "a gzip-compressed file (decompress it first)"
    if head.startswith(_LEGACY_MAGIC):
        return ""
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle, not a file written by torch.save"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the end of the head is still text
        text = head[:exc.start].decode("utf-8") if exc.start >= len(head) - 3 else ""
    if text and all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        first = text.strip().splitlines()[0][:40] if text.strip() else ""
        return f"a text file (it starts with {first!r})" if first else "a text file (only blank lines)"
    return "not a PyTorch checkpoint (unrecognised binary data)"


def read_checkpoint(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: tensors, containers, numbers and strings only, never code.

    Raises:
        CheckpointError: missing or unreadable file (one line saying what the file is instead: empty, text,
            truncated zip, ...), or one that holds other Python objects (naming the object; torch's own text
            would suggest ``weights_only=False``, which could run the file's code).
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"cannot read checkpoint {path}: it is a folder; {_ADVICE}, or pass the folder as "
                              "--previous_dir")
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        with warnings.catch_warnings(record=True) as caught:  # e.g. "Detected pickle protocol 4": not one line
            warnings.simplefilter("always")
            obj = torch.load(path, map_location=map_location, weights_only=True)
        for warning in caught:
            _logger.debug("torch.load(%s): %s", path, warning.message)
        return obj
    except Exception as exc:  # noqa: BLE001 - pickle, zip and torch errors of a truncated, foreign or crafted file
        error = exc
    found = re.search(r"GLOBAL (\S+)", str(error))
    if isinstance(error, pickle.UnpicklingError) and found and not found.group(1).startswith("torch."):
        # (a global of torch's own that weights_only does not allow is the cut-off name of a truncated file)
        raise CheckpointError(f"refusing to load {path}: it holds the Python object '{found.group(1)}', and "
                              "loading it could run code; only checkpoints of tensors, dicts, lists, strings and "
                              "numbers are read") from None
    try:
        what = describe_unreadable(path)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    if what:
        raise CheckpointError(f"cannot read checkpoint {path}: {what}; {_ADVICE}") from None
    first = (str(error).strip().splitlines() or [""])[0]
    if isinstance(error, pickle.UnpicklingError) and not found:
        raise CheckpointError(f"refusing to load {path}: it holds Python objects other than tensors, and loading "
                              "it could run code; only checkpoints of tensors, dicts, lists, strings and numbers "
                              "are read") from None
    if isinstance(error, (EOFError, pickle.UnpicklingError)) or "PytorchStreamReader" in first:
        reason = "a damaged or truncated PyTorch checkpoint"
    else:
        reason = f"a damaged PyTorch checkpoint ({type(error).__name__}: {first or 'no details'})"
    raise CheckpointError(f"cannot read checkpoint {path}: {reason}; re-save or re-download it, or {_ADVICE}") \
        from None


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
