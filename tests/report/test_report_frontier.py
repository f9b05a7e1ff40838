"""The HTML report on the frontier laws' data: loss curves with learning rates (the schedule law and its
backtest), runs at a few token multipliers (the over-training law, its backtest, downstream error), a
lab store that records learning rates, and a benchmark table of public models (observational scaling).
Each is checked on content (sections, the API's numbers, figures embedded), not on pixels."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from report_data import curve_rows, sweep, sweep_csv
from tests.analysis.test_overtrain_backtest import overtrain_table
from tests.analysis.test_schedule import TRAIN, _curves
from tests.conftest import run_cli

from scalinglab.analysis.observational import observational
from scalinglab.analysis.overtraining import overtrain_backtest
from scalinglab.analysis.schedule import fit_schedule_law
from scalinglab.analysis.schedule_check import schedule_backtest
from scalinglab.report.html import make_report
from scalinglab.report.input_kind import detect_input, over_training_design
from scalinglab.report.page import num
from scalinglab.stores.run_store import RunStore

LONG = "cosine:steps=6000,warmup=100,peak=1e-3,final=1e-4"
SCHEDULE_SECTIONS = ["glance", "data", "schedule", "schedule-backtest", "warnings", "reproduce"]


def section(html: str, key: str) -> str:
    return html.split(f'<section id="{key}">')[1].split("</section>")[0]


def images(html: str) -> list[str]:
    return re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]{100,})"', html)


# ---- loss curves with learning rates ----------------------------------------------------------------
@pytest.fixture(scope="module")
def curves_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("curves") / "curves.csv"
    _curves(TRAIN + (LONG,), noise=0.001).to_csv(path, index=False)
    return path


def test_schedule_report_has_the_law_its_intervals_figure_and_backtest(curves_csv):
    r = make_report(curves_csv, bootstrap=20, seed=0)
    assert r.sections == SCHEDULE_SECTIONS and r.law == "lr_schedule" and r.n_runs == 3
    law = section(r.html, "schedule")
    fit = fit_schedule_law(str(curves_csv), bootstrap=20, seed=0)
    for name in ("L0", "A", "alpha", "C"):
        assert f'<td class="num">{num(fit.params[name], 5)}</td>' in law, name
        low, high = fit.ci[name]
        assert f"[{num(low)}, {num(high)}]" in law  # the bootstrap interval, as page.interval writes it
    assert "Fit status: converged" in law and "<b>no</b>" not in law  # every parameter identified
    assert len(images(law)) == 1 and "Loss curves under learning-rate schedules" in r.figures
    back = section(r.html, "schedule-backtest")
    bt = schedule_backtest(str(curves_csv), bootstrap=20, seed=0)
    row = bt["runs"][0]
    assert "the longest run, " + LONG in back and row["run"] == LONG
    assert num(row["final_loss"], 4) in back and num(row["observed_final"], 4) in back
    assert f"[{num(row['low'], 4)}, {num(row['high'], 4)}]" in back
    assert f"{100 * bt['max_abs_final_error']:.2f}%" in section(r.html, "glance")


def test_schedule_report_of_runs_without_annealing_names_c_unidentified(tmp_path):
    path = tmp_path / "constant.csv"
    _curves(TRAIN[:1], noise=0.001).to_csv(path, index=False)
    r = make_report(path, bootstrap=10)
    law = section(r.html, "schedule")
    assert re.search(r"<td>C</td>.*?<b>no</b>", law)
    assert any("C is not identified" in w for w in r.warnings)


def test_schedule_report_chooses_a_size_and_escapes_names(tmp_path):
    a = _curves(TRAIN + (LONG,), noise=0.001).assign(params=1e8)
    b = _curves(TRAIN[:1], noise=0.001).assign(params=4e8)
    a["run"] = a["run"].where(a["run"] != LONG, "<script>x</script>")
    path = tmp_path / "sizes.csv"
    pd.concat([a, b]).to_csv(path, index=False)
    r = make_report(path, bootstrap=0)
    assert r.n_runs == 3 and "holds 2 model sizes" in section(r.html, "data") and "size 1e+08" in r.html
    assert "<script>x</script>" not in r.html and "&lt;script&gt;x&lt;/script&gt;" in r.html


def test_report_cli_on_curves(curves_csv, tmp_path, monkeypatch, capsys):
    out = tmp_path / "r.html"
    code, stdout, _ = run_cli(["report", curves_csv, "--out", out, "--bootstrap", "10", "--json"], monkeypatch, capsys)
    got = json.loads(stdout)
    assert code == 0 and got["sections"] == SCHEDULE_SECTIONS and got["law"] == "lr_schedule" and got["figures"] == 1


# ---- a lab run store that records learning rates -----------------------------------------------------
def _store(path, runs):
    """A run store of ``runs``: (params, tokens per step, [(step, loss, lr), ...]) each."""
    with RunStore(path) as store:
        sweep_id = store.create_sweep("s", {"kind": "test"})
        for i, (n, per_step, points) in enumerate(runs):
            run = store.add_run(sweep_id, {"i": i}, seed=0)
            store.start_run(run, "cpu", "test", params=int(n))
            rows = [{"step": int(s), "tokens": int(s * per_step), "flops": 6.0 * n * s * per_step, "val_loss": float(v),
                     "lr": float(lr)} for s, v, lr in points]
            store.log_metrics(run, rows[:-1])
            last = rows[-1]
            store.finish_run(run, params=int(n), tokens=last["tokens"], flops=last["flops"],
                             final_val_loss=last["val_loss"], final_val_bpb=last["val_loss"] / np.log(2),
                             wall_seconds=1.0, metrics=[last])
    return path


def test_a_store_of_schedule_runs_gets_the_schedule_report(tmp_path):
    table = _curves(TRAIN + (LONG,), noise=0.001)
    runs = [(1e7, 1000, list(zip(g["step"], g["loss"], g["lr"]))) for _, g in table.groupby("run", sort=False)]
    r = make_report(_store(tmp_path / "runs.db", runs), bootstrap=10)
    assert r.sections == SCHEDULE_SECTIONS  # three runs of one size: no law of N and D to fit
    assert any("finished runs could not be made" in w for w in r.warnings)
    assert num(fit_schedule_law(table, bootstrap=0).params["L0"], 5) in section(r.html, "schedule")


def test_a_sweep_store_recording_lr_adds_the_schedule_sections(tmp_path):
    runs = []
    for row in sweep(per_budget=3).itertuples():
        pts = curve_rows(row.params, row.tokens, row.loss)
        lr = np.linspace(1e-3, 1e-4, len(pts))  # a linear decay, recorded at each evaluation
        runs.append((row.params, int(row.tokens) // len(pts), [(p["step"], p["val_loss"], v) for p, v in zip(pts, lr)]))
    r = make_report(_store(tmp_path / "runs.db", runs), bootstrap=0, budgets=(1e22,))
    assert {"law", "plan", "backtest", "curves", "schedule", "schedule-backtest"} <= set(r.sections)
    assert r.sections.index("schedule") > r.sections.index("curves")
    assert "Loss curves under learning-rate schedules" in r.figures


# ---- over-training --------------------------------------------------------------------------------
def _overtrain_csv(folder, with_error: bool):
    table = overtrain_table()
    if with_error:
        table["error"] = 0.75 - 2.0 * np.exp(-1.2 * table["loss"])  # Err(L) = epsilon - k exp(-gamma L)
    path = folder / "overtrain.csv"
    table.to_csv(path, index=False)
    return path, table


def test_overtrain_runs_add_the_law_its_backtest_and_error_against_loss(tmp_path):
    path, table = _overtrain_csv(tmp_path, with_error=True)
    r = make_report(path, bootstrap=10, seed=0, budgets=(1e22,))
    assert r.sections[:2] == ["glance", "data"] and "law" in r.sections  # the runs report is still there
    assert {"overtraining", "overtrain-backtest", "downstream-error"} <= set(r.sections)
    assert {"Loss against compute per token multiplier", "Over-training backtest",
            "Downstream error against loss"} <= set(r.figures)
    ot = section(r.html, "overtraining")
    assert "4 token multipliers M = D/N (tokens per parameter): 5, 20, 80, 320" in ot and "Fit status: converged" in ot
    bt = overtrain_backtest(table, bootstrap=10, seed=0)
    back = section(r.html, "overtrain-backtest")
    assert f"Mean absolute relative error {100 * bt.mare:.2f}%" in back and f"the {bt.n_test} runs" in back
    for p in bt.predictions.itertuples():
        assert num(p.predicted, 4) in back
    err = section(r.html, "downstream-error")
    assert "Column error read as the average top-1 downstream error" in err and "epsilon" in err


def test_overtrain_without_error_column_and_ordinary_runs_unchanged(tmp_path):
    path, _ = _overtrain_csv(tmp_path, with_error=False)
    r = make_report(path, bootstrap=0, budgets=(1e22,))
    assert "overtraining" in r.sections and "downstream-error" not in r.sections
    plain = make_report(sweep_csv(tmp_path), bootstrap=0, budgets=(1e22,))
    assert plain.sections == ["glance", "data", "law", "fit", "plan", "backtest", "warnings", "reproduce"]
    s = sweep()
    assert not over_training_design(s["params"].to_numpy(), s["tokens"].to_numpy())


def test_report_on_the_gadre_table(shared_data):
    path = shared_data / "gadre2024_overtraining" / "model_losses.csv"
    kind = detect_input(path)
    assert kind.overtrain and len(kind.data) == 35
    r = make_report(path, bootstrap=0, budgets=(1e22,))
    assert r.n_runs == 35 and "35 RedPajama (rpj) runs on c4_val" in section(r.html, "data")
    assert "8 token multipliers M = D/N (tokens per parameter): 5, 10, 20, 40, 80, 160, 320, 640" in r.html
    assert "refitted on the 28 runs" in section(r.html, "overtrain-backtest")


# ---- observational scaling ----------------------------------------------------------------------
def _benchmarks(seed=0) -> pd.DataFrame:
    """30 models of 3 families: benchmark scores as sigmoids of a capability linear in log10 compute."""
    rng = np.random.default_rng(seed)
    rows = []
    for fam, shift in (("Llama-2", 0.0), ("Qwen", 0.4), ("Pythia", -0.6)):
        for c in np.geomspace(1.0, 3000.0, 10):  # units of 1e21 FLOPs
            cap = np.log10(c) + shift + rng.normal(0, 0.05)
            scores = {b: float(1 / (1 + np.exp(-(k * cap - m)))) for b, k, m in
                      (("MMLU", 1.0, 2.0), ("ARC-C", 1.2, 1.5), ("HellaSwag", 1.5, 0.5), ("GSM8K", 2.0, 5.0))}
            scores["ARC-C"] += rng.normal(0, 0.01)
            rows.append({"Model": f"{fam}-{c:.3g}", "Model Family": fam, "FLOPs (1E21)": c, **scores})
    return pd.DataFrame(rows)


def test_benchmark_table_gets_the_observational_report(tmp_path):
    path = tmp_path / "bench.csv"
    table = _benchmarks()
    table.to_csv(path, index=False)
    r = make_report(path, target="GSM8K")
    assert r.sections == ["glance", "data", "capabilities", "observational", "observational-backtest", "warnings",
                          "reproduce"]
    assert r.law == "observational" and r.n_runs == 30 and len(images(section(r.html, "observational"))) == 1
    res = observational(table, "GSM8K", benchmarks=["MMLU", "ARC-C", "HellaSwag"], bootstrap=200, seed=0)
    bt = res.backtest()
    back = section(r.html, "observational-backtest")
    assert f"held-out mean squared error {num(bt['mse'], 4)}" in back and f"{bt['n_test']} models above" in back
    assert f"status {bt['status']}" in back and f"{100 * bt['coverage']:.0f}% of the held-out scores" in back
    first = res.predictions[res.predictions["split"] == "test"].sort_values("flops").iloc[0]
    assert f"[{num(first['low'], 3)}, {num(first['high'], 3)}]" in back
    assert f"{100 * res.pca.explained_variance_ratio[0]:.1f}%" in section(r.html, "capabilities")
    assert "GSM8K, left out of the PCA" in section(r.html, "observational")


def test_report_on_the_obsscaling_table(shared_data, tmp_path, monkeypatch, capsys):
    path = shared_data / "obsscaling" / "base_llm_benchmark_eval.csv"
    out = tmp_path / "obs.html"
    code, stdout, _ = run_cli(["report", path, "--out", out, "--json"], monkeypatch, capsys)
    got = json.loads(stdout)
    assert code == 0 and got["law"] == "observational" and got["n_runs"] == 148 and got["figures"] == 1
    html = out.read_text()
    assert "No target given: GSM8K" in html  # the benchmark with the lowest median score
    res = observational(pd.read_csv(path), "GSM8K", benchmarks=["MMLU", "ARC-C", "HellaSwag", "Winograd",
                                                                "TruthfulQA", "XWinograd", "HumanEval"])
    assert f"held-out mean squared error {num(res.backtest()['mse'], 4)}" in html
    code, _, err = run_cli(["report", path, "--out", out, "--target", "nope"], monkeypatch, capsys)
    assert code == 2 and "nope" in err and "Traceback" not in err
