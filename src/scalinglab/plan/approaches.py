"""Compute-optimal exponents from runs: the three approaches of Hoffmann et al. 2022 (arXiv:2203.15556, sec. 3).

Each approach estimates, from a table of runs, the exponents of N_opt = k_N C^a (parameters) and
D_opt = k_D C^b (tokens), C the training compute in FLOPs (a count). C = 6ND throughout (Kaplan et al.
2020, sec. 2.1; ``load_runs`` derives a missing column), so D_opt = C / (6 N_opt) at every FLOP level
and the least-squares fits (in log-log) give b = 1 - a and k_D = 1 / (6 k_N) exactly.

* Approach 1 (sec. 3.1), the envelope: at each FLOP level the run -- or, for training curves, the
  checkpoint -- with the lowest loss; then power laws of N and D against C. See
  :mod:`scalinglab.plan.envelope`.
* Approach 2 (sec. 3.2), IsoFLOP profiles: see :mod:`scalinglab.plan.approach2` (profile methods
  Akima, cubic, parabola, local; Porian et al. 2024's procedure by default on exact budgets,
  references.md D5).

Approaches 1 and 2 leave out, by default (``require_bracket=True``), FLOP levels whose optimum is not
bracketed by the sampled sizes (approach 1: the winner is the smallest or largest size; approach 2:
the lowest observed loss is at an end of the sizes, or the profile's minimum lies outside them) and
warn.
A fit giving a < 0 or a > 1 (so b = 1 - a outside [0, 1]: N_opt or D_opt falling as compute grows) is
not a compute-optimal allocation and raises ScalingLabError.
* Approach 3 (sec. 3.3), the parametric fit L = E + A/N^alpha + B/D^beta (``sl.fit``), whose closed-form
  optimum is N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b, G = (alpha A / (beta B))^(1/(alpha+beta)),
  a = beta/(alpha+beta), b = alpha/(alpha+beta) (Hoffmann et al. 2022, eq. 4; references.md D3).

Bootstrap: approach 1 resamples rows, or whole training curves, with replacement from a seeded
generator; approach 2 adds seeded Gaussian loss noise to every run (Porian et al.'s noise bootstrap,
:mod:`scalinglab.plan.profile_noise`; resampling rows would duplicate sizes, which an interpolated
profile cannot take) and refits ln N_opt on ln C with weights 1/std^2 draw by draw. ``a_ci``, ``b_ci``
are percentile intervals at ``level``. Approach 3 takes its intervals from the fit's bootstrap.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.counting import FLOPS_PER_PARAM_TOKEN, tokens_from
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, choice, count_array, finite_number
from scalinglab.errors import plain_repr as _show
from scalinglab.fitting import fit as fit_law
from scalinglab.fitting.api import check_bootstrap_options
from scalinglab.fitting.result import FitResult, percentile_interval
from scalinglab.io import Runs, load_runs
from scalinglab.plan.allocation import optimal_frontier
from scalinglab.plan.approach2 import isoflop_optima
from scalinglab.plan.envelope import envelope_optima
from scalinglab.plan.isoflop import LevelOptima, Resampler, group_budgets
from scalinglab.plan.profile import PROFILE_METHODS
from scalinglab.plan.profile_noise import weighted_line
from scalinglab.resolve import allocation_params, unidentified_guard

Array = np.ndarray

APPROACH_NAMES = {1: "envelope of the lowest losses", 2: "IsoFLOP profiles", 3: "parametric fit (chinchilla)"}
_OPTIONS = {1: {"n_bins", "curves", "require_bracket"}, 2: {"n_bins", "degree", "rtol", "require_bracket", "method", "loss_noise"},
            3: {"loss", "delta", "refine"}}


@dataclass(repr=False)
class ApproachResult(Displayed):
    """Exponents a (N_opt ∝ C^a) and b (D_opt ∝ C^b) estimated by one approach, with their coefficients
    (``k_N`` in parameters and ``k_D`` in tokens for C in FLOPs), the frontier at the data's FLOP levels
    (list of {flops, params, tokens}), the per-level optima used (``points``), warnings and notes."""

    _display = (("approach", ""), ("a", "exponent of N*(C)"), ("b", "exponent of D*(C)"), ("a_ci", ""),
                ("b_ci", ""), ("n_runs", "runs"), ("bootstrap", "resamples"), ("method", ""))

    approach: int
    a: float
    b: float
    coefficients: dict[str, float]
    frontier: list[dict[str, Any]]
    points: list[dict[str, Any]]
    a_ci: list[float] | None = None
    b_ci: list[float] | None = None
    level: float = 0.95
    bootstrap: int = 0
    bootstrap_valid: int = 0
    seed: int = 0
    method: str = ""
    source: str = ""
    n_runs: int = 0
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fit: FitResult | None = field(default=None, repr=False)  # approach 3's fitted law
    draws: Array | None = field(default=None, repr=False)  # (B, 2) bootstrap (a, ln k_N), approaches 1-2
    profile_method: str | None = None  # approach 2: akima, cubic, parabola or local
    loss_noise: float | None = None  # approach 2: sigma of the noise bootstrap (nats/token), None if unknown
    loss_noise_source: str = ""

    def optimal(self, flops: float | Sequence[float]) -> tuple[Array, Array]:
        """N_opt (parameters) and D_opt (tokens) at ``flops`` (FLOPs) from the fitted power laws."""
        c = _positive_flops(flops)
        return self.coefficients["k_N"] * c**self.a, self.coefficients["k_D"] * c**self.b

    def frontier_at(self, flops: Sequence[float]) -> list[dict[str, Any]]:
        """{flops, params, tokens, tokens_per_param} at each budget (FLOPs), with ``params_ci`` and
        ``tokens_ci`` when bootstrapped; approach 3 also gives the predicted ``loss`` (nats/token)."""
        c = _positive_flops(flops)
        if self.fit is not None:
            # the fit was already checked (approach 3 refuses or warns on unidentified parameters)
            return [_frontier_entry(al.to_dict())
                    for al in optimal_frontier(self.fit, list(c), allow_unidentified=True)]
        n, d = self.optimal(c)
        rows = [{"flops": float(ci), "params": float(ni), "tokens": float(di), "tokens_per_param": float(di / ni)}
                for ci, ni, di in zip(c, n, d)]
        if self.draws is not None and len(self.draws):
            sims = np.exp(self.draws[:, 1:2] + self.draws[:, 0:1] * np.log(c)[None, :])  # (B, k) parameters
            lo, hi = percentile_interval(sims, self.level)
            for j, row in enumerate(rows):
                row["params_ci"] = [float(lo[j]), float(hi[j])]
                row["tokens_ci"] = [float(tokens_from(hi[j], c[j])), float(tokens_from(lo[j], c[j]))]
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON report; ``approach``, ``a``, ``b``, ``frontier`` always, ``a_ci``/``b_ci`` with a bootstrap;
        approach 2 adds ``profile_method``, ``loss_noise`` (nats/token, None when unknown) and
        ``loss_noise_source``."""
        d: dict[str, Any] = {"approach": self.approach, "a": self.a, "b": self.b}
        if self.a_ci is not None:
            d.update(a_ci=self.a_ci, b_ci=self.b_ci, level=self.level, bootstrap=self.bootstrap,
                     bootstrap_valid=self.bootstrap_valid, seed=self.seed)
        d.update(coefficients=self.coefficients, frontier=self.frontier, points=self.points,
                 method=self.method, source=self.source, n_runs=self.n_runs,
                 warnings=list(self.warnings), notes=list(self.notes))
        if self.approach == 2:
            d.update(profile_method=self.profile_method, loss_noise=self.loss_noise,
                     loss_noise_source=self.loss_noise_source)
        return d

    def header_lines(self) -> list[str]:
        """The summary without the frontier table (the CLI prints that as a rich table)."""
        def ci(v: list[float] | None) -> str:
            return f"  [{v[0]:.4f}, {v[1]:.4f}] ({100 * self.level:g}%, {self.bootstrap_valid} resamples)" if v else ""

        k = self.coefficients
        return [f"Hoffmann et al. 2022 approach {self.approach}: {APPROACH_NAMES[self.approach]}",
                f"  source   {self.source or '-'} ({self.n_runs} rows)",
                f"  method   {self.method}",
                *([f"  profile  {self.profile_method}" + (f"; loss noise sigma {self.loss_noise:.3g} nats/token "
                                                          f"({self.loss_noise_source})" if self.bootstrap and
                                                          self.loss_noise else "")]
                  if self.profile_method else []),
                f"  a        {self.a:.4f}{ci(self.a_ci)}   (N_opt ∝ C^a)",
                f"  b        {self.b:.4f}{ci(self.b_ci)}   (D_opt ∝ C^b)",
                f"  N_opt = {k['k_N']:.4g} * C^{self.a:.4f} parameters (C in FLOPs)",
                f"  D_opt = {k['k_D']:.4g} * C^{self.b:.4f} tokens"]

    def summary(self) -> str:
        """Readable report: exponents, intervals, coefficients, frontier, warnings, notes."""
        head = f"  {'C (FLOPs)':>12}{'N_opt (params)':>18}{'D_opt (tokens)':>18}{'D/N (tok/param)':>18}"
        lines = [*self.header_lines(), "", head]
        lines += [f"  {f['flops']:>12.3g}{f['params']:>18.4g}{f['tokens']:>18.4g}{f['tokens'] / f['params']:>18.3g}"
                  for f in self.frontier]
        lines += (["", "  warnings"] + [f"  - {w}" for w in self.warnings]) if self.warnings else []
        lines += (["", "  notes"] + [f"  - {n}" for n in self.notes]) if self.notes else []
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def plot(self, kind: str = "frontier", *, ax: Any = None, **options: Any) -> Any:
        """The frontier figure of ``scalinglab plot``: N_opt (parameters) and D_opt (tokens) against C
        (FLOPs) with the per-level optima, on ``ax`` (two Axes; default: a new figure's); options
        ``budgets`` (FLOPs) and ``references``. Returns the two Axes (:mod:`scalinglab.report.plotting_api`)."""
        from scalinglab.report.plotting_api import draw  # lazy: matplotlib is an optional, heavy dependency

        return draw(self, kind, ax=ax, **options)


