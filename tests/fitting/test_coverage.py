"""Calibration: 95% bootstrap intervals cover the true parameters at close to their nominal rate."""

import numpy as np

import scalinglab as sl

TRUTH = {"E": 1.69, "alpha": 0.34, "beta": 0.28, "a": 0.28 / 0.62, "b": 0.34 / 0.62}


def test_bootstrap_interval_coverage_on_simulated_sweeps():
    n_sims = 80
    hits = dict.fromkeys(TRUTH, 0)
    widths = []
    for s in range(n_sims):
        runs = sl.simulate_isoflop("hoffmann2022", noise=0.01, seed=1000 + s)
        res = sl.fit(runs, bootstrap=100, seed=s)
        for k, true in TRUTH.items():
            hits[k] += res.ci[k][0] <= true <= res.ci[k][1]
        widths.append(res.ci["alpha"][1] - res.ci["alpha"][0])
    coverage = {k: v / n_sims for k, v in hits.items()}
    # nominal 95%; with 80 simulations the binomial sd is ~2.4 points
    for k, c in coverage.items():
        assert 0.85 <= c <= 1.0, (k, coverage)
    # and the intervals are informative, not trivially wide
    assert np.median(widths) < 0.1
