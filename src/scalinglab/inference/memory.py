"""Memory needed to serve a decoder-only transformer: weights, KV cache, prefill workspace, fit checks.

All sizes are in BYTES (1 GB = 1e9 bytes, 1 GiB = 2**30 bytes; only human output converts, labelled).
Parameter counts are ALL parameters, embeddings and output head included (:meth:`Architecture.params`),
because serving holds every weight in memory; for mixture-of-experts models that is every expert (the
active count, :meth:`Architecture.active_params`, only sets the FLOPs, see :mod:`.speed`).

Formulas (references.md C1-C2):

* Weights (C1): ``weights_bytes = n_params x bytes_per_weight``; fp32 4, bf16/fp16 2, fp8/int8 1, int4 0.5
  bytes. Grouped int4 quantisation (GPTQ/AWQ style) adds one scale of ``scale_bytes`` (default 2: an fp16
  scale) per ``group_size`` weights (default 128) and, with ``zero_point=True``, one zero of the same size:
  int4 at group 128 with an fp16 scale = 4 + 16/128 = 4.125 bits per weight. Every weight (embeddings too)
  is assumed stored in the one weight dtype.
* KV cache (C2; kipply, Databricks, scaling book): ``kv_bytes_per_token = 2 (K and V) x n_layer x
  n_kv_heads x head_dim x bytes_per_element``; MHA (n_kv_heads = n_heads), GQA and MQA (n_kv_heads = 1)
  all follow from ``n_kv_heads``. Per sequence x context tokens, per batch x batch. KV quantisation is a
  ``kv_dtype`` (fp8/int8 1 byte, int4 0.5 byte; their scales are not counted). Llama-2-70B bf16: 327,680
  bytes per token, 0.3125 GiB per 1,024-token sequence.
* Bounded KV (C4): a sliding-window layer keeps only its last ``sliding_window`` tokens, so
  ``kv_bytes_per_sequence = elements per layer-token x bytes x ((n_layer - n_local) T + n_local min(T, W))``
  (Mistral-7B, W = 4,096 on all 32 layers: at 32,768 tokens 0.5 GiB instead of 4 GiB; Gemma-2: half the
  layers). Multi-head latent attention (DeepSeek-V2/V3) caches the compressed latent and the decoupled
  rotary key, ``kv_lora_rank + rope_head_dim`` elements per token per layer (DeepSeek-V2 paper
  arXiv:2405.04434 sec. 2.1, Table 1: (d_c + d_h^R) l); DeepSeek-V3 bf16: 61 x 576 x 2 = 70,272 bytes per
  token. ``kv_bytes_per_token`` is the cost of a token held by every layer (context within the window).
* Prefill workspace (named estimate, not a measurement): inference frees each layer's activations before
  the next, and FlashAttention-style kernels never hold the T x T scores, so the live set while one layer
  runs over ``prefill_tokens`` tokens is about ``prefill_tokens x (2 d_model + m x active MLP width) x
  activation_bytes``: the residual stream and one normalised copy (2 d_model) plus the MLP hidden (m = 2
  for a gated MLP, whose gate and up outputs coexist, else 1; the active width is d_ff, or
  n_active_experts x d_ff_expert + d_ff_shared for MoE). One such tensor of width d_model is
  the scaling book's "per-activation" size (LLaMA-13B, 8,192 tokens: 8192 x 5120 x 2 bytes = 80 MiB).
  Logits are assumed computed for the last position only, as serving engines do.
* Tensor parallelism over K devices (Megatron-style): weights and workspace split K ways; the KV cache
  splits over ``min(K, n_kv_heads)`` shards (with fewer KV heads than devices the heads are replicated;
  an MLA latent is shared by all heads, so it is replicated: 1 shard).
  A configuration fits when every device's share <= ``usable_memory_fraction`` x its memory.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any, Union

from scalinglab.counting import DTYPE_BYTES
from scalinglab.display import Displayed
from scalinglab.errors import (  # noqa: F401 (re-exported)
    ScalingLabError,
    finite_result,
    fraction,
    non_negative_number,
    plain_repr,
    positive_count,
    positive_number,
)
from scalinglab.plan.architecture import Architecture
from scalinglab.plan.hardware import Device, get_device
from scalinglab.plan.presets import get_architecture

__all__ = [
    "WEIGHT_DTYPE_BYTES", "DEFAULT_INT4_GROUP_SIZE", "ModelLike", "MemoryReport", "plain_repr", "positive_count",
    "fraction", "bytes_per_element", "bytes_per_weight", "weights_bytes", "kv_bytes_per_token",
    "kv_bytes_per_sequence", "kv_cache_bytes", "kv_window_note", "expert_weights_bytes", "EXPERT_ROUTINGS", "experts_touched",
    "non_negative_number", "positive_number", "context_note", "activation_bytes_per_tensor",
    "prefill_workspace_bytes", "kv_shards", "memory_report", "max_batch", "max_context", "fits",
]

ModelLike = Union[Architecture, str, "os.PathLike[str]"]

#: Bytes per stored element for weights and KV cache (before any grouped-scale overhead): the storage
#: dtypes of :data:`scalinglab.counting.DTYPE_BYTES` (the one table; tf32 is a compute format, not a
#: storage one, so it stays out of this list, as before).
WEIGHT_DTYPE_BYTES: dict[str, float] = {k: DTYPE_BYTES[k] for k in ("fp32", "bf16", "fp16", "fp8", "int8", "int4")}
#: Weights per fp16 scale in grouped int4 quantisation unless ``group_size`` is given (GPTQ/AWQ's 128).
DEFAULT_INT4_GROUP_SIZE: int = 128


# ---- validation: fraction, non_negative_number, positive_number, positive_count (scalinglab.errors) ----
def _model(model: ModelLike) -> Architecture:
    return get_architecture(model)


# ---- weights ---------------------------------------------------------------------------------------
def bytes_per_element(dtype: str, field: str = "dtype") -> float:
    """Bytes of one stored element of ``dtype`` (fp32 4, bf16/fp16 2, fp8/int8 1, int4 0.5; references.md C1)."""
    key = str(dtype).strip().lower()
    if key not in WEIGHT_DTYPE_BYTES:
        raise ScalingLabError(f"{field} '{dtype}' is unknown; known: {', '.join(WEIGHT_DTYPE_BYTES)}")
    return WEIGHT_DTYPE_BYTES[key]


def bytes_per_weight(dtype: str = "bf16", *, group_size: int | None = None, scale_bytes: float = 2.0,
                     zero_point: bool = False) -> float:
    """Bytes per weight including grouped-quantisation scales (and zeros).

    ``element + (scale_bytes x (2 if zero_point else 1)) / group_size``. ``group_size`` None means the
    dtype's default: 128 for int4, no scales for the others (per-channel scales of fp8/int8 are
    negligible); give it to add scales to any dtype. ``scale_bytes=0`` drops the overhead (pure 0.5 B).
    int4, group 128, fp16 scale: 0.5 + 2/128 = 0.515625 bytes (4.125 bits).
    """
    element = bytes_per_element(dtype)
    if group_size is None:
        if str(dtype).strip().lower() != "int4":
            return element
        group_size = DEFAULT_INT4_GROUP_SIZE
    group = positive_count("group_size", group_size)
    scale = non_negative_number("scale_bytes", scale_bytes)
    return finite_result("bytes per weight", element + scale * (2 if zero_point else 1) / group)


def weights_bytes(model: ModelLike, dtype: str = "bf16", *, group_size: int | None = None,
                  scale_bytes: float = 2.0, zero_point: bool = False) -> float:
    """Weight memory in bytes = all parameters (embeddings, every expert) x :func:`bytes_per_weight`.

    Llama-2-70B preset (68.98e9 parameters) in bf16: 137.95e9 bytes, about 138 GB (references.md C1: ~140 GB
    for a nominal 70e9).
    """
    per_weight = bytes_per_weight(dtype, group_size=group_size, scale_bytes=scale_bytes, zero_point=zero_point)
    return _model(model).params() * per_weight


def expert_weights_bytes(model: ModelLike, dtype: str = "bf16", **quantisation: Any) -> float:
    """Bytes of every routed expert of every MoE layer (0 for a dense model): the part of
    :func:`weights_bytes` a mixture-of-experts decode step reads only partly (:mod:`.speed`); routers,
    shared experts and dense first layers are read in full and are not counted here."""
    arch = _model(model)
    if arch.n_experts <= 1:
        return 0.0
    return arch.n_moe_layers * arch.n_experts * arch.expert_params() * bytes_per_weight(dtype, **quantisation)


EXPERT_ROUTINGS = ("independent", "all")

def experts_touched(n_experts: int, n_active_experts: int, tokens: float, routing: str = "independent") -> float:
    """Expected distinct experts of one layer read by ``tokens`` tokens each routed to k = ``n_active_experts``
    of E = ``n_experts``: ``E (1 - (1 - k/E)^tokens)`` under independent uniform routing (k at one token,
    -> E for many); E with ``routing="all"``. Dense models (E = 1): 1."""
    e, k = positive_count("n_experts", n_experts), positive_count("n_active_experts", n_active_experts)
    key = str(routing).strip().lower()
    if key not in EXPERT_ROUTINGS:
        raise ScalingLabError(f"expert_routing '{routing}' is unknown; known: {', '.join(EXPERT_ROUTINGS)}")
    if k > e:
        raise ScalingLabError(f"n_active_experts={k} exceeds n_experts={e}")
    if key == "all" or k == e:
        return float(e)
    return -e * math.expm1(non_negative_number("tokens", tokens) * math.log1p(-k / e))



def context_note(model: ModelLike, tokens: int, what: str = "context") -> str:
    """A warning when ``tokens`` exceeds the model's trained context (``Architecture.seq_len``), else ""."""
    arch = _model(model)
    if positive_count(what, tokens) <= arch.seq_len:
        return ""
    return (f"{what} {tokens:,} tokens exceeds {arch.name}'s trained context of {arch.seq_len:,} tokens: "
            "the numbers are memory/speed arithmetic only; quality past the trained length is not implied")


