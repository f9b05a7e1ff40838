"""The sweep runner: a micro sweep finishes and loads into the fitter, workers do not change results,
resume skips finished runs, a SIGKILLed sweep process resumes, bad input leaves the store untouched."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import scalinglab as sl
from scalinglab.errors import ScalingLabError
from scalinglab.lab.runner import RUN_KEYS, planned_row, run_sweep
from scalinglab.lab.spec import PlannedRun
from scalinglab.lab.train import RunConfig
from scalinglab.plan.architecture import Architecture
from scalinglab.stores.run_store import RunStore

CORPUS = "markov:order=1,vocab=16,branching=2,tokens=20000"


def planned(d_model: int = 16, steps: int = 30, seed: int = 0, vocab: int = 16) -> PlannedRun:
    """A tiny run: 1 layer, vocab 16, 8 x 16 tokens per step, 3 evaluations."""
    arch = Architecture(name=f"d{d_model}", n_layer=1, d_model=d_model, n_heads=2, d_ff=2 * d_model,
                        vocab_size=vocab, seq_len=16)
    cfg = RunConfig(arch=arch, tokens=steps * 8 * 16, batch_size=8, lr=1e-2, seed=seed,
                    eval_every_tokens=10 * 8 * 16, eval_tokens=256)
    return PlannedRun(cfg, budget=None, label=f"d{d_model}")


RUNS = [planned(16, 30, seed=1), planned(32, 30, seed=2)]


def test_micro_sweep_finishes_and_loads_into_fitter(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    rows = run_sweep(RUNS, db, corpus=CORPUS, sweep_name="micro", workers=1)
    assert [list(r) for r in rows] == [list(RUN_KEYS)] * 2
    assert [r["status"] for r in rows] == ["finished", "finished"]
    for row, run in zip(rows, RUNS, strict=True):
        expected = planned_row(run)
        assert row["params"] == run.config.arch.params() == expected["params"]
        assert row["tokens"] == 30 * 8 * 16 == expected["tokens"]
        assert row["flops"] == pytest.approx(6 * run.config.arch.params_non_embedding() * 30 * 128)
        assert 0.5 < row["final_val_loss"] < 2.77  # learned something: ln 16 = 2.77 untrained
    table = sl.load_runs(db)
    # the fitter's params are the N of the FLOPs (non-embedding); the total is kept beside it
    assert len(table) == 2 and sorted(table.column("params")) == sorted(r.config.arch.params_non_embedding()
                                                                         for r in RUNS)
    assert sorted(table.data["params_with_embeddings"]) == sorted(r["params"] for r in rows)
    assert list(table.column("loss")) == [r["final_val_loss"] for r in rows]
    with RunStore(db) as store:
        metrics = store.metrics_frame()
        assert list(metrics["step"]) == [10, 20, 30, 10, 20, 30]  # every evaluation stored
        assert store.integrity_ok()
    # the same call again: the same sweep, nothing retrained
    with RunStore(db) as store:
        before = store.runs_frame()[["id", "finished_at"]].to_dict("records")
    again = run_sweep(RUNS, db, corpus=CORPUS, sweep_name="micro", workers=1)
    assert again == rows
    with RunStore(db) as store:
        assert store.runs_frame()[["id", "finished_at"]].to_dict("records") == before
        assert len(store.sweeps_frame()) == 1


def test_workers_do_not_change_results(tmp_path: Path) -> None:
    one = run_sweep(RUNS, tmp_path / "one.db", corpus=CORPUS, workers=1)
    two = run_sweep(RUNS, tmp_path / "two.db", corpus=CORPUS, workers=2)
    assert [r["final_val_loss"] for r in one] == [r["final_val_loss"] for r in two]  # bit-for-bit


def test_interrupted_run_resumes_from_checkpoint(tmp_path: Path) -> None:
    """The resumed attempt continues from the checkpoint, and its curve up to there is the checkpoint's
    (replacing whatever the interrupted attempt had stored)."""
    import dataclasses

    from scalinglab.lab.corpus import load_corpus
    from scalinglab.lab.runner import _checkpoint_tag, run_key
    from scalinglab.lab.train import Checkpoint, train_run

    db, ck = tmp_path / "runs.db", tmp_path / "ck"
    straight = run_sweep(RUNS[:1], tmp_path / "straight.db", corpus=CORPUS)
    # a sweep killed at step 20: the run is 'running', its step-10 point stored, a checkpoint at step 10
    with RunStore(db) as store:
        sweep = store.create_sweep("sweep", {"corpus": CORPUS, "runs": [run_key(RUNS[0])]})
        rid = store.add_run(sweep, run_key(RUNS[0]), RUNS[0].config.seed)
        store.start_run(rid, "cpu", "test")
        store.log_metrics(rid, [{"step": 10, "tokens": 1280, "train_loss": 456.0}])  # replaced on resume

    class Killed(Exception):
        pass

    def kill_at_20(point) -> None:
        if point.step == 20:
            raise Killed

    ck.mkdir()
    own = ck / f"run-{rid}-{_checkpoint_tag(db, sweep, CORPUS, 'bytes')}.pt"  # this store's, sweep's, corpus's
    with pytest.raises(Killed):
        train_run(RUNS[0].config, load_corpus(CORPUS), on_eval=kill_at_20, checkpoint_path=own)
    marked = Checkpoint.load(own)
    marked.points[0] = dataclasses.replace(marked.points[0], train_loss=123.0)  # a marker in the checkpoint
    marked.save(own)
    rows = run_sweep(RUNS[:1], db, corpus=CORPUS, checkpoint_dir=ck)
    assert rows[0]["id"] == rid and rows[0]["final_val_loss"] == straight[0]["final_val_loss"]
    with RunStore(db) as store:
        m = store.metrics_frame(rid)
        assert list(m["step"]) == [10, 20, 30] and m["train_loss"].iloc[0] == 123.0  # resumed at 10, its curve
    assert not own.exists()  # removed once finished


def test_crash_safety_sigkill_and_resume(tmp_path: Path) -> None:
    """A real sweep process is SIGKILLed after its first run finished; the same command resumes it."""
    db = tmp_path / "runs.db"
    script = tmp_path / "sweep.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_runner import CORPUS, planned\n"
        "from scalinglab.lab.runner import run_sweep\n"
        "runs = [planned(16, 30, seed=1), planned(16, 400, seed=2), planned(24, 60, seed=3)]\n"
        f"run_sweep(runs, {str(db)!r}, corpus=CORPUS, sweep_name='crash', workers=1,"
        f" checkpoint_dir={str(tmp_path / 'ck')!r})\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    first = None
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            con = sqlite3.connect(db, timeout=30)
            try:
                first = con.execute("SELECT id, finished_at FROM runs WHERE status = 'finished'").fetchone()
            except sqlite3.OperationalError:  # tables not created yet
                first = None
            con.close()
            if first:
                break
        time.sleep(0.05)
    assert first is not None, proc.communicate()[1].decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with RunStore(db) as store:
        assert store.integrity_ok()
        status = dict(zip(store.runs_frame()["id"], store.runs_frame()["status"], strict=True))
        assert status[first[0]] == "finished" and list(status.values()).count("finished") < 3
    done = subprocess.run([sys.executable, str(script)], check=False, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    with RunStore(db) as store:
        df = store.runs_frame()
        assert list(df["status"]) == ["finished"] * 3 and len(store.sweeps_frame()) == 1
        assert df.loc[df["id"] == first[0], "finished_at"].item() == first[1]  # not re-run
        assert store.integrity_ok()


def test_bad_input_leaves_store_untouched(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with pytest.raises(ScalingLabError, match="not found|no such|does not exist"):
        run_sweep(RUNS, db, corpus=str(tmp_path / "missing.txt"))
    assert not db.exists()
    with pytest.raises(ScalingLabError, match="vocab_size"):
        run_sweep([planned(vocab=8)], db, corpus=CORPUS)
    assert not db.exists()
    with pytest.raises(ScalingLabError, match="unknown backend 'nope'; choose one of local, ray"):
        run_sweep(RUNS, db, corpus=CORPUS, backend="nope")
    with pytest.raises(ScalingLabError, match="workers"):
        run_sweep(RUNS, db, corpus=CORPUS, workers=0)
    with pytest.raises(ScalingLabError, match="runs"):
        run_sweep([], db, corpus=CORPUS)
    assert not db.exists()
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o500)
    try:
        if not os.access(tmp_path / "ro", os.W_OK):  # root can write anywhere
            with pytest.raises(ScalingLabError, match="not writable"):
                run_sweep(RUNS, tmp_path / "ro" / "runs.db", corpus=CORPUS)
    finally:
        os.chmod(tmp_path / "ro", 0o700)
    with RunStore(db) as store:
        store._conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    size = db.stat().st_size
    with pytest.raises(ScalingLabError, match="newer"):
        run_sweep(RUNS, db, corpus=CORPUS)
    assert db.stat().st_size == size
