"""``scalinglab forecast``: JSON keys, human output, backtest table, bad inputs (exit 2, one line)."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from scalinglab.analysis.forecast import forecast_run
from scalinglab.analysis.forecast_backtest import simulate_learning_curves


@pytest.fixture
def curves_csv(tmp_path):
    path = tmp_path / "curves.csv"
    simulate_learning_curves((1e8, 2e8, 4e8), seed=7, n_points=40).to_csv(path, index=False)
    return path


def test_json_keys_and_values_match_the_python_api(curves_csv, monkeypatch, capsys):
    code, out, err = run_cli(["forecast", curves_csv, "--run", "N=2e+08", "--fraction", "0.3",
                              "--bootstrap", "50", "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(out)
    assert {"final_loss", "low", "high", "observed_final"} <= set(d)
    f = forecast_run(str(curves_csv), run="N=2e+08", fraction=0.3, bootstrap=50)
    assert d["final_loss"] == pytest.approx(f.final_loss, rel=1e-12)
    assert (d["low"], d["high"]) == pytest.approx((f.low, f.high), rel=1e-12)
    assert d["observed_final"] == pytest.approx(f.observed_final)
    assert d["low"] < d["final_loss"] < d["high"] and d["run"] == "N=2e+08" and d["n_fit"] == 12


def test_unknown_final_is_null_in_json(curves_csv, monkeypatch, capsys):
    code, out, _ = run_cli(["forecast", curves_csv, "--run", "N=1e+08", "--fraction", "1",
                            "--final", "5e10", "--bootstrap", "0", "--json"], monkeypatch, capsys)
    d = json.loads(out)
    assert code == 0 and d["observed_final"] is None and d["low"] is None and d["x_final"] == 5e10


def test_human_output(curves_csv, monkeypatch, capsys):
    code, out, _ = run_cli(["forecast", curves_csv, "--run", "N=1e+08", "--form", "shared",
                            "--bootstrap", "0"], monkeypatch, capsys)
    assert code == 0
    assert "forecast of run N=1e+08: shared (exponent): L = E + A * D^(-alpha)" in out
    assert "nats/token at tokens = 2e+10  (95% prediction interval" in out
    assert "observed final  " in out and "inside the interval" in out
    code, out, _ = run_cli(["forecast", curves_csv, "--run", "N=1e+08", "--x", "step", "--bootstrap", "0"],
                           monkeypatch, capsys)
    assert code == 0 and "D^(-alpha) with D = step" in out and "at step = 40" in out


def test_backtest_prints_the_per_fraction_table(curves_csv, monkeypatch, capsys):
    code, out, _ = run_cli(["forecast", curves_csv, "--backtest", "--fractions", "0.2,0.6", "--bootstrap", "0",
                            "--json"], monkeypatch, capsys)
    assert code == 0
    d = json.loads(out)
    assert [s["fraction"] for s in d["summary"]] == [0.2, 0.6] and len(d["forecasts"]) == 6
    assert d["summary"][1]["median_abs_rel_error"] < d["summary"][0]["median_abs_rel_error"]
    code, out, _ = run_cli(["forecast", curves_csv, "--backtest", "--fractions", "0.2,0.6", "--bootstrap", "0"],
                           monkeypatch, capsys)
    assert code == 0 and "Backtest of saturating forecasts" in out and "med |err|" in out


@pytest.mark.parametrize("args, message", [
    (["--run", "nope"], "no run 'nope'; runs are: 'N=1e+08', 'N=2e+08', 'N=4e+08'"),
    (["--run", "N=1e+08", "--fraction", "0.05"], "need at least 4 points"),
    ([], "--run is required"),
    (["--run", "N=1e+08", "--x", "flops"], "x must be one of tokens, step"),
    (["--run", "N=1e+08", "--form", "cubic"], "unknown forecast form 'cubic'"),
])
def test_bad_inputs_exit_2_with_one_line(curves_csv, monkeypatch, capsys, args, message):
    code, out, err = run_cli(["forecast", curves_csv, *args, "--bootstrap", "0"], monkeypatch, capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_no_run_column_and_non_monotone_x_exit_2(tmp_path, monkeypatch, capsys):
    curve = simulate_learning_curves((1e8,), n_points=30)
    no_run = tmp_path / "no_run.csv"
    curve.drop(columns="run").to_csv(no_run, index=False)
    code, _, err = run_cli(["forecast", no_run, "--run", "x"], monkeypatch, capsys)
    assert code == 2 and "no 'run' column" in err
    code, _, err = run_cli(["forecast", no_run], monkeypatch, capsys)
    assert code == 2 and "--run is required" in err and "no 'run' column" in err
    shuffled = tmp_path / "shuffled.csv"
    curve.iloc[[0, 1, 3, 2] + list(range(4, 30))].to_csv(shuffled, index=False)
    code, _, err = run_cli(["forecast", shuffled, "--run", "N=1e+08"], monkeypatch, capsys)
    assert code == 2 and "column 'tokens' is not strictly increasing at row 4" in err
