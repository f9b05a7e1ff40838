"""The data-constrained scaling law of Muennighoff et al. 2023 and the optimum when unique data is capped.

Muennighoff, Rush, Barak, Le Scao, Piktus, Tazi, Pyysalo, Wolf, Raffel 2023, "Scaling Data-Constrained
Language Models" (NeurIPS 2023, arXiv:2305.16264), sec. 3 / eq. 5, constants from the official repository
README (huggingface/datablations, "Parametric Fit"); references.md F1:

* U_D unique tokens, D total training tokens, R_D = D/U_D - 1 (repetitions after the first epoch);
  effective data D' = U_D + U_D R_D* (1 - exp(-R_D/R_D*));
* U_N = min(N, N_opt(U_D)), with N_opt(D) = G (D G)^(beta/alpha), G = (alpha A/(beta B))^(1/(alpha+beta))
  (the Chinchilla compute-optimal size for D tokens); R_N = N/U_N - 1;
  effective parameters N' = U_N + U_N R_N* (1 - exp(-R_N/R_N*));
* L(N, D, U_D) = E + A/N'^alpha + B/D'^beta  (nats/token).

When D < U_D (less than one epoch) every token seen is new: this module then uses D' = D (the paper's
formula assumes D >= U_D and gives slightly less than D there). Units: N parameters (all, as Chinchilla),
D and U_D tokens, L nats/token on the paper's C4 validation data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError, positive_array
from scalinglab.laws.base import Array, LawFamily, grid

FD_REL_STEP = 1e-6
R_D_STAR = 15.387756  # Muennighoff et al. 2023, datablations README "Parametric Fit"
R_N_STAR = 5.309743  # idem
UNIQUE_TOKENS_UNITS = "unique training tokens U_D available (a token count)"


_positive = positive_array  # the shared validator (scalinglab.errors), under the name planning imports


def _decayed(base: Array, excess: Array, r_star: Array) -> Array:
    """base (1 + R* (1 - exp(-R/R*))): Muennighoff's diminishing value of repeated data/parameters."""
    return base * (1.0 + r_star * -np.expm1(-excess / r_star))


