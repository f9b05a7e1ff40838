"""A lab run store as a table of runs: what :func:`scalinglab.io.load_runs` reads from a ``.db`` file.

:func:`read_store` gives the finished runs (one row per trained model) or every evaluation (one
row per checkpoint); :func:`store_params` makes ``params`` the N of the store's C = 6ND FLOPs.
Units: params [count], tokens [count], flops [FLOPs], loss [nats/token].
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from scalinglab.counting import flops_from
from scalinglab.stores.file import is_store_file
from scalinglab.stores.reader import open_reader

__all__ = ["is_store_file", "read_store", "store_params"]


def read_store(path: str | os.PathLike[str], what: str = "runs") -> pd.DataFrame:
    """A store as a table for :func:`scalinglab.io.load_runs`, opened read-only.

    ``what="runs"``: finished runs (one row per trained model: params, tokens, flops, loss =
    final_val_loss). ``what="metrics"``: every evaluation of finished runs with a validation loss
    and tokens > 0 (one row per checkpoint, for approach 1's curves); an evaluation logged without
    flops gets C = 6ND from its run's params (Kaplan et al. 2020). What was left out or derived is
    described in ``df.attrs["notes"]``. A run marked finished whose curve is incomplete (left by an
    older scalinglab; the next write to the store repairs it) is left out as not finished.
    """
    with open_reader(path) as store:
        df = store._frame(what)
        incomplete = store.incomplete_runs()
        budgets = what == "runs" and "budget" not in df.columns and df["config"].str.contains('"budget":').any()
    keep = df["status"] == "finished"
    notes = [f"{int((~keep).sum())} rows of unfinished runs left out"] if (~keep).any() else []
    if incomplete:
        short = df["run"].isin([str(i) for i in incomplete]) & keep
        keep &= ~short
        notes.append(f"{int(short.sum())} rows of runs marked finished with an incomplete curve left out (run "
                     + ", ".join(f"{i}: {have} of {want} evaluations" for i, (have, want) in incomplete.items())
                     + "); the same sweep command trains them again")
    if budgets:
        notes.append("no budget column: some finished runs have no FLOP budget in their config (e.g. imported "
                     "runs beside a sweep's)")
    if what == "metrics":
        usable = df["loss"].notna() & (df["tokens"] > 0)
        if (keep & ~usable).any():
            notes.append(f"{int((keep & ~usable).sum())} evaluations without a validation loss "
                         "or at 0 tokens left out")
        keep &= usable
        fill = keep & df["flops"].isna() & df["params"].notna()
        if fill.any():
            df.loc[fill, "flops"] = flops_from(df.loc[fill, "params"], df.loc[fill, "tokens"])
            notes.append(f"flops of {int(fill.sum())} evaluations derived as 6 * params * tokens (C = 6ND)")
    out = df[keep].reset_index(drop=True)
    out.attrs["notes"] = notes
    return out


def store_params(df: pd.DataFrame, runs: pd.DataFrame, notes: list[str], convert: bool = True) -> None:
    """Make ``params`` the N of the store's FLOPs (C = 6ND), in place: the lab counts FLOPs with
    NON-EMBEDDING parameters by default (Kaplan et al. 2020), while the store's ``params`` column counts
    embeddings too. Every row (a run, or an evaluation of run ``run`` of ``runs``) whose run has a
    non-embedding count and whose flops equal 6 x that count x tokens (or are not known yet) gets the
    non-embedding count as ``params``, unless ``convert`` is false (a column mapping chose ``params``);
    the store's count is always kept as column ``params_with_embeddings``."""
    if "params" not in df.columns:
        return
    df["params_with_embeddings"] = df["params"]
    if not convert or df.empty or "params_non_embedding" not in runs.columns:
        return
    by_run = dict(zip(runs["run"].astype(str), runs["params_non_embedding"], strict=True))
    n = pd.to_numeric(df["run"].astype(str).map(by_run), errors="coerce").to_numpy(float)
    flops = pd.to_numeric(df["flops"], errors="coerce").to_numpy(float)
    tokens = pd.to_numeric(df["tokens"], errors="coerce").to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = flops / flops_from(n, tokens)
    use = np.isfinite(n) & (np.isnan(flops) | (np.abs(ratio - 1.0) <= 1e-6))
    if not use.any():
        return
    df.loc[use, "params"] = n[use]
    some = "" if use.all() else f" ({int(use.sum())} of {len(df)} rows; the others keep their count)"
    notes.append(f"params = non-embedding parameters, the N of the store's FLOPs (C = 6ND){some}; the count "
                 "with embeddings is column params_with_embeddings")
