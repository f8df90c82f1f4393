"""The training/testing engine behind the four entry scripts: ``main(recipe, zoo)``.

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). One engine replaces the reference's four near-identical scripts; a ``Recipe`` carries what
differs (loss, optimizer, seed). The model zoo is passed in (``common`` never imports ``model``): any object
with ``available_models()``, ``resolve_config(name, args)`` and ``build_model(name, args)``.

Flow: parse and check the flags (all user errors stop here with one line) → device, torchrun process group →
run folder claimed (an exclusive lock, ``hot_pose.training.run_lock``: one run per folder at a time) and checked (never
another run's) → data → model (+ weights) → ``--test``: one evaluation, per-action table, JSON report; else the
run folder is opened (train.log from the first logged line) and the epoch loop runs: train (the loss checked
every step), evaluate, keep ``best.pth`` (by P1), decay the LR, write configs and ``last.pth``. Nothing but the
lock file is written before every check has passed; a run that fails before its first checkpoint removes what it
wrote (and the folder, if it made it and nothing else is in it), never anything another process uses.

Differences from the reference, on purpose: checkpoints hold the optimizer, LR, epoch, best P1, RNG states,
flags and variant name (``--resume`` continues exactly); every epoch reseeds the RNGs from (seed, epoch) so a
resumed run draws the same numbers; ``--previous_dir`` picks a file by an explicit rule and loads it strictly.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Protocol, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from hot_pose.data.dataset import PoseWindowDataset, file_2d, file_3d, load_h36m
from hot_pose.data.h36m import DATA_HELP, DataError, parse_actions
from hot_pose.data.pack import find_pack
from hot_pose.models.checkpoint import (
    CHECKPOINT_FORMAT,
    SIZE_FLAGS,
    CheckpointError,
    CheckpointInfo,
    atomic_save,
    find_checkpoint,
    inspect_checkpoint,
    load_weights,
    set_tpc_distance,
)
from hot_pose.training.arguments import ConfigError, RunConfig, check_flags, parse_args
from hot_pose.training.evaluate import EvalResult, JointCompletion, evaluate
from hot_pose.training.metrics import write_eval_report
from hot_pose.training.recipes import Recipe, lr_factor
from hot_pose.training.run_lock import RunFolderBusy, RunFolderLock
from hot_pose.training.run_outputs import (
    RUN_OUTPUTS,
    TEMPORARIES,
    RunTracker,
    existing_outputs,
    history_row,
    remove_outputs,
    remove_temporaries,
    write_configs,
)
from hot_pose.training.train import GlobalBatchSampler, WeightEMA, shard_range, train_one_epoch
from hot_pose.utils.console import guarded
from hot_pose.utils.outputs import OutputError, check_output_file
from hot_pose.utils.paths import SHIPPED
from hot_pose.utils.runtime import (
    DistInfo,
    NumericalError,
    attach_log_file,
    barrier,
    broadcast_object,
    cleanup_distributed,
    detach_log_file,
    dist_env,
    epoch_seed,
    get_rng_state,
    init_distributed,
    resolve_device,
    set_rng_state,
    set_seed,
    setup_logging,
)

_logger = logging.getLogger(__name__)

__all__ = ["ModelZoo", "Context", "main", "run", "resolve_run", "resolve_joints", "CHECKPOINT_FORMAT"]

#: user errors: reported in one line, exit status 2
USER_ERRORS = (ConfigError, CheckpointError, DataError)


class ModelZoo(Protocol):
    """What the engine needs from ``model``."""

    def available_models(self) -> List[str]: ...

    def resolve_config(self, name: str, args: Any = None, **overrides: Any) -> Any: ...

    def build_model(self, name: str, args: Any = None, **overrides: Any) -> nn.Module: ...

    def prunes(self, name_or_model: Any) -> bool: ...


@dataclass
class Context:
    """Everything a run needs after set-up; ``cfg`` is replaced (never mutated) once the data is read."""

    cfg: RunConfig
    recipe: Recipe
    info: DistInfo
    device: torch.device
    seed: int
    run_dir: Optional[Path] = None
    weights: Optional[Path] = None
    data: Any = None
    model: Optional[nn.Module] = None
    lock: Optional[RunFolderLock] = None  # the claim on run_dir (rank 0 of a training run)
    checkpoints_written: int = 0


def main(recipe: Recipe, zoo: ModelZoo, argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``main_*.py`` and ``hot-train``: returns the exit status (one ``error:`` line on stderr:
    2 for user errors, 1 for a run that failed, e.g. diverged; an error nobody expected is one line too, via
    ``hot_pose.utils.console.guarded``, unless ``--verbose`` asks for its traceback)."""
    argv = list(sys.argv[1:] if argv is None else argv)

    def body() -> int:
        try:
            args = parse_args(argv, recipe.description(), **recipe.defaults)
            run(args, recipe, zoo)
            return 0
        except USER_ERRORS as exc:
            print(f"error: {_first_line(exc)}", file=sys.stderr)
            return 2
        except NumericalError as exc:
            print(f"error: {_first_line(exc)}", file=sys.stderr)
            return 1
        finally:
            cleanup_distributed()

    return guarded(body, verbose=wants_traceback(argv), after_os_error="; checkpoints already written are intact")


