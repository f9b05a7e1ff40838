"""Loss curves with their learning rates, as the schedule law fits them (:mod:`scalinglab.analysis.schedule`,
``references.md L1``): from a table (a file or a DataFrame) or a lab run store. Units: steps are
optimiser steps, losses nats/token, learning rates as the trainer sets them, model sizes as the
table's size column counts them (a run store's: parameters with embeddings).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.analysis.lr_schedules import lrs_from_records, parse_schedule, schedule_lrs
from scalinglab.errors import ScalingLabError, plain_repr, positive_number, table_path
from scalinglab.stores.table import is_store_file, read_store
from scalinglab.tables import read_table

Array = np.ndarray

__all__ = ["Curve", "load_schedule_curves", "schedule_columns"]


@dataclass(frozen=True)
class Curve:
    """One run: evaluation ``steps`` and ``loss`` (nats/token) and its per-step learning rates ``lrs``
    (steps 1..T, T >= the last evaluation); ``size``: its model size as the table's size column gives it
    (a run store's: parameters with embeddings), None without one."""

    name: str
    steps: Array
    loss: Array
    lrs: Array
    size: float | None = None


def _column(df: pd.DataFrame, *names: str) -> str | None:
    lower = {str(c).strip().lower(): c for c in df.columns}
    return next((lower[n] for n in names if n in lower), None)


def schedule_columns(df: pd.DataFrame) -> dict[str, str] | None:
    """The columns :func:`load_schedule_curves` reads from ``df`` (``step``, ``loss``, ``lr`` or
    ``schedule``, and ``run`` and ``size`` where present; absent keys are not in the table), or None
    when ``df`` is not a table of curves with learning rates (no step, loss, or lr/schedule column)."""
    step_c, loss_c = _column(df, "step", "steps"), _column(df, "loss", "val_loss")
    lr_c, sched_c = _column(df, "lr", "learning_rate"), _column(df, "schedule")
    if step_c is None or loss_c is None or (lr_c is None and sched_c is None):
        return None
    found = {"step": step_c, "loss": loss_c, "lr": lr_c, "schedule": sched_c,
             "run": _column(df, "run", "run_id") or sched_c, "size": _column(df, "params", "model_size", "size", "n_params")}
    return {k: v for k, v in found.items() if v is not None}


def load_schedule_curves(data: Any, name: str = "curves", params: float | None = None) -> list[Curve]:
    """Curves from a table (file path or DataFrame): columns ``step`` and ``loss`` (or ``val_loss``),
    a ``run`` column naming each curve (else ``schedule``, else the table is one run), and the learning
    rate as ``lr`` (recorded at the evaluation steps, :func:`lrs_from_records`) or ``schedule`` (a
    description, :func:`parse_schedule`; its steps default to the run's last step). A ``params`` (or
    ``model_size``, ``size``) column must hold one value: the constants are per model size; ``params``
    keeps the rows of that size. A lab run store (``.db``, schema 3) gives every evaluation of its
    finished runs (run = run id, loss = validation loss, lr as recorded, params with embeddings)."""
    df = data if isinstance(data, pd.DataFrame) else _read(table_path(name, data), name)
    cols = schedule_columns(df)
    if cols is None:
        raise ScalingLabError(f"{name}: needs columns step, loss and lr (or schedule), has "
                              f"{', '.join(map(str, df.columns)) or 'none'}")
    step_c, loss_c, lr_c, sched_c = cols["step"], cols["loss"], cols.get("lr"), cols.get("schedule")
    run_c, size_c = cols.get("run"), cols.get("size")
    sizes = [] if size_c is None else sorted(pd.to_numeric(df[size_c], errors="coerce").dropna().unique())
    listed = ", ".join(f"{v:.12g}" for v in sizes)
    if params is not None:
        size = positive_number("params", params)
        if size not in sizes:
            raise ScalingLabError(f"{name}: no runs of model size {size:g} (column "
                                  f"{size_c or 'params'}: {listed or 'absent'})")
        df = df[pd.to_numeric(df[size_c], errors="coerce") == size]
    elif size_c is not None and df[size_c].nunique() > 1:
        raise ScalingLabError(f"{name}: column {size_c} holds {df[size_c].nunique()} model sizes ({listed}); the "
                              "law's constants are per model size: choose one (params, --params)")
    groups = [("all", df)] if run_c is None else list(df.groupby(run_c, sort=False))
    return [_curve(str(key), part, name, step_c, loss_c, lr_c, sched_c, size_c) for key, part in groups]


def _read(path: Path, name: str) -> pd.DataFrame:
    """A table file, or every evaluation of a run store's finished runs (refused without learning rates)."""
    if not (path.is_file() and is_store_file(path)):
        return read_table(path, name)
    df = read_store(path, "metrics")
    if df.empty:
        raise ScalingLabError(f"{name}: the run store holds no evaluation of a finished run")
    if df["lr"].isna().any():
        raise ScalingLabError(f"{name}: {'some' if df['lr'].notna().any() else 'no'} evaluations of its finished "
                              "runs record their learning rate (the lab records it from store schema 3 on)")
    return df


def _numbers(part: pd.DataFrame, col: str, name: str, low: float, low_open: bool = False) -> Array:
    values = pd.to_numeric(part[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | ((values <= low) if low_open else (values < low))
    if bad.any():
        row = part.index[int(np.flatnonzero(bad)[0])]
        raise ScalingLabError(f"{name}: row {row}, column {col}: must be a finite number "
                              f"{'>' if low_open else '>='} {low:g}, got {plain_repr(part[col].loc[row])}")
    return values


def _curve(key: str, part: pd.DataFrame, name: str, step_c: str, loss_c: str, lr_c: str | None,
           sched_c: str | None, size_c: str | None = None) -> Curve:
    part = part.sort_values(step_c, kind="stable")
    steps = _numbers(part, step_c, name, 0.0)
    loss = _numbers(part, loss_c, name, 1e-3)
    if np.any(np.diff(steps) <= 0):
        raise ScalingLabError(f"{name}: run {key!r} repeats a step; one evaluation per step and run")
    if lr_c is not None:
        lrs = lrs_from_records(steps, _numbers(part, lr_c, name, 0.0))
    else:
        texts = part[sched_c].astype(str).unique()
        if len(texts) != 1:
            raise ScalingLabError(f"{name}: run {key!r} has {len(texts)} schedule descriptions; give one per run")
        sched = parse_schedule(texts[0])
        lrs = schedule_lrs(sched.filled(steps=int(steps[-1])))
        if lrs.size < steps[-1]:
            raise ScalingLabError(f"{name}: run {key!r}: schedule {texts[0]!r} ends at step {lrs.size}, "
                                  f"before the last evaluation ({int(steps[-1])})")
    if not np.any(lrs > 0):
        raise ScalingLabError(f"{name}: run {key!r} has no positive learning rate")
    size = None if size_c is None else float(pd.to_numeric(part[size_c], errors="coerce").iloc[0])
    return Curve(key, steps, loss, lrs, size)
