"""CLI: ``backtest --interval calibrated``, ``fit --calibrate`` and ``predict --interval``."""

import json

import numpy as np
import pytest
from analysis_data import write_sim_csv

import scalinglab as sl
from conftest import run_cli


@pytest.fixture
def sim_csv(tmp_path):
    return write_sim_csv(tmp_path)


def test_backtest_json_keys(sim_csv, monkeypatch, capsys):
    args = ["backtest", sim_csv, "--holdout-above", "1e21", "--bootstrap", "20", "--json"]
    code, out, err = run_cli(args, monkeypatch, capsys)
    assert code == 0, err
    plain = json.loads(out)
    code, out, err = run_cli(args + ["--interval", "calibrated"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(out)
    # every existing key stays; interval_method and median_width are added
    assert set(plain) <= set(d) and {"interval_method", "median_width"} <= set(plain)
    assert plain["interval_method"] == "prediction" and d["interval_method"] == "calibrated"
    for payload in (plain, d):
        widths = [(p["high"] - p["low"]) / p["predicted"] for p in payload["predictions"]]
        assert payload["median_width"] == pytest.approx(np.median(widths), rel=1e-12)
    assert d["median_width"] >= plain["median_width"] and d["coverage"] >= plain["coverage"]
    assert d["mare"] == plain["mare"]  # same fit, same point predictions
    assert d["fit"]["calibration"]["x"] == "flops" and "calibration" not in plain["fit"]
    api = sl.analysis.backtest(sim_csv, "chinchilla", holdout_above=1e21, bootstrap=20, interval="calibrated")
    assert d["median_width"] == pytest.approx(api.median_width, rel=1e-12)


def test_backtest_human_output_and_rolling(sim_csv, monkeypatch, capsys):
    code, out, err = run_cli(["backtest", sim_csv, "--holdout-above", "3e21", "--bootstrap", "0",
                              "--interval", "calibrated", "--rolling"], monkeypatch, capsys)
    assert code == 0, err
    assert "95% calibrated interval low..high" in out and "calibrated interval (median width" in out
    assert "calibration: misfit scale" in out and "Rolling backtest" in out and "width" in out
    code, _, err = run_cli(["backtest", sim_csv, "--holdout-above", "3e21", "--interval", "wide"], monkeypatch, capsys)
    assert code == 2 and "interval must be one of prediction, calibrated" in err


def test_fit_calibrate_then_predict(sim_csv, monkeypatch, capsys, tmp_path):
    plain_fit, calibrated_fit = tmp_path / "plain.json", tmp_path / "fit.json"
    code, _, err = run_cli(["fit", sim_csv, "--bootstrap", "20", "--out", plain_fit, "--json"], monkeypatch, capsys)
    assert code == 0, err
    code, out, err = run_cli(["fit", sim_csv, "--bootstrap", "20", "--calibrate", "--out", calibrated_fit, "--json"],
                             monkeypatch, capsys)
    assert code == 0, err
    rep = json.loads(out)
    assert rep["calibration"]["x"] == "flops" and rep["calibration"]["n_origins"] >= 2
    query = ["--params", 7e10, "--tokens", 1.4e12, "--json"]
    answers = {}
    for interval in ("parameters", "prediction", "calibrated"):
        code, out, err = run_cli(["predict", "--law", calibrated_fit, "--interval", interval, *query], monkeypatch,
                                 capsys)
        assert code == 0, err
        answers[interval] = json.loads(out)
        assert answers[interval]["interval_method"] == interval
    a = answers
    assert a["calibrated"]["low"] <= a["prediction"]["low"] < a["parameters"]["low"] < a["parameters"]["loss"]
    assert a["calibrated"]["high"] >= a["prediction"]["high"] > a["parameters"]["high"]
    assert {"loss", "low", "high", "extrapolation", "warnings", "interval_method"} == set(a["calibrated"])
    # the same numbers as the Python API on the saved fit
    saved = sl.FitResult.load(calibrated_fit)
    p = saved.predict(interval="calibrated", params=7e10, tokens=1.4e12)
    assert a["calibrated"]["low"] == pytest.approx(float(p.low), rel=1e-12)
    # a fit saved without --calibrate: one clear line, exit 2
    code, _, err = run_cli(["predict", "--law", plain_fit, "--interval", "calibrated", *query], monkeypatch, capsys)
    assert code == 2 and err.startswith("error: ") and "carries no calibration" in err and "--calibrate" in err
    code, out, _ = run_cli(["predict", "--law", "hoffmann2022", *query], monkeypatch, capsys)
    assert json.loads(out)["interval_method"] == "none"
    code, _, err = run_cli(["predict", "--law", "hoffmann2022", "--interval", "calibrated", *query], monkeypatch,
                           capsys)
    assert code == 2 and "needs a fit JSON" in err


def test_fit_calibrate_bad_input_exits_2(sim_csv, monkeypatch, capsys):
    code, _, err = run_cli(["fit", sim_csv, "--calibrate-x", "loss"], monkeypatch, capsys)
    assert code == 2 and "x must be one of flops, params, tokens" in err
