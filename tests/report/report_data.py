"""Data the report tests share: a simulated IsoFLOP sweep (known truth: Hoffmann et al. 2022's law) as a
CSV, and a lab run store holding that sweep with training curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import scalinglab as sl

BUDGETS = (1e18, 1e19, 1e20, 1e21, 1e22)  # FLOPs


def sweep(per_budget: int = 7, seed: int = 0) -> pd.DataFrame:
    """A small IsoFLOP sweep simulated from hoffmann2022 with 1% log-normal noise."""
    return sl.simulate_isoflop("hoffmann2022", budgets=BUDGETS, per_budget=per_budget, noise=0.01, seed=seed)


def sweep_csv(folder: Path, **kw) -> Path:
    path = folder / "runs.csv"
    sweep(**kw).to_csv(path, index=False)
    return path


def curve_rows(n: float, d: float, final: float, evals: int = 12) -> list[dict]:
    """Evaluations of one run: hoffmann2022's loss at log-spaced token counts up to D, scaled so the last
    one is the run's final loss."""
    law = sl.published["hoffmann2022"]
    tokens = np.geomspace(d / 50.0, d, evals)
    loss = law.predict(params=n, tokens=tokens)
    loss = loss * final / loss[-1]
    return [{"step": i + 1, "tokens": int(t), "flops": 6.0 * n * int(t), "train_loss": float(v) * 1.02,
             "val_loss": float(v), "val_bpb": float(v) / np.log(2)} for i, (t, v) in enumerate(zip(tokens, loss))]


def sweep_store(folder: Path, per_budget: int = 5) -> Path:
    """A run store with the simulated sweep: one finished run per row, with its training curve."""
    from scalinglab.stores.run_store import RunStore

    path = folder / "runs.db"
    df = sweep(per_budget=per_budget)
    with RunStore(path) as store:
        sweep_id = store.create_sweep("simulated", {"kind": "isoflop", "budgets": list(BUDGETS)})
        for i, r in enumerate(df.itertuples()):
            run = store.add_run(sweep_id, {"i": i, "budget": float(r.budget)}, seed=0)
            n, d = int(r.params), int(r.tokens)
            store.start_run(run, "cpu", "test", params=n)
            rows = curve_rows(n, d, float(r.loss))
            store.log_metrics(run, rows[:-1])
            last = rows[-1]
            store.finish_run(run, params=n, tokens=last["tokens"], flops=last["flops"],
                             final_val_loss=last["val_loss"], final_val_bpb=last["val_bpb"], wall_seconds=1.0,
                             metrics=[last])
    return path
