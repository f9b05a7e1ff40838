"""Published compute-optimal rules: N_opt ∝ C^a and/or D_opt ∝ C^b as the papers state them.

A rule gives one or two quantities as Q = k (C / unit)^p, C the training compute in FLOPs (a count);
the other is derived, and says so in ``RuleAllocation.derived``:

* through C = 6ND (Kaplan et al. 2020 sec. 2.1): ``tokens = C / (6 params)`` or ``params = C / (6 tokens)``;
* Kaplan et al. 2020 (rule ``kaplan2020``, :class:`KaplanRule`) states its allocation in C_min, the compute
  at a batch far below the critical batch (sec. 1.3), not in the compute a run spends: C is converted with
  eq. 5.5, C_min = C / (1 + B/B_crit) (C = 2 C_min at the critical batch, the default), and every quantity
  comes from Table 6 at that C_min (:func:`scalinglab.plan.sample_efficiency.kaplan_frontier`), tokens
  included (D_opt = 2e10 C_min^0.27, one epoch at B_crit, eq. 6.7); ``c_min=True`` takes C_min directly;
* through C = M D (DeepSeek-AI 2024 sec. 3): M is the non-embedding training FLOPs per token including
  attention; the rule's ``params`` is M / 6, which ignores the attention term (so it overstates N a
  little, most for small models with long sequences).

Several papers print only the exponents; those rules need a normalisation, and each entry states
the one it uses (``normalisation``) and how sure it is (status tags of docs/references.md: [V] read in the paper,
[R] reproduced, [S] secondary source, [M] from memory, not re-read).

Example::

    from scalinglab.plan.rules import get_rule
    get_rule("llama3").optimal(3.8e25).tokens            # 1.05e13 tokens (references.md D3)
    get_rule("llama3-unrounded").optimal(3.8e25).tokens  # 1.63e13 tokens: the rounding moves it 55%
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scalinglab.counting import PF_DAY_FLOPS, params_from, tokens_from
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, positive_number
from scalinglab.plan.sample_efficiency import KAPLAN_TABLE6, kaplan_c_min, kaplan_compute, kaplan_frontier

_GOPHER_BUDGET = 5.76e23  # FLOPs, the Gopher / Chinchilla budget (Hoffmann et al. 2022, Table 3)
_HOFFMANN = "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models (arXiv:2203.15556)"
_LLAMA3 = "Llama Team, AI @ Meta 2024, The Llama 3 Herd of Models (arXiv:2407.21783), sec. 3.2.1"
_DEEPSEEK = "DeepSeek-AI 2024, DeepSeek LLM: Scaling Open-Source Language Models with Longtermism (arXiv:2401.02954)"


@dataclass(frozen=True, repr=False)
class RuleAllocation(Displayed):
    """What a rule says at one budget: FLOPs, parameters, tokens, tokens per parameter, and (DeepSeek)
    non-embedding training FLOPs per token; ``derived`` lists the quantities not given by the rule itself."""

    _display = (("key", ""), ("flops", "FLOPs"), ("params", "parameters"), ("tokens", "tokens"),
                ("tokens_per_param", "tokens/parameter"))

    key: str
    flops: float  # training FLOPs C (a count)
    params: float
    tokens: float
    flops_per_token: float | None = None
    derived: dict[str, str] = field(default_factory=dict)  # quantity -> how it was derived
    #: Kaplan's rule only (:class:`KaplanRule`): what the budget given was ("C" or "C_min"), C_min in FLOPs
    #: and PF-days, B/B_crit, the batch and critical batch (tokens), steps S and S_min, loss L(C_min) (nats/token)
    kaplan: dict[str, Any] | None = None

    @property
    def tokens_per_param(self) -> float:
        return self.tokens / self.params

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"rule": self.key, "flops": self.flops, "params": self.params, "tokens": self.tokens,
                             "tokens_per_param": self.tokens_per_param}
        if self.flops_per_token is not None:
            d["flops_per_token"] = self.flops_per_token
        if self.kaplan is not None:
            d.update(self.kaplan)
        d["derived"] = dict(self.derived)
        return d


@dataclass(frozen=True)
class ComputeOptimalRule:
    """A published rule. ``given`` maps a quantity (``params``, ``tokens`` or ``flops_per_token``) to
    (k, p) in quantity = k (C / flops_unit)^p; ``a`` and ``b`` are the exponents of N_opt and D_opt."""

    key: str
    a: float  # N_opt ∝ C^a
    b: float  # D_opt ∝ C^b
    given: dict[str, tuple[float, float]]
    citation: str
    normalisation: str
    units: str
    flops_unit: float = 1.0  # FLOPs per unit of C in the formula (PF-day for Kaplan)
    notes: str = ""
    budget_variable: str = "C"  # the compute the formulas are written in ("C_min" for Kaplan)

    def optimal(self, flops: float) -> RuleAllocation:
        """Parameters and tokens the rule prescribes at ``flops`` FLOPs (see the module docstring for
        what is derived and how)."""
        c = positive_number("flops", flops)  # FLOPs
        q = {name: k * (c / self.flops_unit) ** p for name, (k, p) in self.given.items()}
        derived: dict[str, str] = {}
        if "flops_per_token" in q:
            q.setdefault("tokens", c / q["flops_per_token"])
            q.setdefault("params", params_from(1.0, q["flops_per_token"]))  # N = M / 6: C = 6ND at D = 1 token
            derived["params"] = "flops_per_token / 6 (M = 6N, ignoring the attention term of M)"
        if "params" not in q:
            q["params"] = params_from(q["tokens"], c)
            derived["params"] = "flops / (6 * tokens) (C = 6ND)"
        if "tokens" not in q:
            q["tokens"] = tokens_from(q["params"], c)
            derived["tokens"] = "flops / (6 * params) (C = 6ND)"
        if q["params"] < 1.0 or q["tokens"] < 1.0:
            raise ScalingLabError(f"at {c:g} FLOPs rule {self.key} gives N = {q['params']:.3g} parameters, "
                                  f"D = {q['tokens']:.3g} tokens: below 1 parameter or 1 token, so the budget "
                                  "is too small for this rule (N >= 1 and D >= 1 are required)")
        return RuleAllocation(key=self.key, flops=c, params=q["params"], tokens=q["tokens"],
                              flops_per_token=q.get("flops_per_token"), derived=derived)

    def describe(self) -> dict[str, Any]:
        """Key, exponents, formulas, citation, normalisation, units and notes, for listings."""
        c = self.budget_variable
        unit = c if self.flops_unit == 1.0 else f"({c} / {self.flops_unit:g} FLOPs)"
        formulas = {name: f"{k:g} * {unit}^{p:g}" for name, (k, p) in self.given.items()}
        return {"key": self.key, "a": self.a, "b": self.b, "formulas": formulas, "citation": self.citation,
                "normalisation": self.normalisation, "units": self.units, "notes": self.notes}


@dataclass(frozen=True)
class KaplanRule(ComputeOptimalRule):
    """Kaplan et al. 2020's compute-efficient frontier (Table 6), entered with the compute a run spends.

    ``optimal(C)`` takes C = 6 N B S training FLOPs at batch B = ``batch_over_critical`` x B_crit (1: the
    critical batch, Kaplan's "roughly optimal compromise between time and compute efficiency", sec. 1.3)
    and converts it to C_min = C / (1 + B/B_crit) (eq. 5.5); ``c_min=True`` takes C_min instead, and the
    training FLOPs are then C = C_min (1 + B/B_crit). At that C_min, Table 6 (C_min in PF-days) gives
    N_opt = 1.3e9 C_min^0.73 non-embedding parameters, B_crit = 2.0e6 C_min^0.24 tokens, S_min = 5.4e3
    C_min^0.03 steps and D_opt = 2e10 C_min^0.27 tokens (one epoch at B_crit: E = 2 E_min, eq. 6.7);
    at batch B the run takes S = S_min (1 + B_crit/B) steps (eq. 5.4) and processes D = D_opt (1 + B/B_crit)/2
    tokens (E = E_min (1 + B/B_crit), eq. 5.1). Loss L(C_min) = (3.1e8 PF-days / C_min)^0.050 (Table 5,
    eq. 1.3). Table 6's prefactors are rounded: 6 N D = 1.81 C_min at B_crit against C = 2 C_min
    (references.md B2)."""

    def optimal(self, flops: float, *, c_min: bool = False, batch_over_critical: float = 1.0) -> RuleAllocation:
        """Kaplan's allocation for ``flops`` FLOPs: the training compute C (default) or, with
        ``c_min=True``, C_min; ``batch_over_critical`` = B / B_crit of the run (1 = the critical batch)."""
        value = positive_number("flops", flops)  # FLOPs
        r = positive_number("batch_over_critical", batch_over_critical)
        c_min_flops = value if c_min else kaplan_c_min(value, r)
        c = kaplan_compute(c_min_flops, r)  # training FLOPs at B = r B_crit (eq. 5.5)
        p = kaplan_frontier(c_min_flops)  # Table 6 and Table 5 at C_min
        k = f"{1.0 + r:g}"  # 1 + B/B_crit
        derived = {
            "c_min_flops": (f"given (c_min=True, --c-min); flops = C = C_min (1 + B/B_crit) = {k} C_min, Kaplan eq. 5.5"
                            if c_min else f"C_min = C / (1 + B/B_crit) = C / {k}, Kaplan eq. 5.5"),
            "tokens": (f"Table 6 D_opt = 2e10 C_min^0.27 (one epoch at B = B_crit) x (1 + B/B_crit)/2 = x {(1.0 + r) / 2:g} "
                       "(E = E_min (1 + B/B_crit), eq. 5.1)"),
            "steps": "S = S_min (1 + B_crit/B), eq. 5.4, with Table 6 S_min = 5.4e3 C_min^0.03",
        }
        extra = {"budget": "C_min" if c_min else "C", "c_min_flops": c_min_flops,
                 "c_min_pf_days": p.c_min_pf_days, "batch_over_critical": r,
                 "critical_batch_tokens": p.batch_tokens, "batch_tokens": r * p.batch_tokens,
                 "min_steps": p.steps, "steps": p.steps * (1.0 + 1.0 / r), "loss": p.loss}
        alloc = RuleAllocation(key=self.key, flops=c, params=p.params, tokens=p.tokens * (1.0 + r) / 2.0,
                               derived=derived, kaplan=extra)
        if alloc.params < 1.0 or alloc.tokens < 1.0:
            raise ScalingLabError(f"at C_min = {c_min_flops:g} FLOPs rule {self.key} gives N = {alloc.params:.3g} "
                                  f"parameters, D = {alloc.tokens:.3g} tokens: below 1 parameter or 1 token, so the "
                                  "budget is too small for this rule (N >= 1 and D >= 1 are required)")
        return alloc


def _anchored(a: float, params: float, flops: float = _GOPHER_BUDGET) -> tuple[float, float]:
    """(k, a) with k chosen so that N = k C^a passes through (flops, params)."""
    return params / flops**a, a


_HOFFMANN_UNITS = "N all parameters incl. embeddings; D tokens; C = 6ND training FLOPs (MassiveText)"

_ENTRIES = [
    KaplanRule(
        key="kaplan2020", a=KAPLAN_TABLE6["params"][1], b=KAPLAN_TABLE6["tokens"][1],
        given={"params": KAPLAN_TABLE6["params"], "tokens": KAPLAN_TABLE6["tokens"]}, flops_unit=PF_DAY_FLOPS,
        budget_variable="C_min",
        citation=("Kaplan et al. 2020, Scaling Laws for Neural Language Models (arXiv:2001.08361), Appendix A "
                  "Table 6: N_opt = 1.3e9 C_min^0.73, D_opt = 2e10 C_min^0.27 (C_min in PF-days); eq. 5.5 "
                  "C_min = C / (1 + B/B_crit); sec. 6.3 / eq. 6.7, at the critical batch C = 2 C_min"),
        normalisation=("Kaplan's own: Table 6's prefactors at C_min = 1 PF-day (8.64e19 FLOPs), i.e. C = 2 PF-days "
                       "of training at the critical batch [V: Table 6, eqs. 5.5 and 6.7; references.md B2]"),
        units=("N non-embedding parameters; D tokens; flops = C, the training FLOPs 6NBS at batch B (default "
               "B = B_crit, C = 2 C_min); C_min = compute at a batch far below B_crit (Kaplan sec. 1.3, eq. 5.5)"),
        notes=("Give C (the compute a run spends, default) or C_min (--c-min); B/B_crit (--batch-over-critical, "
               "default 1) sets the conversion. Table 6's rounded prefactors give 6ND = 1.81 C_min at B_crit, "
               "not 2 C_min; eq. 6.7 prints 4e10 C_min^0.26 tokens, but its own formula 2 C_min / (6 N_opt) gives "
               "2.2e10 C_min^0.27, Table 6's value. Hoffmann et al. 2022 attribute much of the gap to their "
               "0.50 to Kaplan's fixed schedule and small models."),
    ),
    ComputeOptimalRule(
        key="hoffmann2022-approach1", a=0.50, b=0.50, given={"params": _anchored(0.50, 67e9)},
        citation=f"{_HOFFMANN}, Table 2 (Approach 1: a = 0.50, b = 0.50) and Table 3",
        normalisation="through Table 3's Approach-1 projection: 67B parameters at 5.76e23 FLOPs [V]",
        units=_HOFFMANN_UNITS,
        notes="Table 3 prints 1.5T tokens for that row; C = 6ND gives 1.43T.",
    ),
    ComputeOptimalRule(
        key="hoffmann2022-approach2", a=0.49, b=0.51, given={"params": _anchored(0.49, 63e9)},
        citation=f"{_HOFFMANN}, Table 2 (Approach 2: a = 0.49, b = 0.51)",
        normalisation=("through Approach 2's projection of 63B parameters at the Gopher budget 5.76e23 FLOPs "
                       "[M: sec. 3 / Figure 1 of the paper, not re-read]"),
        units=_HOFFMANN_UNITS,
    ),
    ComputeOptimalRule(
        key="hoffmann2022-approach3", a=0.46, b=0.54, given={"params": _anchored(0.46, 40.36e9)},
        citation=f"{_HOFFMANN}, Table 2 (Approach 3: a = 0.46, b = 0.54)",
        normalisation=("through 40.36B parameters at 5.76e23 FLOPs, the closed-form optimum G (C/6)^a of the "
                       "unrounded Approach-3 constants (published law 'hoffmann2022-unrounded') [R]; the paper "
                       "quotes 40B"),
        units=_HOFFMANN_UNITS,
        notes="For the full law (loss, intervals) use scalinglab.plan.allocation with 'hoffmann2022-unrounded'.",
    ),
    ComputeOptimalRule(
        key="llama3", a=0.47, b=0.53, given={"tokens": (0.29, 0.53)},
        citation=f"{_LLAMA3}: N*(C) = A C^alpha training tokens, (alpha, A) = (0.53, 0.29) in the text [V]",
        normalisation="the paper's own (A = 0.29 tokens at C = 1 FLOP)",
        units="D training tokens; C training FLOPs; params derived with C = 6ND",
        notes=("Rounded constants: the rounded exponent changes the answer by ~55% at 3.8e25 FLOPs -- 1.05e13 "
               "tokens here against 1.63e13 with the Figure 3 legend values (rule 'llama3-unrounded'); "
               "prefer llama3-unrounded for extrapolation. The paper extrapolates 402B parameters on 16.55T "
               "tokens."),
    ),
    ComputeOptimalRule(
        key="llama3-unrounded", a=0.463, b=0.537, given={"tokens": (0.299, 0.537)},
        citation=f"{_LLAMA3}, Figure 3 legend: alpha = 0.537, A = 0.299 [V]",
        normalisation="the paper's own (A = 0.299 tokens at C = 1 FLOP)",
        units="D training tokens; C training FLOPs; params derived with C = 6ND",
        notes="Prefer these to the rounded text values for extrapolation.",
    ),
    ComputeOptimalRule(
        key="deepseek2024", a=0.5243, b=0.4757,
        given={"flops_per_token": (0.1715, 0.5243), "tokens": (5.8316, 0.4757)},
        citation=(f"{_DEEPSEEK}, sec. 3.2, eq. 4: M_opt = 0.1715 C^0.5243, D_opt = 5.8316 C^0.4757 "
                  "[S]"),
        normalisation="the paper's own; 0.1715 * 5.8316 = 1.0001 and the exponents sum to 1, so M_opt D_opt = C",
        units=("M non-embedding training FLOPs per token incl. attention (72 n_layer d^2 + 12 n_layer d l_seq); "
               "D tokens; C = M D FLOPs; params derived as M / 6 (ignores attention)"),
        notes="a is the exponent of M_opt, which DeepSeek uses in place of N.",
    ),
]

REGISTRY: dict[str, ComputeOptimalRule] = {rule.key: rule for rule in _ENTRIES}


def get_rule(key: str) -> ComputeOptimalRule:
    """The rule under ``key``; ScalingLabError naming the known keys if there is none."""
    rule = REGISTRY.get(key.strip().lower()) if isinstance(key, str) else None
    if rule is None:
        raise ScalingLabError(f"unknown compute-optimal rule '{key}': known rules are {', '.join(REGISTRY)}")
    return rule


def list_rules() -> list[dict[str, Any]]:
    """``describe()`` of every rule."""
    return [rule.describe() for rule in _ENTRIES]
