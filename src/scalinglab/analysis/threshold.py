"""Capability thresholds: the smallest compute (or size) at which a predicted loss falls below, or a
predicted downstream metric rises above, a target, with an interval; and how that interval widens
with the extrapolation distance. For planning and safety assessment (e.g. "at what training
compute does this benchmark first reach 80%?").

Solved per bootstrap draw, so the interval is the percentile interval of the crossing itself:

- loss (a fitted law L(x), one variable x): the first x on a log grid 1 .. 1e100 where L(x) <= target
  (power_floor has no crossing when target <= E: "never");
- sigmoid in log10 x: t* = midpoint + ln((target - floor) / (ceiling - target)) / slope, x* = 10^t*,
  reachable only for floor < target < ceiling and a slope of the right sign;
- two-step (Llama 3 report sec. 3.2.1): the loss L* at which the step-2 sigmoid reaches the target,
  then the x where the step-1 law reaches L*, draw by draw.

A draw that never reaches the target counts as +infinity: the upper bound is then infinite (null
in JSON) and ``fraction_reached`` says how many draws reach it. Units: x in FLOPs (a count),
parameters or tokens as the data give them; the loss in nats/token.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
import pandas as pd

from scalinglab.analysis._metric_data import SCALES, read_metric_table
from scalinglab.analysis.downstream import LOG_SCALES, SigmoidFit, TwoStepFit, fit_sigmoid, two_step
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, as_list, finite_array, finite_number
from scalinglab.fitting import fit
from scalinglab.fitting.result import FitResult
from scalinglab.laws import get_family
from scalinglab.laws.base import LawFamily
from scalinglab.laws.published import PublishedLaw
from scalinglab.resolve import AnyLaw, LawLike, resolve_law

__all__ = ["Threshold", "capability_threshold", "threshold_widening"]

Array = np.ndarray
LOG10_GRID = np.linspace(0.0, 100.0, 10001)  # log10 x searched for a law's crossing
#: What a threshold is solved from: a fitted sigmoid or two-step fit, a law, or a table to fit.
Source = Union[SigmoidFit, TwoStepFit, FitResult, PublishedLaw, str, os.PathLike, pd.DataFrame]


@dataclass(repr=False)
class Threshold(Displayed):
    """The crossing ``value`` of ``x`` (``math.inf`` when never reached) and its interval."""

    _display = (("metric", ""), ("target", "metric units"), ("direction", ""), ("x", ""), ("value", "units of x"),
                ("low", "units of x"), ("high", "units of x"), ("level", ""), ("reached", ""))

    x: str
    value: float
    low: float
    high: float
    metric: str
    target: float
    direction: str
    method: str
    level: float = 0.95
    fraction_reached: float = 1.0
    largest_observed: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def reached(self) -> bool:
        return math.isfinite(self.value)

    @property
    def flops(self) -> float | None:
        """The crossing in FLOPs (None when x is not flops)."""
        return self.value if self.x == "flops" else None

    @property
    def extrapolation_decades(self) -> float | None:
        """log10(crossing / largest observed x): how far beyond the data the crossing lies."""
        if not (self.largest_observed and self.reached and self.x in LOG_SCALES):
            return None
        return float(math.log10(self.value / self.largest_observed))

    def to_dict(self) -> dict[str, Any]:
        """Keys: ``<x>`` (e.g. ``flops``; null when never reached), ``low``, ``high`` (null when
        unbounded), ``value``, ``reached`` and the context."""
        fin = lambda v: v if v is not None and math.isfinite(v) else None  # noqa: E731
        return {self.x: fin(self.value), "low": fin(self.low), "high": fin(self.high), "value": fin(self.value),
                "x": self.x, "reached": self.reached, "metric": self.metric, "target": self.target,
                "direction": self.direction, "method": self.method, "level": self.level,
                "fraction_reached": self.fraction_reached, "largest_observed": self.largest_observed,
                "extrapolation_decades": self.extrapolation_decades, "notes": self.notes}


def capability_threshold(data_or_fit: Source, metric: str = "accuracy", target: float = 0.8, x: str = "flops", *,
                         law: LawLike | None = None, direction: str | None = None, chance: float | None = None,
                         ceiling: float | None = 1.0, bootstrap: int = 200, seed: int = 0, level: float = 0.95,
                         columns: Mapping[str, str] | None = None, x_scale: float = 1.0) -> Threshold:
    """Smallest ``x`` where the prediction crosses ``target``: below it for ``metric="loss"``,
    above it otherwise (``direction`` overrides: "above" or "below").

    ``data_or_fit``: a :class:`SigmoidFit`, a :class:`TwoStepFit`, a fitted or published law (loss
    thresholds), or a table. From a table, a loss threshold fits ``law`` (default
    ``power_floor:<x>``); a metric threshold fits a sigmoid in log10 x, or the two-step method when
    ``law`` is given (the table then needs a ``loss`` column)."""
    if direction is None:
        direction = "below" if metric == "loss" else "above"
    if direction not in ("above", "below"):
        raise ScalingLabError(f"direction must be 'above' or 'below', got {direction!r}")
    target = finite_number("--target", target)
    chance, ceiling = (None if v is None else finite_number(name, v, low=0.0, high=1.0)
                       for name, v in (("--chance", chance), ("--ceiling", ceiling)))
    if metric != "loss" and not _is_law(data_or_fit):
        _check_target(float(target), data_or_fit, chance, ceiling)
    fit, largest = _fitted(data_or_fit, metric, x, law, chance, ceiling, bootstrap, seed, level, columns, x_scale)
    if isinstance(fit, SigmoidFit):
        return _from_sigmoid(fit, float(target), direction, largest)
    if isinstance(fit, TwoStepFit):
        return _from_two_step(fit, float(target), direction, largest)
    return _from_law(fit, float(target), direction, largest, level)


def _check_target(target: float, obj: Source, chance: float | None, ceiling: float | None) -> None:
    """A metric target must lie strictly inside the sigmoid's fixed range (floor, ceiling)."""
    if isinstance(obj, TwoStepFit):
        obj = obj.sigmoid
    if isinstance(obj, SigmoidFit):
        chance = obj.floor if "floor" not in obj.fitted else None
        ceiling = obj.ceiling if "ceiling" not in obj.fitted else None
    lo = 0.0 if chance is None else float(chance)
    hi = 1.0 if ceiling is None else float(ceiling)
    if not lo < target < hi:
        raise ScalingLabError(f"--target {target:g} is outside the sigmoid's range ({lo:g}, {hi:g}) (floor = chance, "
                              "ceiling): a metric target must lie strictly between them")