# ---- entry points --------------------------------------------------------------------------------
def fit_approach(runs: Runs | pd.DataFrame | str | os.PathLike, approach: int, bootstrap: int = 0,
                 seed: int = 0, level: float = 0.95, *,
                 columns: Mapping[str, str] | None = None, drop_highest_loss: int = 0,
                 allow_unidentified: bool = False, **options: Any) -> ApproachResult:
    """Estimate a, b and the compute-optimal frontier from ``runs`` (anything ``load_runs`` accepts).

    Approach 1 reads a lab run store's every evaluation (the training curves, Hoffmann et al. sec. 3.1).
    Options, approach 1: ``n_bins`` (FLOP levels; default: for one row per run, the budgets found as in
    approach 2 -- a ``budget`` column, equal FLOPs, else quarter-decade bins of log10 C -- and the lowest
    loss of each; for training curves, 30 log-spaced FLOP counts at which every curve is interpolated),
    ``curves`` (None: curves when a ``run`` or ``step`` column exists), ``require_bracket`` (True: drop
    levels whose winner is the smallest or largest model present, whose optimum is not bracketed).
    Approach 2 (:func:`scalinglab.plan.approach2.isoflop_optima`): ``method`` (``akima``, ``cubic``,
    ``parabola``, ``local``; None: Akima on exact budgets with 5 or more sizes per profile, else the
    cubic; ``degree`` 2/3 is the older spelling of parabola/cubic), ``loss_noise`` (the loss noise
    sigma between seeds, nats/token, for the noise bootstrap of Porian et al. 2024, references.md D5;
    default from repeated seeds in the table), ``n_bins``, ``rtol`` (see
    :func:`scalinglab.plan.isoflop.group_budgets`), ``require_bracket`` (True: leave out profiles whose
    lowest observed loss is at an end of their sizes, or whose minimum lies outside them); its
    ``bootstrap`` is the number of noise draws. Approach 3: ``loss``, ``delta``, ``refine`` of ``sl.fit``.
    A ``group`` column with several values is pooled, with a warning. ScalingLabError when the fit
    gives a outside [0, 1]. Approach 3 refuses a fit whose data leave A, B, alpha or beta undetermined
    (:func:`scalinglab.resolve.unidentified_guard`) unless ``allow_unidentified``.
    """
    if approach not in (1, 2, 3) or isinstance(approach, bool):
        raise ScalingLabError(f"approach must be 1, 2 or 3, got {_show(approach)}")
    unknown = sorted(set(options) - _OPTIONS[approach])
    if unknown:
        raise ScalingLabError(f"approach {approach} has no option {', '.join(unknown)}; its options are "
                              f"{', '.join(sorted(_OPTIONS[approach]))}")
    check_bootstrap_options(bootstrap, seed, level)
    data = load_runs(runs, columns, drop_highest_loss=drop_highest_loss, curves=approach == 1)
    if approach == 3:
        out = _approach3(data, bootstrap, seed, level, options, allow_unidentified)
    else:
        data.require(["params", "flops", "loss"], why=f"approach {approach}")
        est = (envelope_optima(data, **options) if approach == 1 else
               isoflop_optima(data, **options, bootstrap=bootstrap, seed=seed))
        out = _power_result(approach, data, est, bootstrap, seed, level)
    out.warnings[:0] = _pooled_groups_warning(data, approach)
    return out


