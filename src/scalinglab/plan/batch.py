"""Batch size: Kaplan's critical batch, McCandlish's gradient noise scale, DeepSeek's batch and LR rules.

Units: batch sizes in tokens for the Kaplan and DeepSeek laws (B_crit, B_opt), in examples (rows of a
gradient batch, whatever the user measured) for the noise scale; loss in nats/token; compute in FLOPs
(a count); steps in optimizer steps. Formulas and checks: references.md B1-B3.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, finite_result, positive_array, table_path
from scalinglab.errors import plain_repr as _show
from scalinglab.errors import positive_number as _positive
from scalinglab.tables import read_table

__all__ = [
    "KAPLAN_EQ_5_3", "KAPLAN_FIG_10", "critical_batch_size", "min_steps", "min_compute",
    "NoiseScale", "noise_scale_two_batch", "noise_scale_from_table", "BatchTradeoff",
    "steps_examples_tradeoff", "deepseek_learning_rate", "deepseek_batch_tokens",
]

#: Kaplan et al. 2020 Eq. 5.3 text: B_* ~ 2e8 tokens, alpha_B ~ 0.21 (the default).
KAPLAN_EQ_5_3: tuple[float, float] = (2e8, 0.21)
#: Kaplan et al. 2020 Fig. 10 legend: B_crit = 2.1e8 tokens x L^-4.8, i.e. alpha_B = 1/4.8.
KAPLAN_FIG_10: tuple[float, float] = (2.1e8, 1 / 4.8)

_LN_FLOAT_MAX = math.log(sys.float_info.max)  # 709.78: larger critical batches overflow a float
_LN_TINY = math.log(1e-300)  # smaller ones are denormal or zero
_KAPLAN_RANGE = "check the loss (nats/token on Kaplan's WebText2 scale) and alpha_B (Kaplan: 0.21)"



def critical_batch_size(loss: float, b_star_tokens: float = KAPLAN_EQ_5_3[0],
                        alpha_b: float = KAPLAN_EQ_5_3[1]) -> float:
    """Kaplan et al. 2020 (sec. 5.1, Eq. 5.3) critical batch in tokens: B_crit(L) = B_* / L^(1/alpha_B).

    ``loss`` L in nats/token (WebText2, GPT-2 BPE). Defaults (2e8, 0.21) give B_crit(3) = 1.069e6
    tokens; the Fig. 10 fit :data:`KAPLAN_FIG_10` (2.1e8, 1/4.8) gives 1.077e6. B_crit depends on the
    loss reached, not on the model size.

    Computed in log space, ln B_crit = ln B_* - ln(L) / alpha_B, so that extreme inputs give a clear
    ScalingLabError naming them (a critical batch beyond the float range, or below 1e-300 tokens)
    instead of a ZeroDivisionError, OverflowError or inf.
    """
    loss_v = _positive("loss", loss)
    b_star, alpha = _positive("b_star_tokens", b_star_tokens), _positive("alpha_b", alpha_b)
    ln_b = math.log(b_star) - math.log(loss_v) / alpha
    if not ln_b <= _LN_FLOAT_MAX:
        raise ScalingLabError(f"critical batch B_* / L^(1/alpha_B) = exp({ln_b:.4g}) tokens overflows at loss "
                              f"{loss_v:g}, B_* {b_star:g}, alpha_B {alpha:g}: {_KAPLAN_RANGE}")
    if ln_b < _LN_TINY:
        raise ScalingLabError(f"critical batch B_* / L^(1/alpha_B) = exp({ln_b:.4g}) tokens underflows at loss "
                              f"{loss_v:g}, B_* {b_star:g}, alpha_B {alpha:g}: {_KAPLAN_RANGE}")
    return math.exp(ln_b)


def min_steps(steps: float, batch_tokens: float, critical_batch_tokens: float) -> float:
    """Kaplan Eq. 5.4: S_min = S / (1 + B_crit/B), fewest steps to the same loss (at B >> B_crit).

    At B = 2^19 tokens and L = 3 (B_crit 1.069e6): S_min/S = 0.329.
    """
    s = _positive("steps", steps)
    b_crit = _positive("critical_batch_tokens", critical_batch_tokens)
    return s / (1.0 + b_crit / _positive("batch_tokens", batch_tokens))


def min_compute(flops: float, batch_tokens: float, critical_batch_tokens: float) -> float:
    """Kaplan Eq. 5.5: C_min = C / (1 + B/B_crit) FLOPs, least compute to the same loss (at B << B_crit).

    At B = 2^19 tokens and L = 3: C_min/C = 0.671.
    """
    c = _positive("flops", flops)
    b_crit = _positive("critical_batch_tokens", critical_batch_tokens)
    return c / (1.0 + _positive("batch_tokens", batch_tokens) / b_crit)


@dataclass(frozen=True, repr=False)
class NoiseScale(Displayed):
    """Simple gradient noise scale (McCandlish et al. 2018): B_simple = tr(Sigma) / |G|^2.

    b_simple in examples (the unit of ``batch_size``); grad_sq_norm = |G|^2 (true-gradient squared norm);
    trace_sigma = tr(Sigma) (per-example gradient covariance trace); method: "two_batch" or "lstsq";
    batch_sizes: the distinct batch sizes used; n_rows: measurements used.
    """

    _display = (("b_simple", "examples"), ("grad_sq_norm", ""), ("trace_sigma", ""), ("method", ""),
                ("n_rows", "rows"))

    b_simple: float
    grad_sq_norm: float
    trace_sigma: float
    method: str
    batch_sizes: list[float]
    n_rows: int

    def to_dict(self) -> dict:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def _finish(g2: float, tr: float, method: str, sizes: list[float], n_rows: int) -> NoiseScale:
    if not g2 > 0:
        raise ScalingLabError(f"estimated |G|^2 = {g2:.4g} <= 0: the gradient signal is lost in the noise at "
                              "these batch sizes; average more measurements or use a larger big batch")
    if not tr > 0:
        raise ScalingLabError(f"estimated tr(Sigma) = {tr:.4g} <= 0: squared gradient norms should fall as the "
                              "batch size grows; check the batch_size and grad_sq_norm columns")
    finite_result("noise scale", [tr / g2, g2, tr], "the squared norms given are out of the float range")
    return NoiseScale(tr / g2, g2, tr, method, sizes, n_rows)


def noise_scale_two_batch(b_small: float, grad_sq_small: float | Sequence[float], b_big: float,
                          grad_sq_big: float | Sequence[float]) -> NoiseScale:
    """Unbiased two-batch estimator (McCandlish et al. 2018, App. A.1; references.md B1).

    |G|^2 = (B_big |G_Bbig|^2 - B_small |G_Bsmall|^2) / (B_big - B_small)
    tr(Sigma) = (|G_Bsmall|^2 - |G_Bbig|^2) / (1/B_small - 1/B_big)
    B_simple = tr(Sigma) / |G|^2. The squared norms may be arrays of repeated measurements: they are
    averaged first, so numerator and denominator are averaged separately before the one division (the
    ratio of per-measurement ratios is biased).
    """
    bs, bb = _positive("b_small", b_small), _positive("b_big", b_big)
    if not bb > bs:
        raise ScalingLabError(f"b_big ({_show(b_big)}) must be larger than b_small ({_show(b_small)})")
    small, big = _mean_positive("grad_sq_small", grad_sq_small), _mean_positive("grad_sq_big", grad_sq_big)
    g2 = (bb * big[0] - bs * small[0]) / (bb - bs)
    tr = (small[0] - big[0]) / (1.0 / bs - 1.0 / bb)
    return _finish(g2, tr, "two_batch", [bs, bb], small[1] + big[1])


def _mean_positive(name: str, values: float | Sequence[float]) -> tuple[float, int]:
    arr = np.atleast_1d(positive_array(name, values))
    return float(finite_result(f"mean {name}", np.mean(arr))), int(arr.size)


def _noise_table(data: str | Path | pd.DataFrame) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        df, name = data, "<DataFrame>"
    else:
        df, name = read_table(table_path("noise-scale table", data), str(data)), str(data)
    cols = {str(c).strip().lower(): c for c in df.columns}
    missing = [c for c in ("batch_size", "grad_sq_norm") if c not in cols]
    if missing:
        raise ScalingLabError(f"{name}: missing column(s) {', '.join(missing)} "
                              f"(need batch_size, grad_sq_norm; found {', '.join(map(str, df.columns))})")
    out = pd.DataFrame({c: pd.to_numeric(df[cols[c]], errors="coerce") for c in ("batch_size", "grad_sq_norm")})
    for c in out.columns:
        bad = ~np.isfinite(out[c].to_numpy(dtype=float)) | (out[c].to_numpy(dtype=float) <= 0)
        if bad.any():
            row = int(np.argmax(bad)) + 1
            raise ScalingLabError(f"{name}: row {row}: {c} must be a number > 0, got "
                                  f"{_show(df[cols[c]].iloc[row - 1])}")
    if out["batch_size"].nunique() < 2:
        raise ScalingLabError(f"{name}: needs grad_sq_norm at 2 or more distinct batch sizes, "
                              f"found {out['batch_size'].nunique()}")
    return out


def noise_scale_from_table(data: str | Path | pd.DataFrame, method: str = "two_batch") -> NoiseScale:
    """B_simple from a table with columns ``batch_size`` (examples) and ``grad_sq_norm`` (|G_B|^2).

    Rows hold measured squared norms of batch-averaged gradients, several rows per batch size allowed.
    ``method="two_batch"``: the unbiased two-batch estimator (:func:`noise_scale_two_batch`) on the
    smallest and largest batch sizes only (rows in between are ignored). ``method="lstsq"``: ordinary
    least squares of E|G_B|^2 = |G|^2 + tr(Sigma)/B on 1/B over all rows (intercept |G|^2, slope
    tr(Sigma)); with two batch sizes it equals the two-batch estimator.
    """
    df = _noise_table(data)
    if method == "two_batch":
        lo, hi = df["batch_size"].min(), df["batch_size"].max()
        return noise_scale_two_batch(lo, df.loc[df["batch_size"] == lo, "grad_sq_norm"], hi,
                                     df.loc[df["batch_size"] == hi, "grad_sq_norm"])
    if method == "lstsq":
        x = 1.0 / df["batch_size"].to_numpy(dtype=float)
        y = df["grad_sq_norm"].to_numpy(dtype=float)
        slope, intercept = np.polyfit(x, y, 1)
        sizes = sorted(float(b) for b in df["batch_size"].unique())
        return _finish(float(intercept), float(slope), "lstsq", sizes, len(df))
    raise ScalingLabError(f"unknown noise-scale method '{method}'; known: two_batch, lstsq")


@dataclass(frozen=True, repr=False)
class BatchTradeoff(Displayed):
    """Steps and examples to reach a fixed loss at one batch size (McCandlish et al. 2018; references.md B1).

    S = S_min (1 + B_crit/B), E = E_min (1 + B/B_crit), B_crit = E_min/S_min, so (S/S_min - 1)(E/E_min - 1) = 1.
    Units: batch_size and examples in examples (or tokens, consistently), steps in optimizer steps.
    """

    _display = (("batch_size", "examples"), ("steps", "steps"), ("examples", "examples"),
                ("critical_batch", "examples"))

    batch_size: float
    steps: float
    examples: float
    critical_batch: float

    def to_dict(self) -> dict:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def steps_examples_tradeoff(batch_size: float, s_min: float, e_min: float) -> BatchTradeoff:
    """Steps and examples needed at ``batch_size`` given S_min (steps) and E_min (examples).

    See :class:`BatchTradeoff`.

    S_min = 1000, E_min = 1e6: B = 100 -> S = 11,000, E = 1.1e6; B = 1000 -> 2000, 2e6 (references.md B1).
    """
    b = _positive("batch_size", batch_size)
    s_min, e_min = _positive("s_min", s_min), _positive("e_min", e_min)
    b_crit = e_min / s_min
    out = (b, s_min * (1.0 + b_crit / b) if b_crit < math.inf else math.inf,
           e_min * (1.0 + b / b_crit) if b_crit > 0 else math.inf, b_crit)
    finite_result("steps/examples trade-off", [*out, 1.0 / b_crit if b_crit > 0 else math.inf],
                  "E_min / S_min, the critical batch, is out of the float range")
    return BatchTradeoff(*out)


def deepseek_learning_rate(flops: float) -> float:
    """DeepSeek LLM 2024 (arXiv 2401.02954, sec. 3, Eq. 1): eta_opt = 0.3118 C^-0.1250.

    C in FLOPs with DeepSeek's model scale M = non-embedding FLOPs/token incl. attention (C = M D).
    C = 1e20 -> 9.86e-4 (references.md B3).
    """
    return 0.3118 * _positive("flops", flops) ** -0.1250


def deepseek_batch_tokens(flops: float) -> float:
    """DeepSeek LLM 2024 (sec. 3, Eq. 1): B_opt = 0.2920 C^0.3271 tokens. C = 1e20 -> 1.017e6 tokens."""
    return 0.2920 * _positive("flops", flops) ** 0.3271
