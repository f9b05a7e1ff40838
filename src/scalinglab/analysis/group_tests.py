"""Do the groups share their exponents? Two tests on per-group fits of one law.

1. F test of nested least-squares models on log residuals (the exponent test of :func:`fit_groups`):
   *separate*: every group has its own parameters (G P free parameters);
   *shared*: the exponents (alpha, beta, ...) are common to all groups, the rest per group
   (k + G (P - k) free parameters; Fernandes et al. 2023 fit exactly this structure per language pair).
   F = ((RSS_shared - RSS_separate) / q) / (RSS_separate / (n - G P)), q = k (G - 1), p = P(F_{q, n-GP} > F).
   The usual nested-model F test (e.g. Seber & Wild 2003, Nonlinear Regression, sec. 5.3); for a
   nonlinear law it is approximate (exact for a law linear in its parameters with Gaussian noise).
2. Bootstrap difference of each group's exponent from the reference's: paired independent draws,
   percentile interval, two-sided p = 2 min(P(d <= 0), P(d >= 0)) (resolution 1/B).

Residuals are ln(predicted) - ln(observed loss), loss in nats/token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

from scalinglab.fitting.optimizer import minimize_residuals
from scalinglab.fitting.result import FitResult, percentile_interval
from scalinglab.fitting.runtime import single_threaded_blas
from scalinglab.laws.base import LawFamily

Array = np.ndarray
EXPONENT_STEMS = ("alpha", "beta")


def exponent_names(family: LawFamily) -> list[str]:
    """The law's exponents: parameters named alpha, beta, alpha_N, ... (stored unscaled internally)."""
    return [p for p in family.param_names if p.split("_")[0] in EXPONENT_STEMS]


def _joint_fit(family: LawFamily, data: list[tuple[dict[str, Array], Array]], thetas: list[Array],
               exp_idx: list[int]) -> tuple[float, Array]:
    """Least-squares fit with the exponents shared across groups; (RSS, shared exponents)."""
    P, G, k = family.n_params, len(data), len(exp_idx)
    other = [i for i in range(P) if i not in exp_idx]
    lo, hi = family.bounds()
    lb = np.concatenate([lo[exp_idx], np.tile(lo[other], G)])
    ub = np.concatenate([hi[exp_idx], np.tile(hi[other], G)])
    sizes = [len(y) for _, y in data]
    offsets = np.concatenate([[0], np.cumsum(sizes)])

    m, n = len(other), int(offsets[-1])

    def unpack(z: Array, g: int) -> Array:
        """Group g's law parameters (S, P) from the joint rows z (S, k + G m)."""
        theta = np.empty((z.shape[0], P))
        theta[:, exp_idx] = z[:, :k]
        theta[:, other] = z[:, k + g * m: k + (g + 1) * m]
        return theta

    def residuals(z: Array, _starts: Array, rows: slice, jac: bool = False):
        """Log residuals (S, n) of every group's runs, and with ``jac`` their Jacobian (S, k + G m, n)."""
        r = np.empty((z.shape[0], n))
        J = np.zeros((z.shape[0], z.shape[1], n)) if jac else None
        for g, (X, y) in enumerate(data):
            cols = slice(offsets[g], offsets[g + 1])
            if not jac:
                r[:, cols] = family.log_predict(unpack(z, g), X) - y
                continue
            pred, Jg = family.log_predict(unpack(z, g), X, jac=True)
            r[:, cols] = pred - y
            J[:, :k, cols] = Jg[:, exp_idx, :]
            J[:, k + g * m: k + (g + 1) * m, cols] = Jg[:, other, :]
        return r[:, rows] if J is None else (r[:, rows], J[:, :, rows])

    T = np.array(thetas)
    shared = [T[g, exp_idx] for g in range(G)] + [np.median(T[:, exp_idx], axis=0)]
    starts = np.array([np.concatenate([s, T[:, other].ravel()]) for s in shared])
    with np.errstate(all="ignore"), single_threaded_blas():
        res = minimize_residuals(residuals, starts, n, lb, ub, max_iter=2000, xtol=1e-12)
        r = residuals(res.theta, starts, slice(0, n))
    rss = np.einsum("sn,sn->s", r, r)
    rss = np.where(np.isfinite(rss), rss, np.inf)
    i = int(np.argmin(rss))
    return (float(rss[i]), res.theta[i, :k].copy()) if np.isfinite(rss[i]) else (np.inf, np.full(k, np.nan))


