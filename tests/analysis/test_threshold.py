"""Capability thresholds: the compute at which a predicted loss or metric first crosses a target, its
interval, 'never' when the curve cannot reach it, and how the interval widens with extrapolation."""

import math

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.analysis import SigmoidFit, capability_threshold, fit_sigmoid, threshold_widening, two_step
from scalinglab.analysis.threshold import law_crossing
from scalinglab.errors import ScalingLabError

MID, SLOPE, CHANCE = 22.0, 2.0, 0.25
E, A, ALPHA = 1.8, 2000.0, 0.15  # L = E + A C^-alpha, nats/token


def true_crossing(target: float) -> float:
    """FLOPs where 0.25 + 0.75 / (1 + exp(-2 (log10 C - 22))) = target."""
    return 10 ** (MID + math.log((target - CHANCE) / (1 - target)) / SLOPE)


def accuracy_runs(seed: int, n: int = 30, hi: float = 23.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    C = np.logspace(19, hi, n)
    acc = CHANCE + (1 - CHANCE) / (1 + np.exp(-SLOPE * (np.log10(C) - MID)))
    return pd.DataFrame({"flops": C, "accuracy": rng.binomial(500, acc) / 500})


def loss_runs(seed: int, n: int = 20, noise: float = 0.005) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    C = np.logspace(19, 23, n)
    L = E + A * C ** -ALPHA
    acc = CHANCE + (1 - CHANCE) / (1 + np.exp(6 * (L - 2.6)))
    return pd.DataFrame({"flops": C, "loss": L * np.exp(rng.normal(0, noise, n)), "accuracy": rng.binomial(500, acc) / 500})


def test_sigmoid_threshold_recovers_true_crossing():
    th = capability_threshold(accuracy_runs(0), "accuracy", target=0.9, chance=CHANCE, seed=0)
    truth = true_crossing(0.9)  # 1.93e23 FLOPs, 0.29 decades beyond the largest run
    assert th.low <= truth <= th.high and th.reached and th.method == "sigmoid"
    assert th.flops == th.value and th.fraction_reached == 1.0
    assert th.extrapolation_decades == pytest.approx(math.log10(th.value / 1e23))
    # the point is the inverted fitted sigmoid
    fit = fit_sigmoid(accuracy_runs(0), chance=CHANCE, bootstrap=0)
    assert math.log10(th.value) == pytest.approx(fit.midpoint + math.log((0.9 - 0.25) / 0.1) / fit.slope, rel=1e-12)
    d = th.to_dict()
    assert (d["flops"], d["low"], d["high"]) == (th.value, th.low, th.high)


def test_sigmoid_threshold_interval_coverage_40_seeds():
    # measured 94% over 100 seeds; if coverage were 95%, P(hits <= 32 of 40) = 0.0007
    truth = true_crossing(0.9)
    hits = 0
    for seed in range(40):
        th = capability_threshold(accuracy_runs(seed + 500), target=0.9, chance=CHANCE, bootstrap=200, seed=seed)
        hits += th.low <= truth <= th.high
    assert hits >= 33


def test_loss_threshold_matches_closed_form_and_holds_truth():
    th = capability_threshold(loss_runs(1), "loss", target=2.3, seed=0)
    truth = ((2.3 - E) / A) ** (-1 / ALPHA)  # 1.03e24 FLOPs
    assert th.low <= truth <= th.high and th.method == "law" and th.direction == "below"
    fit = sl.fit(loss_runs(1)[["flops", "loss"]], law="power_floor:flops")
    p = fit.params
    assert th.value == pytest.approx(((2.3 - p["E"]) / p["A"]) ** (-1 / p["alpha"]), rel=1e-5)


def test_law_crossing_is_exact_on_a_known_law():
    law = sl.laws.get_family("power_floor:flops")
    theta = law.from_natural({"E": E, "A": A, "alpha": ALPHA})[None, :]
    targets = np.array([3.0, 2.3, 1.9, 1.7])
    x = law_crossing(law, np.repeat(theta, 4, axis=0), targets, "flops")
    np.testing.assert_allclose(x[:3], ((targets[:3] - E) / A) ** (-1 / ALPHA), rtol=1e-5)
    assert x[3] == math.inf  # below the irreducible loss E = 1.8


def test_loss_below_irreducible_is_never_reached():
    th = capability_threshold(loss_runs(1), "loss", target=1.5, seed=0)
    assert not th.reached and th.value == math.inf and th.fraction_reached == 0.0
    assert any("irreducible loss E" in n for n in th.notes)
    d = th.to_dict()
    assert (d["flops"], d["low"], d["high"], d["reached"]) == (None, None, None, False)


def test_target_above_a_fitted_ceiling_is_never_reached():
    rng = np.random.default_rng(2)
    C = np.logspace(19, 25, 30)
    acc = 0.25 + 0.55 / (1 + np.exp(-2 * (np.log10(C) - 22)))  # saturates at 0.8
    df = pd.DataFrame({"flops": C, "accuracy": rng.binomial(500, acc) / 500})
    th = capability_threshold(df, target=0.9, chance=CHANCE, ceiling=None, seed=0)
    assert not th.reached and th.to_dict()["flops"] is None
    assert any("outside the fitted curve's range" in n for n in th.notes)


def test_partly_reached_draws_give_an_unbounded_interval():
    draws = np.array([[22.0, 2.0, 0.25, 1.0]] * 90 + [[22.0, 2.0, 0.25, 0.85]] * 10)  # 10% saturate below 0.9
    fit = SigmoidFit(metric="accuracy", x="flops", midpoint=22.0, slope=2.0, floor=0.25, ceiling=1.0, n_points=30,
                     rss=0.0, converged=True, fitted=("midpoint", "slope", "ceiling"), draws=draws)
    th = capability_threshold(fit, target=0.9)
    assert th.value == pytest.approx(true_crossing(0.9)) and th.fraction_reached == pytest.approx(0.9)
    assert th.high == math.inf and th.to_dict()["high"] is None and th.low == pytest.approx(th.value)
    assert any("10% of the bootstrap draws never reach" in n for n in th.notes)


def test_two_step_threshold_holds_truth():
    th = capability_threshold(loss_runs(3), "accuracy", target=0.9, law="power_floor:flops", chance=CHANCE, seed=0)
    loss_at_target = 2.6 - math.log((0.9 - 0.25) / 0.1) / 6
    truth = ((loss_at_target - E) / A) ** (-1 / ALPHA)  # 1.2e24 FLOPs
    assert th.method == "two_step" and th.low <= truth <= th.high
    ts = two_step(loss_runs(3), chance=CHANCE, bootstrap=0)
    assert ts.predict(flops=th.value).value[0] == pytest.approx(0.9, abs=1e-3)  # the crossing is where it says


def test_interval_widens_with_extrapolation_distance():
    table = threshold_widening(accuracy_runs(4, n=40), target=0.9, chance=CHANCE, seed=0)
    assert len(table) == 4 and list(table.n_points) == [40, 34, 28, 22]
    assert np.all(np.diff(table.distance_decades) > 0)
    assert np.all(np.diff(table.width_decades) > 0)
    assert table.width_decades.iloc[-1] > 3 * table.width_decades.iloc[0]
    loss = threshold_widening(loss_runs(5, n=24), "loss", target=2.2, seed=0)
    assert np.all(np.diff(loss.width_decades) > 0)


def test_threshold_on_observational_scaling_data(shared_data):
    """MMLU of 123 base models (Ruan et al. 2024): 80% at ~3e24 FLOPs (measured), inside the data range."""
    path = shared_data / "obsscaling" / "base_llm_benchmark_eval.csv"
    th = capability_threshold(path, "MMLU", 0.8, chance=0.25, columns={"flops": "FLOPs (1E21)"}, x_scale=1e21)
    assert 24.2 < math.log10(th.value) < 24.7
    assert th.low < th.value < th.high and math.log10(th.high / th.low) < 1.5
    assert th.largest_observed == pytest.approx(3.645e25)  # the largest model with known FLOPs


@pytest.mark.parametrize("kw, msg", [
    ({"target": 0.2, "chance": 0.25}, r"--target 0.2 is outside the sigmoid's range \(0.25, 1\)"),
    ({"target": 1.0}, r"outside the sigmoid's range \(0, 1\)"),
    ({"target": 0.8, "x": "loss"}, "--x must be one of flops, params, tokens"),
    ({"target": 0.8, "direction": "up"}, "direction must be 'above' or 'below'"),
    ({"target": float("nan")}, "--target must be a finite number"),
])
def test_bad_threshold_requests(kw, msg):
    with pytest.raises(ScalingLabError, match=msg):
        capability_threshold(accuracy_runs(0), "accuracy", **kw)
