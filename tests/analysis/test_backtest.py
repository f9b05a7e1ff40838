"""Backtests: fit below a threshold, predict above it, with calibrated prediction intervals."""

import numpy as np
import pandas as pd
import pytest
from analysis_data import porian_cosine_runs

import scalinglab as sl
from scalinglab.analysis.backtest import default_thresholds, size_labels
from scalinglab.errors import ScalingLabError

POWER_FLOOR = {"E": 1.8, "A": 2000.0, "alpha": 0.16}


def power_floor_runs(seed: int, n: int = 24, noise: float = 0.02) -> pd.DataFrame:
    """L = 1.8 + 2000 C^-0.16 nats/token at n log-spaced budgets 1e17..1e22 FLOPs; log-normal noise
    of sd ``noise``. Held out above 1e21: the 5 largest runs (one decade of extrapolation)."""
    rng = np.random.default_rng(seed)
    C = np.geomspace(1e17, 1e22, n)
    L = POWER_FLOOR["E"] + POWER_FLOOR["A"] * C ** -POWER_FLOOR["alpha"]
    return pd.DataFrame({"flops": C, "loss": L * np.exp(noise * rng.standard_normal(n))})


# ---- known truth ------------------------------------------------------------------------------------
def test_chinchilla_backtest_on_known_truth():
    runs = sl.simulate_isoflop("hoffmann2022", noise=0.01, seed=11)
    bt = sl.analysis.backtest(runs, "chinchilla", holdout_above=1e21, bootstrap=100, seed=0)
    assert (bt.n_train, bt.n_test) == (63, 18)  # 7 budgets <= 1e21 and 2 above, 9 sizes each
    p = bt.predictions
    assert list(p.columns[:9]) == ["params", "tokens", "flops", "observed", "predicted", "low", "high",
                                   "inside", "rel_error"]
    # figures are what they say they are
    assert bt.mare == pytest.approx(np.mean(np.abs(p.predicted - p.observed) / p.observed))
    assert bt.coverage == pytest.approx(np.mean((p.observed >= p.low) & (p.observed <= p.high)))
    np.testing.assert_allclose(p.distance, np.log10(p.flops / 1e21))
    # the fitted law's predictions track the truth far better than the noise: within 1% of it
    truth = sl.published["hoffmann2022"].predict(params=p.params.to_numpy(), tokens=p.tokens.to_numpy())
    assert np.max(np.abs(p.predicted / truth - 1)) < 0.01
    # 1% log-normal noise: E|eps| = 0.8%; MARE near that, and the intervals cover nearly every run
    assert 0.004 < bt.mare < 0.014
    assert bt.coverage >= 0.85
    assert bt.sigma == pytest.approx(0.01, rel=0.35)
    assert bt.warnings == []
    assert bt.fit.n_points == 63 and bt.fit.bootstrap == 100


def test_mare_close_to_the_noise_level_over_seeds():
    mares = [sl.analysis.backtest(sl.simulate_isoflop("hoffmann2022", noise=0.01, seed=s), "chinchilla",
                                  holdout_above=1e21, bootstrap=30, seed=s).mare for s in range(4)]
    # noise alone gives E|eps| = 0.01 * sqrt(2/pi) = 0.80%; parameter error adds a little
    assert 0.006 < np.mean(mares) < 0.012


def test_coverage_40_seeds():
    """95% intervals on the 5 held-out runs of 40 simulated fits (200 predictions). Predictions of one
    fit share its parameter error, so the effective sample lies between 40 and 200: the binomial sd
    at p = 0.95 is sqrt(.95*.05/40) = 3.4% for 40 and 1.5% for 200. Band: 0.88 (0.95 - 2 sd at 40)
    to 0.995 (0.95 + 3 sd at 200; a true 99.9% rate would exceed it). Without the bootstrap part the
    same intervals must under-cover (noise only: measured 0.75)."""
    inside, inside_noise_only = [], []
    for s in range(40):
        runs = power_floor_runs(s)
        bt = sl.analysis.backtest(runs, "power_floor:flops", holdout_above=1e21, bootstrap=50, seed=s)
        assert bt.n_test == 5
        inside += list(bt.predictions.inside)
        nb = sl.analysis.backtest(runs, "power_floor:flops", holdout_above=1e21, bootstrap=0, seed=s)
        inside_noise_only += list(nb.predictions.inside)
    assert 0.88 <= np.mean(inside) <= 0.995, np.mean(inside)
    assert np.mean(inside_noise_only) < 0.88


