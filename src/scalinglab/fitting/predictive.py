"""Predictive-distribution arithmetic for a fitted law: robust noise scale and mixture quantiles.

In log space (every scalinglab fit is made on ln L) the loss a new run would observe at inputs x is
modelled as the equal-weight mixture over bootstrap draws theta_b of

    ln L_new = ln f(x; theta_b) + sigma * t_nu,        nu = max(1, 0.37 (n - p)),
    sigma = 1.4826 * MAD(r) * sqrt(n / (n - p)),       r = ln f(x_i; theta_hat) - ln L_i,

(n fitted runs, p free parameters; 1.4826 MAD is the normal-consistent median absolute deviation,
Rousseeuw & Croux 1993, whose efficiency for normal data is 0.37, hence nu). The reasoning and the
public entry point are in :mod:`scalinglab.analysis.intervals`; the arithmetic lives here, in the fit
layer, so that :meth:`FitResult.predict` can give the same intervals without importing analysis.
Quantiles of the mixture are found exactly by bisection on its CDF (no Monte Carlo, no seed).
"""

from __future__ import annotations

import math

import numpy as np

from scalinglab.errors import ScalingLabError

Array = np.ndarray
MAD_TO_SIGMA = 1.4826  # 1 / Phi^-1(3/4): MAD of a normal sample -> its standard deviation
MAD_EFFICIENCY = 0.37  # asymptotic efficiency of the MAD scale for normal data (Rousseeuw & Croux 1993)
BISECTION_STEPS = 60


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


def mixture_quantiles(centres: Array, scale: float, dof: float, probs: tuple[float, ...]) -> list[Array]:
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
        return [weighted_percentile(centres, p) for p in probs]
    from scipy import special  # loads with the first interval; stdtrit is scipy.stats.t.ppf

    tq = float(special.stdtrit(dof, max(probs[-1], 1 - probs[0])))
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


def weighted_percentile(values: Array, p: float) -> Array:
    """Per-column percentile (linear interpolation) of the finite values of (K, n) ``values``."""
    v = np.where(np.isfinite(values), values, np.nan)
    return np.nanpercentile(v, 100.0 * p, axis=0)


def log_centres(family, theta: Array, draws: Array | None, flat: dict[str, Array]) -> tuple[Array, Array]:
    """(ln point (1, n), ln centres (K, n)): the log-loss predicted by the point estimate ``theta`` and by
    each bootstrap draw (the point itself when there are no draws) at the flattened law inputs ``flat``."""
    with np.errstate(over="ignore", invalid="ignore"):
        point = family.log_predict(np.asarray(theta, dtype=float)[None, :], flat)
        has_draws = draws is not None and len(draws) > 0
        centres = family.log_predict(np.asarray(draws, dtype=float), flat) if has_draws else point
    return point, centres


def log_prediction_bounds(family, theta: Array, draws: Array | None, residuals: Array,
                          flat: dict[str, Array], level: float,
                          n_free: int | None = None) -> tuple[Array, Array, Array, float]:
    """(ln point, ln low, ln high, sigma) of the parameter + noise interval at ``level`` (noise
    sigma * t_nu around each bootstrap draw; around the point estimate alone without draws), at the
    flattened law inputs ``flat``. ``n_free``: the parameters the fit estimated (p in n - p; default
    all of the family's; fewer when some were fixed or tied)."""
    point, centres = log_centres(family, theta, draws, flat)
    sigma, dof = residual_scale(residuals, family.n_params if n_free is None else n_free)
    tail = 0.5 * (1.0 - float(level))
    lo, hi = mixture_quantiles(centres, sigma, dof, (tail, 1.0 - tail))
    return point[0], lo, hi, sigma
