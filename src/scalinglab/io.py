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
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.counting import flops_from, params_from, tokens_from
from scalinglab.display import Displayed
from scalinglab.errors import MIN_LOSS, ScalingLabError
from scalinglab.stores.table import is_store_file, read_store, store_params
from scalinglab.tables import read_table, short_reason

__all__ = ["CANONICAL", "OPTIONAL", "ALIASES", "Runs", "column_key", "load_runs", "quoted_columns"]

CANONICAL: tuple[str, ...] = ("params", "tokens", "flops", "loss")
OPTIONAL: tuple[str, ...] = ("step", "budget", "group", "run")
_NUMERIC: tuple[str, ...] = CANONICAL + ("step",)  # at least one of these makes a table of runs
_TEXT: tuple[str, ...] = ("group", "run")  # labels, kept as text
_ALL: tuple[str, ...] = CANONICAL + OPTIONAL

#: Accepted spellings per canonical name, highest priority first. Names are compared
#: case-insensitively, ignoring spaces, underscores and hyphens ("Model Size" == model_size).
ALIASES: dict[str, tuple[str, ...]] = {
    "params": ("params", "n", "modelsize", "nparams", "numparams", "parameters", "modelparams"),
    "tokens": ("tokens", "d", "numtokens", "ntokens", "trainingtokens", "traintokens",
               "datasize", "datasetsize"),
    "flops": ("flops", "c", "trainingflop", "trainingflops", "compute", "trainflops", "flop"),
    "loss": ("loss", "valloss", "validationloss", "evalloss", "finalloss", "testloss", "trainloss"),
    "step": ("step", "steps", "iteration", "iter", "s"),
    "budget": ("budget", "flopbudget", "computebudget", "isoflop"),
    "group": ("group", "groups"),
    "run": ("run", "runid", "runname", "modelid"),
}

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
            raise ScalingLabError(_missing_message(self.source, [name], "", self.data.columns))
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
            raise ScalingLabError(_missing_message(self.source, missing, why, self.data.columns))


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
    return read_table(path, name, _text_predicate(columns))


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
    chosen = _resolve(df, name, columns, notes)
    if not any(c in chosen for c in _NUMERIC):
        raise ScalingLabError(
            f"{name}: found none of the columns params, tokens, flops, loss, step (nor aliases "
            f"such as N, D, C, model_size, val_loss); columns are: {quoted_columns(df.columns)}")
    df = _rename(df, chosen, notes)
    _validate(df, name, chosen)
    df = _drop_highest(df, name, k, notes)
    _derive(df, name, notes, chosen)
    suspect = _check_units(df, chosen, notes, counts=not store)
    order = [c for c in _ALL if c in df.columns] + [c for c in df.columns if c not in _ALL]
    return Runs(data=df[order], source=name, notes=notes, warnings=suspect)


def _resolve(df: pd.DataFrame, name: str, columns: Mapping[str, str] | None,
             notes: list[str]) -> dict[str, str]:
    """Canonical name -> source column, from ``columns`` first, then the aliases."""
    chosen: dict[str, str] = {}
    if columns is not None and not isinstance(columns, Mapping):
        raise ScalingLabError(f"{name}: the column mapping must map canonical names to column names")
    for canon, src in (columns or {}).items():
        if canon not in _ALL:
            raise ScalingLabError(f"{name}: column mapping names unknown column '{canon}'; "
                                  f"known names are: {', '.join(_ALL)}")
        if not isinstance(src, str) or src not in df.columns:
            near = [c for c in df.columns if column_key(c) == column_key(src)]
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise ScalingLabError(f"{name}: column mapping {canon}={src!r}: no such "
                                  f"column{hint}; columns are: {quoted_columns(df.columns)}")
        if src in chosen.values():
            raise ScalingLabError(f"{name}: column mapping maps two names to column '{src}'")
        chosen[canon] = src
        if src != canon:
            notes.append(f"column '{src}' read as {canon} (column mapping)")
    used = set(chosen.values())
    for canon in _ALL:
        cands = [c for c in df.columns if c not in used and column_key(c) in ALIASES[canon]]
        if canon in chosen or not cands:
            continue
        best = canon if canon in cands else min(cands, key=lambda c: ALIASES[canon].index(column_key(c)))
        chosen[canon] = best
        used.add(best)
        if best != canon:
            others = [c for c in cands if c != best]
            extra = f" (also matched {quoted_columns(others)}, not used)" if others else ""
            notes.append(f"column '{best}' read as {canon}{extra}")
    return chosen


def _rename(df: pd.DataFrame, chosen: dict[str, str], notes: list[str]) -> pd.DataFrame:
    """Rename chosen columns to canonical names; move aside unused exact-name clashes."""
    renames = {src: canon for canon, src in chosen.items()}
    for col in df.columns:
        if col in _ALL and col not in renames:  # e.g. 'loss' present but columns={'loss': 'x'}
            new = f"{col}_unused"
            while new in df.columns:
                new += "_"
            renames[col] = new
            notes.append(f"column '{col}' renamed to '{new}' (columns= maps {col} to "
                         f"'{chosen[col]}')")
    return df.rename(columns=renames)