def wants_traceback(argv: Sequence[str]) -> bool:
    """Whether ``argv`` holds ``--verbose`` (or an abbreviation argparse accepts, e.g. ``--verb``), known before
    the flags are parsed: ``guarded`` must know it around the parsing too."""
    return any(len(token) >= 4 and "--verbose".startswith(token) for token in argv if token.startswith("--ve"))


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else exc.__class__.__name__


def run(args: argparse.Namespace, recipe: Recipe, zoo: ModelZoo) -> Optional[EvalResult]:
    """Check, set up and run training or ``--test``. Returns the final (best) evaluation.

    A training run claims its folder first (``claim_run_dir``: one run per folder, the claim held until this
    function returns); nothing else is written before every check passed, the data loaded and the model built.
    A run that fails before its first checkpoint removes what it wrote (``discard_run_dir``).
    """
    setup_logging(None, dist_env().is_main)  # console, and kept in memory until the run folder exists
    ctx = setup(resolve_run(args, zoo), recipe)
    try:
        if not ctx.cfg.test:
            claim_run_dir(ctx)
        ctx.data = load_data(ctx)
        ctx.cfg = resolve_joints(ctx.cfg, ctx.data["data"].num_joints, zoo)
        ctx.model = build(ctx, zoo)
        if ctx.cfg.test:
            return test(ctx)
        open_run_dir(ctx)
        return fit(ctx)
    except BaseException:
        if ctx.run_dir is not None and not ctx.checkpoints_written:
            discard_run_dir(ctx)
        raise
    finally:
        if ctx.lock is not None:
            ctx.lock.release()


# --------------------------------------------------------------------------------------------- flags
def resolve_run(args: argparse.Namespace, zoo: ModelZoo) -> RunConfig:
    """The run's configuration, resolved once from the parsed flags and checked.

    A resumed run's saved flags (the ones given now win); the variant, sizes, window stride and 2-D source of
    ``--previous_dir`` weights, by the one rule of ``CheckpointInfo.resolve``: command line > checkpoint >
    variant defaults. Nothing is loaded or written yet; the joint counts follow once the 2-D file is read
    (``resolve_joints``).

    Raises:
        ConfigError, CheckpointError, DataError: one line naming the problem and the fix.
    """
    values: Dict[str, Any] = dict(vars(args), weights=None)
    if args.resume:
        values = resumed_flags(values)
    elif args.previous_dir or args.checkpoint_file:  # a resumed run keeps them as a record only
        weights = weights_path(args.previous_dir, args.checkpoint_file)
        values.update(checkpoint_flags(values, inspect_checkpoint(weights, check_finite=True)), weights=str(weights))
    cfg = RunConfig.from_flags(values)
    check_flags(cfg)
    if cfg.resume:
        done = int(inspect_checkpoint(cfg.resume).obj.get("epoch", 0))
        if cfg.nepoch <= done:
            raise ConfigError(f"--resume {cfg.resume}: the run has done {done} epochs, and --nepoch is "
                              f"{cfg.nepoch}: nothing to train; give a larger --nepoch (e.g. --nepoch {done + 10})")
    try:
        parse_actions(cfg.actions)
    except ValueError as exc:
        raise ConfigError(f"--actions: {exc}") from exc
    check_model(cfg, zoo)
    if cfg.test:  # where the report goes, checked now; never into the weights' folder (shipped = package data)
        report = report_path(cfg)
        try:
            check_output_file(report, "--report" if cfg.report else "--checkpoint", overwrite=True,
                              example="eval.json")
        except OutputError as exc:
            raise ConfigError(str(exc)) from None
        cfg = cfg.replace(report=str(report))
    files = (file_3d(cfg.root_path, cfg.dataset), file_2d(cfg.root_path, cfg.keypoints, cfg.dataset))
    pack = find_pack(cfg.root_path, files)
    if pack is not None and cfg.keypoints != "gt":
        raise DataError(f"--root_path {pack} is a data pack, which holds only what --keypoints gt needs; "
                        f"add --keypoints gt, or point --root_path at the folder with {files[1].name}")
    for path in files if pack is None else ():
        if not path.is_file():
            raise DataError(f"{path} not found (--root_path/--keypoints); {DATA_HELP}")
    return cfg


def test_stride(cfg: RunConfig) -> int:
    """The window stride of evaluation: ``--stride`` when it is 1 (seq2frame, every frame centred) or the window
    length, else the window length."""
    return cfg.stride if cfg.stride in (1, cfg.frames) else cfg.frames


def report_path(cfg: RunConfig) -> Path:
    """Where ``--test`` writes its JSON report: ``--report``, else the run's output folder ``--checkpoint`` (default
    a new ``checkpoint/<MMDD_HHMM_SS>_<frames>_test/``), as ``eval_<weights file>_s<stride>.json``. Never the
    weights' own folder: shipped checkpoints are package data, and a checkout's tracked files stay untouched."""
    if cfg.report:
        return Path(cfg.report)
    folder = Path(cfg.checkpoint or os.path.join("checkpoint", time.strftime("%m%d_%H%M_%S_") + f"{cfg.frames}_test"))
    stem = Path(cfg.weights).stem if cfg.weights else "weights"
    return folder / f"eval_{stem}_s{test_stride(cfg)}.json"


