"""Trainer throughput: scalinglab's lab against a bare PyTorch loop of the same model and batch.

The lab run goes through the sweep runner: the SQLite run store (WAL, FULL sync), logging every
evaluation, and ten evaluations on held-out data (the curve's points on 4,096 tokens each, the final
loss on 16,384). The bare loop is the same GPT, AdamW, batch size, context and step count, with
clipping and nothing else. A third arm, "lab, uniform evaluation", is the lab run with every
evaluation on all 16,384 tokens (``curve_eval_tokens=eval_tokens``: the evaluation before issue 16).
All are single-threaded on the CPU, in this one process.

The machine may be shared and noisy, so the arms are measured in ROUNDS, one run of each back to back
with the order rotating from round to round, and the figures are medians of the per-round ratios:
load that drifts over minutes hits every arm of a round alike. Both wall time and the process's CPU
time (``time.process_time``) are reported; on a loaded machine CPU time is the steadier of the two
(it leaves out the time the process waited for a core, and also the store's waits for fsync, which
wall time includes). Target (issue 16): the store, logging and evaluation cost at most 5%.

    python benchmarks/bench_trainer.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from scalinglab.lab.corpus import load_corpus
from scalinglab.lab.model import GPT
from scalinglab.lab.runner import run_sweep
from scalinglab.lab.spec import PlannedRun
from scalinglab.lab.train import RunConfig
from scalinglab.plan.architecture import Architecture

ARCH = Architecture(name="bench", n_layer=2, d_model=128, n_heads=4, d_ff=512, vocab_size=256, seq_len=128)
BATCH, STEPS = 16, 300


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(t: tuple[float, float]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) since ``t``."""
    wall, cpu = clocks()
    return wall - t[0], cpu - t[1]


def bare_loop(data) -> tuple[float, float]:
    """The same model and batch trained with nothing but the optimiser step: (wall, CPU) seconds."""
    torch.manual_seed(0)
    model = GPT(ARCH).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    rng = np.random.default_rng(0)
    train = np.ascontiguousarray(data.train)
    t = clocks()
    for _ in range(STEPS):
        starts = rng.integers(0, train.size - ARCH.seq_len - 1, size=BATCH)
        w = torch.from_numpy(train[starts[:, None] + np.arange(ARCH.seq_len + 1)].astype(np.int64))
        logits = model(w[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), w[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return since(t)


def lab_run(folder: Path, i: int, uniform: bool = False) -> tuple[float, float]:
    """One run through run_sweep (store, logging, 10 evaluations): (wall, CPU) seconds. ``uniform``:
    every evaluation on all 16,384 held-out tokens, as before issue 16."""
    config = RunConfig(ARCH, tokens=STEPS * BATCH * ARCH.seq_len, batch_size=BATCH, seed=0,
                       curve_eval_tokens=16_384 if uniform else None)
    t = clocks()
    run_sweep([PlannedRun(config, None, "bench")], folder / f"runs{i}-{uniform}.db", corpus="shakespeare", workers=1)
    return since(t)


ARMS = ("bare", "lab", "lab, uniform evaluation")


def measure(rounds: int) -> list[dict[str, tuple[float, float]]]:
    """Per round, each arm's (wall, CPU) seconds, the arms in an order rotating from round to round."""
    data = load_corpus("shakespeare")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        lab_run(Path(tmp), 99)  # warm-up: corpus cache, imports
        arms = {"bare": lambda i: bare_loop(data), "lab": lambda i: lab_run(Path(tmp), i),
                "lab, uniform evaluation": lambda i: lab_run(Path(tmp), i, uniform=True)}
        for i in range(rounds):
            order = ARMS[i % 3:] + ARMS[:i % 3]
            row = {name: arms[name](i) for name in order}
            rows.append(row)
            print(f"round {i + 1}: " + ", ".join(f"{n} {row[n][0]:.2f} s (CPU {row[n][1]:.2f} s)" for n in ARMS),
                  flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the three arms (default 5)")
    rounds = parser.parse_args(argv).rounds
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    rows = measure(rounds)
    tokens = STEPS * BATCH * ARCH.seq_len
    print(f"model: {ARCH.params():,} parameters ({ARCH.n_layer} layers, d_model {ARCH.d_model}), "
          f"batch {BATCH} x {ARCH.seq_len} tokens, {STEPS} steps, CPU, 1 thread, {rounds} rounds")
    print(f"load average (1 min) at the start: {load:.2f}, at the end: {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores")
    for name in ARMS:
        wall = statistics.median(r[name][0] for r in rows)
        print(f"{name:<24}: median {wall:7.2f} s wall ({tokens / wall:,.0f} tokens/s), "
              f"CPU {statistics.median(r[name][1] for r in rows):7.2f} s")
    for name in ARMS[1:]:
        for k, what in ((0, "wall"), (1, "CPU ")):
            ratios = [r[name][k] / r["bare"][k] for r in rows]
            print(f"overhead of {name:<24} ({what}): {100 * (statistics.median(ratios) - 1):+6.1f} % median "
                  f"(rounds {min(ratios) - 1:+.1%} .. {max(ratios) - 1:+.1%}; target <= 5 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
