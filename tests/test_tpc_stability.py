"""tools.tpc_stability on real Human3.6M windows: report structure, shares in [0, 1], a zero sanity row.

HoT (Li et al., CVPR 2024, arXiv:2311.12028) keeps frames by DPC-kNN; which perturbations flip which frames
depends on the CPU's arithmetic (AVX2 vs AVX-512 kernels), so nothing here asserts which distance mode is
more stable, only what must hold everywhere.
"""
from __future__ import annotations

import json
import math

import pytest

from tools import tpc_stability

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def quick_report(prepared_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("tpc_stability")
    assert tpc_stability.main(["--quick", "--root-path", str(prepared_root), "--out-dir", str(out)]) == 0
    return json.loads((out / "tpc_stability.json").read_text()), (out / "tpc_stability.md").read_text()


def test_quick_run_measures_every_pruning_model_on_real_windows(quick_report):
    report, _ = quick_report
    names = [m["name"] for m in report["models"]]
    assert names[:4] == ["hot_mixste_27_gt", "hot_mixste_27_n11_gt", "hot_mixste_27_wild", "hot_mixste_27_wild_vc"]
    variants = {m["variant"] for m in report["models"] if m["kind"] == "random"}
    assert variants == set(tpc_stability.pruning_variants())
    assert {"mixste.hot_mixste", "mixste.tpc_mixste", "mhformer.tpc_mhformer"} <= variants
    by_name = {m["name"]: m for m in report["models"]}
    assert by_name["hot_mixste_27_gt"]["keypoints"] == "gt"
    assert by_name["hot_mixste_27_wild"]["keypoints"] == "sh_pt_mpii"  # what its checkpoint was trained on
    assert by_name["hot_mixste_27_n11_gt"]["num_tokens"] == 11
    assert report["settings"]["quick"] and report["settings"]["seeds"] == [0, 1]
    assert report["command"].startswith("python -m tools.tpc_stability --quick")


def test_shares_are_fractions_and_the_unperturbed_rerun_changes_nothing(quick_report):
    report, _ = quick_report
    for m in report["models"]:
        assert m["inputs"]["windows"] >= 1 and m["inputs"]["subjects"] == ["S9"]
        assert m["frames_clustered"] == m["sizes"]["frames"] and m["num_tokens"] < m["frames_clustered"]
        assert m["capture_matches_model"], m["name"]  # recomputing from the captured z gives the model's frames
        rows = m["results"]
        assert set(rows) == {"none", "elementwise_s0", "elementwise_s1", "elementwise_mean", "scale", "attention"}
        for key, row in rows.items():
            for mode in ("reference", "exact"):
                cell = row[mode]
                assert 0.0 <= cell["share"] <= 1.0 and 0.0 <= cell["clips_changed"] <= 1.0, (m["name"], key, cell)
                assert cell["frames_changed"] >= 0 and (cell["share"] > 0) == (cell["frames_changed"] > 0)
                assert cell["share"] <= cell["clips_changed"] + 1e-12
        for mode in ("reference", "exact"):
            assert rows["none"][mode] == {"share": 0.0, "clips_changed": 0.0, "frames_changed": 0}
            mean = (rows["elementwise_s0"][mode]["share"] + rows["elementwise_s1"][mode]["share"]) / 2
            assert math.isclose(rows["elementwise_mean"][mode]["share"], mean, abs_tol=1e-12)
        assert 0.0 <= rows["attention"]["z_max_rel_diff"] < 1e-3  # two float32 paths to the same features


def test_markdown_has_one_row_per_model_and_the_command(quick_report):
    report, text = quick_report
    table = [line for line in text.splitlines() if line.startswith("| ") and "%" in line]
    assert len(table) == 2 * len(report["models"])  # main table + per-seed table
    assert "python -m tools.tpc_stability --quick" in text and "reference distances / exact distances" in text


def test_share_counts_frames_kept_in_one_choice_but_not_the_other():
    import torch

    a = torch.tensor([[0, 1, 2], [3, 4, 5]])
    b = torch.tensor([[0, 1, 3], [3, 4, 5]])
    changed = tpc_stability.changed_per_clip(a, b, frames=6)
    assert changed.tolist() == [1, 0]
    assert tpc_stability.summarise(changed, 3) == {"share": pytest.approx(1 / 6), "clips_changed": 0.5,
                                                   "frames_changed": 1}
