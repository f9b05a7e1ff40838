"""Test-time compute: accuracy vs inference compute (reasoning tokens, samples or steps) on a log scale.

Two laws are fitted by least squares and the one with the smaller held-out error is kept:

* log-linear: acc = p + q log10(x) (OpenAI o1 plots, Snell et al. 2024; references.md E3 says to trust it
  only within the measured range);
* saturating sigmoid in log10 x: acc = low + (high - low) / (1 + exp(-k (log10 x - x0))), as Llama 3
  (sec. 3.2.1) maps loss to accuracy (references.md E5), with 0 <= low, high <= 1 and k > 0.

Units: x is a count per question (reasoning tokens, samples or steps, named by ``x_name``); accuracy is a
fraction in [0, 1]. Intervals come from a seeded residual bootstrap of the chosen law; predictions are
clipped to [0, 1] and flagged when clipping happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from scalinglab.display import Displayed
from scalinglab.errors import (
    ScalingLabError,
    bootstrap_count,
    finite_array,
    finite_number,
    finite_result,
    level_number,
    positive_array,
    positive_number,
    seed_number,
)
from scalinglab.fitting.optimizer import minimize_residuals

__all__ = ["LOG_LINEAR", "SIGMOID", "log_linear_law", "sigmoid_law", "CurveFit", "AccuracyPrediction",
           "AccuracyScalingFit", "fit_test_time"]

LOG_LINEAR = "log_linear"
SIGMOID = "sigmoid"
_PARAMS = {LOG_LINEAR: ("p", "q"), SIGMOID: ("low", "high", "k", "x0")}


def log_linear_law(x: np.ndarray | float, p: float, q: float) -> np.ndarray:
    """acc = p + q log10(x): accuracy (fraction) vs compute x (a count, > 0)."""
    xs, p, q = positive_array("x", x), finite_number("p", p), finite_number("q", q)
    with np.errstate(all="ignore"):  # an overflow (q near the float limit) is caught as non-finite
        return finite_result("accuracy", _log_linear(xs, p, q))


def sigmoid_law(x: np.ndarray | float, low: float, high: float, k: float, x0: float) -> np.ndarray:
    """acc = low + (high - low) / (1 + exp(-k (log10 x - x0))); x0 is in log10 units of x."""
    xs = positive_array("x", x)
    theta = [finite_number(name, v) for name, v in zip(("low", "high", "k", "x0"), (low, high, k, x0))]
    with np.errstate(all="ignore"):
        return finite_result("accuracy", _sigmoid(xs, *theta))


def _log_linear(x: np.ndarray, p: float, q: float) -> np.ndarray:
    return p + q * np.log10(x)


def _sigmoid(x: np.ndarray, low: float, high: float, k: float, x0: float) -> np.ndarray:
    return low + (high - low) * expit(k * (np.log10(x) - x0))


def _law(model: str, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    return _log_linear(x, *theta) if model == LOG_LINEAR else _sigmoid(x, *theta)


def _fit_log_linear(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    q, p = np.polyfit(np.log10(x), y, 1)
    return np.array([p, q])


def _fit_sigmoid(x: np.ndarray, y: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Bounded least squares from a few deterministic starts (or one given start), all at once with
    the package's batched Levenberg-Marquardt optimiser; the lowest residual sum of squares wins."""
    u = np.log10(x)
    span = max(float(u.max() - u.min()), 1e-6)
    lower = np.array([0.0, 0.0, 1e-3 / span, u.min() - span])
    upper = np.array([1.0, 1.0, 100.0 / span, u.max() + span])
    if start is not None:
        starts = np.clip(start, lower + 1e-9, upper - 1e-9)[None, :]
    else:
        lo, hi = float(np.clip(y.min(), 0, 1)), float(np.clip(y.max(), 0, 1))
        starts = np.array([np.clip([lo, hi, kk / span, x0], lower + 1e-9, upper - 1e-9)
                           for kk in (2.0, 8.0) for x0 in np.quantile(u, [0.25, 0.5, 0.75])])

    def residuals(theta: np.ndarray, _starts: np.ndarray, rows: slice, jac: bool = False):
        low, high, k, x0 = (theta[:, [j]] for j in range(4))
        d = u[None, rows] - x0
        s = expit(k * d)
        r = low + (high - low) * s - y[None, rows]
        if not jac:
            return r
        ds = (high - low) * s * (1.0 - s)
        return r, np.stack([1.0 - s, s, ds * d, -ds * k], axis=1)

    res = minimize_residuals(residuals, starts, y.size, lower, upper)
    return res.theta[int(np.argmin(res.value))]


