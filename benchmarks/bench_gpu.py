"""GPU throughput of the lab trainer (issue 16, item 1): tokens/s and MFU of a ~124M-parameter GPT,
and the throughput of an IsoFLOP sweep of small models on one GPU.

1. GPT-2 small (the ``gpt2`` preset: 12 layers, d_model 768, 12 heads, context 1,024, vocabulary
   50,257, learned positions, tied embeddings; 124,439,808 parameters) trained by the lab's own step
   (:func:`scalinglab.lab.train.build_trainer` and :func:`~scalinglab.lab.train.train_step`: bf16
   autocast, fused AdamW, ``torch.compile`` unless ``--no-compile``, attention through
   ``F.scaled_dot_product_attention``) on uniformly random tokens (the data do not change the speed),
   batches drawn on the host and copied to the device each step as in the trainer. ``--warmup`` steps
   (compilation) are not timed; the device is synchronised once before and once after the timed steps.
2. An IsoFLOP sweep (:func:`scalinglab.lab.design.isoflop_design`: ``--sweep-runs`` shapes at one
   ``--sweep-budget``) trained by :func:`scalinglab.lab.runner.run_sweep` on a synthetic Markov corpus
   (no files needed), store and evaluations included: wall seconds, tokens/s and MFU of the sweep.

MFU (a fraction) = tokens/s x FLOPs per token / peak FLOP/s, FLOPs per token by the project's own count
(:func:`scalinglab.plan.flops.training_mfu`, PaLM's convention 6N + 12 L H Q T, Chowdhery
et al. 2022 App. B; the lab's 6N non-embedding figure is reported beside it), peak = the device's dense
bf16 FLOP/s from the hardware catalogue (:mod:`scalinglab.plan.hardware`, by the driver's device name),
or ``--peak-tflops``. Target (issue 16): MFU >= 45% on an H100/H200 in bf16.

Without CUDA it prints why and exits 0 (``make bench`` runs it everywhere). ``--smoke`` runs a tiny
model and sweep for a few steps on whatever device is there (the CPU here): a test of the code path,
not a measurement. ``--json PATH`` writes the figures as JSON (``-``: stdout).

    python benchmarks/bench_gpu.py [--steps 50] [--batch 16] [--no-compile] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scalinglab.lab.design import isoflop_design
from scalinglab.lab.runner import run_sweep
from scalinglab.lab.train import RunConfig, build_trainer, sample_batch, train_step
from scalinglab.plan.architecture import Architecture
from scalinglab.plan.flops import flops_per_token, training_mfu
from scalinglab.plan.hardware import catalogue_key, get_device
from scalinglab.plan.presets import get_architecture

#: The sweep's corpus: synthetic, generated in memory (as the lab demo's; 4M tokens).
CORPUS = "markov:order=1,vocab=256,branching=8,zipf=1.1,concentration=1,seed=0,tokens=4000000"
SMOKE_ARCH = Architecture(name="smoke", n_layer=2, d_model=64, n_heads=2, d_ff=256, vocab_size=512, seq_len=64,
                          position="learned", bias=True)
KEYS = ("device", "catalogue_device", "peak_flops_per_s", "model", "sweep", "smoke", "date")


def options(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50, help="timed steps of the 124M model (default 50)")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first (compilation; default 10)")
    p.add_argument("--batch", type=int, default=16, help="sequences of 1,024 tokens per step (default 16)")
    p.add_argument("--no-compile", action="store_true", help="eager PyTorch, no torch.compile")
    p.add_argument("--sweep-budget", type=float, default=1e14, help="FLOPs (6ND) per sweep run (default 1e14)")
    p.add_argument("--sweep-runs", type=int, default=4, help="shapes in the IsoFLOP sweep (default 4)")
    p.add_argument("--no-sweep", action="store_true", help="skip the IsoFLOP sweep")
    p.add_argument("--peak-tflops", type=float, default=None, help="peak bf16 TFLOP/s (default: the catalogue's)")
    p.add_argument("--smoke", action="store_true", help="tiny model and sweep, any device: tests the code path")
    p.add_argument("--json", default=None, help="write the figures as JSON to this path ('-': stdout)")
    return p.parse_args(argv)


def device_and_peak(args: argparse.Namespace) -> tuple[str, str, str | None, float | None]:
    """(torch device, its name, catalogue key or None, peak bf16 FLOP/s or None)."""
    if not torch.cuda.is_available():
        return "cpu", "cpu", None, None if args.peak_tflops is None else args.peak_tflops * 1e12
    name = torch.cuda.get_device_name(0)
    key = catalogue_key(name)
    if args.peak_tflops is not None:
        return "cuda", name, key, args.peak_tflops * 1e12
    return "cuda", name, key, None if key is None else get_device(key).peak("bf16")


def mfu_or_none(arch: Architecture, tokens_per_s: float, peak: float | None) -> float | None:
    return None if peak is None else training_mfu(arch, tokens_per_s, peak, "palm")


def measure_model(arch: Architecture, batch: int, steps: int, warmup: int, device: str, compile_: bool,
                  peak: float | None) -> dict[str, Any]:
    """Time ``steps`` steps of the lab's training step after ``warmup`` untimed ones: tokens/s, MFU."""
    config = RunConfig(arch, tokens=batch * arch.seq_len * (steps + warmup), batch_size=batch, device=device,
                       compile=compile_)
    dev = torch.device(device)
    trainer = build_trainer(config, dev)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, arch.vocab_size, size=max(1_000_000, 4 * batch * arch.seq_len)).astype(np.int64)
    loss = None
    for step in range(warmup + steps):
        if step == warmup:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        x, y = sample_batch(tokens, rng, config, dev)
        loss = train_step(trainer, x, y, config.peak_lr, config)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    rate = steps * batch * arch.seq_len / seconds
    return {"architecture": arch.name, "params": arch.params(), "batch": batch, "seq_len": arch.seq_len,
            "steps": steps, "warmup": warmup, "compile": compile_, "seconds": seconds, "tokens_per_s": rate,
            "flops_per_token_palm": flops_per_token(arch, "palm"),
            "flops_per_token_6n_non_embedding": config.flops_per_token,
            "mfu": mfu_or_none(arch, rate, peak), "final_train_loss": float(loss) if loss is not None else None,
            "peak_memory_bytes": torch.cuda.max_memory_allocated() if dev.type == "cuda" else None}


