"""Forecast a run's final loss from the first part of its learning curve.

A *learning-curve table* is a runs table (:func:`scalinglab.load_runs`) with a ``run`` column (the
run id, text) and, per evaluation, ``tokens`` (tokens seen) and/or ``step`` (optimiser steps) and
``loss`` (validation loss, nats/token); ``params`` (parameter count, as the data count it) is needed
by the forms that depend on model size. A lab run store (``runs.db``) is read evaluation by
evaluation (its ``metrics`` table: ``run`` = the store's run id, ``loss`` = val_loss, ``params``
with embeddings), unfinished runs included, so a run in progress can be forecast.

Forms (x is ``tokens`` or ``step``, chosen by ``x=``; L in nats/token):

* ``"saturating"``: L(x) = E + A x^(-alpha), a power law that saturates at E (Henighan et al. 2020,
  eq. 1.1; the ``power_floor`` family), fitted to the target run alone.
* ``"kaplan_ns"``: L(N, S) = (N_c/N)^alpha_N + (S_c/S)^alpha_S (Kaplan et al. 2020, eq. 1.6 / 5.6,
  Table 3; the ``kaplan_ns`` family) with S = x. On one run N is constant, so this is the saturating
  form with E = (N_c/N)^alpha_N: N_c and alpha_N are not separately identified (the fit notes it).
* ``"shared"``: one law fitted jointly to the OTHER runs' whole curves plus the target's first part
  (:func:`scalinglab.analysis.forecast_shared.forecast_shared`, law chosen by ``shared_law=``):
  ``"exponent"`` (default): L_r(x) = E_r + B_r x^(-beta), beta shared, floor and amplitude per run;
  ``"chinchilla"``: L(N, x) = E + A/N^alpha + B/x^beta all shared (Hoffmann et al. 2022 eq. 2 with
  D = x seen so far); ``"kaplan_ns"``: Kaplan's L(N, S) shared. The last two need ``params``.

Each law's time variable is filled with the chosen x: with ``x="step"`` the ``tokens`` slot (D) of the
saturating and chinchilla laws holds steps; with ``x="tokens"`` Kaplan's S holds tokens (S_c is then
in tokens, since tokens = batch x steps at a fixed batch). Fits are made on ln L (robust Huber loss,
:func:`scalinglab.fit`) with a row bootstrap. The fit window is every point with
x <= fraction * the curve's last x; the forecast is at the curve's last x, or at ``final=``.

Interval (``low``, ``high``): a prediction interval for the *observed* final loss, from B bootstrap
fits: ln L_b(x_final) + s * t_b, with t_b drawn from Student's t (m - p degrees of freedom, m fitted
points, p parameters; seeded) and s the residual standard deviation of ln L,
s = sqrt(sum r^2 / (m - p)); the ``level`` percentile interval of those B values. So it holds
parameter uncertainty and curve noise, but not a misfit of the form itself (below). The ``shared``
forms calibrate s on how far whole other runs are missed (see :mod:`.forecast_shared`). On simulated
curves (iid log-normal noise) the 95% interval covers the observed final loss 0.95-0.98 of the time.

What the forms cannot capture: a learning-rate schedule. Warmup makes the first points too high
(they bend the fit), and a cosine or linear decay to a small rate makes the end of a curve drop
faster than any power law in x extrapolated from the middle, so early forecasts of decayed runs come
out too high and their intervals too narrow. Loss spikes and data repetition (several epochs) are not
modelled either. :mod:`scalinglab.analysis.forecast_backtest` measures this on real curves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import FitError, ScalingLabError, level_number, positive_number
from scalinglab.fit import FitResult, fit
from scalinglab.io import Runs, load_runs
from scalinglab.laws import get_family

__all__ = ["FORMS", "X_CHOICES", "Forecast", "curve_ids", "forecast_run", "load_curves",
           "predictive_interval"]

FORMS: tuple[str, ...] = ("saturating", "kaplan_ns", "shared")
X_CHOICES: tuple[str, ...] = ("tokens", "step")
#: law name -> (family spec, the family's time variable, whether it needs params)
_LAWS: dict[str, tuple[str, str, bool]] = {
    "saturating": ("power_floor:tokens", "tokens", False),
    "exponent": ("power_floor:tokens", "tokens", False),  # the target's law in a shared-exponent fit
    "kaplan_ns": ("kaplan_ns", "step", True),
    "chinchilla": ("chinchilla", "tokens", True),
}
_SHOWN_IDS = 8


@dataclass
class Forecast:
    """A forecast of one run's loss (nats/token) at ``x_final`` (tokens or steps, per ``x``).

    ``low``/``high``: prediction interval at ``level`` (None without a bootstrap).
    ``observed_final``: the curve's loss at ``x_final`` when the curve has a point there beyond the
    fit window, else None (unknown). ``fit``: the fitted law (its time variable holds x)."""

    run: str | None
    form: str
    law: str
    x: str
    fraction: float
    x_fit_max: float
    n_fit: int
    x_final: float
    final_loss: float
    low: float | None
    high: float | None
    level: float
    observed_final: float | None
    noise_log: float  # s: standard deviation of ln-loss noise used in the interval
    fit: FitResult
    notes: list[str] = field(default_factory=list)

    @property
    def rel_error(self) -> float | None:
        """final_loss / observed_final - 1, or None when the final loss is unknown."""
        return None if self.observed_final is None else self.final_loss / self.observed_final - 1.0

    @property
    def inside(self) -> bool | None:
        """Whether observed_final lies in [low, high] (None when either is unknown)."""
        if self.observed_final is None or self.low is None or self.high is None:
            return None
        return bool(self.low <= self.observed_final <= self.high)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able report; ``final_loss``, ``low``, ``high``, ``observed_final`` are a contract."""
        return {"final_loss": self.final_loss, "low": self.low, "high": self.high,
                "observed_final": self.observed_final, "rel_error": self.rel_error, "inside": self.inside,
                "run": self.run, "form": self.form, "law": self.law, "formula": self.fit.family.formula,
                "x": self.x, "x_final": self.x_final, "fraction": self.fraction, "x_fit_max": self.x_fit_max,
                "n_fit": self.n_fit, "level": self.level, "noise_log": self.noise_log,
                "params": dict(self.fit.params), "converged": self.fit.converged,
                "bootstrap": self.fit.bootstrap, "notes": list(self.notes)}


