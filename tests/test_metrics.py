"""Unit tests of hot_pose/training/metrics.py on synthetic poses (the real-data checks are in test_data.py)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from hot_pose.data.h36m import ACTIONS, canonical_action, parse_actions
from hot_pose.training.metrics import (
    ActionErrorAccumulator,
    mpjpe,
    mpjpe_per_sample,
    mpjve,
    p_mpjpe_per_sample,
    procrustes_align,
    write_eval_report,
)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def reference_p2(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The reference's P2 formula written independently, pose by pose: (N, J, 3) → (N,)."""
    out = []
    for y, x in zip(pred.astype(np.float64), target.astype(np.float64)):
        mx, my = x.mean(0), y.mean(0)
        x0, y0 = x - mx, y - my
        nx, ny = np.linalg.norm(x0), np.linalg.norm(y0)
        x0, y0 = x0 / nx, y0 / ny
        u, s, vt = np.linalg.svd(x0.T @ y0)
        v = vt.T
        r = v @ u.T
        if np.linalg.det(r) < 0:
            v[:, -1] *= -1
            s[-1] *= -1
            r = v @ u.T
        a = s.sum() * nx / ny
        aligned = a * y @ r + (mx - a * my @ r)
        out.append(np.linalg.norm(aligned - x, axis=-1).mean())
    return np.array(out)


def test_canonical_action_and_parse():
    assert canonical_action("SittingDown 1") == "SittingDown"
    assert canonical_action("Sitting") == "Sitting"
    assert parse_actions("*") is None and parse_actions(None) is None
    assert parse_actions("Sitting") == ["Sitting"]
    assert parse_actions("Walking, WalkDog") == ["Walking", "WalkDog"]
    with pytest.raises(ValueError, match="unknown action"):
        parse_actions("Sit")
    assert len(ACTIONS) == 15 and len(set(ACTIONS)) == 15


def test_mpjpe_known_offset():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(4, 5, 17, 3))
    offset = np.array([0.003, 0.004, 0.012])  # |offset| = 0.013
    assert float(mpjpe(target + offset, target)) == pytest.approx(0.013)
    per = mpjpe_per_sample(target + offset, target)
    assert per.shape == (4,) and np.allclose(per, 0.013)
    assert float(mpjpe(target, target)) == 0.0


def test_mpjpe_per_sample_valid_mask_and_torch():
    target = torch.zeros(2, 4, 17, 3)
    pred = target.clone()
    pred[:, :2] += torch.tensor([0.0, 0.0, 0.01])  # frames 0, 1 off by 10 mm
    valid = torch.tensor([[True, True, False, False], [False, False, True, True]])
    out = mpjpe_per_sample(pred, target, valid)
    assert isinstance(out, torch.Tensor)
    assert torch.allclose(out, torch.tensor([0.01, 0.0]))
    assert torch.allclose(mpjpe_per_sample(pred, target), torch.tensor([0.005, 0.005]))
    single = mpjpe_per_sample(pred[:, 0].numpy(), target[:, 0].numpy())  # (B, J, 3)
    assert single.shape == (2,) and np.allclose(single, 0.01)


def test_p2_matches_independent_formula_and_is_per_sample():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(6, 3, 17, 3))
    pred = target + rng.normal(scale=0.2, size=target.shape)
    p2 = p_mpjpe_per_sample(pred, target)
    expected = reference_p2(pred.reshape(-1, 17, 3), target.reshape(-1, 17, 3)).reshape(6, 3).mean(1)
    np.testing.assert_allclose(p2, expected, rtol=1e-6, atol=1e-9)
    # a sample's P2 does not depend on its batch companions
    np.testing.assert_allclose(p_mpjpe_per_sample(pred[2:3], target[2:3]), p2[2:3], rtol=1e-6)
    assert np.all(p2 <= mpjpe_per_sample(pred, target) + 1e-9)