def shared_exponent_test(family: LawFamily, data: Mapping[str, tuple[dict[str, Array], Array]],
                         ls_fits: Mapping[str, FitResult]) -> dict[str, Any]:
    """F test of shared vs per-group exponents (module docstring, test 1).

    ``data``: group -> (inputs X, ln loss); ``ls_fits``: group -> least-squares fit of ``family`` to that
    group (its residuals give RSS_separate and its parameters the starts of the shared fit).
    Returns {"method", "exponents", "statistic", "p_value", "df", "rss_shared", "rss_separate", "shared"};
    statistic and p_value are None, with a "reason", when the test cannot be made."""
    names = exponent_names(family)
    G, P = len(data), family.n_params
    n = sum(len(y) for _, y in data.values())
    out: dict[str, Any] = {
        "method": (f"F test, one shared value of {', '.join(names) or 'the exponents'} for all {G} groups vs one "
                   "per group (nested least-squares fits on log residuals)"),
        "exponents": names, "statistic": None, "p_value": None, "df": None,
    }
    if not names:
        return {**out, "reason": f"law {family.label} has no exponent named alpha or beta to test"}
    q, df2 = len(names) * (G - 1), n - G * P
    if df2 <= 0:
        return {**out, "reason": f"{n} points leave no residual degrees of freedom for {G} groups x {P} parameters"}
    rss_sep = float(sum(np.sum(ls_fits[g].residuals ** 2) for g in data))
    exp_idx = [family.param_names.index(e) for e in names]
    groups = list(data)
    rss_shared, shared = _joint_fit(family, [data[g] for g in groups], [ls_fits[g].theta for g in groups], exp_idx)
    rss_shared = max(rss_shared, rss_sep)  # the nested model cannot fit better; guards optimiser noise
    if rss_sep <= 0:
        stat, p = (np.inf, 0.0) if rss_shared > 0 else (np.nan, np.nan)
    else:
        stat = ((rss_shared - rss_sep) / q) / (rss_sep / df2)
        p = float(stats.f.sf(stat, q, df2))
    return {**out, "statistic": float(stat), "p_value": float(p), "df": [q, df2], "rss_shared": rss_shared,
            "rss_separate": rss_sep, "shared": {e: float(v) for e, v in zip(names, shared)}}


def exponent_differences(results: Mapping[str, FitResult], reference: str) -> dict[str, dict[str, Any]]:
    """Bootstrap difference of each group's exponents from the reference group's (test 2).

    group -> exponent -> {"value", "low", "high", "p_value"} (value = point difference; interval and p from
    paired draws). Empty without bootstrap draws."""
    ref = results[reference]
    names = exponent_names(ref.family)
    ref_draws = ref.draw_params()
    out: dict[str, dict[str, Any]] = {}
    for g, res in results.items():
        draws = res.draw_params()
        if g == reference or not draws or not ref_draws:
            continue
        m = min(len(draws[names[0]]), len(ref_draws[names[0]])) if names else 0
        out[g] = {}
        for e in names:
            d = np.asarray(draws[e][:m]) - np.asarray(ref_draws[e][:m])
            d = d[np.isfinite(d)]
            lo, hi = percentile_interval(d, ref.level)
            p = min(1.0, 2.0 * min(np.mean(d <= 0), np.mean(d >= 0)))
            out[g][e] = {"value": float(res.params[e] - ref.params[e]), "low": float(lo), "high": float(hi),
                         "p_value": float(max(p, 1.0 / max(len(d), 1)))}
    return out
