"""Compute-optimal allocation from a law (scalinglab.plan.allocation)."""

import dataclasses
import math
import time

import numpy as np
import pytest

import scalinglab as sl
from conftest import run_cli  # the shared in-process CLI runner in tests/conftest.py
from scalinglab.errors import ScalingLabError
from scalinglab.laws import Chinchilla, CustomLaw
from scalinglab.laws.published import PublishedLaw
from scalinglab.plan.allocation import (
    CLOSED_FORM,
    NUMERICAL,
    allocate,
    optimal_allocation,
    optimal_frontier,
    parse_flops_range,
)

# Sardana et al. 2024 constants (references.md D1): (E, A, B, alpha, beta) = (1.69, 406.4, 410.7, 0.336, 0.283)
SARDANA = PublishedLaw(key="sardana-chinchilla", family=Chinchilla(),
                       params={"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.336, "beta": 0.283},
                       citation="Sardana et al. 2024 (arXiv:2401.00448), Chinchilla constants", units="nats/token")


@pytest.fixture(scope="module")
def boot_fit():
    runs = sl.simulate_isoflop("hoffmann2022", per_budget=6, noise=0.01, seed=0)
    return sl.fit(runs, law="chinchilla", bootstrap=50, seed=0)


def test_sardana_13b_is_compute_optimal():
    # references.md D1: 13B is compute-optimal at C = 4.497e22 with D = 576.5B tokens, loss 2.0453
    a = optimal_allocation(SARDANA, 6 * 13e9 * 576.5e9)
    assert a.method == CLOSED_FORM
    assert a.params == pytest.approx(13e9, rel=1e-3)
    assert a.tokens == pytest.approx(576.5e9, rel=1e-3)
    assert a.tokens_per_param == pytest.approx(44.3, abs=0.1)
    assert a.loss == pytest.approx(2.0453, abs=1e-4)


def test_hoffmann2022_at_gopher_budget():
    # references.md D3: N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b with the eq. 10 constants, evaluated by hand here
    E, A, B, al, be = 1.69, 406.4, 410.7, 0.34, 0.28
    G = (al * A / (be * B)) ** (1 / (al + be))
    c = 5.76e23
    n_ref, d_ref = G * (c / 6) ** (be / (al + be)), (c / 6) ** (al / (al + be)) / G
    a = optimal_allocation("hoffmann2022", c)
    assert a.params == pytest.approx(n_ref, rel=1e-9) and a.tokens == pytest.approx(d_ref, rel=1e-9)
    assert 6 * a.params * a.tokens == pytest.approx(c, rel=1e-12)
    # Approach 3 gives a smaller model than Approach 1's 67B at this budget (Chinchilla Table 3; a = 0.46)
    assert 3.0e10 < a.params < 3.4e10 and 2.8e12 < a.tokens < 3.2e12
    assert a.loss == pytest.approx(E + A / a.params**al + B / a.tokens**be, rel=1e-12)


@pytest.mark.parametrize("law", ["hoffmann2022", "besiroglu2024", SARDANA])
@pytest.mark.parametrize("flops", [1e19, 5.76e23, 1e27])
def test_closed_form_equals_numerical(law, flops):
    closed = optimal_allocation(law, flops)
    numerical = allocate(law, flops, force_numerical=True)
    assert numerical.method == NUMERICAL
    assert numerical.params == pytest.approx(closed.params, rel=1e-4)
    assert numerical.tokens == pytest.approx(closed.tokens, rel=1e-4)
    assert numerical.loss == pytest.approx(closed.loss, rel=1e-9)


def test_custom_law_numerical_matches_closed_form():
    law = CustomLaw("chin_custom", lambda params, tokens, E, A, B, alpha, beta:
                    E + A * params**-alpha + B * tokens**-beta,
                    ("params", "tokens"), {"E": 1.7, "A": 400.0, "B": 400.0, "alpha": 0.3, "beta": 0.3},
                    positive={"E", "A", "B"})
    custom = PublishedLaw(key="custom", family=law, params=SARDANA.params, citation="test", units="nats/token")
    a, ref = optimal_allocation(custom, 1e23), optimal_allocation(SARDANA, 1e23)
    assert a.method == NUMERICAL and a.params == pytest.approx(ref.params, rel=1e-4)


def test_kaplan_nd_numerical_optimum_is_a_minimum():
    c = 1e21
    a = optimal_allocation("kaplan2020-nd", c)
    assert a.method == NUMERICAL
    law = sl.get_published("kaplan2020-nd")
    for factor in (0.9, 1.1):
        n = a.params * factor
        assert float(law.predict(params=n, tokens=c / (6 * n))) > a.loss


def test_bootstrap_intervals_contain_point(boot_fit):
    a = optimal_allocation(boot_fit, 1e22)
    assert a.level == boot_fit.level
    for value, ci in ((a.params, a.params_ci), (a.tokens, a.tokens_ci), (a.loss, a.loss_ci)):
        assert ci[0] < value < ci[1]
    d = a.to_dict()
    assert {"flops", "params", "tokens", "tokens_per_param", "loss", "params_ci", "tokens_ci", "loss_ci"} <= set(d)
    # the numerical path over every draw gives the same intervals
    b = allocate(boot_fit, 1e22, force_numerical=True)
    assert np.allclose(b.params_ci, a.params_ci, rtol=1e-4) and np.allclose(b.loss_ci, a.loss_ci, rtol=1e-8)


def test_numerical_over_1000_draws_is_fast(boot_fit):
    rng = np.random.default_rng(0)
    big = dataclasses.replace(boot_fit, draws=boot_fit.theta + rng.normal(0.0, 0.02, (1000, 5)))
    start = time.perf_counter()
    b = allocate(big, 1e22, force_numerical=True)
    assert time.perf_counter() - start < 1.0
    a = optimal_allocation(big, 1e22)
    assert np.allclose(b.params_ci, a.params_ci, rtol=1e-3) and np.allclose(b.tokens_ci, a.tokens_ci, rtol=1e-3)


def test_no_draws_no_intervals():
    d = optimal_allocation("hoffmann2022", 1e21).to_dict()
    assert set(d) == {"flops", "params", "tokens", "tokens_per_param", "loss", "extrapolation", "warnings"}


def test_frontier_monotone():
    budgets = parse_flops_range("1e18:1e26:9")
    for law in ("hoffmann2022", "kaplan2020-nd"):
        rows = optimal_frontier(law, budgets)
        assert [r.flops for r in rows] == budgets
        for key in ("params", "tokens"):
            values = [getattr(r, key) for r in rows]
            assert all(np.diff(values) > 0)
        losses = [r.loss for r in rows]
        assert all(np.diff(losses) < 0)


def test_frontier_exponent_matches_eq4():
    # N_opt ∝ C^(beta/(alpha+beta)) = C^0.4516 for hoffmann2022 (references.md D3)
    rows = optimal_frontier("hoffmann2022", [1e20, 1e24])
    slope = math.log(rows[1].params / rows[0].params) / math.log(1e4)
    assert slope == pytest.approx(0.28 / 0.62, rel=1e-9)


def test_parse_flops_range():
    assert parse_flops_range("1e20") == [1e20]
    assert parse_flops_range(" 1e20,3e20 ") == [1e20, 3e20]
    r = parse_flops_range("1e20:1e26:7")
    assert len(r) == 7 and r[0] == pytest.approx(1e20) and r[-1] == pytest.approx(1e26)
    assert r[3] == pytest.approx(1e23)
    for bad in ("", "abc", "1e20:1e26", "1e20:1e26:1", "1e20:1e26:x", "1e26:1e20:3", "-1e20", "0",
                "1e20:1e26:7:2", "nan", "inf"):
        with pytest.raises(ScalingLabError):
            parse_flops_range(bad)


def test_bad_inputs():
    for flops in (-1e20, 0, float("nan"), float("inf"), "lots"):
        with pytest.raises(ScalingLabError, match="flops"):
            optimal_allocation("hoffmann2022", flops)
    with pytest.raises(ScalingLabError, match="unknown published law"):
        optimal_allocation("no-such-law", 1e20)
    with pytest.raises(ScalingLabError, match="not params and tokens"):
        optimal_allocation("kaplan2020-n", 1e20)
    with pytest.raises(ScalingLabError, match="not params and tokens"):
        optimal_allocation("kaplan2020-ns", 1e20)
    with pytest.raises(ScalingLabError):
        optimal_frontier("hoffmann2022", [])


def test_no_interior_optimum_is_an_error():
    # loss falls with N at any fixed C: the minimum sits at the edge N = C/6
    law = CustomLaw("params_only", lambda params, tokens, A: 1.0 + A * params**-0.3, ("params", "tokens"),
                    {"A": 10.0})
    edge = PublishedLaw(key="edge", family=law, params={"A": 10.0}, citation="test", units="nats/token")
    with pytest.raises(ScalingLabError, match="no interior"):
        optimal_allocation(edge, 1e20)


def test_allocation_below_one_parameter_or_token_is_an_error(monkeypatch, capsys):
    # hoffmann2022 at 7 FLOPs: closed form N = G (7/6)^a = 1.44 parameters, D = 0.81 tokens (was returned)
    with pytest.raises(ScalingLabError, match=r"N = 1\.44 parameters, D = 0\.809 tokens: below 1"):
        optimal_allocation("hoffmann2022", 7)
    assert optimal_allocation("hoffmann2022", 1e3).tokens >= 1  # a tiny but possible budget still works
    code, stdout, err = run_cli(["optimal", "--law", "hoffmann2022", "--flops", 7, "--json"], monkeypatch, capsys)
    assert code == 2 and stdout == "" and len(err.strip().splitlines()) == 1 and "N >= 1 and D >= 1" in err


def test_cli_flops_overflow_names_tokens(monkeypatch, capsys):
    # flops --tokens 1e300: the error named "flops" although the bad input was tokens
    code, _, err = run_cli(["flops", "--arch", "gpt3-175b", "--tokens", 1e300], monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: tokens = 1e+300 gives a training FLOP count beyond the float range")
