"""Data summaries used to place default multi-start grids (``init_grid``) near the data.

The grids themselves are built with :func:`scalinglab.laws.base.grid`; these helpers only supply the
data scale (medians and quantiles of ln x, minimum and median loss). When a variable or the loss is
missing or unusable, typical values are used instead, so ``init_grid`` always returns a grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from scalinglab.laws.base import Array

# Typical magnitudes used when the data do not give a scale: N parameters, D tokens, C FLOPs, S steps.
FALLBACK_SCALE = {"params": 1e9, "tokens": 2e10, "flops": 1e20, "step": 1e4}
FALLBACK_LOSS = (2.0, 3.0)  # (min, median) loss in nats/token


def _log_values(X: Mapping[str, Any] | None, var: str) -> Array:
    """ln of the positive finite values of ``X[var]``; the fallback scale when there are none."""
    arr = None if X is None else X.get(var)
    if arr is not None:
        v = np.asarray(arr, dtype=float).ravel()
        v = v[np.isfinite(v) & (v > 0)]
        if v.size:
            return np.log(v)
    return np.array([np.log(FALLBACK_SCALE[var])])


def log_quantiles(X: Mapping[str, Any] | None, var: str, q: Any) -> Array:
    """Quantiles ``q`` (in [0, 1]) of ln x over the observed values of variable ``var``."""
    return np.quantile(_log_values(X, var), np.asarray(q, dtype=float))


def log_median(X: Mapping[str, Any] | None, var: str) -> float:
    """Median of ln x for variable ``var``."""
    return float(np.median(_log_values(X, var)))


def loss_scale(loss: Any) -> tuple[float, float]:
    """(minimum, median) of the positive finite observed losses, or typical values."""
    if loss is not None:
        y = np.asarray(loss, dtype=float).ravel()
        y = y[np.isfinite(y) & (y > 0)]
        if y.size:
            return float(y.min()), float(np.median(y))
    return FALLBACK_LOSS


def clip_to_bounds(theta: Array, bounds: tuple[Array, Array]) -> Array:
    """Starting points projected onto the family's bounds."""
    lo, hi = bounds
    return np.clip(theta, lo, hi)
