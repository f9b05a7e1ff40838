"""Downstream accuracy vs scale: a sigmoid in log compute (or in loss), the two-step method, and
few-shot scaling fitted jointly.

Sigmoid (the form of the Llama 3 report, Dubey et al. 2024, sec. 3.2.1 step 2; Ruan et al. 2024,
"Observational Scaling Laws", also link benchmark scores to scale through a sigmoid)::

    metric = floor + (ceiling - floor) / (1 + exp(-slope * (t - midpoint)))

with t = log10(x) for x = ``flops`` (FLOPs), ``params`` (parameters) or ``tokens``, and t = x for
x = ``loss`` (nats/token; then the slope is negative: accuracy rises as loss falls). ``midpoint``
is in t's units (log10 FLOPs for x = flops: ``midpoint_x`` = 10**midpoint FLOPs); ``slope`` is per
decade of x (per nat/token for loss). ``floor`` is the chance accuracy when given (0.25 for 4-way
multiple choice), else fitted; ``ceiling`` is 1 unless given or fitted (``ceiling=None``).

Fitting: least squares on the metric, multi-start Levenberg-Marquardt (:mod:`._sigmoid`).
Intervals: seeded bootstrap resampling rows (models), percentile intervals; parameter
uncertainty only. Measured coverage of the nominal 95% midpoint/slope intervals on simulated
binomial data: about 93% with 30 models, 88-90% with 10-20 models (case-resampling bootstraps
under-cover small samples; the intervals are then too narrow, not too wide).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.analysis._metric_data import MetricData, read_metric_table
from scalinglab.analysis._sigmoid import SigmoidLayout, multistart
from scalinglab.display import Displayed
from scalinglab.errors import FitError, ScalingLabError, bootstrap_count, finite_number, level_number, seed_number
from scalinglab.fitting import fit
from scalinglab.fitting.multistart import distinct_optima
from scalinglab.fitting.result import percentile_interval
from scalinglab.laws import get_family
from scalinglab.resolve import AnyLaw, LawLike, law_inputs, resolve_law

__all__ = ["MetricPrediction", "SigmoidFit", "TwoStepFit", "fit_sigmoid", "two_step", "sigmoid_curve",
           "fit_layout", "predictor", "check_bootstrap", "case_weights", "LOG_SCALES"]

Array = np.ndarray
LOG_SCALES = ("flops", "params", "tokens")  # the sigmoid is in log10 of these; loss is used as is
MIN_BOOTSTRAP = 10
DataLike = str | os.PathLike | pd.DataFrame | MetricData


def predictor(x_name: str, values: Any) -> Array:
    """The sigmoid's t: log10 of FLOPs/params/tokens, or the loss itself (nats/token)."""
    v = np.asarray(values, dtype=float)
    if x_name in LOG_SCALES:
        if np.any(~(v > 0)):
            raise ScalingLabError(f"{x_name} must be > 0 to predict, got {v[~(v > 0)].ravel()[0]:g}")
        return np.log10(v)
    return v


def sigmoid_curve(t: Array, midpoint: Array, slope: Array, floor: Array, ceiling: Array) -> Array:
    """floor + (ceiling - floor) / (1 + exp(-slope (t - midpoint))); broadcasts."""
    with np.errstate(over="ignore"):
        return floor + (ceiling - floor) / (1.0 + np.exp(-slope * (t - midpoint)))


def check_bootstrap(bootstrap: int, level: float, seed: int) -> None:
    """Same rules as :func:`scalinglab.fitting`: 0 or >= 10 resamples, 0 < level < 1, seed >= 0."""
    bootstrap = bootstrap_count(bootstrap, "--bootstrap", exact=True)
    if 0 < bootstrap < MIN_BOOTSTRAP:
        raise ScalingLabError(f"--bootstrap {bootstrap} is too few resamples for a percentile interval; "
                              f"use 0 (none) or at least {MIN_BOOTSTRAP} (200-1000 is usual)")
    level_number(level, "confidence level")
    seed_number(seed, "--seed", exact=True)


