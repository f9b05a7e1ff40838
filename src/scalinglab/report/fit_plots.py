"""Figures of a fitted law against its runs: loss vs N / D / C, IsoFLOP profiles, residuals, bootstrap.

Every function returns a matplotlib :class:`~matplotlib.figure.Figure` (save it with
:func:`scalinglab.report.style.save`). ``runs`` is anything :func:`scalinglab.load_runs` accepts; ``law``
anything :func:`scalinglab.resolve_law` accepts (a FitResult, a fit JSON, a published key). Loss is in
nats/token, N a parameter count as the data give it, D tokens, C = 6ND FLOPs (Kaplan et al. 2020
sec. 2.1). Bands are the law's percentile intervals over its bootstrap draws (parameter uncertainty
only, :meth:`scalinglab.FitResult.predict`).
"""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

import scalinglab.report.style as style
from scalinglab.counting import flops_from, params_from, tokens_from
from scalinglab.errors import ScalingLabError
from scalinglab.fitting.result import FitResult
from scalinglab.io import Runs, load_runs
from scalinglab.plan.allocation import optimal_frontier
from scalinglab.plan.isoflop import BudgetGroups, group_budgets
from scalinglab.report.isoflop_profiles import MARKERS, profile_curve, profile_method, profile_minimum, size_means
from scalinglab.resolve import AnyLaw, law_name, predict_loss, resolve_law

Array = np.ndarray
#: ``runs``: anything :func:`scalinglab.load_runs` reads
RunsSource = Runs | pd.DataFrame | str | os.PathLike
#: ``law``: anything :func:`scalinglab.resolve_law` reads (a FitResult or PublishedLaw, a fit JSON, a published key)
LawLike = AnyLaw | str | os.PathLike
XS = ("params", "tokens", "flops")
#: default colouring of a loss plot: the variable that, with x, fixes a run (C for N and D, N for C)
DEFAULT_COLOUR = {"params": "flops", "tokens": "flops", "flops": "params"}
NAMES = {"params": "model size N", "tokens": "training tokens D", "flops": "compute C"}
CURVE_POINTS = 120
MAX_CURVES = 9


# ---- shared helpers ------------------------------------------------------------------------------
def log_loss_axis(ax, loss: Array, margin: float = 1.06) -> None:
    """Log scale for a loss axis limited to the observed ``loss`` (x ``margin`` either side, so that
    extrapolated curves do not squash the data), with plain-number ticks (loss spans less than a decade)."""
    loss = np.asarray(loss, dtype=float)
    loss = loss[np.isfinite(loss) & (loss > 0)]
    style.log_scale(ax, "y")
    if loss.size == 0:
        return
    lo, hi = float(loss.min()) / margin, float(loss.max()) * margin
    ax.set_ylim(lo, hi)
    ticks = [t for t in MaxNLocator(nbins=7, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi) if lo <= t <= hi]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def six_nd(x_name: str, x: Array, fixed_name: str, fixed: float) -> dict[str, Array]:
    """params, tokens and flops along ``x`` with ``fixed_name`` held at ``fixed``, completed with C = 6ND."""
    if x_name == fixed_name or {x_name, fixed_name} - set(XS):
        raise ScalingLabError(f"cannot vary {x_name} at fixed {fixed_name}: give two of params, tokens, flops")
    d = {x_name: np.asarray(x, dtype=float), fixed_name: np.full(np.shape(x), float(fixed))}
    if "flops" not in d:
        d["flops"] = flops_from(d["params"], d["tokens"])
    elif "params" not in d:
        d["params"] = params_from(d["tokens"], d["flops"])
    else:
        d["tokens"] = tokens_from(d["params"], d["flops"])
    return d


def law_curve(law: AnyLaw, inputs: dict[str, Array]) -> tuple[Array, Array | None, Array | None]:
    """(loss, low, high) of a resolved law at ``inputs`` (low/high None without bootstrap draws)."""
    family = law.family
    pred = predict_loss(law, allow_unidentified=True, **{v: inputs[v] for v in family.variables})  # a drawing
    loss = np.asarray(pred.loss, dtype=float)
    if pred.low is None:
        return loss, None, None
    return loss, np.asarray(pred.low, dtype=float), np.asarray(pred.high, dtype=float)


