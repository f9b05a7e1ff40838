"""Identifiability warnings: each fires on a crafted table and stays quiet on a good one."""

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.analysis.identifiability import distinct_levels, levels_needed
from scalinglab.laws import get_family

HOFFMANN = sl.published["hoffmann2022"]


def table(N, D, seed=0, noise=0.01) -> pd.DataFrame:
    N, D = np.asarray(N, float), np.asarray(D, float)
    rng = np.random.default_rng(seed)
    loss = HOFFMANN.predict(params=N, tokens=D) * np.exp(noise * rng.standard_normal(N.size))
    return pd.DataFrame({"params": N, "tokens": D, "loss": loss})


def grid(sizes, tokens) -> pd.DataFrame:
    N, D = np.meshgrid(sizes, tokens)
    return table(N.ravel(), D.ravel())


def test_distinct_levels_and_needs():
    assert distinct_levels([1e9, 1.01e9, 1.019e9, 2e9, 4e9]) == [1.019e9, 2e9, 4e9]  # within 2% is one
    assert levels_needed(get_family("chinchilla")) == 4
    assert levels_needed(get_family("power_floor:flops")) == 4
    assert levels_needed(get_family("bnsl:flops:1")) == 7
    assert levels_needed(get_family("kaplan_nd")) == 4


def test_a_good_design_gets_no_warning():
    runs = sl.simulate_isoflop("hoffmann2022", noise=0.01, seed=0)
    assert sl.analysis.identifiability_warnings(runs, "chinchilla") == []
    assert sl.analysis.identifiability_warnings(grid(np.geomspace(1e8, 1e10, 5),
                                                     np.geomspace(1e9, 1e12, 5)), "chinchilla") == []


def test_too_few_distinct_sizes():
    w = sl.analysis.identifiability_warnings(grid([1e8, 1e9, 1e10], np.geomspace(1e9, 1e12, 6)), "chinchilla")
    assert len(w) == 1
    assert w[0].startswith("only 3 distinct params values (need >= 4 for chinchilla's 5 parameters")


def test_one_tokens_per_param_ratio():
    N = np.geomspace(1e8, 1e10, 8)
    D = 20.0 * N * np.array([1.0, 1.02, 0.99, 1.0, 0.98, 1.01, 1.0, 1.0])
    w = sl.analysis.identifiability_warnings(table(N, D), "chinchilla")
    assert len(w) == 1
    assert w[0].startswith("all runs at tokens/params = 20 ± 2%")
    assert "A/N^alpha and B/D^beta cannot be separated" in w[0]
    # the ratio check only concerns laws of params and tokens
    assert sl.analysis.identifiability_warnings(table(N, D), "power_floor:params") == []


def test_narrow_range_and_too_few_runs():
    N = np.geomspace(1e9, 3e9, 6)  # half a decade
    w = sl.analysis.identifiability_warnings(table(N, 30 * N), "power_floor:params")
    assert w == ["params spans only 0.48 decades (1e+09 to 3e+09): an exponent fitted over less than "
                 "1 decade is poorly determined"]
    few = table([1e8, 1e9, 1e10], [1e10, 1e10, 1e10])
    w = sl.analysis.identifiability_warnings(few, "power_floor:params")
    assert w[0] == ("only 3 runs for law power_floor(params)'s 3 free parameters: need at least 4 "
                    "(one more than the parameters, to estimate the noise)")
    assert w[1].startswith("only 3 distinct params values (need >= 4")


def test_interval_spanning_orders_of_magnitude():
    # a single-ratio design: the bootstrap cannot pin down A and B separately
    N = np.geomspace(1e8, 1e10, 10)
    bad = sl.fit(table(N, 20 * N, seed=3), "chinchilla", bootstrap=50, seed=0)
    w = sl.analysis.fit_identifiability_warnings(bad)
    spans = [s for s in w if "orders of magnitude" in s]
    assert spans, w
    name = spans[0].split("'")[0]
    lo, hi = bad.ci[name]
    assert f"spans {np.log10(hi / lo):.1f} orders of magnitude" in spans[0]
    good = sl.fit(sl.simulate_isoflop("hoffmann2022", noise=0.01, seed=0), "chinchilla", bootstrap=50, seed=0)
    assert sl.analysis.fit_identifiability_warnings(good) == []
    # an interval wider than max_orders but within the trust check's two decades: identified, loosely
    assert not good.unidentified
    loose = sl.analysis.fit_identifiability_warnings(good, max_orders=0.01)
    assert len(loose) == len(good.params) and all("identified but only loosely determined" in w for w in loose)
    assert not any("do not determine" in w for w in loose)
    lo, hi = good.ci["A"]
    assert f"A's 95% interval [{lo:.3g}, {hi:.3g}] spans {np.log10(hi / lo):.1f} orders of magnitude (a factor {hi / lo:.0f})" in loose[1]


def test_fit_without_bootstrap_says_the_check_was_not_made():
    res = sl.fit(sl.simulate_isoflop("hoffmann2022", noise=0.01, seed=0), "chinchilla")
    w = sl.analysis.fit_identifiability_warnings(res)
    assert len(w) == 1 and "no bootstrap" in w[0]


@pytest.mark.parametrize("max_orders,expect", [(0.01, True), (10.0, False)])
def test_threshold_is_a_parameter(max_orders, expect):
    res = sl.fit(sl.simulate_isoflop("hoffmann2022", noise=0.01, seed=1), "chinchilla", bootstrap=30, seed=0)
    w = sl.analysis.fit_identifiability_warnings(res, max_orders=max_orders)
    assert bool(w) is expect
