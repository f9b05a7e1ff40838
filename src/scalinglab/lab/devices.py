"""Which device each sweep worker trains on: ``runs_per_gpu`` (CLI ``--runs-per-gpu K``).

Tiny models leave a GPU mostly idle, so a sweep may train K runs at once on every GPU:

* Local backend (:func:`scalinglab.lab.runner.run_sweep`): K worker processes per device, each
  pinned to one device for its whole life (:func:`worker_devices`). ``device="cuda"`` means every
  GPU torch sees, ``cuda:0`` .. ``cuda:{n-1}`` (n = ``torch.cuda.device_count()``), so K x n
  workers; ``device="cuda:i"`` means GPU i only, K workers. The list is ordered round-robin over
  the GPUs (``cuda:0, cuda:1, ..., cuda:0, cuda:1, ...``), so a pool smaller than K x n (fewer runs
  than slots, or an explicit ``workers``) still spreads its workers over all GPUs.
* On the CPU, the CPU is the one device: K means K worker processes (the same as ``workers=K``).
* Ray backend (:mod:`scalinglab.lab.ray_backend`): fractional GPUs, each run's task asks for
  ``num_gpus = 1/K`` (:func:`scalinglab.lab.ray_backend.task_options`), so Ray packs K runs onto
  each GPU of the cluster. On the CPU every Ray task takes one CPU, so K > 1 is refused there.

Same seeds, same results: a run's numbers depend on its config and seed only, not on how many runs
share its device. On the CPU they are bit-for-bit those of one run at a time (tested). On a GPU,
runs sharing a device each run their own CUDA context and kernels; bf16 autocast kernels may pick
different reduction orders under contention, so losses agree to bf16 tolerance: relative
difference at most 1e-2 per evaluation (bf16 keeps 8 significant bits, about 2-3 decimal digits).

Pure functions (no torch import at module level); :func:`cuda_device_count` imports torch when
called.
"""

from __future__ import annotations

import numbers
from typing import Any

from scalinglab.errors import ScalingLabError

__all__ = ["BF16_RTOL", "check_runs_per_gpu", "cuda_device_count", "pool_devices", "worker_devices"]
#: Relative tolerance to which runs sharing a GPU (K > 1) match one run per GPU (bf16 autocast).
BF16_RTOL = 1e-2


def check_runs_per_gpu(runs_per_gpu: Any, what: str = "runs_per_gpu") -> int:
    """``runs_per_gpu`` as an int, or a one-line ScalingLabError unless it is a whole number >= 1
    (``what``: the name in the message, e.g. ``--runs-per-gpu``)."""
    whole = isinstance(runs_per_gpu, numbers.Integral) or (
        isinstance(runs_per_gpu, float) and runs_per_gpu.is_integer())
    if isinstance(runs_per_gpu, bool) or not whole or runs_per_gpu < 1:
        raise ScalingLabError(f"{what}: must be a whole number >= 1 (runs trained at once on each device), "
                              f"got {runs_per_gpu!r}")
    return int(runs_per_gpu)


def worker_devices(device: str, runs_per_gpu: int, device_count: int) -> list[str]:
    """The device of each worker process: K (``runs_per_gpu``) per device (module docstring).

    ``device``: "cpu", "cuda" (every GPU) or "cuda:i"; ``device_count``: the GPUs torch sees
    (:func:`cuda_device_count`; a parameter, so this is testable without a GPU). Returns
    ``["cpu"] * K`` on the CPU, else ``["cuda:0", ..., "cuda:{n-1}"] * K`` (round-robin) or
    ``["cuda:i"] * K``. A CUDA device that is not there is a one-line ScalingLabError."""
    k = check_runs_per_gpu(runs_per_gpu)
    if device == "cpu":
        return ["cpu"] * k
    if device != "cuda" and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise ScalingLabError(f"device: expected cpu, cuda or cuda:INDEX, got {device!r}")
    if device_count < 1:
        raise ScalingLabError(f"device {device}: CUDA is not available on this machine (torch sees no GPU)")
    if device == "cuda":
        return [f"cuda:{i}" for _ in range(k) for i in range(device_count)]
    index = int(device[5:])
    if index >= device_count:
        raise ScalingLabError(f"device {device}: this machine has {device_count} GPU(s), cuda:0 to "
                              f"cuda:{device_count - 1}")
    return [device] * k


def pool_devices(slots: list[str], workers: int) -> list[str]:
    """The devices of a pool of ``workers`` processes: the first ``workers`` of ``slots``
    (:func:`worker_devices`), cycling when there are more workers than slots."""
    return [slots[i % len(slots)] for i in range(workers)]


def cuda_device_count() -> int:
    """The GPUs torch sees here (0 without CUDA); imports torch."""
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
