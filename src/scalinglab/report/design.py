"""Which of Hoffmann et al. 2022's three approaches a sweep's design supports (references.md D3).

Approaches 1 and 2 read the compute-optimal size off runs that share a FLOP budget: approach 1 the
lowest loss at each FLOP level (or the envelope of training curves), approach 2 the minimum of each
IsoFLOP profile (sec. 3.1, 3.2). A plain N × D grid -- every model size trained for the same few token
counts -- has no such levels: its FLOP counts C = 6ND (FLOPs) are almost all different, so both
approaches fail budget by budget and fill the report with warnings that say only that the design is
not theirs. Approach 3 (the parametric fit, sec. 3.3) applies to any design.

:func:`sweep_design` names the design:

* ``isoflop``: exact budgets (a ``budget`` column, or FLOP counts equal within
  :data:`scalinglab.plan.isoflop.SAME_BUDGET_RTOL`) with at least 2 budgets of at least 3 distinct
  sizes each -- approaches 1-3 apply;
* ``grid``: not ``isoflop``, at least 2 distinct sizes N (parameters) and 2 distinct token counts D
  (tokens), each size trained for at least 2 of the token counts, the (N, D) pairs covering at least
  :data:`GRID_COVERAGE` of the product -- only approach 3 applies;
* ``scattered``: anything else (e.g. Epoch's Chinchilla points): approaches 1 and 2 run on log-binned
  FLOP levels, with their own warnings.
"""

from __future__ import annotations

import numpy as np

from scalinglab.analysis.identifiability import LEVEL_TOL, distinct_levels
from scalinglab.io import Runs
from scalinglab.plan.isoflop import group_budgets

#: the least share of the N × D product a grid's (N, D) pairs cover
GRID_COVERAGE = 0.75
#: the fewest distinct sizes an IsoFLOP budget needs to count as a profile
PROFILE_SIZES = 3
#: the approaches each design supports
APPROACHES = {"isoflop": (1, 2, 3), "grid": (3,), "scattered": (1, 2, 3)}


def _level_index(values: np.ndarray) -> np.ndarray:
    """The index of each value's level (:func:`distinct_levels`: neighbours within LEVEL_TOL are one)."""
    levels = np.asarray(distinct_levels(values, LEVEL_TOL))
    return np.searchsorted(levels, values / (1.0 + LEVEL_TOL), side="left")


def sweep_design(runs: Runs) -> str:
    """``isoflop``, ``grid`` or ``scattered`` (module docstring) for runs with params, tokens and flops."""
    if not (runs.has("params") and runs.has("flops")):
        return "scattered"
    params = runs.column("params")
    groups = group_budgets(runs.column("flops"), runs.data["budget"] if runs.has("budget") else None)
    if "bins" not in groups.method:
        profiles = sum(len(distinct_levels(params[groups.members(j)])) >= PROFILE_SIZES for j in range(len(groups)))
        if profiles >= 2:
            return "isoflop"
    if not runs.has("tokens"):
        return "scattered"
    n_idx, d_idx = _level_index(params), _level_index(runs.column("tokens"))
    n_levels, d_levels = int(n_idx.max()) + 1, int(d_idx.max()) + 1
    if n_levels < 2 or d_levels < 2:
        return "scattered"
    pairs = {(int(i), int(k)) for i, k in zip(n_idx, d_idx)}
    per_size = np.bincount([i for i, _ in pairs], minlength=n_levels)
    if per_size.min() >= 2 and len(pairs) >= GRID_COVERAGE * n_levels * d_levels:
        return "grid"
    return "scattered"


def design_note(design: str) -> str | None:
    """The one note a report gives for the approaches it leaves out on ``design`` (None: none left out)."""
    if design != "grid":
        return None
    return ("approaches 1 and 2 of Hoffmann et al. 2022 left out: these runs are an N × D grid (each size "
            "trained for the same few token counts), with no IsoFLOP profiles or FLOP levels shared by several "
            "sizes, which both approaches need; the frontier is approach 3's (the parametric fit)")
