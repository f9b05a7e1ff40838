"""A stand-in sweep for the crash-safety test of the run store: killed with SIGKILL by the test.

Usage: python store_writer.py STORE N_RUNS N_EVALS PAUSE_SECONDS

Adds N_RUNS runs to sweep "crash" (idempotently), then trains the unfinished ones: each logs
N_EVALS - 1 evaluations in separate transactions (PAUSE_SECONDS apart, standing in for training) and the last one with finish_run. Values are a
pure function of (run index, step) — see :func:`expected_row` — so the test can check every stored
number. After each commit of finish_run it prints "finished RUN_ID" (so any id printed was committed).
"""

from __future__ import annotations

import sys
import time

from scalinglab.stores.run_store import RunStore

PARAMS = 1000


def expected_row(i: int, step: int) -> dict[str, float | int]:
    """The metrics row run ``i`` logs at ``step`` (1-based)."""
    tokens = 64 * step
    return {"step": step, "tokens": tokens, "flops": 6.0 * (PARAMS + i) * tokens,
            "train_loss": 3.0 + 1.0 / step + 0.01 * i, "val_loss": 2.0 + 1.0 / step + 0.01 * i,
            "val_bpb": (2.0 + 1.0 / step + 0.01 * i) / 0.6931471805599453}


def main(path: str, n_runs: int, n_evals: int, pause: float) -> None:
    with RunStore(path) as store:
        sweep = store.find_sweep("crash") or store.create_sweep("crash", {"kind": "test", "runs": n_runs})
        for i in range(n_runs):
            store.add_run(sweep, {"i": i, "budget": 1e6 * (i + 1)}, seed=0)
        print("ready", flush=True)
        for run in store.pending_runs(sweep):
            i = run.config["i"]
            store.start_run(run.id, "cpu", "test", params=PARAMS + i)
            for step in range(1, n_evals):
                store.log_metrics(run.id, [expected_row(i, step)])
                time.sleep(pause)
            last = expected_row(i, n_evals)
            store.finish_run(run.id, params=PARAMS + i, tokens=last["tokens"], flops=last["flops"],
                             final_val_loss=last["val_loss"], final_val_bpb=last["val_bpb"],
                             wall_seconds=0.5, metrics=[last])
            print(f"finished {run.id}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
