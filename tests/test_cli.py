"""The command line: reference flags and defaults, real booleans, help everywhere, one-line user errors."""
from __future__ import annotations

import argparse
import dataclasses
import io
import math
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import torch

import hot_pose.models as model
from hot_pose.training.arguments import ConfigError, RunConfig, build_parser, check_flags, explicit_dests, parse_args
from hot_pose.training.engine import CHECKPOINT_FORMAT, main, resolve_joints, resolve_run
from hot_pose.training.recipes import MHFORMER, MIXSTE, MIXSTE_TPC
from hot_pose.utils.console import int_bool, str2bool

ROOT = Path(__file__).resolve().parents[1]

#: the reference parser's flags and defaults that this parser keeps unchanged
REFERENCE_DEFAULTS = dict(
    model="", frames=243, pad=121, dataset="h36m", keypoints="cpn_ft_h36m_dbb", data_augmentation=1,
    reverse_augmentation=False, test_augmentation=True, crop_uv=0, root_path="./dataset/", actions="*",
    downsample=1, subset=1, stride=243, train=1, test=False, nepoch=160, batch_size=4, lr=4e-5,
    lr_decay_large=0.5, lr_decay_epoch=200, lr_decay=0.99, checkpoint="", previous_dir="", out_all=1,
    out_channels=3, previous_best=math.inf, previous_name="",
)
#: reference flags whose default is now "resolved later" (variant sizes, data joints, device-dependent)
RESOLVED_LATER = ("channel", "d_hid", "token_num", "layer_index", "depth", "drop_path", "n_joints", "out_joints",
                  "workers", "gpu")


def test_reference_flags_keep_names_and_defaults():
    args = parse_args(["--model", "mixste.mixste"])
    for key, value in REFERENCE_DEFAULTS.items():
        if key != "model":
            assert getattr(args, key) == value, key
    for key in RESOLVED_LATER:
        assert getattr(args, key) is None, key
    assert parse_args(["-lrd", "0.9"]).lr_decay == 0.9


