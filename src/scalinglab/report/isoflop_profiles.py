"""What the IsoFLOP figure draws for each budget: the profile curve of the method approach 2 used, and a
marker of its own per budget.

An IsoFLOP profile is the final loss L (nats/token) of runs of one budget C (FLOPs) against model size N
(parameters); approach 2 (Hoffmann et al. 2022 sec. 3.2; :mod:`scalinglab.plan.approach2`) reads N_opt
off it by one of the methods of :mod:`scalinglab.plan.profile` (references.md D5). :func:`profile_curve`
draws that method's curve through the mean loss at each size: ``akima`` the Akima interpolant of ln L
against ln N; ``cubic`` / ``parabola`` the least-squares polynomial of degree 3 / 2 in standardised ln N;
``local`` the parabola through the three sizes around the lowest loss (drawn over those three sizes).
The figure marks a minimum only where approach 2 found one (a profile whose curve has no interior
minimum, e.g. a concave one, gets none).
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import Akima1DInterpolator

from scalinglab.errors import ScalingLabError
from scalinglab.plan.isoflop import BudgetGroups, profile_minimum_log
from scalinglab.plan.profile import MIN_SIZES, PROFILE_METHODS, choose_method, minima, observed_bracketed

Array = np.ndarray
#: one marker per budget, in order (cycled past the tenth), so that budgets differ in shape, not only colour
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
_DEGREE = {2: "parabola", 3: "cubic"}


def size_means(params: Array, loss: Array, groups: BudgetGroups, j: int) -> tuple[Array, Array]:
    """Budget ``j``'s distinct sizes ln N (sorted) and the mean loss at each (nats/token), as approach 2."""
    rows = groups.members(j)
    sizes, inverse, counts = np.unique(params[rows], return_inverse=True, return_counts=True)
    return np.log(sizes), np.bincount(inverse, weights=loss[rows]) / counts


def profile_method(method: str | None, degree: int | None, groups: BudgetGroups, sizes: list[int]) -> str:
    """The profile method to draw: ``method`` when given, else ``degree``'s (2 parabola, 3 cubic), else
    approach 2's automatic choice (:func:`scalinglab.plan.profile.choose_method`)."""
    if method is not None:
        if method not in PROFILE_METHODS:
            raise ScalingLabError(f"profile method must be one of {', '.join(PROFILE_METHODS)}, got {method!r}")
        return method
    if degree is not None:
        if degree not in _DEGREE:
            raise ScalingLabError(f"degree must be 2 (parabola) or 3 (cubic), got {degree!r}")
        return _DEGREE[degree]
    return choose_method(None, "bins" not in groups.method, sizes)[0]


def profile_curve(log_n: Array, loss: Array, method: str, points: int = 120) -> tuple[Array, Array] | None:
    """(N, L) along the curve ``method`` fits to one profile (module docstring): N in parameters, L in
    nats/token; None when the profile has fewer sizes than the method needs."""
    x, y = np.asarray(log_n, dtype=float), np.asarray(loss, dtype=float)
    if len(x) < MIN_SIZES[method]:
        return None
    if method == "local":
        j = int(np.clip(np.argmin(y), 1, len(x) - 2))
        x, y = x[j - 1:j + 2], y[j - 1:j + 2]
    grid = np.linspace(x[0], x[-1], points)
    if method == "akima":
        if np.any(y <= 0):
            return None
        return np.exp(grid), np.exp(Akima1DInterpolator(x, np.log(y))(grid))
    degree = 2 if method in ("parabola", "local") else 3
    centre, scale = float(x.mean()), float(x.std())
    coef = np.polyfit((x - centre) / scale, y, degree)
    return np.exp(grid), np.polyval(coef, (grid - centre) / scale)


def profile_minimum(log_n: Array, loss: Array, method: str) -> tuple[float, float] | None:
    """(ln N_opt, loss there) of one profile as approach 2 finds it with ``require_bracket`` (its
    default): None when the profile has too few sizes, its lowest observed loss is at an end of its
    sizes, or the method's curve has no minimum inside them (a concave or monotone fit has none)."""
    x, y = np.asarray(log_n, dtype=float), np.asarray(loss, dtype=float)
    if len(x) < MIN_SIZES[method] or not observed_bracketed(y):
        return None
    if method in ("cubic", "parabola"):
        found = profile_minimum_log(x, y, 3 if method == "cubic" else 2)
        return found if found is not None and x[0] <= found[0] <= x[-1] else None
    x_opt, l_opt, ok = minima(x, y, method)
    return (float(x_opt[0]), float(l_opt[0])) if ok[0] else None
