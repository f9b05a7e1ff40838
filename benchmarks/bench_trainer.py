"""Trainer throughput: scalinglab's lab against a bare PyTorch loop of the same model and batch.

The lab run goes through the sweep runner: the SQLite run store (WAL, FULL sync), logging every
evaluation, and ten evaluations on held-out data. The bare loop is the same GPT, AdamW, batch size,
context and step count, with clipping and nothing else. Both are single-threaded on the CPU, in this
one process, so the ratio holds on a shared, noisy machine. Target from the issue: the store, logging
and evaluation cost at most 10%.
"""

from __future__ import annotations

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
    """One run through run_sweep (store, logging, 10 evaluations of 16,384 held-out tokens): seconds."""
    config = RunConfig(ARCH, tokens=STEPS * BATCH * ARCH.seq_len, batch_size=BATCH, seed=0)
    t = time.perf_counter()
    run_sweep([PlannedRun(config, None, "bench")], folder / f"runs{i}.db", corpus="shakespeare", workers=1)
    return time.perf_counter() - t


def main() -> int:
    torch.set_num_threads(1)
    data = load_corpus("shakespeare")
    with tempfile.TemporaryDirectory() as tmp:
        lab_run(Path(tmp), 99)  # warm-up: corpus cache, imports
        bare, lab = [], []
        for i in range(3):  # interleaved, so drift in machine load hits both
            bare.append(bare_loop(data))
            lab.append(lab_run(Path(tmp), i))
    b, s = statistics.median(bare), statistics.median(lab)
    print(f"model: {ARCH.params():,} parameters ({ARCH.n_layer} layers, d_model {ARCH.d_model}), "
          f"batch {BATCH} x {ARCH.seq_len} tokens, {STEPS} steps, CPU, 1 thread")
    print(f"bare PyTorch loop          : {b:7.2f} s  ({STEPS * BATCH * ARCH.seq_len / b:,.0f} tokens/s)")
    print(f"scalinglab run (store+eval): {s:7.2f} s  ({STEPS * BATCH * ARCH.seq_len / s:,.0f} tokens/s)")
    print(f"overhead                   : {100 * (s / b - 1):+6.1f} %  (target <= 10 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
