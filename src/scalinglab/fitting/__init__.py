"""The fitting engine: objectives, batched optimiser, multi-start, bootstrap and FitResult.

The names load on first use (PEP 562), so that reading a saved fit (:class:`FitResult`) does not
import the optimiser, pandas and scipy that :func:`fit` needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> the module that defines it.
_LAZY = {"fit": "scalinglab.fitting.api", "FitResult": "scalinglab.fitting.result",
         "Objective": "scalinglab.fitting.objective", "Prediction": "scalinglab.fitting.result"}

__all__ = ["fit", "FitResult", "Objective", "Prediction"]

if TYPE_CHECKING:  # what type checkers see; at run time the names load on first use
    from scalinglab.fitting.api import fit
    from scalinglab.fitting.objective import Objective
    from scalinglab.fitting.result import FitResult, Prediction


def __getattr__(name: str) -> Any:
    """Load a public name on first use (``scalinglab.fitting.fit`` imports the optimiser)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'scalinglab.fitting' has no attribute '{name}'")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