def weights_path(previous_dir: str, checkpoint_file: str) -> Path:
    """The weights file of ``--previous_dir``/``--checkpoint_file`` (rule in ``find_checkpoint``). A
    ``--previous_dir`` that is no folder here but the name of a shipped checkpoint (``hot_mixste_27_gt``) is that
    checkpoint, so the shipped ones work from any folder after ``pip install``."""
    if previous_dir and not Path(previous_dir).exists() and (SHIPPED / previous_dir / "best.pth").is_file():
        previous_dir = str(SHIPPED / previous_dir)
    if checkpoint_file:
        direct = Path(checkpoint_file)
        if previous_dir and not direct.is_absolute() and (Path(previous_dir) / direct).is_file():
            return Path(previous_dir) / direct
        if direct.is_file():
            return direct
        raise CheckpointError(f"--checkpoint_file {checkpoint_file} not found")
    return find_checkpoint(previous_dir)


_FLAGS = frozenset(f.name for f in dataclasses.fields(RunConfig)) - set(RunConfig.RESOLVED)


def checkpoint_flags(values: Dict[str, Any], info: CheckpointInfo) -> Dict[str, Any]:
    """The flags an engine checkpoint sets: its variant, and its model sizes, window stride and 2-D source for
    the flags not given on the command line (so ``--test --previous_dir DIR`` alone scores a run the way it
    was validated); sizes without a flag (``in_channels``, ``num_heads``) go to ``model_sizes``. A reference
    checkpoint (no metadata) sets nothing."""
    if not info.engine:
        return {}
    if values["model"] and values["model"] != info.variant:
        raise ConfigError(f"{info.path} holds '{info.variant}' weights but --model is '{values['model']}'; "
                          f"use --model {info.variant} or other weights")
    recorded = {**info.sizes, **{k: info.args[k] for k in ("stride", "keypoints") if info.args.get(k) is not None}}
    adopted = {k: v for k, v in recorded.items() if k in _FLAGS and k not in values["explicit"]}
    if adopted:
        _logger.info("model sizes from the checkpoint: %s", ", ".join(f"{k}={v}" for k, v in adopted.items()))
    return dict(adopted, model=info.variant, model_sizes={k: v for k, v in info.sizes.items() if k not in _FLAGS})


def resumed_flags(values: Dict[str, Any]) -> Dict[str, Any]:
    """The flags of the run to resume, overridden by those given now; ``resume`` = the last.pth path."""
    path = Path(values["resume"])
    if path.is_dir():
        path = path / "last.pth"
    if not path.is_file():
        raise ConfigError(f"--resume {values['resume']}: no such checkpoint (give a last.pth or its run folder)")
    info = inspect_checkpoint(path)
    if not isinstance(info.obj, dict) or "optimizer" not in info.obj:
        raise ConfigError(f"--resume {path}: not a last.pth written by this engine (no optimizer state)")
    saved = {k: v for k, v in info.args.items() if k not in ("explicit", "resume", "weights", "model_config")}
    merged = {**values, **saved, "model_sizes": {k: v for k, v in info.sizes.items() if k not in _FLAGS}}
    merged.update({k: values[k] for k in values["explicit"]})
    merged["resume"] = str(path)
    if "checkpoint" not in values["explicit"]:
        merged["checkpoint"] = str(path.parent)
    return merged


def _size_inputs(cfg: RunConfig) -> Dict[str, Any]:
    """What the model zoo resolves the sizes from (``None``: the variant's default)."""
    return {**cfg.model_sizes, **{k: getattr(cfg, k) for k in SIZE_FLAGS}}


def check_model(cfg: RunConfig, zoo: ModelZoo) -> Any:
    """Resolve and check the model sizes; build the model on the meta device to catch the rest."""
    names = zoo.available_models()
    if cfg.model not in names:
        raise ConfigError(f"unknown --model '{cfg.model}'; valid: {', '.join(names)}")
    if not zoo.prunes(cfg.model):
        given = [flag for flag in ("prune_schedule", "prune_strategy", "recover_strategy")
                 if getattr(cfg, flag) is not None]
        if given:
            raise ConfigError(f"--{given[0]} applies to models that prune frames, and {cfg.model} does not (it "
                              f"would be ignored); drop --{given[0]}, or choose a pruning variant such as "
                              f"{_pruning_example(cfg.model, names, zoo)}")
    try:
        sizes = zoo.resolve_config(cfg.model, _size_inputs(cfg))
    except ValueError as exc:  # e.g. a malformed --prune_schedule
        raise ConfigError(str(exc)) from None
    if zoo.prunes(cfg.model) and not 1 <= sizes.token_num < sizes.frames:
        raise ConfigError(f"--token_num {sizes.token_num} must be between 1 and --frames - 1 ({sizes.frames - 1})")
    try:
        with torch.device("meta"):
            probe = zoo.build_model(cfg.model, _size_inputs(cfg))
    except Exception as exc:  # noqa: BLE001 - the constructor's own checks
        raise ConfigError(f"cannot build {cfg.model} with these sizes: {exc}") from exc
    if zoo.prunes(cfg.model) and not zoo.prunes(probe):
        raise ConfigError(f"--layer_index {sizes.layer_index} is out of range for {cfg.model} with depth "
                          f"{sizes.depth}: token pruning would never happen")
    return sizes


