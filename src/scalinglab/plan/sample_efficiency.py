"""Sample efficiency, overfitting and the compute-efficient frontier of Kaplan et al. 2020.

Kaplan et al. 2020, "Scaling Laws for Neural Language Models" (arXiv:2001.08361); references.md B2. Units follow
the paper: N counts NON-embedding parameters, D tokens, S optimiser steps (S_min: adjusted to B >> B_crit),
B tokens per batch, loss in nats/token on WebText2, C_min the compute-efficient training FLOPs
(a count; the paper's tables use PF-days, 1 PF-day = 8.64e19 FLOPs).

* Tokens to reach a loss (sec. 4, eq. 4.1 / Table 2): L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D
  solved for D: D = D_c / (L^(1/alpha_D) - (N_c/N)^(alpha_N/alpha_D)); inf when the target is at or
  below the converged loss L(N, inf) = (N_c/N)^alpha_N. Larger models need fewer tokens. Compute 6ND.
* Overfitting (sec. 4.2, eq. 4.3-4.4): penalty delta L = L(N, D)/L(N, inf) - 1; keeping it below ~2%
  needs D >~ 5e3 N^0.74 tokens.
* Early stopping (sec. 5.3, eq. 5.7): S_stop(N, D) >~ S_c / [L(N, D) - L(N, inf)]^(1/alpha_S), with
  L(N, D) from Table 2 and S_c = 2.1e3, alpha_S = 0.76 from Table 3 (as the paper does, Fig. 16).
* Compute-efficient frontier (Appendix A, Table 6; C_min in PF-days): N_opt = 1.3e9 C_min^0.73 params,
  B_crit = 2.0e6 C_min^0.24 tokens, S_min = 5.4e3 C_min^0.03 steps (lower bound),
  D_opt = 2e10 C_min^0.27 tokens (one epoch; training at B = B_crit, so C = 2 C_min, eq. 6.7); the loss
  on the frontier is L(C_min) = (3.1e8 PF-days / C_min)^0.050 (Table 5). The prefactors are published:
  Table 6 is read here, not derived; they agree with C_min = 6 N B S and B_crit(L(C_min)) to a few percent.
* C and C_min (sec. 5.1, eq. 5.5): C_min(C) = C / (1 + B/B_crit(L)) is the compute at a batch far BELOW
  the critical batch (sec. 1.3); a run at batch B spends C = C_min (1 + B/B_crit) = 6 N B S, so at
  B = B_crit it spends C = 2 C_min ("requiring 2 S_min training steps and processing E = 2 E_min data
  examples", sec. 5.1). :func:`kaplan_c_min` and :func:`kaplan_compute` convert (references.md B2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from scalinglab.counting import PF_DAY_FLOPS, flops_from
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, count_array, count_number, loss_number, positive_number
from scalinglab.laws.kaplan import KaplanND
from scalinglab.plan.inference_aware import tokens_for_loss
from scalinglab.resolve import AnyLaw, LawLike, law_name, resolve_law

Array = np.ndarray
KAPLAN_ND_KEY = "kaplan2020-nd"  # Table 2: N_c 6.4e13, D_c 1.8e13, alpha_N 0.076, alpha_D 0.103
KAPLAN_NS_KEY = "kaplan2020-ns"  # Table 3: N_c 6.5e13, S_c 2.1e3, alpha_N 0.077, alpha_S 0.76
OVERFIT_PREFACTOR = 5e3  # Kaplan et al. 2020 eq. 4.4: D >~ 5e3 N^0.74 tokens
OVERFIT_EXPONENT = 0.74
#: Kaplan et al. 2020 Appendix A, Table 6: compute-efficient value = scale * C_min^power, C_min in PF-days.
KAPLAN_TABLE6 = {
    "params": (1.3e9, 0.73),  # N_opt, non-embedding parameters
    "batch_tokens": (2.0e6, 0.24),  # B_crit, tokens per batch
    "steps": (5.4e3, 0.03),  # S_min, optimiser steps (lower bound)
    "tokens": (2e10, 0.27),  # D_opt, tokens (one epoch)
}
#: Kaplan et al. 2020 Table 5: L(C_min) = (C_c^min / C_min)^alpha_C^min, C_c^min in PF-days.
KAPLAN_C_MIN_SCALE_PF_DAYS, KAPLAN_ALPHA_C_MIN = 3.1e8, 0.050


def _kaplan_law(law: LawLike) -> AnyLaw:
    resolved = resolve_law(law)
    if not isinstance(resolved.family, KaplanND):
        raise ScalingLabError(f"law {law_name(resolved)} is not a Kaplan L(N, D) law (family kaplan_nd)")
    return resolved


def converged_loss(params: Any, law: LawLike = KAPLAN_ND_KEY) -> Array:
    """L(N, inf) = (N_c/N)^alpha_N (nats/token): the loss of N non-embedding parameters with unlimited
    data, from the L(N, D) law (Kaplan et al. 2020 eq. 4.1 at D -> inf)."""
    p = _kaplan_law(law).params
    return (p["N_c"] / count_array("params", params)) ** p["alpha_N"]


def tokens_to_reach(target_loss: float, params: Any, law: LawLike = KAPLAN_ND_KEY) -> Array:
    """Tokens D for N (non-embedding) parameters to reach ``target_loss`` nats/token under L(N, D)
    (Kaplan Table 2 by default): D = D_c / (L^(1/alpha_D) - (N_c/N)^(alpha_N/alpha_D)); inf where the
    target is at or below L(N, inf). Another law of (params, tokens) is solved numerically."""
    n = count_array("params", params)
    ell = np.float64(loss_number("target loss", target_loss))
    resolved = resolve_law(law)
    if not isinstance(resolved.family, KaplanND):
        return tokens_for_loss(resolved, n, ell)
    p = resolved.params
    with np.errstate(all="ignore"):
        room = ell ** (1.0 / p["alpha_D"]) - (p["N_c"] / n) ** (p["alpha_N"] / p["alpha_D"])
        return np.where(room > 0, p["D_c"] / room, np.inf)


def compute_to_reach(target_loss: float, params: Any, law: LawLike = KAPLAN_ND_KEY) -> Array:
    """Training FLOPs 6 N D to reach ``target_loss`` with N parameters (inf where unreachable)."""
    n = count_array("params", params)
    return _six_nd(n, tokens_to_reach(target_loss, n, law))


def _six_nd(n: Array, d: Array) -> Array:
    """Training FLOPs 6 N D; inf where D is (unreachable), a ScalingLabError where the product overflows."""
    with np.errstate(over="ignore"):
        c = flops_from(n, d)
    if np.any(np.isinf(c) & np.isfinite(d)):
        raise ScalingLabError("training FLOPs 6 N D overflow the float range at these parameter counts")
    return c


@dataclass(repr=False)
class SampleEfficiencyRow(Displayed):
    """One model size of :func:`sample_efficiency`: parameters, tokens and FLOPs (inf: unreachable)."""

    _display = (("params", "parameters"), ("tokens", "tokens"), ("flops", "FLOPs"))

    params: float
    tokens: float
    flops: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def sample_efficiency(target_loss: float, params: Any, law: LawLike = KAPLAN_ND_KEY) -> list[SampleEfficiencyRow]:
    """Tokens and compute (6ND) each model size needs to reach ``target_loss`` (Kaplan et al. 2020 Fig. 2
    and sec. 4): larger models need fewer tokens."""
    n = np.atleast_1d(count_array("params", params)).ravel()
    d = np.atleast_1d(tokens_to_reach(target_loss, n, law)).ravel()
    return [SampleEfficiencyRow(float(a), float(b), float(c)) for a, b, c in zip(n, d, _six_nd(n, d))]


def overfitting_threshold_tokens(params: Any) -> Array:
    """Tokens below which N (non-embedding) parameters overfit: D ~ 5e3 N^0.74 (Kaplan et al. 2020
    eq. 4.4, an overfitting penalty of about 2%)."""
    return OVERFIT_PREFACTOR * count_array("params", params) ** OVERFIT_EXPONENT


def overfitting_penalty(params: Any, tokens: Any, law: LawLike = KAPLAN_ND_KEY) -> Array:
    """delta L = L(N, D)/L(N, inf) - 1 (Kaplan et al. 2020 eq. 4.3): the fractional loss increase from
    training on D tokens instead of unlimited data."""
    resolved = _kaplan_law(law)
    n, d = count_array("params", params), count_array("tokens", tokens)
    return resolved.family.predict_natural(resolved.params, params=n, tokens=d) / converged_loss(n, resolved) - 1.0


def early_stopping_step(params: Any, tokens: Any, nd_law: LawLike = KAPLAN_ND_KEY,
                        ns_law: LawLike = KAPLAN_NS_KEY) -> Array:
    """Lower bound on the early-stopping step S_stop >~ S_c / [L(N, D) - L(N, inf)]^(1/alpha_S)
    (Kaplan et al. 2020 eq. 5.7): optimiser steps (S_min, at B >> B_crit); L from the L(N, D) law,
    S_c and alpha_S from the L(N, S) law (Table 3)."""
    nd = _kaplan_law(nd_law)
    ns = resolve_law(ns_law)
    if "S_c" not in ns.params or "alpha_S" not in ns.params:
        raise ScalingLabError(f"law {law_name(ns)} has no S_c and alpha_S (need a kaplan_ns law)")
    n, d = count_array("params", params), count_array("tokens", tokens)
    gap = nd.family.predict_natural(nd.params, params=n, tokens=d) - converged_loss(n, nd)
    with np.errstate(divide="ignore"):
        return ns.params["S_c"] / gap ** (1.0 / ns.params["alpha_S"])


@dataclass(repr=False)
class KaplanFrontierPoint(Displayed):
    """Kaplan's compute-efficient training at C_min FLOPs (Table 6): non-embedding parameters, critical
    batch (tokens), minimum steps, one-epoch tokens and the frontier loss (nats/token)."""

    _display = (("c_min_flops", "FLOPs"), ("params", "parameters"), ("tokens", "tokens"), ("steps", "steps"),
                ("batch_tokens", "tokens"), ("loss", "nats/token"))

    c_min_flops: float
    c_min_pf_days: float
    params: float
    batch_tokens: float
    steps: float
    tokens: float
    loss: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def kaplan_frontier(c_min_flops: float) -> KaplanFrontierPoint:
    """Kaplan et al. 2020 Table 6 at ``c_min_flops`` (FLOPs, converted to PF-days with 8.64e19): train a
    large model (N ∝ C_min^0.73) at the critical batch (∝ C_min^0.24) for few steps (∝ C_min^0.03) and
    stop early; loss L(C_min) = (3.1e8 PF-days / C_min)^0.050 (Table 5)."""
    c = count_number("c_min_flops", c_min_flops)
    pf = c / PF_DAY_FLOPS
    value = {k: scale * pf**power for k, (scale, power) in KAPLAN_TABLE6.items()}
    loss = (KAPLAN_C_MIN_SCALE_PF_DAYS / pf) ** KAPLAN_ALPHA_C_MIN
    return KaplanFrontierPoint(c_min_flops=c, c_min_pf_days=pf, loss=loss, **value)


def kaplan_c_min(flops: float, batch_over_critical: float = 1.0) -> float:
    """C_min = C / (1 + B/B_crit) FLOPs (Kaplan et al. 2020 eq. 5.5): the compute a run of ``flops``
    training FLOPs (C = 6 N B S, a count) at batch B = ``batch_over_critical`` x B_crit would have needed
    at a batch far below the critical one; at the critical batch (the default) C_min = C / 2."""
    c = count_number("flops", flops)
    return c / (1.0 + positive_number("batch_over_critical", batch_over_critical))


def kaplan_compute(c_min_flops: float, batch_over_critical: float = 1.0) -> float:
    """Training FLOPs C = C_min (1 + B/B_crit) (Kaplan et al. 2020 eq. 5.5 solved for C) of a run at
    batch B = ``batch_over_critical`` x B_crit that reaches the loss of ``c_min_flops`` minimum FLOPs;
    C = 2 C_min at the critical batch (sec. 5.1 and sec. 6.3, "C = 2 C_min")."""
    c_min = count_number("c_min_flops", c_min_flops)
    return c_min * (1.0 + positive_number("batch_over_critical", batch_over_critical))


def kaplan_allocation_exponents() -> dict[str, float]:
    """Table 6 exponents (p_params 0.73, p_batch_tokens 0.24, p_steps 0.03, p_tokens 0.27) and the theory
    of eq. 1.8 / 6.4-6.5: alpha_C^min = 1/(1/alpha_S + 1/alpha_B + 1/alpha_N), N ∝ C_min^(alpha_C^min/alpha_N),
    with alpha_S 0.76, alpha_N 0.077 (Table 3) and alpha_B 0.21 (sec. 5.1). These constants give 0.052
    and 0.68; the paper prints ≈ 0.054 and ≈ 0.71 (its unrounded fits), against the measured 0.050, 0.73."""
    alpha_s, alpha_b, alpha_n = 0.76, 0.21, 0.077
    alpha_c = 1.0 / (1.0 / alpha_s + 1.0 / alpha_b + 1.0 / alpha_n)
    out = {f"p_{k}": power for k, (_, power) in KAPLAN_TABLE6.items()}
    out.update(alpha_c_min_theory=alpha_c, p_params_theory=alpha_c / alpha_n)
    return out


__all__ = [
    "KAPLAN_TABLE6", "KaplanFrontierPoint", "SampleEfficiencyRow", "compute_to_reach", "converged_loss",
    "early_stopping_step", "kaplan_allocation_exponents", "kaplan_c_min", "kaplan_compute", "kaplan_frontier",
    "overfitting_penalty",
    "overfitting_threshold_tokens", "sample_efficiency", "tokens_to_reach",
]
