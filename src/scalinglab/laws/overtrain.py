"""The over-training law L(C, M) of Gadre et al. 2024 (references.md D4).

Gadre, Smyrnis, Shankar, ..., Muennighoff, Schmidt 2024, "Language models scale reliably with
over-training and on downstream tasks" (arXiv:2403.08540), sec. 3, eq. (4): at a fixed token
multiplier M = D/N, the reducible loss is a power law in compute with one exponent eta shared by
every M,

    L(C, M) = E + (a M^eta + b M^-eta) C^-eta,      C = 6ND (counting.flops_from), M = D/N.

It is the Chinchilla law with equal exponents alpha = beta = 2 eta written in (C, M):
L = E + A/N^(2 eta) + B/D^(2 eta) with A = a 6^-eta and B = b 6^-eta (substitute N = (C/6M)^(1/2),
D = (CM/6)^(1/2)); the authors' code (mlfoundations/scaling, ``scaling/laws.py``, ``powlaw_ours``)
fits exactly this surface in (N, M). At fixed C the loss is least at M* = (b/a)^(1/(2 eta)), the
compute-optimal multiplier (``derived``).

Inputs are the run table's ``params`` (N, parameters) and ``tokens`` (D, training tokens); C and M are
derived from them, so a table with any two of params, tokens, flops works (io completes the third).
Units: L nats/token, C FLOPs (a count), M tokens per parameter, a and b in nats/token x FLOP^eta.
Internal parameters: e = ln E, la = ln a, lb = ln b, eta, with ln L = LSE(e, la + eta ln M - eta ln C,
lb - eta ln M - eta ln C).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from scalinglab.counting import FLOPS_PER_PARAM_TOKEN, flops_from
from scalinglab.laws.base import Array, LawFamily, grid, logsumexp_terms
from scalinglab.laws.starts import log_median


def log_compute_and_multiplier(X: Mapping[str, Array]) -> tuple[Array, Array]:
    """(ln C, ln M) rows ``(1, n)`` from the ``params`` and ``tokens`` of ``X``: C = 6ND, M = D/N."""
    n = np.asarray(X["params"], dtype=float)
    d = np.asarray(X["tokens"], dtype=float)
    return np.log(flops_from(n, d))[None, :], (np.log(d) - np.log(n))[None, :]


class Overtrain(LawFamily):
    """L = E + (a M^eta + b M^-eta) C^-eta; C = 6ND training FLOPs, M = D/N tokens per parameter."""

    name = "overtrain"
    variables = ("params", "tokens")
    theta_names = ("e", "la", "lb", "eta")
    param_names = ("E", "a", "b", "eta")
    formula = "L = E + (a*M^eta + b*M^-eta) * C^-eta, C = 6ND, M = D/N"
    citation = ("Gadre et al. 2024, Language models scale reliably with over-training and on downstream "
                "tasks, sec. 3 eq. (4) (arXiv:2403.08540)")
    units = ("L in nats/token; C = 6ND training FLOPs; M = D/N training tokens per parameter; "
             "E nats/token; a, b nats/token x FLOP^eta; eta dimensionless")
    level_params = ("E",)

    def log_predict(self, theta: Array, X: Mapping[str, Array], jac: bool = False):
        """ln L = LSE(e, la + eta (ln M - ln C), lb - eta (ln M + ln C)); Jacobian in closed form."""
        ln_c, ln_m = log_compute_and_multiplier(X)
        e, la, lb, eta = (theta[:, i:i + 1] for i in range(4))
        t0 = np.broadcast_to(e, (theta.shape[0], ln_c.shape[1]))
        f, (p0, p1, p2) = logsumexp_terms([t0, la + eta * (ln_m - ln_c), lb - eta * (ln_m + ln_c)])
        if not jac:
            return f
        d_eta = p1 * (ln_m - ln_c) - p2 * (ln_m + ln_c)
        return f, np.stack([p0, p1, p2, d_eta], axis=1)

    def to_natural(self, theta: Array) -> dict[str, Array]:
        theta = np.asarray(theta, dtype=float)
        return {"E": np.exp(theta[..., 0]), "a": np.exp(theta[..., 1]), "b": np.exp(theta[..., 2]),
                "eta": theta[..., 3]}

    def from_natural(self, params: Mapping[str, float]) -> Array:
        return np.array([np.log(params["E"]), np.log(params["a"]), np.log(params["b"]), params["eta"]],
                        dtype=float)

    def bounds(self) -> tuple[Array, Array]:
        """e in [-20, 5]; ln a, ln b in [-20, 120] (C^-eta is tiny at 1e24 FLOPs); eta in [0, 2.5]."""
        return np.array([-20.0, -20.0, -20.0, 0.0]), np.array([5.0, 120.0, 120.0, 2.5])

    def init_grid(self, X: Mapping[str, Array], loss: Array) -> Array:
        """1,080 starts: e in {-1, -0.5, 0, 0.5, 1}; eta in {0.05, 0.1, 0.15, 0.2, 0.3, 0.5}; for each
        eta, ln a and ln b = eta ln(6 x median N x median D) + {-3, -1.5, 0, 1.5, 3, 4.5} (terms of about 0.05 to 4.5
        nats/token at the data's median compute; the authors' fit has eta = 0.136)."""
        mid = math.log(FLOPS_PER_PARAM_TOKEN) + log_median(X, "params") + log_median(X, "tokens")
        g = grid([-1.0, -0.5, 0.0, 0.5, 1.0], [0.05, 0.1, 0.15, 0.2, 0.3, 0.5],
                 [-3.0, -1.5, 0.0, 1.5, 3.0, 4.5], [-3.0, -1.5, 0.0, 1.5, 3.0, 4.5])
        e, eta, oa, ob = g.T
        lo, hi = self.bounds()
        return np.clip(np.column_stack([e, eta * mid + oa, eta * mid + ob, eta]), lo, hi)

    def derived(self, natural: Mapping[str, Array]) -> dict[str, Array]:
        """The compute-optimal multiplier M* = (b/a)^(1/(2 eta)) (argmin over M of a M^eta + b M^-eta),
        and the same law in Chinchilla's terms: alpha = beta = 2 eta, A = a 6^-eta, B = b 6^-eta."""
        a, b, eta = (np.asarray(natural[k], dtype=float) for k in ("a", "b", "eta"))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            scale = FLOPS_PER_PARAM_TOKEN ** -eta
            return {"M_opt": (b / a) ** (1.0 / (2.0 * eta)), "alpha": 2.0 * eta, "A": a * scale, "B": b * scale}