def _fitted(obj, metric, x, law, chance, ceiling, bootstrap, seed, level, columns, x_scale):
    """(fitted object, largest observed x or None)."""
    if isinstance(obj, (SigmoidFit, TwoStepFit)):
        largest = None
        if isinstance(obj, SigmoidFit) and obj.t is not None:
            largest = float(10.0 ** obj.t.max()) if obj.x in LOG_SCALES else None
        return obj, largest
    if _is_law(obj):
        return obj, None
    if not isinstance(x, str) or x not in SCALES or x == "loss":
        raise ScalingLabError(f"a threshold is a scale: --x must be one of flops, params, tokens, got '{x}'")
    if metric == "loss":
        return _fit_law(obj, x, law, bootstrap, seed, level, columns, x_scale)
    if law is not None:
        fit = two_step(obj, metric, law, x, chance, bootstrap, seed, ceiling=ceiling, level=level,
                       columns=columns, x_scale=x_scale)
        md = read_metric_table(obj, metric, x, columns=columns, x_scale=x_scale, extra=("loss",))
        return fit, float(md.x.max())
    fit = fit_sigmoid(obj, metric, x, chance, bootstrap, seed, ceiling=ceiling, level=level, columns=columns,
                      x_scale=x_scale)
    return fit, float(10.0 ** fit.t.max())


def _is_law(obj: Source) -> bool:
    return isinstance(obj, (FitResult, PublishedLaw))


def _fit_law(data, x, law, bootstrap, seed, level, columns, x_scale):
    md = read_metric_table(data, "loss", x, columns=columns, x_scale=x_scale, bounded=False)
    if law is not None and not (isinstance(law, str) and _family_or_none(law) is not None):
        return resolve_law(law), float(md.x.max())
    family = get_family(law or f"power_floor:{x}")
    if tuple(family.variables) != (x,):
        raise ScalingLabError(f"a loss threshold in {x} needs a law of {x} alone (e.g. power_floor:{x}); "
                              f"law {family.label} reads {', '.join(family.variables)}")
    runs = pd.DataFrame({x: md.x, "loss": md.y})
    return fit(runs, law=family, bootstrap=bootstrap, seed=seed, level=level), float(md.x.max())


def _family_or_none(name: str):
    try:
        return get_family(name)
    except ScalingLabError:
        return None


