"""The report's over-training sections (Gadre et al. 2024, arXiv:2403.08540; references.md D4), added to
the report on runs that sit at a few token multipliers M = D/N (:mod:`scalinglab.report.input_kind`):

* the ``overtrain`` law L(C, M) = E + (a M^eta + b M^-eta) C^-eta (sec. 3 eq. (4)) fitted to the runs,
  with its parameter intervals, status and identifiability, and loss against compute per M;
* its backtest holding out the largest compute (:func:`scalinglab.analysis.overtraining.overtrain_backtest`);
* downstream error against loss with Err(L) = epsilon - k exp(-gamma L) (eq. (5)) when the table has an
  error column (:func:`scalinglab.report.input_kind.error_column`).

Units: loss nats/token, C = 6ND FLOPs, M tokens per parameter, error a fraction.
"""

from __future__ import annotations

import numpy as np

import scalinglab.report.overtrain_plots as overtrain_plots
import scalinglab.report.run_plots as run_plots
from scalinglab.analysis.backtest import BacktestResult
from scalinglab.analysis.overtraining import overtrain_backtest
from scalinglab.fitting.api import fit
from scalinglab.fitting.result import FitResult
from scalinglab.io import Runs, load_runs
from scalinglab.laws.downstream_error import error_table
from scalinglab.report.input_kind import multiplier_levels
from scalinglab.report.notices import add_warnings
from scalinglab.report.page import esc, interval, num, table
from scalinglab.report.param_units import param_unit
from scalinglab.report.section import LOSS_UNIT, ReportInputs, Section, attempt

__all__ = ["law_table", "overtrain_sections"]


def law_table(result: FitResult) -> str:
    """Formula, source and the parameter table (value, interval, unit, identified) of a fit, as HTML."""
    fam = result.family
    rows = []
    for name, value in {**result.params, **result.derived}.items():
        why = result.unidentified_why.get(name) if name in result.unidentified else None
        label = esc(name) + (' <span class="muted">(derived)</span>' if name in result.derived else "")
        rows.append([label, num(value, 5), interval(result.ci.get(name)), esc(param_unit(fam, name)),
                     "yes" if why is None and name not in result.unidentified else f"<b>no</b>: {esc(why or '')}"])
    head = (f"<p><b>{esc(result.law)}</b>: <code>{esc(fam.formula)}</code><br><span class=\"muted\">"
            f"{esc(fam.citation)}. Units: {esc(fam.units)}.</span></p>")
    return head + table(["parameter", "value", f"{100 * result.level:g}% interval", "unit", "identified"], rows,
                        numeric_from=1)


def _trust(result: FitResult, what: str, warnings: list[str]) -> str:
    add_warnings(warnings, [f"{what}: {n}" for n in result.identification_notes()])
    if result.status != "converged":
        add_warnings(warnings, [f"{what}: the fit did not converge (status {result.status})"])
    return (f"Fit status: {result.status}; {result.n_points} runs; rmse of the log residuals "
            f"{result.rmse_log:.4f}. " + (f"Intervals: {result.bootstrap} bootstrap resamples (seed {result.seed})."
                                          if result.bootstrap else "No bootstrap: no intervals."))


def _law_section(runs: Runs, inp: ReportInputs, warnings: list[str], notes: list[str]) -> Section:
    sec = Section("overtraining", "Over-training: loss per token multiplier")
    for note in notes:
        sec.text(note, "muted")
    levels = multiplier_levels(runs.column("params"), runs.column("tokens"))
    sec.text(f"The {len(runs)} runs sit at {levels.size} token multipliers M = D/N (tokens per parameter): "
             + ", ".join(f"{m:g}" for m in levels) + ".")
    result = attempt(sec, warnings, "the over-training fit", lambda: fit(
        runs, law="overtrain", bootstrap=inp.bootstrap, seed=inp.seed, level=inp.level))
    if result is None:
        return sec
    sec.add(law_table(result))
    sec.text(_trust(result, "overtrain law", warnings) + " M_opt = (b/a)^(1/(2 eta)) is the multiplier of least "
             "loss at fixed compute (Gadre et al. 2024 eq. (4)).", "muted")
    if inp.law == "overtrain":
        sec.text("Loss against compute per multiplier: see the Data section (the report's law is this one).", "muted")
        return sec
    attempt(sec, warnings, "the loss-per-multiplier plot", lambda: sec.figure(
        overtrain_plots.plot_loss_by_multiplier(runs, result), "overtrain-multiplier",
        "Loss against compute per token multiplier",
        f"Observed final loss ({LOSS_UNIT}; points coloured by M = D/N) against C = 6ND (FLOPs), and the fitted "
        "overtrain law at each M (lines; dashed beyond the largest run)."))
    return sec


