"""Does depth/width shape matter at a fixed parameter count? A law with and without a shape term.

Kaplan et al. 2020 (sec. 3.1, fig. 5) find that at fixed non-embedding parameters N the loss depends
only weakly on the shape: the aspect ratio d_model/n_layer can vary over a wide range (fig. 5 caption:
(n_layer, d_model) = (6, 4288) is within 3% of (48, 1600), an aspect ratio ~21 times larger) at a loss
cost of a few percent. We measure that with the law L(N) times a log-quadratic shape factor:

    ln L = ln L_law(N) + c1 u + c2 u^2,   u = ln(aspect) - mean ln(aspect) over the runs,

which is c2 (ln aspect - ln aspect_best)^2 plus a constant absorbed into the law's amplitudes, with
aspect_best = exp(mean ln aspect - c1/(2 c2)) when c2 > 0. The relative loss increase k times away from
the best aspect (in either direction) is exp(c2 ln(k)^2) - 1; we report it at k = 2 and 10 with bootstrap
intervals. A nested F test on least-squares fits (q = 2 extra parameters) says whether the shape term is
needed. Loss in nats/token; N as counted by the data (Kaplan: non-embedding, 12 n_layer d_model^2).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, column_name
from scalinglab.fitting import FitResult, fit
from scalinglab.io import Runs, load_runs
from scalinglab.laws import FamilySpec, get_family
from scalinglab.laws.base import Array, LawFamily, grid

EFFECT_FACTORS = (2.0, 10.0)  # report the loss increase this many times away from the best aspect
C_BOUNDS = ((-3.0, 3.0), (-1.0, 1.0))  # c1, c2 (log-loss per unit of u, per unit of u^2)


class ShapedLaw(LawFamily):
    """A law of N times exp(c1 u + c2 u^2), u = ln(aspect) - ``log_center`` (module docstring)."""

    name = "shaped"

    def __init__(self, base: LawFamily, log_center: float) -> None:
        self.base, self.log_center = base, float(log_center)
        self.variables = (*base.variables, "aspect")
        self.theta_names = (*base.theta_names, "c1", "c2")
        self.param_names = (*base.param_names, "c1", "c2")
        self.formula = f"({base.formula}) * exp(c1 u + c2 u^2), u = ln(d_model/n_layer) - {self.log_center:.4g}"
        self.units = f"{base.units}; aspect = d_model/n_layer (dimensionless)"
        self.citation = "shape term after Kaplan et al. 2020, sec. 3.1 and fig. 5 (arXiv:2001.08361)"

    @property
    def label(self) -> str:
        return f"{self.base.label} + shape term"

    def options(self) -> dict[str, Any]:
        return {"base": self.base.spec(), "log_center": self.log_center}

    def log_predict(self, theta: Array, X: Mapping[str, Array], jac: bool = False):
        u = (np.log(X["aspect"]) - self.log_center)[None, :]
        c1, c2 = theta[:, -2:-1], theta[:, -1:]
        out = self.base.log_predict(theta[:, :-2], X, jac=jac)
        f = (out[0] if jac else out) + c1 * u + c2 * u * u
        if not jac:
            return f
        extra = np.broadcast_to(np.stack([u, u * u], axis=1), (theta.shape[0], 2, u.shape[1]))
        return f, np.concatenate([out[1], extra], axis=1)

    def to_natural(self, theta: Array) -> dict[str, Array]:
        theta = np.asarray(theta, dtype=float)
        return {**self.base.to_natural(theta[..., :-2]), "c1": theta[..., -2], "c2": theta[..., -1]}

    def from_natural(self, params: Mapping[str, float]) -> Array:
        return np.concatenate([self.base.from_natural(params), [params["c1"], params["c2"]]])

    def bounds(self) -> tuple[Array, Array]:
        lo, hi = self.base.bounds()
        return (np.concatenate([lo, [b[0] for b in C_BOUNDS]]), np.concatenate([hi, [b[1] for b in C_BOUNDS]]))

    def init_grid(self, X: Mapping[str, Array], loss: Array) -> Array:
        """The base law's grid, each start with (c1, c2) = (0, 0) and (0, 0.02)."""
        base = self.base.init_grid(X, loss)
        shape = grid([0.0], [0.0, 0.02])
        return np.hstack([np.repeat(base, len(shape), axis=0), np.tile(shape, (len(base), 1))])

    def derived(self, natural: Mapping[str, Array]) -> dict[str, Array]:
        """``effect_2x``, ``effect_10x``: relative loss increase exp(c2 ln(k)^2) - 1 at k times from the best
        aspect; ``best_aspect`` = exp(log_center - c1/(2 c2)) (nan unless c2 > 0)."""
        c1, c2 = np.asarray(natural["c1"], dtype=float), np.asarray(natural["c2"], dtype=float)
        out = {f"effect_{k:g}x": np.expm1(c2 * math.log(k) ** 2) for k in EFFECT_FACTORS}
        with np.errstate(all="ignore"):
            out["best_aspect"] = np.where(c2 > 0, np.exp(self.log_center - c1 / (2.0 * c2)), np.nan)
        return out


