"""Approach 2 (Hoffmann et al. 2022, sec. 3.2): the minimum of each IsoFLOP profile, before the power law.

Units: N parameters (as the data counts them), C FLOPs (a count), loss nats/token; D_opt = C/(6 N_opt)
(C = 6ND, references.md A1).

Runs are grouped into budgets (:func:`scalinglab.plan.isoflop.group_budgets`); repeated runs of one
size at one budget (seeds) are averaged. Each profile's minimum comes from a profile method
(:mod:`scalinglab.plan.profile`): ``akima`` (Porian et al. 2024's procedure, references.md D5),
``cubic``, ``parabola`` or ``local``. The default is Akima when the levels are exact budgets (a
``budget`` column or equal FLOP counts) and every profile has at least 5 sizes, else the cubic: on
Porian et al.'s 15 settings Akima reproduces every published exponent inside its 95% interval; on
log-binned levels (Epoch's Chinchilla points) it follows the scatter of runs of different budgets
(a = 0.62 where Hoffmann et al. report 0.49), and the cubic does not.

A budget counts as bracketed only when its lowest *observed* loss is at neither end of its sizes, and
the method's minimum lies inside the sizes (Akima: not at an end of its grid); with
``require_bracket`` (default) other budgets are left out, each with a warning saying why.

With ``bootstrap`` draws the uncertainty is Porian et al.'s noise bootstrap
(:mod:`scalinglab.plan.profile_noise`): the point estimate becomes their weighted fit of the per-budget
medians of the noisy minima, and draw i refits with weights 1/std^2. Without it, ln N_opt is fitted to
ln C by ordinary least squares on the unperturbed minima.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalinglab.counting import tokens_from
from scalinglab.errors import ScalingLabError, choice, finite_number
from scalinglab.errors import plain_repr as _show
from scalinglab.io import Runs
from scalinglab.plan.isoflop import (
    SAME_BUDGET_RTOL,
    BudgetGroups,
    LevelOptima,
    _spread_notes,
    group_budgets,
    profile_minimum_log,
)
from scalinglab.plan.profile import (
    MIN_SIZES,
    PROFILE_METHODS,
    choose_method,
    minima,
    n_local_minima,
    observed_bracketed,
)
from scalinglab.plan.profile_noise import (
    draw_fits,
    noisy_minima,
    residual_noise,
    seed_noise,
    weighted_line,
)

Array = np.ndarray
_DEGREE_METHOD = {2: "parabola", 3: "cubic"}


@dataclass
class _Profile:
    """One budget: C (FLOPs), distinct ln N sorted, mean loss per size, runs per size."""

    flops: float
    log_n: Array
    loss: Array
    counts: Array


def isoflop_optima(runs: Runs, n_bins: int | None = None, degree: int | None = None,
                   rtol: float = SAME_BUDGET_RTOL, require_bracket: bool = True, method: str | None = None,
                   loss_noise: float | None = None, bootstrap: int = 0, seed: int = 0) -> LevelOptima:
    """Approach 2 before the power-law fit (module docstring): the minimum of each bracketed profile
    by ``method`` (None: automatic; ``degree`` 2/3 is the older spelling of parabola/cubic), warnings,
    notes, and with ``bootstrap`` > 0 the noise bootstrap's draws and weights. ``loss_noise``: sigma of
    the final loss between seeds (nats/token); default from repeated sizes in the table, else
    estimated from the profiles' scatter (noted)."""
    method = _check_options(degree, method, rtol, require_bracket, loss_noise)
    params, loss, flops = runs.column("params"), runs.column("loss"), runs.column("flops")
    groups = group_budgets(flops, runs.data["budget"] if runs.has("budget") else None, n_bins, rtol)
    if len(groups) < 2:
        raise ScalingLabError(f"approach 2 needs at least 2 FLOP levels; found {len(groups)} ({groups.method})")
    profiles = [_profile(params, loss, groups, j) for j in range(len(groups))]
    exact = "bins" not in groups.method
    method, why = choose_method(method, exact, [len(p.log_n) for p in profiles])
    points, kept, warnings = _minima(profiles, method, bool(require_bracket))
    if not exact:
        warnings.append("the FLOP levels are log-scale bins of C, not exact budgets: each profile mixes runs of "
                        "different budgets (give a 'budget' column for exact levels)")
    if len(points) < 2:
        raise ScalingLabError(f"approach 2 needs at least 2 FLOP levels with a usable profile; found {len(points)}"
                              + (f": {warnings[0]}" if warnings else ""))
    notes = [f"FLOP levels: {groups.method}", f"profile method: {method} ({why})", *_spread_notes(flops, groups)]
    est = LevelOptima(points, groups.flops, f"minima of {len(points)} of {len(groups)} IsoFLOP profiles ({method})",
                      None, warnings, notes, profile_method=method)
    sigma, source = _loss_noise(loss_noise, groups, params, flops, loss, profiles)
    est.loss_noise, est.loss_noise_source = sigma, source
    if bootstrap:
        _noise_bootstrap(est, [profiles[j] for j in kept], sigma, source, bootstrap, seed)
    est.method_exponents = _method_exponents(profiles, bool(require_bracket))
    return est


