"""Calibrate a fit's extrapolation intervals on its own data: rolling-origin refits.

A prediction interval that assumes the law is right cannot contain the law's misfit, which grows with
the extrapolation distance (README backtest table: 57% and 50% coverage of nominal 95% intervals on
Epoch's and Porian's data). :func:`calibrate` measures how wrong the law is when it extrapolates
*inside* the runs it was fitted to, and attaches what it learns to the fit, so that
``interval="calibrated"`` (:meth:`FitResult.predict`, :func:`prediction_interval`, :func:`backtest`)
widens the interval by it. The procedure (rolling-origin evaluation, Tashman 2000, "Out-of-sample
tests of forecasting accuracy", Int. J. Forecasting 16:437):

1. Origins: distinct levels t_1 < ... < t_K of x (C, N or D; levels within 2% are one) that leave at
   least ``min_fraction`` of the runs (and 2 (P + 1)) at or below them and some above: at most
   ``origins`` of them, evenly spaced in rank.
2. At each origin, refit the law (``sl.fit``, same objective, no bootstrap, ``refine`` starts) on the
   runs with x <= t_k and record, for every fitted run above t_k, the log-error
   e = ln L_obs - ln L_pred and the distance d = log10(x / largest x of that refit), in decades.
3. Weights: the k-th latest origin's errors weigh ``decay``**k (latest 1, so each origin counts half
   as much as the next by default): later origins describe the law nearer the scale it will be used
   at, and on real data the misfit grows with scale.
4. Scale s(d) = s0 + s1 d (s0 >= 1e-4, s1 >= 0): a weighted least-absolute-deviations fit to |e|
   (smoothed by sqrt(r^2 + 1e-8) so the optimum is unique), i.e. the typical |e| at distance d.
5. The calibration (:mod:`scalinglab.fitting.calibration`) stores s0, s1 and the errors; an interval at
   level L then takes the weighted conformal quantile q of |e_i| / s(d_i) (Barber et al. 2023) and
   unites the bootstrap + noise interval with ln L_pred -+ q s(d), d measured from the full fit's
   largest x.

Cost: K refits without bootstrap (about K times one fit). Only the runs passed are used, so when they
are a backtest's training part nothing held out is seen. Units: losses in nats/token, e and s in
natural-log units of the loss, d in decades.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import optimize

from scalinglab.analysis.identifiability import distinct_levels
from scalinglab.errors import FitError, ScalingLabError, choice, finite_number, whole_number
from scalinglab.fitting import calibration as cal
from scalinglab.fitting import fit
from scalinglab.fitting.result import FitResult
from scalinglab.io import Runs, load_runs

ORIGINS = 6  # refits at most
MIN_FRACTION = 0.4  # each refit keeps at least this share of the runs (0.5 covers 61% on Porian: docs)
DECAY = 0.5  # weight ratio of each origin to the next later one (module docstring)
REFINE = 16  # grid starts optimised per refit (the full fit uses 64)
SMOOTH = 1e-4  # smoothing of |r| in the LAD fit, log-loss units (0.01%)


def calibrate(result: FitResult, runs: Runs | pd.DataFrame | str | os.PathLike, *, x: str | None = None,
              origins: int = ORIGINS, min_fraction: float = MIN_FRACTION, decay: float = DECAY,
              refine: int = REFINE, columns: Mapping[str, str] | None = None,
              drop_highest_loss: int = 0) -> FitResult:
    """A copy of ``result`` carrying a calibration learned from rolling-origin refits on ``runs``, the
    runs it was fitted to (module docstring). ``x``: the distance variable, ``"flops"`` (default when
    the law's inputs give C, itself or as 6ND), ``"params"`` or ``"tokens"``.

    Raises ScalingLabError when ``runs`` are not the fitted runs (another count), when x has too few
    distinct levels for two refits of at least ``min_fraction`` of the runs, or on bad options."""
    if not isinstance(result, FitResult):
        raise ScalingLabError(f"result must be a FitResult (from sl.fit), got {type(result).__name__}")
    family = result.family
    x = cal.default_x(family.variables) if x is None else choice("x", x, cal.DISTANCE_VARIABLES)
    origins = whole_number("origins", origins, minimum=2, maximum=50)
    min_fraction = finite_number("min_fraction", min_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    decay = finite_number("decay", decay, low=0.0, high=1.0, low_open=True)
    refine = whole_number("refine", refine, minimum=1, maximum=10_000)
    runs = load_runs(runs, columns, drop_highest_loss=drop_highest_loss)
    runs.require(list(family.variables) + ["loss"], why=f"law {family.label}")
    if len(runs) != result.n_points:
        raise ScalingLabError(f"{runs.source}: {len(runs)} runs, but the fit of {result.law} was made on "
                              f"{result.n_points}; calibrate on exactly the runs it was fitted to")
    xs = cal.x_values(x, {v: runs.column(v) for v in family.variables}, f"law {result.law}")
    table, kept, n_fitted = rolling_origin_errors(result, runs, xs, origins=origins, min_fraction=min_fraction,
                                                  refine=refine)
    age = len(kept) - 1 - np.searchsorted(kept, table["origin"].to_numpy())
    weight = decay ** age
    d, e = table["distance"].to_numpy(), table["error"].to_numpy()
    if np.ptp(d) <= 1e-9:
        raise ScalingLabError(f"{runs.source}: the refits' errors all lie at one extrapolation distance in {x}, "
                              "so how the error grows with distance cannot be learned; give runs at more "
                              f"levels of {x}")
    s0, s1 = scale_fit(d, np.abs(e), weight)
    calibration = cal.make_calibration(x=x, x_max=float(xs.max()), s0=s0, s1=s1, decay=decay, origins=kept,
                                       n_fitted=n_fitted, distance=d, error=e, weight=weight)
    return dataclasses.replace(result, calibration=calibration, notes=list(result.notes))


def rolling_origin_errors(result: FitResult, runs: Runs, xs: np.ndarray, *, origins: int = ORIGINS,
                          min_fraction: float = MIN_FRACTION, refine: int = REFINE
                          ) -> tuple[pd.DataFrame, list[float], list[int]]:
    """(table, origins used, runs per refit): one row per (origin, later run) with origin, distance
    (decades beyond the refit's largest x) and error (ln L_obs - ln L_pred, log-loss units)."""
    family = result.family
    n = len(xs)
    need = max(2 * (family.n_params + 1), int(math.ceil(min_fraction * n)))
    levels = distinct_levels(xs)
    ok = [t for t in levels[:-1] if np.sum(xs <= t) >= need]
    if len(ok) > origins:
        ok = [ok[i] for i in np.unique(np.round(np.linspace(0, len(ok) - 1, origins)).astype(int))]
    rows, kept, n_fitted = [], [], []
    logy = np.log(runs.column("loss"))
    for t in ok:
        inside = xs <= t
        try:
            sub = Runs(data=runs.data[inside].copy(), source=runs.source, notes=[])
            r = fit(sub, family, loss=result.loss, delta=result.delta, refine=refine, fixed=result.fixed,
                    tied=result.tied)  # the refits keep the fit's fixed and tied parameters
        except FitError:
            continue
        X = {v: runs.column(v)[~inside] for v in family.variables}
        with np.errstate(over="ignore", invalid="ignore"):
            e = logy[~inside] - family.log_predict(np.asarray(r.theta)[None, :], X)[0]
        good = np.isfinite(e)
        d = np.log10(xs[~inside] / xs[inside].max())
        rows.append(pd.DataFrame({"origin": t, "distance": d[good], "error": e[good]}))
        kept.append(float(t))
        n_fitted.append(int(inside.sum()))
    if len(kept) < 2:
        raise ScalingLabError(f"{runs.source}: {len(kept)} refit(s) possible; calibration needs at least 2 origins "
                              f"each keeping {need} of the {n} runs (min_fraction {min_fraction:g}) with runs above "
                              "them: give runs at more levels of the distance variable, or lower min_fraction")
    return pd.concat(rows, ignore_index=True), kept, n_fitted


def scale_fit(d: np.ndarray, a: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(s0, s1) minimising sum_i w_i sqrt((a_i - s0 - s1 d_i)^2 + SMOOTH^2) with s0 >= SCALE_FLOOR and
    s1 >= 0: a weighted least-absolute-deviations line, smoothed so that its optimum is unique."""
    d, a, w = (np.asarray(v, dtype=float) for v in (d, a, w))

    def objective(p: np.ndarray) -> tuple[float, np.ndarray]:
        r = a - p[0] - p[1] * d
        root = np.sqrt(r * r + SMOOTH**2)
        g = -w * r / root
        return float(np.sum(w * root)), np.array([g.sum(), (g * d).sum()])

    A = np.column_stack([np.ones_like(d), d]) * np.sqrt(w)[:, None]
    start = np.linalg.lstsq(A, a * np.sqrt(w), rcond=None)[0]
    start = np.maximum(start, [cal.SCALE_FLOOR, 0.0])
    res = optimize.minimize(objective, start, jac=True, method="L-BFGS-B",
                            bounds=[(cal.SCALE_FLOOR, None), (0.0, None)],
                            options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 2000})
    s0, s1 = (float(v) for v in res.x)
    return max(s0, cal.SCALE_FLOOR), max(s1, 0.0)
