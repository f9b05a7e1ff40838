"""Gadre et al. 2024's headline extrapolations, refitted with the ``overtrain`` and ``downstream_error``
families (references.md D4).

The paper's default fitting set (its Table 2, and ``fit_ds`` in the authors' code, mlfoundations/scaling
``scaling/shared.py``): for the loss law L(C, M), the four smallest models (0.011B, 0.079B, 0.154B,
0.411B parameters) at M = 20 tokens per parameter plus the 0.011B model at M = 320; for the error law
Err(L), the same five runs plus the 1.4B model at M = 20. Targets: the 1.4B model at M = 640 (900B
tokens) and the 6.9B model at M = 20 (138B tokens). Loss is predicted from (N, D); the error from the
*predicted* loss, as the authors do. Relative error = |predicted - observed| / observed (a fraction).

The paper's own relative errors (Figure 1: RedPajama training, C4 eval loss, 17-task split) are
:data:`PAPER_RELATIVE_ERRORS`, as printed by the authors' ``scaling_explorer.ipynb`` at commit
a003c49 (0.7103%, 0.7320%, 3.6365%, 0.0464%), which reproduces the paper's Figure 1 fits.

Inputs: ``losses`` = ``gadre2024_overtraining/model_losses.csv`` (params, train_tokens,
chinchilla_multiplier, arch, train_dataset, val_set, val_loss; losses in nats/token) and
``downstream`` = ``choshen2024_colpret/overtrain__overtrain_downstreams.csv`` (model_name, dataset_name,
tok_mult, loss_<val_set>, err_<split>; errors are fractions), as DataFrames or paths.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.analysis.backtest import BacktestResult, backtest, default_holdout
from scalinglab.counting import flops_from
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError
from scalinglab.fitting import FitResult, fit
from scalinglab.io import load_runs
from scalinglab.laws.downstream_error import error_table
from scalinglab.tables import table_frame

FIT_ARCHS = ("d=96_l=8_h=4", "d=512_l=8_h=4", "d=576_l=24_h=8", "d=1024_l=24_h=8")
OVERTRAINED_FIT_RUN = ("d=96_l=8_h=4", 320.0)  # the 0.011B model at M = 320
ERROR_EXTRA_RUN = ("open_lm_1b", 20.0)  # the 1.4B model at M = 20, only for Err(L)
TARGETS = (("open_lm_1b", 640.0), ("open_lm_7b", 20.0))
#: (arch, M) -> the paper's relative errors (fractions) for RedPajama / C4 eval / 17-task split.
PAPER_RELATIVE_ERRORS = {
    ("open_lm_1b", 640.0): {"loss": 0.007103, "error": 0.036365},
    ("open_lm_7b", 20.0): {"loss": 0.007320, "error": 0.000464},
}
PAPER_SETTING = ("rpj", "c4_val", "avg_subset")
SPLITS = ("avg_subset", "avg")  # the 17-task and 46-task averages


@dataclass(repr=False)
class OvertrainReproduction(Displayed):
    """Fits and predictions of the reproduction. ``rows``: one dict per target with the keys of
    :data:`ROW_KEYS` (params, tokens, flops counts; multiplier tokens/parameter; losses nats/token;
    errors and relative errors fractions; ``*_paper`` None outside the paper's setting)."""

    _display = (("train_dataset", ""), ("val_set", ""), ("split", ""), ("targets", "", lambda r: len(r.rows)),
                ("compute_ratio", ""))

    train_dataset: str
    val_set: str
    split: str
    loss_fit: FitResult
    error_fit: FitResult
    rows: list[dict[str, Any]]
    compute_ratio: float  # smallest target C / largest loss-fit C
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """The rows as a DataFrame (columns :data:`ROW_KEYS`)."""
        return pd.DataFrame(self.rows, columns=list(ROW_KEYS))

    def to_dict(self) -> dict[str, Any]:
        """train_dataset, val_set, split, loss_law and error_law (law, params, n_points, status, unidentified;
        loss_law also derived), rows, compute_ratio, notes."""
        return {"train_dataset": self.train_dataset, "val_set": self.val_set, "split": self.split,
                "loss_law": {**_law_dict(self.loss_fit), "derived": self.loss_fit.derived},
                "error_law": _law_dict(self.error_fit),
                "rows": self.rows, "compute_ratio": self.compute_ratio, "notes": list(self.notes)}


def _law_dict(result: FitResult) -> dict[str, Any]:
    """A fit's law, parameters, size and trust: how the fit ended and what its runs do not determine."""
    return {"law": result.law, "params": result.params, "n_points": result.n_points, "status": result.status,
            "unidentified": list(result.unidentified)}


ROW_KEYS = ("target", "params", "tokens", "multiplier", "flops", "loss_observed", "loss_predicted",
            "loss_relative_error", "loss_relative_error_paper", "error_observed", "error_predicted",
            "error_relative_error", "error_relative_error_paper")


def _one(df: pd.DataFrame, mask: Any, what: str) -> pd.Series:
    rows = df[mask]
    if len(rows) != 1:
        raise ScalingLabError(f"expected exactly one run for {what}, found {len(rows)}")
    return rows.iloc[0]


def _loss_runs(losses: pd.DataFrame, train_dataset: str, val_set: str) -> pd.DataFrame:
    """The val_set rows of one training set, with M = 20 x chinchilla_multiplier."""
    need = {"arch", "train_dataset", "val_set", "params", "train_tokens", "chinchilla_multiplier", "val_loss"}
    missing = sorted(need - set(losses.columns))
    if missing:
        raise ScalingLabError(f"the losses table lacks column(s) {', '.join(missing)} (model_losses.csv)")
    df = losses[(losses["train_dataset"] == train_dataset) & (losses["val_set"] == val_set)].copy()
    if df.empty:
        raise ScalingLabError(f"no runs with train_dataset '{train_dataset}' and val_set '{val_set}'")
    df["M"] = 20.0 * df["chinchilla_multiplier"].astype(float)
    return df


def _fit_mask(df: pd.DataFrame, arch: str, m: str) -> Any:
    small = df[arch].isin(FIT_ARCHS) & (df[m] == 20.0)
    return small | ((df[arch] == OVERTRAINED_FIT_RUN[0]) & (df[m] == OVERTRAINED_FIT_RUN[1]))


def _rel(pred: float, obs: float) -> float:
    return abs(pred - obs) / obs


def reproduce_gadre2024(losses: pd.DataFrame | str | os.PathLike, downstream: pd.DataFrame | str | os.PathLike,
                        *, train_dataset: str = "rpj", val_set: str = "c4_val", split: str = "avg_subset",
                        loss: str = "huber") -> OvertrainReproduction:
    """Fit L(C, M) on the paper's five small runs and Err(L) on six, predict the 1.4B/M=640 and 6.9B/M=20
    runs (loss, then error from the predicted loss) and compare with the observed values and the paper's
    relative errors. ``split``: ``avg_subset`` (17 tasks, the paper's Figure 1) or ``avg`` (46 tasks);
    ``loss``: sl.fit's objective (``huber`` or ``ls``, both on log residuals)."""
    if split not in SPLITS:
        raise ScalingLabError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    runs = _loss_runs(table_frame(losses, "losses"), train_dataset, val_set)
    train = runs[_fit_mask(runs, "arch", "M")]
    loss_fit = fit(pd.DataFrame({"params": train["params"].astype(float), "tokens": train["train_tokens"].astype(float),
                                 "loss": train["val_loss"].astype(float)}), law="overtrain", loss=loss)
    down = table_frame(downstream, "downstream")
    lcol, ecol = f"loss_{val_set}", f"err_{split}"
    for col in ("model_name", "dataset_name", "tok_mult", lcol, ecol):
        if col not in down.columns:
            raise ScalingLabError(f"the downstream table lacks column '{col}' (overtrain_downstreams.csv)")
    down = down[down["dataset_name"] == train_dataset]
    mask = _fit_mask(down, "model_name", "tok_mult") | (
        (down["model_name"] == ERROR_EXTRA_RUN[0]) & (down["tok_mult"] == ERROR_EXTRA_RUN[1]))
    error_fit = fit(error_table(down.loc[mask, lcol].to_numpy(float), down.loc[mask, ecol].to_numpy(float)),
                    law="downstream_error", loss=loss)
    rows, paper = [], (train_dataset, val_set, split) == PAPER_SETTING
    notes = [] if paper else ["the paper reports relative errors only for RedPajama / c4_val / avg_subset"]
    for arch, m in TARGETS:
        if not ((runs["arch"] == arch) & (runs["M"] == m)).any():
            notes.append(f"no {arch} run at M = {m:g} for {train_dataset}: not predicted")
            continue
        run = _one(runs, (runs["arch"] == arch) & (runs["M"] == m), f"{arch} at M = {m:g}")
        obs_err = float(_one(down, (down["model_name"] == arch) & (down["tok_mult"] == m), f"{arch} errors")[ecol])
        n, d = float(run["params"]), float(run["train_tokens"])
        pred = float(loss_fit.predict(params=n, tokens=d).loss)
        pred_err = float(error_fit.predict(upstream_loss=pred).loss)
        ref = PAPER_RELATIVE_ERRORS.get((arch, m), {}) if paper else {}
        rows.append({"target": f"{arch} M={m:g}", "params": n, "tokens": d, "multiplier": d / n,
                     "flops": float(flops_from(n, d)), "loss_observed": float(run["val_loss"]),
                     "loss_predicted": pred, "loss_relative_error": _rel(pred, float(run["val_loss"])),
                     "loss_relative_error_paper": ref.get("loss"), "error_observed": obs_err,
                     "error_predicted": pred_err, "error_relative_error": _rel(pred_err, obs_err),
                     "error_relative_error_paper": ref.get("error")})
    if not rows:
        raise ScalingLabError(f"none of the target runs ({', '.join(f'{a} M={m:g}' for a, m in TARGETS)}) "
                              f"is in the table for {train_dataset}")
    ratio = min(r["flops"] for r in rows) / float(np.max(flops_from(train["params"], train["train_tokens"])))
    return OvertrainReproduction(train_dataset, val_set, split, loss_fit, error_fit, rows, ratio, notes)


#: The columns that mark Gadre et al.'s flattened loss table (one row per run and validation set).
GADRE_COLUMNS = ("train_dataset", "val_set", "val_loss")


def is_gadre_table(table: pd.DataFrame) -> bool:
    """Whether ``table`` has the layout of ``gadre2024_overtraining/model_losses.csv`` (:data:`GADRE_COLUMNS`)."""
    return all(c in table.columns for c in GADRE_COLUMNS)


def gadre_runs(losses: pd.DataFrame | str | os.PathLike, train_dataset: str = "rpj",
               val_set: str = "c4_val") -> pd.DataFrame:
    """The runs of one training set evaluated on one validation set, as a runs table: ``params``
    (parameters), ``tokens`` (training tokens), ``loss`` (nats/token), ``multiplier`` (M = D/N, tokens
    per parameter) and ``arch``; the defaults are the paper's Figure 1 setting."""
    df = _loss_runs(table_frame(losses, "losses"), train_dataset, val_set)
    n, d = df["params"].astype(float).to_numpy(), df["train_tokens"].astype(float).to_numpy()
    return pd.DataFrame({"params": n, "tokens": d, "loss": df["val_loss"].astype(float).to_numpy(),
                         "multiplier": d / n, "arch": df["arch"].astype(str).to_numpy()})


def overtrain_backtest(data: pd.DataFrame | str | os.PathLike, *, holdout_above: float | None = None,
                       train_dataset: str = "rpj", val_set: str = "c4_val", bootstrap: int = 200, seed: int = 0,
                       level: float = 0.95) -> BacktestResult:
    """Backtest of the ``overtrain`` law L(C, M) (Gadre et al. 2024 eq. (4)): fit the runs with training
    compute C = 6ND <= ``holdout_above`` FLOPs (default: the largest compute, whole levels, until at
    least 20% of the runs are held out; :func:`scalinglab.analysis.backtest.default_holdout`) and
    predict the rest with prediction intervals at ``level``
    (:func:`scalinglab.analysis.backtest.backtest`: its ``fit`` carries the status, the unidentified
    parameters and the bootstrap intervals). ``data``: a runs table (params, tokens, loss; any M) or
    Gadre et al.'s ``model_losses.csv``, of which the ``train_dataset`` runs on ``val_set`` are used."""
    table = table_frame(data, "data")
    runs = gadre_runs(table, train_dataset, val_set) if is_gadre_table(table) else table
    threshold = default_holdout(load_runs(runs).column("flops")) if holdout_above is None else holdout_above
    return backtest(runs, "overtrain", holdout_above=threshold, x="flops", bootstrap=bootstrap, seed=seed,
                    level=level)

