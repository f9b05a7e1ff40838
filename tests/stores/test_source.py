"""A run store as a data source: parameter convention, training curves, and the fit/optimal commands."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from conftest import run_cli
from scalinglab.stores.run_store import RunStore

E, A, ALPHA, B, BETA = 1.7, 400.0, 0.34, 410.0, 0.28
EMBEDDING = 8192  # embedding parameters of every run (counted in `params`, not in the FLOPs)


def chinchilla_loss(n, d):
    return E + A / np.asarray(n, float) ** ALPHA + B / np.asarray(d, float) ** BETA


SIZES = (1e5, 2e5, 4e5, 8e5, 1.6e6, 3.2e6)
RATIOS = (5, 80, 10, 160, 20, 40)  # final tokens per parameter of each size: not one ratio for all


def write_store(path, steps=12, flops_with_embeddings=False, sizes=SIZES, ratios=RATIOS) -> None:
    """Runs of a known chinchilla law: size N trained to ratio x N tokens in `steps` equal steps, one
    evaluation per step; flops = 6 N D with N non-embedding (as the lab counts) unless told otherwise."""
    with RunStore(path) as store:
        sweep = store.create_sweep("curves", {"kind": "test"})
        for i, (n, ratio) in enumerate(zip(sizes, ratios, strict=True)):
            tokens_per_step = ratio * n / steps
            rid = store.add_run(sweep, {"i": i}, seed=0)
            total = int(n) + EMBEDDING
            store.start_run(rid, "cpu", "test", params=total, params_non_embedding=int(n))
            counted = total if flops_with_embeddings else n
            rows = []
            for s in range(1, steps + 1):
                d = int(s * tokens_per_step)
                rows.append({"step": s, "tokens": int(d), "flops": 6.0 * counted * d,
                             "train_loss": float(chinchilla_loss(n, d)) + 0.05, "val_loss": float(chinchilla_loss(n, d))})
            store.log_metrics(rid, rows[:-1])
            last = rows[-1]
            store.finish_run(rid, params=total, params_non_embedding=int(n), tokens=last["tokens"],
                             flops=last["flops"], final_val_loss=last["val_loss"], metrics=[last])


def test_params_are_the_non_embedding_count_of_the_flops(tmp_path) -> None:
    path = tmp_path / "runs.db"
    write_store(path)
    runs = sl.load_runs(path)
    assert list(runs.column("params")) == [1e5, 2e5, 4e5, 8e5, 1.6e6, 3.2e6]
    assert list(runs.data["params_with_embeddings"]) == [n + EMBEDDING for n in runs.column("params")]
    np.testing.assert_allclose(runs.column("flops"), 6 * runs.column("params") * runs.column("tokens"))
    assert any("non-embedding" in n for n in runs.notes)
    # an explicit mapping wins
    mapped = sl.load_runs(path, columns={"params": "params_with_embeddings"})
    assert mapped.column("params")[0] == 1e5 + EMBEDDING


def test_flops_counted_with_embeddings_keep_the_total(tmp_path) -> None:
    path = tmp_path / "runs.db"
    write_store(path, flops_with_embeddings=True)
    runs = sl.load_runs(path)
    assert runs.column("params")[0] == 1e5 + EMBEDDING
    assert not any("non-embedding" in n for n in runs.notes)


def test_curves_read_every_evaluation(tmp_path) -> None:
    path = tmp_path / "runs.db"
    write_store(path)
    curves = sl.load_runs(path, curves=True)
    assert len(curves) == 6 * 12
    first = curves.data[curves.data["run"] == "1"]
    assert list(first["step"]) == list(range(1, 13))
    np.testing.assert_allclose(first["loss"], chinchilla_loss(1e5, first["tokens"]))
    assert set(curves.data["params"]) == {1e5, 2e5, 4e5, 8e5, 1.6e6, 3.2e6}


def test_fit_and_approach_1_from_a_store(tmp_path, monkeypatch, capsys) -> None:
    path = tmp_path / "runs.db"
    write_store(path)
    code, out, err = run_cli(["fit", str(path), "--law", "chinchilla", "--json"], monkeypatch, capsys)
    assert code == 0, err
    params = json.loads(out)["params"]
    assert params["alpha"] == pytest.approx(ALPHA, rel=1e-3) and params["E"] == pytest.approx(E, rel=1e-3)


def test_approach_1_from_a_store_uses_every_checkpoint(tmp_path, monkeypatch, capsys) -> None:
    """Hoffmann et al.'s approach 1 on 9 sizes trained to 400 tokens/parameter, 200 evaluations each:
    a = beta / (alpha + beta) = 0.452 for the law of this file (eq. 4)."""
    path = tmp_path / "runs.db"
    write_store(path, steps=200, sizes=tuple(np.geomspace(1e5, 1e7, 9)), ratios=(400,) * 9)
    code, out, err = run_cli(["optimal", str(path), "--approach", "1", "--json"], monkeypatch, capsys)
    assert code == 0, err
    from_store = json.loads(out)
    assert from_store["a"] == pytest.approx(BETA / (ALPHA + BETA), abs=0.02)
    assert from_store["n_runs"] == 9 * 200  # every evaluation, not the 9 final points
    table = tmp_path / "curves.csv"
    sl.load_runs(path, curves=True).data.to_csv(table, index=False)
    code, out, err = run_cli(["optimal", str(table), "--approach", "1", "--json"], monkeypatch, capsys)
    assert code == 0, err
    assert from_store["a"] == pytest.approx(json.loads(out)["a"], rel=1e-12)


def test_export_fits_like_the_store(tmp_path, monkeypatch, capsys) -> None:
    path = tmp_path / "runs.db"
    write_store(path)
    with RunStore(path) as store:
        rid = store.add_run(store.find_sweep("curves"), {"i": 99}, seed=0)  # a pending run: no FLOPs yet
        store.start_run(rid, "cpu", "test", params=5000 + EMBEDDING, params_non_embedding=5000)
    out = tmp_path / "runs.parquet"
    code, _, err = run_cli(["runs", "export", str(path), "--out", str(out)], monkeypatch, capsys)
    assert code == 0, err
    df = pd.read_parquet(out)
    assert list(df["params"]) == [*SIZES, 5000]  # the N of the FLOPs, also for the unfinished run
    assert list(df["params_with_embeddings"]) == [n + EMBEDDING for n in [*SIZES, 5000]]
    finished = tmp_path / "finished.csv"
    df[df["status"] == "finished"].to_csv(finished, index=False)
    fits = []
    for source in (path, finished):
        code, text, err = run_cli(["fit", str(source), "--json"], monkeypatch, capsys)
        assert code == 0, err
        fits.append(json.loads(text)["params"])
    assert fits[0] == pytest.approx(fits[1], rel=1e-9)
