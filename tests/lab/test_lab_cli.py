"""`scalinglab sweep` and `scalinglab runs` through the real entry point: JSON keys, resume, dry run,
spec files, export, and one-line errors that leave the store untouched."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from conftest import run_cli
from scalinglab.stores.run_store import RunStore

KEYS = ["id", "status", "params", "tokens", "flops", "final_val_loss", "final_val_bpb"]
CORPUS = "markov:order=1,vocab=16,branching=2,tokens=20000"
GRID = ["sweep", "--design", "grid", "--params", "3.2e3,6e3", "--tokens", "4096", "--seq-len", "16",
        "--batch-size", "8", "--corpus", CORPUS, "--workers", "1"]


def test_sweep_runs_and_export(tmp_path: Path, monkeypatch, capsys) -> None:
    db = tmp_path / "runs.db"
    code, out, err = run_cli([*GRID, "--store", db, "--json"], monkeypatch, capsys)
    assert code == 0, err
    rows = json.loads(out)
    assert [list(r) for r in rows] == [KEYS, KEYS]
    assert [r["status"] for r in rows] == ["finished", "finished"] and [r["id"] for r in rows] == [1, 2]
    assert all(r["tokens"] == 4096 for r in rows)  # 32 steps x 8 x 16
    assert rows[0]["params"] < rows[1]["params"] and all(0.5 < r["final_val_loss"] < 2.8 for r in rows)
    with RunStore(db) as store:
        finished_at = list(store.runs_frame()["finished_at"])
    # the same command again resumes the same sweep: nothing is retrained
    code, again, err = run_cli([*GRID, "--store", db, "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(again) == rows, err
    with RunStore(db) as store:
        assert list(store.runs_frame()["finished_at"]) == finished_at
    code, listed, _ = run_cli(["runs", db, "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(listed) == rows
    code, text, _ = run_cli(["runs", db], monkeypatch, capsys)
    assert code == 0 and "finished" in text and f"{rows[0]['params']:,}" in text
    target = tmp_path / "runs.parquet"
    code, text, err = run_cli(["runs", "export", db, "--out", target], monkeypatch, capsys)
    assert code == 0 and "exported" in text, err
    df = pd.read_parquet(target)
    assert list(df["id"]) == [1, 2] and list(df["loss"]) == [r["final_val_loss"] for r in rows]
    code, _, err = run_cli(["runs", "export", db, "--out", tmp_path / "m.csv", "--what", "metrics"],
                           monkeypatch, capsys)
    assert code == 0 and len(pd.read_csv(tmp_path / "m.csv")) == 2 * 11  # steps 3, 6, .., 30 (every round(4096 / 10 / 128) = 3) and 32


def test_dry_run_plans_without_training(tmp_path: Path, monkeypatch, capsys) -> None:
    db = tmp_path / "runs.db"
    args = ["sweep", "--design", "isoflop", "--budgets", "3e10,1e11", "--per-budget", "4", "--store", db,
            "--dry-run"]
    code, out, err = run_cli([*args, "--json"], monkeypatch, capsys)
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 8 and all(list(r) == KEYS for r in rows)
    assert all(r["id"] is None and r["status"] == "planned" and r["final_val_loss"] is None for r in rows)
    for r in rows:  # each run's 6 N D is within 5% of its budget
        assert min(abs(r["flops"] / b - 1) for b in (3e10, 1e11)) < 0.05
    code, text, err = run_cli(args, monkeypatch, capsys)
    assert code == 0 and "planned runs (dry run): 8" in text and "est s" in text, err
    assert not db.exists()  # nothing written


def test_spec_file(tmp_path: Path, monkeypatch, capsys) -> None:
    spec = tmp_path / "sweep.toml"
    spec.write_text(f'[sweep]\ndesign = "grid"\nparams = [3.2e3]\ntokens = [2048]\nseq_len = 16\n'
                    f'batch_size = 8\ncorpus = "{CORPUS}"\nworkers = 1\n')
    code, out, err = run_cli(["sweep", "--spec", spec, "--dry-run", "--json"], monkeypatch, capsys)
    assert code == 0, err
    assert [(r["status"], r["tokens"]) for r in json.loads(out)] == [("planned", 2048)]
    db = tmp_path / "spec.db"
    code, out, err = run_cli(["sweep", "--spec", spec, "--store", db, "--json"], monkeypatch, capsys)
    assert code == 0, err
    assert [r["status"] for r in json.loads(out)] == ["finished"]


def test_bad_input_one_line_errors(tmp_path: Path, monkeypatch, capsys) -> None:
    db = tmp_path / "runs.db"

    def fails(args: list, match: str) -> None:
        code, out, err = run_cli(args, monkeypatch, capsys)
        assert code == 2 and out == "" and match in err and err.count("\n") == 1, (code, err)

    fails([*GRID, "--store", db, "--backend", "nope"], "--backend: unknown backend 'nope'; choose one of local, ray")
    fails([*GRID, "--store", db, "--address", "127.0.0.1:6379"], "--address: only --backend ray")
    fails([*GRID[:-4], "--corpus", tmp_path / "missing.txt", "--store", db], "missing.txt")
    fails(["sweep", "--budgets", "1e3", "--store", db], "too small")
    fails(["sweep", "--design", "nope", "--store", db], "--design")
    fails(["sweep", "--budgets", "3e10"], "--store")
    fails(["runs", tmp_path / "none.db"], "no such run store")
    fails(["runs", "export", db], "runs export")
    assert not db.exists()
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        if not os.access(ro, os.W_OK):  # root can write anywhere
            fails([*GRID, "--store", ro / "runs.db"], "not writable")
    finally:
        os.chmod(ro, 0o700)
    with RunStore(db) as store:
        store._conn.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    before = db.read_bytes()
    fails([*GRID, "--store", db], "newer")
    fails(["runs", db, "--json"], "newer")
    assert db.read_bytes() == before


def test_noise_scale_is_stored_per_evaluation(tmp_path: Path, monkeypatch, capsys) -> None:
    db = tmp_path / "runs.db"
    code, out, err = run_cli([*GRID, "--store", db, "--noise-scale", "--json"], monkeypatch, capsys)
    assert code == 0, err
    with RunStore(db) as store:
        metrics = store.metrics_frame()
        configs = [json.loads(c) for c in store.runs_frame()["config"]]
    assert all(c["measure_noise_scale"] is True for c in configs)
    gns = metrics["grad_noise_scale"]
    # B_simple in tokens at each evaluation; None only where the two-batch estimate was not positive
    assert gns.notna().sum() >= len(metrics) // 2 and (gns.dropna() > 0).all()
    code, _, err = run_cli(["sweep", "--spec", "x.toml", "--noise-scale", "--store", db], monkeypatch, capsys)
    assert code == 2 and "--noise-scale" in err
