"""Regenerate the figures of the documentation (docs/figures/*.png).

How to run it, from the repository root, with the project's virtual environment (``make install``
creates it) and the real data sets::

    SCALINGLAB_DATA=/path/to/data .venv/bin/python docs/make_figures.py

``SCALINGLAB_DATA`` is the folder holding the published data sets (``epoch_chinchilla/...``); in this
project's workspace that is ``../shared/data``. Without it, ``sl.datasets`` looks in the user cache
folder and downloads the file from its public source (checksum verified). The script takes about
10 seconds on 2 CPU cores and writes every figure at 100 dots per inch. Every random step is seeded:
the same data and versions give the same figures (and the same numbers it prints).

Figures (file: where it is used):

* ``chinchilla-loss-flops.png``: loss against compute with the fitted law (example-chinchilla.md);
* ``chinchilla-residuals.png``: log residuals against N, D, C (example-chinchilla.md, fit.md);
* ``chinchilla-bootstrap.png``: bootstrap distributions of the exponents (example-chinchilla.md);
* ``chinchilla-correlations.png``: parameter correlations over the bootstrap (fit.md);
* ``chinchilla-frontier.png``: compute-optimal N and D against C, approaches 1-3 and published laws
  (example-chinchilla.md, plan.md);
* ``chinchilla-isoflop.png``: IsoFLOP profiles, approach 2 (plan.md);
* ``chinchilla-backtest.png``: fit up to 1e21 FLOPs, predict above (example-chinchilla.md, analysis.md);
* ``llama2-70b-throughput.png``: roofline decode throughput against batch (inference.md; no data set).

This script is documentation tooling: it is not part of the test suite.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import scalinglab as sl
from scalinglab.analysis.backtest import backtest
from scalinglab.report import contour_plots, fit_plots, inference_plots, plan_plots, run_plots
from scalinglab.report.style import save

FIGURES = Path(__file__).resolve().parent / "figures"
DPI = 100
SEED = 0
FIT_BOOTSTRAP = 1000  # resamples of the main fit, as in the worked example
OTHER_BOOTSTRAP = 200  # resamples of the backtest and of approaches 1-2
CHINCHILLA_BUDGET = 5.76e23  # FLOPs: the Gopher / Chinchilla budget (Hoffmann et al. 2022)
HOLDOUT_ABOVE = 1e21  # FLOPs: the backtest threshold of the worked example


def write(fig, name: str) -> None:
    path = save(fig, FIGURES / name, dpi=DPI)
    print(f"  {path.relative_to(FIGURES.parent.parent)}  {path.stat().st_size / 1024:.0f} kB")


def main() -> int:
    t0 = time.perf_counter()
    FIGURES.mkdir(parents=True, exist_ok=True)
    print(f"data folder: {sl.datasets.loader.data_dir()}")

    # Besiroglu et al. 2024's 240 points: the Epoch AI reconstruction minus the 5 highest losses.
    runs = sl.datasets.load_runs("epoch_chinchilla", drop_highest_loss=5)
    result = sl.fit(runs, law="chinchilla", bootstrap=FIT_BOOTSTRAP, seed=SEED)
    print(f"fit: {len(runs)} runs, " + ", ".join(f"{k} = {v:.4g}" for k, v in result.params.items()))

    print("figures:")
    write(fit_plots.plot_loss(runs, result, x="flops"), "chinchilla-loss-flops.png")
    write(fit_plots.plot_residuals(result, runs), "chinchilla-residuals.png")
    write(fit_plots.plot_bootstrap(result), "chinchilla-bootstrap.png")
    write(fit_plots.plot_correlations(result), "chinchilla-correlations.png")
    write(fit_plots.plot_isoflop(runs), "chinchilla-isoflop.png")  # approach 2's method (cubic on these bins)

    budgets = [1e18, 1e19, 1e20, 1e21, 1e22, 1e23, CHINCHILLA_BUDGET, 1e24]
    frontiers, points, warnings = plan_plots.compare_frontiers(runs, budgets, bootstrap=OTHER_BOOTSTRAP,
                                                               seed=SEED, fit=result)
    references = {key: plan_plots.frontier_table(key, budgets) for key in ("hoffmann2022", "besiroglu2024")}
    write(plan_plots.plot_frontier(frontiers, points, references), "chinchilla-frontier.png")
    for w in warnings:
        print(f"    frontier warning: {w}")
    write(contour_plots.plot_isoloss(result, runs, budgets=[1e21, 1e22, CHINCHILLA_BUDGET, 1e24]),
          "chinchilla-isoloss.png")

    bt = backtest(runs, "chinchilla", holdout_above=HOLDOUT_ABOVE, bootstrap=OTHER_BOOTSTRAP, seed=SEED)
    fitted = runs.data[runs.column("flops") <= HOLDOUT_ABOVE]
    write(run_plots.plot_backtest(bt.predictions, x="flops", fitted=fitted, level=bt.level),
          "chinchilla-backtest.png")
    print(f"    backtest: {bt.summary().splitlines()[0]}")

    # Serving roofline (no data set): Llama 2 70B, bf16, 4 x H100 SXM, 4,096 tokens of context.
    serving = dict(n_devices=4, context_tokens=4096)
    table = inference_plots.speed_table("llama2-70b", "h100-sxm", batches=[1, 2, 4, 8, 16, 32, 64, 128, 256],
                                        **serving)
    largest = sl.inference.memory.memory_report("llama2-70b", device="h100-sxm", **serving).max_batch
    write(inference_plots.plot_throughput(table, max_batch=largest), "llama2-70b-throughput.png")

    total = sum(p.stat().st_size for p in FIGURES.glob("*.png"))
    print(f"total {total / 1024:.0f} kB in {FIGURES}; {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
