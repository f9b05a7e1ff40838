"""Batched least-squares fitting of (grouped) logistic sigmoids: the numerical core behind
:mod:`scalinglab.analysis.downstream` and :mod:`scalinglab.analysis.emergence`.

Model, for row i in group g(i)::

    y_i = floor + (ceiling - floor) / (1 + exp(-slope_g (x_i - midpoint_g)))

x is the predictor as given (log10 FLOPs, log10 parameters or a loss in nats/token); y a metric
such as an accuracy (a fraction). Midpoints are per group; the slope is per group or shared;
floor and ceiling are fixed numbers or one fitted value each.

Many problems (multi-start x bootstrap resamples) are solved at once by the package's batched,
bounded Levenberg-Marquardt optimiser (Marquardt 1963; :func:`scalinglab.fitting.optimizer.minimize_residuals`)
on weighted residual sums of squares, sum_i w_i (y_i - f(x_i))^2, with box bounds and floor <
ceiling enforced by projection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.fitting.optimizer import LEAST_SQUARES, minimize_residuals, normal_equations_of
from scalinglab.fitting.status import decrements, first_order_ok

Array = np.ndarray

#: Largest |slope| x (x range): a 10%-90% transition no narrower than 2 ln 9 / 200 = 2.2% of the range.
MAX_SLOPE_TIMES_RANGE = 200.0
#: Midpoints may lie this many x ranges beyond the data (extrapolated transitions).
MIDPOINT_REACH = 3.0
FLOOR_CEILING_GAP = 1e-3


@dataclass(frozen=True)
class SigmoidLayout:
    """Which sigmoid parameters are free. Parameter vector: midpoints (one per group), slopes (one,
    or one per group), then the floor and the ceiling when they are fitted."""

    n_groups: int = 1
    shared_slope: bool = True
    floor: float | None = None  # fixed value, or None: fitted
    ceiling: float | None = 1.0  # fixed value, or None: fitted

    @property
    def n_slopes(self) -> int:
        return 1 if self.shared_slope else self.n_groups

    @property
    def n_params(self) -> int:
        return self.n_groups + self.n_slopes + (self.floor is None) + (self.ceiling is None)

    def names(self, labels: list[str] | None = None) -> list[str]:
        """Parameter names; with groups, suffixed by the group label (``midpoint[5]``)."""
        if self.n_groups == 1:
            mids, slopes = ["midpoint"], ["slope"]
        else:
            labels = labels or [str(k) for k in range(self.n_groups)]
            mids = [f"midpoint[{lab}]" for lab in labels]
            slopes = ["slope"] if self.shared_slope else [f"slope[{lab}]" for lab in labels]
        return mids + slopes + (["floor"] if self.floor is None else []) + (["ceiling"] if self.ceiling is None else [])

    def split(self, theta: Array) -> tuple[Array, Array, Array, Array]:
        """(midpoints (K,G), slopes (K,G or 1), floor (K,1), ceiling (K,1)) of ``theta`` (K,P)."""
        G, S = self.n_groups, self.n_slopes
        m, s = theta[:, :G], theta[:, G:G + S]
        j = G + S
        K = theta.shape[0]
        if self.floor is None:
            f, j = theta[:, j:j + 1], j + 1
        else:
            f = np.full((K, 1), self.floor)
        c = theta[:, j:j + 1] if self.ceiling is None else np.full((K, 1), self.ceiling)
        return m, s, f, c

    def _rows(self, theta: Array, g: Array) -> tuple[Array, Array, Array, Array]:
        m, s, f, c = self.split(theta)
        return m[:, g], (s[:, g] if not self.shared_slope else s[:, [0]]), f, c

    def predict(self, theta: Array, x: Array, g: Array) -> Array:
        """Predicted metric (K,n) for parameter rows ``theta`` (K,P) at ``x`` (n,) in groups ``g``."""
        m, s, f, c = self._rows(theta, g)
        with np.errstate(over="ignore"):
            sig = 1.0 / (1.0 + np.exp(-s * (x[None, :] - m)))
        return f + (c - f) * sig

    def jacobian(self, theta: Array, x: Array, g: Array) -> Array:
        """d prediction / d theta, shape (K, n, P)."""
        m, s, f, c = self._rows(theta, g)
        with np.errstate(over="ignore"):
            sig = 1.0 / (1.0 + np.exp(-s * (x[None, :] - m)))
        d = (c - f) * sig * (1.0 - sig)
        onehot = np.eye(self.n_groups)[g]  # (n, G)
        cols = [(-d * s)[:, :, None] * onehot[None]]
        dslope = d * (x[None, :] - m)
        cols.append(dslope[:, :, None] if self.shared_slope else dslope[:, :, None] * onehot[None])
        if self.floor is None:
            cols.append((1.0 - sig)[:, :, None])
        if self.ceiling is None:
            cols.append(sig[:, :, None])
        return np.concatenate(cols, axis=2)

    def bounds(self, x: Array) -> tuple[Array, Array]:
        """Box: midpoints within MIDPOINT_REACH x-ranges of the data, |slope| <= 200 / range,
        floor and ceiling in [0, 1]."""
        lo_x, hi_x = float(np.min(x)), float(np.max(x))
        span = max(hi_x - lo_x, 1e-12)
        smax = MAX_SLOPE_TIMES_RANGE / span
        lo = [lo_x - MIDPOINT_REACH * span] * self.n_groups + [-smax] * self.n_slopes
        hi = [hi_x + MIDPOINT_REACH * span] * self.n_groups + [smax] * self.n_slopes
        extra = (self.floor is None) + (self.ceiling is None)
        return np.array(lo + [0.0] * extra), np.array(hi + [1.0] * extra)

    def starts(self, x: Array, y: Array) -> Array:
        """Start grid: 7 midpoints from 0.25 ranges below to 0.25 above the data, slopes
        +-{2, 6, 20} / range, floor min(y), ceiling max(y) (when fitted)."""
        lo_x, hi_x = float(np.min(x)), float(np.max(x))
        span = max(hi_x - lo_x, 1e-12)
        rows = []
        for mid in np.linspace(lo_x - 0.25 * span, hi_x + 0.25 * span, 7):
            for slope in (2.0, 6.0, 20.0, -2.0, -6.0, -20.0):
                row = [mid] * self.n_groups + [slope / span] * self.n_slopes
                if self.floor is None:
                    row.append(max(float(np.min(y)) - 0.01, 0.0))
                if self.ceiling is None:
                    row.append(min(float(np.max(y)) + 0.01, 1.0))
                rows.append(row)
        return np.array(rows)

    def project(self, theta: Array, lo: Array, hi: Array) -> Array:
        """Clip to the box and keep a fitted floor below the ceiling."""
        theta = np.clip(theta, lo, hi)
        if self.floor is None or self.ceiling is None:
            _, _, f, c = self.split(theta)
            if self.floor is None:
                j = self.n_groups + self.n_slopes
                theta[:, j] = np.minimum(f[:, 0], c[:, 0] - FLOOR_CEILING_GAP)
        return theta


@dataclass
class BatchFit:
    """Results of :func:`lm_fit`: parameters (K,P), weighted RSS (K,), convergence flags (K,)."""

    theta: Array
    rss: Array
    converged: Array


def lm_fit(layout: SigmoidLayout, theta0: Array, x: Array, g: Array, Y: Array, W: Array | None,
           lo: Array, hi: Array, max_iter: int = 300, ftol: float = 1e-10) -> BatchFit:
    """Minimise sum_i W_ki (Y_ki - f(x_i; theta_k))^2 for every row k at once.

    ``Y`` and ``W`` are (K, n) (or (n,), broadcast). The optimiser is the package's batched, bounded
    Levenberg-Marquardt (:func:`scalinglab.fitting.optimizer.minimize_residuals`, least squares; ``ftol``
    its relative-gain stopping test), with the layout's projection keeping a fitted floor below the
    ceiling. Converged: the optimiser stopped
    on its own test and the first-order test of :mod:`scalinglab.fitting.status` passes (the projected
    Gauss-Newton decrement is negligible against the RSS)."""
    K, n = np.shape(theta0)[0], x.size
    Y = np.broadcast_to(Y, (K, n))
    W = None if W is None else np.broadcast_to(W, (K, n))

    def residuals(theta: Array, starts: Array, rows: slice, jac: bool = False):
        xb, gb = x[rows], g[rows]
        r = layout.predict(theta, xb, gb) - Y[starts][:, rows]
        return (r, layout.jacobian(theta, xb, gb).transpose(0, 2, 1)) if jac else r

    def project(theta: Array) -> Array:
        return layout.project(theta, lo, hi)

    res = minimize_residuals(residuals, theta0, n, lo, hi, LEAST_SQUARES, W, project, max_iter=max_iter,
                             ftol=ftol)
    ok = res.converged & np.isfinite(res.value)
    if ok.any():
        idx = np.flatnonzero(ok)
        grad, H = normal_equations_of(residuals, res.theta[idx], idx, n, LEAST_SQUARES,
                                      None if W is None else W[idx])
        ok[idx] = first_order_ok(decrements(res.theta[idx], grad, H, lo, hi), res.value[idx], n)
    return BatchFit(theta=res.theta, rss=2.0 * res.value, converged=ok)


def multistart(layout: SigmoidLayout, x: Array, g: Array, Y: Array, W: Array | None,
               starts: Array, lo: Array, hi: Array) -> tuple[BatchFit, Array]:
    """Fit every problem (rows of ``Y``/``W``; B of them) from every start; keep the best per
    problem. Returns the best fits (B rows) and the start-fit parameters ranked for problem 0
    (pick distinct ones with :func:`scalinglab.fitting.multistart.distinct_optima`)."""
    Y2 = np.atleast_2d(Y)
    W2 = None if W is None else np.atleast_2d(W)
    B = max(Y2.shape[0], 1 if W2 is None else W2.shape[0])
    S = starts.shape[0]
    theta0 = np.tile(starts, (B, 1))
    Yk = np.repeat(np.broadcast_to(Y2, (B, x.size)), S, axis=0)
    Wk = None if W2 is None else np.repeat(np.broadcast_to(W2, (B, x.size)), S, axis=0)
    fit = lm_fit(layout, theta0, x, g, Yk, Wk, lo, hi)
    rss = np.where(fit.converged, fit.rss, fit.rss * (1 + 1e-9) + 1e-300).reshape(B, S)
    best = np.argmin(rss, axis=1)
    pick = np.arange(B) * S + best
    ranked = fit.theta.reshape(B, S, -1)[0][np.argsort(rss[0])]
    return BatchFit(theta=fit.theta[pick], rss=fit.rss[pick], converged=fit.converged[pick]), ranked