@pytest.mark.slow
def test_coverage_200_seeds():
    """The issue's check: 95% intervals cover at 90-99% across 200 simulated fits (measured 0.96 pooled
    over 1,000 predictions and 0.955 for the farthest run alone). The farthest held-out run of each
    fit gives 200 independent trials: binomial sd 1.5%, so 0.90-0.99 is -3.2 to +2.6 sd."""
    pooled, farthest = [], []
    for s in range(200):
        bt = sl.analysis.backtest(power_floor_runs(1000 + s), "power_floor:flops", holdout_above=1e21,
                                  bootstrap=50, seed=s)
        pooled += list(bt.predictions.inside)
        farthest.append(bool(bt.predictions.inside.iloc[-1]))
    assert 0.90 <= np.mean(pooled) <= 0.99
    assert 0.90 <= np.mean(farthest) <= 0.99


# ---- splits and options ------------------------------------------------------------------------------------
def test_size_threshold_and_reproducibility():
    runs = sl.simulate_isoflop("hoffmann2022", noise=0.01, seed=5)
    a = sl.analysis.backtest(runs, "chinchilla", holdout_above=5e9, x="params", bootstrap=20, seed=3)
    b = sl.analysis.backtest(runs, "chinchilla", holdout_above=5e9, x="params", bootstrap=20, seed=3)
    assert a.n_test == int((runs.params > 5e9).sum()) and a.n_train == len(runs) - a.n_test
    assert (a.predictions.params > 5e9).all()
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    assert a.to_dict()["x"] == "params"


def test_bad_thresholds_name_the_numbers():
    runs = sl.simulate_isoflop("hoffmann2022", noise=0.01, seed=5)
    with pytest.raises(ScalingLabError, match=r"no run has flops above it \(largest flops .* is 1e\+22\)"):
        sl.analysis.backtest(runs, "chinchilla", holdout_above=1e23)
    with pytest.raises(ScalingLabError, match="only 0 runs have flops <= 1e\\+17.*5 free parameters.*at least 6"):
        sl.analysis.backtest(runs, "chinchilla", holdout_above=1e17)
    with pytest.raises(ScalingLabError, match="x must be one of"):
        sl.analysis.backtest(runs, "chinchilla", holdout_above=1e21, x="loss")
    with pytest.raises(ScalingLabError, match="step"):
        sl.analysis.backtest(runs, "kaplan_ns", holdout_above=1e21)


def test_to_dict_contract():
    bt = sl.analysis.backtest(power_floor_runs(1), "power_floor:flops", holdout_above=1e21, bootstrap=20)
    d = bt.to_dict()
    assert {"mare", "coverage", "predictions", "n_train", "n_test", "notes", "warnings"} <= set(d)
    assert len(d["predictions"]) == 5
    first = d["predictions"][0]
    assert {"params", "tokens", "observed", "predicted", "low", "high"} <= set(first)
    assert first["params"] is None and first["low"] < first["predicted"] < first["high"]


# ---- rolling and leave-one-size-out -------------------------------------------------------------------------
def test_default_thresholds():
    xs = np.repeat([1e18, 1e19, 1e20, 1e21, 1.01e21, 1e22], 4)  # 1e21 and 1.01e21 are one level
    assert default_thresholds(xs, n_params=3) == [1e19, 1e20, 1.01e21]  # >= 8 runs fitted, a level above
    assert size_labels(np.array([1e9, 1.01e9, 2e9, 1e8])).tolist() == [1, 1, 2, 0]


def test_rolling_error_grows_with_extrapolation_distance():
    runs = sl.simulate_isoflop("hoffmann2022", noise=0.01, seed=7)
    df = sl.analysis.rolling_backtest(runs, "chinchilla", bootstrap=20)
    assert list(df.columns) == ["threshold", "n_train", "n_test", "mare", "coverage", "distance",
                                "median_distance", "median_width"]
    # budgets 1e18..1e22; at least 12 runs fitted -> thresholds 3e18 .. 3e21
    assert df.threshold.tolist() == pytest.approx([3e18, 1e19, 3e19, 1e20, 3e20, 1e21, 3e21])
    assert df.distance.tolist() == pytest.approx(np.log10(1e22 / df.threshold).tolist())
    assert df.mare.iloc[0] > 2 * df.mare.iloc[-1]  # 3.5 decades out is far worse than 0.5
    one = sl.analysis.rolling_backtest(runs, "chinchilla", [1e21, 1e25], bootstrap=20)
    assert len(one) == 1 and "1e+25 skipped" in one.attrs["notes"][0]


