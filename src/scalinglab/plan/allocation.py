"""Compute-optimal allocation from a law: the N and D that minimise the predicted loss at a FLOP budget.

With training compute C = 6ND (Kaplan et al. 2020 sec. 2.1; C in FLOPs, a count), the compute-optimal
model for a law L(N, D) minimises L(N, C/(6N)) over the parameter count N:

* chinchilla family, closed form (Hoffmann et al. 2022 eq. 4; references.md D3):
  N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b, G = (alpha A / (beta B))^(1/(alpha+beta)),
  a = beta/(alpha+beta), b = alpha/(alpha+beta); an optimum with N < 1 or D < 1 (a budget of a few
  FLOPs) is an error;
* every other law of (params, tokens) (kaplan_nd, custom laws, the data-constrained law at a fixed
  number of unique tokens): numerically, on a log grid over 1 <= N <= C/6 (so that D >= 1 token),
  refined around the grid minimum. A minimum on the edge of that range means the law has no interior
  optimum at this budget, which is an error.

With a bootstrapped :class:`~scalinglab.fitting.FitResult` every bootstrap draw gives its own optimum; the
percentile intervals of N, D and the loss (at the fit's ``level``) reflect parameter uncertainty only.

Every allocation says how far N_opt, D_opt and C lie outside the law's data (``Allocation.extrapolation``,
decades; :func:`scalinglab.resolve.extrapolation`) and warns beyond one decade (``Allocation.warnings``).

Units: ``flops`` in FLOPs; ``params`` a parameter count in the convention of the law (Hoffmann counts
all parameters including embeddings, Kaplan non-embedding ones); ``tokens`` training tokens; ``loss`` in
nats/token on the law's own data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from scalinglab.counting import FLOPS_PER_PARAM_TOKEN, params_from, tokens_from
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, as_list
from scalinglab.errors import plain_repr as _show
from scalinglab.fitting.result import FitResult, percentile_interval
from scalinglab.laws.base import LawFamily
from scalinglab.laws.chinchilla import Chinchilla
from scalinglab.resolve import (
    AnyLaw,
    LawLike,
    allocation_params,
    extrapolation,
    extrapolation_warnings,
    law_name,
    resolve_law,
    unidentified_guard,
)

Array = np.ndarray
CLOSED_FORM = "closed form (Hoffmann et al. 2022 eq. 4)"
NUMERICAL = "numerical"
COARSE_POINTS_PER_E_FOLD = 10  # coarse grid spacing 0.1 in ln N
FINE_POINTS = 401  # fine grid over the window that brackets every row's coarse minimum
DIAG_CHUNK = 256  # rows evaluated at once when each row has its own N
MAX_RANGE_POINTS = 10_000


@dataclass(repr=False)
class Allocation(Displayed):
    """A compute-optimal allocation: budget (FLOPs), parameters, tokens, tokens per parameter and loss
    (nats/token), with bootstrap percentile intervals at ``level`` when the law carries draws."""

    _display = (("flops", "FLOPs"), ("params", "parameters"), ("tokens", "tokens"),
                ("tokens_per_param", "tokens/parameter"), ("loss", "nats/token"), ("method", ""))

    flops: float
    params: float
    tokens: float
    tokens_per_param: float
    loss: float
    params_ci: list[float] | None = None
    tokens_ci: list[float] | None = None
    loss_ci: list[float] | None = None
    level: float | None = None
    method: str = ""  # CLOSED_FORM or NUMERICAL
    notes: list[str] = field(default_factory=list)
    #: decades outside the law's data: {"params_decades", "tokens_decades", "flops_decades"}, None unknown
    extrapolation: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)  # e.g. more than a decade beyond the data
    #: the part of ``warnings`` about extrapolation (the rest: parameters the data do not determine)
    extrapolation_warnings: list[str] = field(default_factory=list, repr=False)

    @property
    def reach(self) -> float:
        """The largest distance outside the law's data, in decades of N, D or C (0 inside or unknown)."""
        return max((v for v in (self.extrapolation or {}).values() if v is not None), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        """Keys flops, params, tokens, tokens_per_param, loss (+ params_ci, tokens_ci, loss_ci and
        level when the law carries bootstrap draws), extrapolation and warnings."""
        d: dict[str, Any] = {"flops": self.flops, "params": self.params, "tokens": self.tokens,
                             "tokens_per_param": self.tokens_per_param, "loss": self.loss}
        for key in ("params_ci", "tokens_ci", "loss_ci"):
            value = getattr(self, key)
            if value is not None:
                d[key] = list(value)
        if self.level is not None and self.params_ci is not None:
            d["level"] = self.level
        d["extrapolation"] = dict(self.extrapolation) if self.extrapolation is not None else None
        d["warnings"] = list(self.warnings)
        return d


# ---- input checks -------------------------------------------------------------------------------------
def check_budget(flops: Any, what: str = "flops") -> float:
    """A training budget in FLOPs as a float; ScalingLabError unless finite and > 6 (C = 6ND, N, D >= 1)."""
    try:
        c = float(flops)
    except (TypeError, ValueError, OverflowError):
        raise ScalingLabError(f"{what} must be a finite number of FLOPs, got {_show(flops)}") from None
    if not math.isfinite(c) or c <= 6.0:
        raise ScalingLabError(f"{what} must be a finite FLOP count above 6 (C = 6ND with N, D >= 1), got {c:g}")
    return c


def parse_flops_range(text: str) -> list[float]:
    """FLOP budgets from text: ``"1e20"`` -> [1e20]; ``"1e20:1e26:7"`` -> 7 budgets log-spaced from
    1e20 to 1e26 FLOPs inclusive; ``"1e20,1e21"`` -> [1e20, 1e21]. Bad text -> ScalingLabError."""
    if not isinstance(text, str) or not text.strip():
        raise ScalingLabError("--flops is empty: give a budget (1e21) or a range start:stop:count (1e20:1e26:7)")
    text = text.strip()
    if ":" not in text:
        try:
            values = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise ScalingLabError(f"--flops expects a number of FLOPs or start:stop:count, got '{text}'") from None
        if not values:
            raise ScalingLabError(f"--flops holds no number: '{text}'")
        return [check_budget(v, "--flops") for v in values]
    parts = text.split(":")
    if len(parts) != 3:
        raise ScalingLabError(f"--flops range must be start:stop:count (e.g. 1e20:1e26:7), got '{text}'")
    try:
        start, stop = float(parts[0]), float(parts[1])
    except ValueError:
        raise ScalingLabError(f"--flops range start and stop must be numbers, got '{text}'") from None
    count_text = parts[2].strip()
    if not (count_text.isascii() and count_text.isdigit()) or not 2 <= int(count_text) <= MAX_RANGE_POINTS:
        raise ScalingLabError(f"--flops range count must be a whole number from 2 to {MAX_RANGE_POINTS}, "
                              f"got '{parts[2]}'")
    start, stop = check_budget(start, "--flops start"), check_budget(stop, "--flops stop")
    if not start < stop:
        raise ScalingLabError(f"--flops range start must be below stop, got {start:g}:{stop:g}")
    return [float(v) for v in np.geomspace(start, stop, int(count_text))]


# ---- parameters of a law --------------------------------------------------------------------------------
def law_thetas(law: AnyLaw) -> tuple[Array, Array | None, float | None]:
    """Internal parameters of a resolved law: the point estimate (1, P), the bootstrap draws (B, P) or
    None, and the interval level (None without draws)."""
    if isinstance(law, FitResult):
        point = np.asarray(law.theta, dtype=float)[None, :]
        draws = None if law.draws is None or len(law.draws) == 0 else np.asarray(law.draws, dtype=float)
        return point, draws, (law.level if draws is not None else None)
    return law.family.from_natural(law.params)[None, :], None, None


def check_allocatable(family: LawFamily, fixed: Mapping[str, float], name: str) -> None:
    """The law must read params and tokens, and every other variable must be given in ``fixed``."""
    if "params" not in family.variables or "tokens" not in family.variables:
        raise ScalingLabError(f"law {name} reads {', '.join(family.variables)}, not params and tokens: "
                              "a compute-optimal allocation needs a law L(N, D)")
    missing = [v for v in family.variables if v not in ("params", "tokens") and v not in fixed]
    if missing:
        raise ScalingLabError(f"law {name} also reads {', '.join(missing)}; a compute-optimal allocation over "
                              f"C = 6ND needs it fixed (for unique_tokens use "
                              "scalinglab.plan.data_constrained.optimal_with_unique_cap)")


# ---- closed form ----------------------------------------------------------------------------------------
def chinchilla_optimum(natural: Mapping[str, Any], flops: float) -> tuple[Array, Array, Array]:
    """Closed-form compute optimum of L = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022 eq. 4):
    N_opt = G (C/6)^a, D_opt = (C/6)^b / G, G = (alpha A/(beta B))^(1/(alpha+beta)), a = beta/(alpha+beta),
    b = alpha/(alpha+beta). Vectorised over arrays of parameters; returns (N, D, loss) arrays
    (parameters, tokens, nats/token); nan where alpha or beta is not positive."""
    E, A, B, alpha, beta = (np.asarray(natural[k], dtype=float) for k in ("E", "A", "B", "alpha", "beta"))
    with np.errstate(all="ignore"):
        s = alpha + beta
        ln_g = (np.log(alpha * A) - np.log(beta * B)) / s
        ln_c6 = math.log(flops / FLOPS_PER_PARAM_TOKEN)
        ln_n = ln_g + (beta / s) * ln_c6
        ln_d = (alpha / s) * ln_c6 - ln_g
        bad = ~((alpha > 0) & (beta > 0))
        n, d = np.where(bad, np.nan, np.exp(ln_n)), np.where(bad, np.nan, np.exp(ln_d))
        loss = E + A * np.exp(-alpha * ln_n) + B * np.exp(-beta * ln_d)
    return n, d, np.where(bad, np.nan, loss)


# ---- numerical minimisation over ln N ---------------------------------------------------------------------
def _inputs(ln_n: Array, flops: float, fixed: Mapping[str, float]) -> dict[str, Array]:
    n = np.exp(ln_n)
    X = {"params": n, "tokens": tokens_from(n, flops)}
    X.update({k: np.full(n.shape, float(v)) for k, v in fixed.items()})
    return X


def _grid_log_loss(family: LawFamily, theta: Array, ln_n: Array, flops: float,
                   fixed: Mapping[str, float]) -> Array:
    """ln L for every row of theta at every grid point, (S, n); +inf where not finite."""
    with np.errstate(all="ignore"):
        f = np.asarray(family.log_predict(theta, _inputs(ln_n, flops, fixed)), dtype=float)
    return np.where(np.isfinite(f), f, np.inf)


def _diag_log_loss(family: LawFamily, theta: Array, ln_n: Array, flops: float,
                   fixed: Mapping[str, float]) -> Array:
    """ln L of row s of theta at its own ln_n[s], (S,), evaluated in chunks of rows."""
    out = np.empty(len(theta))
    for i in range(0, len(theta), DIAG_CHUNK):
        block = _grid_log_loss(family, theta[i:i + DIAG_CHUNK], ln_n[i:i + DIAG_CHUNK], flops, fixed)
        out[i:i + DIAG_CHUNK] = np.diagonal(block)
    return out


def _parabola_vertex(x: Array, f: Array, idx: Array) -> Array:
    """ln N at the vertex of the parabola through the grid points idx-1, idx, idx+1 of each row."""
    h = x[1] - x[0]
    rows = np.arange(len(idx))
    fm, f0, fp = f[rows, idx - 1], f[rows, idx], f[rows, idx + 1]
    with np.errstate(all="ignore"):
        curv = fp - 2.0 * f0 + fm
        shift = np.where(curv > 0, 0.5 * h * (fm - fp) / curv, 0.0)
    return x[idx] + np.clip(np.nan_to_num(shift), -h, h)


def numerical_optimum(family: LawFamily, theta: Array, flops: float,
                      fixed: Mapping[str, float] | None = None) -> tuple[Array, Array, Array]:
    """Minimise L(N, C/(6N), **fixed) over 1 <= N <= C/6 for every row of ``theta`` (S, P) at once.

    A coarse log grid (spacing 0.1 in ln N) brackets each row's minimum; a fine grid over the window
    holding all brackets and a parabola through the three best points refine it. Returns (N, loss,
    at_edge): parameters and nats/token per row (nan where the minimum is on the edge of the range,
    flagged in ``at_edge``)."""
    fixed = dict(fixed or {})
    ln_hi = math.log(params_from(1.0, flops))  # N at D = 1 token
    coarse = np.linspace(0.0, ln_hi, max(64, int(ln_hi * COARSE_POINTS_PER_E_FOLD) + 1))
    f = _grid_log_loss(family, theta, coarse, flops, fixed)
    idx = np.argmin(f, axis=1)
    at_edge = (idx == 0) | (idx == len(coarse) - 1) | ~np.isfinite(f[np.arange(len(idx)), idx])
    ln_n = np.full(len(theta), np.nan)
    ok = ~at_edge
    if ok.any():
        lo, hi = coarse[idx[ok].min() - 1], coarse[idx[ok].max() + 1]
        fine = np.linspace(lo, hi, FINE_POINTS)
        ff = _grid_log_loss(family, theta[ok], fine, flops, fixed)
        jdx = np.clip(np.argmin(ff, axis=1), 1, FINE_POINTS - 2)
        ln_n[ok] = _parabola_vertex(fine, ff, jdx)
    loss = np.full(len(theta), np.nan)
    if ok.any():
        loss[ok] = np.exp(_diag_log_loss(family, theta[ok], ln_n[ok], flops, fixed))
    return np.exp(ln_n), loss, at_edge


def polish_point(family: LawFamily, theta_row: Array, flops: float, n_start: float,
                 fixed: Mapping[str, float] | None = None) -> tuple[float, float]:
    """Refine one row's optimum with bounded Brent (scipy ``minimize_scalar``) within +-0.1 of ln N_start.
    Returns (N, loss) in parameters and nats/token."""
    fixed = dict(fixed or {})
    theta_row = np.asarray(theta_row, dtype=float).reshape(1, -1)
    x0 = math.log(n_start)
    lo, hi = max(0.0, x0 - 0.1), min(math.log(params_from(1.0, flops)), x0 + 0.1)

    def objective(x: float) -> float:
        value = float(_grid_log_loss(family, theta_row, np.array([x]), flops, fixed)[0, 0])
        return value if math.isfinite(value) else 1e300

    res = minimize_scalar(objective, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    x = float(res.x) if objective(float(res.x)) <= objective(x0) else x0
    return math.exp(x), math.exp(objective(x))


# ---- public API -------------------------------------------------------------------------------------------
def _interval(values: Array, level: float) -> list[float]:
    lo, hi = percentile_interval(np.asarray(values, dtype=float), level)
    return [float(lo), float(hi)]


def allocate(law: LawLike, flops: float, fixed: Mapping[str, float] | None = None, *,
             force_numerical: bool = False, allow_unidentified: bool = False) -> Allocation:
    """The compute-optimal allocation of ``law`` at ``flops`` FLOPs, other variables held at ``fixed``
    (e.g. ``{"unique_tokens": 25e9}``). ``force_numerical`` skips the chinchilla closed form (for checks).

    A fitted law whose data do not determine a parameter the allocation depends on (all but the loss
    level E, :func:`scalinglab.resolve.allocation_params`) is refused unless ``allow_unidentified``;
    an unidentified E gives a warning only."""
    law = resolve_law(law)
    flops = check_budget(flops)
    guard = unidentified_guard(law, "the compute-optimal allocation",
                               allocation_params(law), allow=allow_unidentified)
    fixed = dict(fixed or {})
    family, name = law.family, law_name(law)
    check_allocatable(family, fixed, name)
    point, draws, level = law_thetas(law)
    closed = isinstance(family, Chinchilla) and not force_numerical
    notes: list[str] = []
    if not getattr(law, "data_range", None):
        notes.append(f"law {name} records no range of the data it was fitted on: how far this allocation "
                     "extrapolates is unknown")
    if closed:
        n, d, loss = (float(v[0]) for v in chinchilla_optimum(family.to_natural(point), flops))
        if not all(math.isfinite(v) and v > 0 for v in (n, d, loss)):
            raise ScalingLabError(f"law {name} has no compute-optimal allocation (alpha and beta must be > 0)")
        if n < 1.0 or d < 1.0:
            raise ScalingLabError(f"at {flops:g} FLOPs law {name}'s compute-optimal allocation is N = {n:.3g} "
                                  f"parameters, D = {d:.3g} tokens: below 1 parameter or 1 token, so the budget "
                                  "is too small for this law (C = 6ND needs N >= 1 and D >= 1)")
    else:
        n_grid, _, edge = numerical_optimum(family, point, flops, fixed)
        if edge[0]:
            raise ScalingLabError(f"law {name} has no interior compute-optimal size at {flops:g} FLOPs: "
                                  f"its loss is lowest at the edge of 1 <= N <= C/6 parameters")
        n, loss = polish_point(family, point[0], flops, float(n_grid[0]), fixed)
        d = tokens_from(n, flops)
    far = extrapolation_warnings(law, params=n, tokens=d, flops=flops)
    alloc = Allocation(flops=flops, params=n, tokens=d, tokens_per_param=d / n, loss=loss,
                       method=CLOSED_FORM if closed else NUMERICAL, notes=notes,
                       extrapolation=extrapolation(law, params=n, tokens=d, flops=flops),
                       warnings=guard + far, extrapolation_warnings=far)
    if draws is not None:
        _add_intervals(alloc, family, draws, level, fixed, closed)
    return alloc


def _add_intervals(alloc: Allocation, family: LawFamily, draws: Array, level: float,
                   fixed: Mapping[str, float], closed: bool) -> None:
    """Percentile intervals of N, D and the loss over the bootstrap draws' own optima."""
    if closed:
        n, d, loss = chinchilla_optimum(family.to_natural(draws), alloc.flops)
        bad = ~np.isfinite(n)
    else:
        n, loss, bad = numerical_optimum(family, draws, alloc.flops, fixed)
        d = tokens_from(n, alloc.flops)
    if bad.any():
        alloc.notes.append(f"{int(bad.sum())} of {len(draws)} bootstrap draws have no interior optimum at "
                           f"{alloc.flops:g} FLOPs; intervals use the other draws")
    if bad.all():
        return
    alloc.params_ci, alloc.tokens_ci = _interval(n, level), _interval(d, level)
    alloc.loss_ci, alloc.level = _interval(loss, level), level


def optimal_allocation(law: LawLike, flops: float, *, allow_unidentified: bool = False) -> Allocation:
    """Compute-optimal N (parameters), D (tokens) and loss (nats/token) of ``law`` at ``flops`` FLOPs
    with C = 6ND: closed form for the chinchilla family (Hoffmann et al. 2022 eq. 4), numerical for
    any other law of params and tokens. ``law``: anything :func:`scalinglab.resolve_law` accepts.
    A fitted law whose data leave a parameter of the allocation undetermined is refused unless
    ``allow_unidentified`` (then ``Allocation.warnings`` names it)."""
    return allocate(law, flops, allow_unidentified=allow_unidentified)


def optimal_frontier(law: LawLike, flops: Sequence[float], *, allow_unidentified: bool = False) -> list[Allocation]:
    """:func:`optimal_allocation` at each budget of ``flops`` (FLOPs), in the order given."""
    budgets = as_list("flops (the FLOP budgets of a frontier)", flops)
    resolved = resolve_law(law)
    return [allocate(resolved, c, allow_unidentified=allow_unidentified) for c in budgets]
