"""Published scaling-law fits: a family, its natural-scale constants, the source and the units.

Each entry can predict directly::

    from scalinglab.laws.published import get_published
    get_published("hoffmann2022").predict(params=70e9, tokens=1.4e12)   # 1.9366 nats/token

Keys: ``hoffmann2022``, ``hoffmann2022-unrounded``, ``besiroglu2024``, ``kaplan2020-n``,
``kaplan2020-d``, ``kaplan2020-c``, ``kaplan2020-nd``, ``kaplan2020-ns``, ``muennighoff2023``;
``kaplan2020`` is an alias of ``kaplan2020-nd`` (Kaplan's joint L(N, D) law, Table 2).

Losses are not comparable across papers: each is a loss on its own data set and tokenizer, and the
parameter count conventions differ (Kaplan counts non-embedding parameters, Hoffmann all parameters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.laws.base import LawFamily
from scalinglab.laws.chinchilla import Chinchilla
from scalinglab.laws.kaplan import KaplanND, KaplanNS
from scalinglab.laws.muennighoff import R_D_STAR, R_N_STAR, DataConstrained
from scalinglab.laws.power import Power
from scalinglab.units import PF_DAY_FLOPS


@dataclass(frozen=True)
class PublishedLaw:
    """A published fit of a law family, with its constants, citation and units."""

    key: str  # e.g. "hoffmann2022"
    family: LawFamily  # the family instance
    params: dict[str, float]  # natural-scale values keyed by family.param_names
    citation: str  # paper, year, table/equation
    units: str  # what L, N, D, C, S mean for these constants
    notes: str = ""

    def __post_init__(self) -> None:
        if set(self.params) != set(self.family.param_names):
            raise ScalingLabError(f"published law '{self.key}': params {sorted(self.params)} do not match "
                                  f"{self.family.label}'s {list(self.family.param_names)}")

    def predict(self, **X: Any) -> np.ndarray:
        """Predicted loss for the variables of the family (e.g. ``params=..., tokens=...``)."""
        return self.family.predict_natural(self.params, **X)

    def describe(self) -> dict[str, Any]:
        """Key, family, formula, constants, source, units and notes, for listings."""
        return {
            "key": self.key,
            "family": self.family.label,
            "spec": self.family.spec(),
            "formula": self.family.formula,
            "params": dict(self.params),
            "variables": list(self.family.variables),
            "citation": self.citation,
            "units": self.units,
            "notes": self.notes,
        }


# ---- the entries ------------------------------------------------------------------------------------
_HOFFMANN = "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models (arXiv:2203.15556)"
_HOFFMANN_UNITS = ("loss in nats/token on MassiveText; N counts all parameters incl. embeddings; "
                   "D training tokens")
_KAPLAN = "Kaplan et al. 2020, Scaling Laws for Neural Language Models (arXiv:2001.08361)"
_KAPLAN_UNITS = "loss in nats/token on WebText2; N non-embedding parameters"


def _kaplan_power(alpha: float, x_c: float) -> dict[str, float]:
    """Power-law constants for Kaplan's L = (x_c/x)^alpha written as A x^(-alpha): A = x_c^alpha."""
    return {"A": x_c**alpha, "alpha": alpha}


