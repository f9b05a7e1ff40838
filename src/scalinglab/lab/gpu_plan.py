"""Training memory per GPU and time on a catalogue GPU for the lab's planned runs (``sweep --dry-run --gpu``).

Needs no torch: everything is arithmetic on :class:`~scalinglab.lab.config.RunConfig` and the hardware
catalogue (:mod:`scalinglab.plan.hardware`). Units: bytes (1 GB = 1e9 bytes, as the catalogue), FLOPs
(counts), FLOP/s, seconds, GPU-hours.

Memory (:func:`training_memory`) models the lab trainer on CUDA (:mod:`scalinglab.lab.train`): fp32
parameters under bf16 autocast, fused AdamW, eager mode, one run per GPU, the whole batch of
``batch_size`` sequences of ``seq_len`` tokens in one step (the trainer has no gradient accumulation:
the micro-batch is the batch). Bytes per element from :data:`scalinglab.counting.DTYPE_BYTES`
(fp32 4, bf16 2):

* model state, per parameter P (all parameters, embeddings included): fp32 weights 4 + fp32 gradients
  4 + AdamW's two fp32 moments 8 = 16 bytes (the "16 bytes per parameter" of mixed-precision Adam,
  Rajbhandari et al. 2020, ZeRO, sec. 3.1, where the 2-byte fp16 weights and gradients plus a 4-byte
  master copy are here 4-byte weights and gradients), plus autocast's bf16 copy of every weight used
  in a matmul, 2 bytes per weight-matrix entry (:meth:`Architecture.params_weight_matrices` less the
  token-embedding lookup when untied and the learned position table). The gradients are counted in
  full although they only build up as activations are freed: an upper bound of the peak.
* activations, per token of the batch (T = batch_size x seq_len tokens), following the accounting of
  Korthikanti et al. 2022 (arXiv:2205.05198, sec. 4.1: 34 s b h + 5 a s^2 b bytes per layer in 16-bit
  Megatron layers) applied to what the lab's layer saves for backward: per layer
  ``16 h + 8 w + 4 d_ff + 4 n_heads + 16`` bytes for width h = d_model and attention width w
  (= h here): the two LayerNorm inputs kept in fp32 (the residual stream is fp32 under autocast,
  2 x 4 h), bf16 casts of the first norm's output for each of the Q, K, V projections (3 x 2 h) and of
  the second's for the MLP (2 h), the rotated Q and K and the V that attention keeps (3 x 2 w), the
  attention output (2 w, also the output projection's input), the GELU input and output (2 x 2 d_ff),
  the attention's fp32 log-sum-exp (4 per head) and the norms' fp32 mean and 1/std (2 x 8). Against
  Korthikanti's 34 h: no dropout masks (-2 h), no s^2 score terms (``scaled_dot_product_attention``
  never stores the T x T scores: FlashAttention, Dao et al. 2022), separate Q/K/V input casts (+4 h)
  and fp32 norm inputs (+4 h). Then the head: the final norm's fp32 input (4 h + 8), the head input's
  bf16 cast (2 h), the fp32 log-probabilities of the cross-entropy (4 V), the bf16 logits the training
  loop holds during backward (2 V), the int64 inputs and targets (16) and, at the start of backward,
  the fp32 gradients of the log-probabilities and of the logits (8 V, transient but at the peak).
  Checked against the tensors autograd saves for the lab model under CPU bf16 autocast
  (tests/lab/test_gpu_plan.py). Not counted: the CUDA context and allocator fragmentation (typically
  some hundreds of MB to a few GB), ``torch.compile`` (which usually saves less), and the evaluation
  pass (no gradients: smaller than training).

Time (:func:`gpu_dry_run_table`): est_seconds = executed FLOPs / (dense bf16 peak x MFU), the executed
FLOPs as the CPU dry run counts them (:func:`scalinglab.lab.design.dry_run_table`: 3 x the forward FLOPs
of Hoffmann et al. 2022 App. F with attention, embeddings and logits, per trained token, plus every
evaluation's forward pass), the peak from :mod:`scalinglab.plan.hardware` (e.g. H100 SXM 989.4e12 FLOP/s
dense bf16) and :data:`ASSUMED_MFU` = 0.40 unless given: an ASSUMPTION, not a measurement. Large
well-tuned runs reach about that (Llama 3 405B 38-43% on H100, Dubey et al. 2024 Table 4; PaLM 540B
46.2%, Chowdhery et al. 2022 Table 3); small models on one GPU usually reach less, so for them the time is
optimistic. GPU-hours = sum of est_seconds / 3600 (one GPU per run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from scalinglab.counting import DTYPE_BYTES, SECONDS_PER_HOUR
from scalinglab.errors import ScalingLabError, fraction
from scalinglab.lab.config import RunConfig
from scalinglab.lab.design import DRY_RUN_COLUMNS, dry_run_table
from scalinglab.lab.spec import PlannedRun
from scalinglab.plan.hardware import Device, get_device

__all__ = ["ASSUMED_MFU", "GPU_COLUMNS", "TrainingMemory", "check_fits", "gpu_dry_run_table", "gpu_hours",
           "head_bytes_per_token", "layer_bytes_per_token", "training_memory"]

#: ASSUMED model FLOPs utilization for the time estimate (module docstring).
ASSUMED_MFU = 0.40
#: Columns :func:`gpu_dry_run_table` adds to :data:`~scalinglab.lab.design.DRY_RUN_COLUMNS`.
GPU_COLUMNS = ("memory_bytes_per_gpu", "gpu", "gpu_memory_bytes", "fits")

_FP32, _BF16 = DTYPE_BYTES["fp32"], DTYPE_BYTES["bf16"]
_INT64 = 8.0
#: fp32 mean and 1/std a LayerNorm keeps per token (bytes).
_NORM_STATS = 2 * _FP32


@dataclass(frozen=True)
class TrainingMemory:
    """Peak training memory of one run on one GPU (bytes; :func:`training_memory`). ``tokens``: the
    tokens of one step (batch_size x seq_len); ``total_bytes`` is the sum of the five parts."""

    tokens: int
    state_bytes: float
    weight_copy_bytes: float
    layer_activation_bytes: float
    head_activation_bytes: float
    logit_gradient_bytes: float
    total_bytes: float

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def _check_modelled(config: RunConfig) -> None:
    a = config.arch
    if a.norms_per_layer != 2 or a.gated_mlp or a.n_kv_heads != a.n_heads or a.norm != "layernorm":
        raise ScalingLabError(f"architecture '{a.name}': the training memory model covers pre-norm blocks with "
                              "LayerNorm, a GELU MLP and full multi-head attention (the lab's designs)")


def layer_bytes_per_token(config: RunConfig) -> float:
    """Activation bytes one layer keeps per token for backward (module docstring):
    16 h + 8 w + 4 d_ff + 4 n_heads + 2 x 8."""
    a = config.arch
    h, w = a.d_model, a.attention_width
    norm_inputs = 2 * _FP32 * h
    casts = 4 * _BF16 * h  # Q, K, V and MLP-up inputs
    attention = 3 * _BF16 * w + _BF16 * w + _FP32 * a.n_heads  # rotated Q, K, V; output; log-sum-exp
    mlp = 2 * _BF16 * a.d_ff  # GELU input and output
    return norm_inputs + casts + attention + mlp + 2 * _NORM_STATS


def head_bytes_per_token(config: RunConfig) -> float:
    """Activation bytes per token outside the layers (module docstring): final norm input and stats,
    head input cast, fp32 log-probabilities, held bf16 logits, int64 inputs and targets."""
    a = config.arch
    return (_FP32 * a.d_model + _NORM_STATS + _BF16 * a.d_model + (_FP32 + _BF16) * a.vocab_size
            + 2 * _INT64)


def training_memory(config: RunConfig) -> TrainingMemory:
    """Peak bytes on one GPU to train ``config`` with the lab trainer's CUDA path (module docstring):
    16 bytes per parameter (fp32 weights, gradients, two AdamW moments) + 2 per matmul weight (bf16
    autocast copies) + T x (n_layer x :func:`layer_bytes_per_token` + :func:`head_bytes_per_token`)
    + 8 V T (the fp32 logit gradients at the start of backward), T = batch_size x seq_len tokens."""
    _check_modelled(config)
    a, tokens = config.arch, config.tokens_per_step
    b = a.breakdown()
    matmul = a.params_weight_matrices() - b["position"] - (0 if a.tied_embeddings else b["embedding"])
    state = a.params() * (_FP32 + _FP32 + 2 * _FP32)  # weights, gradients, AdamW exp_avg and exp_avg_sq
    copies = matmul * _BF16
    layers = tokens * a.n_layer * layer_bytes_per_token(config)
    head = tokens * head_bytes_per_token(config)
    logit_grads = tokens * 2 * _FP32 * a.vocab_size
    return TrainingMemory(tokens=tokens, state_bytes=state, weight_copy_bytes=copies, layer_activation_bytes=layers,
                          head_activation_bytes=head, logit_gradient_bytes=logit_grads,
                          total_bytes=state + copies + layers + head + logit_grads)


def _device(gpu: str | Device) -> Device:
    dev = get_device(gpu)
    if "bf16" not in dev.peak_flops_per_s:  # the trainer runs bf16 autocast on a GPU
        raise ScalingLabError(f"gpu {dev.key} has no bf16 peak in the catalogue (the lab trains in bf16 autocast "
                              "on a GPU); choose another, see 'scalinglab devices'")
    return dev


def gpu_dry_run_table(runs: Sequence[PlannedRun], gpu: str | Device, mfu: float = ASSUMED_MFU) -> pd.DataFrame:
    """The dry-run table (:data:`~scalinglab.lab.design.DRY_RUN_COLUMNS`) with est_seconds on ``gpu``
    (catalogue key or alias) at ``mfu`` (fraction of the dense bf16 peak, default the ASSUMED 0.40), plus
    :data:`GPU_COLUMNS`: memory_bytes_per_gpu (:func:`training_memory`), gpu (catalogue key),
    gpu_memory_bytes (the device's HBM) and fits (memory_bytes_per_gpu <= gpu_memory_bytes)."""
    dev = _device(gpu)
    rate = dev.peak("bf16") * fraction("mfu", mfu)
    table = dry_run_table(list(runs), seconds_per_flop=1.0 / rate)
    memory = [training_memory(run.config).total_bytes for run in runs]
    table["memory_bytes_per_gpu"] = memory
    table["gpu"] = dev.key
    table["gpu_memory_bytes"] = dev.memory_bytes
    table["fits"] = [m <= dev.memory_bytes for m in memory]
    return table[[*DRY_RUN_COLUMNS, *GPU_COLUMNS]]


def gpu_hours(table: pd.DataFrame) -> float:
    """Total GPU-hours of a :func:`gpu_dry_run_table`: sum of est_seconds / 3600 (one GPU per run)."""
    return float(table["est_seconds"].sum()) / SECONDS_PER_HOUR


def check_fits(table: pd.DataFrame) -> None:
    """Raise a one-line :class:`ScalingLabError` when a run of a :func:`gpu_dry_run_table` does not fit
    its GPU, naming the first such run, its shape, the memory it needs and the device's memory."""
    unfit = table[~table["fits"].astype(bool)]
    if unfit.empty:
        return
    r = unfit.iloc[0]
    others = f" ({len(unfit)} of {len(table)} runs do not fit)" if len(unfit) > 1 else ""
    raise ScalingLabError(f"run '{r['label']}' ({r['n_layer']} layers x d_model {r['d_model']}) needs "
                          f"{r['memory_bytes_per_gpu'] / 1e9:.1f} GB per GPU to train, more than the "
                          f"{r['gpu_memory_bytes'] / 1e9:.0f} GB of {r['gpu']}{others}; use a smaller "
                          "--batch-size or --seq-len, or a GPU with more memory")
