"""Sections of the HTML report built from the runs beyond the fit: the extrapolation backtest
(:func:`scalinglab.analysis.backtest`), the training curves of a run store, and how to reproduce the
report (the command, the versions, the date, the seed, the data file's SHA-256)."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import matplotlib
import numpy
import pandas
import scipy

import scalinglab
import scalinglab.report.run_plots as run_plots
from scalinglab.analysis.backtest import BacktestResult, backtest, default_holdout
from scalinglab.io import Runs
from scalinglab.report.notices import add_warnings as _warn
from scalinglab.report.page import esc, interval, num, table
from scalinglab.report.section import LOSS_UNIT, ReportInputs, Section
from scalinglab.report.section import attempt as _attempt
from scalinglab.stores.table import read_store


# ---- backtest ------------------------------------------------------------------------------------
def backtest_section(runs: Runs, inp: ReportInputs,
                     warnings: list[str]) -> tuple[Section, BacktestResult | None]:
    sec = Section("backtest", "Backtest")

    def run() -> BacktestResult:
        threshold = default_holdout(runs.column("flops")) if inp.holdout_above is None else inp.holdout_above
        return backtest(runs, inp.law, holdout_above=threshold, x="flops", bootstrap=inp.bootstrap,
                        seed=inp.seed, level=inp.level)

    bt = _attempt(sec, warnings, "the backtest", run)
    if bt is None:
        return sec, None
    held = ("threshold given" if inp.holdout_above is not None
            else "by default the top ~20% of runs by compute, whole FLOP levels")
    sec.text(f"The law was refitted on the {bt.n_train} runs with C ≤ {bt.holdout_above:.3g} FLOPs".replace("e+", "e")
             + f" and predicts the {bt.n_test} runs above, which were held out ({held}). "
             f"Mean absolute relative error {100 * bt.mare:.2f}%; "
             f"{100 * bt.coverage:.0f}% of the observed losses lie inside their {100 * bt.level:g}% prediction "
             "intervals (parameter and run-to-run noise uncertainty; nominal "
             f"{100 * bt.level:g}%).")
    fitted = runs.data[runs.column("flops") <= bt.holdout_above]
    sec.figure(run_plots.plot_backtest(bt.predictions, x="flops", fitted=fitted, level=bt.level), "backtest",
               "Extrapolation backtest", "Left: held-out runs (blue inside the interval, vermillion outside) "
               "and the predictions with their intervals; grey: the runs fitted. Right: predicted against "
               "observed loss.")
    p = bt.predictions.sort_values("flops")
    rows = [[num(r.flops, 3), num(r.params, 3), num(r.tokens, 3), num(r.observed, 4), num(r.predicted, 4),
             interval([r.low, r.high], 4), "yes" if r.inside else "<b>no</b>"] for r in p.itertuples()]
    sec.add(f"<details><summary>The {len(p)} held-out runs, one by one</summary>"
            + table(["C (FLOPs)", "N (parameters)", "D (tokens)", f"observed ({LOSS_UNIT})", "predicted",
                     f"{100 * bt.level:g}% interval", "inside"], rows, numeric_from=0) + "</details>")
    _warn(warnings, [f"backtest: {w}" for w in bt.warnings])
    return sec, bt


# ---- training curves -----------------------------------------------------------------------------
def curves_section(store: Path, warnings: list[str]) -> Section:

    sec = Section("curves", "Training curves")
    metrics = read_store(store, "metrics")
    if metrics.empty:
        sec.text("The store holds no evaluations of finished runs.", "muted")
        return sec
    sec.text(f"{len(metrics)} evaluations of {metrics['run'].nunique()} finished runs in {store.name}.")
    train = "train_loss" in metrics and metrics["train_loss"].notna().any()
    _attempt(sec, warnings, "the training-curve plot", lambda: sec.figure(
        run_plots.plot_training_curves(metrics, x="tokens", show_train=bool(train)), "curves", "Training curves",
        "Validation loss of every run against training tokens, coloured by model size"
        + ("; dashed: training loss." if train else ".")))
    return sec


# ---- reproducibility ----------------------------------------------------------------
def versions() -> list[tuple[str, str]]:
    """(package, version) of Python and the libraries that shaped the numbers (torch when loaded)."""
    out = [("scalinglab", scalinglab.__version__), ("python", platform.python_version()),
           ("numpy", numpy.__version__), ("scipy", scipy.__version__), ("pandas", pandas.__version__),
           ("matplotlib", matplotlib.__version__)]
    if "torch" in sys.modules:
        out.append(("torch", getattr(sys.modules["torch"], "__version__", "?")))
    out.append(("platform", platform.platform()))
    return out


def reproduce_section(command: str, sha256: str | None, date: str, seed: int, bootstrap: int) -> Section:
    sec = Section("reproduce", "Reproduce")
    sec.text("This report was made by:")
    sec.add(f"<pre>{esc(command)}</pre>")
    rows = [[esc(k), esc(v)] for k, v in versions()]
    rows += [["date", esc(date)], ["seed", str(seed)], ["bootstrap resamples", str(bootstrap)]]
    if sha256:
        rows.append(["data SHA-256", f"<code>{esc(sha256)}</code>"])
    sec.add(table(["item", "version or value"], rows, numeric_from=2))
    sec.text("The same command, data and versions give the same numbers: every random step is seeded.", "muted")
    return sec
