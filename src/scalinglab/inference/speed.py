"""Roofline speed of serving a decoder-only transformer: decode steps, prefill, sweeps, MBU and MFU.

Units: time in seconds, FLOPs a count, FLOP/s a rate (DENSE peak of one device, :mod:`.hardware`),
bytes, bytes/s, tokens, tokens/s. N_active = parameters used per token (embeddings included, active
experts only); weights in memory count ALL parameters (:mod:`.memory`).

Formulas (references.md C3; JAX scaling book, inference chapter; kipply 2022):

* Decode step (one new token for each of ``batch`` sequences holding ``context`` tokens of KV):
  ``t = batch x KV_bytes_per_seq / BW  +  max(weights_bytes / BW, 2 x N_active x batch / FLOPS)``.
  Attention reads each sequence's KV cache and is always bandwidth-bound; the weight matmuls are
  bandwidth-bound (``weights_bound = "memory"``) until ``2 N_active batch / FLOPS`` exceeds
  ``weights_bytes / BW`` (``weights_bound = "compute"``). This is the scaling book's general form; without
  KV it is max(memory, compute). ``bound`` describes the WHOLE step: "compute" only when the compute time
  exceeds the memory time (weights + KV reads), i.e. when the step's arithmetic intensity passes the ridge
  point; else "memory". Attention FLOPs at decode (4 n_layer context n_heads head_dim per token) are left
  out: per KV byte read they do n_heads / n_kv_heads x 2 / bytes_per_element FLOPs, far below any ridge
  point, so the KV read time bounds them. Scaling-book quiz (30B int8, 100 kB/token, 8,192 ctx, 16 TPU v5e): 2.57 ms at
  batch 4, 21.1 ms at batch 256.
* Crossover batches. ``weights_crossover_batch``: where the weight matmuls' arithmetic intensity
  ``2 N_active batch / weights_bytes`` (FLOP/byte) meets the ridge point ``FLOPS / BW``:
  ``ridge x weights_bytes / (2 N_active)``; bf16 weights: the ridge itself (H100 SXM: 989.4e12 / 3.35e12 =
  295, references.md A6); int8 weights with bf16 compute: half of it. ``crossover_batch``: where the whole step
  turns compute-bound, ``2 N_active B / FLOPS = weights_bytes / BW + B x KV_bytes_per_seq / BW``. The KV
  read grows with the batch as fast as the FLOPs, so the step's intensity levels off at
  ``2 N_active / KV_bytes_per_seq`` (``intensity_limit``); at long context (Llama-2-70B, 32k tokens: 12.8
  FLOP/byte vs H100's 295) the step never becomes compute-bound and ``crossover_batch`` is inf (JSON
  null) with a note.
* Mixture of experts: a step reads the non-expert weights plus, per layer, only the experts its tokens
  are routed to. Named assumption ``expert_routing="independent"``: each of the ``batch`` tokens picks k
  of E experts uniformly and independently, so a layer touches ``E_touched = E (1 - (1 - k/E)^batch)``
  experts in expectation (k at batch 1, -> E at large batch) and ``weights_read_bytes = non-expert +
  expert_bytes x E_touched / E``. ``expert_routing="all"`` charges every expert (upper bound). Prefill
  uses the same formula with ``batch x prompt`` tokens. Real routers are skewed: read more than this.
* Prefill of ``batch`` prompts of P tokens (time to first token when they are prefilled together):
  FLOPs = batch x (2 N_active P + 2 n_layer P^2 n_heads head_dim); the second term is causal attention
  (QK^T and AV, 4 P^2 d_attn per layer halved by the causal mask; references.md C3, PaLM's 4 L T d forward
  halved; a sliding window W bounds a local layer's keys, and MLA's AV uses v_head_dim: references.md
  C4); ``prefill_s = max(FLOPs / FLOPS, (weights_bytes + KV written) / BW)``, the KV written being the
  cache kept (:func:`.memory.kv_bytes_per_sequence`, bounded by any window).
* FLOPS = n_devices x peak(compute dtype) x compute_efficiency x TP (compute dtype: bf16, or fp8 for fp8
  weights on a device with an fp8 peak, unless given; :func:`default_compute_dtype`); BW = n_devices x HBM bandwidth x
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

import scalinglab.inference.memory as mem
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, as_list, count_number, finite_result
from scalinglab.inference.memory import EXPERT_ROUTINGS, ModelLike, experts_touched, fraction, positive_count  # noqa: F401
from scalinglab.inference.metrics import model_bandwidth_utilization, model_flops_utilization
from scalinglab.plan.hardware import Device, get_device
from scalinglab.plan.presets import get_architecture

__all__ = [
    "DecodeStep", "PrefillStep", "SpeedReport", "default_compute_dtype", "decode_step", "prefill_step",
    "serving_speed", "experts_touched", "EXPERT_ROUTINGS", "batch_range", "batch_sweep", "model_size_sweep",
    "model_bandwidth_utilization", "model_flops_utilization", "measured_efficiency",
]


_non_negative, _positive = mem.non_negative_number, mem.positive_number


def _tp_factor(n_devices: int, tp_efficiency: float) -> float:
    """Effective device count: K x tp_efficiency for K > 1, exactly 1 for one device."""
    return n_devices * tp_efficiency if n_devices > 1 else 1.0


def default_compute_dtype(weight_dtype: str, device: str | Device) -> str:
    """Matmul dtype assumed for ``weight_dtype``: fp32 -> fp32, fp16 -> fp16, fp8 -> fp8 (FP8 weights
    imply FP8 matmuls, W8A8, on devices with an fp8 peak; bf16 elsewhere), anything else -> bf16
    (int8/int4 weights are assumed dequantised to bf16, the scaling book's int8-weights case, W8A16); fp16
    on devices without a bf16 peak (V100). Pass ``compute_dtype`` to override (``"bf16"`` keeps fp8
    weights with bf16 matmuls, W8A16)."""
    key = str(weight_dtype).strip().lower()
    peaks = get_device(device).peak_flops_per_s
    if key == "fp8" and "fp8" in peaks:
        return "fp8"
    wanted = key if key in ("fp32", "fp16") else "bf16"
    return "fp16" if wanted == "bf16" and "bf16" not in peaks and "fp16" in peaks else wanted


# ---- decode ----------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class DecodeStep(Displayed):
    """One decode step (see module doc). Inputs echoed with units; outputs:

    ``flops_per_step`` (2 N_active batch), ``weights_read_bytes`` (weights read per step: all of them for
    a dense model, the touched experts for MoE), ``experts_touched`` (expected experts read per layer),
    ``bytes_per_step`` (weights read + batch x KV per sequence), ``kv_time_s``, ``weight_memory_time_s``,
    ``memory_time_s`` (their sum), ``compute_time_s``, ``time_per_token_s`` (the step),
    ``decode_tokens_per_s`` (per sequence, 1/step), ``total_tokens_per_s`` (batch/step), ``bound``
    ("memory" or "compute": the whole step, memory time vs compute time), ``weights_bound`` (the weight
    matmuls alone), ``crossover_batch`` (whole step; inf when it never turns compute-bound),
    ``weights_crossover_batch``, ``arithmetic_intensity``, ``intensity_limit`` (batch -> inf) and
    ``ridge_point`` (FLOP/byte, after efficiencies), ``notes``.
    """

    _display = (("batch", "sequences"), ("device", ""), ("time_per_token_s", "s"),
                ("decode_tokens_per_s", "tokens/s"), ("total_tokens_per_s", "tokens/s"), ("bound", ""),
                ("crossover_batch", "sequences"))

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
    n_experts: int
    n_active_experts: int
    expert_routing: str
    expert_weights_bytes: float
    experts_touched: float
    weights_read_bytes: float
    flops_per_step: float
    bytes_per_step: float
    kv_time_s: float
    weight_memory_time_s: float
    memory_time_s: float
    compute_time_s: float
    time_per_token_s: float
    decode_tokens_per_s: float
    total_tokens_per_s: float
    bound: str
    weights_bound: str
    crossover_batch: float
    weights_crossover_batch: float
    arithmetic_intensity: float
    intensity_limit: float
    ridge_point: float
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return {**asdict(self), "notes": list(self.notes)}


def _crossing(gap: Any, slope_at_infinity: float) -> float:
    """Smallest batch B >= 0 (real) where the convex ``gap(B)`` (compute minus memory time, < 0 at 0) turns
    positive; inf when its slope at infinity is <= 0 (it never does)."""
    if slope_at_infinity <= 0:
        return math.inf
    low, high = 0.0, 1.0
    while gap(high) <= 0:
        low, high = high, 2 * high
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (low, mid) if gap(mid) > 0 else (mid, high)
        if high - low <= 1e-12 * high:
            break
    return high


def decode_step(*, weights_bytes: float, kv_bytes_per_sequence: float, active_params: float,
                device: str | Device, batch: int = 1, n_devices: int = 1, compute_dtype: str = "bf16",
                n_kv_shards: int | None = None, compute_efficiency: float = 1.0,
                bandwidth_efficiency: float = 1.0, tp_efficiency: float = 1.0, expert_weights_bytes: float = 0.0,
                n_experts: int = 1, n_active_experts: int = 1, expert_routing: str = "independent") -> DecodeStep:
    """Roofline time of one decode step from raw sizes (bytes, parameters); see the module doc.

    ``n_kv_shards`` (default ``n_devices``) is how many ways the KV cache is split. 7B fp16 weights on one
    H100 SXM at batch 1, no KV: 14e9 / 3.35e12 = 4.18 ms -> 239 tokens/s (references.md C3). For MoE,
    ``expert_weights_bytes`` (part of ``weights_bytes``) is the bytes of all experts of all layers; a step
    reads the fraction ``experts_touched / n_experts`` of it (``expert_routing``, module doc).
    """
    dev = get_device(device)
    n_batch, k = positive_count("batch", batch), positive_count("devices", n_devices)
    shards = k if n_kv_shards is None else positive_count("kv_shards", n_kv_shards)
    w_bytes = _positive("weights_bytes", weights_bytes)
    kv_seq = _non_negative("kv_bytes_per_sequence", kv_bytes_per_sequence)
    n_active = count_number("active_params", active_params)
    c_eff = fraction("compute_efficiency", compute_efficiency)
    b_eff = fraction("bandwidth_efficiency", bandwidth_efficiency)
    tp = fraction("tp_efficiency", tp_efficiency)
    e_bytes = _non_negative("expert_weights_bytes", expert_weights_bytes)
    if e_bytes > w_bytes:
        raise ScalingLabError(f"expert_weights_bytes={e_bytes:g} exceeds weights_bytes={w_bytes:g}")
    n_e = positive_count("n_experts", n_experts)
    routing = str(expert_routing).strip().lower()
    touched = experts_touched(n_e, n_active_experts, n_batch, routing)
    peak, bw = dev.peak(compute_dtype), dev.bandwidth_bytes_per_s
    flops_rate = _tp_factor(k, tp) * peak * c_eff
    bytes_rate = _tp_factor(k, tp) * bw * b_eff
    kv_rate = _tp_factor(shards, tp) * bw * b_eff

    def weights_read(b: float) -> float:
        return w_bytes - e_bytes + e_bytes * experts_touched(n_e, n_active_experts, b, routing) / n_e

    read = weights_read(n_batch)
    kv_time = n_batch * kv_seq / kv_rate
    weight_time = read / bytes_rate
    flops = 2.0 * n_active * n_batch
    compute_time = flops / flops_rate
    step = finite_result("decode step time", kv_time + max(weight_time, compute_time),
                         "the byte counts or efficiencies given are out of any physical range")
    ridge = peak * c_eff / (bw * b_eff)
    bytes_moved = read + n_batch * kv_seq
    per_batch = 2.0 * n_active / flops_rate  # compute seconds per sequence in the batch
    if e_bytes == 0:  # dense: closed forms
        weights_cross = (w_bytes / bytes_rate) / per_batch
        whole_cross = (math.inf if per_batch <= kv_seq / kv_rate
                       else (w_bytes / bytes_rate) / (per_batch - kv_seq / kv_rate))
    else:
        weights_cross = _crossing(lambda b: per_batch * b - weights_read(b) / bytes_rate, per_batch)
        whole_cross = _crossing(lambda b: per_batch * b - weights_read(b) / bytes_rate - b * kv_seq / kv_rate,
                                per_batch - kv_seq / kv_rate)
    limit = 2.0 * n_active / kv_seq if kv_seq > 0 else math.inf
    notes = []  # honest crossover and the MoE routing assumption, in words
    if math.isinf(whole_cross):
        notes.append(f"no whole-step crossover: KV reads grow with the batch as fast as FLOPs, so the step's "
                     f"arithmetic intensity levels off at 2 N_active / KV bytes per sequence = {limit:.3g} "
                     f"FLOP/byte, below the ridge point {ridge:.3g}: decode stays memory-bound at any batch at "
                     f"this context; the weight matmuls alone turn compute-bound past weights_crossover_batch "
                     f"{weights_cross:.1f}")
    if e_bytes > 0:
        notes.append(f"MoE weights read per step assume expert_routing='{routing}'"
                     + (f": {touched:.3g} of {n_e} experts per layer touched in expectation at batch {n_batch} "
                        f"(E (1 - (1 - k/E)^batch), independent uniform routing)" if routing == "independent"
                        else " (every expert read every step)"))
    return DecodeStep(
        batch=n_batch, weights_bytes=w_bytes, kv_bytes_per_sequence=kv_seq, active_params=n_active,
        device=dev.key, n_devices=k, kv_shards=shards, compute_dtype=str(compute_dtype).lower(),
        peak_flops_per_s=peak, bandwidth_bytes_per_s=bw, compute_efficiency=c_eff, bandwidth_efficiency=b_eff,
        tp_efficiency=tp, n_experts=n_e, n_active_experts=int(n_active_experts), expert_routing=routing,
        expert_weights_bytes=e_bytes, experts_touched=touched, weights_read_bytes=read, flops_per_step=flops,
        bytes_per_step=bytes_moved, kv_time_s=kv_time, weight_memory_time_s=weight_time,
        memory_time_s=kv_time + weight_time, compute_time_s=compute_time, time_per_token_s=step,
        decode_tokens_per_s=1.0 / step, total_tokens_per_s=n_batch / step,
        bound="compute" if compute_time > kv_time + weight_time else "memory",
        weights_bound="compute" if compute_time > weight_time else "memory",
        crossover_batch=whole_cross, weights_crossover_batch=weights_cross,
        arithmetic_intensity=flops / bytes_moved, intensity_limit=limit, ridge_point=ridge, notes=tuple(notes))


# ---- prefill ---------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class PrefillStep(Displayed):
    """Prefill of ``batch`` prompts of ``prompt_tokens`` tokens: ``prefill_flops`` (FLOPs, of which
    ``prefill_attention_flops``), ``prefill_compute_s``, ``prefill_memory_s``, ``prefill_s`` (their max:
    time to first token) and ``prefill_bound``."""

    _display = (("prompt_tokens", "tokens"), ("prefill_flops", "FLOPs"), ("prefill_s", "s"),
                ("prefill_bound", ""))

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
                 tp_efficiency: float = 1.0, expert_routing: str = "independent") -> PrefillStep:
    """Time to first token for ``batch`` prompts prefilled together (formula in the module doc)."""
    arch, dev = get_architecture(model), get_device(device)
    prompt, n_batch = positive_count("prompt", prompt_tokens), positive_count("batch", batch)
    k = positive_count("devices", n_devices)
    tp = _tp_factor(k, fraction("tp_efficiency", tp_efficiency))
    dtype_c = compute_dtype or default_compute_dtype(dtype, dev)
    attention = n_batch * prompt * arch.attention_score_flops_per_token(prompt, causal=True)
    flops = n_batch * 2.0 * arch.active_params() * prompt + attention
    compute_s = flops / (tp * dev.peak(dtype_c) * fraction("compute_efficiency", compute_efficiency))
    e_bytes = mem.expert_weights_bytes(arch, dtype)
    share = experts_touched(arch.n_experts, arch.n_active_experts, n_batch * prompt, expert_routing) / arch.n_experts
    weights_read = mem.weights_bytes(arch, dtype) - e_bytes * (1.0 - share)
    moved = weights_read + n_batch * mem.kv_bytes_per_sequence(arch, prompt, kv_dtype)
    memory_s = moved / (tp * dev.bandwidth_bytes_per_s * fraction("bandwidth_efficiency", bandwidth_efficiency))
    finite_result("prefill time", max(compute_s, memory_s), "the efficiencies given are out of any physical range")
    return PrefillStep(prompt_tokens=prompt, prefill_flops=flops, prefill_attention_flops=attention,
                       prefill_compute_s=compute_s, prefill_memory_s=memory_s, prefill_s=max(compute_s, memory_s),
                       prefill_bound="compute" if compute_s >= memory_s else "memory")


# ---- one configuration -----------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class SpeedReport(Displayed):
    """Decode and prefill of one model on ``n_devices`` devices. ``to_dict()`` is flat: model fields,
    every :class:`DecodeStep` field (``time_per_token_s``, ``decode_tokens_per_s``,
    ``total_tokens_per_s``, ``bound``, ``crossover_batch``, ...) and every :class:`PrefillStep` field
    (``prefill_s``, ...)."""

    _display = (("model", ""), ("dtype", ""), ("batch", "sequences", lambda r: r.decode.batch),
                ("device", "", lambda r: r.decode.device), ("decode_tokens_per_s", "tokens/s"),
                ("total_tokens_per_s", "tokens/s"), ("time_per_token_s", "s"), ("bound", ""), ("prefill_s", "s"))

    model: str
    dtype: str
    kv_dtype: str
    params_total: int
    params_active: int
    context_tokens: int
    decode: DecodeStep
    prefill: PrefillStep
    trained_context_tokens: int = 0
    notes: tuple[str, ...] = ()

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
        """"memory" or "compute": the whole decode step (memory time, weights + KV, vs compute time)."""
        return self.decode.bound

    @property
    def crossover_batch(self) -> float:
        """Batch at which the whole decode step turns compute-bound (inf: never, at this context)."""
        return self.decode.crossover_batch

    @property
    def prefill_s(self) -> float:
        """Seconds to prefill the batch's prompts (time to first token)."""
        return self.prefill.prefill_s

    def to_dict(self) -> dict[str, Any]:
        """Flat plain dict (JSON-ready)."""
        head = {k: getattr(self, k) for k in ("model", "dtype", "kv_dtype", "params_total", "params_active",
                                               "context_tokens", "trained_context_tokens")}
        return {**head, **self.decode.to_dict(), **self.prefill.to_dict(),
                "notes": [*self.notes, *self.decode.notes]}


def serving_speed(model: ModelLike, device: str | Device, *, n_devices: int = 1, batch: int = 1,
                  context_tokens: int = 4096, prompt_tokens: int | None = None, dtype: str = "bf16",
                  kv_dtype: str = "bf16", compute_dtype: str | None = None, compute_efficiency: float = 1.0,
                  bandwidth_efficiency: float = 1.0, tp_efficiency: float = 1.0,
                  expert_routing: str = "independent") -> SpeedReport:
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
                         kv_bytes_per_sequence=mem.kv_bytes_per_sequence(arch, context, kv_dtype),
                         active_params=arch.active_params(), device=dev, batch=batch, n_devices=n_devices,
                         compute_dtype=dtype_c, n_kv_shards=mem.kv_shards(arch, n_devices),
                         expert_weights_bytes=mem.expert_weights_bytes(arch, dtype), n_experts=arch.n_experts,
                         n_active_experts=arch.n_active_experts, expert_routing=expert_routing, **efficiencies)
    prefill = prefill_step(arch, dev, prompt_tokens=prompt, batch=batch, n_devices=n_devices, dtype=dtype,
                           kv_dtype=kv_dtype, compute_dtype=dtype_c, expert_routing=expert_routing, **efficiencies)
    notes = [mem.context_note(arch, context, "context"), mem.kv_window_note(arch, context)]
    if prompt != context:
        notes.append(mem.context_note(arch, prompt, "prompt"))
    return SpeedReport(model=arch.name, dtype=str(dtype).lower(), kv_dtype=str(kv_dtype).lower(),
                       params_total=arch.params(), params_active=arch.active_params(), context_tokens=context,
                       decode=decode, prefill=prefill, trained_context_tokens=arch.seq_len,
                       notes=tuple(n for n in notes if n))


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
    sizes = batch_range(1, 512) if batches is None else [positive_count("batch", b) for b in
                                                         as_list("batch sweep sizes", batches)]
    return [serving_speed(model, device, batch=b, **options) for b in sizes]


