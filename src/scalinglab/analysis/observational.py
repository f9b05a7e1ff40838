"""Observational scaling laws (Ruan et al. 2024, arXiv:2405.10938; references.md E6): predict a
downstream capability of larger models from public models' standard benchmark scores.

Procedure (the authors' defaults, ``utils/constants.py`` and ``utils/data.py`` of ``ryoungj/ObsScaling``):

1. principal capability measures of the benchmark table (:mod:`scalinglab.analysis.capabilities`:
   rank-1 PCA imputation, 5-component PCA of unstandardised scores);
2. split the models with a target score at a training-compute cutoff: models with C <= ``cutoff_flops``
   (default 8.4e22 FLOPs, Llama-2-7B's budget) train the law; the rest, and models whose compute is
   unknown (the authors' split puts them there too), are held out;
3. fit the "parametric sigmoid with fixed height" of the first ``n_pcs`` (default 3) components,

       y = h + (1 - h) sigmoid(w0 + sum_k w_k PC-k),   0 <= h <= 0.2,

   by least squares (h is the floor from random guessing; the ceiling is 1), with the package's one
   optimiser (:func:`scalinglab.fitting.optimizer.minimize_residuals`) from several starts;
4. the same sigmoid of log10(C / FLOPs) alone is the compute-based baseline; both are scored on
   the held-out models (mean squared error, in squared score units).

``y`` is a score in [0, 1] (accuracy or exact match as a fraction); C in FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.analysis.capabilities import (
    RUAN2024_BENCHMARKS,
    CapabilityPCA,
    FamilyLine,
    capability_pca,
    equivalent_flops,
    family_lines,
)
from scalinglab.analysis.parametric_sigmoid import (  # MAX_FLOOR, ParametricSigmoid, fit_parametric_sigmoid:
    MAX_FLOOR,  # noqa: F401  (importable from here, where they were first defined)
    ParametricSigmoid,
    fit_parametric_sigmoid,
    prediction_band,
)
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, as_list, column_name, level_number, positive_number, whole_number
from scalinglab.tables import table_frame

Array = np.ndarray

#: Llama-2-7B's training compute, 84 x 1e21 FLOPs: the authors' default cutoff (README, ``cutoff_threshold``).
DEFAULT_CUTOFF_FLOPS = 8.4e22
FLOPS_COLUMNS = {"flops": 1.0, "FLOPs (1E21)": 1e21}
FAMILY_COLUMNS = ("family", "Model Family")
MODEL_COLUMNS = ("model", "Model")


@dataclass(repr=False)
class ObservationalResult(Displayed):
    """An observational scaling law for one target and its held-out check (module docstring)."""

    _display = (("target", ""), ("n_pcs", "PCs"), ("cutoff_flops", "FLOPs"), ("test_mse", ""),
                ("flops_test_mse", ""), ("models", "", lambda r: len(r.predictions)))

    target: str
    pca: CapabilityPCA
    n_pcs: int
    cutoff_flops: float
    reference_family: str
    pc_fit: ParametricSigmoid
    flops_fit: ParametricSigmoid | None
    family_lines: list[FamilyLine]
    predictions: pd.DataFrame  # model, family, flops, equivalent_flops, observed, predicted, flops_predicted, split,
    # low, high (the prediction interval from the PCs; NaN without a bootstrap)
    warnings: list[str] = field(default_factory=list)
    level: float = 0.95

    def _mse(self, column: str) -> float:
        test = self.predictions[self.predictions["split"] == "test"].dropna(subset=[column])
        return float(np.mean((test[column] - test["observed"]) ** 2)) if len(test) else float("nan")

    @property
    def test_mse(self) -> float:
        """Mean squared error of the capability-based prediction on the held-out models."""
        return self._mse("predicted")

    @property
    def flops_test_mse(self) -> float:
        """The same for the compute-only baseline (held-out models of known compute)."""
        return self._mse("flops_predicted")

    def backtest(self) -> dict:
        """The held-out check as a backtest (fit below the compute cutoff, predict the models above it):
        ``x`` (flops), ``holdout_above`` (the cutoff, FLOPs), ``n_train``, ``n_test``, ``mse`` and
        ``flops_mse`` (mean squared errors, squared score units), ``mae`` (mean |predicted - observed|,
        score units), ``better`` ("PCs", "FLOPs", or None when nothing is held out), and the trust of the
        sigmoid fitted below the cutoff: ``status`` (first-order test), ``at_bound`` (parameters w0, w1, ...,
        h on a bound of the box), ``level``, ``coverage`` (share of held-out scores inside their prediction
        interval; None without a bootstrap), ``bootstrap`` (refits) and ``ci`` (name -> bootstrap
        percentile interval)."""
        test = self.predictions[self.predictions["split"] == "test"]
        mae = float(np.mean(np.abs(test["predicted"] - test["observed"]))) if len(test) else float("nan")
        mse, base = self.test_mse, self.flops_test_mse
        better = None if not (np.isfinite(mse) and np.isfinite(base)) else "PCs" if mse <= base else "FLOPs"
        n_train = int((self.predictions["split"] == "train").sum())
        banded = test.dropna(subset=["low", "high"]) if "low" in test else test.iloc[:0]
        inside = (banded["low"] <= banded["observed"]) & (banded["observed"] <= banded["high"])
        return {"x": "flops", "holdout_above": self.cutoff_flops, "n_train": n_train, "n_test": len(test), "mse": mse,
                "flops_mse": base, "mae": mae, "better": better, "status": self.pc_fit.status,
                "at_bound": list(self.pc_fit.at_bound), "level": self.level,
                "coverage": float(inside.mean()) if len(banded) else float("nan"),
                "bootstrap": len(self.pc_fit.draws), "ci": self.pc_fit.intervals(self.level)}

    def to_dict(self) -> dict:
        """JSON form; keys documented in docs/analysis.md (observational scaling laws)."""
        split = self.predictions["split"]
        return {
            "target": self.target, "benchmarks": self.pca.benchmarks, "n_pcs": self.n_pcs,
            "explained_variance_ratio": [float(v) for v in self.pca.explained_variance_ratio],
            "loadings": {f"PC-{i + 1}": dict(zip(self.pca.benchmarks, map(float, row)))
                         for i, row in enumerate(self.pca.components)},
            "cutoff_flops": self.cutoff_flops, "reference_family": self.reference_family,
            "n_train": int((split == "train").sum()), "n_test": int((split == "test").sum()),
            "weights": [float(w) for w in self.pc_fit.weights], "floor": self.pc_fit.floor,
            "test_mse": self.test_mse, "flops_test_mse": self.flops_test_mse,
            "family_lines": [line.to_dict() for line in self.family_lines],
            "predictions": self.predictions.replace({np.nan: None}).to_dict(orient="records"),
            "warnings": list(self.warnings), "backtest": _finite(self.backtest()),
        }

    def summary(self) -> str:
        ev = self.pca.explained_variance_ratio
        lines = [f"observational scaling law for {self.target} (Ruan et al. 2024)",
                 f"capability PCA: {len(self.pca.scores)} models x {len(self.pca.benchmarks)} benchmarks, "
                 f"{self.pca.missing_fraction:.1%} imputed; PC-1 {ev[0]:.1%}, PC-1..3 {self.pca.cumulative(3):.1%} "
                 "of the variance",
                 f"train: models with C <= {self.cutoff_flops:.3g} FLOPs; held out: the rest",
                 f"backtest (fit below the cutoff, predict the {self.backtest()['n_test']} models above): held-out "
                 f"mean squared error {self.test_mse:.4g} from {self.n_pcs} PCs, {self.flops_test_mse:.4g} from "
                 "log10 FLOPs alone"]
        return "\n".join(lines + [f"warning: {w}" for w in self.warnings])

    def __repr__(self) -> str:
        return (f"ObservationalResult({self.target}: held-out MSE {self.test_mse:.3g} from {self.n_pcs} PCs vs "
                f"{self.flops_test_mse:.3g} from FLOPs; {len(self.predictions)} models)")


def _finite(d: dict) -> dict:
    """``d`` with NaN values as None (JSON has no NaN)."""
    return {k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in d.items()}


def _pick(table: pd.DataFrame, names: tuple[str, ...], what: str, given: str | None) -> str:
    if given is not None:
        name = column_name(what, given)
        if name not in table.columns:
            raise ScalingLabError(f"{what} {name!r} is not a column; columns: {list(table.columns)}")
        return name
    for name in names:
        if name in table.columns:
            return name
    raise ScalingLabError(f"no {what} (looked for {', '.join(names)}); columns: {list(table.columns)}")


def benchmark_columns(table: pd.DataFrame) -> dict[str, Any] | None:
    """The columns :func:`observational` reads from a benchmark table of public models: ``model``,
    ``family``, ``flops`` (the compute column) and ``benchmarks`` (Ruan et al.'s eight where present,
    at least two), or None when ``table`` is not such a table."""
    try:
        cols = {"model": _pick(table, MODEL_COLUMNS, "model column", None),
                "family": _pick(table, FAMILY_COLUMNS, "family column", None),
                "flops": _pick(table, tuple(FLOPS_COLUMNS), "compute column", None)}
    except ScalingLabError:
        return None
    benches = [b for b in RUAN2024_BENCHMARKS if b in table.columns]
    return {**cols, "benchmarks": benches} if len(benches) >= 2 else None


def default_target(table: pd.DataFrame) -> tuple[str, list[str]]:
    """A target for a benchmark table given none, and the benchmarks left for the PCA: the benchmark
    with the lowest median score (the capability furthest from saturation, e.g. GSM8K or HumanEval),
    left out of the PCA as Ruan et al. leave GSM8K out when predicting arithmetic."""
    cols = benchmark_columns(table)
    if cols is None or len(cols["benchmarks"]) < 3:
        raise ScalingLabError("no target given and no benchmark table with at least 3 of Ruan et al.'s benchmarks "
                              f"({', '.join(RUAN2024_BENCHMARKS)}) to choose one from")
    medians = table[cols["benchmarks"]].apply(pd.to_numeric, errors="coerce").median()
    target = str(medians.idxmin())
    return target, [b for b in cols["benchmarks"] if b != target]


def table_flops(table: pd.DataFrame, column: str | None = None) -> Array:
    """Training compute in FLOPs per row: a ``flops`` column (FLOPs) or the authors' ``FLOPs (1E21)``."""
    name = _pick(table, tuple(FLOPS_COLUMNS), "compute column", column)
    return pd.to_numeric(table[name], errors="coerce").to_numpy(float) * FLOPS_COLUMNS.get(name, 1.0)


