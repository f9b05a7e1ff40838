"""Calibrated extrapolation intervals: rolling-origin refits (scalinglab.analysis.calibration) and the
backtests that use them (interval="calibrated")."""

import numpy as np
import pandas as pd
import pytest
from analysis_data import porian_cosine_runs

import scalinglab as sl
from scalinglab.analysis.calibration import calibrate, scale_fit
from scalinglab.analysis.intervals import prediction_interval
from scalinglab.errors import ScalingLabError
from scalinglab.fitting.calibration import band_quantile


def power_floor_runs(seed: int, n: int = 24, noise: float = 0.02) -> pd.DataFrame:
    """L = 1.8 + 2000 C^-0.16 nats/token at n log-spaced budgets 1e17..1e22 FLOPs; log-normal noise
    of sd ``noise``. Held out above 1e21: the 5 largest runs (one decade of extrapolation)."""
    rng = np.random.default_rng(seed)
    C = np.geomspace(1e17, 1e22, n)
    L = 1.8 + 2000.0 * C**-0.16
    return pd.DataFrame({"flops": C, "loss": L * np.exp(noise * rng.standard_normal(n))})


# ---- the procedure -------------------------------------------------------------------------------------------
def test_rolling_origins_weights_and_errors():
    runs = power_floor_runs(3)
    res = sl.fit(runs, "power_floor:flops", bootstrap=20, seed=0)
    c = calibrate(res, runs, min_fraction=0.5).calibration
    C = runs.flops.to_numpy()
    # 24 levels; each refit keeps >= 12 runs: 12 admissible origins (C[11]..C[22]), 6 taken evenly in rank
    np.testing.assert_allclose(c["origins"], C[[11, 13, 15, 18, 20, 22]])
    assert c["n_fitted"] == [12, 14, 16, 19, 21, 23]
    assert len(c["error"]) == 12 + 10 + 8 + 5 + 3 + 1 and c["x"] == "flops" and c["x_max"] == C.max()
    # weights 0.5**age, the latest origin 1; distances from each refit's largest C
    ages = np.repeat([5, 4, 3, 2, 1, 0], [12, 10, 8, 5, 3, 1])
    np.testing.assert_allclose(c["weight"], 0.5**ages)
    np.testing.assert_allclose(c["distance"][:12], np.log10(C[12:] / C[11]))
    # the errors of the origin at C[18] are those of a refit on the 19 smallest runs
    refit = sl.fit(runs.iloc[:19], "power_floor:flops", refine=16)
    expected = np.log(runs.loss.to_numpy()[19:] / refit.predict(flops=C[19:]).loss)
    np.testing.assert_allclose(c["error"][30:35], expected, rtol=1e-9, atol=1e-12)


def test_scale_fit_is_the_median_line_of_the_absolute_errors():
    rng = np.random.default_rng(0)
    d = rng.uniform(0, 2, 4000)
    a = np.abs(rng.standard_normal(4000)) * (0.01 + 0.02 * d)
    s0, s1 = scale_fit(d, a, np.ones_like(d))
    # the median of |N(0, 1)| is 0.6745: the line through the conditional medians is 0.6745 (0.01 + 0.02 d)
    assert s0 == pytest.approx(0.006745, rel=0.1) and s1 == pytest.approx(0.01349, rel=0.1)
    # weights count: errors with weight 0 beyond d = 1 cannot move the line
    w = np.where(d > 1, 1e-9, 1.0)
    a2 = np.where(d > 1, 10.0, a)
    s0w, s1w = scale_fit(d, a2, w)
    assert s1w < 0.03


