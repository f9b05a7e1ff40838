"""Training FLOPs (a count, not a rate) of a transformer, by the published counting conventions.

Units: parameters N (scalar weights), tokens D, FLOPs (floating-point operations; a multiply-add is
2 FLOPs). Every convention counts the forward pass and takes the backward pass as 2x the forward, so
training FLOPs per token = 3 x forward FLOPs per token, and training FLOPs = per token x tokens.
L = n_layer, d = d_model, T = S = seq_len (tokens of context), V = vocab_size, H = n_heads,
Q = head_dim, kh = H*Q, F = d_ff (m = 3 matrices with a gated MLP, else 2).

Conventions (``convention=``):

* ``"6N"`` (Kaplan et al. 2020 sec. 2.1; Brown et al. 2020 App. D): 6 N per token. N is the total
  parameter count (``params="total"``, default: what GPT-3 Table D.1 and Llama 3 use, e.g.
  6 x 174.6e9 x 300e9 = 3.14e23 for GPT-3 175B) or Kaplan's non-embedding N (``"non_embedding"``).
* ``"kaplan"`` (Kaplan et al. 2020, Table 1 / Eq. 2.2): forward 2 N + 2 L T kh with N non-embedding
  (kh = d_attn, = d_model in standard shapes); the attention term is the causal average of QK^T and
  AV. Embedding (4 d) and de-embedding (2 d V) forward FLOPs are left out, as in Eq. 2.2.
* ``"chinchilla"`` (Hoffmann et al. 2022, Appendix F, without the embedding and logit terms):
  forward per token = L [2 d (kh + 2 kv) + 2 S kh + 3 H S + 2 S kh + 2 kh d + 2 m d F]
  (QKV projections, key@query logits, softmax, softmax@value, output projection, MLP; kv is the K/V
  width, = kh without GQA). This is the convention that REPRODUCES Table A4: divided by 6 N with
  Hoffmann et al.'s N (every weight matrix incl. one V x d embedding and the relative-position W_R;
  :meth:`Architecture.params_weight_matrices`) it gives 1.03, 1.10, 1.08, 1.04, 1.03, 0.99 for the
  73M .. 6.8B shapes (references.md A3).
* ``"chinchilla-appendix"``: Appendix F as printed, i.e. the above plus embeddings 2 V d and final
  logits 2 d V forward per token. It does NOT reproduce the paper's own Table A4: for the 73M shape
  it gives a ratio to 6N of 1.29 to 1.68 depending on which N is used (1.58 with Hoffmann's N).
* ``"palm"`` (Chowdhery et al. 2022, App. B): 6 N + 12 L H Q T per token, N total parameters
  (540.35e9 for PaLM 540B, shared embedding included); full, un-discounted attention.

Mixture-of-experts shapes count only the active experts in every convention (C = 6 N_active D):
routed experts chosen per token, shared experts and dense first layers (DeepSeek's
``first_k_dense_replace``) in full. Biases and norms enter only through N (6N, kaplan, palm); their own
FLOPs are sub-leading.

2024-2025 shapes (references.md C4). The context-dependent attention term is
``2 (kh + kv_out) x attended keys`` per token (kv_out = n_heads x v_head_dim, = kh except under MLA;
:meth:`Architecture.attention_score_flops_per_token`): kaplan counts T/2 keys per query and layer (the
causal average), palm and chinchilla T; a sliding-window layer (Mistral, Gemma-2's local layers) counts
at most W keys (causal average W - W^2/(2T) when W < T). Multi-head latent attention (DeepSeek-V2/V3)
enters through its parameters: the chinchilla projection term is 2 x every attention matrix, i.e. the
query and KV down- and up-projections as well as the output (the training-time, non-absorbed form), and
its logits use the query/key head width (non-rotary + rotary) while its AV uses v_head_dim.
"""

from __future__ import annotations

import math
import os
from typing import Any, Union

from scalinglab.counting import FLOPS_PER_PARAM_TOKEN, PF_DAY_FLOPS, SECONDS_PER_HOUR
from scalinglab.errors import ScalingLabError, finite_number, finite_result, non_negative_number
from scalinglab.errors import plain_repr as _show
from scalinglab.plan.architecture import Architecture
from scalinglab.plan.hardware import Device, training_time
from scalinglab.plan.presets import get_architecture, list_architectures

