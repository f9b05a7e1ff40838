"""The lab records the learning rate of every evaluation in the run store (schema 3), and the schedule law
fits a lab store directly: ``scalinglab schedule fit STORE`` (one model size, chosen with --params)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from scalinglab.analysis.schedule import load_schedule_curves
from scalinglab.errors import ScalingLabError
from scalinglab.lab.runner import run_sweep
from scalinglab.lab.spec import PlannedRun
from scalinglab.lab.train import RunConfig, lr_at
from scalinglab.plan.architecture import Architecture
from scalinglab.stores.run_store import RunStore

CORPUS = "markov:order=1,vocab=16,branching=2,tokens=20000"
STEPS, EVERY = 40, 5  # 8 evaluations per run


def planned(schedule: str, d_model: int = 16) -> PlannedRun:
    """A tiny run (1 layer, vocab 16, 8 x 16 tokens per step) following ``schedule``."""
    arch = Architecture(name=f"d{d_model}", n_layer=1, d_model=d_model, n_heads=2, d_ff=2 * d_model,
                        vocab_size=16, seq_len=16)
    cfg = RunConfig(arch=arch, tokens=STEPS * 8 * 16, batch_size=8, lr=1e-2, seed=1, eval_every_tokens=EVERY * 8 * 16,
                    eval_tokens=256, schedule=schedule, warmup_fraction=0.1, cooldown_fraction=0.25)
    return PlannedRun(cfg, budget=None, label=f"{schedule} d{d_model}")


RUNS = [planned("constant"), planned("wsd"), planned("constant", d_model=32)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("lab") / "runs.db"
    rows = run_sweep(RUNS, db, corpus=CORPUS, sweep_name="schedules", workers=1)
    assert [r["status"] for r in rows] == ["finished"] * 3
    return db


def test_a_lab_runs_metrics_carry_the_lr_of_each_evaluation(store: Path) -> None:
    with RunStore(store, readonly=True) as s:
        metrics, runs = s.metrics_frame(), s.runs_frame()
    assert s.version == 3
    for run_id, run in zip(runs["id"], RUNS, strict=True):
        m = metrics[metrics["run_id"] == run_id]
        assert m["step"].tolist() == list(range(EVERY, STEPS + 1, EVERY))
        # the LR of the step just before each evaluation: lr_at counts steps from 0
        expected = [lr_at(int(step) - 1, run.config) for step in m["step"]]
        assert m["lr"].tolist() == pytest.approx(expected, rel=1e-12)
    wsd = metrics[metrics["run_id"] == runs["id"][1]]["lr"].to_numpy()
    assert wsd[2] == pytest.approx(1e-2) and wsd[-1] == pytest.approx(1e-3)  # peak held, then cooled to 10%


def test_schedule_fit_reads_a_lab_store_one_model_size_at_a_time(store: Path, monkeypatch, capsys) -> None:
    with RunStore(store, readonly=True) as s:
        runs = s.runs_frame()
    small, big = (int(runs["params"][i]) for i in (0, 2))
    code, _, err = run_cli(["schedule", "fit", store, "--bootstrap", "0"], monkeypatch, capsys)
    assert code == 2 and f"holds 2 model sizes ({small}, {big})" in err and "--params" in err
    code, out, err = run_cli(["schedule", "fit", store, "--params", small, "--bootstrap", "0", "--json"],
                             monkeypatch, capsys)
    assert code == 0, err
    fit = json.loads(out)
    assert fit["runs"] == ["1", "2"] and fit["n_points"] == 2 * (STEPS // EVERY)  # warmup ends at step 4
    assert f"runs of model size {small} " in fit["notes"][0]
    curves = load_schedule_curves(store, "store", params=small)
    assert [c.size for c in curves] == [small, small]
    wsd = curves[1]
    assert wsd.lrs.size == STEPS and wsd.lrs[-1] == pytest.approx(lr_at(STEPS - 1, RUNS[1].config))
    assert np.all(np.diff(wsd.lrs[-10:]) < 0)  # the recorded cooldown, interpolated between evaluations
    with pytest.raises(ScalingLabError, match=rf"no runs of model size 7 \(column params: {small}, {big}\)"):
        load_schedule_curves(store, "store", params=7)
