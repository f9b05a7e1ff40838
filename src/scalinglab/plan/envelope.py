"""Approach 1 of Hoffmann et al. 2022 (arXiv:2203.15556, sec. 3.1): the envelope of the lowest losses.

At each FLOP level C (FLOPs, a count) the run -- or, for training curves, the checkpoint -- with the
lowest final loss (nats/token) is taken as the compute-optimal one, N_opt(C) in parameters and
D_opt(C) = C / (6 N_opt) in tokens (C = 6ND, Kaplan et al. 2020 sec. 2.1); the power-law fit of those
optima against C is done in :mod:`scalinglab.plan.approaches`.

* Training curves (a ``run`` column, or ``step`` with one curve per size): each curve's loss is
  interpolated linearly in ln C at log-spaced FLOP levels, and the lowest curve at each level wins,
  as in the paper.
* One row per run (an IsoFLOP sweep): the levels are the budgets of :func:`group_budgets`, and the
  winner can only be one of the sizes the sweep trained, so N_opt moves in steps of the grid and a is
  coarse; the result warns and points to approach 2 or to training curves.

With ``require_bracket`` (default) a level whose winner is the smallest or largest size present
there is left out: its optimum lies beyond the sampled sizes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scalinglab.counting import flops_from, tokens_from
from scalinglab.errors import ScalingLabError, whole_number
from scalinglab.errors import plain_repr as _show
from scalinglab.io import Runs
from scalinglab.plan.isoflop import MAX_BINS, BudgetGroups, LevelOptima, group_budgets

Array = np.ndarray
DEFAULT_CURVE_LEVELS = 30  # FLOP levels at which training curves are compared


def envelope_optima(runs: Runs, n_bins: int | None = None, curves: bool | None = None,
                    require_bracket: bool = True) -> LevelOptima:
    """Approach 1 before the power-law fit: the lowest-loss run or checkpoint at each FLOP level,
    warnings, notes and a resampler (rows, or whole curves) for the bootstrap."""
    if not isinstance(require_bracket, (bool, np.bool_)):
        raise ScalingLabError(f"require_bracket must be True or False, got {_show(require_bracket)}")
    ids = _curve_ids(runs, curves)
    if ids is None:
        groups = group_budgets(runs.column("flops"), runs.data["budget"] if runs.has("budget") else None, n_bins)
        return _envelope_runs(runs, groups, bool(require_bracket))
    return _envelope_curves(runs, ids, n_bins or DEFAULT_CURVE_LEVELS, bool(require_bracket))


def _curve_ids(runs: Runs, curves: bool | None) -> Array | None:
    """Training-curve id of each row: the ``run`` column, else (params, group) when ``step`` is present
    (or ``curves=True``); None when each row is a run of its own (also when the ``run`` column names
    every row once and there is no ``step``, e.g. a run store's final losses, unless ``curves=True``)."""
    if curves is False:
        return None
    if runs.has("run") and not curves and not runs.has("step") and runs.data["run"].is_unique:
        return None
    if runs.has("run"):
        return pd.factorize(runs.data["run"].astype(str))[0]
    if runs.has("step") or curves:
        keys = runs.data["params"].astype(str)
        if runs.has("group"):
            keys = keys + "|" + runs.data["group"].astype(str)
        return pd.factorize(keys)[0]
    return None


def _bracketed(loss: Array, params: Array, present: Array, require_bracket: bool) -> tuple[Array, Array]:
    """Per level (columns of ``loss``, candidates in rows; ``present`` marks usable cells): the
    winning row and whether the level counts (a winner exists and, with ``require_bracket``, some
    present candidate is smaller and some larger than it)."""
    lm = np.where(present, loss, np.inf)
    win = np.argmin(lm, axis=0)
    has = present.any(axis=0)
    pw = params[win]
    ok = has
    if require_bracket:
        p = params[:, None]
        ok = has & (np.where(present, p, np.inf).min(axis=0) < pw) & (np.where(present, p, -np.inf).max(axis=0) > pw)
    return win, ok


def _grid_step(params: Array, groups: BudgetGroups) -> float:
    """Median ratio between neighbouring distinct sizes within a level (the sweep's size step)."""
    ratios = [np.exp(np.diff(np.log(np.unique(params[groups.members(j)])))) for j in range(len(groups))]
    ratios = np.concatenate([r for r in ratios if len(r)] or [np.array([math.nan])])
    return float(np.median(ratios))


def _envelope_runs(runs: Runs, groups: BudgetGroups, require_bracket: bool) -> LevelOptima:
    """One row per run: at each level the run with the lowest loss."""
    params, loss, flops = runs.column("params"), runs.column("loss"), runs.column("flops")
    member = groups.labels[:, None] == np.arange(len(groups))[None, :]  # (runs, levels)

    def winners(present_rows: Array) -> tuple[Array, Array]:
        return _bracketed(np.broadcast_to(loss[:, None], member.shape), params,
                          member & present_rows[:, None], require_bracket)

    win, ok = winners(np.ones(len(runs), dtype=bool))
    points = [{"flops": float(flops[w]), "params": float(params[w]), "tokens": float(tokens_from(params[w], flops[w])),
               "loss": float(loss[w]), "n_runs": int(member[:, j].sum())} for j, w in enumerate(win) if ok[j]]

    def resample(rng: np.random.Generator) -> tuple[Array, Array]:
        present = np.bincount(rng.integers(0, len(runs), len(runs)), minlength=len(runs)) > 0
        w, good = winners(present)
        return np.log(flops[w[good]]), np.log(params[w[good]])

    warnings = _dropped_warning(int((~ok & member.any(axis=0)).sum()), len(groups), require_bracket)
    step = _grid_step(params, groups)
    step_text = f"sizes about {step:.2g}x apart" if math.isfinite(step) else "one size per level"
    warnings.append(f"one row per run: approach 1 can only pick a size the sweep trained at each level "
                    f"({step_text}), so N_opt moves in steps of that grid and a is coarse; approach 2 "
                    "(a profile fitted through each level interpolates between sizes) or training curves "
                    "(a 'run' or 'step' column) give a finer estimate")
    notes = [f"FLOP levels: {groups.method}"]
    if not groups.method.startswith("the 'budget'") and not groups.method.startswith("equal"):
        notes.append("levels are bins of scattered budgets: a bin's lowest loss favours its highest-compute "
                     "runs; equal budgets or training curves give a cleaner envelope")
    return LevelOptima(points, groups.flops, f"lowest-loss run at each of {len(groups)} FLOP levels "
                       f"({len(points)} used)", resample, warnings, notes)


def _envelope_curves(runs: Runs, ids: Array, n_levels: int, require_bracket: bool) -> LevelOptima:
    """Training curves: each curve's loss interpolated (linearly in ln C) at ``n_levels`` log-spaced
    FLOP counts inside its own range; at each level the curve with the lowest loss wins."""
    whole_number("n_bins (training curves)", n_levels, minimum=2, maximum=MAX_BINS, exact=True)
    params, loss = runs.column("params"), runs.column("loss")
    logc, warnings = _curve_log_flops(runs, ids)
    grid = np.linspace(logc.min(), logc.max(), int(n_levels))
    k = int(ids.max()) + 1
    table = np.full((k, len(grid)), np.nan)  # (curves, levels) interpolated loss, nats/token
    curve_params = np.zeros(k)
    short = 0
    for i in range(k):
        rows = np.flatnonzero(ids == i)
        curve_params[i] = params[rows[0]]
        order = rows[np.argsort(logc[rows], kind="stable")]
        if len(order) < 2 or logc[order[-1]] <= logc[order[0]]:
            short += 1
            continue
        inside = (grid >= logc[order[0]]) & (grid <= logc[order[-1]])
        table[i, inside] = np.interp(grid[inside], logc[order], loss[order])
    present = np.isfinite(table)
    win, ok = _bracketed(table, curve_params, present, require_bracket)
    points = [{"flops": float(math.exp(grid[j])), "params": float(curve_params[w]),
               "tokens": float(tokens_from(curve_params[w], math.exp(grid[j]))), "loss": float(table[w, j]),
               "n_curves": int(present[:, j].sum())} for j, w in enumerate(win) if ok[j]]

    def resample(rng: np.random.Generator) -> tuple[Array, Array]:
        pick = np.unique(rng.integers(0, k, k))
        w, good = _bracketed(table[pick], curve_params[pick], present[pick], require_bracket)
        return grid[good], np.log(curve_params[pick][w[good]])

    warnings += _dropped_warning(int((~ok & present.any(axis=0)).sum()), len(grid), require_bracket)
    if short:
        warnings.append(f"{short} training curve(s) with a single FLOP count were ignored")
    notes = [(f"{k} training curves, compared at {len(grid)} log-spaced FLOP levels "
              f"{math.exp(grid[0]):.3g}..{math.exp(grid[-1]):.3g} (loss interpolated linearly in ln C)")]
    return LevelOptima(points, np.exp(grid[ok]) if ok.any() else np.exp(grid),
                       f"envelope of {k} training curves at {len(grid)} FLOP levels ({len(points)} used)",
                       resample, warnings, notes)


def _curve_log_flops(runs: Runs, ids: Array) -> tuple[Array, list[str]]:
    """ln C per checkpoint; C = 6 * params * tokens where the flops column is constant along a curve
    whose tokens vary (a table giving each run's final compute on every checkpoint)."""
    flops = runs.column("flops")
    if not runs.has("tokens"):
        return np.log(flops), []
    tokens, params = runs.column("tokens"), runs.column("params")
    flat = [i for i in range(int(ids.max()) + 1)
            if np.ptp(flops[ids == i]) == 0 and np.ptp(tokens[ids == i]) > 0]
    if not flat:
        return np.log(flops), []
    rows = np.isin(ids, flat)
    flops = np.where(rows, flops_from(params, tokens), flops)
    return np.log(flops), [(f"flops is constant along {len(flat)} training curve(s) whose tokens vary: used "
                            "C = 6 * params * tokens at each checkpoint instead")]


def _dropped_warning(dropped: int, total: int, require_bracket: bool) -> list[str]:
    if not dropped or not require_bracket:
        return []
    return [(f"{dropped} of {total} FLOP levels left out: their lowest loss belongs to the smallest or largest "
             "model present there, so the optimum is not bracketed (require_bracket=False, CLI "
             "--keep-unbracketed, keeps them)")]