# ---- reading curves -------------------------------------------------------------------------
def load_curves(source: Runs | pd.DataFrame | str | os.PathLike, columns: Mapping[str, str] | None = None) -> Runs:
    """A learning-curve table as :class:`~scalinglab.io.Runs`; a lab run store gives one row per
    evaluation with a validation loss and tokens > 0, of every run (finished or not)."""
    if isinstance(source, (str, os.PathLike)):
        from scalinglab.lab.store import RunStore, is_store_file

        path = os.fspath(source)
        if os.path.isfile(path) and is_store_file(path):
            with RunStore(path, readonly=True) as store:
                df = store.metrics_frame()
            df = df[df["loss"].notna() & (df["tokens"] > 0)]
            df = df.drop(columns=[c for c in ("params", "flops") if df[c].isna().any()])
            if df.empty:
                raise ScalingLabError(f"{path}: the run store holds no evaluation with a validation loss")
            runs = load_runs(df, columns)
            runs.source = path
            runs.notes.insert(0, f"read the evaluations of run store {path} (loss = val_loss, run = store "
                                 "run id, params with embeddings)")
            return runs
    return load_runs(source, columns)


def curve_ids(runs: Runs) -> list[str]:
    """Run ids in order of first appearance (``[]`` when the table has no run column)."""
    return list(dict.fromkeys(runs.data["run"])) if runs.has("run") else []


def _ids_text(ids: list[str]) -> str:
    shown = ", ".join(repr(i) for i in ids[:_SHOWN_IDS])
    return shown + (f", ... ({len(ids)} runs)" if len(ids) > _SHOWN_IDS else "")


def _target_id(runs: Runs, run: str | int | None) -> str | None:
    """The id of the run to forecast (None: the whole table is one curve)."""
    ids = curve_ids(runs)
    if run is None:
        if len(ids) > 1:
            raise ScalingLabError(f"{runs.source}: {len(ids)} runs in the table; say which to forecast "
                                  f"(run=...); runs are: {_ids_text(ids)}")
        return ids[0] if ids else None
    if not ids:
        raise ScalingLabError(f"{runs.source}: no 'run' column (a run id per row) to find run {str(run)!r} "
                              "in; map one with --col run=COLUMN (Python: columns={'run': 'COLUMN'})")
    if str(run) not in ids:
        raise ScalingLabError(f"{runs.source}: no run {str(run)!r}; runs are: {_ids_text(ids)}")
    return str(run)