_ENTRIES = [
    PublishedLaw(
        key="hoffmann2022",
        family=Chinchilla(),
        params={"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28},
        citation=f"{_HOFFMANN}, Approach 3, eq. 10",
        units=_HOFFMANN_UNITS,
        notes="Rounded constants as printed; L(70e9, 1.4e12) = 1.9366.",
    ),
    PublishedLaw(
        key="hoffmann2022-unrounded",
        family=Chinchilla(),
        params={"E": math.exp(0.5267228), "A": math.exp(6.0073404), "B": math.exp(6.0179186),
                "alpha": 0.33917084, "beta": 0.2849083},
        citation=f"{_HOFFMANN}, Approach 3 before rounding (comment after eq. 10 in the arXiv v1 TeX source)",
        units=_HOFFMANN_UNITS,
        notes=("ln A = 6.0073404, ln B = 6.0179186, ln E = 0.5267228 as stored in the source; the same values "
               "are used by Besiroglu et al. 2024 as Hoffmann's estimates. Prefer these for extrapolation: "
               "rounding the exponents moves compute-optimal allocations noticeably."),
    ),
    PublishedLaw(
        key="besiroglu2024",
        family=Chinchilla(),
        params={"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658},
        citation=("Besiroglu et al. 2024, Chinchilla Scaling: A replication attempt (Epoch AI), Table 1 "
                  "(arXiv:2404.10102)"),
        units=_HOFFMANN_UNITS + " (refit of data extracted from Hoffmann et al. Figure 4)",
        notes="L(70e9, 1.4e12) = 1.9739.",
    ),
    PublishedLaw(
        key="kaplan2020-n",
        family=Power("params"),
        params=_kaplan_power(0.076, 8.8e13),
        citation=f"{_KAPLAN}, eq. 1.1: L(N) = (N_c/N)^alpha_N",
        units=_KAPLAN_UNITS + "; models trained to convergence on enough data",
        notes="alpha_N = 0.076, N_c = 8.8e13 (non-embedding parameters); A = N_c^alpha_N.",
    ),
    PublishedLaw(
        key="kaplan2020-d",
        family=Power("tokens"),
        params=_kaplan_power(0.095, 5.4e13),
        citation=f"{_KAPLAN}, eq. 1.2: L(D) = (D_c/D)^alpha_D",
        units="loss in nats/token on WebText2; D training tokens (large models, early stopping)",
        notes="alpha_D = 0.095, D_c = 5.4e13 tokens; A = D_c^alpha_D.",
    ),
    PublishedLaw(
        key="kaplan2020-c",
        family=Power("flops"),
        params=_kaplan_power(0.050, 3.1e8 * PF_DAY_FLOPS),
        citation=f"{_KAPLAN}, eq. 1.3: L(C_min) = (C_c/C_min)^alpha_C_min",
        units=_KAPLAN_UNITS + "; C = C_min, the compute-efficient training FLOPs (a count)",
        notes=("alpha_C_min = 0.050, C_c = 3.1e8 PF-days, converted to FLOPs with 1 PF-day = 8.64e19 "
               "(C_c = 2.6784e28 FLOPs); A = C_c^alpha. Pass flops in FLOPs, not PF-days."),
    ),
    PublishedLaw(
        key="kaplan2020-nd",
        family=KaplanND(),
        params={"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103},
        citation=f"{_KAPLAN}, eq. 1.5 / 4.1, Table 2",
        units=_KAPLAN_UNITS + "; D training tokens (early-stopped)",
        notes="Also available under the alias 'kaplan2020'.",
    ),
    PublishedLaw(
        key="kaplan2020-ns",
        family=KaplanNS(),
        params={"N_c": 6.5e13, "S_c": 2.1e3, "alpha_N": 0.077, "alpha_S": 0.76},
        citation=f"{_KAPLAN}, eq. 1.6 / 5.6, Table 3",
        units=_KAPLAN_UNITS + "; S = S_min, optimiser steps adjusted for batch size (sec. 5.1)",
        notes="Valid in the large-batch regime with converged learning-rate schedules.",
    ),
    PublishedLaw(  # Muennighoff et al. 2023 (the datablations README stores ln E, ln A, ln B)
        key="muennighoff2023",
        family=DataConstrained(),
        params={"E": math.exp(0.6254804), "A": math.exp(6.255414), "B": math.exp(7.3049974),
                "alpha": 0.3526596, "beta": 0.3526596, "R_D_star": R_D_STAR, "R_N_star": R_N_STAR},
        citation=("Muennighoff et al. 2023, Scaling Data-Constrained Language Models (arXiv:2305.16264), eq. 5; "
                  "constants from the huggingface/datablations README, Parametric Fit"),
        units=("loss in nats/token (C4 validation); N parameters; D training tokens over all epochs; "
               "U_D unique tokens"),
        notes=("ln E = 0.6254804, ln A = 6.255414, ln B = 7.3049974 (E = 1.8691, A = 520.82, B = 1487.72); "
               "L(6.34e9, 242e9, 25e9) = 2.2256440890."),
    ),
]

ALIASES: dict[str, str] = {"kaplan2020": "kaplan2020-nd"}

REGISTRY: dict[str, PublishedLaw] = {law.key: law for law in _ENTRIES}
REGISTRY.update({alias: REGISTRY[target] for alias, target in ALIASES.items()})


def get_published(key: str) -> PublishedLaw:
    """The published law under ``key`` (an alias gives its target); ScalingLabError if unknown."""
    law = REGISTRY.get(key.strip().lower()) if isinstance(key, str) else None
    if law is None:
        raise ScalingLabError(f"unknown published law '{key}': known keys are {', '.join(REGISTRY)}")
    return law


def list_published() -> list[dict[str, Any]]:
    """``describe()`` of every published law (aliases listed under ``aliases`` of their target)."""
    out = []
    for law in _ENTRIES:
        d = law.describe()
        d["aliases"] = [a for a, t in ALIASES.items() if t == law.key]
        out.append(d)
    return out
