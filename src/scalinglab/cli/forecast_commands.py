"""CLI command ``forecast``: a run's final loss from the first part of its learning curve."""

from __future__ import annotations

import math
import sys
from typing import Optional

import typer

from scalinglab.cli.common import Table, _emit_json, _parse_cols, _parse_floats, app, out
from scalinglab.errors import ScalingLabError


@app.command("forecast")
def forecast_cmd(
    data: str = typer.Argument(..., help="Learning curves: a table with run, tokens and/or step, loss "
                                         "(nats/token) per evaluation, or a lab run store (.db)."),
    run: Optional[str] = typer.Option(None, "--run", help="Id of the run to forecast (column 'run')."),
    fraction: float = typer.Option(0.3, help="Share of the curve fitted: points with x <= fraction * last x."),
    form: str = typer.Option("saturating", help="saturating (E + A x^-alpha, this run alone), kaplan_ns "
                                                "(Kaplan L(N,S), this run), or shared (fit across runs)."),
    shared_law: str = typer.Option("exponent", help="Law of --form shared: exponent (shared exponent, "
                                                    "per-run floor and amplitude), chinchilla or kaplan_ns."),
    x: str = typer.Option("tokens", "--x", help="Curve variable: tokens or step."),
    final: Optional[float] = typer.Option(None, help="Forecast at this x instead of the curve's last x."),
    bootstrap: int = typer.Option(200, help="Bootstrap resamples for the interval (0 = none)."),
    seed: int = typer.Option(0, help="Seed for the bootstrap."),
    level: float = typer.Option(0.95, help="Level of the prediction interval."),
    col: list[str] = typer.Option([], "--col", help="Column mapping name=column, e.g. run=model_id."),
    backtest: bool = typer.Option(False, "--backtest", help="Forecast every run (or --run) at --fractions "
                                                            "and score against the observed final loss."),
    fractions: str = typer.Option("0.1,0.2,0.3,0.5,0.7", help="Fractions for --backtest, comma-separated."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Forecast a run's final loss (nats/token) from the first part of its learning curve."""
    if backtest:
        _backtest(data, run, form, shared_law, x, bootstrap, seed, level, col, fractions, as_json)
        return
    from scalinglab.analysis.forecast import curve_ids, forecast_run, load_curves

    curves = load_curves(data, _parse_cols(col))
    if run is None:
        ids = curve_ids(curves)
        shown = ", ".join(ids[:8]) + (f", ... ({len(ids)} runs)" if len(ids) > 8 else "")
        raise ScalingLabError("--run is required: the id of the run to forecast" +
                              (f"; runs in {data}: {shown}" if ids else f" ({data} has no 'run' column)"))
    f = forecast_run(curves, run=run, fraction=fraction, form=form, x=x, bootstrap=bootstrap, seed=seed,
                     level=level, final=final, shared_law=shared_law)
    if as_json:
        _emit_json(f.to_dict())
        return
    law = f"{f.form}" + (f" ({f.law})" if f.law != f.form else "")
    slot = "step" if "step" in f.fit.family.variables else "tokens"  # the law's time variable holds x
    law += f": {f.fit.family.formula}" + (f" with {'S' if slot == 'step' else 'D'} = {f.x}" if slot != f.x else "")
    lines = [f"forecast of run {f.run}: {law}",
             f"  fitted          {f.n_fit} points with {f.x} <= {f.x_fit_max:.4g} ({100 * f.fraction:g}% of the curve)",
             f"  final loss      {f.final_loss:.4f} nats/token at {f.x} = {f.x_final:.4g}"]
    if f.low is not None:
        lines[-1] += f"  ({100 * f.level:g}% prediction interval {f.low:.4f} .. {f.high:.4f})"
    if f.observed_final is not None:
        where = "inside" if f.inside else "outside"
        lines.append(f"  observed final  {f.observed_final:.4f} (error {100 * f.rel_error:+.2f}%"
                     + (f", {where} the interval)" if f.inside is not None else ")"))
    else:
        lines.append("  observed final  unknown")
    lines += [f"  {k:<15} {v:.6g}" for k, v in f.fit.params.items()]
    if f.notes:
        lines += ["", "  notes"] + [f"  - {n}" for n in f.notes]
    typer.echo("\n".join(lines))


def _backtest(data, run, form, shared_law, x, bootstrap, seed, level, col, fractions, as_json) -> None:
    from scalinglab.analysis.forecast_backtest import forecast_backtest

    table = forecast_backtest(data, _parse_floats(fractions, "--fractions"), form=form, x=x,
                              bootstrap=bootstrap, seed=seed, level=level, shared_law=shared_law,
                              runs=None if run is None else [run], columns=_parse_cols(col),
                              progress=not as_json and sys.stderr.isatty())
    summary = table.attrs["summary"]
    if as_json:
        _emit_json({"summary": summary.to_dict(orient="records"),
                    "forecasts": table.astype(object).where(table.notna(), None).to_dict(orient="records")})
        return
    t = Table(title=f"Backtest of {form} forecasts of the final loss ({data})")
    for c in ("fraction", "runs", "failed", "med |err|", "mean |err|", "med err", "coverage"):
        t.add_column(c, justify="right", no_wrap=True)
    for r in summary.itertuples(index=False):
        t.add_row(f"{r.fraction:g}", str(r.runs), str(r.failed), _pct(r.median_abs_rel_error),
                  _pct(r.mean_abs_rel_error), _pct(r.median_rel_error), _pct(r.coverage, 0))
    out.print(t)
    out.print(f"err = forecast / observed final loss - 1 (med = median); coverage of the {100 * level:g}% "
              "prediction intervals")


def _pct(v: float, digits: int = 2) -> str:
    return "-" if math.isnan(v) else f"{100 * v:.{digits}f}%"