@dataclass(repr=False)
class MetricPrediction(Displayed):
    """Predicted metric at the given scale, with a percentile interval at ``level`` when the fit
    has bootstrap draws; ``loss`` (nats/token) is the intermediate of a two-step prediction."""

    _display = (("value", "metric units"), ("low", "metric units"), ("high", "metric units"), ("level", ""),
                ("loss", "nats/token"))

    value: Array
    low: Array | None = None
    high: Array | None = None
    level: float | None = None
    loss: Array | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"value": _plain(self.value)}
        if self.low is not None:
            d.update(low=_plain(self.low), high=_plain(self.high), level=self.level)
        if self.loss is not None:
            d["loss"] = _plain(self.loss)
        return d


@dataclass(repr=False)
class SigmoidFit(Displayed):
    """A fitted sigmoid of ``metric`` against ``x`` (see the module docstring for the formula)."""

    _display = (("metric", ""), ("x", ""), ("midpoint", ""), ("slope", ""), ("floor", "metric units"),
                ("ceiling", "metric units"), ("n_points", "points"), ("converged", ""))

    metric: str
    x: str
    midpoint: float
    slope: float
    floor: float
    ceiling: float
    n_points: int
    rss: float
    converged: bool
    fitted: tuple[str, ...]  # free parameters
    ci: dict[str, list[float]] = field(default_factory=dict)
    draws: Array | None = None  # (B, 4): midpoint, slope, floor, ceiling per bootstrap resample
    level: float = 0.95
    bootstrap: int = 0
    seed: int = 0
    source: str = ""
    t: Array | None = None  # observed predictor values
    y: Array | None = None  # observed metric
    notes: list[str] = field(default_factory=list)

    @property
    def midpoint_x(self) -> float:
        """The midpoint in x's own units (FLOPs for x = flops; nats/token for loss)."""
        return float(10.0 ** self.midpoint) if self.x in LOG_SCALES else self.midpoint

    @property
    def transition_width(self) -> float:
        """Width in t of the rise from 10% to 90% of the floor-ceiling span: 2 ln 9 / |slope|."""
        return float(2.0 * np.log(9.0) / abs(self.slope)) if self.slope else float("inf")

    @property
    def params(self) -> Array:
        return np.array([self.midpoint, self.slope, self.floor, self.ceiling])

    def curve(self, t: Array) -> tuple[Array, Array | None]:
        """Point curve at predictor values ``t`` and, with draws, the (B, n) draw curves."""
        t = np.asarray(t, dtype=float)
        point = sigmoid_curve(t, *self.params)
        if self.draws is None:
            return point, None
        d = self.draws
        sims = sigmoid_curve(t.reshape(1, -1), d[:, 0:1], d[:, 1:2], d[:, 2:3], d[:, 3:4])
        return point, sims

    def predict(self, values: Any) -> MetricPrediction:
        """Metric at ``values`` of x (FLOPs, parameters, tokens, or loss in nats/token)."""
        t = predictor(self.x, values)
        point, sims = self.curve(t.ravel())
        if sims is None:
            return MetricPrediction(value=point.reshape(t.shape))
        lo, hi = percentile_interval(sims, self.level)
        return MetricPrediction(point.reshape(t.shape), lo.reshape(t.shape), hi.reshape(t.shape), self.level)

    def to_dict(self) -> dict[str, Any]:
        unit = {"flops": "log10 FLOPs", "params": "log10 parameters", "tokens": "log10 tokens",
                "loss": "nats/token"}[self.x]
        return {
            "metric": self.metric, "x": self.x, "midpoint": self.midpoint, "midpoint_unit": unit,
            f"midpoint_{self.x}": self.midpoint_x, "slope": self.slope,
            "slope_unit": f"per {'decade of ' + self.x if self.x in LOG_SCALES else 'nat/token'}",
            "floor": self.floor, "ceiling": self.ceiling, "fitted": list(self.fitted),
            "transition_width": self.transition_width, "ci": self.ci, "level": self.level,
            "n_points": self.n_points, "rmse": float(np.sqrt(self.rss / max(self.n_points, 1))),
            "converged": self.converged, "bootstrap": self.bootstrap, "seed": self.seed, "notes": self.notes}

    def summary(self) -> str:
        """A few readable lines."""
        d, lines = self.to_dict(), []
        lines.append(f"sigmoid of {self.metric} vs {d['midpoint_unit']} ({self.n_points} points, "
                     f"rmse {d['rmse']:.4f})")
        for name in ("midpoint", "slope", "floor", "ceiling"):
            ci = self.ci.get(name)
            extra = f"  [{ci[0]:.4g}, {ci[1]:.4g}]" if ci else ("  (fixed)" if name not in self.fitted else "")
            lines.append(f"  {name:9s} {getattr(self, name):.4g}{extra}")
        if self.x in LOG_SCALES:
            lines.append(f"  midpoint = {self.midpoint_x:.3g} {self.x}; 10%-90% rise over "
                         f"{self.transition_width:.3g} decades")
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


