"""Data shared by the analysis tests: a simulated runs CSV and Porian et al.'s "Cosine decay" runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import scalinglab as sl


def write_sim_csv(folder: Path) -> Path:
    """A simulated IsoFLOP sweep from hoffmann2022 (1% noise, seed 1) written to ``folder/runs.csv``."""
    path = folder / "runs.csv"
    sl.simulate_isoflop("hoffmann2022", noise=0.01, seed=1).to_csv(path, index=False)
    return path


def porian_cosine_runs(shared_data: Path) -> pd.DataFrame:
    """Porian et al. 2024, RefinedWeb 'Cosine decay' IsoFLOP points (88) as a runs table (params, tokens,
    flops = the budget, loss in nats/token); skips the test when the shared file is absent."""
    path = shared_data / "porian2024" / "isoflop_points.csv"
    if not path.exists():
        pytest.skip(f"not present: {path}")
    p = pd.read_csv(path)
    q = p[p.label == "Cosine decay"]
    return pd.DataFrame({"params": q.n_params, "tokens": q.tokens, "flops": q.flops_budget, "loss": q.loss})
