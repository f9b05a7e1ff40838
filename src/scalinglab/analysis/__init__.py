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
