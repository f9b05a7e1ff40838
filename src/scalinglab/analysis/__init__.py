"""Analyses of fitted scaling laws: how far a prediction can be trusted and what else scales.

Modules (one concept each):

- ``backtest``: extrapolation backtests (hold out the largest runs, rolling thresholds,
  leave-one-size-out), prediction intervals, law-family selection, identifiability warnings.
- ``forecast``: a run's final loss from the first part of its learning curve.
- ``emergence``: downstream accuracy vs scale (sigmoid, two-step), the metric-choice effect,
  a smooth-vs-break test, few-shot scaling, capability thresholds.
- ``groups``: per-group laws, compute-equivalent multipliers, gaps across scale, shape effects.
"""

from __future__ import annotations

# extrapolation you can trust: backtests, prediction intervals, law selection, identifiability
from scalinglab.analysis.backtest import (  # noqa: E402,F401
    BacktestResult, LeaveOneOutResult, backtest, leave_one_size_out, rolling_backtest,
)
from scalinglab.analysis.identifiability import (  # noqa: E402,F401
    fit_identifiability_warnings, identifiability_warnings,
)
from scalinglab.analysis.intervals import PredictionInterval, prediction_interval  # noqa: E402,F401
from scalinglab.analysis.selection import SelectionResult, regime_change, select_law  # noqa: E402,F401
from scalinglab.analysis.groups import GroupComparison, fit_groups, optimal_exponents  # noqa: E402,F401
from scalinglab.analysis.multiplier import (  # noqa: E402,F401
    ComputeMultiplier, GapTrend, compute_multiplier, gap_trend,
)
from scalinglab.analysis.shape import ShapeEffect, shape_effect  # noqa: E402,F401
# emergence and downstream metrics: sigmoid fits, two-step, few-shot, metric choice, break test, thresholds
from scalinglab.analysis.downstream import (  # noqa: E402,F401
    MetricPrediction, SigmoidFit, TwoStepFit, fit_sigmoid, two_step,
)
from scalinglab.analysis.fewshot import FewShotFit, fit_few_shot  # noqa: E402,F401
from scalinglab.analysis.breaktest import smooth_vs_break  # noqa: E402,F401
from scalinglab.analysis.emergence import MetricChoice, emergence, metric_choice  # noqa: E402,F401
from scalinglab.analysis.threshold import (  # noqa: E402,F401
    Threshold, capability_threshold, threshold_widening,
)
