"""The multi_power law family (Luo et al. 2025; references.md L2): its known limits (a constant LR, one
step drop), the O(t^2) definition summed by hand, the blocked sum of a long schedule, the Jacobian, the
registry and a fit through sl.fit."""

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.analysis.lr_schedules import parse_schedule, schedule_lrs
from scalinglab.errors import ScalingLabError
from scalinglab.laws import MultiPower, get_family
from scalinglab.laws.multi_power import mpl_design, mpl_log_predict

TRUE = {"L0": 2.5, "A": 1.2, "alpha": 0.45, "B": 400.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}


def _loss(lrs, steps, params=TRUE, **kw):
    law = MultiPower([lrs], **kw)
    return law.predict_natural(params, step=np.asarray(steps), run=0)


def _by_definition(p, lrs, t):
    """L(t) summed term by term as Luo et al. 2025 Eq. 1 writes it (steps after the warmup's end)."""
    W = int(np.argmax(lrs)) + 1
    drop = 0.0
    for k in range(W + 1, t + 1):
        area = lrs[k - 1:t].sum()
        x = 0.0 if area == 0 else (np.inf if lrs[k - 1] == 0 else lrs[k - 1] ** -p["gamma"] * area)
        drop += (lrs[k - 2] - lrs[k - 1]) * (1 - (p["C"] * x + 1) ** -p["beta"])
    return p["L0"] + p["A"] * lrs[:t].sum() ** -p["alpha"] - p["B"] * drop


def test_constant_lr_is_a_power_law_in_the_lr_area():
    lrs = schedule_lrs(parse_schedule("constant:steps=500,warmup=50,peak=1e-3"))
    steps = np.array([10, 50, 51, 200, 500])
    area = np.cumsum(lrs)[steps - 1]  # S1 + S_W: the warmup's area counts
    assert area[-1] == pytest.approx(450 * 1e-3 + 1e-3 * 51 / 2)
    expect = TRUE["L0"] + TRUE["A"] * area ** -TRUE["alpha"]
    assert _loss(lrs, steps) == pytest.approx(expect, rel=1e-12)
    assert mpl_design([lrs], steps).drop.size == 0  # LD = 0: no LR decrease after the warmup


def test_one_step_drop_has_the_closed_form():
    eta_a, eta_b, k0 = 1e-3, 2e-4, 300  # eta_a for steps 1..300, eta_b from step 301
    lrs = np.where(np.arange(1, 801) <= k0, eta_a, eta_b)
    t = np.array([100, 300, 301, 450, 800])
    after = eta_b * np.maximum(t - k0, 0)  # S_301(t)
    drop = np.where(t > k0, TRUE["B"] * (eta_a - eta_b) * (1 - (TRUE["C"] * eta_b ** -TRUE["gamma"] * after + 1)
                                                          ** -TRUE["beta"]), 0.0)
    expect = TRUE["L0"] + TRUE["A"] * np.cumsum(lrs)[t - 1] ** -TRUE["alpha"] - drop
    got = _loss(lrs, t)
    assert got == pytest.approx(expect, rel=1e-12)
    # the drop grows with the LR area after the decrease and saturates at B (eta_a - eta_b)
    assert 0 < drop[2] < drop[3] < drop[4] < TRUE["B"] * (eta_a - eta_b)


@pytest.mark.parametrize("text", ["cosine:steps=300,warmup=20,peak=1e-3,final=1e-4",
                                  "wsd:steps=300,warmup=20,peak=1e-3,final=0,cooldown=0.3"])
def test_matches_the_sum_by_definition(text):
    lrs = schedule_lrs(parse_schedule(text))
    steps = np.array([20, 21, 100, 250, 299, 300])
    assert _loss(lrs, steps) == pytest.approx([_by_definition(TRUE, lrs, t) for t in steps], rel=1e-12)