def _pruning_example(name: str, names: Sequence[str], zoo: ModelZoo) -> str:
    """A pruning variant of the same family as ``name`` (H2OT's first: it takes every pruning flag)."""
    family = name.split(".")[0]
    pruning = [n for n in names if n.split(".")[0] == family and zoo.prunes(n)] or \
        [n for n in names if zoo.prunes(n)]
    return next((n for n in pruning if ".h2ot_" in n), pruning[0] if pruning else "mixste.hot_mixste")


def resolve_joints(cfg: RunConfig, num_joints: int, zoo: ModelZoo) -> RunConfig:
    """The configuration once the 2-D file is read: ``--n_joints``/``--out_joints`` default to its joint count
    (an explicit mismatch is an error), and the model's sizes are resolved (``model_config``, size flags).

    Raises:
        ConfigError: ``--n_joints``/``--out_joints`` (given, or from the checkpoint) do not match the file.
    """
    joints = int(num_joints)
    changes: Dict[str, Any] = dict(complete_joints=False)
    if cfg.test and joints == 16 and cfg.n_joints == 17 and cfg.out_joints in (None, 17):
        _logger.info("17-joint weights on 16-joint 2-D: Neck/Nose placed on the thorax-head segment, scored "
                     "on the 16 joints the 2-D file has")  # see JointCompletion
        changes.update(complete_joints=True, out_joints=17)
    else:
        for flag in ("n_joints", "out_joints"):
            value = getattr(cfg, flag)
            if value is not None and value != joints:
                source = f"--{flag} {value}" if flag in cfg.explicit else f"the checkpoint's {flag} ({value})"
                raise ConfigError(f"{source} does not match the {joints} joints of --keypoints {cfg.keypoints}; "
                                  "use matching 2-D data or weights")
            changes[flag] = joints
    cfg = cfg.replace(**changes)
    sizes = zoo.resolve_config(cfg.model, _size_inputs(cfg)).to_dict()
    return cfg.replace(model_config=sizes, **{k: sizes[k] for k in SIZE_FLAGS if k in sizes})


# --------------------------------------------------------------------------------------------- set-up
def pick_device(cfg: RunConfig, info: DistInfo) -> torch.device:
    """Resolve ``--device`` (and ``--gpu``, outside torchrun) to this process's device."""
    if cfg.gpu is not None and not info.enabled:
        os.environ["CUDA_VISIBLE_DEVICES"] = cfg.gpu
    try:
        device = resolve_device(cfg.device, info.local_rank)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if cfg.gpu is not None and device.type != "cuda":
        raise ConfigError(f"--gpu {cfg.gpu} asks for CUDA, but the device is {device.type} (no CUDA device is "
                          "visible); drop --gpu, or run on a machine with CUDA and a CUDA build of torch")
    if cfg.amp == "fp16" and device.type != "cuda":
        raise ConfigError(f"--amp fp16 needs CUDA (device is {device.type}); use --amp bf16")
    return device


def setup(cfg: RunConfig, recipe: Recipe) -> Context:
    """Device, process group, logging, seed (the run folder is claimed next: ``claim_run_dir``)."""
    info = dist_env()
    if info.enabled and cfg.batch_size < info.world_size:
        raise ConfigError(f"--batch_size {cfg.batch_size} is the global batch: it must be >= the "
                          f"{info.world_size} processes")
    device = pick_device(cfg, info)
    init_distributed(info, device)
    seed = recipe.seed if cfg.seed is None else cfg.seed
    set_seed(seed)
    _logger.info("%s: %s on %s%s", recipe.name, cfg.model, device,
                 f" × {info.world_size} processes" if info.enabled else "")
    return Context(cfg, recipe, info, device, seed, None, Path(cfg.weights) if cfg.weights else None)


def claim_run_dir(ctx: Context) -> Path:
    """Claim and check the run folder of a training run (``choose_run_dir``); sets ``ctx.run_dir``, ``ctx.lock``
    (rank 0) and ``--checkpoint`` in ``ctx.cfg``.

    Under torchrun only rank 0 claims and checks; the others wait for its verdict and stop with the same error.

    Raises:
        ConfigError: the folder is in use by another run, holds another run, or cannot be made or written.
    """
    name = ctx.cfg.checkpoint or os.path.join("checkpoint", time.strftime("%m%d_%H%M_%S_") + str(ctx.cfg.frames))
    run_dir = Path(broadcast_object(name))
    error, failure = None, None
    if ctx.info.is_main:
        try:
            ctx.lock = choose_run_dir(ctx.cfg, run_dir)
        except Exception as exc:  # noqa: BLE001 - every rank must hear of it, or the others wait forever
            failure, error = exc, str(exc)
    error = broadcast_object(error)
    if failure is not None:
        raise failure
    if error is not None:
        raise ConfigError(error)
    ctx.run_dir = run_dir
    ctx.cfg = ctx.cfg.replace(checkpoint=str(run_dir))
    return run_dir


