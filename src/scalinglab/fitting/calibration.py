"""Calibrated extrapolation intervals: the calibration a fit carries and the interval arithmetic.

A law's bootstrap + noise interval (:mod:`scalinglab.fitting.predictive`) assumes the law's form is right.
Every simple law misfits real scaling data somewhat, and the misfit grows with the extrapolation
distance, so those intervals under-cover far out. A *calibration* records the law's own extrapolation
errors inside the fitted data (rolling-origin refits made by :func:`scalinglab.analysis.calibrate`:
fit the runs with x up to an origin, predict the fitted runs beyond it) and widens the interval by
what they show. With x the distance variable (training FLOPs C, parameters N or tokens D):

    distance   d = max(0, log10(x / x_max))     decades beyond the largest fitted x (0 inside the data)
    error      e_i = ln L_i - ln f(x_i; theta_origin)   (refit i's prediction of a later run)
    scale      s(d) = s0 + s1 d                 s0 > 0, s1 >= 0: the typical |e| at distance d, a
                                                weighted least-absolute-deviations fit to the |e_i|
    score      u_i = |e_i| / s(d_i)
    q          weighted conformal quantile of the u_i at the level (below)
    band       ln L_pred -+ q s(d)
    calibrated interval = [min(low, L_pred exp(-q s(d))), max(high, L_pred exp(q s(d)))]

where [low, high] is the bootstrap + noise interval, so a calibrated interval is never narrower than
it. Weights: the refits from later origins describe the law nearer the scale it is used at, so the
errors of the k-th latest origin weigh decay**k (decay 0.5 by default). The quantile is the
non-exchangeable split-conformal one of Barber, Candes, Ramdas & Tibshirani (2023, "Conformal
prediction beyond exchangeability", Ann. Statist.), with weight 1 for the new point:

    q = min{u : sum_{i: u_i <= u} w_i / (sum_i w_i + 1) >= level}

That quantile does not exist when the errors' total weight is below level / (1 - level) (19 at 95%:
too few recent errors). Then q is the plain split-conformal quantile (Lei et al. 2018, JASA 113:1094)
of the errors of the latest origins, taking older origins until there are at least level / (1 - level)
of them, i.e. the ceil((m + 1) level)-th smallest of their m scores; with fewer errors than that in
all, q is the largest score. Either way the result says so (``capped``).

Units: losses in nats/token; e, s0 and s(d) in natural-log units of the loss (0.01 = about 1%); s1
in log-loss per decade; d in decades (factors of 10).

The dict a FitResult carries (``FitResult.calibration``; JSON-able, stored in the fit file):
method ("rolling-origin"), version, x, x_max, s0, s1, decay, origins (x of each origin), n_fitted
(runs each refit used), distance, error, weight (one entry per recorded error).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from scalinglab.counting import SIX_ND, complete_counts
from scalinglab.errors import ScalingLabError

Array = np.ndarray
METHOD = "rolling-origin"
VERSION = 1
DISTANCE_VARIABLES = ("flops", "params", "tokens")
SCALE_FLOOR = 1e-4  # smallest error scale (log-loss): keeps scores finite on noise-free data
_SIX_ND = {name: inputs for name, (inputs, _) in SIX_ND.items()}  # C = 6ND: the two inputs of each
_LIST_KEYS = ("distance", "error", "weight")


# ---- distance -------------------------------------------------------------------------------------------
def x_values(x: str, inputs: Mapping[str, Any], law: str = "the law") -> Array:
    """The distance variable ``x`` at the law inputs ``inputs``: the input itself, or completed from the
    other two with C = 6ND (Kaplan et al. 2020 sec. 2.1) when the law reads those. Raises
    ScalingLabError when ``x`` cannot be had from the inputs."""
    if x in inputs:
        return np.asarray(inputs[x], dtype=float)
    if x in SIX_ND and all(o in inputs for o in _SIX_ND[x]):
        return complete_counts({o: np.asarray(inputs[o], dtype=float) for o in _SIX_ND[x]})[x]
    raise ScalingLabError(f"{law} reads {', '.join(inputs) or 'nothing'}: the extrapolation distance in {x} "
                          f"cannot be had from that (calibrate on one of {', '.join(_reachable(inputs))})")


def _reachable(inputs: Mapping[str, Any]) -> list[str]:
    return [v for v in DISTANCE_VARIABLES if v in inputs or all(o in inputs for o in _SIX_ND[v])]


def default_x(variables: tuple[str, ...]) -> str:
    """The distance variable a calibration uses by default: training FLOPs C when the law's inputs give
    them (C itself, or N and D through C = 6ND), else the law's first input among N, D."""
    reach = _reachable(dict.fromkeys(variables))
    if not reach:
        raise ScalingLabError(f"a law of {', '.join(variables)} has no extrapolation distance in "
                              f"{', '.join(DISTANCE_VARIABLES)}: it cannot be calibrated")
    return "flops" if "flops" in reach else reach[0]


