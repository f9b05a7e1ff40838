"""Many small runs per device (``runs_per_gpu``): the device of each worker (a pure function tested
with fake GPU counts), pool workers pinned to their device, Ray's fractional GPUs, validation, and
the same results as one run at a time (bit for bit on the CPU)."""

from __future__ import annotations

import json
import re
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pool_probe
import pytest
from pool_probe import device_of_worker
from test_lab_cli import GRID
from test_runner import CORPUS, RUNS

from conftest import run_cli
from scalinglab.errors import ScalingLabError
from scalinglab.lab import worker_guard
from scalinglab.lab.devices import check_runs_per_gpu, pool_devices, worker_devices
from scalinglab.lab.jobs import _Job
from scalinglab.lab.ray_backend import _task, task_options
from scalinglab.lab.runner import _on_device, run_sweep
from scalinglab.stores.run_store import RunStore


def test_worker_devices_k_per_gpu_round_robin() -> None:
    assert worker_devices("cuda", 1, 4) == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    assert worker_devices("cuda", 3, 2) == ["cuda:0", "cuda:1"] * 3  # K x n workers, spread over the GPUs
    assert worker_devices("cuda:1", 4, 2) == ["cuda:1"] * 4  # one GPU named: K workers on it
    assert worker_devices("cpu", 3, 0) == ["cpu"] * 3  # the CPU is one device
    assert pool_devices(worker_devices("cuda", 2, 3), 4) == ["cuda:0", "cuda:1", "cuda:2", "cuda:0"]
    assert pool_devices(["cuda:0", "cuda:1"], 3) == ["cuda:0", "cuda:1", "cuda:0"]  # more workers than slots


@pytest.mark.parametrize(("device", "k", "count", "message"), [
    ("cuda", 1, 0, "device cuda: CUDA is not available on this machine"),
    ("cuda:2", 1, 2, "device cuda:2: this machine has 2 GPU(s), cuda:0 to cuda:1"),
    ("cuda:x", 1, 2, "expected cpu, cuda or cuda:INDEX"),
    ("cuda", 0, 2, "runs_per_gpu: must be a whole number >= 1"),
    ("cpu", 1.5, 0, "runs_per_gpu: must be a whole number >= 1"),
    ("cpu", True, 0, "runs_per_gpu: must be a whole number >= 1"),
])
def test_worker_devices_refuses(device, k, count, message) -> None:
    with pytest.raises(ScalingLabError, match=re.escape(message)):
        worker_devices(device, k, count)


def test_check_runs_per_gpu() -> None:
    assert check_runs_per_gpu(4) == 4 and check_runs_per_gpu(2.0) == 2
    for bad in (0, -1, 0.5, "2", None):
        with pytest.raises(ScalingLabError, match="--runs-per-gpu: must be a whole number"):
            check_runs_per_gpu(bad, "--runs-per-gpu")


def test_ray_task_options_fractional_gpus() -> None:
    for k in (1, 2, 3, 8):
        opts = task_options("cuda", k)
        assert opts["num_gpus"] == 1 / k and opts["num_cpus"] == 1
        assert opts["max_retries"] == 0 and opts["num_returns"] == "streaming"  # the driver retries
    assert task_options("cpu")["num_gpus"] == 0
    with pytest.raises(ScalingLabError, match="on the CPU every run takes one CPU"):
        task_options("cpu", 2)
    with pytest.raises(ScalingLabError, match="Ray picks each run's GPU; use device cuda"):
        task_options("cuda:1", 1)


def test_ray_accepts_the_fractional_options() -> None:
    ray = pytest.importorskip("ray")
    for k in (3, 7):  # 1/K is not a multiple of Ray's 0.0001 unit: Ray must still take it
        ray.remote(_task).options(**task_options("cuda", k))


def test_pool_workers_are_pinned_to_one_device_each() -> None:
    assert pool_probe.WORKER_DEVICE_ENV == worker_guard.WORKER_DEVICE_ENV
    context = get_context("spawn")
    queue = context.Queue()
    for d in ("dev-a", "dev-b"):
        queue.put(d)
    init, args = worker_guard.initializer(devices=queue)
    with ProcessPoolExecutor(2, mp_context=context, initializer=init, initargs=args) as pool:
        pairs = [f.result() for f in [pool.submit(device_of_worker) for _ in range(8)]]
    seen = dict(pairs)
    assert len(seen) == 2 and sorted(seen.values()) == ["dev-a", "dev-b"]  # one device per worker
    assert all(seen[pid] == dev for pid, dev in pairs)  # and kept for every job it takes


def test_a_job_runs_on_its_workers_device() -> None:
    job = _Job(1, RUNS[0].config, CORPUS, "bytes", "runs.db", None, "0")
    assert _on_device(job, "cuda:1").config.device == "cuda:1"
    assert _on_device(job, "cuda:1").config.seed == job.config.seed and _on_device(job, None) is job


def test_runs_per_gpu_on_the_cpu_equals_one_run_at_a_time(tmp_path: Path) -> None:
    one = run_sweep(RUNS, tmp_path / "one.db", corpus=CORPUS, workers=1)
    two = run_sweep(RUNS, tmp_path / "two.db", corpus=CORPUS, runs_per_gpu=2)  # 2 pinned pool workers
    assert two == one  # bit for bit, every key
    frames = []
    for db in ("one.db", "two.db"):
        with RunStore(tmp_path / db) as store:
            frames.append(store.metrics_frame())
            assert list(store.runs_frame()["device"]) == ["cpu", "cpu"]
    assert frames[0].equals(frames[1])  # every evaluation, bit for bit


def test_runs_per_gpu_refusals_leave_no_store(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    cases = [({"runs_per_gpu": 2, "workers": 2}, "give workers or runs_per_gpu, not both"),
             ({"runs_per_gpu": 0}, "runs_per_gpu: must be a whole number >= 1"),
             ({"runs_per_gpu": 2, "backend": "ray"}, "on the CPU every run takes one CPU"),
             ({"max_retries": 2}, "max_retries: only the ray backend"),
             ({"max_retries": -1, "backend": "ray"}, "max_retries: must be a whole number >= 0")]
    for kwargs, message in cases:
        with pytest.raises(ScalingLabError, match=message):
            run_sweep(RUNS, db, corpus=CORPUS, **kwargs)
    assert not db.exists()


def test_cli_runs_per_gpu(tmp_path: Path, monkeypatch, capsys) -> None:
    at = GRID.index("--workers")
    grid = GRID[:at] + GRID[at + 2:]
    code, local, err = run_cli([*GRID, "--store", tmp_path / "one.db", "--json"], monkeypatch, capsys)
    assert code == 0, err
    code, out, err = run_cli([*grid, "--store", tmp_path / "k.db", "--json", "--runs-per-gpu", "1"],
                             monkeypatch, capsys)  # the option reaches run_sweep (K = 2 is tested above)
    assert code == 0, err
    assert json.loads(out) == json.loads(local)
    code, out, err = run_cli([*GRID, "--store", tmp_path / "bad.db", "--runs-per-gpu", "2"], monkeypatch, capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and "not both" in err, err
    code, out, err = run_cli([*grid, "--store", tmp_path / "bad.db", "--device", "cuda:9"], monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1 and "cuda:9" in err, err
    code, out, err = run_cli([*GRID, "--store", tmp_path / "bad.db", "--max-retries", "2"], monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1 and "max_retries: only the ray backend" in err, err
    assert not (tmp_path / "bad.db").exists()
