"""Inference-quality laws: pass@k, coverage vs samples, best temperature, exact match vs per-token metrics.

Units: k and n are counts of samples drawn per problem; c (``correct``) is a count of samples that passed;
pass@k and coverage are fractions of problems in [0, 1]; per-token loss is in nats/token; parameter counts
N are whatever convention the per-token law was fitted with (this module only passes them through).
Formulas and checkable numbers: reference notes ``laws.md`` section E (E1 pass@k, E2 coverage, E4 metrics).
Test-time compute (accuracy vs reasoning tokens) lives in :mod:`scalinglab.inference.testtime`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.tables import read_table

__all__ = [
    "pass_at_k", "ProblemResults", "load_results", "load_results_by_temperature", "default_ks",
    "CoverageCurve", "coverage_curve", "coverage_law", "samples_for_coverage", "CoverageFit",
    "SamplesForTarget", "fit_coverage", "TemperatureChoice", "best_temperature",
    "exact_match_curve", "token_edit_distance", "per_token_loss_power_law", "MetricComparison",
    "metric_comparison",
]

# ---- pass@k (Chen et al. 2021, laws.md E1) ----------------------------------------------------------


def _int_array(values: object, what: str, problems: Sequence[str] | None, minimum: int) -> np.ndarray:
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError):
        raise ScalingLabError(f"{what} must be whole numbers, got {values!r}") from None
    bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (arr < minimum)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = f"problem {problems[i]!r}: " if problems is not None else ""
        raise ScalingLabError(f"{where}{what} must be a whole number >= {minimum}, got {arr[i]:g}")
    return arr.astype(np.int64)


def _check_k(k: object) -> int:
    try:
        kf = float(k)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ScalingLabError(f"k must be a whole number >= 1, got {k!r}") from None
    if not np.isfinite(kf) or kf != round(kf) or kf < 1:
        raise ScalingLabError(f"k must be a whole number >= 1, got {k!r}")
    return int(kf)


def pass_at_k(n: object, c: object, k: int, problems: Sequence[str] | None = None) -> float | np.ndarray:
    """Unbiased pass@k of Chen et al. 2021 (Codex paper, sec. 2.1; laws.md E1), per problem.

    pass@k = 1 - C(n-c, k) / C(n, k) for n samples of which c passed, computed in the numerically
    stable product form 1 - prod_{i=n-c+1..n} (1 - k/i) (1.0 when n - c < k), summed as logs.
    Vectorised: ``n`` and ``c`` may be arrays over problems (then an array is returned); ``problems``
    names them in errors. Needs 0 <= c <= n and k <= n (Chen et al. report only k <= n).
    Checks: (n=10, c=2, k=5) -> 0.777778; (200, 10, 10) -> 0.408548.
    """
    scalar = np.ndim(n) == 0 and np.ndim(c) == 0
    n_arr = _int_array(n, "n (samples)", problems, 1)
    c_arr = _int_array(c, "c (correct samples)", problems, 0)
    if n_arr.shape != c_arr.shape:
        raise ScalingLabError(f"n and c must have the same length, got {n_arr.size} and {c_arr.size}")
    kk = _check_k(k)
    for bad, why in ((c_arr > n_arr, "c={c} correct exceeds n={n} samples (c > n)"),
                     (n_arr < kk, "k={k} exceeds its n={n} samples (pass@k needs n >= k)")):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            where = f"problem {problems[i]!r}: " if problems is not None else ""
            raise ScalingLabError(where + why.format(c=c_arr[i], n=n_arr[i], k=kk))
    out = np.ones(n_arr.shape, dtype=float)
    todo = (n_arr - c_arr) >= kk
    if todo.any():
        top = int(n_arr[todo].max())
        i = np.arange(kk + 1, top + 1, dtype=float)
        cum = np.zeros(top + 1)  # cum[m] = sum_{i=k+1..m} log(1 - k/i)
        cum[kk + 1:] = np.cumsum(np.log1p(-kk / i))
        log_prod = cum[n_arr[todo]] - cum[n_arr[todo] - c_arr[todo]]
        out[todo] = 0.0 - np.expm1(log_prod)  # 0.0 - : no -0.0 when c = 0
    return float(out[0]) if scalar else out


# ---- results tables ---------------------------------------------------------------------------------


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
        raise _bad_cell(df, source, i, col, f"must be {kind} >= {minimum:g}, got {df[col].iloc[i]!r}")
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
            raise _bad_cell(df, source, i, col, f"per-sample 'correct' must be 0/1 or true/false, got {v!r}")
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
    path = Path(data)
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


def default_ks(max_k: int) -> list[int]:
    """k = 1, 2, 4, ... up to ``max_k``, plus ``max_k`` itself (log-spaced sample counts)."""
    ks = [2 ** i for i in range(int(np.log2(max_k)) + 1) if 2 ** i <= max_k]
    return ks + ([max_k] if ks[-1] != max_k else [])


# ---- coverage vs samples (Brown et al. 2024, laws.md E2) --------------------------------------------


@dataclass(frozen=True)
class CoverageCurve:
    """Coverage c(k): the fraction of problems solved by any of k samples (mean unbiased pass@k)."""

    k: np.ndarray
    coverage: np.ndarray
    per_problem: np.ndarray  # problems x k matrix of pass@k
    n_problems: int


def coverage_curve(data: ProblemResults | pd.DataFrame | str | Path,
                   ks: Sequence[int] | None = None) -> CoverageCurve:
    """Coverage at each k (Brown et al. 2024, sec. 2), from the pass@k estimator, never 1-(1-c/n)^k."""
    res = load_results(data)
    kk = sorted({_check_k(k) for k in ks}) if ks is not None else default_ks(res.min_n)
    per = np.column_stack([res.pass_at_k(k) for k in kk])
    return CoverageCurve(np.asarray(kk, dtype=float), per.mean(axis=0), per, len(res.problems))


def coverage_law(k: float | np.ndarray, a: float, b: float) -> float | np.ndarray:
    """Exponentiated power law c(k) = exp(a k^b), a < 0, b < 0 (Brown et al. 2024; laws.md E2).

    Check: a = -2, b = -0.3 gives c(1) = 0.1353, c(10) = 0.3670, c(100) = 0.6051, c(1000) = 0.7774.
    """
    return np.exp(a * np.power(k, b))


def samples_for_coverage(a: float, b: float, target: float) -> float:
    """Samples k solving a k^b = log(target): k = (log(target) / a)^(1/b), at least 1.

    ``target`` must lie in (0, 1): with b < 0 the law only approaches coverage 1 as k -> infinity. A law
    with b >= 0 never rises, so a target above its c(1) needs infinitely many samples (returns inf).
    """
    if not 0 < target < 1:
        raise ScalingLabError(f"target coverage must be in (0, 1), got {target:g}; c(k) = exp(a k^b) with "
                              "b < 0 only approaches 1 as k -> infinity")
    if not a < 0:
        raise ScalingLabError(f"a must be < 0 (coverage below 1), got {a:g}")
    if b >= 0:
        return 1.0 if np.exp(a) >= target else float("inf")
    log_k = np.log(np.log(target) / a) / b  # in logs: b near 0 would overflow k itself
    return float("inf") if log_k > 700 else float(max(1.0, np.exp(log_k)))


def _fit_line(log_k: np.ndarray, cov: np.ndarray) -> tuple[float, float]:
    """Least squares of log(-log c) = log(-a) + b log k on points with 0 < c < 1; (a, b) or NaNs."""
    ok = (cov > 0) & (cov < 1)
    if np.unique(log_k[ok]).size < 2:
        return float("nan"), float("nan")
    x, y = log_k[ok], np.log(-np.log(cov[ok]))
    b, intercept = np.polyfit(x, y, 1)
    return float(-np.exp(intercept)), float(b)


@dataclass(frozen=True)
class SamplesForTarget:
    """Samples per problem for a target coverage under the fitted law (real-valued; round up to use)."""

    target: float
    samples: float
    low: float | None = None
    high: float | None = None
    within_data: bool = False  # True when the answer lies inside the measured k range (interpolation)
    note: str = ""


@dataclass(frozen=True)
class CoverageFit:
    """Fit of c(k) = exp(a k^b) to a coverage curve, with percentile bootstrap intervals over problems."""

    a: float
    b: float
    curve: CoverageCurve
    used: np.ndarray  # which k entered the fit (0 < coverage < 1)
    level: float = 0.95
    draws: np.ndarray = field(default_factory=lambda: np.empty((0, 2)))  # bootstrap (a, b) rows
    notes: tuple[str, ...] = ()

    def predict(self, k: float | np.ndarray) -> float | np.ndarray:
        """Fitted coverage at k samples."""
        return coverage_law(k, self.a, self.b)

    def interval(self, values: np.ndarray) -> tuple[float, float] | tuple[None, None]:
        """Percentile interval of bootstrap values at ``level`` (None when not bootstrapped)."""
        if values.size == 0:
            return None, None
        q = [(1 - self.level) / 2, (1 + self.level) / 2]
        lo, hi = np.quantile(values, q, method="inverted_cdf")
        return float(lo), float(hi)

    def samples_for(self, target: float) -> SamplesForTarget:
        """Samples needed for ``target`` coverage, with its bootstrap interval and a note on the regime."""
        k = samples_for_coverage(self.a, self.b, target)
        draws = np.array([samples_for_coverage(a, b, target) for a, b in self.draws])
        lo, hi = self.interval(draws)
        k_max, reached = float(self.curve.k[-1]), float(self.curve.coverage[-1])
        if k <= 1.0:
            note = f"target {target:g} is at or below the fitted coverage of a single sample"
        elif reached >= target:
            note = f"already reached in the data (coverage {reached:.4g} at k = {k_max:g}); the law interpolates"
        elif np.isinf(k):
            note = "the fitted law does not rise with k (b >= 0): target unreachable"
        else:
            note = f"extrapolated beyond the largest measured k = {k_max:g}"
        return SamplesForTarget(target, k, lo, hi, k <= k_max, note)

    def to_dict(self, target: float | None = None) -> dict[str, object]:
        """JSON-ready: a, b, intervals, the coverage table and (with a target) samples_for_target."""
        d: dict[str, object] = {"a": self.a, "b": self.b, "n_problems": self.curve.n_problems,
                                "coverage": [{"k": int(k), "coverage": float(c), "fitted": float(self.predict(k)),
                                              "used": bool(u)} for k, c, u in
                                             zip(self.curve.k, self.curve.coverage, self.used)],
                                "notes": list(self.notes)}
        if self.draws.size:
            d.update(level=self.level, bootstrap=len(self.draws), a_interval=list(self.interval(self.draws[:, 0])),
                     b_interval=list(self.interval(self.draws[:, 1])))
        if target is not None:
            s = self.samples_for(target)
            d.update(target=target, samples_for_target=s.samples, samples_for_target_int=_ceil(s.samples),
                     within_data=s.within_data, target_note=s.note)
            if s.low is not None:
                d["samples_for_target_interval"] = [s.low, s.high]
        return d


def _ceil(x: float) -> int | None:
    return int(np.ceil(x - 1e-9)) if np.isfinite(x) else None


def fit_coverage(data: ProblemResults | pd.DataFrame | str | Path, ks: Sequence[int] | None = None,
                 bootstrap: int = 0, seed: int = 0, level: float = 0.95) -> CoverageFit:
    """Fit log c(k) = a k^b (Brown et al. 2024) by least squares of log(-log c) on log k (laws.md E2).

    Points with coverage 0 or 1 carry no information in that space and are left out (noted). With
    ``bootstrap`` > 0 problems are resampled with replacement (seeded) and the fit repeated.
    """
    if bootstrap < 0:
        raise ScalingLabError(f"bootstrap must be >= 0, got {bootstrap}")
    if not 0 < level < 1:
        raise ScalingLabError(f"level must be in (0, 1), got {level:g}")
    curve = coverage_curve(data, ks)
    log_k, used = np.log(curve.k), (curve.coverage > 0) & (curve.coverage < 1)
    a, b = _fit_line(log_k, curve.coverage)
    if not np.isfinite(a):
        raise ScalingLabError("coverage fit needs at least 2 values of k with 0 < coverage < 1; got coverage "
                              + ", ".join(f"{c:.4g} at k={k:g}" for k, c in zip(curve.k, curve.coverage)))
    notes = [f"k = {k:g} left out: coverage {c:g}" for k, c, u in zip(curve.k, curve.coverage, used) if not u]
    rng = np.random.default_rng(seed)
    draws = [_fit_line(log_k, curve.per_problem[rng.integers(0, curve.n_problems, curve.n_problems)].mean(0))
             for _ in range(bootstrap)]
    arr = np.array([d for d in draws if np.isfinite(d[0])]).reshape(-1, 2)
    if bootstrap and len(arr) < bootstrap:
        notes.append(f"{bootstrap - len(arr)} of {bootstrap} bootstrap resamples had < 2 usable k and were skipped")
    return CoverageFit(a, b, curve, used, level, arr, tuple(notes))


# ---- best temperature for each k (laws.md E1: T* rises with k) ---------------------------------------


@dataclass(frozen=True)
class TemperatureChoice:
    """Mean pass@k by temperature and, for each k, the best temperature (ties go to the lower one)."""

    by_temperature: dict[float, dict[int, float]]
    best: dict[int, float]
    best_pass_at_k: dict[int, float]
    notes: tuple[str, ...] = ()


def best_temperature(data: pd.DataFrame | str | Path | dict[float, ProblemResults],
                     ks: Sequence[int] | None = None) -> TemperatureChoice:
    """Best sampling temperature for each k from results at several temperatures (Chen et al. 2021 Fig. 5).

    ``data``: a table with ``temperature`` plus either results layout, or {temperature: ProblemResults}.
    Default ks: 1, 2, 4, ... up to the smallest n at any temperature. The max over temperatures is an
    optimistic estimate of pass@k at T* (the choice is made on the same samples).
    """
    by_t = data if isinstance(data, dict) else load_results_by_temperature(data)
    if not by_t:
        raise ScalingLabError("no temperatures given")
    kk = sorted({_check_k(k) for k in ks}) if ks is not None else default_ks(min(r.min_n for r in by_t.values()))
    table = {t: r.mean_pass_at_k(kk) for t, r in sorted(by_t.items())}
    best = {k: max(table, key=lambda t: (table[t][k], -t)) for k in kk}
    sets = {frozenset(r.problems) for r in by_t.values()}
    notes = () if len(sets) == 1 else ("temperatures were run on different problem sets",)
    return TemperatureChoice(table, best, {k: table[best[k]][k] for k in kk}, notes)


# Exact match vs per-token metrics (Schaeffer et al. 2023) live in scalinglab.inference.metrics;
# re-exported here for callers of the quality API.
from scalinglab.inference.metrics import (  # noqa: E402,F401
    MetricComparison, exact_match_curve, metric_comparison, per_token_loss_power_law, token_edit_distance,
)
