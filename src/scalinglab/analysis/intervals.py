"""Prediction intervals for a new run: parameter uncertainty plus run-to-run noise.

A fitted law's own interval (:meth:`FitResult.predict`) covers the *mean* loss at a point: it reflects
parameter uncertainty only. A new training run scatters around that mean (seed, data order,
digitisation error), so an interval meant to contain the *observed* loss of a run must add that
scatter. Here, in log space (every scalinglab fit is made on ln L), the predictive distribution of
ln L_new at inputs x is the equal-weight mixture over the bootstrap draws theta_b of

    ln L_new = ln f(x; theta_b) + sigma * t_nu,        nu = max(1, 0.37 (n - p)),

where t_nu is Student's t (n fitted runs, p free parameters) and sigma is a robust scale of the fit's
log-residuals with a small-sample correction:

    sigma = 1.4826 * MAD(r) * sqrt(n / (n - p)),        r = ln f(x_i; theta_hat) - ln L_i.

Why this form (and not resampled residuals):

* 1.4826 * MAD is the normal-consistent median absolute deviation (Rousseeuw & Croux 1993): the default
  fit is a Huber fit with delta = 1e-3 (Hoffmann et al. 2022 sec. D.2), which deliberately ignores a
  few outlying runs; a robust scale keeps those same outliers from inflating every interval.
* sqrt(n/(n - p)) undoes the shrinkage of residuals by the p fitted parameters (the same factor that
  turns RSS/n into RSS/(n - p)).
* The t_nu tail accounts for sigma being estimated, as the classical regression prediction interval
  does with n - p degrees of freedom (the "Student-t, n-2 dof lack-of-fit interval" users ask for,
  marin issue #8096). The MAD is only 37% efficient for normal data (Rousseeuw & Croux 1993), i.e. it
  is as variable as a standard deviation on 0.37 (n - p) degrees of freedom, so nu is reduced to that.
* With only 10-30 runs, resampled residuals give a 95% interval set by the one or two most extreme
  training residuals; the parametric form is smoother. ``noise="resample"`` is offered for heavy-
  tailed data: the mixture is then over (draw, residual) pairs, each residual inflated by
  sqrt(n/(n - p)).

Quantiles of the mixture are found exactly by bisection on its CDF (no Monte-Carlo, no seed). Without
bootstrap draws the interval is noise only around the point estimate, and a note says so.

Units: loss in nats/token; ``params`` a parameter count (as counted by the data), ``tokens`` training
tokens, ``flops`` training FLOPs (a count), ``budget`` a FLOP budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special, stats

from scalinglab.errors import ScalingLabError
from scalinglab.fit.result import FitResult

Array = np.ndarray
MAD_TO_SIGMA = 1.4826  # 1 / Phi^-1(3/4): MAD of a normal sample -> its standard deviation
MAD_EFFICIENCY = 0.37  # asymptotic efficiency of the MAD scale for normal data (Rousseeuw & Croux 1993)
NOISE_KINDS = ("t", "resample")
BISECTION_STEPS = 60


@dataclass
class PredictionInterval:
    """Predicted loss (nats/token) with a prediction interval for a new run's observed loss.

    ``point``: the fit's prediction; ``low``/``high``: the interval at ``level`` (parameter
    uncertainty + run-to-run noise); ``param_low``/``param_high``: the parameter-only interval (None
    without bootstrap draws); ``sigma``: the log-space noise scale used; ``inputs``: the law's inputs."""

    point: Array
    low: Array
    high: Array
    level: float
    sigma: float
    noise: str
    param_low: Array | None = None
    param_high: Array | None = None
    inputs: dict[str, Array] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def loss(self) -> Array:
        """Alias of ``point`` (the name :class:`~scalinglab.fit.Prediction` uses)."""
        return self.point

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: point, low, high, level, sigma, noise, inputs, notes (+ param_low/high)."""
        def j(x: Any) -> Any:
            a = np.asarray(x, dtype=float)
            return float(a) if a.ndim == 0 else a.tolist()

        d = {"point": j(self.point), "low": j(self.low), "high": j(self.high), "level": self.level,
             "sigma": self.sigma, "noise": self.noise, "inputs": {k: j(v) for k, v in self.inputs.items()},
             "notes": list(self.notes)}
        if self.param_low is not None:
            d.update(param_low=j(self.param_low), param_high=j(self.param_high))
        return d


# ---- noise scale --------------------------------------------------------------------------------------
def residual_scale(residuals: Array, n_params: int) -> tuple[float, float]:
    """(sigma, nu): sigma = 1.4826 * MAD(r) * sqrt(n/(n - p)) of log-residuals r, and the effective
    degrees of freedom of that estimate, nu = max(1, 0.37 (n - p)).

    Raises ScalingLabError when n <= p (no residual degrees of freedom to estimate the noise from)."""
    r = np.asarray(residuals, dtype=float)
    r = r[np.isfinite(r)]
    n = r.size
    dof = n - int(n_params)
    if dof < 1:
        raise ScalingLabError(f"cannot estimate run-to-run noise: {n} fitted runs for {n_params} free "
                              "parameters leave no residual degrees of freedom (need at least one more run)")
    mad = float(np.median(np.abs(r - np.median(r))))
    return MAD_TO_SIGMA * mad * math.sqrt(n / dof), max(1.0, MAD_EFFICIENCY * dof)


# ---- mixture quantiles ----------------------------------------------------------------------------------
def _mixture_quantiles(centres: Array, scale: float, dof: float, probs: tuple[float, ...]) -> list[Array]:
    """Quantiles of the equal-weight mixture over rows of ``centres`` (K, n) of centre + scale * t_dof,
    per column, by bisection on the mixture CDF. Non-finite centres are left out of their column."""
    ok = np.isfinite(centres)
    count = ok.sum(axis=0)
    if np.any(count == 0):
        raise ScalingLabError("no finite prediction at some input: the law overflows there")
    c = np.where(ok, centres, 0.0)
    lo0 = np.where(ok, centres, np.inf).min(axis=0)
    hi0 = np.where(ok, centres, -np.inf).max(axis=0)
    if scale <= 0:
        return [_weighted_percentile(centres, p) for p in probs]
    tq = float(stats.t.ppf(max(probs[-1], 1 - probs[0]), dof))
    out = []
    for p in probs:
        lo, hi = lo0 - (tq + 1.0) * scale, hi0 + (tq + 1.0) * scale
        for _ in range(BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            cdf = np.sum(np.where(ok, special.stdtr(dof, (mid - c) / scale), 0.0), axis=0) / count
            below = cdf < p
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        out.append(0.5 * (lo + hi))
    return out


def _weighted_percentile(values: Array, p: float) -> Array:
    """Per-column percentile (linear interpolation) of the finite values of (K, n) ``values``."""
    v = np.where(np.isfinite(values), values, np.nan)
    return np.nanpercentile(v, 100.0 * p, axis=0)


# ---- inputs ---------------------------------------------------------------------------------------------
def _law_inputs(result: FitResult, X: dict[str, Any]) -> tuple[dict[str, Array], tuple[int, ...], list[str]]:
    """Flattened law inputs from params/tokens/flops/step/budget keywords (C = 6ND completes a third;
    ``budget`` = compute-optimal allocation of the point estimate for a law of params and tokens)."""
    from scalinglab.resolve import law_inputs

    X = {k: v for k, v in X.items() if v is not None}
    notes: list[str] = []
    budget = X.pop("budget", None)
    family = result.family
    if budget is not None:
        if any(k in X for k in ("params", "tokens", "flops")):
            raise ScalingLabError("give either budget= or params/tokens/flops, not both")
        X.update(_budget_inputs(result, budget, notes))
    inputs, derived = law_inputs(result, **X)
    flat, shape = family.flat_inputs(inputs)
    return flat, shape, notes + derived


def _budget_inputs(result: FitResult, budget: Any, notes: list[str]) -> dict[str, Array]:
    """Inputs at FLOP budget(s): for a law of params and tokens the compute-optimal (N, D) of the point
    estimate (``sl.optimal``, C = 6ND); for a law of flops the budget itself."""
    from scalinglab.plan.optimal import allocate

    family = result.family
    budgets = np.atleast_1d(np.asarray(budget, dtype=float))
    if "params" in family.variables and "tokens" in family.variables:
        point = FitResult(**{**result.__dict__, "draws": None})  # allocation of the point estimate only
        allocs = [allocate(point, float(c)) for c in budgets.ravel()]
        notes.append("budget: loss predicted at the compute-optimal allocation (N, D) of the fitted point "
                     "estimate (C = 6ND); the interval is the loss of a run trained at that allocation")
        shape = np.shape(budget)
        return {"params": np.array([a.params for a in allocs]).reshape(shape),
                "tokens": np.array([a.tokens for a in allocs]).reshape(shape)}
    if family.variables == ("flops",):
        return {"flops": np.asarray(budget, dtype=float)}
    raise ScalingLabError(f"law {family.label} reads {', '.join(family.variables)}: budget= needs a law of "
                          "params and tokens, or of flops")


# ---- public API -----------------------------------------------------------------------------------------
def prediction_interval(result: FitResult, level: float = 0.95, *, noise: str = "t", **X: Any) -> PredictionInterval:
    """Loss (nats/token) a new run would observe at ``params=``/``tokens=``/``flops=``/``step=`` (or the
    compute-optimal allocation at ``budget=`` FLOPs), with an interval at ``level`` that includes the
    bootstrap parameter uncertainty of ``result`` and run-to-run noise (see the module docstring).

    ``noise="t"`` (default): sigma * t_(n-p) noise, sigma the robust residual scale; ``"resample"``:
    the fit's own residuals, inflated by sqrt(n/(n-p))."""
    if not 0.0 < float(level) < 1.0:
        raise ScalingLabError(f"level must lie strictly between 0 and 1, got {level}")
    if noise not in NOISE_KINDS:
        raise ScalingLabError(f"noise must be one of {', '.join(NOISE_KINDS)}, got {noise!r}")
    if result.residuals is None:
        raise ScalingLabError(f"fit of {result.law} carries no residuals: cannot estimate run-to-run noise")
    flat, shape, notes = _law_inputs(result, X)
    family = result.family
    with np.errstate(over="ignore", invalid="ignore"):
        point = family.log_predict(np.asarray(result.theta, dtype=float)[None, :], flat)
        has_draws = result.draws is not None and len(result.draws) > 0
        centres = family.log_predict(np.asarray(result.draws, dtype=float), flat) if has_draws else point
    sigma, dof = residual_scale(result.residuals, family.n_params)
    tail = 0.5 * (1.0 - float(level))
    if noise == "t":
        lo, hi = _mixture_quantiles(centres, sigma, dof, (tail, 1.0 - tail))
    else:
        lo, hi = _resampled_quantiles(centres, result.residuals, family.n_params, (tail, 1.0 - tail))
    pi = PredictionInterval(point=np.exp(point[0]).reshape(shape), low=np.exp(lo).reshape(shape),
                            high=np.exp(hi).reshape(shape), level=float(level), sigma=sigma, noise=noise,
                            inputs={k: v.reshape(shape) for k, v in flat.items()}, notes=notes)
    if has_draws:
        plo, phi = (np.exp(_weighted_percentile(centres, p)).reshape(shape) for p in (tail, 1.0 - tail))
        pi.param_low, pi.param_high = plo, phi
    else:
        pi.notes.append("the fit has no bootstrap draws: the interval reflects run-to-run noise only, not "
                        "parameter uncertainty (fit with bootstrap=200 or more for both)")
    return pi


def _resampled_quantiles(centres: Array, residuals: Array, n_params: int, probs: tuple[float, ...]) -> list[Array]:
    """Percentiles of centre_b - r_j * sqrt(n/(n-p)) over every (draw b, residual j) pair, per column."""
    r = np.asarray(residuals, dtype=float)
    r = r[np.isfinite(r)]
    n = r.size
    if n <= n_params:
        raise ScalingLabError(f"cannot resample noise: {n} fitted runs for {n_params} parameters")
    # residual = ln pred - ln obs, so an observation is the prediction minus a residual
    noise = -(r - np.median(r)) * math.sqrt(n / (n - n_params))
    sims = (centres[:, None, :] + noise[None, :, None]).reshape(-1, centres.shape[1])
    return [_weighted_percentile(sims, p) for p in probs]
