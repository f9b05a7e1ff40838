"""Law selection by held-out error, AIC/BIC, and regime-change / diminishing-returns checks."""

import math

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.analysis.selection import information_criteria
from scalinglab.laws import get_family

BNSL = get_family("bnsl:flops:1")
BREAK = {"a": 1.0, "b": 20.0, "c0": 0.06, "c1": 0.2, "d1": 1e20, "f1": 0.3}  # break at 1e20 FLOPs


def curve(law: str, params: dict, seed: int, n: int = 40, noise: float = 0.01) -> pd.DataFrame:
    """n runs log-spaced over 1e17..1e23 FLOPs from ``law`` with log-normal noise of sd ``noise``."""
    rng = np.random.default_rng(seed)
    C = np.geomspace(1e17, 1e23, n)
    L = get_family(law).predict_natural(params, flops=C)
    return pd.DataFrame({"flops": C, "loss": L * np.exp(noise * rng.standard_normal(n))})


def test_information_criteria_by_hand():
    r = np.array([0.01, -0.02, 0.015, 0.0, -0.005])
    rss = float(np.sum(r**2))  # 7.5e-4
    m2ll = 5 * math.log(2 * math.pi * rss / 5) + 5
    aic, bic = information_criteria(r, n_params=2)  # k = 3 with the noise variance
    assert aic == pytest.approx(m2ll + 6)
    assert bic == pytest.approx(m2ll + 3 * math.log(5))


def test_break_is_detected_and_located():
    rc = sl.analysis.regime_change(curve("bnsl:flops:1", BREAK, seed=0), "flops", bootstrap=60, seed=0)
    assert rc["supported"], rc["reasons"]
    assert rc["delta_bic"] > 6
    lo, hi = rc["break_interval"]
    assert lo < 1e20 < hi and hi / lo < 10  # contains the truth, and is informative
    assert rc["break_location"] == pytest.approx(1e20, rel=0.5)
    assert rc["exponent_change_interval"][0] < 0.2 < rc["exponent_change_interval"][1]
    assert all(r.startswith("ok: ") for r in rc["reasons"])


def test_no_break_in_a_plain_power_law():
    data = curve("power:flops", {"A": 50.0, "alpha": 0.05}, seed=1)
    rc = sl.analysis.regime_change(data, "flops", bootstrap=60, seed=0)
    assert not rc["supported"]
    assert any(r.startswith("fails: BIC") for r in rc["reasons"])
    # a pure power law has a constant local exponent: no diminishing returns
    assert not rc["diminishing_returns"]
    assert rc["local_exponent_small"] == pytest.approx(0.05, abs=0.01)
    assert rc["local_exponent_large"] == pytest.approx(0.05, abs=0.01)


def test_saturation_is_diminishing_returns_not_a_break():
    # L = 1.8 + 2000 C^-0.16: local exponent 0.16 (L - E)/L falls from ~0.10 to ~0.02 over the range
    data = curve("power_floor:flops", {"E": 1.8, "A": 2000.0, "alpha": 0.16}, seed=2)
    rc = sl.analysis.regime_change(data, "flops", bootstrap=60, seed=0)
    assert not rc["supported"]
    assert rc["diminishing_returns"]
    assert rc["exponent_ratio_interval"][1] < 0.9
    true_k = [0.16 * (L - 1.8) / L for L in (1.8 + 2000.0 * 1e17**-0.16, 1.8 + 2000.0 * 1e23**-0.16)]
    assert rc["local_exponent_small"] == pytest.approx(true_k[0], abs=0.02)
    assert rc["local_exponent_large"] == pytest.approx(true_k[1], abs=0.01)


def test_select_law_ranks_by_heldout_error_and_skips_what_the_data_cannot_support():
    runs = sl.simulate_isoflop("hoffmann2022", noise=0.01, seed=3)
    res = sl.analysis.select_law(runs, ("power:flops", "power_floor:flops", "chinchilla"), holdout_above=1e21,
                                 bootstrap=20, regime=False)
    t = res.table
    assert t.mare.is_monotonic_increasing and res.best == t.law.iloc[0]
    assert set(t.law) == {"power(flops)", "power_floor(flops)", "chinchilla"}
    # the true law explains the IsoFLOP spread: by far the best in-sample, and better held out than a pure power law
    assert t.set_index("law").loc["chinchilla", "delta_bic"] == 0
    assert t.set_index("law").loc["power_floor(flops)", "delta_bic"] > 50
    assert t.set_index("law").loc["chinchilla", "mare"] < t.set_index("law").loc["power(flops)", "mare"]
    assert (t.n_test == 18).all()
    flops_only = sl.analysis.select_law(runs[["flops", "loss"]], ("power:flops", "chinchilla"),
                                        holdout_above=1e21, bootstrap=20, regime=False)
    assert list(flops_only.table.law) == ["power(flops)"]
    assert any("chinchilla: skipped" in n and "params" in n for n in flops_only.notes)


def test_select_law_reports_the_regime_change():
    data = curve("bnsl:flops:1", BREAK, seed=4)
    res = sl.analysis.select_law(data, ("power_floor:flops", "bnsl:flops:1"), holdout_above=1e22, bootstrap=30)
    rc = res.regime_change
    assert rc["supported"] and rc["break_interval"][0] < 1e20 < rc["break_interval"][1]
    assert rc["heldout_mare_broken"] < rc["heldout_mare_unbroken"]
    assert res.best == "bnsl(flops, 1)"
    d = res.to_dict()
    assert d["best"] == "bnsl(flops, 1)" and len(d["laws"]) == 2 and d["regime_change"]["supported"]
