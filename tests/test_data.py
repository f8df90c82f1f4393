"""Data pipeline tests on the real Human3.6M files in ../shared/data/h36m (and small synthetic files).

Expensive loads are session-scoped: the GT-2D file is built once into a temporary folder, and each 2-D
source is loaded once for all subjects.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hot_pose.data.camera import image_coordinates, normalize_screen_coordinates, project_to_2d, qrot, world_to_camera
from hot_pose.data.dataset import (
    PoseWindowDataset,
    chunk_starts,
    deterministic_random,
    flip_pose,
    load_h36m,
    summarize_frames,
    temporal_slice,
)
from hot_pose.data.h36m import ACTIONS, CAMERA_IDS, DataError, Human36mDataset, h36m_cameras
from hot_pose.data.skeleton import h36m_skeleton
from hot_pose.training.metrics import ActionErrorAccumulator, mpjpe_per_sample, p_mpjpe_per_sample
from hot_pose.utils.safe_io import load_npz, load_pickle

ROOT = Path(__file__).resolve().parents[1]

#: frames per camera of every subject in data_3d_h36m.npz of ../shared/data (S9+S11 = 129,963)
FRAMES_PER_SUBJECT = {"S1": 62094, "S5": 87054, "S6": 62466, "S7": 89808, "S8": 64678, "S9": 73544, "S11": 56419}
#: sequences the SH 2-D file has and the 3-D file lacks
SKIPPED = {("S5", "Discussion 2"), ("S5", "Discussion 3"), ("S7", "Discussion"), ("S7", "SittingDown 1"),
           ("S9", "Discussion 1")}


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def gt_data(prepared_root):
    return load_h36m(prepared_root, keypoints="gt")


@pytest.fixture(scope="session")
def sh_data(h36m_dir):
    return load_h36m(h36m_dir, keypoints="sh_pt_mpii")


@pytest.fixture(scope="session")
def oracle(h36m_dir):
    npz = np.load(h36m_dir / "oracle" / "test_h36m_body3d.npz")
    frames = []
    for i, name in enumerate(npz["imgname"]):
        subject, rest = name.split("/")[1].split("_", 1)
        action, cam_id = rest.rsplit(".", 1)
        frame = int(name.rsplit("_", 1)[1].split(".")[0]) - 1  # 1-based file numbers
        frames.append((subject, action.replace("_", " "), CAMERA_IDS.index(cam_id), frame,
                       npz["part"][i, :, :2], npz["S"][i, :, :3]))
    return frames


# ------------------------------------------------------------------------------- setup and GT 2-D
def test_prepare_links_and_builds(prepared_root, h36m_dir):
    link = prepared_root / "data_3d_h36m.npz"
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))
    assert link.resolve() == (h36m_dir / "data_3d_h36m.npz").resolve()
    assert (prepared_root / "data_2d_h36m_sh_pt_mpii.npz").is_symlink()
    assert (prepared_root / "data_2d_h36m_gt.npz").is_file()
    assert not [p for p in prepared_root.iterdir() if ".tmp" in p.name]


def test_gt_2d_matches_oracle(prepared_root, oracle):
    npz = load_npz(prepared_root / "data_2d_h36m_gt.npz")
    positions, metadata = npz["positions_2d"].item(), npz["metadata"].item()
    assert metadata["num_joints"] == 17
    assert metadata["keypoints_symmetry"] == [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]
    for subject, action, cam_idx, frame, part, _ in oracle:
        kp = positions[subject][action][cam_idx][frame]
        assert np.abs(kp - part).max() < 0.01, (subject, action, cam_idx)


def test_camera_frame_3d_matches_oracle(gt_data, oracle):
    for subject, action, cam_idx, frame, _, s3d in oracle:
        pose = gt_data.sequences[(subject, action, cam_idx)].pose_3d[frame].astype(np.float64)
        absolute = pose.copy()
        absolute[1:] += pose[:1]  # the loader keeps joint 0 absolute, the others root-relative
        assert np.abs(absolute - s3d).max() < 1e-4, (subject, action, cam_idx)


def test_oracle_cameras_agree_with_ours(h36m_dir):
    cams = load_pickle(h36m_dir / "oracle" / "cameras.pkl")  # restricted: arrays, dicts, numbers only
    for subject in FRAMES_PER_SUBJECT:
        for cam, ours in zip(CAMERA_IDS, h36m_cameras(subject)):
            theirs = cams[(subject, cam)]
            assert np.allclose(theirs["f"].ravel(), ours.focal_length, atol=1e-3)
            assert np.allclose(theirs["c"].ravel(), ours.center, atol=1e-3)
            assert np.allclose(theirs["k"].ravel(), ours.radial_distortion, atol=1e-6)
            assert (theirs["w"], theirs["h"]) == (ours.res_w, ours.res_h)


# ----------------------------------------------------------------------------------------- loading
def test_gt_all_subjects(gt_data):
    assert summarize_frames(gt_data) == FRAMES_PER_SUBJECT
    assert sum(FRAMES_PER_SUBJECT[s] for s in ("S9", "S11")) == 129963
    assert gt_data.skipped == [] and gt_data.num_joints == 17
    assert len(gt_data.sequences) == 204 * 4
    assert (gt_data.kps_left, gt_data.kps_right) == ((4, 5, 6, 11, 12, 13), (1, 2, 3, 14, 15, 16))
    seq = gt_data.sequences[("S9", "Walking", 1)]
    assert seq.pose_2d.dtype == np.float32 and seq.pose_3d.dtype == np.float32 and seq.cam.shape == (9,)
    assert np.abs(seq.pose_2d[..., 0]).max() <= 1.0  # screen coordinates


def test_sh_all_subjects_skips_five(sh_data, gt_data):
    assert summarize_frames(sh_data) == FRAMES_PER_SUBJECT
    assert set(sh_data.skipped) == SKIPPED and len(sh_data.skipped) == 5
    assert sh_data.num_joints == 16
    assert (sh_data.joints_left, sh_data.joints_right) == ((4, 5, 6, 10, 11, 12), (1, 2, 3, 13, 14, 15))
    assert (sh_data.kps_left, sh_data.kps_right) == (sh_data.joints_left, sh_data.joints_right)
    # after the MPII → H36M permutation, detected joint j is closest to ground-truth joint j
    sh = sh_data.sequences[("S9", "Walking", 0)].pose_2d
    gt = np.delete(gt_data.sequences[("S9", "Walking", 0)].pose_2d, 9, axis=1)
    dist = np.linalg.norm(sh[:, None] - gt[:, :, None], axis=-1).mean(0)  # (16 sh, 16 gt)
    nearest = dist.argmin(axis=1)
    assert all(nearest[j] == j for j in range(16) if j != 9)
    # SH "Head" is the MPII head top; the H36M head lies between it and the upper neck (SH joint 8)
    assert nearest[9] in (8, 9) and dist[9, 9] < np.delete(dist[9], [8, 9]).min()
    gt_3d = gt_data.sequences[("S9", "Walking", 0)].pose_3d
    assert np.array_equal(sh_data.sequences[("S9", "Walking", 0)].pose_3d, np.delete(gt_3d, 9, axis=1))


def test_sh_completed_to_17_joints_keeps_all_3d(h36m_dir, sh_data, gt_data):
    """complete_16: the 16 detected joints are untouched, Neck/Nose is placed on the thorax→head segment, and
    the 3-D keeps all 17 joints (a 17-joint model trains on detections against the full skeleton)."""
    from hot_pose.data.dataset import NOSE_ALPHA

    full = load_h36m(h36m_dir, keypoints="sh_pt_mpii", subjects=["S9"], complete_16=True)
    assert full.num_joints == 17 and (full.kps_left, full.kps_right) == (gt_data.kps_left, gt_data.kps_right)
    assert (full.joints_left, full.joints_right) == (gt_data.joints_left, gt_data.joints_right)
    key = ("S9", "Walking", 0)
    two_d, sixteen = full.sequences[key].pose_2d, sh_data.sequences[key].pose_2d
    assert np.array_equal(np.delete(two_d, 9, axis=1), sixteen)
    expected = sixteen[:, 8] + NOSE_ALPHA * (sixteen[:, 9] - sixteen[:, 8])
    assert np.allclose(two_d[:, 9], expected, atol=1e-6)
    assert np.array_equal(full.sequences[key].pose_3d, gt_data.sequences[key].pose_3d)
    assert set(full.skipped) == {k for k in SKIPPED if k[0] == "S9"}
    gt17 = load_h36m(h36m_dir, keypoints="sh_pt_mpii", subjects=["S9"], complete_16=False)
    assert gt17.num_joints == 16  # off by default


def test_errors_name_file_and_fix(tmp_path, h36m_dir):
    with pytest.raises(DataError, match="data_2d_h36m_cpn_ft_h36m_dbb.npz.*download"):
        load_h36m(h36m_dir, keypoints="cpn_ft_h36m_dbb")
    with pytest.raises(DataError, match="prepare_data_h36m"):
        load_h36m(h36m_dir, keypoints="gt")
    with pytest.raises(DataError, match="not a folder"):
        load_h36m(tmp_path / "nowhere", keypoints="gt")
    with pytest.raises(DataError, match="no 2-D for subject"):
        load_h36m(h36m_dir, keypoints="sh_pt_mpii", subjects=["S2"])


def _write_npz(path: Path, **arrays) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


@pytest.fixture()
def tiny_root(tmp_path) -> Path:
    """A synthetic S9 with one 10-frame action, and a matching 17-joint 2-D file."""
    rng = np.random.default_rng(0)
    world = (rng.normal(scale=0.3, size=(10, 32, 3)) + np.array([0.0, 0.0, 1.0])).astype(np.float32)
    _write_npz(tmp_path / "data_3d_h36m.npz", positions_3d={"S9": {"Walking": world}})
    kp = [rng.uniform(0, 1000, size=(12, 17, 2)).astype(np.float32) for _ in range(4)]  # longer: cropped
    meta = {"num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    _write_npz(tmp_path / "data_2d_h36m_tiny.npz", positions_2d={"S9": {"Walking": kp}}, metadata=meta)
    return tmp_path


def test_tiny_loads_crops_and_warns_once(tiny_root, caplog):
    npz = load_npz(tiny_root / "data_2d_h36m_tiny.npz")
    positions, meta = npz["positions_2d"].item(), npz["metadata"].item()
    positions["S9"]["Discussion 1"] = positions["S9"]["Walking"]
    positions["S9"]["Eating"] = positions["S9"]["Walking"]
    _write_npz(tiny_root / "data_2d_h36m_tiny.npz", positions_2d=positions, metadata=meta)
    with caplog.at_level(logging.WARNING, logger="hot_pose.data.dataset"):
        data = load_h36m(tiny_root, keypoints="tiny")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "S9 Discussion 1, S9 Eating" in warnings[0]
    assert data.skipped == [("S9", "Discussion 1"), ("S9", "Eating")]
    seq = data.sequences[("S9", "Walking", 2)]
    assert seq.pose_2d.shape == (10, 17, 2) and seq.pose_3d.shape == (10, 17, 3)


@pytest.mark.parametrize("defect, message", [
    ("no_key", "no 'positions_2d'"),
    ("joints", "15 joints"),
    ("nan", "NaN/inf"),
    ("short", "frames but the 3-D has"),
    ("garbage", "cannot read"),
])
def test_malformed_2d_file(tiny_root, defect, message):
    path = tiny_root / "data_2d_h36m_tiny.npz"
    if defect == "garbage":
        path.write_bytes(b"not a zip file")
    else:
        npz = load_npz(path)
        positions, meta = npz["positions_2d"].item(), npz["metadata"].item()
        cams = positions["S9"]["Walking"]
        if defect == "joints":
            positions["S9"]["Walking"] = [c[:, :15] for c in cams]
            meta["num_joints"] = 15
        elif defect == "nan":
            cams[1][3, 2, 0] = np.nan
        elif defect == "short":
            positions["S9"]["Walking"] = [c[:8] for c in cams]
        arrays = {"other": np.zeros(1)} if defect == "no_key" else {"positions_2d": positions, "metadata": meta}
        _write_npz(path, **arrays)
    with pytest.raises(DataError, match=message) as info:
        load_h36m(tiny_root, keypoints="tiny")
    assert "data_2d_h36m_tiny.npz" in str(info.value)


def test_malformed_3d_file(tiny_root):
    positions = load_npz(tiny_root / "data_3d_h36m.npz")["positions_3d"].item()
    positions["S9"]["Walking"][0, 0, 0] = np.inf
    _write_npz(tiny_root / "data_3d_h36m.npz", positions_3d=positions)
    with pytest.raises(DataError, match="data_3d_h36m.npz.*NaN/inf"):
        load_h36m(tiny_root, keypoints="tiny")


# ------------------------------------------------------------------------------------------ windows
@pytest.mark.parametrize("n, starts", [
    (100, [-71]),
    (243, [0]),
    (244, [-121, 122]),
    (1000, [-107, 136, 379, 622, 865]),
    (1383, [-37, 206, 449, 692, 935, 1178]),
])
def test_seq2seq_worked_examples(n, starts):
    assert chunk_starts(n, 243, 243).tolist() == starts


def test_seq2frame_starts():
    assert chunk_starts(5, 243, 1).tolist() == [-121, -120, -119, -118, -117]
    assert chunk_starts(4, 351, 1)[0] == -175


def test_skeleton_is_fresh_and_flip_permutation():
    a, b = h36m_skeleton(), h36m_skeleton()
    assert a == b and a is not b
    assert a.parents == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
    assert a.kept == (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
    assert a.flip_permutation() == (0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13)
    sixteen = a.remove_joints([9])
    assert sixteen.num_joints == 16 and a.num_joints == 17 and sixteen.parents[9] == 8


def test_camera_math_roundtrip():
    cam = h36m_cameras("S11")[3]
    x = np.random.default_rng(4).normal(size=(7, 17, 3)) + np.array([0.0, 0.0, 4.0])
    q, t = np.asarray(cam.orientation), np.asarray(cam.translation)
    assert np.allclose(world_to_camera(x, q, t), qrot(np.array([q[0], *-q[1:]]), x - t))
    px = np.random.default_rng(5).uniform(0, 1000, size=(3, 2))
    assert np.allclose(image_coordinates(normalize_screen_coordinates(px, 1000, 1002), 1000, 1002), px)
    # projecting in normalised space then mapping to pixels equals projecting in pixels (VideoPose3D's way)
    norm = project_to_2d(x, cam.intrinsic(normalised=True).astype(np.float64))
    assert np.allclose(image_coordinates(norm, cam.res_w, cam.res_h), cam.project(x), atol=1e-3)
    batched = project_to_2d(x, np.tile(cam.intrinsic(False).astype(np.float64), (7, 1)))
    assert np.allclose(batched, cam.project(x))


def test_windows_of_real_sequence(gt_data):
    ds = PoseWindowDataset(gt_data, ["S9"], frames=243, stride=243, train=False, actions=["Walking"])
    seqs = [(s.action, s.cam_idx) for s in ds.sequences]
    assert sorted(seqs) == [(a, c) for a in ("Walking", "Walking 1") for c in range(4)]
    assert [c for _, c in seqs] == [0, 1, 2, 3, 0, 1, 2, 3]  # cameras in order within a sequence
    first_seq = [i for i, s in enumerate(ds.sequences) if (s.action, s.cam_idx) == ("Walking", 0)][0]
    offset = int(np.searchsorted(ds.samples[:, 0], first_seq))
    n = len(gt_data.sequences[("S9", "Walking", 0)])
    assert n == 1612
    starts = chunk_starts(n, 243, 243)
    assert starts.tolist() == [-44, 199, 442, 685, 928, 1171, 1414]
    first = ds[offset]
    assert first["input_2d"].shape == (2, 243, 17, 2) and first["gt_3d"].shape == (243, 17, 3)
    assert first["start"] == -44 and first["action"] == "Walking" and first["subject"] == "S9"
    assert first["valid"].sum() == 199 and not first["valid"][:44].any()
    seq = gt_data.sequences[("S9", "Walking", 0)]
    assert torch.equal(first["gt_3d"][:44], torch.from_numpy(seq.pose_3d[[0] * 44]))  # edge replication
    assert torch.equal(first["gt_3d"][44:], torch.from_numpy(seq.pose_3d[:199]))
    last = ds[offset + 6]
    assert last["start"] == 1414 and last["valid"].sum() == n - 1414
    assert torch.equal(last["input_2d"][0, -1], torch.from_numpy(seq.pose_2d[-1]))
    # test-time flip pair; the target is never flipped at test time
    mirrored = flip_pose(first["input_2d"][0].numpy(), ds.kps_left, ds.kps_right)
    assert torch.equal(first["input_2d"][1], torch.from_numpy(mirrored))
    assert len(ds) == 4 * 7 + 4 * len(chunk_starts(len(gt_data.sequences[("S9", "Walking 1", 0)]), 243, 243))


def test_seq2frame_windows_are_centred(gt_data):
    ds = PoseWindowDataset(gt_data, ["S11"], frames=27, stride=1, train=False, actions="Eating", downsample=4)
    seq = ds.sequences[0]
    assert len(ds) == sum(len(s) for s in ds.sequences)
    for i in (0, 5, len(seq) - 1):
        item = ds[i]
        assert item["start"] == i - 13
        assert torch.equal(item["gt_3d"][13], torch.from_numpy(seq.pose_3d[i]))
        assert bool(item["valid"][13])


def test_training_flip_and_reverse(gt_data):
    ds = PoseWindowDataset(gt_data, ["S9"], frames=81, stride=81, train=True, actions=["Posing"],
                           flip_aug=True, reverse_aug=True)
    plain = [i for i in range(len(ds)) if not ds[i]["flip"] and not ds[i]["reverse"]]
    assert len(ds) == 4 * len(plain)
    i = plain[1]
    base = ds[i]
    assert base["input_2d"].shape == (81, 17, 2)
    n_win = len(plain) // len(ds.sequences)
    flipped = ds[[j for j in range(len(ds)) if ds[j]["flip"] and not ds[j]["reverse"]][1]]
    assert flipped["start"] == base["start"] and n_win >= 2
    sk = h36m_skeleton()
    perm = list(sk.flip_permutation())
    expected_3d = base["gt_3d"][:, perm] * torch.tensor([-1.0, 1.0, 1.0])
    assert torch.equal(flipped["gt_3d"], expected_3d)
    assert torch.equal(flipped["input_2d"], base["input_2d"][:, perm] * torch.tensor([-1.0, 1.0]))
    assert torch.equal(flipped["cam"][[2, 7]], -base["cam"][[2, 7]])
    # flipping twice is the identity, for 2-D and 3-D
    assert np.array_equal(flip_pose(flip_pose(base["gt_3d"].numpy(), sk.joints_left, sk.joints_right),
                                    sk.joints_left, sk.joints_right), base["gt_3d"].numpy())
    reversed_ = ds[[j for j in range(len(ds)) if ds[j]["reverse"] and not ds[j]["flip"]][1]]
    assert torch.equal(reversed_["input_2d"], base["input_2d"].flip(0))
    assert torch.equal(reversed_["valid"], base["valid"].flip(0))


def test_action_filter_is_exact(gt_data):
    ds = PoseWindowDataset(gt_data, ["S9", "S11"], frames=27, stride=27, train=False, actions="Sitting")
    assert {s.action for s in ds.sequences} == {"Sitting", "Sitting 1"}
    with pytest.raises(ValueError, match="unknown action"):
        PoseWindowDataset(gt_data, ["S9"], frames=27, stride=27, train=False, actions=["Sit"])


def test_downsample_and_subset(gt_data):
    n = len(gt_data.sequences[("S9", "Walking", 0)])
    ds = PoseWindowDataset(gt_data, ["S9"], frames=9, stride=9, train=False, actions="Walking", downsample=5)
    seq = [s for s in ds.sequences if (s.action, s.cam_idx) == ("Walking", 0)][0]
    assert len(seq) == len(range(0, n, 5))
    assert np.array_equal(seq.pose_3d, gt_data.sequences[("S9", "Walking", 0)].pose_3d[::5])
    cut = temporal_slice(n, downsample=2, subset=0.1)
    assert cut.step == 2 and cut.stop - cut.start == round(n // 2 * 0.1) * 2
    assert cut.start == deterministic_random(0, n - (cut.stop - cut.start) + 1, str(n))
    assert deterministic_random(0, 100, "1612") == deterministic_random(0, 100, "1612")


def test_dataloader_workers_match_single_process(gt_data):
    ds = PoseWindowDataset(gt_data, ["S11"], frames=27, stride=27, train=True, actions="Walking", downsample=8)
    single = list(DataLoader(ds, batch_size=16, shuffle=False, num_workers=0))
    multi = list(DataLoader(ds, batch_size=16, shuffle=False, num_workers=2))
    assert len(single) == len(multi)
    for a, b in zip(single, multi):
        assert torch.equal(a["input_2d"], b["input_2d"]) and torch.equal(a["gt_3d"], b["gt_3d"])
        assert a["action"] == b["action"] and torch.equal(a["start"], b["start"])


# ------------------------------------------------------------------------------------ metrics, real
def test_metrics_on_real_test_set(gt_data):
    ds = PoseWindowDataset(gt_data, ["S9", "S11"], frames=27, stride=27, train=False, downsample=50)
    acc = ActionErrorAccumulator()
    gen = torch.Generator().manual_seed(0)
    offset = torch.tensor([0.006, -0.008, 0.0])  # 10 mm on every non-root joint
    for batch in DataLoader(ds, batch_size=64):
        gt = batch["gt_3d"].clone()
        gt[:, :, 0] = 0  # the protocol zeroes the root
        assert float(mpjpe_per_sample(gt, gt).abs().max()) == 0.0
        shifted = gt.clone()
        shifted[:, :, 1:] += offset
        p1 = mpjpe_per_sample(shifted, gt)
        assert torch.allclose(p1, torch.full_like(p1, 0.010 * 16 / 17), atol=1e-6)
        noisy = gt + 0.02 * torch.randn(gt.shape, generator=gen)
        p1, p2 = mpjpe_per_sample(noisy, gt), p_mpjpe_per_sample(noisy, gt)
        assert torch.all(p2 <= p1 + 1e-6)
        acc.update(batch["action"], p1, p2)
    table = acc.per_action()
    assert list(table) == list(ACTIONS) and all(r["samples"] > 0 for r in table.values())
    assert len(acc.table().splitlines()) == 17


# ------------------------------------------------------------------------------------------ baseline
def test_baseline_cli_end_to_end(prepared_root, tmp_path, capsys):
    from tools.baseline import main

    report = tmp_path / "baseline.json"
    argv = ["--root_path", str(prepared_root), "--keypoints", "gt", "--method", "linear", "--subjects_train", "S9",
            "--subjects_test", "S11", "--frames", "27", "--downsample", "40", "--fit_downsample", "20",
            "--report", str(report), "--markdown", str(tmp_path / "baseline.md")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = [line.split()[0] for line in out.splitlines() if line and line.split()[0] in ACTIONS]
    assert rows == list(ACTIONS)
    loaded = json.loads(report.read_text())
    assert 20 < loaded["results"]["p1"] < 300 and loaded["results"]["p2"] <= loaded["results"]["p1"]
    assert loaded["protocol"]["subjects"] == ["S11"] and loaded["protocol"]["keypoints"] == "gt"
    assert (tmp_path / "baseline.md").read_text().count("\n") == 4
    assert main(["--root_path", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ safe loading
class _RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_data_files_never_run_code(tmp_path):
    """A VideoPose3D-layout npz (or pickle) whose pickle would call os.system is refused with one line naming
    the file and the object; the call never happens. Plain dicts of arrays still load."""
    import pickle

    from hot_pose.utils.safe_io import UnsafeFileError

    marker = tmp_path / "PWNED"
    np.savez(tmp_path / "evil.npz", positions_3d=np.array({"S1": {"Walking": _RunsCode(marker)}}, dtype=object))
    with pytest.raises(UnsafeFileError, match=r"evil.npz.*'posix.system'"):
        load_npz(tmp_path / "evil.npz")
    with pytest.raises(DataError, match="refusing to load the pickled object 'posix.system'") as info:
        Human36mDataset(tmp_path / "evil.npz")
    assert "\n" not in str(info.value)
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"cams": _RunsCode(marker)}))
    with pytest.raises(UnsafeFileError, match="posix.system"):
        load_pickle(tmp_path / "evil.pkl")
    assert not marker.exists()
    np.savez(tmp_path / "ok.npz", positions_3d={"S1": {"Walking": np.zeros((2, 32, 3), np.float32)}}, n=np.arange(3))
    with pytest.raises(UnsafeFileError, match="plain numeric arrays"):
        load_npz(tmp_path / "ok.npz", allow_objects=False)
    arrays = load_npz(tmp_path / "ok.npz")
    assert arrays["positions_3d"].item()["S1"]["Walking"].shape == (2, 32, 3) and arrays["n"].tolist() == [0, 1, 2]
