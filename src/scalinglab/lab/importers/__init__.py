"""Import runs users already have into a run store: TensorBoard, MLflow, W&B history exports.

``import_runs(kind, source, store, ...)`` reads every run of ``source`` with the reader of
``kind`` (:mod:`.tensorboard`, :mod:`.mlflow`, :mod:`.wandb`), maps and validates them
(:mod:`.mapping`: metric names, params, tokens, FLOPs = 6 N D unless mapped, loss in nats/token)
and writes them as finished runs (:mod:`.writer`). The result is fit-ready:
``sl.load_runs("runs.db")`` gives one row per imported run (params [count, as the source counts
them], tokens and flops at its final evaluation, loss = final validation loss [nats/token]), and
``read_store("runs.db", "metrics")`` every logged point of the curves.

All-or-nothing: the store is checked first, every run is read and validated next, and only then
are all runs written in one transaction, so bad input (a missing source, no runs, a mapped metric
that does not exist, a run without params, a non-numeric, non-finite or non-positive value) raises
ScalingLabError naming it and leaves the store as it was (a new store is not even created).
Importing the same source again with the same options updates its runs in place and duplicates
nothing (see :mod:`.writer`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from scalinglab.errors import ScalingLabError
from scalinglab.lab.importers import mlflow, tensorboard, wandb
from scalinglab.lab.importers.mapping import DEFAULT_NAMES, ROLES, ImportedRun, ImportOptions, resolve_run
from scalinglab.lab.importers.source import SourceRun
from scalinglab.lab.importers.writer import check_store, sweep_name, write_runs

__all__ = ["DEFAULT_NAMES", "KINDS", "ROLES", "ImportResult", "ImportedRun", "import_runs", "read_source"]

KINDS: tuple[str, ...] = ("tensorboard", "mlflow", "wandb")


@dataclass
class ImportResult:
    """What an import wrote: the store file, the sweep, the run ids (in the order of ``runs``),
    the imported runs themselves and notes on how values were read or derived."""

    store: str
    sweep_id: int
    sweep: str
    run_ids: list[int]
    runs: list[ImportedRun]
    notes: list[str] = field(default_factory=list)


def import_runs(kind: str, source: str | os.PathLike[str], store: str | os.PathLike[str], *,
                metrics: Mapping[str, str] | None = None, params: float | Mapping[str, float] | None = None,
                tokens_per_step: float | None = None, experiment: str | None = None,
                loss_unit: str = "nats") -> ImportResult:
    """Import every run of ``source`` (a ``kind`` = tensorboard/mlflow/wandb source) into ``store``.

    ``metrics``: role -> metric name in the source (roles: val_loss, train_loss, tokens, params,
    tokens_per_step, flops; step for W&B CSVs), overriding :data:`DEFAULT_NAMES`. ``params``: a
    parameter count for every run or run name -> count [count]. ``tokens_per_step``: tokens per
    optimizer step when no tokens metric is logged [tokens/step]. ``experiment``: the MLflow
    experiment to read (default: all). ``loss_unit``: "nats" or "bits" per token (bits x ln 2).
    """
    opts = ImportOptions(metrics=dict(metrics or {}), params=params, tokens_per_step=tokens_per_step,
                         loss_unit=loss_unit)
    opts.check()
    if experiment is not None and kind != "mlflow":
        raise ScalingLabError("--experiment: only an MLflow import has experiments")
    if "step" in opts.metrics and kind != "wandb":
        raise ScalingLabError("--metric step=...: only a W&B CSV export has a step column to choose")
    check_store(store)
    source_id, runs, notes = read_source(kind, source, experiment=experiment, step_column=opts.metrics.get("step"))
    if isinstance(params, Mapping):
        unknown = sorted(set(params) - {r.name for r in runs})
        if unknown:
            raise ScalingLabError(f"--params {unknown[0]}=...: no run of that name in {os.fspath(source)}; runs are: "
                                  + ", ".join(repr(r.name) for r in runs))
    imported = [resolve_run(run, opts) for run in runs]
    sweep_id, ids = write_runs(store, kind, source_id, experiment, opts, imported)
    notes = notes + _summary_notes(imported, opts)
    return ImportResult(store=os.fspath(store), sweep_id=sweep_id, sweep=sweep_name(kind, source_id, experiment),
                        run_ids=ids, runs=imported, notes=notes)


def read_source(kind: str, source: str | os.PathLike[str], *, experiment: str | None = None,
                step_column: str | None = None) -> tuple[str, list[SourceRun], list[str]]:
    """(source id, runs as the tracker holds them, notes) of ``source`` read by the ``kind`` reader."""
    text = os.fspath(source)
    if kind == "tensorboard":
        return tensorboard.read_runs(text)
    if kind == "mlflow":
        return mlflow.read_runs(text, experiment=experiment)
    if kind == "wandb":
        return wandb.read_runs(text, step_column=step_column)
    raise ScalingLabError(f"unknown importer {kind!r}; choose one of {', '.join(KINDS)}")


def _summary_notes(runs: list[ImportedRun], opts: ImportOptions) -> list[str]:
    """Per-run notes, repeated ones counted once, then how units and FLOPs were handled."""
    counts: dict[str, int] = {}
    for run in runs:
        for note in run.notes:
            counts[note] = counts.get(note, 0) + 1
    notes = [note if n == 1 or note.startswith("run ") else f"{note} ({n} runs)" for note, n in counts.items()]
    if opts.loss_unit == "bits":
        notes.append("losses converted from bits/token to nats/token (x ln 2)")
    else:
        notes.append("losses read as nats/token (use --loss-unit bits for bits/token)")
    if "flops" not in opts.metrics:
        notes.append("flops = 6 * params * tokens (C = 6ND, Kaplan et al. 2020)")
    return notes