def test_calibrated_interval_contains_the_plain_one_and_grows_with_distance():
    runs = power_floor_runs(4)
    res = calibrate(sl.fit(runs, "power_floor:flops", bootstrap=30, seed=0), runs)
    C = np.array([1e20, 1e22, 1e23, 1e24])
    plain = prediction_interval(res, flops=C)
    calibrated = prediction_interval(res, flops=C, interval="calibrated")
    assert np.all(calibrated.low <= plain.low) and np.all(calibrated.high >= plain.high)
    np.testing.assert_allclose(calibrated.point, plain.point)
    c = res.calibration
    d = np.maximum(0, np.log10(C / c["x_max"]))
    q, _ = band_quantile(c, 0.95)
    np.testing.assert_allclose(calibrated.misfit, q * (c["s0"] + c["s1"] * d), rtol=1e-12)
    assert calibrated.misfit[0] < calibrated.misfit[2] < calibrated.misfit[3]
    assert calibrated.misfit[1] == pytest.approx(calibrated.misfit[0])  # both inside the data (d = 0)


@pytest.mark.parametrize("kw,message", [
    ({"decay": 0}, "decay must be"),
    ({"origins": 1}, "origins must be a whole number >= 2"),
    ({"min_fraction": 1.0}, "min_fraction must be"),
    ({"x": "loss"}, "x must be one of flops, params, tokens"),
    ({"x": "params"}, "distance in params cannot be had"),
])
def test_bad_options(kw, message):
    runs = power_floor_runs(5)
    res = sl.fit(runs, "power_floor:flops")
    with pytest.raises(ScalingLabError, match=message):
        calibrate(res, runs, **kw)


def test_other_runs_or_too_few_levels_are_refused():
    runs = power_floor_runs(6)
    res = sl.fit(runs, "power_floor:flops")
    with pytest.raises(ScalingLabError, match=r"result must be a FitResult \(from sl\.fit\), got PublishedLaw"):
        calibrate(sl.published["hoffmann2022"], runs)
    with pytest.raises(ScalingLabError, match="23 runs, but the fit of power_floor.* was made on 24"):
        calibrate(res, runs.iloc[:-1])
    # 3 budgets of 8 runs: only the second budget keeps half the runs with some above it
    three = pd.DataFrame({"flops": np.repeat([1e18, 1e19, 1e20], 8),
                          "loss": np.repeat([3.0, 2.6, 2.3], 8) * np.exp(0.01 * np.sin(np.arange(24)))})
    res3 = sl.fit(three, "power_floor:flops")
    with pytest.raises(ScalingLabError, match="1 refit\\(s\\) possible; calibration needs at least 2 origins"):
        calibrate(res3, three)


# ---- backtests ----------------------------------------------------------------------------------------------
def test_backtest_calibrates_on_the_training_runs_only():
    """Changing the held-out losses changes nothing in the intervals: nothing held out is seen."""
    runs = sl.simulate_isoflop("hoffmann2022", noise=0.01, seed=3)
    bt = sl.analysis.backtest(runs, "chinchilla", holdout_above=1e21, bootstrap=20, interval="calibrated")
    c = bt.fit.calibration
    assert c["x_max"] == pytest.approx(1e21, rel=1e-9) and max(c["origins"]) < 1e21
    assert bt.interval_method == "calibrated"
    p = bt.predictions
    assert bt.median_width == pytest.approx(np.median((p.high - p.low) / p.predicted))
    moved = runs.copy()
    moved.loc[moved.flops > 1e21, "loss"] *= 1.5
    bt2 = sl.analysis.backtest(moved, "chinchilla", holdout_above=1e21, bootstrap=20, interval="calibrated")
    np.testing.assert_array_equal(bt2.predictions.low, p.low)
    np.testing.assert_array_equal(bt2.predictions.high, p.high)
    assert bt2.coverage == 0.0  # 50% too high: outside every interval
    d = bt.to_dict()
    assert d["interval_method"] == "calibrated" and d["median_width"] == bt.median_width
    assert d["fit"]["calibration"]["n_origins"] == len(c["origins"])
    assert "calibrated interval (median width" in bt.summary()


