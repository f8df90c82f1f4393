"""H2OT: pruning schedules, strategies, recovery by interpolation, HoT as the one-step case, and the variants
through the real training/testing engine."""
from __future__ import annotations

import json

import pytest
import torch

import hot_pose.models as model
from hot_pose.models import build_model
from hot_pose.models.hot import (
    PruningPyramid,
    TokenPruningCluster,
    TokenRecoveringInterpolation,
    freeze_tie_break_noise,
    parse_schedule,
)
from hot_pose.models.hot.pruning import motion_score, uniform_index
from hot_pose.training.arguments import parse_args
from hot_pose.training.engine import main, run
from hot_pose.training.recipes import MIXSTE

SMALL = dict(frames=27, channel=32, d_hid=64, depth=4)
FAMILIES = [("mixste.hot_mixste", "mixste.h2ot_mixste", 2), ("motionbert.hot_motionbert", "motionbert.h2ot_motionbert", 3),
            ("motionagformer.hot_motionagformer", "motionagformer.h2ot_motionagformer", 3)]


def test_schedule_parsing_and_its_errors():
    assert parse_schedule("3:81, 5:40") == ((3, 81), (5, 40))
    assert parse_schedule([(1, 9)]) == ((1, 9),)
    for bad, message in (("3-81", "BLOCK:KEPT"), ("3:81,2:40", "blocks must increase"), ("3:40,5:81", "decrease"),
                         ("", "BLOCK:KEPT"), ("1:0", ">= 1")):
        with pytest.raises(ValueError, match=message):
            parse_schedule(bad)


