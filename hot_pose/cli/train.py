"""``hot-train`` and the seed's ``main_<recipe>.py`` scripts: train or test a lifter with one of the four recipes.

``hot-train --recipe NAME [flags]`` is ``python main_<NAME>.py [flags]`` (``mixste``, ``mixste_tpc``, ``mhformer``,
``mhformer_tpc``; default ``mixste``), from any folder. HoT: Li et al., CVPR 2024, arXiv:2311.12028.
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


def run_recipe(recipe: str, argv: Optional[Sequence[str]] = None) -> int:
    """Train or test with ``recipe`` (``main_<recipe>.py``'s behaviour) on ``argv`` (default ``sys.argv[1:]``)."""
    from hot_pose.training.arguments import precheck

    argv = list(sys.argv[1:] if argv is None else argv)
    precheck(f"main_{recipe}", argv)  # a mistyped flag or number: one error line at once, before torch loads
    import hot_pose.models as zoo
    from hot_pose.training import recipes
    from hot_pose.training.engine import main as engine_main

    return engine_main(getattr(recipes, recipe.upper()), zoo, argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``hot-train``: train or test with one of the four recipes."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        recipe, rest = split_recipe(argv)
    except ValueError as exc:  # one line, like every user error (hot-train --help shows the usage)
        print(f"error: {exc} (see hot-train --help)", file=sys.stderr)
        return 2
    if rest in (["-h"], ["--help"]) and "--recipe" not in " ".join(argv):
        print(USAGE + "\n")
    return run_recipe(recipe, rest)


if __name__ == "__main__":
    sys.exit(main())
