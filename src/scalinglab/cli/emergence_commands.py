"""CLI commands: ``emergence`` (sigmoid of a downstream metric vs scale + smooth-vs-break test) and
``threshold`` (compute at which a predicted loss or metric first crosses a target).

Thin layers over :mod:`scalinglab.analysis.emergence` and :mod:`scalinglab.analysis.threshold`.
``--json`` keys are a contract (issue 6): emergence -> midpoint (log10 FLOPs for --x flops, log10
parameters for params, nats/token for loss; ``midpoint_<x>`` in x's own units), slope (per decade,
or per nat/token), smooth_vs_break ({statistic, p_value, method, break_at, ...}); threshold ->
flops (the key is the --x name), low, high (null when never reached or unbounded, with a note).
"""

from __future__ import annotations

from typing import Optional

import typer

from scalinglab.cli.common import _emit_json, _parse_cols, app

_DATA_HELP = "Table (CSV, Parquet, JSON-lines, JSON) with a metric column and a scale column."
_COL_HELP = "Column mapping name=column, e.g. flops=\"FLOPs (1E21)\" (with --x-scale 1e21)."


@app.command("emergence")
def emergence_cmd(
    data: str = typer.Argument(..., help=_DATA_HELP),
    metric: str = typer.Option("accuracy", help="Metric column, a fraction in [0, 1]."),
    x: str = typer.Option("flops", "--x", help="Scale column: flops, params, tokens (sigmoid in log10) or loss."),
    chance: Optional[float] = typer.Option(None, help="Chance accuracy, fixes the floor (e.g. 0.25 for 4-way "
                                           "multiple choice); default: fitted."),
    ceiling: float = typer.Option(1.0, help="Fixed ceiling of the sigmoid."),
    fit_ceiling: bool = typer.Option(False, "--fit-ceiling", help="Fit the ceiling instead of fixing it."),
    bootstrap: int = typer.Option(200, help="Bootstrap resamples (intervals and the break test's p-value)."),
    seed: int = typer.Option(0, help="Seed for the bootstraps."),
    col: list[str] = typer.Option([], "--col", help=_COL_HELP),
    x_scale: float = typer.Option(1.0, "--x-scale", help="Multiply the scale column by this (unit conversion)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Fit accuracy = floor + (ceiling - floor) / (1 + exp(-slope (log10 x - midpoint))) and test a smooth
    curve against one with a break."""
    from scalinglab.analysis.emergence import emergence

    d = emergence(data, metric, x, chance=chance, ceiling=None if fit_ceiling else ceiling, bootstrap=bootstrap,
                  seed=seed, columns=_parse_cols(col), x_scale=x_scale)
    if as_json:
        _emit_json(d)
        return
    typer.echo(_emergence_text(d))


def _emergence_text(d: dict) -> str:
    ci = d["ci"]
    show = lambda name: (f"{d[name]:.4g}" + (f"  [{ci[name][0]:.4g}, {ci[name][1]:.4g}]" if name in ci else  # noqa: E731
                                              ("" if name in d["fitted"] else "  (fixed)")))
    x = d["x"]
    lines = [f"sigmoid of {d['metric']} vs {d['midpoint_unit']} ({d['n_points']} points)",
             f"  midpoint  {show('midpoint')}" + (f"   = {d[f'midpoint_{x}']:.3g} {x}" if x != "loss" else ""),
             f"  slope     {show('slope')}   ({d['slope_unit']})",
             f"  floor     {show('floor')}", f"  ceiling   {show('ceiling')}",
             f"  10%-90% rise over {d['transition_width']:.3g} {'decades' if x != 'loss' else 'nats/token'}"]
    t = d["smooth_vs_break"]
    if t.get("statistic") is not None:
        p = "n/a" if t["p_value"] is None else f"{t['p_value']:.3g}"
        lines.append(f"smooth vs break: LR = {t['statistic']:.3g}, p = {p} "
                     f"({t['break_kind']} at {x} = {t['break_at']:.3g})")
    lines.append(d["verdict"])
    lines += [f"note: {n}" for n in d["notes"]] + ([f"note: {t['note']}"] if t.get("note") else [])
    return "\n".join(lines)


@app.command("threshold")
def threshold_cmd(
    data: str = typer.Argument(..., help=_DATA_HELP),
    metric: str = typer.Option("accuracy", help="Metric column, or 'loss' (nats/token) for a loss threshold."),
    target: float = typer.Option(..., help="Target: a metric to reach (above) or a loss to fall below."),
    x: str = typer.Option("flops", "--x", help="Scale: flops, params or tokens."),
    law: Optional[str] = typer.Option(None, help="Loss law: a family fitted here (default power_floor:<x> for "
                                      "--metric loss), a fit JSON or a published law; for a metric, uses the "
                                      "two-step method (the table needs a loss column)."),
    chance: Optional[float] = typer.Option(None, help="Chance accuracy, fixes the sigmoid's floor."),
    ceiling: float = typer.Option(1.0, help="Fixed ceiling of the sigmoid."),
    fit_ceiling: bool = typer.Option(False, "--fit-ceiling", help="Fit the ceiling instead of fixing it."),
    bootstrap: int = typer.Option(200, help="Bootstrap resamples for the interval."),
    seed: int = typer.Option(0, help="Seed for the bootstrap."),
    level: float = typer.Option(0.95, help="Confidence level of the interval."),
    col: list[str] = typer.Option([], "--col", help=_COL_HELP),
    x_scale: float = typer.Option(1.0, "--x-scale", help="Multiply the scale column by this (unit conversion)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Smallest compute (or size) at which the predicted loss falls below, or the metric rises above, a target."""
    from scalinglab.analysis.threshold import capability_threshold

    th = capability_threshold(data, metric, target, x, law=law, chance=chance,
                              ceiling=None if fit_ceiling else ceiling, bootstrap=bootstrap, seed=seed, level=level,
                              columns=_parse_cols(col), x_scale=x_scale)
    d = th.to_dict()
    if as_json:
        _emit_json(d)
        return
    verb = "falls below" if th.direction == "below" else "reaches"
    if not th.reached:
        line = f"{th.metric} never {'falls below' if th.direction == 'below' else 'reaches'} {th.target:g}"
    else:
        hi = f"{th.high:.3g}" if d["high"] is not None else "never"
        line = (f"{th.metric} {verb} {th.target:g} at {th.x} = {th.value:.3g} "
                f"({100 * th.level:g}% interval {th.low:.3g} .. {hi}; {th.method})")
        if th.extrapolation_decades is not None:
            where = "beyond" if th.extrapolation_decades > 0 else "below"
            line += f"\n{abs(th.extrapolation_decades):.2f} decades {where} the largest observed {th.x}"
    typer.echo("\n".join([line] + [f"note: {n}" for n in th.notes]))
