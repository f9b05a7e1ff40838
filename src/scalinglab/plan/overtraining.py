"""The token multiplier M = D/N that minimises total cost for a target loss and an inference demand.

The question of Sardana et al. 2024 (references.md D1) asked in Gadre et al. 2024's variable
(references.md D4): for a target loss ell (nats/token) and a lifetime demand of D_inf inference tokens,
which multiplier M = D/N makes

    total FLOPs = 6 N D + 2 N D_inf = C + 2 N D_inf,     D = M N,  subject to L(N, M N) = ell

least? Training costs 6 FLOPs per parameter per token (C = 6ND, counting.FLOPS_PER_PARAM_TOKEN) and
inference 2 (a forward pass; plan.inference_aware.INFERENCE_FLOPS_PER_PARAM_TOKEN).

For each M the constraint fixes the run:

* ``overtrain`` law, L = E + (a M^eta + b M^-eta) C^-eta (Gadre et al. eq. (4)): in closed form,
  C(M) = ((a M^eta + b M^-eta)/(ell - E))^(1/eta), N = (C/(6M))^(1/2);
* any other law of (params, tokens) that falls as N grows at fixed M (``chinchilla``, ``kaplan_nd``):
  N by bisection in ln N.

The total is then minimised over ln M (log grid over 1e-3..1e6 tokens per parameter, then bounded
Brent). With D_inf = 0 the answer is the compute-optimal multiplier; for the overtrain law that is
M* = (b/a)^(1/(2 eta)) whatever the loss (the family's ``derived`` ``M_opt``).

Units: M tokens per parameter, N parameters, D tokens, FLOPs (counts), loss nats/token.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from scalinglab.counting import flops_from, params_from
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, finite_number, loss_number
from scalinglab.laws.base import LawFamily
from scalinglab.laws.overtrain import Overtrain
from scalinglab.plan.inference_aware import INFERENCE_FLOPS_PER_PARAM_TOKEN, _range_notes
from scalinglab.resolve import law_name, resolve_law, unidentified_guard

Array = np.ndarray
LN_M_RANGE = (math.log(1e-3), math.log(1e6))  # search range of M, tokens per parameter
LN_PARAMS_MAX = math.log(1e20)  # bisection range of N: 1 .. 1e20 parameters
GRID_POINTS = 1201
BISECTION_STEPS = 64


@dataclass(repr=False)
class MultiplierOptimum(Displayed):
    """The total-cost-optimal multiplier against the compute-optimal one (no inference) for one loss.

    ``multiplier`` M = D/N (tokens per parameter); params, tokens and FLOPs are counts; ``loss`` the
    target in nats/token; ``inference_tokens`` the lifetime inference demand D_inf in tokens. The
    ``compute_optimal_*`` model reaches the same loss with the least training compute (D_inf = 0);
    its inference cost is 2 N D_inf all the same. ``savings_fraction`` = savings_flops /
    compute_optimal_total_flops."""

    _display = (("loss", "nats/token"), ("inference_tokens", "tokens"), ("multiplier", "tokens/parameter"),
                ("params", "parameters"), ("tokens", "tokens"), ("total_flops", "FLOPs"),
                ("compute_optimal_multiplier", "tokens/parameter"), ("savings_fraction", "of the total"))

    loss: float
    inference_tokens: float
    multiplier: float
    params: float
    tokens: float
    train_flops: float
    inference_flops: float
    total_flops: float
    compute_optimal_multiplier: float
    compute_optimal_params: float
    compute_optimal_tokens: float
    compute_optimal_train_flops: float
    compute_optimal_total_flops: float
    savings_flops: float
    savings_fraction: float
    law: str = ""
    method: str = ""
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Every field keyed by its name (multiplier, params, tokens, *_flops, compute_optimal_*, ...)."""
        return asdict(self)


def _params_at(family: LawFamily, p: dict[str, float], ln_m: Array, ell: float) -> Array:
    """N (parameters) with L(N, M N) = ell for each ln M; inf where no N up to 1e20 reaches ell."""
    m = np.exp(ln_m)
    if isinstance(family, Overtrain):
        with np.errstate(all="ignore"):
            room = ell - p["E"]
            c = ((p["a"] * m ** p["eta"] + p["b"] * m ** -p["eta"]) / room) ** (1.0 / p["eta"])
            n = np.sqrt(params_from(m, c))  # C = 6 N (M N)
        return np.where((room > 0) & np.isfinite(n), n, np.inf)
    theta = family.from_natural(p)[None, :]

    def log_loss(ln_n: Array) -> Array:
        with np.errstate(all="ignore"):
            f = family.log_predict(theta, {"params": np.exp(ln_n), "tokens": np.exp(ln_n) * m})[0]
        return np.where(np.isfinite(f), f, np.inf)

    target = math.log(ell)
    lo, hi = np.zeros_like(m), np.full_like(m, LN_PARAMS_MAX)
    unreachable = log_loss(hi) > target
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        above = log_loss(mid) > target
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return np.where(unreachable, np.inf, np.exp(0.5 * (lo + hi)))


