"""The compact data pack (hot_pose/data/pack.py) against the npz files it is built from, on real Human3.6M:
same sequences and windows, targets within the 0.1 mm rounding, and the same P1 of a shipped model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hot_pose.models as model
from hot_pose.data.dataset import PoseWindowDataset, load_h36m
from hot_pose.data.h36m import DataError, Human36mDataset
from hot_pose.data.pack import PACK_NAME, build_pack, find_pack, load_pack
from hot_pose.training.arguments import parse_args
from hot_pose.training.engine import run
from hot_pose.training.recipes import MIXSTE

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]
SUBJECTS = ["S1", "S9", "S11"]


@pytest.fixture(scope="module")
def pack(h36m_dir, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pack") / PACK_NAME
    counts = build_pack(h36m_dir / "data_3d_h36m.npz", path, subjects=SUBJECTS)
    assert list(counts) == SUBJECTS and all(n > 50_000 for n in counts.values())
    return path


def test_pack_is_small_and_holds_the_17_joint_mocap(pack, h36m_dir):
    # 3 of 7 subjects: the full pack is ~30 MiB (45 % of the frames here → well under half of 50 MiB)
    assert pack.stat().st_size < 0.5 * 50 * 2**20
    packed = load_pack(pack)
    mocap = Human36mDataset(h36m_dir / "data_3d_h36m.npz", subjects=SUBJECTS)
    assert packed.subjects() == mocap.subjects()
    for subject in SUBJECTS:
        assert list(packed[subject]) == list(mocap[subject])
        assert packed.cameras(subject) == mocap.cameras(subject)
        for action, pos in mocap[subject].items():
            got = packed[subject][action]
            assert got.shape == pos.shape and got.dtype == np.float32
            assert np.array_equal(got[:, 0], pos[:, 0])  # the root trajectory is exact
            rel, rel_ref = got[:, 1:] - got[:, :1], pos[:, 1:] - pos[:, :1]
            assert np.abs(rel - rel_ref).max() <= 0.5e-4 + 2e-6  # half a 0.1 mm step (+ float32 noise)


def test_pack_gives_the_same_windows_and_2d(pack, prepared_root):
    npz = load_h36m(prepared_root, "gt", subjects=SUBJECTS)
    packed = load_h36m(pack, "gt", subjects=SUBJECTS)
    in_folder = load_h36m(pack.parent, "gt", subjects=["S11"])  # a folder holding only the pack
    assert in_folder.files == [str(pack)] and np.array_equal(
        in_folder.sequences[("S11", "Walking", 2)].pose_2d, packed.sequences[("S11", "Walking", 2)].pose_2d)
    assert list(packed.sequences) == list(npz.sequences)
    assert (packed.kps_left, packed.kps_right) == (npz.kps_left, npz.kps_right)
    for key, seq in npz.sequences.items():
        other = packed.sequences[key]
        assert len(other) == len(seq) and np.array_equal(other.cam, seq.cam)
        assert np.abs(other.pose_3d[:, 1:] - seq.pose_3d[:, 1:]).max() < 1e-4  # metres
        assert np.abs(other.pose_2d - seq.pose_2d).max() * 500 < 0.05  # pixels (1000-px images)
    for subjects, train, stride in ((["S1"], True, 27), (["S9", "S11"], False, 27), (["S9"], False, 1)):
        a = PoseWindowDataset(npz, subjects, frames=27, stride=stride, train=train)
        b = PoseWindowDataset(packed, subjects, frames=27, stride=stride, train=train)
        assert np.array_equal(a.samples, b.samples)
        i = len(a) // 2
        assert a[i]["action"] == b[i]["action"] and float(np.abs(a[i]["input_2d"] - b[i]["input_2d"]).max()) < 1e-4


def test_pack_gives_the_same_p1_through_the_test_cli(pack, prepared_root, tmp_path):
    reports = []
    for root in (prepared_root, pack):
        # the unpruned shipped model: tiny input differences cannot change which of two near-tied frames TPC keeps
        argv = ["--test", "--previous_dir", str(ROOT / "hot_pose" / "checkpoints" / "mixste_27_gt"),
                "--root_path", str(root), "--keypoints", "gt", "--subjects_test", "S9,S11",
                "--actions", "Walking,Sitting", "--stride", "27", "--subset", "0.1", "--no_progress",
                "--batch_size", "64",
                "--report", str(tmp_path / f"r{len(reports)}.json")]
        reports.append(run(parse_args(argv, **MIXSTE.defaults), MIXSTE, model))
    p1 = [r.p1 for r in reports]
    assert 20 < p1[0] < 80  # a real evaluation
    assert abs(p1[1] - p1[0]) <= 0.01, p1
    assert abs(reports[1].p2 - reports[0].p2) <= 0.01


def test_find_pack_rule(pack, prepared_root, tmp_path):
    assert find_pack(pack) == pack
    assert find_pack(pack.parent, [pack.parent / "data_3d_h36m.npz"]) == pack
    assert find_pack(prepared_root, [prepared_root / "data_3d_h36m.npz", prepared_root / "data_2d_h36m_gt.npz"]) is None
    assert find_pack(tmp_path, [tmp_path / "data_3d_h36m.npz"]) is None  # no pack there


def test_pack_bad_input(pack, tmp_path):
    with pytest.raises(DataError, match="only --keypoints gt"):
        load_h36m(pack, "sh_pt_mpii")
    with pytest.raises(DataError, match="no 3-D data for subject"):
        load_pack(pack, subjects=["S5"])
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(pack.read_bytes()[: 1 << 20])
    with pytest.raises(DataError, match="rebuild the pack"):
        load_pack(truncated)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, format=np.array("something/9"), x=np.zeros(3))
    with pytest.raises(DataError, match="not a data pack of this version"):
        load_pack(foreign)
    with pytest.raises(DataError, match="data pack not found"):
        load_pack(tmp_path / "missing.npz")


@pytest.mark.parametrize("name, change, needle", [
    ("no_unit", lambda a: a.pop("unit"), "it lacks the array(s) unit"),
    ("no_extrinsics", lambda a: a.pop("cam_extrinsics"), "it lacks the array(s) cam_extrinsics"),
    ("intrinsics_4x5", lambda a: a.update(cam_intrinsics=a["cam_intrinsics"][:, :5]),
     "'cam_intrinsics' is float64 of shape (4, 5), expected shape (4, 12)"),
    ("resolution_0", lambda a: a["cam_intrinsics"].__setitem__((slice(None), 10), 0.0),
     "a camera's resolution is 0 pixels"),
    ("negative_length", lambda a: a["seq_length"].__setitem__(slice(0, 2), [-5, a["seq_length"][:2].sum() + 5]),
     "'seq_length' holds -5"),
    ("nan_root", lambda a: a["root"].__setitem__((3, 1), np.nan), "'root' holds NaN/inf values"),
    ("zero_unit", lambda a: a.update(unit=np.array(0.0)), "'unit' is 0.0 m per step"),
    ("offsets_as_floats", lambda a: a.update(offsets=a["offsets"].astype(np.float32)), "'offsets' is float32"),
    ("subject_without_cameras", lambda a: a.update(cam_subjects=a["cam_subjects"][1:],
                                                   cam_extrinsics=a["cam_extrinsics"][1:]),
     "no cameras for subject(s) S1"),
])
def test_damaged_pack_is_one_data_error_naming_the_array(pack, tmp_path, name, change, needle):
    """Every array is checked against the layout build_pack writes before any is used (no KeyError/IndexError,
    no division by a zero resolution, no negative sequence length that happens to sum up right)."""
    arrays = {k: np.array(v) for k, v in np.load(pack).items()}
    assert int(arrays["seq_length"].sum()) == len(arrays["root"])
    change(arrays)
    damaged = tmp_path / f"{name}.npz"
    np.savez(damaged, **arrays)
    with pytest.raises(DataError) as exc:
        load_pack(damaged)
    message = str(exc.value)
    assert needle in message and message.startswith(f"{damaged}: ") and message.endswith("--pack`"), message
    assert "\n" not in message
