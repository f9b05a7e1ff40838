"""Figure of the schedule law (Tissue et al. 2024; references.md L1): predicted loss curves of several
learning-rate schedules with their 95% intervals, observed curves when given, and the schedules.

Units: step = optimiser steps; loss nats/token; learning rate as the optimiser uses it. Returns a
matplotlib Figure (save it with :func:`scalinglab.report.style.save`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

import scalinglab.report.style as style
from scalinglab.analysis.lr_schedules import schedule_lrs, warmup_end
from scalinglab.analysis.schedule import Curve, ScheduleFit
from scalinglab.errors import ScalingLabError

CURVE_POINTS = 200


def plot_schedule_curves(fit: ScheduleFit, schedules: Sequence[str], steps: int,
                         curves: Sequence[Curve] = ()) -> Figure:
    """Left: the law's loss curve of each schedule over ``steps`` after its warmup (line) with its
    interval (band), and
    each observed curve in ``curves`` (dots, predicted from its own learning rates as a dashed line).
    Right: the learning rate of each schedule against the step."""
    if not schedules and not curves:
        raise ScalingLabError("plot: give at least one schedule or curve")
    fig, (ax, ax_lr) = style.new_figure(ncols=2)
    colours = iter(list(style.OKABE_ITO) * (1 + (len(schedules) + len(curves)) // len(style.OKABE_ITO)))
    for text in schedules:
        sched = fit.schedule(text, steps)
        lrs = schedule_lrs(sched)
        at = np.unique(np.linspace(warmup_end(lrs), lrs.size, CURVE_POINTS).astype(int))  # after warmup
        mid, low, high = fit.curve(lrs, at)
        colour = next(colours)
        ax.plot(at, mid, linewidth=1.6, color=colour, label=sched.kind + _cooldown(sched.cooldown, sched.kind))
        ax.fill_between(at, low, high, color=colour, alpha=0.18, linewidth=0)
        ax_lr.plot(np.arange(1, lrs.size + 1), lrs, color=colour, linewidth=1.4)
    for c in curves:
        keep = c.steps >= warmup_end(c.lrs)
        mid, _, _ = fit.curve(c.lrs, c.steps[keep].astype(int))
        colour = next(colours)
        ax.scatter(c.steps[keep], c.loss[keep], s=8, alpha=0.7, color=colour, label=f"{c.name} (observed)",
                   zorder=3)
        ax.plot(c.steps[keep], mid, linestyle="--", linewidth=1.0, color=colour)
        ax_lr.plot(np.arange(1, c.lrs.size + 1), c.lrs, linestyle="--", linewidth=1.0, color=colour)
    p = fit.params
    style.label(ax, "step (optimiser steps)", "loss (nats/token)",
                f"L = {p['L0']:.3g} + {p['A']:.3g} S1^-{p['alpha']:.3g} - {p['C']:.3g} S2")
    style.label(ax_lr, "step (optimiser steps)", "learning rate", "schedules")
    style.legend(ax)
    return fig


def _cooldown(value: float | None, kind: str) -> str:
    return f" (cooldown {value:g})" if kind == "wsd" and value is not None else ""