def measure_sweep(budget: float, runs: int, device: str, peak: float | None, smoke: bool) -> dict[str, Any]:
    """Train an IsoFLOP sweep through run_sweep (store and evaluations included): tokens/s and MFU."""
    seq_len, batch = (32, 8) if smoke else (256, 64)
    planned = isoflop_design([budget], runs, vocab_size=256, seq_len=seq_len, batch_size=batch, span=4.0,
                             min_params=3.2e3 if smoke else 1e5, eval_tokens=1024 if smoke else 16_384)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        rows = run_sweep(planned, Path(tmp) / "sweep.db", corpus=CORPUS, device=device, workers=1)
        seconds = time.perf_counter() - started
    trained = sum(r.config.trained_tokens for r in planned)
    palm = sum(flops_per_token(r.config.arch, "palm") * r.config.trained_tokens for r in planned)
    return {"budget_flops": budget, "runs": len(planned), "finished": sum(r["status"] == "finished" for r in rows),
            "params": [r.config.params for r in planned], "tokens": trained, "seconds": seconds,
            "tokens_per_s": trained / seconds, "mfu": None if peak is None else palm / seconds / peak}


def report(out: dict[str, Any]) -> None:
    m, s = out["model"], out["sweep"]
    peak = out["peak_flops_per_s"]
    print(f"device: {out['device']} (catalogue: {out['catalogue_device'] or 'not in the catalogue'}; peak bf16 "
          f"{'unknown' if peak is None else f'{peak / 1e12:,.1f} TFLOP/s'})")
    mfu = "n/a (no peak)" if m["mfu"] is None else f"{100 * m['mfu']:.1f}% (target >= 45% on H100/H200)"
    print(f"{m['architecture']} ({m['params']:,} parameters), batch {m['batch']} x {m['seq_len']}, "
          f"compile={m['compile']}: {m['tokens_per_s']:,.0f} tokens/s, MFU {mfu}")
    if s is not None:
        mfu = "n/a" if s["mfu"] is None else f"{100 * s['mfu']:.1f}%"
        print(f"IsoFLOP sweep, {s['runs']} runs of {s['budget_flops']:.1e} FLOPs ({min(s['params']):,}-"
              f"{max(s['params']):,} parameters): {s['seconds']:.1f} s, {s['tokens_per_s']:,.0f} tokens/s, MFU {mfu}")


def main(argv: list[str] | None = None) -> int:
    args = options(argv)
    device, name, key, peak = device_and_peak(args)
    if device != "cuda" and not args.smoke:
        print("bench_gpu: skipped: CUDA is not available on this machine (--smoke runs a tiny CPU check)")
        return 0
    arch = SMOKE_ARCH if args.smoke else get_architecture("gpt2")
    steps, warmup = (3, 1) if args.smoke else (args.steps, args.warmup)
    model = measure_model(arch, 4 if args.smoke else args.batch, steps, warmup, device,
                          not args.no_compile and not args.smoke, peak)
    sweep = None if args.no_sweep else measure_sweep(1e9 if args.smoke else args.sweep_budget,
                                                    2 if args.smoke else args.sweep_runs, device, peak, args.smoke)
    out = {"device": name, "catalogue_device": key, "peak_flops_per_s": peak, "model": model, "sweep": sweep,
           "smoke": args.smoke, "date": time.strftime("%Y-%m-%d", time.gmtime())}
    report(out)
    if args.json == "-":
        print(json.dumps(out, indent=1))
    elif args.json is not None:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