# ---- KV cache --------------------------------------------------------------------------------------
def kv_bytes_per_token(model: ModelLike, kv_dtype: str = "bf16") -> float:
    """KV-cache bytes per token held by every layer = n_layer x elements per layer-token x bytes:
    2 x n_kv_heads x head_dim elements (references.md C2), or kv_lora_rank + rope_head_dim under MLA
    (references.md C4). Past a sliding window the cost per token of context falls (:func:`kv_bytes_per_sequence`).

    Llama-2-70B (80, 8, 128) bf16: 327,680; Llama-3-8B (32, 8, 128): 131,072; DeepSeek-V3: 70,272.
    """
    arch = _model(model)
    return float(arch.n_layer * arch.kv_elements_per_layer_token) * bytes_per_element(kv_dtype, "kv_dtype")


def kv_bytes_per_sequence(model: ModelLike, context_tokens: int, kv_dtype: str = "bf16") -> float:
    """KV-cache bytes of one sequence of ``context_tokens`` tokens = elements per layer-token x bytes x
    :meth:`Architecture.kv_cached_layer_tokens` (sliding-window layers hold at most the window;
    references.md C2, C4). Without a window: kv_bytes_per_token x context."""
    arch = _model(model)
    layer_tokens = arch.kv_cached_layer_tokens(positive_count("context", context_tokens))
    return float(arch.kv_elements_per_layer_token * layer_tokens) * bytes_per_element(kv_dtype, "kv_dtype")


