"""CLI commands: serving (inference laws)."""

from __future__ import annotations