def _validate(df: pd.DataFrame, name: str, chosen: dict[str, str]) -> None:
    """Convert canonical columns in place; raise on the first bad cell in row order."""
    first: tuple[int, int, str, str] | None = None  # (position, column position, column, reason)
    for j, col in enumerate(df.columns):
        if col not in _ALL:
            continue
        if col in _TEXT:
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
        return values, i, f"missing or not finite ({_fmt(values[i])})"
    return values, i, f"must be {'>=' if allow_zero else '>'} 0, got {_fmt(values[i])}"


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
        raise ScalingLabError(_missing_message(name, ["loss"], "drop_highest_loss", df.columns))
    loss = df["loss"].to_numpy()
    threshold = np.sort(loss)[-k]
    keep = loss < threshold
    if not keep.any():
        raise ScalingLabError(f"{name}: drop_highest_loss={k} would drop every row "
                              f"(all losses equal {_fmt(threshold)})")
    gone = np.flatnonzero(~keep)
    gone = gone[np.argsort(-loss[gone], kind="stable")]
    m = len(gone)
    listed = [str(r) for r in df.index[gone[:10]]] + ([f"and {m - 10} more"] if m > 10 else [])
    ties = f"; {k} requested, ties at loss {_fmt(threshold)} dropped too" if m > k else ""
    what = "the highest-loss row (row" if m == 1 else f"the {m} highest-loss rows (rows"
    notes.append(f"dropped {what} {', '.join(listed)}{ties})")
    return df[keep]


def _derive(df: pd.DataFrame, name: str, notes: list[str], chosen: Mapping[str, str] | None = None) -> None:
    """Fill the one missing column of params/tokens/flops from the other two (C = 6ND); a derived
    count below 1 is an error naming the likely slip (FLOPs in PF-days)."""
    have = [c for c in ("params", "tokens", "flops") if c in df.columns]
    if len(have) == 3:
        _check_six_nd(df, notes)
    if len(have) != 2:
        return
    get = {c: df[c].to_numpy(dtype=np.float64) for c in have}
    with np.errstate(over="ignore", under="ignore"):
        if "flops" not in get:
            col, how, values = "flops", "6 * params * tokens", flops_from(get["params"], get["tokens"])
        elif "tokens" not in get:
            col, how, values = "tokens", "flops / (6 * params)", tokens_from(get["params"], get["flops"])
        else:
            col, how, values = "params", "flops / (6 * tokens)", params_from(get["tokens"], get["flops"])
    bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
    if bad.size:  # leave the column out: a law that needs it then says it is missing
        notes.append(f"could not derive {col} = {how}: not a finite positive number at row "
                     f"{df.index[int(bad[0])]} ({_fmt(values[int(bad[0])])}); column left out")
        return
    if col != "flops":
        _check_derived_count(df, name, col, how, values, chosen or {})
    df[col] = values
    notes.append(f"derived {col} = {how} (C = 6ND) for {len(df)} rows")


def _label(col: str, chosen: Mapping[str, str]) -> str:
    """A canonical column as messages name it: 'flops', or 'compute' (flops) when read under an alias."""
    src = chosen.get(col, col)
    return f"'{col}'" if src == col else f"'{src}' ({col})"


def _check_derived_count(df: pd.DataFrame, name: str, col: str, how: str, values: np.ndarray,
                         chosen: Mapping[str, str]) -> None:
    """A derived token or parameter count below 1 cannot be a count: raise, naming the likely slip."""
    small = np.flatnonzero(values < 1.0)
    if small.size == 0:
        return
    i = int(small[0])
    other = "params" if col == "tokens" else "tokens"
    unit = "token" if col == "tokens" else "parameter"
    raise ScalingLabError(
        f"{name}: row {df.index[i]}: derived {col} = {how} = {_fmt(values[i])}, below one {unit} "
        f"({small.size} of {len(values)} rows): column {_label('flops', chosen)} is likely not in FLOPs "
        f"(PF-days? 1 PF-day = 8.64e19 FLOPs), or column {_label(other, chosen)} is not a plain count "
        f"(millions or billions?); convert the column, or give {col} directly")


#: Loss columns named like these hold bits, not nats (bits per token, byte or character).
_BITS_KEYS = ("bit", "bpb", "bpc", "bpt", "log2")


