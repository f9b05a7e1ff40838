"""Learning-curve forecasts on simulated curves with a known truth, and on a lab run store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.analysis.forecast import forecast_run, load_curves
from scalinglab.analysis.forecast_backtest import (
    backtest_summary,
    forecast_backtest,
    simulate_learning_curves,
)
from scalinglab.analysis.forecast_shared import fit_shared_exponent, forecast_shared
from scalinglab.errors import FitError, ScalingLabError

# simulate_learning_curves defaults: L(N, D) = 1.7 + 400/N^0.34 + 400/D^0.28 (nats/token)
E, A, ALPHA, B, BETA = 1.7, 400.0, 0.34, 400.0, 0.28


def _truth(n: float, d: float) -> float:
    return E + A / n**ALPHA + B / d**BETA


def test_noise_free_curve_recovers_the_saturating_law_exactly():
    curve = simulate_learning_curves((1e8,), noise=0.0, n_points=60)
    f = forecast_run(curve, fraction=0.3, bootstrap=0)
    # one run of L(N, D) is E_run + B D^-beta with E_run = E + A/N^alpha
    assert f.fit.params["E"] == pytest.approx(E + A / 1e8**ALPHA, rel=1e-4)
    assert f.fit.params["A"] == pytest.approx(B, rel=1e-3)
    assert f.fit.params["alpha"] == pytest.approx(BETA, rel=1e-4)
    assert f.final_loss == pytest.approx(_truth(1e8, 2e10), rel=1e-6)
    assert f.observed_final == pytest.approx(_truth(1e8, 2e10), rel=1e-12)
    assert f.n_fit == 18 and f.x_fit_max == pytest.approx(6e9) and f.x_final == 2e10
    assert f.low is None and f.high is None and any("no bootstrap" in n for n in f.notes)


def test_noisy_forecast_holds_observed_and_true_final_in_its_interval():
    curve = simulate_learning_curves((1e8,), seed=3, n_points=60)
    f = forecast_run(curve, fraction=0.3, bootstrap=100, seed=0)
    truth = _truth(1e8, 2e10)
    assert f.low < truth < f.high and f.inside
    assert abs(f.rel_error) < 0.03
    assert f.low < f.final_loss < f.high
    assert 0.005 < f.noise_log < 0.015  # the simulated ln-loss noise is 0.01
    again = forecast_run(curve, fraction=0.3, bootstrap=100, seed=0)
    assert (again.final_loss, again.low, again.high) == (f.final_loss, f.low, f.high)  # seeded


def _coverage(seeds: range, fraction: float = 0.3) -> float:
    hits = []
    for s in seeds:
        curve = simulate_learning_curves((1e8,), seed=1000 + s, n_points=60)
        f = forecast_run(curve, fraction=fraction, bootstrap=100, seed=s)
        hits.append(f.inside)
    return float(np.mean(hits))


def test_95_percent_intervals_cover_at_their_nominal_rate_40_seeds():
    # 40 forecasts: binomial SE at p = 0.95 is sqrt(0.95 * 0.05 / 40) = 0.034; 3 SE below is 0.85.
    assert 0.85 <= _coverage(range(40)) <= 1.0


@pytest.mark.slow
def test_95_percent_intervals_cover_at_their_nominal_rate_200_seeds():
    # SE = sqrt(0.95 * 0.05 / 200) = 0.0154: 0.95 -/+ 3 SE = [0.904, 0.996]
    assert 0.904 <= _coverage(range(200)) <= 0.996


def test_error_shrinks_as_more_of_a_simulated_curve_is_seen():
    errors = {0.1: [], 0.7: []}
    for s in range(8):
        curve = simulate_learning_curves((1e8,), seed=s, n_points=60)
        for fraction, found in errors.items():
            found.append(abs(forecast_run(curve, fraction=fraction, bootstrap=0).rel_error))
    assert np.median(errors[0.7]) < np.median(errors[0.1])


def test_shared_exponent_beats_the_single_run_fit_early():
    sizes = (3e7, 6e7, 1.2e8, 2.5e8, 5e8, 1e9)
    single, shared = [], []
    for seed in range(2):
        curves = simulate_learning_curves(sizes, seed=seed, n_points=60)
        for run in curves["run"].unique()[:3]:
            single.append(abs(forecast_run(curves, run=run, fraction=0.1, bootstrap=0).rel_error))
            f = forecast_shared(curves, run=run, fraction=0.1, bootstrap=0)
            shared.append(abs(f.rel_error))
            assert f.inside  # leave-one-run-out interval
            assert f.fit.params["alpha"] == pytest.approx(BETA, abs=0.03)
    assert np.median(shared) < 0.5 * np.median(single)


def test_fit_shared_exponent_recovers_floors_amplitudes_and_exponent():
    x = np.tile(np.geomspace(1e8, 1e10, 30), 3)
    codes = np.repeat([0, 1, 2], 30)
    floors, amps = np.array([2.0, 2.5, 3.0]), np.array([300.0, 500.0, 800.0])
    y = floors[codes] + amps[codes] * x**-0.3
    fit = fit_shared_exponent(x, y, codes)
    assert fit.beta == pytest.approx(0.3, rel=1e-5)
    np.testing.assert_allclose(fit.E, floors, rtol=1e-5)
    np.testing.assert_allclose(fit.B * fit.x0**fit.beta, amps, rtol=1e-4)  # B is per (x/x0)^-beta


def test_shared_chinchilla_law_recovers_the_simulated_law():
    curves = simulate_learning_curves((5e7, 1e8, 2e8, 4e8), noise=0.0, n_points=40)
    f = forecast_shared(curves, run="N=1e+08", fraction=0.1, law="chinchilla", bootstrap=0)
    for name, true in {"E": E, "A": A, "alpha": ALPHA, "B": B, "beta": BETA}.items():
        assert f.fit.params[name] == pytest.approx(true, rel=2e-3)
    assert f.final_loss == pytest.approx(_truth(1e8, 2e10), rel=1e-5)


def test_kaplan_ns_on_one_run_is_the_saturating_form():
    curve = simulate_learning_curves((1e8,), seed=2, n_points=60)
    sat = forecast_run(curve, fraction=0.5, bootstrap=0)
    kap = forecast_run(curve, fraction=0.5, form="kaplan_ns", x="step", bootstrap=0)
    assert kap.final_loss == pytest.approx(sat.final_loss, rel=2e-4)  # same curve, x rescaled
    assert any("params" in n for n in kap.notes)  # N_c, alpha_N not identified from one run
    with pytest.raises(ScalingLabError, match="needs a 'params' column"):
        forecast_run(curve.drop(columns="params"), form="kaplan_ns")


def test_final_beyond_the_curve_and_fraction_one_have_no_observed_final():
    curve = simulate_learning_curves((1e8,), seed=1, n_points=60)
    beyond = forecast_run(curve, fraction=1.0, final=4e10, bootstrap=0)
    assert beyond.observed_final is None and beyond.rel_error is None and beyond.inside is None
    assert beyond.final_loss < curve["loss"].iloc[-10:].mean()
    whole = forecast_run(curve, fraction=1.0, bootstrap=0)
    assert whole.observed_final is None  # the last point was fitted: nothing held out
    d = whole.to_dict()
    assert {"final_loss", "low", "high", "observed_final"} <= set(d) and d["observed_final"] is None


def test_bad_inputs_raise_one_line_errors():
    curves = simulate_learning_curves((1e8, 2e8), n_points=30)
    with pytest.raises(ScalingLabError, match=r"no run 'nope'; runs are: 'N=1e\+08', 'N=2e\+08'"):
        forecast_run(curves, run="nope")
    with pytest.raises(ScalingLabError, match="2 runs in the table"):
        forecast_run(curves)
    with pytest.raises(FitError, match="2 point.*3 free parameters.*at least 4 points"):
        forecast_run(curves, run="N=1e+08", fraction=0.07)
    with pytest.raises(ScalingLabError, match="no 'run' column"):
        forecast_run(curves.drop(columns="run"), run="N=1e+08")
    shuffled = curves[curves["run"] == "N=1e+08"].iloc[[0, 2, 1, 3, 4, 5, 6]]
    with pytest.raises(ScalingLabError, match="'tokens' is not strictly increasing at row 3"):
        forecast_run(shuffled)
    with pytest.raises(ScalingLabError, match="fraction must lie in"):
        forecast_run(curves, run="N=1e+08", fraction=0.0)
    with pytest.raises(ScalingLabError, match="unknown forecast form"):
        forecast_run(curves, run="N=1e+08", form="linear")
    with pytest.raises(ScalingLabError, match="several runs"):
        forecast_shared(curves[curves["run"] == "N=1e+08"], run=None)


def test_backtest_table_and_summary():
    curves = simulate_learning_curves((1e8, 3e8), seed=4, n_points=40)
    table = forecast_backtest(curves, fractions=(0.05, 0.3, 0.7), bootstrap=0)
    assert list(table["fraction"]) == [0.05, 0.3, 0.7] * 2
    failed = table[table["fraction"] == 0.05]
    assert failed["predicted"].isna().all() and failed["error"].str.contains("free parameters").all()
    ok = table[table["fraction"] > 0.05]
    np.testing.assert_allclose(ok["rel_error"], ok["predicted"] / ok["observed"] - 1)
    summary = backtest_summary(table)
    assert list(summary["runs"]) == [0, 2, 2] and list(summary["failed"]) == [2, 0, 0]
    assert summary.equals(table.attrs["summary"])
    assert summary["coverage"].isna().all()  # no bootstrap, no intervals


def _write_store(path, curves: pd.DataFrame, finish: bool = True) -> list[int]:
    from scalinglab.stores.run_store import RunStore

    ids = []
    with RunStore(path) as store:
        sweep = store.create_sweep("curves", {"kind": "test"})
        for i, (name, c) in enumerate(curves.groupby("run", sort=False)):
            run_id = store.add_run(sweep, {"name": name}, seed=0)
            n = int(c["params"].iloc[0])
            store.start_run(run_id, "cpu", "test", params=n)
            rows = [{"step": int(s), "tokens": int(t), "val_loss": float(v), "train_loss": float(v) + 0.1}
                    for s, t, v in zip(c["step"], c["tokens"], c["loss"])]
            if finish and i == 0:
                last = rows[-1]
                store.log_metrics(run_id, rows[:-1])
                store.finish_run(run_id, params=n, tokens=last["tokens"], flops=6.0 * n * last["tokens"],
                                 final_val_loss=last["val_loss"], metrics=[last])
            else:
                store.log_metrics(run_id, rows)  # still running
            ids.append(run_id)
    return ids


def test_forecast_from_a_lab_run_store(tmp_path):
    curves = simulate_learning_curves((1e8, 2e8), seed=5, n_points=40)
    path = tmp_path / "runs.db"
    ids = _write_store(path, curves)
    table = load_curves(path)
    assert list(dict.fromkeys(table.data["run"])) == [str(i) for i in ids]
    f = forecast_run(path, run=ids[0], fraction=0.3, bootstrap=0)
    first = curves[curves["run"] == "N=1e+08"]
    assert f.observed_final == pytest.approx(first["loss"].iloc[-1])
    direct = forecast_run(first.assign(tokens=first["tokens"].round()), fraction=0.3, bootstrap=0)
    assert f.final_loss == pytest.approx(direct.final_loss, rel=1e-9)
    running = forecast_run(path, run=str(ids[1]), fraction=1.0, final=4e10, bootstrap=0)  # a run in progress
    assert running.observed_final is None and np.isfinite(running.final_loss)
    with pytest.raises(ScalingLabError, match=r"no run '9'; runs are: '1', '2'"):
        forecast_run(path, run=9)
