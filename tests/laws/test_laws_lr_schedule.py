"""The lr_schedule law family (Tissue et al. 2024; references.md L1): formula, gradient, a fit through
sl.fit on a table of learning-rate areas, and agreement with sl.analysis.fit_schedule_law."""

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.analysis.lr_schedules import annealing_area, forward_area, parse_schedule, schedule_lrs
from scalinglab.errors import ScalingLabError
from scalinglab.laws import LRSchedule, get_family

TRUE = {"L0": 2.5, "A": 1.2, "alpha": 0.45, "C": 0.8}


def _table(noise=0.0):
    rng, rows = np.random.default_rng(3), []
    for text in ("constant:steps=3000,warmup=100,peak=1e-3", "cosine:steps=3000,warmup=100,peak=1e-3,final=1e-4",
                 "wsd:steps=3000,warmup=100,peak=1e-3,cooldown=0.2"):
        lrs = schedule_lrs(parse_schedule(text))
        st = np.arange(150, lrs.size + 1, 50)
        s1, s2 = forward_area(lrs)[st - 1], annealing_area(lrs)[st - 1]
        loss = (TRUE["L0"] + TRUE["A"] * s1 ** -TRUE["alpha"] - TRUE["C"] * s2) * np.exp(rng.normal(0, noise, st.size))
        rows.append(pd.DataFrame({"forward_area": s1, "annealing_area": s2, "loss": loss, "run": text}))
    return pd.concat(rows, ignore_index=True)


def test_formula_by_hand_and_registry():
    law = get_family("lr_schedule")
    assert isinstance(law, LRSchedule) and "lr_schedule" in [r["name"] for r in sl.laws.list_families()]
    # S1 = 2, S2 = 0.5: 2.5 + 1.2 * 2^-0.45 - 0.8 * 0.5 = 2.5 + 0.878410 - 0.4
    assert law.predict_natural(TRUE, forward_area=2.0, annealing_area=0.5) == pytest.approx(
        2.5 + 1.2 * 2.0 ** -0.45 - 0.4, rel=1e-12)
    assert law.predict_natural(TRUE, forward_area=2.0, annealing_area=0.0) == pytest.approx(2.5 + 1.2 * 2.0 ** -0.45)
    with pytest.raises(ScalingLabError, match="annealing_area"):
        law.predict_natural(TRUE, forward_area=2.0, annealing_area=-1.0)


def test_jacobian_matches_finite_differences():
    law = LRSchedule()
    X = {"forward_area": np.array([0.5, 1.0, 3.0]), "annealing_area": np.array([0.0, 0.1, 0.4])}
    theta = law.from_natural(TRUE)[None, :]
    _, J = law.log_predict(theta, X, jac=True)
    for k in range(4):
        step = np.zeros_like(theta)
        step[0, k] = 1e-6
        fd = (law.log_predict(theta + step, X) - law.log_predict(theta - step, X)) / 2e-6
        assert J[0, k] == pytest.approx(fd[0], rel=1e-5, abs=1e-9)


def test_sl_fit_recovers_the_constants_and_agrees_with_fit_schedule_law():
    table = _table(noise=0.0005)
    fit = sl.fit(table, "lr_schedule")
    for name, value in TRUE.items():
        assert fit.params[name] == pytest.approx(value, rel=0.05)
    s1, s2 = float(table.forward_area.iloc[-1]), float(table.annealing_area.iloc[-1])
    from scalinglab.analysis.schedule import predict_loss

    natural = np.array([fit.params[k] for k in ("L0", "A", "alpha", "C")])
    assert fit.family.predict_natural(fit.params, forward_area=s1, annealing_area=s2) == pytest.approx(
        float(predict_loss(natural, np.array([s1]), np.array([s2]))[0]), rel=1e-12)
    assert "data range      none in params, tokens or flops: law lr_schedule reads forward_area" in fit.summary()
