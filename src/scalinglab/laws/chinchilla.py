"""The Chinchilla law L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022, eq. 2).

Fitted, as Hoffmann et al. (sec. D.2) and Besiroglu et al. 2024 do, in the log-sum-exp
parametrisation ``ln L = LSE(e, a - alpha ln N, b - beta ln D)`` with a = ln A, b = ln B, e = ln E.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scalinglab.laws.base import Array, LawFamily, grid, logsumexp_terms


class Chinchilla(LawFamily):
    """L = E + A/N^alpha + B/D^beta; N = parameters, D = training tokens, L in nats/token."""

    name = "chinchilla"
    variables = ("params", "tokens")
    theta_names = ("e", "a", "b", "alpha", "beta")
    param_names = ("E", "A", "B", "alpha", "beta")
    formula = "L = E + A/N^alpha + B/D^beta"
    citation = "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, eq. 2 (arXiv:2203.15556)"
    units = "L in nats/token; N parameters (as counted by the data); D training tokens"
    level_params = ("E",)

    def log_predict(self, theta: Array, X: Mapping[str, Array], jac: bool = False):
        lnN = np.log(X["params"])[None, :]
        lnD = np.log(X["tokens"])[None, :]
        e, a, b, alpha, beta = (theta[:, i : i + 1] for i in range(5))
        if lnN.min() >= 0 and lnD.min() >= 0 and theta[:, 1:3].max(initial=-np.inf) <= 600:
            # N, D >= 1 and alpha, beta >= 0 (bounds): every term is at most exp(a) or exp(b),
            # so the plain sum cannot overflow and E = exp(e) > 0 keeps it positive.
            big_e = np.exp(e)
            t1 = np.exp(a - alpha * lnN)
            t2 = np.exp(b - beta * lnD)
            total = t1 + t2
            total += big_e
            f = np.log(total)
            if not jac:
                return f
            inv = 1.0 / total
            p0 = big_e * inv
            p1 = t1 * inv
            p2 = t2 * inv
        else:
            t0 = np.broadcast_to(e, (theta.shape[0], lnN.shape[1]))
            f, (p0, p1, p2) = logsumexp_terms([t0, a - alpha * lnN, b - beta * lnD])
        if not jac:
            return f
        J = np.stack([p0, p1, p2, -p1 * lnN, -p2 * lnD], axis=1)
        return f, J

    def to_natural(self, theta: Array) -> dict[str, Array]:
        theta = np.asarray(theta, dtype=float)
        return {
            "E": np.exp(theta[..., 0]),
            "A": np.exp(theta[..., 1]),
            "B": np.exp(theta[..., 2]),
            "alpha": theta[..., 3],
            "beta": theta[..., 4],
        }

    def from_natural(self, params: Mapping[str, float]) -> Array:
        return np.array(
            [np.log(params["E"]), np.log(params["A"]), np.log(params["B"]), params["alpha"], params["beta"]],
            dtype=float,
        )

    def bounds(self) -> tuple[Array, Array]:
        return np.array([-20.0, -20.0, -20.0, 0.0, 0.0]), np.array([5.0, 60.0, 60.0, 5.0, 5.0])

    def init_grid(self, X: Mapping[str, Array], loss: Array) -> Array:
        """The 4,500-start grid of Hoffmann et al. 2022 (sec. D.2) as used by Besiroglu et al. 2024:
        alpha, beta in {0, 0.5, ..., 2}; e in {-1, -0.5, ..., 1}; a, b in {0, 5, ..., 25}."""
        g = grid(np.arange(0, 2.01, 0.5), np.arange(0, 2.01, 0.5), np.arange(-1, 1.01, 0.5),
                 np.arange(0, 26, 5), np.arange(0, 26, 5))
        # columns of g: alpha, beta, e, a, b -> reorder to theta_names (e, a, b, alpha, beta)
        return g[:, [2, 3, 4, 0, 1]]

    def derived(self, natural: Mapping[str, Array]) -> dict[str, Array]:
        """Compute-optimal exponents N_opt ∝ C^a, D_opt ∝ C^b (Hoffmann et al. 2022, eq. 4):
        a = beta/(alpha+beta), b = alpha/(alpha+beta)."""
        s = np.asarray(natural["alpha"]) + np.asarray(natural["beta"])
        with np.errstate(divide="ignore", invalid="ignore"):
            return {"a": natural["beta"] / s, "b": natural["alpha"] / s}