def _fit(model: str, x: np.ndarray, y: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    return _fit_log_linear(x, y) if model == LOG_LINEAR else _fit_sigmoid(x, y, start)


def _heldout_rmse(model: str, x: np.ndarray, y: np.ndarray, holdout: str) -> float:
    """Leave-one-out RMSE, or the RMSE at the largest x when fitted without it (``holdout="largest"``)."""
    if holdout == "largest":
        test = x == x.max()
        theta = _fit(model, x[~test], y[~test])
        return float(np.sqrt(np.mean((_law(model, x[test], theta) - y[test]) ** 2)))
    errs = [_law(model, x[i:i + 1], _fit(model, np.delete(x, i), np.delete(y, i)))[0] - y[i]
            for i in range(len(x))]
    return float(np.sqrt(np.mean(np.square(errs))))


@dataclass(frozen=True, repr=False)
class CurveFit(Displayed):
    """One fitted law: parameters (fractions; x0 in log10 x), in-sample and held-out RMSE (accuracy units)."""

    _display = (("model", ""), ("params", ""), ("rmse", "accuracy"), ("heldout_rmse", "accuracy"))

    model: str
    params: dict[str, float]
    rmse: float
    heldout_rmse: float

    def predict(self, x: np.ndarray | float) -> np.ndarray:
        """Unclipped accuracy at compute x."""
        return _law(self.model, np.asarray(x, dtype=float), np.array(list(self.params.values())))


@dataclass(frozen=True, repr=False)
class AccuracyPrediction(Displayed):
    """Accuracy at compute x under the chosen law, clipped to [0, 1]; ``clipped`` says when that bit."""

    _display = (("x", ""), ("accuracy", "fraction"), ("low", "fraction"), ("high", "fraction"),
                ("extrapolated", ""))

    x: float
    accuracy: float
    low: float | None
    high: float | None
    clipped: bool
    extrapolated: bool  # x outside the measured range
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return dict(self.__dict__)


@dataclass(frozen=True, repr=False)
class AccuracyScalingFit(Displayed):
    """Both laws fitted to accuracy vs compute, the chosen one and bootstrap draws of its parameters."""

    _display = (("x_name", ""), ("chosen", ""), ("points", "", lambda f: len(f.x)), ("level", ""),
                ("x", ""), ("accuracy", "fraction"))

    x_name: str
    x: np.ndarray
    accuracy: np.ndarray
    fits: dict[str, CurveFit]
    chosen: str
    holdout: str
    level: float = 0.95
    draws: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    notes: tuple[str, ...] = ()

    @property
    def best(self) -> CurveFit:
        """The chosen law's fit."""
        return self.fits[self.chosen]

    def predict(self, x: float) -> AccuracyPrediction:
        """Accuracy at compute ``x`` (same unit as the data) with a percentile bootstrap interval."""
        xv = positive_number(self.x_name, x)
        raw = float(self.best.predict(xv))
        lo = hi = None
        if self.draws.size:
            vals = np.array([_law(self.chosen, np.array([xv]), t)[0] for t in self.draws])
            lo, hi = (float(v) for v in np.quantile(vals, [(1 - self.level) / 2, (1 + self.level) / 2]))
        clipped = any(v is not None and not 0 <= v <= 1 for v in (raw, lo, hi))
        clip = (lambda v: None if v is None else float(np.clip(v, 0.0, 1.0)))
        extrapolated = not self.x.min() <= xv <= self.x.max()
        notes = []
        if clipped:
            notes.append(f"the {self.chosen} law leaves [0, 1] here (raw {raw:.4g}); clipped to [0, 1]")
        if extrapolated:
            notes.append(f"extrapolated outside the measured {self.x_name} range "
                         f"{self.x.min():g} .. {self.x.max():g}")
        return AccuracyPrediction(xv, clip(raw), clip(lo), clip(hi), clipped, extrapolated, "; ".join(notes))

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary of both fits and the choice."""
        return {"x_name": self.x_name, "chosen": self.chosen, "holdout": self.holdout, "n_points": len(self.x),
                "fits": {m: {"params": f.params, "rmse": f.rmse, "heldout_rmse": f.heldout_rmse}
                         for m, f in self.fits.items()},
                "bootstrap": len(self.draws), "level": self.level, "notes": list(self.notes)}


def _check_data(x: Sequence[float], accuracy: Sequence[float], x_name: str) -> tuple[np.ndarray, np.ndarray]:
    xs = finite_array(x_name, x, low=0.0, low_open=True).ravel()
    ys = finite_array("accuracy", accuracy).ravel()
    if xs.size != ys.size:
        raise ScalingLabError(f"{x_name} and accuracy must have the same length, got {xs.size} and {ys.size}")
    bad_x = np.flatnonzero(~np.isfinite(xs) | (xs <= 0))
    if bad_x.size:
        raise ScalingLabError(f"{x_name}[{bad_x[0]}] must be a finite number > 0, got {xs[bad_x[0]]:g}")
    bad_y = np.flatnonzero(~np.isfinite(ys) | (ys < 0) | (ys > 1))
    if bad_y.size:
        raise ScalingLabError(f"accuracy[{bad_y[0]}] must be a fraction in [0, 1], got {ys[bad_y[0]]:g}")
    if np.unique(xs).size < 3:
        raise ScalingLabError(f"need at least 3 distinct {x_name} values to fit and hold out, got "
                              f"{np.unique(xs).size}")
    return xs, ys


def _curve_fit(model: str, xs: np.ndarray, ys: np.ndarray, holdout: str) -> CurveFit:
    theta = _fit(model, xs, ys)
    rmse = float(np.sqrt(np.mean((_law(model, xs, theta) - ys) ** 2)))
    return CurveFit(model, dict(zip(_PARAMS[model], map(float, theta))), rmse,
                    _heldout_rmse(model, xs, ys, holdout))


def _residual_bootstrap(fit: CurveFit, xs: np.ndarray, ys: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Refit on fitted + resampled residuals (inflated by sqrt(m / (m - p)) for the fitted parameters)."""
    theta = np.array(list(fit.params.values()))
    fitted = _law(fit.model, xs, theta)
    m, p = len(xs), len(theta)
    resid = (ys - fitted) * np.sqrt(m / max(m - p, 1))
    rng = np.random.default_rng(seed)
    return np.array([_fit(fit.model, xs, fitted + resid[rng.integers(0, m, m)], theta)
                     for _ in range(n)]).reshape(n, p)


def fit_test_time(x: Sequence[float], accuracy: Sequence[float], x_name: str = "reasoning_tokens",
                  holdout: str = "loo", bootstrap: int = 200, seed: int = 0,
                  level: float = 0.95) -> AccuracyScalingFit:
    """Fit log-linear and sigmoid-in-log10(x) laws to accuracy vs compute and keep the one that predicts
    held-out points better (``holdout``: "loo" leave-one-out, or "largest" = fit without the largest x
    and score there, an extrapolation test). Ties keep the simpler log-linear law. The sigmoid needs
    5 distinct x and 4 training points; with fewer only the log-linear law is fitted. Over a short,
    nearly straight stretch both laws fit within the noise and the choice says little: compare the
    ``heldout_rmse`` of both. ``bootstrap`` residual resamples (seeded) give the prediction intervals.
    """
    if holdout not in ("loo", "largest"):
        raise ScalingLabError(f"holdout must be 'loo' or 'largest', got {holdout!r}")
    bootstrap, seed, level = bootstrap_count(bootstrap), seed_number(seed), level_number(level)
    xs, ys = _check_data(x, accuracy, x_name)
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    fits = {LOG_LINEAR: _curve_fit(LOG_LINEAR, xs, ys, holdout)}
    notes: list[str] = []
    n_train = len(xs) - (1 if holdout == "loo" else int(np.sum(xs == xs.max())))
    if np.unique(xs).size >= 5 and n_train >= 4:
        fits[SIGMOID] = _curve_fit(SIGMOID, xs, ys, holdout)
    else:
        notes.append("too few points to fit and hold out the 4-parameter sigmoid; log-linear only")
    chosen = min(fits, key=lambda m: (fits[m].heldout_rmse, m != LOG_LINEAR))
    draws = _residual_bootstrap(fits[chosen], xs, ys, bootstrap, seed) if bootstrap else np.empty((0, 0))
    return AccuracyScalingFit(x_name, xs, ys, fits, chosen, holdout, level, draws, tuple(notes))
