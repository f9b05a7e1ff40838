"""Data-constrained planning with the law of Muennighoff et al. 2023 (arXiv:2305.16264).

The law itself -- effective data D' and effective parameters N' under repeated epochs, and
L(N, D, U_D) = E + A/N'^alpha + B/D'^beta -- is the ``muennighoff`` family in
:mod:`scalinglab.laws.muennighoff`, with the paper's constants registered as ``muennighoff2023``. This
module answers planning questions with it: the effective data and parameters of a run, and the best
model size and number of epochs for a FLOP budget when unique tokens are capped. Units: N parameters,
D and U_D tokens, FLOPs a count, loss in nats/token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError, count_array, count_number
from scalinglab.laws.base import Array
from scalinglab.laws.muennighoff import R_D_STAR, DataConstrained, _decayed, _positive  # noqa: F401 (re-exported)
from scalinglab.laws.published import PublishedLaw, get_published
from scalinglab.plan.allocation import Allocation, allocate
from scalinglab.resolve import AnyLaw, LawLike, resolve_law

#: The paper's fit, as registered under ``muennighoff2023`` in :mod:`scalinglab.laws.published`.
MUENNIGHOFF2023 = get_published("muennighoff2023")


def effective_data(tokens: Any, unique_tokens: Any, r_d_star: float = R_D_STAR) -> Array:
    """Effective data D' (tokens) of D training tokens drawn from U_D unique tokens (Muennighoff et al.
    2023 eq. 5): D' = U_D (1 + R_D* (1 - exp(-R_D/R_D*))), R_D = D/U_D - 1; D' = D when D <= U_D.
    At 4 epochs D'/U_D = 3.7257; the limit is 1 + R_D* = 16.3878."""
    D, U = count_array("tokens", tokens), count_array("unique_tokens", unique_tokens)
    r = _positive("r_d_star", r_d_star)
    seen = np.minimum(U, D)
    with np.errstate(over="ignore"):  # R / R* -> inf for a tiny R*: exp(-inf) = 0, the limit
        return _decayed(seen, D / seen - 1.0, r)


def effective_params(params: Any, unique_tokens: Any, law: PublishedLaw = MUENNIGHOFF2023) -> Array:
    """Effective parameters N' (Muennighoff et al. 2023 eq. 5): U_N = min(N, N_opt(U_D)),
    N_opt(U) = G (U G)^(beta/alpha), R_N = N/U_N - 1, N' = U_N (1 + R_N* (1 - exp(-R_N/R_N*)))."""
    N, U = count_array("params", params), count_array("unique_tokens", unique_tokens)
    p = law.params
    g = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1.0 / (p["alpha"] + p["beta"]))
    u_n = np.minimum(N, g * (U * g) ** (p["beta"] / p["alpha"]))
    return _decayed(u_n, N / u_n - 1.0, p["R_N_star"])


@dataclass(repr=False)
class CappedAllocation(Allocation):
    """A compute-optimal allocation with at most ``unique_tokens`` unique tokens: ``tokens`` may repeat,
    ``epochs`` = tokens / unique_tokens."""

    _display = (("flops", "FLOPs"), ("params", "parameters"), ("tokens", "tokens"), ("loss", "nats/token"),
                ("unique_tokens", "tokens"), ("epochs", "epochs"), ("method", ""))

    unique_tokens: float = 0.0
    epochs: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(unique_tokens=self.unique_tokens, epochs=self.epochs)
        return d


def _resolve(law: LawLike) -> AnyLaw:
    if isinstance(law, str) and law.strip().lower() == MUENNIGHOFF2023.key:
        return MUENNIGHOFF2023
    return resolve_law(law)


def optimal_with_unique_cap(law: LawLike, flops: float, unique_tokens: float, *,
                            allow_unidentified: bool = False) -> CappedAllocation:
    """The best N (parameters) and D (training tokens, possibly many epochs) at ``flops`` FLOPs
    (C = 6ND) when only ``unique_tokens`` unique tokens exist, by numerical minimisation of
    L(N, C/(6N), U_D) over N. ``law``: a data-constrained law (``MUENNIGHOFF2023``, the key
    ``"muennighoff2023"`` or a fit of :class:`DataConstrained`). A fit whose data leave a parameter of
    the allocation undetermined is refused unless ``allow_unidentified`` (as :func:`allocate`)."""
    resolved = _resolve(law)
    if "unique_tokens" not in resolved.family.variables:
        raise ScalingLabError(f"law {resolved.family.label} does not model repeated data (it reads no "
                              "unique_tokens): use a data-constrained law such as muennighoff2023")
    U = count_number("unique_tokens", unique_tokens)
    base = allocate(resolved, flops, {"unique_tokens": U}, allow_unidentified=allow_unidentified)
    return CappedAllocation(**vars(base), unique_tokens=U, epochs=base.tokens / U)
