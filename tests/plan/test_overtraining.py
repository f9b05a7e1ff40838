"""sl.optimal.optimal_multiplier: the M = D/N minimising training + inference FLOPs at a target loss
(references.md D1, D4), checked by hand (no inference: M* = (b/a)^(1/(2 eta))) and by brute force."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import scalinglab as sl
from conftest import run_cli
from scalinglab.errors import ScalingLabError
from scalinglab.laws import get_family
from scalinglab.laws.published import PublishedLaw
from scalinglab.plan.overtraining import optimal_multiplier

P = {"E": 1.8, "a": 200.0, "b": 350.0, "eta": 0.14}


@pytest.fixture
def law() -> PublishedLaw:
    return PublishedLaw("test-overtrain", get_family("overtrain"), dict(P), "test constants", "nats/token")


def test_without_inference_the_multiplier_is_b_over_a_to_one_over_two_eta(law):
    r = optimal_multiplier(law, 2.4, 0.0)
    m_star = (350.0 / 200.0) ** (1 / 0.28)  # argmin of a M^eta + b M^-eta, whatever the loss
    assert r.multiplier == pytest.approx(m_star, rel=1e-6)
    assert r.compute_optimal_multiplier == pytest.approx(m_star, rel=1e-6)
    # C at that M from eq. (4) solved for C: ((a M^eta + b M^-eta)/(ell - E))^(1/eta)
    c = ((200 * m_star**0.14 + 350 * m_star**-0.14) / 0.6) ** (1 / 0.14)
    assert r.train_flops == pytest.approx(c, rel=1e-6) and r.inference_flops == 0
    assert r.params == pytest.approx(math.sqrt(c / (6 * m_star)), rel=1e-6)
    assert r.savings_flops == pytest.approx(0.0, abs=1e-9 * c)


def test_with_inference_matches_a_brute_force_search_over_model_size(law):
    ell, d_inf = 2.4, 5e12
    r = optimal_multiplier(law, ell, d_inf)
    # brute force: the same law as L = E + A/N^(2 eta) + B/D^(2 eta), A = a 6^-eta, B = b 6^-eta;
    # D(N) from it in closed form, total = 6 N D + 2 N D_inf on a fine grid of N
    A, B, k = P["a"] * 6 ** -P["eta"], P["b"] * 6 ** -P["eta"], 2 * P["eta"]
    n = np.exp(np.linspace(math.log(1e8), math.log(1e12), 400_001))
    room = ell - P["E"] - A * n**-k
    n, d = n[room > 0], (B / room[room > 0]) ** (1 / k)
    total = 6 * n * d + 2 * n * d_inf
    i = int(np.argmin(total))
    assert r.total_flops == pytest.approx(total[i], rel=1e-6)
    assert r.multiplier == pytest.approx(d[i] / n[i], rel=2e-3)
    assert r.multiplier > 5 * r.compute_optimal_multiplier  # inference demand favours over-training
    assert 0 < r.savings_fraction < 1
    assert r.total_flops == pytest.approx(r.train_flops + r.inference_flops)


def test_agrees_with_the_inference_aware_optimum_for_chinchilla():
    r = sl.optimal.optimal_multiplier("hoffmann2022", 2.1, 2e12)
    s = sl.optimal.inference_optimal("hoffmann2022", 2.1, 2e12)
    assert r.multiplier == pytest.approx(s.tokens / s.params, rel=1e-4)
    assert r.total_flops == pytest.approx(s.total_flops, rel=1e-8)
    assert r.compute_optimal_multiplier == pytest.approx(s.chinchilla_tokens / s.chinchilla_params, rel=1e-4)
    assert set(r.to_dict()) >= {"multiplier", "params", "tokens", "total_flops", "compute_optimal_multiplier"}


def test_refusals(law):
    with pytest.raises(ScalingLabError, match="at or below the irreducible loss"):
        optimal_multiplier(law, 1.8, 1e12)
    with pytest.raises(ScalingLabError, match="law of params and tokens only"):
        optimal_multiplier("kaplan2020-n", 2.5, 1e12)
    with pytest.raises(ScalingLabError, match="inference tokens"):
        optimal_multiplier(law, 2.4, -1.0)


def test_cli_multiplier_json_keys_and_values(monkeypatch, capsys):
    code, out, _ = run_cli(["overtrain", "multiplier", "--law", "hoffmann2022", "--loss", "2.1",
                            "--inference-tokens", "2e12", "--json"], monkeypatch, capsys)
    assert code == 0
    d = json.loads(out)
    r = optimal_multiplier("hoffmann2022", 2.1, 2e12)
    assert set(d) == set(r.to_dict())
    assert d["multiplier"] == pytest.approx(r.multiplier) and d["savings_fraction"] == pytest.approx(r.savings_fraction)
    code, _, err = run_cli(["overtrain", "multiplier", "--law", "hoffmann2022", "--loss", "1.0"], monkeypatch, capsys)
    assert code == 2 and "irreducible loss" in err


def test_compute_optimal_allocation_of_an_overtrain_law_is_at_its_m_opt(law):
    a = sl.optimal.optimal_allocation(law, 1e21)
    assert a.tokens / a.params == pytest.approx((350.0 / 200.0) ** (1 / 0.28), rel=1e-6)
    assert 6 * a.params * a.tokens == pytest.approx(1e21, rel=1e-9)