def kv_cache_bytes(model: ModelLike, context_tokens: int, batch: int = 1, kv_dtype: str = "bf16") -> float:
    """KV-cache bytes for ``batch`` sequences of ``context_tokens`` tokens each (references.md C2, C4).

    Llama-2-70B bf16, 1,024 tokens: 335,544,320 bytes (0.3125 GiB) per sequence, 5 GiB at batch 16.
    Mistral-7B bf16, 32,768 tokens: 536,870,912 bytes (4,096-token window; 8x below the unbounded 4 GiB).
    """
    return kv_bytes_per_sequence(model, context_tokens, kv_dtype) * positive_count("batch", batch)


def kv_window_note(model: ModelLike, context_tokens: int) -> str:
    """A note when a sliding window bounds the KV cache at ``context_tokens``, else ""."""
    arch = _model(model)
    t = positive_count("context", context_tokens)
    if arch.sliding_window is None or t <= arch.sliding_window or not arch.n_windowed_layers:
        return ""
    bounded = arch.kv_cached_layer_tokens(t) / (arch.n_layer * t)
    return (f"KV cache bounded by the {arch.sliding_window:,}-token sliding window on {arch.n_windowed_layers} of "
            f"{arch.n_layer} layers: {bounded:.3g} of the unbounded cache at {t:,} tokens")


