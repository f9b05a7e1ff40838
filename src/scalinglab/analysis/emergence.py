"""Emergence: a sigmoid summary with a smooth-vs-break test, and the metric-choice effect.

Metric choice (Schaeffer, Miranda, Koyejo 2023, "Are Emergent Abilities of Large Language Models
a Mirage?", NeurIPS 2023): if p is the probability of the correct token and an answer has L
tokens, then

- exact match (nonlinear, discontinuous)    EM = p^L              (per example: prod_t p_t)
- per-token accuracy (linear, continuous)   p                     (mean over answer tokens)
- expected token edit distance (linear)     ED = L (1 - p)        (per example: sum_t (1 - p_t))
- negative log-likelihood (continuous)      NLL = -L ln p         (nats per answer: -sum_t ln p_t)

p^L sits near 0 for most scales and then rises steeply, which looks like emergence although p
itself rises smoothly. :func:`metric_choice` computes the four side by side, tests each for a
break (:func:`~scalinglab.analysis.breaktest.smooth_vs_break`) and flags a jump that appears in
exact match but not in per-token accuracy as a metric artefact. With per-token log-probs the
metrics are expectations under the model's probabilities (not greedy-decoding scores).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.analysis._metric_data import read_metric_table
from scalinglab.analysis.breaktest import smooth_vs_break
from scalinglab.analysis.downstream import LOG_SCALES, fit_sigmoid
from scalinglab.display import Displayed
from scalinglab.errors import FitError, ScalingLabError, count_number

__all__ = ["MetricChoice", "metric_choice", "emergence", "rise_width", "smooth_vs_break"]

Array = np.ndarray
#: Exact match "looks like a jump" when its central 80% rise spans at most this fraction of the
#: per-token accuracy's (both measured on the observed log-scale window), or its break test rejects.
SHARPER_THAN = 0.6
#: metric -> (smooth model of the break test, the Schaeffer et al. 2023 class of the metric). The edit
#: distance is tested per answer token (ED / L = 1 - p, a sigmoid like p); the NLL as a power law in x
#: (Schaeffer et al.'s premise: per-token cross-entropy falls as a power law of scale).
METRICS = {"exact_match": ("sigmoid", "nonlinear"), "p_token": ("sigmoid", "linear"),
           "edit_distance": ("sigmoid", "linear"), "neg_log_likelihood": ("power", "continuous")}


def rise_width(t: Array, y: Array) -> float:
    """Fraction of the observed range of t over which y covers the central 80% of its change from
    the first to the last point (first crossings of 10% and 90%, linear interpolation; t sorted).
    About 0.8 for a straight line, near 0 for a step."""
    t, y = np.asarray(t, float), np.asarray(y, float)
    span = y[-1] - y[0]
    if span == 0 or t[-1] == t[0]:
        return float("nan")
    u = (y - y[0]) / span

    def first(level: float) -> float:
        i = int(np.flatnonzero(u >= level)[0])
        return float(t[0]) if i == 0 else float(t[i - 1] + (level - u[i - 1]) * (t[i] - t[i - 1]) / (u[i] - u[i - 1]))

    return (first(0.9) - first(0.1)) / float(t[-1] - t[0])


@dataclass(repr=False)
class MetricChoice(Displayed):
    """The four metrics per model (``table``), a break test and the rise width of each, and the verdict."""

    _display = (("x", ""), ("verdict", ""), ("apparent_jump", ""), ("artefact", ""), ("alpha", ""),
                ("widths", "decades of x"))

    table: pd.DataFrame
    x: str
    tests: dict[str, dict[str, Any]]
    widths: dict[str, float]
    apparent_jump: bool
    artefact: bool
    verdict: str
    alpha: float = 0.05
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"x": self.x, "metrics": {m: {"class": METRICS[m][1], "rise_width": self.widths[m],
                                             "smooth_vs_break": self.tests[m]} for m in METRICS},
                "apparent_jump": self.apparent_jump, "artefact": self.artefact, "verdict": self.verdict,
                "alpha": self.alpha, "table": self.table.to_dict(orient="list"), "notes": self.notes}


def metric_choice(data: str | os.PathLike | pd.DataFrame, x: str = "params", *, p_column: str = "p_token",
                  loss_column: str | None = None, length: int | str | None = None,
                  logprob_column: str | None = None, example_column: str = "example", alpha: float = 0.05,
                  bootstrap: int = 200, seed: int = 0, columns: Mapping[str, str] | None = None,
                  x_scale: float = 1.0) -> MetricChoice:
    """Exact match, per-token accuracy, edit distance and NLL side by side, from either

    - per-token log-probs (``logprob_column``, natural log of the correct token's probability, one
      row per model x example x answer token, examples named by ``example_column``), or
    - one row per model with the mean per-token probability ``p_column`` (or a per-token loss in
      nats/token, ``loss_column``: p = exp(-loss)) and the answer length ``length`` (tokens: a
      number, or a column name).

    Models are told apart by ``x`` (FLOPs, parameters or tokens). ``bootstrap``/``seed`` go to the
    break tests; ``alpha`` is their significance level."""
    if logprob_column is not None:
        table, notes = _from_logprobs(data, x, logprob_column, example_column, columns, x_scale)
    else:
        table, notes = _from_means(data, x, p_column, loss_column, length, columns, x_scale)
    if len(table) < 7:
        raise FitError(f"metric choice: {len(table)} models; the break tests need at least 7")
    log_x = x in LOG_SCALES
    t = np.log10(table[x].to_numpy()) if log_x else table[x].to_numpy()
    tests, widths = {}, {}
    for name, (smooth, _) in METRICS.items():
        y = table[name].to_numpy()
        kind = smooth if not (smooth == "power" and np.any(y <= 0)) else "linear"
        scaled = y / table["length"].to_numpy() if name == "edit_distance" else y
        tests[name] = smooth_vs_break(table[x], scaled, smooth=kind, log_x=log_x, chance=None, ceiling=None,
                                      bootstrap=bootstrap, seed=seed)
        widths[name] = rise_width(t, y)
    return _verdict(table, x, tests, widths, alpha, notes)


def _verdict(table, x, tests, widths, alpha, notes) -> MetricChoice:
    def significant(m: str) -> bool:
        p = tests[m]["p_value"]
        return p is not None and p < alpha

    sharper = widths["exact_match"] <= SHARPER_THAN * widths["p_token"]
    jump = bool(sharper or significant("exact_match"))
    p_tok = tests["p_token"]["p_value"]
    if not jump:
        verdict, artefact = "no apparent jump: exact match rises about as gradually as per-token accuracy", False
    elif significant("p_token"):
        verdict, artefact = (f"the jump survives the change of metric: per-token accuracy also has a break "
                             f"(p = {p_tok:.3g}, near {x} = {tests['p_token']['break_at']:.3g})"), False
    else:
        shown = "n/a" if p_tok is None else f"{p_tok:.3g}"
        verdict, artefact = (f"metric artefact: exact match looks like a jump (rise width "
                             f"{widths['exact_match']:.2f} vs {widths['p_token']:.2f} of the scale window), "
                             f"but per-token accuracy rises smoothly (smooth-vs-break p = {shown})"), True
    return MetricChoice(table=table, x=x, tests=tests, widths=widths, apparent_jump=jump, artefact=artefact,
                        verdict=verdict, alpha=alpha, notes=notes)


def _from_means(data, x, p_column, loss_column, length, columns, x_scale) -> tuple[pd.DataFrame, list[str]]:
    metric = loss_column or p_column
    extra = (length,) if isinstance(length, str) else ()
    md = read_metric_table(data, metric, x, columns=columns, x_scale=x_scale, bounded=loss_column is None,
                           extra=extra)
    if loss_column is not None:
        if np.any(md.y < 0):
            raise ScalingLabError(f"{md.source}: column '{md.metric}' is a per-token loss (nats/token) "
                                  "and must be >= 0")
        p = np.exp(-md.y)
    else:
        p = md.y
    if length is None:
        raise ScalingLabError("metric choice: give the answer length in tokens (a number or a column name)")
    L = md.extra[length] if isinstance(length, str) else np.full(p.size, count_number("answer length", length))
    if np.any(~(L >= 1)):
        raise ScalingLabError(f"metric choice: the answer length must be >= 1 token, got {L[~(L >= 1)][0]:g}")
    with np.errstate(divide="ignore"):
        logp = np.log(p)
    table = pd.DataFrame({x: md.x, "p_token": p, "exact_match": p ** L, "edit_distance": L * (1 - p),
                          "neg_log_likelihood": -L * logp, "length": L})
    return table.sort_values(x, kind="stable").reset_index(drop=True), list(md.notes)


def _from_logprobs(data, x, logprob_column, example_column, columns, x_scale) -> tuple[pd.DataFrame, list[str]]:
    md = read_metric_table(data, logprob_column, x, columns=columns, x_scale=x_scale, bounded=False,
                           labels=(example_column,))
    if np.any(md.y > 1e-9):
        i = int(np.flatnonzero(md.y > 1e-9)[0])
        raise ScalingLabError(f"{md.source}: row {md.rows[i]}, column '{md.metric}': a log-probability must be "
                              f"<= 0, got {md.y[i]:g}")
    df = pd.DataFrame({"x": md.x, "example": md.labels[example_column], "lp": np.minimum(md.y, 0.0)})
    df["p"] = np.exp(df["lp"])
    df["miss"] = 1.0 - df["p"]
    per_ex = df.groupby(["x", "example"], sort=True).agg(sum_lp=("lp", "sum"), sum_miss=("miss", "sum"),
                                                         n_tok=("lp", "size"))
    per_ex["em"] = np.exp(per_ex["sum_lp"])
    by_model = per_ex.groupby(level="x")
    table = pd.DataFrame({
        x: by_model.size().index.to_numpy(float),
        "p_token": df.groupby("x")["p"].mean().to_numpy(),
        "exact_match": by_model["em"].mean().to_numpy(),
        "edit_distance": by_model["sum_miss"].mean().to_numpy(),
        "neg_log_likelihood": -by_model["sum_lp"].mean().to_numpy(),
        "length": by_model["n_tok"].mean().to_numpy(),
        "n_examples": by_model.size().to_numpy()})
    return table, list(md.notes) + ["metrics are expectations under the model's token probabilities"]


def emergence(data: str | os.PathLike | pd.DataFrame, metric: str = "accuracy", x: str = "flops", *,
              chance: float | None = None, ceiling: float | None = 1.0, bootstrap: int = 200, seed: int = 0,
              level: float = 0.95, alpha: float = 0.05, columns: Mapping[str, str] | None = None,
              x_scale: float = 1.0) -> dict[str, Any]:
    """Sigmoid of ``metric`` vs ``x`` (see :func:`~scalinglab.analysis.downstream.fit_sigmoid`) plus
    the smooth-vs-break test of the same curve. Keys: ``midpoint`` (log10 of x for flops/params/tokens,
    nats/token for loss; ``midpoint_<x>`` in x's units), ``slope`` (per decade, or per nat/token),
    ``floor``, ``ceiling``, ``ci``, ``transition_width``, ``smooth_vs_break`` (statistic, p_value,
    method, break_at in x's units, ...), ``verdict``, ``n_points``, ``notes``."""
    fit = fit_sigmoid(data, metric, x, chance, bootstrap, seed, ceiling=ceiling, level=level, columns=columns,
                      x_scale=x_scale)
    out = fit.to_dict()
    try:
        test = smooth_vs_break(10.0 ** fit.t if x in LOG_SCALES else fit.t, fit.y, smooth="sigmoid",
                               log_x=x in LOG_SCALES, chance=chance, ceiling=ceiling, bootstrap=bootstrap, seed=seed)
    except FitError as exc:
        test = {"statistic": None, "p_value": None, "method": "not run", "break_at": None, "note": str(exc)}
    out["smooth_vs_break"] = test
    p = test["p_value"]
    if p is None:
        out["verdict"] = "no break test (too few points or no bootstrap)"
    elif p < alpha:
        out["verdict"] = (f"a break fits better than a smooth sigmoid (p = {p:.3g}; {test['break_kind']}, "
                          f"break near {x} = {test['break_at']:.3g})")
    else:
        out["verdict"] = f"a smooth sigmoid explains the curve as well as a break (p = {p:.3g})"
    return out
