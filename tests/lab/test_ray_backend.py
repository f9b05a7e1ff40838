"""The Ray backend: bit-for-bit the local backend's results, failed runs recorded, resume, the CLI,
and clear errors (bad address, no Ray) that leave the store untouched.

One local Ray (2 CPUs) serves the module (``run_sweep`` uses a Ray already initialised in the
process); the tests that start their own Ray in a subprocess are marked slow."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_lab_cli import GRID
from test_runner import CORPUS, RUNS

from conftest import run_cli
from scalinglab.errors import ScalingLabError
from scalinglab.lab.runner import _checkpoint_tag, run_sweep
from scalinglab.stores.run_store import RunStore

ray = pytest.importorskip("ray")

VARYING = ["started_at", "finished_at", "wall_seconds"]  # differ between any two sweeps


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory) -> tuple[list[dict], Path]:
    """The micro sweep trained by the local backend in this process: (rows, store)."""
    db = tmp_path_factory.mktemp("local") / "local.db"
    return run_sweep(RUNS, db, corpus=CORPUS, sweep_name="micro", workers=1), db


def _frames(db: Path):
    with RunStore(db) as store:
        return store.runs_frame().drop(columns=VARYING), store.metrics_frame()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_matches_local_bit_for_bit(local_ray, local_sweep, tmp_path: Path) -> None:
    rows, local_db = local_sweep
    db = tmp_path / "ray.db"
    assert run_sweep(RUNS, db, corpus=CORPUS, sweep_name="micro", workers=2, backend="ray") == rows
    runs, metrics = _frames(db)
    local_runs, local_metrics = _frames(local_db)
    assert runs.equals(local_runs)  # ids, statuses, devices, params, tokens, flops, losses, configs
    assert list(metrics["step"]) == [10, 20, 30] * 2 and metrics.equals(local_metrics)  # every evaluation
    with RunStore(db) as store:
        assert store.integrity_ok()
    assert local_ray.is_initialized()  # a Ray that was already there is left running


def test_failed_run_is_recorded_and_resumed(local_ray, local_sweep, tmp_path: Path, capsys) -> None:
    rows, _ = local_sweep
    db, ck = tmp_path / "runs.db", tmp_path / "ck"
    tag = _checkpoint_tag(db, 1, CORPUS, "bytes")  # checkpoint names are unique to store, sweep and corpus
    (ck / f"run-2-{tag}.pt").mkdir(parents=True)  # run 2 cannot write its checkpoint: it fails at step 10
    first = run_sweep(RUNS, db, corpus=CORPUS, sweep_name="micro", backend="ray", checkpoint_dir=ck, progress=True)
    assert [r["status"] for r in first] == ["finished", "failed"] and first[1]["final_val_loss"] is None
    assert "2/2 runs, 1 failed" in capsys.readouterr().err  # the progress display's last frame
    assert first[0] == rows[0]  # the sweep went on: run 1 as trained locally
    with RunStore(db) as store:
        df = store.runs_frame()
        assert "checkpoint" in df["error"][1] and "cannot write" in df["error"][1]
        assert list(store.metrics_frame(2)["step"]) == [10]  # what the failed run logged before failing
        run1 = df.loc[0, ["started_at", "finished_at", "wall_seconds"]].to_dict()
    assert not (ck / f"run-1-{tag}.pt").exists()  # a finished run's checkpoint is deleted
    (ck / f"run-2-{tag}.pt").rmdir()
    again = run_sweep(RUNS, db, corpus=CORPUS, sweep_name="micro", backend="ray", checkpoint_dir=ck)
    assert again == rows  # only run 2 trained, now as the local backend trains it
    with RunStore(db) as store:
        df = store.runs_frame()
        assert df.loc[0, ["started_at", "finished_at", "wall_seconds"]].to_dict() == run1  # not re-run
        assert list(store.metrics_frame(2)["step"]) == [10, 20, 30] and df["error"].isna().all()
        assert len(store.sweeps_frame()) == 1 and store.integrity_ok()


def test_cli_backend_ray(local_ray, tmp_path: Path, monkeypatch, capsys) -> None:
    code, local, err = run_cli([*GRID, "--store", tmp_path / "local.db", "--json"], monkeypatch, capsys)
    assert code == 0, err
    db = tmp_path / "ray.db"
    code, out, err = run_cli([*GRID, "--store", db, "--json", "--backend", "ray"], monkeypatch, capsys)
    assert code == 0, err
    assert json.loads(out) == json.loads(local)  # the --json contract, and the same numbers
    assert [r["status"] for r in json.loads(out)] == ["finished", "finished"]


def test_bad_address_and_missing_ray_leave_the_store_untouched(tmp_path: Path, monkeypatch, capsys) -> None:
    db = tmp_path / "runs.db"
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    code, out, err = run_cli([*GRID, "--store", db, "--backend", "ray", "--address", address], monkeypatch, capsys)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert f"address {address}: cannot reach a Ray cluster" in err
    with pytest.raises(ScalingLabError, match="expected HOST:PORT"):
        run_sweep(RUNS, db, corpus=CORPUS, backend="ray", address="nonsense")
    assert not db.exists()
    with RunStore(db):  # an existing store is not changed either
        pass
    before = db.read_bytes()
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    code, out, err = run_cli([*GRID, "--store", db, "--backend", "ray"], monkeypatch, capsys)
    assert code == 2 and "pip install 'scalinglab[lab]'" in err, err
    assert db.read_bytes() == before


SCRIPT = """\
import sys
sys.path.insert(0, {tests!r})
from test_runner import CORPUS, planned
import ray
from scalinglab.lab.runner import run_sweep
runs = [planned(16, 30, seed=1), planned(16, {long_steps}, seed=2), planned(24, 60, seed=3)]
rows = run_sweep(runs, {db!r}, corpus=CORPUS, sweep_name='crash', workers=1, backend='ray')
print('initialised after:', ray.is_initialized())
"""


def _first_finished(db: Path) -> tuple | None:
    if not db.exists():
        return None
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute("SELECT id, finished_at FROM runs WHERE status = 'finished'").fetchone()
    except sqlite3.OperationalError:  # tables not created yet
        return None
    finally:
        con.close()


@pytest.mark.slow  # starts a local Ray twice in subprocesses (20-60 s on a loaded 2-core machine)
def test_driver_sigkill_then_same_command_resumes(tmp_path: Path) -> None:
    """A Ray sweep driver (which started its own local Ray) is SIGKILLed after its first run
    finished; the store is consistent and the same command finishes the sweep, stopping its Ray."""
    db = tmp_path / "runs.db"
    script = tmp_path / "sweep.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent), db=str(db), long_steps=3000))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline, first = time.monotonic() + 120, None
    while time.monotonic() < deadline and proc.poll() is None and first is None:
        first = _first_finished(db)
        time.sleep(0.1)
    assert first is not None, proc.communicate()[1].decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    try:  # Ray's helper processes outlive a SIGKILLed driver (Ray's behaviour): end them, they are ours
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    with RunStore(db) as store:
        assert store.integrity_ok()
        status = dict(zip(store.runs_frame()["id"], store.runs_frame()["status"], strict=True))
        assert status[first[0]] == "finished" and list(status.values()).count("finished") < 3
    done = subprocess.run([sys.executable, str(script)], check=False, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert "initialised after: False" in done.stdout.decode()  # the Ray it started is stopped
    with RunStore(db) as store:
        df = store.runs_frame()
        assert list(df["status"]) == ["finished"] * 3 and len(store.sweeps_frame()) == 1
        assert df.loc[df["id"] == first[0], "finished_at"].item() == first[1]  # not re-run
        assert store.integrity_ok()
