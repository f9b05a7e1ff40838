"""Shape at fixed parameters (sl.analysis.shape_effect): a known shape effect is recovered, none is not found.

Simulated runs: 6 sizes N = 1e6..1e9 (parameters) x 7 aspect ratios d_model/n_layer = 4..400, loss
L = (1.7 + 400 N^-0.3) exp(c (ln(aspect/40))^2) with 0.3% log-normal noise. For c = 0.02 the true loss
increase 2x away from the best aspect is exp(0.02 ln(2)^2) - 1 = 0.965%, 10x away exp(0.02 ln(10)^2) - 1 = 11.2%.
"""

import math

import numpy as np
import pandas as pd
import pytest

from scalinglab.analysis import shape_effect
from scalinglab.analysis.shape import ShapedLaw
from scalinglab.errors import ScalingLabError
from scalinglab.laws import get_family


def simulate(c, best=40.0, noise=0.003, seed=0):
    rng = np.random.default_rng(seed)
    n, aspect = (a.ravel() for a in np.meshgrid(np.geomspace(1e6, 1e9, 6), np.geomspace(4, 400, 7), indexing="ij"))
    loss = (1.7 + 400 * n ** -0.3) * np.exp(c * np.log(aspect / best) ** 2 + noise * rng.standard_normal(n.size))
    return pd.DataFrame({"params": n, "aspect": aspect, "loss": loss})


def test_known_shape_effect_is_recovered():
    res = shape_effect(simulate(0.02), aspect="aspect", bootstrap=200, seed=0)
    true = {k: math.expm1(0.02 * math.log(k) ** 2) for k in (2, 10)}
    assert true[2] == pytest.approx(0.00965, abs=1e-5) and true[10] == pytest.approx(0.1119, abs=1e-4)
    for k in (2, 10):
        e = res.effect[f"{k}x"]
        assert e["low"] < true[k] < e["high"], (k, e)
    lo, hi = res.with_shape.ci["best_aspect"]
    assert lo < 40.0 < hi and res.best_aspect == pytest.approx(40.0, rel=0.05)
    assert res.with_shape.ci["c2"][0] < 0.02 < res.with_shape.ci["c2"][1]
    assert res.test["p_value"] < 1e-20 and res.test["df"] == [2, 37] and not res.notes
    # the law without the shape term is visibly worse
    assert res.without_shape.rmse_log > 5 * res.with_shape.rmse_log


def test_no_shape_effect_is_not_found():
    res = shape_effect(simulate(0.0), aspect="aspect", bootstrap=200, seed=0)
    assert res.test["p_value"] > 0.05
    for k in ("2x", "10x"):
        assert res.effect[k]["low"] < 0 < res.effect[k]["high"]
    assert res.effect["10x"]["high"] < 0.01  # the data rule out more than 1% at 10x away
    # the law itself is recovered either way
    assert res.with_shape.params["alpha"] == pytest.approx(0.3, abs=0.02)


def test_depth_and_width_columns():
    df = simulate(0.02)
    # aspect = d_model / n_layer with n_layer = 4 everywhere
    df = df.assign(n_layer=4, d_model=4 * df["aspect"]).drop(columns="aspect")
    res = shape_effect(df, bootstrap=0)
    assert res.best_aspect == pytest.approx(40.0, rel=0.05) and res.effect["2x"]["low"] is None
    assert res.aspect_range == pytest.approx((4.0, 400.0))
    assert "best aspect" in res.summary() and set(res.to_dict()) >= {"effect", "test", "best_aspect", "c2"}


def test_shaped_law_jacobian_matches_finite_differences():
    law = ShapedLaw(get_family("power_floor:params"), log_center=3.0)
    X = {"params": np.geomspace(1e6, 1e9, 5), "aspect": np.geomspace(4, 400, 5)}
    theta = np.array([[np.log(1.7), np.log(400.0), 0.3, 0.01, 0.02]])
    _, J = law.log_predict(theta, X, jac=True)
    for i in range(theta.shape[1]):
        step = np.zeros_like(theta)
        step[0, i] = 1e-6
        fd = (law.log_predict(theta + step, X) - law.log_predict(theta - step, X)) / 2e-6
        assert J[0, i] == pytest.approx(fd[0], rel=1e-5, abs=1e-8)


def test_shape_errors():
    df = simulate(0.0)
    with pytest.raises(ScalingLabError, match="no column 'n_layer', 'd_model'; shape_effect needs depth and width"):
        shape_effect(df, bootstrap=0)
    two = df[df["aspect"].isin(sorted(df["aspect"].unique())[:2])]
    with pytest.raises(ScalingLabError, match="2 distinct aspect ratio"):
        shape_effect(two, aspect="aspect", bootstrap=0)
    with pytest.raises(ScalingLabError, match="no column 'ratio'"):
        shape_effect(df, aspect="ratio", bootstrap=0)
    with pytest.raises(ScalingLabError, match="aspect ratio must be a positive number"):
        shape_effect(df.assign(aspect=df["aspect"] - 10), aspect="aspect", bootstrap=0)