def test_every_flag_has_help_and_parser_has_no_side_effects(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parser = build_parser(lr=1e-3)
    for action in parser._actions:
        assert action.help, action.dest
    assert parser.parse_args([]).lr == 1e-3
    assert list(tmp_path.iterdir()) == []  # no checkpoint folder, no log file
    with pytest.raises(KeyError):
        build_parser(not_a_flag=1)


@pytest.mark.parametrize("argv, expected", [
    ([], (False, True)),
    (["--reverse_augmentation"], (True, True)),
    (["--reverse_augmentation", "True", "--test_augmentation", "False"], (True, False)),
    (["--test_augmentation", "0", "--reverse_augmentation", "no"], (False, False)),
])
def test_boolean_flags_are_real_booleans(argv, expected):
    args = parse_args(argv)
    assert (args.reverse_augmentation, args.test_augmentation) == expected


@pytest.mark.parametrize("value, expected", [("1", 1), ("0", 0), ("true", 1), ("False", 0), ("yes", 1), ("off", 0)])
def test_zero_one_flags_take_both_forms_and_stay_ints(value, expected):
    args = parse_args(["--data_augmentation", value, "--train", value])
    assert (args.data_augmentation, args.train) == (expected, expected)
    assert type(args.data_augmentation) is int and type(args.train) is int


def test_bad_boolean_values_are_one_line_errors(capsys):
    for flag in ("--data_augmentation", "--train", "--test_augmentation"):
        with pytest.raises(SystemExit) as exc:  # an argparse error: the parser exits with status 2
            main(MIXSTE, model, ["--model", "mixste.mixste", flag, "maybe"])
        err = capsys.readouterr().err.strip()
        assert exc.value.code == 2 and "\n" not in err
        assert err.startswith(f"error: argument {flag}: expected a boolean (true/false), got 'maybe'"), err


def test_derived_values_and_explicit_flags():
    args = parse_args(["--frames", "27", "--test", "--previous_dir", "x", "--amp"])
    assert args.pad == 13 and args.train == 0 and args.amp == "bf16"
    assert args.explicit == ["amp", "frames", "previous_dir", "test"]
    assert explicit_dests(build_parser(), ["-lrd", "0.5", "--compile"]) == ["compile", "lr_decay"]


def test_run_config_types_every_flag_of_the_parser():
    """RunConfig and the parser cannot drift: one field per flag, of the flag's parsed type."""
    hints = typing.get_type_hints(RunConfig)
    flags = {a.dest: a for a in build_parser()._actions if a.dest != "help"}
    assert set(hints) - set(RunConfig.RESOLVED) == set(flags)
    parsed = {int: int, float: float, str: str, int_bool: int, str2bool: bool, None: bool}
    for dest, action in flags.items():
        kind = parsed[action.type]
        expected = typing.Optional[kind] if action.default is None else kind
        assert hints[dest] == expected, (dest, hints[dest], expected)


def test_run_config_is_frozen_derived_and_round_trips():
    args = parse_args(["--model", "mixste.hot_mixste", "--frames", "27", "--lr", "1e-3"], **MIXSTE.defaults)
    cfg = RunConfig.from_flags(args)
    assert (cfg.pad, cfg.lr, cfg.explicit) == (13, 1e-3, frozenset({"model", "frames", "lr"}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.frames = 81
    changed = cfg.replace(frames=81, test=True)
    assert (changed.frames, changed.pad, changed.train, cfg.frames, cfg.train) == (81, 40, 0, 27, 1)
    with pytest.raises(TypeError):
        changed.model_config["frames"] = 3  # read-only mappings
    again = RunConfig.from_flags({**cfg.to_dict(), "explicit": cfg.explicit, "a_flag_of_an_older_version": 1})
    assert again == cfg and "explicit" not in cfg.to_dict()
    torch.save(cfg.to_dict(), io.BytesIO())  # what checkpoints record: plain values


def test_resolve_run_leaves_the_parsed_flags_alone_and_resolves_joints_from_data(prepared_root):
    argv = ["--model", "mixste.hot_mixste", "--frames", "27", "--stride", "27", "--token_num", "9",
            "--root_path", str(prepared_root), "--keypoints", "gt"]
    args = parse_args(argv, **MIXSTE.defaults)
    before = dict(vars(args))
    cfg = resolve_run(args, model)
    assert vars(args) == before and (cfg.n_joints, cfg.channel, dict(cfg.model_config)) == (None, None, {})
    done = resolve_joints(cfg, 17, model)
    assert (done.n_joints, done.out_joints, done.channel, done.token_num, done.layer_index) == (17, 17, 512, 9, 3)
    assert done.model_config == model.resolve_config("mixste.hot_mixste", frames=27, token_num=9).to_dict()
    with pytest.raises(ConfigError, match="--n_joints 17 does not match the 16 joints"):
        resolve_joints(RunConfig.from_flags(parse_args(argv + ["--n_joints", "17"])), 16, model)


def test_readme_recipes_parse():
    """The five README command lines of the reference parse unchanged."""
    recipes = [
        "--batch_size 4 --frames 243 --stride 243 --model mixste.mixste",
        "--batch_size 4 --frames 243 --stride 243 --model mixste.hot_mixste --token_num 81 --layer_index 3",
        "--batch_size 4 --frames 243 --stride 243 --model mixste.tpc_mixste --token_num 61 --layer_index 7",
        "--batch_size 128 --nepoch 20 --lr 1e-3 --lr_decay_epoch 5 --lr_decay 0.95 --frames 351 --stride 1 "
        "--model mhformer.mhformer",
        "--batch_size 210 --nepoch 20 --lr 1e-3 --lr_decay_epoch 5 --lr_decay 0.95 --frames 351 --stride 1 "
        "--model mhformer.tpc_mhformer --token_num 117 --layer_index 1",
        "--batch_size 4 --test --frames 243 --stride 1 --model mixste.tpc_mixste --token_num 61 --layer_index 7 "
        "--previous_dir checkpoint/pretrained/tpc_mixste",
    ]
    for line in recipes:
        assert isinstance(parse_args(line.split()), argparse.Namespace)


def _error_of(capsys, recipe, argv):
    code = main(recipe, model, argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and err.startswith("error: "), err
    return err


@pytest.mark.parametrize("argv, needle", [
    (["--frames", "27"], "--model is required"),
    (["--model", "mixste.nope", "--frames", "27", "--stride", "27"], "unknown --model"),
    (["--model", "mixste.mixste", "--frames", "27", "--stride", "40"], "--stride 40"),
    (["--model", "mixste.mixste", "--frames", "28", "--stride", "1"], "odd --frames"),
    (["--model", "mixste.hot_mixste", "--frames", "27", "--stride", "27", "--token_num", "27"], "--token_num 27"),
    (["--model", "mixste.hot_mixste", "--frames", "27", "--stride", "27", "--token_num", "9",
      "--layer_index", "8"], "--layer_index 8"),
    (["--model", "mixste.mixste", "--test"], "--test needs weights"),
    (["--model", "mixste.mixste", "--resume", "nowhere/last.pth"], "--resume nowhere"),
    (["--model", "mixste.mixste", "--test", "--previous_dir", "no/such/dir"], "not found"),
    (["--model", "mixste.mixste", "--subset", "1.5"], "--subset"),
    (["--model", "mixste.mixste", "--device", "cpu", "--amp", "fp16"], "fp16"),
    (["--model", "mixste.mixste", "--root_path", "/no/such/folder"], "data_3d_h36m.npz not found"),
    (["--model", "mixste.mixste", "--actions", "Sitting,Dancing"], "unknown action(s) Dancing"),
])
def test_wrong_flags_stop_with_one_line(capsys, argv, needle):
    assert needle in _error_of(capsys, MIXSTE, argv)


def test_checkpoint_of_another_variant_is_refused(tmp_path, capsys):
    weights = tmp_path / "best.pth"
    torch.save(dict(format=CHECKPOINT_FORMAT, variant="mixste.mixste", model={"w": torch.zeros(1)},
                    args=dict(frames=27, channel=32)), weights)
    err = _error_of(capsys, MIXSTE_TPC, ["--model", "mixste.tpc_mixste", "--test", "--previous_dir", str(tmp_path)])
    assert "holds 'mixste.mixste' weights" in err


def test_entry_script_error_exit_code_and_help():
    """A real process: exit status 2, one line on stderr, no traceback; --help lists the groups."""
    proc = subprocess.run([sys.executable, "main_mhformer.py", "--model", "mhformer.mhformer", "--stride", "0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    # main_mhformer's own recipe default: 351 frames
    assert proc.stderr.strip().splitlines() == ["error: --stride 0 must be between 1 and --frames 351 (a larger "
                                                "step would skip frames)"]
    assert MHFORMER.seed == 1
    helps = {}
    for script in ("main_mixste.py", "main_mhformer.py"):
        helps[script] = " ".join(subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True,
                                                text=True, timeout=120).stdout.split())
    for group in ("model:", "data:", "training:", "checkpoints and outputs:", "device and speed:"):
        assert group in helps["main_mixste.py"]
    # each script's help states its own recipe: loss, optimizer, defaults
    assert "Loss: weighted MPJPE" in helps["main_mixste.py"] and "Optimizer: AdamW" in helps["main_mixste.py"]
    assert "number of epochs (default: 160)" in helps["main_mixste.py"]
    assert "Loss: MPJPE" in helps["main_mhformer.py"] and "AMSGrad" in helps["main_mhformer.py"]
    assert "number of epochs (default: 20)" in helps["main_mhformer.py"]
    assert "initial learning rate (default: 0.001)" in helps["main_mhformer.py"]
    # --model: optional with a checkpoint, and no empty "(default: )"
    assert "default: the checkpoint's variant" in helps["main_mixste.py"] and "(default: )" not in helps["main_mixste.py"]


def test_update_readme_check_reports_both_outcomes(tmp_path, capsys):
    """The shipped README is up to date with benchmarks/ (and says so); a stale copy is reported, exit 1."""
    from pathlib import Path

    from tools.update_readme import main as update_main

    readme = Path(__file__).resolve().parents[1] / "README.md"
    assert update_main(["--check"]) == 0
    out = capsys.readouterr().out
    assert "README.md, " in out and "demo.md" in out  # the README and the docs/ pages

    stale = tmp_path / "README.md"
    stale.write_text(readme.read_text(encoding="utf-8").replace("| `hot_mixste_27_gt` |", "| `old` |", 1),
                     encoding="utf-8")
    (tmp_path / "benchmarks").symlink_to(readme.parent / "benchmarks")
    assert update_main(["--check", "--readme", str(stale)]) == 1
    assert "stale: run python -m tools.update_readme" in capsys.readouterr().err


# ------------------------------------------------------------------------------ every numeric flag, up front
#: flags that are read but never used (kept for the reference's command lines): not range-checked
IGNORED_FLAGS = ("pad", "out_channels")


def _flag_error(flag: str, value: str) -> str:
    cfg = RunConfig.from_flags(parse_args(["--model", "mixste.hot_mixste", f"--{flag}={value}"], **MIXSTE.defaults))
    with pytest.raises(ConfigError) as exc:
        check_flags(cfg)
    return str(exc.value)


@pytest.mark.parametrize("flag", sorted(a.dest for a in build_parser()._actions if a.type is float))
def test_every_float_flag_refuses_nan_and_inf(flag):
    for value in ("nan", "-inf") + (("inf",) if flag != "previous_best" else ()):  # inf: "no best P1 yet"
        message = _flag_error(flag, value)
        assert message.startswith(f"--{flag} must be") and message.endswith(f"got {float(value)}"), message


@pytest.mark.parametrize("flag", sorted(a.dest for a in build_parser()._actions
                                        if a.type is int and not a.choices and a.dest not in IGNORED_FLAGS))
def test_every_int_flag_has_a_range(flag):
    message = _flag_error(flag, str(2**70))
    assert message.startswith(f"--{flag} ") and str(2**70) in message, message
    if flag not in ("frames", "stride", "seed"):
        assert _flag_error(flag, "-1").startswith(f"--{flag} must be >= "), flag


def test_flag_ranges_say_what_the_value_means():
    assert _flag_error("lr_decay", "-1") == ("--lr_decay must be in (0, 1] (the LR is multiplied by it after an "
                                             "epoch: 1 keeps it constant), got -1.0")
    assert _flag_error("seed", str(2**70)) == ("--seed must be between 0 and 18446744073709551615 (a 64-bit "
                                               f"unsigned integer), got {2**70}")
    assert _flag_error("batch_size", str(2**31)) == f"--batch_size must be at most {2**31 - 1} (2**31 - 1), got {2**31}"
    ok = RunConfig.from_flags(parse_args(["--model", "mixste.hot_mixste", "--seed", str(2**64 - 1), "--lr_decay", "1",
                                          "--time_limit", "0", "--ema", "0"], **MIXSTE.defaults))
    check_flags(ok)  # the edges of the ranges are valid


def test_pruning_flags_on_a_model_that_does_not_prune_are_refused(capsys):
    for flag, value in (("--prune_schedule", "1:9"), ("--prune_strategy", "motion"),
                        ("--recover_strategy", "interpolation")):
        err = _error_of(capsys, MIXSTE, ["--model", "mixste.mixste", "--frames", "27", "--stride", "27", flag, value])
        assert err.startswith(f"error: {flag} applies to models that prune frames, and mixste.mixste does not"), err
        assert "mixste.h2ot_mixste" in err
    err = _error_of(capsys, MIXSTE, ["--model", "mixste.h2ot_mixste", "--frames", "27", "--stride", "27",
                                     "--prune_schedule", "1:9,²:4"])
    assert err == "error: --prune_schedule '1:9,²:4': each step is BLOCK:KEPT with whole numbers, e.g. '3:81,5:40'"


def test_unexpected_errors_are_one_line_unless_verbose(monkeypatch, capsys):
    import hot_pose.training.engine as engine_module

    def broken(*args, **kwargs):
        raise RuntimeError("something nobody expected\nsecond line")

    monkeypatch.setattr(engine_module, "run", broken)
    assert main(MIXSTE, model, ["--model", "mixste.mixste"]) == 1
    assert capsys.readouterr().err == "error: something nobody expected (--verbose shows where)\n"
    with pytest.raises(RuntimeError, match="nobody expected"):
        main(MIXSTE, model, ["--model", "mixste.mixste", "--verbose"])
    with pytest.raises(RuntimeError):
        main(MIXSTE, model, ["--model", "mixste.mixste", "--verb"])  # an abbreviation argparse accepts
    assert engine_module.wants_traceback(["--verbose"]) and not engine_module.wants_traceback(["--v", "--vi"])


def test_entry_scripts_refuse_bad_numbers_before_torch_is_imported():
    """``precheck``: the entry scripts parse and range-check their flags before importing torch and the models."""
    code = ("import sys\nfrom hot_pose.training.arguments import precheck\ntry:\n    precheck('main_mhformer', sys.argv[1:])\n"
            "except SystemExit as exc:\n    print(exc.code, 'torch' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code, "--lr_decay", "nan"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.stdout.split() == ["2", "False"] and proc.stderr == (
        "error: --lr_decay must be in (0, 1] (the LR is multiplied by it after an epoch: 1 keeps it constant), "
        "got nan\n")
    proc = subprocess.run([sys.executable, "-c", code, "--nepoch", "x"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.split() == ["2", "False"] and proc.stderr.count("\n") == 1
    assert "argument --nepoch: invalid int value: 'x'" in proc.stderr
    # the recipe's own defaults are what is checked (main_mhformer: 351 frames), and valid flags pass
    from hot_pose.training.arguments import precheck

    precheck("main_mhformer", ["--model", "mhformer.mhformer", "--stride", "351"])
    precheck("main_mixste", ["--help"])  # left to the engine, which prints the recipe's description