def _check_units(df: pd.DataFrame, chosen: Mapping[str, str], notes: list[str], counts: bool = True) -> list[str]:
    """Notes on values that look like a unit slip: counts in millions/billions (unless not ``counts``),
    perplexities or bits as losses, losses too small to be nats per token. Added to ``notes`` (once) and
    returned (``Runs.warnings``)."""
    found: list[str] = []
    for col, what, example in (("params", "parameter", "125 for 125M parameters"),
                               ("tokens", "token", "300 for 300B tokens"))[:2 if counts else 0]:
        if col in df.columns and col in chosen:  # given, not derived
            v = df[col].to_numpy(dtype=np.float64)
            if v.size and np.all(v < 1e5):
                found.append(f"every {what} count in column {_label(col, chosen)} is below 1e5 "
                             f"(max {_fmt(v.max())}): these look like millions or billions ({example}?); "
                             f"scalinglab expects plain counts, so scale the column (x 1e6 or x 1e9) unless "
                             f"the models really are that small")
    loss = df["loss"].to_numpy(dtype=np.float64) if "loss" in df.columns else np.empty(0)
    if loss.size:
        found.extend(_loss_units(loss, chosen))
    notes.extend(n for n in found if n not in notes)
    return found


def _loss_units(loss: np.ndarray, chosen: Mapping[str, str]) -> list[str]:
    """Notes on losses that do not look like nats per token."""
    found: list[str] = []
    label = _label("loss", chosen)
    if loss.max() > 20:
        found.append(f"losses above 20 (max {_fmt(loss.max())}): scalinglab expects nats per token; is this a "
                     "perplexity (take its log) or a summed loss?")
    if any(k in column_key(chosen.get("loss", "loss")) for k in _BITS_KEYS):
        found.append(f"column {label} is named like a loss in bits: scalinglab expects nats per token "
                     "(nats = bits x ln 2 = bits x 0.6931; bits per byte or character also need the bytes or "
                     "characters per token)")
    if loss.min() < MIN_LOSS:
        found.append(f"losses below 0.001 nats/token (min {_fmt(loss.min())}): no language model predicts text "
                     "that well; check the units (nats per token, not a fraction, a difference from the "
                     "irreducible loss, or a loss divided by the tokens twice)")
    return found


def _check_six_nd(df: pd.DataFrame, notes: list[str]) -> None:
    """Note when given flops are far from 6 * params * tokens (unit or convention mix-ups)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ratio = df["flops"].to_numpy(float) / flops_from(df["params"].to_numpy(float), df["tokens"].to_numpy(float))
    ratio = ratio[np.isfinite(ratio)]
    if ratio.size and not 0.5 <= float(np.median(ratio)) <= 2.0:
        notes.append(f"flops are {float(np.median(ratio)):.3g} x 6 * params * tokens (median): check the units "
                     "(FLOPs, not PF-days: 1 PF-day = 8.64e19 FLOPs) and the counting convention")


def _renumber(df: pd.DataFrame) -> pd.DataFrame:
    """Index rows 1..n (the source's data-row numbers)."""
    df = df.reset_index(drop=True)
    df.index = pd.RangeIndex(1, len(df) + 1)
    return df


def _text_predicate(columns: Mapping[str, str] | None) -> Callable[[str], bool]:
    """Which source columns to read as text: the group column (alias or mapped)."""
    mapped = {columns.get(t) for t in _TEXT} - {None} if isinstance(columns, Mapping) else set()
    return lambda col: col in mapped or any(column_key(col) in ALIASES[t] for t in _TEXT)


def _missing_message(source: str, missing: Sequence[str], why: str, cols: Sequence[Any]) -> str:
    """'<source>: missing required column 'x' (needed by why); columns are: ...; hint'."""
    what = "column" if len(missing) == 1 else "columns"
    need = f" (needed by {why})" if why else ""
    hint = (f"; map one with --col {missing[0]}=COLUMN (Python: columns={{'{missing[0]}': 'COLUMN'}})")
    if set(missing) <= {"params", "tokens", "flops"} and len(missing) == 1:
        hint += ", or give the other two of params, tokens, flops (C = 6ND derives the third)"
    return (f"{source}: missing required {what} {', '.join(repr(str(m)) for m in missing)}"
            f"{need}; columns are: {quoted_columns(cols)}{hint}")


def column_key(name: object) -> str:
    """A column name as the aliases compare it: lower-case, without whitespace, underscores or hyphens."""
    return "".join(ch for ch in str(name).lower() if not (ch.isspace() or ch in "_-"))


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


def _fmt(x: float) -> str:
    """A number for messages: 'nan', 'inf', '-5', '1.2e+20'."""
    return f"{float(x):g}"


def _show(v: object) -> str:
    """A raw cell for messages, quoted and on one line."""
    text = repr(v) if isinstance(v, str) else repr(str(v))
    return text if len(text) <= 40 else text[:37] + "...'"


def quoted_columns(cols: Sequence[Any] | pd.Index) -> str:
    """Up to 25 column names, quoted."""
    names = [repr(str(c)) for c in cols]
    more = f" ... ({len(names) - 25} more)" if len(names) > 25 else ""
    return ", ".join(names[:25]) + more
