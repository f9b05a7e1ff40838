"""CLI start-up: ``scalinglab --help`` and ``scalinglab predict`` with a published law, against
``python -c "import numpy"`` (issue 15: within 3x and 3.5x).

Each command runs in a fresh process, ``--repeat`` times, interleaved with the others round by round so
that a busy moment of a shared machine hits all of them alike; the best (smallest) wall time of each
is kept and the ratios to numpy's are printed. ``--src DIR`` times the package under another source
tree as well (e.g. a git worktree of an older commit: ``--src /tmp/old/src``), in the same run.

    .venv/bin/python benchmarks/bench_cli.py [--repeat 9] [--src OTHER_SRC]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PREDICT = ["predict", "--law", "hoffmann2022", "--params", "70e9", "--tokens", "1.4e12"]
#: The bounds of issue 15, as multiples of the numpy import.
TARGETS = {"--help": 3.0, "predict": 3.5}


def wall(argv: list[str], src: Path | None) -> float:
    """Seconds one run of ``argv`` takes, start to exit (output discarded; a failure stops the bench)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def cases(trees: dict[str, Path]) -> dict[str, tuple[list[str], Path | None]]:
    """Label -> (argv, source tree) of every timed command."""
    out: dict[str, tuple[list[str], Path | None]] = {"import numpy": ([sys.executable, "-c", "import numpy"], None)}
    for tree, src in trees.items():
        cli = [sys.executable, "-m", "scalinglab.cli"]
        out[f"{tree}: scalinglab --help"] = ([*cli, "--help"], src)
        out[f"{tree}: scalinglab predict"] = ([*cli, *PREDICT], src)
        out[f"{tree}: import scalinglab"] = ([sys.executable, "-c", "import scalinglab"], src)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9, help="runs of each command (the best is kept)")
    parser.add_argument("--src", type=Path, default=None, help="another source tree to time too")
    args = parser.parse_args()
    trees = {"this": SRC} if args.src is None else {"--src": args.src.resolve(), "this": SRC}
    timed = cases(trees)
    best = {label: float("inf") for label in timed}
    for _ in range(args.repeat):
        for label, (argv, src) in timed.items():
            best[label] = min(best[label], wall(argv, src))
    base = best["import numpy"]
    print(f"best of {args.repeat} runs each; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'command':<34}{'seconds':>9}{'x numpy':>9}  target")
    for label, seconds in best.items():
        target = next((t for key, t in TARGETS.items() if label.endswith(key)), None)
        verdict = "" if target is None else f"<= {target:g}x: {'met' if seconds / base <= target else 'MISSED'}"
        print(f"{label:<34}{seconds:>9.3f}{seconds / base:>9.2f}  {verdict}")


if __name__ == "__main__":
    main()
