"""Console commands installed by ``pip install -e .`` (``[project.scripts]`` in pyproject.toml).

``hot-train --recipe NAME [flags]`` runs the entry script of that recipe (``main_<NAME>.py``: ``mixste``,
``mixste_tpc``, ``mhformer``, ``mhformer_tpc``; default ``mixste``) with the same flags, from any folder.
HoT: Li et al., CVPR 2024, arXiv:2311.12028.
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

RECIPES = ("mixste", "mixste_tpc", "mhformer", "mhformer_tpc")
USAGE = (f"usage: hot-train [--recipe {{{','.join(RECIPES)}}}] [flags of main_<recipe>.py ...]\n"
         "  --recipe NAME  the entry script's recipe (loss, optimizer, defaults); default mixste; "
         "`hot-train --recipe NAME --help` lists its flags")


def split_recipe(argv: Sequence[str]) -> tuple:
    """``(recipe, the other arguments)``; ``ValueError`` for an unknown or missing recipe name."""
    rest, recipe, i = [], "mixste", 0
    args = list(argv)
    while i < len(args):
        arg = args[i]
        if arg == "--recipe":
            if i + 1 >= len(args):
                raise ValueError(f"--recipe needs a name: one of {', '.join(RECIPES)}")
            recipe, i = args[i + 1], i + 2
            continue
        if arg.startswith("--recipe="):
            recipe = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    if recipe not in RECIPES:
        raise ValueError(f"unknown --recipe '{recipe}'; choose one of {', '.join(RECIPES)}")
    return recipe, rest


def train(argv: Optional[Sequence[str]] = None) -> int:
    """``hot-train``: train or test with one of the four recipes."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        recipe, rest = split_recipe(argv)
    except ValueError as exc:  # one line, like every user error (hot-train --help shows the usage)
        print(f"error: {exc} (see hot-train --help)", file=sys.stderr)
        return 2
    if rest in (["-h"], ["--help"]) and "--recipe" not in " ".join(argv):
        print(USAGE + "\n")
    from common.arguments import precheck

    precheck(f"main_{recipe}", rest)  # a mistyped flag or number: one error line at once, before torch loads
    import model
    from common import recipes
    from common.engine import main

    return main(getattr(recipes, recipe.upper()), model, rest)


if __name__ == "__main__":
    sys.exit(train())
