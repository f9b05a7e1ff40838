"""A pool-worker probe that imports only the standard library, so a spawned worker unpickles it in
milliseconds (importing a test module would import scalinglab, pandas and more in every worker)."""

from __future__ import annotations

import os
import time

WORKER_DEVICE_ENV = "SCALINGLAB_WORKER_DEVICE"  # scalinglab.lab.worker_guard's (a test checks they agree)


def device_of_worker() -> tuple[int, str | None]:
    """(this worker's pid, the device it is pinned to); busy 0.2 s so the pool starts its other workers."""
    time.sleep(0.2)
    return os.getpid(), os.environ.get(WORKER_DEVICE_ENV)
