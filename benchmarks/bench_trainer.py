"""Trainer throughput: scalinglab's lab against a bare PyTorch loop of the same model and batch.

The lab run goes through the sweep runner: the SQLite run store (WAL, FULL sync), logging every
evaluation, and ten evaluations on held-out data. The bare loop is the same GPT, AdamW, batch size,
context and step count, with clipping and nothing else. Both are single-threaded on the CPU, in this
one process. The machine may be shared and noisy, so the two are measured in PAIRS, run back to back
with the order alternating (bare first, then lab first, ...), and the figure is the median of the
per-pair ratios: load that drifts over minutes hits both halves of a pair alike. Target (issue 16):
the store, logging and evaluation cost at most 5%.

    python benchmarks/bench_trainer.py [--pairs 5]
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


def bare_loop(data) -> float:
    """The same model and batch trained with nothing but the optimiser step: seconds."""
    torch.manual_seed(0)
    model = GPT(ARCH).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    rng = np.random.default_rng(0)
    train = np.ascontiguousarray(data.train)
    t = time.perf_counter()
    for _ in range(STEPS):
        starts = rng.integers(0, train.size - ARCH.seq_len - 1, size=BATCH)
        w = torch.from_numpy(train[starts[:, None] + np.arange(ARCH.seq_len + 1)].astype(np.int64))
        logits = model(w[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), w[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return time.perf_counter() - t


def lab_run(folder: Path, i: int) -> float:
    """One run through run_sweep (store, logging, 10 evaluations: the curve's 9 of 4,096 held-out
    tokens, then the last of 4,096 and the final loss on 16,384): seconds."""
    config = RunConfig(ARCH, tokens=STEPS * BATCH * ARCH.seq_len, batch_size=BATCH, seed=0)
    t = time.perf_counter()
    run_sweep([PlannedRun(config, None, "bench")], folder / f"runs{i}.db", corpus="shakespeare", workers=1)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, help="interleaved (bare, lab) pairs (default 5)")
    pairs = parser.parse_args(argv).pairs
    torch.set_num_threads(1)
    data = load_corpus("shakespeare")
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        lab_run(Path(tmp), 99)  # warm-up: corpus cache, imports
        for i in range(pairs):  # interleaved, order alternating, so drift in machine load hits both
            if i % 2 == 0:
                bare = bare_loop(data)
                lab = lab_run(Path(tmp), i)
            else:
                lab = lab_run(Path(tmp), i)
                bare = bare_loop(data)
            rows.append((bare, lab))
            print(f"pair {i + 1}: bare {bare:6.2f} s, lab {lab:6.2f} s, ratio {lab / bare:.3f}", flush=True)
    ratios = [lab / bare for bare, lab in rows]
    b, s = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
    tokens = STEPS * BATCH * ARCH.seq_len
    print(f"model: {ARCH.params():,} parameters ({ARCH.n_layer} layers, d_model {ARCH.d_model}), "
          f"batch {BATCH} x {ARCH.seq_len} tokens, {STEPS} steps, CPU, 1 thread")
    print(f"load average (1 min) at the start: {load:.2f}, at the end: {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores")
    print(f"bare PyTorch loop (median)          : {b:7.2f} s  ({tokens / b:,.0f} tokens/s)")
    print(f"scalinglab run (store+eval, median) : {s:7.2f} s  ({tokens / s:,.0f} tokens/s)")
    print(f"overhead, median of {pairs} pair ratios : {100 * (statistics.median(ratios) - 1):+6.1f} %  "
          f"(pairs: {min(ratios) - 1:+.1%} .. {max(ratios) - 1:+.1%}; target <= 5 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
