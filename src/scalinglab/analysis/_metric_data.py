"""Reading a table of downstream metrics against a scale column, for the emergence analyses.

A metric table has one row per model (or checkpoint): a metric column (any name, e.g.
``accuracy`` as a fraction 0-1) and a scale column: ``flops`` (training FLOPs, a count),
``params`` (parameters, as counted by the data), ``tokens`` or ``loss`` (nats/token).
:func:`scalinglab.load_runs` is not used because it insists on validating every loss-like
column and rejects blanks; here a row whose metric or scale cell is blank is a model that was
not evaluated (or whose size is unknown) and is dropped with a note. Any other bad cell is an
error naming the file, the row (1-based data row) and the column.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.errors import ScalingLabError, column_name, finite_result, positive_number
from scalinglab.io import ALIASES, Runs, column_key, quoted_columns
from scalinglab.tables import read_table

#: Scale variables and their units.
SCALES: dict[str, str] = {
    "flops": "training FLOPs (a count)", "params": "parameters (as counted by the data)",
    "tokens": "training tokens", "loss": "loss (nats/token)"}


@dataclass
class MetricData:
    """Validated rows: ``x`` in the scale's units (> 0), ``y`` the metric, ``rows`` the source's
    1-based data-row numbers, ``extra`` other numeric columns asked for (same rows)."""

    x: np.ndarray
    y: np.ndarray
    rows: np.ndarray
    source: str
    metric: str
    x_name: str
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def read_metric_table(data: str | os.PathLike[str] | pd.DataFrame | Runs, metric: str, x: str = "flops", *,
                      columns: Mapping[str, str] | None = None, x_scale: float = 1.0, bounded: bool = True,
                      extra: Sequence[str] = (), labels: Sequence[str] = ()) -> MetricData:
    """Read ``data`` and return the metric and scale columns, validated.

    ``columns`` maps a name (the scale ``x``, ``metric`` or an ``extra`` name) to the source's
    column (e.g. ``{"flops": "FLOPs (1E21)"}``); ``x_scale`` multiplies the scale column (1e21
    for a column in units of 1e21 FLOPs). ``bounded``: the metric must lie in [0, 1] (a fraction).
    ``extra`` names more numeric columns, ``labels`` text columns (ids), returned for the same rows."""
    if not isinstance(x, str) or x not in SCALES:
        raise ScalingLabError(f"unknown scale column --x {x!r}: choose one of {', '.join(SCALES)}")
    x_scale = positive_number("--x-scale", x_scale)
    for i, name in enumerate((metric, *extra, *labels)):
        column_name("metric" if i == 0 else "column", name)
    df, source = _frame(data)
    mapping = dict(columns or {})
    x_col = _find(df, source, x, mapping, aliases=ALIASES.get(x, (x,)))
    m_col = _find(df, source, metric, mapping, aliases=(column_key(metric),))
    if x_col == m_col:
        raise ScalingLabError(f"{source}: the metric and the scale --x are the same column '{x_col}'")
    extra_cols = {name: _find(df, source, name, mapping, aliases=ALIASES.get(name, (column_key(name),)))
                  for name in extra}
    label_cols = {name: _find(df, source, name, mapping, aliases=(column_key(name),)) for name in labels}
    needed = {x: x_col, metric: m_col, **extra_cols}
    values = {name: _numbers(df[col], source, col) for name, col in needed.items()}
    blank = np.zeros(len(df), dtype=bool)
    for v in values.values():
        blank |= np.isnan(v)
    texts = {name: df[col].to_numpy(dtype=object) for name, col in label_cols.items()}
    for v in texts.values():
        blank |= np.array([u is None or (isinstance(u, float) and math.isnan(u)) or not str(u).strip() for u in v])
    needed.update(label_cols)
    notes: list[str] = []
    if blank.any():
        dropped = [str(r) for r in df.index[blank][:10]]
        more = f" and {int(blank.sum()) - 10} more" if blank.sum() > 10 else ""
        notes.append(f"dropped {int(blank.sum())} row(s) with a blank {', '.join(repr(c) for c in needed.values())} "
                     f"cell (rows {', '.join(dropped)}{more})")
    keep = ~blank
    rows = np.asarray(df.index[keep])
    with np.errstate(over="ignore"):
        xv, yv = finite_result(f"{x} x --x-scale", values[x][keep] * float(x_scale)), values[metric][keep]
    _check_range(xv, rows, source, x_col, "must be > 0 (its log is taken)", lambda v: v > 0)
    if bounded:
        _check_range(yv, rows, source, m_col, "is outside [0, 1]: give the metric as a fraction",
                     lambda v: (v >= 0) & (v <= 1))
    if x_col != x:
        notes.append(f"column '{x_col}' read as {x}" + (f" x {x_scale:g}" if x_scale != 1 else ""))
    elif x_scale != 1:
        notes.append(f"column '{x_col}' multiplied by {x_scale:g}")
    return MetricData(x=xv, y=yv, rows=rows, source=source, metric=m_col, x_name=x,
                      extra={k: values[k][keep] for k in extra},
                      labels={k: np.array([str(u) for u in v[keep]], dtype=object) for k, v in texts.items()},
                      notes=notes)


def _frame(data: object) -> tuple[pd.DataFrame, str]:
    """The table (index = 1-based data rows) and its name for messages."""
    if isinstance(data, Runs):
        return data.data, data.source
    if isinstance(data, pd.DataFrame):
        df, source = data.copy(), "<DataFrame>"
    elif isinstance(data, (str, os.PathLike)):
        source = os.fspath(data)
        df = read_table(Path(source), source)
    else:
        raise ScalingLabError(f"expected a table file, a DataFrame or Runs, got {type(data).__name__}")
    if df.shape[1] == 0 or len(df) == 0:
        raise ScalingLabError(f"{source}: the table has no rows")
    df = df.reset_index(drop=True)
    df.index = pd.RangeIndex(1, len(df) + 1)
    df.columns = [str(c) for c in df.columns]
    return df, source


def _find(df: pd.DataFrame, source: str, name: str, mapping: Mapping[str, str], aliases: Sequence[str]) -> str:
    """The source column for ``name``: mapped, exact, or an alias (case, spaces, _ and - ignored)."""
    if name in mapping:
        col = mapping[name]
        if col not in df.columns:
            raise ScalingLabError(f"{source}: column mapping {name}={col!r}: no such column; "
                                  f"columns are: {quoted_columns(df.columns)}")
        return col
    if name in df.columns:
        return name
    for alias in aliases:
        hits = [c for c in df.columns if column_key(c) == alias]
        if hits:
            return hits[0]
    hint = f"; map one with --col {name}=COLUMN" + (" (and --x-scale for units such as 1e21 FLOPs)"
                                                     if name in SCALES else "")
    raise ScalingLabError(f"{source}: no column '{name}'; columns are: {quoted_columns(df.columns)}{hint}")


def _numbers(s: pd.Series, source: str, col: str) -> np.ndarray:
    """float64 values (NaN for blank cells); a non-numeric cell is an error naming row and column."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    out = np.empty(len(s))
    for i, (row, v) in enumerate(s.items()):
        if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
            out[i] = math.nan
            continue
        try:
            if isinstance(v, bool):
                raise ValueError
            out[i] = float(v)
        except (TypeError, ValueError):
            raise ScalingLabError(f"{source}: row {row}, column '{col}': value {str(v)[:40]!r} "
                                  "is not a number") from None
    return out


def _check_range(v: np.ndarray, rows: np.ndarray, source: str, col: str, what: str, ok) -> None:
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(~(np.isfinite(v) & ok(v)))
    if bad.size:
        i = int(bad[0])
        raise ScalingLabError(f"{source}: row {rows[i]}, column '{col}': value {v[i]:g} {what}")
