"""Comparing two fitted laws along compute: compute-equivalent multiplier and the gap across scale.

Both analyses read a law as a loss curve in one scaling variable:

* ``power:x``, ``power_floor:x``: L(x) = E + K x^(-gamma) (E = 0 for ``power``), x = FLOPs, params or
  tokens as the law says;
* ``chinchilla``: the loss at the compute-optimal allocation, which is again
  L*(C) = E + K C^(-gamma) with gamma = alpha beta/(alpha + beta),
  K = (A G^-alpha + B G^beta) 6^gamma, G = (alpha A/(beta B))^(1/(alpha+beta))
  (Hoffmann et al. 2022, eq. 4, substituted into eq. 2; C = 6ND);
* any other law of one variable (e.g. ``bnsl:flops:2``) for the gap trend only, through its prediction.

Compute multiplier (the usual "architecture X is worth k times the compute", e.g. Kaplan et al. 2020
sec. 1 on LSTMs vs transformers, Hoffmann et al. 2022 on equivalent compute):
k(C) = C_B(L_A(C)) / C, where C_B(L) = (K_B/(L - E_B))^(1/gamma_B) inverts law B. k > 1: B needs k times
the compute of A to reach A's loss at C; k < 1: B needs less. Undefined (infinite) where L_A(C) <= E_B:
B never reaches that loss. Intervals pair the bootstrap draws of the two fits (draw i of A with draw i
of B; the fits are independent resamples), so they carry the uncertainty of both laws.

Losses are in nats/token, compute in FLOPs (a count). Everything is deterministic given the fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalinglab.counting import FLOPS_PER_PARAM_TOKEN
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, count_array
from scalinglab.fitting.result import percentile_interval
from scalinglab.resolve import AnyLaw, LawLike, resolve_law

Array = np.ndarray
FLOOR_FORMS = ("power", "power_floor", "chinchilla")


# ---- a law as a loss curve ---------------------------------------------------------------------------
def curve_variable(result: AnyLaw) -> str:
    """The variable a law's loss curve runs along: its only variable, or ``flops`` for chinchilla
    (the compute-optimal frontier). ScalingLabError for laws of several variables."""
    family = result.family
    if family.name == "chinchilla":
        return "flops"
    if len(family.variables) != 1:
        raise ScalingLabError(f"law {family.label} has variables {', '.join(family.variables)}; comparing laws "
                              "along scale needs a law of one variable (e.g. power_floor:flops) or chinchilla")
    return family.variables[0]


def floor_form(result: AnyLaw, params: dict[str, Any] | None = None) -> tuple[Array, Array, Array]:
    """(E, K, gamma) with L(x) = E + K x^(-gamma) for ``params`` (default: the fit's; arrays allowed,
    e.g. :meth:`FitResult.draw_params`). Chinchilla gives its compute-optimal loss curve in FLOPs."""
    family, p = result.family, result.params if params is None else params
    if family.name not in FLOOR_FORMS:
        raise ScalingLabError(f"law {family.label}: a compute multiplier needs a law of the form E + K C^-gamma "
                              f"({', '.join(FLOOR_FORMS)})")
    if family.name == "power":
        alpha = np.asarray(p["alpha"], dtype=float)
        return np.zeros_like(alpha), np.asarray(p["A"], dtype=float), alpha
    if family.name == "power_floor":
        return (np.asarray(p["E"], dtype=float), np.asarray(p["A"], dtype=float),
                np.asarray(p["alpha"], dtype=float))
    E, A, B, alpha, beta = (np.asarray(p[k], dtype=float) for k in ("E", "A", "B", "alpha", "beta"))
    with np.errstate(all="ignore"):
        s = alpha + beta
        gamma = alpha * beta / s
        ln_g = (np.log(alpha * A) - np.log(beta * B)) / s
        K = (A * np.exp(-alpha * ln_g) + B * np.exp(beta * ln_g)) * FLOPS_PER_PARAM_TOKEN**gamma
    bad = ~((alpha > 0) & (beta > 0))
    return E, np.where(bad, np.nan, K), np.where(bad, np.nan, gamma)


def loss_curve(result: AnyLaw, x: Array) -> tuple[Array, Array | None]:
    """Loss (nats/token) along the law's curve variable at ``x``: the point curve (n,) and, with
    bootstrap draws, one curve per draw (B, n)."""
    x = np.asarray(x, dtype=float)
    if result.family.name == "chinchilla":
        def at(p: dict[str, Any]) -> Array:
            E, K, g = floor_form(result, p)
            with np.errstate(all="ignore"):
                return E[..., None] + K[..., None] * x ** -g[..., None]

        point = at({k: np.asarray(v) for k, v in result.params.items()})
        return point, None if _draws(result) is None else at(result.draw_params())
    var = curve_variable(result)
    point = result.family.predict_natural(result.params, **{var: x})
    if _draws(result) is None:
        return point, None
    with np.errstate(all="ignore"):
        return point, np.exp(result.family.log_predict(result.draws, {var: x}))


def _positive_grid(values: Any, what: str) -> Array:
    return np.atleast_1d(count_array(what, values)).ravel()


def _draws(result: AnyLaw) -> Array | None:
    """A fit's bootstrap draws (internal parameters), None for a published law or a fit without them."""
    draws = getattr(result, "draws", None)
    return draws if draws is not None and len(draws) else None


