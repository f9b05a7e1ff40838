"""Reading a local dataset (issue 16, item 4): a JSONL file of ``--mb`` MB streamed into the token cache
(``load_corpus(path)``, byte tokens) against reading it whole into memory first (every record parsed,
the texts joined and encoded: the shape of the lab's loader before datasets were streamed), and a
second load from the cache.

Each case runs in a fresh process; its memory is the growth of the peak RSS (``getrusage``) over the
same process after its imports, so the interpreter, numpy and pyarrow are not counted. Wall times are
best of ``--repeat`` (a shared machine); the ratios come from one run.

    .venv/bin/python benchmarks/bench_corpus.py [--mb 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

CHILD = r"""
import json, resource, sys, time
import numpy as np
from scalinglab.lab.corpus import load_corpus
case, path = sys.argv[1], sys.argv[2]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
if case == "whole":
    with open(path, encoding="utf-8") as fh:
        text = "".join(json.loads(line)["text"] + "\n\n" for line in fh)
    ids = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)
    n = ids.size
else:
    d = load_corpus(path)
    n = d.train.size + d.val.size
seconds = time.perf_counter() - t0
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"seconds": seconds, "peak_mib": grown / 1024, "tokens": int(n)}))
"""


def write_jsonl(path: Path, mb: float) -> None:
    """Records of 50-1,500 characters of English-like text until the file holds ``mb`` MB."""
    words = "the king hath a crown and thou art the queen of night , said the sword to the day".split()
    target, i = mb * 1e6, 0
    with open(path, "w", encoding="utf-8") as fh:
        while fh.tell() < target:
            n = 10 + (i * 7919) % 290
            fh.write(json.dumps({"id": i, "text": " ".join(words[(i + k) % len(words)] for k in range(n))}) + "\n")
            i += 1


def run(case: str, path: Path, cache: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "SCALINGLAB_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-c", CHILD, case, str(path)], env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=64.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.jsonl"
        write_jsonl(path, args.mb)
        results: dict[str, list[dict[str, float]]] = {"whole": [], "stream": [], "cached": []}
        for r in range(args.repeat):
            cache = Path(tmp) / f"cache-{r}"
            results["whole"].append(run("whole", path, cache))
            results["stream"].append(run("stream", path, cache))  # a fresh cache: tokenises the file
            results["cached"].append(run("stream", path, cache))  # the same cache: reads it
        size = path.stat().st_size
    print(f"JSONL file: {size / 1e6:.1f} MB, {results['whole'][0]['tokens']:,} byte tokens")
    best = {k: min(v, key=lambda x: x["seconds"]) for k, v in results.items()}
    peak = {k: max(x["peak_mib"] for x in v) for k, v in results.items()}
    for k, label in (("whole", "read whole, then encode"), ("stream", "streamed into the cache"),
                     ("cached", "from the cache")):
        print(f"{label:>26}: {best[k]['seconds']:7.2f} s, peak RSS growth {peak[k]:7.1f} MiB")
    print(f"stream / whole: time {best['stream']['seconds'] / best['whole']['seconds']:.2f}x, "
          f"memory {peak['stream'] / max(peak['whole'], 1e-9):.3f}x")


if __name__ == "__main__":
    main()
