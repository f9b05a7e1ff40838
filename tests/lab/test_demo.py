"""`make demo`: a real (here: smaller) IsoFLOP sweep, fitted, planned and reported."""

from __future__ import annotations

import io
import json
import math

import pytest

import scalinglab.lab.demo as demo_module
from conftest import run_cli
from scalinglab.lab.demo import (
    DEMO_BUDGETS,
    DEMO_MIN_STEPS,
    DEMO_VOCAB,
    demo_entropy_rate,
    demo_sweep,
    describe,
    run_lab_demo,
    runs_to_train,
)
from scalinglab.lab.design import dry_run_table
from scalinglab.lab.progress import SweepProgress

SMALL = {"budgets": (3e9, 1e10), "per_budget": 4, "bootstrap": 20, "plan_budgets": (1e11, 1e12)}


def test_default_design_is_a_real_isoflop_sweep() -> None:
    runs = demo_sweep()
    budgets = sorted({r.budget for r in runs})
    assert budgets == sorted(DEMO_BUDGETS) and len(runs) >= 3 * len(budgets)
    for r in runs:  # every run spends its budget: 6 N D within a step of C
        c = r.config
        n = c.arch.params_non_embedding()
        assert 6 * n * c.steps * c.tokens_per_step == pytest.approx(r.budget, rel=0.05)
    assert max(budgets) / min(budgets) >= 100  # two decades of compute
    # one-layer models (an order-1 chain needs no attention), each trained enough steps not to be
    # optimisation-limited (shapes round N by a few %, so a run may fall a few steps short of the cap)
    assert all(r.config.arch.n_layer == 1 and r.config.steps >= 0.9 * DEMO_MIN_STEPS for r in runs)
    assert all(r.config.arch.vocab_size == DEMO_VOCAB for r in runs)


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run_lab_demo(out, workers=1, report=True, **SMALL)


def test_small_demo_trains_fits_and_plans(small_demo) -> None:
    out, demo = small_demo
    assert demo.store == out / "runs.db" and demo.store.exists()
    assert len(demo.rows) == 6 and all(r["status"] == "finished" for r in demo.rows)  # 2 + 4 sizes
    # between the Markov source's entropy rate (the best any model can do) and ln 256 (an untrained model)
    assert all(demo_entropy_rate() < r["final_val_loss"] < math.log(DEMO_VOCAB) for r in demo.rows)
    assert demo.entropy_rate_nats == pytest.approx(2.5011762, abs=1e-6)
    assert demo.result.n_points == 6 and demo.result.bootstrap == 20
    assert set(demo.result.params) == {"E", "A", "alpha", "B", "beta"}
    assert [a.flops for a in demo.plans] == [1e11, 1e12]
    for a in demo.plans:
        assert a.tokens * a.params * 6 == pytest.approx(a.flops)
        assert a.params_ci is not None and a.params_ci[0] <= a.params <= a.params_ci[1]
    d = demo.to_json()
    assert set(d) == {"store", "runs", "fit", "plan", "report", "notes", "warnings", "entropy_rate_nats"}
    # 6 runs for 5 parameters over half a decade: the bootstrap cannot pin the law down, and the demo says so
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
    assert d["store"] == str(out / "runs.db") and len(d["runs"]) == 6
    assert d["fit"]["params"] == pytest.approx(first.result.params)
    assert [p["flops"] for p in d["plan"]] == [1e11, 1e12]


def test_rerun_estimate_says_the_runs_are_in_the_store(small_demo, monkeypatch) -> None:
    out, _ = small_demo

    def no_measurement(*args, **kwargs):
        raise AssertionError("a rerun with every run in the store measured the CPU")

    monkeypatch.setattr(demo_module, "measure_seconds_per_flop", no_measurement)
    small = {"budgets": SMALL["budgets"], "per_budget": SMALL["per_budget"]}
    assert runs_to_train(out, **small) == []
    line = describe(out, **small)
    assert line.startswith("all 6 GPTs") and "finished" in line and "fitting and reporting only" in line


def test_time_estimate_follows_the_measurement(tmp_path, monkeypatch) -> None:
    runs = demo_sweep()
    for spf in (1e-10, 4e-10):  # a measurement 4x slower gives an estimate 4x longer
        monkeypatch.setattr(demo_module, "measure_seconds_per_flop", lambda spf=spf: spf)
        cpu = float(dry_run_table(runs, spf)["est_seconds"].sum())
        line = describe(tmp_path / "fresh", workers=2)
        assert f"training {len(runs)} of {len(runs)} GPTs" in line
        assert f"{cpu:.0f} s of CPU time at {spf:.3g} s/FLOP measured" in line
        wall = round(cpu / 2)
        assert f"about {wall // 3600}:{wall // 60 % 60:02d}:{wall % 60:02d} on 2 worker(s)" in line


def test_off_a_terminal_progress_prints_one_line_per_finished_run() -> None:
    clock = iter(range(100, 200)).__next__
    bar, stream = SweepProgress(3, 0, 300.0, clock=clock), io.StringIO()
    with bar.live("lines", stream=stream):
        bar.start_run(1, "1x32/2", tokens_total=1000, flops=100.0)
        bar.update(1, 1000, 2.5, 2.25)
        bar.end_run(1)
        assert stream.getvalue().count("\n") == 1  # written when the run ends, not at the block's end
        bar.start_run(2, "1x64/4", tokens_total=1000, flops=200.0)
        bar.end_run(2, "failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[1/3 runs] run 1 finished, val loss 2.2500 nats/token; sweep 0:00:")
    assert lines[1].startswith("[2/3 runs] run 2 failed; sweep")
    with bar.live(False):  # no display and no lines
        bar.end_run(3)
    assert len(stream.getvalue().splitlines()) == 2


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory):
    """The default `make demo` (minutes of training; slow tests only)."""
    return run_lab_demo(tmp_path_factory.mktemp("full"), report=False)


@pytest.mark.slow
def test_full_demo_recovers_the_entropy_rate(full_demo) -> None:
    """The fitted E lies near the Markov source's exact entropy rate H (measured: 2.459 [2.034, 2.569]
    against H = 2.5012 nats/token), and its interval holds H."""
    assert all(r["status"] == "finished" for r in full_demo.rows)
    h, e, ci = demo_entropy_rate(), full_demo.result.params["E"], full_demo.result.ci["E"]
    assert ci[0] <= h <= ci[1] and abs(e / h - 1) < 0.1


@pytest.mark.slow
@pytest.mark.xfail(reason="issue 15 item 4 not met yet: the default design leaves A and B unidentified "
                          "(alpha and beta known to +-0.4, so ln A and ln B to several units; README)", strict=False)
def test_full_demo_identifies_every_parameter(full_demo) -> None:
    assert full_demo.identified(), (full_demo.result.unidentified, full_demo.result.status)