def _extrapolation_warnings(fit: ParametricSigmoid, pcs: Array, train: Array, has_y: Array, target: str) -> list[str]:
    """Say when held-out models lie beyond the training range of the fitted capability combination
    w0 + PC . w (their predictions extrapolate the sigmoid) and when the training scores never rise
    past the floor region (the transition itself is unobserved)."""
    z = fit.weights[0] + pcs @ fit.weights[1:]
    top = float(np.max(z[train]))
    beyond = int(np.sum(has_y & ~train & (z > top)))
    out = []
    if beyond:
        out.append(f"{beyond} held-out model(s) lie beyond the training models' capability range; their {target} "
                   "predictions extrapolate the sigmoid")
    y_hat_top = fit.predict(pcs[train]).max()
    if y_hat_top < fit.floor + 0.5 * (1.0 - fit.floor) and beyond:
        out.append(f"the training models never reach the sigmoid's midpoint (best fitted {y_hat_top:.3f}); "
                   "where and how fast it rises is extrapolated")
    return out


def observational(table: pd.DataFrame, target: str, *, targets: pd.DataFrame | None = None,
                  benchmarks: list[str] | None = None, families: list[str] | None = None, n_pcs: int = 3,
                  cutoff_flops: float = DEFAULT_CUTOFF_FLOPS, reference_family: str = "Llama-2",
                  flops_column: str | None = None, bootstrap: int = 200, seed: int = 0,
                  level: float = 0.95) -> ObservationalResult:
    """Fit an observational scaling law for ``target`` (a column of ``table`` or of ``targets``,
    joined on the model column) and check it on the models above ``cutoff_flops`` (module docstring);
    ``bootstrap`` refits of the sigmoid over the training models (seeded by ``seed``) give each model a
    ``level`` prediction interval (:func:`scalinglab.analysis.parametric_sigmoid.prediction_band`)."""
    table = table_frame(table, "table")
    target = column_name("target", target)
    reference_family = column_name("reference_family", reference_family)
    model_col = _pick(table, MODEL_COLUMNS, "model column", None)
    family_col = _pick(table, FAMILY_COLUMNS, "family column", None)
    if families is not None:
        table = table[table[family_col].isin([str(f) for f in as_list("families", families)])]
    if targets is not None:
        extra = table_frame(targets, "targets")
        key = _pick(extra, MODEL_COLUMNS, "model column of the targets table", None)
        if target not in extra.columns:
            raise ScalingLabError(f"target {target!r} is not a column of the targets table; columns: {list(extra.columns)}")
        table = table.merge(extra[[key, target]].rename(columns={key: model_col}), on=model_col, how="left",
                            suffixes=("_table", ""))
    if target not in table.columns:
        raise ScalingLabError(f"target {target!r} is not a column of the table or of the targets table")
    table = table.reset_index(drop=True)
    pca = capability_pca(table, benchmarks, model_column=model_col)
    k = whole_number("n_pcs", n_pcs, minimum=1, maximum=pca.components.shape[0])
    cutoff = positive_number("cutoff_flops", cutoff_flops)
    flops, y = table_flops(table, flops_column), pd.to_numeric(table[target], errors="coerce").to_numpy(float)
    if np.nanmin(y, initial=0.0) < 0 or np.nanmax(y, initial=0.0) > 1:
        raise ScalingLabError(f"target {target!r} must be a score between 0 and 1")
    has_y = np.isfinite(y)
    train = has_y & np.isfinite(flops) & (flops <= cutoff)
    pcs = pca.scores.to_numpy()[:, :k]
    level = level_number(level)
    pc_fit = fit_parametric_sigmoid(pcs[train], y[train], bootstrap=bootstrap, seed=seed)
    low, high = prediction_band(pc_fit, pcs, level, seed)
    lines = family_lines(pca.scores["PC-1"].to_numpy(), flops, table[family_col].to_numpy())
    ref = next((line for line in lines if line.family == reference_family), None)
    if ref is None:
        raise ScalingLabError(f"reference family {reference_family!r} has fewer than two models of known compute; "
                              f"families with a compute line: {[line.family for line in lines]}")
    flops_fit, warnings = None, []
    logc = np.log10(np.where(np.isfinite(flops) & (flops > 0), flops, np.nan))
    try:
        flops_fit = fit_parametric_sigmoid(logc[train][:, None], y[train])
    except ScalingLabError as exc:
        warnings.append(f"no compute-only baseline: {exc}")
    if not (has_y & ~train).any():
        warnings.append(f"no model with a {target} score lies above the cutoff: nothing is held out")
    warnings += _extrapolation_warnings(pc_fit, pcs, train, has_y, target)
    predictions = pd.DataFrame({
        "model": table[model_col].astype(str), "family": table[family_col].astype(str), "flops": flops,
        "equivalent_flops": equivalent_flops(pca.scores["PC-1"].to_numpy(), ref), "observed": y,
        "predicted": pc_fit.predict(pcs),
        "flops_predicted": flops_fit.predict(logc[:, None]) if flops_fit else np.nan,
        "split": np.where(train, "train", np.where(has_y, "test", "none")), "low": low, "high": high})
    return ObservationalResult(target=target, pca=pca, n_pcs=k, cutoff_flops=cutoff,
                               reference_family=reference_family, pc_fit=pc_fit, flops_fit=flops_fit,
                               family_lines=lines, predictions=predictions, warnings=warnings, level=level)