def _pooled_groups_warning(runs: Runs, approach: int) -> list[str]:
    """A ``group`` column with several values: the approaches fit one frontier to all of them."""
    if not runs.has("group"):
        return []
    n = int(runs.data["group"].nunique())
    if n < 2:
        return []
    return [(f"runs from {n} groups are pooled (column 'group'): approach {approach} fits one frontier to "
             "all of them; fit each group separately (filter the table by group)")]


def compare_approaches(runs: Runs | pd.DataFrame | str | os.PathLike, bootstrap: int = 0, seed: int = 0,
                       flops: float | None = None,
                       level: float = 0.95, *, columns: Mapping[str, str] | None = None,
                       drop_highest_loss: int = 0, require_bracket: bool = True, profile: str | None = None,
                       loss_noise: float | None = None) -> pd.DataFrame:
    """Approaches 1, 2 and 3 side by side on the same runs: one row each with a, b, their intervals
    ``a_ci``, ``b_ci`` ([low, high] as in :meth:`ApproachResult.to_dict`; None without a bootstrap),
    N_opt (parameters), D_opt (tokens) at ``flops`` (default: the largest FLOP count in the data), and
    the approach's ``warnings`` (and approach 2's ``profile_method``). The options are checked first (ScalingLabError); an approach that
    then cannot run on these data gets its ``error``. ``require_bracket`` applies to approaches 1, 2;
    ``profile`` (the profile method) and ``loss_noise`` to approach 2 (see :func:`fit_approach`)."""
    check_bootstrap_options(bootstrap, seed, level)
    if not isinstance(require_bracket, (bool, np.bool_)):
        raise ScalingLabError(f"require_bracket must be True or False, got {_show(require_bracket)}")
    if profile is not None:
        profile = choice("profile method", profile, PROFILE_METHODS)
    if loss_noise is not None:
        finite_number("loss_noise (nats/token)", loss_noise, low=0.0, low_open=True)
    data = load_runs(runs, columns, drop_highest_loss=drop_highest_loss)
    data.require(["flops"], why="compare_approaches")
    budget = float(data.column("flops").max()) if flops is None else float(_positive_flops(flops)[0])
    rows = []
    for k in (1, 2, 3):
        row: dict[str, Any] = {"approach": k, "name": APPROACH_NAMES[k]}
        options: dict[str, Any] = {"require_bracket": bool(require_bracket)} if k in (1, 2) else {}
        if k == 2:
            options.update(method=profile, loss_noise=loss_noise)
        try:
            res = fit_approach(data, k, bootstrap=bootstrap, seed=seed, level=level, **options)
        except ScalingLabError as exc:
            rows.append({**row, "a_ci": None, "b_ci": None, "warnings": [], "error": str(exc)})
            continue
        n, d = (float(v[0]) for v in res.optimal(budget))
        rows.append({**row, "a": res.a, "a_ci": res.a_ci, "b": res.b, "b_ci": res.b_ci, "flops": budget,
                     "params": n, "tokens": d, "tokens_per_param": d / n,
                     "n_levels": len(res.points) or len(res.frontier), "n_warnings": len(res.warnings),
                     "warnings": list(res.warnings), "error": "", "profile_method": res.profile_method})
    cols = ["approach", "name", "a", "a_ci", "b", "b_ci", "flops", "params", "tokens", "tokens_per_param",
            "n_levels", "n_warnings", "warnings", "error", "profile_method"]
    return pd.DataFrame(rows).reindex(columns=cols)


