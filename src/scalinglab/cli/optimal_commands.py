"""CLI commands: optimal (planning)."""

from __future__ import annotations