def _paired_draws(result_a: AnyLaw, result_b: AnyLaw) -> int:
    """How many draw pairs the two laws give (0 when either has no bootstrap draws)."""
    da, db = _draws(result_a), _draws(result_b)
    return 0 if da is None or db is None else min(len(da), len(db))


def interval_allowing_inf(values: Array, level: float) -> tuple[Array, Array]:
    """Equal-tailed interval along axis 0 where +inf means "undefined / never reached". Without infinite
    values it is the usual percentile interval; with some, order statistics (no interpolation towards an
    infinite draw: lower tail rounded down, upper tail rounded up), so a bound is inf when more than the
    tail's share of draws are."""
    v = np.where(np.isnan(values), np.inf, values)
    if np.all(np.isfinite(v)):
        return percentile_interval(v, level)
    tail = 0.5 * (1.0 - level)
    return (np.quantile(v, tail, axis=0, method="lower"), np.quantile(v, 1.0 - tail, axis=0, method="higher"))


# ---- compute multiplier ------------------------------------------------------------------------------
@dataclass(repr=False)
class ComputeMultiplier(Displayed):
    """k(C) = C_B(L_A(C)) / C at each FLOP count C: how many times A's compute B needs to match A's loss.

    ``value`` is inf where B's floor E_B is at or above L_A(C) (B never reaches it); ``low``/``high`` are the
    interval at ``level`` from paired bootstrap draws (None without draws); ``undefined_fraction`` is the
    share of draws in which B never reaches A's loss."""

    _display = (("flops", "FLOPs"), ("value", "x compute"), ("low", "x compute"), ("high", "x compute"),
                ("level", ""), ("n_draws", "draws"))

    flops: Array
    value: Array
    low: Array | None = None
    high: Array | None = None
    level: float = 0.95
    undefined_fraction: Array | None = None
    n_draws: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """{"flops", "value", "low", "high", "level", "undefined_fraction", "n_draws", "notes"}: lists
        aligned with ``flops`` (FLOPs); inf (never reached) becomes null in the CLI's strict JSON."""
        def lst(a: Array | None) -> list[float] | None:
            return None if a is None else [float(v) for v in a]

        return {"flops": lst(self.flops), "value": lst(self.value), "low": lst(self.low), "high": lst(self.high),
                "level": self.level, "undefined_fraction": lst(self.undefined_fraction),
                "n_draws": self.n_draws, "notes": list(self.notes)}


def _multiplier(E_a, K_a, g_a, E_b, K_b, g_b, c: Array) -> Array:
    """k = C_B(L_A(C))/C in logs; inf where L_A(C) <= E_B or gamma_B <= 0. Shapes broadcast (draws, C)."""
    with np.errstate(all="ignore"):
        loss_a = E_a + K_a * c ** -g_a
        reach = (loss_a > E_b) & (g_b > 0) & np.isfinite(loss_a)
        ln_k = (np.log(K_b) - np.log(np.where(reach, loss_a - E_b, 1.0))) / np.where(g_b > 0, g_b, 1.0) - np.log(c)
        return np.where(reach, np.exp(ln_k), np.inf)