__all__ = [
    "CONVENTIONS", "PARAM_CHOICES", "Architecture", "counted_params", "flops_from_pf_days", "flops_per_token",
    "flops_report", "forward_flops_per_token", "get_architecture", "gpu_hours", "list_architectures", "pf_days",
    "ratio_to_6n", "training_flops", "training_mfu",
]

CONVENTIONS = ("6N", "kaplan", "chinchilla", "chinchilla-appendix", "palm")
PARAM_CHOICES = ("total", "non_embedding")
_TAKES_PARAMS = ("6N", "palm")

ArchLike = Union[Architecture, str, "os.PathLike[str]"]


def _convention(convention: str) -> str:
    for name in CONVENTIONS:
        if isinstance(convention, str) and convention.strip().lower() == name.lower():
            return name
    raise ScalingLabError(f"unknown FLOP convention {_show(convention)}; known: {', '.join(CONVENTIONS)}")


def _params_choice(convention: str, params: str | None) -> str | None:
    if params is None:
        return "total" if convention in _TAKES_PARAMS else None
    if convention not in _TAKES_PARAMS:
        raise ScalingLabError(f"params={_show(params)} applies only to the 6N and palm conventions, "
                              f"not to {_show(convention)} (which fixes its own N)")
    if params not in PARAM_CHOICES:
        raise ScalingLabError(f"params must be one of {', '.join(PARAM_CHOICES)}; got {_show(params)}")
    return params


def counted_params(arch: ArchLike, convention: str = "6N", *, params: str | None = None) -> int:
    """The N a convention divides by or multiplies (parameters): total or non-embedding (active only
    for MoE) for 6N/palm, non-embedding for kaplan, every weight matrix for the chinchilla ones."""
    a, conv = get_architecture(arch), _convention(convention)
    choice = _params_choice(conv, params)
    if conv in ("chinchilla", "chinchilla-appendix"):
        return a.params_weight_matrices() - a.inactive_params(biases=False)
    return a.active_params(embeddings=conv != "kaplan" and choice == "total")


def _chinchilla_core(a: Architecture) -> float:
    """Hoffmann et al. 2022 App. F forward FLOPs per token, attention + MLP of all layers:
    projections 2 x (Q, K, V, output matrices; W_R excluded; all MLA projections), per attended key
    2 kh (logits) + 3 H (softmax) + 2 kv_out (AV) summed over layers (T keys, or the window), and 2 x
    the active MLP matrices (the router excluded)."""
    projections = a.attention_params_per_layer(biases=False)
    if a.position == "relative-xl":
        projections -= a.d_model * a.attention_width
    per_key = 2 * a.attention_width + 3 * a.n_heads + 2 * a.value_width
    keys = a.attended_keys(a.seq_len, causal=False)
    return float(2 * a.n_layer * projections + per_key * keys + 2 * a.active_mlp_weights())


def forward_flops_per_token(arch: ArchLike, convention: str = "6N", *, params: str | None = None) -> float:
    """Forward-pass FLOPs per token (a count) under ``convention``; training is 3x this."""
    a, conv = get_architecture(arch), _convention(convention)
    n = counted_params(a, conv, params=params)
    if conv == "6N":
        return 2.0 * n
    if conv == "kaplan":  # 2 L T kh for a plain causal transformer
        return 2.0 * n + a.attention_score_flops_per_token(a.seq_len, causal=True)
    if conv == "palm":  # 4 L H Q T: full, un-discounted attention
        return 2.0 * n + a.attention_score_flops_per_token(a.seq_len, causal=False)
    core = _chinchilla_core(a)
    if conv == "chinchilla-appendix":
        core += 4.0 * a.vocab_size * a.d_model  # embeddings 2 V d + final logits 2 d V
    return core


def flops_per_token(arch: ArchLike, convention: str = "6N", *, params: str | None = None) -> float:
    """Training FLOPs per token (forward + backward = 3 x forward), e.g. 6 N for ``"6N"``."""
    return 3.0 * forward_flops_per_token(arch, convention, params=params)


