"""A planned run of a sweep: what the design produces and the runner consumes."""

from __future__ import annotations

from dataclasses import dataclass

from scalinglab.lab.config import RunConfig  # torch-free: designs and dry runs need no torch


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: its training configuration, the FLOP budget it belongs to (IsoFLOP
    designs; None for a grid), and a short human label such as ``"3e+12 FLOPs / N 1.2e+06"``."""

    config: RunConfig
    budget: float | None = None
    label: str = ""

    def to_dict(self) -> dict:
        """JSON-able description (stored with the run; the store's idempotency key)."""
        d = self.config.to_dict()
        d["budget"] = self.budget
        d["label"] = self.label
        return d
