"""Uncertainty of approach 2 by Porian et al. 2024's noise bootstrap (references.md D5).

Porian et al. (arXiv:2406.19146, App. B; repository ``formll/resolving-scaling-law-discrepancies``,
``analysis.py``, ``vectorized_interp_with_seed_noise`` and ``fit_compute_optimal_power_laws``):

1. add Gaussian noise of standard deviation sigma (nats/token; the seed-to-seed spread of the final
   loss) to every point of a profile, B times (they use B = 1,000), and take each noisy profile's
   minimum ln N*_i with the profile method; a draw whose minimum falls at an end is dropped, and a
   budget with fewer than B/2 valid draws is dropped;
2. the budget's std of ln N* is that of its valid draws, floored at ``STD_FLOOR_FRACTION`` (0.33) of
   the mean spacing of its sizes in ln N (an interval cannot be narrower than the grid of sizes
   resolves) and inflated by B / (valid draws);
3. the point estimate: per budget the median of the noisy minima; ln N* = ln k + a ln C fitted by
   least squares with weights 1/std^2 (their ``bs_median_weighted``, the paper's table);
4. the interval: draw i takes the i-th valid minimum of every budget and refits with the same
   weights; a_ci are percentiles of those slopes (their ``bootstrap_weighted``).

sigma comes from repeated seeds in the table (runs of the same size at the same budget: the pooled
within-group standard deviation of the loss), from the caller (``loss_noise``; Porian et al. use 0.002
nats on RefinedWeb and 0.01 on OpenWebText2, ``configs.py`` ``RW_SEED_CONFIG``/``OWT2_SEED_CONFIG``),
or, when neither is known, from the scatter of the losses about a cubic in ln N per profile (an
upper bound where the cubic misfits), with a note saying so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.plan.profile import minima

Array = np.ndarray

#: the per-budget std of ln N* is floored at this fraction of the mean spacing of the sizes in ln N
STD_FLOOR_FRACTION = 0.33


@dataclass
class NoisyMinima:
    """One budget's noise bootstrap: the valid noisy minima (ln N*, parameters in ln), their median,
    the floored and inflated std of ln N*, and whether the floor set it."""

    stars: Array
    median: float
    std: float
    floored: bool


def noisy_minima(log_n: Array, loss: Array, sigma: float | Array, method: str, draws: int,
                 rng: np.random.Generator) -> NoisyMinima | None:
    """Step 1-2 of the module docstring for one profile (ln N sorted, distinct; ``sigma`` in
    nats/token, one value or one per size); None when fewer than half the draws have a minimum
    inside the sizes."""
    scale = np.reshape(np.asarray(sigma, dtype=float), (-1, 1))
    noisy = loss[:, None] + scale * rng.standard_normal((len(loss), draws))
    x_opt, _, ok = minima(log_n, noisy, method)
    valid = x_opt[ok]
    if len(valid) < draws / 2:
        return None
    floor = STD_FLOOR_FRACTION * (log_n[-1] - log_n[0]) / (len(log_n) - 1)
    spread = float(np.std(valid))
    return NoisyMinima(stars=valid, median=float(np.median(valid)),
                       std=max(spread, floor) * draws / len(valid), floored=bool(spread < floor))


def weighted_line(x: Array, y: Array, w: Array | None = None) -> tuple[Array, Array]:
    """Slope and intercept of y = c + s x by (weighted) least squares, closed form; ``y`` may be
    (L,) or (B, L) (one fit per row)."""
    x = np.asarray(x, dtype=float)
    w = np.ones_like(x) if w is None else np.asarray(w, dtype=float)
    y = np.asarray(y, dtype=float)
    xm = np.sum(w * x) / np.sum(w)
    ym = np.sum(w * y, axis=-1) / np.sum(w)
    dx = x - xm
    slope = np.sum(w * dx * (y - ym[..., None] if y.ndim > 1 else y - ym), axis=-1) / np.sum(w * dx**2)
    return slope, ym - slope * xm


def draw_fits(log_c: Array, stars: list[Array], weights: Array) -> Array:
    """(m, 2) array of (a, ln k_N): draw i refits ln N* on ln C with the i-th valid minimum of every
    budget and weights 1/std^2; m is the fewest valid draws of any budget."""
    m = min(len(s) for s in stars)
    y = np.column_stack([s[:m] for s in stars])  # (m, L)
    slope, intercept = weighted_line(log_c, y, weights)
    return np.column_stack([slope, intercept])


def seed_noise(level: Array, params: Array, flops: Array, loss: Array) -> tuple[float | None, int]:
    """(sigma, groups): the pooled within-group standard deviation of the loss (nats/token) over the
    groups of runs with the same level, the same size N and the same compute C (to 6 digits): repeated
    seeds, not runs of one size at different budgets of a log-scale bin; and how many such groups have
    2 or more runs; (None, 0) without repeats."""
    keys = np.rec.fromarrays([level, params, np.round(np.log(flops), 6)])
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=loss) / counts
    sq = np.bincount(inverse, weights=(loss - means[inverse]) ** 2)
    repeated = counts >= 2
    dof = int(np.sum(counts[repeated] - 1))
    if dof == 0:
        return None, 0
    return float(np.sqrt(np.sum(sq[repeated]) / dof)), int(np.sum(repeated))


def residual_noise(profiles: list[tuple[Array, Array]]) -> float | None:
    """sigma (nats/token) from the pooled residuals of a least-squares cubic in ln N of each profile
    with 5 or more sizes ((ln N, loss) pairs); None when no profile has that many."""
    ss, dof = 0.0, 0
    for x, y in profiles:
        if len(x) < 5:
            continue
        t = (x - x.mean()) / x.std()
        ss += float(np.sum((y - np.polyval(np.polyfit(t, y, 3), t)) ** 2))
        dof += len(x) - 4
    return float(np.sqrt(ss / dof)) if dof else None
