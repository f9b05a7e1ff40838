"""The figures results draw: what :func:`scalinglab.report.plotting_api.draw` (behind the ``plot()``
methods of a fit, an approach, a backtest and a forecast) draws, the same figures as ``scalinglab plot`` (the
functions behind :data:`scalinglab.report.kinds.KINDS`), on the Axes given as ``ax=`` or on a new
figure's; :func:`draw` returns those Axes.

Kinds (:data:`RESULT_KINDS`), by result:

* a fit (:class:`~scalinglab.FitResult`): ``loss-params``, ``loss-tokens``, ``loss-flops`` (option
  ``colour_by``), ``isoflop`` (option ``degree``), ``residuals`` -- these need ``runs``, the runs to draw
  (anything :func:`scalinglab.load_runs` reads; the fit keeps none) --; ``bootstrap`` and ``correlations``
  (a fit with bootstrap draws); ``frontier`` (the law's compute-optimal N and D against C; options
  ``budgets``, FLOPs, default whole decades from the fitted runs' smallest C to two decades past their
  largest, and ``references``, published laws or rules drawn beside it);
* an approach of Hoffmann et al. 2022 (:class:`~scalinglab.plan.approaches.ApproachResult`): ``frontier``
  (its N_opt and D_opt against C with the per-level optima; options ``budgets``, ``references``);
* a backtest (:class:`~scalinglab.analysis.backtest.BacktestResult`): ``backtest`` (option ``runs``: the
  table backtested, whose fitted runs are drawn in grey);
* a learning-curve forecast (:class:`~scalinglab.analysis.forecast.Forecast`): ``forecast`` (option
  ``curves``, needed: the curves forecast, anything :func:`scalinglab.analysis.load_curves` reads).

A one-panel figure returns its Axes. ``residuals`` (one panel per N, D, C the runs hold), ``bootstrap``
(one per exponent, at most 6), ``frontier`` (N_opt, D_opt) and ``backtest`` (loss against x, predicted
against observed) return a numpy array of Axes, and take that many Axes as ``ax=``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import scalinglab.report.fit_plots as fit_plots
import scalinglab.report.plan_plots as plan_plots
import scalinglab.report.run_plots as run_plots
from scalinglab.analysis.backtest import BacktestResult
from scalinglab.analysis.forecast import Forecast, load_curves
from scalinglab.errors import ScalingLabError
from scalinglab.fitting.result import FitResult
from scalinglab.io import load_runs
from scalinglab.plan.approaches import APPROACH_NAMES, ApproachResult
from scalinglab.report.kinds import KINDS, default_budgets, forecast_figure


@dataclass(frozen=True)
class ResultKind:
    """One figure a result draws: its builder ``build(result, ax, **options)`` and its options' defaults."""

    build: Callable[..., Figure]
    options: Mapping[str, Any]


def _runs(runs: Any, kind: str) -> Any:
    if runs is None:
        raise ScalingLabError(f"plot kind '{kind}' draws the runs: give them, e.g. result.plot('{kind}', runs)")
    return load_runs(runs)


def _budgets(budgets: Sequence[float] | None, flops: Sequence[float], what: str) -> list[float]:
    if budgets is not None:
        return [float(c) for c in np.atleast_1d(np.asarray(budgets, dtype=float))]
    if len(flops) == 0:
        raise ScalingLabError(f"{what} records no FLOP range: give budgets=[...] (FLOPs)")
    return default_budgets(np.asarray(flops, dtype=float))


def _references(names: Sequence[str] | None, budgets: list[float]) -> dict[str, Any]:
    """The published frontiers ``names`` at ``budgets`` (None: plan_plots.DEFAULT_REFERENCES; empty: none)."""
    names = plan_plots.DEFAULT_REFERENCES if names is None else names
    return {name: plan_plots.frontier_table(name, budgets) for name in ([names] if isinstance(names, str) else names)}


# ---- a fit ---------------------------------------------------------------------------------------
def _fit_loss(x: str) -> Callable[..., Figure]:
    def build(fit, ax, runs, colour_by):
        return fit_plots.plot_loss(_runs(runs, f"loss-{x}"), fit, x=x, colour_by=colour_by, ax=ax)
    return build


def _fit_isoflop(fit, ax, runs, degree):
    return fit_plots.plot_isoflop(_runs(runs, "isoflop"), degree=None if degree is None else int(degree), law=fit,
                                  ax=ax)