def model_size_sweep(models: Sequence[ModelLike], device: str | Device, **options: Any) -> list[SpeedReport]:
    """The token-generation scaling law on one device setup: a :class:`SpeedReport` per model, sorted by
    total parameters (tokens/s falls roughly as 1/N while memory-bound); ``options`` as
    :func:`serving_speed`."""
    reports = [serving_speed(m, device, **options) for m in as_list("model size sweep models", models)]
    return sorted(reports, key=lambda r: r.params_total)


# ---- efficiency from a measurement -----------------------------------------------------------------
def measured_efficiency(report: SpeedReport, time_per_token_s: float, label: str | None = None) -> dict[str, float]:
    """MBU and MFU of a measured decode step of ``report``'s configuration: ``mbu`` from the bytes the
    roofline says a step moves (weights read + batch x KV), ``mfu`` from batch / time tokens/s. ``label``
    names the measurement in errors (the CLI passes its flag)."""
    if not isinstance(report, SpeedReport):
        raise ScalingLabError(f"report must be a SpeedReport (from serving_speed), got {type(report).__name__}")
    d = report.decode
    seconds = _positive(label or "measured time_per_token_s", time_per_token_s)
    mbu = model_bandwidth_utilization(d.bytes_per_step, seconds, d.device, d.n_devices, label=label)
    mfu = model_flops_utilization(d.active_params, d.batch / seconds, d.device, d.n_devices, d.compute_dtype,
                                  label=label)
    return {"measured_time_per_token_s": seconds, "mbu": mbu, "mfu": mfu}
