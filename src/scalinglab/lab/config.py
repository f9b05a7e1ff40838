"""The configuration of one training run, without torch: :class:`RunConfig` (validation, resolved
values and derived counts), the learning-rate rule (:func:`default_lr`) and schedule (:func:`lr_at`),
and what the lab model can build (:func:`check_buildable`).

Sweep designs (:mod:`scalinglab.lab.design`), planned runs (:mod:`scalinglab.lab.spec`), dry runs, the
run store's rows and the CLI's planning commands import this module only, so they work after a plain
``pip install .``; training (:mod:`scalinglab.lab.train`, :mod:`scalinglab.lab.model`) needs torch, the
``lab`` extra (:func:`scalinglab.lab.requires.require_torch`).

Units: tokens are counts of training tokens (``steps x batch_size x seq_len``); parameters are counts
as :class:`~scalinglab.plan.architecture.Architecture` charges them (the lab model builds exactly
``Architecture.params()`` trainable parameters); FLOPs are ``C = 6 N D`` (:mod:`scalinglab.plan.flops`
convention ``"6N"``) with N the non-embedding count by default (``flops_params``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError, positive_count
from scalinglab.plan.architecture import Architecture
from scalinglab.plan.flops import flops_per_token, forward_flops_per_token

__all__ = ["BASE_LR", "BASE_WIDTH", "CURVE_EVAL_DIVISOR", "SCHEDULES", "DevicePlan", "RunConfig", "check_buildable", "default_lr", "device_plan",
           "lr_at"]

#: Learning-rate schedules a run can follow (:func:`lr_at`).
SCHEDULES = ("cosine", "constant", "linear", "wsd")

#: Width rule anchor: GPT-3 Small (d_model 768) trained at peak lr 6e-4 (Brown et al. 2020, Table 2.1).
BASE_LR = 6e-4
BASE_WIDTH = 768
#: Evaluations before the last score ``eval_tokens // CURVE_EVAL_DIVISOR`` held-out tokens by default
#: (:attr:`RunConfig.curve_tokens`).
CURVE_EVAL_DIVISOR = 4


def default_lr(d_model: int) -> float:
    """Peak learning rate ``BASE_LR x BASE_WIDTH / d_model`` = 6e-4 x 768 / d_model.

    The 1/width scaling is muP's rule for Adam on hidden weight matrices (Yang et al. 2022, "Tensor
    Programs V", Table 3), applied here to every parameter for simplicity. It reproduces GPT-3's
    hand-tuned values closely: d_model 1024 -> 4.5e-4 (GPT-3: 3e-4), 2048 -> 2.25e-4 (GPT-3: 2e-4);
    tiny models get larger rates: d_model 64 -> 7.2e-3.
    """
    return BASE_LR * BASE_WIDTH / d_model


def check_buildable(arch: Architecture) -> None:
    """Raise :class:`ScalingLabError` (one line, naming the field) if the lab model
    (:class:`scalinglab.lab.model.GPT`) cannot build ``arch``."""
    where = f"architecture '{arch.name}'"
    if arch.position not in ("learned", "rotary", "none"):
        raise ScalingLabError(f"{where}: position={arch.position!r} is not implemented by the lab model "
                              "(use learned, rotary or none)")
    if arch.n_experts != 1:
        raise ScalingLabError(f"{where}: n_experts={arch.n_experts}: mixture-of-experts is not implemented "
                              "by the lab model")
    unsupported = [f for f in ("qkv_bias", "sliding_window", "kv_lora_rank") if getattr(arch, f)]
    if unsupported:
        raise ScalingLabError(f"{where}: {unsupported[0]}={getattr(arch, unsupported[0])!r} is not implemented by "
                              "the lab model")
    if arch.norms_per_layer not in (1, 2):
        raise ScalingLabError(f"{where}: norms_per_layer={arch.norms_per_layer} is not supported "
                              "(2: pre-norm blocks, 1: parallel blocks)")
    if arch.position == "rotary" and arch.head_dim % 2:  # type: ignore[operator]
        raise ScalingLabError(f"{where}: rotary positions need an even head_dim, got {arch.head_dim}")


@dataclass(frozen=True)
class RunConfig:
    """One training run. ``tokens``: training budget (tokens), rounded DOWN to whole steps of
    ``batch_size x seq_len`` tokens; ``seq_len`` (tokens per sequence) defaults to ``arch.seq_len``;
    ``lr`` (peak) defaults to :func:`default_lr`; ``eval_every_tokens`` defaults to a tenth of the
    budget; ``eval_tokens`` is how many held-out tokens the LAST evaluation scores (the run's final
    loss); ``curve_eval_tokens`` how many each earlier evaluation (the loss curve) scores, the first
    of the same windows, default :attr:`curve_tokens` (a quarter of ``eval_tokens``).

    Derived counts (no torch needed): :attr:`steps`, :attr:`trained_tokens`, :attr:`params` and
    :attr:`params_non_embedding` (``Architecture``'s counts, which the lab model builds exactly) and
    :attr:`flops` (6 N D as the trainer reports it)."""

    arch: Architecture
    tokens: int
    batch_size: int = 16
    seq_len: int | None = None
    lr: float | None = None
    warmup_fraction: float = 0.05
    min_lr_fraction: float = 0.1
    schedule: str = "cosine"
    cooldown_fraction: float = 0.2
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    eval_every_tokens: int | None = None
    eval_tokens: int = 16_384
    device: str = "cpu"
    compile: bool = False
    flops_params: str = "non_embedding"
    measure_noise_scale: bool = False
    curve_eval_tokens: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.arch, Architecture):
            raise ScalingLabError(f"run config: arch must be an Architecture, got {type(self.arch).__name__}")
        check_buildable(self.arch)
        for name in ("tokens", "batch_size", "eval_tokens"):
            _positive_int(name, getattr(self, name))
        for name in ("seq_len", "eval_every_tokens", "curve_eval_tokens"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))
        if self.curve_tokens > self.eval_tokens:
            raise ScalingLabError(f"run config: curve_eval_tokens={self.curve_eval_tokens} exceeds eval_tokens="
                                  f"{self.eval_tokens} (the curve scores the first of the final evaluation's windows)")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ScalingLabError(f"run config: seed must be a non-negative integer, got {self.seed!r}")
        if self.context > self.arch.seq_len:
            raise ScalingLabError(f"run config: seq_len={self.context} exceeds architecture "
                                  f"'{self.arch.name}' seq_len={self.arch.seq_len}")
        self._check_optimiser()
        if self.steps < 1:
            raise ScalingLabError(f"run config: tokens={self.tokens} is less than one step of batch_size x "
                                  f"seq_len = {self.tokens_per_step} tokens")

    def _check_optimiser(self) -> None:
        ranges: dict[str, tuple[Any, str, Callable[[float], bool]]] = {
            "lr": (self.peak_lr, "> 0", lambda v: v > 0),
            "warmup_fraction": (self.warmup_fraction, "in [0, 1)", lambda v: 0 <= v < 1),
            "min_lr_fraction": (self.min_lr_fraction, "in [0, 1]", lambda v: 0 <= v <= 1),
            "cooldown_fraction": (self.cooldown_fraction, "in (0, 1]", lambda v: 0 < v <= 1),
            "weight_decay": (self.weight_decay, ">= 0", lambda v: v >= 0),
            "grad_clip": (self.grad_clip, "> 0", lambda v: v > 0),
        }
        for name, (value, wanted, ok) in ranges.items():
            number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not (number and ok(value)):
                raise ScalingLabError(f"run config: {name}={value!r} must be a number {wanted}")
        if self.schedule not in SCHEDULES:
            raise ScalingLabError(f"run config: schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not isinstance(self.device, str) or not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ScalingLabError(f"run config: device must be 'cpu' or 'cuda', got {self.device!r}")
        if not isinstance(self.measure_noise_scale, bool):
            raise ScalingLabError(f"run config: measure_noise_scale must be true or false, got {self.measure_noise_scale!r}")
        if self.measure_noise_scale and (self.batch_size < 2 or self.batch_size % 2):
            raise ScalingLabError(f"run config: measure_noise_scale needs an even batch_size >= 2, got {self.batch_size}")
        if self.flops_params not in ("non_embedding", "total"):
            raise ScalingLabError(f"run config: flops_params must be 'non_embedding' or 'total', "
                                  f"got {self.flops_params!r}")

    # ---- resolved values -------------------------------------------------------------------------
    @property
    def context(self) -> int:
        """Tokens per training sequence."""
        return self.arch.seq_len if self.seq_len is None else self.seq_len

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.context

    @property
    def steps(self) -> int:
        """Optimiser steps: ``tokens // (batch_size x seq_len)``."""
        return self.tokens // self.tokens_per_step

    @property
    def peak_lr(self) -> float:
        return default_lr(self.arch.d_model) if self.lr is None else self.lr

    @property
    def warmup_steps(self) -> int:
        return round(self.warmup_fraction * self.steps)

    @property
    def eval_every_steps(self) -> int:
        every = self.eval_every_tokens if self.eval_every_tokens is not None else self.tokens / 10
        return max(1, round(every / self.tokens_per_step))

    @property
    def curve_tokens(self) -> int:
        """Held-out tokens each evaluation before the last scores: ``curve_eval_tokens``, default
        ``max(1, eval_tokens // CURVE_EVAL_DIVISOR)`` (a quarter). Evaluation sized to its purpose: the
        final loss (what scaling fits read) is scored on all ``eval_tokens``; a curve point, one of
        about ten per run, needs less (standard error x 2 for a quarter of the tokens). The curve's
        windows are the first of the final evaluation's, so every point scores a fixed token set."""
        if self.curve_eval_tokens is not None:
            return self.curve_eval_tokens
        return max(1, self.eval_tokens // CURVE_EVAL_DIVISOR)

    # ---- derived counts (plan/'s conventions; what the trainer reports) ----------------------------
    @property
    def trained_tokens(self) -> int:
        """Tokens actually trained: ``steps x batch_size x seq_len`` (``tokens`` rounded down to whole steps)."""
        return self.steps * self.tokens_per_step

    @property
    def params(self) -> int:
        """Trainable parameters with embeddings (``Architecture.params()``; the lab model builds exactly these)."""
        return self.arch.params()

    @property
    def params_non_embedding(self) -> int:
        """Non-embedding parameters (Kaplan et al. 2020's N, ``Architecture.params_non_embedding()``)."""
        return self.arch.params_non_embedding()

    @property
    def flops_per_token(self) -> float:
        """Training FLOPs per token, 6 N with N as ``flops_params`` (:func:`scalinglab.plan.flops.flops_per_token`)."""
        return flops_per_token(self.arch, "6N", params=self.flops_params)

    @property
    def flops(self) -> float:
        """Training FLOPs of the run, 6 N D with D = :attr:`trained_tokens` (as the trainer reports them)."""
        return self.flops_per_token * self.trained_tokens

    # ---- work executed (for time estimates, not for laws) -------------------------------------------
    @property
    def evaluated_tokens(self) -> int:
        """Held-out tokens scored over the run (:func:`scalinglab.lab.train.train_run`): :attr:`curve_tokens`
        at every evaluation (one every ``eval_every_steps`` steps and one at the end), and at the end also
        :attr:`eval_tokens` for the final loss unless the two are the same."""
        n_evals = math.ceil(self.steps / self.eval_every_steps)
        return n_evals * self.curve_tokens + (0 if self.curve_tokens == self.eval_tokens else self.eval_tokens)

    @property
    def executed_flops(self) -> float:
        """FLOPs actually executed: 3 x the forward count of Hoffmann et al. 2022 App. F (with embeddings,
        attention and logits) per trained token, plus one forward per evaluated token."""
        forward = forward_flops_per_token(self.arch, "chinchilla-appendix")
        return 3.0 * forward * self.trained_tokens + forward * self.evaluated_tokens

    @property
    def step_equivalents(self) -> float:
        """Optimiser steps plus the evaluation's forward-only batches (a third of a step each): what a
        fixed per-step cost (Python, kernel launches, the optimiser's update) is paid on."""
        return self.steps + self.evaluated_tokens / (3.0 * self.tokens_per_step)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields (the architecture as its own dict), for stores and checkpoints.
        ``measure_noise_scale`` appears only when true, ``schedule`` only when not cosine and
        ``cooldown_fraction`` only for WSD and ``curve_eval_tokens`` only when set, so runs planned before they existed keep their identity in a
        store."""
        d = {**asdict(self), "arch": asdict(self.arch)}
        if not self.measure_noise_scale:
            del d["measure_noise_scale"]
        if self.schedule == "cosine":  # likewise runs planned before schedules existed
            del d["schedule"]
        if self.schedule != "wsd":
            del d["cooldown_fraction"]
        if self.curve_eval_tokens is None:
            del d["curve_eval_tokens"]
        return d


@dataclass(frozen=True)
class DevicePlan:
    """How the trainer runs on a device type: ``autocast_dtype`` (torch dtype name for
    ``torch.autocast``, or None: full fp32), ``fused_adamw`` (``torch.optim.AdamW(fused=...)``),
    ``compile`` (wrap the model in ``torch.compile``)."""

    device_type: str
    autocast_dtype: str | None
    fused_adamw: bool
    compile: bool


def device_plan(device: str, compile: bool = False) -> DevicePlan:
    """The trainer's choices for ``device`` ("cpu", "cuda" or "cuda:i"), a pure function.

    CUDA: bf16 autocast (matmuls and attention in bf16 on the tensor cores, fp32 master weights and
    optimiser state, loss in fp32; no loss scaling needed, unlike fp16: Micikevicius et al. 2018,
    Kalamkar et al. 2019), fused AdamW (one kernel for all parameters). CPU: fp32 throughout (bf16 on
    CPUs without AMX is slower and changes the numbers), the plain AdamW loop. ``torch.compile`` as
    asked on either (on the CPU it needs a C compiler)."""
    kind = device.split(":", 1)[0]
    if kind not in ("cpu", "cuda"):
        raise ScalingLabError(f"device must be 'cpu' or 'cuda[:i]', got {device!r}")
    cuda = kind == "cuda"
    return DevicePlan(kind, "bfloat16" if cuda else None, fused_adamw=cuda, compile=bool(compile))


def _positive_int(name: str, value: Any) -> None:
    """A whole count >= 1 stored as an int (a float such as 1e6 is refused: configs are exact)."""
    if not isinstance(value, (int, np.integer)):
        raise ScalingLabError(f"run config: {name} must be a whole number >= 1, got {value!r}")
    positive_count(f"run config: {name}", value)


def lr_at(step: int, config: RunConfig) -> float:
    """Learning rate for optimiser step ``step`` (0-based) of ``config``'s run.

    Warmup ``W`` steps: ``lr x (step + 1) / W``. Then cosine from ``lr`` at step W to ``min_lr_fraction x
    lr`` at the last step S - 1: ``min + (lr - min) x (1 + cos(pi p)) / 2``, ``p = (step - W) / (S - 1 - W)``;
    ``constant``: ``lr``; ``linear``: ``lr + (min - lr) p``; ``wsd``: ``lr`` until step
    ``S - round(cooldown_fraction x S)``, then linear from there to ``min`` at step S - 1.
    """
    peak, warmup, last = config.peak_lr, config.warmup_steps, config.steps - 1
    if step < warmup:
        return peak * (step + 1) / warmup
    low = config.min_lr_fraction * peak
    if config.schedule == "constant":
        return peak
    if config.schedule == "wsd":  # hold the peak, then decay linearly over the last cooldown steps
        warmup = max(warmup, config.steps - round(config.cooldown_fraction * config.steps))
        if step < warmup:
            return peak
    progress = min(1.0, (step - warmup) / max(1, last - warmup))
    if config.schedule in ("linear", "wsd"):
        return peak + (low - peak) * progress
    return low + (peak - low) * 0.5 * (1.0 + math.cos(math.pi * progress))
