"""The inference-aware optimum of Sardana et al. 2024, "Beyond Chinchilla-Optimal" (references.md D1).

Sardana, Doubov, Frankle 2024, "Beyond Chinchilla-Optimal: Accounting for Inference in Language Model
Scaling Laws" (ICML 2024, arXiv:2401.00448): for a target loss ell (nats/token) and an expected lifetime
demand of D_inf inference tokens, choose N (parameters) and D_tr (training tokens) minimising

    total FLOPs = 6 N D_tr + 2 N D_inf        subject to L(N, D_tr) = ell,

training at 6N FLOPs per token (C = 6ND, Kaplan et al. 2020 sec. 2.1) and inference at 2N FLOPs per
token (a forward pass). For each N the constraint gives D_tr(N): in closed form for the chinchilla
family, D = (B / (ell - E - A/N^alpha))^(1/beta) (Hoffmann et al. 2022 eq. 2 solved for D), and by
bisection in ln D for any other law of (params, tokens) that decreases with D. The total is then
minimised over ln N (log grid, then bounded Brent). The Chinchilla-optimal model reaching the same loss
is the same problem with D_inf = 0 (the cheapest training run to reach ell); its inference cost is then
2 N D_inf. Savings = its total minus the inference-aware total.

Units: parameters (the law's convention), tokens, FLOPs (counts), loss in nats/token.

Extreme targets give answers far outside the range any published law was fitted on (a target near E
needs ~1e14+ parameters; a very high target gives a few hundred parameters trained on millions of tokens
each). Such answers are returned, honestly, with a note in ``notes`` when either model has tokens per
parameter outside [1, 1e5] (:data:`TOKENS_PER_PARAM_RANGE`) or N outside [1e6, 1e14]
(:data:`PARAMS_RANGE`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from scalinglab.counting import flops_from
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, count_array, finite_number, loss_number
from scalinglab.laws.base import LawFamily
from scalinglab.laws.chinchilla import Chinchilla
from scalinglab.resolve import AnyLaw, LawLike, law_name, resolve_law, unidentified_guard

Array = np.ndarray
LN_TOKENS_MAX = math.log(1e30)  # bisection range for D: 1 .. 1e30 tokens
LN_PARAMS_MAX = math.log(1e20)  # search range for N: 1 .. 1e20 parameters
GRID_POINTS = 1201
BISECTION_STEPS = 64
INFERENCE_FLOPS_PER_PARAM_TOKEN = 2.0  # forward pass, 2N per token (Kaplan et al. 2020 sec. 2.1)
#: typical ranges (tokens per parameter; parameters): outside them the answer is an extrapolation
TOKENS_PER_PARAM_RANGE = (1.0, 1e5)
PARAMS_RANGE = (1e6, 1e14)


@dataclass(repr=False)
class InferenceOptimum(Displayed):
    """Inference-aware optimum (Sardana et al. 2024) against the Chinchilla-optimal model of the same loss.

    Parameters, tokens and FLOPs (counts); ``loss`` is the target in nats/token; ``inference_tokens`` the
    lifetime inference demand in tokens; ``savings_fraction`` = savings_flops / chinchilla_total_flops."""

    _display = (("loss", "nats/token"), ("inference_tokens", "tokens"), ("params", "parameters"),
                ("tokens", "tokens"), ("total_flops", "FLOPs"), ("savings_fraction", "of Chinchilla's total"))

    loss: float
    inference_tokens: float
    params: float
    tokens: float
    train_flops: float
    inference_flops: float
    total_flops: float
    chinchilla_params: float
    chinchilla_tokens: float
    chinchilla_train_flops: float
    chinchilla_inference_flops: float
    chinchilla_total_flops: float
    savings_flops: float
    savings_fraction: float
    method: str = ""
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # unidentified parameters allowed

    def to_dict(self) -> dict[str, Any]:
        """Every field, keyed by its name (params, tokens, train_flops, ..., chinchilla_*, savings_*, notes)."""
        return asdict(self)


def _law_parts(law: LawLike) -> tuple[AnyLaw, LawFamily, dict[str, float]]:
    resolved = resolve_law(law)
    family = resolved.family
    if set(family.variables) != {"params", "tokens"}:
        raise ScalingLabError(f"law {law_name(resolved)} reads {', '.join(family.variables)}: the "
                              "inference-aware optimum needs a law of params and tokens only")
    return resolved, family, dict(resolved.params)


def _check_target(target_loss: Any, family: LawFamily, params: dict[str, float], name: str) -> float:
    ell = loss_number("target loss", target_loss)
    if isinstance(family, Chinchilla) and ell <= params["E"]:
        raise ScalingLabError(f"target loss {ell:g} nats/token is at or below the irreducible loss "
                              f"E = {params['E']:.6g} of law {name}: no model reaches it")
    return ell


def _bisect_tokens(family: LawFamily, params: dict[str, float], n: Array, ell: float) -> Array:
    """D with L(N, D) = ell by bisection in ln D on [0, ln 1e30], vectorised over N; inf where even
    1e30 tokens do not reach ell; 1 where one token already does. Assumes L decreases with D."""
    theta = family.from_natural(params)[None, :]

    def log_loss(ln_d: Array) -> Array:
        with np.errstate(all="ignore"):
            f = family.log_predict(theta, {"params": n, "tokens": np.exp(ln_d)})[0]
        return np.where(np.isfinite(f), f, np.inf)

    target = math.log(ell)
    lo, hi = np.zeros_like(n), np.full_like(n, LN_TOKENS_MAX)
    unreachable, trivial = log_loss(hi) > target, log_loss(lo) <= target
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        above = log_loss(mid) > target
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    d = np.exp(0.5 * (lo + hi))
    return np.where(unreachable, np.inf, np.where(trivial, 1.0, d))


def _tokens(family: LawFamily, params: dict[str, float], n: Array, ell: float) -> Array:
    if not isinstance(family, Chinchilla):
        return _bisect_tokens(family, params, n, ell)
    with np.errstate(all="ignore"):
        room = ell - params["E"] - params["A"] * n ** -params["alpha"]
        d = (params["B"] / room) ** (1.0 / params["beta"])
    return np.where(room > 0, d, np.inf)


def tokens_for_loss(law: LawLike, params: Any, target_loss: float) -> Array:
    """Training tokens D a model of ``params`` parameters needs to reach ``target_loss`` (nats/token)
    under ``law``, L(N, D) = target: closed form for the chinchilla family
    D = (B/(target - E - A/N^alpha))^(1/beta), bisection otherwise. inf where the model cannot reach it."""
    resolved, family, p = _law_parts(law)
    ell = _check_target(target_loss, family, p, law_name(resolved))
    n = count_array("params", params)
    return _tokens(family, p, np.atleast_1d(n).ravel(), ell).reshape(n.shape)


def _ln_total(family: LawFamily, params: dict[str, float], ln_n: Array, ell: float, d_inf: float) -> Array:
    """ln(6 N D(N) + 2 N D_inf), +inf where N cannot reach the loss."""
    n = np.exp(ln_n)
    d = _tokens(family, params, n, ell)
    with np.errstate(all="ignore"):
        total = flops_from(n, d) + INFERENCE_FLOPS_PER_PARAM_TOKEN * n * d_inf
        return np.where(np.isfinite(total), np.log(total), np.inf)


def _minimise_total(family: LawFamily, params: dict[str, float], ell: float, d_inf: float,
                    name: str) -> float:
    """N minimising total FLOPs at the target loss: log grid over 1..1e20 parameters, then Brent."""
    grid = np.linspace(0.0, LN_PARAMS_MAX, GRID_POINTS)
    f = _ln_total(family, params, grid, ell, d_inf)
    if not np.isfinite(f).any():
        raise ScalingLabError(f"law {name} does not reach loss {ell:g} nats/token for any model up to 1e20 "
                              "parameters trained on up to 1e30 tokens")
    i = int(np.argmin(f))
    if i == GRID_POINTS - 1:
        raise ScalingLabError(f"law {name}: total FLOPs still fall at 1e20 parameters; no interior optimum")
    lo, hi = grid[max(i - 1, 0)], grid[i + 1]

    def objective(x: float) -> float:
        value = float(_ln_total(family, params, np.array([x]), ell, d_inf)[0])
        return value if math.isfinite(value) else 1e300

    res = minimize_scalar(objective, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    x = float(res.x) if objective(float(res.x)) <= f[i] else float(grid[i])
    return math.exp(x)


def inference_optimal(law: LawLike, target_loss: float, inference_tokens: float, *,
                      allow_unidentified: bool = False) -> InferenceOptimum:
    """Minimise 6 N D_train + 2 N D_inf FLOPs subject to L(N, D_train) = ``target_loss`` (nats/token),
    for ``inference_tokens`` lifetime inference tokens (Sardana et al. 2024), and compare with the
    Chinchilla-optimal model reaching the same loss. ``law``: anything resolve_law accepts with a law of
    params and tokens (point estimate; bootstrap draws are not propagated). A fitted law whose data leave
    any parameter undetermined is refused unless ``allow_unidentified`` (the answer depends on them all:
    the target loss is measured against E), then ``warnings`` names them."""
    resolved, family, p = _law_parts(law)
    name = law_name(resolved)
    warnings = unidentified_guard(resolved, "the inference-aware optimum", allow=allow_unidentified)
    ell = _check_target(target_loss, family, p, name)
    d_inf = finite_number("inference tokens", inference_tokens, low=0.0)
    n_aware = _minimise_total(family, p, ell, d_inf, name)
    n_chin = _minimise_total(family, p, ell, 0.0, name)
    d_aware, d_chin = (float(_tokens(family, p, np.array([n]), ell)[0]) for n in (n_aware, n_chin))
    aware = _costs(n_aware, d_aware, d_inf)
    chin = _costs(n_chin, d_chin, d_inf)
    savings = chin[2] - aware[2]
    method = ("closed-form D(N) (Hoffmann et al. 2022 eq. 2 solved for D), numerical minimisation over N"
              if isinstance(family, Chinchilla) else "bisection for D(N), numerical minimisation over N")
    return InferenceOptimum(
        loss=ell, inference_tokens=d_inf, params=n_aware, tokens=d_aware,
        train_flops=aware[0], inference_flops=aware[1], total_flops=aware[2],
        chinchilla_params=n_chin, chinchilla_tokens=d_chin, chinchilla_train_flops=chin[0],
        chinchilla_inference_flops=chin[1], chinchilla_total_flops=chin[2],
        savings_flops=savings, savings_fraction=savings / chin[2], method=method,
        notes=_range_notes(name, ell, ("inference-aware", n_aware, d_aware), ("Chinchilla-optimal", n_chin, d_chin)),
        warnings=warnings)


def _range_notes(name: str, ell: float, *models: tuple[str, float, float]) -> list[str]:
    """Notes for models outside the typical ranges (:data:`TOKENS_PER_PARAM_RANGE`, :data:`PARAMS_RANGE`)."""
    notes = []
    for label, n, d in models:
        odd = []
        if not PARAMS_RANGE[0] <= n <= PARAMS_RANGE[1]:
            odd.append(f"N = {n:.3g} parameters (typical {PARAMS_RANGE[0]:.0e}..{PARAMS_RANGE[1]:.0e})")
        if not TOKENS_PER_PARAM_RANGE[0] <= d / n <= TOKENS_PER_PARAM_RANGE[1]:
            odd.append(f"{d / n:.3g} tokens per parameter (typical {TOKENS_PER_PARAM_RANGE[0]:g}.."
                       f"{TOKENS_PER_PARAM_RANGE[1]:.0e})")
        if odd:
            notes.append(f"the {label} model for loss {ell:g} has {' and '.join(odd)}: law {name} is "
                         "extrapolated far beyond the runs such laws are fitted on; treat it as indicative only")
    return notes


def _costs(n: float, d_train: float, d_inf: float) -> tuple[float, float, float]:
    """(training, inference, total) FLOPs: 6 N D_train, 2 N D_inf and their sum."""
    train = flops_from(n, d_train)
    infer = INFERENCE_FLOPS_PER_PARAM_TOKEN * n * d_inf
    return train, infer, train + infer
