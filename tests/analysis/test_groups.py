"""Per-group laws (sl.analysis.groups): truth recovery, compute multiplier, exponent tests, gap trend, CLI.

Simulated groups follow L(C) = E + A (C/k)^-alpha (nats/token, C in FLOPs) with log-normal noise: a group
whose runs reach a given loss at k times the compute has a true compute multiplier of exactly k at every C.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from conftest import run_cli
from scalinglab.analysis import compute_multiplier, fit_groups, gap_trend
from scalinglab.analysis.group_tests import exponent_names
from scalinglab.analysis.multiplier import floor_form, interval_allowing_inf, loss_curve
from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fitting import FitResult
from scalinglab.laws import get_family
from scalinglab.plan.allocation import chinchilla_optimum

TRUTH = {"A": (1.8, 700.0, 0.15), "B": (2.1, 2000.0, 0.20), "C": (1.5, 300.0, 0.12)}


def simulate(E, A, alpha, name, k=1.0, n=20, noise=0.005, seed=0, lo=1e17, hi=1e21):
    """n runs from lo to hi FLOPs of L = E + A (C/k)^-alpha with log-normal noise ``noise``."""
    rng = np.random.default_rng(seed)
    c = np.geomspace(lo, hi, n)
    loss = (E + A * (c / k) ** -alpha) * np.exp(noise * rng.standard_normal(n))
    return pd.DataFrame({"flops": c, "loss": loss, "group": name})


def law_result(family, params, level=0.95):
    """A FitResult holding given parameters (no data, no draws), for checks of the closed forms."""
    fam = get_family(family)
    return FitResult(law=fam.label, family=fam, theta=fam.from_natural(params), params=dict(params), derived={},
                     objective=0.0, rmse_log=0.0, n_points=0, converged=True, level=level)


@pytest.fixture(scope="module")
def three_groups():
    df = pd.concat([simulate(*TRUTH[g], g, seed=i) for i, g in enumerate(TRUTH)])
    return fit_groups(df, bootstrap=200, seed=0)


@pytest.fixture(scope="module")
def scaled():
    """B is A with compute scaled by 3 (needs 3x the FLOPs), C by 0.5 (needs half)."""
    E, A, alpha = TRUTH["A"]
    df = pd.concat([simulate(E, A, alpha, "A", seed=11), simulate(E, A, alpha, "B", k=3.0, seed=12),
                    simulate(E, A, alpha, "C", k=0.5, seed=13)])
    return fit_groups(df, bootstrap=200, seed=0)


# ---- per-group fits ---------------------------------------------------------------------------------------
def test_each_group_recovers_its_truth_within_its_interval(three_groups):
    assert list(three_groups.results) == ["A", "B", "C"] and three_groups.reference == "A"
    for g, truth in TRUTH.items():
        r = three_groups.results[g]
        assert r.n_points == 20 and r.bootstrap_unit == "rows"  # the group column is gone: rows resampled
        for name, true in zip(("E", "A", "alpha"), truth):
            lo, hi = r.ci[name]
            assert lo < true < hi, (g, name, lo, true, hi)
        assert r.params["alpha"] == pytest.approx(truth[2], abs=0.02)


def test_same_seed_same_answer_and_groups_independent_of_order():
    df = pd.concat([simulate(*TRUTH[g], g, seed=i) for i, g in enumerate(("A", "B"))])
    r1 = fit_groups(df, bootstrap=20, seed=5)
    r2 = fit_groups(df, bootstrap=20, seed=5)
    assert r1.to_dict() == r2.to_dict()
    flipped = fit_groups(pd.concat([df[df["group"] == "B"], df[df["group"] == "A"]]), bootstrap=20, seed=5)
    assert flipped.reference == "B" and list(flipped.results) == ["B", "A"]
    for g in "AB":  # each group's seed comes from its name, not its position
        assert flipped.results[g].ci == r1.results[g].ci
    assert fit_groups(df, bootstrap=20, seed=6).results["A"].ci != r1.results["A"].ci


def test_by_any_column_and_group_column_dropped():
    df = pd.concat([simulate(*TRUTH[g], g, seed=i) for i, g in enumerate(("A", "B"))])
    df = df.rename(columns={"group": "language"}).assign(group="all")  # a 1-valued 'group' must not matter
    res = fit_groups(df, by="language", bootstrap=20, reference="B")
    assert res.by == "language" and res.reference == "B" and set(res.results) == {"A", "B"}
    assert all(r.bootstrap_unit == "rows" for r in res.results.values())
    assert set(res.compute_multiplier) == {"A"}


# ---- compute multiplier --------------------------------------------------------------------------------------
def test_multiplier_recovers_the_compute_scaling(scaled):
    for g, k in (("B", 3.0), ("C", 0.5)):
        m = scaled.compute_multiplier[g]
        assert list(m.flops) == pytest.approx([1e19, 1e21])  # geometric middle and top of the reference's runs
        assert np.all(m.low < k) and np.all(k < m.high), (g, m.low, m.high)
        assert m.value[0] == pytest.approx(k, rel=0.1)
        assert m.n_draws == 200 and np.all(m.undefined_fraction == 0)


@pytest.mark.slow
def test_multiplier_interval_coverage():
    # 40 simulated sweeps x 2 groups x 2 FLOP counts: measured coverage 0.975 (C = 1e19) and 0.94 (1e21)
    E, A, alpha = TRUTH["A"]
    covered = []
    for s in range(40):
        df = pd.concat([simulate(E, A, alpha, "A", seed=3 * s), simulate(E, A, alpha, "C", k=0.5, seed=3 * s + 1),
                        simulate(E, A, alpha, "B", k=3.0, seed=3 * s + 2)])
        res = fit_groups(df, bootstrap=100, seed=s)
        for g, k in (("C", 0.5), ("B", 3.0)):
            m = res.compute_multiplier[g]
            covered.append((m.low < k) & (k < m.high))
    assert np.all(np.mean(covered, axis=0) >= 0.85)


def test_multiplier_exact_on_noise_free_data():
    E, A, alpha = TRUTH["A"]
    df = pd.concat([simulate(E, A, alpha, "A", noise=0.0), simulate(E, A, alpha, "B", k=3.0, noise=0.0)])
    m = fit_groups(df, bootstrap=0, flops=[1e18, 1e20, 1e23]).compute_multiplier["B"]
    assert m.value == pytest.approx([3.0, 3.0, 3.0], rel=1e-4) and m.low is None


def test_multiplier_closed_form_by_hand():
    a = law_result("power_floor:flops", {"E": 2.0, "A": 100.0, "alpha": 0.1})
    b = law_result("power_floor:flops", {"E": 1.5, "A": 200.0, "alpha": 0.12})
    # L_A(1e20) = 2 + 100 * 1e20^-0.1 = 3.0; C_B = (200 / (3.0 - 1.5))^(1/0.12) = exp(8.333 * 4.8929) = 5.10e17
    m = compute_multiplier(a, b, [1e20])
    assert m.value[0] == pytest.approx((200 / 1.5) ** (1 / 0.12) / 1e20, rel=1e-9)
    assert m.value[0] == pytest.approx(5.10e-3, rel=0.01)


def test_multiplier_infinite_when_b_floor_is_above_a_loss():
    a = law_result("power_floor:flops", {"E": 2.0, "A": 100.0, "alpha": 0.1})  # L_A(1e20) = 3.0
    b = law_result("power_floor:flops", {"E": 3.2, "A": 100.0, "alpha": 0.1})
    m = compute_multiplier(a, b, [1e16, 1e20])  # L_A(1e16) = 2 + 100*1e-1.6 = 4.51 > E_B, L_A(1e20) = 3 < E_B
    assert math.isfinite(m.value[0]) and m.value[1] == math.inf
    assert any("never reaches" in n and "E_B = 3.2" in n for n in m.notes)
    assert m.to_dict()["value"][1] == math.inf


def test_interval_counts_never_reached_draws_as_infinite():
    draws = np.array([[1.0], [2.0], [3.0], [np.inf], [np.inf]])
    lo, hi = interval_allowing_inf(draws, 0.9)  # 2 of 5 draws never reach: the upper bound is infinite
    assert lo[0] == 1.0 and hi[0] == math.inf
    lo, hi = interval_allowing_inf(np.array([[1.0], [2.0], [3.0]]), 0.5)
    assert (lo[0], hi[0]) == (1.5, 2.5)  # no infinite draw: the usual interpolated percentiles


def test_chinchilla_multiplier_is_the_square_of_a_size_scaling():
    # L_B(N, D) = L_A(N/s, D/s) -> L_B*(C) = L_A*(C/s^2): B needs s^2 times the compute
    p = sl.get_published("hoffmann2022").params
    s = 2.0
    q = {**p, "A": p["A"] * s ** p["alpha"], "B": p["B"] * s ** p["beta"]}
    a, b = law_result("chinchilla", p), law_result("chinchilla", q)
    assert compute_multiplier(a, b, [1e20, 1e24]).value == pytest.approx([4.0, 4.0], rel=1e-9)
    # the compute-optimal loss curve agrees with plan.optimal's closed form
    for c in (1e20, 5.76e23):
        assert loss_curve(a, np.array([c]))[0][0] == pytest.approx(chinchilla_optimum(p, c)[2], rel=1e-12)
    _, _, gamma = floor_form(a)
    assert float(gamma) == pytest.approx(0.34 * 0.28 / 0.62, rel=1e-3)


def test_multiplier_needs_a_law_of_flops():
    a = law_result("power_floor:params", {"E": 2.0, "A": 100.0, "alpha": 0.1})
    with pytest.raises(ScalingLabError, match="law of flops"):
        compute_multiplier(a, a, [1e20])
    with pytest.raises(ScalingLabError, match="flops"):
        compute_multiplier("hoffmann2022", "hoffmann2022", [-1.0])


# ---- do the exponents differ? ----------------------------------------------------------------------------
def test_exponent_test_rejects_very_different_exponents():
    df = pd.concat([simulate(1.8, 700.0, 0.15, "A", seed=1), simulate(1.8, 5.0e5, 0.30, "B", seed=2)])
    res = fit_groups(df, bootstrap=100)
    t = res.exponent_test
    assert t["p_value"] < 1e-6 and t["df"] == [1, 34] and "F test" in t["method"]
    d = res.exponent_differences["B"]["alpha"]
    assert d["low"] > 0 and d["value"] == pytest.approx(0.15, abs=0.03) and d["p_value"] <= 0.01


def test_exponent_test_does_not_reject_equal_exponents(three_groups):
    E, A, alpha = TRUTH["A"]
    df = pd.concat([simulate(E, A, alpha, "A", seed=1), simulate(2.0, 500.0, alpha, "B", seed=2)])
    res = fit_groups(df, bootstrap=100)
    assert res.exponent_test["p_value"] > 0.05
    d = res.exponent_differences["B"]["alpha"]
    assert d["low"] < 0 < d["high"]
    # three groups with alpha 0.15, 0.20, 0.12 differ
    assert three_groups.exponent_test["p_value"] < 1e-3 and three_groups.exponent_test["df"] == [2, 51]


def test_exponent_test_false_positive_rate():
    # 40 simulated pairs with equal exponents: measured 2 of 40 below p = 0.05
    ps = []
    for s in range(40):
        df = pd.concat([simulate(1.8, 700.0, 0.15, "A", seed=2 * s), simulate(2.0, 500.0, 0.15, "B", seed=2 * s + 1)])
        ps.append(fit_groups(df, bootstrap=0).exponent_test["p_value"])
    assert np.mean(np.array(ps) < 0.05) <= 0.1


def test_two_variable_law_per_group():
    law = sl.get_published("hoffmann2022")
    sim = sl.simulate_isoflop(law, budgets=(1e18, 1e19, 1e20), per_budget=5, noise=0.003, seed=1)
    df = pd.concat([sim.assign(group="A"), sim.assign(group="B", loss=sim["loss"] * 1.02)])
    res = fit_groups(df, "kaplan_nd", bootstrap=0)
    assert res.compute_multiplier == {} and any("no compute multiplier" in n for n in res.notes)
    assert res.exponent_test["exponents"] == ["alpha_N", "alpha_D"] and res.exponent_test["df"][0] == 2
    # chinchilla per group: multipliers at the compute-optimal allocation; B's loss is 2% higher everywhere
    res = fit_groups(df, "chinchilla", bootstrap=0)
    assert np.all(res.compute_multiplier["B"].value > 1.0)


def test_exponent_names():
    assert exponent_names(get_family("chinchilla")) == ["alpha", "beta"]
    assert exponent_names(get_family("kaplan_nd")) == ["alpha_N", "alpha_D"]
    assert exponent_names(get_family("bnsl:flops:1")) == []


# ---- gap across scale ---------------------------------------------------------------------------------------
def test_gap_narrows_for_a_faster_improving_group():
    # low-resource B: bigger reducible loss, steeper exponent -> gap 0.64 nats at 1e17 falls to ~0.01 at 1e21
    df = pd.concat([simulate(1.8, 700.0, 0.15, "high", seed=1), simulate(1.8, 3000.0, 0.18, "low", seed=2)])
    res = fit_groups(df, bootstrap=100)
    trend = res.gap_trend("low")
    assert trend.trend == "narrows" and trend.slope_ci[1] < 0
    true_gap = (3000 * trend.grid ** -0.18) - (700 * trend.grid ** -0.15)
    assert np.all(trend.gap_low < true_gap) and np.all(true_gap < trend.gap_high)
    true_slope = np.polyfit(np.log10(trend.grid), true_gap, 1)[0]
    assert trend.slope_ci[0] < true_slope < trend.slope_ci[1]


def test_constant_gap_has_no_clear_trend_and_widening_is_seen():
    df = pd.concat([simulate(1.8, 700.0, 0.15, "A", seed=1), simulate(2.1, 700.0, 0.15, "B", seed=2)])
    trend = fit_groups(df, bootstrap=100).gap_trend("B")
    assert trend.trend == "no clear trend" and trend.slope_ci[0] < 0 < trend.slope_ci[1]
    assert np.mean(trend.gap) == pytest.approx(0.3, abs=0.05)
    # B equal to A at 1e18 FLOPs but improving more slowly (alpha 0.05 vs 0.1): the gap grows to 0.37 at 1e22
    a_b = 100.0 * 1e18 ** -0.1 / 1e18 ** -0.05
    df = pd.concat([simulate(2.0, 100.0, 0.1, "A", lo=1e18, hi=1e22, seed=3),
                    simulate(2.0, a_b, 0.05, "B", lo=1e18, hi=1e22, seed=4)])
    trend = fit_groups(df, bootstrap=100).gap_trend("B", np.geomspace(1e19, 1e22, 7), kind="log_ratio")
    assert trend.trend == "widens" and trend.slope_ci[0] > 0 and np.all(trend.gap > 0)
    a = law_result("power_floor:flops", {"E": 2.0, "A": 100.0, "alpha": 0.1})
    exact = gap_trend(a, "hoffmann2022", [1e20, 1e21])  # no draws: no verdict
    assert exact.trend == "no interval" and exact.slope_ci is None
    with pytest.raises(ScalingLabError, match="at least 2 distinct"):
        gap_trend(a, a, [1e20, 1e20])


# ---- bad input --------------------------------------------------------------------------------------------
def test_bad_input_errors():
    small = pd.concat([simulate(*TRUTH["A"], "A"), simulate(*TRUTH["B"], "B", n=2)])
    with pytest.raises(FitError, match=r"group 'B' \(column 'group'\) has 2 rows, but law power_floor\(flops\) has 3"):
        fit_groups(small, bootstrap=0)
    df = pd.concat([simulate(*TRUTH["A"], "A"), simulate(*TRUTH["B"], "B")])
    with pytest.raises(ScalingLabError, match="no column 'arch' to group by"):
        fit_groups(df, by="arch")
    with pytest.raises(ScalingLabError, match=r"column 'group' has a single value \('A'\)"):
        fit_groups(simulate(*TRUTH["A"], "A"))
    with pytest.raises(ScalingLabError, match="reference group 'Z' is not in column 'group'; groups are: A, B"):
        fit_groups(df, reference="Z")
    with pytest.raises(ScalingLabError, match="cannot group by 'loss'"):
        fit_groups(df, by="loss")


# ---- CLI -----------------------------------------------------------------------------------------------
@pytest.fixture
def groups_csv(tmp_path):
    E, A, alpha = TRUTH["A"]
    df = pd.concat([simulate(E, A, alpha, "gpt", seed=1), simulate(E, A, alpha, "lstm", k=3.0, seed=2)])
    path = tmp_path / "runs.csv"
    df.rename(columns={"group": "arch"}).to_csv(path, index=False)
    return path


def test_cli_compare_json(groups_csv, monkeypatch, capsys):
    code, out, err = run_cli(["compare", groups_csv, "--by", "arch", "--law", "power_floor", "--x", "flops",
                              "--bootstrap", 50, "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["reference"] == "gpt" and set(d["groups"]) == {"gpt", "lstm"} and d["law"] == "power_floor(flops)"
    for g in d["groups"].values():
        assert set(g["params"]) == {"E", "A", "alpha"} and set(g["ci"]) == {"E", "A", "alpha"}
    m = d["compute_multiplier"]["lstm"]
    assert {"flops", "value", "low", "high"} <= set(m) and m["flops"] == pytest.approx([1e19, 1e21])
    assert m["low"][0] < 3.0 < m["high"][0]
    assert {"statistic", "p_value", "method"} <= set(d["exponent_test"])


def test_cli_compare_text_and_options(groups_csv, monkeypatch, capsys):
    code, out, err = run_cli(["compare", groups_csv, "--by", "arch", "--reference", "lstm", "--flops", "1e20",
                              "--bootstrap", 0], monkeypatch, capsys)
    assert code == 0, err
    assert "lstm (reference)" in out and "compute multiplier vs 'lstm'" in out and "F =" in out
    code, out, err = run_cli(["compare", groups_csv, "--by", "arch", "--reference", "lstm", "--flops", "1e20",
                              "--bootstrap", 0, "--json"], monkeypatch, capsys)
    assert json.loads(out)["compute_multiplier"]["gpt"]["value"][0] == pytest.approx(1 / 3, rel=0.15)


def test_cli_compare_infinite_multiplier_is_null(tmp_path, monkeypatch, capsys):
    df = pd.concat([simulate(1.8, 700.0, 0.15, "A", noise=0.0), simulate(3.5, 700.0, 0.15, "B", noise=0.0)])
    path = tmp_path / "runs.csv"
    df.to_csv(path, index=False)
    code, out, err = run_cli(["compare", path, "--bootstrap", 0, "--json"], monkeypatch, capsys)
    assert code == 0, err
    m = json.loads(out)["compute_multiplier"]["B"]
    assert m["value"] == [None, None] and "never reaches" in m["notes"][0]


@pytest.mark.parametrize("args, fragment", [
    (["--by", "language"], "no column 'language' to group by"),
    (["--by", "arch", "--law", "power_floor:flops", "--x", "flops"], "already names its options"),
    (["--by", "arch", "--reference", "rnn"], "reference group 'rnn'"),
    (["--by", "arch", "--bootstrap", 5], "too few resamples"),
])
def test_cli_compare_errors(args, fragment, groups_csv, monkeypatch, capsys):
    code, out, err = run_cli(["compare", groups_csv, *args], monkeypatch, capsys)
    assert code == 2 and out == "" and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and fragment in err, err


def test_cli_compare_small_group_and_single_group(tmp_path, monkeypatch, capsys):
    df = pd.concat([simulate(*TRUTH["A"], "A"), simulate(*TRUTH["B"], "B", n=2)])
    path = tmp_path / "runs.csv"
    df.to_csv(path, index=False)
    code, _, err = run_cli(["compare", path, "--bootstrap", 0], monkeypatch, capsys)
    assert code == 2 and "group 'B'" in err and "has 2 rows" in err
    df[df["group"] == "A"].to_csv(path, index=False)
    code, _, err = run_cli(["compare", path, "--bootstrap", 0], monkeypatch, capsys)
    assert code == 2 and "single value" in err