def fit_layout(chance: float | None, ceiling: float | None, n_groups: int = 1,
               shared_slope: bool = True) -> SigmoidLayout:
    """The sigmoid's free parameters: floor fixed at ``chance`` (or fitted when None), ceiling
    fixed (or fitted when None), validated."""
    chance, ceiling = (None if v is None else finite_number(name, v, low=0.0, high=1.0)
                       for name, v in (("--chance", chance), ("--ceiling", ceiling)))
    if chance is not None and ceiling is not None and not float(chance) < float(ceiling):
        raise ScalingLabError(f"--chance ({chance}) must be below --ceiling ({ceiling})")
    return SigmoidLayout(n_groups=n_groups, shared_slope=shared_slope,
                         floor=None if chance is None else float(chance),
                         ceiling=None if ceiling is None else float(ceiling))


def case_weights(n: int, bootstrap: int, rng: np.random.Generator, groups: Array | None = None) -> Array:
    """(B, n) bootstrap multiplicities: rows resampled with replacement (within each group)."""
    if groups is None:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=bootstrap).astype(float)
    W = np.zeros((bootstrap, n))
    for gval in np.unique(groups):
        idx = np.flatnonzero(groups == gval)
        W[:, idx] = rng.multinomial(idx.size, np.full(idx.size, 1.0 / idx.size), size=bootstrap)
    return W


def fit_sigmoid(data: DataLike, metric: str = "accuracy", x: str = "flops", chance: float | None = None,
                bootstrap: int = 200, seed: int = 0, *, ceiling: float | None = 1.0, level: float = 0.95,
                columns: Mapping[str, str] | None = None, x_scale: float = 1.0) -> SigmoidFit:
    """Fit metric = floor + (ceiling - floor) / (1 + exp(-slope (t - midpoint))), t = log10(x)
    (x = flops, params, tokens) or t = loss, by least squares with multi-start; seeded bootstrap
    (``bootstrap`` row resamples) percentile intervals at ``level``.

    ``data``: a table file, DataFrame or :class:`MetricData` with the ``metric`` column (a fraction
    in [0, 1]) and the ``x`` column (see :func:`~scalinglab.analysis._metric_data.read_metric_table`
    for ``columns`` and ``x_scale``). ``chance`` fixes the floor (else fitted); ``ceiling=None``
    fits the ceiling. Raises FitError with fewer rows than free parameters + 1."""
    check_bootstrap(bootstrap, level, seed)
    layout = fit_layout(chance, ceiling)
    md = data if isinstance(data, MetricData) else read_metric_table(data, metric, x, columns=columns,
                                                                      x_scale=x_scale)
    t, y = predictor(md.x_name, md.x), md.y
    _check_points(md, t, layout.n_params)
    g = np.zeros(t.size, dtype=int)
    lo, hi = layout.bounds(t)
    best, ranked = multistart(layout, t, g, y, None, layout.starts(t, y), lo, hi)
    full = _full_params(layout, best.theta)
    fit = SigmoidFit(metric=md.metric, x=md.x_name, midpoint=float(full[0, 0]), slope=float(full[0, 1]),
                     floor=float(full[0, 2]), ceiling=float(full[0, 3]), n_points=int(t.size),
                     rss=float(best.rss[0]), converged=bool(best.converged[0]),
                     fitted=tuple(layout.names()), level=float(level),
                     bootstrap=int(bootstrap), seed=int(seed), source=md.source, t=t, y=y, notes=list(md.notes))
    _fit_notes(fit, layout, best.theta[0], lo, hi)
    if bootstrap:
        W = case_weights(t.size, bootstrap, np.random.default_rng(seed))
        boot, _ = multistart(layout, t, g, y, W, distinct_optima(ranked, 4, tol=1e-2, scale=hi - lo), lo, hi)
        fit.draws = _keep_converged(_full_params(layout, boot.theta), boot.converged, fit.notes)
        for j, name in enumerate(("midpoint", "slope", "floor", "ceiling")):
            if name in fit.fitted:
                fit.ci[name] = [float(v) for v in percentile_interval(fit.draws[:, j], level)]
    return fit


