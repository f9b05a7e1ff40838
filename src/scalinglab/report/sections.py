"""The sections of the HTML report, each built from the runs, the fit and the analyses.

A section that cannot be built from these data (e.g. an IsoFLOP view of runs without repeated budgets,
a backtest with too few runs) says why in its place and in the warnings; nothing is left out silently.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

import scalinglab.report.fit_plots as fit_plots
import scalinglab.report.overtrain_plots as overtrain_plots
import scalinglab.report.plan_plots as plan_plots
from scalinglab.analysis.backtest import BacktestResult
from scalinglab.analysis.identifiability import fit_identifiability_warnings, identifiability_warnings
from scalinglab.analysis.schedule_curves import load_schedule_curves
from scalinglab.errors import ScalingLabError
from scalinglab.fitting.api import fit
from scalinglab.fitting.result import FitResult
from scalinglab.io import Runs, load_runs
from scalinglab.plan.allocation import Allocation, optimal_frontier
from scalinglab.report.built import BuiltReport
from scalinglab.report.contour_plots import plot_isoloss
from scalinglab.report.design import APPROACHES, design_note, sweep_design
from scalinglab.report.fit_plots import RunsSource
from scalinglab.report.glance import known_floor_card, optimum_card, parameter_card
from scalinglab.report.input_kind import InputKind, detect_input
from scalinglab.report.notices import add_warnings as _warn  # appends only what says something new
from scalinglab.report.notices import frontier_caption
from scalinglab.report.observational_sections import observational_report
from scalinglab.report.overtrain_sections import overtrain_sections
from scalinglab.report.page import (
    bullets,
    esc,
    interval,
    num,
    table,
    with_interval,
)
from scalinglab.report.param_units import SYMBOLS, param_unit
from scalinglab.report.run_sections import backtest_section, curves_section, reproduce_section
from scalinglab.report.schedule_sections import choose_size, schedule_report, schedule_sections
from scalinglab.report.section import LOSS_UNIT, ReportInputs, Section
from scalinglab.report.section import attempt as _attempt
from scalinglab.report.warnings_summary import summary_html, warnings_section
from scalinglab.resolve import allocation_params, unidentified_guard
from scalinglab.stores.table import is_store_file, read_store

__all__ = ["LOSS_UNIT", "BuiltReport", "ReportInputs", "Section", "backtest_section", "build_sections",
           "curves_section", "reproduce_section", "warnings_section"]


# ---- the whole report ----------------------------------------------------------------------------
def build_sections(inp: ReportInputs) -> BuiltReport:
    """Every section in page order for the kind of data given (:mod:`scalinglab.report.input_kind`): the
    schedule-law report on loss curves with learning rates, the observational report on a benchmark
    table, else the report on runs (:func:`runs_sections`) with the over-training sections when the runs
    sit at a few token multipliers and the schedule sections when a run store records learning rates."""
    kind = detect_input(inp.data, inp.columns)
    if kind.name == "schedule":
        return schedule_report(inp, kind.table)
    if kind.name == "observational":
        return observational_report(inp, kind.table)
    if not kind.store_lr:
        return runs_sections(replace(inp, data=kind.data), kind)
    try:
        return runs_sections(inp, kind)
    except ScalingLabError as exc:  # e.g. runs of a schedule sweep: one size, too few for a law of N and D
        return store_schedule_report(inp, f"the report on the store's finished runs could not be made: {exc}")


def runs_sections(inp: ReportInputs, kind: InputKind | None = None) -> BuiltReport:
    """Load the runs, fit the law and build every section in page order (plus those ``kind`` adds)."""
    runs = load_runs(inp.data, inp.columns, drop_highest_loss=inp.drop_highest_loss)
    if kind is not None and kind.notes:  # rows selected from the table given: name the file, say which
        runs.notes.extend(n for n in kind.notes if n not in runs.notes)
        runs.source = inp.source
    result = fit(runs, law=inp.law, bootstrap=inp.bootstrap, seed=inp.seed, level=inp.level)
    warnings: list[str] = []  # the fit's own first: a later repeat of one (e.g. the backtest's refit) is dropped
    _warn(warnings, plan_guard(result, inp))
    _warn(warnings, identifiability(runs, result, inp.law))
    _warn(warnings, [n for n in result.notes if n not in runs.notes])
    _warn(warnings, runs.warnings)  # values that look like a unit slip (also under "How the table was read")
    glance = Section("glance", "At a glance")
    sections = [glance, data_section(runs, result), law_section(result), goodness_section(runs, result, warnings)]
    if result.draws is not None and len(result.draws) > 1:
        sections.append(uncertainty_section(result))
    plan, plan_rows = plan_section(runs, result, inp, warnings)
    backtest, bt = backtest_section(runs, inp, warnings)
    sections += [plan, backtest]
    if kind is not None and kind.overtrain:
        sections += overtrain_sections(runs, inp, warnings, kind.error)
    store = store_path(inp.data)
    if store is not None:
        sections.append(curves_section(store, warnings))
    if store is not None and kind is not None and kind.store_lr:
        sections += store_schedule_sections(store, inp, warnings)
    sections.append(warnings_section(warnings))
    glance.add(summary_html(warnings))  # first on the page: the warnings by kind, a link to the full list
    fill_glance(glance, runs, result, plan_rows, bt, inp.known_e)
    return BuiltReport(sections, warnings, result.law, len(runs), inp.seed, inp.bootstrap)


def store_schedule_report(inp: ReportInputs, why: str) -> BuiltReport:
    """The schedule-law report on a run store's curves (one model size), saying why the runs report is absent."""
    return schedule_report(inp, read_store(Path(inp.data), "metrics"), [why])