def _ln_total(family: LawFamily, p: dict[str, float], ln_m: Array, ell: float, d_inf: float) -> Array:
    """ln(6 M N^2 + 2 N D_inf) at each ln M; +inf where the loss is out of reach."""
    n = _params_at(family, p, ln_m, ell)
    with np.errstate(all="ignore"):
        total = flops_from(n, np.exp(ln_m) * n) + INFERENCE_FLOPS_PER_PARAM_TOKEN * n * d_inf
        return np.where(np.isfinite(total), np.log(total), np.inf)


def _best_ln_m(family: LawFamily, p: dict[str, float], ell: float, d_inf: float, name: str) -> float:
    """ln M minimising total FLOPs: a log grid over LN_M_RANGE, then bounded Brent around its best."""
    grid = np.linspace(*LN_M_RANGE, GRID_POINTS)
    f = _ln_total(family, p, grid, ell, d_inf)
    if not np.isfinite(f).any():
        raise ScalingLabError(f"law {name} does not reach loss {ell:g} nats/token at any multiplier from "
                              "1e-3 to 1e6 tokens per parameter with up to 1e20 parameters")
    i = int(np.argmin(f))
    if i in (0, GRID_POINTS - 1):
        edge = "1e-3" if i == 0 else "1e6"
        raise ScalingLabError(f"law {name}: total FLOPs for loss {ell:g} still fall at M = {edge} tokens per "
                              "parameter; no interior optimum (check the law's exponents)")

    def objective(x: float) -> float:
        value = float(_ln_total(family, p, np.array([x]), ell, d_inf)[0])
        return value if math.isfinite(value) else 1e300

    res = minimize_scalar(objective, bounds=(grid[i - 1], grid[i + 1]), method="bounded",
                          options={"xatol": 1e-10})
    return float(res.x) if objective(float(res.x)) <= f[i] else float(grid[i])


def _run(family: LawFamily, p: dict[str, float], ln_m: float, ell: float, d_inf: float) -> tuple[float, ...]:
    """(M, N, D, training FLOPs, inference FLOPs) of the run at multiplier exp(ln_m) reaching ell."""
    m = math.exp(ln_m)
    n = float(_params_at(family, p, np.array([ln_m]), ell)[0])
    return m, n, m * n, flops_from(n, m * n), INFERENCE_FLOPS_PER_PARAM_TOKEN * n * d_inf


def optimal_multiplier(law: Any, target_loss: float, inference_tokens: float = 0.0, *,
                       allow_unidentified: bool = False) -> MultiplierOptimum:
    """The multiplier M = D/N minimising 6 N D + 2 N D_inf FLOPs subject to L(N, M N) = ``target_loss``
    (nats/token), for ``inference_tokens`` = D_inf lifetime inference tokens, and the compute-optimal
    multiplier (D_inf = 0) for comparison. ``law``: anything :func:`scalinglab.resolve.resolve_law`
    accepts whose family reads params and tokens only -- an ``overtrain`` fit (closed form per M) or a
    ``chinchilla``/``kaplan_nd`` fit or published law (bisection per M); point estimate. A fitted law
    whose data leave a parameter undetermined is refused unless ``allow_unidentified``."""
    resolved = resolve_law(law)
    family, name = resolved.family, law_name(resolved)
    if set(family.variables) != {"params", "tokens"}:
        raise ScalingLabError(f"law {name} reads {', '.join(family.variables)}: the optimal multiplier "
                              "needs a law of params and tokens only (e.g. overtrain or chinchilla)")
    warnings = unidentified_guard(resolved, "the optimal multiplier", allow=allow_unidentified)
    p = {k: float(v) for k, v in resolved.params.items()}
    ell = loss_number("target loss", target_loss)
    if "E" in family.level_params and ell <= p["E"]:
        raise ScalingLabError(f"target loss {ell:g} nats/token is at or below the irreducible loss "
                              f"E = {p['E']:.6g} of law {name}: no model reaches it")
    d_inf = finite_number("inference tokens", inference_tokens, low=0.0)
    best = _run(family, p, _best_ln_m(family, p, ell, d_inf, name), ell, d_inf)
    chin = _run(family, p, _best_ln_m(family, p, ell, 0.0, name), ell, d_inf)
    total, chin_total = best[3] + best[4], chin[3] + chin[4]
    method = ("closed-form C(M) (Gadre et al. 2024 eq. (4) solved for C), numerical minimisation over M"
              if isinstance(family, Overtrain) else "bisection for N(M), numerical minimisation over M")
    return MultiplierOptimum(
        loss=ell, inference_tokens=d_inf, multiplier=best[0], params=best[1], tokens=best[2],
        train_flops=best[3], inference_flops=best[4], total_flops=total,
        compute_optimal_multiplier=chin[0], compute_optimal_params=chin[1], compute_optimal_tokens=chin[2],
        compute_optimal_train_flops=chin[3], compute_optimal_total_flops=chin_total,
        savings_flops=chin_total - total, savings_fraction=(chin_total - total) / chin_total, law=name,
        method=method, warnings=warnings,
        notes=_range_notes(name, ell, ("total-cost-optimal", best[1], best[2]),
                           ("compute-optimal", chin[1], chin[2])))
