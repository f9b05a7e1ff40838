"""CLI command for per-group laws: compare."""

from __future__ import annotations

import sys
from typing import Optional

import typer
from rich.markup import escape

from scalinglab.cli.common import Table, _emit_json, _parse_cols, _parse_floats, app, out
from scalinglab.errors import ScalingLabError


def _law_name(law: str, x: str | None) -> str:
    """``--law power_floor --x flops`` -> ``power_floor:flops``; ``--x`` with a law that has options is an error."""
    if x is None:
        return law
    if ":" in law:
        raise ScalingLabError(f"--x {x} given, but --law '{law}' already names its options; drop one of them")
    return f"{law}:{x}"


@app.command("compare")
def compare_cmd(
    data: str = typer.Argument(..., help="Runs table (CSV, Parquet, JSON-lines, JSON or a lab run store)."),
    by: str = typer.Option("group", help="Column whose values name the groups (language, architecture, ...)."),
    law: str = typer.Option("power_floor:flops", help="Law family fitted to each group, e.g. power_floor, chinchilla."),
    x: Optional[str] = typer.Option(None, help="Scaling variable of a one-variable law: flops, params or tokens "
                                               "(--law power_floor --x flops = power_floor:flops)."),
    reference: Optional[str] = typer.Option(None, help="Group the others are compared with (default: the first)."),
    flops: Optional[str] = typer.Option(None, help="FLOP counts for the compute multipliers, comma-separated "
                                                   "(default: the geometric middle and the top of the reference's)."),
    bootstrap: int = typer.Option(200, help="Bootstrap resamples per group (0 = no intervals)."),
    seed: int = typer.Option(0, help="Seed for the bootstrap."),
    level: float = typer.Option(0.95, help="Confidence level of the intervals."),
    loss: str = typer.Option("huber", help="Per-group fit objective: huber (on log-residuals) or ls."),
    col: list[str] = typer.Option([], "--col", help="Column mapping name=column, e.g. flops=flops_budget."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Fit the same law to each group of runs; compare exponents and compute-equivalent multipliers.

    JSON keys: law, by, reference; groups: GROUP -> params, ci (NAME -> low, high), derived,
    derived_ci, n_points, rmse_log, converged, notes.

    compute_multiplier: GROUP -> flops, value, low, high (lists aligned with flops), level,
    undefined_fraction, n_draws, notes; every group but the reference. value = how many times the
    reference's FLOPs the group needs to reach the reference's loss at that FLOP count (null: never).

    exponent_test: method, statistic, p_value, df (F test of shared vs per-group exponents);
    exponent_differences: GROUP -> EXPONENT -> value, low, high, p_value (bootstrap, vs the reference);
    level, bootstrap, seed, source, notes.
    """
    from scalinglab.analysis.groups import fit_groups

    at = None if flops is None else _parse_floats(flops, "--flops")
    result = fit_groups(data, _law_name(law, x), by=by, bootstrap=bootstrap, seed=seed, level=level,
                        reference=reference, flops=at, loss=loss, columns=_parse_cols(col),
                        progress=not as_json and sys.stderr.isatty())
    if as_json:
        _emit_json(result.to_dict())
        return
    _print_report(result)


def _print_report(result) -> None:
    t = Table(title=escape(f"{result.law} per '{result.by}' group ({100 * result.level:g}% intervals)"))
    for c in ("group", "points", "parameter", "value", "interval"):
        t.add_column(c, justify="left" if c in ("group", "parameter") else "right", no_wrap=c != "group")
    for g, r in result.results.items():
        label = escape(g + (" (reference)" if g == result.reference else ""))
        for i, (n, v) in enumerate(r.params.items()):
            ci = f"[{r.ci[n][0]:.4g}, {r.ci[n][1]:.4g}]" if n in r.ci else "-"
            t.add_row(label if i == 0 else "", str(r.n_points) if i == 0 else "", n, f"{v:.4g}", escape(ci),
                      end_section=i == len(r.params) - 1)
    out.print(t)
    test = result.exponent_test
    if test.get("statistic") is not None:
        out.print(f"exponents differ? {test['method']}: F = {test['statistic']:.4g} (df {test['df'][0]}, "
                  f"{test['df'][1]}), p = {test['p_value']:.3g}", markup=False)
    else:
        out.print(f"exponents differ? not tested: {test.get('reason', '-')}", markup=False)
    if result.compute_multiplier:
        m = Table(title=escape(f"compute multiplier vs '{result.reference}' (times its FLOPs to reach its loss)"))
        for c in ("group", "C (FLOPs)", "multiplier", "interval"):
            m.add_column(c, justify="left" if c == "group" else "right")
        for g, cm in result.compute_multiplier.items():
            for j, c in enumerate(cm.flops):
                ci = f"[{cm.low[j]:.4g}, {cm.high[j]:.4g}]" if cm.low is not None else "-"
                m.add_row(escape(g), f"{c:.3g}", f"{cm.value[j]:.4g}", escape(ci))
        out.print(m)
    notes = result.notes + [f"{g}: {n}" for g, cm in result.compute_multiplier.items() for n in cm.notes]
    for n in notes:
        out.print(f"- {n}", markup=False)
