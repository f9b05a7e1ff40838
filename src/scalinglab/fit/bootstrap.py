"""Nonparametric bootstrap of a fit: resample rows (or whole groups) and refit each resample.

Each resample is refitted from several starts (the full-data optimum, the other distinct end points
of the main multi-start, and the best screened grid starts), so a resample that moves to another
basin is still found: it is not a single warm start. All resamples of a chunk advance together in
one batched optimisation with per-point bootstrap counts as weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from scalinglab.fit.objective import Objective
from scalinglab.fit.optimizer import minimize_batched
from scalinglab.laws.base import LawFamily

Array = np.ndarray
CHUNK = 64  # resamples per batched optimisation (512 starts; measured best of 8..256)


@dataclass
class BootstrapDraws:
    theta: Array  # (B, P) internal parameters of each resample's best fit
    converged: Array  # (B,) bool
    unit: str  # "rows" or "groups"


def resample_weights(n: int, size: int, rng: np.random.Generator, groups: Array | None) -> Array:
    """Per-point multiplicities (size, n): rows drawn with replacement, or whole groups."""
    if groups is None:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(float)
    labels, inverse = np.unique(groups, return_inverse=True)
    g = len(labels)
    counts = rng.multinomial(g, np.full(g, 1.0 / g), size=size).astype(float)
    return counts[:, inverse]


def bootstrap_fit(family: LawFamily, X: Mapping[str, Array], logy: Array, obj: Objective,
                  starts: Array, n_resamples: int, seed: int, groups: Array | None = None,
                  on_chunk: Callable[[int], None] | None = None) -> BootstrapDraws:
    """Refit ``n_resamples`` bootstrap resamples, each from every row of ``starts`` (m, P)."""
    rng = np.random.default_rng(seed)
    weights = resample_weights(len(logy), n_resamples, rng, groups)
    m, P = starts.shape
    theta = np.empty((n_resamples, P))
    converged = np.zeros(n_resamples, dtype=bool)
    for lo in range(0, n_resamples, CHUNK):
        w = weights[lo : lo + CHUNK]
        b = len(w)
        res = minimize_batched(family, np.tile(starts, (b, 1)), X, logy, obj,
                               weights=np.repeat(w, m, axis=0), ftol=1e-9, max_iter=500)
        values = res.value.reshape(b, m)
        best = np.argmin(values, axis=1)
        rows = np.arange(b) * m + best
        theta[lo : lo + b] = res.theta[rows]
        converged[lo : lo + b] = res.converged[rows] & np.isfinite(values[np.arange(b), best])
        if on_chunk is not None:
            on_chunk(b)
    return BootstrapDraws(theta=theta, converged=converged, unit="rows" if groups is None else "groups")
