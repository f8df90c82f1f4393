"""The engine end to end on real Human3.6M data (CPU, tiny models): the README recipes, learning, outputs,
checkpoint round trips. The data are loaded once per session (S1 for training, S9 for testing, 16 SH joints)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

import hot_pose.models as model
import hot_pose.training.engine as engine
from hot_pose.data.dataset import PoseWindowDataset, load_h36m
from hot_pose.training.arguments import RunConfig, parse_args
from hot_pose.training.engine import main, run
from hot_pose.training.recipes import MHFORMER, MHFORMER_TPC, MIXSTE, MIXSTE_TPC

_CACHE: dict = {}


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    """One thread (the CI machine is shared) and the npz files read once per session."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    def cached(root_path, keypoints="cpn_ft_h36m_dbb", subjects=None, dataset="h36m", **kw):
        key = (str(root_path), keypoints, dataset, bool(kw.get("complete_16")))
        if key not in _CACHE:
            _CACHE[key] = load_h36m(root_path, keypoints, subjects=["S1", "S9"], dataset=dataset, **kw)
        return _CACHE[key]

    monkeypatch.setattr(engine, "load_h36m", cached)
    yield
    torch.set_num_threads(threads)


def small(h36m_dir: Path, run_dir: Path, *extra: str) -> list:
    """Overrides that make any recipe a few-second CPU run on real data."""
    return ["--root_path", str(h36m_dir), "--keypoints", "sh_pt_mpii", "--subjects_train", "S1",
            "--subjects_test", "S9", "--actions", "Walking", "--subset", "0.1", "--downsample", "2",
            "--frames", "27", "--channel", "32", "--d_hid", "64", "--depth", "2", "--nepoch", "1",
            "--device", "cpu", "--no_progress", "--checkpoint", str(run_dir), *extra]


#: the README recipes with their script, plus HoT w. MotionBERT / MotionAGFormer on main_mixste
README = [
    (MIXSTE, "--batch_size 4 --frames 243 --stride 243 --model mixste.mixste", "--stride 27"),
    (MIXSTE, "--batch_size 4 --frames 243 --stride 243 --model mixste.hot_mixste --token_num 81 --layer_index 3",
     "--stride 27 --token_num 9 --layer_index 1"),
    (MIXSTE_TPC, "--batch_size 4 --frames 243 --stride 243 --model mixste.tpc_mixste --token_num 61 --layer_index 7",
     "--stride 27 --token_num 9 --layer_index 1"),
    (MHFORMER, "--batch_size 128 --nepoch 20 --lr 1e-3 --lr_decay_epoch 5 --lr_decay 0.95 --frames 351 --stride 1 "
     "--model mhformer.mhformer", "--subset 0.02"),
    (MHFORMER_TPC, "--batch_size 210 --nepoch 20 --lr 1e-3 --lr_decay_epoch 5 --lr_decay 0.95 --frames 351 "
     "--stride 1 --model mhformer.tpc_mhformer --token_num 117 --layer_index 1",
     "--subset 0.02 --token_num 9 --depth 3"),
    (MIXSTE, "--batch_size 4 --stride 243 --model motionbert.hot_motionbert", "--stride 27 --token_num 9"),
    (MIXSTE, "--batch_size 4 --stride 243 --model motionagformer.hot_motionagformer",
     "--stride 27 --token_num 9 --layer_index 1"),
]


@pytest.mark.parametrize("recipe, readme, overrides", README, ids=[r[1].split("--model ")[1].split()[0]
                                                                  for r in README])
def test_readme_recipe_runs_one_short_epoch(h36m_dir, tmp_path, recipe, readme, overrides):
    args = parse_args(readme.split() + small(h36m_dir, tmp_path / "run", *overrides.split()), **recipe.defaults)
    result = run(args, recipe, model)
    assert result.p1 > 0 and result.p2 > 0 and result.n_windows > 0
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert len(rows) == 1 and float(rows[0]["loss"]) > 0
    saved = torch.load(tmp_path / "run" / "best.pth", weights_only=True)
    assert saved["variant"] == args.model and saved["p1"] == result.p1


