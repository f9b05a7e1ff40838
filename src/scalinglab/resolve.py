"""One way to name a law wherever a law is needed: a fit JSON file, a FitResult, or a published law."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Union

import numpy as np

from scalinglab.counting import SIX_ND, complete_counts
from scalinglab.errors import ScalingLabError, is_existing_path
from scalinglab.fitting.result import FitResult, Prediction
from scalinglab.laws.published import PublishedLaw, get_published

#: A law an answer is computed from: a fit or a published law.
AnyLaw = Union[FitResult, PublishedLaw]
#: What :func:`resolve_law` accepts wherever a law is read: a law, a fit JSON path or a published key.
LawLike = Union[FitResult, PublishedLaw, str, os.PathLike]


def resolve_law(spec: LawLike) -> AnyLaw:
    """A FitResult or PublishedLaw from itself, a path to a fit JSON, or a published key."""
    if isinstance(spec, (FitResult, PublishedLaw)):
        return spec
    text = os.fspath(spec) if isinstance(spec, (str, os.PathLike)) else None
    if text is None:
        raise ScalingLabError(f"cannot use {type(spec).__name__} as a law: give a fit JSON or a published name")
    if text.lower().endswith(".json") or is_existing_path(text, file=True):
        return FitResult.load(text)
    return get_published(text)


def law_name(law: AnyLaw) -> str:
    """Display name: the published key, or the fitted family's label."""
    return law.key if isinstance(law, PublishedLaw) else law.law


def law_inputs(law: AnyLaw, **given: Any) -> tuple[dict[str, Any], list[str]]:
    """The inputs a law reads, completing one of params/tokens/flops from the other two with
    C = 6ND (Kaplan et al. 2020 sec. 2.1). Returns the inputs and notes on what was derived.
    An input the law does not use (and that was not needed for a derivation) is an error."""
    given = {k: v for k, v in given.items() if v is not None}
    need = law.family.variables
    out = {k: v for k, v in given.items() if k in need}
    notes: list[str] = []
    used = set(out)
    absent = [k for k in SIX_ND if k not in given]
    if len(absent) == 1 and absent[0] in need:  # two of N, D, C given: C = 6ND gives the third
        v, inputs = absent[0], SIX_ND[absent[0]][0]
        out[v] = complete_counts({o: np.asarray(given[o], dtype=float) for o in inputs})[v]
        notes.append(f"{v} derived from {' and '.join(inputs)} with C = 6ND")
        used |= set(inputs)
    missing = [v for v in need if v not in out]
    if missing:
        flags = " and ".join("--" + m.replace("_", "-") for m in missing)
        hint = " (or two of --params, --tokens, --flops: C = 6ND gives the third)" if set(missing) <= set(SIX_ND) else ""
        raise ScalingLabError(f"law {law_name(law)} reads {', '.join(need)}; give {flags}{hint}")
    unused = [k for k in given if k not in used]
    if unused:
        raise ScalingLabError(f"law {law_name(law)} reads {', '.join(need)}; it does not use "
                              f"{', '.join(unused)}")
    return out, notes


def predict_loss(law: LawLike, *, allow_unidentified: bool = False, **X: Any) -> Prediction:
    """Loss (nats/token) predicted by a fitted or published law, with an interval when available.

    A fitted law whose data leave any parameter undetermined is refused (the loss depends on them all)
    unless ``allow_unidentified``; see :func:`unidentified_guard`, whose warnings the CLI prints."""
    law = resolve_law(law)  # first: a fit JSON path must be guarded as the fit it names
    unidentified_guard(law, "the predicted loss", allow=allow_unidentified)
    if isinstance(law, FitResult):
        return law.predict(**X)
    return Prediction(loss=np.asarray(law.family.predict_natural(law.params, **X)))


# ---- extrapolation distance ---------------------------------------------------------------------------------
#: An answer more than this many decades (log10) outside the law's data in N, D or C gets a warning.
EXTRAPOLATION_WARN_DECADES = 1.0
#: The quantities whose distance is measured, and their JSON keys.
EXTRAPOLATION_KEYS = {"params": "params_decades", "tokens": "tokens_decades", "flops": "flops_decades"}


def _num(x: float) -> str:
    """3 significant digits, exponent without '+' or leading zero: 3.2e11, 6e18, 0.001."""
    return f"{float(x):.3g}".replace("e+0", "e").replace("e+", "e")


def _query_counts(X: dict[str, Any]) -> dict[str, np.ndarray]:
    """params, tokens and flops of a query as arrays, the third from the other two by C = 6ND."""
    q = {k: np.asarray(X[k], dtype=float) for k in SIX_ND if X.get(k) is not None}
    with np.errstate(all="ignore"):
        q = complete_counts(q)
    return {k: np.asarray(v, dtype=float) for k, v in q.items()}


def _distances(law: AnyLaw, X: dict[str, Any]
               ) -> dict[str, tuple[np.ndarray, np.ndarray, float | None, float | None]]:
    """Per quantity known in both the law's range and the query: (decades outside, below-the-range mask,
    min, max); a range end the source does not state (None) does not bound."""
    rng = getattr(law, "data_range", None) or {}
    query = _query_counts(X)
    out = {}
    for k in EXTRAPOLATION_KEYS:
        if k not in rng or k not in query:
            continue
        x = query[k]
        lo, hi = rng[k]
        with np.errstate(all="ignore"):
            below = np.log10(lo / x) if lo is not None else np.zeros_like(x)
            above = np.log10(x / hi) if hi is not None else np.zeros_like(x)
        below, above = np.nan_to_num(below, nan=0.0), np.nan_to_num(above, nan=0.0)
        out[k] = (np.maximum(np.maximum(below, above), 0.0), below > 0, lo, hi)
    return out


