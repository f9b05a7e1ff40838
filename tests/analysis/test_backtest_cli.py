"""``scalinglab backtest``: JSON contract, human output, bad input (exit 2)."""

import json

import numpy as np
import pytest
from analysis_data import write_sim_csv

import scalinglab as sl
from conftest import run_cli


@pytest.fixture
def sim_csv(tmp_path):
    return write_sim_csv(tmp_path)


def test_json_contract(sim_csv, monkeypatch, capsys):
    code, out, err = run_cli(["backtest", sim_csv, "--law", "chinchilla", "--holdout-above", "1e21",
                              "--bootstrap", "20", "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(out)
    assert {"mare", "coverage", "predictions"} <= set(d)
    assert d["n_train"] == 63 and d["n_test"] == 18 and len(d["predictions"]) == 18
    for p in d["predictions"]:
        assert {"params", "tokens", "observed", "predicted", "low", "high"} <= set(p)
        assert p["flops"] > 1e21 and p["low"] < p["predicted"] < p["high"]
    rel = [abs(p["predicted"] - p["observed"]) / p["observed"] for p in d["predictions"]]
    assert d["mare"] == pytest.approx(np.mean(rel))
    inside = [p["low"] <= p["observed"] <= p["high"] for p in d["predictions"]]
    assert d["coverage"] == pytest.approx(np.mean(inside))
    # same as the Python API
    api = sl.analysis.backtest(sim_csv, "chinchilla", holdout_above=1e21, bootstrap=20)
    assert d["mare"] == pytest.approx(api.mare, rel=1e-12)


def test_human_output(sim_csv, monkeypatch, capsys):
    code, out, err = run_cli(["backtest", sim_csv, "--holdout-above", "3e21", "--bootstrap", "20"],
                             monkeypatch, capsys)
    assert code == 0, err
    assert "Backtest of chinchilla" in out and "nats/token" in out
    assert "MARE " in out and "% (mean |predicted - observed| / observed over 9 held-out runs; 72 runs" in out
    assert "coverage 9/9" in out or "coverage 8/9" in out or "coverage 7/9" in out
    assert "1e22" in out  # the held-out budget in the table


def test_size_threshold_and_rolling(sim_csv, monkeypatch, capsys):
    code, out, err = run_cli(["backtest", sim_csv, "--x", "params", "--holdout-above", "1e10", "--bootstrap", "0",
                              "--rolling", "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["x"] == "params" and all(p["params"] > 1e10 for p in d["predictions"])
    assert len(d["rolling"]) >= 3
    assert {"threshold", "n_train", "n_test", "mare", "coverage", "distance"} <= set(d["rolling"][0])
    code, out, err = run_cli(["backtest", sim_csv, "--rolling", "--bootstrap", "0"], monkeypatch, capsys)
    assert code == 0, err
    assert "Rolling backtest of chinchilla" in out and "MARE" in out


@pytest.mark.parametrize("args,message", [
    (["--holdout-above", "1e23"], "no run has flops above it (largest flops"),
    (["--holdout-above", "2e18"], "only 9 runs have flops <= 2e+18, but law bnsl(flops, 3) has 12 free "
                                  "parameters and needs at least 13"),
    (["--holdout-above", "1e21", "--x", "loss"], "x must be one of flops, params, tokens"),
    (["--holdout-above", "1e21", "--law", "chinchila"], "did you mean 'chinchilla'"),
    (["--holdout-above", "1e21", "--level", "95"], "level"),
    ([], "give --holdout-above"),
])
def test_bad_input_exits_2(sim_csv, monkeypatch, capsys, args, message):
    law = [] if "--law" in args else ["--law", "bnsl:flops:3" if "2e18" in args else "chinchilla"]
    code, out, err = run_cli(["backtest", sim_csv, *law, *args, "--bootstrap", "0"], monkeypatch, capsys)
    assert code == 2
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_too_few_training_runs_for_the_law(sim_csv, monkeypatch, capsys):
    code, _, err = run_cli(["backtest", sim_csv, "--holdout-above", "1e18", "--bootstrap", "0"], monkeypatch, capsys)
    # 1e18 keeps the 9 runs of the smallest budget: enough for chinchilla (5 parameters, needs 6)
    assert code == 0, err
    code, _, err = run_cli(["backtest", sim_csv, "--holdout-above", "5e17", "--bootstrap", "0"], monkeypatch, capsys)
    assert code == 2 and "only 0 runs have flops <= 5e+17" in err and "needs at least 6" in err


def test_missing_file(tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(["backtest", tmp_path / "nope.csv", "--holdout-above", "1e21"], monkeypatch, capsys)
    assert code == 2 and "nope.csv" in err