@pytest.mark.parametrize("hot, h2ot, in_channels", FAMILIES)
def test_a_one_step_schedule_is_exactly_hot(hot, h2ot, in_channels):
    torch.manual_seed(0)
    reference = build_model(hot, **SMALL, token_num=9, layer_index=1).eval()
    torch.manual_seed(0)
    one_step = build_model(h2ot, **SMALL, prune_schedule="1:9").eval()
    assert list(one_step.state_dict()) == list(reference.state_dict())  # same keys: HoT checkpoints load
    one_step.load_state_dict(reference.state_dict())
    x = torch.randn(2, 27, 17, in_channels, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = reference(x), one_step(x)
    assert torch.equal(a.pose, b.pose) and torch.equal(a.kept, b.kept) and len(b.kept_steps) == 1


@pytest.mark.parametrize("hot, h2ot, in_channels", FAMILIES)
def test_pyramids_compose_kept_frames_and_replay(hot, h2ot, in_channels):
    net = build_model(h2ot, **SMALL, prune_schedule="1:13,2:9,3:5").eval()
    assert isinstance(net.prune, PruningPyramid) and net.config.token_num == 5 and net.config.layer_index == 1
    assert {k for k in net.state_dict() if "pos_embed_token" in k} == {f"prune.stages.{i}.pos_embed_token"
                                                                       for i in range(3)}
    x = torch.randn(3, 27, 17, in_channels, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = net(x)
        again = net(torch.flip(x, dims=[2]), index=out.kept_steps)  # another input, the same frames
    assert [tuple(k.shape) for k in out.kept_steps] == [(3, 13), (3, 9), (3, 5)]
    for earlier, later in zip(out.kept_steps, out.kept_steps[1:]):
        assert all(set(b.tolist()) < set(a.tolist()) for a, b in zip(earlier, later))
    assert all(torch.equal(a, b) for a, b in zip(again.kept_steps, out.kept_steps))
    with pytest.raises(ValueError, match="all 3 pruning steps"):
        net(x, index=out.kept)


def test_uniform_sampling_and_centre_forcing():
    assert uniform_index(1, 27, 7)[0].tolist() == [0, 4, 9, 13, 17, 22, 26]
    forced = uniform_index(2, 27, 4, center=13)
    assert forced.shape == (2, 4) and 13 in forced[0].tolist() and forced[0].tolist() == sorted(set(forced[0].tolist()))
    sampler = TokenPruningCluster(5, strategy="sample")
    _, index = sampler(torch.randn(2, 27, 17, 8))
    assert index[0].tolist() == [0, 6, 13, 20, 26]


def test_motion_strategy_keeps_the_frames_where_features_change():
    z = torch.zeros(1, 20, 4)
    z[:, 12:] = 1.0  # a jump between frames 11 and 12
    z[:, 5] = 3.0  # a spike at frame 5
    score = motion_score(z)[0]
    assert int(score.argmax()) == 5 and set(score.topk(5).indices.tolist()) == {4, 5, 6, 11, 12}
    assert score[0] == 0 and score[19] == 0  # still frames at the ends
    pruner = TokenPruningCluster(3, strategy="motion")
    _, index = pruner(z)
    assert index[0].tolist() == sorted(index[0].tolist()) and 5 in index[0].tolist()
    with pytest.raises(ValueError, match="pruning strategy"):
        TokenPruningCluster(3, strategy="random")


def test_interpolation_recovery_is_exact_at_kept_frames_linear_between_and_flat_at_the_edges():
    recover = TokenRecoveringInterpolation(10)
    index = torch.tensor([[2, 5, 9]])
    x = torch.tensor([[[2.0], [5.0], [9.0]]])  # value = frame number
    out = recover(x, index)[0, :, 0]
    assert out.tolist() == [2.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert not list(recover.parameters())
    with pytest.raises(ValueError, match="needs the kept frames"):
        recover(x)


def test_frozen_noise_of_a_pyramid_has_each_steps_length_and_exports(tmp_path):
    onnx = pytest.importorskip("onnx")
    net = build_model("mixste.h2ot_mixste", **SMALL, prune_schedule="1:13,2:9").eval()
    assert freeze_tie_break_noise(net) == 2
    assert [tuple(s.tie_break_noise.shape) for s in net.prune.stages] == [(1, 27), (1, 13)]
    from hot_pose.cli.export_onnx import main as export_main

    out = tmp_path / "h2ot.onnx"
    assert export_main(["--model", "mixste.h2ot_mixste", "--frames", "27", "--channel", "32", "--depth", "4",
                        "--prune_schedule", "1:13,2:9", "--recover_strategy", "interpolation", "--output",
                        str(out)]) == 0
    onnx.checker.check_model(str(out))


def tiny(root, run_dir, *extra):
    return ["--frames", "27", "--stride", "27", "--channel", "16", "--d_hid", "32", "--depth", "3", "--drop_path",
            "0", "--keypoints", "gt", "--root_path", str(root), "--subjects_train", "S1", "--subjects_test", "S9",
            "--actions", "Walking", "--subset", "0.2", "--batch_size", "8", "--nepoch", "1", "--lr", "1e-3",
            "--test_augmentation", "0", "--no_progress", "--checkpoint", str(run_dir), *extra]


def test_h2ot_trains_and_tests_through_the_engine_and_its_checkpoint_records_the_schedule(prepared_root, tmp_path):
    run_dir = tmp_path / "run"
    flags = ["--model", "mixste.h2ot_mixste", "--prune_schedule", "1:13,2:7", "--prune_strategy", "sample",
             "--recover_strategy", "interpolation"]
    trained = run(parse_args(flags + tiny(prepared_root, run_dir), **MIXSTE.defaults), MIXSTE, model)
    ckpt = torch.load(run_dir / "best.pth", map_location="cpu", weights_only=True)
    assert ckpt["model_config"]["prune_schedule"] == "1:13,2:7" and ckpt["args"]["prune_strategy"] == "sample"
    assert ckpt["model_config"]["token_num"] == 7 and not any("x_token" in k for k in ckpt["model"])  # TRI
    argv = ["--test", "--previous_dir", str(run_dir), "--root_path", str(prepared_root), "--subjects_test", "S9",
            "--actions", "Walking", "--subset", "0.2", "--test_augmentation", "0", "--no_progress", "--report",
            str(tmp_path / "r.json")]
    tested = run(parse_args(argv, **MIXSTE.defaults), MIXSTE, model)  # the schedule comes from the checkpoint
    assert tested.p1 == pytest.approx(trained.p1, abs=1e-3)
    assert json.loads((tmp_path / "r.json").read_text())["protocol"]["model"] == "mixste.h2ot_mixste"


@pytest.mark.parametrize("schedule, message", [("1:13;2:7", "BLOCK:KEPT"), ("1:13,3:20", "decrease"),
                                               ("1:13,5:7", "outside blocks")])
def test_bad_schedules_are_one_line_errors(prepared_root, tmp_path, capsys, schedule, message):
    code = main(MIXSTE, model, ["--model", "mixste.h2ot_mixste", "--prune_schedule", schedule]
                + tiny(prepared_root, tmp_path / "run"))
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["motionbert.h2ot_motionbert", "motionagformer.h2ot_motionagformer"])
def test_the_other_h2ot_variants_train_and_test_through_an_entry_script(prepared_root, tmp_path, name):
    run_dir = tmp_path / "run"
    assert main(MIXSTE, model, ["--model", name, "--prune_schedule", "1:13,2:7"] + tiny(prepared_root, run_dir)) == 0
    argv = ["--test", "--previous_dir", str(run_dir), "--root_path", str(prepared_root), "--subjects_test", "S9",
            "--actions", "Walking", "--subset", "0.2", "--test_augmentation", "0", "--no_progress", "--report",
            str(tmp_path / "r.json")]
    assert main(MIXSTE, model, argv) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["protocol"]["model"] == name and report["results"]