def distance(calibration: Mapping[str, Any], inputs: Mapping[str, Any], law: str = "the law") -> Array:
    """d = max(0, log10(x / x_max)): decades of the calibration's x beyond the fitted range."""
    xs = x_values(calibration["x"], inputs, law)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.log10(xs / float(calibration["x_max"]))
    if not np.all(np.isfinite(d)):
        raise ScalingLabError(f"{calibration['x']} must be finite and > 0 to measure the extrapolation distance")
    return np.maximum(d, 0.0)


def error_scale(calibration: Mapping[str, Any], d: Array) -> Array:
    """s(d) = s0 + s1 d, in log-loss units."""
    return float(calibration["s0"]) + float(calibration["s1"]) * np.asarray(d, dtype=float)


# ---- quantile -------------------------------------------------------------------------------------------
def conformal_quantile(scores: Array, weights: Array, level: float) -> tuple[float, bool]:
    """(q, capped): the weighted split-conformal quantile of ``scores`` at ``level`` with weight 1 for
    the new point (module docstring); capped is True when it does not exist and q is the largest score."""
    u = np.asarray(scores, dtype=float)
    w = np.asarray(weights, dtype=float)
    order = np.argsort(u, kind="stable")
    u, w = u[order], w[order]
    mass = np.cumsum(w) / (w.sum() + 1.0)
    k = int(np.searchsorted(mass, float(level) * (1.0 - 1e-12)))
    if k >= u.size:
        return float(u[-1]), True
    return float(u[k]), False


def scores(calibration: Mapping[str, Any]) -> Array:
    """u_i = |e_i| / s(d_i) of the recorded errors."""
    d = np.asarray(calibration["distance"], dtype=float)
    return np.abs(np.asarray(calibration["error"], dtype=float)) / error_scale(calibration, d)


def band_quantile(calibration: Mapping[str, Any], level: float) -> tuple[float, bool]:
    """(q, capped) at ``level`` for this calibration: the weighted conformal quantile, or when that does
    not exist the plain one over the latest origins' errors (module docstring)."""
    u = scores(calibration)
    w = np.asarray(calibration["weight"], dtype=float)
    q, capped = conformal_quantile(u, w, level)
    if not capped:
        return q, False
    need = math.ceil(level / (1.0 - level) - 1e-9)
    for lightest in np.unique(w)[::-1]:  # one weight per origin: the latest first
        recent = np.sort(u[w >= lightest])
        if recent.size >= need:
            return float(recent[min(math.ceil((recent.size + 1) * level - 1e-9), recent.size) - 1]), True
    return float(u.max()), True


def calibrated_log_bounds(calibration: Mapping[str, Any], point_log: Array, low_log: Array, high_log: Array,
                          inputs: Mapping[str, Any], level: float, law: str = "the law"
                          ) -> tuple[Array, Array, Array, bool]:
    """(ln low, ln high, half-width q s(d), capped): the union of the interval [low, high] (log space)
    with the band ln L_pred -+ q s(d) at the law inputs ``inputs``."""
    q, capped = band_quantile(calibration, level)
    half = q * error_scale(calibration, distance(calibration, inputs, law)).reshape(np.shape(point_log))
    return np.minimum(low_log, point_log - half), np.maximum(high_log, point_log + half), half, capped


