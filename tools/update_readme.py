"""Regenerate the README's generated tables from the project's own commands and JSON reports.

Each table sits between ``<!-- BEGIN <name> -->`` and ``<!-- END <name> -->`` markers in README.md or a
page of docs/,
so no number in those tables is typed by hand:

* ``profile``: ``hot-profile --all --markdown`` (params and FLOPs of the zoo);
* any other name: the markdown file ``benchmarks/<name>.md`` written by the tool that measured it
  (baseline evaluation, benchmark, results of trained checkpoints).

Usage: ``python -m tools.update_readme [--check]`` (``--check`` exits 1 if README.md or a docs/ page is stale).
"""
from __future__ import annotations

import functools
import re
import sys
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

from hot_pose.utils.console import OneLineArgumentParser, fail, guarded
from hot_pose.utils.outputs import WriteError, atomic_write

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- BEGIN (?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- END (?P=name) -->)", re.S)


@functools.lru_cache(maxsize=1)
def _profile_table() -> str:
    """The zoo's parameter and FLOP table (computed once per process: it profiles every variant, ~15 s)."""
    from hot_pose.models import available_models
    from hot_pose.models.profile import markdown_table, profile_variant

    return markdown_table([profile_variant(name, {}) for name in available_models()])


GENERATORS: Dict[str, Callable[[], str]] = {"profile": _profile_table}


def render(name: str, root: Path = ROOT) -> str:
    """The generated body of block ``name``."""
    if name in GENERATORS:
        return GENERATORS[name]().rstrip("\n") + "\n"
    path = root / "benchmarks" / f"{name}.md"
    if not path.is_file():
        raise FileNotFoundError(f"README block '{name}' has no generator and {path} does not exist")
    return path.read_text(encoding="utf-8").rstrip("\n") + "\n"


def update(text: str, root: Path = ROOT) -> str:
    """README text with every marked block regenerated."""
    return BLOCK.sub(lambda m: m.group(1) + render(m.group("name"), root) + m.group(4), text)


def _root_of(path: Path) -> Path:
    """The project folder of a README/doc file: the one holding ``benchmarks/`` (docs/ pages: its parent)."""
    return path.parent if (path.parent / "benchmarks").exists() else path.parent.parent


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status (0 up to date or updated, 1 stale with --check or a
    failure, 2 bad flags)."""
    parser = OneLineArgumentParser(prog="python -m tools.update_readme", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether the files are up to date")
    parser.add_argument("--readme", type=Path, action="append", default=None,
                        help="file to update (repeatable; default: README.md and every docs/*.md)")
    parser.add_argument("--verbose", action="store_true", help="show the traceback of an unexpected error")
    args = parser.parse_args(argv)
    return guarded(lambda: _run(args), verbose=args.verbose)


def _run(args) -> int:
    files = args.readme or [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for path in files:
        if not path.is_file():
            return fail(f"--readme {path} is not a file; give a README or docs page with BEGIN/END blocks", 2)
    stale = []
    for path in files:
        old = path.read_text(encoding="utf-8")
        try:
            new = update(old, _root_of(path))
        except FileNotFoundError as exc:  # a block without its benchmarks/<name>.md
            return fail(f"{path}: {exc}", 1)
        if new == old:
            continue
        if args.check:
            stale.append(path)
            continue
        try:
            atomic_write(path, new)  # a temporary file beside it, renamed over it: never half a README
        except WriteError as exc:
            return fail(exc, 1)
    if args.check:
        if stale:
            sys.stderr.write(f"{', '.join(map(str, stale))} stale: run python -m tools.update_readme\n")
            return 1
        print(f"{', '.join(p.name for p in files)}: up to date with benchmarks/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
