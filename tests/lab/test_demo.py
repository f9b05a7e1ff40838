"""`make demo`: a real (here: smaller) IsoFLOP sweep, fitted, planned and reported."""

from __future__ import annotations

import io
import json
import math

import pytest

import scalinglab.lab.demo as demo_module
from conftest import run_cli
from scalinglab.lab.cpu_speed import CpuSpeed
from scalinglab.lab.demo import (
    DEMO_BUDGETS,
    DEMO_MIN_STEPS,
    DEMO_RATIO,
    DEMO_VOCAB,
    demo_entropy_rate,
    demo_sweep,
    describe,
    run_lab_demo,
    runs_to_train,
)
from scalinglab.lab.progress import SweepProgress

SMALL = {"budgets": (3e9, 1e10), "widths": (16, 24, 32), "bootstrap": 20, "plan_budgets": (1e11, 1e12)}


def test_default_design_is_a_real_isoflop_sweep() -> None:
    runs = demo_sweep()
    budgets = sorted({r.budget for r in runs})
    assert budgets == sorted(DEMO_BUDGETS) and len(runs) >= 3 * len(budgets) and len(runs) <= 30
    for r in runs:  # every run spends its budget: 6 N D within a step of C
        c = r.config
        n = c.arch.params_non_embedding()
        assert 6 * n * c.steps * c.tokens_per_step == pytest.approx(r.budget, rel=0.05)
        assert DEMO_RATIO[0] <= c.tokens / n <= DEMO_RATIO[1]
    assert max(budgets) / min(budgets) >= 300  # 2.5 decades of compute
    ratios = [r.config.tokens / r.config.arch.params_non_embedding() for r in runs]
    assert max(ratios) / min(ratios) >= 100  # data-limited and parameter-limited runs both
    # one-layer models (an order-1 chain needs no attention), each trained enough steps not to be
    # optimisation-limited
    assert all(r.config.arch.n_layer == 1 and r.config.steps >= DEMO_MIN_STEPS for r in runs)
    assert all(r.config.arch.vocab_size == DEMO_VOCAB for r in runs)


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run_lab_demo(out, workers=1, report=True, **SMALL)


def test_small_demo_trains_fits_and_plans(small_demo) -> None:
    out, demo = small_demo
    assert demo.store == out / "runs.db" and demo.store.exists()
    assert len(demo.rows) == 5 and all(r["status"] == "finished" for r in demo.rows)  # 2 + 3 widths
    # between the Markov source's entropy rate (the best any model can do) and ln 256 (an untrained model)
    assert all(demo_entropy_rate() < r["final_val_loss"] < math.log(DEMO_VOCAB) for r in demo.rows)
    assert demo.entropy_rate_nats == pytest.approx(2.3680, abs=1e-4)
    assert demo.result.n_points == 5 and demo.result.bootstrap == 20
    assert set(demo.result.params) == {"E", "A", "alpha", "B", "beta"}
    assert [a.flops for a in demo.plans] == [1e11, 1e12]
    for a in demo.plans:
        assert a.tokens * a.params * 6 == pytest.approx(a.flops)
        assert a.params_ci is not None and a.params_ci[0] <= a.params <= a.params_ci[1]
    d = demo.to_json()
    assert set(d) == {"store", "runs", "fit", "plan", "report", "notes", "warnings", "entropy_rate_nats",
                      "eval_floor_nats"}
    # the true chain's loss on the 131,072 evaluation tokens: H plus their sampling noise
    assert d["eval_floor_nats"] == pytest.approx(demo_entropy_rate(), rel=0.005) and d["eval_floor_nats"] != d["entropy_rate_nats"]
    # 5 runs for 5 parameters over half a decade: the bootstrap cannot pin the law down, and the demo says so
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


