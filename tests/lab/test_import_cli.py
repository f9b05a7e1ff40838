"""``scalinglab import``: JSON rows, idempotent re-import, and every bad input refused with one line,
exit code 2 and the store untouched (byte-identical, or never created)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from conftest import run_cli
from scalinglab.lab.importers import import_runs
from scalinglab.stores.run_store import RunStore

RUN_KEYS = ["id", "status", "params", "tokens", "flops", "final_val_loss", "final_val_bpb"]


def _history(path: Path, extra_step: bool = False, n_params: bool = True) -> Path:
    """A long W&B history CSV (run.history() rows of two runs, with a name column)."""
    rows = [("a", 0, 5.0, None, 0), ("a", 100, 4.0, 3.5, 6400), ("a", 200, 3.5, 3.25, 12800),
            ("b", 100, 3.75, 3.0, 6400), ("b", 200, 3.0, 2.5, 12800)]
    if extra_step:
        rows.append(("a", 300, 3.25, 3.0, 19200))
    df = pd.DataFrame(rows, columns=["name", "_step", "train/loss", "val/loss", "tokens"])
    if n_params:
        df["n_params"] = df["name"].map({"a": 1_000_000, "b": 4_000_000})
    df.to_csv(path, index=False)
    return path


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.fixture
def filled_store(tmp_path: Path) -> Path:
    """A store that already holds an import (of another source)."""
    db = tmp_path / "filled.db"
    import_runs("wandb", _history(tmp_path / "earlier.csv"), db)
    return db


def test_json_rows_and_idempotent_reimport(tmp_path: Path, monkeypatch, capsys) -> None:
    src, db = _history(tmp_path / "hist.csv"), tmp_path / "runs.db"
    code, out, err = run_cli(["import", "wandb", src, "--store", db, "--json"], monkeypatch, capsys)
    assert (code, err) == (0, "")
    rows = json.loads(out)
    assert [list(r) for r in rows] == [RUN_KEYS] * 2
    assert [(r["status"], r["params"], r["tokens"], r["final_val_loss"]) for r in rows] == [
        ("finished", 1_000_000, 12800, 3.25), ("finished", 4_000_000, 12800, 2.5)]
    assert rows[0]["flops"] == 6.0 * 1_000_000 * 12800
    code, out2, _ = run_cli(["import", "wandb", src, "--store", db, "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(out2) == rows  # same runs, same ids, nothing duplicated
    _history(src, extra_step=True)  # run 'a' trained on: re-import brings it up to date in place
    code, out3, _ = run_cli(["import", "wandb", src, "--store", db, "--json"], monkeypatch, capsys)
    assert code == 0 and [r["id"] for r in json.loads(out3)] == [r["id"] for r in rows]
    assert (json.loads(out3)[0]["tokens"], json.loads(out3)[0]["final_val_loss"]) == (19200, 3.0)
    with RunStore(db, readonly=True) as store:
        assert len(store.runs_frame()) == 2 and len(store.sweeps_frame()) == 1
        assert store.metrics_frame()["step"].tolist() == [0, 100, 200, 300, 100, 200]
        assert store.integrity_ok()
    before = _digest(db)
    code, _, err = run_cli(["import", "wandb", src, "--store", db, "--loss-unit", "bits"], monkeypatch, capsys)
    assert code == 2 and "already holds an import of" in err and "loss_unit 'nats' -> 'bits'" in err
    assert _digest(db) == before


def test_table_output_with_notes(tmp_path: Path, monkeypatch, capsys) -> None:
    src = _history(tmp_path / "hist.csv")
    code, out, _ = run_cli(["import", "wandb", src, "--store", tmp_path / "runs.db", "--metric",
                            "val_loss=val/loss"], monkeypatch, capsys)
    assert code == 0 and "imported 2 runs" in out and "flops = 6 * params * tokens" in out
    assert "params read from 'n_params' (2 runs)" in out


def _bad_sources(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (command line after --store, expected message part)."""
    (tmp / "empty").mkdir()
    wide = ["Step,r1 - val/loss,r1 - val/loss__MIN,r1 - val/loss__MAX", "100,3.5,3.5,3.5", "200,abc,abc,abc"]
    (tmp / "wide.csv").write_text("\n".join(wide) + "\n")
    (tmp / "nan.jsonl").write_text('{"_step": 1, "val_loss": 3.0, "tokens": 10}\n{"_step": 2, "val_loss": NaN, '
                                   '"tokens": 20}\n')
    (tmp / "zero.json").write_text('[{"_step": 1, "val_loss": 0.0, "tokens": 10}]')
    (tmp / "none.json").write_text("[]")
    hist, bare = _history(tmp / "hist.csv"), _history(tmp / "bare.csv", n_params=False)
    deep = '{"a": ' * 50_000 + "1" + "}" * 50_000
    (tmp / "deep.json").write_text('[{"_step": 1, "val_loss": 3.0, "x": ' + deep + "}]")
    (tmp / "dup.csv").write_text("_step,val/loss,tokens,val/loss\n1,3.0,10,9.0\n")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    damaged, truncated = _event_logs(tmp)
    return {
        "missing source": (["tensorboard", str(tmp / "nope")], "nope: no such TensorBoard log folder"),
        "no event files": (["tensorboard", str(tmp / "empty")], "no TensorBoard event files"),
        "no runs": (["wandb", str(tmp / "none.json")], "none.json: no runs found"),
        "mapped metric absent": (["wandb", str(hist), "--metric", "val_loss=eval/nope"],
                                 "--metric val_loss=eval/nope: run 'a' has no metric 'eval/nope'; its metrics are: "
                                 "'n_params', 'tokens', 'train/loss', 'val/loss'"),
        "no params": (["wandb", str(bare)], "run 'a': no parameter count"),
        "non-numeric": (["wandb", str(tmp / "wide.csv"), "--params", "1e6", "--tokens-per-step", "64"],
                        "run 'r1', step 200, metric 'val/loss' (val_loss): 'abc' is not a number"),
        "non-finite": (["wandb", str(tmp / "nan.jsonl"), "--params", "1e6"],
                       "run 'nan', step 2, metric 'val_loss' (val_loss): value nan is not finite"),
        "non-positive": (["wandb", str(tmp / "zero.json"), "--params", "1e6"],
                         "run 'zero', step 1, metric 'val_loss' (val_loss): value 0.0 must be > 0"),
        "params of unknown run": (["wandb", str(hist), "--params", "zz=1e6"], "--params zz=...: no run of that name"),
        "bad params": (["wandb", str(hist), "--params", "big"], "--params: expected a number such as 1.2e8"),
        "unknown kind": (["comet", str(hist)], "import: unknown kind 'comet'"),
        "experiment outside mlflow": (["wandb", str(hist), "--experiment", "x"], "--experiment: only an MLflow"),
        "bad loss unit": (["wandb", str(hist), "--loss-unit", "bpb"], "--loss-unit: unknown unit 'bpb'"),
        "nested 50k deep": (["wandb", str(tmp / "deep.json"), "--params", "1e6"], "values nested more than 64 levels"),
        "duplicate column": (["wandb", str(tmp / "dup.csv"), "--params", "1e6"],
                             "dup.csv: column 'val/loss' appears twice in the header (columns 2 and 4)"),
        "mlflow server down": (["mlflow", f"http://127.0.0.1:{port}"],
                               f"cannot reach the MLflow tracking server at 127.0.0.1:{port} (connection refused"),
        **({} if damaged is None else {
            "damaged event file": (["tensorboard", str(damaged), "--params", "1e6"], "fails its data checksum"),
            "truncated event file": (["tensorboard", str(truncated), "--params", "1e6"], "truncated TensorBoard event "
                                     "file: it ends inside the record at byte")}),
    }