def _check_options(degree: Any, method: Any, rtol: Any, require_bracket: Any, loss_noise: Any) -> str | None:
    if degree is not None and (degree not in (2, 3) or isinstance(degree, bool)):
        raise ScalingLabError(f"degree must be 2 (parabola) or 3 (cubic), got {_show(degree)}")
    if method is not None:
        method = choice("profile method", method, PROFILE_METHODS)
        if degree is not None and _DEGREE_METHOD[degree] != method:
            raise ScalingLabError(f"degree {degree} ({_DEGREE_METHOD[degree]}) contradicts method {method}; give one")
    elif degree is not None:
        method = _DEGREE_METHOD[degree]
    if not (isinstance(rtol, (int, float)) and not isinstance(rtol, bool) and 0 <= rtol < 1):
        raise ScalingLabError(f"rtol must lie in [0, 1), got {_show(rtol)}")
    if not isinstance(require_bracket, (bool, np.bool_)):
        raise ScalingLabError(f"require_bracket must be True or False, got {_show(require_bracket)}")
    if loss_noise is not None:
        finite_number("loss_noise (nats/token)", loss_noise, low=0.0, low_open=True)
    return method


def _profile(params: Array, loss: Array, groups: BudgetGroups, j: int) -> _Profile:
    rows = groups.members(j)
    sizes, inverse, counts = np.unique(params[rows], return_inverse=True, return_counts=True)
    mean = np.bincount(inverse, weights=loss[rows]) / counts
    return _Profile(float(groups.flops[j]), np.log(sizes), mean, counts)


def _minima(profiles: list[_Profile], method: str, require_bracket: bool) -> tuple[list[dict], list[int], list[str]]:
    """The point of each usable profile, their indices, and warnings (each dropped budget and why,
    lopsided sampling, profiles with several local minima)."""
    points, kept, warnings, bumpy = [], [], [], []
    for j, p in enumerate(profiles):
        where = f"budget {p.flops:.3g} FLOPs"
        k = len(p.log_n)
        if k < MIN_SIZES[method]:
            warnings.append(f"{where}: {k} distinct size(s), fewer than the {MIN_SIZES[method]} a {method} "
                            "profile needs; skipped")
            continue
        if n_local_minima(p.loss) > 1:
            bumpy.append(f"{p.flops:.3g}")
        if require_bracket and not observed_bracketed(p.loss):
            end = "smallest" if np.argmin(p.loss) == 0 else "largest"
            warnings.append(f"{where}: the lowest observed loss is at the {end} of its sizes "
                            f"({math.exp(p.log_n[0]):.3g}..{math.exp(p.log_n[-1]):.3g} parameters), so the minimum "
                            "is not bracketed (it would be extrapolated); left out (require_bracket=False, CLI "
                            "--keep-unbracketed, keeps it where the method can place it)")
            continue
        x_opt, l_opt, why = _one_minimum(p, method, require_bracket)
        if x_opt is None:
            warnings.append(f"{where}: {why}; left out")
            continue
        n_opt = math.exp(x_opt)
        below, above = int(np.sum(p.log_n < x_opt)), int(np.sum(p.log_n > x_opt))
        point = {"flops": p.flops, "params": n_opt, "tokens": tokens_from(n_opt, p.flops), "loss": l_opt,
                 "n_runs": int(p.counts.sum()), "n_below": below, "n_above": above,
                 "extrapolated": bool(x_opt < p.log_n[0] or x_opt > p.log_n[-1]), "lopsided": min(below, above) < 2}
        sampled = f"sampled sizes {math.exp(p.log_n[0]):.3g}..{math.exp(p.log_n[-1]):.3g} parameters"
        if point["extrapolated"]:
            warnings.append(f"{where}: the minimum N = {n_opt:.3g} lies outside the {sampled} (extrapolated; kept "
                            "because require_bracket=False)")
        elif point["lopsided"]:
            warnings.append(f"{where}: lopsided sampling, {below} size(s) below and {above} above the minimum "
                            f"N = {n_opt:.3g} ({sampled}); the minimum may be biased")
        points.append(point)
        kept.append(j)
    if bumpy:
        warnings.append(f"{len(bumpy)} profile(s) have more than one local minimum in their observed losses "
                        f"(budgets {', '.join(bumpy)} FLOPs): noise or a bad run; the minimum found is one of them")
    return points, kept, warnings


