"""CLI command for observational scaling laws (Ruan et al. 2024): observe."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from scalinglab.cli.common import Table, _emit_json, app, out


def _names(text: Optional[str]) -> Optional[list[str]]:
    return None if text is None else [v.strip() for v in text.split(",") if v.strip()]


@app.command("observe")
def observe_cmd(
    data: str = typer.Argument(..., help="Benchmark table of public models: a model column (Model), a family "
                                         "column (Model Family), training compute (flops, or FLOPs (1E21)) and "
                                         "benchmark scores as fractions."),
    target: str = typer.Option(..., help="Score to predict: a column of DATA or of --targets (a fraction 0-1)."),
    targets: Optional[str] = typer.Option(None, help="Second table holding the target, joined on the model column."),
    benchmarks: Optional[str] = typer.Option(None, help="Benchmark columns for the PCA, comma-separated "
                                                        "(default: Ruan et al.'s eight where present)."),
    families: Optional[str] = typer.Option(None, help="Keep only these model families, comma-separated."),
    pcs: int = typer.Option(3, help="Principal components the sigmoid uses."),
    cutoff_flops: float = typer.Option(8.4e22, help="Models with training compute <= this (FLOPs) fit the law; "
                                                    "the rest are held out."),
    reference_family: str = typer.Option("Llama-2", help="Family whose PC-1 line defines equivalent compute."),
    bootstrap: int = typer.Option(200, help="Bootstrap refits of the sigmoid over the training models (intervals)."),
    seed: int = typer.Option(0, help="Seed of the bootstrap."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Predict a capability of larger models from smaller models' benchmark scores (observational
    scaling law, Ruan et al. 2024): capability PCA, a sigmoid of the leading PCs fitted below a
    compute cutoff, checked on the models above it against a compute-only sigmoid.

    JSON keys: target, benchmarks, n_pcs, explained_variance_ratio, loadings, cutoff_flops,
    reference_family, n_train, n_test, weights, floor, test_mse, flops_test_mse, family_lines,
    predictions (model, family, flops, equivalent_flops, observed, predicted, flops_predicted, split, low, high),
    warnings, backtest (the held-out check: x, holdout_above, n_train, n_test, mse, flops_mse, mae, better,
    status, at_bound, level, coverage, bootstrap, ci).
    """
    from scalinglab.analysis.observational import observational
    from scalinglab.tables import read_table

    table = read_table(Path(data), data)
    extra = read_table(Path(targets), targets) if targets else None
    result = observational(table, target, targets=extra, benchmarks=_names(benchmarks), families=_names(families),
                           n_pcs=pcs, cutoff_flops=cutoff_flops, reference_family=reference_family,
                           bootstrap=bootstrap, seed=seed)
    if as_json:
        _emit_json(result.to_dict())
        return
    out.print(result.summary(), markup=False, soft_wrap=True)
    t = Table(title=escape(f"held-out models: {result.target}"))
    for c in ("model", "C (FLOPs)", f"{result.reference_family}-equivalent C", "observed", "from PCs",
              f"{100 * result.level:g}% interval", "from FLOPs"):
        t.add_column(c, justify="left" if c == "model" else "right", no_wrap=True)
    test = result.predictions[result.predictions["split"] == "test"]
    for row in test.itertuples():
        t.add_row(escape(row.model), f"{row.flops:.3g}", f"{row.equivalent_flops:.3g}", f"{row.observed:.3f}",
                  f"{row.predicted:.3f}", f"{row.low:.3f}-{row.high:.3f}", f"{row.flops_predicted:.3f}")
    out.print(t)
    bt = result.backtest()
    out.print(f"sigmoid fit below the cutoff: status {bt['status']}"
              + (f"; on a bound: {', '.join(bt['at_bound'])}" if bt["at_bound"] else "")
              + (f"; held-out scores inside their interval: {bt['coverage']:.0%}" if bt["bootstrap"] else ""),
              markup=False)
