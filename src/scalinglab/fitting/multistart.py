"""Multi-start minimisation over a family's starting grid.

Strategy (all steps batched over starts, BLAS pinned to one thread by the caller):

1. *Screen*: evaluate the objective at every start of the grid (for ``chinchilla`` the 4,500-start
   grid of Hoffmann et al. 2022) in one vectorised pass.
2. *Refine*: run the batched Levenberg-Marquardt optimiser from the ``refine`` starts with the lowest
   screened objective (default 64; ``refine=None`` runs every start, ~50x slower and on the
   Epoch/Chinchilla data no better).
3. *Polish*: continue the best start to a tight tolerance.

Large tables (more than ``subsample`` rows, default ``SUBSAMPLE`` = 4,096): steps 1 and 2, and a
first polish, run on a *stratified subsample* of rows (:func:`stratified_subsample`: the plane of
the logs of the law's variables, ln N x ln D for chinchilla, cut into ``STRATA`` cells; sparse
cells are taken whole, dense ones sampled down to a common cap, and every sampled row weighted by
its cell's count over the rows taken from it, so the subsample's objective estimates the full one).
Then the best few distinct subsample optima (at most ``POLISH_STARTS``, within ``POLISH_MARGIN`` of
the best) are polished on **all** rows, whose objective and Levenberg-Marquardt sums are
accumulated over blocks of rows (:mod:`scalinglab.fitting.optimizer`), and the best of them is the
answer. The cost of the screen and refine is then fixed, and the polish is linear in rows in time
and constant in memory. A table of at most ``subsample`` rows is its own subsample: the algorithm
is then exactly steps 1-3 on all rows.

The result reports how many refined starts reached the best objective (relative tolerance
``AT_BEST_RTOL``; with a subsample, the best objective on the subsample), whether the best one
converged, and which parameters sit on a bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from scalinglab.fitting.objective import Objective
from scalinglab.fitting.optimizer import minimize_batched, objective_values
from scalinglab.laws.base import LawFamily

Array = np.ndarray
AT_BEST_RTOL = 1e-5
SCREEN_CHUNK = 128  # starts per pass: keeps the (chunk, n) temporaries in cache (~5x faster than 2048)
SUBSAMPLE = 4096  # rows screened and refined on when a table has more (see the module docstring)
STRATA = 256  # cells of the stratification (STRATA ** (1/k) bins per axis for k variables)
POLISH_STARTS = 4  # subsample optima polished on all rows, at most
POLISH_MARGIN = 1e-2  # ... those within this relative margin of the best subsample objective


@dataclass
class MultiStartResult:
    theta: Array  # (P,) best internal parameters
    value: float  # objective at theta
    converged: bool
    n_starts: int  # starts in the grid (all screened)
    n_refined: int  # starts optimised
    n_at_best: int  # refined starts whose objective is within AT_BEST_RTOL of the best
    n_iter: int  # iterations of the best start (refine + polish)
    at_bound: list[str] = field(default_factory=list)  # internal parameter names on a bound
    candidates: Array | None = None  # (k, P) distinct good end points, best first (bootstrap starts)
    screened_best: Array | None = None  # (m, P) best grid starts by screened objective
    n_subsample: int = 0  # rows the grid was screened and refined on (all rows when <= SUBSAMPLE)


def screen(family: LawFamily, starts: Array, X: Mapping[str, Array], logy: Array,
           obj: Objective, weights: Array | None = None) -> Array:
    """Objective at every start, evaluated in chunks of SCREEN_CHUNK starts."""
    lo, hi = family.bounds()
    out = np.empty(len(starts))
    for i in range(0, len(starts), SCREEN_CHUNK):
        out[i : i + SCREEN_CHUNK] = objective_values(family, np.clip(starts[i : i + SCREEN_CHUNK], lo, hi),
                                                     X, logy, obj, weights)
    return out


def stratified_subsample(X: Mapping[str, Array], size: int, seed: int = 0,
                         strata: int = STRATA) -> tuple[Array, Array | None]:
    """Row indices (sorted) and weights of a subsample of about ``size`` rows, stratified over the logs
    of the variables (ln N x ln D for chinchilla).

    Each variable's log range is cut into ``round(strata ** (1/k))`` equal bins (k variables; a value
    <= 0, such as step 0, gets a bin of its own), giving at most ``strata`` cells. Every cell gives
    min(count, c) rows drawn without replacement (seeded), with the largest cap c that keeps the total
    at most ``size``: sparse cells (the largest and smallest models, which set the exponents) are
    taken whole, dense ones thinned. A sampled row's weight is its cell's count over the rows taken
    from that cell, so the weighted objective of the subsample estimates that of all rows. With at
    most ``size`` rows: every row, weights None."""
    cols = [np.asarray(v, dtype=float) for v in X.values()]
    n = len(cols[0]) if cols else 0
    if n <= size:
        return np.arange(n), None
    per_axis = max(2, int(round(strata ** (1.0 / len(cols)))))
    cell = np.zeros(n, dtype=np.int64)
    for v in cols:
        pos = v > 0
        u = np.log(np.where(pos, v, 1.0))
        lo, hi = (u[pos].min(), u[pos].max()) if pos.any() else (0.0, 0.0)
        b = np.floor((u - lo) / (hi - lo) * per_axis) if hi > lo else np.zeros(n)
        b = np.where(pos, np.clip(b, 0, per_axis - 1) + 1, 0).astype(np.int64)  # bin 0: v <= 0
        cell = cell * (per_axis + 1) + b
    counts = np.bincount(cell)
    lo_c, hi_c = 1, int(counts.max())  # largest cap c with sum(min(counts, c)) <= size
    while lo_c < hi_c:
        mid = (lo_c + hi_c + 1) // 2
        if np.minimum(counts, mid).sum() <= size:
            lo_c = mid
        else:
            hi_c = mid - 1
    taken = np.minimum(counts, lo_c)
    # rows ordered by cell, at random within a cell (cell ids are far below 2**52: the sum is exact)
    order = np.argsort(cell + np.random.default_rng(seed).random(n))
    cell_sorted = cell[order]
    rank = np.arange(n) - (np.cumsum(counts) - counts)[cell_sorted]
    idx = np.sort(order[rank < taken[cell_sorted]])
    return idx, counts[cell[idx]] / taken[cell[idx]]


def bound_hits(family: LawFamily, theta: Array, rtol: float = 1e-6) -> list[str]:
    """Parameters (natural names, e.g. ``A`` for a = ln A) on a bound of the search box (within
    rtol of its width). Internal and natural parameters correspond one to one, in order."""
    lo, hi = family.bounds()
    span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    near = (np.abs(theta - lo) <= rtol * span) | (np.abs(theta - hi) <= rtol * span)
    return [n for n, hit in zip(family.param_names, near) if hit]


def distinct_index(theta: Array, k: int, tol: float = 1e-3, value: Array | None = None,
                   scale: Array | float = 1.0) -> list[int]:
    """Indices of up to k optima, best first, skipping near-duplicates: rows whose largest
    ``|difference| / scale`` from a row already kept is at most ``tol``. With ``value``, rows are
    taken in increasing order of value and a non-finite value ends the list; without, in the given
    order (already ranked)."""
    order = range(len(theta)) if value is None else np.argsort(value, kind="stable")
    keep: list[int] = []
    for i in order:
        if value is not None and not np.isfinite(value[i]):
            break
        if all(np.max(np.abs(theta[i] - theta[j]) / scale) > tol for j in keep):
            keep.append(int(i))
        if len(keep) == k:
            break
    return keep


def distinct_optima(theta: Array, k: int, tol: float = 1e-3, value: Array | None = None,
                    scale: Array | float = 1.0) -> Array:
    """The rows :func:`distinct_index` keeps, as a ``(m, P)`` array (m <= k): the distinct optima of a
    multi-start fit, used as starts for bootstrap refits."""
    return theta[distinct_index(theta, k, tol, value, scale)].reshape(-1, theta.shape[1])


def multistart(family: LawFamily, X: Mapping[str, Array], logy: Array, obj: Objective,
               starts: Array | None = None, refine: int | None = 64, max_iter: int = 150,
               polish_iter: int = 1000, subsample: int | None = SUBSAMPLE) -> MultiStartResult:
    """Best fit from a grid of starts: screen all, refine the best ``refine``, polish the winner.

    With more than ``subsample`` rows (None: never), screen, refine and a first polish run on a
    stratified subsample, and the best few subsample optima are polished on all rows (module
    docstring)."""
    grid = family.init_grid(X, np.exp(logy)) if starts is None else np.atleast_2d(np.asarray(starts, float))
    n = len(logy)
    idx, w = (np.arange(n), None) if subsample is None else stratified_subsample(X, subsample)
    sampled = w is not None
    Xs = {k: v[idx] for k, v in X.items()} if sampled else X
    ys = logy[idx] if sampled else logy
    v0 = screen(family, grid, Xs, ys, obj, w)
    order = np.argsort(v0, kind="stable")
    chosen = order if refine is None or refine >= len(grid) else order[:refine]
    res = minimize_batched(family, grid[chosen], Xs, ys, obj, weights=w, ftol=1e-10, max_iter=max_iter)
    ends = distinct_index(res.theta, POLISH_STARTS, value=res.value) if sampled else []
    ends = ends or [int(np.argmin(res.value))]
    polish = minimize_batched(family, res.theta[ends], Xs, ys, obj, weights=w, ftol=1e-15, xtol=1e-13,
                              max_iter=polish_iter)
    best_sub = float(np.min(polish.value))
    n_iter = res.n_iter[ends] + polish.n_iter
    if sampled:  # the subsample optima within POLISH_MARGIN of the best, polished on all rows
        near = np.flatnonzero(polish.value <= best_sub + POLISH_MARGIN * abs(best_sub))
        near = near[np.argsort(polish.value[near], kind="stable")]
        full = minimize_batched(family, polish.theta[near], X, logy, obj, ftol=1e-15, xtol=1e-13,
                                max_iter=polish_iter)
        polish, n_iter = full, n_iter[near] + full.n_iter
    i = int(np.argmin(polish.value))
    best_theta, best_value = polish.theta[i], float(polish.value[i])
    finite = np.isfinite(res.value)
    ref = best_sub if sampled else best_value
    n_at_best = int(np.sum(finite & (res.value <= ref * (1 + AT_BEST_RTOL) + 1e-300)))
    ranked = np.argsort(polish.value, kind="stable")
    # bootstrap starts: the optimum and the other polished optima (best first), then refined end points
    pool = np.vstack([polish.theta[ranked], res.theta[np.argsort(res.value, kind="stable")]])
    pool_rank = np.arange(len(pool), dtype=float)
    pool_rank[~np.isfinite(np.concatenate([polish.value[ranked], np.sort(res.value)]))] = np.inf
    return MultiStartResult(
        theta=best_theta,
        value=best_value,
        converged=bool(polish.converged[i] and np.isfinite(best_value)),
        n_starts=len(grid),
        n_refined=len(chosen),
        n_at_best=max(n_at_best, 1) if np.isfinite(best_value) else 0,
        n_iter=int(n_iter[i]),
        at_bound=bound_hits(family, best_theta),
        candidates=distinct_optima(pool, 4, value=pool_rank),
        screened_best=grid[order[:4]],
        n_subsample=len(idx),
    )
