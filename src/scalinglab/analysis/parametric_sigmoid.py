"""The parametric sigmoid with fixed height of observational scaling laws (Ruan et al. 2024,
arXiv:2405.10938, sec. 3; the authors' ``utils/fitting.py``), with the trust figures of every fit in the
package: how the fit ended, which parameters sit on a bound, and bootstrap intervals.

    y = h + (1 - h) sigmoid(w0 + x . w),   0 <= h <= 0.2,

fitted by least squares with the package's one optimiser
(:func:`scalinglab.fitting.optimizer.minimize_residuals`) from several starts. y is a score in [0, 1]
(a fraction); x the predictors (principal-component scores, or log10 of compute in FLOPs).

* ``status``: the first-order test of :mod:`scalinglab.fitting.status` (the projected gradient in the
  Gauss-Newton metric): ``converged``, ``stalled`` (the optimiser stopped, the gradient is not small)
  or ``max_iterations``.
* ``at_bound``: parameters that ended on a bound of the box (the floor h at 0 or 0.2 is the common
  one: its value is the box's edge, not one the data determine).
* ``draws``: a pairs bootstrap over the training models (resampled with replacement, the sigmoid refitted
  from the fit per draw); :func:`prediction_band` turns them into a prediction interval for new models,
  each draw's prediction plus a training residual drawn at random (the models' scatter about the law),
  clipped to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, bootstrap_count, seed_number
from scalinglab.fitting.optimizer import LEAST_SQUARES, minimize_residuals, normal_equations_of
from scalinglab.fitting.status import decrements, first_order_ok

Array = np.ndarray

#: Largest floor h of the parametric sigmoid (the authors' ``sigmoid_param_range_width``).
MAX_FLOOR = 0.2

__all__ = ["MAX_FLOOR", "ParametricSigmoid", "fit_parametric_sigmoid", "prediction_band"]


@dataclass(repr=False)
class ParametricSigmoid(Displayed):
    """y = h + (1 - h) sigmoid(w0 + x . w); ``weights`` = (w0, w_1..w_k), ``floor`` = h; ``status``,
    ``at_bound`` (names w0, w1, ..., h), bootstrap ``draws`` (rows w0, w_1..w_k, h) and the training
    ``residuals`` y - fit (module docstring)."""

    _display = (("weights", ""), ("floor", "fraction"), ("rss", ""), ("status", ""))

    weights: Array
    floor: float
    rss: float
    status: str = "not recorded"
    at_bound: list[str] = field(default_factory=list)
    draws: Array = field(default_factory=lambda: np.empty((0, 0)))
    residuals: Array = field(default_factory=lambda: np.empty(0))

    def predict(self, x: Array) -> Array:
        z = self.weights[0] + np.atleast_2d(x) @ self.weights[1:]
        return self.floor + (1.0 - self.floor) / (1.0 + np.exp(-np.clip(z, -500, 500)))

    def names(self) -> list[str]:
        """The parameter names in the order of ``draws``' columns: w0, w1, ..., h."""
        return [f"w{i}" for i in range(len(self.weights))] + ["h"]

    def intervals(self, level: float = 0.95) -> dict[str, list[float]]:
        """name -> [low, high], the percentile interval of the bootstrap draws (empty with fewer than 2)."""
        if len(self.draws) < 2:
            return {}
        q = (1 - level) / 2
        lo, hi = np.quantile(self.draws, [q, 1 - q], axis=0)
        return {n: [float(a), float(b)] for n, a, b in zip(self.names(), lo, hi)}


def _residuals(design: Array, y: Array):
    """h + (1 - h) sigmoid(design . w) - y and its Jacobian in (w, h), for the optimiser's rows."""

    def residuals(theta: Array, starts_idx: Array, rows: slice, jac: bool = False):
        d, w, h = design[rows], theta[:, :-1], theta[:, -1:]
        sig = 1.0 / (1.0 + np.exp(-np.clip(w @ d.T, -500, 500)))
        r = h + (1.0 - h) * sig - y[rows]
        if not jac:
            return r
        dz = ((1.0 - h) * sig * (1.0 - sig))[:, None, :] * d.T[None]
        return r, np.concatenate([dz, (1.0 - sig)[:, None, :]], axis=1)

    return residuals


