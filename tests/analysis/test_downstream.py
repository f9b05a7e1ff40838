"""Downstream accuracy vs scale: sigmoid fits, two-step prediction and few-shot joint fits on simulated
data with known truth, plus input validation."""

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.analysis import fit_few_shot, fit_sigmoid, two_step
from scalinglab.errors import FitError, ScalingLabError

MID, SLOPE, CHANCE = 22.0, 2.0, 0.25  # truth: midpoint 1e22 FLOPs, slope 2 per decade, 4-way multiple choice
LAW = {"E": 1.8, "A": 2000.0, "alpha": 0.15}  # step 1 truth: L = E + A C^-alpha (nats/token)
LOSS_MID, LOSS_SLOPE = 2.6, -6.0  # step 2 truth: accuracy vs loss


def sigmoid(t, mid=MID, slope=SLOPE, floor=CHANCE, ceiling=1.0):
    return floor + (ceiling - floor) / (1 + np.exp(-slope * (t - mid)))


def accuracy_runs(seed: int, n: int = 30, lo: float = 19, hi: float = 25, questions: int = 500, **kw) -> pd.DataFrame:
    """n models at log-spaced FLOPs 10^lo..10^hi; accuracy = binomial(questions, sigmoid) / questions."""
    rng = np.random.default_rng(seed)
    C = np.logspace(lo, hi, n)
    return pd.DataFrame({"flops": C, "accuracy": rng.binomial(questions, sigmoid(np.log10(C), **kw)) / questions})


