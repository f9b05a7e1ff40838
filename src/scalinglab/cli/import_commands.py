"""CLI command ``import``: runs from TensorBoard, MLflow or W&B exports into a run store.

``scalinglab import tensorboard|mlflow|wandb SOURCE --store runs.db [--metric ROLE=NAME ...]
[--params N | --params RUN=N ...] [--tokens-per-step N] [--experiment NAME] [--loss-unit nats|bits]
[--json]``; see :mod:`scalinglab.lab.importers` for how runs are read, mapped and written.

Rows (``--json``, a contract, the same keys as ``scalinglab runs --json``): ``id`` (store id),
``status`` (finished), ``params`` [count, as the source counts them], ``tokens`` and ``flops``
[FLOPs, 6ND unless mapped] at the final evaluation, ``final_val_loss`` [nats/token].
"""

from __future__ import annotations

import typer

from scalinglab.cli.common import Table, _emit_json, app, out
from scalinglab.errors import ScalingLabError, positive_number


def _parse_metrics(items: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items:
        role, sep, name = item.partition("=")
        if not sep or not role.strip() or not name.strip():
            raise ScalingLabError(f"--metric expects role=name (e.g. val_loss=eval/loss), got '{item}'")
        if role.strip() in mapping:
            raise ScalingLabError(f"--metric {role.strip()}=...: given twice")
        mapping[role.strip()] = name.strip()
    return mapping


def _count(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ScalingLabError(f"{what}: expected a number such as 1.2e8, got '{text}'") from None
    return positive_number(what, value)


def _parse_params(items: list[str]) -> float | dict[str, float] | None:
    """``--params N`` (every run) or ``--params RUN=N`` repeated (the count after the last '=')."""
    if not items:
        return None
    if len(items) == 1 and "=" not in items[0]:
        return _count(items[0], "--params")
    per_run: dict[str, float] = {}
    for item in items:
        run, sep, number = item.rpartition("=")
        if not sep or not run.strip():
            raise ScalingLabError(f"--params: give one N for every run or RUN=N for each, got '{item}'")
        per_run[run.strip()] = _count(number.strip(), f"--params {run.strip()}")
    return per_run


@app.command("import")
def import_cmd(
    kind: str = typer.Argument(..., help="tensorboard, mlflow or wandb."),
    source: str = typer.Argument(..., help="TensorBoard log folder; MLflow store (./mlruns, mlflow.db or a "
                                           "tracking URI); W&B export (.csv, .jsonl, .json or a folder)."),
    store: str | None = typer.Option(None, help="Run store file (SQLite), created if missing."),
    metric: list[str] = typer.Option([], "--metric", help="ROLE=NAME: the source's name for val_loss, "
                                     "train_loss, tokens, params, tokens_per_step (may be a*b of "
                                     "hyperparameters), flops or step (W&B); repeatable."),
    params: list[str] = typer.Option([], "--params", help="Parameter count of every run (e.g. 1.2e8), or "
                                     "RUN=N per run (repeatable)."),
    tokens_per_step: float | None = typer.Option(None, "--tokens-per-step",
                                                 help="Tokens per optimizer step, when no tokens metric is logged."),
    experiment: str | None = typer.Option(None, help="MLflow experiment to import (default: all)."),
    loss_unit: str = typer.Option("nats", "--loss-unit", help="Unit of the logged losses: nats or bits "
                                  "(per token; bits are converted x ln 2)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Import runs from TensorBoard, MLflow or W&B exports into a run store, as finished runs."""
    from scalinglab.lab.importers import KINDS, import_runs

    if kind not in KINDS:
        raise ScalingLabError(f"import: unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    if store is None:
        raise ScalingLabError("--store: a run store file is needed, e.g. --store runs.db")
    result = import_runs(kind, source, store, metrics=_parse_metrics(metric), params=_parse_params(params),
                         tokens_per_step=tokens_per_step, experiment=experiment, loss_unit=loss_unit)
    from scalinglab.lab.runner import store_rows
    from scalinglab.stores.run_store import RunStore

    with RunStore(store, readonly=True) as st:
        rows = store_rows(st, result.run_ids)
    if as_json:
        _emit_json(rows)
        return
    t = Table(title=f"imported {len(rows)} runs into {store} (sweep {result.sweep_id}: {result.sweep})")
    for c in ("id", "run", "params", "tokens", "FLOPs", "final val loss \\[nats/token]"):
        t.add_column(c, justify="right")
    for row, run in zip(rows, result.runs):
        t.add_row(str(row["id"]), run.name, f"{row['params']:,}", f"{row['tokens']:,}", f"{row['flops']:.3g}",
                  f"{row['final_val_loss']:.4f}")
    out.print(t)
    for note in result.notes:
        out.print(f"note: {note}", markup=False)
