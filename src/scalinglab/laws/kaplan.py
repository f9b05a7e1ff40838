"""The two-variable laws of Kaplan et al. 2020, Scaling Laws for Neural Language Models (arXiv:2001.08361).

* ``KaplanND``: L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D      (eq. 1.5 = eq. 4.1, Table 2)
* ``KaplanNS``: L(N, S) = (N_c/N)^alpha_N + (S_c/S)^alpha_S                 (eq. 1.6 = eq. 5.6, Table 3)

Units and conventions (Kaplan sec. 1.3 and 2.1): L is the loss in nats/token (WebText2 in the paper);
**N counts non-embedding parameters**; D is a token count; **S is S_min**, the number of optimiser steps
adjusted for batch size (S_min = S / (1 + B_crit(L)/B), sec. 5.1), not the raw step count. Neither law
has an irreducible-loss term. Internal parameters are ln N_c, ln D_c (ln S_c) and the two exponents.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scalinglab.laws.base import Array, LawFamily, grid, logsumexp_terms
from scalinglab.laws.starts import clip_to_bounds, log_median, log_quantiles

KAPLAN_CITATION = "Kaplan et al. 2020, Scaling Laws for Neural Language Models (arXiv:2001.08361)"


class KaplanND(LawFamily):
    """L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D; N non-embedding params, D tokens."""

    name = "kaplan_nd"
    variables = ("params", "tokens")
    theta_names = ("n_c", "d_c", "alpha_N", "alpha_D")  # n_c = ln N_c, d_c = ln D_c
    param_names = ("N_c", "D_c", "alpha_N", "alpha_D")
    formula = "L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D"
    citation = f"{KAPLAN_CITATION}, eq. 1.5 / 4.1, Table 2"
    units = "L in nats/token; N non-embedding parameters; D training tokens"

    def log_predict(self, theta: Array, X: Mapping[str, Array], jac: bool = False):
        """ln L = aD * LSE(t1, t2), t1 = (aN/aD)(n_c - ln N), t2 = d_c - ln D. With softmax weights
        w1, w2 and s = LSE: d/dn_c = aN w1, d/dd_c = aD w2, d/daN = w1 (n_c - ln N), d/daD = s - w1 t1."""
        lnN = np.log(X["params"])[None, :]
        lnD = np.log(X["tokens"])[None, :]
        nc, dc, aN, aD = (theta[:, i : i + 1] for i in range(4))
        u = nc - lnN
        t1 = (aN / aD) * u
        s, (w1, w2) = logsumexp_terms([t1, dc - lnD])
        f = aD * s
        if not jac:
            return f
        J = np.stack([aN * w1, aD * w2, w1 * u, s - w1 * t1], axis=1)
        return f, J

    def to_natural(self, theta: Array) -> dict[str, Array]:
        theta = np.asarray(theta, dtype=float)
        return {"N_c": np.exp(theta[..., 0]), "D_c": np.exp(theta[..., 1]),
                "alpha_N": theta[..., 2], "alpha_D": theta[..., 3]}

    def from_natural(self, params: Mapping[str, float]) -> Array:
        return np.array([np.log(params["N_c"]), np.log(params["D_c"]), params["alpha_N"], params["alpha_D"]],
                        dtype=float)

    def bounds(self) -> tuple[Array, Array]:
        """ln N_c, ln D_c in [-10, 150]; alpha_N in [0, 5]; alpha_D in [0.005, 5] (it divides alpha_N)."""
        return np.array([-10.0, -10.0, 0.0, 0.005]), np.array([150.0, 150.0, 5.0, 5.0])

    def init_grid(self, X: Mapping[str, Array], loss: Array) -> Array:
        """256 starts: alpha_N, alpha_D in {0.05, 0.1, 0.2, 0.4}; ln N_c = max ln N + {0, 5, 10, 20}
        and ln D_c = max ln D + {0, 5, 10, 20} (Kaplan's N_c, D_c lie far beyond the data: L ~ 1 there)."""
        lnN_max = float(log_quantiles(X, "params", 1.0))
        lnD_max = float(log_quantiles(X, "tokens", 1.0))
        exps = [0.05, 0.1, 0.2, 0.4]
        offs = [0.0, 5.0, 10.0, 20.0]
        g = grid(offs, offs, exps, exps)
        theta = np.stack([lnN_max + g[:, 0], lnD_max + g[:, 1], g[:, 2], g[:, 3]], axis=1)
        return clip_to_bounds(theta, self.bounds())

    def derived(self, natural: Mapping[str, Array]) -> dict[str, Array]:
        """``data_exponent`` = alpha_N/alpha_D: data must grow as D ∝ N^(alpha_N/alpha_D) to keep the
        overfitting penalty fixed (Kaplan eq. 4.4, D >~ 5e3 N^0.74)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return {"data_exponent": np.asarray(natural["alpha_N"]) / np.asarray(natural["alpha_D"])}


class KaplanNS(LawFamily):
    """L(N, S) = (N_c/N)^alpha_N + (S_c/S)^alpha_S; N non-embedding params, S = S_min steps."""

    name = "kaplan_ns"
    variables = ("params", "step")
    theta_names = ("n_c", "s_c", "alpha_N", "alpha_S")  # n_c = ln N_c, s_c = ln S_c
    param_names = ("N_c", "S_c", "alpha_N", "alpha_S")
    formula = "L = (N_c/N)^alpha_N + (S_c/S)^alpha_S"
    citation = f"{KAPLAN_CITATION}, eq. 1.6 / 5.6, Table 3"
    units = ("L in nats/token; N non-embedding parameters; S = S_min, optimiser steps adjusted for "
             "batch size (Kaplan sec. 5.1), in the large-batch, converged-learning-rate regime")

    def log_predict(self, theta: Array, X: Mapping[str, Array], jac: bool = False):
        """ln L = LSE(aN (n_c - ln N), aS (s_c - ln S)); with softmax weights w1, w2:
        d/dn_c = aN w1, d/ds_c = aS w2, d/daN = w1 (n_c - ln N), d/daS = w2 (s_c - ln S)."""
        lnN = np.log(X["params"])[None, :]
        lnS = np.log(X["step"])[None, :]
        nc, sc, aN, aS = (theta[:, i : i + 1] for i in range(4))
        u, v = nc - lnN, sc - lnS
        f, (w1, w2) = logsumexp_terms([aN * u, aS * v])
        if not jac:
            return f
        J = np.stack([aN * w1, aS * w2, w1 * u, w2 * v], axis=1)
        return f, J

    def to_natural(self, theta: Array) -> dict[str, Array]:
        theta = np.asarray(theta, dtype=float)
        return {"N_c": np.exp(theta[..., 0]), "S_c": np.exp(theta[..., 1]),
                "alpha_N": theta[..., 2], "alpha_S": theta[..., 3]}

    def from_natural(self, params: Mapping[str, float]) -> Array:
        return np.array([np.log(params["N_c"]), np.log(params["S_c"]), params["alpha_N"], params["alpha_S"]],
                        dtype=float)

    def bounds(self) -> tuple[Array, Array]:
        """ln N_c, ln S_c in [-10, 150]; alpha_N, alpha_S in [0, 5]."""
        return np.array([-10.0, -10.0, 0.0, 0.0]), np.array([150.0, 150.0, 5.0, 5.0])

    def init_grid(self, X: Mapping[str, Array], loss: Array) -> Array:
        """256 starts: alpha_N in {0.05, 0.1, 0.2, 0.4}; alpha_S in {0.2, 0.5, 0.8, 1.2};
        ln N_c = max ln N + {0, 5, 10, 20}; ln S_c = median ln S + {-6, -3, 0, 3} (Kaplan's S_c is
        below the step counts of converged runs)."""
        lnN_max = float(log_quantiles(X, "params", 1.0))
        lnS_med = log_median(X, "step")
        g = grid([0.0, 5.0, 10.0, 20.0], [-6.0, -3.0, 0.0, 3.0], [0.05, 0.1, 0.2, 0.4], [0.2, 0.5, 0.8, 1.2])
        theta = np.stack([lnN_max + g[:, 0], lnS_med + g[:, 1], g[:, 2], g[:, 3]], axis=1)
        return clip_to_bounds(theta, self.bounds())