def _curve_rows(runs: Runs, run_id: str | None, x: str, notes: list[str]) -> pd.DataFrame:
    """The rows of one run with x > 0, checked to be strictly increasing in x."""
    if x not in X_CHOICES:
        raise ScalingLabError(f"x must be one of {', '.join(X_CHOICES)}, got {x!r}")
    runs.require([x, "loss"], why="a learning-curve forecast")
    df = runs.data if run_id is None else runs.data[runs.data["run"] == run_id]
    name = runs.source + ("" if run_id is None else f", run {run_id!r}")
    xs = df[x].to_numpy(dtype=float)
    back = np.flatnonzero(np.diff(xs) <= 0)
    if back.size:
        i = int(back[0]) + 1
        if xs[i] == xs[i - 1]:
            raise ScalingLabError(f"{name}: column '{x}' is not strictly increasing at row {df.index[i]} "
                                  f"(two points at {x} = {xs[i]:g}); average or drop repeated evaluations")
        raise ScalingLabError(f"{name}: column '{x}' is not strictly increasing at row {df.index[i]} "
                              f"({xs[i]:g} after {xs[i - 1]:g}); sort the curve by {x}, or give each "
                              "training run its own run id")
    if (xs <= 0).any():
        notes.append(f"{int((xs <= 0).sum())} point(s) at {x} = 0 left out (the laws take log {x})")
    return df[xs > 0]


def _check_options(fraction: float, level: float, final: float | None) -> None:
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0.0 < fraction <= 1.0:
        raise ScalingLabError(f"fraction must lie in (0, 1] (the share of the curve fitted, by x), "
                              f"got {fraction!r}")
    level_number(level)
    if final is not None:
        positive_number("final (a token or step count)", final)


def _window(curve: pd.DataFrame, x: str, fraction: float, final: float | None,
            name: str) -> tuple[pd.DataFrame, float, float | None]:
    """Fitted rows (x <= fraction * last x), x_final, and the observed loss at x_final if held out."""
    if curve.empty:
        raise ScalingLabError(f"{name}: no points with {x} > 0")
    xs = curve[x].to_numpy(dtype=float)
    x_end = float(xs[-1])
    fitted = curve[xs <= fraction * x_end * (1 + 1e-12)]
    x_final = x_end if final is None else float(final)
    at = np.flatnonzero(np.isclose(xs, x_final, rtol=1e-9, atol=0.0))
    observed = None
    if at.size and xs[at[0]] > fitted[x].to_numpy(float).max(initial=0.0):
        observed = float(curve["loss"].iloc[int(at[0])])
    return fitted, x_final, observed


# ---- fitting -------------------------------------------------------------------------------
def _fit_table(rows: pd.DataFrame, x: str, law: str, name: str) -> pd.DataFrame:
    """Columns the law reads: its time variable filled with x, params when needed, loss."""
    _, time_var, needs_params = _LAWS[law]
    table = pd.DataFrame({time_var: rows[x].to_numpy(float), "loss": rows["loss"].to_numpy(float)})
    if needs_params:
        if "params" not in rows.columns:
            raise ScalingLabError(f"{name}: form {law!r} needs a 'params' column (parameter count); "
                                  "use form 'saturating', or map one with --col params=COLUMN")
        table["params"] = rows["params"].to_numpy(float)
    return table


def _fit(table: pd.DataFrame, law: str, bootstrap: int, seed: int, level: float, name: str,
         n_target: int) -> FitResult:
    family = get_family(_LAWS[law][0])
    p = family.n_params
    if len(table) <= p:
        raise FitError(f"{name}: {n_target} point(s) in the fit window, but law {law!r} has {p} free "
                       f"parameters ({', '.join(family.param_names)}); need at least {p + 1} points "
                       "(a larger fraction, or a curve with more evaluations)")
    table = table.copy()
    table.index = pd.RangeIndex(1, len(table) + 1)
    result = fit(table, law=family, bootstrap=bootstrap, seed=seed, level=level)
    result.source = name
    return result


def _noise_sd(result: FitResult) -> float:
    """s = sqrt(sum r^2 / (m - p)), r = ln predicted - ln observed over the fitted points."""
    r = np.asarray(result.residuals, dtype=float)
    return float(np.sqrt(np.sum(r**2) / max(len(r) - result.family.n_params, 1)))


