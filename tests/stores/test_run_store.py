"""The run store: schema, API, frames for load_runs, bad input, and crash safety under SIGKILL."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.errors import ScalingLabError
from scalinglab.stores.run_store import SCHEMA_VERSION, RunStore, is_store_file, read_store
from scalinglab.stores.table import store_params

WRITER = Path(__file__).with_name("store_writer.py")
sys.path.insert(0, str(WRITER.parent))
from store_writer import PARAMS, expected_row


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _small_store(path: Path) -> tuple[RunStore, int, list[int]]:
    """Sweep 'iso' with two finished runs (2 evaluations each) and one pending run."""
    store = RunStore(path)
    sweep = store.create_sweep("iso", {"design": "isoflop", "budgets": [1e9]})
    ids = [store.add_run(sweep, {"d_model": d, "budget": 1e9}, seed=7) for d in (32, 64, 128)]
    for k, run in enumerate(ids[:2]):
        store.start_run(run, "cpu", "abc123", params=1000 * (k + 1), params_non_embedding=800 * (k + 1))
        store.log_metrics(run, [{"step": 0, "tokens": 0, "val_loss": 5.5},
                                {"step": 10, "tokens": 640, "flops": 6.0 * 1000 * (k + 1) * 640,
                                 "train_loss": 4.1, "val_loss": 4.0 - k, "val_bpb": 5.8}])
        store.finish_run(run, params=1000 * (k + 1), tokens=1280, flops=6.0 * 1000 * (k + 1) * 1280,
                         final_val_loss=3.5 - k, final_val_bpb=5.0 - k, wall_seconds=1.5,
                         params_non_embedding=800 * (k + 1),
                         metrics=[{"step": 20, "tokens": 1280, "val_loss": 3.5 - k}])
    return store, sweep, ids


def test_schema_pragmas_and_meta(tmp_path: Path) -> None:
    store, _, _ = _small_store(tmp_path / "runs.db")
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    assert meta == {"schema_version": str(SCHEMA_VERSION), "created_by": f"scalinglab {sl.__version__}"}
    assert store.integrity_ok()
    store.close()
    assert is_store_file(tmp_path / "runs.db")
    (tmp_path / "plain").write_bytes((tmp_path / "runs.db").read_bytes())  # no suffix: magic header
    assert is_store_file(tmp_path / "plain") and not is_store_file(tmp_path / "x.csv")


def test_add_run_is_idempotent_and_pending_runs(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        sweep = store.create_sweep("s", {"n": 2})
        a = store.add_run(sweep, {"x": 1, "y": [1, 2]}, seed=0)
        assert store.add_run(sweep, {"y": [1, 2], "x": 1}, seed=0) == a  # key order does not matter
        b = store.add_run(sweep, {"x": 1, "y": [1, 2]}, seed=1)
        other = store.create_sweep("s", {"n": 2})
        c = store.add_run(other, {"x": 1, "y": [1, 2]}, seed=0)
        assert len({a, b, c}) == 3
        assert store.find_sweep("s") == other and store.find_sweep("nope") is None
        assert [r.id for r in store.pending_runs(sweep)] == [a, b]
        store.start_run(a, "cpu", "v1")
        store.fail_run(b, "diverged")
        assert [(r.id, r.status) for r in store.pending_runs(sweep)] == [(a, "running"), (b, "failed")]
        store.finish_run(a, params=10, tokens=100, flops=6000.0, final_val_loss=2.0)
        assert [r.id for r in store.pending_runs(sweep)] == [b]
        assert store.get_run(a).config == {"x": 1, "y": [1, 2]}
        assert store.runs_frame(sweep).set_index("id").loc[b, "error"] == "diverged"


def test_restart_clears_metrics_of_interrupted_attempt(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run = store.add_run(store.create_sweep("s", {}), {"x": 1}, seed=0)
        store.start_run(run, "cpu", "v1")
        store.log_metrics(run, [{"step": s, "tokens": 10 * s, "val_loss": 3.0} for s in (1, 2, 3)])
        store.start_run(run, "cpu", "v1", resume_step=2)  # resumes from a checkpoint at step 2
        assert list(store.metrics_frame(run)["step"]) == [1, 2]
        store.start_run(run, "cpu", "v1")  # from scratch
        assert store.metrics_frame(run).empty


def test_frames_have_canonical_columns_and_values(tmp_path: Path) -> None:
    store, sweep, ids = _small_store(tmp_path / "runs.db")
    runs = store.runs_frame(sweep)
    assert list(runs.columns[:10]) == ["run", "id", "sweep_id", "sweep", "status", "seed", "params", "tokens",
                                       "flops", "loss"]
    assert list(runs["status"]) == ["finished", "finished", "pending"]
    assert list(runs["run"]) == [str(i) for i in ids]
    assert runs["loss"].iloc[:2].tolist() == [3.5, 2.5] and pd.isna(runs["loss"].iloc[2])
    assert runs["params_non_embedding"].iloc[:2].tolist() == [800, 1600]
    assert runs["budget"].tolist() == [1e9] * 3 and runs["seed"].tolist() == [7] * 3
    metrics = store.metrics_frame()
    assert list(metrics.columns[:6]) == ["run", "step", "tokens", "flops", "loss", "params"]
    assert metrics["step"].tolist() == [0, 10, 20] * 2
    assert metrics["loss"].tolist() == [5.5, 4.0, 3.5, 5.5, 3.0, 2.5]
    assert metrics["params"].tolist() == [1000] * 3 + [2000] * 3
    assert store.metrics_frame(ids[1])["run"].unique().tolist() == [str(ids[1])]
    store.close()


def test_read_store_feeds_load_runs(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    _small_store(path)[0].close()
    runs = sl.load_runs(read_store(path))
    assert len(runs) == 2 and runs.column("loss").tolist() == [3.5, 2.5]
    assert runs.column("flops").tolist() == [6.0 * 1000 * 1280, 6.0 * 2000 * 1280]
    curves = read_store(path, "metrics")  # step 0 (0 tokens) left out; it cannot enter a log-log fit
    assert "evaluations without a validation loss or at 0 tokens" in curves.attrs["notes"][0]
    loaded = sl.load_runs(curves)
    assert loaded.column("tokens").tolist() == [640, 1280] * 2 and loaded.has("run")
    with pytest.raises(ScalingLabError, match="choose 'runs' or 'metrics'"):
        read_store(path, "sweeps")


def test_export_round_trip(tmp_path: Path) -> None:
    store, _, _ = _small_store(tmp_path / "runs.db")
    expected = store.runs_frame()
    store_params(expected, expected, [])  # params as load_runs reads them, the store's own count kept beside
    back = pd.read_parquet(store.export(tmp_path / "runs.parquet"))
    pd.testing.assert_frame_equal(back, expected)
    assert "params_with_embeddings" in back.columns
    csv = pd.read_csv(store.export(tmp_path / "curves.csv", what="metrics"), dtype={"run": str})
    assert csv["loss"].tolist() == store.metrics_frame()["loss"].tolist()
    with pytest.raises(ScalingLabError, match=r"out\.xlsx: export needs a \.parquet"):
        store.export(tmp_path / "out.xlsx")
    store.close()


def test_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    _small_store(path)[0].close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    before = _digest(path)
    with pytest.raises(ScalingLabError, match=rf"store schema 99 is newer than this scalinglab understands "
                                              rf"\({SCHEMA_VERSION}\)"):
        RunStore(path)
    with pytest.raises(ScalingLabError, match="newer"):
        read_store(path)
    assert _digest(path) == before


def test_not_a_store_is_refused_and_left_untouched(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("hello\n")
    with pytest.raises(ScalingLabError, match="notes.db: not a run store"):
        RunStore(text)
    assert text.read_text() == "hello\n"
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    before = _digest(other)
    with pytest.raises(ScalingLabError, match="not a scalinglab run store"):
        RunStore(other)
    assert _digest(other) == before


def test_empty_sqlite_file_from_a_killed_creation_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")  # header written, no table: killed before the schema commit
    conn.close()
    with RunStore(path) as store:
        assert store.integrity_ok() and store.runs_frame().empty


def test_unwritable_or_missing_location_is_refused_without_leaving_a_file(tmp_path: Path) -> None:
    with pytest.raises(ScalingLabError, match="folder .*missing does not exist"):
        RunStore(tmp_path / "missing" / "runs.db")
    assert not (tmp_path / "missing").exists()
    with pytest.raises(ScalingLabError, match="is a directory"):
        RunStore(tmp_path)
    with pytest.raises(ScalingLabError, match="no such run store"):
        read_store(tmp_path / "absent.db")
    if Path("/proc/self").is_dir():  # a folder even root cannot create files in: SQLite itself fails
        with pytest.raises(ScalingLabError, match="/proc/runs.db: cannot create the run store"):
            RunStore("/proc/runs.db")
    if os.geteuid() != 0:  # root ignores permission bits
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        try:
            with pytest.raises(ScalingLabError, match="is not writable"):
                RunStore(locked / "runs.db")
            assert list(locked.iterdir()) == []
        finally:
            locked.chmod(0o755)


def test_bad_input_names_the_field(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        sweep = store.create_sweep("s", {})
        with pytest.raises(ScalingLabError, match="run config is not JSON-serialisable"):
            store.add_run(sweep, {"x": object()}, seed=0)
        with pytest.raises(ScalingLabError, match="no sweep with id 99"):
            store.add_run(99, {}, seed=0)
        run = store.add_run(sweep, {}, seed=0)
        with pytest.raises(ScalingLabError, match=f"cannot log metrics for run {run}: it is pending"):
            store.log_metrics(run, [{"step": 1, "tokens": 1}])
        store.start_run(run, "cpu", "v")
        with pytest.raises(ScalingLabError, match="metrics row 2: unknown field 'momentum'"):
            store.log_metrics(run, [{"step": 1, "tokens": 1}, {"step": 2, "tokens": 2, "momentum": 0.9}])
        with pytest.raises(ScalingLabError, match="metrics row 1: tokens must be a finite number >= 0"):
            store.log_metrics(run, [{"step": 1, "tokens": -5}])
        with pytest.raises(ScalingLabError, match="final_val_loss must be a finite number"):
            store.finish_run(run, params=1, tokens=1, flops=6.0, final_val_loss=float("nan"))
        assert store.metrics_frame().empty  # nothing half-written by the refused calls
        store.finish_run(run, params=1, tokens=1, flops=6.0, final_val_loss=1.0)
        with pytest.raises(ScalingLabError, match=f"cannot start run {run}: it is finished"):
            store.start_run(run, "cpu", "v")


# ---- crash safety: a real writer process killed with SIGKILL ------------------------------------
N_RUNS, N_EVALS, PAUSE = 30, 4, 0.005


def _check_store(path: Path, committed: set[int]) -> set[int]:
    """Consistency after a kill; returns the ids of unfinished runs."""
    with RunStore(path) as store:
        assert store.integrity_ok()
        runs = store.runs_frame().set_index("id")
        metrics = store.metrics_frame()
        finished = set(runs.index[runs["status"] == "finished"])
        assert committed <= finished  # no finished run lost
        for run_id, row in runs.iterrows():
            i = store.get_run(int(run_id)).config["i"]
            got = metrics[metrics["run_id"] == run_id]
            want = [expected_row(i, s) for s in range(1, len(got) + 1)]
            assert got["step"].tolist() == [w["step"] for w in want]  # a prefix of the curve
            assert got["val_loss"].tolist() == [w["val_loss"] for w in want]
            if run_id in finished:  # finished => complete curve and matching final numbers
                assert len(got) == N_EVALS and row["params"] == PARAMS + i
                assert row["final_val_loss"] == expected_row(i, N_EVALS)["val_loss"]
            else:
                assert len(got) < N_EVALS and pd.isna(row["final_val_loss"])
        sweep = store.find_sweep("crash")
        unfinished = {r.id for r in store.pending_runs(sweep)} if sweep is not None else set()
        assert unfinished == set(runs.index) - finished
        return unfinished


def test_sigkill_loses_no_finished_run_and_resumes(tmp_path: Path) -> None:
    path, rng = tmp_path / "runs.db", random.Random(20240)
    args = [sys.executable, str(WRITER), str(path), str(N_RUNS), str(N_EVALS), str(PAUSE)]
    committed: set[int] = set()
    interrupted = 0
    for _ in range(4):
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, 0.1))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        interrupted += proc.returncode == -signal.SIGKILL
        committed |= {int(line.split()[1]) for line in out.splitlines() if line.startswith("finished ")}
        unfinished = _check_store(path, committed)
    assert interrupted >= 3 and unfinished  # the kills did land mid-sweep
    done = subprocess.run(args, check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    resumed = {int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("finished ")}
    assert resumed == unfinished  # the resumed sweep ran exactly the unfinished runs
    assert _check_store(path, committed | resumed) == set()


def test_load_runs_reads_a_store_file(tmp_path):
    import scalinglab as sl
    from scalinglab.stores.run_store import RunStore

    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        sweep = store.create_sweep("s", {"design": "grid"})
        for i, (n, d, loss) in enumerate([(1e6, 2e7, 4.0), (2e6, 4e7, 3.6), (4e6, 8e7, 3.3)]):
            rid = store.add_run(sweep, {"i": i}, seed=0)
            store.start_run(rid, "cpu", "test")
            store.finish_run(rid, params=n, tokens=d, flops=6 * n * d, final_val_loss=loss)
        store.add_run(sweep, {"i": 99}, seed=0)  # pending: not a finished run
    runs = sl.load_runs(path)
    assert len(runs) == 3
    assert list(runs.column("loss")) == [4.0, 3.6, 3.3]
    assert any("run store" in n for n in runs.notes)
