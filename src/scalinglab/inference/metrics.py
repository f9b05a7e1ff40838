"""Exact match vs per-token metrics: how a smooth per-token law looks like sudden "emergence".

Schaeffer, Miranda, Koyejo 2023, "Are Emergent Abilities of Large Language Models a Mirage?"
(NeurIPS 2023; references.md E4): with per-token probability p of the right token, an L-token exact match
has probability p^L (sharp in p), while token edit distance ~ L (1 - p) is linear in the per-token
error. A per-token loss that falls as a smooth power law in N therefore gives an exact-match curve
that looks like a jump. Reused by the analysis of emergence.

Serving efficiency from a measurement (used by :mod:`.speed`): MBU and MFU (Databricks/MosaicML 2023,
references.md C3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, count_array, finite_array, finite_number, finite_result
from scalinglab.inference.memory import positive_count
from scalinglab.inference.memory import positive_number as _positive
from scalinglab.plan.hardware import Device, get_device

# ---- exact match vs per-token metrics (Schaeffer et al. 2023, references.md E4) ----------------------------


def _probability(p: object) -> np.ndarray:
    return finite_array("per_token_p (probabilities)", p, low=0.0, high=1.0)


def _length(answer_length: object) -> int:
    return positive_count("answer_length (tokens)", answer_length)


def exact_match_curve(per_token_p: float | np.ndarray, answer_length: int) -> float | np.ndarray:
    """Exact match on an L-token answer, p^L (Schaeffer et al. 2023; references.md E4), vectorised over p.

    Assumes independent tokens each correct with probability p. Checks: p = 0.9 -> EM(5) 0.5905,
    EM(10) 0.3487, EM(30) 0.0424; p = 0.5 -> EM(5) 0.03125.
    """
    out = _probability(per_token_p) ** _length(answer_length)
    return float(out) if np.ndim(out) == 0 else out


def token_edit_distance(per_token_p: float | np.ndarray, answer_length: int) -> float | np.ndarray:
    """Expected token edit distance of an L-token answer, L (1 - p) tokens (Schaeffer et al. 2023).

    Linear in the per-token error, so smooth wherever p is. Check: p = 0.9, L = 10 -> 1.0 token.
    """
    out = _length(answer_length) * (1.0 - _probability(per_token_p))
    return float(out) if np.ndim(out) == 0 else out


def per_token_loss_power_law(n_params: float | np.ndarray, scale_params: float, alpha: float) -> np.ndarray:
    """Per-token cross-entropy L_CE(N) = (N / c)^alpha nats/token, alpha < 0 (Schaeffer et al. 2023 sec. 2)."""
    n, scale = count_array("n_params", n_params), _positive("scale_params", scale_params)
    a = finite_number("alpha", alpha)
    if not a < 0:
        raise ScalingLabError(f"alpha must be < 0 (loss falls with N), got {a:g}")
    with np.errstate(all="ignore"):
        return finite_result("per-token loss", (n / scale) ** a)


@dataclass(frozen=True, repr=False)
class MetricComparison(Displayed):
    """Both metrics vs N from one smooth per-token law: exact match looks sudden, edit distance does not."""

    _display = (("n_params", "parameters"), ("exact_match", "fraction"), ("per_token_loss", "nats/token"),
                ("answer_length", "tokens"))

    n_params: np.ndarray
    per_token_loss: np.ndarray  # nats/token
    per_token_p: np.ndarray  # exp(-loss)
    exact_match: np.ndarray  # p^L
    edit_distance: np.ndarray  # L (1 - p), tokens
    answer_length: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready columns."""
        return {"answer_length": self.answer_length, **{k: getattr(self, k).tolist() for k in
                ("n_params", "per_token_loss", "per_token_p", "exact_match", "edit_distance")}}


def metric_comparison(n_params: Sequence[float] | np.ndarray,
                      per_token_loss: Sequence[float] | np.ndarray | Callable[[np.ndarray], np.ndarray],
                      answer_length: int) -> MetricComparison:
    """Exact match p(N)^L and edit distance L (1 - p(N)) from a per-token loss, p(N) = exp(-L_CE(N)).

    ``per_token_loss``: nats/token at each N, or a callable N -> nats/token (e.g. a partial of
    :func:`per_token_loss_power_law`). Schaeffer et al. 2023: the jump is the metric's, not the model's.
    """
    n = count_array("n_params", n_params)
    loss = finite_array("per_token_loss (nats/token)", per_token_loss(n) if callable(per_token_loss)
                        else per_token_loss, low=0.0)
    if loss.shape != n.shape:
        raise ScalingLabError("per_token_loss must be finite nats/token >= 0, one per n_params value")
    p = np.exp(-loss)
    return MetricComparison(n, loss, p, np.asarray(exact_match_curve(p, answer_length)),
                            np.asarray(token_edit_distance(p, answer_length)), _length(answer_length))


# ---- serving efficiency from a measurement (references.md C3) ---------------------------------------------
def model_bandwidth_utilization(bytes_per_step: float, time_per_token_s: float, device: str | Device,
                                n_devices: int = 1, label: str | None = None) -> float:
    """MBU = bytes moved per step (weights + KV read) / measured time per output token / (K x peak
    bandwidth) (Databricks/MosaicML 2023; references.md C3). A value above 1 raises: the measurement or the
    byte count is wrong. ``label`` names the measurement in errors (e.g. the CLI flag)."""
    moved = _positive("bytes_per_step", bytes_per_step)
    seconds = _positive(label or "time_per_token_s", time_per_token_s)
    peak = positive_count("devices", n_devices) * get_device(device).bandwidth_bytes_per_s
    mbu = moved / seconds / peak
    if mbu > 1:
        shown = label or f"time_per_token_s={seconds:g}"
        raise ScalingLabError(f"{shown} implies MBU {mbu:.3g} > 1 ({moved:.4g} bytes per step at "
                              f"{peak:.4g} B/s): check the measurement, bytes_per_step, device and devices")
    return mbu


def model_flops_utilization(active_params: float, tokens_per_s: float, device: str | Device,
                            n_devices: int = 1, compute_dtype: str = "bf16", label: str | None = None) -> float:
    """Serving MFU = 2 x N_active x tokens/s / (K x dense peak FLOP/s) (forward only; tokens/s counts
    every token processed, all sequences together). A value above 1 raises."""
    n_active = _positive("active_params", active_params)
    rate = _positive(label or "tokens_per_s", tokens_per_s)
    peak = positive_count("devices", n_devices) * get_device(device).peak(compute_dtype)
    mfu = 2.0 * n_active * rate / peak
    if mfu > 1:
        raise ScalingLabError(f"{label or f'tokens_per_s={rate:g}'} implies MFU {mfu:.3g} > 1: check the "
                              "measurement, active_params, device and devices")
    return mfu
