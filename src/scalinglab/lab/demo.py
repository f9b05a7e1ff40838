"""``make demo``: a real IsoFLOP sweep on this machine, fitted and planned, its E checked against an exact truth.

The main job on embedded defaults. Before training it prints what it will train and how long that
takes, MEASURED on this CPU (:func:`describe`: two short calibration runs give seconds per step and
per FLOP, :mod:`scalinglab.lab.cpu_speed`, applied to the runs still to train); a rerun finds the finished runs in the store, says so and
only refits (seconds). Off a terminal it prints one line per finished run (``progress="lines"``).

1. **Corpus.** :data:`DEMO_CORPUS`, a dense order-1 Markov chain over 256 tokens whose transition
   logits have a power-law singular spectrum (:mod:`scalinglab.lab.spectral_markov`; Maloney, Roberts &
   Sully 2022), with an entropy rate H known exactly (:func:`demo_entropy_rate`, nats/token). The model
   reads the chain's own tokens (vocabulary 256, one token per symbol), so its loss in nats/token is
   bounded below by H, the loss of the true conditional distribution; an infinitely large model trained
   on infinitely many tokens reaches H. The fitted irreducible loss E estimates that limit (Cover &
   Thomas 2006, Theorem 4.2.4; references.md D3 for the law).
2. **Sweep.** :data:`DEMO_BUDGETS` (FLOPs, C = 6 N D with N non-embedding; 2.5 decades) x the one-layer
   widths :data:`DEMO_WIDTHS` (:func:`demo_sweep`): at each budget every width whose run gets
   :data:`DEMO_MIN_STEPS` steps or more (with fewer a run is optimisation-limited: it stays near the
   unigram loss whatever its size, outside the regime the law describes) and D/N within
   :data:`DEMO_RATIO` (1 to 200 tokens per parameter: the large-D runs pin the N term, the small-D
   runs the D term; beyond 200 a width's loss no longer moves, and those runs cost half the sweep); tiny GPTs each with its own cosine schedule, into the run store ``<out>/runs.db``.
3. **Fit.** The Chinchilla law L = E + A/N^alpha + B/D^beta (Hoffmann et al. eq. 2) to the final
   validation losses (nats/token) with N = NON-EMBEDDING parameters (so that C = 6ND holds for the
   store's FLOPs) and a seeded bootstrap for the intervals; :meth:`LabDemo.identified` is the trust
   check (status converged, ``FitResult.unidentified`` empty).
4. **Plan.** The compute-optimal N and D (Hoffmann eq. 4, closed form) for :data:`PLAN_BUDGETS`,
   about 3x to 100x beyond the largest budget of the sweep, with the bootstrap's intervals.
5. **Report.** The HTML report of the fit and plan, ``<out>/report.html``.

These laws describe models of a few 10^4 parameters on a synthetic source; their constants are not
those of large language models, but the method is the same.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from scalinglab.analysis.identifiability import fit_identifiability_warnings, identifiability_warnings
from scalinglab.counting import flops_from
from scalinglab.errors import ScalingLabError, positive_count, positive_number
from scalinglab.fitting import FitResult, fit
from scalinglab.io import load_runs
from scalinglab.lab.config import RunConfig
from scalinglab.lab.cpu_speed import CpuSpeed, measure_cpu_speed
from scalinglab.lab.design import dry_run_table
from scalinglab.lab.jobs import cached_corpus
from scalinglab.lab.markov import MarkovSource, parse_markov_spec
from scalinglab.lab.progress import format_seconds
from scalinglab.lab.runner import run_key, run_sweep
from scalinglab.lab.shapes import lab_shape
from scalinglab.lab.spec import PlannedRun
from scalinglab.lab.spectral_markov import source_from_options
from scalinglab.plan.allocation import Allocation, allocate
from scalinglab.report.html import write_report
from scalinglab.stores.reader import config_json
from scalinglab.stores.run_store import RunStore

__all__ = ["DEMO_BUDGETS", "DEMO_CORPUS", "DEMO_WIDTHS", "PLAN_BUDGETS", "LabDemo", "describe", "print_lab_demo",
           "run_lab_demo", "runs_to_train"]

#: The demo's corpus: the spectral chain of :mod:`scalinglab.lab.spectral_markov` over 256 tokens, logit
#: singular values 32 sqrt(256) k^-0.7, no Zipf term, 8M tokens sampled (more than the largest run trains
#: on). Its exact entropy rate is the truth beside the fitted E (:func:`demo_entropy_rate`, 2.3680
#: nats/token). The sparse chains tried before (256 x 32 transition tables and smaller) were learned so fast
#: that the law's amplitudes A and B were never identified (docs/lab.md, "The demo").
DEMO_CORPUS = "markov:order=1,vocab=256,spectrum=0.7,scale=32,zipf=0,seed=0,tokens=8000000"
DEMO_VOCAB = 256
#: FLOP budgets of the demo sweep (6 N D, N non-embedding): 2.5 decades.
DEMO_BUDGETS = (3e9, 1e10, 3e10, 1e11, 3e11, 1e12)
#: One-layer widths d_model (d_ff = 4 d_model, tied embeddings): N = 12 d^2 + 6 d non-embedding
#: parameters, 3,168 to 197,376. One layer: an order-1 chain needs no attention across positions, and a
#: deeper, narrower model of the same N has narrower logits (of lower rank).
DEMO_WIDTHS = (16, 24, 32, 48, 64, 96, 128)
#: Tokens per parameter D/N a run may have, and the fewest optimiser steps.
DEMO_RATIO, DEMO_MIN_STEPS = (1.0, 200.0), 250
#: Sequences of 64 tokens (an order-1 chain needs no long context) in batches of 4: 256 tokens per step, so
#: that 250 steps reach down to D = 64,000 tokens. The final evaluation scores 131,072 held-out tokens (the
#: same windows for every run: their sampling noise is a common offset of every loss, about 0.004
#: nats/token here, and so of E; :func:`demo_eval_floor`), the loss curve's earlier ones 8,192.
DEMO_SEQ_LEN, DEMO_BATCH, DEMO_EVAL_TOKENS, DEMO_CURVE_TOKENS = 64, 4, 131_072, 8_192
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
    entropy_rate_nats: float | None = None  # the corpus's exact entropy rate H (nats/token): E's truth
    eval_floor_nats: float | None = None  # the true chain's loss on the evaluation tokens (nats/token)

    def to_json(self) -> dict[str, Any]:
        return {"store": str(self.store), "runs": self.rows, "fit": self.result.report_dict(),
                "plan": [a.to_dict() for a in self.plans],
                "report": None if self.report is None else str(self.report), "notes": self.notes,
                "warnings": self.warnings, "entropy_rate_nats": self.entropy_rate_nats,
                "eval_floor_nats": self.eval_floor_nats}

    def identified(self) -> bool:
        """The trust checks: the fit converged and every parameter is identified."""
        return self.result.status == "converged" and not self.result.unidentified

    def e_versus_truth(self) -> str:
        """One line: the fitted E (with its interval) beside the source's entropy rate, nats/token."""
        e, ci = self.result.params["E"], self.result.ci.get("E")
        span = "" if ci is None else f" [{ci[0]:.4f}, {ci[1]:.4f}]"
        if "E" in self.result.unidentified or "E" in self.result.at_bound:
            return f"E is not identified by these runs (fitted {e:.4g}); the entropy rate is {self.entropy_rate_nats:.4f}"
        floor = "" if self.eval_floor_nats is None else (
            f"; the true chain scores {self.eval_floor_nats:.4f} on the runs' evaluation tokens (the floor "
            f"of their losses, {100 * (e / self.eval_floor_nats - 1):+.1f}%)")
        return (f"E = {e:.4f}{span} nats/token against the Markov source's exact entropy rate H = "
                f"{self.entropy_rate_nats:.4f} nats/token ({100 * (e / self.entropy_rate_nats - 1):+.1f}%){floor}")


