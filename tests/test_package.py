"""The installable package: a wheel built from this checkout, installed (not editable) into a fresh environment
that reuses the already installed dependencies but not the repository, works from any folder.

Checks: the wheel's top-level names are exactly ``hot_pose`` (plus its dist-info) and it carries the shipped
weights; from a temporary folder the README's Python API snippet runs on real keypoints, ``hot-demo --help``,
``hot-profile --model mixste.hot_mixste``, ``hot-train --recipe mixste --help`` and a short ``hot-demo`` run on a
real clip work, and ``hot_pose`` is imported from the fresh environment, never from the checkout.
HoT: Li et al., CVPR 2024 (arXiv:2311.12028).
"""
from __future__ import annotations

import hashlib
import os
import re
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, VIDEO

SHIPPED = ROOT / "hot_pose" / "checkpoints"


def _run(argv, cwd: Path, env=None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """``pip wheel --no-deps .`` of this checkout (the build backend from the running environment)."""
    out = tmp_path_factory.mktemp("wheel")
    proc = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", out, ROOT], ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = list(out.glob("hot_pose-*.whl"))
    assert len(wheels) == 1, list(out.iterdir())
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> dict:
    """A fresh venv holding only the wheel; the current environment's site-packages are added as a plain path
    (so the dependencies are found) without processing its .pth files (so an editable install of the checkout
    is *not* found)."""
    where = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False, symlinks=True).create(where)
    python = where / "bin" / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], where)
                   .stdout.strip())
    deps = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    (purelib / "zz_reuse_dependencies.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    proc = _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel], where)
    if proc.returncode != 0:  # pip without --python support: install with the venv's own view of pip
        proc = _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", purelib, wheel],
                    where)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PATH=f"{where / 'bin'}{os.pathsep}{env.get('PATH', '')}", OMP_NUM_THREADS="1")
    return dict(python=python, bin=where / "bin", purelib=purelib, env=env)


def test_wheel_holds_only_hot_pose_and_the_shipped_weights(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        tops = {n.split("/")[0] for n in names}
        assert {t for t in tops if not t.endswith(".dist-info")} == {"hot_pose"}, sorted(tops)
        shipped = sorted(p.relative_to(ROOT).as_posix() for p in SHIPPED.glob("*/best.pth"))
        assert len(shipped) >= 6 and set(shipped) <= set(names), (shipped, [n for n in names if "checkpoints" in n])
        for name in shipped:  # byte-identical to the checkout's files
            assert hashlib.sha256(zf.read(name)).digest() == hashlib.sha256((ROOT / name).read_bytes()).digest()
        entry = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "hot-demo = hot_pose.cli.demo:main" in entry and "hot-train = hot_pose.cli.train:main" in entry


def test_hot_pose_comes_from_the_fresh_environment(installed, tmp_path):
    proc = _run([installed["python"], "-c", "import hot_pose, sys; print(hot_pose.__file__); "
                 "print(sorted(m for m in sys.modules if m.split('.')[0] in ('demo', 'tools', 'common', 'model')))"],
                tmp_path, installed["env"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    where, leaked = proc.stdout.splitlines()
    assert Path(where).is_relative_to(installed["purelib"]), where
    assert leaked == "[]"


def test_readme_python_snippet_runs_on_real_keypoints(installed, tmp_path):
    """The README's Python API snippet, as written, on the first 20 frames of a real clip."""
    text = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text[text.index("## Python API"):], re.S).group(1)
    code = code.replace('"my_video.mp4"', f'"{VIDEO / "walkway_cam03.mp4"}", max_frames=20')
    code += "\nassert poses.shape == (20, 17, 3), poses.shape\nprint('ok', lifter.name)\n"
    proc = _run([installed["python"], "-c", code], tmp_path, installed["env"])
    assert proc.returncode == 0 and "ok mixste.hot_mixste" in proc.stdout, proc.stderr[-3000:]


@pytest.mark.parametrize("argv, expect", [
    (["hot-demo", "--help"], "usage: hot-demo"),
    (["hot-profile", "--model", "mixste.hot_mixste"], "mixste.hot_mixste (T 243, C 512, f 81, n 3)"),
    (["hot-train", "--recipe", "mixste", "--help"], "--frames"),
    (["hot-export-onnx", "--help"], "usage: hot-export-onnx"),
    (["hot-bench", "--help"], "usage: hot-bench"),
])
def test_console_commands_from_a_temporary_folder(installed, tmp_path, argv, expect):
    proc = _run([installed["bin"] / argv[0], *argv[1:]], tmp_path, installed["env"])
    assert proc.returncode == 0 and expect in proc.stdout, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert list(tmp_path.iterdir()) == []  # nothing written where it ran


def test_hot_demo_runs_the_shipped_model_from_package_data(installed, tmp_path):
    out = tmp_path / "out"
    proc = _run([installed["bin"] / "hot-demo", "--video", VIDEO / "walkway_cam03.mp4", "--max-frames", "12",
                 "--no-render", "--quiet", "--output", out], tmp_path, installed["env"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {"keypoints_2d.npz", "poses_3d.npz", "poses_3d.json"} <= {p.name for p in out.iterdir()}
    assert '"trained":true' in (out / "poses_3d.json").read_text().replace(" ", "")
