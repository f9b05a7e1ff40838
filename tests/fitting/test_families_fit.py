"""Every family is fitted by the same engine: recovery from data simulated with known parameters."""

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.laws import CustomLaw


def test_kaplan_nd_recovery():
    truth = sl.published["kaplan2020-nd"]
    N, D = np.meshgrid(np.logspace(6, 9, 6), np.logspace(8, 11, 6))
    N, D = N.ravel(), D.ravel()
    rng = np.random.default_rng(0)
    loss = truth.predict(params=N, tokens=D) * np.exp(0.003 * rng.standard_normal(N.size))
    res = sl.fit(pd.DataFrame({"params": N, "tokens": D, "loss": loss}), "kaplan_nd", bootstrap=50)
    assert res.params["alpha_N"] == pytest.approx(0.076, abs=0.01)
    assert res.params["alpha_D"] == pytest.approx(0.103, abs=0.015)
    assert res.ci["alpha_N"][0] <= 0.076 <= res.ci["alpha_N"][1]


def test_kaplan_ns_recovery_exact():
    truth = sl.published["kaplan2020-ns"]
    N, S = np.meshgrid(np.logspace(6, 9, 5), np.logspace(3, 5, 5))
    loss = truth.predict(params=N.ravel(), step=S.ravel())
    res = sl.fit(pd.DataFrame({"params": N.ravel(), "step": S.ravel(), "loss": loss}), "kaplan_ns", loss="ls")
    assert res.params["alpha_N"] == pytest.approx(0.077, rel=1e-3)
    assert res.params["alpha_S"] == pytest.approx(0.76, rel=1e-3)
    assert res.params["S_c"] == pytest.approx(2.1e3, rel=1e-2)


def test_bnsl_one_break_recovery():
    fam = sl.laws.get_family("bnsl:flops:1")
    true = {"a": 1.5, "b": 40.0, "c0": 0.05, "c1": 0.25, "d1": 1e20, "f1": 0.5}
    x = np.logspace(17, 23, 40)
    loss = fam.predict_natural(true, flops=x)
    res = sl.fit(pd.DataFrame({"flops": x, "loss": loss}), "bnsl:flops:1", loss="ls")
    assert res.rmse_log < 1e-3
    pred = res.predict(flops=np.array([1e17, 1e20, 1e23])).loss
    np.testing.assert_allclose(pred, fam.predict_natural(true, flops=np.array([1e17, 1e20, 1e23])), rtol=2e-3)


def test_custom_family_fitted_by_engine():
    law = CustomLaw("shifted_power", lambda params, E, A, alpha: E + A * params**-alpha,
                    variables=("params",), params={"E": [1.0, 2.0], "A": [10.0, 100.0, 1000.0], "alpha": [0.1, 0.3]},
                    positive={"E", "A"})
    N = np.logspace(7, 10, 12)
    df = pd.DataFrame({"params": N, "loss": 1.8 + 250.0 * N**-0.21})
    res = sl.fit(df, law, loss="ls")
    assert res.params["E"] == pytest.approx(1.8, rel=1e-3)
    assert res.params["alpha"] == pytest.approx(0.21, rel=1e-3)