def demo_sweep(seed: int = 0, budgets: tuple[float, ...] = DEMO_BUDGETS,
               widths: tuple[int, ...] = DEMO_WIDTHS) -> list[PlannedRun]:
    """The demo's planned runs, budget by budget: each one-layer width (:func:`~scalinglab.lab.design.lab_shape`)
    trained D = C / (6 N) tokens in whole steps of :data:`DEMO_BATCH` x :data:`DEMO_SEQ_LEN`, kept when
    it gets at least :data:`DEMO_MIN_STEPS` steps and D/N lies within :data:`DEMO_RATIO`."""
    budgets = [positive_number("budgets", c) for c in budgets]
    widths = [positive_count("widths", w, maximum=4096) for w in widths]
    tokens_per_step = DEMO_BATCH * DEMO_SEQ_LEN
    runs = []
    for c in budgets:
        for width in widths:
            arch = lab_shape(1, width, DEMO_VOCAB, DEMO_SEQ_LEN)
            n = arch.params_non_embedding()
            steps = round(c / flops_from(n, tokens_per_step))  # C = 6 N D, D in whole steps
            if steps < DEMO_MIN_STEPS or not DEMO_RATIO[0] <= steps * tokens_per_step / n <= DEMO_RATIO[1]:
                continue
            config = RunConfig(arch=arch, tokens=steps * tokens_per_step, batch_size=DEMO_BATCH,
                               seq_len=DEMO_SEQ_LEN, seed=seed, eval_tokens=DEMO_EVAL_TOKENS,
                               curve_eval_tokens=DEMO_CURVE_TOKENS)
            runs.append(PlannedRun(config=config, budget=c, label=f"{c:.3g} FLOPs / N {n:.3g}"))
    if not runs:
        raise ScalingLabError(f"no demo run: no width in {widths} gets {DEMO_MIN_STEPS} steps with D/N in "
                              f"{DEMO_RATIO} at budgets {budgets} FLOPs")
    return runs


