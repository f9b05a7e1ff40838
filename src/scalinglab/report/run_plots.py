"""Figures of training runs and of predictions checked against what happened: training curves from the
lab's run store, learning-curve forecasts, extrapolation backtests.

Plain tables in (DataFrames, dicts), figures out, so that any analysis can feed them:

* training curves: the lab store's metrics table (``scalinglab.stores.table.read_store(path, "metrics")``:
  run, step, tokens, flops, loss = validation loss in nats/token, params, train_loss, ...);
* a forecast: the observed curve and a dict of the predicted one (see :func:`plot_forecast`);
* a backtest: the predictions table of ``scalinglab.analysis.backtest`` (params, tokens, flops,
  observed, predicted, low, high, inside).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

import scalinglab.report.style as style
from scalinglab.errors import ScalingLabError
from scalinglab.report.fit_plots import log_loss_axis

Array = np.ndarray
CURVE_X = ("tokens", "flops", "step")
BACKTEST_COLUMNS = ("observed", "predicted", "low", "high")


def _need(df: pd.DataFrame, columns: tuple[str, ...] | list[str], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ScalingLabError(f"{what} needs a table (DataFrame), got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ScalingLabError(f"{what} needs column(s) {', '.join(missing)}; the table has "
                              f"{', '.join(map(str, df.columns)) or 'none'}")


# ---- training curves -----------------------------------------------------------------------------
def plot_training_curves(metrics: pd.DataFrame, x: str = "tokens", show_train: bool = False) -> Figure:
    """Validation loss (nats/token) of every run against ``x`` (tokens, flops or step), log-log, one line
    per ``run`` coloured by the run's ``params`` (log colour scale). ``show_train`` adds each run's
    training loss (column ``train_loss``) as a faint dashed line."""
    if x not in CURVE_X:
        raise ScalingLabError(f"x must be one of {', '.join(CURVE_X)}, got '{x}'")
    _need(metrics, ["run", x, "loss", "params"], "a training-curve plot")
    df = metrics[np.isfinite(metrics[x].astype(float)) & (metrics[x].astype(float) > 0)
                 & np.isfinite(metrics["loss"].astype(float))]
    if df.empty:
        raise ScalingLabError(f"no evaluation with a finite loss and {x} > 0 to plot")
    fig, ax = style.new_figure()
    cmap, norm = style.viridis(), style.log_norm(df["params"].astype(float))
    for _, curve in df.sort_values([x]).groupby("run", sort=False):
        colour = cmap(norm(float(curve["params"].iloc[0])))
        ax.plot(curve[x], curve["loss"], color=colour, linewidth=1.4, marker="o", markersize=2.5)
        if show_train and "train_loss" in curve and curve["train_loss"].notna().any():
            ax.plot(curve[x], curve["train_loss"], color=colour, linewidth=0.9, linestyle="--", alpha=0.6)
    style.log_scale(ax, "x")
    log_loss_axis(ax, df["loss"].astype(float))
    mappable = ax.scatter([], [], c=[], cmap=cmap, norm=norm)
    style.colorbar(fig, mappable, ax, style.LABELS["params"])
    n_runs = df["run"].nunique()
    style.label(ax, x, "validation loss (nats/token)", f"Training curves: {n_runs} run{'s' * (n_runs != 1)}")
    if show_train:
        ax.plot([], [], color=style.GREY, linestyle="--", label="training loss")
        ax.plot([], [], color=style.GREY, label="validation loss")
        style.legend(ax, loc="upper right")
    return fig


# ---- a learning-curve forecast -------------------------------------------------------------------
def plot_forecast(curve: pd.DataFrame, forecast: Mapping[str, Any], x: str = "tokens", ax=None) -> Figure:
    """A forecast of one training curve against what happened.

    ``curve``: the observed curve (columns ``x`` and ``loss``, nats/token). ``forecast``: ``"x"`` (array of
    the same quantity as ``x``), ``"loss"`` (predicted loss there), optional ``"low"``/``"high"`` (an
    interval; its ``"level"``, e.g. 0.95), optional ``"final_low"``/``"final_high"`` (the prediction
    interval of the loss at the last forecast ``x``, drawn as an error bar) and ``"fit_until"`` (the last
    ``x`` the forecast was fitted on: observed points up to it are drawn filled, later ones hollow: they
    are what the forecast predicts). ``ax``: the Axes to draw on (default: a new figure's)."""
    _need(curve, [x, "loss"], "a forecast plot")
    for key in ("x", "loss"):
        if key not in forecast:
            raise ScalingLabError(f"the forecast needs key '{key}' (arrays of {x} and predicted loss)")
    fx, fy = np.asarray(forecast["x"], dtype=float), np.asarray(forecast["loss"], dtype=float)
    if fx.shape != fy.shape or fx.size == 0:
        raise ScalingLabError("the forecast's 'x' and 'loss' must be arrays of the same, non-zero length")
    cx, cy = curve[x].to_numpy(dtype=float), curve["loss"].to_numpy(dtype=float)
    cut = float(forecast.get("fit_until", np.inf))
    fig, ax = style.new_figure(ax=ax)
    used = cx <= cut
    ax.scatter(cx[used], cy[used], s=18, color=style.BLUE, zorder=3, label="observed, used by the forecast")
    if (~used).any():
        ax.scatter(cx[~used], cy[~used], s=22, facecolors="none", edgecolors=style.BLUE, linewidths=1.1,
                   zorder=3, label="observed later (held out)")
    ax.plot(fx, fy, color=style.VERMILLION, linewidth=1.8, label="forecast")
    if forecast.get("low") is not None and forecast.get("high") is not None:
        level = forecast.get("level")
        ax.fill_between(fx, np.asarray(forecast["low"], float), np.asarray(forecast["high"], float),
                        color=style.VERMILLION, alpha=0.18, linewidth=0,
                        label=f"{100 * level:g}% interval" if level else "interval")
    if forecast.get("final_low") is not None and forecast.get("final_high") is not None:
        fx_end, f_end = float(fx[-1]), float(fy[-1])
        err = [[f_end - float(forecast["final_low"])], [float(forecast["final_high"]) - f_end]]
        level = forecast.get("level")
        ax.errorbar([fx_end], [f_end], yerr=err, fmt="D", color=style.VERMILLION, capsize=4, zorder=4,
                    label=(f"final loss, {100 * level:g}% prediction interval" if level else "final loss, interval"))
    if np.isfinite(cut):
        ax.axvline(cut, color=style.GREY, linestyle="--", linewidth=1.0)
        ax.annotate("fitted up to here", (cut, 1.0), xycoords=("data", "axes fraction"), xytext=(-4, -4),
                    textcoords="offset points", ha="right", va="top", fontsize=style.FONT_SIZE - 1,
                    color=style.GREY)
    style.log_scale(ax, "x")
    log_loss_axis(ax, np.concatenate([cy, fy]))
    style.label(ax, x, "loss", "Learning-curve forecast against the observed curve")
    style.legend(ax, loc="lower left")
    return fig


# ---- an extrapolation backtest -------------------------------------------------------------------
def backtest_summary(predictions: pd.DataFrame) -> dict[str, float]:
    """Mean absolute relative error |predicted - observed| / observed, interval coverage (share of
    held-out runs inside [low, high]) and n, from a backtest's predictions table."""
    _need(predictions, list(BACKTEST_COLUMNS), "a backtest")
    obs, pred = predictions["observed"].to_numpy(float), predictions["predicted"].to_numpy(float)
    inside = _inside(predictions)
    return {"n": len(obs), "mare": float(np.mean(np.abs(pred - obs) / obs)) if len(obs) else float("nan"),
            "coverage": float(np.mean(inside)) if len(obs) else float("nan")}


def _inside(predictions: pd.DataFrame) -> Array:
    if "inside" in predictions:
        return predictions["inside"].to_numpy(bool)
    obs = predictions["observed"].to_numpy(float)
    return (predictions["low"].to_numpy(float) <= obs) & (obs <= predictions["high"].to_numpy(float))


def plot_backtest(predictions: pd.DataFrame, x: str = "flops", fitted: pd.DataFrame | None = None,
                  level: float | None = None, ax=None) -> Figure:
    """A backtest: the law fitted below a threshold predicts the held-out runs above it. Left: observed
    loss (points: filled blue inside the interval, vermillion diamonds outside) and predicted loss with
    its interval (black bars) against ``x`` (log); ``fitted`` (the runs the law was fitted on: ``x`` and
    ``loss``) in grey. Right: predicted (with interval) against observed loss, the diagonal being a
    perfect prediction. The title gives the mean absolute relative error and the interval coverage.
    Held-out runs at one ``x`` (e.g. several sizes at one FLOP budget) are spread apart (:func:`dodge`) so
    that each interval can be read. ``ax``: two Axes to draw on (default: a new figure's)."""
    _need(predictions, [x, *BACKTEST_COLUMNS], "a backtest plot")
    if predictions.empty:
        raise ScalingLabError("the backtest has no held-out run to plot")
    p = predictions.sort_values(x)
    xs, obs, pred = dodge(p[x].to_numpy(float)), p["observed"].to_numpy(float), p["predicted"].to_numpy(float)
    low, high = p["low"].to_numpy(float), p["high"].to_numpy(float)
    inside = _inside(p)
    fig, (ax, ax_err) = style.new_figure(2, size=(11.0, 4.4), ax=ax)
    shown = [obs, pred, low, high]
    if fitted is not None:
        _need(fitted, [x, "loss"], "the fitted runs of a backtest plot")
        ax.scatter(fitted[x], fitted["loss"], s=12, color=style.GREY, alpha=0.6, label="fitted on")
        shown.append(fitted["loss"].to_numpy(float))
    span = np.stack([pred - low, high - pred])
    ax.errorbar(xs, pred, yerr=np.where(np.isfinite(span), np.maximum(span, 0), 0), fmt="_", color=style.BLACK,
                markersize=10, capsize=3, linewidth=1.0, label="predicted, with interval")
    _observed(ax, xs, obs, inside)
    style.log_scale(ax, "x")
    log_loss_axis(ax, np.concatenate([v[np.isfinite(v)] for v in shown]))
    style.label(ax, x, "loss", "Held-out runs beyond the fitted range")
    style.legend(ax, loc="upper right")
    _parity(ax_err, obs, pred, low, high, inside)
    s = backtest_summary(p)
    lvl = f" of the {100 * level:g}% intervals" if level else ""
    fig.suptitle(f"Backtest on {s['n']} held-out runs: mean |relative error| {100 * s['mare']:.2f}%, "
                 f"coverage{lvl} {100 * s['coverage']:.0f}%", fontsize=style.FONT_SIZE + 1, x=0.01, ha="left")
    return fig


#: values within this relative distance are one x level (:func:`dodge`)
DODGE_RTOL = 0.02
#: share of the log gap to the nearest other level that a dodged group spans (one level: a 0.3-decade gap)
DODGE_SHARE = 0.3


def dodge(xs: Array, rtol: float = DODGE_RTOL, share: float = DODGE_SHARE) -> Array:
    """Positive ``xs`` for a log axis with each group of k > 1 values within ``rtol`` of one another
    spread evenly (in log10 x, in their order) over ``share`` of the log gap to the nearest other group
    (0.3 decade when there is one group), centred on the group's geometric mean; single values stay."""
    x = np.asarray(xs, dtype=float)
    if x.size < 2:
        return x.copy()
    order = np.argsort(x, kind="stable")
    lx = np.log10(x[order])
    group = np.concatenate([[0], np.cumsum(np.diff(lx) > np.log10(1.0 + rtol))])
    centres = np.array([lx[group == g].mean() for g in range(group[-1] + 1)])
    gap = float(np.min(np.diff(centres))) if len(centres) > 1 else 0.3
    out = x[order].copy()
    for g, centre in enumerate(centres):
        members = np.flatnonzero(group == g)
        k = len(members)
        if k > 1:
            out[members] = 10.0 ** (centre + share * gap * (np.arange(k) / (k - 1) - 0.5))
    result = np.empty_like(x)
    result[order] = out
    return result


def _parity(ax, obs: Array, pred: Array, low: Array, high: Array, inside: Array) -> None:
    """Predicted (with its interval) against observed loss; the diagonal is a perfect prediction."""
    lo = float(np.nanmin(np.concatenate([obs, low]))) / 1.01
    hi = float(np.nanmax(np.concatenate([obs, high]))) * 1.01
    ax.plot([lo, hi], [lo, hi], color=style.BLACK, linewidth=0.9, label="predicted = observed")
    err = np.stack([np.maximum(pred - low, 0), np.maximum(high - pred, 0)])
    ax.errorbar(obs, pred, yerr=np.where(np.isfinite(err), err, 0), fmt="none", ecolor=style.GREY, capsize=2,
                linewidth=0.8)
    _observed(ax, obs, pred, inside, legend=False)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal", adjustable="box")
    style.label(ax, "observed loss (nats/token)", "predicted loss (nats/token)", "Predicted against observed")


def _observed(ax, xs: Array, y: Array, inside: Array, legend: bool = True) -> None:
    ax.scatter(xs[inside], y[inside], s=30, color=style.BLUE, zorder=3,
               label="observed, inside the interval" if legend else None)
    if (~inside).any():
        ax.scatter(xs[~inside], y[~inside], s=38, marker="D", color=style.VERMILLION, zorder=3,
                   label="observed, outside" if legend else None)
