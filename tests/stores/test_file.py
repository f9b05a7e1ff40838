"""How the run store fails: a damaged, foreign, half-created, empty (0-byte), read-only or full store
gives one line (exit code 2) naming the file, for read commands (runs, runs export, fit, report,
optimal) and write commands (sweep, import) alike, and the file stays byte for byte as it was;
reads never leave -wal/-shm/-journal files beside a store, and a read-only store can be read."""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

import scalinglab as sl
from conftest import run_cli
from scalinglab.lab.runner import config_from_dict, eval_count
from scalinglab.stores import file as store_file
from scalinglab.stores.run_store import RunStore, StoreError

CORPUS = "markov:order=1,vocab=16,branching=2,tokens=20000"
SIDECARS = ("-wal", "-shm", "-journal")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def good_store(path: Path) -> Path:
    """An IsoFLOP-like sweep of 9 finished runs (3 sizes x 3 token counts, loss from a Chinchilla
    law), 3 evaluations each, closed cleanly (no -wal file left)."""
    with RunStore(path) as store:
        sweep = store.create_sweep("iso", {"design": "test"})
        for n in (1e6, 4e6, 1.6e7):
            for d in (2e7, 8e7, 3.2e8):
                run = store.add_run(sweep, {"n": n, "d": d, "budget": 6 * n * d, "pad": "x" * 300}, seed=0)
                store.start_run(run, "cpu", "test", params=int(n), evals=3)
                loss = 1.7 + 400 / n ** 0.34 + 410 / d ** 0.28
                store.log_metrics(run, [{"step": s, "tokens": int(d * s / 3), "val_loss": loss + 0.1 * (3 - s)}
                                        for s in (1, 2)])
                store.finish_run(run, params=int(n), tokens=int(d), flops=6 * n * d, final_val_loss=loss,
                                 metrics=[{"step": 3, "tokens": int(d), "val_loss": loss}])
    assert not any(Path(f"{path}{s}").exists() for s in SIDECARS)
    return path