def kv_shards(model: ModelLike, n_devices: int) -> int:
    """Ways the KV cache splits under tensor parallelism: ``min(n_devices, n_kv_heads)``; 1 under MLA (the
    latent is shared by every head, so each device keeps all of it)."""
    arch, k = _model(model), positive_count("devices", n_devices)
    return 1 if arch.is_latent_attention else min(k, arch.n_kv_heads)  # type: ignore[type-var]


# ---- prefill workspace -----------------------------------------------------------------------------
def activation_bytes_per_tensor(model: ModelLike, tokens: int, activation_dtype: str = "bf16") -> float:
    """One activation of width d_model over ``tokens`` tokens: tokens x d_model x bytes (scaling book,
    inference chapter: LLaMA-13B, 8,192 tokens, bf16 = 83,886,080 bytes = 80 MiB)."""
    arch = _model(model)
    return positive_count("tokens", tokens) * arch.d_model * bytes_per_element(activation_dtype, "activation_dtype")


def prefill_workspace_bytes(model: ModelLike, prefill_tokens: int, activation_dtype: str = "bf16") -> float:
    """Peak live activations while prefilling ``prefill_tokens`` tokens (see module doc):
    ``prefill_tokens x (2 d_model + m x active MLP width) x activation_bytes``, m = 2 if gated; the active
    width is d_ff, or n_active_experts x d_ff_expert + d_ff_shared (:meth:`Architecture.active_mlp_width`)."""
    arch = _model(model)
    width = 2 * arch.d_model + (2 if arch.gated_mlp else 1) * arch.active_mlp_width()
    tokens = positive_count("prefill_tokens", prefill_tokens)
    return tokens * width * bytes_per_element(activation_dtype, "activation_dtype")


