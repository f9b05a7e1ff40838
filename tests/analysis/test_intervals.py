"""Prediction intervals: parameter uncertainty (bootstrap) plus run-to-run noise (robust residual scale)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import scalinglab as sl
from scalinglab.analysis.intervals import _mixture_quantiles, prediction_interval, residual_scale
from scalinglab.errors import ScalingLabError

POWER_FLOOR = {"E": 1.8, "A": 2000.0, "alpha": 0.16}


def power_floor_runs(seed: int, n: int = 24, noise: float = 0.02) -> pd.DataFrame:
    """L = 1.8 + 2000 C^-0.16 (nats/token) at n log-spaced budgets 1e17..1e22 FLOPs, log-normal noise."""
    rng = np.random.default_rng(seed)
    C = np.geomspace(1e17, 1e22, n)
    L = POWER_FLOOR["E"] + POWER_FLOOR["A"] * C ** -POWER_FLOOR["alpha"]
    return pd.DataFrame({"flops": C, "loss": L * np.exp(noise * rng.standard_normal(n))})


def test_residual_scale_by_hand():
    r = np.array([-0.03, -0.01, 0.0, 0.005, 0.02, 0.04, -0.002, 0.011])
    # median 0.0025; |r - med| sorted: .0025 .0045 .0075 .0085 .0125 .0175 .0325 .0375 -> MAD = (.0085+.0125)/2
    mad = 0.0105
    sigma, nu = residual_scale(r, n_params=3)
    assert sigma == pytest.approx(1.4826 * mad * math.sqrt(8 / 5), rel=1e-12)
    assert nu == pytest.approx(0.37 * 5)
    with pytest.raises(ScalingLabError, match="3 fitted runs for 3 free parameters"):
        residual_scale(r[:3], n_params=3)


def test_mixture_quantile_solves_the_mixture_cdf():
    centres = np.array([[0.0, 0.3], [1.0, 0.3], [0.4, 0.3]])
    lo, hi = _mixture_quantiles(centres, 0.5, 7.0, (0.025, 0.975))
    for q, p in ((lo, 0.025), (hi, 0.975)):
        cdf = special.stdtr(7.0, (q[None, :] - centres) / 0.5).mean(axis=0)
        np.testing.assert_allclose(cdf, p, atol=1e-10)
    # a column whose draws all agree is just the t quantile around them
    assert hi[1] == pytest.approx(0.3 + 0.5 * stats.t.ppf(0.975, 7.0), abs=1e-10)


def test_noise_only_interval_is_the_t_interval_around_the_point_and_says_so():
    res = sl.fit(power_floor_runs(1), "power_floor:flops")
    pi = prediction_interval(res, 0.9, flops=3e22)
    sigma, nu = residual_scale(res.residuals, 3)
    q = stats.t.ppf(0.95, nu)
    point = res.predict(flops=3e22).loss
    assert pi.point == pytest.approx(point, rel=1e-12)
    assert pi.low == pytest.approx(point * math.exp(-q * sigma), rel=1e-9)
    assert pi.high == pytest.approx(point * math.exp(q * sigma), rel=1e-9)
    assert pi.param_low is None and pi.sigma == pytest.approx(sigma)
    assert any("noise only" in n for n in pi.notes)


def test_bootstrap_interval_contains_both_parts_and_is_wider_than_each():
    res = sl.fit(power_floor_runs(2), "power_floor:flops", bootstrap=100, seed=0)
    C = np.array([1e20, 1e22, 1e23])
    pi = prediction_interval(res, flops=C)
    noise_only = prediction_interval(sl.fit(power_floor_runs(2), "power_floor:flops"), flops=C)
    param_only = res.predict(flops=C)
    assert np.all(pi.low < param_only.low) and np.all(pi.high > param_only.high)
    np.testing.assert_allclose(pi.param_low, param_only.low, rtol=1e-4)  # percentile of ln L vs of L
    assert np.all(pi.high / pi.low > noise_only.high / noise_only.low)
    # the farther the extrapolation, the wider the interval
    width = np.log(pi.high / pi.low)
    assert width[0] < width[1] < width[2]
    assert not any("noise only" in n for n in pi.notes)


def test_resampled_noise_uses_the_inflated_residuals():
    res = sl.fit(power_floor_runs(3), "power_floor:flops")
    pi = prediction_interval(res, 0.8, noise="resample", flops=1e21)
    r = res.residuals
    sims = np.log(res.predict(flops=1e21).loss) - (r - np.median(r)) * math.sqrt(24 / 21)
    lo, hi = np.percentile(sims, [10, 90])
    assert pi.low == pytest.approx(math.exp(lo), rel=1e-12)
    assert pi.high == pytest.approx(math.exp(hi), rel=1e-12)


def test_targets_params_tokens_flops_and_budget():
    runs = sl.simulate_isoflop("hoffmann2022", noise=0.01, seed=4)
    res = sl.fit(runs, "chinchilla", bootstrap=30, seed=1)
    by_nd = prediction_interval(res, params=1e9, tokens=2e10)
    by_nc = prediction_interval(res, params=1e9, flops=6 * 1e9 * 2e10)  # tokens from C = 6ND
    assert by_nc.point == pytest.approx(by_nd.point) and by_nc.high == pytest.approx(by_nd.high)
    assert by_nc.inputs["tokens"] == pytest.approx(2e10)
    # budget: the compute-optimal allocation of the point estimate (sl.optimal, closed form)
    alloc = sl.optimal.optimal_allocation(res, 1e22)
    by_budget = prediction_interval(res, budget=1e22)
    assert by_budget.inputs["params"] == pytest.approx(alloc.params, rel=1e-9)
    assert by_budget.inputs["tokens"] == pytest.approx(alloc.tokens, rel=1e-9)
    assert by_budget.point == pytest.approx(alloc.loss, rel=1e-9)
    assert by_budget.low < alloc.loss < by_budget.high
    assert any("compute-optimal" in n for n in by_budget.notes)
    # for a law of flops, the budget is the flops
    pf = sl.fit(power_floor_runs(5), "power_floor:flops")
    assert prediction_interval(pf, budget=1e21).point == pytest.approx(prediction_interval(pf, flops=1e21).point)


def test_bad_requests_are_named():
    res = sl.fit(power_floor_runs(6), "power_floor:flops")
    with pytest.raises(ScalingLabError, match="level"):
        prediction_interval(res, 1.5, flops=1e21)
    with pytest.raises(ScalingLabError, match="noise"):
        prediction_interval(res, noise="bootstrap", flops=1e21)
    with pytest.raises(ScalingLabError, match="flops"):
        prediction_interval(res, params=1e9)
    with pytest.raises(ScalingLabError, match="not both"):
        prediction_interval(res, budget=1e21, flops=1e21)


def test_interval_covers_new_runs_at_close_to_nominal_rate():
    """New runs at three fixed points (inside and beyond the data): 30 fits x 3 points x 20 fresh
    draws each. 95% nominal; 1,800 draws from 30 fits: the fit-to-fit correlation dominates, so the
    band 0.90-0.99 is about +-2 standard errors of a 30-fit binomial (sd 4%) around 0.95."""
    C = np.array([1e19, 1e22, 1e23])
    truth = POWER_FLOOR["E"] + POWER_FLOOR["A"] * C ** -POWER_FLOOR["alpha"]
    rng = np.random.default_rng(99)
    hits = []
    for s in range(30):
        res = sl.fit(power_floor_runs(200 + s), "power_floor:flops", bootstrap=50, seed=s)
        pi = prediction_interval(res, flops=C)
        new = truth * np.exp(0.02 * rng.standard_normal((20, 3)))
        hits.append(((new >= pi.low) & (new <= pi.high)).mean())
    assert 0.90 <= np.mean(hits) <= 0.99, np.mean(hits)
