"""CLI commands: inference quality, ``passk`` and ``coverage``.

Thin layers over :mod:`scalinglab.inference.quality`; ``--json`` keys are a contract (issue 4):
passk -> pass_at_k ({"k": value}, keys are k as strings), n_problems; coverage -> a, b,
samples_for_target (plus intervals from a seeded bootstrap of 200 resamples by default, and the coverage
table); an unbounded interval end (resamples that never reach the target) is null with a note.
"""

from __future__ import annotations

import math
from typing import Optional

import typer

from scalinglab.cli.common import Table, _emit_json, _parse_floats, app, out
from scalinglab.errors import ScalingLabError

_LAYOUTS = "columns problem, n, correct (counts) or problem, correct (one row per sample)"


def _parse_ks(text: Optional[str]) -> Optional[list[int]]:
    """--k 1,10,100 -> [1, 10, 100]; every k a whole number >= 1."""
    if text is None:
        return None
    ks = _parse_floats(text, "--k")
    for k in ks:  # finiteness first: round(nan) / round(inf) would raise
        if not math.isfinite(k) or k != round(k) or k < 1:
            raise ScalingLabError(f"--k expects whole numbers >= 1, got {k:g}")
    return sorted({int(k) for k in ks})


def _read(path: str):  # -> pandas.DataFrame
    from pathlib import Path

    from scalinglab.tables import read_table

    return read_table(Path(path), path, is_text=lambda col: col.strip().lower() == "problem")


@app.command("passk")
def passk_cmd(
    results: str = typer.Argument(..., help=f"Results table (CSV, Parquet, JSONL) with {_LAYOUTS}."),
    k: Optional[str] = typer.Option(None, "--k", help="Comma-separated k (default: those of 1, 10, 100 that "
                                    "are <= the smallest n). A k above some problem's n is an error."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Unbiased pass@k (Chen et al. 2021) averaged over problems; per temperature if the table has one."""
    from scalinglab.inference.quality import best_temperature, load_results, load_results_by_temperature

    ks = _parse_ks(k)
    df = _read(results)
    if "temperature" in {str(c).strip().lower() for c in df.columns}:
        by_t = load_results_by_temperature(df, results)
        min_n = min(r.min_n for r in by_t.values())
        choice = best_temperature(by_t, ks or _default_ks(min_n))
        d = {"pass_at_k": {str(kk): v for kk, v in choice.best_pass_at_k.items()},
             "n_problems": len(set().union(*(r.problems for r in by_t.values()))), "min_n": min_n,
             "best_temperature": {str(kk): t for kk, t in choice.best.items()},
             "by_temperature": {f"{t:g}": {str(kk): v for kk, v in row.items()}
                                for t, row in choice.by_temperature.items()},
             "notes": ["pass_at_k is at the best temperature for each k (chosen on the same samples)",
                       *choice.notes]}
    else:
        res = load_results(df, results)
        values = res.mean_pass_at_k(ks or _default_ks(res.min_n))
        d = {"pass_at_k": {str(kk): v for kk, v in values.items()}, "n_problems": len(res.problems),
             "min_n": res.min_n, "layout": res.layout}
    if as_json:
        _emit_json(d)
        return
    _print_passk(d)


def _default_ks(min_n: int) -> list[int]:
    """Those of 1, 10, 100 that every problem has enough samples for."""
    return [kk for kk in (1, 10, 100) if kk <= min_n]


def _print_passk(d: dict) -> None:
    t = Table(title="pass@k (unbiased estimator, Chen et al. 2021)", min_width=50,
              caption=f"{d['n_problems']} problems, at least {d['min_n']} samples each")
    t.add_column("k", justify="right")
    t.add_column("pass@k", justify="right")
    if "best_temperature" in d:
        t.add_column("best temperature", justify="right")
        for temp in d["by_temperature"]:
            t.add_column(f"T = {temp}", justify="right")
    for kk, v in d["pass_at_k"].items():
        row = [kk, f"{v:.4f}"]
        if "best_temperature" in d:
            row += [f"{d['best_temperature'][kk]:g}", *(f"{r[kk]:.4f}" for r in d["by_temperature"].values())]
        t.add_row(*row)
    out.print(t)
    for note in d.get("notes", []):
        out.print(f"note: {note}")


@app.command("coverage")
def coverage_cmd(
    results: str = typer.Argument(..., help=f"Results table (CSV, Parquet, JSONL) with {_LAYOUTS}."),
    target: float = typer.Option(..., help="Target coverage in (0, 1), e.g. 0.9."),
    k: Optional[str] = typer.Option(None, "--k", help="Comma-separated k to fit (default 1, 2, 4, ... up "
                                    "to the smallest n)."),
    bootstrap: int = typer.Option(200, help="Bootstrap resamples over problems for the intervals (0 = none); "
                                  "default 200, seeded by --seed, so the intervals are reproducible."),
    seed: int = typer.Option(0, help="Seed for the bootstrap (default 0)."),
    level: float = typer.Option(0.95, help="Confidence level of the intervals."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Fit coverage c(k) = exp(a k^b) (Brown et al. 2024) and the samples needed for a target coverage."""
    from scalinglab.inference.quality import fit_coverage, samples_for_coverage

    samples_for_coverage(-1.0, -1.0, target)  # raises on a target outside (0, 1) before any work
    fit = fit_coverage(results, _parse_ks(k), bootstrap=bootstrap, seed=seed, level=level)
    d = fit.to_dict(target)
    if as_json:
        _emit_json(d)
        return
    t = Table(title="coverage vs samples (Brown et al. 2024)", caption=f"{d['n_problems']} problems")
    for col in ("k", "coverage", "fitted exp(a k^b)", "used in fit"):
        t.add_column(col, justify="right")
    for row in d["coverage"]:
        t.add_row(str(row["k"]), f"{row['coverage']:.4f}", f"{row['fitted']:.4f}", "yes" if row["used"] else "no")
    out.print(t)
    out.print(f"law: log c(k) = a k^b with a = {d['a']:.4g}{_ci(d, 'a_interval')}, "
              f"b = {d['b']:.4g}{_ci(d, 'b_interval')}")
    samples = d["samples_for_target"]
    shown = ("never (infinite)" if samples is None or samples == float("inf")
             else f"{math.ceil(samples):,} (the law reaches it at k = {samples:,.1f})")
    out.print(f"samples per problem for coverage {target:g}: {shown}{_ci(d, 'samples_for_target_interval')}"
              f"  ({d['target_note']})")
    for note in d["notes"]:
        out.print(f"note: {note}")


def _ci(d: dict, key: str) -> str:
    if key not in d:
        return ""
    lo, hi = ("unbounded" if v is None or math.isinf(v) else f"{v:.4g}" for v in d[key])
    return f" ({100 * d['level']:g}% interval {lo} .. {hi})"