# ---- report and fit checks -------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class MemoryReport(Displayed):
    """Serving memory of one configuration. Every ``*_bytes`` field is in bytes.

    ``params_total`` / ``params_active``: parameter counts (embeddings included; all experts vs the
    active ones). ``weights_bytes``: all parameters x ``bytes_per_weight``. ``kv_bytes_per_token``,
    ``kv_bytes_per_sequence`` (x ``context_tokens``, or less past a sliding window: references.md C4),
    ``kv_cache_bytes`` (x ``batch``).
    ``prefill_workspace_bytes``: activations while prefilling ``prefill_tokens`` tokens. ``total_bytes``
    = weights + KV cache + workspace. With a device: ``n_devices`` x ``device_memory_bytes`` x
    ``usable_memory_fraction`` = ``capacity_bytes``; ``bytes_per_device`` is the largest per-device share
    under tensor parallelism (weights and workspace / K, KV / ``kv_shards``); ``fits``, ``max_batch``
    (at this context) and ``max_context`` (tokens, at this batch; may exceed the model's trained context;
    also None when a sliding window on every layer and a fixed ``prefill_tokens`` leave it unbounded)
    are None without a device. ``trained_context_tokens`` is the model's ``seq_len``; ``notes`` warns when
    ``context_tokens`` exceeds it (a warning, not an error) and says when a sliding window bounds the KV cache.
    """

    _display = (("model", ""), ("dtype", ""), ("batch", "sequences"), ("context_tokens", "tokens"),
                ("weights_bytes", "bytes"), ("kv_cache_bytes", "bytes"), ("total_bytes", "bytes"), ("fits", ""),
                ("max_batch", "sequences"))

    model: str
    dtype: str
    kv_dtype: str
    activation_dtype: str
    params_total: int
    params_active: int
    bytes_per_weight: float
    weights_bytes: float
    kv_bytes_per_token: float
    context_tokens: int
    batch: int
    kv_bytes_per_sequence: float
    kv_cache_bytes: float
    prefill_tokens: int
    prefill_workspace_bytes: float
    total_bytes: float
    device: str | None
    n_devices: int
    kv_shards: int
    usable_memory_fraction: float
    device_memory_bytes: float | None
    capacity_bytes: float | None
    bytes_per_device: float
    fits: bool | None
    max_batch: int | None
    max_context: int | None
    trained_context_tokens: int = 0
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready); ``notes`` a list of warnings (e.g. context past the trained one)."""
        return {**asdict(self), "notes": list(self.notes)}


def _per_device_bytes(weights: float, kv: float, workspace: float, n_devices: int, shards: int) -> float:
    return weights / n_devices + workspace / n_devices + kv / shards


def _largest_whole(free_bytes: float, bytes_each: float) -> int:
    """Largest whole k >= 0 with k x bytes_each <= free_bytes (0 when nothing is free)."""
    if free_bytes < 0:
        return 0
    return int(math.floor(free_bytes / bytes_each * (1 + 1e-12)))


def memory_report(model: ModelLike, *, dtype: str = "bf16", kv_dtype: str = "bf16", context_tokens: int = 4096,
                  batch: int = 1, device: str | Device | None = None, n_devices: int = 1,
                  usable_memory_fraction: float = 1.0, prefill_tokens: int | None = None,
                  activation_dtype: str = "bf16", group_size: int | None = None, scale_bytes: float = 2.0,
                  zero_point: bool = False) -> MemoryReport:
    """Weights, KV cache, prefill workspace and (with a ``device``) the fit on ``n_devices`` of it.

    ``prefill_tokens`` (tokens prefilled in one step) defaults to ``context_tokens``: one sequence's
    full prompt at a time, as servers prefill sequence by sequence or in chunks. ``usable_memory_fraction``
    (default 1.0) is the share of each device's memory given to the model (engines reserve some, e.g.
    vLLM's 0.9). See the module doc for the formulas and tensor-parallel split.
    """
    arch = _model(model)
    context = positive_count("context", context_tokens)
    n_batch = positive_count("batch", batch)
    k = positive_count("devices", n_devices)
    usable = fraction("usable_memory_fraction", usable_memory_fraction)
    chunk = context if prefill_tokens is None else positive_count("prefill_tokens", prefill_tokens)
    per_weight = bytes_per_weight(dtype, group_size=group_size, scale_bytes=scale_bytes, zero_point=zero_point)
    weights = arch.params() * per_weight
    per_token = kv_bytes_per_token(arch, kv_dtype)
    per_sequence = kv_bytes_per_sequence(arch, context, kv_dtype)
    kv = per_sequence * n_batch
    workspace = prefill_workspace_bytes(arch, chunk, activation_dtype)
    shards = kv_shards(arch, k)
    dev = None if device is None else get_device(device)
    device_memory = capacity = None
    fits_flag: bool | None = None
    largest_batch = longest_context = None
    if dev is not None:
        device_memory = dev.memory_bytes
        capacity = k * device_memory * usable
        per_device_cap = device_memory * usable
        fits_flag = _per_device_bytes(weights, kv, workspace, k, shards) <= per_device_cap
        largest_batch = _largest_whole(per_device_cap - (weights + workspace) / k, per_sequence / shards)
        longest_context = _longest_context(arch, weights, kv_dtype, n_batch, k, shards, per_device_cap,
                                           activation_dtype, prefill_tokens)
    return MemoryReport(
        model=arch.name, dtype=str(dtype).lower(), kv_dtype=str(kv_dtype).lower(),
        activation_dtype=str(activation_dtype).lower(), params_total=arch.params(),
        params_active=arch.active_params(), bytes_per_weight=per_weight, weights_bytes=weights,
        kv_bytes_per_token=per_token, context_tokens=context, batch=n_batch, kv_bytes_per_sequence=per_sequence,
        kv_cache_bytes=kv, prefill_tokens=chunk, prefill_workspace_bytes=workspace,
        total_bytes=finite_result("total memory (bytes)", weights + kv + workspace), device=None if dev is None else dev.key, n_devices=k,
        kv_shards=shards, usable_memory_fraction=usable, device_memory_bytes=device_memory,
        capacity_bytes=capacity, bytes_per_device=_per_device_bytes(weights, kv, workspace, k, shards),
        fits=fits_flag, max_batch=largest_batch, max_context=longest_context, trained_context_tokens=arch.seq_len,
        notes=tuple(n for n in (context_note(arch, context, "context"), kv_window_note(arch, context),
                                _unbounded_note(dev, longest_context)) if n))


def _unbounded_note(dev: Device | None, longest_context: int | None) -> str:
    if dev is None or longest_context is not None:
        return ""
    return ("max_context is null: every layer's KV cache is bounded by the sliding window and the prefill "
            "chunk is fixed, so memory does not limit the context")


def _longest_context(arch: Architecture, weights: float, kv_dtype: str, batch: int, k: int, shards: int,
                     per_device_cap: float, activation_dtype: str, prefill_tokens: int | None) -> int | None:
    """Largest context T (tokens) at ``batch`` whose per-device share fits; the workspace grows with T
    when ``prefill_tokens`` follows the context (None), else it is fixed. With a sliding window the KV
    cost per token falls past the window (two linear pieces); None when nothing grows past it."""
    workspace_per_token = prefill_workspace_bytes(arch, 1, activation_dtype)
    kv_token = kv_bytes_per_token(arch, kv_dtype)  # bytes of a token held by every layer
    if prefill_tokens is None:
        free = per_device_cap - weights / k
        growth = workspace_per_token / k
    else:
        free = per_device_cap - (weights + workspace_per_token * prefill_tokens) / k
        growth = 0.0
    per_token = batch * kv_token / shards + growth
    window, local = arch.sliding_window, arch.n_windowed_layers
    if window is None or not local or free < window * per_token:
        return _largest_whole(free, per_token)
    past_window = batch * kv_token * (arch.n_layer - local) / arch.n_layer / shards + growth
    if past_window == 0:
        return None
    return window + _largest_whole(free - window * per_token, past_window)


def max_batch(model: ModelLike, device: str | Device, *, context_tokens: int = 4096, n_devices: int = 1,
              **options: Any) -> int:
    """Largest batch of ``context_tokens``-token sequences that fits on ``n_devices`` (0 if even the
    weights do not); ``options`` as :func:`memory_report` (dtype, kv_dtype, usable_memory_fraction, ...)."""
    report = memory_report(model, context_tokens=context_tokens, device=device, n_devices=n_devices, **options)
    return int(report.max_batch or 0)


def max_context(model: ModelLike, device: str | Device, *, batch: int = 1, n_devices: int = 1,
                **options: Any) -> float:
    """Longest context in tokens for ``batch`` sequences on ``n_devices`` (memory limit only: compare with
    the model's trained context yourself); ``options`` as :func:`memory_report`. A whole number, or inf
    when sliding windows on every layer and a fixed ``prefill_tokens`` make memory no limit."""
    report = memory_report(model, batch=batch, device=device, n_devices=n_devices, **options)
    return math.inf if report.max_context is None else int(report.max_context)


def fits(model: ModelLike, device: str | Device, *, n_devices: int = 1, **options: Any) -> bool:
    """Whether weights + KV cache + prefill workspace fit on ``n_devices`` (tensor-parallel split)."""
    return bool(memory_report(model, device=device, n_devices=n_devices, **options).fits)
