"""Workers must not outlive their sweep: the watchdog is armed before any heavy import and knows its
real parent, and a resumed sweep retrains any run an older scalinglab's orphans left finished with
part of a curve. The end-to-end race (the sweep killed while a worker is still importing) is slow."""

from __future__ import annotations

import ast
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_runner import CORPUS, planned

from scalinglab.lab import worker_guard
from scalinglab.lab.runner import eval_count, run_sweep
from scalinglab.stores.run_store import RunStore

GUARD = Path(worker_guard.__file__)


def test_the_guard_needs_nothing_but_the_standard_library() -> None:
    """The pool's initializer runs the guard by its path: no scalinglab, no torch before it is armed."""
    tree = ast.parse(GUARD.read_text())
    modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert modules <= set(sys.stdlib_module_names) | {"__future__"}, modules
    function, (path, init_globals, name) = worker_guard.initializer(1234)
    assert function.__module__ == "runpy" and Path(path) == GUARD and init_globals == {"PARENT": 1234}


def test_a_worker_whose_parent_died_while_it_was_starting_exits_at_once() -> None:
    """The recorded parent (here pid 1, not this process's parent) is gone by the time the guard runs:
    the worker ends before it could take a run, without importing scalinglab."""
    code = (f"import runpy, time; runpy.run_path({str(GUARD)!r}, {{'PARENT': 1}}, {worker_guard.RUN_NAME!r}); "
            "print('still alive', flush=True); time.sleep(30)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "still alive" not in done.stdout


def test_a_resumed_sweep_retrains_a_finished_run_whose_curve_is_incomplete(tmp_path: Path) -> None:
    """A run an older scalinglab marked finished with part of its curve (an orphan finished it after a
    resumed sweep had cleared its metrics): the same command trains it again, in full."""
    db, runs = tmp_path / "runs.db", [planned(16, 30, seed=1)]
    first = run_sweep(runs, db, corpus=CORPUS, workers=1)
    with sqlite3.connect(db) as conn:  # as an older store has it: no evals known, step 10 lost
        conn.execute("UPDATE runs SET evals = NULL")
        conn.execute("DELETE FROM metrics WHERE step = 10")
    conn.close()
    again = run_sweep(runs, db, corpus=CORPUS, workers=1)
    assert again == first  # retrained (bit for bit the same run), finished
    with RunStore(db, readonly=True) as store:
        assert store.metrics_frame()["step"].tolist() == [10, 20, 30] and eval_count(runs[0].config) == 3


PARENT = """
import os, sys, time
MARKS = {marks!r}
if __name__ == "__mp_main__":  # a pool worker imports this file first: the second one stands for a slow import
    try:
        os.close(os.open(os.path.join(MARKS, "first"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        open(os.path.join(MARKS, "first.pid"), "w").write(str(os.getpid()))
    except FileExistsError:
        open(os.path.join(MARKS, "slow.pid"), "w").write(str(os.getpid()))
        while not os.path.exists(os.path.join(MARKS, "release")):
            time.sleep(0.05)
if __name__ == "__main__":
    sys.path.insert(0, {tests!r})
    from test_orphan_runs import RUNS
    from scalinglab.lab.runner import run_sweep
    run_sweep(RUNS, {db!r}, corpus={corpus!r}, workers=2)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _wait(what, seconds: float) -> bool:
    deadline = time.time() + seconds
    while not what() and time.time() < deadline:
        time.sleep(0.05)
    return bool(what())


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_a_sweep_killed_while_a_worker_imports_leaves_no_orphan_and_resumes_whole(tmp_path: Path) -> None:
    """A sweep of 3 runs on 2 workers is SIGKILLed while one worker trains and the other is still
    importing. Both workers end (neither trains on as an orphan); the same sweep then finishes every
    run with all its scheduled evaluations."""
    marks, db = tmp_path / "marks", tmp_path / "runs.db"
    marks.mkdir()
    (tmp_path / "test_orphan_runs.py").write_text(
        "from test_runner import planned\nRUNS = [planned(16, 300, seed=1), planned(32, 300, seed=2), "
        "planned(16, 300, seed=3)]\n")
    script = tmp_path / "sweep.py"
    script.write_text(PARENT.format(marks=str(marks), tests=str(Path(__file__).parent), db=str(db), corpus=CORPUS))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parent)])}
    parent = subprocess.Popen([sys.executable, str(script)], start_new_session=True, env=env)
    try:
        def training() -> bool:
            if not (marks / "slow.pid").exists() or not db.exists():
                return False
            with RunStore(db, readonly=True) as store:
                return "running" in store.runs_frame()["status"].tolist()

        assert _wait(training, 240), "no worker started training"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        first, slow = (int((marks / f"{w}.pid").read_text()) for w in ("first", "slow"))
        assert _wait(lambda: not _alive(first), 10), "the training worker outlived its sweep"
        (marks / "release").touch()  # the slow worker finishes "importing" only now
        assert _wait(lambda: not _alive(slow), 30), "the worker that was importing outlived its sweep"
    finally:
        try:
            os.killpg(parent.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    sys.path.insert(0, str(tmp_path))
    try:
        from test_orphan_runs import RUNS
    finally:
        sys.path.remove(str(tmp_path))
    rows = run_sweep(RUNS, db, corpus=CORPUS, workers=1)
    assert [r["status"] for r in rows] == ["finished"] * 3
    with RunStore(db, readonly=True) as store:
        metrics = store.metrics_frame()
        for row, run in zip(rows, RUNS, strict=True):
            steps = metrics[metrics["run_id"] == row["id"]]["step"].tolist()
            assert len(steps) == eval_count(run.config) and steps[-1] == run.config.steps
        assert store.integrity_ok()
