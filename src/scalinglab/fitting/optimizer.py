"""The batched, bounded Levenberg-Marquardt optimiser for many starting points at once.

It is the one optimiser of the package: :func:`minimize_residuals` takes any residual-and-Jacobian
callable (:data:`Residuals`) with a box and an optional projection; the law families run on it
through :func:`minimize_batched` (log-residuals of a :class:`~scalinglab.laws.base.LawFamily`), the
sigmoids of :mod:`scalinglab.analysis._sigmoid` and the test-time-compute sigmoid of
:mod:`scalinglab.inference.testtime` through their own residuals. One set of damping constants
(``LAMBDA_*``) and one stopping test serve them all; :mod:`scalinglab.fitting.status` has the
first-order test of the end point.

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

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from scalinglab.fitting.objective import Objective
from scalinglab.laws.base import LawFamily

Array = np.ndarray
BLOCK_BYTES = 16 << 20  # per (S, P, block) Jacobian block; its temporaries are a few times this
MIN_BLOCK = 1024  # rows: smaller blocks cost more in Python overhead than they save in memory
LEAST_SQUARES = Objective("ls")


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


#: Levenberg-Marquardt damping: start, factor on an accepted step, floor, factor on a rejected step,
#: and the damping beyond which a start that still cannot descend has stalled.
LAMBDA_START, LAMBDA_DOWN, LAMBDA_MIN, LAMBDA_UP, LAMBDA_STALL = 1e-3, 0.3, 1e-10, 10.0, 1e12

#: ``residuals(theta, starts, rows, jac)``: residuals ``(S, b)`` of parameter rows ``theta`` (S, P)
#: on the rows ``rows`` (a slice of 0..n), and with ``jac=True`` also their Jacobian ``(S, P, b)``.
#: ``starts`` (S,) are the indices of the rows of theta among all starts, for problems whose
#: targets differ from start to start (bootstrap resamples).
Residuals = Callable[[Array, Array, slice, bool], "Array | tuple[Array, Array]"]


def law_residuals(family: LawFamily, X: Mapping[str, Array], logy: Array) -> Residuals:
    """The log-residuals ln f(x_i; theta) - ln y_i of a law family, as a :data:`Residuals` callable."""
    n = logy.shape[-1]

    def residuals(theta: Array, starts: Array, rows: slice, jac: bool = False):
        Xb, yb, _ = _rows(X, logy, None, rows, n)
        if not jac:
            return family.log_predict(theta, Xb) - yb
        f, J = family.log_predict(theta, Xb, jac=True)
        return f - yb, J

    return residuals


def objective_values_of(residuals: Residuals, theta: Array, starts: Array, n: int, obj: Objective,
            weights: Array | None, block_bytes: int = BLOCK_BYTES) -> Array:
    S = theta.shape[0]
    v = np.zeros(S)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for rows in row_blocks(n, S, 1, block_bytes):
            wb = None if weights is None or (rows.start == 0 and rows.stop == n) else weights[..., rows]
            v += obj.value(residuals(theta, starts, rows, False), weights if wb is None else wb)
    return np.where(np.isfinite(v), v, np.inf)


def normal_equations_of(residuals: Residuals, theta: Array, starts: Array, n: int, obj: Objective,
            weights: Array | None, block_bytes: int = BLOCK_BYTES) -> tuple[Array, Array]:
    S, P = theta.shape
    g, H = np.zeros((S, P)), np.zeros((S, P, P))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for rows in row_blocks(n, S, P, block_bytes):
            wb = None if weights is None or (rows.start == 0 and rows.stop == n) else weights[..., rows]
            wb = weights if wb is None else wb
            r, J = residuals(theta, starts, rows, True)
            psi, cw = obj.psi(r), obj.irls_weight(r)
            if wb is not None:
                psi *= wb
                cw *= wb
            g += np.einsum("spn,sn->sp", J, psi)
            H += np.matmul(J * cw[:, None, :], J.transpose(0, 2, 1))
    return g, H


def objective_values(family: LawFamily, theta: Array, X: Mapping[str, Array], logy: Array,
                     obj: Objective, weights: Array | None = None,
                     block_bytes: int = BLOCK_BYTES) -> Array:
    """Objective at each row of theta ``(S, P)``; +inf where the prediction is not finite.

    Summed over blocks of rows (``row_blocks``), so memory does not grow with S * n."""
    S = theta.shape[0]
    return objective_values_of(law_residuals(family, X, logy), theta, np.arange(S), logy.shape[-1], obj, weights,
                   block_bytes)


def normal_equations(family, theta, X, logy, obj, weights, block_bytes: int = BLOCK_BYTES):
    """Gradient g (S, P) and IRLS Gauss-Newton matrix H (S, P, P) of the weighted objective.

    g = sum_i w_i psi(r_i) J_i and H = sum_i w_i (psi(r_i)/r_i) J_i J_i^T, accumulated over blocks of
    rows (``row_blocks``): the result is the same sum as over all rows at once (to rounding), with
    the Jacobian held for one block at a time."""
    S = theta.shape[0]
    return normal_equations_of(law_residuals(family, X, logy), theta, np.arange(S), logy.shape[-1], obj, weights,
                   block_bytes)


def _damped_step(theta, g, H, lam, lo, hi, project=None):
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
    new = np.clip(theta + step, lo, hi) if project is None else project(theta + step)
    return new, bad


def minimize_residuals(residuals: Residuals, theta0: Array, n: int, lo: Array, hi: Array,
                       obj: Objective = LEAST_SQUARES, weights: Array | None = None,
                       project: Callable[[Array], Array] | None = None, max_iter: int = 300,
                       ftol: float = 1e-12, xtol: float = 1e-10) -> BatchResult:
    """Minimise ``sum_i w_i rho(r_i(theta))`` over the box [lo, hi] from every row of ``theta0``.

    The batched, bounded Levenberg-Marquardt optimiser of this package (module docstring); every
    fit in scalinglab runs on it. ``residuals`` gives the n residuals and their Jacobian
    (:data:`Residuals`); ``obj`` the loss rho (least squares by default); ``weights`` (optional,
    ``(n,)`` or ``(S, n)``) per-point multiplicities; ``project`` (optional) maps a point onto the
    feasible set (default: clip to the box), for constraints beyond the box.
    A start converges when an accepted step lowers the objective by at most ``ftol`` (relative),
    or moves every parameter by at most ``xtol``, or when no damping makes a step descend.
    """
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    theta = np.array(theta0, dtype=float)
    theta = np.clip(theta, lo, hi) if project is None else project(theta)
    S = theta.shape[0]
    W = None if weights is None else np.broadcast_to(weights, (S, n))
    value = objective_values_of(residuals, theta, np.arange(S), n, obj, W)
    lam = np.full(S, LAMBDA_START)
    converged = np.zeros(S, dtype=bool)
    n_iter = np.zeros(S, dtype=int)
    active = np.arange(S)
    for _ in range(max_iter):
        if active.size == 0:
            break
        th, w_pts = theta[active], None if W is None else W[active]
        g, H = normal_equations_of(residuals, th, active, n, obj, w_pts)
        new, bad = _damped_step(th, g, H, lam[active], lo, hi, project)
        new_val = objective_values_of(residuals, new, active, n, obj, w_pts)
        old_val = value[active]
        accept = new_val < old_val
        moved = np.abs(new - th).max(axis=1)
        theta[active[accept]] = new[accept]
        value[active[accept]] = new_val[accept]
        lam[active] = np.where(accept, np.maximum(lam[active] * LAMBDA_DOWN, LAMBDA_MIN),
                               lam[active] * LAMBDA_UP)
        n_iter[active] += 1
        small_gain = accept & (old_val - new_val <= ftol * np.maximum(np.abs(new_val), 1e-300))
        small_step = moved <= xtol * (1.0 + np.abs(th).max(axis=1))
        done = small_gain | small_step | (~accept & (lam[active] > LAMBDA_STALL)) | bad
        converged[active[done & ~bad]] = True
        active = active[~done]
    return BatchResult(theta=theta, value=value, converged=converged, n_iter=n_iter)


def minimize_batched(family: LawFamily, theta0: Array, X: Mapping[str, Array], logy: Array,
                     obj: Objective, weights: Array | None = None, max_iter: int = 300,
                     ftol: float = 1e-12, xtol: float = 1e-10) -> BatchResult:
    """Minimise ``sum_i w_i rho(ln f(x_i; theta) - ln y_i)`` from every row of ``theta0``.

    :func:`minimize_residuals` on the log-residuals of a law family (:func:`law_residuals`) within
    the family's bounds. ``weights`` (optional) is ``(n,)`` or ``(S, n)`` of per-point
    multiplicities (bootstrap counts).
    """
    lo, hi = family.bounds()
    return minimize_residuals(law_residuals(family, X, logy), theta0, logy.shape[-1], lo, hi, obj,
                              weights, max_iter=max_iter, ftol=ftol, xtol=xtol)