def test_rerun_estimate_says_the_runs_are_in_the_store(small_demo, monkeypatch) -> None:
    out, _ = small_demo

    def no_measurement(*args, **kwargs):
        raise AssertionError("a rerun with every run in the store measured the CPU")

    monkeypatch.setattr(demo_module, "measure_cpu_speed", no_measurement)
    small = {"budgets": SMALL["budgets"], "widths": SMALL["widths"]}
    assert runs_to_train(out, **small) == []
    line = describe(out, **small)
    assert line.startswith("all 5 GPTs") and "finished" in line and "fitting and reporting only" in line


def test_time_estimate_follows_the_measurement(tmp_path, monkeypatch) -> None:
    runs = demo_sweep()
    for factor in (1, 4):  # a CPU measured 4x slower gives an estimate 4x longer
        speed = CpuSpeed(seconds_per_step=2e-3 * factor, seconds_per_flop=1.5e-11 * factor)
        monkeypatch.setattr(demo_module, "measure_cpu_speed", lambda speed=speed: speed)
        cpu = sum(speed.seconds(r.config) for r in runs)
        line = describe(tmp_path / "fresh", workers=2)
        assert f"training {len(runs)} of {len(runs)} GPTs" in line
        assert f"{cpu:.0f} s of CPU time at {2 * factor:.3g} ms per step plus {1.5e-11 * factor:.3g} s/FLOP" in line
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
    """The fitted E lies near the Markov source's exact entropy rate H, above the floor of the runs'
    evaluation tokens less noise (measured 2026-12-06: E = 2.3952 [2.3862, 2.4031] against H = 2.3680
    and the evaluation floor 2.3713 nats/token: +1.0%; the power law fitted over N = 3e3..2e5
    extrapolates to a floor a little above the truth)."""
    assert all(r["status"] == "finished" for r in full_demo.rows)
    h, floor, e = demo_entropy_rate(), full_demo.eval_floor_nats, full_demo.result.params["E"]
    assert abs(floor / h - 1) < 0.005  # 131,072 evaluation tokens: the floor is H to within their noise
    assert abs(e / h - 1) < 0.03


@pytest.mark.slow
def test_full_demo_identifies_every_parameter(full_demo) -> None:
    """Issue 15 item 4: the default demo ends with a law whose every parameter is identified (the trust
    check: status converged, ``FitResult.unidentified`` empty), so its report's cards show numbers."""
    assert full_demo.identified(), (full_demo.result.unidentified, full_demo.result.status)
    assert not any("do not determine" in w for w in full_demo.warnings), full_demo.warnings


def test_a_store_holding_another_sweep_is_refused_and_left_as_it_is(tmp_path) -> None:
    """The demo fits every run of its store: runs of an earlier demo design (another corpus, another H) or
    a user's own would be mixed into its law, so such a store is a one-line error and is not touched."""
    from scalinglab.errors import ScalingLabError
    from scalinglab.stores.run_store import RunStore

    store = tmp_path / "runs.db"
    with RunStore(store) as st:
        old = st.create_sweep("demo", {"corpus": "markov:order=1,vocab=256,branching=32", "runs": []})
        st.add_run(old, {"arch": "an earlier demo's run"}, 0)
    before = store.read_bytes()
    for call in (lambda: runs_to_train(tmp_path), lambda: describe(tmp_path),
                 lambda: run_lab_demo(tmp_path, report=False, **SMALL)):
        with pytest.raises(ScalingLabError, match=r"already holds 1 run\(s\) of another sweep \(demo: .*new folder \(--out\) or remove"):
            call()
    assert store.read_bytes() == before


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"budgets": (float("nan"),)}, "budgets must be a finite number > 0"),
    ({"budgets": ()}, "no demo run"),
    ({"budgets": (1e9,)}, "no demo run: no width in"),  # every width gets too few steps
    ({"widths": (0,)}, "widths must be a whole number"),
])
def test_bad_demo_designs_are_one_line_errors(kwargs, message) -> None:
    from scalinglab.errors import ScalingLabError

    with pytest.raises(ScalingLabError, match=message):
        demo_sweep(**kwargs)