def sigmoid_crossing(params: Array, target: float, direction: str, x_is_loss: bool = False) -> Array:
    """t where floor + (ceiling - floor) sigmoid(slope (t - midpoint)) = target, per row of
    ``params`` (K, 4: midpoint, slope, floor, ceiling); +inf where never reached as scale grows
    (scale grows as t grows, or as t falls when t is a loss)."""
    m, s, f, c = (params[:, j] for j in range(4))
    grows = -s if x_is_loss else s
    ok = (f < target) & (target < c) & ((grows > 0) if direction == "above" else (grows < 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = m + np.log((target - f) / (c - target)) / s
    return np.where(ok, t, np.inf)


def _from_sigmoid(fit: SigmoidFit, target: float, direction: str, largest: float | None) -> Threshold:
    is_loss = fit.x == "loss"
    point = sigmoid_crossing(fit.params[None, :], target, direction, is_loss)[0]
    draws = None if fit.draws is None else sigmoid_crossing(fit.draws, target, direction, is_loss)
    to_x = (lambda t: 10.0 ** t) if fit.x in LOG_SCALES else (lambda t: t)
    notes = _reach_notes(point, fit.floor, fit.ceiling, target, fit.slope, direction, is_loss)
    return _threshold(fit.x, to_x(point), None if draws is None else to_x(draws), fit.metric, target, direction,
                      "sigmoid", fit.level, largest, notes + list(fit.notes))


def _from_two_step(fit: TwoStepFit, target: float, direction: str, largest: float | None) -> Threshold:
    sig, law = fit.sigmoid, fit.law
    var = _one_variable(law)
    loss_point = sigmoid_crossing(sig.params[None, :], target, direction, x_is_loss=True)
    # sigmoid_crossing returns the loss (t = loss); "never" is +inf, which no law reaches
    point = law_crossing(law.family, _theta(law)[None, :], loss_point, var)[0]
    draws = None
    if sig.draws is not None:
        ld = getattr(law, "draws", None)
        thetas = ld if ld is not None and len(ld) else _theta(law)[None, :]
        B = len(sig.draws) if len(thetas) == 1 else min(len(sig.draws), len(thetas))
        loss_b = sigmoid_crossing(sig.draws[:B], target, direction, x_is_loss=True)
        draws = law_crossing(law.family, np.broadcast_to(thetas[:B], (B, thetas.shape[1])), loss_b, var)
    notes = _reach_notes(point, sig.floor, sig.ceiling, target, sig.slope, direction, True)
    return _threshold(var, point, draws, fit.metric, target, direction, "two_step", sig.level, largest,
                      notes + list(fit.notes))


def _from_law(law: AnyLaw, target: float, direction: str, largest: float | None, level: float) -> Threshold:
    if direction != "below":
        raise ScalingLabError("a loss threshold is a loss falling below the target (direction 'below')")
    var = _one_variable(law)
    if not target > 0:
        raise ScalingLabError(f"a loss target must be > 0 nats/token, got {target:g}")
    point = law_crossing(law.family, _theta(law)[None, :], np.array([target]), var)[0]
    draws = getattr(law, "draws", None)
    sims = None
    if draws is not None and len(draws):
        sims = law_crossing(law.family, draws, np.full(len(draws), target), var)
    notes = []
    floor = getattr(law, "params", {}).get("E")
    if not math.isfinite(point):
        why = (f" (its irreducible loss E = {floor:.4g} is above the target)"
               if floor is not None and floor >= target else f" at any {var} up to 1e100")
        notes.append(f"the law never falls to {target:g} nats/token{why}")
    return _threshold(var, point, sims, "loss", target, "below", "law", getattr(law, "level", level), largest,
                      notes + list(getattr(law, "notes", []) or []))


def law_crossing(family: LawFamily, thetas: Array, targets: Array, var: str) -> Array:
    """Per row: the first x (log grid 1 .. 1e100, interpolated) where the law's loss <= target; +inf if none."""
    X = 10.0 ** LOG10_GRID
    with np.errstate(over="ignore", invalid="ignore"):
        logL = family.log_predict(np.asarray(thetas, float), {var: X})  # (S, G)
    targets = np.asarray(targets, dtype=float)
    valid = np.isfinite(targets) & (targets > 0)
    tgt = np.log(np.where(valid, targets, 1.0))[:, None]
    with np.errstate(invalid="ignore"):
        below = logL <= tgt
    hit = below.any(axis=1) & valid
    j = np.argmax(below, axis=1)
    rows = np.arange(len(j))
    jm = np.maximum(j - 1, 0)
    y0, y1 = logL[rows, jm], logL[rows, j]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(y0 != y1, (y0 - tgt[:, 0]) / (y0 - y1), 0.0)
    logx = np.where(j > 0, LOG10_GRID[jm] + np.clip(frac, 0, 1) * (LOG10_GRID[1] - LOG10_GRID[0]), LOG10_GRID[0])
    return np.where(hit, 10.0 ** logx, np.inf)


def _one_variable(law: AnyLaw) -> str:
    variables = tuple(law.family.variables)
    if len(variables) != 1:
        raise ScalingLabError(f"a threshold needs a law of one variable (e.g. power_floor:flops); this law reads "
                              f"{', '.join(variables)}")
    return variables[0]


def _theta(law: AnyLaw) -> Array:
    theta = getattr(law, "theta", None)
    return np.asarray(theta if theta is not None else law.family.from_natural(law.params), float)


def _reach_notes(point: float, floor: float, ceiling: float, target: float, slope: float, direction: str,
                 is_loss: bool) -> list[str]:
    if math.isfinite(point):
        return []
    if not floor < target < ceiling:
        return [f"never reached: the target {target:g} is outside the fitted curve's range "
                f"({floor:.4g}, {ceiling:.4g})"]
    return [f"never reached: the fitted curve moves away from the target as scale grows (slope {slope:.3g})"]


def _threshold(x, point, draws, metric, target, direction, method, level, largest, notes) -> Threshold:
    low = high = float(point)
    frac = 1.0 if math.isfinite(point) else 0.0
    if draws is not None and len(draws):
        low, high = _interval(np.asarray(draws, float), level)
        frac = float(np.mean(np.isfinite(draws)))
        if 0 < frac < 1:
            notes = notes + [f"{100 * (1 - frac):.0f}% of the bootstrap draws never reach the target"]
    elif math.isfinite(point):
        notes = notes + ["no bootstrap draws: low = high = the point estimate"]
    return Threshold(x=x, value=float(point), low=float(low), high=float(high), metric=metric, target=target,
                     direction=direction, method=method, level=float(level), fraction_reached=frac,
                     largest_observed=largest, notes=notes)


def _interval(values: Array, level: float) -> tuple[float, float]:
    """Equal-tailed percentile interval of crossings, computed on log10 x; +inf (never) sorts last."""
    v = np.where(np.isnan(values), np.inf, values)
    tail = 0.5 * (1.0 - level)
    if np.all(np.isfinite(v)) and np.all(v > 0):
        lo, hi = np.percentile(np.log10(v), [100 * tail, 100 * (1 - tail)])
        return float(10.0 ** lo), float(10.0 ** hi)
    lo, hi = np.quantile(v, [tail, 1 - tail], method="inverted_cdf")
    return float(lo), float(hi)


def threshold_widening(data: str | os.PathLike | pd.DataFrame, metric: str = "accuracy", target: float = 0.8,
                       x: str = "flops", *, cutoffs: Any = None,
                       keep_fractions: tuple[float, ...] = (1.0, 0.85, 0.7, 0.55),
                       law: LawLike | None = None, chance: float | None = None, ceiling: float | None = 1.0,
                       bootstrap: int = 200, seed: int = 0, level: float = 0.95,
                       columns: Mapping[str, str] | None = None, x_scale: float = 1.0) -> pd.DataFrame:
    """Refit on the rows with x <= each cut-off and solve the threshold each time: one row per
    cut-off with ``cutoff`` (largest x kept), ``n_points``, ``value``, ``low``, ``high``,
    ``width_decades`` = log10(high / low) and ``distance_decades`` = log10(value / cutoff), sorted
    by distance. Default cut-offs keep the smallest ``keep_fractions`` of the distinct x values."""
    extra = ("loss",) if law is not None and metric != "loss" else ()
    md = read_metric_table(data, metric, x, columns=columns, x_scale=x_scale, bounded=metric != "loss", extra=extra)
    frame = pd.DataFrame({x: md.x, metric: md.y, **md.extra})
    distinct = np.unique(md.x)
    if cutoffs is None:
        fractions = finite_array("keep_fractions", as_list("keep_fractions", keep_fractions), low=0.0, high=1.0,
                                 low_open=True)
        cutoffs = sorted({float(distinct[max(int(math.ceil(f * distinct.size)) - 1, 0)]) for f in fractions})
    else:
        cutoffs = finite_array("cutoffs", as_list("cutoffs", cutoffs), low=0.0, low_open=True)
    rows = []
    for cut in sorted(float(c) for c in cutoffs):
        sub = frame[frame[x] <= cut]
        th = capability_threshold(sub.reset_index(drop=True), metric, target, x, law=law, chance=chance,
                                  ceiling=ceiling, bootstrap=bootstrap, seed=seed, level=level)
        width = math.log10(th.high / th.low) if th.low > 0 and math.isfinite(th.high) else math.inf
        dist = math.log10(th.value / float(sub[x].max())) if th.reached else math.inf
        rows.append({"cutoff": float(sub[x].max()), "n_points": len(sub), "value": th.value, "low": th.low,
                     "high": th.high, "width_decades": width, "distance_decades": dist,
                     "fraction_reached": th.fraction_reached})
    return pd.DataFrame(rows).sort_values("distance_decades", kind="stable").reset_index(drop=True)
