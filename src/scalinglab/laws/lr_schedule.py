"""Loss along a training run under any learning-rate schedule (Tissue et al. 2024; references.md L1).

Tissue et al. 2024, "Scaling Law with Learning Rate Annealing" (arXiv:2408.11029, NeurIPS 2024), eq. 1:

    L(s) = L0 + A S1^-alpha - C S2,

with S1 the forward area (the sum of the learning rates up to step s) and S2 the annealing area
(sum_i m_i, m_i = lambda m_(i-1) + (eta_(i-1) - eta_i), lambda = 0.999 in the paper). This family
takes the two areas as its inputs (``forward_area`` > 0 and ``annealing_area`` >= 0, both in learning
rate x steps), so ``sl.fit(table, law="lr_schedule")`` fits a table of (S1, S2, loss) rows like any law.
From loss curves and their learning rates, :func:`scalinglab.analysis.fit_schedule_law` computes the
areas (:mod:`scalinglab.analysis.lr_schedules`) and fits the same law, and predicts and compares
schedules; its predictions agree with this family's.

Internal parameters: (L0, ln A, alpha, C); natural: L0 (nats/token, the loss as S1 grows before any
annealing), A (nats/token x (LR x steps)^alpha), alpha (dimensionless), C (nats/token per LR x step of
annealing area). The loss is predicted only where L0 + A S1^-alpha - C S2 > 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError, finite_array
from scalinglab.laws.base import Array, LawFamily, grid

FORWARD, ANNEALING = "forward_area", "annealing_area"
AREA_UNITS = "learning rate x optimiser steps"


class LRSchedule(LawFamily):
    """L = L0 + A S1^-alpha - C S2 (Tissue et al. 2024): a run's loss from its learning-rate areas."""

    name = "lr_schedule"
    variables = (FORWARD, ANNEALING)
    theta_names = ("L0", "ln_A", "alpha", "C")
    param_names = ("L0", "A", "alpha", "C")
    formula = "L = L0 + A*S1^-alpha - C*S2"
    citation = ("Tissue et al. 2024, Scaling Law with Learning Rate Annealing, eq. 1 (arXiv:2408.11029); "
                "S1 forward area, S2 annealing area with momentum decay lambda")
    units = ("loss in nats/token; forward_area S1 and annealing_area S2 in learning rate x steps; L0 "
             "nats/token, A nats/token x (LR x steps)^alpha, alpha dimensionless, C nats/token per LR x step")
    level_params = ("L0",)
    zero_allowed = (ANNEALING,)

    def check_variables(self, X: Mapping[str, Any]) -> dict[str, Array]:
        """S1 must be positive (a run has taken steps), S2 non-negative (0 before any decay)."""
        for v in self.variables:
            if X.get(v) is None:
                raise ScalingLabError(f"law {self.label} needs '{v}' (units: {AREA_UNITS})")
        return {FORWARD: finite_array(f"law {self.label}: '{FORWARD}'", X[FORWARD], low=0.0, low_open=True),
                ANNEALING: finite_array(f"law {self.label}: '{ANNEALING}'", X[ANNEALING], low=0.0)}

    def log_predict(self, theta: Array, X: Mapping[str, Array], jac: bool = False):
        """ln L; nan where L <= 0. With f = L0 + A S1^-alpha - C S2 and P = A S1^-alpha, the
        Jacobian is (1, P, -P ln S1, -S2) / f in (L0, ln A, alpha, C)."""
        ln_s1 = np.log(np.asarray(X[FORWARD], dtype=float))[None, :]
        s2 = np.asarray(X[ANNEALING], dtype=float)[None, :]
        L0, lnA, alpha, C = (theta[:, k:k + 1] for k in range(4))
        with np.errstate(all="ignore"):
            power = np.exp(lnA - alpha * ln_s1)
            f = L0 + power - C * s2
            ok = f > 0
            out = np.where(ok, np.log(np.where(ok, f, 1.0)), np.nan)
            if not jac:
                return out
            J = np.stack([np.ones_like(power), power, -power * ln_s1, -np.broadcast_to(s2, power.shape)], axis=1)
            J = J / np.where(ok, f, np.nan)[:, None, :]
        return out, J

    def to_natural(self, theta: Array) -> dict[str, Array]:
        theta = np.asarray(theta, dtype=float)
        return {"L0": theta[..., 0], "A": np.exp(theta[..., 1]), "alpha": theta[..., 2], "C": theta[..., 3]}

    def from_natural(self, params: Mapping[str, float]) -> Array:
        return np.array([params["L0"], math.log(params["A"]), params["alpha"], params["C"]], dtype=float)

    def bounds(self) -> tuple[Array, Array]:
        """L0 in [0, 50] nats/token; ln A in [-30, 30]; alpha in [0, 5]; C in [0, 1e8]."""
        return np.array([0.0, -30.0, 0.0, 0.0]), np.array([50.0, 30.0, 5.0, 1e8])

    def init_grid(self, X: Mapping[str, Array], loss: Array) -> Array:
        """48 starts: L0 in {0.5, 0.8, 0.95} x the smallest loss; alpha in {0.2, 0.4, 0.7, 1.0}; A so that
        the curve passes through the median loss at the median S1; C in {0, 0.1, 1, 10} / max S2 (or those
        values when no run anneals) times the loss scale."""
        y = np.asarray(loss, dtype=float)
        y = y[np.isfinite(y) & (y > 0)]
        y_min, y_med = (float(y.min()), float(np.median(y))) if y.size else (2.0, 3.0)
        s1 = np.asarray(X.get(FORWARD, [1.0]), dtype=float)
        s1_med = float(np.median(s1[np.isfinite(s1) & (s1 > 0)])) if s1.size else 1.0
        s2 = np.asarray(X.get(ANNEALING, [0.0]), dtype=float)
        s2_max = float(np.nanmax(s2)) if s2.size and np.nanmax(s2) > 0 else 1.0
        g = grid([0.5, 0.8, 0.95], [0.2, 0.4, 0.7, 1.0], [0.0, 0.1, 1.0, 10.0])
        frac, alpha, c = g.T
        L0 = frac * y_min
        lnA = np.log(np.maximum(y_med - L0, 1e-6)) + alpha * math.log(max(s1_med, 1e-300))
        lo, hi = self.bounds()
        return np.clip(np.column_stack([L0, lnA, alpha, c * 0.01 * y_min / s2_max]), lo, hi)
