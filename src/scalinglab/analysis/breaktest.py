"""A statistical test for emergence: does a smooth curve explain a metric-vs-scale curve as well as
a curve with a break?

Smooth model (null), one of:

- ``sigmoid``: y = floor + (ceiling - floor) / (1 + exp(-slope (t - midpoint))) (bounded metrics
  such as accuracy; floor fixed at ``chance`` or fitted, ceiling fixed or fitted);
- ``linear``: y = a + b t (continuous metrics, e.g. Brier score vs log scale);
- ``power``: ln y = a + b t, i.e. y proportional to x^(b / ln 10) (positive continuous metrics that
  fall as power laws, e.g. the negative log-likelihood under Schaeffer et al. 2023's premise).

Break model (alternative), on the same scale as the smooth one (y, or ln y for ``power``): flat
then linear, y = a + c max(t - b, 0), or linear then flat, y = a + c max(b - t, 0), with the
break b fitted (profiled over a fine grid between the 2nd and the 2nd-last distinct t), 3 parameters.

t = log10 x (``log_x=True``; x in FLOPs or parameters) or x itself. Statistic: the likelihood
ratio for Gaussian errors, LR = n ln(RSS_smooth / RSS_break) (negative when the smooth curve fits
better). The break location exists only under the alternative (Davies 1977, 1987), and the two
models are not nested, so chi-square asymptotics do not apply; the p-value is a seeded parametric
bootstrap under the fitted smooth model (Gaussian errors with the smooth fit's residual variance):
p = (1 + #{LR* >= LR}) / (B + 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scalinglab.analysis._sigmoid import multistart
from scalinglab.analysis.downstream import check_bootstrap, fit_layout
from scalinglab.errors import FitError, ScalingLabError, number_array
from scalinglab.fitting.multistart import distinct_optima

__all__ = ["smooth_vs_break", "SMOOTH_MODELS"]

Array = np.ndarray
SMOOTH_MODELS = ("sigmoid", "linear", "power")
BREAK_GRID = 200
DAVIES_NOTE = ("the break location is a parameter only under the break model (Davies 1987) and the models "
               "are not nested, so chi-square asymptotics are invalid; the p-value is a parametric "
               "bootstrap under the smooth fit")


def smooth_vs_break(x: Any, y: Any, *, smooth: str = "sigmoid", log_x: bool = True, chance: float | None = None,
                    ceiling: float | None = 1.0, bootstrap: int = 200, seed: int = 0) -> dict[str, Any]:
    """Test a smooth fit of ``y`` against ``x`` versus a flat-then-linear (or linear-then-flat) fit
    with a fitted break. Returns ``statistic`` (LR), ``p_value`` (None without bootstrap),
    ``method``, ``break_at`` (in x's units), ``break_kind``, the residual sums of squares, the
    number of parameters of each model and a ``note``. Same seed, same answer."""
    check_bootstrap(bootstrap, 0.95, seed)
    if smooth not in SMOOTH_MODELS:
        raise ScalingLabError(f"unknown smooth model '{smooth}': choose one of {', '.join(SMOOTH_MODELS)}")
    t, z = _prepare(x, y, smooth, log_x)
    smooth_fit = _SmoothFitter(smooth, t, z, chance, ceiling)
    if t.size < max(smooth_fit.n_params, 3) + 3 or np.unique(t).size < 5:
        raise FitError(f"smooth-vs-break test: {t.size} points ({np.unique(t).size} distinct scales); need at "
                       f"least {max(smooth_fit.n_params, 3) + 3} points at 5 or more distinct scales")
    fitted, rss_s = smooth_fit.fit(z[None, :])
    rss_b, where, kind = _hinge(t, z[None, :])
    stat = _lr(t.size, rss_s, rss_b)[0]
    p_value = None
    if bootstrap:
        rng = np.random.default_rng(seed)
        sigma = np.sqrt(rss_s[0] / max(t.size - smooth_fit.n_params, 1))
        Z = fitted[0] + sigma * rng.standard_normal((bootstrap, t.size))
        _, rss_s_b = smooth_fit.fit(Z)
        rss_b_b, _, _ = _hinge(t, Z)
        null = _lr(t.size, rss_s_b, rss_b_b)
        p_value = float((1 + np.sum(null >= stat - 1e-12)) / (bootstrap + 1))
    b = float(where[0])
    return {"statistic": float(stat), "p_value": p_value,
            "method": f"likelihood ratio n ln(RSS_smooth/RSS_break), {smooth} vs hinge with a fitted break; "
                      f"p-value by parametric bootstrap under the smooth fit (B = {bootstrap}, seed {seed})",
            "break_at": float(10.0 ** b) if log_x else b, "break_at_t": b, "break_kind": kind[0],
            "rss_smooth": float(rss_s[0]), "rss_break": float(rss_b[0]), "n": int(t.size),
            "smooth": smooth, "params_smooth": smooth_fit.n_params, "params_break": 3,
            "scale": "ln y" if smooth == "power" else "y", "note": DAVIES_NOTE}


def _prepare(x: Any, y: Any, smooth: str, log_x: bool) -> tuple[Array, Array]:
    xv, yv = number_array("x", x).ravel(), number_array("y", y).ravel()
    if xv.size != yv.size:
        raise ScalingLabError(f"smooth-vs-break test: x has {xv.size} values, y has {yv.size}")
    bad = ~np.isfinite(xv) | ~np.isfinite(yv) | ((xv <= 0) if log_x else False)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        need = "finite and > 0 (its log10 is taken)" if log_x else "finite"
        raise ScalingLabError(f"smooth-vs-break test: point {i + 1}: x must be {need} and y finite, "
                              f"got x={xv[i]:g}, y={yv[i]:g}")
    if smooth == "power" and np.any(yv <= 0):
        raise ScalingLabError("smooth-vs-break test: the power model takes ln y, so y must be > 0 "
                              f"(got {yv[yv <= 0][0]:g}); use smooth='linear'")
    order = np.argsort(xv, kind="stable")
    t = np.log10(xv[order]) if log_x else xv[order]
    z = np.log(yv[order]) if smooth == "power" else yv[order]
    return t, z


class _SmoothFitter:
    """Fits the smooth model to many response rows at once: (fitted values (B,n), RSS (B,))."""

    def __init__(self, kind: str, t: Array, z: Array, chance: float | None, ceiling: float | None) -> None:
        self.kind, self.t = kind, t
        if kind == "sigmoid":
            self.layout = fit_layout(chance, ceiling)
            if np.any((z < 0) | (z > 1)):
                raise ScalingLabError("smooth-vs-break test: the sigmoid model needs y in [0, 1]; use "
                                      "smooth='linear' or 'power' for unbounded metrics")
            self.lo, self.hi = self.layout.bounds(t)
            self.starts = self.layout.starts(t, z)
            self.n_params = self.layout.n_params
        else:
            self.n_params = 2

    def fit(self, Z: Array) -> tuple[Array, Array]:
        t = self.t
        if self.kind != "sigmoid":
            D = np.column_stack([np.ones_like(t), t])
            coef, *_ = np.linalg.lstsq(D, Z.T, rcond=None)
            fitted = (D @ coef).T
            return fitted, np.sum((Z - fitted) ** 2, axis=1)
        g = np.zeros(t.size, dtype=int)
        best, ranked = multistart(self.layout, t, g, Z, None, self.starts, self.lo, self.hi)
        if Z.shape[0] == 1:  # later (bootstrap) calls start from the best few of this fit
            self.starts = distinct_optima(ranked, 6, tol=1e-2, scale=self.hi - self.lo)
        return self.layout.predict(best.theta, t, g), best.rss


def _hinge(t: Array, Z: Array) -> tuple[Array, Array, list[str]]:
    """Best hinge per row of Z: y = a + c max(t - b, 0) or a + c max(b - t, 0), b on a grid."""
    distinct = np.unique(t)
    grid = np.linspace(distinct[1], distinct[-2], BREAK_GRID)
    best_rss = np.full(Z.shape[0], np.inf)
    best_b = np.zeros(Z.shape[0])
    best_kind = np.zeros(Z.shape[0], dtype=int)
    for k, H in enumerate((np.maximum(t[None, :] - grid[:, None], 0.0), np.maximum(grid[:, None] - t[None, :], 0.0))):
        rss = _two_column_rss(H, Z)  # (B, G)
        j = np.argmin(rss, axis=1)
        r = rss[np.arange(Z.shape[0]), j]
        better = r < best_rss
        best_rss[better], best_b[better], best_kind[better] = r[better], grid[j[better]], k
    kinds = ["flat then linear" if k == 0 else "linear then flat" for k in best_kind]
    return best_rss, best_b, kinds


def _two_column_rss(H: Array, Z: Array) -> Array:
    """RSS of least squares of each row of Z (B,n) on [1, H_g] for every grid row H_g (G,n)."""
    n = Z.shape[1]
    sh, shh = H.sum(axis=1), (H * H).sum(axis=1)  # (G,)
    sy, syy = Z.sum(axis=1), (Z * Z).sum(axis=1)  # (B,)
    shy = Z @ H.T  # (B, G)
    det = n * shh - sh * sh  # (G,)
    ok = det > 1e-12 * np.maximum(n * shh, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        explained = (shh * sy[:, None] ** 2 - 2 * sh * sy[:, None] * shy + n * shy ** 2) / det
    rss = syy[:, None] - np.where(ok, explained, sy[:, None] ** 2 / n)
    return np.maximum(rss, 0.0)


def _lr(n: int, rss_smooth: Array, rss_break: Array) -> Array:
    tiny = 1e-300
    return n * (np.log(np.maximum(rss_smooth, tiny)) - np.log(np.maximum(rss_break, tiny)))