def test_leave_one_size_out_on_a_grid():
    law = sl.published["hoffmann2022"]
    N, D = np.meshgrid(np.geomspace(1e8, 1e10, 5), np.geomspace(2e9, 2e11, 5))
    rng = np.random.default_rng(0)
    loss = law.predict(params=N.ravel(), tokens=D.ravel()) * np.exp(0.01 * rng.standard_normal(25))
    runs = pd.DataFrame({"params": N.ravel(), "tokens": D.ravel(), "loss": loss})
    res = sl.analysis.leave_one_size_out(runs, "chinchilla", bootstrap=20)
    assert res.table.position.tolist() == ["smallest", "interior", "interior", "interior", "largest"]
    assert (res.table.n_test == 5).all() and (res.table.n_train == 20).all()
    np.testing.assert_allclose(res.table.params, np.geomspace(1e8, 1e10, 5))
    assert len(res.predictions) == 25
    assert 0.003 < res.mare < 0.02 and res.coverage >= 0.8
    with pytest.raises(ScalingLabError, match="only 2 distinct model sizes"):
        sl.analysis.leave_one_size_out(runs[runs.params < 5e8], "chinchilla")


# ---- real data ------------------------------------------------------------------------------------------------
def test_epoch_chinchilla_backtest(shared_data):
    """Hoffmann et al. 2022 runs as digitised by Epoch (240 after dropping the 5 highest losses), fit
    below 1e21 FLOPs, predict the 23 largest-compute runs (up to 1.3e22). Measured: MARE 1.05%,
    coverage 0.57 (the held-out errors are mostly a systematic bias the law's intervals do not
    contain; the Huber fit's robust noise scale is 0.4%). Bounds: twice the measured MARE; coverage
    between 0.3 and 0.9 (it is far from 0.95, and that is the finding)."""
    path = shared_data / "epoch_chinchilla" / "svg_extracted_data.csv"
    if not path.exists():
        pytest.skip(f"not present: {path}")
    runs = sl.load_runs(path, drop_highest_loss=5)
    bt = sl.analysis.backtest(runs, "chinchilla", holdout_above=1e21, bootstrap=200, seed=0)
    assert (bt.n_train, bt.n_test) == (217, 23)
    assert bt.mare < 0.021
    assert 0.3 <= bt.coverage <= 0.9
    assert bt.fit.converged
    # the largest run (1.3e22 FLOPs) is the worst predicted: over-predicted by ~3%
    far = bt.predictions.sort_values("flops").iloc[-1]
    assert 0.015 < far.rel_error < 0.05


def test_li2025_backtest_by_size(shared_data):
    """Li et al. 2025 open_lm sweep, final checkpoints, best LR per (N, D): 81 runs. Fit N <= 3e8
    parameters (with embeddings), predict the 522M and 1.18B models (9 runs). Measured: MARE 0.75%,
    coverage 1.0. Bound: MARE < 1.5% (twice measured)."""
    path = shared_data / "li2025_misfitting" / "scaling_results_last_ckpt_only.csv"
    if not path.exists():
        pytest.skip(f"not present: {path}")
    li = pd.read_csv(path)
    best = li.loc[li.groupby(["N", "D"])["loss"].idxmin()]
    runs = pd.DataFrame({"params": best.N.astype(float), "tokens": best.D.astype(float), "loss": best.loss})
    bt = sl.analysis.backtest(runs, "chinchilla", holdout_above=3e8, x="params", bootstrap=200, seed=0)
    assert (bt.n_train, bt.n_test) == (72, 9)
    assert bt.mare < 0.015 and bt.coverage >= 0.75


def test_porian2024_backtest(shared_data):
    """Porian et al. 2024, RefinedWeb 'Cosine decay' IsoFLOP points (88), fit budgets <= 5e18 FLOPs,
    predict 1.28e19 and 2.56e19 (18 points). Measured: MARE 2.8%, coverage 0.5. Bound: MARE < 5%."""
    runs = porian_cosine_runs(shared_data)
    bt = sl.analysis.backtest(runs, "chinchilla", holdout_above=5e18, bootstrap=200, seed=0)
    assert (bt.n_train, bt.n_test) == (70, 18)
    assert bt.mare < 0.05 and 0.2 <= bt.coverage <= 1.0
