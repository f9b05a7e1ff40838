"""Train one :class:`~scalinglab.lab.model.GPT` on a :class:`~scalinglab.lab.data.TokenData`: one run.

Units: tokens are counts of training tokens (``steps x batch_size x seq_len``), losses are nats/token,
``val_bpb`` is bits per byte (``TokenData.bits_per_byte``), FLOPs are a count, times are seconds.

* Optimiser: AdamW (Loshchilov & Hutter 2019), betas (0.9, 0.95), eps 1e-8, weight decay on matrices
  and embeddings only (not on biases or norm weights, as nanoGPT); fused kernels on CUDA.
* Learning rate: peak ``lr`` (default :func:`default_lr`), linear warmup over ``warmup_fraction`` of the
  steps, then cosine decay to ``min_lr_fraction x lr`` at the run's own last step, so the decay always
  matches the token budget (Porian et al. 2024, "Resolving Discrepancies in Compute-Optimal Scaling of
  Language Models"; Hoffmann et al. 2022 decay 10x over the run as here): see :func:`lr_at`. Other
  ``schedule`` values: ``constant`` (the peak after warmup), ``linear`` (linear decay to the minimum),
  ``wsd`` (the peak until the last ``cooldown_fraction`` of the steps, then linear to the minimum;
  Hägele et al. 2024), for the schedule law of :mod:`scalinglab.analysis.schedule` (references.md L1).
* Gradients clipped to global L2 norm ``grad_clip``.
* FLOPs: ``C = 6 N D`` (:mod:`scalinglab.plan.flops` convention ``"6N"``) with N the NON-EMBEDDING
  parameter count (``params="non_embedding"``, Kaplan et al. 2020 sec. 2.1) by default; set
  ``RunConfig.flops_params="total"`` for N with embeddings (Hoffmann et al. 2022).
* Determinism: the model is initialised under ``torch.manual_seed(seed)`` (on the CPU, then moved),
  training windows are drawn by ``numpy.random.default_rng(seed)``, evaluation uses fixed windows from
  the start of the validation split. On the CPU training runs with ONE torch thread
  (``torch.set_num_threads(1)``, restored afterwards): tiny multi-threaded runs on a loaded 2-core
  machine are up to 50x slower, and one thread is bit-for-bit reproducible.
* Gradient noise scale: with ``measure_noise_scale`` each step's gradient is accumulated over its two
  halves and every evaluation carries B_simple in tokens (:mod:`scalinglab.lab.noise`).
* CUDA (``device="cuda"``): bf16 autocast, fused AdamW, optional ``torch.compile``.
* Checkpoints: with ``checkpoint_path`` a :class:`Checkpoint` (model, optimiser, step, RNG states,
  points so far) is written atomically after every evaluation, AFTER ``on_eval`` ran for it (a crash
  in between repeats that point on resume rather than losing it; stores should upsert on step).
  ``train_run(..., resume=Checkpoint.load(path))`` continues to the same final loss as a straight run.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from scalinglab.errors import ScalingLabError, positive_count
from scalinglab.lab.data import TokenData
from scalinglab.lab.model import GPT, check_buildable, count_params
from scalinglab.lab.noise import NoiseScaleMeter, two_half_backward
from scalinglab.lab.records import Checkpoint, EvalPoint, RunResult
from scalinglab.plan.architecture import Architecture
from scalinglab.plan.flops import flops_per_token

#: Learning-rate schedules a run can follow (:func:`lr_at`).
SCHEDULES = ("cosine", "constant", "linear", "wsd")

__all__ = ["BASE_LR", "BASE_WIDTH", "Checkpoint", "EvalPoint", "RunConfig", "RunResult", "default_lr",
           "lr_at", "train_run"]

#: Width rule anchor: GPT-3 Small (d_model 768) trained at peak lr 6e-4 (Brown et al. 2020, Table 2.1).
BASE_LR = 6e-4
BASE_WIDTH = 768


def default_lr(d_model: int) -> float:
    """Peak learning rate ``BASE_LR x BASE_WIDTH / d_model`` = 6e-4 x 768 / d_model.

    The 1/width scaling is muP's rule for Adam on hidden weight matrices (Yang et al. 2022, "Tensor
    Programs V", Table 3), applied here to every parameter for simplicity. It reproduces GPT-3's
    hand-tuned values closely: d_model 1024 -> 4.5e-4 (GPT-3: 3e-4), 2048 -> 2.25e-4 (GPT-3: 2e-4);
    tiny models get larger rates: d_model 64 -> 7.2e-3.
    """
    return BASE_LR * BASE_WIDTH / d_model


@dataclass(frozen=True)
class RunConfig:
    """One training run. ``tokens``: training budget (tokens), rounded DOWN to whole steps of
    ``batch_size x seq_len`` tokens; ``seq_len`` (tokens per sequence) defaults to ``arch.seq_len``;
    ``lr`` (peak) defaults to :func:`default_lr`; ``eval_every_tokens`` defaults to a tenth of the
    budget; ``eval_tokens`` is how many held-out tokens each evaluation scores."""

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

    def __post_init__(self) -> None:
        if not isinstance(self.arch, Architecture):
            raise ScalingLabError(f"run config: arch must be an Architecture, got {type(self.arch).__name__}")
        check_buildable(self.arch)
        for name in ("tokens", "batch_size", "eval_tokens"):
            _positive_int(name, getattr(self, name))
        for name in ("seq_len", "eval_every_tokens"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))
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

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields (the architecture as its own dict), for stores and checkpoints.
        ``measure_noise_scale`` appears only when true, ``schedule`` only when not cosine and
        ``cooldown_fraction`` only for WSD, so runs planned before they existed keep their identity in a
        store."""
        d = {**asdict(self), "arch": asdict(self.arch)}
        if not self.measure_noise_scale:
            del d["measure_noise_scale"]
        if self.schedule == "cosine":  # likewise runs planned before schedules existed
            del d["schedule"]
        if self.schedule != "wsd":
            del d["cooldown_fraction"]
        return d


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


