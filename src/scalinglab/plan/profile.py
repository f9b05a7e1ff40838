"""The minimum of an IsoFLOP profile by four methods, vectorised over noisy copies of the losses.

An IsoFLOP profile is the final loss L (nats/token) of runs trained with one budget C (FLOPs) at
different sizes N (parameters). Approach 2 (Hoffmann et al. 2022, sec. 3.2) takes its minimum as
N_opt(C). The methods (``PROFILE_METHODS``):

* ``akima``: Porian et al. 2024's procedure (references.md D5; arXiv:2406.19146, sec. 2 and App. B;
  repository ``formll/resolving-scaling-law-discrepancies``, ``analysis.py``, ``interpolation``): ln L
  interpolated against ln N by Akima's piecewise cubic (scipy ``Akima1DInterpolator``) through every
  size, evaluated on a grid of ``GRID_PER_INTERVAL`` (25) points per size interval, evenly spaced in
  ln N from the smallest to the largest size; N_opt is the grid point of lowest loss, and a minimum
  at either end of the grid is no minimum (the budget is dropped). Follows the data locally, so a wide
  or lopsided sweep does not bias it; interpolates noise too, so it needs exact budgets (runs of one
  budget) and several sizes.
* ``cubic``/``parabola``: a least-squares polynomial of degree 3/2 in ln N fitted to L, its local
  minimum (Hoffmann et al. 2022 sec. 3.2 fit parabolas). A parabola fitted to a whole wide,
  lopsided profile is pulled by the points far from the minimum (references.md D5).
* ``local``: the parabola through the three sizes around the lowest observed loss (an exact fit),
  its vertex; needs the lowest loss inside the sizes.

Every function takes ln N sorted increasing with distinct values (k sizes) and losses of shape (k,)
or (k, B) (B noisy copies), and returns arrays of shape (B,): ln N_opt, the loss there (nats/token)
and whether a minimum was found inside the sampled sizes.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import Akima1DInterpolator

Array = np.ndarray

#: the profile methods, in the order the CLI lists them
PROFILE_METHODS = ("akima", "cubic", "parabola", "local")
#: the fewest distinct sizes each method needs
MIN_SIZES = {"akima": 3, "cubic": 4, "parabola": 3, "local": 3}
#: grid points per interval between sampled sizes (Porian et al.'s ``interp_num_multiplier``)
GRID_PER_INTERVAL = 25
#: the fewest sizes per profile for which the automatic choice takes Akima
AUTO_AKIMA_MIN_SIZES = 5


def choose_method(method: str | None, exact_levels: bool, sizes_per_profile: list[int]) -> tuple[str, str]:
    """(method, why): ``method`` when given; else ``akima`` when the levels are exact budgets (a
    ``budget`` column or equal FLOP counts) and every profile has at least ``AUTO_AKIMA_MIN_SIZES``
    sizes, else ``cubic``. Akima interpolates every point, so on log-binned levels (runs of different
    budgets in one profile) it follows the scatter; the cubic smooths it."""
    if method is not None:
        return method, "chosen"
    fewest = min(sizes_per_profile) if sizes_per_profile else 0
    if not exact_levels:
        return "cubic", "auto: the FLOP levels are log-scale bins, not exact budgets"
    if fewest < AUTO_AKIMA_MIN_SIZES:
        return "cubic", f"auto: a profile has {fewest} sizes, fewer than the {AUTO_AKIMA_MIN_SIZES} Akima needs"
    return "akima", f"auto: exact budgets with at least {AUTO_AKIMA_MIN_SIZES} sizes per profile"


def profile_grid(log_n: Array) -> Array:
    """The evaluation grid in ln N: ``GRID_PER_INTERVAL`` points per size interval, smallest to largest size."""
    return np.linspace(log_n[0], log_n[-1], GRID_PER_INTERVAL * (len(log_n) - 1))


def minima(log_n: Array, loss: Array, method: str) -> tuple[Array, Array, Array]:
    """(ln N_opt, loss there, found) for each column of ``loss`` by ``method`` (module docstring).
    ``found`` is False where the profile has no minimum inside the sampled sizes; there the other two
    are NaN."""
    x = np.asarray(log_n, dtype=float)
    y = np.asarray(loss, dtype=float)
    y = y[:, None] if y.ndim == 1 else y
    if method == "akima":
        out = _akima(x, y)
    elif method == "local":
        out = _local(x, y)
    else:
        out = _polynomial(x, y, 3 if method == "cubic" else 2)
    x_opt, l_opt, ok = out
    return np.where(ok, x_opt, np.nan), np.where(ok, l_opt, np.nan), ok


def _akima(x: Array, y: Array) -> tuple[Array, Array, Array]:
    grid = profile_grid(x)
    positive = np.all(y > 0, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = Akima1DInterpolator(x, np.log(np.where(positive, y, 1.0)), axis=0)(grid)  # (G, B) ln L
    i = np.argmin(curve, axis=0)
    ok = positive & (i > 0) & (i < len(grid) - 1)
    return grid[i], np.exp(curve[i, np.arange(y.shape[1])]), ok


def _polynomial(x: Array, y: Array, degree: int) -> tuple[Array, Array, Array]:
    """Least-squares polynomial in standardised ln N; the local minimum of a cubic or parabola in
    closed form: f'(t) = A t^2 + B t + C, minimum at t = -2C / (B + sqrt(B^2 - 4AC)) (the root where
    f'' = sqrt(B^2 - 4AC) > 0, written to stay accurate when A is near 0)."""
    centre, scale = float(x.mean()), float(x.std())
    t = (x - centre) / scale
    coef = np.polyfit(t, y, degree)  # (degree + 1, B), highest power first
    c3 = coef[0] if degree == 3 else np.zeros(y.shape[1])
    c2, c1 = coef[-3], coef[-2]
    a_, b_, c_ = 3.0 * c3, 2.0 * c2, c1
    disc = b_**2 - 4.0 * a_ * c_
    root = np.sqrt(np.maximum(disc, 0.0))
    denom = b_ + root
    ok = (disc >= 0) & (denom > 1e-12 * (np.abs(b_) + np.abs(c_) + 1e-300))
    t_min = np.where(ok, -2.0 * c_ / np.where(ok, denom, 1.0), 0.0)
    x_min = centre + scale * t_min
    value = sum(coef[p] * t_min ** (degree - p) for p in range(degree + 1))
    ok &= (x_min >= x[0]) & (x_min <= x[-1])
    return x_min, value, ok


def _local(x: Array, y: Array) -> tuple[Array, Array, Array]:
    """The parabola through the lowest observed loss and its two neighbours (Newton's divided differences)."""
    cols = np.arange(y.shape[1])
    j = np.argmin(y, axis=0)
    ok = (j > 0) & (j < len(x) - 1)
    j = np.clip(j, 1, len(x) - 2)
    x1, x2, x3 = x[j - 1], x[j], x[j + 1]
    y1, y2, y3 = y[j - 1, cols], y[j, cols], y[j + 1, cols]
    s12, s23 = (y2 - y1) / (x2 - x1), (y3 - y2) / (x3 - x2)
    curv = (s23 - s12) / (x3 - x1)
    ok &= curv > 0
    safe = np.where(ok, curv, 1.0)
    x_min = 0.5 * (x1 + x2) - s12 / (2.0 * safe)
    value = y1 + (x_min - x1) * s12 + safe * (x_min - x1) * (x_min - x2)
    return x_min, value, ok


def observed_bracketed(loss: Array) -> bool:
    """True when the lowest observed loss of a profile (sorted by N) is at neither end of its sizes."""
    j = int(np.argmin(loss))
    return 0 < j < len(loss) - 1


def n_local_minima(loss: Array) -> int:
    """Interior sizes whose observed loss is below both neighbours' (a profile sorted by N)."""
    y = np.asarray(loss, dtype=float)
    return int(np.sum((y[1:-1] < y[:-2]) & (y[1:-1] < y[2:])))
