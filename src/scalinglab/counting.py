"""Counting conventions in one place: C = 6ND, bytes per dtype, PF-days and device-hours.

This module sits at the bottom of the layers (it imports only numpy and :mod:`scalinglab.errors`);
every other module that derives one of N, D, C from the other two, converts PF-days or looks up the
bytes of a dtype calls it.

* Training compute C = 6 N D (Kaplan et al. 2020, arXiv:2001.08361, sec. 2.1): a forward pass costs
  about 2 FLOPs per parameter per token and the backward pass twice that, so training costs
  :data:`FLOPS_PER_PARAM_TOKEN` = 6 FLOPs per parameter per token (attention's context-dependent
  term neglected). Units: N parameters (a count), D tokens (a count), C FLOPs (a count, not a rate).
  :func:`flops_from`, :func:`tokens_from` and :func:`params_from` solve it for each of the three;
  :func:`complete_six_nd` (exactly two given) and :func:`complete_counts` (a mapping) fill whichever
  one is missing. The functions do plain arithmetic on floats, numpy arrays or pandas columns
  (callers validate their inputs), written as
  ``6.0 * N * D`` and ``C / (6.0 * X)`` so that results are the same to the last bit as the
  expressions they replaced.
* :data:`DTYPE_BYTES`: bytes per stored element of each dtype (fp32/tf32 4, bf16/fp16 2, fp8/int8 1,
  int4 0.5, before any grouped-quantisation scales).
* :data:`PF_DAY_FLOPS`: one petaflop/s-day, 1e15 FLOP/s sustained for 86,400 s = 8.64e19 FLOPs
  (Kaplan et al. 2020 sec. 1.3 and Brown et al. 2020, GPT-3, Appendix D quote compute in PF-days);
  :data:`SECONDS_PER_HOUR` and :data:`SECONDS_PER_DAY` for device-hours and days.

Example: GPT-3 175B (174.6e9 parameters, 300e9 tokens; Brown et al. 2020 Table D.1) costs
6 x 174.6e9 x 300e9 = 3.14e23 FLOPs = 3,637 PF-days.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalinglab.errors import ScalingLabError

__all__ = [
    "FLOPS_PER_PARAM_TOKEN", "SIX_ND_SOURCE", "SIX_ND", "flops_from", "tokens_from", "params_from", "complete_six_nd",
    "complete_counts", "DTYPE_BYTES", "SECONDS_PER_HOUR", "SECONDS_PER_DAY", "PF_DAY_FLOPS", "pf_days_to_flops",
    "flops_to_pf_days",
]

#: Training FLOPs per parameter per token in C = 6ND (Kaplan et al. 2020 sec. 2.1): 2 forward + 4
#: backward. Equal to 6; a float so that products of integer counts stay floats.
FLOPS_PER_PARAM_TOKEN: float = 6.0
#: Where C = 6ND comes from, for notes and docstrings.
SIX_ND_SOURCE: str = "Kaplan et al. 2020 sec. 2.1"


def flops_from(params: Any, tokens: Any) -> Any:
    """Training compute C = 6 N D (Kaplan et al. 2020 sec. 2.1).

    ``params``: N, parameters (a count); ``tokens``: D, training tokens (a count); returns C in FLOPs
    (a count). Scalars, numpy arrays and pandas columns alike; no validation."""
    return FLOPS_PER_PARAM_TOKEN * params * tokens


def tokens_from(params: Any, flops: Any) -> Any:
    """Training tokens D = C / (6 N) (C = 6ND, Kaplan et al. 2020 sec. 2.1).

    ``params``: N, parameters (a count); ``flops``: C, training compute in FLOPs (a count); returns D
    in tokens (a count). Scalars, numpy arrays and pandas columns alike; no validation."""
    return flops / (FLOPS_PER_PARAM_TOKEN * params)


def params_from(tokens: Any, flops: Any) -> Any:
    """Parameters N = C / (6 D) (C = 6ND, Kaplan et al. 2020 sec. 2.1).

    ``tokens``: D, training tokens (a count); ``flops``: C, training compute in FLOPs (a count);
    returns N in parameters (a count). Scalars, numpy arrays and pandas columns alike; no validation."""
    return flops / (FLOPS_PER_PARAM_TOKEN * tokens)


#: C = 6ND solved for each of the three: name -> (the two inputs in order, the formula).
SIX_ND: dict[str, tuple[tuple[str, str], Any]] = {
    "flops": (("params", "tokens"), flops_from),
    "tokens": (("params", "flops"), tokens_from),
    "params": (("tokens", "flops"), params_from),
}


def complete_counts(counts: Mapping[str, Any]) -> dict[str, Any]:
    """The params, tokens and flops of ``counts`` (an entry that is None counts as absent; other keys are
    left out), with the third filled in from the other two by C = 6ND (Kaplan et al. 2020 sec. 2.1)
    when exactly two are given; otherwise the ones given, unchanged. Units as in :func:`flops_from`
    (parameters, tokens and FLOPs, all counts); no validation."""
    out = {k: counts[k] for k in SIX_ND if counts.get(k) is not None}
    if len(out) == 2:
        name = next(k for k in SIX_ND if k not in out)
        inputs, formula = SIX_ND[name]
        out[name] = formula(out[inputs[0]], out[inputs[1]])
    return out


def complete_six_nd(params: Any = None, tokens: Any = None, flops: Any = None) -> tuple[Any, Any, Any]:
    """``(params, tokens, flops)`` with the one given as None filled in from the other two by
    C = 6ND (Kaplan et al. 2020 sec. 2.1; parameters, tokens and FLOPs, all counts). Exactly one of
    the three must be None, else a ScalingLabError. The two given are returned unchanged."""
    missing = [k for k, v in (("params", params), ("tokens", tokens), ("flops", flops)) if v is None]
    if len(missing) != 1:
        raise ScalingLabError("give exactly two of params, tokens and flops (C = 6ND gives the third); "
                              f"missing: {', '.join(missing) or 'none'}")
    out = complete_counts({"params": params, "tokens": tokens, "flops": flops})
    return out["params"], out["tokens"], out["flops"]


#: Bytes per stored element of each dtype (weights, KV cache, memory and bandwidth estimates), before
#: any grouped-quantisation scale overhead: the union of the tables once kept in
#: ``plan.hardware.DTYPE_BYTES`` (which had tf32) and ``inference.memory.WEIGHT_DTYPE_BYTES`` (which had
#: int4); they agreed on every shared dtype. Units: bytes per element.
DTYPE_BYTES: dict[str, float] = {
    "fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5,
}

#: Seconds in an hour (device-hours = devices x seconds / 3600).
SECONDS_PER_HOUR: float = 3600.0
#: Seconds in a day (86,400).
SECONDS_PER_DAY: float = 86_400.0
#: One petaflop/s-day: 1e15 FLOP/s sustained for 86,400 s = 8.64e19 FLOPs (a count, not a rate).
PF_DAY_FLOPS: float = 1e15 * SECONDS_PER_DAY


def pf_days_to_flops(pf_days: Any) -> Any:
    """PF-days -> FLOPs (a count): ``pf_days * 8.64e19`` (1 PF-day = 1e15 FLOP/s for 86,400 s)."""
    return pf_days * PF_DAY_FLOPS


def flops_to_pf_days(flops: Any) -> Any:
    """FLOPs (a count) -> PF-days: ``flops / 8.64e19`` (1 PF-day = 1e15 FLOP/s for 86,400 s)."""
    return flops / PF_DAY_FLOPS
