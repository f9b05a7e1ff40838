"""CLI commands: quality (inference laws)."""

from __future__ import annotations
