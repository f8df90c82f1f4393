"""Losses, recipes, the global-batch sampler and the evaluation helpers of the engine (no data needed)."""
from __future__ import annotations

import math

import pytest
import torch

from hot_pose.training.evaluate import scored_frames, take_frames, unflip_pose
from hot_pose.training.loss import (
    H36M_JOINT_WEIGHTS,
    joint_weights,
    mean_velocity,
    mixste_loss,
    mpjpe,
    temporal_consistency,
    weighted_mpjpe,
)
from hot_pose.training.recipes import MHFORMER, MHFORMER_TPC, MIXSTE, MIXSTE_TPC, lr_factor
from hot_pose.training.train import GlobalBatchSampler, add_noise_2d, shard_range
from hot_pose.utils.runtime import AverageMeter, get_rng_state, set_rng_state


def _loops_reference(pred, target, w):
    """The three MixSTE terms written as plain loops (independent check)."""
    b, f, j, _ = pred.shape
    wm = sum(w[jj] * torch.norm(pred[bb, t, jj] - target[bb, t, jj]) for bb in range(b) for t in range(f)
             for jj in range(j)) / (b * f * j)
    tc = sum(w[jj] * (pred[bb, t + 1, jj, c] - pred[bb, t, jj, c]) ** 2 for bb in range(b) for t in range(f - 1)
             for jj in range(j) for c in range(3)) / (b * (f - 1) * j * 3)
    vel = sum(torch.norm((pred[bb, t + 1, jj] - pred[bb, t, jj]) - (target[bb, t + 1, jj] - target[bb, t, jj]))
              for bb in range(b) for t in range(f - 1) for jj in range(j)) / (b * (f - 1) * j)
    return wm, tc, vel


def test_mixste_terms_match_loops():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 4, 17, 3, generator=g), torch.randn(2, 4, 17, 3, generator=g)
    w = joint_weights(17)
    wm, tc, vel = _loops_reference(pred.double(), target.double(), w.double())
    assert weighted_mpjpe(pred, target, w).item() == pytest.approx(wm.item(), rel=1e-5)
    assert temporal_consistency(pred, w).item() == pytest.approx(tc.item(), rel=1e-5)
    assert mean_velocity(pred, target).item() == pytest.approx(vel.item(), rel=1e-5)
    assert mixste_loss(pred, target).item() == pytest.approx((wm + 0.5 * tc + 2.0 * vel).item(), rel=1e-5)


def test_joint_weights_and_mpjpe():
    assert joint_weights(17).tolist() == list(H36M_JOINT_WEIGHTS)
    w16 = joint_weights(16).tolist()
    assert len(w16) == 16 and w16[9] == 1.5 and w16[:9] == list(H36M_JOINT_WEIGHTS[:9])  # neck/nose removed
    assert joint_weights(5).tolist() == [1.0] * 5
    pred = torch.zeros(1, 2, 3, 3)
    target = torch.zeros(1, 2, 3, 3)
    target[..., 0] = 3.0
    target[..., 1] = 4.0
    assert mpjpe(pred, target).item() == pytest.approx(5.0)
    assert temporal_consistency(pred[:, :1], joint_weights(3)).item() == 0.0  # single frame: no velocity


def test_recipes_and_lr_schedule():
    assert (MIXSTE.seed, MIXSTE_TPC.seed, MHFORMER.seed, MHFORMER_TPC.seed) == (1126, 1126, 1, 1)
    p = [torch.nn.Parameter(torch.zeros(2))]
    opt = MIXSTE.make_optimizer(p, 4e-5)
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["weight_decay"] == 0.1
    opt = MHFORMER.make_optimizer(p, 1e-3)
    assert type(opt) is torch.optim.Adam and opt.defaults["amsgrad"] and opt.defaults["weight_decay"] == 0
    # MHFormer README recipe: x0.95 on epochs 1-4, x0.5 after epoch 5
    factors = [lr_factor(e, 0.95, 0.5, 5) for e in range(1, 11)]
    assert factors == [0.95] * 4 + [0.5] + [0.95] * 4 + [0.5]
    lr = 4e-5
    for e in range(1, 160):
        lr *= lr_factor(e, 0.99, 0.5, 200)
    assert lr == pytest.approx(4e-5 * 0.99 ** 159)


def test_global_batch_sampler_splits_global_batches():
    single = GlobalBatchSampler(23, 6, seed=3)
    single.set_epoch(2)
    batches = list(single)
    assert [len(b) for b in batches] == [6, 6, 6, 5]
    assert sorted(i for b in batches for i in b) == list(range(23))
    parts = []
    for rank in range(2):
        s = GlobalBatchSampler(23, 6, rank=rank, world_size=2, seed=3)
        s.set_epoch(2)
        parts.append(list(s))
    assert [a + b for a, b in zip(*parts)] == batches  # rank parts concatenate to the global batch
    # loss shares: b_r * world / global batch; they sum to world per step
    s0 = GlobalBatchSampler(23, 6, rank=0, world_size=2)
    assert s0.share(3, 0) == 1.0 and s0.share(3, 3) == pytest.approx(3 * 2 / 5)
    assert list(GlobalBatchSampler(23, 6, rank=0, world_size=2, seed=3)) != batches  # epoch matters
    tiny = GlobalBatchSampler(7, 6, rank=1, world_size=2)  # last global batch of 1 < 2 processes: dropped
    assert len(tiny) == 1
    assert [list(shard_range(10, r, 3)) for r in range(3)] == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]


