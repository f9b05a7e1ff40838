"""Fit time and memory against rows, and the bootstrap's time (``python benchmarks/bench_scale.py``).

Rows: a chinchilla fit (Huber delta 1e-3, the 4,500-start grid, defaults of ``sl.fit``) of a simulated
table of 1e3, 1e4, 1e5 and 1e6 rows, each size in a fresh subprocess so that its peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, the whole process: interpreter, numpy, pandas, the
table and the fit) is its own. The table: N log-uniform on [1e7, 1e11] parameters, D log-uniform on
[1e9, 1e13] tokens, loss from Hoffmann et al. 2022's law (E 1.69, A 406.4, B 410.7, alpha 0.34,
beta 0.28) times exp(0.02 z), z ~ N(0, 1), seed 0. The table is built before the clock starts; the
time is ``sl.fit(table)``, reading and checking the table included (wall clock, and the process's CPU
time, which a busy shared machine inflates less).

Bootstrap: 1,000 resamples of the 240-point Epoch AI set (Besiroglu et al. 2024, 5 highest losses
dropped; the simulated stand-in of bench_fit.py when ../shared/data is absent), law chinchilla,
Huber delta 1e-3, seed 0, in this process, median of 3 after a warm-up; the 95% intervals are printed.

Targets (issue 11, item 9): time and memory at most linear in rows; 1e6 rows in <= 30 s and
<= 1 GiB peak RSS on a 2-core machine; the bootstrap in <= 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIZES = (1_000, 10_000, 100_000, 1_000_000)
TRUTH = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def make_table(n: int, seed: int = 0):
    """The simulated table described in the module docstring (a DataFrame of n rows)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e11), n))
    D = np.exp(rng.uniform(np.log(1e9), np.log(1e13), n))
    loss = TRUTH["E"] + TRUTH["A"] * N ** -TRUTH["alpha"] + TRUTH["B"] * D ** -TRUTH["beta"]
    loss *= np.exp(0.02 * rng.standard_normal(n))
    return pd.DataFrame({"params": N, "tokens": D, "loss": loss})


def child(n: int) -> None:
    """One size, in its own process: print a JSON line with time, peak RSS and the fit."""
    import scalinglab as sl

    table = make_table(n)
    rss_table = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t, cpu = time.perf_counter(), time.process_time()
    res = sl.fit(table, "chinchilla")
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"rows": n, "seconds": wall, "cpu_seconds": cpu, "peak_rss_mib": peak / 1024,
                      "rss_before_fit_mib": rss_table / 1024, "objective": res.objective,
                      "converged": bool(res.converged), "params": res.params}))


def rows_scaling(sizes) -> list[dict]:
    out = []
    for n in sizes:
        proc = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True,
                              env={**os.environ})
        if proc.returncode != 0:
            print(f"{n:>9,} rows: FAILED (exit {proc.returncode})\n{proc.stderr[-2000:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        out.append(r)
        p = r["params"]
        print(f"{n:>9,} rows: {r['seconds']:7.2f} s (CPU {r['cpu_seconds']:6.2f} s)   peak RSS {r['peak_rss_mib']:7.0f} MiB "
              f"(table built: {r['rss_before_fit_mib']:5.0f} MiB)   objective/row {r['objective'] / n:.6e}   "
              f"E {p['E']:.4f} alpha {p['alpha']:.4f} beta {p['beta']:.4f}   "
              f"{'converged' if r['converged'] else 'NOT converged'}", flush=True)
    return out


def bootstrap_timing() -> None:
    import scalinglab as sl

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_fit import load_data

    runs, label = load_data()
    sl.fit(runs, "chinchilla", bootstrap=1000, seed=0)  # warm-up
    times, cpus, res = [], [], None
    for _ in range(3):
        t, cpu = time.perf_counter(), time.process_time()
        res = sl.fit(runs, "chinchilla", bootstrap=1000, seed=0)
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - cpu)
    print(f"bootstrap, 1,000 resamples, {label}: {statistics.median(times):.2f} s "
          f"(median of 3: {', '.join(f'{t:.2f}' for t in times)}; CPU {statistics.median(cpus):.2f} s; "
          "target <= 1.5 s); "
          f"{res.bootstrap_converged} converged")
    for k in ("E", "A", "B", "alpha", "beta", "a", "b"):
        lo, hi = res.ci[k]
        v = {**res.params, **res.derived}[k]
        print(f"  {k:<6} {v:12.6g}   95% CI [{lo:.6g}, {hi:.6g}]")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--no-bootstrap", action="store_true")
    ap.add_argument("--no-rows", action="store_true")
    a = ap.parse_args()
    if a.child:
        child(a.child)
        return 0
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 or more on 2 cores: times are inflated)")
    if not a.no_rows:
        rows_scaling(a.sizes)
    if not a.no_bootstrap:
        bootstrap_timing()
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
