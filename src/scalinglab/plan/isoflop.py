"""IsoFLOP profiles (Hoffmann et al. 2022, sec. 3.2, "Approach 2") and the grouping of runs into FLOP levels.

Units: ``params`` N is a parameter count (embeddings counted as the data counts them), ``tokens`` D a
token count, ``flops`` C a training-FLOP count (not a rate), loss in nats/token. C = 6ND
(Kaplan et al. 2020, sec. 2.1) links them: the compute-optimal tokens at a budget are
D_opt = C / (6 N_opt).

An IsoFLOP profile is the set of runs trained with one budget C at different sizes N. This module
groups runs into budgets (:func:`group_budgets`) and fits a parabola or cubic of the final loss
against ln N to a profile (:func:`fit_profile`, used by the report's IsoFLOP plot). Approach 2 itself
-- the profile methods (Akima, cubic, parabola, local), the bracketing rule and Porian et al.'s noise
bootstrap (references.md D5) -- is :mod:`scalinglab.plan.approach2`.

Parabolas are biased when the sweep is wide or off-centre, or when the law's exponents differ
(alpha != beta), because the true profile is not symmetric in ln N (field notes, point 3:
Open-Athena's scaling-law analysis); :func:`isoflop_minima` raises ``extrapolated`` / ``lopsided``
warnings.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.counting import tokens_from
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, whole_number

Array = np.ndarray
Resampler = Callable[[np.random.Generator], tuple[Array, Array]]  # -> (ln C, ln N_opt) per usable level

#: relative tolerance under which two FLOP counts are "the same budget"
SAME_BUDGET_RTOL = 0.01
#: width, in decades of C, of the log-scale bins used when no budgets can be recognised
DEFAULT_BIN_DECADES = 0.25


@dataclass
class BudgetGroups:
    """Runs grouped into FLOP levels.

    ``labels[i]`` is the level of run i (0..k-1, or -1 for a run in no level); ``flops[j]`` the
    level's budget C_j in FLOPs (geometric mean of its runs' FLOPs); ``method`` says how the levels
    were found (a ``budget`` column, equal FLOPs, or log-scale bins)."""

    labels: Array
    flops: Array
    method: str

    def __len__(self) -> int:
        return len(self.flops)

    def members(self, j: int) -> Array:
        """Row positions of level j."""
        return np.flatnonzero(self.labels == j)


def group_budgets(flops: Array, budget: Array | pd.Series | None = None, n_bins: int | None = None,
                  rtol: float = SAME_BUDGET_RTOL) -> BudgetGroups:
    """Group runs into FLOP levels: ``n_bins`` equal-width bins of log10 C when given; else the
    ``budget`` column's values; else equal FLOP counts (within ``rtol``), when that leaves at least
    3 runs per level on average; else bins of ``DEFAULT_BIN_DECADES`` decades of C."""
    flops = np.asarray(flops, dtype=float)
    if flops.size == 0:
        raise ScalingLabError("no runs to group into FLOP levels")
    if n_bins is not None:
        return _log_bins(flops, _check_bins(n_bins), f"{n_bins} equal-width bins of log10 C (n_bins)")
    if budget is not None:
        codes, uniques = pd.factorize(pd.Series(np.asarray(budget, dtype=object)), sort=True)
        return _with_means(codes, flops, f"the 'budget' column ({len(uniques)} budgets)")
    codes = _equal_flops(flops, rtol)
    if codes.max() + 1 <= len(flops) / 3:
        return _with_means(codes, flops, f"equal FLOP counts within {100 * rtol:g}% "
                                         f"({codes.max() + 1} budgets)")
    span = float(np.log10(flops.max()) - np.log10(flops.min()))
    k = max(1, math.ceil(span / DEFAULT_BIN_DECADES))
    return _log_bins(flops, k, f"{k} bins of log10 C, {DEFAULT_BIN_DECADES:g} decades wide "
                               "(no budget column and no repeated FLOP counts)")


#: The most FLOP levels (bins of log10 C) a table is grouped into.
MAX_BINS = 10_000


def _check_bins(n_bins: int) -> int:
    return whole_number("n_bins", n_bins, minimum=1, maximum=MAX_BINS, exact=True)


def _equal_flops(flops: Array, rtol: float) -> Array:
    """Level codes: sorted FLOP counts start a new level when more than ``rtol`` above the level's first."""
    order = np.argsort(flops, kind="stable")
    codes = np.empty(len(flops), dtype=int)
    level, start = -1, -math.inf
    for i in order:
        if flops[i] > start * (1.0 + rtol):
            level, start = level + 1, flops[i]
        codes[i] = level
    return codes


