"""Token streams shared by the corpora and the trainer.

A corpus becomes :class:`TokenData`: a training and a held-out validation stream of token ids, the
vocabulary size, and how many bytes of text each token stands for on average, so that a validation
loss in nats/token converts to bits per byte (comparable across tokenizers):
bpb = loss_nats_per_token / ln(2) / bytes_per_token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError


@dataclass(frozen=True)
class TokenData:
    """Train/validation token ids (1-D integer arrays) and what they mean."""

    train: np.ndarray
    val: np.ndarray
    vocab_size: int
    bytes_per_token: float  # average bytes of source text per token (1.0 for byte-level)
    name: str = ""
    notes: list[str] = field(default_factory=list)
    entropy_rate_nats: float | None = None  # exact entropy rate per token, when the source is synthetic
    #: what a dataset read from disk records about itself (format, held-out rule, records and tokens per
    #: split, validation bytes; :mod:`scalinglab.lab.stream_corpus`); empty for the built-in corpora
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for what, arr in (("train", self.train), ("val", self.val)):
            if arr.ndim != 1 or arr.size < 2:
                raise ScalingLabError(f"corpus {self.name or '?'}: the {what} split needs at least 2 tokens")
            if arr.min() < 0 or arr.max() >= self.vocab_size:
                raise ScalingLabError(f"corpus {self.name or '?'}: {what} token ids outside 0..{self.vocab_size - 1}")
        if not (self.bytes_per_token > 0 and math.isfinite(self.bytes_per_token)):
            raise ScalingLabError(f"corpus {self.name or '?'}: bytes_per_token must be positive")

    def bits_per_byte(self, loss_nats_per_token: float) -> float:
        """Convert a loss in nats/token to bits per byte of source text."""
        return loss_nats_per_token / math.log(2.0) / self.bytes_per_token
