"""Broken neural scaling law (BNSL) of Caballero et al. 2022, arXiv:2210.14891, eq. 1:

    y = a + b x^(-c0) * prod_{i=1..n} (1 + (x/d_i)^(1/f_i))^(-c_i f_i)

a is the limit (irreducible loss), b x^(-c0) the power law before the first break, d_i the location
of break i (same units as x), c_i the change of exponent across it (after all breaks the local
exponent is c0 + sum c_i) and f_i > 0 its sharpness (small f = sharp break). y is a loss in nats/token;
x is ``params``, ``tokens`` or ``flops``.

Evaluation is in log space, stable for any x/d_i: with u_i = (ln x - ln d_i)/f_i,

    ln y = LSE(ln a, ln b - c0 ln x - sum_i c_i f_i softplus(u_i)),  softplus(u) = ln(1 + e^u),

so (x/d_i)^(1/f_i) is never formed. Internal parameters: ln a, ln b, c0, c_1..c_n, ln d_1..ln d_n,
ln f_1..ln f_n.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError, whole_number
from scalinglab.laws.base import Array, LawFamily, grid, logsumexp_terms
from scalinglab.laws.power import X_SYMBOLS, X_UNITS, check_x
from scalinglab.laws.starts import clip_to_bounds, log_median, log_quantiles, loss_scale

MAX_BREAKS = 5  # each break adds 3 parameters; more than a handful cannot be identified


def _check_breaks(n_breaks: Any) -> int:
    try:
        return whole_number("bnsl: n_breaks", n_breaks, minimum=1, maximum=MAX_BREAKS)
    except ScalingLabError as exc:
        raise ScalingLabError(f"{exc} (for no break use 'power_floor')") from None


class BrokenPowerLaw(LawFamily):
    """y = a + b x^(-c0) prod_i (1 + (x/d_i)^(1/f_i))^(-c_i f_i), with ``n_breaks`` breaks."""

    name = "bnsl"
    citation = "Caballero et al. 2022, Broken Neural Scaling Laws, eq. 1 (arXiv:2210.14891)"
    level_params = ("a",)

    def __init__(self, x: str = "params", n_breaks: int = 1) -> None:
        self.x = check_x(x)
        self.n_breaks = _check_breaks(n_breaks)
        n = self.n_breaks
        idx = range(1, n + 1)
        self.variables = (self.x,)
        self.param_names = ("a", "b", "c0", *(f"c{i}" for i in idx), *(f"d{i}" for i in idx),
                            *(f"f{i}" for i in idx))
        self.theta_names = ("ln_a", "ln_b", "c0", *(f"c{i}" for i in idx), *(f"ln_d{i}" for i in idx),
                            *(f"ln_f{i}" for i in idx))
        sym = X_SYMBOLS[self.x]
        self.formula = f"L = a + b*{sym}^(-c0) * prod_{{i=1..{n}}} (1 + ({sym}/d_i)^(1/f_i))^(-c_i*f_i)"
        self.units = f"L and a in nats/token; {X_UNITS[self.x]}; d_i in the units of {sym}"

    def options(self) -> dict[str, Any]:
        return {"x": self.x, "n_breaks": self.n_breaks}

    # ---- columns of theta -------------------------------------------------------------------
    def _split(self, theta: Array) -> tuple[Array, Array, Array, Array, Array, Array]:
        """(ln a, ln b, c0) as (S, 1) and (c, ln d, ln f) as (S, n_breaks, 1) column blocks."""
        n = self.n_breaks
        c = theta[:, 3 : 3 + n, None]
        ld = theta[:, 3 + n : 3 + 2 * n, None]
        lf = theta[:, 3 + 2 * n : 3 + 3 * n, None]
        return theta[:, 0:1], theta[:, 1:2], theta[:, 2:3], c, ld, lf

    def log_predict(self, theta: Array, X: Mapping[str, Array], jac: bool = False):
        """ln y = LSE(ln a, t), t = ln b - c0 ln x - sum_i c_i f_i sp(u_i), u_i = (ln x - ln d_i)/f_i.
        With softmax weights (w0, w1) and sig = sigmoid(u) = sp'(u): d/dln a = w0, d/dln b = w1,
        d/dc0 = -w1 ln x, d/dc_i = -w1 f_i sp_i, d/dln d_i = w1 c_i sig_i,
        d/dln f_i = -w1 c_i f_i (sp_i - u_i sig_i)."""
        lnx = np.log(X[self.x])[None, :]
        la, lb, c0, c, ld, lf = self._split(theta)
        f = np.exp(lf)
        u = (lnx[:, None, :] - ld) / f  # (S, n_breaks, n)
        sp = np.logaddexp(0.0, u)
        t = lb - c0 * lnx - np.sum(c * f * sp, axis=1)
        la_b = np.broadcast_to(la, t.shape)
        out, (w0, w1) = logsumexp_terms([la_b, t])
        if not jac:
            return out
        from scipy.special import expit  # scipy.special loads when a Jacobian is needed

        sig = expit(u)
        w = w1[:, None, :]
        blocks = [
            w0[:, None, :],
            w,
            (-w1 * lnx)[:, None, :],
            -w * f * sp,
            w * c * sig,
            -w * c * f * (sp - u * sig),
        ]
        return out, np.concatenate(blocks, axis=1)

    # ---- natural <-> internal --------------------------------------------------------------------
    def to_natural(self, theta: Array) -> dict[str, Array]:
        theta = np.asarray(theta, dtype=float)
        n = self.n_breaks
        out: dict[str, Array] = {"a": np.exp(theta[..., 0]), "b": np.exp(theta[..., 1]), "c0": theta[..., 2]}
        for i in range(n):
            out[f"c{i + 1}"] = theta[..., 3 + i]
        for i in range(n):
            out[f"d{i + 1}"] = np.exp(theta[..., 3 + n + i])
        for i in range(n):
            out[f"f{i + 1}"] = np.exp(theta[..., 3 + 2 * n + i])
        return out

    def from_natural(self, params: Mapping[str, float]) -> Array:
        logged = {"a", "b"} | {f"{p}{i}" for p in "df" for i in range(1, self.n_breaks + 1)}
        return np.array([np.log(params[k]) if k in logged else params[k] for k in self.param_names],
                        dtype=float)

    def bounds(self) -> tuple[Array, Array]:
        """ln a in [-20, 5]; ln b in [-20, 250]; c0 in [0, 5]; c_i in [-5, 5]; ln d_i in [-20, 150];
        ln f_i in [-5, 5] (sharpness 0.007 to 150)."""
        n = self.n_breaks
        lo = np.concatenate([[-20.0, -20.0, 0.0], np.full(n, -5.0), np.full(n, -20.0), np.full(n, -5.0)])
        hi = np.concatenate([[5.0, 250.0, 5.0], np.full(n, 5.0), np.full(n, 150.0), np.full(n, 5.0)])
        return lo, hi

    def init_grid(self, X: Mapping[str, Array], loss: Array) -> Array:
        """162 starts for any n_breaks: a in {0.25, 0.6, 0.9} x min(loss); c0 in {0.1, 0.3, 0.7};
        every c_i in {-0.2, 0.3, 1.0}; every f_i in {0.5, 2}; break layouts: ln d_i at the quantiles
        (i + s)/(n + 1), s in {-0.5, 0, 0.5}, of the observed ln x (log-spaced over the data range).
        b is then set so that the law passes through the median loss at the median x."""
        n = self.n_breaks
        l_min, l_med = loss_scale(loss)
        lx_med = log_median(X, self.x)
        layouts = np.stack([log_quantiles(X, self.x, (np.arange(1, n + 1) + s) / (n + 1))
                            for s in (-0.5, 0.0, 0.5)])  # (3, n)
        g = grid([0.25, 0.6, 0.9], [0.1, 0.3, 0.7], [-0.2, 0.3, 1.0], [0.5, 2.0], [0, 1, 2])
        a, c0, c, f = g[:, 0] * l_min, g[:, 1], g[:, 2], g[:, 3]
        ld = layouts[g[:, 4].astype(int)]  # (K, n)
        sp = np.logaddexp(0.0, (lx_med - ld) / f[:, None])
        lb = np.log(np.maximum(l_med - a, 0.01 * l_med)) + c0 * lx_med + np.sum(c[:, None] * f[:, None] * sp, 1)
        K = g.shape[0]
        theta = np.concatenate([np.log(a)[:, None], lb[:, None], c0[:, None], np.repeat(c[:, None], n, 1), ld,
                                np.repeat(np.log(f)[:, None], n, 1)], axis=1)
        assert theta.shape == (K, self.n_params)
        return clip_to_bounds(theta, self.bounds())
