"""CLI commands: inference (planning)."""

from __future__ import annotations
