"""Shared pytest fixtures for scalinglab's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

#: /work/shared/data when the repo is checked out at /work/main; absent in CI.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder (e.g. ``epoch_chinchilla/``), or skip when it is not present."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not present: {SHARED_DATA}")
    return SHARED_DATA
