"""`make demo`: a real (here: smaller) IsoFLOP sweep, fitted, planned and reported."""

from __future__ import annotations

import json

import pytest

import scalinglab.lab.demo as demo_module
from conftest import run_cli
from scalinglab.lab.demo import DEMO_BUDGETS, demo_sweep, run_lab_demo

SMALL = {"budgets": (1e10, 3e10), "per_budget": 3, "bootstrap": 20, "plan_budgets": (1e11, 1e12)}


def test_default_design_is_a_real_isoflop_sweep() -> None:
    runs = demo_sweep()
    budgets = sorted({r.budget for r in runs})
    assert budgets == sorted(DEMO_BUDGETS) and len(runs) >= 3 * len(budgets)
    for r in runs:  # every run spends its budget: 6 N D within a step of C
        c = r.config
        n = c.arch.params_non_embedding()
        assert 6 * n * c.steps * c.tokens_per_step == pytest.approx(r.budget, rel=0.05)


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run_lab_demo(out, workers=1, report=True, **SMALL)


def test_small_demo_trains_fits_and_plans(small_demo) -> None:
    out, demo = small_demo
    assert demo.store == out / "runs.db" and demo.store.exists()
    assert len(demo.rows) == 5 and all(r["status"] == "finished" for r in demo.rows)  # 6 planned, 2 coincide
    assert all(2.0 < r["final_val_loss"] < 5.6 for r in demo.rows)  # below ln 256 = 5.55 untrained bytes
    assert demo.result.n_points == 5 and demo.result.bootstrap == 20
    assert set(demo.result.params) == {"E", "A", "alpha", "B", "beta"}
    assert [a.flops for a in demo.plans] == [1e11, 1e12]
    for a in demo.plans:
        assert a.tokens * a.params * 6 == pytest.approx(a.flops)
        assert a.params_ci is not None and a.params_ci[0] <= a.params <= a.params_ci[1]
    d = demo.to_json()
    assert set(d) == {"store", "runs", "fit", "plan", "report", "notes", "warnings"}
    # 5 runs for 5 parameters: the bootstrap cannot pin the law down, and the demo says so
    assert any("orders of magnitude" in w or "distinct" in w for w in demo.warnings)
    assert demo.report == out / "report.html"
    html = demo.report.read_text()
    assert "scalinglab demo" in html and "data:image/png;base64," in html  # reproducible command, figures


def test_rerun_reuses_finished_runs(small_demo, monkeypatch) -> None:
    out, first = small_demo
    import scalinglab.lab.runner as runner

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(runner, "_train_job", no_training)
    again = run_lab_demo(out, workers=1, report=False, **SMALL)
    assert [r["final_val_loss"] for r in again.rows] == [r["final_val_loss"] for r in first.rows]
    assert again.result.params == first.result.params  # same seed, same answer


def test_demo_cli_json(small_demo, monkeypatch, capsys) -> None:
    out, first = small_demo
    original = demo_module.run_lab_demo
    monkeypatch.setattr(demo_module, "run_lab_demo",
                        lambda folder, **kw: original(folder, **{**kw, **SMALL, "report": False}))
    code, text, err = run_cli(["demo", "--out", str(out), "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(text)
    assert d["store"] == str(out / "runs.db") and len(d["runs"]) == 5
    assert d["fit"]["params"] == pytest.approx(first.result.params)
    assert [p["flops"] for p in d["plan"]] == [1e11, 1e12]
