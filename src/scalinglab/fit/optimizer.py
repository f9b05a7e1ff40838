"""A batched, bounded Levenberg-Marquardt optimiser for many starting points at once.

All S starts advance together as ``(S, P)`` arrays: no Python loop per start. Each iteration builds
the Gauss-Newton model of the objective with IRLS weights psi(r)/r (a majoriser of the Huber loss),
adds Marquardt damping lambda*diag(H), and solves for the step. Parameters sitting on a bound whose
gradient points out of the box are held fixed for that step (an active set), so the other parameters
keep moving instead of the whole step being clipped away. The step is projected onto the bounds and
kept only if the objective falls; each start has its own lambda. Finished starts leave the active
set, so the cost of an iteration shrinks as starts converge.

Memory is bounded in the number of rows n: the objective, the gradient g = J psi and the
Gauss-Newton matrix H = J^T W J are accumulated over blocks of rows (:func:`row_blocks`), so the
Jacobian ``(S, P, n)`` of S starts is never held for all n rows at once, only ``(S, P, block)``
with S * P * block * 8 bytes <= ``BLOCK_BYTES``. Below that size (every fit of a few thousand rows,
every bootstrap chunk of a few hundred) there is one block and nothing changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from scalinglab.fit.objective import Objective
from scalinglab.laws.base import LawFamily

Array = np.ndarray
BLOCK_BYTES = 16 << 20  # per (S, P, block) Jacobian block; its temporaries are a few times this
MIN_BLOCK = 1024  # rows: smaller blocks cost more in Python overhead than they save in memory


def row_blocks(n: int, S: int, P: int, block_bytes: int = BLOCK_BYTES) -> list[slice]:
    """Consecutive row slices covering 0..n, each small enough for an (S, P, block) float array."""
    block = max(MIN_BLOCK, block_bytes // (8 * max(S, 1) * max(P, 1)))
    return [slice(lo, min(lo + block, n)) for lo in range(0, n, block)] or [slice(0, 0)]


def _rows(X: Mapping[str, Array], logy: Array, weights: Array | None, rows: slice, n: int):
    """The variables, log-losses and weights of one block of rows (the whole arrays for one block)."""
    if rows.start == 0 and rows.stop == n:
        return X, logy, weights
    w = None if weights is None else weights[..., rows]
    return {k: v[rows] for k, v in X.items()}, logy[rows], w


@dataclass
class BatchResult:
    theta: Array  # (S, P) final internal parameters
    value: Array  # (S,) final objective
    converged: Array  # (S,) bool: stopped on a convergence test, not on the iteration cap
    n_iter: Array  # (S,) iterations used


def objective_values(family: LawFamily, theta: Array, X: Mapping[str, Array], logy: Array,
                     obj: Objective, weights: Array | None = None,
                     block_bytes: int = BLOCK_BYTES) -> Array:
    """Objective at each row of theta ``(S, P)``; +inf where the prediction is not finite.

    Summed over blocks of rows (``row_blocks``), so memory does not grow with S * n."""
    n, S = logy.shape[-1], theta.shape[0]
    v = np.zeros(S)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for rows in row_blocks(n, S, 1, block_bytes):
            Xb, yb, wb = _rows(X, logy, weights, rows, n)
            v += obj.value(family.log_predict(theta, Xb) - yb, wb)
    return np.where(np.isfinite(v), v, np.inf)


def normal_equations(family, theta, X, logy, obj, weights, block_bytes: int = BLOCK_BYTES):
    """Gradient g (S, P) and IRLS Gauss-Newton matrix H (S, P, P) of the weighted objective.

    g = sum_i w_i psi(r_i) J_i and H = sum_i w_i (psi(r_i)/r_i) J_i J_i^T, accumulated over blocks of
    rows (``row_blocks``): the result is the same sum as over all rows at once (to rounding), with
    the Jacobian held for one block at a time."""
    n, S, P = logy.shape[-1], theta.shape[0], theta.shape[1]
    g, H = np.zeros((S, P)), np.zeros((S, P, P))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for rows in row_blocks(n, S, P, block_bytes):
            Xb, yb, wb = _rows(X, logy, weights, rows, n)
            f, J = family.log_predict(theta, Xb, jac=True)
            r = f - yb
            psi, cw = obj.psi(r), obj.irls_weight(r)
            if wb is not None:
                psi *= wb
                cw *= wb
            g += np.einsum("spn,sn->sp", J, psi)
            H += np.matmul(J * cw[:, None, :], J.transpose(0, 2, 1))
    return g, H


def _damped_step(theta, g, H, lam, lo, hi):
    """Levenberg-Marquardt step with parameters on a bound (gradient pointing outwards) held fixed."""
    P = theta.shape[1]
    eye = np.eye(P)
    diag = np.einsum("spp->sp", H)
    d = np.maximum(diag, 1e-12 * (1.0 + np.abs(diag).max(axis=1, keepdims=True)))
    A = H + lam[:, None, None] * d[:, :, None] * eye
    bad = ~np.all(np.isfinite(A), axis=(1, 2)) | ~np.all(np.isfinite(g), axis=1)
    A[bad], g[bad] = eye, 0.0
    fixed = ((theta <= lo) & (g > 0)) | ((theta >= hi) & (g < 0))
    if fixed.any():
        free = ~fixed
        A = A * (free[:, :, None] & free[:, None, :]) + fixed[:, :, None] * eye
        g = np.where(fixed, 0.0, g)
    step = -np.linalg.solve(A, g[:, :, None])[:, :, 0]
    return np.clip(theta + step, lo, hi), bad


def minimize_batched(family: LawFamily, theta0: Array, X: Mapping[str, Array], logy: Array,
                     obj: Objective, weights: Array | None = None, max_iter: int = 300,
                     ftol: float = 1e-12, xtol: float = 1e-10) -> BatchResult:
    """Minimise ``sum_i w_i rho(ln f(x_i; theta) - ln y_i)`` from every row of ``theta0``.

    ``weights`` (optional) is ``(n,)`` or ``(S, n)`` of per-point multiplicities (bootstrap counts).
    A start converges when an accepted step lowers the objective by at most ``ftol`` (relative),
    or moves every parameter by at most ``xtol``, or when no damping makes a step descend.
    """
    lo, hi = family.bounds()
    theta = np.clip(np.array(theta0, dtype=float), lo, hi)
    S = theta.shape[0]
    W = None if weights is None else np.broadcast_to(weights, (S, logy.shape[-1]))
    value = objective_values(family, theta, X, logy, obj, W)
    lam = np.full(S, 1e-3)
    converged = np.zeros(S, dtype=bool)
    n_iter = np.zeros(S, dtype=int)
    active = np.arange(S)
    for _ in range(max_iter):
        if active.size == 0:
            break
        th, w_pts = theta[active], None if W is None else W[active]
        g, H = normal_equations(family, th, X, logy, obj, w_pts)
        new, bad = _damped_step(th, g, H, lam[active], lo, hi)
        new_val = objective_values(family, new, X, logy, obj, w_pts)
        old_val = value[active]
        accept = new_val < old_val
        moved = np.abs(new - th).max(axis=1)
        theta[active[accept]] = new[accept]
        value[active[accept]] = new_val[accept]
        lam[active] = np.where(accept, np.maximum(lam[active] * 0.3, 1e-10), lam[active] * 10.0)
        n_iter[active] += 1
        small_gain = accept & (old_val - new_val <= ftol * np.maximum(np.abs(new_val), 1e-300))
        small_step = moved <= xtol * (1.0 + np.abs(th).max(axis=1))
        done = small_gain | small_step | (~accept & (lam[active] > 1e12)) | bad
        converged[active[done & ~bad]] = True
        active = active[~done]
    return BatchResult(theta=theta, value=value, converged=converged, n_iter=n_iter)
