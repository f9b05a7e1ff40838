"""One way to name a law wherever a law is needed: a fit JSON file, a FitResult, or a published law."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.fit.result import FitResult, Prediction
from scalinglab.laws.published import PublishedLaw, get_published

AnyLaw = Union[FitResult, PublishedLaw]


def resolve_law(spec: Any) -> AnyLaw:
    """A FitResult or PublishedLaw from itself, a path to a fit JSON, or a published key."""
    if isinstance(spec, (FitResult, PublishedLaw)):
        return spec
    text = os.fspath(spec) if isinstance(spec, (str, os.PathLike)) else None
    if text is None:
        raise ScalingLabError(f"cannot use {type(spec).__name__} as a law: give a fit JSON or a published name")
    if text.lower().endswith(".json") or Path(text).is_file():
        return FitResult.load(text)
    return get_published(text)


def law_name(law: AnyLaw) -> str:
    """Display name: the published key, or the fitted family's label."""
    return law.key if isinstance(law, PublishedLaw) else law.law


# C = 6ND solved for each of the three: (inputs, formula)
_SIX_ND = {
    "flops": (("params", "tokens"), lambda n, d: 6.0 * n * d),
    "tokens": (("params", "flops"), lambda n, c: c / (6.0 * n)),
    "params": (("tokens", "flops"), lambda d, c: c / (6.0 * d)),
}


def law_inputs(law: AnyLaw, **given: Any) -> tuple[dict[str, Any], list[str]]:
    """The inputs a law reads, completing one of params/tokens/flops from the other two with
    C = 6ND (Kaplan et al. 2020 sec. 2.1). Returns the inputs and notes on what was derived.
    An input the law does not use (and that was not needed for a derivation) is an error."""
    given = {k: v for k, v in given.items() if v is not None}
    need = law.family.variables
    out = {k: v for k, v in given.items() if k in need}
    notes: list[str] = []
    used = set(out)
    for v in need:
        rule = _SIX_ND.get(v)
        if v not in out and rule is not None and all(o in given for o in rule[0]):
            a, b = (np.asarray(given[o], dtype=float) for o in rule[0])
            out[v] = rule[1](a, b)
            notes.append(f"{v} derived from {' and '.join(rule[0])} with C = 6ND")
            used |= set(rule[0])
    missing = [v for v in need if v not in out]
    if missing:
        flags = " and ".join("--" + m.replace("_", "-") for m in missing)
        hint = " (or two of --params, --tokens, --flops: C = 6ND gives the third)" if set(missing) <= set(_SIX_ND) else ""
        raise ScalingLabError(f"law {law_name(law)} reads {', '.join(need)}; give {flags}{hint}")
    unused = [k for k in given if k not in used]
    if unused:
        raise ScalingLabError(f"law {law_name(law)} reads {', '.join(need)}; it does not use "
                              f"{', '.join(unused)}")
    return out, notes


def predict_loss(law: AnyLaw, **X: Any) -> Prediction:
    """Loss (nats/token) predicted by a fitted or published law, with an interval when available."""
    if isinstance(law, FitResult):
        return law.predict(**X)
    return Prediction(loss=np.asarray(law.family.predict_natural(law.params, **X)))