def test_calibration_covers_a_misfit_the_plain_interval_misses():
    """Losses that bend away from the Chinchilla form (ln L gains 0.003 (log10 C/1e18)^2, 2.7% at
    1e21 FLOPs, 4.8% at 1e22): fitted below 1e21, the 18 runs above are predicted with an error that
    grows with distance. Measured over seeds 0-3 (72 runs): plain 95% intervals cover 0.79, calibrated
    0.94 at 1.6x the width."""
    plain, calibrated, ratio = [], [], []
    for s in range(4):
        runs = sl.simulate_isoflop("hoffmann2022", noise=0.005, seed=s)
        runs["loss"] *= np.exp(0.003 * np.log10(runs.flops / 1e18) ** 2)
        bt = sl.analysis.backtest(runs, "chinchilla", holdout_above=1e21, bootstrap=20, seed=s,
                                  interval="calibrated")
        p = bt.predictions
        pi = prediction_interval(bt.fit, params=p.params.to_numpy(), tokens=p.tokens.to_numpy())
        plain += list((p.observed >= pi.low) & (p.observed <= pi.high))
        calibrated += list(p.inside)
        ratio.append(bt.median_width / np.median((pi.high - pi.low) / pi.point))
    assert np.mean(plain) < 0.86 and np.mean(calibrated) >= 0.9
    assert 1.0 < np.median(ratio) < 3.0


def test_rolling_backtest_calibrated_reports_widths():
    runs = sl.simulate_isoflop("hoffmann2022", noise=0.01, seed=7)
    df = sl.analysis.rolling_backtest(runs, "chinchilla", [1e21, 3e21], bootstrap=0, interval="calibrated")
    assert df.attrs["interval_method"] == "calibrated" and len(df) == 2
    plain = sl.analysis.rolling_backtest(runs, "chinchilla", [1e21, 3e21], bootstrap=0)
    assert np.all(df.median_width >= plain.median_width) and np.all(df.coverage >= plain.coverage)
    with pytest.raises(ScalingLabError, match="interval must be one of prediction, calibrated"):
        sl.analysis.backtest(runs, "chinchilla", holdout_above=1e21, interval="parameters")


# ---- coverage on data from a correct law ------------------------------------------------------------------
def test_calibrated_coverage_on_a_correct_law_fast():
    """12 simulated fits of the right law, 5 held-out runs each: calibrated 95% intervals still cover
    (at least 0.85 of 60; measured 0.98) and are at most twice as wide as the plain ones (measured
    1.2x). The full check is the slow test below."""
    inside, ratio = [], []
    for s in range(12):
        bt = sl.analysis.backtest(power_floor_runs(s), "power_floor:flops", holdout_above=1e21, bootstrap=20,
                                  seed=s, interval="calibrated")
        pi = prediction_interval(bt.fit, flops=bt.predictions.flops.to_numpy())
        assert np.all(bt.predictions.low <= pi.low * (1 + 1e-12))
        inside += list(bt.predictions.inside)
        ratio.append(bt.median_width / np.median((pi.high - pi.low) / pi.point))
    assert np.mean(inside) >= 0.85
    assert 1.0 <= np.median(ratio) <= 2.0


@pytest.mark.slow
def test_calibrated_coverage_on_a_correct_law_200_seeds():
    """The issue's check on data from a correct law: calibrated 95% intervals cover at 90-99% over 200
    simulated fits (1,000 predictions), with a median width at most twice that of today's intervals.
    Measured: pooled 0.988 (today's 0.962), median width 20.3% vs 13.6% (1.45x). They are conservative
    far out: the farthest run of each fit (one decade beyond the data; 200 independent trials) is
    covered 200/200 times (today's 0.970), so only a floor is asserted there."""
    pooled, farthest, ratio = [], [], []
    for s in range(200):
        bt = sl.analysis.backtest(power_floor_runs(1000 + s), "power_floor:flops", holdout_above=1e21,
                                  bootstrap=50, seed=s, interval="calibrated")
        pi = prediction_interval(bt.fit, flops=bt.predictions.flops.to_numpy())
        pooled += list(bt.predictions.inside)
        farthest.append(bool(bt.predictions.inside.iloc[-1]))
        ratio.append(bt.median_width / np.median((pi.high - pi.low) / pi.point))
    assert 0.90 <= np.mean(pooled) <= 0.99
    assert np.mean(farthest) >= 0.90
    assert np.median(ratio) <= 2.0


