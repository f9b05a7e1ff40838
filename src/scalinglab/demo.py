"""``scalinglab demo --simulated`` and ``simulate``: simulate an IsoFLOP sweep from a known law, fit it
back, compare. (``make demo`` itself trains a real sweep: :mod:`scalinglab.lab.demo`.)

The simulated demo's truth is the
Hoffmann et al. 2022 law, the sweep is 9 budgets (1e18..1e22 FLOPs) x 9 sizes (N_opt/6..6 N_opt) with
1% log-normal noise (seeded), and the
fit is the chinchilla family with bootstrap intervals. The report shows each recovered parameter beside
the truth and whether its interval covers it: the same check a user runs before paying for a sweep.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from scalinglab.atomic import atomic_write
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError
from scalinglab.fitting import FitResult, fit
from scalinglab.resolve import AnyLaw, LawLike, resolve_law
from scalinglab.simulate import DEFAULT_BUDGETS, simulate_isoflop


@dataclass(repr=False)
class RecoveryReport(Displayed):
    _display = (("truth_name", ""), ("truth", "natural scale"), ("runs", ""), ("noise", "log-loss std"),
                ("seed", ""), ("result", ""))

    truth_name: str
    truth_law: AnyLaw  # the resolved law the runs were simulated from
    truth: dict[str, float]
    runs: pd.DataFrame
    result: FitResult | None
    noise: float
    seed: int

    def covered(self) -> dict[str, bool]:
        if self.result is None or not self.result.ci:
            return {}
        return {k: bool(self.result.ci[k][0] <= v <= self.result.ci[k][1])
                for k, v in self.truth.items() if k in self.result.ci}

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"truth_law": self.truth_name, "truth": self.truth, "n_points": len(self.runs),
                             "noise": self.noise, "seed": self.seed}
        if self.result is not None:
            d["fit"] = self.result.report_dict()
            d["params"] = self.result.params
            d["ci"] = {k: v for k, v in self.result.ci.items()}
            d["covered"] = self.covered()
        return d


def _truth_values(law) -> dict[str, float]:
    values = dict(law.params)
    values.update({k: float(v) for k, v in law.family.derived(law.params).items()})
    return values


def run_recovery(law: LawLike, budgets: Sequence[float], per_budget: int, span: float, noise: float,
                 seed: int, fit_law: str | None, bootstrap: int, progress: bool = False) -> RecoveryReport:
    """Simulate runs from ``law`` and (unless ``fit_law`` is None) fit them back with a bootstrap."""
    truth = resolve_law(law)
    runs = simulate_isoflop(truth, budgets, per_budget, span, noise, seed)
    result = None
    if fit_law is not None:
        result = fit(runs, law=fit_law, bootstrap=bootstrap, seed=seed, progress=progress)
    name = getattr(truth, "key", None) or str(law)
    return RecoveryReport(name, truth, _truth_values(truth), runs, result, noise, seed)


def run_demo(progress: bool = False) -> RecoveryReport:
    """The embedded default job: hoffmann2022 truth, 9x9 IsoFLOP sweep, 1% noise, 1,000 bootstrap draws."""
    return run_recovery("hoffmann2022", DEFAULT_BUDGETS, 9, 6.0, 0.01, 0, "chinchilla", 1000, progress)


def recovery_report(report: RecoveryReport, console: Console) -> None:
    """Print the simulated design and the recovered law beside the truth."""
    runs = report.runs
    console.print(f"[bold]Simulated IsoFLOP sweep[/bold] from {report.truth_name}: {len(runs)} runs, "
                  f"{runs['budget'].nunique()} budgets {runs['flops'].min():.2g}..{runs['flops'].max():.2g} FLOPs, "
                  f"N {runs['params'].min():.3g}..{runs['params'].max():.3g} parameters, "
                  f"noise {100 * report.noise:g}% (log-normal), seed {report.seed}")
    res = report.result
    if res is None:
        return
    covered = report.covered()
    title = f"Recovered law ({res.law}, {res.bootstrap} bootstrap resamples, {100 * res.level:g}% intervals)"
    t = Table(title=title, min_width=len(title))  # as wide as its title: the title does not wrap
    for c in ("parameter", "truth", "fitted", "interval", "covers truth"):
        t.add_column(c, justify="right" if c != "parameter" else "left")
    for k, true in report.truth.items():
        fitted = {**res.params, **res.derived}.get(k)
        ci = res.ci.get(k)
        t.add_row(k, f"{true:.4g}", "-" if fitted is None else f"{fitted:.4g}",
                  f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else "-",
                  {True: "yes", False: "[red]no[/red]"}.get(covered.get(k), "-"))
    console.print(t)
    console.print(f"objective {res.objective:.4e} ({res.loss}), rmse(log) {res.rmse_log:.4f}, "
                  f"converged: {'yes' if res.converged else 'NO'}, {res.n_at_best} of {res.n_refined} refined "
                  f"starts reached the best (screened {res.n_starts:,})")
    _print_reference_prediction(report, console)
    for n in res.notes:
        console.print(f"note: {n}")


def _print_reference_prediction(report: RecoveryReport, console: Console) -> None:
    """Fitted vs true loss of Chinchilla 70B on 1.4T tokens, for laws of params and tokens."""
    res, both = report.result, {"params", "tokens"}
    if res is None or set(res.family.variables) != both or set(report.truth_law.family.variables) != both:
        return
    p = res.predict(params=70e9, tokens=1.4e12)
    true_loss = float(report.truth_law.family.predict_natural(report.truth_law.params, params=70e9, tokens=1.4e12))
    line = f"Chinchilla 70B on 1.4T tokens: predicted loss {float(p.loss):.4f} nats/token"
    if p.low is not None:
        line += f" ({100 * res.level:g}% interval {float(p.low):.4f}..{float(p.high):.4f})"
    console.print(line + f"; true {true_loss:.4f}")


def check_table_path(path: str | os.PathLike) -> str:
    """The lower-case extension of a table path we can write; a clear error otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq", ".jsonl", ".ndjson"):
        raise ScalingLabError(f"{path}: unknown table format '{suffix}'; use .csv, .parquet or .jsonl")
    return suffix


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a runs table as CSV, Parquet or JSON-lines, by extension, atomically
    (:mod:`scalinglab.atomic`: a failed write leaves ``path`` as it was)."""
    suffix = check_table_path(path)
    try:
        if suffix in (".parquet", ".pq"):
            with atomic_write(path, "wb") as fh:
                df.to_parquet(fh, index=False)
        else:
            with atomic_write(path, "w", newline="") as fh:
                if suffix in (".jsonl", ".ndjson"):
                    df.to_json(fh, orient="records", lines=True)
                else:
                    df.to_csv(fh, index=False)
    except OSError as exc:
        raise ScalingLabError(f"{path}: cannot write ({exc.strerror or exc})") from None


__all__ = ["RecoveryReport", "run_recovery", "run_demo", "recovery_report", "write_table"]