def _status(residuals, theta: Array, value: float, n: int, lo: Array, hi: Array, stopped: bool) -> str:
    g, H = normal_equations_of(residuals, theta[None, :], np.arange(1), n, LEAST_SQUARES, None)
    if first_order_ok(decrements(theta[None, :], g, H, lo, hi), np.array([value]), n)[0]:
        return "converged"
    return "stalled" if stopped else "max_iterations"


def fit_parametric_sigmoid(x: Array, y: Array, *, bootstrap: int = 0, seed: int = 0) -> ParametricSigmoid:
    """Least-squares fit of y = h + (1 - h) sigmoid(w0 + x . w) with 0 <= h <= 0.2 (module docstring).
    Starts: the authors' (w0 = 0, w = 0.01, h = 0) and a linear fit of logit(y) on x. ``bootstrap``
    pairs-bootstrap refits (seeded by ``seed``) for intervals."""
    B, rng = bootstrap_count(bootstrap), np.random.default_rng(seed_number(seed))
    x, y = np.atleast_2d(np.asarray(x, float)), np.asarray(y, float)
    x = x.T if x.shape[0] != y.size else x
    n, k = x.shape
    if n <= k + 2:
        raise ScalingLabError(f"{n} training models cannot fit a sigmoid of {k} predictors; give more models "
                              "below the cutoff or fewer components")
    design = np.column_stack([np.ones(n), x])
    logit = np.log(np.clip(y, 0.01, 0.99) / (1 - np.clip(y, 0.01, 0.99)))
    ls = np.linalg.lstsq(design, logit, rcond=None)[0]
    starts = np.array([np.r_[0.0, np.full(k, 0.01), 0.0], np.r_[ls, 0.0], np.r_[ls, 0.1], np.r_[0.5 * ls, 0.05]])
    big = 1e3 * (1.0 + np.abs(ls).max())
    lo, hi = np.r_[np.full(k + 1, -big), 0.0], np.r_[np.full(k + 1, big), MAX_FLOOR]
    residuals = _residuals(design, y)
    res = minimize_residuals(residuals, starts, n, lo, hi, LEAST_SQUARES, max_iter=500)
    best = int(np.argmin(np.where(np.isfinite(res.value), res.value, np.inf)))
    theta = res.theta[best]
    names = [f"w{i}" for i in range(k + 1)] + ["h"]
    at_bound = [nm for nm, t, a, b in zip(names, theta, lo, hi) if t <= a or t >= b]
    draws = np.empty((0, k + 2))
    if B:
        W = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(B)]).astype(float)
        boot = minimize_residuals(residuals, np.repeat(theta[None], B, axis=0), n, lo, hi, LEAST_SQUARES, W,
                                  max_iter=500)
        draws = boot.theta[np.isfinite(boot.value)]
    fit = ParametricSigmoid(weights=theta[:-1], floor=float(theta[-1]), rss=2.0 * float(res.value[best]),
                            status=_status(residuals, theta, float(res.value[best]), n, lo, hi, bool(res.converged[best])),
                            at_bound=at_bound, draws=draws)
    fit.residuals = y - fit.predict(x)
    return fit


def prediction_band(fit: ParametricSigmoid, x: Array, level: float = 0.95, seed: int = 0) -> tuple[Array, Array]:
    """(low, high): the ``level`` prediction interval of the score at predictors ``x`` (n, k): each bootstrap
    draw's prediction plus a training residual drawn at random, clipped to [0, 1], then its quantiles.
    NaN without draws."""
    x = np.atleast_2d(np.asarray(x, float))
    if len(fit.draws) < 2:
        nan = np.full(x.shape[0], np.nan)
        return nan, nan.copy()
    w, h = fit.draws[:, :-1], fit.draws[:, -1:]
    z = w[:, :1] + w[:, 1:] @ x.T
    sims = h + (1.0 - h) / (1.0 + np.exp(-np.clip(z, -500, 500)))
    rng = np.random.default_rng(seed)
    sims = np.clip(sims + rng.choice(fit.residuals, size=(len(fit.draws), 1)), 0.0, 1.0)
    q = (1 - level) / 2
    return np.quantile(sims, q, axis=0), np.quantile(sims, 1 - q, axis=0)
