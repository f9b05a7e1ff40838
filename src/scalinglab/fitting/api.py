"""``sl.fit``: fit a scaling law to a table of runs, with multi-start and bootstrap."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.errors import (
    FitError,
    ScalingLabError,
    bootstrap_count,
    level_number,
    seed_number,
    whole_number,
)
from scalinglab.fitting.bootstrap import bootstrap_fit
from scalinglab.fitting.constraints import ConstrainedLaw, Constraints, Tied, fixed_from_base
from scalinglab.fitting.identify import unidentified_parameters
from scalinglab.fitting.multistart import MultiStartResult, bound_hits, multistart
from scalinglab.fitting.objective import Objective
from scalinglab.fitting.result import FitResult, percentile_interval
from scalinglab.fitting.runtime import single_threaded_blas
from scalinglab.fitting.status import FitStatus, fit_status
from scalinglab.io import Runs, load_runs
from scalinglab.laws import get_family
from scalinglab.laws.base import LawFamily

Array = np.ndarray
MIN_BOOTSTRAP = 10


def check_bootstrap_options(bootstrap: int, seed: int, level: float) -> None:
    """A bootstrap size (0, or at least MIN_BOOTSTRAP resamples; an int, 200.0 is refused too), a seed
    (a whole number >= 0) and a confidence level in (0, 1); ScalingLabError otherwise. Shared by every
    bootstrapped estimate (sl.fit, the approaches)."""
    bootstrap = bootstrap_count(bootstrap, exact=True)
    if 0 < bootstrap < MIN_BOOTSTRAP:
        raise ScalingLabError(f"bootstrap={bootstrap} is too few resamples for a percentile interval; "
                              f"use 0 (none) or at least {MIN_BOOTSTRAP} (200-1000 is usual)")
    level_number(level, "confidence level")
    seed_number(seed, exact=True)


def _check_options(bootstrap: int, level: float, seed: int, refine: int | None) -> None:
    check_bootstrap_options(bootstrap, seed, level)
    if refine is not None:
        whole_number("refine (None: every start)", refine, minimum=1, exact=True)


def _progress(total: int, enabled: bool):
    if not enabled or total == 0:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("bootstrap"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    transient=True)


def fit(runs: Runs | pd.DataFrame | str | os.PathLike, law: str | LawFamily | Mapping[str, Any] = "chinchilla",
        loss: str = "huber", delta: float = 1e-3, bootstrap: int = 0, seed: int = 0, level: float = 0.95,
        *, columns: Mapping[str, str] | None = None, drop_highest_loss: int = 0,
        starts: Array | None = None, refine: int | None = 64, progress: bool = False,
        fixed: Mapping[str, float] | None = None, tied: Tied | None = None,
        base: FitResult | str | os.PathLike | None = None) -> FitResult:
    """Fit ``law`` to ``runs`` by minimising a robust loss on log-residuals.

    Objective: sum_i rho(ln f(x_i; theta) - ln y_i), rho = Huber(delta) (Hoffmann et al. 2022, sec. D.2;
    summed, not averaged) or least squares (``loss="ls"``). Multi-start over the family's grid
    (``starts`` overrides it; see :mod:`scalinglab.fitting.multistart` for ``refine``). With
    ``bootstrap=B``, B resamples (rows, or whole groups when a ``group`` column exists) are refitted,
    giving percentile intervals at ``level`` and standard errors for every parameter and derived
    quantity. Same ``seed``, same answer. Loss is in nats/token.

    ``fixed`` (natural name -> value, e.g. ``{"E": 1.69}``) holds parameters at given values and
    ``tied`` (pairs such as ``[("alpha", "beta")]``) makes parameters share one value
    (:mod:`scalinglab.fitting.constraints`): the grid, the optimiser and every bootstrap refit work on
    the remaining free parameters, a fixed parameter gets no interval, tied ones one shared interval,
    and the result holds every natural parameter. ``starts`` are full internal vectors either way.
    ``base`` (a FitResult or a fit JSON path) holds every parameter it shares with ``law`` at its value
    (a staged fit: Muennighoff et al. 2023's second stage, references.md F1); ``fixed`` overrides it.
    """
    _check_options(bootstrap, level, seed, refine)
    runs = load_runs(runs, columns, drop_highest_loss=drop_highest_loss)
    family = get_family(law)
    fixed, base_note = _with_base(family, fixed, base)
    cons = Constraints(family, fixed, tied)
    fam = ConstrainedLaw(family, cons) if cons.active else family  # what the optimiser sees
    starts = _reduced_starts(family, cons, starts)
    runs.require(list(family.variables) + ["loss"], why=f"law {family.label}")
    if len(runs) < fam.n_params:
        raise FitError(f"{runs.source}: {len(runs)} rows, but law {family.label} has {fam.n_params} "
                       f"free parameters ({', '.join(fam.param_names)}); need at least that many rows")
    X = {v: runs.column(v) for v in family.variables}
    for v, values in X.items():
        bad = values < 0 if v in family.zero_allowed else values <= 0
        if np.any(bad):
            row = runs.data.index[int(np.flatnonzero(bad)[0])]
            need = "it must be >= 0" if v in family.zero_allowed else "takes its log, so it must be > 0"
            raise FitError(f"{runs.source}: row {row}, column '{v}': law {family.label} {need}, "
                           f"got {values[bad][0]:g}")
    logy = np.log(runs.column("loss"))
    obj = Objective(loss, delta)
    groups = runs.data["group"].to_numpy() if runs.has("group") else None
    if bootstrap and groups is not None and len(np.unique(groups)) < 2:
        raise ScalingLabError(f"{runs.source}: the bootstrap resamples whole groups, but column 'group' "
                              "has a single value; drop the column or give at least 2 groups")
    with single_threaded_blas():
        ms = multistart(fam, X, logy, obj, starts=starts, refine=refine)
        if not np.isfinite(ms.value):
            raise FitError(f"{runs.source}: no start gave a finite objective for law {family.label}")
        draws = None
        if bootstrap:
            starts_b = np.vstack([ms.candidates, ms.screened_best])
            with _progress(bootstrap, progress) as bar:
                task = bar.add_task("bootstrap", total=bootstrap) if bar is not None else None
                draws = bootstrap_fit(fam, X, logy, obj, starts_b, bootstrap, seed, groups,
                                      on_chunk=(lambda k: bar.advance(task, k)) if bar is not None else None)
        z = ms.theta
        if cons.active:  # the result holds the full internal vectors
            ms = _expanded(family, cons, ms)
            if draws is not None:
                draws.theta = cons.expand(draws.theta)
        resid = family.log_predict(ms.theta[None, :], X)[0] - logy
        result = _build_result(family, runs, ms, draws, resid, obj, bootstrap, seed, level, groups, cons)
        _attach_status(result, fam, z, X, logy, obj, ms.converged, starts, cons)
    result.notes += base_note
    return result


def _with_base(family: LawFamily, fixed: Mapping[str, float] | None,
               base: FitResult | str | os.PathLike | None) -> tuple[Mapping[str, float] | None, list[str]]:
    """``fixed`` with the parameters ``family`` shares with the base fit added (``fixed`` wins), and a
    note naming the base fit."""
    if base is None:
        return fixed, []
    b = base if isinstance(base, FitResult) else FitResult.load(base)
    where = b.source if isinstance(base, FitResult) else str(base)
    shared = fixed_from_base(b.params, family, where)
    note = (f"{', '.join(shared)} held at the values of base fit {where} (law {b.law}, {b.n_points} runs)"
            + (f"; that fit leaves {', '.join(b.unidentified)} unidentified" if b.unidentified else ""))
    return {**shared, **(fixed or {})}, [note]


def _reduced_starts(family: LawFamily, cons: Constraints, starts: Array | None) -> Array | None:
    """User starts (full internal vectors, (K, P)) on the free parameters."""
    if starts is None or not cons.active:
        return starts
    s = np.atleast_2d(np.asarray(starts, dtype=float))
    if s.ndim != 2 or s.shape[1] != family.n_params:
        raise ScalingLabError(f"starts must be internal vectors of law {family.label}'s {family.n_params} "
                              f"parameters ({', '.join(family.theta_names)}), got shape {s.shape}")
    return cons.reduce(s)


def _expanded(family: LawFamily, cons: Constraints, ms: MultiStartResult) -> MultiStartResult:
    """The multi-start result on the full internal vector; a fixed parameter is never 'at a bound'."""
    theta = cons.expand(ms.theta)
    at_bound = [n for n in bound_hits(family, theta) if n not in cons.fixed]
    return MultiStartResult(theta=theta, value=ms.value, converged=ms.converged, n_starts=ms.n_starts,
                            n_refined=ms.n_refined, n_at_best=ms.n_at_best, n_iter=ms.n_iter, at_bound=at_bound,
                            n_subsample=ms.n_subsample)


def _attach_status(result: FitResult, family: LawFamily, z, X, logy, obj, optimizer_stopped: bool, starts,
                   cons: Constraints) -> None:
    """Status by the first-order test (fitting/status.py) and the parameters the data do not
    determine (fitting/identify.py), both on the free parameters ``z`` of ``family`` (a fixed parameter
    is never unidentified; a tied group's verdict is each member's); ``converged`` is True only for
    status ``converged``."""
    status = fit_status(family, z, result.objective, X, logy, obj, optimizer_stopped)
    result.status, result.converged = status.value, status is FitStatus.CONVERGED
    if status is not FitStatus.CONVERGED:
        result.notes.append(f"fit status {status.describe()}; check the data or try another law")
    if status is FitStatus.FAILED:
        return
    grid = family.init_grid(X, np.exp(logy)) if starts is None else np.atleast_2d(np.asarray(starts, float))
    ci = {k: v for k, v in result.ci.items() if k in result.params} if result.bootstrap else None
    why = unidentified_parameters(family, z, X, logy, result.level, ci, grid)
    why = {n: reason for rep_name, reason in why.items() for n in cons.members(rep_name)}
    why = {n: why[n] for n in result.family.param_names if n in why}  # the family's order
    result.unidentified, result.unidentified_why = list(why), why


def _build_result(family, runs, ms, draws, resid, obj, bootstrap, seed, level, groups, cons) -> FitResult:
    params = {k: float(v) for k, v in family.to_natural(ms.theta).items()}
    derived = {k: float(v) for k, v in family.derived(params).items()}
    notes = list(runs.notes)
    for v in family.variables:
        distinct = len(np.unique(runs.column(v)))
        if distinct < 3:
            notes.append(f"only {distinct} distinct value(s) of {v}: the law's dependence on {v} "
                         "cannot be identified from these runs")
    if ms.n_subsample and ms.n_subsample < len(runs):
        notes.append(f"the starts were screened and refined on a stratified subsample of {ms.n_subsample:,} of "
                     f"{len(runs):,} rows (cells of the ln N x ln D plane), then polished on all rows")
    if ms.at_bound:
        notes.append(f"parameter(s) {', '.join(ms.at_bound)} ended on a bound of the search box")
    result = FitResult(
        law=family.label, family=family, theta=ms.theta.copy(), params=params, derived=derived,
        objective=ms.value, rmse_log=float(np.sqrt(np.mean(resid**2))), n_points=len(resid),
        converged=ms.converged, loss=obj.kind, delta=obj.delta, n_starts=ms.n_starts,
        n_refined=ms.n_refined, n_at_best=ms.n_at_best, at_bound=ms.at_bound, residuals=resid,
        level=float(level), seed=int(seed), source=runs.source, notes=notes, data_range=runs.data_range(),
        fixed=dict(cons.fixed), tied=[list(m) for m in cons.tied],
    )
    if draws is not None:
        _attach_bootstrap(result, draws, bootstrap, groups)
    return result


def _attach_bootstrap(result: FitResult, draws, bootstrap: int, groups) -> None:
    ok = draws.converged
    result.bootstrap = bootstrap
    result.bootstrap_unit = draws.unit
    result.bootstrap_converged = int(ok.sum())
    result.draws = draws.theta[ok] if ok.any() else draws.theta
    if not ok.any():
        result.notes.append(f"none of the {bootstrap} bootstrap resamples converged: the intervals use "
                            "them all and are not trustworthy")
    elif ok.sum() < bootstrap:
        result.notes.append(f"{bootstrap - int(ok.sum())} of {bootstrap} bootstrap resamples did not "
                            "converge and were left out of the intervals")
    if groups is not None:
        result.notes.append(f"bootstrap resampled whole groups ({len(np.unique(groups))} groups)")
    flat = []
    for name, values in result.draw_params().items():
        if name in result.fixed:  # held, not fitted: no interval
            continue
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            continue
        lo, hi = percentile_interval(v, result.level)
        result.ci[name] = [float(lo), float(hi)]
        result.stderr[name] = float(np.std(v, ddof=1)) if v.size > 1 else 0.0
        if hi - lo <= 1e-12 * max(1.0, abs(hi)):
            flat.append(name)
    if flat:
        result.notes.append(f"the bootstrap interval of {', '.join(flat)} has zero width: every resample "
                            "gave the same value, so the data do not vary it (not a sign of precision)")
