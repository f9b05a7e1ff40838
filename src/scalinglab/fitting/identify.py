"""Which parameters of a fit the data do not determine, and why.

Four tests, each on the final internal parameters theta with J the Jacobian of the log prediction
(``J[j, i]`` = d ln f(x_i) / d theta_j, from :meth:`LawFamily.log_predict`):

1. **Negligible term.** max_i |J[j, i]| < ``NEGLIGIBLE`` (1e-6): moving theta_j by one unit (a
   factor e in an amplitude, 1 in an exponent) changes no prediction by more than a relative 1e-6,
   so the data cannot see it. This is a term that has vanished (L = E + A/N^alpha + B/D^beta with
   B/D^beta ~ 0 at every point leaves B and beta free) and a parameter on a bound where the
   objective is flat.
   A parameter that ended on a bound of the search box is named too: its value is the box's edge.
2. **Near-singular Jacobian.** Among the other parameters, the eigenvalues of the correlation
   matrix of J J^T (J J^T scaled to a unit diagonal) below ``SINGULAR`` (1e-10, a condition number
   of 1e10) are directions the data cannot tell apart: collinear ln N and ln D, a constant loss, more
   parameters than distinct inputs. Parameters loading at least 0.1 on such a direction are named.
3. **Interval spanning orders of magnitude.** The natural-scale interval of a parameter (the
   bootstrap percentile interval when there is one, else the asymptotic one: theta_j +/- z * se_j
   with cov = s^2 (J J^T)^+ over all parameters, clipped to the box, s^2 = sum r^2 / (n - P), mapped to the
   natural scale) has hi/lo > ``WIDE`` (100: two decades), or reaches or crosses zero. Such a
   value is unknown even in its order of magnitude.
4. **Still at its starting value.** A parameter flagged by 1 or 2 that still equals one of its grid
   starting values is said to be so: the optimiser never moved it, the objective is flat there.

Sources: the identifiability checks of simple-scaling-laws and vpnls's ``FitStatus`` motivate the
catalogue (docs/fit.md, "Status and identifiability"); the thresholds are scalinglab's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from scalinglab.laws.base import LawFamily

Array = np.ndarray
NEGLIGIBLE = 1e-6
SINGULAR = 1e-10
LOADING = 0.1
WIDE = 100.0
#: A standard error above this many times |value| says the data hardly determine the value.
HUGE_STDERR = 1e3


def stderr_flag(value: float, se: float | None) -> tuple[str, str] | None:
    """(word, reason) when a parameter's standard error says the data hardly determine it: more than
    ``HUGE_STDERR`` (1000) times |value| ("huge"), or not finite ("undefined"); None otherwise."""
    if se is None:
        return None
    if not math.isfinite(se):
        return "undefined", f"std err {se} (the bootstrap spread is not finite)"
    if value != 0 and se > HUGE_STDERR * abs(value):
        return "huge", f"std err {se:.4g} is {se / abs(value):.3g} x |value| (over {HUGE_STDERR:g} x)"
    return None


def _jacobian(family: LawFamily, theta: Array, X: Mapping[str, Array]) -> Array:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        _, J = family.log_predict(theta[None, :], X, jac=True)
    return np.nan_to_num(np.asarray(J[0], dtype=float), nan=0.0, posinf=0.0, neginf=0.0)


def _singular(J: Array, keep: Array) -> set[int]:
    idx = np.flatnonzero(keep)
    if idx.size < 2:
        return set()
    H = J[idx] @ J[idx].T
    d = np.sqrt(np.diag(H))
    w, v = np.linalg.eigh(H / np.outer(d, d))
    out: set[int] = set()
    for k in np.flatnonzero(w < SINGULAR * max(w.max(), 1.0)):
        out |= {int(idx[j]) for j in np.flatnonzero(np.abs(v[:, k]) >= LOADING)}
    return out


def _asymptotic_intervals(family: LawFamily, theta: Array, J: Array, resid: Array, free: Array,
                          level: float, box: tuple[Array, Array] | None = None) -> dict[str, tuple[float, float]]:
    n, P = len(resid), len(theta)
    idx = np.flatnonzero(free)
    if n <= P or idx.size == 0:
        return {}
    s2 = float(resid @ resid) / (n - P)
    cov = s2 * np.linalg.pinv(J[idx] @ J[idx].T, rcond=1e-12)
    from scipy.special import ndtri  # the normal quantile (scipy.stats.norm.ppf) without scipy.stats

    z = float(ndtri(0.5 + level / 2))
    lo_b, hi_b = family.bounds() if box is None else box
    out: dict[str, tuple[float, float]] = {}
    for k, j in enumerate(idx):
        half = z * np.sqrt(max(cov[k, k], 0.0))
        ends = []
        for t in (max(theta[j] - half, lo_b[j]), min(theta[j] + half, hi_b[j])):
            moved = theta.copy()
            moved[j] = t
            ends.append(float(family.to_natural(moved)[family.param_names[j]]))
        out[family.param_names[j]] = (min(ends), max(ends))
    return out


def _wide(lo: float, hi: float) -> bool:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return True
    if lo <= 0.0 <= hi:
        return hi > lo  # reaches or crosses zero (a zero-width interval at 0 is not "wide")
    a, b = sorted((abs(lo), abs(hi)))
    return b > WIDE * a


def unidentified_parameters(family: LawFamily, theta: Array, X: Mapping[str, Array], logy: Array,
                            level: float = 0.95,
                            intervals: Mapping[str, list[float]] | None = None,
                            starts: Array | None = None,
                            box: tuple[Array, Array] | None = None) -> dict[str, str]:
    """Natural parameter name -> why the data do not determine it, in the family's order.

    ``intervals`` are the bootstrap percentile intervals by natural name, when the fit has them;
    ``box`` the internal (lo, hi) the optimiser searched, when not the family's bounds."""
    names = family.param_names
    J = _jacobian(family, theta, X)
    lo_b, hi_b = family.bounds() if box is None else box
    on_bound = (theta <= lo_b) | (theta >= hi_b)
    sens = np.abs(J).max(axis=1)
    reasons: dict[int, str] = {}
    for j in np.flatnonzero(sens < NEGLIGIBLE):
        where = "on a bound where the objective is flat" if on_bound[j] else "its term is negligible"
        reasons[int(j)] = f"changes no prediction by more than {NEGLIGIBLE:g} ({where})"
    for j in np.flatnonzero(on_bound):
        reasons.setdefault(int(j), "it ended on a bound of the search box: its value is the box's "
                                   "edge, where the data push it, not a value they determine")
    singular = _singular(J, sens >= NEGLIGIBLE)
    for j in sorted(singular):
        partners = [names[k] for k in sorted(singular) if k != j]
        reasons[j] = ("near-singular Jacobian: the data move it only together with "
                      + (", ".join(partners) if partners else "the others"))
    if intervals is None:
        resid = family.log_predict(theta[None, :], X)[0] - logy
        intervals = _asymptotic_intervals(family, theta, J, resid, np.ones(len(theta), bool), level, box)
        kind = "asymptotic"
    else:
        kind = "bootstrap"
    for j, name in enumerate(names):
        ci = intervals.get(name)
        if j not in reasons and ci is not None and _wide(float(ci[0]), float(ci[1])):
            reasons[j] = f"its {kind} {100 * level:g}% interval [{ci[0]:.3g}, {ci[1]:.3g}] spans orders of magnitude"
    if starts is not None and len(starts):
        grid = np.atleast_2d(starts)
        for j in list(reasons):
            if j < grid.shape[1] and np.any(np.abs(grid[:, j] - theta[j]) <= 1e-9 * (1 + abs(theta[j]))):
                reasons[j] += "; still at its starting value"
    return {names[j]: reasons[j] for j in sorted(reasons)}
