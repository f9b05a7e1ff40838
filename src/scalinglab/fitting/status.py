"""How a fit ended: a status decided by a first-order optimality test, not by "no step descends".

The test is the projected gradient measured in the Gauss-Newton metric. At the final internal
parameters theta, with g the gradient of the objective and H = J^T W J its IRLS Gauss-Newton matrix
(see :mod:`scalinglab.fitting.optimizer`), parameters on a bound whose gradient points out of the box are
dropped (the projection), and on the remaining free ones

    decrement = g_F^T H_FF^+ g_F / 2

is the decrease a full Gauss-Newton step would still make. The fit is ``converged`` when

    decrement <= RTOL * objective + n * ATOL_PER_POINT,

that is, when the objective cannot fall by more than a relative 1e-8 (the floor ``ATOL_PER_POINT``
is the floating-point resolution of a sum of n squared log-residuals of order 1e-15). Scaling the
gradient by H^+ makes the test independent of the units of each parameter (an exponent and a
log-amplitude are compared on the scale of the objective they move). A flat direction (H singular)
has no gradient component in exact arithmetic and is left to :mod:`scalinglab.fitting.identify`.

Otherwise the status says how the optimiser stopped: ``max_iterations`` (it ran out of iterations),
``stalled`` (it stopped because no damped step descended, yet the gradient is not small), or
``failed`` (no finite objective or parameters).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import numpy as np

from scalinglab.fitting.objective import Objective
from scalinglab.fitting.optimizer import normal_equations
from scalinglab.laws.base import LawFamily

Array = np.ndarray
RTOL = 1e-8
ATOL_PER_POINT = 1e-28


class FitStatus(str, enum.Enum):
    """How a fit ended (the value is what JSON and the CLI print)."""

    CONVERGED = "converged"
    STALLED = "stalled"
    MAX_ITERATIONS = "max_iterations"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    def describe(self) -> str:
        """One phrase for a summary."""
        return {
            "converged": "converged (first-order test passed: the projected gradient is negligible)",
            "stalled": "STALLED: the optimiser stopped, but the projected gradient is not small; "
                       "the parameters may not be a minimum",
            "max_iterations": "MAX_ITERATIONS: the optimiser ran out of iterations before the "
                              "projected gradient became small",
            "failed": "FAILED: no finite objective",
        }[self.value]


def free_mask(theta: Array, g: Array, lo: Array, hi: Array) -> Array:
    """Parameters not held on a bound: a parameter on its lower bound with g > 0 (or on its upper
    bound with g < 0) would leave the box if it moved downhill, so it is not free."""
    return ~(((theta <= lo) & (g > 0)) | ((theta >= hi) & (g < 0)))


def decrements(theta: Array, g: Array, H: Array, lo: Array, hi: Array) -> Array:
    """g_F^T H_FF^+ g_F / 2 for each row of ``theta`` (S, P), gradient ``g`` (S, P) and Gauss-Newton
    matrix ``H`` (S, P, P): the decrease a projected Gauss-Newton step would still make (+inf where
    g or H is not finite, 0 where no parameter is free).

    Batched and scaled: H_FF is divided by its largest diagonal entry c (at most its largest
    eigenvalue, H being positive semi-definite) and g_F by sqrt(c), which leaves the decrement and
    the relative pseudo-inverse cutoff unchanged; the rows and columns of the parameters held on a
    bound become those of the identity (zero gradient there), so they add nothing."""
    S, P = theta.shape
    out = np.full(S, np.inf)
    ok = np.all(np.isfinite(g), axis=1) & np.all(np.isfinite(H), axis=(1, 2))
    if not ok.any():
        return out
    th, gs, Hs = theta[ok], g[ok], H[ok]
    free = free_mask(th, gs, lo, hi)
    c = np.max(np.where(free, np.abs(np.einsum("spp->sp", Hs)), 0.0), axis=1)
    c = np.where(c > 0, c, 1.0)
    gf = np.where(free, gs, 0.0) / np.sqrt(c)[:, None]
    Hf = np.where(free[:, :, None] & free[:, None, :], Hs / c[:, None, None], 0.0) + \
        (~free)[:, :, None] * np.eye(P)
    step = np.einsum("spq,sq->sp", np.linalg.pinv(Hf, rcond=1e-13), gf)
    out[ok] = np.maximum(np.einsum("sp,sp->s", gf, step), 0.0) / 2.0
    return out


def first_order_ok(decrement: Array, value: Array, n: int) -> Array:
    """The first-order test: ``decrement <= RTOL * |objective| + n * ATOL_PER_POINT`` (and both finite)."""
    value = np.asarray(value, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(value) & (decrement <= RTOL * np.abs(value) + n * ATOL_PER_POINT)


def newton_decrement(family: LawFamily, theta: Array, X: Mapping[str, Array], logy: Array,
                     obj: Objective, box: tuple[Array, Array] | None = None) -> float:
    """g_F^T H_FF^+ g_F / 2 at ``theta`` (P,): the decrease a projected Gauss-Newton step would make,
    projected on ``box`` (internal (lo, hi); default the family's bounds)."""
    g, H = normal_equations(family, theta[None, :], X, logy, obj, None)
    lo, hi = family.bounds() if box is None else box
    return float(decrements(theta[None, :], g, H, lo, hi)[0])


def fit_status(family: LawFamily, theta: Array, value: float, X: Mapping[str, Array], logy: Array,
               obj: Objective, optimizer_stopped: bool, box: tuple[Array, Array] | None = None) -> FitStatus:
    """The status of a fit ending at ``theta`` with objective ``value``.

    ``optimizer_stopped`` is True when the optimiser ended on one of its own stopping tests (small
    gain, small step, no descending step) rather than on its iteration cap. ``box``: the internal
    (lo, hi) the optimiser searched, when not the family's bounds (a parameter held on ITS edge is
    projected out; testing against a wider box would call a constrained minimum stalled)."""
    if not (np.isfinite(value) and np.all(np.isfinite(theta))):
        return FitStatus.FAILED
    decrement = newton_decrement(family, theta, X, logy, obj, box)
    if first_order_ok(decrement, value, len(logy)):
        return FitStatus.CONVERGED
    return FitStatus.STALLED if optimizer_stopped else FitStatus.MAX_ITERATIONS