def _damaged(path: Path) -> None:
    """2 KiB of random bytes in the middle of a good store."""
    data = bytearray(good_store(path).read_bytes())
    middle = len(data) // 2
    data[middle:middle + 2048] = random.Random(11).randbytes(2048)
    path.write_bytes(bytes(data))


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (x TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.close()


def _half_created(path: Path) -> None:
    """A store whose meta table exists but whose other tables are missing."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    conn.close()


VARIANTS = {
    "damaged": (_damaged, "the run store is damaged"),
    "foreign": (_foreign, "not a scalinglab run store (a SQLite database with tables notes and no table meta)"),
    "half-created": (_half_created, "an incomplete run store: tables sweeps, runs, metrics missing"),
    "0 bytes": (lambda p: p.write_bytes(b""), "an empty file (0 bytes), not a run store"),
}


def _spec(folder: Path, evals_every_step: bool = False) -> Path:
    """Three tiny runs of 32 steps (8 x 16 tokens each), evaluated (on 128 tokens) every step or 10 times."""
    spec = folder / "sweep.toml"
    extra = "eval_every_tokens = 128\n" if evals_every_step else ""
    spec.write_text(f'[sweep]\ndesign = "grid"\nparams = [3.2e3, 6e3, 1e4]\ntokens = [4096]\nseq_len = 16\n'
                    f'eval_tokens = 128\n'
                    f'batch_size = 8\ncorpus = "{CORPUS}"\nworkers = 1\n{extra}')
    return spec


def _history(path: Path, runs: int = 2, steps: int = 3) -> Path:
    """A W&B history export (CSV) of ``runs`` runs with ``steps`` evaluations each."""
    rows = [(f"r{r}", 100 * s, 3.0 + 1 / s, 2.9 + 1 / s, 6400 * s, 1_000_000 * (r + 1))
            for r in range(runs) for s in range(1, steps + 1)]
    pd.DataFrame(rows, columns=["name", "_step", "train/loss", "val/loss", "tokens", "n_params"]).to_csv(path, index=False)
    return path


def _commands(db: Path, out: Path) -> dict[str, list]:
    """Every command that reads or writes ``db``; outputs go to folder ``out``."""
    return {"runs": ["runs", db, "--json"],
            "runs export": ["runs", "export", db, "--out", out / "export.csv"],
            "fit": ["fit", db, "--json"],
            "report": ["report", db, "--out", out / "report.html", "--bootstrap", "0"],
            "optimal": ["optimal", db, "--approach", "3", "--flops", "1e21", "--json"],
            "sweep": ["sweep", "--spec", _spec(out), "--store", db, "--json"],
            "import": ["import", "wandb", _history(out / "hist.csv"), "--store", db, "--json"]}


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_bad_store_is_one_line_for_every_command_and_stays_as_it_was(variant: str, tmp_path: Path, monkeypatch,
                                                                         capsys) -> None:
    make, message = VARIANTS[variant]
    folder, out = tmp_path / "store", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    db = folder / "runs.db"
    make(db)
    before, listing = _digest(db), _files(folder)
    for command, args in _commands(db, out).items():
        code, stdout, err = run_cli(args, monkeypatch, capsys)
        assert code == 2 and err.startswith(f"error: {db}: ") and message in err, (command, err)
        assert err.count("\n") == 1 and "Traceback" not in err and stdout == "", (command, err)
        assert _digest(db) == before and _files(folder) == listing, command  # unchanged, no -wal/-shm left
    assert not (out / "export.csv").exists() and not (out / "report.html").exists()


def test_a_read_only_store_is_read_and_refused_for_writing(tmp_path: Path, monkeypatch, capsys) -> None:
    """A store in a read-only folder, itself read-only: every read works and leaves nothing beside it;
    sweep and import say it cannot be written. (Root ignores permission bits: os.access then answers
    as it would for anyone else.)"""
    folder, out = tmp_path / "store", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    db = good_store(folder / "runs.db")
    before = _digest(db)
    denied, real_access = {db.resolve(), folder.resolve()}, os.access

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and Path(path).resolve() in denied:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    db.chmod(0o444)
    folder.chmod(0o555)
    try:
        commands = _commands(db, out)
        code, listed, err = run_cli(commands["runs"], monkeypatch, capsys)
        assert code == 0 and [r["status"] for r in json.loads(listed)] == ["finished"] * 9, err
        code, _, err = run_cli(commands["runs export"], monkeypatch, capsys)
        assert code == 0 and len(pd.read_csv(out / "export.csv")) == 9, err
        assert len(sl.load_runs(db)) == 9
        for command in ("sweep", "import"):
            code, _, err = run_cli(commands[command], monkeypatch, capsys)
            assert code == 2 and err.count("\n") == 1, (command, err)
            assert f"error: {db}: cannot write the run store: the file is not writable" in err, (command, err)
        db.chmod(0o644)  # the folder alone read-only: SQLite could not write its -wal file there
        denied.discard(db.resolve())
        code, _, err = run_cli(commands["import"], monkeypatch, capsys)
        assert code == 2 and f"folder {folder} is not writable (SQLite writes its -wal" in err, err
    finally:
        folder.chmod(0o755)
        db.chmod(0o644)
    assert _digest(db) == before and _files(folder) == ["runs.db"]


def test_reads_leave_nothing_beside_a_store_and_see_a_writer_s_commits(tmp_path: Path) -> None:
    db = good_store(tmp_path / "runs.db")
    before = _digest(db)
    with RunStore(db, readonly=True) as store:
        assert len(store.runs_frame()) == 9
        with pytest.raises(sl.ScalingLabError, match="opened read-only"):
            store.create_sweep("x", {})
    assert _digest(db) == before and _files(tmp_path) == ["runs.db"]
    writer = RunStore(db)  # a sweep at work: its commits are in runs.db-wal until it closes
    try:
        writer.create_sweep("live", {})
        listing = _files(tmp_path)
        assert "runs.db-wal" in listing
        with RunStore(db, readonly=True) as store:
            assert store.sweeps_frame()["name"].tolist() == ["iso", "live"]
        assert _files(tmp_path) == listing  # the writer's own -wal/-shm, nothing new
    finally:
        writer.close()
    assert _files(tmp_path) == ["runs.db"]


@pytest.mark.parametrize("variant", ["good", "damaged"])
def test_without_deserialize_reads_open_the_file_immutable(variant: str, tmp_path: Path, monkeypatch) -> None:
    """Where Python's SQLite cannot query a copy in memory, reads open the file with immutable=1:
    the same promises (nothing written beside it, a damaged file refused in one line)."""
    monkeypatch.setattr(store_file, "DESERIALIZE", False)
    db = tmp_path / "runs.db"
    good_store(db) if variant == "good" else _damaged(db)
    before = _digest(db)
    if variant == "good":
        assert len(sl.load_runs(db)) == 9
    else:
        with pytest.raises(StoreError, match="the run store is damaged"):
            sl.load_runs(db)
    assert _digest(db) == before and _files(tmp_path) == ["runs.db"]


def test_new_stores_appear_whole_and_empty_sqlite_files_become_stores(tmp_path: Path) -> None:
    with RunStore(tmp_path / "new.db") as store:
        assert store.version == store_file.SCHEMA_VERSION and store.integrity_ok()
    assert _files(tmp_path) == ["new.db"]  # no temporary file left beside it
    with pytest.raises(StoreError, match="no such run store"):
        RunStore(tmp_path / "absent.db", readonly=True)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("PRAGMA user_version = 0").connection.close()  # a SQLite file, no tables
    with pytest.raises(StoreError, match="an empty SQLite database"):
        RunStore(empty, readonly=True)


# ---- a full disk, simulated with PRAGMA max_page_count (SQLite then fails with SQLITE_FULL) -------
def _disk_full_after(monkeypatch, pages: int) -> None:
    """Every writing connection may grow its database by ``pages`` pages at most."""
    real = store_file._write_connection

    def limited(path: Path) -> sqlite3.Connection:
        conn = real(path)
        size = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {size + pages}")
        return conn

    monkeypatch.setattr(store_file, "_write_connection", limited)


def test_a_full_disk_fails_an_import_in_one_line_and_leaves_the_store_as_it_was(tmp_path: Path, monkeypatch,
                                                                                 capsys) -> None:
    db = good_store(tmp_path / "runs.db")
    before = _digest(db)
    _disk_full_after(monkeypatch, 0)
    code, out, err = run_cli(["import", "wandb", _history(tmp_path / "h.csv", runs=8, steps=60), "--store", db],
                             monkeypatch, capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"error: {db}: the disk is full: cannot write to the run store"), err
    assert _digest(db) == before and _files(tmp_path) == ["h.csv", "runs.db"]
    code, _, err = run_cli(["sweep", "--spec", _spec(tmp_path), "--store", tmp_path / "new.db"], monkeypatch, capsys)
    assert code == 2 and "new.db: the disk is full: cannot create the run store" in err, err
    assert _files(tmp_path) == ["h.csv", "runs.db", "sweep.toml"]  # no half-created store, no temporary file


def test_a_full_disk_mid_sweep_is_one_line_and_the_same_command_resumes(tmp_path: Path, monkeypatch, capsys) -> None:
    """The disk fills up (no page more than the store has) after each finished run, until a run needs
    one: one line, exit 2; the store is consistent (finished runs complete, the interrupted run
    running, nothing half-written); with space again the same command finishes the sweep."""
    db, spec = tmp_path / "runs.db", _spec(tmp_path, evals_every_step=True)  # 32 evaluations per run
    real_finish = RunStore.finish_run

    def finish_then_full(self, run_id, **kwargs):
        real_finish(self, run_id, **kwargs)
        size = self._conn.execute("PRAGMA page_count").fetchone()[0]
        self._conn.execute(f"PRAGMA max_page_count = {size}")

    monkeypatch.setattr(RunStore, "finish_run", finish_then_full)
    code, out, err = run_cli(["sweep", "--spec", spec, "--store", db, "--json"], monkeypatch, capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"error: {db}: the disk is full: cannot write to the run store"), err
    with RunStore(db, readonly=True) as store:
        assert store.integrity_ok()
        runs, metrics = store.runs_frame(), store.metrics_frame()
        finished = runs[runs["status"] == "finished"]
        assert 1 <= len(finished) < 3 and runs["status"].tolist().count("running") == 1  # the one the disk stopped
        for run_id, config in zip(finished["id"], finished["config"], strict=True):
            assert (metrics["run_id"] == run_id).sum() == eval_count(config_from_dict(json.loads(config))) == 32
    monkeypatch.setattr(RunStore, "finish_run", real_finish)
    code, out, err = run_cli(["sweep", "--spec", spec, "--store", db, "--json"], monkeypatch, capsys)
    assert code == 0 and [r["status"] for r in json.loads(out)] == ["finished"] * 3, err
    with RunStore(db, readonly=True) as store:
        assert store.metrics_frame().groupby("run_id").size().tolist() == [32] * 3 and store.integrity_ok()
