"""CLI: ``scalinglab emergence`` and ``scalinglab threshold`` (JSON key contract, text output, bad input)."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli


@pytest.fixture
def accuracy_csv(tmp_path):
    rng = np.random.default_rng(0)
    C = np.logspace(19, 23, 25)
    acc = 0.25 + 0.75 / (1 + np.exp(-2 * (np.log10(C) - 22)))
    path = tmp_path / "acc.csv"
    pd.DataFrame({"flops": C, "accuracy": rng.binomial(500, acc) / 500}).to_csv(path, index=False)
    return path


@pytest.fixture
def loss_csv(tmp_path):
    rng = np.random.default_rng(1)
    C = np.logspace(19, 23, 20)
    path = tmp_path / "loss.parquet"
    pd.DataFrame({"flops": C, "loss": (1.8 + 2000 * C ** -0.15) * np.exp(rng.normal(0, 0.005, 20))}).to_parquet(path)
    return path


def test_emergence_json_keys(accuracy_csv, monkeypatch, capsys):
    code, out, err = run_cli(["emergence", accuracy_csv, "--metric", "accuracy", "--chance", "0.25", "--bootstrap",
                              "100", "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(out)
    assert abs(d["midpoint"] - 22) < 0.1 and abs(d["slope"] - 2) < 0.3
    assert d["midpoint_unit"] == "log10 FLOPs" and d["midpoint_flops"] == pytest.approx(10 ** d["midpoint"])
    assert d["ci"]["midpoint"][0] <= 22 <= d["ci"]["midpoint"][1]
    test = d["smooth_vs_break"]
    assert set(test) >= {"statistic", "p_value", "method", "break_at"} and test["p_value"] > 0.05
    assert (d["floor"], d["ceiling"]) == (0.25, 1.0)


def test_emergence_text_is_deterministic(accuracy_csv, monkeypatch, capsys):
    args = ["emergence", accuracy_csv, "--chance", "0.25", "--bootstrap", "50", "--seed", "3"]
    code, out, err = run_cli(args, monkeypatch, capsys)
    assert code == 0, err
    assert "midpoint" in out and "smooth vs break: LR =" in out and "(fixed)" in out
    assert run_cli(args, monkeypatch, capsys)[1] == out


def test_threshold_json_keys(accuracy_csv, monkeypatch, capsys):
    code, out, err = run_cli(["threshold", accuracy_csv, "--metric", "accuracy", "--target", "0.8", "--chance",
                              "0.25", "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(out)
    truth = 10 ** (22 + math.log(0.55 / 0.2) / 2)  # 3.2e22 FLOPs
    assert d["low"] <= truth <= d["high"] and d["low"] < d["flops"] < d["high"]
    assert d["reached"] is True and d["x"] == "flops" and d["method"] == "sigmoid"


def test_threshold_loss_and_never(loss_csv, monkeypatch, capsys):
    code, out, err = run_cli(["threshold", loss_csv, "--metric", "loss", "--target", "2.3", "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["low"] <= ((2.3 - 1.8) / 2000) ** (-1 / 0.15) <= d["high"] and d["method"] == "law"
    code, out, err = run_cli(["threshold", loss_csv, "--metric", "loss", "--target", "1.0", "--json"], monkeypatch, capsys)
    d = json.loads(out)
    assert code == 0 and (d["flops"], d["low"], d["high"], d["reached"]) == (None, None, None, False)
    assert any("never falls to 1" in n for n in d["notes"])
    code, out, err = run_cli(["threshold", loss_csv, "--metric", "loss", "--target", "1.0"], monkeypatch, capsys)
    assert code == 0 and out.startswith("loss never falls below 1")


def test_threshold_text(accuracy_csv, monkeypatch, capsys):
    # truth: 0.95 at 10^(22 + ln(0.7 / 0.05) / 2) = 2.1e23 FLOPs, beyond the largest run (1e23)
    code, out, err = run_cli(["threshold", accuracy_csv, "--target", "0.95", "--chance", "0.25"], monkeypatch, capsys)
    assert code == 0, err
    assert out.startswith("accuracy reaches 0.95 at flops = ") and "decades beyond the largest observed flops" in out


def _bad_table(tmp_path, kind):
    C = np.logspace(19, 23, 10)
    acc = np.linspace(0.3, 0.9, 10)
    if kind == "percent":
        acc = acc * 100
    if kind == "few":
        C, acc = C[:2], acc[:2]
    path = tmp_path / f"{kind}.csv"
    pd.DataFrame({"flops": C, "accuracy": acc}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("kind, args, msg", [
    ("ok", ["emergence", "--metric", "mmlu"], "no column 'mmlu'; columns are: 'flops', 'accuracy'"),
    ("percent", ["emergence"], "row 1, column 'accuracy': value 30 is outside [0, 1]"),
    ("few", ["emergence", "--chance", "0.25"], "2 usable rows of 'accuracy' vs flops, but the sigmoid has 2 free"),
    ("ok", ["threshold", "--target", "0.2", "--chance", "0.25"], "--target 0.2 is outside the sigmoid's range"),
    ("ok", ["threshold", "--target", "1.5"], "--target 1.5 is outside the sigmoid's range (0, 1)"),
    ("ok", ["emergence", "--x", "steps"], "unknown scale column --x 'steps'"),
    ("ok", ["emergence", "--bootstrap", "3"], "--bootstrap 3 is too few resamples"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, monkeypatch, capsys, kind, args, msg):
    path = _bad_table(tmp_path, kind)
    code, out, err = run_cli([args[0], path, *args[1:]], monkeypatch, capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and msg in err and len(err.strip().splitlines()) == 1


def test_emergence_cli_on_observational_scaling_data(shared_data, monkeypatch, capsys):
    path = shared_data / "obsscaling" / "base_llm_benchmark_eval.csv"
    code, out, err = run_cli(["emergence", path, "--metric", "HellaSwag", "--chance", "0.25", "--col",
                              "flops=FLOPs (1E21)", "--x-scale", "1e21", "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(out)
    # measured: midpoint 22.25 (1.8e22 FLOPs), slope 0.75 per decade, no break (p = 0.43)
    assert 22.0 < d["midpoint"] < 22.5 and 0.6 < d["slope"] < 0.9 and d["n_points"] == 123
    assert d["smooth_vs_break"]["p_value"] > 0.05
