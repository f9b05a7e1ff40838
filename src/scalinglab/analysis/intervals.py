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

import scalinglab.fitting.calibration as cal
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, level_number
from scalinglab.fitting.predictive import (  # noqa: F401  (the arithmetic lives in the fit layer)
    BISECTION_STEPS,
    MAD_EFFICIENCY,
    MAD_TO_SIGMA,
    log_centres,
    residual_scale,
)
from scalinglab.fitting.predictive import mixture_quantiles as _mixture_quantiles
from scalinglab.fitting.predictive import weighted_percentile as _weighted_percentile
from scalinglab.fitting.result import INTERVAL_METHODS, FitResult
from scalinglab.plan.allocation import allocate
from scalinglab.resolve import law_inputs

Array = np.ndarray
NOISE_KINDS = ("t", "resample")


@dataclass(repr=False)
class PredictionInterval(Displayed):
    """Predicted loss (nats/token) with a prediction interval for a new run's observed loss.

    ``point``: the fit's prediction; ``low``/``high``: the interval at ``level`` (parameter
    uncertainty + run-to-run noise); ``param_low``/``param_high``: the parameter-only interval (None
    without bootstrap draws); ``sigma``: the log-space noise scale used; ``inputs``: the law's inputs."""

    _display = (("point", "nats/token"), ("low", "nats/token"), ("high", "nats/token"), ("level", ""),
                ("sigma", "ln(loss)"), ("method", ""))

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
    method: str = "prediction"  # the interval= it was made with (check_interval)
    misfit: Array | None = None  # calibrated: the band's half-width q s(d) in log-loss units

    @property
    def loss(self) -> Array:
        """Alias of ``point`` (the name :class:`~scalinglab.fitting.Prediction` uses)."""
        return self.point

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: point, low, high, level, sigma, noise, inputs, notes, interval_method (+ param_low/high,
        + misfit when calibrated)."""
        def j(x: Any) -> Any:
            a = np.asarray(x, dtype=float)
            return float(a) if a.ndim == 0 else a.tolist()

        d = {"point": j(self.point), "low": j(self.low), "high": j(self.high), "level": self.level,
             "sigma": self.sigma, "noise": self.noise, "inputs": {k: j(v) for k, v in self.inputs.items()},
             "notes": list(self.notes), "interval_method": self.method}
        if self.misfit is not None:
            d["misfit"] = j(self.misfit)
        if self.param_low is not None:
            d.update(param_low=j(self.param_low), param_high=j(self.param_high))
        return d


# ---- inputs ---------------------------------------------------------------------------------------------
def _law_inputs(result: FitResult, X: dict[str, Any]) -> tuple[dict[str, Array], tuple[int, ...], list[str]]:
    """Flattened law inputs from params/tokens/flops/step/budget keywords (C = 6ND completes a third;
    ``budget`` = compute-optimal allocation of the point estimate for a law of params and tokens)."""
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
    family = result.family
    budgets = np.atleast_1d(np.asarray(budget, dtype=float))
    if "params" in family.variables and "tokens" in family.variables:
        point = FitResult(**{**result.__dict__, "draws": None})  # allocation of the point estimate only
        allocs = [allocate(point, float(c), allow_unidentified=True) for c in budgets.ravel()]
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
def check_interval(interval: str) -> None:
    """``interval=`` of a prediction interval: one of :data:`~scalinglab.fitting.result.INTERVAL_METHODS`
    but "parameters" (a prediction interval always holds run-to-run noise): "prediction" (parameters +
    noise, the default) or "calibrated" (that widened by the law's misfit learned from its own
    extrapolation errors, :func:`scalinglab.analysis.calibrate`)."""
    kinds = [m for m in INTERVAL_METHODS if m != "parameters"]
    if interval not in kinds:
        raise ScalingLabError(f"interval must be one of {', '.join(kinds)}, got {interval!r}")


def prediction_interval(result: FitResult, level: float = 0.95, *, noise: str = "t", interval: str = "prediction",
                        **X: Any) -> PredictionInterval:
    """Loss (nats/token) a new run would observe at ``params=``/``tokens=``/``flops=``/``step=`` (or the
    compute-optimal allocation at ``budget=`` FLOPs), with an interval at ``level`` that includes the
    bootstrap parameter uncertainty of ``result`` and run-to-run noise (see the module docstring).

    ``noise="t"`` (default): sigma * t_(n-p) noise, sigma the robust residual scale; ``"resample"``:
    the fit's own residuals, inflated by sqrt(n/(n-p)).

    ``interval="calibrated"`` widens that interval by the law's misfit as learned from its own
    extrapolation errors (the union with ln L_pred -+ q s(d), :mod:`scalinglab.fitting.calibration`); the
    fit must carry a calibration (:func:`scalinglab.analysis.calibrate`)."""
    if not isinstance(result, FitResult):
        raise ScalingLabError(f"result must be a FitResult (from sl.fit), got {type(result).__name__}")
    level = level_number(level)
    if noise not in NOISE_KINDS:
        raise ScalingLabError(f"noise must be one of {', '.join(NOISE_KINDS)}, got {noise!r}")
    check_interval(interval)
    if interval == "calibrated" and result.calibration is None:
        raise ScalingLabError(f"interval='calibrated' needs a calibrated fit: this fit of {result.law} carries "
                              "no calibration (attach one with sl.analysis.calibrate(result, runs))")
    if result.residuals is None:
        raise ScalingLabError(f"fit of {result.law} carries no residuals: cannot estimate run-to-run noise")
    flat, shape, notes = _law_inputs(result, X)
    family = result.family
    point, centres = log_centres(family, result.theta, result.draws, flat)
    has_draws = result.draws is not None and len(result.draws) > 0
    sigma, dof = residual_scale(result.residuals, result.n_free)  # p = the parameters actually fitted
    tail = 0.5 * (1.0 - float(level))
    if noise == "t":
        lo, hi = _mixture_quantiles(centres, sigma, dof, (tail, 1.0 - tail))
    else:
        lo, hi = _resampled_quantiles(centres, result.residuals, result.n_free, (tail, 1.0 - tail))
    misfit = None
    if interval == "calibrated":
        lo, hi, misfit, capped = cal.calibrated_log_bounds(result.calibration, point[0], lo, hi, flat, level,
                                                           f"law {result.law}")
        misfit = misfit.reshape(shape)
        if capped:
            notes.append(cal.capped_note(result.calibration, level))
    pi = PredictionInterval(point=np.exp(point[0]).reshape(shape), low=np.exp(lo).reshape(shape),
                            high=np.exp(hi).reshape(shape), level=float(level), sigma=sigma, noise=noise,
                            inputs={k: v.reshape(shape) for k, v in flat.items()}, notes=notes,
                            method=interval, misfit=misfit)
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
