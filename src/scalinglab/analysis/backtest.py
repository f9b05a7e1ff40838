"""Extrapolation backtests: fit on the smaller runs, predict the held-out larger ones.

A scaling law is used to extrapolate, so the test that matters is how well a law fitted on runs up to
some scale predicts runs beyond it. :func:`backtest` splits the runs at a threshold on ``x`` (training
FLOPs C, or parameters N): runs with x <= threshold are fitted (with a bootstrap), runs with
x > threshold are predicted, each with a prediction interval that includes both parameter uncertainty
and run-to-run noise (:func:`scalinglab.analysis.intervals.prediction_interval`). Summary figures:

* MARE, mean absolute relative error = mean_i |predicted_i - observed_i| / observed_i over held-out runs
  (a fraction; 0.01 = 1%), losses in nats/token;
* coverage = fraction of held-out runs whose observed loss lies inside [low, high]; compare with the
  nominal ``level``;
* median width = median_i (high_i - low_i) / predicted_i over held-out runs (a fraction).

``interval="calibrated"`` first calibrates the training fit on the training runs alone
(:func:`scalinglab.analysis.calibration.calibrate`: rolling-origin refits below the threshold), so
the intervals also cover the law's misfit as it grew with distance there; nothing held out is seen.

:func:`rolling_backtest` repeats this over several thresholds so the error can be read against the
extrapolation distance (log10 of how far beyond the largest training run the prediction reaches);
:func:`leave_one_size_out` holds out each model size in turn (sizes within 2% count as one).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.analysis.calibration import calibrate
from scalinglab.analysis.identifiability import (
    distinct_levels,
    fit_identifiability_warnings,
    identifiability_warnings,
)
from scalinglab.analysis.intervals import PredictionInterval, check_interval, prediction_interval
from scalinglab.display import Displayed
from scalinglab.errors import MIN_LOSS, ScalingLabError, as_list, finite_number, positive_array, positive_number
from scalinglab.fitting import FitResult, fit
from scalinglab.io import Runs, load_runs
from scalinglab.laws import FamilySpec, get_family
from scalinglab.laws.base import LawFamily

SPLIT_VARIABLES = ("flops", "params", "tokens")
PREDICTION_COLUMNS = ["params", "tokens", "flops", "observed", "predicted", "low", "high", "inside",
                      "rel_error", "distance"]
MAX_ROLLING = 8  # default rolling thresholds at most (each is a bootstrap fit)


@dataclass(repr=False)
class BacktestResult(Displayed):
    """A backtest at one threshold. ``predictions``: one row per held-out run with params, tokens,
    flops, observed, predicted, low, high (nats/token), inside (bool), rel_error = (predicted -
    observed)/observed (signed fraction) and distance = log10(x / largest training x)."""

    _display = (("law", ""), ("x", ""), ("holdout_above", "units of x"), ("n_train", "runs"), ("n_test", "runs"),
                ("mare", "fraction"), ("coverage", "fraction"), ("level", ""))

    law: str
    x: str
    holdout_above: float
    level: float
    mare: float
    coverage: float
    predictions: pd.DataFrame
    fit: FitResult  # of the training part
    n_train: int
    n_test: int
    sigma: float  # log-space run-to-run noise scale used in the intervals
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    interval_method: str = "prediction"  # what the intervals cover (intervals.check_interval)
    median_width: float = float("nan")  # median (high - low) / predicted over held-out runs (a fraction)

    def to_dict(self) -> dict[str, Any]:
        """Keys ``mare``, ``coverage``, ``predictions`` (list of {params, tokens, observed, predicted,
        low, high} plus flops, inside, rel_error, distance) and law, x, holdout_above, level, n_train,
        n_test, sigma, fit (the training fit's report; with ``calibration`` when calibrated), notes,
        warnings, interval_method, median_width."""
        preds = []
        for row in self.predictions.itertuples(index=False):
            preds.append({"params": _num(row.params), "tokens": _num(row.tokens), "observed": float(row.observed),
                          "predicted": float(row.predicted), "low": float(row.low), "high": float(row.high),
                          "flops": _num(row.flops), "inside": bool(row.inside),
                          "rel_error": float(row.rel_error), "distance": float(row.distance)})
        return {"mare": self.mare, "coverage": self.coverage, "predictions": preds, "law": self.law,
                "x": self.x, "holdout_above": self.holdout_above, "level": self.level,
                "n_train": self.n_train, "n_test": self.n_test, "sigma": self.sigma,
                "fit": self.fit.report_dict(), "notes": list(self.notes), "warnings": list(self.warnings),
                "interval_method": self.interval_method, "median_width": self.median_width}

    def summary(self) -> str:
        """Two lines: MARE, and coverage with the median interval width, with their units and counts."""
        inside = int(self.predictions["inside"].sum())
        kind = "calibrated" if self.interval_method == "calibrated" else "prediction"
        return (f"MARE {100 * self.mare:.2f}% (mean |predicted - observed| / observed over {self.n_test} "
                f"held-out runs; {self.n_train} runs fitted)\n"
                f"coverage {inside}/{self.n_test} = {100 * self.coverage:.0f}% of runs inside their "
                f"{100 * self.level:g}% {kind} interval (median width {100 * self.median_width:.2f}% of the "
                "prediction)")

    def plot(self, kind: str = "backtest", runs: Any = None, *, ax: Any = None) -> Any:
        """The backtest figure of ``scalinglab plot`` (held-out runs against x beside predicted against
        observed loss, nats/token) on ``ax`` (two Axes; default: a new figure's), with ``runs`` (the table
        backtested) drawing the fitted runs in grey. Returns the two Axes (:mod:`scalinglab.report.plotting_api`)."""
        from scalinglab.report.plotting_api import draw  # lazy: matplotlib is an optional, heavy dependency

        return draw(self, kind, ax=ax, runs=runs)


def _num(v: Any) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


# ---- splitting -------------------------------------------------------------------------------------------
def _prepare(data: Runs | pd.DataFrame | str | os.PathLike, law: FamilySpec, x: str,
             columns: Mapping[str, str] | None, drop_highest_loss: int) -> tuple[Runs, LawFamily]:
    if x not in SPLIT_VARIABLES:
        raise ScalingLabError(f"x must be one of {', '.join(SPLIT_VARIABLES)} (the column the threshold "
                              f"applies to), got '{x}'")
    runs = load_runs(data, columns, drop_highest_loss=drop_highest_loss)
    family = get_family(law)
    runs.require(list(family.variables) + ["loss"], why=f"law {family.label}")
    runs.require([x], why=f"a threshold on {x}")
    return runs, family


def _subset(runs: Runs, mask: np.ndarray) -> Runs:
    return Runs(data=runs.data[mask].copy(), source=runs.source, notes=list(runs.notes))


def _check_split(runs: Runs, family: LawFamily, x: str, threshold: float, n_train: int, n_test: int) -> None:
    xs = runs.column(x)
    if n_test == 0:
        raise ScalingLabError(f"--holdout-above {threshold:g}: no run has {x} above it (largest {x} in "
                              f"{runs.source} is {xs.max():g}), so nothing is held out")
    need = family.n_params + 1
    if n_train < need:
        raise ScalingLabError(f"--holdout-above {threshold:g}: only {n_train} runs have {x} <= {threshold:g}, "
                              f"but law {family.label} has {family.n_params} free parameters and needs at "
                              f"least {need} training runs (one more to estimate the noise)")


def _column_or_nan(runs: Runs, name: str) -> np.ndarray:
    return runs.column(name) if runs.has(name) else np.full(len(runs), np.nan)


# ---- one backtest ------------------------------------------------------------------------------------------
def backtest(data: Runs | pd.DataFrame | str | os.PathLike, law: str | LawFamily | Mapping[str, Any] = "chinchilla",
             *, holdout_above: float, x: str = "flops", bootstrap: int = 200, seed: int = 0,
             level: float = 0.95, loss: str = "huber", noise: str = "t", interval: str = "prediction",
             columns: Mapping[str, str] | None = None, drop_highest_loss: int = 0) -> BacktestResult:
    """Fit ``law`` on runs with ``x`` <= ``holdout_above`` and predict the runs above it.

    ``x``: ``"flops"`` (training FLOPs C, a compute threshold), ``"params"`` (parameter count N, a size
    threshold) or ``"tokens"``. The training fit uses ``bootstrap`` resamples (seeded by ``seed``) and
    ``loss`` (huber or ls); each held-out run gets a prediction interval at ``level`` (parameter and
    noise uncertainty; ``noise`` as in :func:`prediction_interval`). ``interval="calibrated"`` also
    covers the law's misfit, calibrated on the training runs alone with distances in ``x``
    (:func:`scalinglab.analysis.calibration.calibrate`). Returns MARE, coverage, the median interval
    width and the per-run predictions (module docstring). Raises ScalingLabError when nothing is held
    out or too few runs remain to fit (fewer than the law's parameters + 1)."""
    check_interval(interval)
    runs, family = _prepare(data, law, x, columns, drop_highest_loss)
    threshold = positive_number("holdout_above", holdout_above)
    return _backtest_runs(runs, family, threshold, x, bootstrap, seed, level, loss, noise, interval)


def _backtest_runs(runs: Runs, family: LawFamily, threshold: float, x: str, bootstrap: int, seed: int,
                   level: float, loss: str, noise: str, interval: str = "prediction") -> BacktestResult:
    xs = runs.column(x)
    test_mask = xs > threshold
    n_train, n_test = int((~test_mask).sum()), int(test_mask.sum())
    _check_split(runs, family, x, threshold, n_train, n_test)
    train, test = _subset(runs, ~test_mask), _subset(runs, test_mask)
    result = fit(train, family, loss=loss, bootstrap=bootstrap, seed=seed, level=level)
    if interval == "calibrated":
        result = calibrate(result, train, x=x)
    pi = prediction_interval(result, level, noise=noise, interval=interval,
                             **{v: test.column(v) for v in family.variables})
    preds = _prediction_table(test, pi, x, float(train.column(x).max()))
    warnings = identifiability_warnings(train, family) + fit_identifiability_warnings(result)
    notes = list(result.notes) + [n for n in pi.notes if n not in result.notes]
    if not result.converged:
        notes.append("the training fit did NOT converge: treat these figures with suspicion")
    return BacktestResult(law=family.label, x=x, holdout_above=threshold, level=float(level),
                          mare=float(preds["rel_error"].abs().mean()), coverage=float(preds["inside"].mean()),
                          predictions=preds, fit=result, n_train=n_train, n_test=n_test, sigma=pi.sigma,
                          notes=notes, warnings=warnings, interval_method=interval,
                          median_width=median_width(preds))


def default_holdout(values: np.ndarray, share: float = 0.2) -> float:
    """The threshold that holds out the runs with the largest ``values``: whole levels (runs within 2%
    are one level) from the top down until at least ``share`` of the runs are held out; the threshold
    is the largest value kept for the fit."""
    v = np.sort(np.asarray(values, dtype=float))[::-1]
    if v.size < 2:
        raise ScalingLabError("a backtest needs at least 2 runs")
    need = max(1, math.ceil(share * v.size))
    i = need - 1
    while i + 1 < v.size and v[i + 1] >= v[i] / 1.02:  # keep a level whole
        i += 1
    if i + 1 >= v.size:
        raise ScalingLabError("every run is at one level: nothing is left to fit a backtest on")
    return float(v[i + 1])


def median_width(preds: pd.DataFrame) -> float:
    """median_i (high_i - low_i) / predicted_i: the typical interval width as a fraction of the prediction."""
    return float(((preds["high"] - preds["low"]) / preds["predicted"]).median())


def _prediction_table(test: Runs, pi: PredictionInterval, x: str, train_max: float) -> pd.DataFrame:
    observed = test.column("loss")
    if observed.min() < MIN_LOSS:  # a relative error against it would be garbage (MARE inf%)
        raise ScalingLabError(f"{test.source}: a held-out run has loss {observed.min():.3g} nats/token, below "
                              f"{MIN_LOSS:g}: no language model reaches that, so its relative error means nothing; "
                              "check the loss column's units")
    predicted, low, high = (np.asarray(a, dtype=float) for a in (pi.point, pi.low, pi.high))
    df = pd.DataFrame({"params": _column_or_nan(test, "params"), "tokens": _column_or_nan(test, "tokens"),
                       "flops": _column_or_nan(test, "flops"), "observed": observed, "predicted": predicted,
                       "low": low, "high": high})
    df["inside"] = (observed >= low) & (observed <= high)
    df["rel_error"] = (predicted - observed) / observed
    df["distance"] = np.log10(test.column(x) / train_max)
    df.index = test.data.index
    return df[PREDICTION_COLUMNS]


# ---- rolling thresholds ------------------------------------------------------------------------------------
def default_thresholds(xs: np.ndarray, n_params: int, max_count: int = MAX_ROLLING) -> list[float]:
    """Thresholds at distinct levels of ``xs`` (values within 2% count as one level) that leave at least
    2 * (n_params + 1) runs to fit and at least one level above: at most ``max_count``, spaced evenly
    in rank between the smallest admissible level and the second-largest level."""
    levels = distinct_levels(xs)
    ok = [t for t in levels[:-1] if np.sum(xs <= t) >= 2 * (n_params + 1)]
    if len(ok) > max_count:
        idx = np.unique(np.round(np.linspace(0, len(ok) - 1, max_count)).astype(int))
        ok = [ok[i] for i in idx]
    return [float(t) for t in ok]


def rolling_backtest(data: Runs | pd.DataFrame | str | os.PathLike,
                     law: str | LawFamily | Mapping[str, Any] = "chinchilla",
                     thresholds: Sequence[float] | None = None, *, x: str = "flops", bootstrap: int = 200,
                     seed: int = 0, level: float = 0.95, loss: str = "huber", noise: str = "t",
                     interval: str = "prediction", columns: Mapping[str, str] | None = None,
                     drop_highest_loss: int = 0) -> pd.DataFrame:
    """:func:`backtest` at each threshold (default: :func:`default_thresholds`), one row each:
    threshold, n_train, n_test, mare, coverage, distance = log10(largest held-out x / largest training
    x), median_distance (the median held-out run's log10 extrapolation ratio) and median_width (the
    median interval width over the prediction, a fraction). Thresholds that leave too few runs on
    either side (or, calibrated, too few levels below them to calibrate) are skipped and listed in
    ``df.attrs["notes"]``."""
    check_interval(interval)
    runs, family = _prepare(data, law, x, columns, drop_highest_loss)
    xs = runs.column(x)
    if thresholds is None:
        thresholds = default_thresholds(xs, family.n_params)
        if not thresholds:
            raise ScalingLabError(f"{runs.source}: no threshold on {x} leaves {2 * (family.n_params + 1)} runs "
                                  f"to fit law {family.label} and some runs to predict")
    else:
        thresholds = list(positive_array("thresholds", as_list("thresholds", thresholds)))
    rows, notes = [], []
    for t in thresholds:
        try:
            bt = _backtest_runs(runs, family, float(t), x, bootstrap, seed, level, loss, noise, interval)
        except ScalingLabError as exc:
            notes.append(f"threshold {float(t):g} skipped: {exc}")
            continue
        d = bt.predictions["distance"]
        rows.append({"threshold": float(t), "n_train": bt.n_train, "n_test": bt.n_test, "mare": bt.mare,
                     "coverage": bt.coverage, "distance": float(d.max()), "median_distance": float(d.median()),
                     "median_width": bt.median_width})
    df = pd.DataFrame(rows, columns=["threshold", "n_train", "n_test", "mare", "coverage", "distance",
                                     "median_distance", "median_width"])
    df.attrs["notes"] = notes
    df.attrs.update(law=family.label, x=x, level=float(level), interval_method=interval)
    return df


# ---- leave one size out --------------------------------------------------------------------------------------
@dataclass(repr=False)
class LeaveOneOutResult(Displayed):
    """Each model size held out in turn. ``table``: one row per size (params = the size's median
    parameter count, n_train, n_test, mare, coverage, position: smallest / interior / largest);
    ``predictions``: every held-out run (columns as in :class:`BacktestResult`, plus ``size``);
    ``mare``/``coverage`` pooled over all held-out runs."""

    _display = (("law", ""), ("runs", "", lambda r: len(r.predictions)), ("mare", "fraction"),
                ("coverage", "fraction"), ("level", ""))

    law: str
    level: float
    table: pd.DataFrame
    predictions: pd.DataFrame
    mare: float
    coverage: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"mare": self.mare, "coverage": self.coverage, "law": self.law, "level": self.level,
                "sizes": self.table.to_dict(orient="records"), "notes": list(self.notes)}


def leave_one_size_out(data: Runs | pd.DataFrame | str | os.PathLike,
                       law: str | LawFamily | Mapping[str, Any] = "chinchilla", *, bootstrap: int = 100,
                       seed: int = 0, level: float = 0.95, loss: str = "huber", noise: str = "t",
                       rel_tol: float = 0.02, columns: Mapping[str, str] | None = None,
                       drop_highest_loss: int = 0) -> LeaveOneOutResult:
    """Hold out each model size (parameter counts within ``rel_tol`` of each other are one size), fit
    ``law`` on the other sizes and predict the held-out runs with prediction intervals at ``level``.
    Holding out the smallest or largest size is an extrapolation; the others interpolate."""
    runs, family = _prepare(data, law, "params", columns, drop_highest_loss)
    sizes = runs.column("params")
    labels = size_labels(sizes, finite_number("rel_tol", rel_tol, low=0.0))
    n_sizes = int(labels.max()) + 1
    if n_sizes < 3:
        raise ScalingLabError(f"{runs.source}: only {n_sizes} distinct model sizes; leave-one-size-out needs at least 3")
    rows, tables, notes = [], [], []
    for k in range(n_sizes):
        test_mask = labels == k
        n_train = int((~test_mask).sum())
        if n_train < family.n_params + 1:
            notes.append(f"size {np.median(sizes[test_mask]):.4g} skipped: only {n_train} runs left to fit")
            continue
        train, test = _subset(runs, ~test_mask), _subset(runs, test_mask)
        res = fit(train, family, loss=loss, bootstrap=bootstrap, seed=seed, level=level)
        pi = prediction_interval(res, level, noise=noise, **{v: test.column(v) for v in family.variables})
        preds = _prediction_table(test, pi, "params", float(train.column("params").max()))
        preds["size"] = float(np.median(sizes[test_mask]))
        tables.append(preds)
        position = "smallest" if k == 0 else "largest" if k == n_sizes - 1 else "interior"
        rows.append({"params": preds["size"].iloc[0], "n_train": n_train, "n_test": int(test_mask.sum()),
                     "mare": float(preds["rel_error"].abs().mean()), "coverage": float(preds["inside"].mean()),
                     "position": position})
    if not tables:
        raise ScalingLabError(f"{runs.source}: no size could be held out with enough runs left to fit")
    allp = pd.concat(tables)
    return LeaveOneOutResult(law=family.label, level=float(level), table=pd.DataFrame(rows), predictions=allp,
                             mare=float(allp["rel_error"].abs().mean()), coverage=float(allp["inside"].mean()),
                             notes=notes)


def size_labels(values: np.ndarray, rel_tol: float = 0.02) -> np.ndarray:
    """Integer label per value: sorted values whose neighbours differ by less than a factor (1 + rel_tol)
    share a label (0 = smallest level)."""
    v = np.asarray(values, dtype=float)
    order = np.argsort(v)
    lv = np.log(v[order])
    breaks = np.concatenate([[0], (np.diff(lv) > np.log1p(rel_tol)).astype(int)])
    labels = np.empty(len(v), dtype=int)
    labels[order] = np.cumsum(breaks)
    return labels
