"""What kind of data the report was given, decided by the analysis modules' own column readers.

* ``schedule``: loss curves with their learning rates (``step``, ``loss``, ``lr`` or ``schedule``;
  :func:`scalinglab.analysis.schedule_curves.schedule_columns`): the schedule-law report.
* ``observational``: a benchmark table of public models (a model, a family and a compute column and
  at least two of Ruan et al.'s benchmarks; :func:`scalinglab.analysis.observational.benchmark_columns`):
  the observational-scaling report.
* ``runs``: anything else ``sl.load_runs`` reads: the ordinary report, to which

  - an over-training section is added when the runs sit at a few token multipliers M = D/N
    (:func:`over_training_design`); Gadre et al.'s ``model_losses.csv`` (one row per run and
    validation set, :func:`scalinglab.analysis.overtraining.is_gadre_table`) is read as its RedPajama
    runs on ``c4_val``, the paper's Figure 1 setting, and the whole report uses those rows;
  - a schedule section is added when the data are a lab run store whose evaluations record the
    learning rate (store schema 3, ``metrics.lr``).

A Runs object or a store is never a schedule or benchmark table; a table that neither reader accepts is
a runs table, as before.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.analysis.observational import benchmark_columns
from scalinglab.analysis.overtraining import gadre_runs, is_gadre_table
from scalinglab.analysis.schedule_curves import schedule_columns
from scalinglab.errors import ScalingLabError
from scalinglab.io import Runs, load_runs
from scalinglab.report.fit_plots import RunsSource
from scalinglab.stores.table import is_store_file, read_store
from scalinglab.tables import table_frame

#: Distinct M = D/N levels (2 significant digits) an over-training design has: at least 3, at most 12,
#: and on average 3 runs or more per level (an IsoFLOP sweep has nearly as many levels as runs).
MIN_LEVELS, MAX_LEVELS, RUNS_PER_LEVEL = 3, 12, 3
#: Column names read as a downstream error (a fraction), in order of preference.
ERROR_NAMES = ("error", "err", "downstream_error", "top1_error", "err_avg_subset", "err_avg")

__all__ = ["InputKind", "detect_input", "error_column", "multiplier_levels", "over_training_design"]


@dataclass
class InputKind:
    """The kind of data (module docstring): ``name`` (runs, schedule, observational), ``data`` (what the
    runs report reads: the data given, or the selected rows of Gadre et al.'s table), ``table`` (the
    table read, None for a store or Runs), ``overtrain`` (add the over-training section),
    ``store_lr`` (add the schedule section of a run store), ``error`` (the downstream-error column) and
    ``notes`` (how the data were read)."""

    name: str
    data: RunsSource
    table: pd.DataFrame | None = None
    overtrain: bool = False
    store_lr: bool = False
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def multiplier_levels(params: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """The distinct token multipliers M = D/N (tokens per parameter) of the runs, to 2 significant digits."""
    m = np.asarray(tokens, dtype=float) / np.asarray(params, dtype=float)
    return np.unique([float(f"{v:.2g}") for v in m[np.isfinite(m) & (m > 0)]])


def over_training_design(params: np.ndarray, tokens: np.ndarray) -> bool:
    """Whether runs sit at a few token multipliers: between :data:`MIN_LEVELS` and :data:`MAX_LEVELS`
    distinct M, with :data:`RUNS_PER_LEVEL` runs per level on average."""
    levels = multiplier_levels(params, tokens)
    return MIN_LEVELS <= levels.size <= MAX_LEVELS and len(params) >= RUNS_PER_LEVEL * levels.size


def error_column(table: pd.DataFrame) -> str | None:
    """The first column named as a downstream error (:data:`ERROR_NAMES`, case-insensitive) holding
    fractions in [0, 1], or None."""
    lower = {str(c).strip().lower(): c for c in table.columns}
    for name in ERROR_NAMES:
        col = lower.get(name)
        if col is not None:
            v = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            if v.size and v.min() >= 0.0 and v.max() <= 1.0:
                return str(col)
    return None


def _store_records_lr(path: Path) -> bool:
    metrics = read_store(path, "metrics")
    return bool(not metrics.empty and "lr" in metrics and metrics["lr"].notna().all())


def detect_input(data: RunsSource, columns: Mapping[str, str] | None = None) -> InputKind:
    """The kind of ``data`` (module docstring); ``columns`` maps canonical names to the table's, as for
    ``sl.load_runs``."""
    if isinstance(data, Runs):
        return InputKind("runs", data)
    if isinstance(data, (str, os.PathLike)) and Path(data).is_file() and is_store_file(Path(data)):
        return InputKind("runs", data, store_lr=_store_records_lr(Path(data)))
    table = table_frame(data, "data")
    if schedule_columns(table) is not None:
        return InputKind("schedule", data, table)
    if benchmark_columns(table) is not None:
        return InputKind("observational", data, table)
    if is_gadre_table(table):
        runs = gadre_runs(table)
        note = (f"Gadre et al.'s table of runs x validation sets: its {len(runs)} RedPajama (rpj) runs on c4_val "
                "are used (the paper's Figure 1 setting; 'scalinglab overtrain backtest --train-dataset/--val-set' "
                "reads the others)")
        return InputKind("runs", runs, table, overtrain=True, notes=[note])
    try:
        runs = load_runs(table, columns)
    except ScalingLabError:
        return InputKind("runs", data, table)  # the ordinary report says what is wrong with it
    overtrain = runs.has("params") and runs.has("tokens") and over_training_design(runs.column("params"),
                                                                                   runs.column("tokens"))
    return InputKind("runs", data, table, overtrain=overtrain, error=error_column(table) if overtrain else None)
