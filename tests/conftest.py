"""Shared pytest fixtures: paths to the real data beside the repository."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HOT_SHARED_DATA", ROOT.parent / "shared" / "data"))
H36M = SHARED / "h36m"
VIDEO = SHARED / "video"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def h36m_dir() -> Path:
    """Folder with the real Human3.6M npz files (../shared/data/h36m)."""
    if not (H36M / "data_3d_h36m.npz").is_file():
        pytest.fail(f"real Human3.6M data not found at {H36M}; set HOT_SHARED_DATA")
    return H36M


@pytest.fixture(scope="session")
def prepared_root(h36m_dir, tmp_path_factory) -> Path:
    """A --root_path set up by dataset/prepare_data_h36m.py: links to the shared files + the GT 2-D it builds."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("prepare_data_h36m", ROOT / "dataset" / "prepare_data_h36m.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    root = tmp_path_factory.mktemp("h36m_root")
    assert module.main(["--source", str(h36m_dir), "--root_path", str(root)]) == 0
    return root


@pytest.fixture(scope="session")
def video_dir() -> Path:
    """Folder with the real videos (../shared/data/video)."""
    return VIDEO


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny networks on one thread: no thread-pool overhead, and a busy 2-core machine cannot stall a
    second thread. Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def bad_inputs(h36m_dir, tmp_path_factory):
    """The bad-input suites' shared inputs (``bad_input_lib.make_inputs``: a finished 2-epoch run and damaged or
    crafted copies of its files and of the data), made once per session."""
    from bad_input_lib import Inputs, make_inputs

    inputs = Inputs(tmp_path_factory.mktemp("bad_input"), h36m_dir)
    make_inputs(inputs)
    return inputs


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory) -> Path:
    """A small hot_mixste with random weights and its args, as a trained checkpoint would carry them."""
    from hot_pose.models import build_model

    args = dict(model="mixste.hot_mixste", frames=27, channel=32, token_num=9, layer_index=1, depth=2)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "small.pth"
    torch.save({"model": build_model(args["model"], args).state_dict(), "args": args, "epoch": 0}, path)
    return path
