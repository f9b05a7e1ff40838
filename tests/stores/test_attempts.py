"""What a finished run promises: every write comes from the run's current attempt (a stale worker's
evaluations are refused), a finished curve is complete or the run is not finished (and older
stores are repaired), version-1 stores stay readable and migrate on their first write, and a store
mixing a sweep's runs with imported runs reads as one table."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from test_file import good_store

import scalinglab as sl
from scalinglab.errors import ScalingLabError
from scalinglab.stores.run_store import SCHEMA_VERSION, RunStore, StaleAttemptError, read_store


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(steps: range) -> list[dict]:
    return [{"step": s, "tokens": 100 * s, "val_loss": 3.0 + 1 / s} for s in steps]


def test_a_stale_attempt_cannot_write_to_the_run_a_newer_attempt_trains(tmp_path: Path) -> None:
    """An orphan (connection ``old``) logs evaluations, then a resumed sweep (``new``) restarts the run:
    from then on every evaluation, finish or failure of the orphan is refused, and the run's curve is
    the new attempt's alone."""
    db = tmp_path / "runs.db"
    with RunStore(db) as old, RunStore(db) as new:
        run = old.add_run(old.create_sweep("s", {}), {"x": 1}, seed=0)
        first = old.start_run(run, "cpu", "v", evals=4)
        old.log_metrics(run, _rows(range(1, 3)))
        second = new.start_run(run, "cpu", "v", evals=4)
        assert first != second and new.get_run(run).attempt == second
        with pytest.raises(StaleAttemptError, match=f"run {run} was restarted by another process.*evaluations not"):
            old.log_metrics(run, _rows(range(3, 4)))
        with pytest.raises(StaleAttemptError, match="its finish not recorded"):
            old.finish_run(run, params=1, tokens=400, flops=2400.0, final_val_loss=3.25, metrics=_rows(range(4, 5)))
        with pytest.raises(StaleAttemptError, match="its failure not recorded"):
            old.fail_run(run, "killed")
        assert new.metrics_frame(run).empty and new.get_run(run).status == "running"
        new.log_metrics(run, _rows(range(1, 4)))
        new.finish_run(run, params=1, tokens=400, flops=2400.0, final_val_loss=3.25, metrics=_rows(range(4, 5)))
        with pytest.raises(StaleAttemptError):  # even once the run is finished
            old.log_metrics(run, _rows(range(5, 6)))
        assert new.metrics_frame(run)["step"].tolist() == [1, 2, 3, 4] and new.get_run(run).status == "finished"
        with RunStore(db) as third, pytest.raises(StaleAttemptError):  # it did not start the attempt: no token
            third.fail_run(run, "x")
        other = new.add_run(new.find_sweep("s"), {"x": 2}, seed=0)
        token = new.start_run(other, "cpu", "v")
        old.fail_run(other, "worker died", attempt=token)  # the token passed explicitly: accepted
        assert old.get_run(other).status == "failed" and new.integrity_ok()