class DataConstrained(LawFamily):
    """L = E + A/N'^alpha + B/D'^beta with effective data D' and parameters N' under repetition."""

    name = "muennighoff"
    variables = ("params", "tokens", "unique_tokens")
    theta_names = ("e", "a", "b", "alpha", "beta", "ln_R_D_star", "ln_R_N_star")
    param_names = ("E", "A", "B", "alpha", "beta", "R_D_star", "R_N_star")
    formula = ("L = E + A/N'^alpha + B/D'^beta; D' = U_D (1 + R_D* (1 - exp(-(D/U_D - 1)/R_D*))), "
               "N' = U_N (1 + R_N* (1 - exp(-(N/U_N - 1)/R_N*))), U_N = min(N, N_opt(U_D))")
    level_params = ("E",)
    citation = ("Muennighoff et al. 2023, Scaling Data-Constrained Language Models, eq. 5 "
                "(arXiv:2305.16264); constants from huggingface/datablations README")
    units = ("L in nats/token; N parameters; D training tokens (all epochs); U_D unique tokens; "
             "R_D*, R_N* dimensionless repetition half-lives")

    def check_variables(self, X: Mapping[str, Any]) -> dict[str, Array]:
        if X.get("unique_tokens") is None:
            raise ScalingLabError(f"law {self.label} needs 'unique_tokens' (units: {UNIQUE_TOKENS_UNITS})")
        return super().check_variables(X)

    def _log_eval(self, theta: Array, X: Mapping[str, Array]) -> Array:
        """ln L for each row of theta (S, P) at each point of X, (S, n)."""
        lnN = np.log(np.asarray(X["params"], dtype=float))[None, :]
        D = np.asarray(X["tokens"], dtype=float)[None, :]
        U = np.asarray(X["unique_tokens"], dtype=float)[None, :]
        e, a, b, alpha, beta, lrd, lrn = (theta[:, i:i + 1] for i in range(7))
        with np.errstate(all="ignore"):
            ln_g = (np.log(alpha) + a - np.log(beta) - b) / (alpha + beta)
            ln_n_opt = ln_g + (beta / alpha) * (np.log(U) + ln_g)
            ln_un = np.minimum(lnN, ln_n_opt)
            n_eff = _decayed(np.exp(ln_un), np.expm1(lnN - ln_un), np.exp(lrn))
            seen = np.minimum(U, D)
            d_eff = _decayed(seen, D / seen - 1.0, np.exp(lrd))
            total = np.exp(e) + np.exp(a - alpha * np.log(n_eff)) + np.exp(b - beta * np.log(d_eff))
            return np.log(total)

    def log_predict(self, theta: Array, X: Mapping[str, Array], jac: bool = False):
        """ln L, (S, n); with ``jac`` the central-difference Jacobian d ln L/d theta, (S, P, n), all
        parameters in one batched evaluation (relative step 1e-6, as laws/custom.py)."""
        theta = np.asarray(theta, dtype=float)
        f = self._log_eval(theta, X)
        if not jac:
            return f
        S, P = theta.shape
        h = FD_REL_STEP * np.maximum(1.0, np.abs(theta))
        steps = h[:, :, None] * np.eye(P)[None, :, :]
        plus = (theta[:, None, :] + steps).reshape(S * P, P)
        minus = (theta[:, None, :] - steps).reshape(S * P, P)
        both = self._log_eval(np.concatenate([plus, minus]), X)
        n = both.shape[1]
        width = (plus - minus).reshape(S, P, P)[:, np.arange(P), np.arange(P)]
        return f, (both[: S * P].reshape(S, P, n) - both[S * P:].reshape(S, P, n)) / width[:, :, None]

    def to_natural(self, theta: Array) -> dict[str, Array]:
        theta = np.asarray(theta, dtype=float)
        return {"E": np.exp(theta[..., 0]), "A": np.exp(theta[..., 1]), "B": np.exp(theta[..., 2]),
                "alpha": theta[..., 3], "beta": theta[..., 4],
                "R_D_star": np.exp(theta[..., 5]), "R_N_star": np.exp(theta[..., 6])}

    def from_natural(self, params: Mapping[str, float]) -> Array:
        p = params
        return np.array([math.log(p["E"]), math.log(p["A"]), math.log(p["B"]), p["alpha"], p["beta"],
                         math.log(p["R_D_star"]), math.log(p["R_N_star"])], dtype=float)

    def bounds(self) -> tuple[Array, Array]:
        """e, a, b as chinchilla; alpha, beta in [0.01, 5] (beta/alpha appears); ln R* in [-5, 10]."""
        return (np.array([-20.0, -20.0, -20.0, 0.01, 0.01, -5.0, -5.0]),
                np.array([5.0, 60.0, 60.0, 5.0, 5.0, 10.0, 10.0]))

    def init_grid(self, X: Mapping[str, Array], loss: Array) -> Array:
        """972 starts: e in {-0.5, 0, 0.5, 1}; a, b in {3, 6, 9}; alpha = beta in {0.2, 0.35, 0.5};
        R_D* in {5, 15, 50}; R_N* in {2, 5, 20} (the paper's fit: 15.4 and 5.3)."""
        g = grid([-0.5, 0.0, 0.5, 1.0], [3.0, 6.0, 9.0], [3.0, 6.0, 9.0], [0.2, 0.35, 0.5],
                 np.log([5.0, 15.0, 50.0]), np.log([2.0, 5.0, 20.0]))
        return np.column_stack([g[:, 0], g[:, 1], g[:, 2], g[:, 3], g[:, 3], g[:, 4], g[:, 5]])