def training_flops(arch: ArchLike, tokens: float, convention: str = "6N", *, params: str | None = None) -> float:
    """Training FLOPs (a count) for ``tokens`` training tokens: ``flops_per_token x tokens``."""
    d = finite_number("tokens", tokens, low=1.0)  # a token count below 1 is not a count
    flops = flops_per_token(arch, convention, params=params) * d
    if not math.isfinite(flops):
        raise ScalingLabError(f"tokens = {d:g} gives a training FLOP count beyond the float range (overflow); "
                              "give a realistic token count")
    return flops


def ratio_to_6n(arch: ArchLike, convention: str = "chinchilla") -> float:
    """``flops_per_token / (6 N)`` with the convention's own N (:func:`counted_params`): Hoffmann et al.
    2022 Table A4's ratio for ``"chinchilla"`` (1.03 for the 73M shape)."""
    return flops_per_token(arch, convention) / (FLOPS_PER_PARAM_TOKEN * counted_params(arch, convention))


def training_mfu(arch: ArchLike, tokens_per_s: float, peak_flops_per_s: float,
                            convention: str = "palm", *, params: str | None = None) -> float:
    """Training MFU, a fraction: ``tokens_per_s x flops_per_token(arch, convention) / peak_flops_per_s``
    (not checked against 1: a value above 1 means a wrong peak or a wrong rate).

    Units: tokens/s (training tokens per second of ONE device), peak in FLOP/s (dense, the dtype the
    model trains in: :meth:`scalinglab.plan.hardware.Device.peak`). The default convention is PaLM's
    MFU definition (Chowdhery et al. 2022, App. B): 6 N + 12 L H Q T FLOPs per token, N all parameters.
    GPT-2 small (124,439,808 parameters, 12 layers of 12 heads of 64, context 1,024) at 100,000
    tokens/s on an H100 SXM (989.4e12 bf16 FLOP/s): 1e5 x 859,885,056 / 989.4e12 = 8.69%."""
    rate = non_negative_number("tokens_per_s", tokens_per_s)
    peak = finite_number("peak_flops_per_s", peak_flops_per_s)
    if peak <= 0:
        raise ScalingLabError(f"peak_flops_per_s must be > 0, got {_show(peak_flops_per_s)}")
    return rate * flops_per_token(arch, convention, params=params) / peak


def pf_days(flops: float) -> float:
    """FLOPs (a count) -> PF-days: ``flops / 8.64e19`` (1 PF-day = 1e15 FLOP/s for 86,400 s)."""
    return non_negative_number("flops", flops) / PF_DAY_FLOPS


def flops_from_pf_days(days: float) -> float:
    """PF-days -> FLOPs (a count): ``days x 8.64e19``."""
    return finite_result("FLOPs", non_negative_number("pf_days", days) * PF_DAY_FLOPS)


def gpu_hours(flops: float, device: str | Device = "h100-sxm", mfu: float = 1.0, dtype: str = "bf16") -> float:
    """FLOPs (a count) -> device-hours on ``device`` at model FLOPs utilisation ``mfu``:
    C / (dense peak FLOP/s x MFU) / 3600 (references.md A5). With the default MFU of 1 this is the
    ideal lower bound; real runs reach ~0.35-0.45 (references.md A4). Wall time on K devices is this / K."""
    return training_time(flops, device, 1, mfu, dtype) / SECONDS_PER_HOUR


def flops_report(arch: ArchLike, tokens: float, convention: str = "6N", *,
                 params: str | None = None) -> dict[str, Any]:
    """Counts and training FLOPs as a dict (the ``scalinglab flops --json`` contract): ``params``
    (total), ``params_non_embedding``, ``flops_per_token``, ``flops``, plus ``convention``,
    ``pf_days``, ``tokens``, ``active_params``, ``params_counted`` (the N the convention used),
    ``architecture`` and ``seq_len``."""
    a, conv = get_architecture(arch), _convention(convention)
    flops = training_flops(a, tokens, conv, params=params)
    return {
        "architecture": a.name,
        "convention": conv,
        "params": a.params(),
        "params_non_embedding": a.params_non_embedding(),
        "active_params": a.active_params(),
        "params_counted": counted_params(a, conv, params=params),
        "seq_len": a.seq_len,
        "tokens": float(tokens),
        "flops_per_token": flops_per_token(a, conv, params=params),
        "flops": flops,
        "pf_days": pf_days(flops),
    }