def compute_multiplier(result_a: LawLike, result_b: LawLike, flops: Any) -> ComputeMultiplier:
    """Compute-equivalent multiplier of law B relative to law A at FLOP counts ``flops``.

    ``result_a``, ``result_b``: fits (FitResult), fit JSON files or published law names (no interval then).

    Laws: ``power:flops``, ``power_floor:flops`` or ``chinchilla`` (at the compute-optimal allocation),
    fitted to losses in nats/token. Formula and interval: see the module docstring. Example: B is A's
    architecture with a k times less efficient use of compute (its runs reach A's losses at k times the
    FLOPs) exactly when k(C) = k for every C."""
    c = _positive_grid(flops, "flops (FLOPs at which to compare)")
    result_a, result_b = resolve_law(result_a), resolve_law(result_b)
    for r in (result_a, result_b):
        if curve_variable(r) != "flops":
            raise ScalingLabError(f"law {r.family.label} is a law of {curve_variable(r)}; a compute multiplier "
                                  "needs a law of flops (power:flops, power_floor:flops) or chinchilla")
    fa, fb = floor_form(result_a), floor_form(result_b)
    value = _multiplier(*fa, *fb, c)
    out = ComputeMultiplier(flops=c, value=value, level=getattr(result_a, "level", 0.95))
    never = ~np.isfinite(value)
    if never.any():
        loss_a = fa[0] + fa[1] * c ** -fa[2]
        out.notes.append(f"B's fitted floor E_B = {float(fb[0]):.4g} nats/token is at or above A's loss "
                         f"({', '.join(f'{v:.4g}' for v in loss_a[never])}) at C = "
                         f"{', '.join(f'{v:.3g}' for v in c[never])} FLOPs: B never reaches it; "
                         "the multiplier is infinite there")
    m = _paired_draws(result_a, result_b)
    if m == 0:
        out.notes.append("no interval: both fits need bootstrap draws")
        return out
    da = floor_form(result_a, {k: v[:m] for k, v in result_a.draw_params().items()})
    db = floor_form(result_b, {k: v[:m] for k, v in result_b.draw_params().items()})
    sims = _multiplier(*(v[:, None] for v in da), *(v[:, None] for v in db), c[None, :])
    out.low, out.high = interval_allowing_inf(sims, out.level)
    out.undefined_fraction = np.mean(~np.isfinite(sims), axis=0)
    out.n_draws = m
    never_draws = int(np.max(np.sum(~np.isfinite(sims), axis=0)))
    if never_draws:
        out.notes.append(f"in up to {never_draws} of the {m} paired draws B never reaches A's loss "
                         "(counted as an infinite multiplier)")
    return out


# ---- gap across scale --------------------------------------------------------------------------------
GAP_KINDS = ("difference", "log_ratio")