def store_schedule_sections(store: Path, inp: ReportInputs, warnings: list[str]) -> list[Section]:
    """The schedule-law sections of a run store whose evaluations record the learning rate, fitted to
    one model size (:func:`scalinglab.report.schedule_sections.choose_size`)."""
    size, note = choose_size(read_store(store, "metrics"), "params", "run")
    curves = load_schedule_curves(store, inp.source, size)
    return schedule_sections(curves, inp, warnings, [note] if note else [])[0]


def plan_guard(result: FitResult, inp: ReportInputs) -> list[str]:
    """The report's plan is an answer from the fitted law: refused (ScalingLabError, so no report) when
    the data leave a parameter of the allocation undetermined, unless ``inp.allow_unidentified``;
    warnings otherwise (:func:`scalinglab.resolve.unidentified_guard`)."""
    if set(result.family.variables) != {"params", "tokens"}:
        return []
    return unidentified_guard(result, "the report's compute-optimal plan", allocation_params(result),
                              allow=inp.allow_unidentified)


def store_path(data: RunsSource) -> Path | None:
    """``data`` as a path when it is a lab run store (SQLite), else None."""
    if not isinstance(data, (str, os.PathLike)) or not Path(data).is_file():
        return None

    return Path(data) if is_store_file(Path(data)) else None


def identifiability(runs: Runs, result: FitResult, law: str) -> list[str]:
    """Design and fit warnings of :mod:`scalinglab.analysis.identifiability`."""
    return identifiability_warnings(runs, law) + fit_identifiability_warnings(result)


# ---- at a glance ---------------------------------------------------------------------------------
def fill_glance(sec: Section, runs: Runs, result: FitResult, plan_rows: list[Allocation],
                bt: BacktestResult | None, known_e: tuple[float, str] | None = None) -> None:
    cells = [(str(len(runs)), "runs fitted"), (num(result.rmse_log, 3), "rmse of ln(loss) residuals")]
    names = (["E"] if "E" in result.params else []) + fit_plots.exponent_names(result)[:4]
    for name in names:
        what = f"{name} (irreducible loss, {LOSS_UNIT})" if name == "E" else name
        if name == "E" and known_e is not None:  # 4 digits: E beside a truth it should match to ~1%
            cells += [parameter_card(result, name, what, digits=4), known_floor_card(result, *known_e)]
        else:
            cells.append(parameter_card(result, name, what))  # words, not a number, when undetermined
    if plan_rows:
        cells.append(optimum_card(result, plan_rows[-1]))
    if bt is not None:
        cells.append((f"{100 * bt.mare:.2f}%", f"backtest error on {bt.n_test} held-out runs"))
        cells.append((f"{100 * bt.coverage:.0f}%", f"coverage of the {100 * bt.level:g}% intervals"))
    sec.add('<div class="glance">' + "".join(f"<div><b>{v}</b><span>{esc(t)}</span></div>" for v, t in cells)
            + "</div>")