# ---- approach 3: the parametric fit ----------------------------------------------------------------
def _approach3(runs: Runs, bootstrap: int, seed: int, level: float, options: dict[str, Any],
               allow_unidentified: bool = False) -> ApproachResult:
    res = fit_law(runs, "chinchilla", bootstrap=bootstrap, seed=seed, level=level, **options)
    guard = unidentified_guard(res, "approach 3's compute-optimal frontier", allocation_params(res),
                               allow=allow_unidentified)
    p = res.params
    a, b = float(res.derived["a"]), float(res.derived["b"])
    g = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1.0 / (p["alpha"] + p["beta"]))
    coefficients = {"k_N": g * FLOPS_PER_PARAM_TOKEN**-a, "k_D": FLOPS_PER_PARAM_TOKEN**-b / g, "G": g}
    warnings = guard + [n for n in res.notes if "bound" in n or "fit status" in n]
    levels = group_budgets(runs.column("flops"), runs.data["budget"] if runs.has("budget") else None)
    if len(levels) < 2:
        warnings.append("the runs span a single FLOP level: a and b rest on the law's form, not on the data")
    out = ApproachResult(approach=3, a=a, b=b, coefficients=coefficients, frontier=[], points=[],
                         level=level, bootstrap=bootstrap, seed=seed, source=runs.source, n_runs=len(runs),
                         method=f"chinchilla fit, closed-form optimum N_opt = G (C/6)^a (rmse log "
                                f"{res.rmse_log:.3g}, {res.n_points} points)",
                         warnings=warnings, notes=list(res.notes), fit=res)
    if bootstrap:
        out.a_ci, out.b_ci = list(res.ci["a"]), list(res.ci["b"])
        out.bootstrap_valid = res.bootstrap_converged
    out.frontier = out.frontier_at(levels.flops)
    return out


