"""The pieces of :mod:`scalinglab.analysis.forecast` that :mod:`scalinglab.analysis.forecast_shared`
shares: reading curves, the fit window, the per-curve fit and the prediction interval, and the
:class:`Forecast` record. See :mod:`scalinglab.analysis.forecast` for the method and its units
(loss in nats/token; x in tokens or optimizer steps).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.display import Displayed
from scalinglab.errors import FitError, ScalingLabError, level_number, positive_number
from scalinglab.fitting import FitResult, fit
from scalinglab.io import Runs, load_runs
from scalinglab.laws import get_family
from scalinglab.stores.run_store import RunStore, is_store_file

__all__ = ["FORMS", "X_CHOICES", "Forecast", "curve_ids", "load_curves", "predictive_interval"]

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


@dataclass(repr=False)
class Forecast(Displayed):
    """A forecast of one run's loss (nats/token) at ``x_final`` (tokens or steps, per ``x``).

    ``low``/``high``: prediction interval at ``level`` (None without a bootstrap).
    ``observed_final``: the curve's loss at ``x_final`` when the curve has a point there beyond the
    fit window, else None (unknown). ``fit``: the fitted law (its time variable holds x)."""

    _display = (("run", ""), ("law", ""), ("x", ""), ("fraction", ""), ("final_loss", "nats/token"),
                ("low", "nats/token"), ("high", "nats/token"), ("level", ""), ("observed_final", "nats/token"))

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

    def plot(self, curves: Any, kind: str = "forecast", *, ax: Any = None) -> Any:
        """The forecast figure of ``scalinglab plot``: the fitted law (loss in nats/token against x) up to
        ``x_final`` with the final loss's interval, beside the observed curve of ``curves`` (the curves
        forecast), on ``ax`` (default: a new figure's); returns the Axes (:mod:`scalinglab.report.plotting_api`)."""
        from scalinglab.report.plotting_api import draw  # lazy: matplotlib is an optional, heavy dependency

        return draw(self, kind, ax=ax, curves=curves)


# ---- reading curves -------------------------------------------------------------------------
def load_curves(source: Runs | pd.DataFrame | str | os.PathLike, columns: Mapping[str, str] | None = None) -> Runs:
    """A learning-curve table as :class:`~scalinglab.io.Runs`; a lab run store gives one row per
    evaluation with a validation loss and tokens > 0, of every run (finished or not)."""
    if isinstance(source, (str, os.PathLike)):
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