# ---- data ----------------------------------------------------------------------------------------
def data_section(runs: Runs, result: FitResult) -> Section:
    sec = Section("data", "Data")
    rows = []
    for name, unit in (("params", "parameters (as counted by the data)"), ("tokens", "tokens"),
                       ("flops", "FLOPs (C = 6ND)"), ("loss", LOSS_UNIT)):
        if runs.has(name):
            v = runs.column(name)
            rows.append([esc(f"{name} {SYMBOLS.get(name, 'L')}"), esc(unit), num(v.min()), num(v.max()),
                         str(len(np.unique(v)))])
    sec.text(f"{len(runs)} runs from {runs.source}.")
    sec.add(table(["quantity", "unit", "smallest", "largest", "distinct values"], rows, numeric_from=2))
    if runs.notes:
        sec.add("<h3>How the table was read</h3>" + bullets(runs.notes))
    for x, title in (("params", "Loss against model size"), ("flops", "Loss against compute")):
        if runs.has(x) and set(result.family.variables) <= set(fit_plots.XS):
            sec.figure(fit_plots.plot_loss(runs, result, x=x), f"loss-{x}", title,
                       f"Observed final loss (points) and the fitted {result.law} law (lines) with its "
                       f"{100 * result.level:g}% bootstrap band (parameter uncertainty only); log-log axes."
                       + (" Dashed black: the law's compute-optimal loss L*(C)." if x == "flops" else ""))
    if result.family.name == "overtrain":
        sec.figure(overtrain_plots.plot_loss_by_multiplier(runs, result), "loss-multiplier",
                   "Loss against compute per token multiplier",
                   "Observed final loss (points, coloured by M = D/N) and the fitted overtrain law's loss at each M "
                   "along C (Gadre et al. 2024 eq. (4)); dashed beyond the largest run.")
    return sec


# ---- the fitted law ------------------------------------------------------------------------------
def law_section(result: FitResult) -> Section:
    sec = Section("law", "Fitted law")
    fam = result.family
    sec.add(f"<p><b>{esc(result.law)}</b>: <code>{esc(fam.formula)}</code><br><span class=\"muted\">"
            f"{esc(fam.citation)}. Units: {esc(fam.units)}.</span></p>")
    level = f"{100 * result.level:g}% interval"
    rows = []
    for name, value in {**result.params, **result.derived}.items():
        label = esc(name) + (" <span class=\"muted\">(derived)</span>" if name in result.derived else "")
        if name in getattr(result, "unidentified", ()):
            label += " <b>(not identified)</b>"
        rows.append([label, num(value, 5), num(result.stderr.get(name), 3), interval(result.ci.get(name)),
                     esc(param_unit(fam, name))])
    sec.add(table(["parameter", "value", "std. error", level, "unit"], rows, numeric_from=1))
    if result.bootstrap:
        sec.text(f"Intervals: percentile intervals over {result.bootstrap} bootstrap resamples of "
                 f"{result.bootstrap_unit} (seed {result.seed}), {result.bootstrap_converged} converged. "
                 "They describe parameter uncertainty given this design, not run-to-run noise.", "muted")
    else:
        sec.text("No bootstrap (bootstrap 0): no intervals or standard errors.", "muted")
    status = getattr(result, "status", "converged")
    sec.text(f"Fit status: {status} (first-order test: the projected gradient, in the Gauss-Newton metric)."
             + (" Not identified by these data: " + "; ".join(result.identification_notes()) + "."
                if getattr(result, "unidentified", None) else ""),
             "muted" if status == "converged" and not getattr(result, "unidentified", None) else "")
    if "a" in result.derived and fam.name == "chinchilla":
        sec.text("a = beta/(alpha+beta) and b = alpha/(alpha+beta) are the compute-optimal exponents: "
                 "N* ∝ C^a, D* ∝ C^b (Hoffmann et al. 2022, eq. 4).", "muted")
    return sec


