"""The compute-optimal frontier: N_opt and D_opt against C from each approach, with bands, beside the
published laws and rules.

Tables in, figures out: a *frontier* is a DataFrame with columns ``flops`` (C, FLOPs), ``params`` (N_opt,
parameters), ``tokens`` (D_opt = C/(6 N_opt), tokens) and, when bootstrapped, ``params_low``,
``params_high``, ``tokens_low``, ``tokens_high`` (percentile interval). :func:`frontier_table` makes one
from an approach of Hoffmann et al. 2022 (:class:`scalinglab.plan.approaches.ApproachResult`), a fitted
or published law of (N, D) (closed form, Hoffmann et al. 2022 eq. 4) or a published rule
(:mod:`scalinglab.plan.rules`); :func:`plot_frontier` draws any number of them.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

import scalinglab.report.style as style
from scalinglab.counting import tokens_from
from scalinglab.errors import ScalingLabError
from scalinglab.fitting.result import FitResult
from scalinglab.io import load_runs
from scalinglab.plan.allocation import optimal_frontier
from scalinglab.plan.approaches import APPROACH_NAMES, ApproachResult, fit_approach
from scalinglab.plan.rules import REGISTRY, get_rule
from scalinglab.report.fit_plots import LawLike, RunsSource

Array = np.ndarray
FRONTIER_COLUMNS = ("flops", "params", "tokens", "params_low", "params_high", "tokens_low", "tokens_high")
#: line styles of reference (published) frontiers, in order
REFERENCE_STYLES = ("--", "-.", ":", (0, (5, 1, 1, 1)))
#: the published frontiers drawn by default (Hoffmann et al. 2022 eq. 4 with their fitted law; Besiroglu et
#: al. 2024's replication, references.md D3)
DEFAULT_REFERENCES = ("hoffmann2022", "besiroglu2024")
#: the warning :func:`compare_frontiers` gives for an approach that raised (read by :func:`approach_failures`)
COULD_NOT_RUN = "approach {k} could not run: {why}"


def _ci(row: Mapping[str, Any], key: str) -> tuple[float, float]:
    v = row.get(key)
    return (float(v[0]), float(v[1])) if v is not None else (np.nan, np.nan)


def _from_rows(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    out = []
    for r in rows:
        p_lo, p_hi = _ci(r, "params_ci")
        t_lo, t_hi = _ci(r, "tokens_ci")
        out.append((float(r["flops"]), float(r["params"]), float(r["tokens"]), p_lo, p_hi, t_lo, t_hi))
    return pd.DataFrame(out, columns=list(FRONTIER_COLUMNS))


def frontier_table(source: ApproachResult | LawLike, budgets: Sequence[float]) -> pd.DataFrame:
    """The frontier of ``source`` at ``budgets`` (FLOPs): an ApproachResult, a FitResult / published
    law of params and tokens (``sl.optimal.optimal_frontier``, intervals from its bootstrap draws), or
    the key of a published rule (``sl.optimal.get_rule``) or law."""
    budgets = [float(c) for c in budgets]
    if not budgets:
        raise ScalingLabError("give at least one FLOP budget for a frontier")
    if isinstance(source, ApproachResult):
        return _from_rows(source.frontier_at(budgets))
    if isinstance(source, str) and source in REGISTRY:
        rule = get_rule(source)
        return _from_rows([rule.optimal(c).to_dict() for c in budgets])
    # a drawing of the frontier: the report refuses or warns about unidentified parameters itself
    return _from_rows([a.to_dict() for a in optimal_frontier(source, budgets, allow_unidentified=True)])


def approach_points(result: ApproachResult) -> pd.DataFrame:
    """The per-level optima an approach fitted its power law to (flops, params, tokens); empty for
    approach 3, which fits the whole law at once."""
    points = getattr(result, "points", None) or []
    df = pd.DataFrame(points)
    if df.empty or not {"flops", "params"} <= set(df.columns):
        return pd.DataFrame(columns=["flops", "params", "tokens"])
    if "tokens" not in df:
        df["tokens"] = tokens_from(df["params"], df["flops"])
    return df[["flops", "params", "tokens"]]


def compare_frontiers(runs: RunsSource, budgets: Sequence[float], bootstrap: int = 0, seed: int = 0,
                      fit: FitResult | None = None, approaches: Sequence[int] = (1, 2, 3),
                      ) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], list[str]]:
    """Approaches ``approaches`` (of 1, 2, 3) of Hoffmann et al. 2022 on ``runs``: frontiers at ``budgets``,
    the per-level optima of approaches 1 and 2, and warnings (including why an approach could not run).
    Approach 3 is ``fit`` when given (a chinchilla FitResult: no second fit), else fitted here."""
    runs = load_runs(runs)  # one table for all three approaches (a store: its finished runs)
    frontiers: dict[str, pd.DataFrame] = {}
    points: dict[str, pd.DataFrame] = {}
    warnings: list[str] = []
    for k in approaches:
        name = f"approach {k}: {APPROACH_NAMES[k]}"
        try:
            if k == 3 and fit is not None:
                frontiers[name] = frontier_table(fit, budgets)
                continue
            # a drawing: approach 3 on undetermined parameters is drawn, and its warnings say so
            res = fit_approach(runs, k, bootstrap=bootstrap, seed=seed, **({"allow_unidentified": True} if k == 3 else {}))
        except ScalingLabError as exc:
            warnings.append(COULD_NOT_RUN.format(k=k, why=exc))
            continue
        frontiers[name] = frontier_table(res, budgets)
        points[name] = approach_points(res)
        warnings += [f"approach {k}: {w}" for w in res.warnings]
    return frontiers, points, warnings


def approach_failures(warnings: Sequence[str]) -> dict[int, str]:
    """{k: why} for each approach that :func:`compare_frontiers` could not run, ``why`` being the first
    clause of its error (up to a parenthesis), without the leading "approach k"."""
    out: dict[int, str] = {}
    for w in warnings:
        m = re.fullmatch(COULD_NOT_RUN.format(k=r"(\d)", why=r"(.*)"), w, flags=re.DOTALL)
        if m:
            why = m.group(2).split(" (")[0].strip().rstrip(";:,.")
            out[int(m.group(1))] = re.sub(rf"^approach {m.group(1)} ", "", why)
    return out


def plot_frontier(frontiers: Mapping[str, pd.DataFrame], points: Mapping[str, pd.DataFrame] | None = None,
                  references: Mapping[str, pd.DataFrame] | None = None, notes: Sequence[str] = (), ax=None,
                  marks: pd.DataFrame | None = None) -> Figure:
    """Two panels side by side, N_opt (parameters) and D_opt (tokens) against C (FLOPs), log-log: each
    frontier in its own colour with its interval band and its per-level optima (``points``); each
    reference (a published law or rule) a black line of its own dash pattern; ``notes`` (e.g. which
    approach could not run) in grey in the left panel's lower-right corner; ``marks`` (a frontier table
    at the requested budgets, e.g. the plan's N* and D*) a grey dotted vertical line at each budget and
    a black-edged diamond at its N* / D* (:data:`MARK_LABEL`). ``ax``: two Axes to draw on (default: a
    new figure's)."""
    if not frontiers and not references:
        raise ScalingLabError("no frontier to plot")
    points, references = points or {}, references or {}
    fig, axes = style.new_figure(2, ax=ax)
    for ax, q in zip(axes, ("params", "tokens")):
        for i, (name, df) in enumerate(frontiers.items()):
            _check_frontier(df, name)
            colour = style.OKABE_ITO[i % 7]
            ax.plot(df["flops"], df[q], color=colour, linewidth=1.8, label=name)
            low, high = df.get(f"{q}_low"), df.get(f"{q}_high")
            if low is not None and np.isfinite(low).any():
                ax.fill_between(df["flops"], low, high, color=colour, alpha=0.18, linewidth=0)
            pts = points.get(name)
            if pts is not None and len(pts):
                ax.scatter(pts["flops"], pts[q], color=colour, s=22, edgecolors="white", linewidths=0.5, zorder=3)
        for j, (name, df) in enumerate(references.items()):
            _check_frontier(df, name)
            ax.plot(df["flops"], df[q], color=style.BLACK, linewidth=1.1,
                    linestyle=REFERENCE_STYLES[j % len(REFERENCE_STYLES)], label=f"published: {name}")
        if marks is not None and len(marks):
            _mark_budgets(ax, marks, q)
        style.log_scale(ax, "both")
        style.label(ax, "flops", {"params": "N_opt (parameters)", "tokens": "D_opt (tokens)"}[q])
    axes[0].set_title("Compute-optimal model size", fontsize=style.FONT_SIZE + 2, loc="left")
    axes[1].set_title("Compute-optimal training tokens", fontsize=style.FONT_SIZE + 2, loc="left")
    style.legend(axes[0], loc="upper left")
    _exponent_note(axes[1], frontiers)
    if notes:
        axes[0].text(0.98, 0.02, "\n".join(textwrap.fill(n, 48) for n in notes), transform=axes[0].transAxes,
                     ha="right", va="bottom", fontsize=style.FONT_SIZE - 2, color=style.GREY)
    return fig


#: the legend label of the requested budgets' markers on the frontier plot
MARK_LABEL = "requested budgets"


def _mark_budgets(ax, marks: pd.DataFrame, q: str) -> None:
    """A dotted grey line at each requested budget C (FLOPs) and a diamond at its N* or D* (``q``)."""
    _check_frontier(marks, MARK_LABEL)
    for c in marks["flops"]:
        ax.axvline(float(c), color=style.GREY, linewidth=0.8, linestyle=":", zorder=1)
    ax.scatter(marks["flops"], marks[q], marker="D", s=34, facecolors="white", edgecolors=style.BLACK,
               linewidths=1.1, zorder=5, label=MARK_LABEL)


def budget_grid(flops: Sequence[float], budgets: Sequence[float], n: int = 25) -> list[float]:
    """``n`` log-spaced FLOP counts from the smallest run's C to the largest of the runs and ``budgets``
    (FLOPs), with every budget added (so that a line through the grid passes through each budget)."""
    lo = min(float(np.min(flops)), *budgets) if len(budgets) else float(np.min(flops))
    hi = max(float(np.max(flops)), *budgets) if len(budgets) else float(np.max(flops))
    return sorted({*np.geomspace(lo, hi, n).tolist(), *(float(b) for b in budgets)})


def _check_frontier(df: pd.DataFrame, name: str) -> None:
    missing = [c for c in ("flops", "params", "tokens") if c not in df]
    if missing:
        raise ScalingLabError(f"frontier '{name}' lacks column(s) {', '.join(missing)}")


def fitted_exponent(df: pd.DataFrame, q: str = "params") -> float:
    """The slope of ln ``q`` against ln C over a frontier (a for N_opt, b for D_opt)."""
    if len(df) < 2:
        return float("nan")
    return float(np.polyfit(np.log(df["flops"]), np.log(df[q]), 1)[0])


def _exponent_note(ax, frontiers: Mapping[str, pd.DataFrame]) -> None:
    lines = [f"{name.split(':')[0]}: a = {fitted_exponent(df):.3f}, b = {fitted_exponent(df, 'tokens'):.3f}"
             for name, df in frontiers.items()]
    if lines:
        ax.text(0.03, 0.97, "\n".join(lines), transform=ax.transAxes, va="top", ha="left",
                fontsize=style.FONT_SIZE - 1, color=style.BLACK)
