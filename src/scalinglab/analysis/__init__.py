"""Analyses of fitted scaling laws: how far a prediction can be trusted and what else scales.

Modules (one concept each):

- ``intervals``: prediction intervals (bootstrap parameter uncertainty + run-to-run noise).
- ``calibration``: rolling-origin refits that calibrate a fit's intervals to the law's own
  extrapolation errors (``interval="calibrated"``).
- ``backtest``: extrapolation backtests (hold out the largest runs, rolling thresholds,
  leave-one-size-out).
- ``selection``: law-family selection by held-out error and AIC/BIC; regime changes.
- ``identifiability``: warnings about designs that cannot pin a law down.
- ``forecast``, ``forecast_shared``, ``forecast_backtest``: a run's final loss from the first part
  of its learning curve (single-run and shared fits), and how the error shrinks with the fraction seen.
- ``downstream``, ``fewshot``: accuracy vs scale (sigmoid, the two-step method), few-shot joint fits.
- ``emergence``, ``breaktest``: the metric-choice effect and the smooth-vs-break test.
- ``threshold``: the compute at which a loss or metric crosses a target, with its interval.
- ``groups``, ``group_tests``, ``multiplier``, ``shape``: per-group laws, exponent tests,
  compute-equivalent multipliers and gap trends, depth/width shape effects.
- ``capabilities``, ``observational``: observational scaling laws (Ruan et al. 2024): principal
  capability measures of public models' benchmark scores and held-out predictions from them.
"""

from __future__ import annotations

# extrapolation you can trust: backtests, prediction intervals, law selection, identifiability
from scalinglab.analysis.backtest import (  # noqa: E402,F401
    BacktestResult,
    LeaveOneOutResult,
    backtest,
    leave_one_size_out,
    rolling_backtest,
)
from scalinglab.analysis.breaktest import smooth_vs_break  # noqa: E402,F401
from scalinglab.analysis.calibration import calibrate  # noqa: E402,F401
from scalinglab.analysis.capabilities import CapabilityPCA, capability_pca  # noqa: E402,F401

# emergence and downstream metrics: sigmoid fits, two-step, few-shot, metric choice, break test, thresholds
from scalinglab.analysis.downstream import (  # noqa: E402,F401
    MetricPrediction,
    SigmoidFit,
    TwoStepFit,
    fit_sigmoid,
    two_step,
)
from scalinglab.analysis.emergence import MetricChoice, emergence, metric_choice  # noqa: E402,F401
from scalinglab.analysis.fewshot import FewShotFit, fit_few_shot  # noqa: E402,F401
from scalinglab.analysis.forecast import Forecast, forecast_run, load_curves  # noqa: E402,F401
from scalinglab.analysis.forecast_backtest import (  # noqa: E402,F401
    backtest_summary,
    forecast_backtest,
    simulate_learning_curves,
)
from scalinglab.analysis.forecast_shared import forecast_shared  # noqa: E402,F401
from scalinglab.analysis.groups import GroupComparison, fit_groups, optimal_exponents  # noqa: E402,F401
from scalinglab.analysis.identifiability import (  # noqa: E402,F401
    fit_identifiability_warnings,
    identifiability_warnings,
)
from scalinglab.analysis.intervals import PredictionInterval, prediction_interval  # noqa: E402,F401
from scalinglab.analysis.multiplier import (  # noqa: E402,F401
    ComputeMultiplier,
    GapTrend,
    compute_multiplier,
    gap_trend,
)
from scalinglab.analysis.observational import ObservationalResult, observational  # noqa: E402,F401
from scalinglab.analysis.schedule import (  # noqa: E402,F401
    ScheduleFit,
    compare_schedules,
    fit_schedule_law,
    load_schedule_curves,
)
from scalinglab.analysis.selection import SelectionResult, regime_change, select_law  # noqa: E402,F401
from scalinglab.analysis.shape import ShapeEffect, shape_effect  # noqa: E402,F401
from scalinglab.analysis.threshold import (  # noqa: E402,F401
    Threshold,
    capability_threshold,
    threshold_widening,
)