# ---- goodness of fit -----------------------------------------------------------------------------
def goodness_section(runs: Runs, result: FitResult, warnings: list[str]) -> Section:
    sec = Section("fit", "Goodness of fit")
    sec.add(table(["measure", "value"], [
        ["rmse of ln(predicted) − ln(observed)", num(result.rmse_log, 4)],
        ["points fitted n", str(result.n_points)],
        [esc(f"objective ({result._objective_text()})"), num(result.objective, 4)],
        ["converged", "yes" if result.converged else "<b>NO</b>"],
        ["starts screened / refined / at the best", f"{result.n_starts:,} / {result.n_refined:,} / {result.n_at_best:,}"],
    ]))
    _attempt(sec, warnings, "the residual plot", lambda: sec.figure(
        fit_plots.plot_residuals(result, runs), "residuals", "Residuals",
        "ln(predicted) − ln(observed) loss of every run against N, D and C; dashed: ± rmse. A trend with "
        "scale means the law's form misses something the extrapolation will inherit."))
    if runs.has("params") and runs.has("flops") and sweep_design(runs) == "grid":
        sec.text("No IsoFLOP profiles: these runs are an N × D grid, with no FLOP budget shared by several "
                 "sizes (see the note under the frontier).", "muted")
    elif runs.has("params") and runs.has("flops"):
        _attempt(sec, warnings, "the IsoFLOP plot", lambda: sec.figure(
            fit_plots.plot_isoflop(runs, law=result if set(result.family.variables) <= set(fit_plots.XS) else None),
            "isoflop", "IsoFLOP profiles",
            "Loss against N at each FLOP budget (a colour and a marker per budget), the curve of the profile "
            "method approach 2 uses (Hoffmann et al. 2022; the title names it) through the mean loss at each "
            "size, and a star (the budget's colour) at each minimum approach 2 finds; a profile with no minimum "
            "inside its sizes (its lowest loss at an end, or a curve without an interior minimum) gets none: the "
            "legend names its budget. Dashed: the minima joined; dotted: the fitted law along each budget."))
    return sec


def uncertainty_section(result: FitResult) -> Section:
    sec = Section("uncertainty", "Uncertainty")
    sec.figure(fit_plots.plot_bootstrap(result), "bootstrap", "Bootstrap distributions of the exponents",
               "Histogram of each exponent over the bootstrap resamples; solid: the fit, dashed: the "
               f"{100 * result.level:g}% percentile interval.")
    sec.figure(fit_plots.plot_correlations(result), "correlations", "Parameter correlations",
               "Pearson correlation of the parameters over the bootstrap resamples (amplitudes on a log "
               "scale). Correlations near ±1 mean these data trade one parameter for another.")
    return sec


