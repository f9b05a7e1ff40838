"""Reading inference-quality results tables into per-problem sample counts (for :mod:`.quality`).

Two layouts, detected by the columns: ``problem, n, correct`` (counts per problem; repeated problems are
summed) or ``problem, correct`` (one row per sample, correct as 0/1 or true/false); an optional
``temperature`` column splits the table (:func:`load_results_by_temperature`). Errors name the source,
the 1-based data row and the column, with plain values (``nan``, not ``np.float64(nan)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.errors import ScalingLabError, plain_repr, table_path
from scalinglab.inference.passk import _check_k, pass_at_k
from scalinglab.tables import read_table

__all__ = ["ProblemResults", "load_results", "load_results_by_temperature"]


@dataclass(frozen=True)
class ProblemResults:
    """Per-problem sample counts: ``n`` samples drawn and ``correct`` samples that passed, per problem.

    ``layout`` is how the source was written: "counts" (columns problem, n, correct) or "per_sample"
    (one row per sample with problem, correct as 0/1 or bool).
    """

    problems: tuple[str, ...]
    n: np.ndarray
    correct: np.ndarray
    layout: str
    source: str = "results"

    @property
    def min_n(self) -> int:
        """Fewest samples drawn for any problem: the largest k pass@k can be reported for."""
        return int(self.n.min())

    def pass_at_k(self, k: int) -> np.ndarray:
        """Per-problem unbiased pass@k (fractions in [0, 1]); errors name the source and problem."""
        try:
            return np.asarray(pass_at_k(self.n, self.correct, k, self.problems))
        except ScalingLabError as exc:
            raise ScalingLabError(f"{self.source}: {exc}") from None

    def mean_pass_at_k(self, ks: Sequence[int]) -> dict[int, float]:
        """pass@k averaged over problems (Chen et al. 2021), for each k in ``ks``."""
        return {_check_k(k): float(self.pass_at_k(k).mean()) for k in ks}


def _columns(df: pd.DataFrame) -> dict[str, object]:
    return {str(c).strip().lower(): c for c in df.columns}


def _need(cols: dict[str, object], names: Sequence[str], df: pd.DataFrame, source: str) -> None:
    for name in names:
        if name not in cols:
            have = ", ".join(map(str, df.columns)) or "none"
            raise ScalingLabError(f"{source}: missing column '{name}' (columns: {have}); expected problem, n, "
                                  "correct (counts per problem) or problem, correct (one row per sample)")


def _bad_cell(df: pd.DataFrame, source: str, pos: int, col: object, reason: str) -> ScalingLabError:
    return ScalingLabError(f"{source}: row {int(df.index[pos]) + 1}, column '{col}': {reason}")


def _numbers(df: pd.DataFrame, col: object, source: str, minimum: float, whole: bool) -> np.ndarray:
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values < minimum) | ((values != np.round(values)) if whole else False)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        kind = "a whole number" if whole else "a number"
        raise _bad_cell(df, source, i, col, f"must be {kind} >= {minimum:g}, got {plain_repr(df[col].iloc[i])}")
    return values


_TRUE = {"1", "1.0", "true", "t", "yes", "pass", "passed"}
_FALSE = {"0", "0.0", "false", "f", "no", "fail", "failed"}


def _flags(df: pd.DataFrame, col: object, source: str) -> np.ndarray:
    out = np.zeros(len(df), dtype=np.int64)
    for i, v in enumerate(df[col]):
        text = str(v).strip().lower()
        if isinstance(v, (bool, np.bool_)):
            out[i] = int(bool(v))
        elif text in _TRUE | _FALSE:
            out[i] = int(text in _TRUE)
        else:
            raise _bad_cell(df, source, i, col, f"per-sample 'correct' must be 0/1 or true/false, got {plain_repr(v)}")
    return out


def _results_from_frame(df: pd.DataFrame, source: str) -> ProblemResults:
    if len(df) == 0:
        raise ScalingLabError(f"{source}: has a header but no rows")
    cols = _columns(df)
    _need(cols, ("problem", "correct"), df, source)
    pcol = cols["problem"]
    missing = df[pcol].isna().to_numpy()
    if missing.any():
        raise _bad_cell(df, source, int(np.flatnonzero(missing)[0]), pcol, "problem id is missing")
    problem = df[pcol].astype(str).to_numpy()
    if "n" in cols:
        n = _numbers(df, cols["n"], source, 1, whole=True)
        c = _numbers(df, cols["correct"], source, 0, whole=True)
        over = np.flatnonzero(c > n)
        if over.size:
            i = int(over[0])
            raise _bad_cell(df, source, i, cols["correct"], f"{c[i]:g} correct exceeds n = {n[i]:g} (c > n)")
        layout = "counts"
    else:
        n, c, layout = np.ones(len(df)), _flags(df, cols["correct"], source), "per_sample"
    grouped = pd.DataFrame({"problem": problem, "n": n, "c": c}).groupby("problem", sort=False).sum()
    return ProblemResults(tuple(grouped.index), grouped["n"].to_numpy(np.int64),
                          grouped["c"].to_numpy(np.int64), layout, source)


def _frame(data: pd.DataFrame | str | Path, name: str | None) -> tuple[pd.DataFrame, str]:
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True), name or "results"
    path = table_path("results", data)
    return read_table(path, name or str(path), is_text=lambda col: col.strip().lower() == "problem"), \
        name or str(path)


def load_results(data: ProblemResults | pd.DataFrame | str | Path, name: str | None = None) -> ProblemResults:
    """Read a results table (CSV, TSV, Parquet, JSON lines, JSON) or DataFrame into per-problem counts.

    Layouts, detected by the columns: ``problem, n, correct`` (counts; repeated problems are summed) or
    ``problem, correct`` (one row per sample, correct as 0/1 or true/false). Rows are 1-based data rows.
    A ``temperature`` column is refused here: use :func:`load_results_by_temperature`.
    """
    if isinstance(data, ProblemResults):
        return data
    df, source = _frame(data, name)
    if "temperature" in _columns(df):
        raise ScalingLabError(f"{source}: has a 'temperature' column; pooling samples across temperatures "
                              "would mix distributions (filter it to one temperature, or use best_temperature)")
    return _results_from_frame(df, source)


def load_results_by_temperature(data: pd.DataFrame | str | Path,
                                name: str | None = None) -> dict[float, ProblemResults]:
    """Per-temperature results from a table with a ``temperature`` column (>= 0) plus either layout."""
    df, source = _frame(data, name)
    cols = _columns(df)
    _need(cols, ("temperature",), df, source)
    temps = _numbers(df, cols["temperature"], source, 0.0, whole=False)
    return {float(t): _results_from_frame(df[temps == t], f"{source} (temperature {t:g})")
            for t in sorted(set(temps.tolist()))}
