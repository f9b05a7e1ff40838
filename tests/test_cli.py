"""The command line: JSON contracts, exit codes, one-line errors (no tracebacks)."""

import json
import subprocess
import sys

import pandas as pd
import pytest

import scalinglab as sl
from conftest import run_cli  # the shared in-process CLI runner in tests/conftest.py


@pytest.fixture
def sim_csv(tmp_path):
    path = tmp_path / "runs.csv"
    sl.simulate_isoflop("hoffmann2022", per_budget=6, noise=0.01, seed=0).drop(columns="budget").to_csv(path, index=False)
    return path


def test_fit_json_contract(sim_csv, monkeypatch, capsys, tmp_path):
    out = tmp_path / "fit.json"
    code, stdout, err = run_cli(["fit", sim_csv, "--law", "chinchilla", "--bootstrap", "30", "--seed", "1",
                                 "--json", "--out", out], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    for key in ("law", "params", "ci", "n_points", "objective", "rmse_log", "converged"):
        assert key in d
    assert d["law"] == "chinchilla"
    assert set(d["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert set(d["ci"]) == {"E", "A", "B", "alpha", "beta"}
    assert d["n_points"] == 54 and d["converged"] is True
    assert d["status"] == "converged" and d["unidentified"] == []  # issue 11: keys status, unidentified
    assert abs(d["params"]["alpha"] - 0.34) < 0.1
    assert out.exists()
    # predict from the saved fit carries an interval
    code, stdout, err = run_cli(["predict", "--law", out, "--params", 7e10, "--tokens", 1.4e12, "--json"],
                                monkeypatch, capsys)
    assert code == 0, err
    p = json.loads(stdout)
    assert set(p) == {"loss", "low", "high", "extrapolation", "warnings", "interval_method"}
    assert p["low"] <= p["loss"] <= p["high"]


def test_fit_without_bootstrap_has_no_ci(sim_csv, monkeypatch, capsys):
    code, stdout, _ = run_cli(["fit", sim_csv, "--json"], monkeypatch, capsys)
    assert code == 0 and "ci" not in json.loads(stdout)


def test_fit_text_output(sim_csv, monkeypatch, capsys):
    code, stdout, _ = run_cli(["fit", sim_csv], monkeypatch, capsys)
    assert code == 0 and "alpha" in stdout and "converged" in stdout


def test_predict_published(monkeypatch, capsys):
    code, stdout, _ = run_cli(["predict", "--law", "hoffmann2022", "--params", 70e9, "--tokens", 1.4e12, "--json"],
                              monkeypatch, capsys)
    assert code == 0
    d = json.loads(stdout)
    assert set(d) == {"loss", "extrapolation", "warnings", "interval_method"} and d["loss"] == pytest.approx(1.9366, abs=5e-4)


def test_laws_json(monkeypatch, capsys):
    code, stdout, _ = run_cli(["laws", "--json"], monkeypatch, capsys)
    d = json.loads(stdout)
    names = {f["name"] for f in d["families"]}
    assert {"power", "power_floor", "chinchilla", "kaplan_nd", "kaplan_ns", "bnsl"} <= names
    keys = {p["key"] for p in d["published"]}
    assert {"hoffmann2022", "hoffmann2022-unrounded", "besiroglu2024", "kaplan2020-nd"} <= keys
    code, stdout, _ = run_cli(["laws"], monkeypatch, capsys)
    assert code == 0 and "hoffmann2022" in stdout


def test_col_mapping_and_drop(tmp_path, monkeypatch, capsys):
    df = sl.simulate_isoflop("hoffmann2022", per_budget=6, noise=0.01, seed=0)
    df = df.rename(columns={"params": "Model Size", "flops": "Budget FLOP"}).drop(columns=["tokens", "budget"])
    path = tmp_path / "odd.csv"
    df.to_csv(path, index=False)
    code, stdout, err = run_cli(["fit", path, "--col", "params=Model Size", "--col", "flops=Budget FLOP",
                                 "--drop-highest-loss", "2", "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    assert d["n_points"] == 52
    assert any("derived tokens" in n for n in d["notes"])


BAD_TABLES = {
    "missing column": "params,loss\n1e8,3.0\n2e8,2.9\n",
    "non-numeric": "params,tokens,loss\n1e8,1e9,3.0\nabc,1e9,2.9\n",
    "nan": "params,tokens,loss\n1e8,1e9,3.0\n2e8,1e9,\n",
    "negative": "params,tokens,loss\n1e8,1e9,3.0\n-2e8,1e9,2.9\n",
    "zero": "params,tokens,loss\n1e8,0,3.0\n",
    "empty": "",
    "header only": "params,tokens,loss\n",
    "too few rows": "params,tokens,loss\n1e8,1e9,3.0\n2e8,1e9,2.9\n4e8,2e9,2.7\n",
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_bad_tables_give_one_line_and_exit_2(case, tmp_path, monkeypatch, capsys):
    path = tmp_path / "bad.csv"
    path.write_text(BAD_TABLES[case])
    code, stdout, err = run_cli(["fit", path, "--json"], monkeypatch, capsys)
    assert code == 2
    assert err.startswith("error: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "bad.csv" in err
    assert stdout == ""


def test_bad_table_names_row_and_column(tmp_path, monkeypatch, capsys):
    path = tmp_path / "runs.csv"
    path.write_text(BAD_TABLES["non-numeric"])
    _, _, err = run_cli(["fit", path], monkeypatch, capsys)
    assert "row 2" in err and "params" in err


def test_not_a_table_and_missing_file(tmp_path, monkeypatch, capsys):
    blob = tmp_path / "blob.parquet"
    blob.write_bytes(bytes(range(256)) * 4)
    code, _, err = run_cli(["fit", blob], monkeypatch, capsys)
    assert code == 2 and "blob.parquet" in err
    code, _, err = run_cli(["fit", tmp_path / "nope.csv"], monkeypatch, capsys)
    assert code == 2 and "nope.csv" in err


@pytest.mark.parametrize("args", [
    ["fit", "X", "--law", "nonsense"],
    ["fit", "X", "--col", "params"],
    ["fit", "X", "--bootstrap", "-2"],
    ["predict", "--law", "nonsense-2030", "--params", "1e9", "--tokens", "1e10"],
    ["predict", "--law", "hoffmann2022", "--params", "1e9"],
    ["predict", "--law", "hoffmann2022", "--params", "-1e9", "--tokens", "1e10"],
    ["simulate", "--budgets", "1e20,abc"],
    ["simulate", "--per-budget", "1"],
])
def test_bad_options_exit_2(args, sim_csv, monkeypatch, capsys):
    args = [str(sim_csv) if a == "X" else a for a in args]
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert code == 2, err
    assert "Traceback" not in err and err.strip()


def test_simulate_recovers(tmp_path, monkeypatch, capsys):
    out = tmp_path / "sim.parquet"
    code, stdout, err = run_cli(["simulate", "--per-budget", "5", "--bootstrap", "40", "--json", "--out", out],
                                monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    assert d["n_points"] == 45 and set(d["covered"]) >= {"alpha", "beta"}
    assert len(pd.read_parquet(out)) == 45


def test_real_entry_point_no_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("params,tokens,loss\n1e8,1e9,oops\n")
    exe = [sys.executable, "-m", "scalinglab.cli"]
    proc = subprocess.run(exe + ["fit", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "row 1" in proc.stderr
    ok = subprocess.run(exe + ["--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "fit" in ok.stdout


def test_predict_derives_tokens_from_flops(monkeypatch, capsys):
    code, stdout, err = run_cli(["predict", "--law", "hoffmann2022", "--params", 70e9, "--flops", 5.88e23],
                                monkeypatch, capsys)
    assert code == 0, err
    assert stdout.startswith("hoffmann2022: loss at") and "tokens = 1.4e+12" in stdout
    assert "tokens derived from params and flops with C = 6ND" in stdout


def test_predict_rejects_inputs_the_law_does_not_use(monkeypatch, capsys):
    code, _, err = run_cli(["predict", "--law", "kaplan2020-c", "--flops", 1e21, "--params", 3],
                           monkeypatch, capsys)
    assert code == 2 and "does not use params" in err


def test_unknown_law_suggests(sim_csv, monkeypatch, capsys):
    code, _, err = run_cli(["fit", sim_csv, "--law", "chinchila"], monkeypatch, capsys)
    assert code == 2 and "did you mean 'chinchilla'" in err
    code, _, err = run_cli(["fit", sim_csv, "--law", "hoffmann2022"], monkeypatch, capsys)
    assert code == 2 and "published law" in err and "--law chinchilla" in err


def test_predict_data_constrained_published_law(monkeypatch, capsys):
    # Muennighoff et al. 2023 (references.md F1): L(6.34e9, 242e9, 25e9) = 2.2256440890
    code, stdout, err = run_cli(["predict", "--law", "muennighoff2023", "--params", 6.34e9, "--tokens", 242e9,
                                 "--unique-tokens", 25e9, "--json"], monkeypatch, capsys)
    assert code == 0, err
    assert json.loads(stdout)["loss"] == pytest.approx(2.2256440890, abs=1e-9)
