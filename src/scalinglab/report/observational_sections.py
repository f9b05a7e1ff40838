"""The report on a benchmark table of public models: observational scaling (Ruan et al. 2024,
arXiv:2405.10938; references.md E6; :func:`scalinglab.analysis.observational.observational`).

Sections: at a glance; data (models, families, benchmarks, imputed share); principal capability
measures (variance explained, loadings); the observational law for the target (the sigmoid of PC-1..k,
its weights and floor) with the target against PC-equivalent compute
(:func:`scalinglab.report.capability_plots.plot_capability`); the backtest (fit on the models below the
compute cutoff, predict those above; :meth:`ObservationalResult.backtest`) with the held-out models one
by one; warnings. The target is the report's ``target`` (a column of the table or of ``targets``, joined
on the model column); given none, :func:`scalinglab.analysis.observational.default_target` picks the
benchmark with the lowest median score and leaves it out of the PCA. A target that is one of the PCA's
benchmarks is always left out of it. Units: scores are fractions in [0, 1], compute C in FLOPs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalinglab.analysis.observational import (
    ObservationalResult,
    benchmark_columns,
    default_target,
    observational,
)
from scalinglab.report.built import BuiltReport
from scalinglab.report.capability_plots import plot_capability
from scalinglab.report.notices import add_warnings
from scalinglab.report.page import esc, interval, num, table
from scalinglab.report.section import ReportInputs, Section, attempt
from scalinglab.report.warnings_summary import summary_html, warnings_section

__all__ = ["observational_report"]


def _fit(inp: ReportInputs, frame: pd.DataFrame) -> tuple[ObservationalResult, str]:
    """The law for the report's target (or the default one) and a sentence saying how it was chosen."""
    if inp.target is None:
        target, benches = default_target(frame)
        how = (f"No target given: {target}, the benchmark with the lowest median score, is predicted from the "
               "principal components of the other benchmarks.")
    else:
        target = inp.target
        cols = benchmark_columns(frame) or {"benchmarks": []}
        benches = [b for b in cols["benchmarks"] if b != target]
        how = f"Target {target}" + (", left out of the PCA." if target in cols["benchmarks"] else ".")
    return observational(frame, target, targets=inp.targets, benchmarks=benches, bootstrap=inp.bootstrap,
                         seed=inp.seed, level=inp.level), how


def _pca_section(result: ObservationalResult) -> Section:
    sec = Section("capabilities", "Principal capability measures")
    pca = result.pca
    sec.text(f"PCA of {len(pca.scores)} models x {len(pca.benchmarks)} benchmarks ({100 * pca.missing_fraction:.1f}% "
             "of the cells missing, imputed by an iterated rank-1 PCA); PC-1 is oriented to grow with capability.")
    rows = [[f"PC-{i + 1}", f"{100 * v:.1f}%", f"{100 * pca.cumulative(i + 1):.1f}%"]
            + [num(w, 3) for w in pca.components[i]] for i, v in enumerate(pca.explained_variance_ratio)]
    sec.add(table(["component", "variance explained", "cumulative", *map(esc, pca.benchmarks)], rows, numeric_from=1))
    return sec


def _law_section(result: ObservationalResult, how: str, warnings: list[str]) -> Section:
    sec = Section("observational", f"Observational law: {result.target}")
    w = result.pc_fit.weights
    sec.text(how)
    sec.add(f"<p><code>{esc(result.target)} = h + (1 - h) sigmoid(w0 + "
            + " + ".join(f"w{i} PC-{i}" for i in range(1, result.n_pcs + 1)) + ")</code><br><span class=\"muted\">"
            "Ruan et al. 2024, Observational Scaling Laws, sec. 3 (arXiv:2405.10938); floor h in [0, 0.2]; "
            "score a fraction.</span></p>")
    sec.add(table(["parameter", "value"], [["h (floor)", num(result.pc_fit.floor, 4)]]
                  + [[f"w{i}", num(v, 4)] for i, v in enumerate(w)], numeric_from=1))
    add_warnings(warnings, [f"observational law: {m}" for m in result.warnings])
    attempt(sec, warnings, "the capability plot", lambda: sec.figure(
        plot_capability(result), "capability", f"{result.target} against {result.reference_family}-equivalent compute",
        f"Each model's {result.target} against the compute at which the {result.reference_family} family's line "
        "reaches the model's capability combination (FLOPs, log axis); black: the law's sigmoid; filled: models "
        f"with C <= {result.cutoff_flops:.3g} FLOPs that fit it; open: held-out models."))
    return sec


