"""hot_pose.models.profile: thop-compatible counting rules, FlopCounterMode totals and the command line."""
from __future__ import annotations

import argparse
import json

import pytest
import torch
from torch import nn

from hot_pose.cli.profile import build_parser, main
from hot_pose.models import available_models, build_model
from hot_pose.models.profile import profile_model, thop_counts

SMALL = ["--frames", "27", "--channel", "32", "--d_hid", "64", "--token_num", "9"]


class Toy(nn.Module):
    """Linear + LayerNorm + Conv1d + BatchNorm1d + AdaptiveAvgPool1d, a directly-owned Parameter and an
    un-hooked leaf with parameters (thop counts neither)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Parameter(torch.zeros(1, 10, 8))
        self.fc = nn.Linear(4, 8)
        self.norm = nn.LayerNorm(8)
        self.conv = nn.Conv1d(10, 6, kernel_size=3, padding=1)
        self.bn = nn.BatchNorm1d(6)
        self.pool = nn.AdaptiveAvgPool1d(2)
        self.prelu_like = nn.GELU()
        self.unused = nn.Linear(100, 100)

    def forward(self, x):  # (B, 10, 4)
        x = self.norm(self.fc(x) + self.embed)  # (B, 10, 8)
        return self.pool(self.bn(self.conv(self.prelu_like(x))))  # (B, 6, 2)


def test_thop_rules_on_a_toy_model():
    macs, params = thop_counts(Toy(), torch.rand(1, 10, 4))
    linear = 4 * (10 * 8)  # in_features × output elements, bias not counted
    conv = (6 * 8) * 10 * 3  # output elements × in_channels/groups × kernel
    bn = 2 * (6 * 8) * 2  # 2·numel, ×2 affine
    pool = int((8 / 2 + 1) * 12)  # (kernel + 1) × output elements
    assert macs == linear + conv + bn + pool  # LayerNorm: 0 (the paper's convention)
    assert params == (4 * 8 + 8) + 16 + (10 * 6 * 3 + 6) + 12  # not `embed`, not the unused Linear
    macs_ln, _ = thop_counts(Toy(), torch.rand(1, 10, 4), count_layernorm=True)
    assert macs_ln - macs == 2 * 80 * 2


def test_profile_model_meta_equals_cpu_and_leaves_model_alone():
    model = build_model("mixste.hot_mixste", frames=27, channel=32, token_num=9).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cpu = profile_model(model, (1, 27, 17, 2), device="cpu")
    meta = profile_model(model, (1, 27, 17, 2))
    for key in ("params", "params_thop", "flops", "flops_thop", "flops_thop_ln"):
        assert cpu[key] == meta[key], key
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert meta["flops"] > meta["flops_thop"]  # FlopCounterMode also counts the attention products
    assert meta["flops_thop_per_frame"] == pytest.approx(meta["flops_thop"] / 27)
    batched = profile_model(model, (3, 27, 17, 2))
    assert batched["flops_thop"] == pytest.approx(meta["flops_thop"])  # per clip


def test_seq2frame_counts_the_whole_clip_per_frame():
    model = build_model("mixste.tpc_mixste", frames=27, channel=32, token_num=9, layer_index=2)
    result = profile_model(model, (1, 27, 17, 2))
    assert result["seq2frame"] and result["scored_frames"] == 1
    assert result["flops_thop_per_frame"] == result["flops_thop"]
    assert result["output_shape"] == [1, 9, 17, 3]


def test_cli_text_markdown_and_json(tmp_path, capsys):
    assert main(["--model", "mixste.hot_mixste", *SMALL]) == 0
    text = capsys.readouterr().out
    assert text.startswith("mixste.hot_mixste (T 27, C 32, f 9, n 3): params ")
    out = tmp_path / "p.json"
    assert main(["--model", "mixste.tpc_mixste", *SMALL, "--markdown", "--json", str(out)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| Model |") and table[2].startswith("| `mixste.tpc_mixste` |")
    data = json.loads(out.read_text())
    assert data["model"] == "mixste.tpc_mixste" and data["seq2frame"] is True and data["params"] > 0


def test_cli_errors(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["--model", "mixste.nope"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "usage:" not in err
    assert err.startswith("error: argument --model: unknown model 'mixste.nope'") and "--list" in err
    assert main(["--model", "mixste.hot_mixste", "--token_num", "300"]) == 2
    assert "token_num" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--model", "mixste.hot_mixste", "--frames", "0"])
    assert exc.value.code == 2 and "--frames: must be >= 1, got 0" in capsys.readouterr().err
    assert main(["--model", "mixste.hot_mixste", "--device", "tpu"]) == 2
    assert capsys.readouterr().err.startswith("error: --device tpu is not a device")


def test_cli_lists_the_models(capsys):
    assert main(["--list"]) == 0
    assert capsys.readouterr().out.split() == available_models()


def test_cli_json_is_not_overwritten_without_overwrite(tmp_path, capsys):
    out = tmp_path / "p.json"
    out.write_text("mine")
    assert main(["--model", "mixste.hot_mixste", *SMALL, "--json", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_text() == "mine"
    assert main(["--model", "mixste.hot_mixste", *SMALL, "--json", str(out), "--overwrite"]) == 0
    assert json.loads(out.read_text())["model"] == "mixste.hot_mixste"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]  # no temporary file left
    assert main(["--model", "mixste.hot_mixste", *SMALL, "--json", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_every_flag_has_help():
    for action in build_parser()._actions:
        if not isinstance(action, argparse._HelpAction):
            assert action.help, action.dest