def choose_run_dir(cfg: RunConfig, run_dir: Path) -> RunFolderLock:
    """Claim ``run_dir`` for this run (``RunFolderLock``; made if absent, holding only the lock file) and check
    it; returns the held claim. ``--checkpoint`` defaults to ``checkpoint/<MMDD_HHMM_SS>_<frames>`` (the
    reference's name).

    One run per folder: a folder another live process claimed (a fresh run, ``--resume`` or ``--overwrite``)
    is refused, naming that process. A run never destroys an earlier one: a fresh (non-``--resume``) run refuses
    a folder holding another run's outputs (checkpoints, metrics, configs, log) unless ``--overwrite`` is given;
    ``--resume`` may only write into the folder of the run it continues. Both are checked first without touching
    anything, and the second again once the claim is held, so no other run can slip in between.

    Raises:
        ConfigError: the folder is in use, holds another run, or cannot be made or written (a folder made for
            the lock is removed again).
    """
    lock = RunFolderLock(run_dir)
    try:
        lock.probe()  # a live run's folder is refused as such (not as "holds a run"), touching nothing
        check_holds_no_other_run(cfg, run_dir)  # early, touching nothing (e.g. a finished run on a read-only disk)
        check_writable(run_dir, "--checkpoint")
        lock.acquire()
    except RunFolderBusy as exc:
        how = ("wait until that run has stopped (or stop it), then --resume again" if cfg.resume else
               "wait until it has finished, or choose another --checkpoint folder")
        raise ConfigError(f"--checkpoint {run_dir} is in use by another run ({exc.holder}); {how}") from None
    except OSError as exc:
        raise ConfigError(f"--checkpoint {run_dir}: cannot write there ({exc.strerror or exc}); choose another "
                          "folder") from None
    try:
        check_holds_no_other_run(cfg, run_dir)  # again, now that no other run can write there
    except BaseException:
        lock.discard(())
        raise
    return lock


def check_holds_no_other_run(cfg: RunConfig, run_dir: Path) -> None:
    """Raise ``ConfigError`` when ``run_dir`` holds another run's outputs: a fresh run needs ``--overwrite``
    there, and ``--resume`` writes only into the folder of the run it continues."""
    outputs = existing_outputs(run_dir)
    own = bool(cfg.resume) and run_dir.resolve() == Path(cfg.resume).resolve().parent
    if outputs and not own and not cfg.overwrite:
        shown = ", ".join(p.name for p in outputs[:4]) + (", ..." if len(outputs) > 4 else "")
        how = "" if cfg.resume else f"continue it with --resume {run_dir}, "
        raise ConfigError(f"--checkpoint {run_dir} already holds a run ({shown}); {how}choose a new "
                          "--checkpoint folder, or add --overwrite to replace it")


def check_writable(folder: Path, flag: str) -> None:
    """Raise ``ConfigError`` unless ``folder`` exists as a writable folder or could be made (nothing is made)."""
    probe = Path(folder)
    while not probe.exists():
        if probe.is_symlink() or probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConfigError(f"{flag} {folder}: {probe} is a file, not a folder; choose another path")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {folder}: {probe} is not writable (read-only or no permission); choose "
                          "another path")


def open_run_dir(ctx: Context) -> None:
    """Open the claimed run folder once everything is checked and loaded: start train.log there with the lines
    logged so far, delete leftovers of interrupted saves, and with ``--overwrite`` the earlier run's outputs.

    Raises:
        ConfigError: the folder cannot be written.
    """
    run_dir, info = ctx.run_dir, ctx.info
    try:
        if info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=run_dir):
                pass
    except OSError as exc:
        raise ConfigError(f"--checkpoint {run_dir}: cannot write there ({exc.strerror or exc}); choose another "
                          "folder") from None
    barrier()
    if info.is_main:
        stale = remove_temporaries(run_dir)
        if ctx.cfg.overwrite and not ctx.cfg.resume:
            removed = remove_outputs(run_dir)
            if removed:
                if ctx.lock is not None:  # what appears under these names now is this run's own
                    ctx.lock.forget(p.name for p in removed)
                _logger.warning("--overwrite: deleted the earlier run's %s in %s",
                                ", ".join(p.name for p in removed), run_dir)
        if stale:
            _logger.info("removed %d leftover temporary file(s) of an interrupted save", len(stale))
    attach_log_file(str(run_dir / "train.log"), info.is_main)
    _logger.info("run folder: %s", run_dir)


def discard_run_dir(ctx: Context) -> None:
    """A run that failed before writing a checkpoint: remove the outputs it wrote (log, configs, metrics,
    TensorBoard files; not those that were there before it), then the folder if this run made it and nothing
    else is in it. Files of other processes, or the user's, are never touched."""
    detach_log_file(str(ctx.run_dir / "train.log"))
    if ctx.lock is not None:
        removed = ctx.lock.discard(RUN_OUTPUTS + TEMPORARIES)
        _logger.debug("removed %s", ", ".join(str(p) for p in removed))


