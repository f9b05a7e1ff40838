"""Single-variable power laws, with and without an irreducible floor.

* ``Power(x)``:      L = A * x^(-alpha)       (Kaplan et al. 2020, eqs. 1.1-1.3, written there as
  L = (x_c/x)^alpha_x, i.e. A = x_c^alpha_x);
* ``PowerFloor(x)``: L = E + A * x^(-alpha)   (Henighan et al. 2020, eq. 1.1: L = L_inf + (x_0/x)^alpha).

x is one of ``params`` (parameter count N), ``tokens`` (training tokens D) or ``flops`` (training
FLOPs C, a count); L is a loss in nats/token. Internal parameters are logs of the amplitudes
(a = ln A, e = ln E) so they stay positive and the log-prediction never overflows:
ln L = a - alpha ln x, or ln L = LSE(e, a - alpha ln x) with the floor.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.laws.base import Array, LawFamily, grid, logsumexp_terms
from scalinglab.laws.starts import clip_to_bounds, log_median, loss_scale

X_SYMBOLS = {"params": "N", "tokens": "D", "flops": "C"}
X_UNITS = {
    "params": "N parameters (as counted by the data)",
    "tokens": "D training tokens",
    "flops": "C training FLOPs (a count)",
}


def check_x(x: str) -> str:
    """The scaling variable, validated: one of ``params``, ``tokens``, ``flops``."""
    if x not in X_SYMBOLS:
        raise ScalingLabError(f"unknown scaling variable '{x}': choose one of {', '.join(X_SYMBOLS)}")
    return x


class Power(LawFamily):
    """L = A * x^(-alpha): a pure power law in one variable (no irreducible loss)."""

    name = "power"
    theta_names = ("a", "alpha")
    param_names = ("A", "alpha")
    citation = "Kaplan et al. 2020, Scaling Laws for Neural Language Models, eqs. 1.1-1.3 (arXiv:2001.08361)"

    def __init__(self, x: str = "params") -> None:
        self.x = check_x(x)
        self.variables = (self.x,)
        self.formula = f"L = A * {X_SYMBOLS[self.x]}^(-alpha)"
        self.units = f"L in nats/token; {X_UNITS[self.x]}"

    def options(self) -> dict[str, str]:
        return {"x": self.x}

    def log_predict(self, theta: Array, X: Mapping[str, Array], jac: bool = False):
        """ln L = a - alpha ln x; d/da = 1, d/dalpha = -ln x."""
        lnx = np.log(X[self.x])[None, :]
        a, alpha = theta[:, 0:1], theta[:, 1:2]
        f = a - alpha * lnx
        if not jac:
            return f
        J = np.stack([np.ones_like(f), np.broadcast_to(-lnx, f.shape)], axis=1)
        return f, J

    def to_natural(self, theta: Array) -> dict[str, Array]:
        theta = np.asarray(theta, dtype=float)
        return {"A": np.exp(theta[..., 0]), "alpha": theta[..., 1]}

    def from_natural(self, params: Mapping[str, float]) -> Array:
        return np.array([np.log(params["A"]), params["alpha"]], dtype=float)

    def bounds(self) -> tuple[Array, Array]:
        """a = ln A in [-20, 250] (wide enough for x = FLOPs), alpha in [0, 5]."""
        return np.array([-20.0, 0.0]), np.array([250.0, 5.0])

    def init_grid(self, X: Mapping[str, Array], loss: Array) -> Array:
        """30 starts: alpha in {0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2}; for each alpha,
        a = ln(median loss) + alpha * median(ln x) + {-1, 0, +1} (the line through the data centre)."""
        _, l_med = loss_scale(loss)
        lx = log_median(X, self.x)
        g = grid([0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0], [-1.0, 0.0, 1.0])
        alpha, off = g[:, 0], g[:, 1]
        theta = np.stack([np.log(l_med) + alpha * lx + off, alpha], axis=1)
        return clip_to_bounds(theta, self.bounds())


class PowerFloor(LawFamily):
    """L = E + A * x^(-alpha): a power law plus an irreducible loss E."""

    name = "power_floor"
    theta_names = ("e", "a", "alpha")
    param_names = ("E", "A", "alpha")
    level_params = ("E",)
    citation = ("Henighan et al. 2020, Scaling Laws for Autoregressive Generative Modeling, eq. 1.1 "
                "(arXiv:2010.14701)")

    def __init__(self, x: str = "params") -> None:
        self.x = check_x(x)
        self.variables = (self.x,)
        self.formula = f"L = E + A * {X_SYMBOLS[self.x]}^(-alpha)"
        self.units = f"L and E in nats/token; {X_UNITS[self.x]}"

    def options(self) -> dict[str, str]:
        return {"x": self.x}

    def log_predict(self, theta: Array, X: Mapping[str, Array], jac: bool = False):
        """ln L = LSE(e, a - alpha ln x); with softmax weights p0, p1:
        d/de = p0, d/da = p1, d/dalpha = -p1 ln x."""
        lnx = np.log(X[self.x])[None, :]
        e, a, alpha = theta[:, 0:1], theta[:, 1:2], theta[:, 2:3]
        t0 = np.broadcast_to(e, (theta.shape[0], lnx.shape[1]))
        f, (p0, p1) = logsumexp_terms([t0, a - alpha * lnx])
        if not jac:
            return f
        return f, np.stack([p0, p1, -p1 * lnx], axis=1)

    def to_natural(self, theta: Array) -> dict[str, Array]:
        theta = np.asarray(theta, dtype=float)
        return {"E": np.exp(theta[..., 0]), "A": np.exp(theta[..., 1]), "alpha": theta[..., 2]}

    def from_natural(self, params: Mapping[str, float]) -> Array:
        return np.array([np.log(params["E"]), np.log(params["A"]), params["alpha"]], dtype=float)

    def bounds(self) -> tuple[Array, Array]:
        """e = ln E in [-20, 5], a = ln A in [-20, 250], alpha in [0, 5]."""
        return np.array([-20.0, -20.0, 0.0]), np.array([5.0, 250.0, 5.0])

    def init_grid(self, X: Mapping[str, Array], loss: Array) -> Array:
        """96 starts: E in {0.05, 0.3, 0.6, 0.85} x min(loss); alpha in {0.05, 0.1, 0.2, 0.35, 0.5,
        0.75, 1, 1.5}; A such that the reducible term at the median x is {0.3, 1, 3} x (median loss - E)."""
        l_min, l_med = loss_scale(loss)
        lx = log_median(X, self.x)
        g = grid([0.05, 0.3, 0.6, 0.85], [0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5], [0.3, 1.0, 3.0])
        E, alpha, share = g[:, 0] * l_min, g[:, 1], g[:, 2]
        reducible = np.maximum(l_med - E, 0.01 * l_med) * share
        theta = np.stack([np.log(E), np.log(reducible) + alpha * lx, alpha], axis=1)
        return clip_to_bounds(theta, self.bounds())