# ---- the plan ------------------------------------------------------------------------------------
def plan_section(runs: Runs, result: FitResult, inp: ReportInputs,
                 warnings: list[str]) -> tuple[Section, list[Allocation]]:
    sec = Section("plan", "Compute-optimal plan")
    if set(result.family.variables) != {"params", "tokens"}:
        sec.text(f"Law {result.law} reads {', '.join(result.family.variables)}, not N and D: it does not "
                 "say how to split a budget between model size and data.", "muted")
        return sec, []
    allocs = _attempt(sec, warnings, "the plan",  # plan_guard has refused or warned already
                      lambda: optimal_frontier(result, inp.budgets, allow_unidentified=True)) or []
    if allocs:
        rows = [[num(a.flops, 3), with_interval(a.params, a.params_ci, 3), with_interval(a.tokens, a.tokens_ci, 3),
                 num(a.tokens_per_param, 3), with_interval(a.loss, a.loss_ci, 4)] for a in allocs]
        sec.add(table(["budget C (FLOPs)", "N* (parameters)", "D* (tokens)", "D*/N* (tokens/param)",
                       f"loss ({LOSS_UNIT})"], rows, numeric_from=0))
        sec.text(f"From the fitted law with C = 6ND ({allocs[0].method}); intervals (under each value): "
                 f"{100 * result.level:g}% over the bootstrap draws' own optima (parameter uncertainty only). "
                 "Budgets far beyond the data are extrapolations: see the backtest.", "muted")
        sec.text(_extrapolation_sentence(allocs), "muted")
        _warn(warnings, [n for a in allocs for n in a.notes] + _extrapolation_warnings(allocs))
    grid = plan_plots.budget_grid(runs.column("flops"), inp.budgets)
    boot = inp.bootstrap if inp.bootstrap >= 10 else 0
    design = sweep_design(runs)
    names = plan_plots.DEFAULT_REFERENCES if inp.references is None else inp.references
    marks = pd.DataFrame([(a.flops, a.params, a.tokens) for a in allocs], columns=["flops", "params", "tokens"])

    def frontier() -> None:
        frontiers, points, notes = plan_plots.compare_frontiers(runs, grid, bootstrap=boot, seed=inp.seed, fit=result,
                                                                approaches=APPROACHES[design])
        _warn(warnings, notes)
        refs = {name: plan_plots.frontier_table(name, grid) for name in names}
        caption = frontier_caption(frontiers, points, notes, inp.level, names)
        caption += " White diamonds and dotted lines: the budgets of the plan above (N*, D* of the fitted law)."
        note = design_note(design)
        sec.figure(plan_plots.plot_frontier(frontiers, points, refs, marks=marks), "frontier",
                   "Compute-optimal frontier", caption + (f" Note: {note}." if note else ""))

    _attempt(sec, warnings, "the frontier plot", frontier)
    _attempt(sec, warnings, "the iso-loss contour plot", lambda: sec.figure(
        plot_isoloss(result, runs, inp.budgets), "isoloss", "Iso-loss contours in the (C, N) plane",
        f"Contours of the fitted law's loss L(N, C/(6N)) ({LOSS_UNIT}, labelled) over compute C (FLOPs) and model "
        "size N (parameters); grey: the runs; dashed black: the compute-optimal N*(C) (Hoffmann et al. 2022 eq. 4, "
        "their figure 4 left); white diamonds: the budgets of the plan."))
    return sec, allocs


def _extrapolation_sentence(allocs: list[Allocation]) -> str:
    """How far each budget's N*, D* and C lie outside the fitted runs (scalinglab.resolve.extrapolation)."""
    def dec(v: float | None) -> str:
        return "?" if v is None else ("0" if v <= 0 else f"{v:.2f}")

    cells = [f"{a.flops:.3g} FLOPs {' / '.join(dec(v) for v in (a.extrapolation or {}).values()) or '?'}"
             for a in allocs]
    return ("Distance outside the fitted runs, in decades of N* / D* / C (0 inside their range, a warning beyond "
            f"one decade): {'; '.join(cells)}.")


def _extrapolation_warnings(allocs: list[Allocation]) -> list[str]:
    """The warnings of the budget farthest outside the fitted runs, saying how many budgets warn."""
    warned = [a for a in allocs if a.extrapolation_warnings]  # plan_guard has said what is undetermined
    if not warned:
        return []
    far = max(warned, key=lambda a: a.reach)
    more = (f" (the farthest of {len(warned)} budgets more than a decade outside the fitted runs)"
            if len(warned) > 1 else "")
    return [f"plan at C = {far.flops:.3g} FLOPs{more}: {w}" for w in far.extrapolation_warnings]


