"""Roofline time of one decode step of a decoder-only transformer, from raw sizes: the memory- and
compute-bound terms, the crossover batches, and the experts a mixture-of-experts step reads.

Units: time in seconds, FLOPs a count, FLOP/s a rate (DENSE peak of one device, :mod:`.hardware`),
bytes, bytes/s, tokens, tokens/s. N_active = parameters used per token (embeddings included, active
experts only); weights in memory count ALL parameters (:mod:`.memory`). :mod:`.speed` builds on this
step for a named model (prefill, sweeps, MBU and MFU).

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
* FLOPS = n_devices x peak(compute dtype) x compute_efficiency x TP (compute dtype: bf16, or fp8 for fp8
  weights on a device with an fp8 peak, unless given; :func:`.speed.default_compute_dtype`); BW = n_devices x HBM bandwidth x
  bandwidth_efficiency x TP, with TP = tp_efficiency when n_devices > 1 (else 1): ideal tensor
  parallelism scaled by a named factor. The KV term divides by ``kv_shards`` (min(K, n_kv_heads))
  instead of K: KV heads are replicated beyond that. Defaults 1.0 give the roofline lower bound on time;
  real engines reach ~50-80% (Databricks: MBU 60% on 2 x H100).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from scalinglab.display import Displayed
from scalinglab.errors import (
    ScalingLabError,
    count_number,
    finite_result,
    fraction,
    non_negative_number,
    positive_count,
    positive_number,
)
from scalinglab.inference.memory import experts_touched
from scalinglab.plan.hardware import Device, get_device

__all__ = ["DecodeStep", "decode_step", "tp_factor"]


def tp_factor(n_devices: int, tp_efficiency: float) -> float:
    """Effective device count: K x tp_efficiency for K > 1, exactly 1 for one device."""
    return n_devices * tp_efficiency if n_devices > 1 else 1.0


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
    w_bytes = positive_number("weights_bytes", weights_bytes)
    kv_seq = non_negative_number("kv_bytes_per_sequence", kv_bytes_per_sequence)
    n_active = count_number("active_params", active_params)
    c_eff = fraction("compute_efficiency", compute_efficiency)
    b_eff = fraction("bandwidth_efficiency", bandwidth_efficiency)
    tp = fraction("tp_efficiency", tp_efficiency)
    e_bytes = non_negative_number("expert_weights_bytes", expert_weights_bytes)
    if e_bytes > w_bytes:
        raise ScalingLabError(f"expert_weights_bytes={e_bytes:g} exceeds weights_bytes={w_bytes:g}")
    n_e = positive_count("n_experts", n_experts)
    routing = str(expert_routing).strip().lower()
    touched = experts_touched(n_e, n_active_experts, n_batch, routing)
    peak, bw = dev.peak(compute_dtype), dev.bandwidth_bytes_per_s
    flops_rate = tp_factor(k, tp) * peak * c_eff
    bytes_rate = tp_factor(k, tp) * bw * b_eff
    kv_rate = tp_factor(shards, tp) * bw * b_eff

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
