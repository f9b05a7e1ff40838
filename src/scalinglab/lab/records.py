"""The records of one training run: its evaluations (:class:`EvalPoint`), its outcome
(:class:`RunResult`) and the :class:`Checkpoint` that lets it continue bit-for-bit.

Units: tokens are counts of training tokens, losses nats/token, ``val_bpb`` bits per byte, FLOPs a
count (6ND, see :mod:`scalinglab.lab.train`), times seconds.

Importing this module needs no torch (run stores and dry runs use these records); saving and loading
a :class:`Checkpoint` import torch when called.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalinglab.atomic import atomic_write
from scalinglab.errors import ScalingLabError

if TYPE_CHECKING:
    import torch

__all__ = ["Checkpoint", "EvalPoint", "RunResult"]


@dataclass(frozen=True)
class EvalPoint:
    """One evaluation, after ``step`` optimiser steps and ``tokens`` training tokens (``flops``: 6ND
    FLOPs so far, see module docstring). ``train_loss``: mean training loss (nats/token) over the steps
    since the previous evaluation; ``val_loss`` nats/token and ``val_bpb`` bits/byte on the curve's
    held-out windows (``RunConfig.curve_tokens``, the same at every point); ``lr``: the learning rate of the last step; ``grad_noise_scale``: B_simple in tokens over the
    steps since the previous evaluation (:mod:`scalinglab.lab.noise`; ``None`` unless the run measures
    it, or when it was not estimable)."""

    step: int
    tokens: int
    flops: float
    train_loss: float
    val_loss: float
    val_bpb: float
    lr: float
    grad_noise_scale: float | None = None


@dataclass(frozen=True)
class RunResult:
    """The outcome of :func:`train_run`. ``final_val_loss`` (nats/token) and ``final_val_bpb``
    (bits/byte): the trained model on all ``RunConfig.eval_tokens`` held-out tokens (the curve's points
    score the first ``curve_tokens`` of them). ``params``/``params_non_embedding`` (parameters), ``tokens``
    (trained), ``flops`` (6ND), ``wall_seconds`` (all segments of a resumed run), ``device`` (text)."""

    final_val_loss: float
    final_val_bpb: float
    points: list[EvalPoint]
    params: int
    params_non_embedding: int
    tokens: int
    flops: float
    wall_seconds: float
    device: str
    steps: int = 0


@dataclass
class Checkpoint:
    """Everything needed to continue a run bit-for-bit: after ``step`` steps, the model and optimiser
    states, the batch sampler's numpy RNG state, torch's CPU RNG state, the points so far and the
    config (as :meth:`RunConfig.to_dict`), the wall seconds spent so far, and the final loss on all
    ``eval_tokens`` (nats/token) once the last step is evaluated (None before; and in checkpoints
    written before it was kept, whose last point then carries it)."""

    step: int
    model_state: dict[str, Any]
    optimizer_state: dict[str, Any]
    numpy_rng_state: dict[str, Any]
    torch_rng_state: torch.Tensor
    points: list[EvalPoint]
    config: dict[str, Any]
    wall_seconds: float = 0.0
    final_val_loss: float | None = None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to ``path`` atomically (:mod:`scalinglab.atomic`: a fresh temporary file in its
        folder, then ``os.replace``; a failed write leaves the previous checkpoint as it was)."""
        import torch

        path = Path(path)
        payload = {f.name: getattr(self, f.name) for f in fields(self)}
        payload["points"] = [asdict(p) for p in self.points]
        try:
            with atomic_write(path, "wb") as fh:
                torch.save(payload, fh)
        except OSError as exc:
            raise ScalingLabError(f"checkpoint {path}: cannot write ({exc.strerror or exc})") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Checkpoint:
        """Read a checkpoint written by :meth:`save` (tensors onto the CPU)."""
        import torch

        try:
            payload = torch.load(Path(path), map_location="cpu", weights_only=True)
            payload["points"] = [EvalPoint(**p) for p in payload["points"]]
            return cls(**payload)
        except FileNotFoundError:
            raise ScalingLabError(f"checkpoint {path}: file not found") from None
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
            raise ScalingLabError(f"checkpoint {path}: not a readable scalinglab checkpoint "
                                  f"({type(exc).__name__})") from None
