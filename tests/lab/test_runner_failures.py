"""The sweep runner when runs or workers fail: a run that diverges at its last evaluation, a pool worker
killed by the OS, workers whose sweep process was killed, and checkpoints that belong to another store."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
from test_runner import CORPUS, planned

import scalinglab.lab.runner as runner
from scalinglab.errors import ScalingLabError
from scalinglab.lab.runner import _checkpoint_tag, run_sweep
from scalinglab.lab.spec import PlannedRun
from scalinglab.stores.run_store import RunStore


def test_a_run_diverging_at_its_last_evaluation_fails_and_the_sweep_goes_on(tmp_path: Path) -> None:
    """lr 1e6 with no clipping: the loss is NaN at the one (final) evaluation. The run is recorded as
    failed (not a ScalingLabError from finish_run that stops the sweep), the next run trains."""
    bad = dataclasses.replace(planned(16, 30, seed=1).config, lr=1e6, grad_clip=1e30, eval_every_tokens=30 * 8 * 16)
    rows = run_sweep([PlannedRun(bad, None, "bad"), planned(16, 30, seed=2)], tmp_path / "runs.db", corpus=CORPUS,
                     workers=1)
    assert [r["status"] for r in rows] == ["failed", "finished"]
    with RunStore(tmp_path / "runs.db") as store:
        errors = store.runs_frame().set_index("id")["error"]
        assert "diverged" in errors[rows[0]["id"]] and store.integrity_ok()


def test_a_dead_pool_worker_fails_its_runs_with_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "runs.db"

    def broken(*args, **kwargs):
        raise BrokenProcessPool("A process in the process pool was terminated abruptly")

    original = runner._train_job

    def start_then_die(job, emit, data=None):  # the run starts (status 'running'), then its worker dies
        emit(runner.RunEvent("start", job.run_id, {"device": "cpu", "code_version": "test"}))
        broken()

    monkeypatch.setattr(runner, "_pool_job", lambda job: start_then_die(job, lambda e: runner.record(
        runner._store(job.store), job, e)))
    monkeypatch.setattr(runner, "ProcessPoolExecutor", _InlinePool)
    with pytest.raises(ScalingLabError, match=r"worker process died .*run\(s\) 1, 2 marked failed"):
        run_sweep([planned(16, 30, seed=1), planned(32, 30, seed=2)], db, corpus=CORPUS, workers=2)
    with RunStore(db) as store:
        assert [store.get_run(i).status for i in (1, 2)] == ["failed", "failed"] and store.integrity_ok()
    monkeypatch.setattr(runner, "_train_job", original)
    monkeypatch.undo()
    rows = run_sweep([planned(16, 30, seed=1), planned(32, 30, seed=2)], db, corpus=CORPUS, workers=1)
    assert [r["status"] for r in rows] == ["finished", "finished"]  # the same command trains them


class _InlinePool:
    """A stand-in for ProcessPoolExecutor whose futures run inline (so a test can make a worker 'die')."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def submit(self, fn, *args):
        from concurrent.futures import Future

        f: Future = Future()
        try:
            f.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001
            f.set_exception(exc)
        return f

    def shutdown(self, *args, **kwargs) -> None:
        return None


def test_workers_exit_when_the_sweep_process_is_killed(tmp_path: Path) -> None:
    """A real parent starts a spawned worker (with the runner's initializer) and is SIGKILLed: the
    worker notices it was re-parented and exits within a second, instead of training on as an orphan."""
    pidfile = tmp_path / "worker.pid"
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, sys, time\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from multiprocessing import get_context\n"
        "from scalinglab.lab.worker_guard import initializer\n"
        "def sleeper(path):\n"
        "    open(path, 'w').write(str(os.getpid()))\n"
        "    time.sleep(60)\n"
        "if __name__ == '__main__':\n"
        "    init, args = initializer()\n"
        "    with ProcessPoolExecutor(1, mp_context=get_context('spawn'), initializer=init, initargs=args) as pool:\n"
        f"        pool.submit(sleeper, {str(pidfile)!r})\n"
        "        time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, str(script)], start_new_session=True)
    try:
        deadline = time.time() + 60
        while not (pidfile.exists() and pidfile.read_text()) and time.time() < deadline:
            time.sleep(0.1)
        worker = int(pidfile.read_text())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.time() + 10
        while _alive(worker) and time.time() < deadline:
            time.sleep(0.1)
        assert not _alive(worker)
    finally:
        try:
            os.killpg(parent.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_checkpoints_of_another_store_are_not_resumed(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    assert _checkpoint_tag(a, 1, CORPUS, "bytes") != _checkpoint_tag(b, 1, CORPUS, "bytes")
    assert _checkpoint_tag(a, 1, CORPUS, "bytes") != _checkpoint_tag(a, 1, CORPUS.replace("20000", "30000"), "bytes")
    assert _checkpoint_tag(a, 1, CORPUS, "bytes") == _checkpoint_tag(tmp_path / "." / "a.db", 1, CORPUS, "bytes")
