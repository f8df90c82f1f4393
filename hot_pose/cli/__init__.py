"""The console commands (``[project.scripts]``): argument parsing and exit statuses only, over the library.

HoT: Li et al., CVPR 2024 (arXiv:2311.12028). ``hot-demo`` (``demo``), ``hot-train`` (``train``), ``hot-profile``
(``profile``), ``hot-export-onnx`` (``export_onnx``) and ``hot-bench`` (``bench``); the seed's scripts
(``main_*.py``, ``demo/vis.py``) call the same functions. This is the top layer: nothing in the library imports it.
"""
from __future__ import annotations

import argparse
import difflib
from typing import Callable, Sequence


def model_name_type(models: Callable[[], Sequence[str]], list_command: Callable[[], str],
                    note: str = "") -> Callable[[str], str]:
    """An argparse ``type=`` for ``--model``: a name from ``models()``, else one argparse line naming it, the
    closest valid name and how to list them (``list_command()``), then ``note``."""

    def parse(text: str) -> str:
        names = list(models())
        if text in names:
            return text
        close = difflib.get_close_matches(text, names, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise argparse.ArgumentTypeError(f"unknown model {text!r}{hint}; list the models with `{list_command()}`"
                                         f"{note}")

    return parse