def _log_bins(flops: Array, k: int, method: str) -> BudgetGroups:
    logc = np.log10(flops)
    lo, hi = logc.min(), logc.max()
    if hi - lo < 1e-12:
        codes = np.zeros(len(flops), dtype=int)
    else:
        codes = np.minimum(((logc - lo) / (hi - lo) * k).astype(int), k - 1)
    _, codes = np.unique(codes, return_inverse=True)  # drop empty bins
    return _with_means(codes, flops, method)


def _with_means(codes: Array, flops: Array, method: str) -> BudgetGroups:
    k = int(codes.max()) + 1
    means = np.array([_geometric_mean(flops[codes == j]) for j in range(k)])
    order = np.argsort(means)  # levels numbered by increasing budget
    rank = np.empty(k, dtype=int)
    rank[order] = np.arange(k)
    return BudgetGroups(labels=np.where(codes >= 0, rank[codes], -1), flops=means[order], method=method)


def _geometric_mean(values: Array) -> float:
    """exp(mean(ln x)); the value itself when all are equal (no round-off on exact budgets)."""
    return float(values[0]) if np.ptp(values) == 0 else math.exp(float(np.mean(np.log(values))))


@dataclass(repr=False)
class LevelOptima(Displayed):
    """Optima found at FLOP levels before the power-law fit (approaches 1 and 2): one dict per usable
    level (flops, params, tokens, loss, ...), the FLOPs of the data's levels (for the frontier), how
    they were found, a seeded resampler (approach 1) or precomputed draws and weights (approach 2's
    noise bootstrap, :mod:`scalinglab.plan.approach2`), warnings and notes."""

    _display = (("levels", "budgets", lambda r: len(r.points)), ("level_flops", "FLOPs"), ("method", ""))

    points: list[dict[str, Any]]
    level_flops: Array
    method: str
    resample: Resampler | None  # approach 1's row/curve resampler; None where ``draws`` are given
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    weights: Array | None = None  # per point, 1/std^2 of ln N_opt (approach 2 with the noise bootstrap)
    draws: Array | None = None  # (B, 2) precomputed bootstrap (a, ln k_N) (approach 2's noise bootstrap)
    profile_method: str | None = None  # approach 2: akima, cubic, parabola or local
    loss_noise: float | None = None  # approach 2: the loss noise sigma of the bootstrap (nats/token)
    loss_noise_source: str = ""
    method_exponents: dict[str, float] = field(default_factory=dict)  # approach 2: a by akima and cubic


# ---- one profile ---------------------------------------------------------------------------------
@dataclass(repr=False)
class ProfileMinimum(Displayed):
    """The minimum of one IsoFLOP profile: budget C (FLOPs), N_opt (parameters), D_opt = C/(6 N_opt)
    (tokens), the fitted loss there (nats/token), and how the sizes sit around it."""

    _display = (("flops", "FLOPs"), ("params", "parameters"), ("tokens", "tokens"), ("loss", "nats/token"),
                ("n_runs", "runs"), ("extrapolated", ""))

    flops: float
    params: float
    tokens: float
    loss: float
    n_runs: int
    n_below: int  # sampled sizes smaller than N_opt
    n_above: int  # sampled sizes larger than N_opt
    extrapolated: bool  # N_opt outside the sampled range of N

    @property
    def lopsided(self) -> bool:
        """Fewer than 2 sampled sizes on one side of the minimum (a known source of bias)."""
        return min(self.n_below, self.n_above) < 2

    def to_dict(self) -> dict:
        return {"flops": self.flops, "params": self.params, "tokens": self.tokens, "loss": self.loss,
                "n_runs": self.n_runs, "n_below": self.n_below, "n_above": self.n_above,
                "extrapolated": self.extrapolated, "lopsided": self.lopsided}