# ---- the training loop ---------------------------------------------------------------------------
def _resolve_device(config: RunConfig) -> tuple[torch.device, str]:
    if config.device == "cpu":
        return torch.device("cpu"), "cpu"
    if not torch.cuda.is_available():
        raise ScalingLabError(f"run config: device={config.device!r} but CUDA is not available on this machine")
    device = torch.device(config.device)
    return device, f"{config.device} ({torch.cuda.get_device_name(device)})"


def _check_data(config: RunConfig, data: TokenData) -> None:
    where = f"corpus {data.name or '?'}"
    if data.vocab_size > config.arch.vocab_size:
        raise ScalingLabError(f"{where}: vocab_size={data.vocab_size} exceeds architecture "
                              f"'{config.arch.name}' vocab_size={config.arch.vocab_size}")
    for split, arr in (("train", data.train), ("val", data.val)):
        if arr.size < config.context + 1:
            raise ScalingLabError(f"{where}: the {split} split has {arr.size} tokens, fewer than seq_len + 1 = "
                                  f"{config.context + 1}")


def _make_optimizer(model: GPT, config: RunConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; weight decay on tensors with >= 2 dims (matrices, embeddings), none on biases and norms."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.peak_lr, betas=(0.9, 0.95), eps=1e-8,
                             fused=device.type == "cuda")