def extrapolation(law: AnyLaw, **X: Any) -> dict[str, Any]:
    """How far a query lies outside the data a law was fitted on, in decades (log10) of N, D and C.

    ``X``: the query's ``params``, ``tokens`` and/or ``flops`` (others ignored); a missing one of the
    three comes from the other two by C = 6ND. Returns ``{"params_decades", "tokens_decades",
    "flops_decades"}``: 0 inside the fitted [min, max], else log10 of the distance beyond the nearest end
    (a float, or a list for array inputs); None where the law records no range for that quantity (a fit
    file written before ranges were stored; a published source that does not state it) or the query
    does not give it. Ranges: ``FitResult.data_range`` (the fitted runs) and ``PublishedLaw.data_range``
    (the source's runs, :mod:`scalinglab.laws.published`)."""
    dist = _distances(law, X)
    out: dict[str, Any] = {}
    for k, key in EXTRAPOLATION_KEYS.items():
        d = dist.get(k)
        out[key] = None if d is None else (float(d[0]) if d[0].ndim == 0 else d[0].tolist())
    return out


def extrapolation_warnings(law: AnyLaw, **X: Any) -> list[str]:
    """One warning per quantity more than :data:`EXTRAPOLATION_WARN_DECADES` outside the law's data
    (the farthest query point when ``X`` holds arrays)."""
    out = []
    for k, (dec, below, lo, hi) in _distances(law, X).items():
        i = int(np.argmax(dec)) if dec.ndim else None
        d = float(dec.flat[i] if i is not None else dec)
        if d <= EXTRAPOLATION_WARN_DECADES:
            continue
        low = bool(below.flat[i] if i is not None else below)
        where = f"below the fitted {k} (min {_num(lo)})" if low else f"beyond the fitted {k} (max {_num(hi)})"
        times = _num(10 ** d) if d < 300 else f"1e{d:.0f}"
        out.append(f"{d:.2f} decades ({times}x) {where}: law {law_name(law)} is extrapolated far "
                   "outside its data, and the answer (and any interval) assumes its form holds there")
    return out


def extrapolation_text(law: AnyLaw, **X: Any) -> str:
    """One line for plain output: 'extrapolation: 1.67 decades beyond the fitted tokens (max 3.2e11)',
    '... inside the fitted params, tokens, flops', or why the distance is unknown."""
    if not getattr(law, "data_range", None):
        return (f"extrapolation: unknown (law {law_name(law)} records no range of the data it was fitted on"
                + ("; fit files written before scalinglab stored it lack it)" if isinstance(law, FitResult) else ")"))
    dist = _distances(law, X)
    if not dist:
        return "extrapolation: unknown (the law's recorded range and the query share no params, tokens or flops)"
    parts, inside = [], []
    for k, (dec, below, lo, hi) in dist.items():
        d = float(dec.max())
        if d <= 0:
            inside.append(k)
            continue
        low = bool(below.flat[int(np.argmax(dec))])
        parts.append(f"{d:.2f} decades " + (f"below the fitted {k} (min {_num(lo)})" if low
                                            else f"beyond the fitted {k} (max {_num(hi)})"))
    if inside:
        parts.append(f"inside the fitted {', '.join(inside)}")
    return "extrapolation: " + "; ".join(parts)


# ---- identifiability guard ----------------------------------------------------------------------------------
ALLOW_HINT = "pass --allow-unidentified (Python: allow_unidentified=True) to answer anyway"


def unidentified_guard(law: AnyLaw, answer: str, depends_on: Iterable[str] | None = None, *,
                       allow: bool = False) -> list[str]:
    """Refuse an answer that depends on parameters the law's data do not determine; else warnings.

    ``depends_on``: the natural parameter names the answer depends on (None: all of them). A fitted law's
    ``unidentified`` parameters (:mod:`scalinglab.fitting.identify`) that the answer depends on raise a
    ScalingLabError naming them and the way out, unless ``allow``; then, and for unidentified parameters
    the answer does not depend on (the loss level E of a compute-optimal allocation), the returned
    warnings name them. Published laws carry no such list and give no warnings."""
    names = list(getattr(law, "unidentified", None) or [])
    if not names:
        return []
    why = getattr(law, "unidentified_why", {}) or {}
    needed = [p for p in names if depends_on is None or p in set(depends_on)]
    if needed and not allow:
        reasons = "; ".join(f"{p}: {why.get(p, 'not determined')}" for p in needed)
        raise ScalingLabError(f"{answer} depends on {', '.join(needed)}, which the data of law {law_name(law)} "
                              f"do not determine ({reasons}); refit on data that determine "
                              f"{'it' if len(needed) == 1 else 'them'}, or {ALLOW_HINT}")
    out = [f"{answer} depends on {', '.join(needed)}, which the data do not determine: it is answered only "
           "because unidentified parameters were allowed, and it should not be trusted"] if needed else []
    level = [p for p in names if p not in needed]
    if level:
        out.append(f"{', '.join(level)} {'is' if len(level) == 1 else 'are'} not determined by the data; "
                   f"{answer} does not depend on {'it' if len(level) == 1 else 'them'}, but any loss "
                   "printed with it does")
    return out


def allocation_params(law: AnyLaw) -> list[str]:
    """The parameters a compute-optimal allocation depends on: all but the family's additive loss level
    (``LawFamily.level_params``, e.g. E of L = E + A/N^alpha + B/D^beta), which shifts the loss but not
    the N that minimises it."""
    level = set(getattr(law.family, "level_params", ()))
    return [p for p in law.family.param_names if p not in level]
