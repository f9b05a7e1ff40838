"""Inference-quality laws: pass@k, coverage vs samples, best temperature, exact match vs per-token metrics.

Units: k and n are counts of samples drawn per problem; c (``correct``) is a count of samples that passed;
pass@k and coverage are fractions of problems in [0, 1]; per-token loss is in nats/token; parameter counts
N are whatever convention the per-token law was fitted with (this module only passes them through).
Formulas and checkable numbers: references.md E1, E2, E4 (pass@k, coverage, metrics).
Test-time compute (accuracy vs reasoning tokens) lives in :mod:`scalinglab.inference.testtime`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.display import Displayed
from scalinglab.errors import (
    ScalingLabError,
    as_list,
    bootstrap_count,
    finite_array,
    finite_number,
    finite_result,
    level_number,
    positive_count,
    seed_number,
)
from scalinglab.inference.passk import EXACT_TERMS, _check_k, _int_array, pass_at_k  # noqa: F401 (re-exported)
from scalinglab.inference.results import ProblemResults, load_results, load_results_by_temperature

__all__ = [
    "pass_at_k", "ProblemResults", "load_results", "load_results_by_temperature", "default_ks",
    "CoverageCurve", "coverage_curve", "coverage_law", "samples_for_coverage", "CoverageFit",
    "SamplesForTarget", "fit_coverage", "TemperatureChoice", "best_temperature",
    "exact_match_curve", "token_edit_distance", "per_token_loss_power_law", "MetricComparison",
    "metric_comparison",
]

# ---- pass@k (Chen et al. 2021, references.md E1) ----------------------------------------------------------


def default_ks(max_k: int) -> list[int]:
    """k = 1, 2, 4, ... up to ``max_k``, plus ``max_k`` itself (log-spaced sample counts)."""
    max_k = positive_count("max_k", max_k)
    ks = [2 ** i for i in range(max_k.bit_length()) if 2 ** i <= max_k]
    return ks + ([max_k] if ks[-1] != max_k else [])


# ---- coverage vs samples (Brown et al. 2024, references.md E2) --------------------------------------------


@dataclass(frozen=True, repr=False)
class CoverageCurve(Displayed):
    """Coverage c(k): the fraction of problems solved by any of k samples (mean unbiased pass@k)."""

    _display = (("k", "samples"), ("coverage", "fraction"), ("n_problems", "problems"))

    k: np.ndarray
    coverage: np.ndarray
    per_problem: np.ndarray  # problems x k matrix of pass@k
    n_problems: int


def coverage_curve(data: ProblemResults | pd.DataFrame | str | Path,
                   ks: Sequence[int] | None = None) -> CoverageCurve:
    """Coverage at each k (Brown et al. 2024, sec. 2), from the pass@k estimator, never 1-(1-c/n)^k."""
    res = load_results(data)
    kk = sorted({_check_k(k) for k in as_list("ks", ks)}) if ks is not None else default_ks(res.min_n)
    per = np.column_stack([res.pass_at_k(k) for k in kk])
    return CoverageCurve(np.asarray(kk, dtype=float), per.mean(axis=0), per, len(res.problems))


def coverage_law(k: float | np.ndarray, a: float, b: float) -> float | np.ndarray:
    """Exponentiated power law c(k) = exp(a k^b), a < 0, b < 0 (Brown et al. 2024; references.md E2).

    Check: a = -2, b = -0.3 gives c(1) = 0.1353, c(10) = 0.3670, c(100) = 0.6051, c(1000) = 0.7774.
    """
    kk = finite_array("k (samples)", k, low=0.0, low_open=True)
    a, b = finite_number("a", a), finite_number("b", b)
    with np.errstate(all="ignore"):
        out = finite_result("coverage", np.exp(a * np.power(kk, b)))
    return float(out) if np.ndim(out) == 0 else out


def samples_for_coverage(a: float, b: float, target: float) -> float:
    """Samples k solving a k^b = log(target): k = (log(target) / a)^(1/b), at least 1.

    ``target`` must lie in (0, 1): with b < 0 the law only approaches coverage 1 as k -> infinity. A law
    with b >= 0 never rises, so a target above its c(1) needs infinitely many samples (returns inf).
    """
    a, b = finite_number("a", a), finite_number("b", b)
    target = finite_number("target coverage", target)
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


@dataclass(frozen=True, repr=False)
class SamplesForTarget(Displayed):
    """Samples per problem for a target coverage under the fitted law (real-valued; round up to use)."""

    _display = (("target", "coverage"), ("samples", "samples"), ("low", "samples"), ("high", "samples"),
                ("within_data", ""))

    target: float
    samples: float
    low: float | None = None
    high: float | None = None
    within_data: bool = False  # True when the answer lies inside the measured k range (interpolation)
    note: str = ""


@dataclass(frozen=True, repr=False)
class CoverageFit(Displayed):
    """Fit of c(k) = exp(a k^b) to a coverage curve, with percentile bootstrap intervals over problems."""

    _display = (("a", ""), ("b", ""), ("level", ""), ("n_problems", "problems", lambda f: f.curve.n_problems),
                ("unreachable", "problems"))

    a: float
    b: float
    curve: CoverageCurve
    used: np.ndarray  # which k entered the fit (0 < coverage < 1)
    level: float = 0.95
    draws: np.ndarray = field(default_factory=lambda: np.empty((0, 2)))  # bootstrap (a, b) rows
    notes: tuple[str, ...] = ()
    unreachable: int = 0  # bootstrap resamples with zero coverage at every k: infinitely many samples

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
        draws = np.array([samples_for_coverage(a, b, target) for a, b in self.draws] + [np.inf] * self.unreachable)
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
        if self.draws.size or self.unreachable:
            d.update(level=self.level, bootstrap=len(self.draws) + self.unreachable,
                     a_interval=list(self.interval(self.draws[:, 0])), b_interval=list(self.interval(self.draws[:, 1])))
        if target is not None:
            s = self.samples_for(target)
            d.update(target=target, samples_for_target=s.samples, samples_for_target_int=_ceil(s.samples),
                     within_data=s.within_data, target_note=s.note)
            if s.low is not None:
                d["samples_for_target_interval"] = [s.low, s.high]
                if np.isinf(s.high):
                    d["notes"].append(f"the upper bound of samples_for_target_interval is unbounded (JSON null): at "
                                      f"least {(1 - self.level) / 2:.3g} of the bootstrap resamples never reach "
                                      f"{target:g} ({self.unreachable} solved no problem at any k)")
        return d


def _ceil(x: float) -> int | None:
    return int(np.ceil(x - 1e-9)) if np.isfinite(x) else None


def fit_coverage(data: ProblemResults | pd.DataFrame | str | Path, ks: Sequence[int] | None = None,
                 bootstrap: int = 0, seed: int = 0, level: float = 0.95) -> CoverageFit:
    """Fit log c(k) = a k^b (Brown et al. 2024) by least squares of log(-log c) on log k (references.md E2).

    Points with coverage 0 or 1 carry no information in that space and are left out (noted). With
    ``bootstrap`` > 0 problems are resampled with replacement (seeded) and the fit repeated; a resample
    that solves no problem at any k counts as needing infinitely many samples (``unreachable``), so the
    interval is not biased towards fewer samples; resamples with another reason for < 2 usable k are
    skipped (noted).
    """
    bootstrap, seed, level = bootstrap_count(bootstrap), seed_number(seed), level_number(level)
    curve = coverage_curve(data, ks)
    log_k, used = np.log(curve.k), (curve.coverage > 0) & (curve.coverage < 1)
    a, b = _fit_line(log_k, curve.coverage)
    if not np.isfinite(a):
        raise ScalingLabError("coverage fit needs at least 2 values of k with 0 < coverage < 1; got coverage "
                              + ", ".join(f"{c:.4g} at k={k:g}" for k, c in zip(curve.k, curve.coverage)))
    notes = [f"k = {k:g} left out: coverage {c:g}" for k, c, u in zip(curve.k, curve.coverage, used) if not u]
    rng = np.random.default_rng(seed)
    draws, unreachable = [], 0
    for _ in range(bootstrap):
        cov = curve.per_problem[rng.integers(0, curve.n_problems, curve.n_problems)].mean(0)
        if not (cov > 0).any():
            unreachable += 1
        else:
            draws.append(_fit_line(log_k, cov))
    arr = np.array([d for d in draws if np.isfinite(d[0])]).reshape(-1, 2)
    if unreachable:
        notes.append(f"{unreachable} of {bootstrap} bootstrap resamples solved no problem at any k: counted as "
                     "needing infinitely many samples")
    if len(draws) > len(arr):
        notes.append(f"{len(draws) - len(arr)} of {bootstrap} bootstrap resamples had < 2 usable k and were skipped")
    return CoverageFit(a, b, curve, used, level, arr, tuple(notes), unreachable)


# ---- best temperature for each k (references.md E1: T* rises with k) ---------------------------------------


@dataclass(frozen=True, repr=False)
class TemperatureChoice(Displayed):
    """Mean pass@k by temperature and, for each k, the best temperature (ties go to the lower one)."""

    _display = (("best", "temperature by k"), ("best_pass_at_k", "fraction by k"))

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
    kk = (sorted({_check_k(k) for k in as_list("ks", ks)}) if ks is not None
          else default_ks(min(r.min_n for r in by_t.values())))
    table = {t: r.mean_pass_at_k(kk) for t, r in sorted(by_t.items())}
    best = {k: max(table, key=lambda t: (table[t][k], -t)) for k in kk}
    sets = {frozenset(r.problems) for r in by_t.values()}
    notes = () if len(sets) == 1 else ("temperatures were run on different problem sets",)
    return TemperatureChoice(table, best, {k: table[best[k]][k] for k in kk}, notes)


# Exact match vs per-token metrics (Schaeffer et al. 2023) live in scalinglab.inference.metrics;
# re-exported here for callers of the quality API.
from scalinglab.inference.metrics import (  # noqa: E402,F401
    MetricComparison,
    exact_match_curve,
    metric_comparison,
    per_token_loss_power_law,
    token_edit_distance,
)
