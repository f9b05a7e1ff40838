"""Pictures and reports: matplotlib figures of fits, plans, runs and serving, and one self-contained
HTML report.

* :func:`plot` (``scalinglab plot KIND DATA --out FILE``): any figure of :data:`KINDS` by name, saved as
  PNG or SVG by the suffix of ``out``.
* Figures as functions of plain tables (each returns a matplotlib Figure; :func:`save` writes it):
  :mod:`.fit_plots` (loss against N / D / C with the law and its band, IsoFLOP profiles, residuals,
  bootstrap distributions, parameter correlations), :mod:`.plan_plots` (the compute-optimal frontier
  of each approach beside published laws), :mod:`.run_plots` (training curves, forecasts, backtests),
  :mod:`.inference_plots` (serving memory, throughput against batch, speed against model size).
* :func:`build_report` / :func:`write_report` (``scalinglab report``): one HTML file with every figure
  embedded, readable offline.

Importing this package imports matplotlib (Agg and SVG canvases only, no pyplot) but not torch.
"""

from __future__ import annotations

from scalinglab.report.fit_plots import (
    plot_bootstrap,
    plot_correlations,
    plot_isoflop,
    plot_loss,
    plot_residuals,
)
from scalinglab.report.html import build_report as _build
from scalinglab.report.html import write_report as _write
from scalinglab.report.inference_plots import (
    plot_memory,
    plot_speed_vs_size,
    plot_throughput,
)
from scalinglab.report.kinds import KINDS, PlotKind, make_figure, plot
from scalinglab.report.plan_plots import (
    compare_frontiers,
    frontier_table,
    plot_frontier,
)
from scalinglab.report.run_plots import (
    plot_backtest,
    plot_forecast,
    plot_training_curves,
)
from scalinglab.report.style import save

__all__ = [
    "KINDS", "PlotKind", "build_report", "compare_frontiers", "frontier_table", "make_figure", "plot",
    "plot_backtest", "plot_bootstrap", "plot_correlations", "plot_forecast", "plot_frontier", "plot_isoflop",
    "plot_loss", "plot_memory", "plot_residuals", "plot_speed_vs_size", "plot_throughput",
    "plot_training_curves", "save", "write_report",
]


def build_report(*args, **kwargs) -> str:
    """The HTML report as text; see :func:`scalinglab.report.html.build_report`."""
    return _build(*args, **kwargs)


def write_report(*args, **kwargs):
    """Write the HTML report; see :func:`scalinglab.report.html.write_report`."""
    return _write(*args, **kwargs)
