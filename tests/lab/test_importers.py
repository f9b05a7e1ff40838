"""Importers: real files written by the real tools (TensorBoard, MLflow) and W&B's documented
export formats, read into a run store with exact values; the mapping rules on their own."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.errors import ScalingLabError
from scalinglab.lab.importers import import_runs
from scalinglab.lab.importers.mapping import ImportOptions, resolve_run
from scalinglab.lab.importers.source import SourceRun
from scalinglab.stores.run_store import RunStore, read_store

# Chinchilla-form truth the TensorBoard curves follow: L = E + A / N^a + B / D^b [nats/token]
TRUTH = {"E": 1.8, "A": 400.0, "alpha": 0.3, "B": 900.0, "beta": 0.35}
TB_RUNS = {"n1000": 1000, "n4000": 4000, "wide/n16000": 16000}  # run folder -> params
TB_STEPS = (0, 50, 100, 200, 400, 800)
TB_TOKENS_STEPS = (0, 100, 200, 400, 800)  # tokens not logged at step 50: interpolated
TPS = 512  # tokens per step


def _truth(n: float, d: float) -> float:
    return TRUTH["E"] + TRUTH["A"] / n ** TRUTH["alpha"] + TRUTH["B"] / d ** TRUTH["beta"]


def f32(x: float) -> float:
    """What a TensorBoard simple_value (float32) holds for x."""
    return float(np.float32(x))


def _frames(db: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    with RunStore(db, readonly=True) as store:
        return store.runs_frame(), store.metrics_frame()


def _by_name(runs: pd.DataFrame) -> dict[str, dict]:
    return {json.loads(c)["run"]: r for c, r in zip(runs["config"], runs.to_dict("records"))}


# ---- TensorBoard -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tb_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three runs written by torch's SummaryWriter (simple_value scalars) plus add_hparams."""
    SummaryWriter = pytest.importorskip("torch.utils.tensorboard").SummaryWriter
    root = tmp_path_factory.mktemp("tb") / "logs"
    for name, n in TB_RUNS.items():
        with SummaryWriter(str(root / name)) as w:
            for s in TB_STEPS:
                if s > 0:
                    w.add_scalar("val/loss", _truth(n, s * TPS), s)
                w.add_scalar("train/loss", _truth(n, max(s, 1) * TPS) + 0.25, s)
                if s in TB_TOKENS_STEPS:
                    w.add_scalar("tokens", s * TPS, s)
            w.add_hparams({"n_params": n, "lr": 0.001, "seed": 7, "act": "gelu"}, {"hparam/final": 1.0})
    return root


