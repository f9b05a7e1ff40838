"""Roofline speed of serving a decoder-only transformer: decode steps, prefill, sweeps, MBU and MFU.

Units: time in seconds, FLOPs a count, FLOP/s a rate (DENSE peak of one device, :mod:`.hardware`),
bytes, bytes/s, tokens, tokens/s. N_active = parameters used per token (embeddings included, active
experts only); weights in memory count ALL parameters (:mod:`.memory`).

Formulas (reference notes ``laws.md`` C3; JAX scaling book, inference chapter; kipply 2022):

* Decode step (one new token for each of ``batch`` sequences holding ``context`` tokens of KV):
  ``t = batch x KV_bytes_per_seq / BW  +  max(weights_bytes / BW, 2 x N_active x batch / FLOPS)``.
  Attention reads each sequence's KV cache and is always bandwidth-bound; the weight matmuls are
  bandwidth-bound (``bound = "memory"``) until ``2 N_active batch / FLOPS`` exceeds ``weights_bytes / BW``
  (``bound = "compute"``). This is the scaling book's general form; without KV it is
  max(memory, compute). Attention FLOPs at decode (4 n_layer context n_heads head_dim per token) are left
  out: per KV byte read they do n_heads / n_kv_heads x 2 / bytes_per_element FLOPs, far below any ridge
  point, so the KV read time bounds them. Scaling-book quiz (30B int8, 100 kB/token, 8,192 ctx, 16 TPU v5e): 2.57 ms at
  batch 4, 21.1 ms at batch 256.
* Crossover batch: where the weight matmuls' arithmetic intensity ``2 N_active batch / weights_bytes``
  (FLOP/byte) meets the ridge point ``FLOPS / BW``: ``crossover = ridge x weights_bytes / (2 N_active)``;
  bf16 weights: the ridge itself (H100 SXM: 989.4e12 / 3.35e12 = 295, laws.md A6); int8 weights with
  bf16 compute: half of it.
* Prefill of ``batch`` prompts of P tokens (time to first token when they are prefilled together):
  FLOPs = batch x (2 N_active P + 2 n_layer P^2 n_heads head_dim); the second term is causal attention
  (QK^T and AV, 4 P^2 d_attn per layer halved by the causal mask; laws.md C3, PaLM's 4 L T d forward
  halved); ``prefill_s = max(FLOPs / FLOPS, (weights_bytes + KV written) / BW)``.
* FLOPS = n_devices x peak(compute dtype) x compute_efficiency x TP; BW = n_devices x HBM bandwidth x
  bandwidth_efficiency x TP, with TP = tp_efficiency when n_devices > 1 (else 1): ideal tensor
  parallelism scaled by a named factor. The KV term divides by ``kv_shards`` (min(K, n_kv_heads))
  instead of K: KV heads are replicated beyond that. Defaults 1.0 give the roofline lower bound on time;
  real engines reach ~50-80% (Databricks: MBU 60% on 2 x H100).
* MBU (Databricks/MosaicML 2023): (weights_bytes + KV bytes read per step) / measured time per token /
  (K x peak bandwidth). 7B fp16 (14 GB) at 14 ms/token on 2 TB/s: 50%. MFU: 2 x N_active x tokens/s /
  (K x peak FLOP/s).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.inference import memory as mem
from scalinglab.inference.memory import ModelLike, fraction, plain_repr, positive_count
from scalinglab.plan.hardware import Device, get_device
from scalinglab.plan.presets import get_architecture

__all__ = [
    "DecodeStep", "PrefillStep", "SpeedReport", "default_compute_dtype", "decode_step", "prefill_step",
    "serving_speed", "batch_range", "batch_sweep", "model_size_sweep", "model_bandwidth_utilization",
    "model_flops_utilization", "measured_efficiency",
]


def _non_negative(field: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ScalingLabError(f"{field} must be a number >= 0, got {plain_repr(value)}") from None
    if not (math.isfinite(v) and v >= 0):
        raise ScalingLabError(f"{field} must be a number >= 0, got {plain_repr(value)}")
    return v


def _positive(field: str, value: Any) -> float:
    v = _non_negative(field, value)
    if v == 0:
        raise ScalingLabError(f"{field} must be > 0, got {plain_repr(value)}")
    return v


def _tp_factor(n_devices: int, tp_efficiency: float) -> float:
    """Effective device count: K x tp_efficiency for K > 1, exactly 1 for one device."""
    return n_devices * tp_efficiency if n_devices > 1 else 1.0


def default_compute_dtype(weight_dtype: str, device: str | Device) -> str:
    """Matmul dtype assumed for ``weight_dtype``: fp32 -> fp32, fp16 -> fp16, anything else -> bf16
    (fp8/int8/int4 weights are assumed dequantised to bf16, the scaling book's int8-weights case); fp16
    on devices without a bf16 peak (V100). Pass ``compute_dtype`` to override (e.g. fp8 on H100)."""
    key = str(weight_dtype).strip().lower()
    wanted = key if key in ("fp32", "fp16") else "bf16"
    peaks = get_device(device).peak_flops_per_s
    return "fp16" if wanted == "bf16" and "bf16" not in peaks and "fp16" in peaks else wanted


# ---- decode ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DecodeStep:
    """One decode step (see module doc). Inputs echoed with units; outputs:

    ``flops_per_step`` (2 N_active batch), ``bytes_per_step`` (weights + batch x KV per sequence),
    ``kv_time_s``, ``weight_memory_time_s``, ``compute_time_s``, ``time_per_token_s`` (the step),
    ``decode_tokens_per_s`` (per sequence, 1/step), ``total_tokens_per_s`` (batch/step), ``bound``
    ("memory" or "compute", for the weight matmuls), ``crossover_batch``, ``arithmetic_intensity`` and
    ``ridge_point`` (FLOP/byte, after efficiencies).
    """

    batch: int
    weights_bytes: float
    kv_bytes_per_sequence: float
    active_params: float
    device: str
    n_devices: int
    kv_shards: int
    compute_dtype: str
    peak_flops_per_s: float
    bandwidth_bytes_per_s: float
    compute_efficiency: float
    bandwidth_efficiency: float
    tp_efficiency: float
    flops_per_step: float
    bytes_per_step: float
    kv_time_s: float
    weight_memory_time_s: float
    compute_time_s: float
    time_per_token_s: float
    decode_tokens_per_s: float
    total_tokens_per_s: float
    bound: str
    crossover_batch: float
    arithmetic_intensity: float
    ridge_point: float

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def decode_step(*, weights_bytes: float, kv_bytes_per_sequence: float, active_params: float,
                device: str | Device, batch: int = 1, n_devices: int = 1, compute_dtype: str = "bf16",
                n_kv_shards: int | None = None, compute_efficiency: float = 1.0,
                bandwidth_efficiency: float = 1.0, tp_efficiency: float = 1.0) -> DecodeStep:
    """Roofline time of one decode step from raw sizes (bytes, parameters); see the module doc.

    ``n_kv_shards`` (default ``n_devices``) is how many ways the KV cache is split. 7B fp16 weights on one
    H100 SXM at batch 1, no KV: 14e9 / 3.35e12 = 4.18 ms -> 239 tokens/s (laws.md C3).
    """
    dev = get_device(device)
    n_batch, k = positive_count("batch", batch), positive_count("devices", n_devices)
    shards = k if n_kv_shards is None else positive_count("kv_shards", n_kv_shards)
    w_bytes = _positive("weights_bytes", weights_bytes)
    kv_seq = _non_negative("kv_bytes_per_sequence", kv_bytes_per_sequence)
    n_active = _positive("active_params", active_params)
    c_eff = fraction("compute_efficiency", compute_efficiency)
    b_eff = fraction("bandwidth_efficiency", bandwidth_efficiency)
    tp = fraction("tp_efficiency", tp_efficiency)
    peak, bw = dev.peak(compute_dtype), dev.bandwidth_bytes_per_s
    flops_rate = _tp_factor(k, tp) * peak * c_eff
    bytes_rate = _tp_factor(k, tp) * bw * b_eff
    kv_time = n_batch * kv_seq / (_tp_factor(shards, tp) * bw * b_eff)
    weight_time = w_bytes / bytes_rate
    flops = 2.0 * n_active * n_batch
    compute_time = flops / flops_rate
    step = kv_time + max(weight_time, compute_time)
    ridge = peak * c_eff / (bw * b_eff)
    bytes_moved = w_bytes + n_batch * kv_seq
    return DecodeStep(
        batch=n_batch, weights_bytes=w_bytes, kv_bytes_per_sequence=kv_seq, active_params=n_active,
        device=dev.key, n_devices=k, kv_shards=shards, compute_dtype=str(compute_dtype).lower(),
        peak_flops_per_s=peak, bandwidth_bytes_per_s=bw, compute_efficiency=c_eff, bandwidth_efficiency=b_eff,
        tp_efficiency=tp, flops_per_step=flops, bytes_per_step=bytes_moved, kv_time_s=kv_time,
        weight_memory_time_s=weight_time, compute_time_s=compute_time, time_per_token_s=step,
        decode_tokens_per_s=1.0 / step, total_tokens_per_s=n_batch / step,
        bound="compute" if compute_time > weight_time else "memory",
        crossover_batch=ridge * w_bytes / (2.0 * n_active), arithmetic_intensity=flops / bytes_moved,
        ridge_point=ridge)


# ---- prefill ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrefillStep:
    """Prefill of ``batch`` prompts of ``prompt_tokens`` tokens: ``prefill_flops`` (FLOPs, of which
    ``prefill_attention_flops``), ``prefill_compute_s``, ``prefill_memory_s``, ``prefill_s`` (their max:
    time to first token) and ``prefill_bound``."""

    prompt_tokens: int
    prefill_flops: float
    prefill_attention_flops: float
    prefill_compute_s: float
    prefill_memory_s: float
    prefill_s: float
    prefill_bound: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def prefill_step(model: ModelLike, device: str | Device, *, prompt_tokens: int, batch: int = 1,
                 n_devices: int = 1, dtype: str = "bf16", kv_dtype: str = "bf16", compute_dtype: str | None = None,
                 compute_efficiency: float = 1.0, bandwidth_efficiency: float = 1.0,
                 tp_efficiency: float = 1.0) -> PrefillStep:
    """Time to first token for ``batch`` prompts prefilled together (formula in the module doc)."""
    arch, dev = get_architecture(model), get_device(device)
    prompt, n_batch = positive_count("prompt", prompt_tokens), positive_count("batch", batch)
    k = positive_count("devices", n_devices)
    tp = _tp_factor(k, fraction("tp_efficiency", tp_efficiency))
    dtype_c = compute_dtype or default_compute_dtype(dtype, dev)
    attention = n_batch * 2.0 * arch.n_layer * prompt ** 2 * arch.attention_width
    flops = n_batch * 2.0 * arch.active_params() * prompt + attention
    compute_s = flops / (tp * dev.peak(dtype_c) * fraction("compute_efficiency", compute_efficiency))
    moved = mem.weights_bytes(arch, dtype) + n_batch * prompt * mem.kv_bytes_per_token(arch, kv_dtype)
    memory_s = moved / (tp * dev.bandwidth_bytes_per_s * fraction("bandwidth_efficiency", bandwidth_efficiency))
    return PrefillStep(prompt_tokens=prompt, prefill_flops=flops, prefill_attention_flops=attention,
                       prefill_compute_s=compute_s, prefill_memory_s=memory_s, prefill_s=max(compute_s, memory_s),
                       prefill_bound="compute" if compute_s >= memory_s else "memory")


# ---- one configuration -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SpeedReport:
    """Decode and prefill of one model on ``n_devices`` devices. ``to_dict()`` is flat: model fields,
    every :class:`DecodeStep` field (``time_per_token_s``, ``decode_tokens_per_s``,
    ``total_tokens_per_s``, ``bound``, ``crossover_batch``, ...) and every :class:`PrefillStep` field
    (``prefill_s``, ...)."""

    model: str
    dtype: str
    kv_dtype: str
    params_total: int
    params_active: int
    context_tokens: int
    decode: DecodeStep
    prefill: PrefillStep

    @property
    def time_per_token_s(self) -> float:
        """Seconds per decode step (one token for every sequence)."""
        return self.decode.time_per_token_s

    @property
    def decode_tokens_per_s(self) -> float:
        """Tokens/s of one sequence."""
        return self.decode.decode_tokens_per_s

    @property
    def total_tokens_per_s(self) -> float:
        """Tokens/s of the whole batch."""
        return self.decode.total_tokens_per_s

    @property
    def bound(self) -> str:
        """"memory" or "compute" (the decode weight matmuls)."""
        return self.decode.bound

    @property
    def crossover_batch(self) -> float:
        """Batch at which decode turns compute-bound."""
        return self.decode.crossover_batch

    @property
    def prefill_s(self) -> float:
        """Seconds to prefill the batch's prompts (time to first token)."""
        return self.prefill.prefill_s

    def to_dict(self) -> dict[str, Any]:
        """Flat plain dict (JSON-ready)."""
        head = {k: getattr(self, k) for k in ("model", "dtype", "kv_dtype", "params_total", "params_active",
                                               "context_tokens")}
        return {**head, **self.decode.to_dict(), **self.prefill.to_dict()}


def serving_speed(model: ModelLike, device: str | Device, *, n_devices: int = 1, batch: int = 1,
                  context_tokens: int = 4096, prompt_tokens: int | None = None, dtype: str = "bf16",
                  kv_dtype: str = "bf16", compute_dtype: str | None = None, compute_efficiency: float = 1.0,
                  bandwidth_efficiency: float = 1.0, tp_efficiency: float = 1.0) -> SpeedReport:
    """Roofline decode step at ``context_tokens`` of KV per sequence and prefill of ``prompt_tokens``
    (default: the context) for ``batch`` sequences; weights from :func:`.memory.weights_bytes` (all
    parameters), FLOPs from the active parameters. Every assumption is a parameter (see module doc)."""
    arch, dev = get_architecture(model), get_device(device)
    context = positive_count("context", context_tokens)
    prompt = context if prompt_tokens is None else positive_count("prompt", prompt_tokens)
    dtype_c = compute_dtype or default_compute_dtype(dtype, dev)
    efficiencies = dict(compute_efficiency=compute_efficiency, bandwidth_efficiency=bandwidth_efficiency,
                        tp_efficiency=tp_efficiency)
    decode = decode_step(weights_bytes=mem.weights_bytes(arch, dtype),
                         kv_bytes_per_sequence=mem.kv_bytes_per_token(arch, kv_dtype) * context,
                         active_params=arch.active_params(), device=dev, batch=batch, n_devices=n_devices,
                         compute_dtype=dtype_c, n_kv_shards=mem.kv_shards(arch, n_devices), **efficiencies)
    prefill = prefill_step(arch, dev, prompt_tokens=prompt, batch=batch, n_devices=n_devices, dtype=dtype,
                           kv_dtype=kv_dtype, compute_dtype=dtype_c, **efficiencies)
    return SpeedReport(model=arch.name, dtype=str(dtype).lower(), kv_dtype=str(kv_dtype).lower(),
                       params_total=arch.params(), params_active=arch.active_params(), context_tokens=context,
                       decode=decode, prefill=prefill)


# ---- sweeps ----------------------------------------------------------------------------------------
def batch_range(low: int, high: int) -> list[int]:
    """Batch sizes for a sweep: ``low``, every power of two strictly between, and ``high`` (1:256 ->
    1, 2, 4, ..., 256; 3:100 -> 3, 4, 8, 16, 32, 64, 100)."""
    lo, hi = positive_count("batch", low), positive_count("batch", high)
    if hi < lo:
        raise ScalingLabError(f"batch range {low}:{high} must go from small to large")
    sizes, power = [lo], 1
    while power < hi:
        if power > lo:
            sizes.append(power)
        power *= 2
    if hi != lo:
        sizes.append(hi)
    return sizes


def batch_sweep(model: ModelLike, device: str | Device, batches: Sequence[int] | None = None,
                **options: Any) -> list[SpeedReport]:
    """The batch processing law: one :class:`SpeedReport` per batch size (default 1..512, powers of two).
    Each row's ``bound`` flips to "compute" past ``crossover_batch``; ``options`` as :func:`serving_speed`."""
    sizes = batch_range(1, 512) if batches is None else [positive_count("batch", b) for b in batches]
    if not sizes:
        raise ScalingLabError("batch sweep needs at least one batch size")
    return [serving_speed(model, device, batch=b, **options) for b in sizes]


def model_size_sweep(models: Sequence[ModelLike], device: str | Device, **options: Any) -> list[SpeedReport]:
    """The token-generation scaling law on one device setup: a :class:`SpeedReport` per model, sorted by
    total parameters (tokens/s falls roughly as 1/N while memory-bound); ``options`` as
    :func:`serving_speed`."""
    if not models:
        raise ScalingLabError("model size sweep needs at least one model")
    reports = [serving_speed(m, device, **options) for m in models]
    return sorted(reports, key=lambda r: r.params_total)


# ---- efficiency from a measurement -----------------------------------------------------------------
def model_bandwidth_utilization(bytes_per_step: float, time_per_token_s: float, device: str | Device,
                                n_devices: int = 1) -> float:
    """MBU = bytes moved per step (weights + KV read) / measured time per output token / (K x peak
    bandwidth) (Databricks/MosaicML 2023; laws.md C3). A value above 1 raises: the measurement or the
    byte count is wrong."""
    moved = _positive("bytes_per_step", bytes_per_step)
    seconds = _positive("time_per_token_s", time_per_token_s)
    peak = positive_count("devices", n_devices) * get_device(device).bandwidth_bytes_per_s
    mbu = moved / seconds / peak
    if mbu > 1:
        raise ScalingLabError(f"time_per_token_s={time_per_token_s:g} implies MBU {mbu:.3g} > 1: check the "
                              "measurement, bytes_per_step, device and devices")
    return mbu


def model_flops_utilization(active_params: float, tokens_per_s: float, device: str | Device,
                            n_devices: int = 1, compute_dtype: str = "bf16") -> float:
    """Serving MFU = 2 x N_active x tokens/s / (K x dense peak FLOP/s) (forward only; tokens/s counts
    every token processed, all sequences together). A value above 1 raises."""
    n_active = _positive("active_params", active_params)
    rate = _positive("tokens_per_s", tokens_per_s)
    peak = positive_count("devices", n_devices) * get_device(device).peak(compute_dtype)
    mfu = 2.0 * n_active * rate / peak
    if mfu > 1:
        raise ScalingLabError(f"tokens_per_s={tokens_per_s:g} implies MFU {mfu:.3g} > 1: check the "
                              "measurement, active_params, device and devices")
    return mfu


def measured_efficiency(report: SpeedReport, time_per_token_s: float) -> dict[str, float]:
    """MBU and MFU of a measured decode step of ``report``'s configuration: ``mbu`` from the bytes the
    roofline says a step moves (weights + batch x KV), ``mfu`` from batch / time tokens/s."""
    d = report.decode
    seconds = _positive("measured time_per_token_s", time_per_token_s)
    mbu = model_bandwidth_utilization(d.bytes_per_step, seconds, d.device, d.n_devices)
    mfu = model_flops_utilization(d.active_params, d.batch / seconds, d.device, d.n_devices, d.compute_dtype)
    return {"measured_time_per_token_s": seconds, "mbu": mbu, "mfu": mfu}