@dataclass(repr=False)
class TwoStepFit(Displayed):
    """Two-step prediction (Llama 3 report, Dubey et al. 2024, sec. 3.2.1; Gadre et al. 2024 map loss to
    downstream error in the same spirit, with Err = epsilon - k exp(-gamma L)):
    step 1 a scaling law x -> loss (nats/token), step 2 a sigmoid loss -> metric.

    ``law`` is a :class:`~scalinglab.fitting.FitResult` (with bootstrap draws when fitted here) or a
    published law; ``sigmoid`` the step-2 fit (x = loss, slope < 0). Llama 3 used the normalised
    NLL of the correct answer on the benchmark as the intermediate; here it is the table's loss."""

    _display = (("law", ""), ("metric", ""), ("midpoint", "", lambda f: f.sigmoid.midpoint),
                ("slope", "", lambda f: f.sigmoid.slope), ("n_points", "points", lambda f: f.sigmoid.n_points))

    law: AnyLaw
    sigmoid: SigmoidFit
    metric: str
    notes: list[str] = field(default_factory=list)

    def loss(self, **X: Any) -> tuple[Array, Array | None]:
        """Step 1: point loss and (B, n) bootstrap-draw losses (None without draws) at ``X``."""
        inputs, _ = law_inputs(self.law, **X)
        point = np.atleast_1d(np.asarray(self.law.family.predict_natural(self.law.params, **inputs), float))
        draws = getattr(self.law, "draws", None)
        if draws is None or len(draws) == 0:
            return point, None
        flat, _ = self.law.family.flat_inputs(inputs)
        with np.errstate(over="ignore", invalid="ignore"):
            return point.ravel(), np.exp(self.law.family.log_predict(draws, flat))

    def predict(self, **X: Any) -> MetricPrediction:
        """Metric at ``X`` (e.g. ``flops=3.8e25``): sigmoid(law(X)); the interval combines the two
        steps' bootstrap draws pairwise (independent resamples), i.e. both steps' uncertainty."""
        point_loss, loss_draws = self.loss(**X)
        value = sigmoid_curve(point_loss, *self.sigmoid.params)
        sd = self.sigmoid.draws
        if sd is None and loss_draws is None:
            return MetricPrediction(value=value, loss=point_loss)
        if loss_draws is None:
            loss_draws = np.broadcast_to(point_loss, (len(sd), point_loss.size))
        if sd is None:
            sd = np.broadcast_to(self.sigmoid.params, (len(loss_draws), 4))
        B = min(len(sd), len(loss_draws))
        sims = sigmoid_curve(loss_draws[:B], sd[:B, 0:1], sd[:B, 1:2], sd[:B, 2:3], sd[:B, 3:4])
        lo, hi = percentile_interval(sims, self.sigmoid.level)
        return MetricPrediction(value, lo, hi, self.sigmoid.level, loss=point_loss)

    def to_dict(self) -> dict[str, Any]:
        law = {"name": getattr(self.law, "law", getattr(self.law, "key", "")),
               "params": dict(self.law.params), "ci": dict(getattr(self.law, "ci", {}) or {})}
        return {"metric": self.metric, "law": law, "sigmoid": self.sigmoid.to_dict(), "notes": self.notes}