def draw_band(ax, x: Array, loss: Array, low: Array | None, high: Array | None, colour: str,
              label: str | None = None, **line) -> None:
    """A law's curve and, with an interval, its shaded band in the same colour."""
    ax.plot(x, loss, color=colour, label=label, linewidth=line.pop("linewidth", 1.6), **line)
    if low is not None:
        ax.fill_between(x, low, high, color=colour, alpha=0.18, linewidth=0)


def _plottable(law: AnyLaw) -> bool:
    return set(law.family.variables) <= set(XS)


def _colour_levels(runs: Runs, colour_by: str) -> tuple[Array, list[Array]]:
    """Values of ``colour_by`` at which to draw the law (the FLOP budgets of a sweep, else five
    quantiles) and the rows nearest each (whose x range the level's curve spans)."""
    if colour_by == "flops":
        groups = group_budgets(runs.column("flops"), runs.data["budget"] if runs.has("budget") else None)
        members = [groups.members(j) for j in range(len(groups))]
        keep = [j for j, m in enumerate(members) if len(m) >= 2] or list(range(len(groups)))
        pick = _spread(keep, MAX_CURVES)
        return groups.flops[pick], [members[j] for j in pick]
    column = runs.column(colour_by)
    values = np.unique(column)
    if len(values) > 5:
        values = np.exp(np.quantile(np.log(values), np.linspace(0.0, 1.0, 5)))
    nearest = np.argmin(np.abs(np.log(column)[:, None] - np.log(values)[None, :]), axis=1)
    return values, [np.flatnonzero(nearest == i) for i in range(len(values))]


def _spread(items: list[int], k: int) -> list[int]:
    if len(items) <= k:
        return items
    return [items[i] for i in np.unique(np.round(np.linspace(0, len(items) - 1, k)).astype(int))]


# ---- loss against one variable -------------------------------------------------------------------
def plot_loss(runs: RunsSource, law: LawLike | None = None, x: str = "params", colour_by: str | None = None,
              ax=None) -> Figure:
    """Loss against ``x`` (params, tokens or flops; log-log), points coloured by ``colour_by`` (default:
    C for N and D, N for C) on a log colour scale, and -- with a ``law`` -- its curves at levels of the
    colouring variable (each FLOP budget of an IsoFLOP sweep; else five quantiles) with their bands.
    Against C, a law of (N, D) also gets its compute-optimal frontier L*(C) (dashed black). ``ax``: the
    Axes to draw on (default: a new figure's)."""
    if x not in XS:
        raise ScalingLabError(f"x must be one of {', '.join(XS)}, got '{x}'")
    colour_by = colour_by or DEFAULT_COLOUR[x]
    if colour_by not in XS or colour_by == x:
        raise ScalingLabError(f"colour_by must be one of {', '.join(v for v in XS if v != x)}, got '{colour_by}'")
    data = load_runs(runs)
    data.require([x, colour_by, "loss"], why=f"a plot of loss against {x}")
    fig, ax = style.new_figure(ax=ax)
    cmap, colours = style.viridis(), data.column(colour_by)
    norm = style.log_norm(colours)
    points = ax.scatter(data.column(x), data.column("loss"), c=colours, cmap=cmap, norm=norm, s=22,
                        edgecolors="white", linewidths=0.4, zorder=3, label="runs")
    style.log_scale(ax, "x")
    log_loss_axis(ax, data.column("loss"))
    style.colorbar(fig, points, ax, style.LABELS[colour_by])
    title = f"Loss against {NAMES[x]}"
    if law is not None:
        resolved = resolve_law(law)
        title += f": {law_name(resolved)}"
        if _plottable(resolved):
            _law_curves(ax, resolved, data, x, colour_by, cmap, norm)
        else:
            style.note(ax, f"law {law_name(resolved)} reads {', '.join(resolved.family.variables)}: not drawn")
    style.label(ax, x, "loss", title)
    style.legend(ax, loc="upper right")
    return fig


