"""Principal capability measures of public models (Ruan et al. 2024, observational scaling laws).

A table holds many public models (rows) scored on a few standard benchmarks (columns, accuracies as
fractions 0-1, some missing). Ruan et al. 2024 (arXiv:2405.10938, sec. 3.1-3.3; references.md E6)
find that a few principal components of that matrix explain nearly all its variance and that, within
one model family, each component is linear in log training compute. This module computes:

1. **Missing values** by iterative low-rank PCA imputation (the authors' ``utils/data.py``
   ``pca_impute``): standardise each benchmark over the models that have it, fill the gaps with the
   mean (0), then repeat {fit a rank-``impute_rank`` PCA; replace only the missing cells by its
   reconstruction} until the matrix stops moving (max change <= ``tol``); undo the scaling and clip
   to [0, 1].
2. **Principal capability measures** ("PC-1", "PC-2", ...): a PCA of the imputed scores, centred but
   not standardised (the authors' default), scores S = (X - mean) V. A component's sign is arbitrary;
   here each is oriented so that its loadings sum to a positive number (PC-1 grows with capability).
3. **Per-family compute lines**: PC_k = slope_f log10(C / FLOPs) + intercept_f by least squares for
   every family with at least two models of known training compute C (FLOPs).
4. **Equivalent compute** of a model: the C at which a reference family's PC-1 line reaches the
   model's PC-1 ("Llama-2-equivalent FLOPs" in the paper's figures).

Units: benchmark scores are fractions 0-1; C in FLOPs (the authors' tables give "FLOPs (1E21)",
converted on reading); PC scores are in the units of the scores (accuracy points, as fractions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, as_list, column_name, whole_number
from scalinglab.tables import table_frame

Array = np.ndarray

#: The eight standard benchmarks of Ruan et al. 2024 (Open LLM Leaderboard v1 + XWinograd + HumanEval;
#: the authors' ``utils/constants.py`` ALL_BENCHMARK_METRIC_LIST).
RUAN2024_BENCHMARKS = ("MMLU", "ARC-C", "HellaSwag", "Winograd", "TruthfulQA", "GSM8K", "XWinograd", "HumanEval")
#: The 21 model families the authors evaluated (``utils/constants.py`` EVAL_BASE_MODEL_FAMILIES);
#: their released table holds more families, collected later.
RUAN2024_FAMILIES = ("Llama-2", "Llama", "Llama-3", "Qwen1.5", "Qwen", "Mistral", "Mixtral", "Yi", "Gemma",
                     "Falcon", "Phi", "Pythia", "BLOOM", "GPT-Neo/J", "OPT", "MPT", "XGLM", "CodeLlama",
                     "StarCoder", "StarCoder2", "DeepSeek-Coder")


@dataclass(repr=False)
class CapabilityPCA(Displayed):
    """Principal capability measures of a benchmark table (module docstring, steps 1-2).

    ``components`` (K, B): loadings of PC-k on each benchmark; ``explained_variance_ratio`` (K,):
    each component's share of the total variance of the imputed scores; ``scores``: one row per
    model, columns ``PC-1`` ... ``PC-K``; ``imputed``: the benchmark scores after imputation;
    ``missing_fraction``: the share of benchmark cells that were missing (imputed)."""

    _display = (("models", "", lambda p: len(p.scores)), ("benchmarks", ""),
                ("explained_variance_ratio", "fraction"), ("missing_fraction", "fraction"))

    benchmarks: list[str]
    mean: Array
    components: Array
    explained_variance_ratio: Array
    scores: pd.DataFrame
    imputed: pd.DataFrame
    missing_fraction: float

    def transform(self, values: Array) -> Array:
        """PC scores (n, K) of complete benchmark rows ``values`` (n, B)."""
        return (np.asarray(values, dtype=float) - self.mean) @ self.components.T

    def cumulative(self, k: int) -> float:
        """Share of the variance explained by the first ``k`` components."""
        return float(np.sum(self.explained_variance_ratio[:k]))

    def __repr__(self) -> str:
        shares = ", ".join(f"{v:.1%}" for v in self.explained_variance_ratio[:3])
        return (f"CapabilityPCA({len(self.scores)} models x {len(self.benchmarks)} benchmarks; "
                f"PC-1..3 explain {shares}; {self.missing_fraction:.1%} imputed)")


@dataclass(frozen=True, repr=False)
class FamilyLine(Displayed):
    """PC-k = slope log10(C / FLOPs) + intercept within one family (module docstring, step 3);
    ``r2`` the coefficient of determination, ``n`` the models with known compute."""

    _display = (("family", ""), ("slope", "PC per decade of FLOPs"), ("intercept", ""), ("r2", ""), ("n", "models"))

    family: str
    slope: float
    intercept: float
    r2: float
    n: int

    def to_dict(self) -> dict:
        return {"family": self.family, "slope": self.slope, "intercept": self.intercept, "r2": self.r2, "n": self.n}


def impute_low_rank(values: Array, rank: int = 1, tol: float = 1e-4, max_iter: int = 1000) -> Array:
    """Fill the NaN cells of ``values`` (n, B) by iterative rank-``rank`` PCA (module docstring,
    step 1); observed cells are never changed. Returns the completed matrix, clipped to [0, 1]."""
    x = np.array(values, dtype=float)
    miss = ~np.isfinite(x)
    if miss.all(axis=0).any():
        raise ScalingLabError("a benchmark column has no value at all; drop it or give scores")
    mu, sd = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    z = np.where(miss, 0.0, (x - mu) / sd)
    for _ in range(max_iter):
        centre = z.mean(axis=0)
        u, s, vt = np.linalg.svd(z - centre, full_matrices=False)
        recon = centre + (u[:, :rank] * s[:rank]) @ vt[:rank]
        if np.max(np.abs(z - recon)[miss], initial=0.0) <= tol:
            break
        z[miss] = recon[miss]
    return np.clip(z * sd + mu, 0.0, 1.0)


def capability_pca(table: pd.DataFrame, benchmarks: Sequence[str] | None = None, *, n_components: int | None = None,
                   impute_rank: int = 1, model_column: str = "Model") -> CapabilityPCA:
    """Impute, then extract the principal capability measures of ``table`` (module docstring).

    ``benchmarks``: the score columns (default: Ruan et al.'s eight where present); ``n_components``
    (default: 5, the authors' choice, or the number of benchmarks if fewer); ``model_column`` names
    the models (the index of ``scores``)."""
    table = table_frame(table, "table")
    model_column = column_name("model_column", model_column)
    cols = [b for b in RUAN2024_BENCHMARKS if b in table.columns] if benchmarks is None else \
        [column_name("benchmark", b) for b in as_list("benchmarks", benchmarks)]
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ScalingLabError(f"benchmark column(s) {missing} not in the table; it has {list(table.columns)}")
    if len(set(cols)) < 2:
        raise ScalingLabError("capability PCA needs at least 2 benchmark columns")
    k = min(5, len(cols)) if n_components is None else whole_number("n_components", n_components, minimum=1,
                                                                     maximum=len(cols))
    raw = table[cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if np.any((raw < 0) | (raw > 1)):
        raise ScalingLabError("benchmark scores must be fractions between 0 and 1 (accuracy 0.62, not 62)")
    if raw.shape[0] <= k:
        raise ScalingLabError(f"{raw.shape[0]} models cannot give {k} principal components; give more models")
    filled = impute_low_rank(raw, whole_number("impute_rank", impute_rank, minimum=1, maximum=len(cols)))
    mean = filled.mean(axis=0)
    _, s, vt = np.linalg.svd(filled - mean, full_matrices=False)
    comps = vt[:k] * np.where(vt[:k].sum(axis=1, keepdims=True) < 0, -1.0, 1.0)
    ratio = (s**2 / np.sum(s**2))[:k]
    index = table[model_column].astype(str).to_numpy() if model_column in table.columns else table.index
    scores = pd.DataFrame((filled - mean) @ comps.T, columns=[f"PC-{i + 1}" for i in range(k)], index=index)
    return CapabilityPCA(benchmarks=cols, mean=mean, components=comps, explained_variance_ratio=ratio,
                         scores=scores, imputed=pd.DataFrame(filled, columns=cols, index=index),
                         missing_fraction=float(np.mean(~np.isfinite(raw))))


def _line(x: Array, y: Array) -> tuple[float, float, float]:
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    tot = float(np.sum((y - y.mean()) ** 2))
    return float(slope), float(intercept), (1.0 - float(np.sum(resid**2)) / tot) if tot > 0 else float("nan")


def family_lines(pc: Array, flops: Array, family: Array) -> list[FamilyLine]:
    """One :class:`FamilyLine` per family with at least two models of distinct known compute
    (``flops`` in FLOPs, NaN when unknown); ``pc`` one component's scores."""
    pc, flops, family = np.asarray(pc, float), np.asarray(flops, float), np.asarray(family).astype(str)
    out = []
    for fam in dict.fromkeys(family):
        rows = (family == fam) & np.isfinite(flops) & (flops > 0)
        if rows.sum() >= 2 and np.unique(flops[rows]).size >= 2:
            slope, intercept, r2 = _line(np.log10(flops[rows]), pc[rows])
            out.append(FamilyLine(str(fam), slope, intercept, r2, int(rows.sum())))
    return out


def equivalent_flops(pc1: Array, reference: FamilyLine) -> Array:
    """Training compute (FLOPs) at which the ``reference`` family's PC-1 line reaches ``pc1``
    (module docstring, step 4): C = 10^((PC-1 - intercept) / slope)."""
    if not reference.slope > 0:
        raise ScalingLabError(f"the reference family {reference.family!r} does not gain capability with compute "
                              f"(PC-1 slope {reference.slope:.3g} per decade); choose another reference family")
    return 10.0 ** ((np.asarray(pc1, float) - reference.intercept) / reference.slope)
