"""Command-line interface shared by the four entry scripts (``main_mixste*.py``, ``main_mhformer*.py``).

HoT: Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024
(arXiv:2311.12028). Every flag of the reference parser keeps its name and default, so the README recipes run
unchanged; operational flags (device, AMP, resume, ...) are added. Differences from the reference:

* ``--channel``, ``--d_hid``, ``--token_num``, ``--layer_index`` default to ``None``, meaning "the chosen
  variant's reference size" (e.g. ``mixste.tpc_mixste`` → token_num 61, layer_index 7); ``--frames`` keeps 243.
  ``--n_joints``/``--out_joints`` default to ``None``, meaning "as many joints as the 2-D file has" (17; 16 for
  ``sh*``/``hr*`` detections). ``--n_joints 17`` (or a 17-joint ``--previous_dir``) with 16-joint detections
  trains on them with Neck/Nose placed on the thorax–head segment against all 17 3-D joints, and tests through
  the same completion, scored on the file's 16 joints. The resolved values are written to
  ``configs.txt``/``config.json``.
* ``--reverse_augmentation`` and ``--test_augmentation`` are real booleans (``--test_augmentation False``
  turns flip test-time augmentation off instead of parsing as True).
* ``--pad`` is accepted and ignored (always ``(frames - 1) // 2``); ``--train`` is forced to 0 by ``--test``.
* ``--workers`` and ``--gpu`` default to ``None``: 8 workers on CUDA (the reference) and 0 elsewhere;
  ``CUDA_VISIBLE_DEVICES`` is only touched when ``--gpu`` is given.

Building the parser has no side effects: no folder is created and no logging is configured here. The parsed
flags become a frozen ``RunConfig`` (every flag typed, plus what a run resolves: the weights file, the flags given
on the command line, the model sizes); the engine builds it once and replaces it, never mutates it.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Sequence

from hot_pose.utils.console import OneLineArgumentParser, int_bool, join_negative_values, str2bool

__all__ = ["ConfigError", "RunConfig", "build_parser", "parse_args", "explicit_dests", "check_flags", "check_numbers",
           "derived", "precheck", "RECIPE_FLAGS"]


class ConfigError(ValueError):
    """A flag value or combination is invalid; the message names the problem and the fix."""


_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class RunConfig:
    """The configuration of one training or ``--test`` run: every flag of ``build_parser`` (same names, parsed
    types; defaults live in the parser only) and the values a run resolves.

    Built from parsed flags by ``RunConfig.from_flags``, which also derives the reference's hard-coded values
    (``pad = (frames - 1) // 2``; ``train = 0`` with ``--test``). Frozen: a later stage that knows more (the run
    folder, the joint count of the 2-D file, the model's resolved sizes) makes a new one with ``replace``.

    Resolved attributes (not flags):
        explicit: the flags given on the command line (they win over a checkpoint's or a resumed run's).
        weights: the weights file of ``--previous_dir``/``--checkpoint_file`` (``None``: none, or ``--resume``).
        model_sizes: sizes without a flag (e.g. ``in_channels``, ``num_heads``) taken from the checkpoint.
        complete_joints: 17-joint weights tested on 16-joint 2-D (Neck/Nose placed on the thorax-head segment).
        model_config: the model's resolved sizes (a ``ModelConfig`` as a mapping); empty until the data is read.
    """

    # model
    model: str
    channel: Optional[int]
    d_hid: Optional[int]
    frames: int
    pad: int
    token_num: Optional[int]
    layer_index: Optional[int]
    depth: Optional[int]
    drop_path: Optional[float]
    n_joints: Optional[int]
    out_joints: Optional[int]
    prune_schedule: Optional[str]
    prune_strategy: Optional[str]
    recover_strategy: Optional[str]
    tpc_distance: str
    out_all: int
    out_channels: int
    # data
    dataset: str
    keypoints: str
    root_path: str
    actions: str
    downsample: int
    subset: float
    stride: int
    data_augmentation: int
    reverse_augmentation: bool
    test_augmentation: bool
    crop_uv: int
    subjects_train: str
    subjects_test: str
    # training
    train: int
    test: bool
    nepoch: int
    time_limit: float
    batch_size: int
    lr: float
    lr_decay: float
    lr_decay_large: float
    lr_decay_epoch: int
    epoch_fraction: float
    noise_2d: float
    virtual_cameras: float
    ema: float
    seed: Optional[int]
    # checkpoints and outputs
    checkpoint: str
    previous_dir: str
    checkpoint_file: str
    resume: str
    report: str
    previous_best: float
    previous_name: str
    overwrite: bool
    keep_epochs: bool
    no_progress: bool
    verbose: bool
    # device and speed
    device: str
    gpu: Optional[str]
    amp: str
    compile: bool
    workers: Optional[int]
    # resolved
    explicit: FrozenSet[str] = frozenset()
    weights: Optional[str] = None
    model_sizes: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    complete_joints: bool = False
    model_config: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    #: attributes that are not flags
    RESOLVED = ("explicit", "weights", "model_sizes", "complete_joints", "model_config")

    @classmethod
    def from_flags(cls, values: Any) -> "RunConfig":
        """From an ``argparse.Namespace`` or a mapping of flag values (e.g. a checkpoint's ``args`` merged with
        today's flags); keys that are not fields (flags of older versions) are ignored, ``pad``/``train`` derived.

        Raises:
            ConfigError: a flag is missing.
        """
        values = dict(vars(values) if isinstance(values, argparse.Namespace) else values)
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(names - set(values) - set(cls.RESOLVED))
        if missing:
            raise ConfigError(f"the configuration lacks the flags {', '.join(missing)}")
        kept = {k: v for k, v in values.items() if k in names}
        kept["explicit"] = frozenset(kept.get("explicit", ()))
        for key in ("model_sizes", "model_config"):
            kept[key] = MappingProxyType(dict(kept.get(key) or {}))
        kept.update(derived(kept["frames"], kept["test"], kept["train"]))
        return cls(**kept)

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with ``changes`` (mappings are frozen; ``pad``/``train`` derived again)."""
        return RunConfig.from_flags({**self._fields(), **changes})

    def _fields(self) -> Dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_dict(self) -> Dict[str, Any]:
        """Plain values of every flag and resolved attribute but ``explicit``: what ``configs.txt``/``config.json``
        and the checkpoints' ``args`` record (and ``--resume`` reads back)."""
        out = {k: v for k, v in self._fields().items() if k != "explicit"}
        out["model_sizes"], out["model_config"] = dict(self.model_sizes), dict(self.model_config)
        return out



def _bool_flag(group: argparse._ArgumentGroup, name: str, default: bool, help: str) -> None:
    """``--name`` alone means True; ``--name false`` / ``--name 0`` mean False."""
    group.add_argument(name, type=str2bool, nargs="?", const=True, default=default, metavar="BOOL", help=help)


def _model_group(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model")
    g.add_argument("--model", type=str, default="", help="variant <family>.<variant>, e.g. mixste.hot_mixste; any "
                   "registered variant works with any entry script (required for training; with --test or "
                   "--previous_dir, default: the checkpoint's variant)")
    g.add_argument("--channel", type=int, default=None, help="embedding width (MixSTE family) / hypothesis width "
                   "(MHFormer); default: the variant's reference size (512 for MixSTE/MHFormer)")
    g.add_argument("--d_hid", type=int, default=None, help="MLP hidden width; default: the variant's (1024)")
    g.add_argument("--frames", type=int, default=243, help="input window length T (receptive field)")
    g.add_argument("--pad", type=int, default=121, help="ignored, always (frames-1)//2 (kept for compatibility)")
    g.add_argument("--token_num", type=int, default=None, help="frames kept by TPC, f; default: the variant's "
                   "(81 hot_mixste, 61 tpc_mixste, 117 tpc_mhformer)")
    g.add_argument("--layer_index", type=int, default=None, help="block before which TPC prunes, n; default: the "
                   "variant's (3 hot_mixste, 7 tpc_mixste, 1 tpc_mhformer)")
    g.add_argument("--depth", type=int, default=None, help="number of blocks; default: the variant's (8 MixSTE, "
                   "3 MHFormer hypothesis blocks)")
    g.add_argument("--drop_path", type=float, default=None, help="stochastic-depth rate; default: the variant's "
                   "(0.1 for MixSTE)")
    g.add_argument("--n_joints", type=int, default=None, help="input joints; default: those of the 2-D file "
                   "(17; 16 for sh*/hr* detections); 17 with 16-joint detections places the missing Neck/Nose "
                   "on the thorax-head segment")
    g.add_argument("--out_joints", type=int, default=None, help="output joints; default: --n_joints")
    g.add_argument("--prune_schedule", type=str, default=None, metavar="BLOCK:KEPT,...", help="H2OT: prune in "
                   "several steps, e.g. '3:81,5:40' keeps 81 frames before block 3, then 40 of them before block 5 "
                   "(sets --layer_index and --token_num); default: the variant's (h2ot_*), else HoT's one step "
                   "layer_index:token_num")
    g.add_argument("--prune_strategy", type=str, default=None, choices=("cluster", "sample", "motion"),
                   help="how each pruning step picks frames: cluster (HoT's DPC-kNN), sample (uniform), motion "
                   "(largest feature change); default: the variant's (cluster)")
    g.add_argument("--recover_strategy", type=str, default=None, choices=("attention", "interpolation"),
                   help="how the full length is recovered: attention (HoT's TRA) or interpolation (linear in "
                   "time between kept frames, no parameters); default: the variant's (attention)")
    g.add_argument("--tpc_distance", type=str, default="auto", choices=("auto", "exact", "reference"),
                   help="distances of TPC's DPC-kNN clustering: exact (symmetric, zero diagonal: the same frames "
                   "on every machine up to rare near-ties) or reference (the reference code's matmul cdist, "
                   "whose rounding decides near-ties); auto = reference for a reference (non-engine) checkpoint "
                   "in --previous_dir, else exact")
    g.add_argument("--out_all", type=int, default=1, choices=(1,), help="1: the 3-D target covers the whole "
                   "window (seq2seq); only 1 is supported")
    g.add_argument("--out_channels", type=int, default=3, help="unused (kept for compatibility)")


def _data_group(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data")
    g.add_argument("--dataset", type=str, default="h36m", help="dataset name part of the npz files")
    g.add_argument("--keypoints", type=str, default="cpn_ft_h36m_dbb", help="2-D source: data_2d_<dataset>_"
                   "<keypoints>.npz (cpn_ft_h36m_dbb, gt, sh_pt_mpii, ...); with --previous_dir, default: the "
                   "checkpoint's")
    g.add_argument("--root_path", type=str, default="./dataset/", help="folder holding the npz files, or a "
                   "data pack (dataset/prepare_data_h36m.py --pack; --keypoints gt), also found as "
                   "data_h36m_pack.npz in a folder without the npz files")
    g.add_argument("--actions", type=str, default="*", help="'*' for all 15 actions, or comma-separated "
                   "canonical names (e.g. Walking,SittingDown)")
    g.add_argument("--downsample", type=int, default=1, help="temporal subsampling of every sequence")
    g.add_argument("--subset", type=float, default=1.0, help="fraction of each sequence kept (deterministic)")
    g.add_argument("--stride", type=int, default=243, help="window step: 1 = one centred window per frame "
                   "(seq2frame), else non-overlapping/strided windows (seq2seq); the test stride is --frames "
                   "unless --stride is 1 or --frames; with --previous_dir, default: the checkpoint's")
    g.add_argument("--data_augmentation", type=int_bool, default=1, metavar="BOOL", help="1 (or true): add a "
                   "horizontally flipped copy of every training window; 0 / false: none")
    _bool_flag(g, "--reverse_augmentation", False, "add time-reversed copies of the training windows")
    _bool_flag(g, "--test_augmentation", True, "flip test-time augmentation (average with the flipped input)")
    g.add_argument("--crop_uv", type=int, default=0, choices=(0,), help="0: screen-normalised 2-D (only "
                   "supported value)")
    g.add_argument("--subjects_train", type=str, default="S1,S5,S6,S7,S8", help="training subjects")
    g.add_argument("--subjects_test", type=str, default="S9,S11", help="test subjects")


def _train_group(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("training")
    g.add_argument("--train", type=int_bool, default=1, metavar="BOOL", help="1 (or true): train; 0 / false: "
                   "do not (forced to 0 by --test)")
    g.add_argument("--test", action="store_true", help="evaluate the weights of --previous_dir once, then exit")
    g.add_argument("--nepoch", type=int, default=160, help="number of epochs")
    g.add_argument("--time_limit", type=float, default=0.0, metavar="MINUTES", help="stop training after the "
                   "epoch past which the next one would end beyond this many minutes of training (judged by "
                   "the longest epoch so far); checkpoints as after any epoch; 0 = no limit")
    g.add_argument("--batch_size", type=int, default=4, help="windows per batch for training and testing; "
                   "the global batch under torchrun (split over processes)")
    g.add_argument("--lr", type=float, default=4e-5, help="initial learning rate")
    g.add_argument("-lrd", "--lr_decay", type=float, default=0.99, help="LR multiplier after every epoch")
    g.add_argument("--lr_decay_large", type=float, default=0.5, help="LR multiplier after epochs divisible by "
                   "--lr_decay_epoch (instead of --lr_decay)")
    g.add_argument("--lr_decay_epoch", type=int, default=200, help="period of the large LR decay")
    g.add_argument("--epoch_fraction", type=float, default=1.0, help="share of the training windows drawn "
                   "(randomly, afresh) per epoch; < 1 gives short epochs for CPU budgets")
    g.add_argument("--noise_2d", type=float, default=0.0, help="2-D noise augmentation: per-window Gaussian "
                   "jitter with std drawn from U[0, NOISE_2D] in screen-normalised units (0.01 = 0.5%% of the "
                   "image width); for in-the-wild models")
    g.add_argument("--virtual_cameras", type=float, default=0.0, help="virtual-camera augmentation: the "
                   "probability that a training window is seen through a random virtual camera (all round the "
                   "subject, elevation -15..45 deg, 2.5-8 m, 40-90 deg field of view, landscape/portrait/square "
                   "images) instead of its real one; with detector keypoints (not gt) the re-projected 2-D gets "
                   "the detector's joint conventions, noise and gaps, measured on the training subjects; 0 = off")
    g.add_argument("--ema", type=float, default=0.0, help="keep an exponential moving average of the weights, "
                   "updated every step with this decay (e.g. 0.999 ~ the last 1,000 steps); the average is what "
                   "is validated and saved in best.pth / epoch_<n>.pth; 0 = off")
    g.add_argument("--seed", type=int, default=None, help="random seed; default: the script's (1126 MixSTE "
                   "scripts, 1 MHFormer scripts)")


def _io_group(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("checkpoints and outputs")
    g.add_argument("--checkpoint", type=str, default="", help="run folder for logs and checkpoints; default "
                   "checkpoint/<MMDD_HHMM_SS>_<frames>")
    g.add_argument("--previous_dir", type=str, default="", help="folder with weights to test (or to start "
                   "training from); picks best.pth, else last.pth, else the only *.pth, else the lowest-P1 "
                   "model_<ep>_<p1>.pth")
    g.add_argument("--checkpoint_file", type=str, default="", help="weights file to load: a path, or a name "
                   "inside --previous_dir")
    g.add_argument("--resume", type=str, default="", help="continue training from a last.pth (or its folder), "
                   "with its saved flags; flags given now override them (e.g. --nepoch; --lr replaces the saved, "
                   "decayed learning rate)")
    g.add_argument("--report", type=str, default="", help="JSON evaluation report path (test mode); default "
                   "eval_<weights>_s<stride>.json beside the weights")
    g.add_argument("--previous_best", type=float, default=math.inf, help="best P1 so far (mm): only better "
                   "epochs replace best.pth")
    g.add_argument("--previous_name", type=str, default="", help="unused (kept for compatibility)")
    g.add_argument("--overwrite", action="store_true", help="let a fresh run replace the run already in "
                   "--checkpoint (its checkpoints, metrics, configs and log are deleted when the new run starts); "
                   "without it such a folder is refused")
    g.add_argument("--keep_epochs", action="store_true", help="also keep every epoch's weights as "
                   "epoch_<n>.pth (best.pth format), e.g. to average the last epochs with "
                   "python -m tools.average_checkpoints")
    g.add_argument("--no_progress", action="store_true", help="no progress output (default: tqdm bars on a "
                   "terminal; one line per 10%% when stderr is redirected to a file)")
    g.add_argument("--verbose", action="store_true", help="show the traceback of an unexpected error (default: "
                   "one 'error:' line, like every user error)")


def _device_group(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("device and speed")
    g.add_argument("--device", type=str, default="auto", choices=("auto", "cpu", "cuda", "mps"),
                   help="auto picks cuda, then mps, then cpu")
    g.add_argument("--gpu", type=str, default=None, help="sets CUDA_VISIBLE_DEVICES when given (not under "
                   "torchrun), e.g. '0' or '0,1'")
    g.add_argument("--amp", type=str, nargs="?", const="bf16", default="none", choices=("none", "bf16", "fp16"),
                   help="automatic mixed precision: bf16 (CUDA, CPU) or fp16 (CUDA, with loss scaling); "
                   "--amp alone means bf16")
    g.add_argument("--compile", action="store_true", help="torch.compile the model")
    g.add_argument("--workers", type=int, default=None, help="DataLoader workers; default 8 on CUDA, 0 elsewhere")


class _DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` for flags that have a default; none for unset ones (``None`` or ``""``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, "") or "(default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def build_parser(description: Optional[str] = None, **recipe_defaults: Any) -> argparse.ArgumentParser:
    """The argument parser, with ``recipe_defaults`` overriding flag defaults (e.g. ``lr=1e-3``), so that
    ``--help`` shows the script's own defaults; ``description`` heads the help (default: a generic line).

    No side effects: nothing is created or configured.
    """
    parser = OneLineArgumentParser(
        description=description or "Train or test a HoT / video pose lifting model on Human3.6M.",
        formatter_class=_DefaultsHelpFormatter,
    )
    for add in (_model_group, _data_group, _train_group, _io_group, _device_group):
        add(parser)
    if recipe_defaults:
        known = {a.dest for a in parser._actions}
        unknown = sorted(set(recipe_defaults) - known)
        if unknown:
            raise KeyError(f"recipe defaults name unknown flags: {unknown}")
        parser.set_defaults(**recipe_defaults)
    return parser


def explicit_dests(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]]) -> List[str]:
    """Destinations of the flags actually given in ``argv`` (used to override a resumed run's flags)."""
    probe = argparse.ArgumentParser(add_help=False, allow_abbrev=parser.allow_abbrev)
    for action in parser._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            kwargs: Dict[str, Any] = dict(dest=action.dest, default=argparse.SUPPRESS)
            if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
                kwargs["action"] = "store_true"
            else:
                kwargs.update(nargs=action.nargs, const=action.const)
            probe.add_argument(*action.option_strings, **kwargs)
    ns, _ = probe.parse_known_args(argv)
    return sorted(vars(ns))


#: the largest value of an integer flag (a 32-bit int: counts, sizes, indices; ``--seed`` has its own range)
INT_MAX = 2**31 - 1
#: ``--seed`` range: what every RNG seeded from it accepts (``torch.manual_seed`` takes 64 bits)
SEED_MAX = 2**64 - 1


def _in_range(flag: str, value: Any, low: float, high: float, low_open: bool = False, high_open: bool = False,
              what: str = "") -> None:
    """Raise ``ConfigError`` unless ``value`` is a finite number in the interval (NaN and inf never are)."""
    ok = isinstance(value, (int, float)) and math.isfinite(value) and \
        (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        if math.isinf(high):
            interval = (f"> {low:g}" if low_open else f">= {low:g}") + " and finite"
        else:
            interval = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigError(f"--{flag} must be {interval}{what}, got {value}")


def _int_in_range(flag: str, value: Optional[int], low: int, high: int = INT_MAX, what: str = "") -> None:
    """Raise ``ConfigError`` unless the integer flag (when given: ``None`` = the default) lies in [low, high]."""
    if value is not None and not low <= value <= high:
        bound = f"between {low} and {high}" if high != INT_MAX else f">= {low}" if value < low else \
            f"at most {high} (2**31 - 1)"
        raise ConfigError(f"--{flag} must be {bound}{what}, got {value}")


#: integer flags and their smallest value (None-able size flags: only checked when given)
_INT_FLAGS = dict(channel=1, d_hid=1, token_num=1, layer_index=0, depth=1, n_joints=1, out_joints=1, downsample=1,
                  batch_size=1, nepoch=1, lr_decay_epoch=1, workers=0)


def check_numbers(args: RunConfig) -> None:
    """Range checks of every numeric flag on its own (no flag compared with another): floats must be finite (NaN
    and inf are refused) and in their range, integers in theirs (at most ``INT_MAX``; ``--seed`` up to
    ``SEED_MAX``). The ignored ``--pad`` and the unused ``--out_channels`` are not checked; ``--stride`` >= 1 here,
    and against ``--frames`` by ``check_flags``. Raises ``ConfigError``."""
    _int_in_range("frames", args.frames, 1)
    if args.stride < 1:
        raise ConfigError(f"--stride {args.stride} must be between 1 and --frames {args.frames} (a larger step "
                          "would skip frames)")
    for flag, low in _INT_FLAGS.items():
        _int_in_range(flag, getattr(args, flag), low)
    if args.seed is not None:
        _int_in_range("seed", args.seed, 0, SEED_MAX, " (a 64-bit unsigned integer)")
    _in_range("subset", args.subset, 0, 1, low_open=True, what=" (the share of each sequence kept)")
    _in_range("epoch_fraction", args.epoch_fraction, 0, 1, low_open=True)
    _in_range("noise_2d", args.noise_2d, 0, math.inf, what=" (the largest 2-D noise std, screen-normalised)")
    _in_range("virtual_cameras", args.virtual_cameras, 0, 1, what=" (the share of training windows seen through a "
              "random virtual camera; 0 = off)")
    _in_range("ema", args.ema, 0, 1, high_open=True, what=" (a per-step decay such as 0.999; 0 = off)")
    _in_range("lr", args.lr, 0, math.inf, low_open=True)
    for flag in ("lr_decay", "lr_decay_large"):
        _in_range(flag, getattr(args, flag), 0, 1, low_open=True, what=" (the LR is multiplied by it after an "
                  "epoch: 1 keeps it constant)")
    _in_range("time_limit", args.time_limit, 0, math.inf, what=" (minutes; 0 = no limit)")
    if args.drop_path is not None:
        _in_range("drop_path", args.drop_path, 0, 1, high_open=True, what=" (a stochastic-depth rate)")
    if not (args.previous_best > 0 and not math.isnan(args.previous_best)):  # inf (the default): no best yet
        raise ConfigError(f"--previous_best must be a P1 in mm > 0 (or inf: none yet), got {args.previous_best}")


def check_flags(args: RunConfig) -> None:
    """Checks that need only the flags (model sizes are checked once resolved), before anything is loaded or
    written: every numeric flag (``check_numbers``), then the flags against each other. Raises ``ConfigError``."""
    if not args.model:
        raise ConfigError("--model is required, e.g. --model mixste.hot_mixste")
    check_numbers(args)
    if args.frames % 2 == 0:
        raise ConfigError(f"--frames {args.frames} is even, but windows are centred on a frame (pad = (frames - 1)"
                          f" / 2): use an odd --frames such as {args.frames - 1} or {args.frames + 1}")
    if args.stride < 1 or args.stride > args.frames:
        raise ConfigError(f"--stride {args.stride} must be between 1 and --frames {args.frames} (a larger step "
                          "would skip frames)")
    if args.test and not (args.previous_dir or args.checkpoint_file):
        raise ConfigError("--test needs weights: give --previous_dir DIR (or --checkpoint_file FILE)")
    if args.test and args.resume:
        raise ConfigError("--resume continues training; use --test --previous_dir DIR to evaluate")
    if args.resume and args.overwrite:
        raise ConfigError("--overwrite starts a fresh run and --resume continues one; give only one of them")
    if args.resume and {"previous_dir", "checkpoint_file"} & set(args.explicit):
        raise ConfigError("--resume already loads weights; drop --previous_dir/--checkpoint_file")
    if args.amp == "fp16" and args.device in ("cpu", "mps"):
        raise ConfigError(f"--amp fp16 needs CUDA; use --amp bf16 on {args.device}")


#: flag defaults of each entry script's recipe (``hot_pose.training.recipes`` builds its ``Recipe`` objects from these; kept
#: here, free of torch, so that ``precheck`` runs before torch is imported). The MHFormer scripts: paper Table 6 /
#: the reference README, 351 frames, one window per frame, 20 epochs at lr 1e-3, ×0.95 per epoch, ×0.5 every 5.
_MHFORMER_FLAGS = dict(frames=351, stride=1, nepoch=20, lr=1e-3, lr_decay=0.95, lr_decay_epoch=5)
RECIPE_FLAGS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "main_mixste": MappingProxyType({}), "main_mixste_tpc": MappingProxyType({}),
    "main_mhformer": MappingProxyType(dict(_MHFORMER_FLAGS, batch_size=128)),
    "main_mhformer_tpc": MappingProxyType(dict(_MHFORMER_FLAGS, batch_size=210)),
})


def precheck(recipe_name: str, argv: Optional[Sequence[str]] = None) -> None:
    """Parse ``main_<recipe>``'s flags and range-check every number (``check_numbers``) before torch and the
    models are imported, so a mistyped flag or value is refused at once: one ``error:`` line, exit status 2
    (``SystemExit``). Everything else (and these checks again, on the resolved flags) follows in the engine.
    ``--help`` is left to the engine, which prints the recipe's own description."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(token == "-h" or (len(token) >= 3 and "--help".startswith(token)) for token in argv):
        return
    args = parse_args(argv, None, **RECIPE_FLAGS[recipe_name])  # argparse errors: one line, exit 2
    try:
        check_numbers(RunConfig.from_flags(args))
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None



def parse_args(argv: Optional[Sequence[str]] = None, description: Optional[str] = None,
               **recipe_defaults: Any) -> argparse.Namespace:
    """Parse ``argv`` (``None`` = ``sys.argv[1:]``) and derive the reference's hard-coded values.

    Derived: ``pad = (frames - 1) // 2``, ``train = 0`` with ``--test``, ``explicit`` = the flags given.
    Pure: no folders, no logging. ``check_flags`` validates.
    """
    parser = build_parser(description, **recipe_defaults)
    argv = join_negative_values(parser, sys.argv[1:] if argv is None else list(argv))
    args = parser.parse_args(argv)
    args.explicit = explicit_dests(parser, argv)
    vars(args).update(derived(args.frames, args.test, args.train))
    return args


def derived(frames: int, test: bool, train: int) -> Dict[str, int]:
    """The values the reference derives from other flags: ``pad = (frames - 1) // 2``; ``train = 0`` with
    ``--test``."""
    return dict(pad=(frames - 1) // 2, train=0 if test else train)