@pytest.fixture(scope="module")
def tb_store(tb_logs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    db = tmp_path_factory.mktemp("tbstore") / "runs.db"
    return db, import_runs("tensorboard", tb_logs, db)


def test_tensorboard_runs_and_metrics_exact(tb_logs: Path, tb_store: tuple[Path, object]) -> None:
    db, result = tb_store
    runs, metrics = _frames(db)
    rows = _by_name(runs)
    assert sorted(rows) == sorted(TB_RUNS)
    assert result.sweep == f"import:tensorboard:{tb_logs.resolve()}"
    for name, n in TB_RUNS.items():
        r = rows[name]
        config = json.loads(r["config"])
        assert config == {"imported_from": "tensorboard", "source": str(tb_logs.resolve()), "run": name,
                          "hparams": {"n_params": n, "lr": 0.001, "seed": 7, "act": "gelu"}}
        assert (r["status"], r["seed"], r["params"], r["tokens"]) == ("finished", 7, n, 800 * TPS)
        assert r["final_val_loss"] == f32(_truth(n, 800 * TPS))
        assert r["flops"] == 6.0 * n * 800 * TPS
        m = metrics[metrics["run_id"] == r["id"]]
        assert m["step"].tolist() == list(TB_STEPS)
        assert m["tokens"].tolist() == [s * TPS for s in TB_STEPS]  # step 50: interpolated 0..51200
        assert m["val_loss"].tolist()[1:] == [f32(_truth(n, s * TPS)) for s in TB_STEPS[1:]]
        assert math.isnan(m["val_loss"].iloc[0])  # no validation at step 0
        assert m["train_loss"].tolist() == [f32(_truth(n, max(s, 1) * TPS) + 0.25) for s in TB_STEPS]
    assert any("add_hparams" in note for note in result.notes)
    assert any("interpolated" in note for note in result.notes)


def test_tensorboard_store_is_fit_ready(tb_store: tuple[Path, object]) -> None:
    db, _ = tb_store
    runs = sl.load_runs(db)
    assert sorted(runs.column("params").tolist()) == sorted(TB_RUNS.values())
    assert runs.column("tokens").tolist() == [800.0 * TPS] * 3
    curves = sl.load_runs(read_store(db, "metrics"))  # 3 runs x 5 evaluations with tokens > 0
    assert len(curves) == 15
    fit = sl.fit(curves, law="chinchilla", loss="huber", delta=1e-3)
    assert fit.converged
    for key in ("E", "alpha", "beta"):
        assert fit.params[key] == pytest.approx(TRUTH[key], rel=0.02)


def test_tensorboard_tensor_summaries(tmp_path: Path) -> None:
    """TF2-style scalars (one-element tensors of the scalars plugin), without TensorFlow."""
    SummaryWriter = pytest.importorskip("torch.utils.tensorboard").SummaryWriter
    summary_v2 = pytest.importorskip("tensorboard.plugins.scalar.summary_v2")
    with SummaryWriter(str(tmp_path / "logs" / "tf2")) as w:
        writer = w._get_file_writer()
        for s, loss in ((10, 3.5), (20, 3.25), (30, 3.125)):
            writer.add_summary(summary_v2.scalar_pb("eval/loss", loss), s)
            writer.add_summary(summary_v2.scalar_pb("train/tokens_seen", s * 100.0), s)
    result = import_runs("tensorboard", tmp_path / "logs", tmp_path / "runs.db", params=2.5e5)
    runs, metrics = _frames(tmp_path / "runs.db")
    assert runs["run"].size == 1 and json.loads(runs["config"][0])["run"] == "tf2"
    assert (runs["params"][0], runs["tokens"][0], runs["final_val_loss"][0]) == (250000, 3000, 3.125)
    assert metrics["val_loss"].tolist() == [3.5, 3.25, 3.125]
    assert metrics["tokens"].tolist() == [1000, 2000, 3000]
    assert "val_loss read from metric 'eval/loss'" in result.notes


# ---- MLflow --------------------------------------------------------------------------------------------
ML_RUNS = {"small": (1_000_000, [(100, 6400, 3.21, 3.4), (200, 12800, 3.05, 3.1)]),
           "large": (4_000_000, [(100, 6400, 2.97, 3.2), (200, 12800, 2.81, 2.9), (300, 19200, 2.73, 2.8)])}


@pytest.fixture(scope="module")
def mlruns(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local MLflow file store written by mlflow itself: experiment 'scaling' (two finished runs
    and a failed one) and experiment 'other' (one run)."""
    mlflow = pytest.importorskip("mlflow")
    root = tmp_path_factory.mktemp("mlflow") / "mlruns"
    before = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow >= 3.7 refuses file stores otherwise
        mlflow.set_tracking_uri(str(root))
        try:
            scaling = mlflow.create_experiment("scaling")
            for name, (n, points) in ML_RUNS.items():
                with mlflow.start_run(run_name=name, experiment_id=scaling):
                    mlflow.log_param("num_params", n)
                    mlflow.log_param("seed", 11)
                    for step, tokens, val, train in points:
                        mlflow.log_metric("eval/loss", val, step=step)
                        mlflow.log_metric("train_loss", train, step=step)
                        mlflow.log_metric("tokens_seen", tokens, step=step)
            mlflow.start_run(run_name="crashed", experiment_id=scaling)
            mlflow.log_metric("eval/loss", 9.0, step=1)
            mlflow.end_run(status="FAILED")
            with mlflow.start_run(run_name="solo", experiment_id=mlflow.create_experiment("other")):
                mlflow.log_param("n_params", 123)
                mlflow.log_metric("val_loss", 4.5, step=10)
                mlflow.log_metric("tokens", 640, step=10)
        finally:
            mlflow.set_tracking_uri(before)
    return root


def test_mlflow_file_store_exact(mlruns: Path, tmp_path: Path) -> None:
    result = import_runs("mlflow", mlruns, tmp_path / "runs.db", experiment="scaling")
    runs, metrics = _frames(tmp_path / "runs.db")
    rows = _by_name(runs)
    assert sorted(rows) == ["large", "small"]  # the failed run is left out, with a note
    assert "runs not finished left out: 1 FAILED" in result.notes
    for name, (n, points) in ML_RUNS.items():
        r = rows[name]
        assert json.loads(r["config"])["hparams"] == {"num_params": str(n), "seed": "11"}
        assert (r["params"], r["seed"], r["tokens"], r["final_val_loss"]) == (n, 11, points[-1][1], points[-1][2])
        m = metrics[metrics["run_id"] == r["id"]]
        assert m["step"].tolist() == [p[0] for p in points]
        assert m["tokens"].tolist() == [p[1] for p in points]
        assert m["val_loss"].tolist() == [p[2] for p in points]
        assert m["train_loss"].tolist() == [p[3] for p in points]
    assert result.sweep == f"import:mlflow:{mlruns.resolve()}:scaling"


def test_mlflow_all_experiments_and_errors(mlruns: Path, tmp_path: Path) -> None:
    import_runs("mlflow", mlruns, tmp_path / "all.db")
    names = sorted(_by_name(_frames(tmp_path / "all.db")[0]))
    assert names == ["other/solo", "scaling/large", "scaling/small"]
    with pytest.raises(ScalingLabError, match=r"--experiment nope: .* no such experiment; experiments are: .*'scaling'"):
        import_runs("mlflow", mlruns, tmp_path / "x.db", experiment="nope")
    with pytest.raises(ScalingLabError, match="not an MLflow file store: no experiment folders"):
        import_runs("mlflow", tmp_path, tmp_path / "x.db")
    assert not (tmp_path / "x.db").exists()


def test_mlflow_sqlite_store_needs_sqlalchemy(tmp_path: Path) -> None:
    import importlib.util
    import sqlite3

    if importlib.util.find_spec("sqlalchemy") is not None:
        pytest.skip("SQLAlchemy is installed here")
    with sqlite3.connect(tmp_path / "mlflow.db") as conn:
        conn.execute("CREATE TABLE experiments (experiment_id INTEGER)")
    conn.close()
    with pytest.raises(ScalingLabError, match="needs SQLAlchemy, which mlflow-skinny does not install"):
        import_runs("mlflow", tmp_path / "mlflow.db", tmp_path / "runs.db")


# ---- W&B exports ---------------------------------------------------------------------------------------
def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def test_wandb_wide_ui_export(tmp_path: Path) -> None:
    """The UI's panel export: Step, '<run> - <metric>' with __MIN/__MAX companions, empty = not logged."""
    header = ["Step", "fiery-sun-1 - val/loss", "fiery-sun-1 - val/loss__MIN", "fiery-sun-1 - val/loss__MAX",
              "calm-sea-2 - val/loss", "calm-sea-2 - val/loss__MIN", "calm-sea-2 - val/loss__MAX"]
    rows = [[100, 3.5, 3.4, 3.6, 3.25, 3.2, 3.3],
            [200, 3.125, 3.0, 3.2, "", "", ""],
            [300, "", "", "", 2.875, 2.8, 2.9]]
    _write_csv(tmp_path / "val_loss.csv", header, rows)
    import_runs("wandb", tmp_path / "val_loss.csv", tmp_path / "runs.db", tokens_per_step=1024,
                params={"fiery-sun-1": 1e6, "calm-sea-2": 4e6})
    runs, metrics = _frames(tmp_path / "runs.db")
    rows_by = _by_name(runs)
    assert (rows_by["fiery-sun-1"]["params"], rows_by["fiery-sun-1"]["tokens"],
            rows_by["fiery-sun-1"]["final_val_loss"]) == (1_000_000, 200 * 1024, 3.125)
    assert (rows_by["calm-sea-2"]["params"], rows_by["calm-sea-2"]["tokens"],
            rows_by["calm-sea-2"]["final_val_loss"]) == (4_000_000, 300 * 1024, 2.875)
    m = metrics[metrics["run_id"] == rows_by["calm-sea-2"]["id"]]
    assert m["step"].tolist() == [100, 300] and m["val_loss"].tolist() == [3.25, 2.875]


def test_wandb_wide_export_with_own_step_columns(tmp_path: Path) -> None:
    header = ["epoch", "r - _step", "r - _step__MIN", "r - _step__MAX", "r - loss", "r - loss__MIN", "r - loss__MAX"]
    _write_csv(tmp_path / "loss.csv", header, [[1, 40, 40, 40, 4.5, 4.5, 4.5], [2, 80, 80, 80, 4.25, 4.2, 4.3]])
    import_runs("wandb", tmp_path / "loss.csv", tmp_path / "runs.db", tokens_per_step=10, params=1e5)
    _, metrics = _frames(tmp_path / "runs.db")
    assert metrics["step"].tolist() == [40, 80] and metrics["train_loss"].tolist() == [4.5, 4.25]
    assert metrics["tokens"].tolist() == [400, 800]


def test_wandb_long_history_csv_from_pandas(tmp_path: Path) -> None:
    """run.history() frames of two runs, concatenated with a 'name' column, written with the index."""
    frames = []
    for name, n, vals in (("a", 2_000_000, [3.5, 3.0]), ("b", 8_000_000, [3.25, 2.75])):
        frames.append(pd.DataFrame({"_step": [0, 50, 100], "_runtime": [0.5, 10.0, 20.0],
                                    "_timestamp": [1.7e9, 1.7e9 + 10, 1.7e9 + 20], "train/loss": [6.0, 4.0, 3.5],
                                    "val/loss": [np.nan, vals[0], vals[1]], "tokens": [0, 6400, 12800],
                                    "n_params": [n, n, n], "name": name}))
    pd.concat(frames).to_csv(tmp_path / "history.csv")  # the index becomes an unnamed first column
    import_runs("wandb", tmp_path / "history.csv", tmp_path / "runs.db")
    runs, metrics = _frames(tmp_path / "runs.db")
    rows = _by_name(runs)
    assert (rows["a"]["params"], rows["a"]["tokens"], rows["a"]["final_val_loss"]) == (2_000_000, 12800, 3.0)
    assert (rows["b"]["params"], rows["b"]["final_val_loss"]) == (8_000_000, 2.75)
    m = metrics[metrics["run_id"] == rows["b"]["id"]]
    assert m["train_loss"].tolist() == [6.0, 4.0, 3.5] and m["val_loss"].tolist()[1:] == [3.25, 2.75]


def test_wandb_history_jsonl_with_config(tmp_path: Path) -> None:
    """wandb-history.jsonl in a run folder's files/, with config.yaml beside it."""
    files = tmp_path / "wandb" / "run-20240101_000000-abc123" / "files"
    files.mkdir(parents=True)
    lines = ['{"_step": 0, "_runtime": 1.5, "_timestamp": 1700000000.0, "train/loss": 5.0, "tokens": 0}',
             '{"_step": 10, "_runtime": 9.5, "_timestamp": 1700000009.0, "train/loss": 4.0, "tokens": 10240, '
             '"val": {"loss": 3.75}, "sample": {"_type": "image-file", "path": "x.png"}, "grad_norm": NaN}',
             '{"_step": 20, "_runtime": 19.5, "_timestamp": 1700000019.0, "tokens": 20480, "val": {"loss": 3.5}}']
    (files / "wandb-history.jsonl").write_text("\n".join(lines) + "\n")
    (files / "wandb-summary.json").write_text('{"val": {"loss": 3.5}}')
    (files / "config.yaml").write_text("wandb_version: 1\n_wandb:\n  desc: null\n  value:\n    cli_version: 0.16.0\n"
                                       "model:\n  desc: null\n  value:\n    n_params: 3000000\n    d_model: 256\n"
                                       "lr:\n  desc: null\n  value: 0.0003\n")
    result = import_runs("wandb", tmp_path / "wandb", tmp_path / "runs.db",
                         metrics={"params": "model.n_params", "val_loss": "val.loss"})
    runs, metrics = _frames(tmp_path / "runs.db")
    config = json.loads(runs["config"][0])
    assert config["run"] == "run-20240101_000000-abc123"
    assert config["hparams"] == {"model.n_params": 3000000, "model.d_model": 256, "lr": 0.0003}
    assert (runs["params"][0], runs["tokens"][0], runs["final_val_loss"][0]) == (3_000_000, 20480, 3.5)
    assert metrics["step"].tolist() == [0, 10, 20] and metrics["train_loss"].tolist()[:2] == [5.0, 4.0]
    assert metrics["val_loss"].tolist()[1:] == [3.75, 3.5]
    assert not any("val_loss read from" in n for n in result.notes)  # mapped explicitly: no guess to report


def test_wandb_json_array_in_bits(tmp_path: Path) -> None:
    rows = [{"_step": 100, "eval_bits": 3.0, "tokens_seen": 4096}, {"_step": 200, "eval_bits": 2.5, "tokens_seen": 8192}]
    (tmp_path / "hist.json").write_text(json.dumps(rows))
    result = import_runs("wandb", tmp_path / "hist.json", tmp_path / "runs.db", params=5e5,
                         metrics={"val_loss": "eval_bits"}, loss_unit="bits")
    runs, metrics = _frames(tmp_path / "runs.db")
    assert json.loads(runs["config"][0])["run"] == "hist"
    assert runs["final_val_loss"][0] == pytest.approx(2.5 * math.log(2.0), rel=1e-15)
    assert metrics["val_loss"].tolist() == pytest.approx([3.0 * math.log(2.0), 2.5 * math.log(2.0)], rel=1e-15)
    assert metrics["tokens"].tolist() == [4096, 8192]
    assert "losses converted from bits/token to nats/token (x ln 2)" in result.notes


# ---- mapping rules ---------------------------------------------------------------------------------------
def _run(series: dict, hparams: dict | None = None) -> SourceRun:
    return SourceRun("r", hparams=hparams or {}, series=series)


def test_mapping_tokens_per_step_product_and_train_only_run() -> None:
    run = _run({"Train/Loss": {10: 4.0, 20: 3.5}}, {"batch_size": 8, "seq_len": 128, "params": "2e6"})
    out = resolve_run(run, ImportOptions(metrics={"tokens_per_step": "batch_size*seq_len"}))
    assert (out.params, out.tokens, out.final_val_loss) == (2_000_000, 20 * 1024, 3.5)
    assert [r["tokens"] for r in out.metrics] == [10240, 20480] and out.metrics[0]["val_loss"] is None
    assert any("no validation loss; final_val_loss is its last train loss" in n for n in out.notes)
    assert "train_loss read from metric 'Train/Loss'" in out.notes  # default name, other case


def test_mapping_refusals() -> None:
    with pytest.raises(ScalingLabError, match=r"run 'r', step 30: metric 'tokens' \(tokens\) was not logged at or "
                                              r"around this step \(it was logged from step 10 to 20\)"):
        resolve_run(_run({"val_loss": {10: 3.0, 30: 2.0}, "tokens": {10: 100, 20: 200}}), ImportOptions(params=10))
    with pytest.raises(ScalingLabError, match=r"run 'r': no tokens: .*--tokens-per-step N"):
        resolve_run(_run({"val_loss": {10: 3.0}}), ImportOptions(params=10))
    with pytest.raises(ScalingLabError, match=r"run 'r', step 10, metric 'val_loss' \(val_loss\): value -1.0 must be > 0"):
        resolve_run(_run({"val_loss": {10: -1.0}}), ImportOptions(params=10, tokens_per_step=5))
    with pytest.raises(ScalingLabError, match=r"run 'r', step 0: tokens at the final evaluation is 0"):
        resolve_run(_run({"val_loss": {0: 3.0}}), ImportOptions(params=10, tokens_per_step=5))
    with pytest.raises(ScalingLabError, match="--metric tokens=... and a tokens per step were both given"):
        ImportOptions(metrics={"tokens": "t"}, tokens_per_step=4).check()
    with pytest.raises(ScalingLabError, match="--metric bogus=...: unknown name 'bogus'"):
        ImportOptions(metrics={"bogus": "t"}).check()
    with pytest.raises(ScalingLabError, match="--loss-unit: unknown unit 'bpb'"):
        ImportOptions(loss_unit="bpb").check()


def test_missing_tracker_package_names_the_extra(tb_logs: Path, mlruns: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "tensorboard.backend.event_processing.event_accumulator", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)  # a None entry makes the import fail
    for kind, source in (("tensorboard", tb_logs), ("mlflow", mlruns)):
        with pytest.raises(ScalingLabError, match=r"needs the (tensorboard|mlflow) package: "
                                                  r"pip install 'scalinglab\[trackers\]'"):
            import_runs(kind, source, tmp_path / "runs.db")
    assert not (tmp_path / "runs.db").exists()


# ---- damaged and malformed sources: what each format lets us verify --------------------------------------
def _records(path: Path) -> list[tuple[int, int]]:
    """(byte offset, data length) of each TFRecord in an event file, read from its framing."""
    data, out, offset = path.read_bytes(), [], 0
    while offset < len(data):
        length = int.from_bytes(data[offset:offset + 8], "little")
        out.append((offset, length))
        offset += 16 + length
    assert offset == len(data)
    return out


def _event_file(folder: Path) -> Path:
    SummaryWriter = pytest.importorskip("torch.utils.tensorboard").SummaryWriter
    with SummaryWriter(str(folder)) as w:
        for s in (100, 200, 300):
            w.add_scalar("val/loss", 4.0 - s / 200, s)
            w.add_scalar("tokens", s * 64.0, s)
    (file,) = folder.glob("events.out.tfevents.*")
    return file


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x10
    path.write_bytes(bytes(data))


def test_crc32c_matches_the_tfrecord_definition() -> None:
    from scalinglab.lab.importers.tensorboard import crc32c, masked_crc32c

    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720)
    stub = pytest.importorskip("tensorboard.compat.tensorflow_stub.pywrap_tensorflow")
    rng = np.random.default_rng(0)
    for n in (0, 1, 12, 4095, 65536, 65537 * 3 + 5):  # the large ones go through the numpy lanes
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert masked_crc32c(data) == stub.masked_crc32c(data), n


def test_tensorboard_damaged_or_truncated_event_file_is_refused(tmp_path: Path) -> None:
    """A bit flipped in a record's data or length, or a file cut inside a record: refused naming the file
    and the record's byte offset (TensorBoard's reader would stop there quietly: a wrong final loss)."""
    good = _event_file(tmp_path / "good" / "run")
    records = _records(good)
    assert len(records) >= 7  # file version + 6 scalars
    middle_off, middle_len = records[3]
    last_off, _ = records[-1]
    cases = {
        "data": (lambda f: _flip(f, middle_off + 12 + middle_len // 2),
                 rf"damaged TensorBoard event file: the record at byte {middle_off} \({middle_len} bytes\) fails "
                 r"its data checksum \(CRC-32C\); nothing imported"),
        "data crc": (lambda f: _flip(f, middle_off + 12 + middle_len + 1),
                     rf"the record at byte {middle_off} \({middle_len} bytes\) fails its data checksum"),
        "length": (lambda f: _flip(f, middle_off + 1),
                   rf"damaged TensorBoard event file: the record at byte {middle_off} fails its length checksum"),
        "truncated": (lambda f: f.write_bytes(f.read_bytes()[:-3]),
                      rf"truncated TensorBoard event file: it ends inside the record at byte {last_off} .*cut the "
                      rf"file to its first {last_off} bytes"),
        "truncated header": (lambda f: f.write_bytes(f.read_bytes()[:last_off + 5]),
                             rf"ends inside the record at byte {last_off} \(file size {last_off + 5}\)"),
    }
    for name, (damage, message) in cases.items():
        logs = tmp_path / name.replace(" ", "_")
        (logs / "run").mkdir(parents=True)
        file = logs / "run" / good.name
        file.write_bytes(good.read_bytes())
        damage(file)
        db = tmp_path / f"{name}.db"
        with pytest.raises(ScalingLabError, match=message) as err:
            import_runs("tensorboard", logs, db, params=1e6)
        assert str(err.value).startswith(f"{file}: ") and "\n" not in str(err.value), name
        assert not db.exists(), name
    cut = tmp_path / "cut"  # cut at a record boundary as the message says: the complete records import
    (cut / "run").mkdir(parents=True)
    (cut / "run" / good.name).write_bytes(good.read_bytes()[:records[-2][0]])  # without step 300's two records
    result = import_runs("tensorboard", cut, tmp_path / "cut.db", params=1e6)
    assert (result.runs[0].tokens, result.runs[0].final_val_loss) == (200 * 64, 3.0)


def test_wandb_json_nested_too_deep_is_refused(tmp_path: Path) -> None:
    from scalinglab.lab.importers.wandb import MAX_DEPTH

    row = '{"_step": 1, "val_loss": 3.0, "tokens": 10, "x": %s}'
    # 50k deep: json.loads itself raises RecursionError (a traceback before this was checked)
    (tmp_path / "deep.json").write_text("[" + row % ('{"a": ' * 50_000 + "1" + "}" * 50_000) + "]")
    (tmp_path / "deep.jsonl").write_text(row % ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)) + "\n")
    (tmp_path / "ok.jsonl").write_text(row % ('{"a": ' * (MAX_DEPTH - 2) + "1" + "}" * (MAX_DEPTH - 2)) + "\n")
    for name, where in (("deep.json", "deep.json"), ("deep.jsonl", "deep.jsonl, line 1")):
        with pytest.raises(ScalingLabError, match=rf"{where}: values nested more than {MAX_DEPTH} levels deep"):
            import_runs("wandb", tmp_path / name, tmp_path / "runs.db", params=1e6)
    assert not (tmp_path / "runs.db").exists()
    assert import_runs("wandb", tmp_path / "ok.jsonl", tmp_path / "runs.db", params=1e6).runs[0].final_val_loss == 3.0
    pytest.importorskip("yaml")
    run = tmp_path / "wandb" / "run-20240101_000000-abc" / "files"
    run.mkdir(parents=True)
    (run / "wandb-history.jsonl").write_text('{"_step": 1, "val_loss": 3.0, "tokens": 10}\n')
    (run / "config.yaml").write_text("lr:\n  value: " + "{a: " * (MAX_DEPTH + 2) + "1" + "}" * (MAX_DEPTH + 2) + "\n")
    with pytest.raises(ScalingLabError, match=rf"config.yaml: values nested more than {MAX_DEPTH} levels deep"):
        import_runs("wandb", tmp_path / "wandb", tmp_path / "cfg.db", params=1e6)