# ---- shared ---------------------------------------------------------------------------------------
def _power_result(approach: int, runs: Runs, est: LevelOptima, bootstrap: int, seed: int,
                  level: float) -> ApproachResult:
    logc = np.log([p["flops"] for p in est.points])
    logn = np.log([p["params"] for p in est.points])
    if len(np.unique(logc)) < 2:
        hint = ("; require_bracket=False (CLI --keep-unbracketed) keeps levels whose optimum is not bracketed"
                if any("left out" in w for w in est.warnings) else "")
        raise ScalingLabError(f"approach {approach} needs at least 2 FLOP levels; found {len(np.unique(logc))} "
                              f"({est.method}){hint}")
    a, ln_k = weighted_line(logc, logn, est.weights)  # ordinary least squares without weights
    _check_exponent(approach, float(a), est)
    k_n = math.exp(ln_k)
    out = ApproachResult(approach=approach, a=float(a), b=float(1.0 - a),
                         coefficients={"k_N": k_n, "k_D": tokens_from(k_n, 1.0)}, frontier=[],
                         points=est.points, level=level, bootstrap=bootstrap, seed=seed, method=est.method,
                         source=runs.source, n_runs=len(runs), warnings=est.warnings,
                         notes=list(runs.notes) + est.notes, profile_method=est.profile_method,
                         loss_noise=est.loss_noise, loss_noise_source=est.loss_noise_source)
    if bootstrap:
        out.draws = est.draws if est.draws is not None else _bootstrap_draws(est.resample, bootstrap, seed)
        out.bootstrap_valid = len(out.draws)
        if out.bootstrap_valid < bootstrap / 2:
            out.warnings.append(f"only {out.bootstrap_valid} of {bootstrap} resamples kept 2 FLOP levels: "
                                "the intervals are not trustworthy")
        if out.bootstrap_valid:
            lo, hi = percentile_interval(out.draws[:, 0], level)
            out.a_ci, out.b_ci = [float(lo), float(hi)], [float(1.0 - hi), float(1.0 - lo)]
            out.warnings += _methods_disagree(est.method_exponents, float(hi - lo) / 2)
    out.frontier = out.frontier_at(est.level_flops)
    return out


