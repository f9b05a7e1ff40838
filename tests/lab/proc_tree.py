"""Process trees on Linux, read from ``/proc`` (no psutil): the processes a test started and all
their descendants, so the test can end exactly those, by process id, and nothing else."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process now (from /proc/PID/stat; processes that vanish are skipped)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        out[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])  # the field after the state
    return out


def descendants(pid: int) -> list[int]:
    """``pid``'s children, grandchildren, ... now running (not ``pid`` itself)."""
    parents = _parents()
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def command(pid: int) -> str:
    """The process's command line (its title for Ray workers, e.g. ``ray::_task``); "" when gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def kill_tree(pid: int) -> list[int]:
    """SIGKILL ``pid`` and every descendant (collected first, so re-parented ones are not missed);
    returns the pids signalled."""
    pids = [pid, *descendants(pid)]
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return pids
