"""CLI command ``backtest``: fit on the smaller runs, predict the held-out larger ones."""

from __future__ import annotations

from typing import Any, Optional

import typer
from rich import box

from scalinglab.cli.common import Table, _emit_json, _parse_cols, app, out
from scalinglab.errors import ScalingLabError


@app.command("backtest")
def backtest_cmd(
    data: str = typer.Argument(..., help="Runs table: CSV, Parquet, JSON-lines or JSON (or a lab run store)."),
    law: str = typer.Option("chinchilla", help="Law family, e.g. chinchilla, power_floor:flops, kaplan_nd."),
    holdout_above: Optional[float] = typer.Option(None, "--holdout-above",
                                                  help="Hold out runs whose --x is above this (FLOPs or params)."),
    x: str = typer.Option("flops", "--x", help="Column the threshold applies to: flops (compute), params (size) or tokens."),
    bootstrap: int = typer.Option(200, help="Bootstrap resamples of the training fit (0 = noise-only intervals)."),
    seed: int = typer.Option(0, help="Seed for the bootstrap."),
    level: float = typer.Option(0.95, help="Level of the prediction intervals."),
    loss: str = typer.Option("huber", help="Fit objective: huber (on log-residuals) or ls."),
    rolling: bool = typer.Option(False, "--rolling", help="Also backtest at several thresholds (error vs distance)."),
    interval: str = typer.Option("prediction", "--interval",
                                 help="prediction (parameters + run-to-run noise) or calibrated (also the law's "
                                      "misfit, learned by rolling-origin refits on the fitted runs alone)."),
    col: list[str] = typer.Option([], "--col", help="Column mapping name=column, e.g. params=\"Model Size\"."),
    drop_highest_loss: int = typer.Option(0, help="Drop the K highest-loss rows first (Besiroglu et al. 2024 drop 5)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Backtest a law: fit runs up to a threshold, predict the larger runs, report MARE, coverage and
    the median interval width (JSON adds interval_method and median_width)."""
    from scalinglab.analysis.backtest import backtest, rolling_backtest

    if holdout_above is None and not rolling:
        raise ScalingLabError("give --holdout-above THRESHOLD (in units of --x), or --rolling for several thresholds")
    common: dict[str, Any] = dict(x=x, bootstrap=bootstrap, seed=seed, level=level, loss=loss, interval=interval,
                                  columns=_parse_cols(col), drop_highest_loss=drop_highest_loss)
    payload: dict[str, Any] = {}
    result = None
    if holdout_above is not None:
        result = backtest(data, law, holdout_above=holdout_above, **common)
        payload = result.to_dict()
    table = rolling_backtest(data, law, **common) if rolling else None
    if table is not None:
        payload["rolling"] = table.to_dict(orient="records")
        payload["rolling_notes"] = list(table.attrs.get("notes", []))
        payload.setdefault("law", table.attrs.get("law", law))
        payload.setdefault("x", x)
        payload.setdefault("interval_method", interval)
    if as_json:
        _emit_json(payload)
        return
    if result is not None:
        _print_backtest(result)
    if table is not None:
        _print_rolling(table, law, x, level, interval)


_UNITS = {"flops": "FLOPs", "params": "parameters", "tokens": "tokens"}


def _print_backtest(result: Any) -> None:
    t = Table(title=f"Backtest of {result.law}: fit {result.x} <= {result.holdout_above:.3g} {_UNITS[result.x]}, "
                    f"predict above (loss in nats/token; {100 * result.level:g}% {result.interval_method} "
                    "interval low..high)",
              box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    for name in ("params", "tokens", "flops", "observed", "predicted", "low", "high", "inside", "error"):
        t.add_column(name, justify="right", no_wrap=True)
    for r in result.predictions.itertuples(index=False):
        t.add_row(_sci(r.params), _sci(r.tokens), _sci(r.flops), f"{r.observed:.4f}", f"{r.predicted:.4f}",
                  f"{r.low:.4f}", f"{r.high:.4f}", "yes" if r.inside else "NO", f"{100 * r.rel_error:+.2f}%")
    out.print(t)
    out.print(result.summary(), markup=False)
    out.print(f"noise scale (log-loss) {result.sigma:.4g}; {result.fit.bootstrap} bootstrap resamples", markup=False)
    c = result.fit.calibration
    if c is not None:
        out.print(f"calibration: misfit scale {c['s0']:.4g} + {c['s1']:.4g} per decade of {c['x']} beyond the fitted "
                  f"range, from {len(c['error'])} errors of {len(c['origins'])} rolling-origin refits below the "
                  "threshold", markup=False)
    _print_list("warnings", result.warnings)
    _print_list("notes", result.notes)


def _print_rolling(table: Any, law: str, x: str, level: float, interval: str = "prediction") -> None:
    t = Table(title=f"Rolling backtest of {table.attrs.get('law', law)} (threshold on {x}, {_UNITS[x]}; "
                    f"distance = log10 of held-out x / largest fitted x, in decades; {100 * level:g}% {interval} "
                    "intervals; width = median (high - low) / predicted)",
              box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    for name in ("threshold", "fitted", "held out", "MARE", "coverage", "width", "max dist.", "median dist."):
        t.add_column(name, justify="right", no_wrap=True)
    for r in table.itertuples(index=False):
        t.add_row(_sci(r.threshold), str(r.n_train), str(r.n_test), f"{100 * r.mare:.2f}%",
                  f"{100 * r.coverage:.0f}%", f"{100 * r.median_width:.2f}%", f"{r.distance:.2f}",
                  f"{r.median_distance:.2f}")
    out.print(t)
    _print_list("notes", table.attrs.get("notes", []))


def _sci(value: float) -> str:
    """A count in short scientific form: 8.58e8, 1e21; '-' when missing."""
    if value is None or value != value:
        return "-"
    mantissa, _, exponent = f"{value:.3g}".partition("e")
    return f"{mantissa}e{int(exponent)}" if exponent else mantissa


def _print_list(title: str, items: list[str]) -> None:
    if items:
        out.print(f"\n{title}", markup=False)
        for item in items:
            out.print(f"- {item}", markup=False, soft_wrap=True)
