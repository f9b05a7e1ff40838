"""The observational law's trust figures (Ruan et al. 2024's parametric sigmoid): the fit's status, its
parameters on a bound, bootstrap intervals, prediction intervals for held-out models, and the backtest
keys of ``observe --json`` that carry them."""

import json

import numpy as np
import pytest
from tests.analysis.test_observational import _synthetic
from tests.conftest import run_cli

from scalinglab.analysis.observational import observational
from scalinglab.analysis.parametric_sigmoid import fit_parametric_sigmoid, prediction_band

TRUE = np.array([0.5, 1.5, -0.8])  # w0, w1, w2


def _data(n: int, noise: float, floor: float, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, (n, 2))
    y = floor + (1 - floor) / (1 + np.exp(-(TRUE[0] + x @ TRUE[1:])))
    return x, np.clip(y + rng.normal(0, noise, n), 0, 1)


def test_status_intervals_and_a_floor_inside_its_box():
    x, y = _data(80, 0.01, 0.1, seed=3)
    fit = fit_parametric_sigmoid(x, y, bootstrap=100, seed=1)
    assert fit.status == "converged" and fit.at_bound == [] and fit.draws.shape == (100, 4)
    ci = fit.intervals()
    assert set(ci) == {"w0", "w1", "w2", "h"}
    for name, value in zip(("w0", "w1", "w2", "h"), [*fit.weights, fit.floor]):
        assert ci[name][0] <= value <= ci[name][1]
    assert ci["h"][0] < 0.1 < ci["h"][1] and ci["w1"][0] < 1.5 < ci["w1"][1]
    assert ci["w1"][1] - ci["w1"][0] < 0.5  # 80 models at 1% noise pin the slope


def test_a_floor_pushed_to_zero_is_on_a_bound_and_no_bootstrap_no_intervals():
    x, y = _data(60, 0.0, -0.1, seed=4)  # scores that would need a negative floor: h is held at 0
    fit = fit_parametric_sigmoid(x, y)
    assert "h" in fit.at_bound and fit.floor == 0.0
    assert fit.intervals() == {} and np.isnan(prediction_band(fit, x[:3])[0]).all()


def test_prediction_band_covers_new_models_of_the_same_law():
    x, y = _data(80, 0.02, 0.1, seed=5)
    fit = fit_parametric_sigmoid(x, y, bootstrap=100, seed=0)
    x_new, y_new = _data(400, 0.02, 0.1, seed=6)
    low, high = prediction_band(fit, x_new, level=0.9)
    inside = np.mean((low <= y_new) & (y_new <= high))
    assert 0.8 <= inside <= 0.98 and np.all((low >= 0) & (high <= 1)) and np.all(low < high)


def test_observational_backtest_carries_status_coverage_and_intervals(tmp_path, monkeypatch, capsys):
    table, _ = _synthetic(n=80)
    benches = [f"b{i}" for i in range(5)]
    r = observational(table, "target", benchmarks=benches, n_pcs=1, cutoff_flops=1e22, reference_family="A",
                      bootstrap=60)
    bt = r.backtest()
    assert bt["status"] == "converged" and bt["bootstrap"] == 60 and bt["level"] == 0.95
    test = r.predictions[r.predictions["split"] == "test"]
    inside = ((test["low"] <= test["observed"]) & (test["observed"] <= test["high"])).mean()
    assert bt["coverage"] == pytest.approx(inside) and set(bt["ci"]) == {"w0", "w1", "h"}
    assert (r.predictions["low"] <= r.predictions["predicted"] + 1e-12).all()
    path = tmp_path / "bench.csv"
    table.to_csv(path, index=False)
    code, stdout, _ = run_cli(["observe", path, "--target", "target", "--benchmarks", ",".join(benches), "--pcs", "1",
                               "--cutoff-flops", "1e22", "--reference-family", "A", "--bootstrap", "20",
                               "--json"], monkeypatch, capsys)
    out = json.loads(stdout)
    assert code == 0 and out["backtest"]["status"] == "converged" and out["backtest"]["bootstrap"] == 20
    assert {"low", "high"} <= set(out["predictions"][0]) and out["test_mse"] == pytest.approx(r.test_mse, rel=1e-9)
