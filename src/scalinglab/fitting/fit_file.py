"""The fit file: what :meth:`FitResult.save <scalinglab.fitting.result.FitResult.save>` writes and
:meth:`~scalinglab.fitting.result.FitResult.load` reads back, and the checks that refuse a malformed one.

A fit file is JSON with ``"format": "scalinglab.fitting"`` and ``"format_version"`` (:data:`FORMAT_VERSION`);
its other keys are the fields of a FitResult (parameters in their natural units, the internal ``theta``,
bootstrap ``draws``, the data range in parameters, tokens and FLOPs). A file from a newer format, a law
that does not match its parameters, a level outside (0, 1), a malformed data range, status or
calibration is one ScalingLabError naming the key.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.fitting.calibration import check_calibration
from scalinglab.fitting.constraints import check_saved_constraints
from scalinglab.fitting.status import FitStatus
from scalinglab.laws import get_family
from scalinglab.laws.base import LawFamily

__all__ = ["FORMAT_VERSION", "fit_fields", "read_fit_json"]

FORMAT_VERSION = 1


def fit_fields(d: dict[str, Any], family: LawFamily | None = None) -> dict[str, Any]:
    """The keyword arguments of a FitResult from a fit file's dict ``d`` (``family``: the law object of a
    CustomLaw fit, which JSON cannot hold), checked; ScalingLabError if ``d`` is not a valid fit."""
    if not isinstance(d, dict) or d.get("format") != "scalinglab.fitting":
        raise ScalingLabError("not a scalinglab fit (JSON without \"format\": \"scalinglab.fitting\")")
    if d.get("format_version", 0) > FORMAT_VERSION:
        raise ScalingLabError(f"fit file format {d['format_version']} is newer than this scalinglab "
                              f"understands ({FORMAT_VERSION}); upgrade scalinglab")
    try:
        kw = {k: v for k, v in d.items() if k not in ("format", "format_version", "family")}
        saved = d["family"]
        saved_name = saved.get("family") if isinstance(saved, dict) else str(saved).split(":")[0]
        kw["family"] = get_family(saved if family is None else family)
        if kw["family"].name != saved_name:
            raise ScalingLabError(f"the fit is of law '{saved_name}', "
                                  f"but family '{kw['family'].name}' was passed")
        _check_fit_fields(d, kw["family"])
        kw["theta"] = np.asarray(d["theta"], dtype=float)
        kw["residuals"] = None if d.get("residuals") is None else np.asarray(d["residuals"], float)
        kw["draws"] = None if d.get("draws") is None else np.asarray(d["draws"], float).reshape(
            -1, len(kw["theta"]))
        kw["ci"] = {k: [float(a), float(b)] for k, (a, b) in d.get("ci", {}).items()}
        kw["data_range"] = _check_data_range(d.get("data_range"))  # absent (older files): unknown
        if "status" not in d:  # written before statuses existed (format 1 without the key)
            kw["status"] = "converged" if d.get("converged") else "stalled"
        _check_identification(kw, kw["family"])
        kw["fixed"], kw["tied"] = check_saved_constraints(d, kw["family"])  # absent (older files): none
        if kw.get("calibration") is not None:  # absent (older files): no calibration
            kw["calibration"] = check_calibration(kw["calibration"])
        return kw
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, ScalingLabError):
            raise
        raise ScalingLabError(f"malformed fit file: {type(exc).__name__} {exc}") from None


def read_fit_json(path: str | os.PathLike) -> Any:
    """The parsed JSON of the fit file at ``path``; ScalingLabError if missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            d = json.load(fh)
    except FileNotFoundError:
        raise ScalingLabError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScalingLabError(f"{path}: not a readable fit JSON ({exc})") from None
    return d


def _check_identification(kw: dict[str, Any], family: LawFamily) -> None:
    """Reject a fit JSON whose status or unidentified parameters do not fit its law."""
    statuses = tuple(s.value for s in FitStatus)
    if kw.get("status") not in statuses:
        raise ScalingLabError(f"malformed fit file: 'status' must be one of {', '.join(statuses)}, "
                              f"got {kw.get('status')!r}")
    names = kw.get("unidentified", [])
    why = kw.get("unidentified_why", {})
    if (not isinstance(names, list) or not set(names) <= set(family.param_names)
            or not isinstance(why, dict)):
        raise ScalingLabError("malformed fit file: 'unidentified' must list parameters of law "
                              f"{family.label} ({', '.join(family.param_names)})")


def _check_data_range(value: Any) -> dict[str, list[float]] | None:
    """The saved range of the fitted runs as {quantity: [min, max]}, or None; ScalingLabError if malformed."""
    if value is None:
        return None
    ok = isinstance(value, dict) and all(
        k in ("params", "tokens", "flops") and isinstance(v, list) and len(v) == 2
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) and x > 0 for x in v)
        and v[0] <= v[1] for k, v in value.items())
    if not ok:
        raise ScalingLabError("malformed fit file: 'data_range' must map params/tokens/flops to [min, max] "
                              "positive numbers")
    return {k: [float(v[0]), float(v[1])] for k, v in value.items()}


def _check_fit_fields(d: dict[str, Any], family: LawFamily) -> None:
    """Reject a fit JSON whose parameters, theta or level do not fit its law."""
    params, theta = d.get("params"), d.get("theta")
    if not isinstance(params, dict) or set(params) != set(family.param_names):
        raise ScalingLabError(f"malformed fit file: 'params' must name {', '.join(family.param_names)}")
    for k, v in params.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise ScalingLabError(f"malformed fit file: parameter {k} = {v!r} is not a finite number")
    if not isinstance(theta, list) or len(theta) != family.n_params:
        raise ScalingLabError(f"malformed fit file: 'theta' must hold {family.n_params} numbers")
    level = d.get("level", 0.95)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ScalingLabError(f"malformed fit file: 'level' must lie strictly between 0 and 1, got {level!r}")