def capped_note(calibration: Mapping[str, Any], level: float) -> str:
    """The note a capped quantile gives."""
    return (f"the calibration's {len(calibration['error'])} extrapolation errors are too few (by weight) for a "
            f"weighted {100 * level:g}% conformal quantile: the band uses the plain one of the latest refits' "
            "errors (or the largest normalised error when there are too few of those)")


# ---- the dict -------------------------------------------------------------------------------------------
def make_calibration(*, x: str, x_max: float, s0: float, s1: float, decay: float, origins: list[float],
                     n_fitted: list[int], distance: Array, error: Array, weight: Array) -> dict[str, Any]:
    """The calibration dict (module docstring), checked."""
    d = {"method": METHOD, "version": VERSION, "x": x, "x_max": float(x_max), "s0": float(s0),
         "s1": float(s1), "decay": float(decay), "origins": [float(o) for o in origins],
         "n_fitted": [int(n) for n in n_fitted], "distance": np.asarray(distance, float).tolist(),
         "error": np.asarray(error, float).tolist(), "weight": np.asarray(weight, float).tolist()}
    return check_calibration(d)


def check_calibration(d: Any) -> dict[str, Any]:
    """``d`` as a calibration dict, or a ScalingLabError naming what is wrong with it."""
    def bad(why: str) -> ScalingLabError:
        return ScalingLabError(f"malformed calibration: {why}")

    if not isinstance(d, Mapping):
        raise bad(f"expected an object, got {type(d).__name__}")
    if d.get("method") != METHOD:
        raise bad(f"method must be {METHOD!r}, got {d.get('method')!r}")
    if not isinstance(d.get("version"), int) or d["version"] > VERSION:
        raise bad(f"version {d.get('version')!r} is not one this scalinglab reads (up to {VERSION})")
    if d.get("x") not in DISTANCE_VARIABLES:
        raise bad(f"x must be one of {', '.join(DISTANCE_VARIABLES)}, got {d.get('x')!r}")
    for key, low in (("x_max", 0.0), ("s0", 0.0), ("s1", None), ("decay", 0.0)):
        v = d.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or (low is not None and v <= low) or (key == "s1" and v < 0) or (key == "decay" and v > 1):
            raise bad(f"{key} = {v!r} is out of range")
    arrays = {}
    for key in _LIST_KEYS:
        v = d.get(key)
        try:
            arrays[key] = np.asarray(v, dtype=float)
        except (TypeError, ValueError):
            raise bad(f"{key} must be a list of numbers") from None
        if arrays[key].ndim != 1 or arrays[key].size == 0 or not np.all(np.isfinite(arrays[key])):
            raise bad(f"{key} must be a non-empty list of finite numbers")
    if len({a.size for a in arrays.values()}) != 1:
        raise bad("distance, error and weight must have one entry per recorded error")
    if np.any(arrays["distance"] < 0) or np.any(arrays["weight"] <= 0) or np.any(arrays["weight"] > 1):
        raise bad("distances must be >= 0 and weights in (0, 1]")
    out = dict(d)
    for key in ("origins", "n_fitted"):
        if not isinstance(out.get(key, []), list):
            raise bad(f"{key} must be a list")
        out.setdefault(key, [])
    return out


def summary_dict(calibration: Mapping[str, Any], level: float) -> dict[str, Any]:
    """The compact view a report prints: method, x, x_max, s0, s1, decay, q at ``level``, capped,
    n_errors, n_origins."""
    q, capped = band_quantile(calibration, level)
    return {"method": calibration["method"], "x": calibration["x"], "x_max": calibration["x_max"],
            "s0": calibration["s0"], "s1": calibration["s1"], "decay": calibration["decay"], "q": q,
            "level": float(level), "capped": capped, "n_errors": len(calibration["error"]),
            "n_origins": len(calibration.get("origins", []))}