@dataclass(repr=False)
class GapTrend(Displayed):
    """gap(x) = L_B(x) - L_A(x) (nats/token) or ln(L_B(x)/L_A(x)) on a grid of x, and its trend.

    ``slope`` is the least-squares slope of the gap against log10 x (gap units per decade of x), with an
    interval from paired bootstrap draws. ``trend``: "narrows" when the slope interval lies entirely on the
    side that moves the gap towards 0 (below 0 for a positive gap), "widens" when entirely on the other
    side, else "no clear trend" ("no interval" without draws)."""

    _display = (("variable", ""), ("kind", ""), ("slope", ""), ("trend", ""), ("slope_ci", ""), ("level", ""),
                ("n_draws", "draws"))

    variable: str
    kind: str
    grid: Array
    gap: Array
    slope: float
    trend: str
    gap_low: Array | None = None
    gap_high: Array | None = None
    slope_ci: list[float] | None = None
    level: float = 0.95
    n_draws: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: variable, kind, grid, gap, gap_low, gap_high, slope (per decade), slope_ci, trend."""
        def lst(a: Array | None) -> list[float] | None:
            return None if a is None else [float(v) for v in a]

        return {"variable": self.variable, "kind": self.kind, "grid": lst(self.grid), "gap": lst(self.gap),
                "gap_low": lst(self.gap_low), "gap_high": lst(self.gap_high), "slope_per_decade": self.slope,
                "slope_ci": self.slope_ci, "trend": self.trend, "level": self.level, "n_draws": self.n_draws,
                "notes": list(self.notes)}


def _gap(loss_a: Array, loss_b: Array, kind: str) -> Array:
    with np.errstate(all="ignore"):
        return loss_b - loss_a if kind == "difference" else np.log(loss_b / loss_a)


def _slopes(log10x: Array, gaps: Array) -> Array:
    """Least-squares slope of each row of ``gaps`` (S, n) against ``log10x`` (n,)."""
    xc = log10x - log10x.mean()
    return (gaps - gaps.mean(axis=-1, keepdims=True)) @ xc / float(xc @ xc)


def gap_trend(result_a: LawLike, result_b: LawLike, flops_grid: Any, *, kind: str = "difference") -> GapTrend:
    """Whether the gap between law B and law A narrows with scale, e.g. a low- vs a high-resource
    language in a multilingual model (Fernandes et al. 2023 fit such per-language laws). The laws: fits,
    fit JSON files or published law names (as :func:`compute_multiplier`).

    ``flops_grid``: values of the laws' common variable (FLOPs for laws of flops and for chinchilla, which
    is read at its compute-optimal allocation; parameters or tokens for laws of those), at least 2 distinct.
    ``kind``: "difference" (nats/token) or "log_ratio" (ln L_B/L_A). See :class:`GapTrend` for the verdict."""
    if kind not in GAP_KINDS:
        raise ScalingLabError(f"gap kind must be one of {', '.join(GAP_KINDS)}, got {kind!r}")
    result_a, result_b = resolve_law(result_a), resolve_law(result_b)
    va, vb = curve_variable(result_a), curve_variable(result_b)
    if va != vb:
        raise ScalingLabError(f"the laws run along different variables ({va} vs {vb}); compare laws of the same one")
    x = np.unique(_positive_grid(flops_grid, f"the {va} grid"))
    if x.size < 2:
        raise ScalingLabError(f"the {va} grid needs at least 2 distinct values for a trend, got {x.size}")
    (pa, sa), (pb, sb) = loss_curve(result_a, x), loss_curve(result_b, x)
    gap = _gap(pa, pb, kind)
    lx = np.log10(x)
    slope = float(_slopes(lx, gap[None, :])[0])
    out = GapTrend(variable=va, kind=kind, grid=x, gap=gap, slope=slope, trend="no interval",
                   level=getattr(result_a, "level", 0.95))
    if np.any(gap > 0) and np.any(gap < 0):
        out.notes.append("the gap changes sign on the grid: the laws cross")
    m = _paired_draws(result_a, result_b)
    if m == 0:
        out.notes.append("no interval: both fits need bootstrap draws")
        return out
    gaps = _gap(sa[:m], sb[:m], kind)
    ok = np.all(np.isfinite(gaps), axis=1)
    out.gap_low, out.gap_high = percentile_interval(gaps[ok], out.level)
    lo, hi = percentile_interval(_slopes(lx, gaps[ok]), out.level)
    out.slope_ci, out.n_draws = [float(lo), float(hi)], int(ok.sum())
    out.trend = _verdict(float(np.mean(gap)), float(lo), float(hi))
    return out


def _verdict(mean_gap: float, lo: float, hi: float) -> str:
    if mean_gap == 0 or not (math.isfinite(lo) and math.isfinite(hi)):
        return "no clear trend"
    towards_zero = hi < 0 if mean_gap > 0 else lo > 0
    away = lo > 0 if mean_gap > 0 else hi < 0
    return "narrows" if towards_zero else "widens" if away else "no clear trend"