def load_data(ctx: Context) -> Dict[str, Any]:
    """H36M data, the datasets and loaders (the joint counts follow from ``data.num_joints``)."""
    cfg = ctx.cfg
    subjects = _subjects(cfg.subjects_test) + ([] if cfg.test else _subjects(cfg.subjects_train))
    # training a 17-joint model on 16-joint detections: complete the 2-D, keep the 17 3-D targets
    data = load_h36m(cfg.root_path, keypoints=cfg.keypoints, subjects=list(dict.fromkeys(subjects)),
                     dataset=cfg.dataset, complete_16=not cfg.test and cfg.n_joints == 17)
    common = dict(frames=cfg.frames, actions=parse_actions(cfg.actions), downsample=cfg.downsample,
                  subset=cfg.subset)
    out: Dict[str, Any] = {"data": data, "test_stride": test_stride(cfg)}
    test_set = PoseWindowDataset(data, _subjects(cfg.subjects_test), stride=out["test_stride"], train=False,
                                 test_flip=cfg.test_augmentation, **common)
    _logger.info("Testing on %d windows (stride %d), batch %d", len(test_set), out["test_stride"],
                 eval_batch_size(cfg, ctx.device))
    out["test"] = make_loader(test_set, ctx, train=False)
    if not cfg.test:
        train_set = PoseWindowDataset(data, _subjects(cfg.subjects_train), stride=cfg.stride, train=True,
                                      flip_aug=bool(cfg.data_augmentation), reverse_aug=cfg.reverse_augmentation,
                                      virtual_cameras=cfg.virtual_cameras, seed=ctx.seed, **common)
        _logger.info("Training on %d windows (stride %d)", len(train_set), cfg.stride)
        out["train"] = make_loader(train_set, ctx, train=True)
        if train_set.virtual_cameras > 0:  # drawn from (seed, epoch, window): run_epoch sets the dataset's epoch
            _logger.info("virtual cameras: %.0f%% of the training windows", 100 * train_set.virtual_cameras)
        if train_set.detector_style is not None:
            style = train_set.detector_style.summary()
            _logger.info("virtual views look like %s (measured on %d training frames): hip width x%s, shoulder "
                         "width x%s (p10/p50/p90 of %d sequences)", style["source"], style["frames"],
                         style["hip_ratio_p10_p50_p90"], style["shoulder_ratio_p10_p50_p90"], style["sequences"])
    return out


