"""Figures of Gadre et al. 2024's two laws (references.md D4): loss against compute per token multiplier
M = D/N with the ``overtrain`` law's line for each M, and downstream error against loss with Err(L).

Units: loss nats/token, C = 6ND training FLOPs (counting.flops_from), M tokens per parameter, error a
fraction. Each function returns a matplotlib Figure; ``law`` is a fitted or published law
(:func:`scalinglab.resolve_law`), or None for the data alone.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

import scalinglab.report.style as style
from scalinglab.counting import flops_from, params_from
from scalinglab.errors import ScalingLabError
from scalinglab.io import Runs
from scalinglab.laws.downstream_error import UPSTREAM
from scalinglab.report.fit_plots import log_loss_axis
from scalinglab.resolve import AnyLaw, law_name

CURVE_POINTS = 120
MAX_MULTIPLIERS = 9  # lines drawn at most; more distinct M are thinned to this many
EXTRAPOLATE_DECADES = 1.0  # law lines run this far past the largest run's compute


def _multipliers(m: np.ndarray) -> np.ndarray:
    """The distinct M of the runs (3 significant digits), thinned to at most MAX_MULTIPLIERS."""
    levels = np.unique(np.asarray([float(f"{v:.3g}") for v in m]))
    if levels.size > MAX_MULTIPLIERS:
        levels = levels[np.unique(np.linspace(0, levels.size - 1, MAX_MULTIPLIERS).round().astype(int))]
    return levels


def plot_loss_by_multiplier(runs: Runs, law: AnyLaw | None = None) -> Figure:
    """Loss against compute C (log-log), runs coloured by M = D/N; with a law of (params, tokens), its
    loss at each M along C (N = (C/6M)^(1/2), D = M N), dashed past the largest run."""
    runs.require(["params", "tokens", "loss"], why="a plot of loss against compute per multiplier")
    n, d, loss = runs.column("params"), runs.column("tokens"), runs.column("loss")
    c, m = flops_from(n, d), d / n
    fig, ax = style.new_figure()
    cmap, norm = style.viridis(), style.log_norm(m)
    points = ax.scatter(c, loss, c=m, cmap=cmap, norm=norm, s=22, edgecolors="white", linewidths=0.4, zorder=3,
                        label="runs")
    style.log_scale(ax, "x")
    log_loss_axis(ax, loss)
    style.colorbar(fig, points, ax, "token multiplier M = D/N (tokens/parameter)")
    title = "Loss against compute per token multiplier"
    if law is not None:
        if set(law.family.variables) != {"params", "tokens"}:
            raise ScalingLabError(f"law {law_name(law)} reads {', '.join(law.family.variables)}: the lines "
                                  "per multiplier need a law of params and tokens (e.g. overtrain)")
        title += f": {law_name(law)}"
        top = float(c.max())
        grid = np.geomspace(float(c.min()) / 1.5, top * 10 ** EXTRAPOLATE_DECADES, CURVE_POINTS)
        for level in _multipliers(m):
            size = np.sqrt(params_from(level, grid))  # C = 6 N (M N): N^2 = C / (6 M)
            pred = np.asarray(law.family.predict_natural(law.params, params=size, tokens=level * size))
            colour = cmap(norm(level))
            inside = grid <= top
            ax.plot(grid[inside], pred[inside], color=colour, linewidth=1.2)
            ax.plot(grid[~inside], pred[~inside], color=colour, linewidth=1.2, linestyle="--")
        style.note(ax, "lines: the law at each M (dashed: beyond the largest run)")
    style.label(ax, "flops", "loss", title)
    style.legend(ax, loc="upper right")
    return fig


def plot_error_vs_loss(runs: Runs, law: AnyLaw | None = None) -> Figure:
    """Downstream error (the table's ``loss`` column, a fraction) against the validation loss
    (``upstream_loss``, nats/token); with a ``downstream_error`` law, Err(L) over the data's range and,
    dashed, half a nat/token beyond it on either side."""
    runs.require([UPSTREAM, "loss"], why="a plot of downstream error against loss")
    L, err = runs.column(UPSTREAM), runs.column("loss")
    fig, ax = style.new_figure()
    ax.scatter(L, err, color=style.BLUE, s=22, edgecolors="white", linewidths=0.4, zorder=3, label="runs")
    title = "Downstream error against loss"
    if law is not None:
        if tuple(law.family.variables) != (UPSTREAM,):
            raise ScalingLabError(f"law {law_name(law)} reads {', '.join(law.family.variables)}: the curve "
                                  f"needs a law of {UPSTREAM} (downstream_error)")
        title += f": {law_name(law)}"
        lo, hi = float(L.min()), float(L.max())
        for a, b, style_ in ((lo - 0.5, lo, "--"), (lo, hi, "-"), (hi, hi + 0.5, "--")):
            grid = np.linspace(a, b, CURVE_POINTS)
            with np.errstate(all="ignore"):
                pred = np.exp(law.family.log_predict(law.family.from_natural(law.params)[None, :],
                                                     {UPSTREAM: grid})[0])
            ok = np.isfinite(pred)
            ax.plot(grid[ok], pred[ok], color=style.BLACK, linewidth=1.2, linestyle=style_,
                    label="Err(L)" if style_ == "-" else None)
    style.label(ax, "validation loss L (nats/token)", "average top-1 error (fraction)", title)
    style.legend(ax, loc="upper left")
    return fig
