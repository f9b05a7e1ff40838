"""Backtest learning-curve forecasts: hide the end of every curve, forecast it, compare.

:func:`forecast_backtest` runs :func:`scalinglab.analysis.forecast.forecast_run` on every run of a
learning-curve table at several fractions of each curve seen, and scores each forecast of the final
loss against the curve's observed final loss (nats/token): relative error predicted/observed - 1 and
whether the observed value lies in the prediction interval. :func:`backtest_summary` condenses that
per fraction (median and mean absolute relative error, coverage), showing how the error shrinks as
more of the curve is seen. :func:`simulate_learning_curves` makes curves with a known truth.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.analysis.forecast import FORMS, curve_ids, forecast_run, load_curves
from scalinglab.errors import (
    ScalingLabError,
    as_list,
    count_array,
    count_number,
    finite_array,
    finite_result,
    non_negative_number,
    seed_number,
    whole_number,
)
from scalinglab.io import Runs

__all__ = ["BACKTEST_COLUMNS", "backtest_summary", "forecast_backtest", "simulate_learning_curves"]

DEFAULT_FRACTIONS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5, 0.7)
BACKTEST_COLUMNS: tuple[str, ...] = (
    "run", "fraction", "n_fit", "x_fit_max", "x_final", "predicted", "low", "high", "observed",
    "rel_error", "abs_rel_error", "inside", "converged", "error")


def simulate_learning_curves(sizes: Sequence[float] = (1e8,), *, E: float = 1.7, A: float = 400.0,
                             alpha: float = 0.34, B: float = 400.0, beta: float = 0.28,
                             tokens_final: float | Sequence[float] = 2e10, tokens_first: float | None = None,
                             n_points: int = 100, noise: float = 0.01, seed: int = 0) -> pd.DataFrame:
    """Learning curves with a known truth: one run per size N (parameters), evaluations at
    ``n_points`` evenly spaced token counts from ``tokens_first`` (default tokens_final / n_points) to
    ``tokens_final`` (one value, or one per size). True loss (nats/token)
    L(N, D) = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022 eq. 2 read along a curve: D = tokens
    seen), observed L * exp(noise * z), z ~ N(0, 1) independent per point (seeded). For one run this
    is the saturating form with E_run = E + A/N^alpha, amplitude B and exponent beta.

    Columns: run ("N=<size>"), params, tokens, step (= evaluation number), loss, true_loss."""
    sizes = [float(n) for n in count_array("sizes (parameters)", as_list("sizes", sizes))]
    finals = count_array("tokens_final", tokens_final).ravel()
    if finals.size not in (1, len(sizes)):
        raise ScalingLabError(f"tokens_final must be one value or one per size ({len(sizes)}), got {finals.size}")
    finals = np.broadcast_to(finals, (len(sizes),))
    E, A, alpha, B, beta = (non_negative_number(k, v) for k, v in
                            (("E", E), ("A", A), ("alpha", alpha), ("B", B), ("beta", beta)))
    n_points = whole_number("n_points", n_points, minimum=2, maximum=1_000_000)
    noise = non_negative_number("noise", noise)
    first = None if tokens_first is None else count_number("tokens_first", tokens_first)
    rng = np.random.default_rng(seed_number(seed))
    frames = []
    for n, d_end in zip(sizes, finals):
        d0 = d_end / n_points if first is None else first
        tokens = np.linspace(d0, d_end, n_points)
        with np.errstate(all="ignore"):
            true = finite_result("true loss", E + A / np.power(n, alpha) + B / tokens**beta, "the law overflows here")
            loss = finite_result("simulated loss", true * np.exp(noise * rng.standard_normal(n_points)),
                                 f"noise {noise:g} (the sd of the log-loss) is far too large")
        frames.append(pd.DataFrame({"run": f"N={n:.3g}", "params": n, "tokens": tokens,
                                    "step": np.arange(1, n_points + 1, dtype=float), "loss": loss,
                                    "true_loss": true}))
    return pd.concat(frames, ignore_index=True)


def _progress(total: int, enabled: bool):
    if not enabled or total == 0:
        return nullcontext(None)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("backtest"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    transient=True)


def _one(runs: Runs, run: str | None, fraction: float, options: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {c: None for c in BACKTEST_COLUMNS}
    row.update(run=run, fraction=float(fraction))
    try:
        f = forecast_run(runs, run=run, fraction=fraction, **options)
    except ScalingLabError as exc:
        row["error"] = str(exc)
        return row
    row.update(n_fit=f.n_fit, x_fit_max=f.x_fit_max, x_final=f.x_final, predicted=f.final_loss, low=f.low,
               high=f.high, observed=f.observed_final, rel_error=f.rel_error,
               abs_rel_error=None if f.rel_error is None else abs(f.rel_error), inside=f.inside,
               converged=f.fit.converged)
    if f.observed_final is None:
        row["error"] = "no held-out final point"
    return row


def forecast_backtest(curves: Runs | pd.DataFrame | str | os.PathLike,
                      fractions: Sequence[float] = DEFAULT_FRACTIONS, *, form: str = "saturating",
                      x: str = "tokens", bootstrap: int = 200, seed: int = 0, level: float = 0.95,
                      runs: Sequence[str] | None = None, shared_law: str = "exponent",
                      columns: Mapping[str, str] | None = None, progress: bool = False) -> pd.DataFrame:
    """Forecast every run's final loss (its last point) from the first ``fractions`` of its curve.

    One row per (run, fraction), columns :data:`BACKTEST_COLUMNS`: n_fit (points fitted), x_fit_max,
    x_final (tokens or steps), predicted, low, high (nats/token), observed (the final loss),
    rel_error = predicted/observed - 1, abs_rel_error, inside (observed in [low, high]), converged,
    error (why a forecast could not be made, e.g. too few points at a small fraction; else None).
    ``runs`` limits the runs (default: all). ``df.attrs["summary"]`` holds :func:`backtest_summary`."""
    if form not in FORMS:
        raise ScalingLabError(f"unknown forecast form {form!r}: choose one of {', '.join(FORMS)}")
    fractions = [float(f) for f in finite_array("backtest fractions", as_list("fractions", fractions))]
    if any(not 0.0 < f < 1.0 for f in fractions):
        raise ScalingLabError(f"backtest fractions must lie strictly between 0 and 1, got {fractions}")
    table = load_curves(curves, columns)
    ids: list[str | None] = list(curve_ids(table)) or [None]
    if runs is not None:
        wanted = [str(r) for r in runs]
        unknown = [r for r in wanted if r not in ids]
        if unknown:
            raise ScalingLabError(f"{table.source}: no run {unknown[0]!r} to backtest")
        ids = list(wanted)
    options = {"form": form, "x": x, "bootstrap": bootstrap, "seed": seed, "level": level,
               "shared_law": shared_law}
    rows = []
    with _progress(len(ids) * len(fractions), progress) as bar:
        task = bar.add_task("backtest", total=len(ids) * len(fractions)) if bar is not None else None
        for run in ids:
            for fraction in fractions:
                rows.append(_one(table, run, fraction, options))
                if bar is not None:
                    bar.advance(task)
    df = pd.DataFrame(rows, columns=list(BACKTEST_COLUMNS))
    df.attrs["summary"] = backtest_summary(df)
    return df


def backtest_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per fraction: runs (forecasts scored), failed (no forecast or no held-out final point),
    median_abs_rel_error, mean_abs_rel_error, median_rel_error (the bias: > 0 means forecasts too
    high), coverage (share of scored forecasts whose interval holds the observed final loss;
    NaN without intervals)."""
    if not isinstance(table, pd.DataFrame) or not {"fraction", "rel_error", "abs_rel_error", "inside"} <= set(table):
        raise ScalingLabError("backtest_summary needs the table forecast_backtest returns (columns fraction, "
                              "rel_error, abs_rel_error, inside)")
    out = []
    for fraction, g in table.groupby("fraction", sort=True):
        scored = g[g["rel_error"].notna()]
        err = scored["abs_rel_error"].astype(float)
        inside = scored["inside"].dropna().astype(bool)
        out.append({"fraction": float(fraction), "runs": len(scored), "failed": len(g) - len(scored),
                    "median_abs_rel_error": float(err.median()) if len(err) else np.nan,
                    "mean_abs_rel_error": float(err.mean()) if len(err) else np.nan,
                    "median_rel_error": float(scored["rel_error"].astype(float).median()) if len(err) else np.nan,
                    "coverage": float(inside.mean()) if len(inside) else np.nan})
    return pd.DataFrame(out, columns=["fraction", "runs", "failed", "median_abs_rel_error",
                                      "mean_abs_rel_error", "median_rel_error", "coverage"])
