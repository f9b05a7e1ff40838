"""Average top-1 downstream error as an exponential decay in loss (Gadre et al. 2024; references.md D4).

Gadre et al. 2024, "Language models scale reliably with over-training and on downstream tasks"
(arXiv:2403.08540), sec. 3, eq. (5):

    Err(L) = epsilon - k exp(-gamma L),

L the validation loss (nats/token; the paper uses C4 eval), Err the top-1 error averaged over
downstream tasks (a fraction; their 17-task and 46-task splits). epsilon is the error as L grows
(about chance level), k and gamma set how fast the error falls below it. Equivalently
Err = epsilon - k/PP^gamma with PP = exp(L) the perplexity, the "power law in perplexity" of their
abstract. Same form as the authors' code (mlfoundations/scaling, ``scaling/shared.py``, ``fit_ds``).

The family predicts an error, not a loss: in a table given to ``sl.fit`` the **target** column
``loss`` holds the error and the input column ``upstream_loss`` holds L. :func:`error_table` builds
such a table from two arrays. The fit minimises the robust loss on ln(predicted error) - ln(observed
error), like every sl.fit fit (relative residuals of the error). Internal parameters:
(ln epsilon, ln k, gamma); the prediction is only defined where epsilon > k exp(-gamma L).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from scalinglab.errors import ScalingLabError, finite_array
from scalinglab.laws.base import Array, LawFamily, grid

if TYPE_CHECKING:
    import pandas as pd

UPSTREAM = "upstream_loss"
UPSTREAM_UNITS = "validation loss L the error is a function of, nats/token"
TYPICAL_LOSS = 3.0  # nats/token, a start when the data give no scale
TYPICAL_ERROR = 0.6  # fraction, idem


def error_table(upstream_loss: Any, error: Any) -> pd.DataFrame:
    """A run table for ``sl.fit(..., law="downstream_error")``: column ``upstream_loss`` = L
    (nats/token, > 0) and the target column ``loss`` = the average top-1 error (a fraction in (0, 1])."""
    L = finite_array("upstream loss (nats/token)", upstream_loss, low=0.0, low_open=True)
    err = finite_array("top-1 error (a fraction)", error, low=0.0, high=1.0, low_open=True)
    if L.shape != err.shape or L.ndim != 1:
        raise ScalingLabError(f"upstream loss and error must be 1-D arrays of one length, got shapes "
                              f"{L.shape} and {err.shape}")
    import pandas as pd  # loads with the first table, not with the law

    return pd.DataFrame({UPSTREAM: L, "loss": err})


class DownstreamError(LawFamily):
    """Err = epsilon - k exp(-gamma L): average top-1 error (a fraction) from loss L (nats/token)."""

    name = "downstream_error"
    variables = (UPSTREAM,)
    theta_names = ("ln_epsilon", "ln_k", "gamma")
    param_names = ("epsilon", "k", "gamma")
    formula = "Err = epsilon - k*exp(-gamma*L)"
    citation = ("Gadre et al. 2024, Language models scale reliably with over-training and on downstream "
                "tasks, sec. 3 eq. (5) (arXiv:2403.08540)")
    units = ("Err average top-1 error, a fraction (the fitted 'loss' column); L = upstream_loss, "
             "validation loss in nats/token; epsilon and k fractions; gamma per nat/token")

    def check_variables(self, X: Mapping[str, Any]) -> dict[str, Array]:
        if X.get(UPSTREAM) is None:
            raise ScalingLabError(f"law {self.label} needs '{UPSTREAM}' (units: {UPSTREAM_UNITS})")
        return super().check_variables(X)

    def log_predict(self, theta: Array, X: Mapping[str, Array], jac: bool = False):
        """ln Err = ln(epsilon - k exp(-gamma L)); nan where that is not positive. Jacobian:
        d/d ln epsilon = epsilon/Err, d/d ln k = -k e^(-gamma L)/Err, d/d gamma = k L e^(-gamma L)/Err."""
        L = np.asarray(X[UPSTREAM], dtype=float)[None, :]
        le, lk, gamma = (theta[:, i:i + 1] for i in range(3))
        with np.errstate(all="ignore"):
            eps = np.exp(le)
            drop = np.exp(lk - gamma * L)
            err = eps - drop
            f = np.where(err > 0, np.log(np.where(err > 0, err, 1.0)), np.nan)
            if not jac:
                return f
            inv = 1.0 / err
            J = np.stack([np.broadcast_to(eps, err.shape) * inv, -drop * inv, drop * L * inv], axis=1)
        return f, J

    def to_natural(self, theta: Array) -> dict[str, Array]:
        theta = np.asarray(theta, dtype=float)
        return {"epsilon": np.exp(theta[..., 0]), "k": np.exp(theta[..., 1]), "gamma": theta[..., 2]}

    def from_natural(self, params: Mapping[str, float]) -> Array:
        return np.array([math.log(params["epsilon"]), math.log(params["k"]), params["gamma"]], dtype=float)

    def bounds(self) -> tuple[Array, Array]:
        """ln epsilon in [-10, 1] (epsilon up to e: an error is at most 1); ln k in [-20, 60]; gamma in [0, 20]."""
        return np.array([-10.0, -20.0, 0.0]), np.array([1.0, 60.0, 20.0])

    def init_grid(self, X: Mapping[str, Array], loss: Array) -> Array:
        """140 starts: epsilon in {0.5, 0.7, 0.8, 0.9, 1.0}; gamma in {0.25, 0.5, 0.75, 1, 1.5, 2, 3};
        ln k = ln(max(epsilon - median Err, 0.05)) + gamma median(L) + {-1, -0.5, 0, +0.5} (the curve
        through the data's centre, below and above it), capped so that the predicted error stays
        positive at the smallest L of the data (k <= epsilon exp(gamma min L - 0.1)): every start
        then has a finite objective."""
        Ls = _positive(None if X is None else X.get(UPSTREAM))
        L_med, L_min = (float(np.median(Ls)), float(Ls.min())) if Ls.size else (TYPICAL_LOSS, TYPICAL_LOSS)
        ys = _positive(loss)
        y_med = float(np.median(ys)) if ys.size else TYPICAL_ERROR
        g = grid([0.5, 0.7, 0.8, 0.9, 1.0], [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0], [-1.0, -0.5, 0.0, 0.5])
        eps, gamma, off = g.T
        lk = np.log(np.maximum(eps - y_med, 0.05)) + gamma * L_med + off
        lk = np.minimum(lk, np.log(eps) + gamma * L_min - 0.1)
        lo, hi = self.bounds()
        return np.clip(np.column_stack([np.log(eps), lk, gamma]), lo, hi)


def _positive(values: Any) -> Array:
    """The positive finite elements of ``values`` (none when it is None), flattened."""
    if values is None:
        return np.empty(0)
    v = np.asarray(values, dtype=float).ravel()
    return v[np.isfinite(v) & (v > 0)]