def _train_batch(tokens: np.ndarray, rng: np.random.Generator, config: RunConfig,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` windows of ``seq_len + 1`` tokens at uniform random offsets: inputs, targets."""
    starts = rng.integers(0, tokens.size - config.context, size=config.batch_size)
    window = torch.from_numpy(tokens[starts[:, None] + np.arange(config.context + 1)].astype(np.int64))
    window = window.to(device)
    return window[:, :-1], window[:, 1:]


@torch.no_grad()
def _evaluate(model: torch.nn.Module, tokens: np.ndarray, config: RunConfig, device: torch.device,
              autocast: Callable[[], contextlib.AbstractContextManager[Any]]) -> float:
    """Mean loss (nats/token) over the first ``eval_tokens // seq_len`` (at least 1) non-overlapping
    windows of the held-out split (as many as it holds), scored in batches of ``batch_size``."""
    t = config.context
    n_windows = max(1, min(config.eval_tokens // t, (tokens.size - 1) // t))
    starts = np.arange(n_windows) * t
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    for i in range(0, n_windows, config.batch_size):
        chunk = starts[i:i + config.batch_size]
        window = torch.from_numpy(tokens[chunk[:, None] + np.arange(t + 1)].astype(np.int64)).to(device)
        with autocast():
            logits = model(window[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)),
                                                 window[:, 1:].reshape(-1), reduction="sum")
        total, count = total + float(loss), count + window[:, 1:].numel()
    model.train(was_training)
    return total / count


def _check_resume(resume: Checkpoint, config: RunConfig) -> None:
    ignore = ("device", "compile")
    old = {k: v for k, v in resume.config.items() if k not in ignore}
    new = {k: v for k, v in config.to_dict().items() if k not in ignore}
    if old != new:
        changed = sorted(k for k in new if old.get(k) != new[k])
        raise ScalingLabError(f"checkpoint was written by a different run config (differs in {', '.join(changed)})")
    if not 0 <= resume.step <= config.steps:
        raise ScalingLabError(f"checkpoint step {resume.step} is outside this run's 0..{config.steps} steps")


def train_run(config: RunConfig, data: TokenData, on_eval: Callable[[EvalPoint], None] | None = None,
              resume: Checkpoint | None = None, *,
              checkpoint_path: str | os.PathLike[str] | None = None) -> RunResult:
    """Train ``config``'s model on ``data`` and evaluate every ``eval_every_steps`` steps and at the end.

    ``on_eval`` is called with each new :class:`EvalPoint`; ``resume`` continues from a checkpoint of
    the same config; ``checkpoint_path`` writes a :class:`Checkpoint` after each evaluation.
    """
    device, device_text = _resolve_device(config)
    _check_data(config, data)
    if resume is not None:
        _check_resume(resume, config)
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        return _train(config, data, on_eval, resume, checkpoint_path, device, device_text)
    finally:
        torch.set_num_threads(threads)


def _train(config: RunConfig, data: TokenData, on_eval: Callable[[EvalPoint], None] | None,
           resume: Checkpoint | None, checkpoint_path: str | os.PathLike[str] | None,
           device: torch.device, device_text: str) -> RunResult:
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    model = GPT(config.arch)  # built on the CPU under the seed, so every device starts from the same weights
    rng = np.random.default_rng(config.seed)
    points: list[EvalPoint] = []
    step, earlier_seconds = 0, 0.0
    if resume is not None:
        model.load_state_dict(resume.model_state)
        rng.bit_generator.state = resume.numpy_rng_state
        torch.set_rng_state(resume.torch_rng_state)
        step, points, earlier_seconds = resume.step, list(resume.points), resume.wall_seconds
    model.to(device).train()
    optimizer = _make_optimizer(model, config, device)
    if resume is not None:
        optimizer.load_state_dict(resume.optimizer_state)
    net: torch.nn.Module = torch.compile(model) if config.compile else model  # type: ignore[assignment]
    use_bf16 = device.type == "cuda"

    def autocast() -> contextlib.AbstractContextManager[Any]:
        return torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()

    train_tokens = np.ascontiguousarray(data.train)
    val_tokens = np.ascontiguousarray(data.val)
    per_token = flops_per_token(config.arch, "6N", params=config.flops_params)
    running, since = torch.zeros((), device=device), 0
    meter = NoiseScaleMeter(config.batch_size, config.context) if config.measure_noise_scale else None
    while step < config.steps:
        lr = lr_at(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = _train_batch(train_tokens, rng, config, device)
        optimizer.zero_grad(set_to_none=True)
        if meter is None:
            with autocast():
                logits = net(x)
            loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))
            loss.backward()
        else:
            loss, *norms = two_half_backward(model, net, x, y, autocast)
            meter.add(*norms)
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        step, running, since = step + 1, running + loss.detach().float(), since + 1
        if step % config.eval_every_steps and step != config.steps:
            continue
        val_loss = _evaluate(net, val_tokens, config, device, autocast)
        tokens = step * config.tokens_per_step
        point = EvalPoint(step=step, tokens=tokens, flops=per_token * tokens, train_loss=float(running) / since,
                          val_loss=val_loss, val_bpb=data.bits_per_byte(val_loss), lr=lr,
                          grad_noise_scale=None if meter is None else meter.estimate())
        points.append(point)
        running, since = torch.zeros((), device=device), 0
        if on_eval is not None:
            on_eval(point)
        if checkpoint_path is not None:
            Checkpoint(step=step, model_state=model.state_dict(), optimizer_state=optimizer.state_dict(),
                       numpy_rng_state=rng.bit_generator.state, torch_rng_state=torch.get_rng_state(),
                       points=points, config=config.to_dict(),
                       wall_seconds=earlier_seconds + time.perf_counter() - started).save(checkpoint_path)
    last = points[-1]
    return RunResult(final_val_loss=last.val_loss, final_val_bpb=last.val_bpb, points=points,
                     params=count_params(model), params_non_embedding=count_params(model, embeddings=False),
                     tokens=last.tokens, flops=last.flops, device=device_text, steps=step,
                     wall_seconds=earlier_seconds + time.perf_counter() - started)