def test_unflip_and_scored_frames():
    pose = torch.arange(2 * 5 * 4 * 3, dtype=torch.float32).reshape(2, 5, 4, 3)
    un = unflip_pose(pose, [1], [2])
    assert torch.equal(un[..., 1, 0], -pose[..., 2, 0]) and torch.equal(un[..., 3, 1:], pose[..., 3, 1:])
    assert torch.equal(unflip_pose(un, [1], [2]), pose)
    gt = torch.randn(2, 5, 4, 3)
    pred, target = scored_frames(pose, None, gt, seq2frame=True, centre=2)
    assert pred.shape == (2, 1, 4, 3) and torch.equal(pred[:, 0, 1:], pose[:, 2, 1:]) and (pred[..., 0, :] == 0).all()
    index = torch.tensor([[0, 2, 4], [1, 2, 3]])
    kept = pose[:, :3]  # a TPC model outputs only its 3 kept frames
    pred, target = scored_frames(kept, index, gt, seq2frame=True, centre=2)
    assert torch.equal(pred[:, 0, 1:], kept[:, 1, 1:]) and torch.equal(target[:, 0, 1:], gt[:, 2, 1:])
    pred, target = scored_frames(kept, index, gt, seq2frame=False, centre=2)
    assert torch.equal(target[1, :, 1:], gt[1, 1:4, 1:]) and torch.equal(take_frames(gt, index)[0, 2], gt[0, 4])
    with pytest.raises(RuntimeError, match="centre"):
        scored_frames(kept, torch.tensor([[0, 1, 3], [1, 2, 3]]), gt, seq2frame=True, centre=2)


def test_rng_roundtrip_and_meter():
    state = get_rng_state()
    a = (torch.rand(3), __import__("random").random(), __import__("numpy").random.rand())
    set_rng_state(state)
    b = (torch.rand(3), __import__("random").random(), __import__("numpy").random.rand())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]
    m = AverageMeter()
    m.update(2.0, 3)
    m.update(4.0, 1)
    assert m.avg == pytest.approx(2.5) and not math.isnan(AverageMeter().avg)


def test_flip_pass_reuses_the_index():
    from hot_pose.models.config import LiftOutput
    from hot_pose.training.evaluate import predict

    calls = []

    class Fake(torch.nn.Module):
        def forward(self, x, index=None):
            calls.append(index)
            kept = torch.tensor([[0, 2]]) if index is None else index
            return LiftOutput(x[:, kept[0], :, :1].repeat(1, 1, 1, 3), kept, kept)

    x = torch.randn(1, 2, 3, 4, 2)
    pose, index = predict(Fake(), x, True, [1], [2])
    assert calls[0] is None and torch.equal(calls[1], torch.tensor([[0, 2]])) and torch.equal(index, calls[1])
    assert pose.shape == (1, 2, 4, 3)


def test_epoch_fraction_draws_a_fresh_subset_each_epoch():
    s = GlobalBatchSampler(100, 8, seed=5, fraction=0.25)
    s.set_epoch(1)
    first = [i for b in s for i in b]
    s.set_epoch(2)
    second = [i for b in s for i in b]
    assert len(first) == len(second) == 25 and len(set(first)) == 25 and set(first) != set(second)
    assert len(s) == 4 and s.share(1, 3) == 1.0
    with pytest.raises(ValueError, match="fraction"):
        GlobalBatchSampler(10, 2, fraction=1.5)
    with pytest.raises(ValueError, match="shuffling"):
        GlobalBatchSampler(10, 2, shuffle=False, fraction=0.5)


def test_noise_2d_jitters_each_window_with_its_own_scale():
    torch.manual_seed(0)
    x = torch.zeros(512, 9, 17, 2)
    assert add_noise_2d(x, 0.0) is x
    noisy = add_noise_2d(x, 0.02)
    per_window = noisy.flatten(1).std(dim=1)
    assert 0.0 <= per_window.min() < 0.002 and 0.018 < per_window.max() <= 0.0215  # std ~ U[0, 0.02]
    assert per_window.mean() == pytest.approx(0.01, abs=0.001)


def test_complete_h36m16_places_the_nose_between_thorax_and_head():
    from hot_pose.data.dataset import NOSE_ALPHA, complete_h36m16
    from hot_pose.training.evaluate import JointCompletion
    x = torch.randn(2, 5, 16, 3)
    full = complete_h36m16(x)
    assert full.shape == (2, 5, 17, 3)
    assert torch.equal(full[..., :9, :], x[..., :9, :]) and torch.equal(full[..., 10:, :], x[..., 9:, :])
    assert torch.allclose(full[..., 9, :2], x[..., 8, :2] + NOSE_ALPHA * (x[..., 9, :2] - x[..., 8, :2]))
    assert torch.equal(full[..., 9, 2], x[..., 9, 2])  # confidence copied from the head

    class Echo(torch.nn.Module):  # returns its input as the "pose": shows what the wrapped model receives
        def forward(self, inp):
            from hot_pose.models.config import LiftOutput
            return LiftOutput(torch.cat([inp, inp[..., :1]], -1))

    out = JointCompletion(Echo())(x[..., :2])
    assert out.pose.shape == (2, 5, 16, 3) and torch.equal(out.pose[..., :2], x[..., :2])
    with pytest.raises(ValueError, match="16 joints"):
        complete_h36m16(full)