def _methods_disagree(exponents: dict[str, float], half_width: float) -> list[str]:
    """Approach 2: a warning when the Akima and cubic exponents differ by more than the interval's half-width."""
    if {"akima", "cubic"} <= set(exponents) and abs(exponents["akima"] - exponents["cubic"]) > half_width:
        return [(f"the profile methods disagree: a = {exponents['akima']:.4f} by Akima and {exponents['cubic']:.4f} "
                 f"by the cubic (unperturbed minima), more than the interval's half-width {half_width:.4f}; the "
                 "exponent depends on how the profiles are read")]
    return []


def _check_exponent(approach: int, a: float, est: LevelOptima) -> None:
    """a outside [0, 1] (b = 1 - a < 0, or N_opt shrinking with C) is not a compute-optimal allocation."""
    if 0.0 <= a <= 1.0:
        return
    kept = sum(bool(p.get("extrapolated")) for p in est.points)
    why = (f"{kept} of the {len(est.points)} profile minima used lie outside their sampled sizes "
           "(require_bracket=False / --keep-unbracketed kept them)" if kept else
           f"the {len(est.points)} per-level optima do not follow a compute-optimal frontier; check the sweep "
           "(levels, sizes around each optimum) and the warnings")
    raise ScalingLabError(f"approach {approach} gives a = {a:.3f}, b = {1.0 - a:.3f}: exponents outside [0, 1] "
                          f"are not a compute-optimal allocation (N_opt or D_opt would fall as compute grows); "
                          f"{why}")


def _bootstrap_draws(resample: Resampler, n: int, seed: int) -> Array:
    """(valid, 2) array of (a, ln k_N) refitted on ``n`` seeded resamples (those with >= 2 levels)."""
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n):
        logc, logn = resample(rng)
        if len(np.unique(logc)) >= 2:
            draws.append(np.polyfit(logc, logn, 1))
    return np.array(draws).reshape(-1, 2)


def _positive_flops(flops: float | Sequence[float]) -> Array:
    return np.atleast_1d(count_array("flops", flops))


def _frontier_entry(d: dict[str, Any]) -> dict[str, Any]:
    keep = ("flops", "params", "tokens", "tokens_per_param", "loss", "params_ci", "tokens_ci", "loss_ci")
    return {k: d[k] for k in keep if d.get(k) is not None}