def test_an_lr_rise_after_warmup_undoes_part_of_the_drop():
    lrs = np.concatenate([np.full(100, 1e-3), np.full(100, 3e-4), np.full(100, 6e-4)])
    flat = np.concatenate([np.full(100, 1e-3), np.full(200, 3e-4)])
    t = np.array([150, 200, 201, 300])
    got = _loss(lrs, t)
    assert got == pytest.approx([_by_definition(TRUE, lrs, s) for s in t], rel=1e-12)

    def loss_drop(x):  # LD(300) = L0 + A S^-alpha - L(300)
        return TRUE["L0"] + TRUE["A"] * x.sum() ** -TRUE["alpha"] - _loss(x, [300])[0]

    assert 0 < loss_drop(lrs) < loss_drop(flat)


def test_a_long_schedule_is_summed_over_blocks_within_1e_5():
    lrs = schedule_lrs(parse_schedule("cosine:steps=24000,warmup=2000,peak=3e-4,final=3e-5"))
    steps = np.arange(2000, 24001, 400)
    blocked, exact = _loss(lrs, steps), _loss(lrs, steps, max_terms=10**6)
    assert mpl_design([lrs], steps).drop.size < mpl_design([lrs], steps, max_terms=10**6).drop.size / 5
    assert np.max(np.abs(blocked / exact - 1)) < 1e-5


def test_jacobian_matches_finite_differences():
    lrs = [schedule_lrs(parse_schedule("cosine:steps=200,warmup=10,peak=1e-3,final=1e-4")),
           schedule_lrs(parse_schedule("wsd:steps=150,warmup=10,peak=1e-3,final=1e-4,cooldown=0.4"))]
    design = mpl_design(lrs, np.array([10, 50, 200, 100, 150]), np.array([0, 0, 0, 1, 1]))
    theta = MultiPower().from_natural(TRUE)
    _, J = mpl_log_predict(theta[None], design, jac=True)
    for k in range(7):
        step = np.zeros(7)
        step[k] = 1e-6
        fd = (mpl_log_predict(theta + step, design) - mpl_log_predict(theta - step, design))[0] / 2e-6
        assert J[0, k] == pytest.approx(fd, rel=1e-5, abs=1e-10)


def test_registry_and_refusals():
    law = get_family("multi_power")
    assert isinstance(law, MultiPower) and law.param_names == ("L0", "A", "alpha", "B", "C", "beta", "gamma")
    row = {r["name"]: r for r in sl.laws.list_families()}["multi_power"]
    assert "arXiv:2503.12811" in row["citation"] and "nats/token" in row["units"]
    with pytest.raises(ScalingLabError, match="needs the learning rate of every step"):
        law.predict_natural(TRUE, step=10, run=0)
    lrs = np.full(50, 1e-3)
    with pytest.raises(ScalingLabError, match="beyond its run's schedule"):
        MultiPower([lrs]).predict_natural(TRUE, step=51, run=0)
    with pytest.raises(ScalingLabError, match="run"):
        MultiPower([lrs]).predict_natural(TRUE, step=5, run=1)
    again = get_family(MultiPower([lrs]).spec())
    assert again.predict_natural(TRUE, step=40, run=0) == pytest.approx(_loss(lrs, [40])[0], rel=1e-12)


def test_sl_fit_recovers_the_constants():
    texts = ("constant:steps=1200,warmup=60,peak=1e-3", "cosine:steps=1200,warmup=60,peak=1e-3,final=1e-4",
             "wsd:steps=1200,warmup=60,peak=1e-3,final=1e-4,cooldown=0.3")
    lrs = [schedule_lrs(parse_schedule(t)) for t in texts]
    steps = np.arange(80, 1201, 40)
    table = pd.DataFrame([{"step": s, "run": r, "loss": float(_loss(lrs[r], [s])[0])} for r in range(3) for s in steps])
    fit = sl.fit(table, MultiPower(lrs), refine=None)
    for name, value in TRUE.items():
        assert fit.params[name] == pytest.approx(value, rel=0.02)
