"""The Ray backend of :func:`scalinglab.lab.runner.run_sweep`: each run one Ray task.

``run_sweep(..., backend="ray", address=None)`` (CLI: ``scalinglab sweep --backend ray
[--address ADDR]``):

* Where: ``address=None`` starts a local Ray for the sweep (``num_cpus`` = ``workers`` or the
  machine's cores) and stops it at the end. An address (``HOST:PORT`` of a cluster's head, as
  ``ray start --head`` prints, ``ray://HOST:PORT`` for Ray Client, or ``auto``) connects to a
  running cluster; at the end this driver disconnects, the cluster keeps running. The address is
  probed with a plain TCP connection first (5 s), because ``ray.init`` waits minutes on an
  unreachable one; either way a failure is a ScalingLabError before the store is touched. When
  Ray is already initialised in this process (``ray.is_initialized()``: a notebook, a test
  fixture), that Ray is used as it is and neither started nor stopped here (an address given
  then is still probed, but not connected to). While the Ray it started or connected to is in
  use, this process's stdout goes to stderr: Ray's driver prints cluster errors ("the node ...
  has been marked dead") to stdout, which would corrupt ``scalinglab sweep --json``.
* Each run is one task (:func:`task_options`: ``num_cpus=1``; on CUDA ``num_gpus = 1/K`` with K =
  ``runs_per_gpu``, default 1, so Ray packs K runs onto each GPU) running
  :func:`~scalinglab.lab.train.train_run` with one torch thread on the CPU. ``workers`` caps the
  tasks in flight (default: all; the cluster's free CPUs and GPUs then decide). The device is
  ``cpu`` or ``cuda`` (Ray picks the GPU of each task and makes it the task's ``cuda``);
  ``cuda:i`` and K > 1 on the CPU are refused.
* Node failure: a task whose worker process or node died (Ray's system errors: ``NodeDiedError``,
  ``WorkerCrashedError``, a lost object, ...) is submitted again, up to ``max_retries`` times per
  run (default :data:`DEFAULT_MAX_RETRIES`), and runs wherever Ray has room; a warning says so
  (logger ``scalinglab.lab``). The driver retries, not Ray (the task's own ``max_retries`` is 0): a
  retried task is a new attempt of the same run in the store (:meth:`RunStore.start_run` gives it
  a new attempt token and drops the evaluations of the lost attempt, or those after its checkpoint
  when it resumes from one), and nothing the lost attempt's stream may still deliver is read, so
  the run is stored once, with one row per evaluation, exactly as if it had never been
  interrupted. A run that raises (its own error, not its node's) is not retried: it is recorded
  as failed, and the same command trains it again.
* The corpus is loaded once by the driver and handed to every task through Ray's object store
  (``ray.put``), so a corpus file only has to exist where the sweep command runs.
* The driver is the only writer of the store (tasks on a cluster cannot reach its SQLite file):
  a task is a streaming generator that yields its run's events
  (:class:`~scalinglab.lab.runner.RunEvent`: start, each evaluation, then finish or fail) as they
  happen, and the driver writes each as it arrives (one transaction each, as the local backend),
  the run's last evaluation together with its "finished" status. (A generator needs no extra
  actor process, which would cost seconds to start.) Crash safety and resume are the local
  backend's: a killed driver loses at most the runs in flight, and the same command trains what
  the store says is not finished. A task that raises, or whose worker died more than
  ``max_retries`` times, is recorded as failed (with the reason) and the sweep goes on. Since only
  the driver writes, a multi-node cluster needs no shared file system for the store: the store
  file lives where the sweep command runs.
* A cluster's nodes need scalinglab and torch installed (the same versions as the driver): a task
  that cannot import them fails, and is recorded so.
* Checkpoints (``checkpoint_dir``) are written and read by the tasks and deleted by the driver
  once a run is finished: on a local Ray they work as with the local backend; on a multi-node
  cluster the folder must be on a file system shared by the nodes and the driver (otherwise a run
  resumes only on the node that wrote its checkpoint, and finished runs' checkpoints are left).

Same seeds, same results: a task trains exactly what the local backend trains (same config, seed,
corpus, one CPU thread), so on the CPU its losses and every metrics row are bit-for-bit equal.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.lab.data import TokenData
from scalinglab.lab.devices import check_runs_per_gpu
from scalinglab.lab.jobs import RunEvent, _Job, _train_job, record
from scalinglab.lab.progress import SweepProgress
from scalinglab.stores.run_store import RunStore, StaleAttemptError

__all__ = ["DEFAULT_MAX_RETRIES", "execute", "import_ray", "lost_to_system", "ray_session", "task_options"]

PROBE_SECONDS = 5.0
WAIT_SECONDS = 0.5  # the longest the driver waits for an event before looking again (Ctrl-C)
#: Times a run whose worker or node died is submitted again (``run_sweep(max_retries=...)``).
DEFAULT_MAX_RETRIES = 3
_LOG = logging.getLogger("scalinglab.lab")


def import_ray() -> Any:
    """The ``ray`` module, or a ScalingLabError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ScalingLabError("backend ray: Ray is not installed; pip install 'scalinglab[lab]' "
                              "(or use the local backend)") from None
    return ray