def test_loss_decreases_then_test_reproduces_best_p1(h36m_dir, tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["--model", "mixste.hot_mixste", "--stride", "27", "--token_num", "9", "--layer_index", "1",
            "--batch_size", "4", "--lr", "2e-3", "--lr_decay", "0.9"]
    args = parse_args(argv + small(h36m_dir, run_dir, "--nepoch", "5", "--subset", "0.25"), **MIXSTE.defaults)
    best = run(args, MIXSTE, model)
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    losses = [float(r["loss"]) for r in rows]
    assert len(losses) == 5 and losses[-1] < 0.6 * losses[0], losses  # 5 x 64 optimizer steps
    assert [float(r["lr"]) for r in rows[:2]] == pytest.approx([2e-3, 1.8e-3])
    for name in ("train.log", "configs.txt", "config.json", "curves.png", "best.pth", "last.pth"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "tensorboard").is_dir()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["channel"] == 32 and config["n_joints"] == 16 and config["model_config"]["depth"] == 2
    assert "epoch: 5, lr:" in (run_dir / "train.log").read_text()
    last = torch.load(run_dir / "last.pth", weights_only=True)
    assert {"model", "optimizer", "rng", "args", "history", "epoch", "best_p1", "lr"} <= set(last)
    best_ckpt = torch.load(run_dir / "best.pth", weights_only=True)
    # --test with only the folder: variant and sizes come from the checkpoint; same P1 to the last digit
    same_data = small(h36m_dir, tmp_path)[:-2] + ["--subset", "0.25", "--stride", "27"]  # no --checkpoint
    test_argv = ["--test", "--previous_dir", str(run_dir), "--report", str(tmp_path / "r.json")] + same_data
    tested = run(parse_args(test_argv, **MIXSTE.defaults), MIXSTE, model)
    assert tested.p1 == best_ckpt["p1"] == best.p1 and tested.p2 == best_ckpt["p2"]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["results"]["per_action"]["Walking"]["samples"] > 0 and report["protocol"]["flip_tta"]
    assert "Walking" in capsys.readouterr().out  # the per-action table is printed
    # a reference-style folder (bare state_dicts named model_<epoch>_<p1x100>.pth): lowest P1 wins, strict load
    ref = tmp_path / "ref"
    ref.mkdir()
    torch.save(best_ckpt["model"], ref / "model_5_1234.pth")
    torch.save({k: v + 1 for k, v in best_ckpt["model"].items()}, ref / "model_2_9999.pth")
    # (a bare state_dict counts as a reference checkpoint: TPC would use the reference's distances, so the
    # frames our run was validated with are asked for explicitly)
    again = run(parse_args(["--model", "mixste.hot_mixste", "--token_num", "9", "--layer_index", "1", "--test",
                            "--previous_dir", str(ref), "--tpc_distance", "exact", "--checkpoint", str(ref)] + same_data,
                           **MIXSTE.defaults), MIXSTE, model)
    assert again.p1 == best.p1
    # a file that fits another size: one-line error, no traceback
    wrong_size = ["--model", "mixste.hot_mixste", "--token_num", "9", "--layer_index", "1", "--channel", "64",
                  "--test", "--checkpoint_file", str(ref / "model_5_1234.pth")]
    code = main(MIXSTE, model, same_data + wrong_size)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "shape mismatch" in err and "\n" not in err


def test_joint_count_mismatch_is_a_one_line_error(h36m_dir, tmp_path, capsys):
    code = main(MIXSTE, model, ["--model", "mixste.mixste", "--stride", "27", "--n_joints", "15"]
                + small(h36m_dir, tmp_path / "run"))
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--n_joints 15 does not match the 16 joints of --keypoints sh_pt_mpii" in err
    assert "\n" not in err  # (--n_joints 17 on these 16-joint detections is valid: Neck/Nose completed)


def test_tpc_mixste_trained_seq2seq_is_tested_seq2frame(h36m_dir, tmp_path):
    """TPC w. MixSTE: trained with --stride 27 (scored on its kept frames), tested with --stride 1 (centre frame)."""
    flags = ["--model", "mixste.tpc_mixste", "--token_num", "9", "--layer_index", "1"]
    trained = run(parse_args(flags + small(h36m_dir, tmp_path / "run", "--stride", "27", "--amp", "bf16")),
                  MIXSTE_TPC, model)
    assert trained.n_windows > 0
    tested = run(parse_args(flags + small(h36m_dir, tmp_path / "unused")[:-2] + [
        "--test", "--stride", "1", "--previous_dir", str(tmp_path / "run"), "--checkpoint", str(tmp_path / "run")]),
        MIXSTE_TPC, model)
    windows = PoseWindowDataset(_CACHE[(str(h36m_dir), "sh_pt_mpii", "h36m", False)], ["S9"], 27, 1, False,
                                actions="Walking", downsample=2, subset=0.1)
    assert tested.n_windows == len(windows) == windows.num_frames  # one window per (subsampled) frame
    assert set(tested.report["per_action"]) == {"Walking"}
    assert 0 < tested.p1 < 1000 and (tmp_path / "run" / "eval_best_s1.json").is_file()


def test_tensorboard_is_optional(tmp_path, monkeypatch, caplog):
    import sys

    from hot_pose.training import run_outputs as tracking

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    monkeypatch.setattr(tracking, "_TB_WARNED", False)
    trackers = [tracking.RunTracker(tmp_path) for _ in range(2)]
    assert all(t.writer is None for t in trackers)
    assert caplog.text.count("tensorboard is not installed") == 1
    row = tracking.history_row(epoch=1, lr=1e-3, loss=0.5, p1=50.0, p2=40.0, best_p1=50.0, best_epoch=1)
    trackers[0].log_epoch(row, [row])
    assert (tmp_path / "metrics.csv").read_text().splitlines()[1].startswith("1,0.001,0.5,50.0")
    assert trackers[0].plot([row]).is_file()


def test_cpu_budget_flags_and_17_joint_weights_on_16_joint_detections(prepared_root, tmp_path):
    """--epoch_fraction draws a fresh subset per epoch, --noise_2d trains on jittered input; the resulting
    17-joint GT-2D model is then tested on the 16-joint SH detections (Neck/Nose completed, 16 joints scored)."""
    run_dir = tmp_path / "run"
    flags = ["--model", "mixste.hot_mixste", "--stride", "27", "--token_num", "9", "--layer_index", "1",
             "--batch_size", "8", "--lr", "2e-3"]
    argv = flags + small(prepared_root, run_dir, "--keypoints", "gt", "--nepoch", "2", "--epoch_fraction", "0.5",
                         "--noise_2d", "0.01")
    run(parse_args(argv, **MIXSTE.defaults), MIXSTE, model)
    train_set = PoseWindowDataset(_CACHE[(str(prepared_root), "gt", "h36m", False)], ["S1"], 27, 27, True,
                                  actions="Walking", downsample=2, subset=0.1, flip_aug=True)
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    seen = [float(r["samples_per_s"]) * float(r["train_s"]) for r in rows]
    assert seen == pytest.approx([round(len(train_set) * 0.5)] * 2, rel=0.02)
    assert json.loads((run_dir / "config.json").read_text())["noise_2d"] == 0.01
    same = small(prepared_root, tmp_path)[:-2]  # keypoints sh_pt_mpii: 16 joints
    tested = run(parse_args(["--test", "--previous_dir", str(run_dir), "--report", str(tmp_path / "sh.json")]
                            + same, **MIXSTE.defaults), MIXSTE, model)
    report = json.loads((tmp_path / "sh.json").read_text())
    assert report["protocol"]["joint_completion"] and report["protocol"]["keypoints"] == "sh_pt_mpii"
    assert 0 < tested.p1 < 1000 and tested.n_windows > 0
    # fine-tuning the 17-joint model on the 16-joint detections: completed 2-D, 17 3-D targets, 17 joints kept
    tuned = tmp_path / "tuned"
    run(parse_args(["--previous_dir", str(run_dir), "--batch_size", "8"] + small(prepared_root, tuned)[:-2]
                   + ["--checkpoint", str(tuned)], **MIXSTE.defaults), MIXSTE, model)
    config = json.loads((tuned / "config.json").read_text())
    assert (config["keypoints"], config["n_joints"], config["out_joints"]) == ("sh_pt_mpii", 17, 17)
    retested = run(parse_args(["--test", "--previous_dir", str(tuned), "--report", str(tmp_path / "sh2.json")]
                              + same, **MIXSTE.defaults), MIXSTE, model)
    assert json.loads((tmp_path / "sh2.json").read_text())["protocol"]["joint_completion"]
    assert 0 < retested.p1 < 1000 and retested.n_windows == tested.n_windows


def test_bad_budget_flags_are_one_line_errors(h36m_dir, tmp_path, capsys):
    for flag, value in (("--epoch_fraction", "0"), ("--noise_2d", "-1"), ("--ema", "1"), ("--time_limit", "-1"),
                        ("--time_limit", "nan")):
        code = main(MIXSTE, model, ["--model", "mixste.mixste", "--stride", "27", flag, value]
                    + small(h36m_dir, tmp_path / "run"))
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith(f"error: {flag} must be") and "\n" not in err


def test_kept_epochs_average_into_a_testable_checkpoint_and_resume_keeps_the_start(h36m_dir, tmp_path, capsys):
    """A fine-tuned run with --keep_epochs, resumed half-way, keeps its start weights in the flags it saves; the
    epoch files average (tools.average_checkpoints) into a file that loads strictly and --test scores."""
    from tools.average_checkpoints import main as average_main
    from tools.results import training_summary

    flags = ["--model", "mixste.mixste", "--stride", "27", "--batch_size", "8", "--lr", "2e-3"]
    base, tuned = tmp_path / "base", tmp_path / "tuned"
    run(parse_args(flags + small(h36m_dir, base), **MIXSTE.defaults), MIXSTE, model)
    run(parse_args(flags + small(h36m_dir, tuned, "--previous_dir", str(base), "--keep_epochs"),
                   **MIXSTE.defaults), MIXSTE, model)
    run(parse_args(["--resume", str(tuned), "--nepoch", "2"], **MIXSTE.defaults), MIXSTE, model)
    e1, e2 = (torch.load(tuned / f"epoch_{e}.pth", weights_only=True) for e in (1, 2))
    assert (e1["epoch"], e2["epoch"]) == (1, 2) and "optimizer" not in e2
    assert e2["args"]["previous_dir"] == str(base) == json.loads((tuned / "config.json").read_text())["previous_dir"]
    assert any(not torch.equal(e1["model"][k], e2["model"][k]) for k in e1["model"])
    capsys.readouterr()
    assert main(MIXSTE, model, ["--resume", str(tuned), "--previous_dir", str(base), "--nepoch", "3"]) == 2
    assert "--resume already loads weights" in capsys.readouterr().err

    out = tmp_path / "avg" / "best.pth"
    assert average_main(["--out", str(out), str(tuned / "epoch_2.pth"), str(tuned / "epoch_1.pth")]) == 0
    avg = torch.load(out, weights_only=True)
    for key, value in avg["model"].items():
        assert torch.allclose(value, (e1["model"][key] + e2["model"][key]) / 2, atol=1e-7)
    assert [a["epoch"] for a in avg["averaged_from"]] == [1, 2] and avg["epoch"] == 2
    assert training_summary(avg) == "2 × 100 % SH, mean of epochs 1–2, from base"
    mix = tmp_path / "mix" / "best.pth"  # a weighted mean across runs (WiSE-FT: original and fine-tune)
    b1 = torch.load(base / "best.pth", weights_only=True)
    assert average_main(["--out", str(mix), "--weights", "1,3", str(base / "best.pth"),
                         str(tuned / "epoch_1.pth")]) == 0
    mixed = torch.load(mix, weights_only=True)
    for key, value in mixed["model"].items():
        assert torch.allclose(value, 0.25 * b1["model"][key] + 0.75 * e1["model"][key], atol=1e-7)
    assert [(a["run"], a["weight"]) for a in mixed["averaged_from"]] == [("base", 0.25), ("tuned", 0.75)]
    assert mixed["args"] == e1["args"] and mixed["epoch"] == 1  # the flags of the last file
    assert training_summary(mixed) == ("1 × 100 % SH, from base; "
                                       "weights 0.25 × base/best.pth + 0.75 × tuned/epoch_1.pth")
    capsys.readouterr()
    for weights in ("1", "1,-1", "1,nan"):
        assert average_main(["--out", str(tmp_path / "bad.pth"), "--weights", weights, str(base / "best.pth"),
                             str(tuned / "epoch_1.pth")]) == 2
        assert "--weights needs one positive number per checkpoint" in capsys.readouterr().err
    tested = run(parse_args(["--test", "--previous_dir", str(out.parent), "--checkpoint", str(out.parent)]
                            + small(h36m_dir, tmp_path)[:-2],
                            **MIXSTE.defaults), MIXSTE, model)
    assert 0 < tested.p1 < 1000 and tested.n_windows > 0

    capsys.readouterr()
    other = tmp_path / "other"
    run(parse_args(["--model", "mixste.hot_mixste", "--stride", "27", "--token_num", "9", "--layer_index", "1"]
                   + small(h36m_dir, other), **MIXSTE.defaults), MIXSTE, model)
    torch.save(e1["model"], tmp_path / "bare.pth")
    for inputs, expected in (([tuned / "epoch_1.pth", other / "best.pth"], "hold different models"),
                             ([tuned / "epoch_1.pth", tmp_path / "bare.pth"], "not a checkpoint written by"),
                             ([tuned / "epoch_1.pth"], "at least two"),
                             ([tuned / "epoch_1.pth", tmp_path / "missing.pth"], "checkpoint not found")):
        capsys.readouterr()
        assert average_main(["--out", str(tmp_path / "bad" / "best.pth")] + [str(p) for p in inputs]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and expected in err and "\n" not in err
    assert not (tmp_path / "bad").exists()


def test_ema_is_validated_saved_and_resumed_exactly(h36m_dir, tmp_path):
    """--ema: best.pth / epoch_<n>.pth hold the average (not the trained weights), --test scores it to the last
    digit, and a run resumed after epoch 1 ends with the same average as an uninterrupted one."""
    flags = ["--model", "mixste.hot_mixste", "--stride", "27", "--token_num", "9", "--layer_index", "1",
             "--batch_size", "8", "--lr", "2e-3", "--ema", "0.9", "--keep_epochs"]
    whole, split = tmp_path / "whole", tmp_path / "split"
    run(parse_args(flags + small(h36m_dir, whole, "--nepoch", "2"), **MIXSTE.defaults), MIXSTE, model)
    run(parse_args(flags + small(h36m_dir, split, "--nepoch", "1"), **MIXSTE.defaults), MIXSTE, model)
    run(parse_args(["--resume", str(split), "--nepoch", "2"], **MIXSTE.defaults), MIXSTE, model)
    last = torch.load(whole / "last.pth", weights_only=True)
    epoch2 = torch.load(whole / "epoch_2.pth", weights_only=True)
    assert last["ema"]["steps"] > 10
    assert all(torch.equal(epoch2["model"][k], v) for k, v in last["ema"]["model"].items())
    assert any(not torch.equal(last["model"][k], v) for k, v in last["ema"]["model"].items())
    resumed = torch.load(split / "epoch_2.pth", weights_only=True)
    assert resumed["p1"] == epoch2["p1"]
    for key, value in epoch2["model"].items():
        assert torch.allclose(resumed["model"][key], value, atol=1e-6), key
    same_data = small(h36m_dir, tmp_path)[:-2] + ["--stride", "27"]
    tested = run(parse_args(["--test", "--checkpoint_file", str(whole / "epoch_2.pth"),
                             "--report", str(tmp_path / "r.json")] + same_data, **MIXSTE.defaults), MIXSTE, model)
    assert tested.p1 == epoch2["p1"]


def test_weight_ema_follows_its_formula():
    """The average of a unit-isolating linear layer: first update copies, then avg <- d*avg + (1-d)*w."""
    from hot_pose.training.train import WeightEMA

    layer = torch.nn.Linear(2, 1)
    ema = WeightEMA(layer, 0.75)
    with torch.no_grad():
        layer.weight.fill_(4.0)
        ema.update()
        layer.weight.fill_(0.0)
        ema.update()
        ema.update()
    assert ema.steps == 3
    assert torch.allclose(ema.module.weight, torch.full((1, 2), 4.0 * 0.75 ** 2))
    assert torch.equal(layer.weight, torch.zeros(1, 2))  # the trained model is untouched
    other = WeightEMA(torch.nn.Linear(2, 1), 0.75)
    other.load_state_dict(ema.state_dict())
    assert other.steps == 3 and torch.equal(other.module.weight, ema.module.weight)
    with pytest.raises(ValueError, match="decay"):
        WeightEMA(layer, 1.0)


# ------------------------------------------------------------------------------------ run folders are safe
HOT = ["--model", "mixste.hot_mixste", "--stride", "27", "--token_num", "9", "--layer_index", "1"]


def test_overwrite_replaces_an_earlier_run_and_a_fresh_log_starts_with_the_first_line(h36m_dir, tmp_path):
    """--overwrite deletes the earlier run's outputs (its epoch files too) when the new run starts; the new
    train.log holds only the new run, from its first logged line (kept in memory until the folder was made)."""
    folder = tmp_path / "run"
    run(parse_args(HOT + small(h36m_dir, folder, "--nepoch", "2", "--keep_epochs"), **MIXSTE.defaults), MIXSTE, model)
    assert (folder / "epoch_2.pth").is_file() and "epoch: 2," in (folder / "train.log").read_text()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(engine.ConfigError, match="already holds a run"):
        run(parse_args(HOT + small(h36m_dir, folder), **MIXSTE.defaults), MIXSTE, model)
    run(parse_args(HOT + small(h36m_dir, folder, "--overwrite"), **MIXSTE.defaults), MIXSTE, model)
    assert not (folder / "epoch_2.pth").exists() and not (folder / "epoch_1.pth").exists()
    assert (folder / "notes.txt").read_text() == "mine"  # not a run output: left alone
    rows = list(csv.DictReader((folder / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1"]
    log = (folder / "train.log").read_text()
    assert "epoch: 2," not in log and log.splitlines()[0].endswith("main_mixste: mixste.hot_mixste on cpu")
    assert "Training on" in log and torch.load(folder / "last.pth", weights_only=True)["epoch"] == 1


def test_time_limit_stops_after_the_epoch_whose_successor_would_overrun(h36m_dir, tmp_path):
    assert not engine.out_of_time(0, 1e9, 1e9)  # 0 = no limit
    assert engine.out_of_time(1.0, 50, 11) and not engine.out_of_time(1.0, 50, 9)
    folder = tmp_path / "run"
    run(parse_args(HOT + small(h36m_dir, folder, "--nepoch", "3", "--time_limit", "0.0001"), **MIXSTE.defaults),
        MIXSTE, model)
    rows = list(csv.DictReader((folder / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1"] and (folder / "best.pth").is_file()
    assert "--time_limit 0.0001 min: stopping after epoch 1" in (folder / "train.log").read_text()
    assert torch.load(folder / "last.pth", weights_only=True)["epoch"] == 1  # resumable with --resume


def test_resume_removes_temporaries_of_an_interrupted_save(h36m_dir, tmp_path):
    folder = tmp_path / "run"
    run(parse_args(HOT + small(h36m_dir, folder), **MIXSTE.defaults), MIXSTE, model)
    stale = [folder / ".last.pth.k1ll3d.tmp", folder / ".best.pth.x.tmp", folder / ".metrics.csv.tmp"]
    for path in stale:
        path.write_bytes(b"")
    run(parse_args(["--resume", str(folder), "--nepoch", "2"], **MIXSTE.defaults), MIXSTE, model)
    assert not any(p.exists() for p in stale)
    assert torch.load(folder / "last.pth", weights_only=True)["epoch"] == 2


def test_the_default_run_folder_is_never_reused(h36m_dir, tmp_path, monkeypatch):
    """Two runs started in the same second would get the same default folder: the second is refused."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(engine.time, "strftime", lambda fmt: "1201_2300_00_")
    argv = [a for a in HOT + small(h36m_dir, tmp_path) if a != str(tmp_path)]
    argv.remove("--checkpoint")
    run(parse_args(argv, **MIXSTE.defaults), MIXSTE, model)
    assert (tmp_path / "checkpoint" / "1201_2300_00_27" / "best.pth").is_file()
    with pytest.raises(engine.ConfigError, match="checkpoint/1201_2300_00_27 already holds a run"):
        run(parse_args(argv, **MIXSTE.defaults), MIXSTE, model)


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_folder(h36m_dir, tmp_path):
    folder = tmp_path / "diverged"
    with pytest.raises(engine.NumericalError, match="epoch 1, step"):
        run(parse_args(HOT + small(h36m_dir, folder, "--lr", "1e30"), **MIXSTE.defaults), MIXSTE, model)
    assert not folder.exists()


def test_progress_without_a_terminal_is_one_line_per_tenth(capsys):
    from hot_pose.utils.runtime import LineProgress, progress_bar

    bar = progress_bar(range(20), desc="train 1", unit="batch")  # pytest's stderr is not a terminal
    assert isinstance(bar, LineProgress)
    for _ in bar:
        bar.set_postfix(loss="0.1234")
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err and len(lines) == 10
    assert lines[-1].startswith("train 1: 20/20 batch (100%)") and lines[-1].endswith("loss 0.1234")
    with progress_bar(total=None, desc="2D keypoints", unit="frame") as unknown:
        unknown.update(5)  # unknown total: a line every 30 s, none yet
    assert capsys.readouterr().err == "" and unknown.n == 5
    quiet = progress_bar(range(3), enabled=False)
    assert list(quiet) == [0, 1, 2] and capsys.readouterr().err == ""


def test_cpu_evaluation_batch_default_and_explicit_batch():
    cpu = torch.device("cpu")

    def cfg(argv, recipe=MIXSTE):
        return RunConfig.from_flags(parse_args(argv, **recipe.defaults))

    args = cfg(["--model", "mixste.hot_mixste", "--frames", "27"])
    assert args.batch_size == 4 and engine.eval_batch_size(args, cpu) == 64  # 1728 pose frames
    assert engine.eval_batch_size(cfg(["--model", "mixste.mixste"]), cpu) == 7  # 243
    given = cfg(["--model", "mixste.hot_mixste", "--frames", "27", "--batch_size", "4"])
    assert engine.eval_batch_size(given, cpu) == 4  # an explicit --batch_size is kept
    assert engine.eval_batch_size(cfg(["--model", "mhformer.mhformer"], MHFORMER), cpu) == 128
