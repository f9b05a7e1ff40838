"""Results that draw themselves: the one entry of the ``plot()`` methods of a fit
(:meth:`scalinglab.FitResult.plot`), an approach (:meth:`scalinglab.plan.approaches.ApproachResult.plot`),
a backtest (:meth:`scalinglab.analysis.backtest.BacktestResult.plot`) and a learning-curve forecast
(:meth:`scalinglab.analysis.forecast.Forecast.plot`).

Each returns a matplotlib Axes (an array of Axes for a figure of several panels) holding the same figure
as ``scalinglab plot``; the kinds each result draws, their options and panels are listed in
:mod:`scalinglab.report.result_plots`.

Layering: the results live in fitting/, plan/ and analysis/, below report/, whose figures import them.
Their ``plot()`` imports this module inside the method (the lazy load of matplotlib, an optional heavy
dependency: ``import scalinglab`` loads none), and this module, which imports nothing of scalinglab at
its top, loads the figures by name when a plot is asked for. A static import of the figures here would
close an import cycle (results -> report -> results).
"""

from __future__ import annotations

import importlib
from typing import Any

#: the module holding the figures of results, loaded when the first plot is drawn
FIGURES = "scalinglab.report.result_plots"


def draw(result: Any, kind: str, *, ax: Any = None, **options: Any) -> Any:
    """Draw ``kind`` of ``result`` on ``ax`` (default: a new figure's) and return the Axes drawn on (a
    numpy array of Axes for a figure of several panels); see :func:`scalinglab.report.result_plots.draw`."""
    return importlib.import_module(FIGURES).draw(result, kind, ax=ax, **options)
