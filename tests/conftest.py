"""Shared pytest fixtures for scalinglab's tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests explore new random inputs on a developer's machine, but CI (CI=true) replays a fixed
# sequence, so that a CI run's verdict does not depend on the luck of the draw.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

#: $SCALINGLAB_DATA when set, else ../shared/data beside the repository (present in CI).
SHARED_DATA = Path(os.environ.get("SCALINGLAB_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder (e.g. ``epoch_chinchilla/``), or skip when it is not present."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not present: {SHARED_DATA}")
    return SHARED_DATA


def run_cli(args, monkeypatch, capsys) -> tuple[int, str, str]:
    """Run ``scalinglab ARGS`` in-process through the real entry point; (exit code, stdout, stderr)."""
    import sys

    from scalinglab.cli import main

    monkeypatch.setattr(sys, "argv", ["scalinglab", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    cap = capsys.readouterr()
    return code, cap.out, cap.err