def _backtest_section(result: ObservationalResult, warnings: list[str]) -> Section:
    sec = Section("observational-backtest", "Observational backtest")
    bt = result.backtest()
    better = {"PCs": "the principal components predict better", "FLOPs": "compute alone predicts better",
              None: "nothing is held out"}[bt["better"]]
    sec.text(f"Fitted on the {bt['n_train']} models with C <= {bt['holdout_above']:.3g} FLOPs, the law predicts the "
             f"{bt['n_test']} models above (and those of unknown compute): held-out mean squared error "
             f"{num(bt['mse'], 4)} from {result.n_pcs} PCs against {num(bt['flops_mse'], 4)} from log10 FLOPs alone "
             f"(squared score units); mean absolute error {num(bt['mae'], 4)}; {better}.")
    bounds = f"; on a bound of its box: {', '.join(bt['at_bound'])}" if bt["at_bound"] else ""
    cover = (f"{100 * bt['coverage']:.0f}% of the held-out scores lie inside their {100 * bt['level']:g}% prediction "
             f"intervals ({bt['bootstrap']} bootstrap refits over the training models, plus their scatter)"
             if bt["bootstrap"] and bt["coverage"] is not None and np.isfinite(bt["coverage"]) else "no intervals")
    sec.text(f"The sigmoid fitted below the cutoff: status {bt['status']}{bounds}; {cover}.")
    add_warnings(warnings, [f"observational law: {p} ended on a bound of the search box (its value is the box's edge)"
                            for p in bt["at_bound"]])
    if bt["status"] != "converged":
        add_warnings(warnings, [f"observational law: the sigmoid fit did not converge (status {bt['status']})"])
    test = result.predictions[result.predictions["split"] == "test"].sort_values("flops")
    rows = [[esc(r.model), esc(r.family), num(r.flops, 3), num(r.observed, 3), num(r.predicted, 3),
             interval([r.low, r.high], 3) if np.isfinite(r.low) else "–",
             "yes" if r.low <= r.observed <= r.high else "<b>no</b>", num(r.flops_predicted, 3),
             f"{r.predicted - r.observed:+.3f}"] for r in test.itertuples()]
    sec.add(table(["model", "family", "C (FLOPs)", "observed", "from PCs", f"{100 * bt['level']:g}% interval",
                   "inside", "from FLOPs", "error (PCs)"], rows, numeric_from=2))
    return sec


def _glance(sec: Section, result: ObservationalResult, warnings: list[str]) -> None:
    sec.add(summary_html(warnings))
    bt = result.backtest()
    cells = [(str(len(result.pca.scores)), "models"), (str(len(result.pca.benchmarks)), "benchmarks in the PCA"),
             (f"{100 * result.pca.cumulative(min(3, len(result.pca.benchmarks))):.1f}%", "variance explained by PC-1..3"),
             (num(bt["mse"], 3), f"held-out MSE of {result.target} from PCs"),
             (num(bt["flops_mse"], 3), "held-out MSE from FLOPs alone")]
    sec.add('<div class="glance">' + "".join(f"<div><b>{v}</b><span>{esc(t)}</span></div>" for v, t in cells)
            + "</div>")


def _data_section(frame: pd.DataFrame, source: str) -> Section:
    sec = Section("data", "Data")
    cols = benchmark_columns(frame) or {}
    families = frame[cols["family"]].astype(str) if "family" in cols else pd.Series(dtype=str)
    flops = pd.to_numeric(frame[cols["flops"]], errors="coerce") if "flops" in cols else pd.Series(dtype=float)
    sec.text(f"{len(frame)} models of {families.nunique()} families from {source}; training compute known for "
             f"{int(np.isfinite(flops).sum())} (column {cols.get('flops')}); benchmarks {', '.join(cols.get('benchmarks', []))}.")
    return sec


def observational_report(inp: ReportInputs, frame: pd.DataFrame) -> BuiltReport:
    """The report on a benchmark table (module docstring; the caller adds the reproduce section)."""
    result, how = _fit(inp, frame)
    warnings: list[str] = []
    glance = Section("glance", "At a glance")
    sections = [_data_section(frame, inp.source), _pca_section(result), _law_section(result, how, warnings),
                _backtest_section(result, warnings)]
    _glance(glance, result, warnings)
    subtitle = (f"Observational scaling law (Ruan et al. 2024) for {esc(result.target)} from the benchmark scores of "
                f"{len(result.pca.scores)} models in <code>{esc(inp.source)}</code>.")
    return BuiltReport([glance, *sections, warnings_section(warnings)], warnings, "observational",
                       len(result.pca.scores), inp.seed, inp.bootstrap, subtitle)
