"""Iso-loss contours in the (C, N) plane: the fitted law's loss over compute and model size, with the
compute-optimal frontier on top (the view of Hoffmann et al. 2022, fig. 4 left; references.md D3).

A law L(N, D) of model size N (parameters) and training tokens D (tokens) gives, at compute C = 6ND
(FLOPs, references.md A1) and size N, the loss L(N, C / (6N)) in nats/token. :func:`isoloss_grid`
evaluates it on a log-spaced grid of C and N; :func:`plot_isoloss` draws its contours (labelled in
nats/token), the runs (C, N), the compute-optimal N*(C) = argmin_N L(N, C/(6N)) (Hoffmann et al. 2022
eq. 4; :func:`scalinglab.plan.allocation.optimal_frontier`), and the requested budgets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

import scalinglab.report.style as style
from scalinglab.counting import tokens_from
from scalinglab.errors import ScalingLabError
from scalinglab.io import load_runs
from scalinglab.plan.allocation import optimal_frontier
from scalinglab.report.fit_plots import LawLike, RunsSource
from scalinglab.resolve import AnyLaw, law_name, predict_loss, resolve_law

Array = np.ndarray
#: grid points along each axis of the contour plot
GRID_POINTS = 80
#: contour lines drawn (at most; matplotlib's "nice" levels)
N_LEVELS = 12
FRONTIER_LABEL = "compute-optimal N*(C)"
BUDGET_LABEL = "requested budgets"


def isoloss_grid(law: LawLike, flops: Array, params: Array) -> Array:
    """The loss (nats/token) of a law of (N, D) at every (C, N): shape (len(params), len(flops)), row i
    at N = params[i] (parameters), column j at C = flops[j] (FLOPs), D = C / (6N) tokens."""
    resolved = resolve_law(law)
    if set(resolved.family.variables) != {"params", "tokens"}:
        raise ScalingLabError(f"iso-loss contours need a law of N and D; {law_name(resolved)} reads "
                              f"{', '.join(resolved.family.variables)}")
    c, n = np.meshgrid(np.asarray(flops, dtype=float), np.asarray(params, dtype=float))
    pred = predict_loss(resolved, allow_unidentified=True, params=n.ravel(), tokens=tokens_from(n.ravel(), c.ravel()))
    return np.asarray(pred.loss, dtype=float).reshape(n.shape)


def _ranges(law: AnyLaw, runs, budgets: Sequence[float]) -> tuple[Array, Array]:
    """Grids of C (FLOPs) and N (parameters) spanning the runs, the budgets and the compute-optimal N*
    there (a factor 2 wider in C, 3 in N)."""
    c_vals = list(budgets)
    n_vals: list[float] = []
    if runs is not None:
        c_vals += list(runs.column("flops"))
        n_vals += list(runs.column("params"))
    if not c_vals:
        raise ScalingLabError("iso-loss contours need runs or budgets to set the compute range")
    c_lo, c_hi = min(c_vals) / 2.0, max(c_vals) * 2.0
    try:  # the compute-optimal N at the ends and at each budget stays in view
        n_vals += [a.params for a in optimal_frontier(law, [c_lo, c_hi, *budgets], allow_unidentified=True)]
    except ScalingLabError:
        if not n_vals:
            raise
    return np.geomspace(c_lo, c_hi, GRID_POINTS), np.geomspace(min(n_vals) / 3.0, max(n_vals) * 3.0, GRID_POINTS)


def plot_isoloss(law: LawLike, runs: RunsSource | None = None, budgets: Sequence[float] = (), ax=None) -> Figure:
    """Contours of ``law``'s loss (nats/token, labelled) over compute C (FLOPs, x) and model size N
    (parameters, y), log-log; the runs as points; the compute-optimal N*(C) (black, dashed) on top; each
    budget of ``budgets`` a white-filled diamond on it. ``ax``: the Axes to draw on (default: a new
    figure's)."""
    resolved = resolve_law(law)
    data = load_runs(runs) if runs is not None else None
    if data is not None:
        data.require(["params", "flops"], why="iso-loss contours")
    budgets = [float(b) for b in budgets]
    flops, params = _ranges(resolved, data, budgets)
    loss = isoloss_grid(resolved, flops, params)
    fig, ax = style.new_figure(ax=ax)
    finite = loss[np.isfinite(loss)]
    levels = MaxNLocator(nbins=N_LEVELS).tick_values(float(finite.min()), float(np.quantile(finite, 0.9)))
    cs = ax.contour(flops, params, loss, levels=levels, cmap=style.viridis(), linewidths=1.0)
    ax.clabel(cs, fmt=lambda v: f"{v:g}", fontsize=style.FONT_SIZE - 2)
    if data is not None:
        ax.scatter(data.column("flops"), data.column("params"), s=14, color=style.GREY, alpha=0.7,
                   edgecolors="white", linewidths=0.3, zorder=3, label="runs")
    _frontier(ax, resolved, flops, budgets)
    style.log_scale(ax, "both")
    ax.set_xlim(flops[0], flops[-1])
    ax.set_ylim(params[0], params[-1])
    style.label(ax, "flops", "params", f"Iso-loss contours of {law_name(resolved)} (nats/token)")
    style.legend(ax, loc="upper left")
    return fig


def _frontier(ax, law: AnyLaw, flops: Array, budgets: list[float]) -> None:
    """N*(C) along ``flops`` and diamonds at ``budgets`` (nothing when the law has no interior optimum)."""
    try:
        line = optimal_frontier(law, list(flops), allow_unidentified=True)  # a drawing, not an answer
        marks = optimal_frontier(law, budgets, allow_unidentified=True) if budgets else []
    except ScalingLabError:
        style.note(ax, "the law has no interior compute-optimal size here: no frontier drawn")
        return
    ax.plot(flops, [a.params for a in line], color=style.BLACK, linestyle="--", linewidth=1.6, label=FRONTIER_LABEL,
            zorder=4)
    if marks:
        ax.scatter([a.flops for a in marks], [a.params for a in marks], marker="D", s=40, facecolors="white",
                   edgecolors=style.BLACK, linewidths=1.1, zorder=5, label=BUDGET_LABEL)