@dataclass(repr=False)
class ShapeEffect(Displayed):
    """The fitted shape effect: ``with_shape`` / ``without_shape`` fits, the curvature ``c2`` (log-loss per
    (ln aspect)^2), ``best_aspect`` (d_model/n_layer), ``effect`` {"2x": {"value", "low", "high"}, "10x": ...}
    (relative loss increase, a fraction), and ``test`` (F test of the shape term)."""

    _display = (("c2", ""), ("best_aspect", "d_model/n_layer"), ("aspect_range", "d_model/n_layer"), ("level", ""))

    with_shape: FitResult
    without_shape: FitResult
    c2: float
    best_aspect: float
    effect: dict[str, dict[str, float | None]]
    test: dict[str, Any]
    aspect_range: tuple[float, float]
    level: float = 0.95
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: c2 (+ c2_ci), best_aspect (+ ci), effect, test, aspect_range, both fits' params."""
        ci = self.with_shape.ci
        return {"c2": self.c2, "c2_ci": ci.get("c2"), "best_aspect": self.best_aspect,
                "best_aspect_ci": ci.get("best_aspect"), "effect": self.effect, "test": self.test,
                "aspect_range": list(self.aspect_range), "level": self.level,
                "with_shape": {"law": self.with_shape.law, "params": self.with_shape.params},
                "without_shape": {"law": self.without_shape.law, "params": self.without_shape.params},
                "notes": list(self.notes)}

    def summary(self) -> str:
        def eff(k: str) -> str:
            e = self.effect[k]
            ci = f" [{100 * e['low']:.2f}%, {100 * e['high']:.2f}%]" if e["low"] is not None else ""
            return f"{100 * e['value']:.2f}%{ci}"

        t = self.test
        test = (f"{t['method']}: F = {t['statistic']:.4g}, df {t['df']}, p = {t['p_value']:.3g}"
                if t.get("statistic") is not None else f"not tested: {t.get('reason')}")
        head = (f"shape effect ({self.with_shape.law}), aspect d_model/n_layer "
                f"{self.aspect_range[0]:.3g}..{self.aspect_range[1]:.3g}")
        return "\n".join([head,
                          f"  best aspect {self.best_aspect:.4g}; loss increase 2x away {eff('2x')}, 10x away {eff('10x')}",
                          f"  {test}",
                          *[f"  - {n}" for n in self.notes]])


def _aspect(runs, n_layer: str, d_model: str, aspect: str | None) -> Array:
    need = [column_name("aspect", aspect)] if aspect is not None else [column_name("n_layer", n_layer),
                                                                        column_name("d_model", d_model)]
    missing = [c for c in need if not runs.has(c)]
    if missing:
        raise ScalingLabError(f"{runs.source}: no column {', '.join(repr(c) for c in missing)}; shape_effect needs "
                              "depth and width (n_layer=, d_model= name them) or aspect= naming a column of "
                              f"d_model/n_layer; columns are: {', '.join(map(str, runs.data.columns))}")
    values = runs.column(aspect) if aspect is not None else runs.column(d_model) / runs.column(n_layer)
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        row = runs.data.index[int(np.flatnonzero(~(np.isfinite(values) & (values > 0)))[0])]
        raise ScalingLabError(f"{runs.source}: row {row}: the aspect ratio must be a positive number")
    return values


