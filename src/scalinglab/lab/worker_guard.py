"""The parent-death watchdog of sweep pool workers, armed before the worker imports anything heavy.

A pool worker (:func:`scalinglab.lab.runner.run_sweep`, ``workers > 1``) must not outlive the sweep
process that started it: an orphan would go on training and writing evaluations into the store
while the same command, run again, resumes the sweep. A daemon thread therefore ends the worker
(``os._exit``) as soon as its parent is gone, even after a SIGKILL, which leaves the worker
re-parented (to init or a subreaper).

Two details make this hold from the worker's first instant, not only once it has imported torch:

- The parent's pid is passed in by the parent (:func:`initializer`), not read with ``os.getppid()``
  inside the worker: a parent killed while the worker was still starting would otherwise already
  have been replaced by init, and the watchdog would watch the wrong process forever.
- The pool's initializer runs this file by its path (``runpy.run_path``), so it needs nothing but the
  standard library: no ``import scalinglab`` (pandas, scipy: seconds) and no torch (up to 20 s on a
  loaded machine) happen before the watchdog is armed. A worker takes no run before its initializer
  has returned, so a worker whose parent died while it was starting exits without touching the store.

The initializer also pins a worker to its device when the pool is given a queue of devices
(``--runs-per-gpu``, :mod:`scalinglab.lab.devices`): each worker takes one device from the queue at
start and keeps it in the environment variable :data:`WORKER_DEVICE_ENV`, which the worker reads
for every run it trains (:func:`scalinglab.lab.runner._pool_job`).

Only the standard library may be imported here (a test checks it).
"""

from __future__ import annotations

import os
import runpy
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["RUN_NAME", "WORKER_DEVICE_ENV", "arm", "initializer"]

#: The ``__name__`` this file runs under as a pool initializer (:func:`initializer`).
RUN_NAME = "scalinglab-worker-guard"
POLL_SECONDS = 0.2
#: The environment variable naming the device a pool worker is pinned to ("cpu", "cuda:1", ...).
WORKER_DEVICE_ENV = "SCALINGLAB_WORKER_DEVICE"
DEVICE_WAIT_SECONDS = 60.0


def arm(parent: int, every_seconds: float = POLL_SECONDS) -> None:
    """End this process at once if ``parent`` is no longer its parent, and start a daemon thread that
    ends it as soon as that happens later (polled every ``every_seconds``)."""
    if os.getppid() != parent:  # the parent died while this worker was starting
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(every_seconds)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def initializer(parent: int | None = None, devices: Any = None) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    """``(initializer, initargs)`` for a ``ProcessPoolExecutor`` whose workers must end with
    ``parent`` (default: this process): run this file in the worker, which arms the watchdog and
    makes torch single-threaded (``OMP_NUM_THREADS=1``, set before torch is first imported).
    ``devices``: None, or a queue (of the pool's multiprocessing context) holding one device per
    worker; each worker takes one and is pinned to it (:data:`WORKER_DEVICE_ENV`)."""
    init_globals: dict[str, Any] = {"PARENT": os.getpid() if parent is None else parent}
    if devices is not None:
        init_globals["DEVICES"] = devices
    return runpy.run_path, (__file__, init_globals, RUN_NAME)


if __name__ == RUN_NAME:  # run by a pool worker through runpy.run_path (see initializer)
    os.environ["OMP_NUM_THREADS"] = "1"
    arm(globals()["PARENT"])
    if globals().get("DEVICES") is not None:  # one device per worker, taken once, kept for its life
        os.environ[WORKER_DEVICE_ENV] = globals()["DEVICES"].get(timeout=DEVICE_WAIT_SECONDS)