def profile_minimum_log(log_params: Array, loss: Array, degree: int = 2) -> tuple[float, float] | None:
    """(ln N_opt, loss there) of a polynomial of ``degree`` (2: parabola, 3: cubic) fitted by least
    squares to loss against ln N, or None when the fit has no local minimum (a concave parabola,
    a monotone cubic) or there are fewer than ``degree + 1`` distinct sizes."""
    x = np.asarray(log_params, dtype=float)
    if len(np.unique(x)) < degree + 1:
        return None
    centre, scale = float(x.mean()), float(x.std())
    t = (x - centre) / scale
    coef = np.polyfit(t, np.asarray(loss, dtype=float), degree)  # highest power first
    t_min = _poly_local_min(coef)
    if t_min is None:
        return None
    return centre + scale * t_min, float(np.polyval(coef, t_min))


def _poly_local_min(coef: Array) -> float | None:
    deriv = np.polyder(coef)
    second = np.polyder(deriv)
    roots = np.roots(deriv) if np.any(deriv != 0) else np.array([])
    real = [r.real for r in np.atleast_1d(roots) if abs(r.imag) < 1e-9 * max(1.0, abs(r.real))]
    mins = [r for r in real if np.polyval(second, r) > 0]
    return min(mins, key=abs) if mins else None


def fit_profile(params: Array, loss: Array, flops: float, degree: int = 2) -> ProfileMinimum | None:
    """The minimum of one IsoFLOP profile at budget ``flops`` (see :func:`profile_minimum_log`)."""
    logn = np.log(np.asarray(params, dtype=float))
    found = profile_minimum_log(logn, loss, degree)
    if found is None:
        return None
    x_opt, loss_opt = found
    if abs(x_opt) > 700:  # a nearly flat profile: its "minimum" is meaningless (and exp overflows)
        return None
    n_opt = math.exp(x_opt)
    return ProfileMinimum(flops=float(flops), params=n_opt, tokens=tokens_from(n_opt, float(flops)),
                          loss=loss_opt, n_runs=len(logn), n_below=int(np.sum(logn < x_opt)),
                          n_above=int(np.sum(logn > x_opt)),
                          extrapolated=bool(x_opt < logn.min() or x_opt > logn.max()))


# ---- all profiles --------------------------------------------------------------------------------
def isoflop_minima(params: Array, loss: Array, groups: BudgetGroups,
                   degree: int = 2) -> tuple[list[ProfileMinimum], list[str]]:
    """The minimum of every profile, and warnings: profiles skipped (too few sizes, no minimum),
    minima outside the sampled sizes (extrapolated), lopsided sampling around a minimum."""
    minima: list[ProfileMinimum] = []
    warnings: list[str] = []
    for j in range(len(groups)):
        rows = groups.members(j)
        c = groups.flops[j]
        distinct = len(np.unique(params[rows]))
        if distinct < degree + 1:
            warnings.append(f"budget {c:.3g} FLOPs: {distinct} distinct size(s), fewer than the "
                            f"{degree + 1} a degree-{degree} profile needs; skipped")
            continue
        m = fit_profile(params[rows], loss[rows], c, degree)
        if m is None:
            warnings.append(f"budget {c:.3g} FLOPs: the fitted profile has no minimum "
                            f"(loss does not turn up at either end); skipped")
            continue
        minima.append(m)
        sampled = f"sampled sizes {params[rows].min():.3g}..{params[rows].max():.3g} parameters"
        if m.extrapolated:
            warnings.append(f"budget {c:.3g} FLOPs: the minimum N = {m.params:.3g} lies outside the "
                            f"{sampled} (extrapolated)")
        elif m.lopsided:
            warnings.append(f"budget {c:.3g} FLOPs: lopsided sampling, {m.n_below} size(s) below and "
                            f"{m.n_above} above the minimum N = {m.params:.3g} ({sampled}); "
                            "the minimum may be biased")
    return minima, warnings


def _spread_notes(flops: Array, groups: BudgetGroups) -> list[str]:
    spread = max(float(np.ptp(np.log(flops[groups.members(j)]))) for j in range(len(groups)))
    if spread <= math.log(1.05):
        return []
    return [(f"FLOPs vary by up to {100 * (math.exp(spread) - 1):.0f}% within a level; each level's budget "
             "is the geometric mean of its runs' FLOPs")]
