"""Load a table of training runs into canonical columns.

One row is one trained model (or one checkpoint of one). Canonical columns and units:

- ``params``: N, parameter count as given by the source; whether embedding parameters are
  counted is the source's convention (Kaplan et al. 2020 leave them out, Hoffmann et al. 2022
  count them).
- ``tokens``: D, training tokens seen. ``flops``: C, training compute in FLOPs (a count).
- ``loss``: nats per token. ``step`` (optional): optimizer steps, >= 0 (laws that take its log
  check > 0).
- ``budget`` (optional): the FLOP budget (FLOPs) an IsoFLOP run belongs to, > 0.
- ``group`` (optional): a free-form label such as a model family or language, kept as text.
- ``run`` (optional): a run id tying the checkpoints of one training curve together, kept as text.

When exactly two of params/tokens/flops are present, the third is derived with
C = 6ND (Kaplan et al. 2020, sec. 2.1). Every other column is kept unchanged.

Counts that cannot be counts: a derived token or parameter count below 1 is an error naming the
column and the likely slip (FLOPs given in PF-days: 1 PF-day = 8.64e19 FLOPs). Notes (in
``Runs.notes``, which a fit's summary prints) flag values that look like a unit slip: every
parameter (or token) count below 1e5 (millions or billions: 125 for 125M), losses above 20
(a perplexity?), a loss column named like bits, and losses below 1e-3 nats/token.
Row numbers in messages and in ``Runs.data.index`` are 1-based data rows of the
source (row 1 is the first row after the header).

This module reads and validates cells; the column names and aliases live in
:mod:`scalinglab.run_columns`, the derivation of the third count and the unit-slip notes in
:mod:`scalinglab.run_checks`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError
from scalinglab.run_checks import derive_counts, number_text, unit_notes
from scalinglab.run_columns import (
    ALIASES,
    ALL_COLUMNS,
    CANONICAL,
    NUMERIC,
    OPTIONAL,
    TEXT,
    column_key,
    missing_message,
    quoted_columns,
    rename_columns,
    resolve_columns,
    text_predicate,
)
from scalinglab.stores.table import is_store_file, read_store, store_params
from scalinglab.tables import read_table, short_reason

__all__ = ["CANONICAL", "OPTIONAL", "ALIASES", "Runs", "column_key", "load_runs", "quoted_columns"]


@dataclass(repr=False)
class Runs(Displayed):
    """A validated table of runs.

    ``data`` has canonical column names (params [count], tokens [count], flops [FLOPs],
    loss [nats/token], optional step [optimizer steps], budget [FLOPs], group and run [text]) stored as float64,
    plus any other source columns unchanged. Its index holds the source's 1-based data-row
    numbers. ``source`` is the file path or ``"<DataFrame>"``; ``notes`` says how the table
    was read (aliases used, derived columns, dropped rows); ``warnings`` repeats the notes on values
    that look like a unit slip (counts in millions, perplexities as losses, ...).
    """

    _display = (("runs", "", len), ("source", ""),
                *((x, unit, lambda r, x=x: r.column(x) if r.has(x) else None) for x, unit in (
                    ("params", "parameters"), ("tokens", "tokens"), ("flops", "FLOPs"), ("loss", "nats/token"))))

    data: pd.DataFrame
    source: str = "<DataFrame>"
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the notes that look like a unit slip (also in notes)

    def __len__(self) -> int:
        return len(self.data)

    def has(self, name: str) -> bool:
        """Whether column ``name`` is present."""
        return name in self.data.columns

    def column(self, name: str) -> np.ndarray:
        """A copy of column ``name`` as float64 (units as in the module docstring)."""
        if not self.has(name):
            raise ScalingLabError(missing_message(self.source, [name], "", self.data.columns))
        try:
            return self.data[name].to_numpy(dtype=np.float64, copy=True)
        except (TypeError, ValueError) as exc:
            raise ScalingLabError(
                f"{self.source}: column '{name}' is not numeric ({short_reason(exc)})") from None

    def data_range(self) -> dict[str, list[float]] | None:
        """[min, max] of params, tokens and flops (counts, FLOPs) over the rows, for those present
        (flops = 6ND when derived); None when none is. Stored in a fit as ``FitResult.data_range``."""
        out: dict[str, list[float]] = {}
        for c in ("params", "tokens", "flops"):
            if self.has(c):
                v = self.column(c)
                v = v[np.isfinite(v) & (v > 0)]
                if v.size:
                    out[c] = [float(v.min()), float(v.max())]
        return out or None

    def require(self, names: Sequence[str], why: str = "") -> None:
        """Raise ScalingLabError naming the source if any of ``names`` is absent.

        ``why`` completes "(needed by ...)", e.g. ``why="law chinchilla"``.
        """
        missing = [n for n in names if not self.has(n)]
        if missing:
            raise ScalingLabError(missing_message(self.source, missing, why, self.data.columns))


def load_runs(source: str | os.PathLike[str] | pd.DataFrame | Runs,
              columns: Mapping[str, str] | None = None, *, drop_highest_loss: int = 0,
              curves: bool = False) -> Runs:
    """Read, rename, validate and complete a table of runs.

    ``source`` is a file (.csv, .tsv, .parquet/.pq, .jsonl/.ndjson, .json array of
    records; any other extension is read as CSV), a DataFrame, or a Runs (returned as is
    when no option is given, otherwise re-processed). ``columns`` maps canonical names to
    source column names and overrides the aliases. ``drop_highest_loss=k`` drops the k
    highest-loss rows as Besiroglu et al. 2024 did: only rows with loss strictly below
    the k-th largest loss are kept, so ties at that value go too. ``curves=True`` reads a lab run
    store's every evaluation (one row per checkpoint, with ``run`` and ``step``) instead of one row
    per finished run; it does not apply to other sources.

    Raises ScalingLabError (one line, naming the source, row and column) on bad input.
    """
    store = False  # a lab run store counts its own parameters and tokens: no notes on their size
    if isinstance(source, Runs):
        if columns is None and drop_highest_loss == 0:
            return source
        name, df, notes = source.source, source.data.copy(), list(source.notes)
    elif isinstance(source, pd.DataFrame):
        name, df, notes = "<DataFrame>", _renumber(source.copy()), []
    elif isinstance(source, (str, os.PathLike)):
        name, notes = os.fspath(source), []
        df = _renumber(_read_source(Path(name), name, columns, notes, curves))
        store = _is_store(Path(name))
    else:
        raise ScalingLabError(
            f"load_runs: expected a file path, a DataFrame or Runs, got {type(source).__name__}")
    return _prepare(df, str(name), notes, columns, drop_highest_loss, store)


def _is_store(path: Path) -> bool:
    return path.is_file() and is_store_file(path)


def _read_source(path: Path, name: str, columns: Mapping[str, str] | None, notes: list[str],
                 curves: bool = False) -> pd.DataFrame:
    """A table file, or the finished runs (``curves``: every evaluation) of a lab run store (SQLite:
    .db/.sqlite or its magic header)."""
    if path.is_file() and is_store_file(path):
        df = read_store(path, "metrics" if curves else "runs")
        notes.append(f"read every evaluation of the finished runs of run store {name} (validation loss as loss)"
                     if curves else f"read the finished runs of run store {name} (final validation loss as loss)")
        notes.extend(df.attrs.get("notes", []))
        store_params(df, read_store(path, "runs") if curves else df, notes,
                      convert=columns is None or "params" not in columns)
        return df
    return read_table(path, name, text_predicate(columns))


def _prepare(df: pd.DataFrame, name: str, notes: list[str],
             columns: Mapping[str, str] | None, k: int, store: bool = False) -> Runs:
    """Check shape, map columns, validate cells, drop rows, derive, reorder."""
    if df.shape[1] == 0 or len(df) == 0:
        what = "file" if name != "<DataFrame>" else "table"
        raise ScalingLabError(f"{name}: the {what} is empty" if df.shape[1] == 0
                              else f"{name}: has a header but no rows")
    df.columns = [str(c) for c in df.columns]
    dups = sorted(set(df.columns[df.columns.duplicated()]))
    if dups:
        raise ScalingLabError(f"{name}: duplicate column names: {quoted_columns(dups)}")
    chosen = resolve_columns(df, name, columns, notes)
    if not any(c in chosen for c in NUMERIC):
        raise ScalingLabError(
            f"{name}: found none of the columns params, tokens, flops, loss, step (nor aliases "
            f"such as N, D, C, model_size, val_loss); columns are: {quoted_columns(df.columns)}")
    df = rename_columns(df, chosen, notes)
    _validate(df, name, chosen)
    df = _drop_highest(df, name, k, notes)
    derive_counts(df, name, notes, chosen)
    suspect = unit_notes(df, chosen, notes, counts=not store)
    order = [c for c in ALL_COLUMNS if c in df.columns] + [c for c in df.columns if c not in ALL_COLUMNS]
    return Runs(data=df[order], source=name, notes=notes, warnings=suspect)


def _validate(df: pd.DataFrame, name: str, chosen: dict[str, str]) -> None:
    """Convert canonical columns in place; raise on the first bad cell in row order."""
    first: tuple[int, int, str, str] | None = None  # (position, column position, column, reason)
    for j, col in enumerate(df.columns):
        if col not in ALL_COLUMNS:
            continue
        if col in TEXT:
            values, pos, reason = _text_cells(df[col], col)
        else:  # a step count may be 0 (a checkpoint at the start); laws that take its log check > 0
            values, pos, reason = _numeric_cells(df[col], allow_zero=(col == "step"))
        df[col] = values
        if pos >= 0 and (first is None or (pos, j) < first[:2]):
            first = (pos, j, col, reason)
    if first is not None:
        pos, _, col, reason = first
        label = f"'{col}'" if chosen[col] == col else f"'{chosen[col]}' ({col})"
        raise ScalingLabError(f"{name}: row {df.index[pos]}, column {label}: {reason}")


def _numeric_cells(s: pd.Series, allow_zero: bool = False) -> tuple[np.ndarray, int, str]:
    """float64 values and (position, reason) of the first bad cell, or (-1, "")."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        values = s.to_numpy(dtype=np.float64, na_value=np.nan)
        notnum = np.zeros(len(s), dtype=bool)
    else:
        parsed = [_to_float(v) for v in s]
        notnum = np.array([x is None for x in parsed], dtype=bool)
        values = np.array([math.nan if x is None else x for x in parsed], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        nonpos = values < 0 if allow_zero else values <= 0
    bad = np.flatnonzero(notnum | ~np.isfinite(values) | nonpos)
    if bad.size == 0:
        return values, -1, ""
    i = int(bad[0])
    raw = s.iloc[i]
    if notnum[i]:
        return values, i, f"value {_show(raw)} is not a number"
    if not np.isfinite(values[i]):
        return values, i, f"missing or not finite ({number_text(values[i])})"
    return values, i, f"must be {'>=' if allow_zero else '>'} 0, got {number_text(values[i])}"


def _text_cells(s: pd.Series, what: str = "group") -> tuple[np.ndarray, int, str]:
    """Labels as str; (position, reason) of the first missing label, or (-1, "")."""
    blank = [i for i, v in enumerate(s) if _is_blank(v)]
    values = np.array(["" if _is_blank(v) else str(v) for v in s], dtype=object)
    return values, (blank[0] if blank else -1), f"missing {what} label"


def _drop_highest(df: pd.DataFrame, name: str, k: int, notes: list[str]) -> pd.DataFrame:
    """Keep rows with loss strictly below the k-th largest loss (Besiroglu et al. 2024)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ScalingLabError(f"{name}: drop_highest_loss must be an integer, got {k!r}")
    if k == 0:
        return df
    n = len(df)
    if k < 0 or k >= n:
        raise ScalingLabError(f"{name}: drop_highest_loss={k} must be between 0 and {n - 1} "
                              f"(the table has {n} rows)")
    if "loss" not in df.columns:
        raise ScalingLabError(missing_message(name, ["loss"], "drop_highest_loss", df.columns))
    loss = df["loss"].to_numpy()
    threshold = np.sort(loss)[-k]
    keep = loss < threshold
    if not keep.any():
        raise ScalingLabError(f"{name}: drop_highest_loss={k} would drop every row "
                              f"(all losses equal {number_text(threshold)})")
    gone = np.flatnonzero(~keep)
    gone = gone[np.argsort(-loss[gone], kind="stable")]
    m = len(gone)
    listed = [str(r) for r in df.index[gone[:10]]] + ([f"and {m - 10} more"] if m > 10 else [])
    ties = f"; {k} requested, ties at loss {number_text(threshold)} dropped too" if m > k else ""
    what = "the highest-loss row (row" if m == 1 else f"the {m} highest-loss rows (rows"
    notes.append(f"dropped {what} {', '.join(listed)}{ties})")
    return df[keep]


def _renumber(df: pd.DataFrame) -> pd.DataFrame:
    """Index rows 1..n (the source's data-row numbers)."""
    df = df.reset_index(drop=True)
    df.index = pd.RangeIndex(1, len(df) + 1)
    return df


def _to_float(v: object) -> float | None:
    """A cell as float (NaN for blank), or None if it is not a number."""
    if _is_blank(v):
        return math.nan
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, str):
        if "_" in v:  # float() would accept '1_000'
            return None
        v = v.strip()
    try:
        return float(v)  # type: ignore[arg-type]
    except OverflowError:
        return math.inf
    except (TypeError, ValueError):
        return None


def _is_blank(v: object) -> bool:
    """None, NA, NaN or an all-whitespace string."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return True
    return isinstance(v, str) and not v.strip()


def _show(v: object) -> str:
    """A raw cell for messages, quoted and on one line."""
    text = repr(v) if isinstance(v, str) else repr(str(v))
    return text if len(text) <= 40 else text[:37] + "...'"