def test_a_run_is_finished_only_with_its_whole_curve(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run = store.add_run(store.create_sweep("s", {}), {"x": 1}, seed=0)
        store.start_run(run, "cpu", "v", evals=3)
        store.log_metrics(run, _rows(range(1, 2)))
        with pytest.raises(ScalingLabError, match=f"cannot finish run {run}: its curve holds 2 of the 3 evaluations"):
            store.finish_run(run, params=1, tokens=300, flops=1800.0, final_val_loss=3.3, metrics=_rows(range(3, 4)))
        assert store.get_run(run).status == "running" and store.metrics_frame(run)["step"].tolist() == [1]
        store.start_run(run, "cpu", "v", resume_step=2, metrics=_rows(range(1, 3)))  # a checkpoint's curve
        store.finish_run(run, params=1, tokens=300, flops=1800.0, final_val_loss=3.3, metrics=_rows(range(3, 4)))
        assert store.metrics_frame(run)["step"].tolist() == [1, 2, 3] and store.get_run(run).status == "finished"


def _cut_a_curve(db: Path) -> int:
    """A finished run left with 2 of its 3 evaluations (as an orphan of an older scalinglab left them)."""
    with sqlite3.connect(db) as conn:
        run = conn.execute("SELECT id FROM runs ORDER BY id LIMIT 1").fetchone()[0]
        conn.execute("DELETE FROM metrics WHERE run_id = ? AND step = 1", (run,))
    conn.close()
    return int(run)


def test_a_finished_run_with_an_incomplete_curve_is_left_out_then_repaired(tmp_path: Path) -> None:
    db = good_store(tmp_path / "runs.db")
    run = _cut_a_curve(db)
    before = _digest(db)
    table = read_store(db)  # reading cannot repair: the run is left out, and said so
    assert len(table) == 8 and str(run) not in table["run"].tolist()
    assert any(f"run {run}: 2 of 3 evaluations" in note for note in table.attrs["notes"])
    assert len(sl.load_runs(db)) == 8 and _digest(db) == before
    with RunStore(db) as store:  # the first write of a writing connection repairs it
        assert store.get_run(run).status == "finished"
        store.create_sweep("next", {})
        assert store.get_run(run).status == "failed"
        assert "incomplete curve (2 of 3 evaluations)" in store.runs_frame().set_index("id").loc[run, "error"]
        assert [r.id for r in store.pending_runs(1)] == [run]  # the same sweep command trains it again


V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sweeps (id INTEGER PRIMARY KEY, name TEXT NOT NULL, design TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE runs (id INTEGER PRIMARY KEY, sweep_id INTEGER NOT NULL REFERENCES sweeps(id), config TEXT NOT NULL,
  config_hash TEXT NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'pending'
  CHECK (status IN ('pending', 'running', 'finished', 'failed')), device TEXT, wall_seconds REAL, code_version TEXT,
  params INTEGER, params_non_embedding INTEGER, tokens INTEGER, flops REAL, final_val_loss REAL,
  final_val_bpb REAL, started_at TEXT, finished_at TEXT, error TEXT, UNIQUE (sweep_id, config_hash, seed));
CREATE TABLE metrics (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, step INTEGER NOT NULL,
  tokens INTEGER NOT NULL, flops REAL, train_loss REAL, val_loss REAL, val_bpb REAL, grad_noise_scale REAL,
  PRIMARY KEY (run_id, step));
CREATE INDEX runs_by_sweep ON runs (sweep_id, status);
INSERT INTO meta VALUES ('schema_version', '1'), ('created_by', 'scalinglab 0.1.0');
INSERT INTO sweeps VALUES (1, 'old', '{}', '2026-01-01T00:00:00.000+00:00');
INSERT INTO runs (id, sweep_id, config, config_hash, seed, status, params, tokens, flops, final_val_loss)
  VALUES (1, 1, '{"budget":6e12,"i":1}', 'h1', 0, 'finished', 1000000, 1000000, 6e12, 3.0),
         (2, 1, '{"budget":6e12,"i":2}', 'h2', 0, 'finished', 2000000, 500000, 6e12, 3.1),
         (3, 1, '{"budget":6e12,"i":3}', 'h3', 0, 'running', NULL, NULL, NULL, NULL);
INSERT INTO metrics (run_id, step, tokens, val_loss) VALUES (1, 1, 500000, 3.5), (1, 2, 1000000, 3.0),
  (2, 2, 500000, 3.1), (3, 1, 250000, 3.9);
"""


def test_a_version_1_store_is_read_as_it_is_and_migrated_by_its_first_write(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(V1_SCHEMA)
    conn.close()
    before = _digest(db)
    with RunStore(db, readonly=True) as store:
        assert store.version == 1 and store.get_run(3).attempt is None and store.incomplete_runs() == {}
        assert store.runs_frame()["status"].tolist() == ["finished", "finished", "running"]
    assert read_store(db)["loss"].tolist() == [3.0, 3.1] and _digest(db) == before
    with RunStore(db) as store:
        assert store.version == 1 and _digest(db) == before  # opening for writing changes nothing yet
        # the runner says how many evaluations each run's config schedules: run 2 has 1 of 2, it is repaired
        assert store.repair_runs({1: 2, 2: 2}) == [2]
        assert store.version == SCHEMA_VERSION == 3 and store.integrity_ok()  # straight from 1 to 3
        token = store.start_run(3, "cpu", "v", evals=2)  # the interrupted run of the old store resumes
        store.log_metrics(3, _rows(range(1, 2)))
        store.finish_run(3, params=1, tokens=200, flops=1200.0, final_val_loss=3.4, metrics=_rows(range(2, 3)))
        assert store.get_run(3).attempt == token
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
        assert conn.execute("SELECT COUNT(*), COUNT(lr) FROM metrics").fetchone() == (5, 0)  # lr NULL, no row lost
        assert conn.execute("SELECT id, status, evals FROM runs ORDER BY id").fetchall() == [
            (1, "finished", 2), (2, "failed", 2), (3, "finished", 2)]
    conn.close()


def test_a_store_mixing_sweep_and_imported_runs_reads_as_one_table(tmp_path: Path) -> None:
    """Imported runs carry no FLOP budget: the table leaves the budget column out (and says so)
    rather than failing on 'row 9, column budget: missing'; load_runs, an export and a fit all work."""
    db = good_store(tmp_path / "runs.db")
    imported = [{"config": {"run": f"r{i}"}, "seed": 0, "params": n, "tokens": 2e8, "flops": 6 * n * 2e8,
                 "final_val_loss": 1.7 + 400 / n ** 0.34 + 410 / 2e8 ** 0.28,
                 "metrics": [{"step": 1, "tokens": 2e8, "val_loss": 3.0}]} for i, n in enumerate((2e6, 8e6))]
    with RunStore(db) as store:
        store.import_runs("import:wandb:x", {"importer": "wandb"}, imported)
        export = store.export(tmp_path / "runs.csv")
    table = read_store(db)
    assert len(table) == 11 and "budget" not in table.columns
    assert any("no budget column" in note for note in table.attrs["notes"])
    runs = sl.load_runs(db)
    assert len(runs) == 11 and len(sl.load_runs(export)) == 11
    assert set(pd.read_csv(export)["sweep"]) == {"iso", "import:wandb:x"}
    assert sl.fit(runs, law="chinchilla").params["E"] > 0
    assert json.loads(read_store(db)["config"].iloc[0])["budget"] > 0  # the budgets stay in the config