def two_step(data: str | os.PathLike | pd.DataFrame, metric: str = "accuracy", law: LawLike = "power_floor:flops",
             x: str = "flops", chance: float | None = None, bootstrap: int = 200, seed: int = 0, *,
             ceiling: float | None = 1.0, level: float = 0.95, columns: Mapping[str, str] | None = None,
             x_scale: float = 1.0) -> TwoStepFit:
    """Fit the two steps on one table with columns ``x`` (FLOPs), ``loss`` (nats/token) and ``metric``.

    ``law``: a law family fitted here on (x, loss) with ``sl.fit`` (default ``power_floor:flops``,
    L = E + A C^-alpha, Henighan et al. 2020), or a given law (FitResult, fit JSON, published name)
    used as is. Step 2 fits the sigmoid of the metric against the loss, floor = ``chance``.
    Both steps use ``bootstrap`` resamples with ``seed`` (step 2 with ``seed + 1``)."""
    check_bootstrap(bootstrap, level, seed)
    md = read_metric_table(data, metric, x, columns=columns, x_scale=x_scale, extra=("loss",))
    loss = md.extra["loss"]
    bad = np.flatnonzero(~(loss > 0))
    if bad.size:
        raise ScalingLabError(f"{md.source}: row {md.rows[bad[0]]}, column 'loss': must be > 0 (nats/token), "
                              f"got {loss[bad[0]]:g}")
    notes = list(md.notes)
    fitted_law = _step_one(law, md, loss, bootstrap, seed, level, notes)
    step2 = MetricData(x=loss, y=md.y, rows=md.rows, source=md.source, metric=md.metric, x_name="loss")
    sig = fit_sigmoid(step2, chance=chance, ceiling=ceiling, bootstrap=bootstrap, seed=seed + 1, level=level)
    if sig.slope > 0:
        notes.append("the metric rises with the loss (slope > 0): check that the metric is higher-is-better")
    return TwoStepFit(law=fitted_law, sigmoid=sig, metric=md.metric, notes=notes + sig.notes)


def _step_one(law: LawLike, md: MetricData, loss: Array, bootstrap: int, seed: int, level: float,
              notes: list[str]) -> AnyLaw:
    """A fitted law of x -> loss: fit a family by name, else resolve a given law."""
    family = None
    if isinstance(law, str) and not law.lower().endswith(".json"):
        try:
            family = get_family(law)
        except ScalingLabError:
            family = None
    if family is None:
        resolved = resolve_law(law)
        if getattr(resolved, "draws", None) is None:
            notes.append("the step-1 law has no bootstrap draws: its uncertainty is not in the intervals")
        return resolved
    if set(family.variables) != {md.x_name}:
        raise ScalingLabError(f"law {family.label} reads {', '.join(family.variables)}, but two_step fits it on "
                              f"{md.x_name} only: use a one-variable law such as power_floor:{md.x_name}, "
                              "or give a fitted law (fit JSON)")
    runs = pd.DataFrame({md.x_name: md.x, "loss": loss})
    return fit(runs, law=family, loss="huber", bootstrap=bootstrap, seed=seed, level=level)


def _check_points(md: MetricData, t: Array, n_params: int) -> None:
    if t.size < n_params + 1:
        raise FitError(f"{md.source}: {t.size} usable rows of '{md.metric}' vs {md.x_name}, but the sigmoid has "
                       f"{n_params} free parameters; need at least {n_params + 1} rows")
    if np.unique(t).size < 3:
        raise FitError(f"{md.source}: only {np.unique(t).size} distinct value(s) of {md.x_name}; a sigmoid "
                       "needs at least 3")


def _full_params(layout: SigmoidLayout, theta: Array) -> Array:
    """(K, 4) midpoint, slope, floor, ceiling (group 0) from the layout's parameters."""
    m, s, f, c = layout.split(np.atleast_2d(theta))
    return np.column_stack([m[:, 0], s[:, 0], f[:, 0], c[:, 0]])


def _keep_converged(draws: Array, ok: Array, notes: list[str]) -> Array:
    if ok.all():
        return draws
    if not ok.any():
        notes.append("no bootstrap resample converged: the intervals use them all and are not trustworthy")
        return draws
    notes.append(f"{int((~ok).sum())} of {ok.size} bootstrap resamples did not converge and were left out")
    return draws[ok]


def _fit_notes(fit: SigmoidFit, layout: SigmoidLayout, theta: Array, lo: Array, hi: Array) -> None:
    """Notes on non-convergence and parameters on a bound of the search box."""
    if not fit.converged:
        fit.notes.append("the best start did NOT converge: the parameters may not be a minimum")
    G = layout.n_groups
    S = G + layout.n_slopes
    if np.any(np.isclose(np.abs(theta[G:S]), hi[G:S], rtol=1e-6)):
        fit.notes.append("the slope is at its bound: the rise is sharper than the data resolve (a step "
                         "between two neighbouring observed scales)")
    if np.any(np.isclose(theta[:G], lo[:G]) | np.isclose(theta[:G], hi[:G])):
        fit.notes.append("the midpoint is at the edge of the search box (3 data ranges away): the "
                         "transition is far outside the data and is not identified")


def _plain(v: Any) -> Any:
    a = np.asarray(v, dtype=float)
    return float(a) if a.ndim == 0 else a.tolist()