# ---- real data ------------------------------------------------------------------------------------------------
def _li_runs(path):
    li = pd.read_csv(path)
    best = li.loc[li.groupby(["N", "D"])["loss"].idxmin()]
    return pd.DataFrame({"params": best.N.astype(float), "tokens": best.D.astype(float), "loss": best.loss})


def test_epoch_chinchilla_calibrated(shared_data):
    """Epoch's digitised Chinchilla runs (240 after dropping the 5 highest losses), fit <= 1e21 FLOPs,
    predict the 23 runs above. Plain intervals cover 13/23 (57%, median width 1.9%); calibrated on the
    217 fitted runs alone they cover 19/23 (83%) at a median width of 3.3%. Bounds: >= 0.8 (the issue's
    target) and a width below 5%."""
    path = shared_data / "epoch_chinchilla" / "svg_extracted_data.csv"
    if not path.exists():
        pytest.skip(f"not present: {path}")
    bt = sl.analysis.backtest(sl.load_runs(path, drop_highest_loss=5), "chinchilla", holdout_above=1e21,
                              bootstrap=200, seed=0, interval="calibrated")
    assert (bt.n_train, bt.n_test) == (217, 23)
    assert bt.coverage >= 0.8 and bt.median_width < 0.05
    assert bt.fit.calibration["x_max"] <= 1e21


def test_porian2024_calibrated(shared_data):
    """Porian et al. 2024, RefinedWeb 'Cosine decay' (88 points), fit budgets <= 5e18 FLOPs (largest
    3.2e18), predict the 18 points of the budgets 6.4e18, 1.28e19 and 2.56e19 (0.3, 0.6 and 0.9 decades
    out). The law over-predicts them by 1-2%, 2-3% and 3.6-4.8%. Plain intervals cover 9/18 (50%, width
    5.2%); calibrated with the default min_fraction 0.4, 18/18 (100%, width 11.6%): the earliest refit
    (40% of the runs) errs as much at 0.9 decades as the law does beyond the fit. With min_fraction 0.5
    the refits never erred by more than 3.1% at that distance and coverage is 61% (docs/analysis.md)."""
    runs = porian_cosine_runs(shared_data)
    bt = sl.analysis.backtest(runs, "chinchilla", holdout_above=5e18, bootstrap=200, seed=0, interval="calibrated")
    assert (bt.n_train, bt.n_test) == (70, 18)
    plain = sl.analysis.backtest(runs, "chinchilla", holdout_above=5e18, bootstrap=200, seed=0)
    assert plain.coverage <= 0.6 and bt.coverage >= 0.8 and bt.median_width < 0.15
    assert bt.fit.calibration["x_max"] <= 5e18


def test_li2025_calibrated(shared_data):
    """Li et al. 2025, final checkpoints, best LR per (N, D): fit N <= 3e8, predict the 9 runs of the
    522M and 1.18B models, calibrated in decades of N. Plain intervals already cover 9/9 (width 4.0%);
    calibrated 9/9 at 11.0%: refits on 2-4 sizes extrapolate poorly in N, and the calibration says so.
    Bounds: >= 0.8, width below 20%."""
    path = shared_data / "li2025_misfitting" / "scaling_results_last_ckpt_only.csv"
    if not path.exists():
        pytest.skip(f"not present: {path}")
    bt = sl.analysis.backtest(_li_runs(path), "chinchilla", holdout_above=3e8, x="params", bootstrap=200,
                              seed=0, interval="calibrated")
    assert (bt.n_train, bt.n_test) == (72, 9)
    assert bt.coverage >= 0.8 and bt.median_width < 0.20
    assert bt.fit.calibration["x"] == "params"