def predictive_interval(result: FitResult, X: Mapping[str, float], noise_sd: float, dof: float,
                        level: float, seed: int) -> tuple[float, float] | tuple[None, None]:
    """Equal-tailed ``level`` interval of the loss (nats/token) at X: exp of ln L_b(X) + noise_sd * t_b
    over the bootstrap draws b, t_b ~ Student's t with ``dof`` degrees of freedom (seeded).
    (None, None) without bootstrap draws."""
    if result.draws is None or len(result.draws) == 0:
        return None, None
    flat = {k: np.array([float(v)]) for k, v in X.items()}
    with np.errstate(over="ignore", invalid="ignore"):
        mu = result.family.log_predict(result.draws, flat)[:, 0]
    mu = mu[np.isfinite(mu)]
    if mu.size == 0:
        return None, None
    t = np.random.default_rng(seed).standard_t(max(dof, 1.0), size=mu.size)
    tail = 50.0 * (1.0 - level)
    lo, hi = np.exp(np.percentile(mu + noise_sd * t, [tail, 100.0 - tail]))
    return float(lo), float(hi)


def _point(result: FitResult, law: str, x_final: float, params: float | None) -> dict[str, float]:
    X = {_LAWS[law][1]: x_final}
    if _LAWS[law][2]:
        X["params"] = float(params)  # type: ignore[arg-type]
    return X


def _finish(result: FitResult, *, run_id, form, law, x, fraction, fitted, x_final, observed, noise_sd,
            dof, level, seed, params, notes, interval: tuple[float, float] | None = None) -> Forecast:
    """The Forecast; ``interval`` (low, high) replaces the bootstrap-plus-noise interval when given."""
    X = _point(result, law, x_final, params)
    point = float(result.family.predict_natural(result.params, **X))
    low, high = interval if interval is not None else predictive_interval(result, X, noise_sd, dof, level, seed)
    notes = notes + list(result.notes)
    if low is None:
        notes.append("no bootstrap: no interval (use bootstrap >= 10, 200 is usual)")
    if not result.converged:
        notes.append("the fit did not converge: the forecast is not trustworthy")
    if observed is None:
        notes.append(f"the loss at {x} = {x_final:g} is unknown (no point of the curve there beyond "
                     "the fit window)")
    return Forecast(run=run_id, form=form, law=law, x=x, fraction=float(fraction),
                    x_fit_max=float(fitted[x].max()), n_fit=len(fitted), x_final=float(x_final),
                    final_loss=point, low=low, high=high, level=float(level), observed_final=observed,
                    noise_log=float(noise_sd), fit=result, notes=notes)


def forecast_run(curve: Runs | pd.DataFrame | str | os.PathLike, *, fraction: float = 0.3,
                 form: str = "saturating", x: str = "tokens", bootstrap: int = 200, seed: int = 0,
                 level: float = 0.95, final: float | None = None, run: str | int | None = None,
                 shared_law: str = "exponent", columns: Mapping[str, str] | None = None) -> Forecast:
    """Fit the first ``fraction`` of a learning curve (points with x <= fraction * the curve's last x)
    and predict the loss at the curve's last x, or at ``final`` (a token or step count, per ``x``).

    ``curve``: a table of one curve, or of several with ``run=`` naming the target. ``form``: one of
    :data:`FORMS` (see the module docstring; ``"shared"`` calls
    :func:`~scalinglab.analysis.forecast_shared.forecast_shared` with ``law=shared_law``). Interval: see
    the module docstring. Same seed, same answer. Raises ScalingLabError (FitError for too few points)
    with a one-line message naming the table, run and column."""
    if form not in FORMS:
        raise ScalingLabError(f"unknown forecast form {form!r}: choose one of {', '.join(FORMS)}")
    if form == "shared":
        from scalinglab.analysis.forecast_shared import forecast_shared

        return forecast_shared(curve, run=run, fraction=fraction, law=shared_law, x=x, bootstrap=bootstrap,
                               seed=seed, level=level, final=final, columns=columns)
    _check_options(fraction, level, final)
    runs = load_curves(curve, columns)
    run_id = _target_id(runs, run)
    notes: list[str] = []
    rows = _curve_rows(runs, run_id, x, notes)
    name = runs.source + ("" if run_id is None else f", run {run_id!r}")
    fitted, x_final, observed = _window(rows, x, fraction, final, name)
    result = _fit(_fit_table(fitted, x, form, name), form, bootstrap, seed, level, name, len(fitted))
    params = float(fitted["params"].iloc[-1]) if _LAWS[form][2] else None
    dof = len(fitted) - result.family.n_params
    return _finish(result, run_id=run_id, form=form, law=form, x=x, fraction=fraction, fitted=fitted,
                   x_final=x_final, observed=observed, noise_sd=_noise_sd(result), dof=dof, level=level,
                   seed=seed, params=params, notes=notes)
