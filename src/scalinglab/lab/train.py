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
* The configuration (:class:`RunConfig`, :func:`default_lr`, :func:`lr_at`) lives in the torch-free
  :mod:`scalinglab.lab.config` and is re-exported here; this module and :mod:`scalinglab.lab.model`
  are the lab's only users of torch (the ``lab`` extra).
* Determinism: the model is initialised under ``torch.manual_seed(seed)`` (on the CPU, then moved),
  training windows are drawn by ``numpy.random.default_rng(seed)``, evaluation uses fixed windows from
  the start of the validation split. Every point of the loss curve (:class:`EvalPoint`) scores the
  first ``RunConfig.curve_tokens`` of them (a quarter of ``eval_tokens`` by default), so the curve is
  one quantity; the run's final loss (``RunResult.final_val_loss``, what scaling fits read) scores all
  ``eval_tokens`` after the last step. The two differ at the last step by the sampling difference of
  the two token sets; ``curve_eval_tokens=eval_tokens`` makes them equal at the old evaluation cost.
* The step loop (:func:`train_step`) never waits for the device: batches go to a GPU from pinned
  memory without blocking (:func:`to_device`), the training loss is summed on the device and read once
  per evaluation, each evaluation reads its sum back once (:func:`evaluate`). (With
  ``measure_noise_scale`` each step reads its three gradient norms back.) On the CPU training runs with ONE torch thread
  (``torch.set_num_threads(1)``, restored afterwards): tiny multi-threaded runs on a loaded 2-core
  machine are up to 50x slower, and one thread is bit-for-bit reproducible.
* Gradient noise scale: with ``measure_noise_scale`` each step's gradient is accumulated over its two
  halves and every evaluation carries B_simple in tokens (:mod:`scalinglab.lab.noise`).
* CUDA (``device="cuda"``): bf16 autocast, fused AdamW, optional ``torch.compile``, attention through
  ``F.scaled_dot_product_attention`` (flash kernels): :func:`~scalinglab.lab.config.device_plan` decides,
  :func:`build_trainer` applies it.
* Checkpoints: with ``checkpoint_path`` a :class:`Checkpoint` (model, optimiser, step, RNG states,
  points so far) is written atomically after every evaluation, AFTER ``on_eval`` ran for it (a crash
  in between repeats that point on resume rather than losing it; stores should upsert on step).
  ``train_run(..., resume=Checkpoint.load(path))`` continues to the same final loss as a straight run.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from scalinglab.errors import ScalingLabError
from scalinglab.lab.config import (  # noqa: F401
    BASE_LR,
    BASE_WIDTH,
    SCHEDULES,
    DevicePlan,
    RunConfig,
    default_lr,
    device_plan,
    lr_at,
)
from scalinglab.lab.data import TokenData
from scalinglab.lab.model import GPT, count_params
from scalinglab.lab.noise import NoiseScaleMeter, two_half_backward
from scalinglab.lab.records import Checkpoint, EvalPoint, RunResult

__all__ = ["BASE_LR", "BASE_WIDTH", "Checkpoint", "EvalPoint", "RunConfig", "RunResult", "Trainer", "build_trainer",
           "default_lr", "evaluate", "lr_at", "sample_batch", "to_device", "train_run", "train_step"]


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


def _make_optimizer(model: GPT, config: RunConfig, plan: DevicePlan) -> torch.optim.AdamW:
    """AdamW; weight decay on tensors with >= 2 dims (matrices, embeddings), none on biases and norms;
    fused kernels where ``plan`` says (CUDA)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.peak_lr, betas=(0.9, 0.95), eps=1e-8, fused=plan.fused_adamw)


@dataclass
class Trainer:
    """A model ready to train on ``device`` as :func:`~scalinglab.lab.config.device_plan` says:
    ``model`` (the module whose weights are saved), ``net`` (the same, or its ``torch.compile``
    wrapper: what forward passes call), ``optimizer`` and ``autocast`` (a context-manager factory:
    bf16 autocast on CUDA, nothing on the CPU)."""

    model: GPT
    net: torch.nn.Module
    optimizer: torch.optim.AdamW
    autocast: Callable[[], contextlib.AbstractContextManager[Any]]
    device: torch.device


def build_trainer(config: RunConfig, device: torch.device, resume: Checkpoint | None = None) -> Trainer:
    """Build the model under ``torch.manual_seed(config.seed)`` on the CPU (every device starts from
    the same weights), load ``resume``'s weights and optimiser state, move it to ``device``."""
    plan = device_plan(device.type, config.compile)
    torch.manual_seed(config.seed)
    model = GPT(config.arch)
    if resume is not None:
        model.load_state_dict(resume.model_state)
    model.to(device).train()
    optimizer = _make_optimizer(model, config, plan)
    if resume is not None:
        optimizer.load_state_dict(resume.optimizer_state)
    net: torch.nn.Module = torch.compile(model) if plan.compile else model  # type: ignore[assignment]
    dtype = None if plan.autocast_dtype is None else getattr(torch, plan.autocast_dtype)

    def autocast() -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)

    return Trainer(model, net, optimizer, autocast, device)


