"""Figure of the schedule law (Tissue et al. 2024; references.md L1): predicted loss curves of several
learning-rate schedules with their 95% intervals, observed curves when given, and the schedules.

Units: step = optimiser steps; loss nats/token; learning rate as the optimiser uses it. Returns a
matplotlib Figure (save it with :func:`scalinglab.report.style.save`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

import scalinglab.report.style as style
from scalinglab.analysis.lr_schedules import DEFAULT_DECAY, schedule_lrs, warmup_end
from scalinglab.analysis.schedule import Curve, ScheduleFit, fit_schedule_law, load_schedule_curves, load_schedule_fit
from scalinglab.errors import ScalingLabError, positive_count

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
    title = (f"L = {p['L0']:.3g} + {p['A']:.3g} S1^-{p['alpha']:.3g} - {p['C']:.3g} S2" if fit.form == "tissue" else
             f"multi-power law: L0 {p['L0']:.3g}, A {p['A']:.3g}, alpha {p['alpha']:.3g}, B {p['B']:.3g}")
    style.label(ax, "step (optimiser steps)", "loss (nats/token)", title)
    style.label(ax_lr, "step (optimiser steps)", "learning rate", "schedules")
    style.legend(ax)
    return fig


def _cooldown(value: float | None, kind: str) -> str:
    return f" (cooldown {value:g})" if kind == "wsd" and value is not None else ""


def schedule_figure(data: Any, law: str | None = None, schedule: str | Sequence[str] | None = None,
                    steps: int | None = None, params: float | None = None, decay: float = DEFAULT_DECAY,
                    bootstrap: int = 100, seed: int = 0) -> Figure:
    """The ``schedule`` plot kind: the curves of ``data`` (a table or a lab run store, one model size:
    ``params`` chooses, as in :func:`~scalinglab.analysis.schedule.load_schedule_curves`) with the law's
    curve through each run's own learning rates, and the predicted curve and 95% band of each requested
    ``schedule`` (a description or several) over ``steps`` (default: the longest run's last step).
    ``law``: a fit JSON written by ``schedule fit --out``; None fits ``data`` (``decay``, ``bootstrap``
    draws for the bands, ``seed``)."""
    name = os.fspath(data) if isinstance(data, (str, os.PathLike)) else "curves"
    curves = load_schedule_curves(data, name, params)
    fit = (load_schedule_fit(law) if law is not None
           else fit_schedule_law(curves, decay=decay, bootstrap=bootstrap, seed=seed, name=name))
    wanted = [schedule] if isinstance(schedule, str) else list(schedule or ())
    last = int(max(c.steps[-1] for c in curves))
    return plot_schedule_curves(fit, wanted, last if steps is None else positive_count("steps", steps), curves)