def _law_curves(ax, law: AnyLaw, data: Runs, x: str, colour_by: str, cmap, norm) -> None:
    name = "fitted law" if isinstance(law, FitResult) else f"law {law_name(law)}"
    xs = data.column(x)
    lo, hi = xs.min() / 1.5, xs.max() * 1.5
    if set(law.family.variables) == {x}:  # a law of x alone: one curve
        grid = np.geomspace(lo, hi, CURVE_POINTS)
        draw_band(ax, grid, *law_curve(law, {x: grid}), colour=style.BLACK, label=name)
        return
    levels, members = _colour_levels(data, colour_by)
    for i, level in enumerate(levels):
        a, b = (xs[members[i]].min() / 1.4, xs[members[i]].max() * 1.4) if len(members[i]) else (lo, hi)
        grid = np.geomspace(a, b, CURVE_POINTS)
        inputs = six_nd(x, grid, colour_by, level)
        draw_band(ax, grid, *law_curve(law, inputs), colour=cmap(norm(level)))
    ax.plot([], [], color=style.GREY, linewidth=1.6, label=name)
    if x == "flops" and set(law.family.variables) == {"params", "tokens"}:
        _frontier_curve(ax, law, np.geomspace(lo, hi, 40))


def _frontier_curve(ax, law: AnyLaw, flops: Array) -> None:
    """The compute-optimal loss L*(C) = min over N of L(N, C/(6N)) (Hoffmann et al. 2022 eq. 4)."""
    try:
        allocs = optimal_frontier(law, list(flops), allow_unidentified=True)  # a curve, not an answer
    except ScalingLabError:
        return  # no interior optimum at these budgets: nothing honest to draw
    loss = np.array([a.loss for a in allocs])
    low = high = None
    if all(a.loss_ci is not None for a in allocs):
        low, high = (np.array([a.loss_ci[k] for a in allocs]) for k in (0, 1))
    draw_band(ax, flops, loss, low, high, colour=style.BLACK, label="compute-optimal L*(C)",
              linestyle="--", linewidth=1.3)


# ---- IsoFLOP profiles ----------------------------------------------------------------------------
#: the most budgets the IsoFLOP legend names one by one (beyond, the colour bar alone names them)
MAX_NAMED_BUDGETS = 8


def plot_isoflop(runs: RunsSource, degree: int | None = None, law: LawLike | None = None, ax=None,
                 method: str | None = None) -> Figure:
    """IsoFLOP profiles (Hoffmann et al. 2022 approach 2, sec. 3.2): loss against N at each FLOP budget,
    each budget in its own colour and marker, the curve of the profile method approach 2 uses
    (:mod:`scalinglab.report.isoflop_profiles`: ``method``, else ``degree`` 2 parabola / 3 cubic, else
    approach 2's automatic choice) through the mean loss at each size, and a star (the budget's colour)
    at each minimum approach 2 finds (:func:`scalinglab.report.isoflop_profiles.profile_minimum`:
    bracketed profiles only); the stars joined (dashed). A profile without an interior minimum gets no star: the
    legend names its budget. With a ``law``, its own loss along each budget is drawn dotted. ``ax``: the
    Axes to draw on (default: a new figure's)."""
    data = load_runs(runs)
    data.require(["params", "flops", "loss"], why="IsoFLOP profiles")
    params, loss = data.column("params"), data.column("loss")
    groups = group_budgets(data.column("flops"), data.data["budget"] if data.has("budget") else None)
    profiles = [size_means(params, loss, groups, j) for j in range(len(groups))]
    method = profile_method(method, degree, groups, [len(p[0]) for p in profiles])
    minima = []
    for j, (log_n, mean) in enumerate(profiles):
        found = profile_minimum(log_n, mean, method)
        if found is not None:
            minima.append({"flops": float(groups.flops[j]), "params": float(np.exp(found[0])), "loss": found[1]})
    fig, ax = style.new_figure(ax=ax)
    cmap, norm = style.viridis(), style.log_norm(groups.flops)
    resolved = resolve_law(law) if law is not None else None
    for j in range(len(groups)):
        rows, colour = groups.members(j), cmap(norm(groups.flops[j]))
        named = len(groups) <= MAX_NAMED_BUDGETS  # more budgets: the colour bar names them, a legend would not fit
        ax.scatter(params[rows], loss[rows], color=colour, marker=MARKERS[j % len(MARKERS)], s=24,
                   edgecolors="white", linewidths=0.4, zorder=3,
                   label=f"C = {_flops_text(groups.flops[j])} FLOPs" if named else None)
        curve = profile_curve(*profiles[j], method)
        if curve is not None:
            ax.plot(*curve, color=colour, linewidth=1.4)
        if resolved is not None and _plottable(resolved):
            grid = np.geomspace(params[rows].min(), params[rows].max(), CURVE_POINTS)
            ax.plot(grid, law_curve(resolved, six_nd("params", grid, "flops", groups.flops[j]))[0], color=colour,
                    linestyle=":", linewidth=1.2)
    _draw_minima(ax, minima, groups, cmap, norm)
    style.log_scale(ax, "x")
    ax.set_xlim(params.min() / 1.25, params.max() * 1.25)
    log_loss_axis(ax, np.concatenate([loss, [m["loss"] for m in minima]]))
    mappable = ax.scatter([], [], c=[], cmap=cmap, norm=norm)
    style.colorbar(fig, mappable, ax, style.LABELS["flops"] + ", budget")
    style.label(ax, "params", "loss", f"IsoFLOP profiles ({method}, as approach 2) and their minima")
    if resolved is not None:
        ax.plot([], [], color=style.GREY, linestyle=":", label=f"law {law_name(resolved)}")
    handles, labels = ax.get_legend_handles_labels()
    if handles:  # below the axes: the profiles fill them
        wide = max(len(line) for text in labels for line in text.splitlines()) > 24
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(handles), 2 if wide else 3),
                   fontsize=style.FONT_SIZE - 1, frameon=False)
    return fig


