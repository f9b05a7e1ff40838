"""Published scaling-law fits: a family, its natural-scale constants, the source and the units.

Each entry can predict directly::

    from scalinglab.laws.published import get_published
    get_published("hoffmann2022").predict(params=70e9, tokens=1.4e12)   # 1.9366 nats/token

Keys: ``hoffmann2022``, ``hoffmann2022-unrounded``, ``besiroglu2024``, ``kaplan2020-n``,
``kaplan2020-d``, ``kaplan2020-c``, ``kaplan2020-c-naive``, ``kaplan2020-nd``, ``kaplan2020-ns``,
``muennighoff2023``; ``kaplan2020`` is an alias of ``kaplan2020-nd`` (Kaplan's joint L(N, D) law, Table 2).
Kaplan's two compute laws differ in what C is: ``kaplan2020-c`` is L(C_min) (eq. 1.3, the compute at a
batch far below the critical batch), ``kaplan2020-c-naive`` the "naive" L(C) of Table 5 (eq. 3.3, the
training compute of the runs at their fixed batch of 2^19 tokens); C_min = C / (1 + B/B_crit) (eq. 5.5).

Losses are not comparable across papers: each is a loss on its own data set and tokenizer, and the
parameter count conventions differ (Kaplan counts non-embedding parameters, Hoffmann all parameters).

Each entry carries ``data_range``, the span of its source's runs where the paper states it
(``HOFFMANN_RANGE`` and the others below, each with the passage it comes from), so that answers can say
how far they extrapolate (:func:`scalinglab.resolve.extrapolation`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalinglab.counting import PF_DAY_FLOPS, flops_from
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError
from scalinglab.laws.base import LawFamily
from scalinglab.laws.chinchilla import Chinchilla
from scalinglab.laws.kaplan import KaplanND, KaplanNS
from scalinglab.laws.muennighoff import R_D_STAR, R_N_STAR, DataConstrained
from scalinglab.laws.power import Power


@dataclass(frozen=True, repr=False)
class PublishedLaw(Displayed):
    """A published fit of a law family, with its constants, citation and units."""

    _display = (("key", ""), ("family", "", lambda law: law.family.name), ("params", "natural scale"),
                ("citation", ""))

    key: str  # e.g. "hoffmann2022"
    family: LawFamily  # the family instance
    params: dict[str, float]  # natural-scale values keyed by family.param_names
    citation: str  # paper, year, table/equation
    units: str  # what L, N, D, C, S mean for these constants
    notes: str = ""
    #: range of the source's runs per quantity ("params", "tokens", "flops"): [min, max], either end
    #: None where the source does not say; a quantity absent = not known. See DATA_RANGES below.
    data_range: dict[str, tuple[float | None, float | None]] | None = None
    data_range_source: str = ""

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
            "data_range": None if self.data_range is None else {k: list(v) for k, v in self.data_range.items()},
            "data_range_source": self.data_range_source,
        }


# ---- the entries ------------------------------------------------------------------------------------
_HOFFMANN = "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models (arXiv:2203.15556)"
_HOFFMANN_UNITS = ("loss in nats/token on MassiveText; N counts all parameters incl. embeddings; "
                   "D training tokens")
_KAPLAN = "Kaplan et al. 2020, Scaling Laws for Neural Language Models (arXiv:2001.08361)"
_KAPLAN_UNITS = "loss in nats/token on WebText2; N non-embedding parameters"

# ---- the range of each source's runs (how far an answer extrapolates: scalinglab.resolve.extrapolation)
#: Hoffmann et al. 2022: abstract, "over 400 language models ranging from 70 million to over 16 billion
#: parameters on 5 to 500 billion tokens"; sec. 3.2, the IsoFLOP profiles use "9 different training FLOP
#: counts (ranging from 6 x 10^18 to 3 x 10^21 FLOPs)". Approach 3 (sec. 3.3) fits the final losses of
#: Approaches 1 and 2; the paper gives no FLOP range for Approach 1's runs (its Figure 4, as digitised by
#: Besiroglu et al. 2024, spans about 1.4e18 to 1.3e22 FLOPs), so the FLOP range is the IsoFLOP one.
HOFFMANN_RANGE: dict[str, tuple[float | None, float | None]] = {
    "params": (7e7, 1.6e10), "tokens": (5e9, 5e11), "flops": (6e18, 3e21)}
_HOFFMANN_RANGE_SOURCE = ("Hoffmann et al. 2022, abstract (70M to over 16B parameters, 5B to 500B tokens) and "
                          "sec. 3.2 (IsoFLOP budgets 6e18 to 3e21 FLOPs)")
#: Besiroglu et al. 2024 refit the points they extracted from Hoffmann et al.'s Figure 4 (their sec. 2),
#: dropping the 5 highest-loss ones: the 240 points of epoch-research/analyzing-chinchilla
#: data/svg_extracted_data.csv span N = 5.73e7 .. 1.62e10, C = 1.40e18 .. 1.30e22 and D = C / (6N) =
#: 8.19e8 .. 3.18e11 (computed from that file; the paper does not print the range).
BESIROGLU_RANGE: dict[str, tuple[float | None, float | None]] = {
    "params": (5.73e7, 1.62e10), "tokens": (8.19e8, 3.18e11), "flops": (1.40e18, 1.30e22)}
_BESIROGLU_RANGE_SOURCE = ("the 240 points Besiroglu et al. 2024 fit (Hoffmann et al. Figure 4 as digitised, "
                           "sec. 2, 5 highest-loss points dropped), D = C/(6N)")
#: Kaplan et al. 2020 sec. 3: "Model size (ranging in size from 768 to 1.5 billion non-embedding
#: parameters)", "Dataset size (ranging from 22 million to 23 billion tokens)". Sec. 3 prints no FLOP
#: range, so flops is left unknown (the N range is of non-embedding parameters, as the laws use).
KAPLAN_RANGE: dict[str, tuple[float | None, float | None]] = {"params": (768.0, 1.5e9), "tokens": (2.2e7, 2.3e10)}
_KAPLAN_RANGE_SOURCE = ("Kaplan et al. 2020 sec. 3 (768 to 1.5B non-embedding parameters, 22M to 23B tokens); "
                        "no FLOP range printed")
#: Kaplan's naive L(C) (sec. 3.3) is fitted to the runs at the fixed batch B = 2^19 tokens and 2.5e5 steps
#: (sec. 2.2, "unless otherwise noted") of 768 to 1.5e9 non-embedding parameters (sec. 3): no run spent more
#: than C = 6 N B S = 6 x 1.5e9 x 2^19 x 2.5e5 = 1.18e21 FLOPs (13.7 PF-days), computed here, not printed.
#: The low end is not stated in the text (Figure 1's axis reaches about 1e-9 PF-days; not used).
KAPLAN_NAIVE_C_RANGE: dict[str, tuple[float | None, float | None]] = {
    **KAPLAN_RANGE, "flops": (None, flops_from(1.5e9, 2.0**19 * 2.5e5))}
_KAPLAN_NAIVE_C_RANGE_SOURCE = ("Kaplan et al. 2020 sec. 2.2 (fixed 2.5e5 steps of 512 x 1024 tokens) and sec. 3 "
                                "(768 to 1.5B non-embedding parameters): at most 6 N B S = 1.18e21 FLOPs per "
                                "run (computed); no lower end printed")
#: Muennighoff et al. 2023, abstract: experiments "ranging up to 900 billion training tokens and 9 billion
#: parameter models"; the smallest sizes are not stated as a range there, so only the upper ends are known.
MUENNIGHOFF_RANGE: dict[str, tuple[float | None, float | None]] = {"params": (None, 9e9), "tokens": (None, 9e11)}
_MUENNIGHOFF_RANGE_SOURCE = ("Muennighoff et al. 2023, abstract (up to 9B parameters and 900B training tokens; "
                             "lower ends not stated)")


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
        data_range=HOFFMANN_RANGE, data_range_source=_HOFFMANN_RANGE_SOURCE,
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
        data_range=HOFFMANN_RANGE, data_range_source=_HOFFMANN_RANGE_SOURCE,
    ),
    PublishedLaw(
        key="besiroglu2024",
        family=Chinchilla(),
        params={"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658},
        citation=("Besiroglu et al. 2024, Chinchilla Scaling: A replication attempt (Epoch AI), Table 1 "
                  "(arXiv:2404.10102)"),
        units=_HOFFMANN_UNITS + " (refit of data extracted from Hoffmann et al. Figure 4)",
        notes="L(70e9, 1.4e12) = 1.9739.",
        data_range=BESIROGLU_RANGE, data_range_source=_BESIROGLU_RANGE_SOURCE,
    ),
    PublishedLaw(
        key="kaplan2020-n",
        family=Power("params"),
        params=_kaplan_power(0.076, 8.8e13),
        citation=f"{_KAPLAN}, eq. 1.1: L(N) = (N_c/N)^alpha_N",
        units=_KAPLAN_UNITS + "; models trained to convergence on enough data",
        notes="alpha_N = 0.076, N_c = 8.8e13 (non-embedding parameters); A = N_c^alpha_N.",
        data_range=KAPLAN_RANGE, data_range_source=_KAPLAN_RANGE_SOURCE,
    ),
    PublishedLaw(
        key="kaplan2020-d",
        family=Power("tokens"),
        params=_kaplan_power(0.095, 5.4e13),
        citation=f"{_KAPLAN}, eq. 1.2: L(D) = (D_c/D)^alpha_D",
        units="loss in nats/token on WebText2; D training tokens (large models, early stopping)",
        notes="alpha_D = 0.095, D_c = 5.4e13 tokens; A = D_c^alpha_D.",
        data_range=KAPLAN_RANGE, data_range_source=_KAPLAN_RANGE_SOURCE,
    ),
    PublishedLaw(
        key="kaplan2020-c",
        family=Power("flops"),
        params=_kaplan_power(0.050, 3.1e8 * PF_DAY_FLOPS),
        citation=f"{_KAPLAN}, eq. 1.3 and Table 5: L(C_min) = (C_c/C_min)^alpha_C_min",
        units=(_KAPLAN_UNITS + "; C = C_min, the compute at a batch far below the critical batch (a count of "
               "FLOPs); a run at B = B_crit spends C = 2 C_min (eq. 5.5)"),
        notes=("alpha_C_min = 0.050, C_c = 3.1e8 PF-days, converted to FLOPs with 1 PF-day = 8.64e19 "
               "(C_c = 2.6784e28 FLOPs); A = C_c^alpha. Pass flops in FLOPs, not PF-days."),
        data_range=KAPLAN_RANGE, data_range_source=_KAPLAN_RANGE_SOURCE,
    ),
    PublishedLaw(
        key="kaplan2020-c-naive",
        family=Power("flops"),
        params=_kaplan_power(0.057, 1.6e7 * PF_DAY_FLOPS),
        citation=(f"{_KAPLAN}, sec. 3.3, eq. 3.3: L(C) = (C_c/C)^alpha_C, the 'naive' fit of Tables 4 and 5 "
                  "(fixed batch size; alpha_C = 0.057, C_c = 1.6e7 PF-days)"),
        units=(_KAPLAN_UNITS + "; C = the training compute 6NBS of runs at the fixed batch B = 2^19 tokens "
               "(a count of FLOPs), not C_min"),
        notes=("Fit to the best run at each compute of the fixed-batch runs (sec. 3.3: 'the batch size B remains "
               "fixed for all models, which means that these empirical results are not truly optimal'); Kaplan's "
               "footnote to eq. 1.3: 'it is the trend with C_min that should be used to make predictions' "
               "(kaplan2020-c). C_c = 1.6e7 PF-days = 1.3824e27 FLOPs; A = C_c^alpha. Pass flops in FLOPs."),
        data_range=KAPLAN_NAIVE_C_RANGE, data_range_source=_KAPLAN_NAIVE_C_RANGE_SOURCE,
    ),
    PublishedLaw(
        key="kaplan2020-nd",
        family=KaplanND(),
        params={"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103},
        citation=f"{_KAPLAN}, eq. 1.5 / 4.1, Table 2",
        units=_KAPLAN_UNITS + "; D training tokens (early-stopped)",
        notes="Also available under the alias 'kaplan2020'.",
        data_range=KAPLAN_RANGE, data_range_source=_KAPLAN_RANGE_SOURCE,
    ),
    PublishedLaw(
        key="kaplan2020-ns",
        family=KaplanNS(),
        params={"N_c": 6.5e13, "S_c": 2.1e3, "alpha_N": 0.077, "alpha_S": 0.76},
        citation=f"{_KAPLAN}, eq. 1.6 / 5.6, Table 3",
        units=_KAPLAN_UNITS + "; S = S_min, optimiser steps adjusted for batch size (sec. 5.1)",
        notes="Valid in the large-batch regime with converged learning-rate schedules.",
        data_range=KAPLAN_RANGE, data_range_source=_KAPLAN_RANGE_SOURCE,
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
        data_range=MUENNIGHOFF_RANGE, data_range_source=_MUENNIGHOFF_RANGE_SOURCE,
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
