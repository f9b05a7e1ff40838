"""Roofline speed of serving a decoder-only transformer: decode steps, prefill, sweeps, MBU and MFU.

The decode step itself (its formula, the crossover batches, the experts a MoE step reads, and how FLOPS
and BW include the device count and efficiencies) is :mod:`.decode`; this module applies it to a named
model and adds prefill, sweeps and efficiencies from a measurement.

Units: time in seconds, FLOPs a count, FLOP/s a rate (DENSE peak of one device, :mod:`.hardware`),
bytes, bytes/s, tokens, tokens/s. N_active = parameters used per token (embeddings included, active
experts only); weights in memory count ALL parameters (:mod:`.memory`).

Formulas (references.md C3; JAX scaling book, inference chapter; kipply 2022):

* Prefill of ``batch`` prompts of P tokens (time to first token when they are prefilled together):
  FLOPs = batch x (2 N_active P + 2 n_layer P^2 n_heads head_dim); the second term is causal attention
  (QK^T and AV, 4 P^2 d_attn per layer halved by the causal mask; references.md C3, PaLM's 4 L T d forward
  halved; a sliding window W bounds a local layer's keys, and MLA's AV uses v_head_dim: references.md
  C4); ``prefill_s = max(FLOPs / FLOPS, (weights_bytes + KV written) / BW)``, the KV written being the
  cache kept (:func:`.memory.kv_bytes_per_sequence`, bounded by any window).
* MBU (Databricks/MosaicML 2023): (weights_bytes + KV bytes read per step) / measured time per token /
  (K x peak bandwidth). 7B fp16 (14 GB) at 14 ms/token on 2 TB/s: 50%. MFU: 2 x N_active x tokens/s /
  (K x peak FLOP/s).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import scalinglab.inference.memory as mem
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, as_list, finite_result, fraction, positive_count, positive_number
from scalinglab.inference.decode import DecodeStep, decode_step, tp_factor
from scalinglab.inference.memory import EXPERT_ROUTINGS, ModelLike, experts_touched
from scalinglab.inference.metrics import model_bandwidth_utilization, model_flops_utilization
from scalinglab.plan.hardware import Device, get_device
from scalinglab.plan.presets import get_architecture

__all__ = [
    "DecodeStep", "PrefillStep", "SpeedReport", "default_compute_dtype", "decode_step", "prefill_step",
    "serving_speed", "experts_touched", "EXPERT_ROUTINGS", "batch_range", "batch_sweep", "model_size_sweep",
    "model_bandwidth_utilization", "model_flops_utilization", "measured_efficiency",
]



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
    tp = tp_factor(k, fraction("tp_efficiency", tp_efficiency))
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
    seconds = positive_number(label or "measured time_per_token_s", time_per_token_s)
    mbu = model_bandwidth_utilization(d.bytes_per_step, seconds, d.device, d.n_devices, label=label)
    mfu = model_flops_utilization(d.active_params, d.batch / seconds, d.device, d.n_devices, d.compute_dtype,
                                  label=label)
    return {"measured_time_per_token_s": seconds, "mbu": mbu, "mfu": mfu}