def _backtest_section(runs: Runs, inp: ReportInputs, warnings: list[str]) -> Section:
    sec = Section("overtrain-backtest", "Over-training backtest")
    bt: BacktestResult | None = attempt(sec, warnings, "the over-training backtest", lambda: overtrain_backtest(
        runs.data, bootstrap=inp.bootstrap, seed=inp.seed, level=inp.level))
    if bt is None:
        return sec
    f = bt.fit
    sec.text(f"The overtrain law refitted on the {bt.n_train} runs with C ≤ {bt.holdout_above:.3g} FLOPs predicts the "
             f"{bt.n_test} runs of larger compute (held out: the largest compute, whole levels, at least 20% of the "
             f"runs). Training fit: status {f.status}, "
             + ("every parameter identified" if not f.unidentified else "not identified: " + ", ".join(f.unidentified))
             + f". Mean absolute relative error {100 * bt.mare:.2f}%; {100 * bt.coverage:.0f}% of the observed losses "
             f"lie inside their {100 * bt.level:g}% prediction intervals (median width {100 * bt.median_width:.2f}%).")
    p = bt.predictions.sort_values("flops")
    rows = [[num(r.flops, 3), num(r.params, 3), num(r.tokens, 3), num(r.tokens / r.params, 3), num(r.observed, 4),
             num(r.predicted, 4), interval([r.low, r.high], 4), "yes" if r.inside else "<b>no</b>"]
            for r in p.itertuples()]
    sec.add(table(["C (FLOPs)", "N (parameters)", "D (tokens)", "M = D/N", f"observed ({LOSS_UNIT})", "predicted",
                   f"{100 * bt.level:g}% interval", "inside"], rows, numeric_from=0))
    fitted = runs.data[runs.column("flops") <= bt.holdout_above]
    attempt(sec, warnings, "the over-training backtest plot", lambda: sec.figure(
        run_plots.plot_backtest(bt.predictions, x="flops", fitted=fitted, level=bt.level), "overtrain-backtest",
        "Over-training backtest", "Left: held-out runs (blue inside the interval, vermillion outside) and the "
        "overtrain law's predictions with their intervals; grey: the runs fitted. Right: predicted against observed."))
    add_warnings(warnings, [f"backtest: overtrain: {w}" for w in bt.warnings])
    return sec


def _error_section(runs: Runs, column: str, inp: ReportInputs, warnings: list[str]) -> Section:
    sec = Section("downstream-error", "Downstream error against loss")
    err = runs.data[column].to_numpy(dtype=float)
    ok = np.isfinite(err) & (err > 0)
    table_ = load_runs(error_table(runs.column("loss")[ok], err[ok]))
    sec.text(f"Column {column} read as the average top-1 downstream error (a fraction) of {int(ok.sum())} runs, "
             f"against their validation loss ({LOSS_UNIT}).")
    result = attempt(sec, warnings, "the downstream-error fit", lambda: fit(
        table_, law="downstream_error", bootstrap=inp.bootstrap, seed=inp.seed, level=inp.level))
    if result is None:
        return sec
    sec.add(law_table(result))
    sec.text(_trust(result, "downstream_error law", warnings), "muted")
    attempt(sec, warnings, "the error-against-loss plot", lambda: sec.figure(
        overtrain_plots.plot_error_vs_loss(table_, result), "error-loss", "Downstream error against loss",
        "Average top-1 error of each run against its validation loss, and Err(L) = epsilon - k exp(-gamma L) "
        "(Gadre et al. 2024 eq. (5)); dashed beyond the data."))
    return sec


def overtrain_sections(runs: Runs, inp: ReportInputs, warnings: list[str], error: str | None = None,
                       notes: list[str] = ()) -> list[Section]:
    """The over-training law's section, its backtest, and downstream error against loss when ``error``
    names an error column of the runs."""
    out = [_law_section(runs, inp, warnings, list(notes)), _backtest_section(runs, inp, warnings)]
    if error is not None:
        out.append(_error_section(runs, error, inp, warnings))
    return out
