"""Sweep throughput with K runs per GPU against one run per GPU (issue 16, item 2).

Tiny models leave a GPU mostly idle; ``run_sweep(..., runs_per_gpu=K)`` (``--runs-per-gpu K``)
trains K at once on every GPU, each in its own pinned worker process. This benchmark trains the
same sweep of small runs twice on ``cuda`` (every GPU torch sees), once with K = 1 and once with
K (default 4), interleaved ``--repeat`` times, and prints the wall times and their ratio
(throughput of K per GPU over one per GPU, measured in this one process, so the ratio holds on a
shared machine), plus the largest relative difference between the two sweeps' final losses
(bf16 tolerance: :data:`scalinglab.lab.devices.BF16_RTOL`).

Without CUDA it prints that it skipped and exits 0. ``--cpu`` measures the CPU analogue instead
(K worker processes on the CPU against one; the losses must then be equal bit for bit): it says
how the pool scales on this machine's cores, nothing about GPUs.

Run: ``.venv/bin/python benchmarks/bench_runs_per_gpu.py [--k 4] [--runs 16] [--steps 400] [--cpu]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from scalinglab.lab.config import RunConfig
from scalinglab.lab.devices import BF16_RTOL, cuda_device_count
from scalinglab.lab.runner import run_sweep
from scalinglab.lab.spec import PlannedRun
from scalinglab.plan.architecture import Architecture

CORPUS = "markov:order=2,vocab=64,branching=4,tokens=400000"


def planned_runs(n: int, steps: int) -> list[PlannedRun]:
    """``n`` small runs (2 layers, d_model 32 to 96, context 64, batch 32), ``steps`` steps each."""
    runs = []
    for i in range(n):
        d = 32 * (1 + i % 3)
        arch = Architecture(name=f"d{d}", n_layer=2, d_model=d, n_heads=4, d_ff=4 * d, vocab_size=64, seq_len=64)
        config = RunConfig(arch=arch, tokens=steps * 32 * 64, batch_size=32, lr=3e-3, seed=i,
                           eval_every_tokens=steps * 32 * 64 // 4, eval_tokens=4096)
        runs.append(PlannedRun(config, budget=None, label=f"bench-{i}"))
    return runs


def timed_sweep(runs: list[PlannedRun], folder: Path, name: str, device: str, k: int) -> tuple[float, list[float]]:
    """Seconds to train ``runs`` with ``k`` runs per device into a fresh store; the final losses."""
    t = time.perf_counter()
    rows = run_sweep(runs, folder / f"{name}.db", corpus=CORPUS, device=device, runs_per_gpu=k)
    seconds = time.perf_counter() - t
    assert all(r["status"] == "finished" for r in rows), rows
    return seconds, [r["final_val_loss"] for r in rows]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=4, help="runs per device to compare with 1")
    ap.add_argument("--runs", type=int, default=16, help="runs in the sweep")
    ap.add_argument("--steps", type=int, default=400, help="optimiser steps per run")
    ap.add_argument("--repeat", type=int, default=1, help="interleaved repetitions (median kept)")
    ap.add_argument("--cpu", action="store_true", help="the CPU analogue: K worker processes on the CPU")
    args = ap.parse_args(argv)
    gpus = 0 if args.cpu else cuda_device_count()
    if not args.cpu and gpus == 0:
        print("bench_runs_per_gpu: skipped, CUDA is not available (torch sees no GPU); the GPU figure is not "
              "measured on this machine (--cpu measures the CPU analogue)")
        return 0
    device = "cpu" if args.cpu else "cuda"
    runs = planned_runs(args.runs, args.steps)
    one, many, diff = [], [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        timed_sweep(runs[:1], Path(tmp), "warmup", device, 1)  # imports, corpus, CUDA context
        for i in range(args.repeat):
            s1, loss1 = timed_sweep(runs, Path(tmp), f"one{i}", device, 1)
            sk, lossk = timed_sweep(runs, Path(tmp), f"k{i}", device, args.k)
            one.append(s1)
            many.append(sk)
            diff = max([diff, *(abs(a - b) / abs(a) for a, b in zip(loss1, lossk, strict=True))])
    s1, sk = statistics.median(one), statistics.median(many)
    where = "CPU (the CPU analogue, not a GPU figure)" if args.cpu else f"{gpus} GPU(s), bf16"
    print(f"sweep: {args.runs} runs x {args.steps} steps (2 layers, d_model 32-96, batch 32 x 64 tokens) on {where}")
    print(f"{'1 run per device':<22}: {s1:8.2f} s  ({args.runs / s1:.3f} runs/s)")
    print(f"{f'{args.k} runs per device':<22}: {sk:8.2f} s  ({args.runs / sk:.3f} runs/s)")
    print(f"{'throughput ratio':<22}: {s1 / sk:8.2f} x  ({args.k} per device over 1)")
    tolerance = 0.0 if args.cpu else BF16_RTOL
    print(f"final losses, largest relative difference: {diff:.2e} (allowed {tolerance:g})")
    return 0 if diff <= tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