def _subjects(text: str) -> List[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def make_loader(dataset, ctx: Context, train: bool) -> DataLoader:
    """Training: ``GlobalBatchSampler`` (exact under torchrun); test: this process's contiguous shard."""
    cfg, info = ctx.cfg, ctx.info
    cuda = ctx.device.type == "cuda"
    workers = cfg.workers if cfg.workers is not None else (8 if cuda else 0)
    extra = dict(num_workers=workers, pin_memory=cuda, persistent_workers=workers > 0)
    if train:
        sampler = GlobalBatchSampler(len(dataset), cfg.batch_size, info.rank, info.world_size, ctx.seed,
                                     fraction=cfg.epoch_fraction)
        return DataLoader(dataset, batch_sampler=sampler, **extra)
    shard = Subset(dataset, shard_range(len(dataset), info.rank, info.world_size))
    return DataLoader(shard, batch_size=eval_batch_size(cfg, ctx.device), shuffle=False, **extra)


#: pose frames per test batch on a CPU when --batch_size is not given (64 windows of 27 frames: measured on
#: 2 cores, batch 64 evaluates the shipped 27-frame model 1.8x as fast as batch 4; more gains nothing)
CPU_TEST_FRAMES = 1728


def eval_batch_size(cfg: RunConfig, device: torch.device) -> int:
    """Windows per evaluation batch: ``--batch_size`` when given; on a CPU otherwise at least
    ``CPU_TEST_FRAMES // frames`` (the recipes' batch of 4 long windows leaves a CPU idle between small
    forwards). P1/P2 do not depend on it (per-window metrics)."""
    if "batch_size" in cfg.explicit or device.type != "cpu":
        return cfg.batch_size
    return max(cfg.batch_size, CPU_TEST_FRAMES // max(cfg.frames, 1))


def build(ctx: Context, zoo: ModelZoo) -> nn.Module:
    """The model of ``ctx.cfg.model_config`` on its device, with ``--previous_dir`` weights if given."""
    cfg = ctx.cfg
    if not cfg.model_config:
        raise RuntimeError("build() needs the resolved sizes: call resolve_joints() first")
    model = zoo.build_model(cfg.model, cfg.model_config)
    if ctx.weights is not None:
        _logger.info("loading weights from %s", ctx.weights)
        load_weights(model, ctx.weights)  # a reference checkpoint switches TPC to the reference's distances
    if cfg.tpc_distance != "auto" and set_tpc_distance(model, exact=cfg.tpc_distance == "exact"):
        _logger.info("token pruning distances: %s (--tpc_distance)", cfg.tpc_distance)
    n_params = sum(p.numel() for p in model.parameters())
    _logger.info("%s: %.2f M parameters; sizes %s", cfg.model, n_params / 1e6, dict(cfg.model_config))
    if cfg.complete_joints:
        model = JointCompletion(model)
    return model.to(ctx.device)


# --------------------------------------------------------------------------------------------- test
def eval_kwargs(ctx: Context) -> Dict[str, Any]:
    """Keyword arguments of ``evaluate`` for this run."""
    data, cfg = ctx.data["data"], ctx.cfg
    return dict(flip=cfg.test_augmentation, seq2frame=ctx.data["test_stride"] == 1, centre=cfg.pad,
                joints_left=data.joints_left, joints_right=data.joints_right, amp=cfg.amp,
                progress=ctx.info.is_main and not cfg.no_progress, actions=parse_actions(cfg.actions))


def protocol(ctx: Context) -> Dict[str, Any]:
    """How the numbers were produced, for the JSON report."""
    cfg = ctx.cfg
    return dict(model=cfg.model, weights=str(ctx.weights) if ctx.weights else None, keypoints=cfg.keypoints,
                subjects=cfg.subjects_test, actions=cfg.actions, frames=cfg.frames,
                stride=ctx.data["test_stride"], seq2frame=ctx.data["test_stride"] == 1,
                flip_tta=bool(cfg.test_augmentation), downsample=cfg.downsample, subset=cfg.subset,
                p2="per-window Procrustes (reference: batch mean for mixed batches)",
                weighting="each window weighs 1; unweighted mean over actions", amp=cfg.amp,
                joint_completion=cfg.complete_joints)


def test(ctx: Context) -> EvalResult:
    """``--test``: evaluate once, print the per-action table and write the JSON report."""
    result = evaluate(ctx.model, ctx.data["test"], ctx.device, **eval_kwargs(ctx))
    if ctx.info.is_main:
        _logger.info("%s", result.table)
        _logger.info("p1: %.2f, p2: %.2f", result.p1, result.p2)
        path = Path(ctx.cfg.report)  # resolved and checked by resolve_run (report_path)
        try:
            write_eval_report(path, result.report, protocol(ctx))
            _logger.info("report: %s", path)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot write the report ({exc.strerror or exc}); give --report PATH "
                              "elsewhere") from None
    return result


# --------------------------------------------------------------------------------------------- train
@dataclass
class TrainState:
    """What changes from epoch to epoch (and is saved in last.pth)."""

    epoch: int = 0
    best_p1: float = math.inf
    best_epoch: int = 0
    history: List[Dict[str, Any]] = field(default_factory=list)


def wrap(ctx: Context) -> nn.Module:
    """The module trained: DDP under torchrun, optionally ``torch.compile``d."""
    model = ctx.model
    if ctx.info.enabled:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if ctx.cfg.compile:
        model = torch.compile(model)
    return model


def fit(ctx: Context) -> EvalResult:
    """The epoch loop; returns the best epoch's evaluation."""
    cfg = ctx.cfg
    optimizer = ctx.recipe.make_optimizer(ctx.model.parameters(), cfg.lr)
    scaler = torch.amp.GradScaler("cuda") if cfg.amp == "fp16" else None
    state = TrainState(best_p1=cfg.previous_best)
    ema = WeightEMA(ctx.model, cfg.ema) if cfg.ema > 0 else None
    if cfg.resume:
        state = restore(ctx, optimizer, scaler, ema)
    tracker = RunTracker(ctx.run_dir, ctx.info.is_main, first_epoch=state.epoch + 1)
    validated = ema.module if ema is not None else ctx.model
    train_model, eval_model = wrap(ctx), torch.compile(validated) if cfg.compile else validated
    best = None
    started, longest = time.perf_counter(), 0.0
    for epoch in range(state.epoch + 1, cfg.nepoch + 1):
        epoch_start = time.perf_counter()
        result = run_epoch(ctx, state, epoch, train_model, eval_model, optimizer, scaler, tracker, ema)
        best = result if state.best_epoch == epoch else best
        now = time.perf_counter()
        longest = max(longest, now - epoch_start)
        # every process stops after the same epoch: process 0's clock decides
        if epoch < cfg.nepoch and broadcast_object(out_of_time(cfg.time_limit, now - started, longest)):
            _logger.info("--time_limit %g min: stopping after epoch %d (%.1f min trained, epochs take up to "
                         "%.1f min)", cfg.time_limit, epoch, (now - started) / 60, longest / 60)
            break
    tracker.plot(state.history)
    tracker.close()
    _logger.info("best epoch %d: p1 %.2f mm; outputs in %s", state.best_epoch, state.best_p1, ctx.run_dir)
    return best if best is not None else EvalResult(state.best_p1, math.nan)


def out_of_time(limit_min: float, elapsed_s: float, longest_epoch_s: float) -> bool:
    """Whether another epoch as long as the longest so far would end past ``limit_min`` minutes (0: never)."""
    return limit_min > 0 and elapsed_s + longest_epoch_s > limit_min * 60


def reseed(seed: int, epoch: int, rank: int) -> None:
    """Seed every RNG from (seed, epoch, rank): a resumed run draws the same numbers as an uninterrupted one."""
    value = epoch_seed(seed, epoch) + 104_729 * rank
    random.seed(value)
    np.random.seed(value % 2**32)
    torch.manual_seed(value)


def run_epoch(ctx, state, epoch, train_model, eval_model, optimizer, scaler, tracker,
              ema: Optional[WeightEMA] = None) -> EvalResult:
    """Train, evaluate, keep the best, log, decay the LR, save last.pth.

    With ``ema``, the averaged weights are evaluated and saved in best.pth / epoch_<n>.pth; last.pth keeps both."""
    cfg = ctx.cfg
    reseed(ctx.seed, epoch, ctx.info.rank)
    ctx.data["train"].batch_sampler.set_epoch(epoch)
    ctx.data["train"].dataset.set_epoch(epoch)  # virtual cameras: this epoch's draws, in the workers too
    stats = train_one_epoch(train_model, ctx.data["train"], optimizer, ctx.recipe.loss, ctx.device, amp=cfg.amp,
                            scaler=scaler, progress=ctx.info.is_main and not cfg.no_progress, epoch=epoch,
                            noise_2d=cfg.noise_2d, ema=ema)
    start = time.perf_counter()
    result = evaluate(eval_model, ctx.data["test"], ctx.device, **eval_kwargs(ctx))
    lr = optimizer.param_groups[0]["lr"]
    state.epoch = epoch
    if ctx.info.is_main:  # with this epoch's checkpoints: config and checkpoints always describe each other
        write_configs(ctx.run_dir, cfg.to_dict())
    if result.p1 < state.best_p1:
        state.best_p1, state.best_epoch = result.p1, epoch
        save(ctx, "best.pth", best_checkpoint(ctx, state, result, ema))
    if cfg.keep_epochs:
        save(ctx, f"epoch_{epoch}.pth", best_checkpoint(ctx, state, result, ema))
    row = history_row(epoch=epoch, lr=lr, loss=stats["loss"], p1=result.p1, p2=result.p2, best_p1=state.best_p1,
                      best_epoch=state.best_epoch, train_s=round(stats["seconds"], 2),
                      test_s=round(time.perf_counter() - start, 2), samples_per_s=round(stats["samples_per_s"], 1))
    state.history.append(row)
    _logger.info("epoch: %d, lr: %.6f, l: %.4f, p1: %.2f, p2: %.2f, %d: %.2f, %.1f samples/s", epoch, lr,
                 stats["loss"], result.p1, result.p2, state.best_epoch, state.best_p1, stats["samples_per_s"])
    tracker.log_epoch(row, state.history)
    factor = lr_factor(epoch, cfg.lr_decay, cfg.lr_decay_large, cfg.lr_decay_epoch)
    for group in optimizer.param_groups:
        group["lr"] *= factor
    save(ctx, "last.pth", last_checkpoint(ctx, state, optimizer, scaler, ema))
    return result


def _base_checkpoint(ctx: Context, state: TrainState, weights: Optional[nn.Module] = None) -> Dict[str, Any]:
    weights = ctx.model if weights is None else weights
    return dict(format=CHECKPOINT_FORMAT, variant=ctx.cfg.model, model=weights.state_dict(), epoch=state.epoch,
                best_p1=state.best_p1, best_epoch=state.best_epoch, args=ctx.cfg.to_dict(),
                model_config=dict(ctx.cfg.model_config))


def best_checkpoint(ctx: Context, state: TrainState, result: EvalResult,
                    ema: Optional[WeightEMA] = None) -> Dict[str, Any]:
    """best.pth (and epoch_<n>.pth): the evaluated weights (the EMA's with ``--ema``), flags and this epoch's
    evaluation (no optimizer state)."""
    weights = ema.module if ema is not None else None
    return dict(_base_checkpoint(ctx, state, weights), p1=result.p1, p2=result.p2, report=plain(result.report))


def last_checkpoint(ctx, state: TrainState, optimizer, scaler, ema: Optional[WeightEMA] = None) -> Dict[str, Any]:
    """last.pth: everything ``--resume`` needs (LR already decayed for the next epoch): the trained weights as
    ``model`` and, with ``--ema``, the average as ``ema``."""
    return dict(_base_checkpoint(ctx, state), optimizer=optimizer.state_dict(),
                scaler=scaler.state_dict() if scaler is not None else None, lr=optimizer.param_groups[0]["lr"],
                history=list(state.history), rng=get_rng_state(), seed=ctx.seed,
                ema=ema.state_dict() if ema is not None else None)


def plain(obj: Any) -> Any:
    """``obj`` with NumPy scalars/arrays turned into Python numbers/lists (safe for ``weights_only`` loading)."""
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def save(ctx: Context, name: str, obj: Dict[str, Any]) -> None:
    """Atomic write by the main process; the others wait."""
    if ctx.info.is_main:
        atomic_save(obj, ctx.run_dir / name)
    ctx.checkpoints_written += 1
    barrier()


def restore(ctx: Context, optimizer, scaler, ema: Optional[WeightEMA] = None) -> TrainState:
    """Load last.pth for ``--resume``: weights, optimizer, scaler, RNG, history and the weight average."""
    path = Path(ctx.cfg.resume)
    ckpt = load_weights(ctx.model, path, map_location=ctx.device)
    optimizer.load_state_dict(ckpt["optimizer"])
    if "lr" in ctx.cfg.explicit:  # --lr given now: the continued run uses it instead of the saved, decayed LR
        for group in optimizer.param_groups:
            group["lr"] = ctx.cfg.lr
        _logger.info("--lr %g replaces the saved learning rate %g", ctx.cfg.lr, ckpt.get("lr", math.nan))
    if scaler is not None and ckpt.get("scaler"):
        scaler.load_state_dict(ckpt["scaler"])
    if ema is not None:
        if ckpt.get("ema"):
            ema.load_state_dict(ckpt["ema"])
        else:
            _logger.info("%s has no weight average: --ema starts it from the resumed weights", path)
    set_rng_state(ckpt["rng"])
    _logger.info("resumed from %s after epoch %d (best p1 %.2f at epoch %d)", path, ckpt["epoch"],
                 ckpt["best_p1"], ckpt["best_epoch"])
    return TrainState(ckpt["epoch"], ckpt["best_p1"], ckpt["best_epoch"], list(ckpt.get("history", [])))