def two_step_runs(seed: int, n: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    C = np.logspace(19, 23, n)
    L = LAW["E"] + LAW["A"] * C ** -LAW["alpha"]
    acc = sigmoid(L, LOSS_MID, LOSS_SLOPE)
    return pd.DataFrame({"flops": C, "loss": L * np.exp(rng.normal(0, 0.005, n)),
                         "accuracy": rng.binomial(500, acc) / 500})


# ---- sigmoid: recovery, predictions, coverage -------------------------------------------------------
def test_sigmoid_recovers_known_midpoint_and_slope_within_interval():
    # a single data set may miss (5% of them should); the coverage tests below check the rate
    fit = fit_sigmoid(accuracy_runs(1), chance=CHANCE, bootstrap=200, seed=0)
    assert fit.converged and fit.fitted == ("midpoint", "slope")
    assert fit.ci["midpoint"][0] <= MID <= fit.ci["midpoint"][1]
    assert fit.ci["slope"][0] <= SLOPE <= fit.ci["slope"][1]
    assert fit.midpoint == pytest.approx(MID, abs=0.1) and fit.slope == pytest.approx(SLOPE, rel=0.1)
    assert (fit.floor, fit.ceiling) == (CHANCE, 1.0)
    assert fit.midpoint_x == pytest.approx(10 ** fit.midpoint)
    assert fit.transition_width == pytest.approx(2 * np.log(9) / fit.slope)
    # binomial noise of 500 questions: sd <= 0.022, so the rmse is about that
    assert 0.01 < np.sqrt(fit.rss / fit.n_points) < 0.025
    d = fit.to_dict()
    assert d["midpoint_unit"] == "log10 FLOPs" and d["midpoint_flops"] == pytest.approx(fit.midpoint_x)


def test_sigmoid_prediction_matches_formula_and_interval_holds_truth():
    fit = fit_sigmoid(accuracy_runs(4), chance=CHANCE, bootstrap=200, seed=1)
    pred = fit.predict([1e21, 1e22, 1e23])
    expected = CHANCE + (1 - CHANCE) / (1 + np.exp(-fit.slope * (np.array([21, 22, 23]) - fit.midpoint)))
    np.testing.assert_allclose(pred.value, expected, rtol=1e-12)
    truth = sigmoid(np.array([21.0, 22.0, 23.0]))
    assert np.all((pred.low <= truth) & (truth <= pred.high))
    assert np.all(pred.low < pred.value) and np.all(pred.value < pred.high)


def test_sigmoid_same_seed_same_answer_and_seed_matters():
    a = fit_sigmoid(accuracy_runs(5), chance=CHANCE, seed=7)
    b = fit_sigmoid(accuracy_runs(5), chance=CHANCE, seed=7)
    c = fit_sigmoid(accuracy_runs(5), chance=CHANCE, seed=8)
    assert a.ci == b.ci and a.ci != c.ci
    assert a.midpoint == c.midpoint  # the point fit does not depend on the seed


def test_sigmoid_fitted_floor_and_ceiling_recovered():
    df = accuracy_runs(7, n=40, lo=18, hi=26, floor=0.1, ceiling=0.85)  # measured coverage 92-97% over 100 seeds
    fit = fit_sigmoid(df, chance=None, ceiling=None, bootstrap=200, seed=0)
    assert fit.fitted == ("midpoint", "slope", "floor", "ceiling") and fit.converged
    for name, truth in (("midpoint", MID), ("slope", SLOPE), ("floor", 0.1), ("ceiling", 0.85)):
        lo, hi = fit.ci[name]
        assert lo <= truth <= hi, name


def test_sigmoid_against_loss_has_negative_slope():
    C = np.logspace(19, 23, 25)
    L = LAW["E"] + LAW["A"] * C ** -LAW["alpha"]
    df = pd.DataFrame({"loss": L, "accuracy": sigmoid(L, LOSS_MID, LOSS_SLOPE)})
    fit = fit_sigmoid(df, x="loss", chance=CHANCE, bootstrap=0)
    assert fit.midpoint == pytest.approx(LOSS_MID, abs=1e-6) and fit.slope == pytest.approx(LOSS_SLOPE, rel=1e-5)
    assert fit.to_dict()["midpoint_unit"] == "nats/token" and fit.midpoint_x == fit.midpoint
    assert fit.draws is None and fit.ci == {}


def _coverage(seeds) -> np.ndarray:
    hits = np.zeros(2, dtype=int)
    for seed in seeds:
        fit = fit_sigmoid(accuracy_runs(seed), chance=CHANCE, bootstrap=200, seed=seed)
        hits += [fit.ci["midpoint"][0] <= MID <= fit.ci["midpoint"][1], fit.ci["slope"][0] <= SLOPE <= fit.ci["slope"][1]]
    return hits


def test_sigmoid_interval_coverage_40_seeds():
    # 95% intervals: if coverage were 95%, P(hits <= 32 of 40) = 0.0007; measured 93-94% with 30 models
    hits = _coverage(range(100, 140))
    assert np.all(hits >= 33), hits


@pytest.mark.slow
def test_sigmoid_interval_coverage_200_seeds():
    # Binomial(200, 0.95): P(X <= 177) = 0.0005, P(X = 200) = 3.5e-5 (too wide an interval)
    hits = _coverage(range(1000, 1200))
    assert np.all((hits >= 178) & (hits <= 199)), hits


# ---- two-step --------------------------------------------------------------------------------------
def test_two_step_predicts_larger_budget_within_interval():
    ts = two_step(two_step_runs(1), chance=CHANCE, bootstrap=200, seed=0)
    assert ts.law.law == "power_floor(flops)" and ts.law.draws is not None
    assert ts.sigmoid.x == "loss" and ts.sigmoid.slope < 0
    assert ts.sigmoid.ci["midpoint"][0] <= LOSS_MID <= ts.sigmoid.ci["midpoint"][1]
    for C in (1e24, 1e25):  # one and two decades beyond the largest run
        truth_loss = LAW["E"] + LAW["A"] * C ** -LAW["alpha"]
        p = ts.predict(flops=C)
        assert p.low[0] <= sigmoid(truth_loss, LOSS_MID, LOSS_SLOPE) <= p.high[0]
        # the point is sigmoid(law(C)) exactly
        L = ts.law.predict(flops=C).loss
        assert p.loss[0] == pytest.approx(float(L))
        assert p.value[0] == pytest.approx(float(sigmoid(L, ts.sigmoid.midpoint, ts.sigmoid.slope)))


@pytest.mark.slow
def test_two_step_prediction_interval_coverage_100_seeds():
    # accuracy at 1e24 FLOPs (one decade beyond the data); measured 96/100. Binomial(100, 0.95): P(X <= 87) = 0.0015
    C = 1e24
    truth = sigmoid(LAW["E"] + LAW["A"] * C ** -LAW["alpha"], LOSS_MID, LOSS_SLOPE)
    hits = 0
    for seed in range(100):
        p = two_step(two_step_runs(seed), chance=CHANCE, bootstrap=200, seed=seed).predict(flops=C)
        hits += p.low[0] <= truth <= p.high[0]
    assert 88 <= hits <= 99


def test_two_step_with_a_given_law_uses_it_unchanged(tmp_path):
    df = two_step_runs(2)
    law = sl.fit(df[["flops", "loss"]], law="power_floor:flops")  # no bootstrap draws
    path = tmp_path / "law.json"
    law.save(path)
    ts = two_step(df, law=str(path), chance=CHANCE, bootstrap=50, seed=0)
    assert ts.law.params == pytest.approx(law.params)
    assert any("no bootstrap draws" in n for n in ts.notes)
    p = ts.predict(flops=1e24)
    assert p.low[0] < p.value[0] < p.high[0]  # the sigmoid's draws alone give an interval


def test_two_step_rejects_two_variable_family():
    with pytest.raises(ScalingLabError, match="one-variable law"):
        two_step(two_step_runs(3), law="chinchilla", chance=CHANCE, bootstrap=0)


# ---- few-shot ----------------------------------------------------------------------------------------
def few_shot_runs(seed: int, mids=(22.5, 22.0, 21.6), slopes=(SLOPE,) * 3, shots=(0, 1, 5)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for k, m, s in zip(shots, mids, slopes):
        C = np.logspace(19, 25, 15)
        acc = rng.binomial(500, sigmoid(np.log10(C), m, s)) / 500
        rows.append(pd.DataFrame({"flops": C, "shots": k, "accuracy": acc}))
    return pd.concat(rows, ignore_index=True)


def test_few_shot_shared_slope_recovered_with_multipliers():
    fit = fit_few_shot(few_shot_runs(0), chance=CHANCE, bootstrap=200, seed=0)
    assert fit.shots == [0.0, 1.0, 5.0] and fit.converged
    assert fit.ci["slope"][0] <= SLOPE <= fit.ci["slope"][1]
    for k, m in zip(fit.shots, (22.5, 22.0, 21.6)):
        lo, hi = fit.ci[f"midpoint[{k:g}]"]
        assert lo <= m <= hi
    # 5 shots are worth 10^(22.5 - 21.6) = 7.9x compute over 0 shots
    lo, hi = fit.multiplier_ci[5.0]
    assert lo <= 10 ** 0.9 <= hi and fit.multipliers[0.0] == 1.0
    assert fit.multipliers[5.0] == pytest.approx(10 ** (fit.midpoints[0.0] - fit.midpoints[5.0]))
    assert "wild bootstrap" in fit.test["method"]
    assert (fit.test["p_value"] * 201) == pytest.approx(round(fit.test["p_value"] * 201))  # (1 + count) / (B + 1)
    p = fit.predict([1e22], shots=5.0)
    assert p.value[0] == pytest.approx(sigmoid(22.0, fit.midpoints[5.0], fit.slope))


def test_few_shot_shared_slope_test_holds_its_level_40_seeds():
    # truth shares the slope; binomial noise (unequal variances) made the plain F distribution reject 10.5%
    # of 200 seeds at 5%, the wild bootstrap 5.5%. Binomial(40, 0.05): P(X >= 7) = 0.003.
    rejections = sum(fit_few_shot(few_shot_runs(seed), chance=CHANCE, bootstrap=100, seed=seed).test["p_value"] < 0.05
                     for seed in range(200, 240))
    assert rejections <= 6


def test_few_shot_different_slopes_rejected_by_f_test():
    df = few_shot_runs(1, mids=(22.5, 21.6), slopes=(1.0, 3.0), shots=(0, 5))
    fit = fit_few_shot(df, chance=CHANCE, bootstrap=0)
    assert fit.test["p_value"] < 1e-6 and fit.test["df"] == [1, 30 - 4]  # bootstrap=0: F distribution
    assert fit.separate_slopes[0.0] == pytest.approx(1.0, rel=0.15)
    assert fit.separate_slopes[5.0] == pytest.approx(3.0, rel=0.15)


def test_few_shot_needs_two_shot_counts():
    df = few_shot_runs(2, mids=(22.0,), slopes=(2.0,), shots=(0,))
    with pytest.raises(FitError, match="single shot count"):
        fit_few_shot(df, chance=CHANCE)


# ---- input validation ----------------------------------------------------------------------------------
def test_missing_metric_column_names_the_columns():
    with pytest.raises(ScalingLabError, match=r"no column 'acc'; columns are: 'flops', 'accuracy'"):
        fit_sigmoid(accuracy_runs(0), metric="acc")


def test_accuracy_outside_unit_interval_names_row_and_column():
    df = accuracy_runs(0)
    df.loc[4, "accuracy"] = 57.0  # a percentage
    with pytest.raises(ScalingLabError, match=r"row 5, column 'accuracy': value 57 is outside \[0, 1\]"):
        fit_sigmoid(df, chance=CHANCE)


def test_non_numeric_cell_and_non_positive_scale(tmp_path):
    path = tmp_path / "runs.csv"
    df = accuracy_runs(0, n=8)
    df.astype(object).assign(accuracy=lambda d: d.accuracy.where(d.index != 2, "abc")).to_csv(path, index=False)
    with pytest.raises(ScalingLabError, match=r"runs.csv: row 3, column 'accuracy': value 'abc' is not a number"):
        fit_sigmoid(path, chance=CHANCE)
    df.loc[0, "flops"] = 0.0
    with pytest.raises(ScalingLabError, match=r"row 1, column 'flops': value 0 must be > 0"):
        fit_sigmoid(df, chance=CHANCE)


def test_blank_cells_dropped_with_note_and_x_scale():
    df = accuracy_runs(0, n=12)
    df = df.rename(columns={"flops": "FLOPs (1E21)"})
    df["FLOPs (1E21)"] /= 1e21
    df.loc[[2, 7], "accuracy"] = np.nan
    fit = fit_sigmoid(df, chance=CHANCE, bootstrap=0, columns={"flops": "FLOPs (1E21)"}, x_scale=1e21)
    assert fit.n_points == 10
    assert any("dropped 2 row(s)" in n and "rows 3, 8" in n for n in fit.notes)
    assert fit.midpoint == pytest.approx(MID, abs=0.2)  # log10 FLOPs, not log10 of 1e21 units


def test_fewer_points_than_parameters():
    with pytest.raises(FitError, match=r"3 usable rows .* 4 free parameters; need at least 5"):
        fit_sigmoid(accuracy_runs(0, n=3), chance=None, ceiling=None)


@pytest.mark.parametrize("kw, msg", [({"bootstrap": 5}, "too few resamples"), ({"chance": 1.5}, r"--chance must"),
                                     ({"chance": 0.5, "ceiling": 0.4}, "must be below --ceiling"),
                                     ({"x": "steps"}, "unknown scale column")])
def test_bad_options(kw, msg):
    with pytest.raises(ScalingLabError, match=msg):
        fit_sigmoid(accuracy_runs(0), **kw)
