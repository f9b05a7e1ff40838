"""Store schema 3: each evaluation keeps its learning rate (``metrics.lr``). A version-2 store reads as it is
(``lr`` missing) with its bytes unchanged, and its first write migrates it to 3 without losing a row."""

from __future__ import annotations

import hashlib
import math
import sqlite3
from pathlib import Path

import pytest
from test_attempts import V1_SCHEMA

from scalinglab.errors import ScalingLabError
from scalinglab.stores.run_store import SCHEMA_VERSION, RunStore, read_store

#: A version-2 store as scalinglab 0.x wrote it: the version-1 tables plus runs.attempt and runs.evals.
V2_SCHEMA = (V1_SCHEMA.replace("error TEXT, UNIQUE", "error TEXT, attempt TEXT, evals INTEGER, UNIQUE")
             .replace("('schema_version', '1')", "('schema_version', '2')"))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dump(path: Path) -> dict[str, list[tuple]]:
    """Every row of the three data tables, without the new column."""
    with sqlite3.connect(path) as conn:
        out = {t: conn.execute(f"SELECT {cols} FROM {t} ORDER BY 1, 2").fetchall() for t, cols in (
            ("sweeps", "*"), ("runs", "id, sweep_id, config, seed, status, params, tokens, flops, final_val_loss, "
                                    "attempt, evals"),
            ("metrics", "run_id, step, tokens, flops, train_loss, val_loss, val_bpb, grad_noise_scale"))}
    conn.close()
    return out


def _v2_store(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(V2_SCHEMA)
    conn.close()
    return path


def test_a_version_2_store_reads_lr_as_missing_and_migrates_to_3_on_its_first_write(tmp_path: Path) -> None:
    db = _v2_store(tmp_path / "v2.db")
    before, rows = _digest(db), _dump(db)
    assert SCHEMA_VERSION == 3 and "attempt TEXT, evals INTEGER" in V2_SCHEMA
    with RunStore(db, readonly=True) as store:
        metrics = store.metrics_frame()
        assert store.version == 2 and len(metrics) == 4 and metrics["lr"].isna().all()
        assert metrics["lr"].dtype.kind == "f"  # missing, as a number column (NaN), not an object column
    curves = read_store(db, "metrics")
    assert curves["loss"].tolist() == [3.5, 3.0, 3.1] and curves["lr"].isna().all()
    assert _digest(db) == before  # reading changed no byte
    with RunStore(db) as store:
        assert store.version == 2 and _digest(db) == before  # nor did opening for writing
        sweep = store.create_sweep("new", {})  # the first write migrates, in its own transaction
        assert store.version == 3 and store.integrity_ok()
        run = store.add_run(sweep, {"i": 9}, seed=0)
        store.start_run(run, "cpu", "v", evals=2)
        store.log_metrics(run, [{"step": 1, "tokens": 10, "val_loss": 3.2, "lr": 1e-3}])
        store.finish_run(run, params=5, tokens=20, flops=600.0, final_val_loss=3.1,
                         metrics=[{"step": 2, "tokens": 20, "val_loss": 3.1, "lr": 5e-4}])
        frame = store.metrics_frame()
    after = _dump(db)
    assert after["metrics"][:4] == rows["metrics"] and after["runs"][:3] == rows["runs"]  # no row lost or changed
    assert after["sweeps"][:1] == rows["sweeps"] and len(after["metrics"]) == 6
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
        assert conn.execute("SELECT run_id, step, lr FROM metrics ORDER BY run_id, step").fetchall() == [
            (1, 1, None), (1, 2, None), (2, 2, None), (3, 1, None), (run, 1, 1e-3), (run, 2, 5e-4)]
    conn.close()
    assert [x if not math.isnan(x) else None for x in frame["lr"]] == [None] * 4 + [1e-3, 5e-4]


def test_a_new_store_records_lr_and_refuses_a_negative_one(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        assert store.version == 3
        run = store.add_run(store.create_sweep("s", {}), {"i": 1}, seed=0)
        store.start_run(run, "cpu", "v")
        with pytest.raises(ScalingLabError, match=r"metrics row 1: lr must be a finite number >= 0, got -0.1"):
            store.log_metrics(run, [{"step": 1, "tokens": 10, "val_loss": 3.0, "lr": -0.1}])
        store.log_metrics(run, [{"step": 1, "tokens": 10, "val_loss": 3.0, "lr": 0.002},
                                {"step": 2, "tokens": 20, "val_loss": 2.9}])  # lr optional, like the other values
        export = store.export(tmp_path / "metrics.csv", "metrics")
        assert store.metrics_frame()["lr"].tolist()[0] == 0.002
    assert export.read_text().splitlines()[0].split(",").count("lr") == 1  # the exported table carries it
