"""Nonparametric bootstrap of a fit: resample rows (or whole groups) and refit each resample.

Algorithm (:func:`bootstrap_fit`):

1. *Starts.* Row 0 of the starts handed in is the full-data optimum. Every other row (the other
   end points of the main multi-start and the best screened grid starts) is first converged on the
   full data, once; of the distinct local minima this gives, the best ``ALTERNATIVES`` (2) are kept.
   Each resample is then refitted from the full-data optimum **and** those local minima, so a
   resample whose best fit lies in another basin of the full data's objective still finds it: it
   is not a single warm start. Starting from minima rather than from raw grid points is what makes
   it fast: a resample's optimum lies close to one of them (about 10-20 iterations instead of
   50-250 for the same end point from a grid start).
2. *Batches.* All resamples of a chunk, times all their starts, advance together in one batched
   Levenberg-Marquardt optimisation (:mod:`scalinglab.fitting.optimizer`) with the bootstrap counts as
   per-point weights. A chunk holds at most ``CHUNK`` resamples, fewer when rows are many, so that
   its (resamples x starts, rows) weights stay within ``CHUNK_BYTES``; the counts are drawn chunk
   by chunk from one seeded generator (the same draws as drawing them all at once).
3. *Accounting.* A resample's draw is its best start's end point; it counts as converged when that
   start stopped on a convergence test (not on the iteration cap) with a finite objective.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from scalinglab.fitting.multistart import distinct_index
from scalinglab.fitting.objective import Objective
from scalinglab.fitting.optimizer import minimize_batched
from scalinglab.laws.base import LawFamily

Array = np.ndarray
CHUNK = 256  # resamples per batched optimisation at most
CHUNK_BYTES = 32 << 20  # bound on a chunk's (resamples x starts, rows) weight array
ALTERNATIVES = 2  # full-data local minima, besides the optimum, that every resample starts from
DISTINCT_TOL = 0.05  # max-abs distance (internal parameters) beyond which two minima are distinct
FTOL, MAX_ITER = 1e-9, 500  # stopping tolerance and iteration cap of each resample's fit


@dataclass
class BootstrapDraws:
    theta: Array  # (B, P) internal parameters of each resample's best fit
    converged: Array  # (B,) bool
    unit: str  # "rows" or "groups"
    starts: Array | None = None  # (m, P) the starts every resample was refitted from


def resample_weights(n: int, size: int, rng: np.random.Generator, groups: Array | None) -> Array:
    """Per-point multiplicities (size, n): rows drawn with replacement, or whole groups."""
    if groups is None:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(float)
    labels, inverse = np.unique(groups, return_inverse=True)
    g = len(labels)
    counts = rng.multinomial(g, np.full(g, 1.0 / g), size=size).astype(float)
    return counts[:, inverse]


def bootstrap_starts(family: LawFamily, X: Mapping[str, Array], logy: Array, obj: Objective,
                     starts: Array, alternatives: int = ALTERNATIVES) -> Array:
    """Row 0 of ``starts`` (the full-data optimum) and up to ``alternatives`` other distinct local
    minima of the full data, best first, found by converging every other row of ``starts``."""
    starts = np.atleast_2d(np.asarray(starts, dtype=float))
    if len(starts) == 1 or alternatives < 1:
        return starts[:1].copy()
    res = minimize_batched(family, starts[1:], X, logy, obj, ftol=1e-12, max_iter=MAX_ITER)
    ok = np.isfinite(res.value) & res.converged
    ranked = np.flatnonzero(ok)[np.argsort(res.value[ok], kind="stable")]
    candidates = np.vstack([starts[:1], res.theta[ranked]])  # the optimum first, then best first
    return candidates[distinct_index(candidates, 1 + alternatives, tol=DISTINCT_TOL)]


def bootstrap_fit(family: LawFamily, X: Mapping[str, Array], logy: Array, obj: Objective,
                  starts: Array, n_resamples: int, seed: int, groups: Array | None = None,
                  on_chunk: Callable[[int], None] | None = None,
                  alternatives: int = ALTERNATIVES) -> BootstrapDraws:
    """Refit ``n_resamples`` bootstrap resamples (module docstring). ``starts`` (m, P): row 0 the
    full-data optimum, the other rows candidate starts for finding the full data's other minima."""
    rng = np.random.default_rng(seed)
    n = len(logy)
    s = bootstrap_starts(family, X, logy, obj, starts, alternatives)
    m, P = s.shape
    theta = np.empty((n_resamples, P))
    converged = np.zeros(n_resamples, dtype=bool)
    chunk = int(max(1, min(CHUNK, CHUNK_BYTES // (8 * m * max(n, 1)))))
    for lo in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - lo)
        w = resample_weights(n, b, rng, groups)
        res = minimize_batched(family, np.tile(s, (b, 1)), X, logy, obj, weights=np.repeat(w, m, axis=0),
                               ftol=FTOL, max_iter=MAX_ITER)
        values = res.value.reshape(b, m)
        best = np.argmin(values, axis=1)
        rows = np.arange(b) * m + best
        theta[lo : lo + b] = res.theta[rows]
        converged[lo : lo + b] = res.converged[rows] & np.isfinite(values[np.arange(b), best])
        if on_chunk is not None:
            on_chunk(b)
    return BootstrapDraws(theta=theta, converged=converged, unit="rows" if groups is None else "groups",
                          starts=s)
