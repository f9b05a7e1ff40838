"""A batched, bounded Levenberg-Marquardt optimiser for many starting points at once.

All S starts advance together as ``(S, P)`` arrays: no Python loop per start. Each iteration builds
the Gauss-Newton model of the objective with IRLS weights psi(r)/r (a majoriser of the Huber loss),
adds Marquardt damping lambda*diag(H), takes the step, projects it onto the bounds and keeps it only
if the objective falls (each start has its own lambda). Finished starts leave the active set, so the
cost of an iteration shrinks as starts converge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from scalinglab.fit.objective import Objective
from scalinglab.laws.base import LawFamily

Array = np.ndarray


@dataclass
class BatchResult:
    theta: Array  # (S, P) final internal parameters
    value: Array  # (S,) final objective
    converged: Array  # (S,) bool: stopped on a convergence test, not on the iteration cap
    n_iter: Array  # (S,) iterations used
    pruned: Array  # (S,) bool: abandoned early because far worse than the best start


def _objective(family: LawFamily, theta: Array, X: Mapping[str, Array], logy: Array,
               obj: Objective, weights: Array | None) -> Array:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        v = obj.value(family.log_predict(theta, X) - logy, weights)
    return np.where(np.isfinite(v), v, np.inf)


def minimize_batched(family: LawFamily, theta0: Array, X: Mapping[str, Array], logy: Array,
                     obj: Objective, weights: Array | None = None, max_iter: int = 300,
                     ftol: float = 1e-12, xtol: float = 1e-10,
                     prune_at: tuple[int, ...] = (), prune_factor: float = 2.0) -> BatchResult:
    """Minimise ``sum_i w_i rho(ln f(x_i; theta) - ln y_i)`` from every row of ``theta0``.

    ``weights`` (optional) is ``(n,)`` or ``(S, n)`` of per-point multiplicities (bootstrap counts).
    At each iteration number in ``prune_at``, starts whose objective is above ``prune_factor`` times
    the best objective so far are abandoned (``pruned``); use it only when all starts share one
    objective (a multi-start fit, not a batch of bootstrap resamples).
    """
    lo, hi = family.bounds()
    theta = np.clip(np.array(theta0, dtype=float), lo, hi)
    S, P = theta.shape
    W = None if weights is None else np.broadcast_to(weights, (S, logy.shape[-1]))
    value = _objective(family, theta, X, logy, obj, W)
    lam = np.full(S, 1e-3)
    converged = np.zeros(S, dtype=bool)
    n_iter = np.zeros(S, dtype=int)
    pruned = np.zeros(S, dtype=bool)
    active = np.arange(S)
    eye = np.eye(P)
    for it in range(max_iter):
        if it in prune_at and active.size:
            worse = value[active] > prune_factor * value.min()
            pruned[active[worse]] = True
            active = active[~worse]
        if active.size == 0:
            break
        th = theta[active]
        w_pts = None if W is None else W[active]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            f, J = family.log_predict(th, X, jac=True)
            r = f - logy
            psi = obj.psi(r)
            cw = obj.irls_weight(r)
            if w_pts is not None:
                psi = psi * w_pts
                cw = cw * w_pts
            g = np.einsum("spn,sn->sp", J, psi)
            H = np.matmul(J * cw[:, None, :], J.transpose(0, 2, 1))
        d = np.maximum(np.einsum("spp->sp", H), 1e-12 * (1 + np.abs(np.einsum("spp->sp", H)).max(1, keepdims=True)))
        A = H + lam[active, None, None] * d[:, :, None] * eye
        bad = ~np.all(np.isfinite(A), axis=(1, 2)) | ~np.all(np.isfinite(g), axis=1)
        A[bad] = eye
        g[bad] = 0.0
        step = -np.linalg.solve(A, g[:, :, None])[:, :, 0]
        new = np.clip(th + step, lo, hi)
        new_val = _objective(family, new, X, logy, obj, w_pts)
        old_val = value[active]
        accept = new_val < old_val
        moved = np.abs(new - th).max(axis=1)
        theta[active[accept]] = new[accept]
        value[active[accept]] = new_val[accept]
        lam[active] = np.where(accept, np.maximum(lam[active] * 0.3, 1e-10), lam[active] * 10.0)
        n_iter[active] += 1
        small_gain = accept & (old_val - new_val <= ftol * np.maximum(np.abs(new_val), 1e-300))
        small_step = moved <= xtol * (1.0 + np.abs(th).max(axis=1))
        stuck = ~accept & (lam[active] > 1e12)
        done = small_gain | small_step | stuck | bad
        converged[active[done & ~bad]] = True
        active = active[~done]
    return BatchResult(theta=theta, value=value, converged=converged, n_iter=n_iter, pruned=pruned)