def _flops_text(c: float) -> str:
    return f"{c:.3g}".replace("e+", "e")


def _draw_minima(ax, minima: list[dict], groups: BudgetGroups, cmap, norm) -> None:
    """A star in the budget's colour at each minimum approach 2 found, joined by a dashed line; one
    legend entry naming the budgets without one."""
    found = sorted(minima, key=lambda m: m["flops"])
    if found:
        n, lo = np.array([m["params"] for m in found]), np.array([m["loss"] for m in found])
        if len(found) > 1:
            ax.plot(n, lo, color=style.BLACK, linewidth=0.9, linestyle="--", zorder=4)
        ax.scatter(n, lo, marker="*", s=170, c=[cmap(norm(m["flops"])) for m in found], edgecolors=style.BLACK,
                   linewidths=0.7, zorder=5, label="minimum (approach 2)")
    have = [m["flops"] for m in found]
    missing = [c for c in groups.flops if not any(abs(c - h) <= 1e-9 * c for h in have)]
    if missing:
        text = f"no interior minimum, none drawn: C = {', '.join(_flops_text(c) for c in missing)} FLOPs"
        ax.plot([], [], linestyle="none", label=textwrap.fill(text, 34))


# ---- residuals -----------------------------------------------------------------------------------
def plot_residuals(law: LawLike, runs: RunsSource, ax=None) -> Figure:
    """Residuals ln(predicted) - ln(observed) (the quantity the fit minimises) against N, D and C
    (whichever the runs have; log x), with zero and +-rmse lines. ``ax``: one Axes per variable shown
    to draw on (default: a new figure's)."""
    resolved = resolve_law(law)
    data = load_runs(runs)
    data.require(list(resolved.family.variables) + ["loss"], why=f"residuals of law {law_name(resolved)}")
    pred = predict_loss(resolved, allow_unidentified=True, **{v: data.column(v) for v in resolved.family.variables})
    resid = np.log(np.asarray(pred.loss, dtype=float)) - np.log(data.column("loss"))
    rmse = float(np.sqrt(np.mean(resid**2)))
    shown = [v for v in XS if data.has(v)] or list(resolved.family.variables)
    fig, axes = style.new_figure(len(shown), sharey=True, ax=ax)
    axes = np.atleast_1d(axes)
    for ax, v in zip(axes, shown):
        ax.axhline(0.0, color=style.BLACK, linewidth=0.9)
        for s in (-rmse, rmse):
            ax.axhline(s, color=style.GREY, linewidth=0.8, linestyle="--")
        ax.scatter(data.column(v), resid, s=16, color=style.BLUE, alpha=0.8, edgecolors="white", linewidths=0.3)
        style.log_scale(ax, "x")
        style.label(ax, v)
    style.label(axes[0], y="residual")
    fig.suptitle(f"Residuals of {law_name(resolved)}: rmse {rmse:.4f} (dashed: ±rmse), n = {len(resid)}",
                 fontsize=style.FONT_SIZE + 2, x=0.01, ha="left")
    return fig


