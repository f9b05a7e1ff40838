"""The report's schedule-law sections (Tissue et al. 2024, arXiv:2408.11029 eq. 1; references.md L1):
the fit of L(s) = L0 + A S1^-alpha - C S2 with its parameter intervals, status and identifiability
(:func:`scalinglab.analysis.schedule.fit_schedule_law`), the curves-under-schedules figure
(:func:`scalinglab.report.schedule_plots.plot_schedule_curves`) and the backtest holding out the longest
run or the last part of each curve (:func:`scalinglab.analysis.schedule_check.schedule_backtest`).

:func:`schedule_report` is the whole report on a table of loss curves with learning rates;
:func:`schedule_sections` adds the two sections to the report on a lab run store that records them.
Units: steps are optimiser steps, losses nats/token, learning rates as the trainer sets them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from scalinglab.analysis.lr_schedules import warmup_end
from scalinglab.analysis.schedule import (
    PARAMS,
    SOURCE,
    UNITS,
    Curve,
    ScheduleFit,
    fit_schedule_law,
    load_schedule_curves,
)
from scalinglab.analysis.schedule_check import schedule_backtest
from scalinglab.analysis.schedule_curves import schedule_columns
from scalinglab.report.built import BuiltReport
from scalinglab.report.notices import add_warnings
from scalinglab.report.page import esc, interval, num, table
from scalinglab.report.schedule_plots import plot_schedule_curves
from scalinglab.report.section import LOSS_UNIT, ReportInputs, Section, attempt
from scalinglab.report.warnings_summary import summary_html, warnings_section

#: The schedules the figure predicts beside the observed curves, over the longest run's steps.
FIGURE_SCHEDULES = ("cosine", "wsd:cooldown=0.2")

__all__ = ["FIGURE_SCHEDULES", "choose_size", "schedule_report", "schedule_sections"]


def choose_size(table: pd.DataFrame, size_column: str | None, run_column: str | None) -> tuple[float | None, str | None]:
    """The model size the report fits where a table holds several (the law's constants are per size):
    the one with the most runs, the largest on a tie; (None, None) for one size, else (size, a note)."""
    if size_column is None or table[size_column].nunique() <= 1:
        return None, None
    sizes = pd.to_numeric(table[size_column], errors="coerce")
    runs = table.groupby(sizes)[run_column].nunique() if run_column else sizes.value_counts()
    best = max(runs.index, key=lambda v: (runs[v], v))
    return float(best), (f"the table holds {len(runs)} model sizes; the schedule law is fitted to the runs of size "
                         f"{best:.6g} (the most runs; '--params' of 'scalinglab schedule fit' chooses another)")


def _trust_rows(fit: ScheduleFit) -> list[list[str]]:
    rows = []
    for name in PARAMS:
        why = fit.unidentified.get(name)
        rows.append([esc(name), num(fit.params[name], 5), interval(fit.ci.get(name)), esc(UNITS[name]),
                     "yes" if why is None else f"<b>no</b>: {esc(why)}"])
    return rows


def law_part(sec: Section, fit: ScheduleFit, curves: list[Curve], warnings: list[str]) -> None:
    """The fitted law into ``sec``: formula, parameters with intervals and units, status, identifiability,
    and the figure."""
    sec.add(f"<p><b>lr_schedule</b>: <code>L(s) = L0 + A*S1^-alpha - C*S2</code><br><span class=\"muted\">"
            f"{esc(SOURCE)}. S1, S2 in {esc(UNITS['S1'])}; decay lambda = {fit.decay:g}.</span></p>")
    sec.add(table(["parameter", "value", f"{100 * fit.level:g}% interval", "unit", "identified"],
                  _trust_rows(fit), numeric_from=1))
    sec.text(f"Fitted to {fit.n_points} evaluations after warmup of {len(fit.runs)} runs "
             f"({', '.join(fit.runs)}); mean |relative error| {100 * fit.mare:.3f}%. Fit status: {fit.status} "
             "(first-order test in the Gauss-Newton metric). Intervals: percentile intervals of a pairs bootstrap "
             f"over the evaluations within runs ({len(fit.draws)} refits).", "muted")
    add_warnings(warnings, [f"schedule law: {n} is not identified: {why}" for n, why in fit.unidentified.items()])
    add_warnings(warnings, [f"schedule law: {n}" for n in fit.notes if "not identified" in n])
    if fit.status != "converged":
        add_warnings(warnings, [f"schedule law: the fit did not converge (status {fit.status})"])
    steps = int(max(c.steps[-1] for c in curves))
    sec.figure(plot_schedule_curves(fit, list(FIGURE_SCHEDULES), steps, curves), "schedule",
               "Loss curves under learning-rate schedules",
               "Left: each observed curve (dots) with the law through its own learning rates (dashed), and the law's "
               f"prediction for {' and '.join(FIGURE_SCHEDULES)} over {steps} steps (lines) with 95% bands; loss in "
               f"{LOSS_UNIT} against optimiser steps, after warmup. Right: the learning rates.")


def backtest_part(sec: Section, bt: dict[str, Any], warnings: list[str]) -> None:
    """The schedule backtest into ``sec``: what was held out, the training fit's trust, the scores."""
    held = ("the longest run, " + ", ".join(bt["held_out"]) if bt["holdout"] == "longest run"
            else f"the last {100 * bt['tail']:g}% of the steps of every curve")
    f = bt["fit"]
    sec.text(f"Held out: {held}; fitted: {len(bt['train'])} runs ({f['n_points']} evaluations), status "
             f"{f['status']}, " + ("every parameter identified" if not f["unidentified"] else
                                   "not identified: " + ", ".join(f["unidentified"])) + ". "
             f"Mean |relative error| on the held-out evaluations {100 * bt['mare']:.3f}%; largest final-loss error "
             f"{100 * bt['max_abs_final_error']:.2f}%; {100 * bt['coverage']:.0f}% of the held-out final losses lie "
             "inside their 95% interval.")
    rows = [[esc(r["run"]), str(r["n_points"]), str(r["final_step"]), num(r["observed_final"], 4),
             num(r["final_loss"], 4), interval([r["low"], r["high"]], 4), f"{100 * r['error']:+.2f}%",
             f"{100 * r['mare']:.3f}%", "yes" if r["inside"] else "<b>no</b>"] for r in bt["runs"]]
    sec.add(table(["run", "held-out evaluations", "final step", f"observed final ({LOSS_UNIT})", "predicted",
                   "95% interval", "final error", "mean |rel. error|", "inside"], rows, numeric_from=1))
    add_warnings(warnings, [f"backtest: schedule law training fit: {n} is not identified: {why}"
                            for n, why in f["unidentified_why"].items()])
    outside = [r["run"] for r in bt["runs"] if not r["inside"]]
    if outside:
        add_warnings(warnings, [f"backtest: the schedule law's 95% interval misses the final loss of "
                                f"{', '.join(outside)} (curve points are correlated: the interval is too narrow)"])


def schedule_sections(curves: list[Curve], inp: ReportInputs, warnings: list[str],
                      notes: list[str] = ()) -> tuple[list[Section], ScheduleFit | None, dict | None]:
    """The schedule-law section and its backtest section for ``curves`` (one model size)."""
    law = Section("schedule", "Loss curves under learning-rate schedules")
    for note in notes:
        law.text(note, "muted")
    fit = attempt(law, warnings, "the schedule-law fit", lambda: fit_schedule_law(
        curves, bootstrap=inp.bootstrap, seed=inp.seed, name=inp.source))
    if fit is not None:
        attempt(law, warnings, "the schedule figure", lambda: law_part(law, fit, curves, warnings))
    back = Section("schedule-backtest", "Schedule backtest")
    bt = attempt(back, warnings, "the schedule backtest", lambda: schedule_backtest(
        curves, bootstrap=inp.bootstrap, seed=inp.seed, name=inp.source))
    if bt is not None:
        backtest_part(back, bt, warnings)
    return [law, back], fit, bt


def _data_section(curves: list[Curve], source: str, notes: list[str]) -> Section:
    sec = Section("data", "Data")
    sec.text(f"{len(curves)} loss curves with their learning rates from {source}.")
    rows = [[esc(c.name), str(c.steps.size), str(int(c.steps[-1])), str(warmup_end(c.lrs)), num(float(c.lrs.max()), 3),
             num(float(c.lrs[-1]), 3), num(float(c.loss[-1]), 4)] for c in curves]
    sec.add(table(["run", "evaluations", "last step", "warmup ends", "peak LR", "final LR",
                   f"final loss ({LOSS_UNIT})"], rows, numeric_from=1))
    for note in notes:
        sec.text(note, "muted")
    return sec


def _glance(sec: Section, curves: list[Curve], fit: ScheduleFit | None, bt: dict | None,
            warnings: list[str]) -> None:
    sec.add(summary_html(warnings))
    cells = [(str(len(curves)), "loss curves")]
    if fit is not None:
        cells += [(esc(fit.status), "fit status"), (f"{100 * fit.mare:.3f}%", "fit error (mean |relative error|)")]
        for name in ("L0", "alpha"):
            ci = fit.ci.get(name)
            cells.append(("not identified" if name in fit.unidentified else num(fit.params[name], 3),
                          name + (f" [{ci[0]:.3g}, {ci[1]:.3g}]" if ci and name not in fit.unidentified else "")))
    if bt is not None:
        cells += [(f"{100 * bt['max_abs_final_error']:.2f}%", f"backtest final-loss error ({bt['holdout']})"),
                  (f"{100 * bt['coverage']:.0f}%", "held-out final losses inside the 95% interval")]
    sec.add('<div class="glance">' + "".join(f"<div><b>{v}</b><span>{esc(t)}</span></div>" for v, t in cells)
            + "</div>")


def schedule_report(inp: ReportInputs, table_: pd.DataFrame, warnings: list[str] | None = None) -> BuiltReport:
    """The report on a table of loss curves with learning rates (a run store's metrics too): at a glance,
    data, the schedule law, its backtest, warnings (``warnings`` first; the caller adds the reproduce
    section)."""
    cols = schedule_columns(table_) or {}
    size, note = choose_size(table_, cols.get("size"), cols.get("run"))
    curves = load_schedule_curves(table_, inp.source, size)
    warnings = list(warnings or [])
    glance = Section("glance", "At a glance")
    notes = [note] if note else []
    sections, fit, bt = schedule_sections(curves, inp, warnings)
    _glance(glance, curves, fit, bt, warnings)
    page = [glance, _data_section(curves, inp.source, notes), *sections, warnings_section(warnings)]
    subtitle = (f"The learning-rate schedule law (Tissue et al. 2024) fitted to {len(curves)} loss curves of "
                f"<code>{esc(inp.source)}</code> with {inp.bootstrap} bootstrap refits (seed {inp.seed}).")
    return BuiltReport(page, warnings, "lr_schedule", len(curves), inp.seed, inp.bootstrap, subtitle)
