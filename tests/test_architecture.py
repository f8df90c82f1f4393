"""The package's one architectural rule, checked on the source: imports run downwards only, and no files import
each other in a circle. ``docs/architecture.md`` draws the layers. HoT: Li et al., CVPR 2024 (arXiv:2311.12028).
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, Set

import pytest
from conftest import ROOT

PACKAGE = ROOT / "hot_pose"

#: the layers, bottom (0) to top; a module may import its own sub-package and any lower layer, nothing else
LAYERS: Dict[str, int] = {
    "utils": 0,
    "data": 1, "models": 1,
    "training": 2, "export": 2,
    "mocap": 3,
    "wild": 4,
    "api": 5,
    "cli": 6,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Set[str]:
    """Every ``hot_pose...`` module a file imports, at any depth of its code (lazy imports included)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "hot_pose")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "hot_pose":
                continue
            for alias in node.names:  # "from hot_pose.models import hot" may name a sub-module
                candidate = f"{base}.{alias.name}"
                found.add(candidate if _exists(candidate) else base)
    return found


def _exists(name: str) -> bool:
    rel = Path(*name.split("."))
    return (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel / "__init__.py").is_file()


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "api"  # hot_pose/__init__.py re-exports the public API


FILES = sorted(PACKAGE.rglob("*.py"))
GRAPH = {module_name(p): imports_of(p) for p in FILES}


def test_every_sub_package_has_a_layer():
    assert {layer(m) for m in GRAPH} <= set(LAYERS), sorted({layer(m) for m in GRAPH} - set(LAYERS))


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_run_downwards_only(module):
    own = layer(module)
    upward = sorted(dep for dep in GRAPH[module] if layer(dep) != own and LAYERS[layer(dep)] >= LAYERS[own])
    assert not upward, f"{module} (layer {own}) imports from the same or a higher layer: {upward}"


def test_no_file_circles():
    """A depth-first search over the module graph finds no edge back to a module still on its path."""
    state: Dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(node: str, path: list) -> None:
        state[node] = 1
        for dep in sorted(GRAPH.get(node, ())):
            if dep == node or dep not in GRAPH:
                continue
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep] if dep in path else [node, dep]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for start in sorted(GRAPH):
        if start not in state:
            visit(start, [start])


def test_importing_hot_pose_loads_no_application_module():
    code = ("import sys, hot_pose; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('demo', 'tools', 'common', 'model', 'main_mixste')))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr[-2000:]


def test_the_applications_stay_thin():
    """The seed's entry scripts only hand over to the package."""
    for script in [*ROOT.glob("main_*.py"), ROOT / "demo" / "vis.py"]:
        code = [ln for ln in script.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        assert len(code) <= 25, f"{script.name}: {len(code)} lines"
