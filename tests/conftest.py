"""Shared pytest fixtures for scalinglab's tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: $SCALINGLAB_DATA when set, else ../shared/data beside the repository (present in CI).
SHARED_DATA = Path(os.environ.get("SCALINGLAB_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder (e.g. ``epoch_chinchilla/``), or skip when it is not present."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not present: {SHARED_DATA}")
    return SHARED_DATA
