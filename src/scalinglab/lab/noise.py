"""The gradient noise scale measured during training (McCandlish et al. 2018, "An Empirical Model of
Large-Batch Training", App. A.1; references.md B1).

With ``RunConfig.measure_noise_scale`` every training step computes its batch's gradient as the mean
of the gradients of its two halves (the same full-batch gradient, as gradient accumulation), and
records the squared global L2 norms (before clipping) of

* each half's gradient, ``|G_small|^2`` at ``B_small = batch_size / 2`` sequences, and
* the full batch's gradient, ``|G_big|^2`` at ``B_big = batch_size`` sequences.

At each evaluation the measurements since the previous one give the unbiased two-batch estimate
(:func:`scalinglab.plan.batch.noise_scale_two_batch`; numerator and denominator averaged separately)

    |G|^2     = (B_big |G_big|^2 - B_small |G_small|^2) / (B_big - B_small)
    tr(Sigma) = (|G_small|^2 - |G_big|^2) / (1/B_small - 1/B_big)
    B_simple  = tr(Sigma) / |G|^2

with batch sizes counted in TOKENS (sequences x seq_len), the unit of Kaplan et al.'s critical batch
B_crit, so ``grad_noise_scale`` is in tokens. Tokens of one sequence are correlated, so this is an
estimate per token of the sequence-level noise scale, as in Kaplan et al. 2020 sec. 5.1. When the
estimate is not positive (the gradient signal lost in the noise over too few steps) it is ``None``:
no number rather than a wrong one. The noise scale grows as the loss falls (McCandlish Fig. 4).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import torch

from scalinglab.errors import ScalingLabError
from scalinglab.plan.batch import noise_scale_two_batch

__all__ = ["NoiseScaleMeter", "two_half_backward"]


def _grad_sq_norm(grads: list[torch.Tensor]) -> float:
    return float(sum(torch.sum(g.float() * g.float()) for g in grads))


def two_half_backward(model: torch.nn.Module, net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                      autocast: Callable[[], AbstractContextManager[Any]]) -> tuple[torch.Tensor, float, float, float]:
    """Backward pass of the mean cross-entropy of batch (x, y) as two halves; leaves the FULL batch's
    gradient in ``model``'s ``.grad`` and returns (loss, |G_half1|^2, |G_half2|^2, |G_full|^2)."""
    half = x.size(0) // 2
    params = [p for p in model.parameters() if p.requires_grad]
    losses = []
    first: list[torch.Tensor] = []
    for i, sl in enumerate((slice(0, half), slice(half, None))):
        with autocast():
            logits = net(x[sl])
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y[sl].reshape(-1))
        (loss / 2).backward()
        losses.append(loss.detach())
        if i == 0:
            first = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in params]
    full = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    g1 = 4.0 * _grad_sq_norm(first)  # grad after half 1 is G_half1 / 2
    g2 = 4.0 * _grad_sq_norm([f - a for f, a in zip(full, first, strict=True)])
    return (losses[0] + losses[1]) / 2, g1, g2, _grad_sq_norm(full)


class NoiseScaleMeter:
    """Accumulates the squared gradient norms of the steps since the last evaluation (module docstring)."""

    def __init__(self, batch_size: int, seq_len: int) -> None:
        if batch_size < 2 or batch_size % 2:
            raise ScalingLabError(f"run config: measure_noise_scale needs an even batch_size >= 2, got {batch_size}")
        self.b_small = batch_size // 2 * seq_len  # tokens
        self.b_big = batch_size * seq_len  # tokens
        self.small: list[float] = []
        self.big: list[float] = []

    def add(self, g_half1: float, g_half2: float, g_full: float) -> None:
        self.small += [g_half1, g_half2]
        self.big.append(g_full)

    def estimate(self) -> float | None:
        """B_simple in tokens from the measurements so far (``None`` when not estimable), then reset."""
        small, big, self.small, self.big = self.small, self.big, [], []
        if not big:
            return None
        try:
            return noise_scale_two_batch(self.b_small, small, self.b_big, big).b_simple
        except ScalingLabError:
            return None
