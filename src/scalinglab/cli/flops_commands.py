"""CLI commands: flops (planning)."""

from __future__ import annotations
