"""The columns of a table of runs: canonical names, their accepted aliases, and how a source's columns
map onto them (by a ``columns=`` mapping first, then by alias).

Canonical columns and their units are listed in :mod:`scalinglab.io`: params (parameters), tokens,
flops (FLOPs), loss (nats/token), and the optional step, budget, group and run. Names are compared
case-insensitively, ignoring spaces, underscores and hyphens (:func:`column_key`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from scalinglab.errors import ScalingLabError

__all__ = ["CANONICAL", "OPTIONAL", "NUMERIC", "TEXT", "ALL_COLUMNS", "ALIASES", "column_key", "quoted_columns",
           "resolve_columns", "rename_columns", "text_predicate", "missing_message"]

CANONICAL: tuple[str, ...] = ("params", "tokens", "flops", "loss")
OPTIONAL: tuple[str, ...] = ("step", "budget", "group", "run")
NUMERIC: tuple[str, ...] = CANONICAL + ("step",)  # at least one of these makes a table of runs
TEXT: tuple[str, ...] = ("group", "run")  # labels, kept as text
ALL_COLUMNS: tuple[str, ...] = CANONICAL + OPTIONAL

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


def resolve_columns(df: pd.DataFrame, name: str, columns: Mapping[str, str] | None,
             notes: list[str]) -> dict[str, str]:
    """Canonical name -> source column, from ``columns`` first, then the aliases."""
    chosen: dict[str, str] = {}
    if columns is not None and not isinstance(columns, Mapping):
        raise ScalingLabError(f"{name}: the column mapping must map canonical names to column names")
    for canon, src in (columns or {}).items():
        if canon not in ALL_COLUMNS:
            raise ScalingLabError(f"{name}: column mapping names unknown column '{canon}'; "
                                  f"known names are: {', '.join(ALL_COLUMNS)}")
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
    for canon in ALL_COLUMNS:
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


def rename_columns(df: pd.DataFrame, chosen: dict[str, str], notes: list[str]) -> pd.DataFrame:
    """Rename chosen columns to canonical names; move aside unused exact-name clashes."""
    renames = {src: canon for canon, src in chosen.items()}
    for col in df.columns:
        if col in ALL_COLUMNS and col not in renames:  # e.g. 'loss' present but columns={'loss': 'x'}
            new = f"{col}_unused"
            while new in df.columns:
                new += "_"
            renames[col] = new
            notes.append(f"column '{col}' renamed to '{new}' (columns= maps {col} to "
                         f"'{chosen[col]}')")
    return df.rename(columns=renames)


def text_predicate(columns: Mapping[str, str] | None) -> Callable[[str], bool]:
    """Which source columns to read as text: the group column (alias or mapped)."""
    mapped = {columns.get(t) for t in TEXT} - {None} if isinstance(columns, Mapping) else set()
    return lambda col: col in mapped or any(column_key(col) in ALIASES[t] for t in TEXT)


def missing_message(source: str, missing: Sequence[str], why: str, cols: Sequence[Any]) -> str:
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


def quoted_columns(cols: Sequence[Any] | pd.Index) -> str:
    """Up to 25 column names, quoted."""
    names = [repr(str(c)) for c in cols]
    more = f" ... ({len(names) - 25} more)" if len(names) > 25 else ""
    return ", ".join(names[:25]) + more