def test_wandb_csv_duplicate_column_is_refused(tmp_path: Path) -> None:
    long = _write_csv(tmp_path / "long.csv", ["_step", "val/loss", "tokens", "val/loss"], [[1, 3.0, 10, 9.0]])
    wide = _write_csv(tmp_path / "wide.csv", ["Step", "r1 - val/loss", "r1 - val/loss"], [[100, 3.5, 3.25]])
    for path, column, at in ((long, "val/loss", "columns 2 and 4"), (wide, "r1 - val/loss", "columns 2 and 3")):
        with pytest.raises(ScalingLabError, match=rf"{path.name}: column '{column}' appears twice in the header "
                                                  rf"\({at}\)"):
            import_runs("wandb", path, tmp_path / "runs.db", params=1e6, tokens_per_step=64)
    assert not (tmp_path / "runs.db").exists()


def test_mlflow_unreachable_server_is_refused_quickly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import time

    from scalinglab.lab.importers import mlflow as ml

    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(ScalingLabError, match=rf"http://127.0.0.1:{port}: cannot reach the MLflow tracking server at "
                                              rf"127.0.0.1:{port} \(connection refused"):
        import_runs("mlflow", f"http://127.0.0.1:{port}", tmp_path / "runs.db")
    assert time.monotonic() - started < ml.CONNECT_TIMEOUT_S
    asked = []

    def silent(address, timeout=None):  # a host that never answers
        asked.append((address, timeout))
        raise TimeoutError("timed out")

    monkeypatch.setattr(ml.socket, "create_connection", silent)
    with pytest.raises(ScalingLabError, match=r"https://mlflow.example:8443: cannot reach the MLflow tracking server "
                                              r"at mlflow.example:8443: no answer within 5 s"):
        import_runs("mlflow", "https://mlflow.example:8443", tmp_path / "runs.db")
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    with pytest.raises(ScalingLabError, match=r"mlflow.example:443 through the proxy proxy.example:3128"):
        import_runs("mlflow", "https://mlflow.example", tmp_path / "runs.db")
    assert asked == [(("mlflow.example", 8443), 5.0), (("proxy.example", 3128), 5.0)]
    assert not (tmp_path / "runs.db").exists()
