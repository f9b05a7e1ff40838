"""``sl.optimal``: every way scalinglab answers "how big a model, on how many tokens, for C FLOPs".

One namespace over the modules that do the work (C = 6ND throughout, C in FLOPs, N parameters,
D tokens, loss in nats/token):

* from a law (fitted or published): :func:`optimal_allocation`, :func:`optimal_frontier`
  (closed form for the chinchilla family, Hoffmann et al. 2022 eq. 4; numerical otherwise; with
  bootstrap intervals when the fit has draws) -- :mod:`scalinglab.plan.allocation`;
* from runs: Hoffmann et al.'s approaches 1, 2, 3 (:func:`fit_approach`) and
  :func:`compare_approaches` -- :mod:`scalinglab.plan.approaches`, :mod:`scalinglab.plan.isoflop`;
* published rules (Kaplan 2020, Hoffmann 2022, Llama 3, DeepSeek 2024): :func:`get_rule`,
  :func:`list_rules` -- :mod:`scalinglab.plan.rules`;
* inference-aware optimum (Sardana et al. 2023): :func:`inference_optimal` --
  :mod:`scalinglab.plan.inference_aware`;
* the token multiplier M = D/N minimising training + inference FLOPs at a target loss, with an
  ``overtrain`` law (Gadre et al. 2024) or a Chinchilla one: :func:`optimal_multiplier` --
  :mod:`scalinglab.plan.overtraining`;
* data-constrained optimum (Muennighoff et al. 2023): :func:`optimal_with_unique_cap`,
  :func:`effective_data`, :func:`effective_params` -- :mod:`scalinglab.plan.data_constrained`;
* Kaplan et al. 2020 sample efficiency, overfitting and the compute-efficient frontier --
  :mod:`scalinglab.plan.sample_efficiency`.
"""

from scalinglab.plan.allocation import Allocation, optimal_allocation, optimal_frontier, parse_flops_range
from scalinglab.plan.approaches import ApproachResult, compare_approaches, fit_approach
from scalinglab.plan.data_constrained import (
    CappedAllocation,
    effective_data,
    effective_params,
    optimal_with_unique_cap,
)
from scalinglab.plan.inference_aware import InferenceOptimum, inference_optimal, tokens_for_loss
from scalinglab.plan.overtraining import MultiplierOptimum, optimal_multiplier
from scalinglab.plan.rules import ComputeOptimalRule, RuleAllocation, get_rule, list_rules
from scalinglab.plan.sample_efficiency import (
    compute_to_reach,
    early_stopping_step,
    kaplan_frontier,
    overfitting_threshold_tokens,
    sample_efficiency,
    tokens_to_reach,
)

__all__ = [
    "Allocation", "ApproachResult", "CappedAllocation", "ComputeOptimalRule", "InferenceOptimum",
    "MultiplierOptimum", "optimal_multiplier",
    "RuleAllocation", "compare_approaches", "compute_to_reach", "early_stopping_step", "effective_data",
    "effective_params", "fit_approach", "get_rule", "inference_optimal", "kaplan_frontier", "list_rules",
    "optimal_allocation", "optimal_frontier", "optimal_with_unique_cap", "overfitting_threshold_tokens",
    "parse_flops_range", "sample_efficiency", "tokens_for_loss", "tokens_to_reach",
]
