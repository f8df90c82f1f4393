"""tools.h2ot_compare end to end on a real slice (two configurations, a tiny budget, S9 Walking only)."""
from __future__ import annotations

import json
import math

import pytest

from tools.h2ot_compare import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_compare_trains_tests_times_and_writes_the_table(prepared_root, tmp_path):
    out = tmp_path / "bench"
    code = main(["--root_path", str(prepared_root), "--runs", str(tmp_path / "runs"), "--epochs", "1",
                 "--epoch_fraction", "0.002", "--only", "hot_9", "h2ot_sample_tri", "--repeats", "2", "--out", str(out),
                 "--engine_flags", "--subjects_train S1 --subjects_test S9 --actions Walking --subset 0.2"])
    assert code == 0
    report = json.loads((out / "h2ot_cpu.json").read_text())
    rows = {r["key"]: r for r in report["rows"]}
    assert set(rows) == {"hot_9", "h2ot_sample_tri"}
    assert rows["h2ot_sample_tri"]["schedule"] == "1:13,2:7" and rows["h2ot_sample_tri"]["strategies"] == \
        "sample / interpolation"
    assert rows["h2ot_sample_tri"]["flops_thop"] < rows["hot_9"]["flops_thop"]  # fewer FLOPs, by construction
    assert all(math.isfinite(r["p1"]) and r["p1"] > 0 and r["frames_per_s"] > 0 for r in rows.values())
    text = (out / "h2ot_cpu.md").read_text()
    assert "Quick check only" in text and (out / "h2ot_flops_p1.png").stat().st_size > 1000