def train_step(trainer: Trainer, x: torch.Tensor, y: torch.Tensor, lr: float, config: RunConfig,
               meter: NoiseScaleMeter | None = None) -> torch.Tensor:
    """One optimiser step at learning rate ``lr`` on inputs ``x`` and targets ``y``: forward (under
    autocast), fp32 cross-entropy, backward, clip to ``grad_clip``, AdamW. Returns the loss as a
    detached device tensor: nothing here waits for the device."""
    for group in trainer.optimizer.param_groups:
        group["lr"] = lr
    trainer.optimizer.zero_grad(set_to_none=True)
    if meter is None:
        with trainer.autocast():
            logits = trainer.net(x)
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))
        loss.backward()
    else:
        loss, *norms = two_half_backward(trainer.model, trainer.net, x, y, trainer.autocast)
        meter.add(*norms)
    torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), config.grad_clip)
    trainer.optimizer.step()
    return loss.detach()


def sample_batch(tokens: np.ndarray, rng: np.random.Generator, config: RunConfig,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` windows of ``seq_len + 1`` tokens at uniform random offsets: inputs, targets."""
    starts = rng.integers(0, tokens.size - config.context, size=config.batch_size)
    window = to_device(torch.from_numpy(tokens[starts[:, None] + np.arange(config.context + 1)].astype(np.int64)),
                       device)
    return window[:, :-1], window[:, 1:]


def to_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``batch`` (on the CPU) on ``device``. To a GPU through pinned memory and ``non_blocking``: a copy
    from pageable memory would wait for every kernel queued before it, a sync per step."""
    if device.type == "cpu":
        return batch
    return batch.pin_memory().to(device, non_blocking=True)


@torch.no_grad()
def evaluate(model: torch.nn.Module, tokens: np.ndarray, n_tokens: int, config: RunConfig, device: torch.device,
             autocast: Callable[[], contextlib.AbstractContextManager[Any]]) -> float:
    """Mean loss (nats/token) over the first ``n_tokens // seq_len`` (at least 1) non-overlapping
    windows of the held-out split (as many as it holds), scored in batches of ``batch_size`` windows.

    The per-batch sums (fp32) are added in fp64 on the device and read back once, so a CUDA
    evaluation synchronises once, not once per batch (the same sum as adding them in Python)."""
    t = config.context
    n_windows = max(1, min(n_tokens // t, (tokens.size - 1) // t))
    starts = np.arange(n_windows) * t
    total = torch.zeros((), dtype=torch.float64, device=device)
    was_training = model.training
    model.eval()
    for i in range(0, n_windows, config.batch_size):
        chunk = starts[i:i + config.batch_size]
        window = to_device(torch.from_numpy(tokens[chunk[:, None] + np.arange(t + 1)].astype(np.int64)), device)
        with autocast():
            logits = model(window[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)),
                                                 window[:, 1:].reshape(-1), reduction="sum")
        total += loss.double()
    model.train(was_training)
    return float(total) / (n_windows * t)


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
    trainer = build_trainer(config, device, resume)
    rng = np.random.default_rng(config.seed)
    points: list[EvalPoint] = []
    step, earlier_seconds, final_loss = 0, 0.0, None
    if resume is not None:
        rng.bit_generator.state = resume.numpy_rng_state
        torch.set_rng_state(resume.torch_rng_state)
        step, points, earlier_seconds = resume.step, list(resume.points), resume.wall_seconds
        final_loss = resume.final_val_loss
    train_tokens = np.ascontiguousarray(data.train)
    val_tokens = np.ascontiguousarray(data.val)
    per_token = config.flops_per_token
    running, since = torch.zeros((), device=device), 0
    meter = NoiseScaleMeter(config.batch_size, config.context) if config.measure_noise_scale else None
    while step < config.steps:  # nothing in here waits for the device but the evaluations
        lr = lr_at(step, config)
        x, y = sample_batch(train_tokens, rng, config, device)
        loss = train_step(trainer, x, y, lr, config, meter)
        step, running, since = step + 1, running + loss.float(), since + 1
        if step % config.eval_every_steps and step != config.steps:
            continue
        val_loss = evaluate(trainer.net, val_tokens, config.curve_tokens, config, device, trainer.autocast)
        if step == config.steps:  # the final loss on all eval_tokens (the curve's windows are the first of them)
            final_loss = (val_loss if config.curve_tokens == config.eval_tokens else
                          evaluate(trainer.net, val_tokens, config.eval_tokens, config, device, trainer.autocast))
        tokens = step * config.tokens_per_step
        point = EvalPoint(step=step, tokens=tokens, flops=per_token * tokens, train_loss=float(running) / since,
                          val_loss=val_loss, val_bpb=data.bits_per_byte(val_loss), lr=lr,
                          grad_noise_scale=None if meter is None else meter.estimate())
        points.append(point)
        running, since = torch.zeros((), device=device), 0
        if on_eval is not None:
            on_eval(point)
        if checkpoint_path is not None:
            Checkpoint(step=step, model_state=trainer.model.state_dict(),
                       optimizer_state=trainer.optimizer.state_dict(), numpy_rng_state=rng.bit_generator.state,
                       torch_rng_state=torch.get_rng_state(), points=points, config=config.to_dict(),
                       wall_seconds=earlier_seconds + time.perf_counter() - started,
                       final_val_loss=final_loss).save(checkpoint_path)
    last = points[-1]
    if final_loss is None:  # resumed from a checkpoint written before final losses were kept apart
        final_loss = last.val_loss
    return RunResult(final_val_loss=final_loss, final_val_bpb=data.bits_per_byte(final_loss), points=points,
                     params=count_params(trainer.model),
                     params_non_embedding=count_params(trainer.model, embeddings=False),
                     tokens=last.tokens, flops=last.flops, device=device_text, steps=step,
                     wall_seconds=earlier_seconds + time.perf_counter() - started)
