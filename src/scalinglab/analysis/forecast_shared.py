"""Forecast one run's final loss with a law fitted jointly to several runs' learning curves.

The first part of one curve pins the exponent and the floor of a saturating power law badly; other
runs of the same kind, seen to their end, pin them well. :func:`forecast_shared` fits one law to
the OTHER runs' whole curves plus the target's first ``fraction`` (x <= fraction * the target's last
x), then predicts the target at its last x (or ``final``). Laws (L in nats/token, x = tokens or steps):

* ``"exponent"`` (default): L_r(x) = E_r + B_r x^(-beta), one exponent beta shared by all runs, a floor
  E_r >= 0 and amplitude B_r >= 0 per run (needs no ``params``; runs may differ in data, size or
  learning rate). Fitted by variable projection: for a given beta, each run's (E_r, B_r) minimise
  sum ((E_r + B_r x^-beta - y)/y)^2, the first-order form of the sum of squared ln-residuals, in closed
  form (a 2x2 weighted least-squares solve, clipped to E_r, B_r >= 0); beta minimises the total over a
  log grid on [0.01, 3], refined by bounded Brent search. Bootstrap: whole other runs resampled with
  replacement, the target's fitted points resampled, everything refitted.
* ``"chinchilla"``: L(N, x) = E + A/N^alpha + B/x^beta, every parameter shared (Hoffmann et al. 2022,
  eq. 2, with D = x seen so far; N = ``params``), fitted with :func:`scalinglab.fitting` (row bootstrap).
* ``"kaplan_ns"``: L(N, S) = (N_c/N)^alpha_N + (S_c/S)^alpha_S shared (Kaplan et al. 2020, eq. 1.6 /
  5.6, Table 3; S = x), fitted with :func:`scalinglab.fitting` (row bootstrap).

Interval: bootstrap predictions ln L_b plus noise s * t_b (see :mod:`scalinglab.analysis.forecast`),
with s chosen to reflect how far a forecast misses a whole run, not only the curve noise:

* ``exponent``: s = max(s_pool, s_cv). s_pool: pooled residual sd of ln L over all fitted points.
  s_cv: root mean square of ln(forecast/observed) when up to :data:`CV_RUNS` other runs (a seeded
  choice) are forecast the same way from their own first ``fraction`` (leave that run out). t has
  K - 1 degrees of freedom for K such runs.
* ``chinchilla``, ``kaplan_ns``: s = max(s, s_end), s_end the root mean square of the other runs'
  ln-residuals at their last points (in-sample, so optimistic); t with R - 1 degrees of freedom.

Learning-rate schedules are not modelled (see :mod:`scalinglab.analysis.forecast`): the shared fit
helps only in so far as the other runs resemble the target.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from scalinglab.analysis.forecast_core import (
    Forecast,
    _check_options,
    _curve_rows,
    _finish,
    _fit,
    _fit_table,
    _noise_sd,
    _target_id,
    _window,
    curve_ids,
    load_curves,
)
from scalinglab.display import Displayed
from scalinglab.errors import FitError, ScalingLabError, bootstrap_count, seed_number
from scalinglab.fitting import FitResult
from scalinglab.fitting.result import percentile_interval
from scalinglab.io import Runs
from scalinglab.laws import get_family

__all__ = ["CV_RUNS", "SHARED_LAWS", "ExponentFit", "fit_shared_exponent", "forecast_shared"]

SHARED_LAWS: tuple[str, ...] = ("exponent", "chinchilla", "kaplan_ns")
CV_RUNS = 30
BETA_BOUNDS = (0.01, 3.0)
_GRID = np.geomspace(*BETA_BOUNDS, 48)
_LN_E_MIN = -20.0  # ln E floor of the power_floor family (E = 0 is stored as exp(-20) nats/token)


@dataclass(repr=False)
class ExponentFit(Displayed):
    """L_r(x) = E[r] + B[r] (x/x0)^(-beta) for run code r; ``objective`` is the weighted sum of
    squared relative residuals; ``at_edge``: beta ended on a bound of [0.01, 3]."""

    _display = (("beta", "exponent"), ("x0", "units of x"), ("objective", ""), ("at_edge", ""),
                ("E", "nats/token"))

    beta: float
    E: np.ndarray
    B: np.ndarray
    x0: float
    objective: float
    at_edge: bool

    def log_predict(self, code: int, x: np.ndarray | float) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.E[code] + self.B[code] * (np.asarray(x, float) / self.x0) ** -self.beta)


def _solve_runs(beta: np.ndarray, lx: np.ndarray, y: np.ndarray, w: np.ndarray,
                starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each beta (G,): per-run (E, B) >= 0, each (G, R), minimising sum w (E + B z - y)^2 with
    z = exp(-beta lx), and the total (G,). Runs are contiguous segments beginning at ``starts``."""
    z = np.exp(-np.outer(beta, lx))

    def sums(v: np.ndarray) -> np.ndarray:
        return np.add.reduceat(np.broadcast_to(w * v, z.shape), starts, axis=1)

    a, b, c, d, e, f = sums(np.ones_like(z)), sums(z), sums(z * z), sums(y), sums(z * y), sums(y * y)
    det = a * c - b * b
    ok = det > 1e-12 * np.maximum(a * c, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        E = np.where(ok, (c * d - b * e) / det, d / a)
        B = np.where(ok, (a * e - b * d) / det, 0.0)
        only_b = E < 0  # floor clipped to 0: B alone
        E, B = np.where(only_b, 0.0, E), np.where(only_b, e / c, B)
        only_e = B < 0  # amplitude clipped to 0: E alone
        E, B = np.where(only_e, d / a, E), np.where(only_e, 0.0, B)
    E, B = np.nan_to_num(E), np.nan_to_num(B)
    total = f - 2 * (E * d + B * e) + E * E * a + 2 * E * B * b + B * B * c
    return np.sum(np.maximum(total, 0.0), axis=1), E, B


def fit_shared_exponent(x: np.ndarray, y: np.ndarray, codes: np.ndarray,
                        counts: np.ndarray | None = None) -> ExponentFit:
    """Fit L_r(x) = E_r + B_r x^(-beta) with beta shared (variable projection; module docstring).
    ``x`` > 0 (tokens or steps), ``y`` losses (nats/token), ``codes`` run codes 0..R-1 in contiguous
    ascending blocks, ``counts`` optional per-point weights (bootstrap multiplicities)."""
    x, y, codes = np.asarray(x, float), np.asarray(y, float), np.asarray(codes)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    if np.any(np.diff(codes[starts]) != 1) or codes[0] != 0:
        raise ScalingLabError("fit_shared_exponent: run codes must be 0..R-1 in contiguous ascending blocks")
    x0 = float(np.exp(np.median(np.log(x))))
    lx = np.log(x / x0)
    w = (1.0 / y**2) * (1.0 if counts is None else np.asarray(counts, float))
    values = _solve_runs(_GRID, lx, y, w, starts)[0]
    i = int(np.argmin(values))
    lo, hi = _GRID[max(i - 1, 0)], _GRID[min(i + 1, len(_GRID) - 1)]
    res = minimize_scalar(lambda b: _solve_runs(np.array([b]), lx, y, w, starts)[0][0], bounds=(lo, hi),
                          method="bounded", options={"xatol": 1e-6})
    beta = float(res.x) if res.fun <= values[i] else float(_GRID[i])
    total, E, B = _solve_runs(np.array([beta]), lx, y, w, starts)
    edge = bool(np.isclose(beta, BETA_BOUNDS[0], rtol=1e-3) or np.isclose(beta, BETA_BOUNDS[1], rtol=1e-3))
    return ExponentFit(beta=beta, E=E[0], B=B[0], x0=x0, objective=float(total[0]), at_edge=edge)


# ---- the exponent law: fit, bootstrap, leave-one-run-out calibration -------------------------
def _stack(others: list[pd.DataFrame], window: pd.DataFrame, x: str):
    parts = others + [window]
    xs = np.concatenate([p[x].to_numpy(float) for p in parts])
    ys = np.concatenate([p["loss"].to_numpy(float) for p in parts])
    codes = np.concatenate([np.full(len(p), k) for k, p in enumerate(parts)])
    return xs, ys, codes


def _theta(fit: ExponentFit, code: int) -> np.ndarray:
    """Internal power_floor(tokens) parameters (ln E, ln A, alpha) of one run, A in x units."""
    E = max(float(fit.E[code]), np.exp(_LN_E_MIN))
    lnA = np.log(max(float(fit.B[code]), 1e-300)) + fit.beta * np.log(fit.x0)
    return np.array([np.log(E), lnA, fit.beta])


def _bootstrap(others, window, x, bootstrap, seed) -> tuple[np.ndarray, np.ndarray]:
    """(B, 3) target parameters over resamples of whole other runs and the target's points."""
    rng = np.random.default_rng(seed)
    xs, ys, codes = _stack(others, window, x)
    R, m = len(others), len(window)
    theta, ok = np.empty((bootstrap, 3)), np.zeros(bootstrap, dtype=bool)
    for b in range(bootstrap):
        per_run = rng.multinomial(R, np.full(R, 1.0 / R)).astype(float)
        target = rng.multinomial(m, np.full(m, 1.0 / m)).astype(float)
        counts = np.concatenate([per_run[codes[: len(codes) - m]], target])
        fit = fit_shared_exponent(xs, ys, codes, counts)
        theta[b] = _theta(fit, R)
        ok[b] = (target > 0).sum() >= 3 and not fit.at_edge and fit.B[R] > 0
    return theta, ok


def _cv_errors(others: list[pd.DataFrame], x: str, fraction: float, seed: int) -> np.ndarray:
    """ln(forecast / observed) at the last point of up to CV_RUNS other runs, each forecast from its
    own first ``fraction`` with the remaining other runs' whole curves."""
    order = np.random.default_rng(seed).permutation(len(others))[:CV_RUNS]
    errors = []
    for k in order:
        curve = others[int(k)]
        xs = curve[x].to_numpy(float)
        window = curve[xs <= fraction * xs[-1] * (1 + 1e-12)]
        if len(window) < 3 or len(window) == len(curve) or len(others) < 2:
            continue
        rest = [o for j, o in enumerate(others) if j != k]
        fit = fit_shared_exponent(*_stack(rest, window, x))
        errors.append(float(fit.log_predict(len(rest), xs[-1]) - np.log(curve["loss"].iloc[-1])))
    return np.array(errors)


def _exponent_result(others, window, x, bootstrap, seed, level, name) -> tuple[FitResult, float]:
    """The target's fitted law (power_floor in x, with bootstrap draws) and the pooled residual sd."""
    xs, ys, codes = _stack(others, window, x)
    R = len(others)
    fit = fit_shared_exponent(xs, ys, codes)
    family = get_family("power_floor:tokens")
    theta = _theta(fit, R)
    with np.errstate(divide="ignore"):
        pred = np.log(fit.E[codes] + fit.B[codes] * (xs / fit.x0) ** -fit.beta)
    resid_all = pred - np.log(ys)
    resid = resid_all[codes == R]
    params = {k: float(v) for k, v in family.to_natural(theta).items()}
    result = FitResult(law="shared exponent", family=family, theta=theta, params=params, derived={},
                       objective=fit.objective, rmse_log=float(np.sqrt(np.mean(resid**2))),
                       n_points=len(ys), converged=not fit.at_edge, loss="ls", delta=0.0,
                       residuals=resid, level=float(level), seed=int(seed), source=name,
                       n_starts=len(_GRID), n_refined=1, n_at_best=1,
                       notes=[f"shared exponent fitted with {R} other run(s) by variable projection on "
                              "relative residuals (objective over all runs' points; rmse over this run's)"])
    s_pool = float(np.sqrt(np.sum(resid_all**2) / max(len(ys) - 2 * (R + 1) - 1, 1)))
    if fit.at_edge:
        result.notes.append(f"the shared exponent beta = {fit.beta:.3g} ended on a bound of [0.01, 3]")
    if bootstrap:
        draws, ok = _bootstrap(others, window, x, bootstrap, seed)
        result.bootstrap, result.bootstrap_converged = bootstrap, int(ok.sum())
        result.bootstrap_unit = "other runs and the target's points"
        result.draws = draws[ok] if ok.any() else draws
        for name_, values in family.to_natural(result.draws).items():
            lo, hi = percentile_interval(np.asarray(values), level)
            result.ci[name_] = [float(lo), float(hi)]
        if ok.sum() < bootstrap:
            result.notes.append(f"{bootstrap - int(ok.sum())} of {bootstrap} bootstrap resamples were "
                                "degenerate (too few distinct points, or beta on a bound) and left out")
    return result, s_pool


# ---- the entry point -----------------------------------------------------------------------
def _prepare(curves, run, fraction, x, final, level, columns):
    _check_options(fraction, level, final)
    runs: Runs = load_curves(curves, columns)
    ids = curve_ids(runs)
    if len(ids) < 2:
        raise ScalingLabError(f"{runs.source}: a shared forecast needs a 'run' column with several runs "
                              "(the target and others to share parameters with)")
    run_id = _target_id(runs, run)
    notes: list[str] = []
    rows = _curve_rows(runs, run_id, x, notes)
    name = f"{runs.source}, run {run_id!r}"
    fitted, x_final, observed = _window(rows, x, fraction, final, name)
    others = [o for o in (_curve_rows(runs, r, x, []) for r in ids if r != run_id) if not o.empty]
    if not others:
        raise ScalingLabError(f"{runs.source}: a shared forecast needs other runs besides {run_id!r}")
    return runs, run_id, notes, name, fitted, x_final, observed, others


def forecast_shared(curves: Runs | pd.DataFrame | str | os.PathLike, *, run: str | int | None,
                    fraction: float = 0.3, law: str = "exponent", x: str = "tokens", bootstrap: int = 200,
                    seed: int = 0, level: float = 0.95, final: float | None = None,
                    columns: Mapping[str, str] | None = None) -> Forecast:
    """Forecast run ``run`` from its first ``fraction`` with ``law`` fitted jointly to it and every
    other run's whole curve (module docstring: laws, interval). Same seed, same answer."""
    if not isinstance(law, str) or law not in SHARED_LAWS:
        raise ScalingLabError(f"unknown shared law {law!r}: choose one of {', '.join(SHARED_LAWS)}")
    bootstrap, seed = bootstrap_count(bootstrap), seed_number(seed)
    runs, run_id, notes, name, fitted, x_final, observed, others = _prepare(
        curves, run, fraction, x, final, level, columns)
    n_other = sum(len(o) for o in others)
    if law == "exponent":
        if len(fitted) < 3:
            raise FitError(f"{name}: {len(fitted)} point(s) in the fit window, but the shared-exponent law "
                           "has 2 parameters of its own (E, B); need at least 3 points (a larger fraction)")
        if bootstrap and not 10 <= bootstrap:
            raise ScalingLabError(f"bootstrap={bootstrap} is too few resamples; use 0 or at least 10")
        result, s_pool = _exponent_result(others, fitted, x, bootstrap, seed, level, name)
        errors = _cv_errors(others, x, fraction, seed)
        K = len(errors)
        noise, dof = (float(np.sqrt(np.mean(errors**2))), float(K)) if K >= 2 else \
            (s_pool, float(n_other + len(fitted) - 2 * len(others) - 3))
        notes.append(f"shared exponent (alpha of the run's law) = {result.params['alpha']:.4g} from "
                     f"{len(others)} other run(s) "
                     f"({n_other} points); pooled residual sd {s_pool:.3g}; " +
                     (f"interval from the leave-one-run-out forecast error {noise:.3g} of {K} other runs "
                      f"(Student t, {K} degrees of freedom)" if K >= 2 else
                      "fewer than 2 other runs could be re-forecast: bootstrap-plus-noise interval"))
        interval = _t_interval(result, x_final, noise, dof, level) if K >= 2 else None
        params = None
    else:
        table = pd.concat([_fit_table(o, x, law, runs.source) for o in others + [fitted]], ignore_index=True)
        result = _fit(table, law, bootstrap, seed, level, name, len(table))
        s = _noise_sd(result)
        last = np.cumsum([len(o) for o in others]) - 1
        s_end = float(np.sqrt(np.mean(np.asarray(result.residuals)[last] ** 2)))
        noise = max(s, s_end)
        dof = float(len(others) - 1) if s_end > s else float(len(table) - result.family.n_params)
        notes.append(f"fitted jointly with {len(others)} other run(s) ({n_other} points); noise "
                     f"s = {noise:.3g} (residual sd {s:.3g}, other runs' last points {s_end:.3g})")
        params, interval = float(fitted["params"].iloc[-1]), None
    return _finish(result, run_id=run_id, form="shared", law=law, x=x, fraction=fraction, fitted=fitted,
                   x_final=x_final, observed=observed, noise_sd=noise, dof=max(dof, 1.0), level=level,
                   seed=seed, params=params, notes=notes, interval=interval)


def _t_interval(result: FitResult, x_final: float, s: float, dof: float, level: float) -> tuple[float, float]:
    """exp(ln L(x_final) -/+ t_dof((1 + level)/2) * s): e / s ~ t_dof when the K errors e_k and the
    target's error are independent N(0, sigma^2) and s^2 = mean e_k^2 (dof = K)."""
    from scipy.stats import t as student_t

    mu = float(np.log(result.family.predict_natural(result.params, tokens=x_final)))
    half = float(student_t.ppf(0.5 + level / 2.0, dof)) * s
    return float(np.exp(mu - half)), float(np.exp(mu + half))