def shape_effect(data: Runs | pd.DataFrame | str | os.PathLike, law: FamilySpec = "power_floor:params", *,
                 n_layer: str = "n_layer", d_model: str = "d_model", aspect: str | None = None, bootstrap: int = 200,
                 seed: int = 0, level: float = 0.95, loss: str = "huber",
                 columns: Mapping[str, str] | None = None) -> ShapeEffect:
    """Fit ``law`` (a law of params, by default L = E + A N^-alpha) with and without the shape term of the
    module docstring to runs with columns ``n_layer`` and ``d_model`` (or an ``aspect`` column holding
    d_model/n_layer) and report the effect size with bootstrap intervals and an F test (least squares,
    q = 2). Needs at least 3 distinct aspect ratios."""
    runs = load_runs(data, columns)
    base = get_family(law)
    if "aspect" in base.variables:
        raise ScalingLabError(f"law {base.label} already reads 'aspect'")
    values = _aspect(runs, n_layer, d_model, aspect)
    if len(np.unique(values)) < 3:
        raise ScalingLabError(f"{runs.source}: {len(np.unique(values))} distinct aspect ratio(s); a quadratic "
                              "shape term needs at least 3")
    df = runs.data.drop(columns=[c for c in ("group",) if runs.has(c)]).assign(aspect=values)
    shaped_runs = Runs(data=df, source=runs.source, notes=list(runs.notes))
    shaped = ShapedLaw(base, float(np.mean(np.log(values))))
    with_shape = fit(shaped_runs, shaped, loss=loss, bootstrap=bootstrap, seed=seed, level=level)
    without = fit(shaped_runs, base, loss=loss)
    test = _f_test(shaped_runs, base, shaped)
    c2 = with_shape.params["c2"]
    effect = {}
    for k in EFFECT_FACTORS:
        name = f"effect_{k:g}x"
        lo, hi = with_shape.ci.get(name, [None, None])
        effect[f"{k:g}x"] = {"value": float(with_shape.derived[name]), "low": lo, "high": hi}
    out = ShapeEffect(with_shape=with_shape, without_shape=without, c2=float(c2),
                      best_aspect=float(with_shape.derived["best_aspect"]), effect=effect, test=test,
                      aspect_range=(float(values.min()), float(values.max())), level=float(level))
    if not c2 > 0:
        out.notes.append("c2 <= 0: the loss does not rise away from any aspect ratio; no best aspect")
    elif not values.min() <= out.best_aspect <= values.max():
        out.notes.append(f"the best aspect {out.best_aspect:.3g} lies outside the runs' aspect ratios: extrapolated")
    return out


def _f_test(runs, base: LawFamily, shaped: ShapedLaw) -> dict[str, Any]:
    """Nested F test of the shape term on least-squares fits (q = 2 extra parameters)."""
    rss0 = float(np.sum(fit(runs, base, loss="ls").residuals ** 2))
    rss1 = float(np.sum(fit(runs, shaped, loss="ls").residuals ** 2))
    rss1 = min(rss1, rss0)  # the larger model nests the smaller; guards optimiser noise
    q, df2 = 2, len(runs) - shaped.n_params
    method = "F test of the shape term c1 u + c2 u^2 (nested least-squares fits on log residuals)"
    if df2 <= 0:
        return {"method": method, "statistic": None, "p_value": None, "df": None,
                "reason": f"{len(runs)} runs leave no residual degrees of freedom"}
    stat = ((rss0 - rss1) / q) / (rss1 / df2) if rss1 > 0 else math.inf
    return {"method": method, "statistic": float(stat), "p_value": float(stats.f.sf(stat, q, df2)), "df": [q, df2],
            "rss_with": rss1, "rss_without": rss0}