@functools.cache
def _demo_source() -> MarkovSource:
    """The demo corpus's chain (:mod:`scalinglab.lab.spectral_markov`), built once per process."""
    return source_from_options(parse_markov_spec(DEMO_CORPUS))


def _demo_design(planned: list[PlannedRun]) -> dict[str, Any]:
    """The design :func:`scalinglab.lab.runner.run_sweep` records for the demo's sweep (how its store finds it)."""
    return {"corpus": DEMO_CORPUS, "runs": [run_key(r) for r in planned]}


def demo_entropy_rate() -> float:
    """The exact entropy rate (nats/token) of the demo's Markov source (:mod:`scalinglab.lab.spectral_markov`),
    from its tables (no sample drawn)."""
    return _demo_source().entropy_rate_nats


def demo_eval_floor() -> float:
    """The true chain's mean loss (nats/token) on exactly the tokens every run's final evaluation scores
    (:func:`scalinglab.lab.train.evaluate`: the first ``DEMO_EVAL_TOKENS // DEMO_SEQ_LEN`` windows of
    the held-out split, each token predicted from the one before it): no model beats it on these tokens.
    It is H plus the sampling noise of a finite evaluation, an offset common to every run's loss."""
    val = cached_corpus(DEMO_CORPUS).val  # the split the runs' jobs load (run_sweep loaded it in this process)
    n = min(DEMO_EVAL_TOKENS // DEMO_SEQ_LEN, (val.size - 1) // DEMO_SEQ_LEN) * DEMO_SEQ_LEN
    return float(-_demo_source().log_probs(val[:n + 1]).mean())


def runs_to_train(out: str | os.PathLike[str] = "scalinglab-demo", seed: int = 0,
                  budgets: tuple[float, ...] = DEMO_BUDGETS, widths: tuple[int, ...] = DEMO_WIDTHS) -> list[PlannedRun]:
    """The demo's planned runs that the store ``<out>/runs.db`` does not hold finished (all of them
    when there is no store yet), as :func:`scalinglab.lab.runner.run_sweep` would find them."""
    planned = demo_sweep(seed, budgets, widths)
    store = Path(out) / "runs.db"
    sweep = _own_sweep(store, _demo_design(planned))
    if sweep is None:
        return planned
    with RunStore(store, readonly=True) as st:
        runs = st.runs_frame(sweep)
    done = {r["config"] for r in runs.to_dict("records") if r["status"] == "finished"}
    return [r for r in planned if config_json(run_key(r), "demo run") not in done]


def _own_sweep(store: Path, design: dict[str, Any]) -> int | None:
    """The id of this demo's sweep in ``store`` (None when the store or the sweep is absent), after
    checking that the store holds no run of another sweep: the demo fits and reports EVERY run of its
    store, so an earlier demo's design (another corpus, another truth) or a user's own runs there would
    be mixed into its law. Such a store is a one-line ScalingLabError and is left as it is."""
    if not store.is_file():
        return None
    with RunStore(store, readonly=True) as st:
        sweep = st.find_sweep("demo", design)
        sweeps = st.sweeps_frame()
    others = sweeps[(sweeps["id"] != sweep) & (sweeps["runs"] > 0)]
    if len(others):
        names = ", ".join(sorted({str(n) for n in others["name"]}))
        raise ScalingLabError(f"{store} already holds {int(others['runs'].sum())} run(s) of another sweep ({names}: an "
                              "earlier demo's design or your own); the demo fits and reports every run of its store, so "
                              f"give it a new folder (--out) or remove {store.parent}; nothing in it was changed")
    return sweep


def describe(out: str | os.PathLike[str] = "scalinglab-demo", budgets: tuple[float, ...] = DEMO_BUDGETS,
             widths: tuple[int, ...] = DEMO_WIDTHS, seed: int = 0, workers: int | None = None,
             speed: CpuSpeed | None = None) -> str:
    """One line saying what the demo is about to do, printed before the minutes of training, with a
    MEASURED time: the CPU seconds of the runs still to train (:func:`dry_run_table` with ``speed``,
    default :func:`~scalinglab.lab.cpu_speed.measure_cpu_speed`: seconds per step and per FLOP from two
    short real runs on this CPU, about a second; rough), over ``workers`` (default min(cores, runs))
    processes for the wall time. Runs already finished in the store cost nothing: a rerun says it only
    refits (seconds) and measures nothing."""
    planned = demo_sweep(seed, budgets, widths)
    todo = runs_to_train(out, seed, budgets, widths)
    what = (f"{len(planned)} GPTs on the Markov corpus ({DEMO_CORPUS}, entropy rate known exactly) at "
            f"{len(budgets)} FLOP budgets ({min(budgets):.3g}..{max(budgets):.3g} FLOPs)")
    if not todo:
        return f"all {what} are finished in {Path(out) / 'runs.db'}: fitting and reporting only (seconds)"
    speed = measure_cpu_speed() if speed is None else speed
    cpu = float(dry_run_table(todo, speed=speed)["est_seconds"].sum())
    n = min(os.cpu_count() or 1, len(todo)) if workers is None else max(1, min(workers, len(todo)))
    held = f", {len(planned) - len(todo)} already in the store" if len(todo) < len(planned) else ""
    return (f"training {len(todo)} of {what}{held}: about {format_seconds(cpu / n)} on {n} worker(s) "
            f"({cpu:.0f} s of CPU time at {1e3 * speed.seconds_per_step:.3g} ms per step plus "
            f"{speed.seconds_per_flop:.3g} s/FLOP, measured on this CPU just now; rough), plus the fit and report")


def run_lab_demo(out: str | os.PathLike[str] = "scalinglab-demo", *, workers: int | None = None,
                 bootstrap: int = DEMO_BOOTSTRAP, seed: int = 0, progress: bool | str = False,
                 report: bool = True, budgets: tuple[float, ...] = DEMO_BUDGETS,
                 widths: tuple[int, ...] = DEMO_WIDTHS, plan_budgets: tuple[float, ...] = PLAN_BUDGETS) -> LabDemo:
    """Sweep, fit, plan and report (module docstring) into the folder ``out``; ``budgets``
    and ``plan_budgets`` (FLOPs) and ``widths`` replace the defaults (tests run a smaller sweep).
    ``progress``: True for the live display, ``"lines"`` for one line per finished run on stderr (off a
    terminal), False for nothing (:meth:`scalinglab.lab.progress.SweepProgress.live`)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    store = folder / "runs.db"
    planned = demo_sweep(seed, budgets, widths)
    _own_sweep(store, _demo_design(planned))  # refuses a store mixing another sweep's runs
    rows = run_sweep(planned, store, corpus=DEMO_CORPUS, sweep_name="demo",
                     workers=workers, progress=progress)
    runs = load_runs(store)  # params: non-embedding, the N of the store's 6ND FLOPs
    non_embedding = dict(zip(runs.data["run"].astype(str), runs.data["params"], strict=True))
    for row in rows:
        n = non_embedding.get(str(row["id"]))
        row["params_non_embedding"] = None if n is None else int(n)
    result = fit(runs, law="chinchilla", bootstrap=bootstrap, seed=seed, progress=progress is True)
    # a laptop sweep may leave a parameter undetermined (typically E): the demo says so (warnings below)
    # and plans anyway, which a user's command would only do with --allow-unidentified
    plans = [allocate(result, c, allow_unidentified=True) for c in plan_budgets]
    demo = LabDemo(store=store, rows=rows, result=result, plans=plans,
                   entropy_rate_nats=demo_entropy_rate(), eval_floor_nats=demo_eval_floor())
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
                             budgets=list(budgets), command="scalinglab demo", allow_unidentified=True,
                             known_e=(demo_entropy_rate(), "the Markov source's exact entropy rate H")))


def print_lab_demo(demo: LabDemo, console: Console) -> None:
    """The sweep's runs, the fitted law with intervals, and the plan, as tables with units."""
    runs = Table(title=f"IsoFLOP sweep in {demo.store} (GPTs on the Markov corpus, CPU)")
    for c in ("id", "status", "N non-emb.", "params with emb.", "tokens D", "FLOPs 6ND", "final val loss \\[nats/token]"):
        runs.add_column(c, justify="right")
    for r in demo.rows:
        loss, n = r["final_val_loss"], r.get("params_non_embedding")
        runs.add_row(str(r["id"]), r["status"], "-" if n is None else f"{n:,}", f"{r['params']:,}", f"{r['tokens']:,}",
                     f"{r['flops']:.3g}", "-" if loss is None else f"{loss:.4f}")
    console.print(runs)
    console.print(demo.result.summary())
    console.print(demo.e_versus_truth() + (" (every parameter identified)" if demo.identified() else ""),
                  markup=False)
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