def test_p2_invariant_to_similarity_not_reflection():
    rng = np.random.default_rng(2)
    target = rng.normal(size=(5, 17, 3))
    rot = random_rotation(rng)
    pred = 1.7 * target @ rot + np.array([0.3, -2.0, 5.0])
    assert np.allclose(p_mpjpe_per_sample(pred, target), 0.0, atol=1e-7)
    assert np.allclose(procrustes_align(torch.as_tensor(pred), torch.as_tensor(target)).numpy(), target, atol=1e-7)
    mirrored = target * np.array([-1.0, 1.0, 1.0])
    assert np.all(p_mpjpe_per_sample(mirrored, target) > 1e-3)


def test_p2_degenerate_prediction_is_finite():
    target = np.random.default_rng(3).normal(size=(2, 17, 3))
    p2 = p_mpjpe_per_sample(np.zeros_like(target), target)
    assert np.all(np.isfinite(p2))


def test_mpjve_known_value():
    target = np.zeros((1, 3, 2, 3))
    pred = target.copy()
    pred[0, 1:, :, 0] = 0.02  # velocity error 0.02 between frames 0→1, 0 between 1→2
    assert float(mpjve(pred, target)) == pytest.approx(0.01)
    with pytest.raises(ValueError):
        mpjve(pred[:, :1], target[:, :1])


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        mpjpe_per_sample(np.zeros((2, 17, 3)), np.zeros((2, 16, 3)))


def test_accumulator_weights_and_exact_names():
    acc = ActionErrorAccumulator()
    acc.update(["Sitting 1", "Sitting", "SittingDown"], [0.010, 0.020, 0.100], [0.005, 0.010, 0.050])
    table = acc.per_action()
    assert table["Sitting"]["p1"] == pytest.approx(15.0) and table["Sitting"]["samples"] == 2
    assert table["SittingDown"]["p1"] == pytest.approx(100.0) and table["SittingDown"]["samples"] == 1
    assert math.isnan(table["Walking"]["p1"])
    summary = acc.summary()
    assert summary["p1"] == pytest.approx((15.0 + 100.0) / 2)  # unweighted over actions with samples
    assert summary["p2"] == pytest.approx((7.5 + 50.0) / 2) and summary["samples"] == 3
    with pytest.raises(ValueError, match="not among"):
        acc.update(["Dancing"], [0.1], [0.1])
    sitting_only = ActionErrorAccumulator(actions=["Sitting"])
    with pytest.raises(ValueError):
        sitting_only.update(["SittingDown 1"], [0.1], [0.1])


def test_accumulator_p2_compat_mixed_batch():
    acc = ActionErrorAccumulator(p2_compat=True)
    acc.update(["Walking 1", "Walking"], [0.01, 0.03], [0.01, 0.03])  # full names differ: mixed batch
    assert acc.per_action()["Walking"]["p2"] == pytest.approx(20.0)
    acc2 = ActionErrorAccumulator(p2_compat=True)
    acc2.update(["Eating", "Phoning"], [0.01, 0.03], [0.01, 0.03])
    assert acc2.per_action()["Eating"]["p2"] == pytest.approx(20.0)  # the batch mean, as the reference
    assert acc2.per_action()["Eating"]["p1"] == pytest.approx(10.0)  # P1 stays per sample
    exact = ActionErrorAccumulator()
    exact.update(["Eating", "Phoning"], [0.01, 0.03], [0.01, 0.03])
    assert exact.per_action()["Eating"]["p2"] == pytest.approx(10.0)


def test_table_and_report(tmp_path):
    acc = ActionErrorAccumulator()
    acc.update(list(ACTIONS), np.full(15, 0.04), torch.full((15,), 0.03))
    text = acc.table()
    lines = text.splitlines()
    assert len(lines) == 17 and lines[-1].startswith("Average")
    for action in ACTIONS:
        assert any(line.split()[0] == action for line in lines)
    report = acc.to_dict()
    assert report["p1"] == pytest.approx(40.0) and report["p2"] == pytest.approx(30.0)
    assert set(report["per_action"]) == set(ACTIONS)
    empty = ActionErrorAccumulator().to_dict()
    path = write_eval_report(tmp_path / "sub" / "eval.json", empty, {"keypoints": "gt", "frames": 243})
    loaded = json.loads(path.read_text())
    assert loaded["protocol"]["frames"] == 243 and loaded["results"]["p1"] is None  # NaN → null
    assert [p.name for p in path.parent.iterdir()] == ["eval.json"]  # no temp file left