def _probe(address: str) -> None:
    """Refuse an address without a listening TCP port (``auto``/``local`` are left to Ray)."""
    if address in ("auto", "local"):
        return
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ScalingLabError(f"address {address!r}: expected HOST:PORT (the Ray head), ray://HOST:PORT or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        raise ScalingLabError(f"address {address}: cannot reach a Ray cluster there ({exc.strerror or exc}); "
                              "start one with `ray start --head`, or leave --address out for a local Ray") from None


@contextmanager
def ray_session(address: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """Ray for one sweep (module docstring): connect to ``address``, or start a local Ray with
    ``workers`` CPUs (default all cores), or use the Ray already initialised; yields ``ray``."""
    ray = import_ray()
    if ray.is_initialized():
        if address is not None:
            _probe(address)  # a bad address is an error even when this process already has a Ray
        yield ray
        return
    with redirect_stdout(sys.stderr):  # Ray's driver prints cluster errors to stdout (module docstring)
        _init(ray, address, workers)
        try:
            yield ray
        finally:
            ray.shutdown()  # stops the local Ray we started; only disconnects from a cluster


def _init(ray: Any, address: str | None, workers: int | None) -> None:
    """``ray.init`` for :func:`ray_session`, quiet; a failure is a one-line ScalingLabError."""
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if address is None:  # "local": a new local Ray even when RAY_ADDRESS is set
            ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, **quiet)
        else:
            _probe(address)
            if address.startswith("ray://"):
                quiet.pop("include_dashboard")
            ray.init(address=address, **quiet)
    except ScalingLabError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - Ray's GCS client may even sys.exit
        where = "start a local Ray" if address is None else f"connect to the Ray cluster at {address}"
        raise ScalingLabError(f"backend ray: cannot {where} ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def task_options(device: str, runs_per_gpu: int = 1) -> dict[str, Any]:
    """The Ray options of one run's task (``ray.remote(...).options(**task_options(...))``): one CPU;
    ``num_gpus = 1 / runs_per_gpu`` on ``cuda`` (0 on the CPU); Ray's own retries off (the driver
    retries, :func:`execute`); a streaming generator. Refuses, in one line, ``runs_per_gpu`` > 1 on
    the CPU (each task takes a whole CPU: use ``workers``) and ``cuda:i`` (Ray picks the GPU)."""
    k = check_runs_per_gpu(runs_per_gpu)
    if device == "cpu":
        if k > 1:
            raise ScalingLabError("runs_per_gpu: with the ray backend on the CPU every run takes one CPU; "
                                  "runs_per_gpu > 1 needs device cuda (use workers to cap the runs at once)")
        gpus = 0.0
    elif device == "cuda":
        gpus = 1.0 / k
    else:
        raise ScalingLabError(f"device {device}: with the ray backend Ray picks each run's GPU; use device cuda")
    return {"num_cpus": 1, "num_gpus": gpus, "max_retries": 0, "num_returns": "streaming"}


def _task(job: _Job, data: TokenData) -> Iterator[RunEvent]:
    """One run, in a Ray worker (a streaming generator task): yields the run's events as they happen,
    the final one ("finish" or "fail") last. The run trains in a thread of the task, because the
    trainer reports evaluations through a callback."""
    events: queue.SimpleQueue[RunEvent | None] = queue.SimpleQueue()
    final: list[RunEvent] = []

    def work() -> None:
        try:
            final.append(_train_job(job, events.put, data))
        except BaseException as exc:  # noqa: BLE001 - reported as the run's failure
            final.append(RunEvent("fail", job.run_id, {"error": f"{type(exc).__name__}: {exc}", "wall_seconds": None}))
        finally:
            events.put(None)

    thread = threading.Thread(target=work, name=f"scalinglab-run-{job.run_id}", daemon=True)
    thread.start()
    while (event := events.get()) is not None:
        yield event
    thread.join()
    yield final[0]


def execute(jobs: list[_Job], store: RunStore, data: TokenData, workers: int | None,
            progress: SweepProgress, *, runs_per_gpu: int = 1, max_retries: int = DEFAULT_MAX_RETRIES) -> None:
    """Train ``jobs`` as Ray tasks (at most ``workers`` at once; ``runs_per_gpu`` per GPU) and record
    their events in ``store`` as they arrive; a run whose worker or node died is submitted again, at
    most ``max_retries`` times (module docstring)."""
    ray = import_ray()
    if not jobs:
        return
    task = ray.remote(_task).options(**task_options(jobs[0].config.device, runs_per_gpu))
    data_ref = ray.put(data)
    waiting, running = list(jobs), {}
    limit, retried = workers or len(jobs), dict.fromkeys((j.run_id for j in jobs), 0)
    try:
        while waiting or running:
            while waiting and len(running) < limit:
                job = waiting.pop(0)
                running[task.remote(job, data_ref)] = job
            ready, _ = ray.wait(list(running), num_returns=1, timeout=WAIT_SECONDS)
            for stream in ready:
                job = running[stream]
                event, lost = _next_event(ray, stream, job)
                if lost and retried[job.run_id] < max_retries:  # its node or worker died: run it elsewhere
                    retried[job.run_id] += 1
                    del running[stream]  # whatever the lost attempt's stream still holds is never read
                    waiting.insert(0, job)
                    _LOG.warning("run %d: %s; retrying (%d of %d)", job.run_id, event.data["error"],
                                 retried[job.run_id], max_retries)
                    continue
                if lost:
                    event.data["error"] += f" (after {max_retries} retries)"
                if event.kind in ("finish", "fail"):
                    del running[stream]
                try:
                    record(store, job, event, progress)
                except StaleAttemptError:  # another process restarted this run and trains it: stop this task
                    if running.pop(stream, None) is not None:
                        ray.cancel(stream, force=True)
                    progress.end_run(job.run_id, "superseded")
    except BaseException:
        for stream in running:  # interrupted: the store keeps these runs as running (interrupted)
            ray.cancel(stream, force=True)
        raise


def _next_event(ray: Any, stream: Any, job: _Job) -> tuple[RunEvent, bool]:
    """The next event of a ready task, or "fail" when the task itself failed; and whether the task
    was lost to its node or worker (:func:`lost_to_system`), not to its own error."""
    lost = False
    try:
        return RunEvent(*ray.get(next(stream))), False
    except StopIteration:
        error = "ray: the task ended without a result"
    except ray.exceptions.RayError as exc:
        lost = lost_to_system(ray, exc)
        cause = getattr(exc, "cause", None)
        text = f"{type(cause).__name__}: {cause}" if isinstance(cause, BaseException) else type(exc).__name__
        error = f"ray: {text}"
    return RunEvent("fail", job.run_id, {"error": error, "wall_seconds": None}), lost


def lost_to_system(ray: Any, exc: BaseException) -> bool:
    """Whether a task's error means its worker process or node died (a system error: retried),
    not that the task raised (``RayTaskError``) or was cancelled (not retried)."""
    errors = ray.exceptions
    return isinstance(exc, errors.RayError) and not isinstance(exc, (errors.RayTaskError,
                                                                     errors.TaskCancelledError))