def _fit_residuals(fit, ax, runs):
    return fit_plots.plot_residuals(fit, _runs(runs, "residuals"), ax=ax)


def _fit_frontier(fit, ax, budgets, references):
    budgets = _budgets(budgets, (fit.data_range or {}).get("flops", []), f"the fit of {fit.law}")
    return plan_plots.plot_frontier({f"fit: {fit.law}": plan_plots.frontier_table(fit, budgets)},
                                    references=_references(references, budgets), ax=ax)


# ---- an approach and a backtest ------------------------------------------------------------------
def _approach_frontier(result, ax, budgets, references):
    budgets = _budgets(budgets, [f["flops"] for f in result.frontier], f"approach {result.approach}")
    name = f"approach {result.approach}: {APPROACH_NAMES[result.approach]}"
    return plan_plots.plot_frontier({name: plan_plots.frontier_table(result, budgets)},
                                    {name: plan_plots.approach_points(result)},
                                    _references(references, budgets), ax=ax)


def _backtest(result, ax, runs):
    fitted = None
    if runs is not None:
        data = load_runs(runs)
        fitted = data.data[data.column(result.x) <= result.holdout_above]
    return run_plots.plot_backtest(result.predictions, x=result.x, fitted=fitted, level=result.level, ax=ax)


def _forecast(result, ax, curves):
    if curves is None:
        raise ScalingLabError("plot kind 'forecast' draws the observed curve: give the curves forecast, "
                              "e.g. forecast.plot(curves)")
    return forecast_figure(load_curves(curves), result, ax=ax)


_FRONTIER = {"budgets": None, "references": KINDS["frontier"].options["references"]}  # scalinglab plot's defaults

#: the kinds each type of result draws
RESULT_KINDS: dict[type, dict[str, ResultKind]] = {
    FitResult: {
        "loss-params": ResultKind(_fit_loss("params"), {"runs": None, "colour_by": None}),
        "loss-tokens": ResultKind(_fit_loss("tokens"), {"runs": None, "colour_by": None}),
        "loss-flops": ResultKind(_fit_loss("flops"), {"runs": None, "colour_by": None}),
        "isoflop": ResultKind(_fit_isoflop, {"runs": None, "degree": KINDS["isoflop"].options["degree"]}),
        "residuals": ResultKind(_fit_residuals, {"runs": None}),
        "bootstrap": ResultKind(lambda fit, ax: fit_plots.plot_bootstrap(fit, ax=ax), {}),
        "correlations": ResultKind(lambda fit, ax: fit_plots.plot_correlations(fit, ax=ax), {}),
        "frontier": ResultKind(_fit_frontier, _FRONTIER),
    },
    ApproachResult: {"frontier": ResultKind(_approach_frontier, _FRONTIER)},
    BacktestResult: {"backtest": ResultKind(_backtest, {"runs": None})},
    Forecast: {"forecast": ResultKind(_forecast, {"curves": None})},
}


def draw(result: Any, kind: str, *, ax: Any = None, **options: Any) -> Axes | np.ndarray:
    """Draw ``kind`` of ``result`` on ``ax`` (or a new figure) and return the Axes drawn on (an array
    of Axes for a figure of several panels). Options left None take their defaults; an unknown kind or
    an option the kind does not take is a ScalingLabError."""
    kinds = next((k for cls, k in RESULT_KINDS.items() if isinstance(result, cls)), None)
    if kinds is None:
        raise ScalingLabError(f"no figure draws a {type(result).__name__}")
    found = kinds.get(str(kind).strip().lower())
    if found is None:
        raise ScalingLabError(f"unknown plot kind '{kind}' for a {type(result).__name__}; kinds are "
                              f"{', '.join(kinds)}")
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - set(found.options))
    if unknown:
        takes = ", ".join(found.options) or "no options"
        raise ScalingLabError(f"plot kind '{kind}' takes no option {', '.join(unknown)} (it takes {takes})")
    fig = found.build(result, ax, **{**found.options, **given})
    if ax is not None:
        axes = np.asarray(ax, dtype=object).ravel()
        return axes[0] if axes.size == 1 else axes
    panels = [a for a in fig.axes if a.get_label() != "<colorbar>"]  # colour bars are not panels
    return panels[0] if len(panels) == 1 else np.array(panels, dtype=object)
