"""Identifiability warnings: can these runs pin down this law's parameters at all?

A multi-start fit always returns *some* numbers; whether the data determine them is another matter
(field notes, lesson 2: B of the Chinchilla law is poorly identified even with 240 runs). Two checks:

* :func:`identifiability_warnings` (before fitting, from the runs' design): too few runs for the
  parameters; too few distinct values of a variable the law reads (values within 2% count as one);
  a variable spanning less than a decade; and, for a law of params and tokens, all runs at one
  tokens-per-parameter ratio (then D = rN, and A/N^alpha and B/D^beta collapse into two power laws of
  N that cannot be told apart);
* :func:`fit_identifiability_warnings` (after a bootstrapped fit): a positive parameter whose
  interval spans an order of magnitude or more (beyond two, :data:`scalinglab.fitting.identify.WIDE`,
  or flagged by the fit, "the data do not determine" it; between one and two it is identified but
  loosely determined, and the sentence says so), parameters stuck on a bound of the search box, a fit
  that did not converge.

Each warning is one sentence with the numbers behind it. An empty list means no problem was found,
not that the law is right.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError, positive_number
from scalinglab.fitting.identify import WIDE
from scalinglab.fitting.result import FitResult
from scalinglab.io import Runs, load_runs
from scalinglab.laws import get_family
from scalinglab.laws.base import LawFamily

LEVEL_TOL = 0.02  # values within 2% are one level (digitised or rounded sizes)
MIN_DECADES = 1.0  # a variable spanning less than this many decades gives a poorly determined exponent
RATIO_SPREAD = 2.0  # tokens/params varying by less than this factor counts as "one ratio"
MAX_ORDERS = 1.0  # a positive parameter whose interval spans more orders of magnitude than this is flagged


def distinct_levels(values: Any, rel_tol: float = LEVEL_TOL) -> list[float]:
    """The distinct levels of positive ``values``: sorted values whose neighbours differ by less than
    a factor (1 + rel_tol) form one level, represented by its largest value."""
    v = np.sort(np.asarray(values, dtype=float))
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return []
    gaps = np.diff(np.log(v)) > math.log1p(rel_tol)
    ends = np.concatenate([np.flatnonzero(gaps), [v.size - 1]])
    return [float(v[i]) for i in ends]


def levels_needed(family: LawFamily) -> int:
    """Distinct values each variable needs: a one-variable law needs its parameter count + 1 (one
    residual degree of freedom along that axis); in a law of several variables each variable's slice
    is fixed by at most 3 parameters (floor, amplitude, exponent), so it needs min(P, 3) + 1."""
    p = family.n_params
    return p + 1 if len(family.variables) == 1 else min(p, 3) + 1


def identifiability_warnings(runs: Runs | Any, law: str | LawFamily | Mapping[str, Any]) -> list[str]:
    """Warnings about the design of ``runs`` for fitting ``law`` (see the module docstring)."""
    runs = load_runs(runs)
    family = get_family(law)
    label, p = family.label, family.n_params
    out: list[str] = []
    if len(runs) < p + 1:
        out.append(f"only {len(runs)} runs for law {label}'s {p} free parameters: need at least {p + 1} "
                   "(one more than the parameters, to estimate the noise)")
    need = levels_needed(family)
    for v in family.variables:
        if not runs.has(v):
            continue
        x = runs.column(v)
        k = len(distinct_levels(x))
        if k < need:
            out.append(f"only {k} distinct {v} values (need >= {need} for {label}'s {p} parameters: its "
                       f"{v} dependence has an amplitude and an exponent on top of the floor)")
        x = x[np.isfinite(x) & (x > 0)]
        if x.size and k >= 2:
            decades = math.log10(x.max() / x.min())
            if decades < MIN_DECADES:
                out.append(f"{v} spans only {decades:.2f} decades ({x.min():.3g} to {x.max():.3g}): "
                           f"an exponent fitted over less than {MIN_DECADES:g} decade is poorly determined")
    if {"params", "tokens"} <= set(family.variables) and runs.has("params") and runs.has("tokens"):
        out.extend(_ratio_warning(runs.column("tokens") / runs.column("params")))
    return out


def _ratio_warning(ratio: np.ndarray) -> list[str]:
    r = ratio[np.isfinite(ratio) & (ratio > 0)]
    if r.size < 2 or r.max() / r.min() >= RATIO_SPREAD:
        return []
    mid = float(np.median(r))
    spread = 100.0 * float(np.max(np.abs(r / mid - 1.0)))
    return [f"all runs at tokens/params = {mid:.3g} ± {spread:.0f}% (varies by a factor "
            f"{r.max() / r.min():.2f} < {RATIO_SPREAD:g}): A/N^alpha and B/D^beta cannot be separated, "
            "since D moves in lockstep with N"]


def fit_identifiability_warnings(result: FitResult, max_orders: float = MAX_ORDERS) -> list[str]:
    """Warnings from a fitted :class:`~scalinglab.fitting.FitResult`: positive parameters whose bootstrap
    interval spans more than ``max_orders`` orders of magnitude (log10(high/low)): "the data do not
    determine" it beyond two orders (:data:`scalinglab.fitting.identify.WIDE`) or when the fit flags it,
    "identified but only loosely determined" between; parameters on a bound of the search box, and a
    fit that did not converge. A fit without a bootstrap gets one
    sentence saying the interval check could not be made."""
    if not isinstance(result, FitResult):
        raise ScalingLabError(f"result must be a FitResult (from sl.fit), got {type(result).__name__}")
    max_orders = positive_number("max_orders", max_orders)
    out: list[str] = []
    if not result.converged:
        out.append(f"the {result.law} fit did not converge (status {getattr(result, 'status', 'unknown')}): "
                   "its parameters may not be a minimum")
    if result.at_bound:
        out.append(f"parameter(s) {', '.join(result.at_bound)} of {result.law} ended on a bound of the search "
                   "box: the data do not hold them inside the plausible range")
    if not result.bootstrap:
        out.append(f"the {result.law} fit has no bootstrap: parameter intervals (and so their spread) "
                   "could not be checked; fit with bootstrap=200")
        return out + _unidentified_sentences(result, set(result.at_bound))
    named = set(result.at_bound)
    pct = f"{100 * result.level:g}%"
    for name in result.params:
        ci = result.ci.get(name)
        if not ci:
            continue
        lo, hi = ci
        orders = math.log10(hi / lo) if lo > 0 and hi > 0 else 0.0
        if orders <= max_orders:
            continue
        spans = f"{name}'s {pct} interval [{lo:.3g}, {hi:.3g}] spans {orders:.1f} orders of magnitude"
        if orders > math.log10(WIDE) or name in result.unidentified:
            out.append(f"{spans}: the data do not determine {name}")
            named.add(name)
        elif name not in named:  # identified (the trust check's limit is WIDE), but loosely
            out.append(f"{spans} (a factor {hi / lo:.0f}): {name} is identified but only loosely determined; "
                       "predictions far beyond the runs carry that spread")
    return out + _unidentified_sentences(result, named)


def _unidentified_sentences(result: FitResult, named: set[str]) -> list[str]:
    """The fit's own sentences on the parameters it could not identify (:meth:`FitResult.
    identification_notes`, :mod:`scalinglab.fitting.identify`), for those not ``named`` above."""
    return [note for name, note in zip(result.unidentified, result.identification_notes(), strict=True)
            if name not in named]