def _event_logs(tmp: Path) -> tuple[Path | None, Path | None]:
    """Two TensorBoard log folders: one event file with a bit flipped in its last record's data, one cut
    inside its last record (None, None without torch's SummaryWriter)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None, None
    folders = (tmp / "tb_damaged", tmp / "tb_truncated")
    for folder in folders:
        with SummaryWriter(str(folder / "run")) as w:
            for s in (100, 200):
                w.add_scalar("val/loss", 3.0, s)
                w.add_scalar("tokens", s * 64.0, s)
    (damaged,) = (folders[0] / "run").glob("events.out.tfevents.*")
    data = bytearray(damaged.read_bytes())
    data[-6] ^= 1  # inside the last record's data (its data CRC is the last 4 bytes)
    damaged.write_bytes(bytes(data))
    (truncated,) = (folders[1] / "run").glob("events.out.tfevents.*")
    truncated.write_bytes(truncated.read_bytes()[:-2])
    return folders


@pytest.mark.parametrize("existing", [False, True], ids=["new store", "existing store"])
def test_bad_input_leaves_store_untouched(tmp_path: Path, filled_store: Path, existing: bool, monkeypatch,
                                          capsys) -> None:
    db = filled_store if existing else tmp_path / "new.db"
    before = _digest(db)
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):  # the MLflow case connects directly
        monkeypatch.delenv(var, raising=False)
    for name, (args, message) in _bad_sources(tmp_path).items():
        kind, source, *options = args
        code, out, err = run_cli(["import", kind, source, "--store", db, *options], monkeypatch, capsys)
        assert code == 2, name
        assert err.startswith("error: ") and err.count("\n") == 1, (name, err)
        assert message in err, (name, err)
        assert _digest(db) == before, name
    assert existing or not db.exists()


def test_bad_stores_are_refused_before_reading(tmp_path: Path, filled_store: Path, monkeypatch, capsys) -> None:
    src = _history(tmp_path / "hist.csv")
    with sqlite3.connect(filled_store) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    (tmp_path / "notes.txt").write_text("not a store\n")
    cases = {filled_store: "store schema 99 is newer than this scalinglab understands",
             tmp_path / "notes.txt": "not a run store (not a SQLite file)",
             tmp_path / "no" / "such" / "runs.db": "folder " + str(tmp_path / "no" / "such") + " does not exist",
             tmp_path: "is a directory, not a run store file"}
    for db, message in cases.items():
        before = _digest(db) if db.is_file() else None
        code, _, err = run_cli(["import", "wandb", src, "--store", db], monkeypatch, capsys)
        assert code == 2 and message in err and err.count("\n") == 1, err
        assert (_digest(db) if db.is_file() else None) == before


def test_unwritable_store_is_refused(tmp_path: Path, filled_store: Path, monkeypatch, capsys) -> None:
    src = _history(tmp_path / "hist.csv")
    locked = tmp_path / "locked"
    locked.mkdir()
    denied, real_access = {filled_store.resolve(), locked.resolve()}, os.access

    def access(path, mode, *args, **kwargs):  # as chmod a-w would, also for root (who may write anywhere)
        if mode & os.W_OK and Path(path).resolve() in denied:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    before = _digest(filled_store)
    code, _, err = run_cli(["import", "wandb", src, "--store", filled_store], monkeypatch, capsys)
    assert code == 2 and "cannot write the run store: the file is not writable" in err
    assert _digest(filled_store) == before
    code, _, err = run_cli(["import", "wandb", src, "--store", locked / "runs.db"], monkeypatch, capsys)
    assert code == 2 and f"folder {locked} is not writable" in err and not (locked / "runs.db").exists()
