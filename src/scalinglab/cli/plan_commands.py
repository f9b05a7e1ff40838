"""CLI commands for planning (compute-optimal allocation, FLOPs, batch size, cost)."""

from __future__ import annotations
