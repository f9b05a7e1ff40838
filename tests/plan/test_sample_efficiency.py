"""Kaplan et al. 2020 sample efficiency, overfitting and compute-efficient frontier."""

import math

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.laws.published import get_published
from scalinglab.plan.sample_efficiency import (
    compute_to_reach,
    converged_loss,
    early_stopping_step,
    kaplan_allocation_exponents,
    kaplan_c_min,
    kaplan_compute,
    kaplan_frontier,
    overfitting_penalty,
    overfitting_threshold_tokens,
    sample_efficiency,
    tokens_to_reach,
)

ND = get_published("kaplan2020-nd")


def test_tokens_to_reach_inverts_the_law():
    # references.md B2: Table 2 L(1e9, 1e10) = 2.4197, so a 1e9 model needs 1e10 tokens to reach 2.4197
    assert float(ND.predict(params=1e9, tokens=1e10)) == pytest.approx(2.4197, abs=1e-4)
    target = float(ND.predict(params=1e9, tokens=1e10))
    assert float(tokens_to_reach(target, 1e9)) == pytest.approx(1e10, rel=1e-9)
    assert float(compute_to_reach(target, 1e9)) == pytest.approx(6e19, rel=1e-9)


def test_larger_models_need_fewer_tokens():
    rows = sample_efficiency(2.5, [1e8, 1e9, 1e10, 1e11])
    assert math.isinf(rows[0].tokens) and math.isinf(rows[0].flops)  # L(1e8, inf) = 2.79 > 2.5
    tokens = [r.tokens for r in rows[1:]]
    assert all(np.diff(tokens) < 0)
    assert rows[2].to_dict()["flops"] == pytest.approx(6 * 1e10 * rows[2].tokens)


def test_unreachable_target_is_inf():
    n = 1e9
    floor = float(converged_loss(n))  # (6.4e13/1e9)^0.076 = 2.3188
    assert floor == pytest.approx(2.3188, abs=1e-4)
    assert math.isinf(float(tokens_to_reach(floor * 0.999, n)))
    assert math.isfinite(float(tokens_to_reach(floor * 1.001, n)))


def test_other_law_numerically():
    d = float(tokens_to_reach(2.2, 1e9, law="hoffmann2022"))
    assert float(get_published("hoffmann2022").predict(params=1e9, tokens=d)) == pytest.approx(2.2, rel=1e-9)


def test_overfitting_threshold_is_about_two_percent():
    # Kaplan eq. 4.4: D ~ 5e3 N^0.74 keeps the overfitting penalty near 2% (eq. 4.3)
    n = np.array([1e6, 1e8, 1e10])
    d = overfitting_threshold_tokens(n)
    assert d[1] == pytest.approx(5e3 * 1e8**0.74)
    pen = overfitting_penalty(n, d)
    assert np.all(np.abs(pen - 0.02) < 0.002)
    assert np.all(overfitting_penalty(n, 10 * d) < pen)


def test_early_stopping_step():
    # eq. 5.7 with Table 2 L(N, D) and Table 3 S_c = 2.1e3, alpha_S = 0.76
    n, d = 1e9, 1e10
    gap = float(ND.predict(params=n, tokens=d)) - float(converged_loss(n))
    assert float(early_stopping_step(n, d)) == pytest.approx(2.1e3 / gap ** (1 / 0.76), rel=1e-12)
    steps = early_stopping_step(n, [1e9, 1e10, 1e11])
    assert np.all(np.diff(steps) > 0)  # more data: stop later


def test_kaplan_table6_frontier():
    # Table 6 at C_min = 1 PF-day = 8.64e19 FLOPs: N 1.3e9, B 2.0e6 tokens, S 5.4e3, D 2e10; L(C_min) = 2.6581
    p = kaplan_frontier(8.64e19)
    assert p.c_min_pf_days == pytest.approx(1.0)
    assert (p.params, p.batch_tokens, p.steps, p.tokens) == pytest.approx((1.3e9, 2.0e6, 5.4e3, 2e10))
    assert p.loss == pytest.approx(2.6581, abs=1e-4)  # references.md B2
    q = kaplan_frontier(8.64e19 * 1e3)
    assert q.params / p.params == pytest.approx(1e3**0.73) and q.steps / p.steps == pytest.approx(1e3**0.03)
    assert q.batch_tokens / p.batch_tokens == pytest.approx(1e3**0.24)


def test_table6_prefactors_are_consistent():
    # B_e ~ B_crit(L(C_min = 1 PF-day)) = 2.1e8 / L^(1/0.21) (Table 5), and C_min = 6 N B S
    p = kaplan_frontier(8.64e19)
    assert 2.1e8 / p.loss ** (1 / 0.21) == pytest.approx(p.batch_tokens, rel=0.01)
    assert 6 * p.params * p.batch_tokens * p.steps == pytest.approx(8.64e19, rel=0.05)
    ex = kaplan_allocation_exponents()
    assert ex["p_params"] == 0.73 and ex["alpha_c_min_theory"] == pytest.approx(0.0525, abs=5e-4)


def test_c_min_and_training_compute():
    # Kaplan eq. 5.5: C_min = C / (1 + B/B_crit). At the critical batch C = 2 C_min (sec. 5.1: "2 S_min training
    # steps and ... E = 2 E_min data examples"; sec. 6.3: "C = 2 C_min").
    assert kaplan_c_min(2e21) == pytest.approx(1e21, rel=1e-15)
    assert kaplan_compute(1e21) == pytest.approx(2e21, rel=1e-15)
    # references.md B2 [R]: Kaplan's runs at B = 2^19 tokens reach L = 3 where B_crit = 1.069e6: C_min/C = 0.671
    assert kaplan_c_min(1e21, 2**19 / 1.069e6) / 1e21 == pytest.approx(0.671, abs=5e-4)
    for r in (0.1, 1.0, 10.0):
        assert kaplan_compute(kaplan_c_min(3e22, r), r) == pytest.approx(3e22, rel=1e-14)
    # Table 6's one-epoch D_opt is the data of a run at B_crit: 2 C_min / (6 N_opt) (eq. 6.7's formula) =
    # 2 * 8.64e19 / (6 * 1.3e9) = 2.2e10 tokens at 1 PF-day, Table 6's 2e10 to its one digit (eq. 6.7 prints 4e10)
    p = kaplan_frontier(8.64e19)
    assert 2 * p.c_min_flops / (6 * p.params) == pytest.approx(p.tokens, rel=0.11)
    for bad in (lambda: kaplan_c_min(1e21, 0), lambda: kaplan_compute(0), lambda: kaplan_c_min(-1.0)):
        with pytest.raises(ScalingLabError):
            bad()


def test_bad_inputs():
    for call in (lambda: tokens_to_reach(-2.0, 1e9), lambda: tokens_to_reach(2.5, 0),
                 lambda: overfitting_threshold_tokens(-1), lambda: kaplan_frontier(0),
                 lambda: early_stopping_step(1e9, -1e9), lambda: converged_loss(1e9, law="hoffmann2022"),
                 lambda: early_stopping_step(1e9, 1e10, ns_law="hoffmann2022")):
        with pytest.raises(ScalingLabError):
            call()