# ---- bootstrap -----------------------------------------------------------------------------------
def exponent_names(fit: FitResult) -> list[str]:
    """The exponents of a fit: parameters named alpha*/beta*/c* (BNSL slopes) and derived quantities
    (chinchilla's a, b: N_opt ∝ C^a, D_opt ∝ C^b)."""
    fam = fit.family
    names = [p for p in fam.param_names if p.startswith(("alpha", "beta"))
             or (fam.name == "bnsl" and p.startswith("c"))]
    return names + [d for d in fit.derived if d not in names]


def _draws(fit: AnyLaw) -> dict[str, Array]:
    if not isinstance(fit, FitResult) or fit.draws is None or len(fit.draws) < 2:
        raise ScalingLabError("this plot needs a fit with bootstrap draws (fit with bootstrap >= 10)")
    return {k: np.asarray(v, dtype=float) for k, v in fit.draw_params().items()}


def plot_bootstrap(fit: LawLike, ax=None) -> Figure:
    """Histogram of each exponent over the bootstrap draws, with the point estimate (solid) and the
    percentile interval at the fit's level (dashed). Exponents are dimensionless. ``ax``: one Axes per
    exponent (at most 6) to draw on (default: a new figure's)."""
    fit = resolve_law(fit)
    draws = _draws(fit)
    names = [n for n in exponent_names(fit) if n in draws][:6]
    fig, axes = style.new_figure(len(names), size=(max(6.4, 2.6 * len(names)), 3.6), ax=ax)
    values = {**fit.params, **fit.derived}
    for i, (ax, name) in enumerate(zip(np.atleast_1d(axes), names)):
        v = draws[name][np.isfinite(draws[name])]
        ax.hist(v, bins=min(40, max(10, len(v) // 8)), color=style.OKABE_ITO[i % 7], alpha=0.8)
        ax.axvline(values[name], color=style.BLACK, linewidth=1.4)
        for edge in fit.ci.get(name, []):
            ax.axvline(edge, color=style.BLACK, linewidth=1.0, linestyle="--")
        if i:
            ax.yaxis.set_major_formatter(NullFormatter())
        style.label(ax, f"{name} (dimensionless)", "bootstrap draws" if i == 0 else None)
    fig.suptitle(f"Bootstrap distributions of the exponents of {fit.law}: {len(fit.draws)} draws, "
                 f"{100 * fit.level:g}% intervals dashed", fontsize=style.FONT_SIZE + 1, x=0.01, ha="left")
    return fig


def correlation_table(fit: LawLike) -> tuple[list[str], Array]:
    """Names and Pearson correlation matrix of the parameters over the bootstrap draws; amplitudes
    (positive parameters that are not exponents) are taken on a log scale (named ``ln X``)."""
    fit = resolve_law(fit)
    draws = _draws(fit)
    exps = set(exponent_names(fit))
    cols, names = [], []
    for p in fit.family.param_names:
        v = draws[p]
        use_log = p not in exps and np.all(v > 0)
        cols.append(np.log(v) if use_log else v)
        names.append(f"ln {p}" if use_log else p)
    m = np.column_stack(cols)
    m = m[np.all(np.isfinite(m), axis=1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(m, rowvar=False)
    return names, np.atleast_2d(corr)


def plot_correlations(fit: LawLike, ax=None) -> Figure:
    """Correlations between the fitted parameters over the bootstrap draws (-1 .. 1, PuOr: colour-blind
    safe). Strong correlations (|r| near 1) mean the data trade one parameter for another. ``ax``: the
    Axes to draw on (default: a new figure's)."""
    names, corr = correlation_table(fit)
    k = len(names)
    fig, ax = style.new_figure(size=(max(4.6, 1.0 + 0.85 * k + 1.2), max(3.4, 0.8 + 0.85 * k)), ax=ax)
    ax.grid(False)
    im = ax.imshow(corr, cmap="PuOr_r", vmin=-1, vmax=1)
    ax.set_xticks(range(k), names, rotation=30, ha="right")
    ax.set_yticks(range(k), names)
    for i in range(k):
        for j in range(k):
            if np.isfinite(corr[i, j]):
                ax.text(j, i, f"{corr[i, j]:.2f}", ha="center", va="center", fontsize=style.FONT_SIZE - 1,
                        color="white" if abs(corr[i, j]) > 0.6 else style.BLACK)
    style.colorbar(fig, im, ax, "Pearson r", pad=0.02)
    style.label(ax, title="Parameter correlations (bootstrap)")
    return fig
