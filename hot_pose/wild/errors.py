"""The one exception type the demo raises for user errors (bad input, missing weights, no person ...).

``demo/vis.py`` prints its message as a single line and exits non-zero, without a traceback.
"""
from __future__ import annotations


class DemoError(RuntimeError):
    """A user-facing error: the message names the problem and the fix."""
