"""Retries of runs whose Ray worker or node died, driven through the Ray backend's driver loop
(:func:`scalinglab.lab.ray_backend.execute`) with a scripted stand-in for Ray's task calls: each
task replays the events a real training of its run produced, and a "lost" task raises Ray's own
``WorkerCrashedError`` / ``NodeDiedError`` part-way. The store must then hold every run exactly
once, equal to a run never interrupted. (The real thing, a node killed mid-sweep on a 3-node Ray
cluster, is the slow test in test_ray_cluster.py.)"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from test_runner import CORPUS, RUNS

from scalinglab.lab import ray_backend
from scalinglab.lab.jobs import RunEvent, _Job, _train_job, record
from scalinglab.lab.progress import SweepProgress
from scalinglab.stores.run_store import RunStore

ray = pytest.importorskip("ray")
errors = ray.exceptions


class _Stream:
    """A task's stream: its events, then (for a lost task) Ray's error where the stream breaks."""

    def __init__(self, events: list, error: BaseException | None) -> None:
        self.items = [*events, error] if error is not None else list(events)

    def __next__(self):
        if not self.items:
            raise StopIteration
        return self.items.pop(0)


class _FakeRay:
    """What :func:`ray_backend.execute` calls of Ray; ``script[run_id]``: per attempt, the number of
    events the task delivers before its node dies (None: all of them, then it ends)."""

    exceptions = errors

    def __init__(self, events: dict[int, list[RunEvent]], script: dict[int, list], error: BaseException) -> None:
        self.events, self.script, self.error = events, script, error
        self.submitted: list[tuple[int, dict]] = []
        self.options: dict = {}

    def remote(self, fn):
        assert fn is ray_backend._task
        return SimpleNamespace(options=self._options)

    def _options(self, **opts):
        self.options = opts
        return SimpleNamespace(remote=self._submit)

    def _submit(self, job: _Job, data_ref):
        attempt = sum(1 for run_id, _ in self.submitted if run_id == job.run_id)
        self.submitted.append((job.run_id, self.options))
        cut = self.script.get(job.run_id, [None])[attempt]
        events = [tuple(e) for e in self.events[job.run_id]]
        return _Stream(events if cut is None else events[:cut], None if cut is None else self.error)

    def put(self, value):
        return value

    def wait(self, streams, num_returns, timeout):
        return streams[:1], streams[1:]

    def get(self, item):
        if isinstance(item, BaseException):
            raise item
        return item

    def cancel(self, stream, force):  # pragma: no cover - not reached: no store conflict here
        raise AssertionError("no task is cancelled in these tests")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Every event of a real training of each micro run (run ids 1, 2), and the store they make."""
    db = tmp_path_factory.mktemp("clean") / "clean.db"
    events = {}
    with RunStore(db) as store:
        sweep = store.create_sweep("micro", {"runs": "retries"})
        for planned in RUNS:
            run_id = store.add_run(sweep, planned.to_dict(), planned.config.seed)
            job = _Job(run_id, planned.config, CORPUS, "bytes", str(db), None, "test")
            got: list[RunEvent] = []
            final = _train_job(job, got.append)
            events[run_id] = [*got, final]
            for event in events[run_id]:
                record(store, job, event)
    return events, db


def _sweep(tmp_path, trained, script, error, max_retries, monkeypatch):
    events, _ = trained
    db = tmp_path / "runs.db"
    with RunStore(db) as store:
        sweep = store.create_sweep("micro", {"runs": "retries"})
        jobs = [_Job(store.add_run(sweep, p.to_dict(), p.config.seed), p.config, CORPUS, "bytes", str(db), None,
                     "test") for p in RUNS]
    fake = _FakeRay(events, script, error)
    monkeypatch.setattr(ray_backend, "import_ray", lambda: fake)
    with RunStore(db) as store:
        ray_backend.execute(jobs, store, data=None, workers=1, progress=SweepProgress(2), max_retries=max_retries)
    return fake, db


def _frames(db):
    with RunStore(db) as store:
        runs = store.runs_frame().drop(columns=["started_at", "finished_at", "wall_seconds"])
        return runs, store.metrics_frame(), store.integrity_ok()


@pytest.mark.parametrize("error", [errors.WorkerCrashedError(), errors.NodeDiedError("node 1.2.3.4 died")])
def test_a_lost_run_is_retried_and_stored_once(tmp_path, trained, error, caplog, monkeypatch) -> None:
    caplog.set_level(logging.WARNING, logger="scalinglab.lab")
    # run 1: its node dies after its start and first evaluation, then again at once; the third try finishes
    fake, db = _sweep(tmp_path, trained, {1: [2, 0, None]}, error, max_retries=3, monkeypatch=monkeypatch)
    assert [run_id for run_id, _ in fake.submitted] == [1, 1, 1, 2]  # retried first, before run 2
    assert all(opts == ray_backend.task_options("cpu") for _, opts in fake.submitted)
    runs, metrics, ok = _frames(db)
    clean_runs, clean_metrics, _ = _frames(trained[1])
    assert ok and runs.equals(clean_runs) and metrics.equals(clean_metrics)  # no duplicated or stale row
    assert list(metrics["step"]) == [10, 20, 30] * 2
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and "run 1: ray: " in warnings[0] and "retrying (1 of 3)" in warnings[0]
    assert "retrying (2 of 3)" in warnings[1]


def test_retries_run_out_and_the_run_fails(tmp_path, trained, monkeypatch) -> None:
    fake, db = _sweep(tmp_path, trained, {1: [3, 2]}, errors.WorkerCrashedError(), max_retries=1,
                       monkeypatch=monkeypatch)
    assert [run_id for run_id, _ in fake.submitted] == [1, 1, 2]
    with RunStore(db) as store:
        df = store.runs_frame()
        assert list(df["status"]) == ["failed", "finished"]
        assert df["error"][0] == "ray: WorkerCrashedError (after 1 retries)"
        assert list(store.metrics_frame(1)["step"]) == [10]  # the last attempt's evaluations only: not 20 of the first
        assert store.integrity_ok()


def test_a_task_error_is_not_retried(tmp_path, trained, monkeypatch) -> None:
    task_error = errors.RayTaskError("_task", "Traceback ...", ImportError("No module named 'scalinglab'"))
    fake, db = _sweep(tmp_path, trained, {1: [0]}, task_error, max_retries=3, monkeypatch=monkeypatch)
    assert [run_id for run_id, _ in fake.submitted] == [1, 2]  # the run's own error: recorded, not retried
    with RunStore(db) as store:
        df = store.runs_frame()
        assert list(df["status"]) == ["failed", "finished"]
        assert df["error"][0] == "ray: ImportError: No module named 'scalinglab'"


def test_lost_to_system() -> None:
    assert ray_backend.lost_to_system(ray, errors.NodeDiedError("x"))
    assert ray_backend.lost_to_system(ray, errors.WorkerCrashedError())
    assert ray_backend.lost_to_system(ray, errors.ObjectLostError("ab" * 14, "owner", "call site"))
    assert not ray_backend.lost_to_system(ray, errors.RayTaskError("f", "tb", ValueError("own error")))
    assert not ray_backend.lost_to_system(ray, errors.TaskCancelledError())
    assert not ray_backend.lost_to_system(ray, ValueError("not Ray's"))