def _one_minimum(p: _Profile, method: str, require_bracket: bool) -> tuple[float | None, float, str]:
    """(ln N_opt, loss there, '') or (None, nan, why) for one profile."""
    if method in ("cubic", "parabola"):
        found = profile_minimum_log(p.log_n, p.loss, 3 if method == "cubic" else 2)
        if found is None:
            return None, math.nan, f"the fitted {method} has no minimum (loss does not turn up at either end)"
        if abs(found[0]) > 700:
            return None, math.nan, f"the fitted {method} is nearly flat"
        if require_bracket and not p.log_n[0] <= found[0] <= p.log_n[-1]:
            return None, math.nan, (f"the {method}'s minimum N = {math.exp(found[0]):.3g} lies outside the sampled "
                                    "sizes (extrapolated)")
        return found[0], found[1], ""
    x_opt, l_opt, ok = minima(p.log_n, p.loss, method)
    if not ok[0]:
        why = ("the interpolated minimum is at an end of its grid" if method == "akima" else
               "the parabola through the three sizes around the lowest loss has no minimum")
        return None, math.nan, why
    return float(x_opt[0]), float(l_opt[0]), ""


def _loss_noise(loss_noise: float | None, groups: BudgetGroups, params: Array, flops: Array, loss: Array,
                profiles: list[_Profile]) -> tuple[float | None, str]:
    """sigma (nats/token) and where it came from: the caller, repeated seeds, or the profiles' scatter."""
    if loss_noise is not None:
        return float(loss_noise), "given (loss_noise)"
    sigma, n = seed_noise(groups.labels, params, flops, loss)
    if sigma is not None and sigma > 0:
        return sigma, f"repeated seeds: pooled std of {n} groups of runs with the same size and budget"
    sigma = residual_noise([(p.log_n, p.loss) for p in profiles])
    if sigma is not None and sigma > 0:
        return sigma, "unknown: estimated from the scatter about a cubic in ln N per profile"
    return None, "unknown"


def _noise_bootstrap(est: LevelOptima, profiles: list[_Profile], sigma: float | None, source: str,
                     draws: int, seed: int) -> None:
    """Porian et al.'s noise bootstrap (profile_noise): replaces each point's N_opt by the median of
    its noisy minima, sets the weights 1/std^2 and the (a, ln k_N) draws; drops budgets with fewer
    than half valid draws."""
    if sigma is None:
        est.warnings.append("no interval: the loss noise between seeds is unknown (no repeated seeds, no loss_noise, "
                            "no profile with 5 or more sizes to estimate it from); give loss_noise (CLI --loss-noise)")
        est.draws = np.empty((0, 2))
        return
    est.notes.append(f"noise bootstrap (Porian et al. 2024): loss noise sigma = {sigma:.3g} nats/token, {source}")
    if source.startswith("unknown"):
        est.notes.append("the loss noise between seeds is unknown: give repeated seeds or loss_noise (CLI "
                         "--loss-noise) for intervals that rest on it")
    rng = np.random.default_rng(seed)
    kept_points, stars, stds, floored = [], [], [], []
    for point, p in zip(est.points, profiles):
        res = noisy_minima(p.log_n, p.loss, sigma / np.sqrt(p.counts), est.profile_method, draws, rng)
        if res is None:
            est.warnings.append(f"budget {p.flops:.3g} FLOPs: fewer than half of the {draws} noisy draws have a "
                                "minimum inside the sizes; left out")
            continue
        n_med = math.exp(res.median)
        kept_points.append({**point, "params": n_med, "tokens": tokens_from(n_med, p.flops),
                            "ln_params_std": res.std, "std_floored": res.floored, "draws_valid": len(res.stars)})
        stars.append(res.stars)
        stds.append(res.std)
        floored.append(res.floored)
    est.points = kept_points
    if len(stars) < 2:
        est.draws = np.empty((0, 2))
        return
    est.weights = 1.0 / np.square(stds)
    est.draws = draw_fits(np.log([q["flops"] for q in kept_points]), stars, est.weights)
    est.notes.append("per-budget N_opt is the median of the noisy minima; ln N_opt is fitted to ln C with weights "
                     "1/std^2, draw by draw for the interval")
    if any(floored):
        est.warnings.append(f"intervals limited by the size spacing: at {sum(floored)} of {len(floored)} budgets the "
                            "std of ln N_opt is the floor, a third of the spacing of the sizes in ln N; sizes closer "
                            "together near the optimum would narrow the interval")


def _method_exponents(profiles: list[_Profile], require_bracket: bool) -> dict[str, float]:
    """a from the unperturbed minima by Akima and by the cubic (ordinary least squares), where each has
    2 or more usable budgets; for the warning that the two disagree."""
    out = {}
    for m in ("akima", "cubic"):
        logc, logn = [], []
        for p in profiles:
            if len(p.log_n) < MIN_SIZES[m] or (require_bracket and not observed_bracketed(p.loss)):
                continue
            x_opt, _, _ = _one_minimum(p, m, True)
            if x_opt is not None:
                logc.append(math.log(p.flops))
                logn.append(x_opt)
        if len(set(logc)) >= 2:
            out[m] = float(weighted_line(np.array(logc), np.array(logn))[0])
    return out
