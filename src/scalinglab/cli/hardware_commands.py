"""CLI commands: hardware (planning)."""

from __future__ import annotations
