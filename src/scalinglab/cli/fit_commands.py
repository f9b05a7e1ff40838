"""CLI commands for fitting and using laws: fit, predict, laws, simulate, demo."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from scalinglab.cli.common import Table, _emit_json, _parse_cols, _parse_floats, app, err, out
from scalinglab.errors import ScalingLabError, choice


@app.command("fit")
def fit_cmd(
    data: str = typer.Argument(..., help="Runs table: CSV, Parquet, JSON-lines or JSON."),
    law: str = typer.Option("chinchilla", help="Law family, e.g. chinchilla, power_floor:flops, kaplan_nd, bnsl:params:1."),
    loss: str = typer.Option("huber", help="huber (on log-residuals) or ls."),
    delta: float = typer.Option(1e-3, help="Huber delta on log-residuals."),
    bootstrap: int = typer.Option(0, help="Bootstrap resamples (0 = none)."),
    seed: int = typer.Option(0, help="Seed for the bootstrap."),
    level: float = typer.Option(0.95, help="Confidence level of the intervals."),
    col: list[str] = typer.Option([], "--col", help="Column mapping name=column, e.g. params=\"Model Size\"."),
    drop_highest_loss: int = typer.Option(0, help="Drop the K highest-loss rows (as Besiroglu et al. 2024 drop 5)."),
    refine: int = typer.Option(64, help="Grid starts optimised after screening all of them (0 = all)."),
    calibrate: bool = typer.Option(False, "--calibrate",
                                   help="Also learn the law's extrapolation errors by rolling-origin refits on these "
                                        "runs, so that 'predict --interval calibrated' works on the saved fit."),
    calibrate_x: Optional[str] = typer.Option(None, "--calibrate-x",
                                              help="Distance variable of --calibrate: flops, params or tokens "
                                                   "(default flops when the law's inputs give C)."),
    fix: list[str] = typer.Option([], "--fix", help="Hold a parameter at a value, NAME=VALUE on the natural "
                                  "scale (e.g. E=1.69); repeatable. It gets no interval."),
    tie: list[str] = typer.Option([], "--tie", help="Fit parameters as one value, NAME=NAME (e.g. alpha=beta); "
                                  "repeatable."),
    base: Optional[str] = typer.Option(None, "--base", help="A fit JSON whose parameters of the same name are held "
                                       "fixed (a staged fit, e.g. --law muennighoff --base chinchilla_fit.json); "
                                       "--fix overrides it."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    out_path: Optional[str] = typer.Option(None, "--out", help="Save the fit as JSON here."),
) -> None:
    """Fit a scaling law to a table of runs (JSON gains 'calibration' with --calibrate; 'fixed' and 'tied'
    name the parameters held by --fix/--base and tied by --tie)."""
    from scalinglab.fitting import fit

    result = fit(data, law=law, loss=loss, delta=delta, bootstrap=bootstrap, seed=seed, level=level,
                 columns=_parse_cols(col), drop_highest_loss=drop_highest_loss,
                 refine=None if refine == 0 else refine, progress=not as_json and sys.stderr.isatty(),
                 fixed=_parse_fix(fix), tied=tie, base=base)
    if calibrate or calibrate_x is not None:
        from scalinglab.analysis.calibration import calibrate as calibrate_fit

        result = calibrate_fit(result, data, x=calibrate_x, columns=_parse_cols(col),
                               drop_highest_loss=drop_highest_loss)
    if out_path:
        result.save(out_path)
    if as_json:
        _emit_json(result.report_dict())
    else:
        typer.echo(result.summary())
        if out_path:
            typer.echo(f"\nsaved to {out_path}")


def _parse_fix(items: list[str]) -> dict[str, float]:
    """--fix NAME=VALUE items as a mapping of natural parameter names to values."""
    fixed: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            fixed[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ScalingLabError(f"--fix expects NAME=VALUE (e.g. E=1.69), got '{item}'")
    return fixed


@app.command("predict")
def predict_cmd(
    law: str = typer.Option(..., help="A fit JSON written by 'fit --out', or a published law (see 'laws')."),
    params: Optional[float] = typer.Option(None, help="Parameters N."),
    tokens: Optional[float] = typer.Option(None, help="Training tokens D."),
    flops: Optional[float] = typer.Option(None, help="Training FLOPs C."),
    step: Optional[float] = typer.Option(None, help="Optimiser steps S."),
    unique_tokens: Optional[float] = typer.Option(None, help="Unique training tokens U_D (data-constrained law)."),
    allow_unidentified: bool = typer.Option(False, "--allow-unidentified",
                                            help="Answer even when the fit's data leave a parameter undetermined "
                                                 "(JSON 'warnings' then names it)."),
    interval: str = typer.Option("parameters", "--interval",
                                 help="Interval of a fit: parameters (the mean loss, bootstrap), prediction (a new "
                                      "run: + run-to-run noise) or calibrated (+ the law's misfit; needs a fit "
                                      "saved with 'fit --calibrate')."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Predict the loss (nats/token) of a fitted or published law, with how far the query lies outside
    the law's data (JSON key extrapolation: decades of N, D and C; a warning beyond one decade) and
    interval_method (parameters, prediction, calibrated, or none without an interval). A fit whose
    data leave a parameter undetermined is refused (exit 2) unless --allow-unidentified."""
    from scalinglab.resolve import (
        extrapolation,
        extrapolation_text,
        extrapolation_warnings,
        law_inputs,
        law_name,
        predict_loss,
        resolve_law,
        unidentified_guard,
    )

    resolved = resolve_law(law)
    inputs, derived = law_inputs(resolved, params=params, tokens=tokens, flops=flops, step=step,
                                 unique_tokens=unique_tokens)
    warnings = unidentified_guard(resolved, "the predicted loss", allow=allow_unidentified)  # refuses, or warns
    pred = (predict_loss(resolved, allow_unidentified=True, **inputs) if interval == "parameters"
            else _predictive(resolved, interval, inputs))
    d = pred.to_dict()
    d["interval_method"] = pred.method or "none"
    d["warnings"] = warnings
    query = {"params": params, "tokens": tokens, "flops": flops, **inputs}
    d["extrapolation"] = extrapolation(resolved, **query)
    d.setdefault("warnings", []).extend(extrapolation_warnings(resolved, **query))
    if as_json:
        _emit_json(d)
        return
    shown = ", ".join(f"{k} = {float(v):.4g}" for k, v in inputs.items())
    line = f"{law_name(resolved)}: loss at {shown} = {d['loss']:.4f} nats/token"
    if "low" in d:
        kind = "" if pred.method == "parameters" else f"{pred.method} "  # the default reads as before
        line += f"  ({100 * pred.level:g}% {kind}interval {d['low']:.4f} .. {d['high']:.4f})"
    typer.echo(line + "".join(f"\n({n})" for n in derived))
    typer.echo(extrapolation_text(resolved, **query))
    for w in d["warnings"]:
        typer.echo(f"warning: {w}")


def _predictive(resolved, interval: str, inputs: dict):
    """A fit's prediction with the "prediction" or "calibrated" interval (published laws have neither)."""
    from scalinglab.fitting.result import INTERVAL_METHODS, FitResult

    interval = choice("--interval", interval, INTERVAL_METHODS)
    if not isinstance(resolved, FitResult):
        raise ScalingLabError(f"--interval {interval} needs a fit JSON (its residuals and, for calibrated, its "
                              "calibration); a published law carries neither")
    return resolved.predict(interval=interval, **inputs)


@app.command("laws")
def laws_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the law families and the published laws."""
    from scalinglab.laws import list_families
    from scalinglab.laws.published import list_published

    families, published = list_families(), list_published()
    if as_json:
        _emit_json({"families": families, "published": published})
        return
    t = Table(title="Law families")
    t.add_column("name", no_wrap=True)
    for c in ("formula", "parameters", "source"):
        t.add_column(c)
    for f in families:
        t.add_row(f["name"], f["formula"], ", ".join(f["params"]), f["citation"])
    out.print(t)
    p = Table(title="Published laws")
    p.add_column("key (aliases)", no_wrap=True)
    for c in ("family", "parameters", "source"):
        p.add_column(c)
    for f in published:
        key = f["key"] + "".join(f"\n({a})" for a in f.get("aliases", []))
        p.add_row(key, f["family"], ", ".join(f"{k}={v:.6g}" for k, v in f["params"].items()), f["citation"])
    out.print(p)


@app.command("simulate")
def simulate_cmd(
    law: str = typer.Option("hoffmann2022", help="True law: a published name or a fit JSON."),
    budgets: str = typer.Option("1e18,3e18,1e19,3e19,1e20,3e20,1e21,3e21,1e22", help="FLOP budgets, comma-separated."),
    per_budget: int = typer.Option(9, help="Model sizes per budget."),
    span: float = typer.Option(6.0, help="Sizes from N_opt/span to N_opt*span."),
    noise: float = typer.Option(0.01, help="Std of the log-loss noise."),
    seed: int = typer.Option(0, help="Seed for the noise and the bootstrap."),
    fit_law: Optional[str] = typer.Option("chinchilla", "--fit", help="Family to fit back ('none' to skip)."),
    bootstrap: int = typer.Option(200, help="Bootstrap resamples of the fit back."),
    out_path: Optional[str] = typer.Option(None, "--out", help="Write the simulated runs (CSV/Parquet/JSONL)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Simulate an IsoFLOP sweep from a law and check that fitting it back recovers the law."""
    from scalinglab.demo import check_table_path, recovery_report, run_recovery, write_table

    if out_path:
        check_table_path(out_path)
    report = run_recovery(law, _parse_floats(budgets, "--budgets"), per_budget, span, noise, seed,
                          None if fit_law in (None, "none") else fit_law, bootstrap,
                          progress=not as_json and sys.stderr.isatty())
    if out_path:
        write_table(report.runs, out_path)
    if as_json:
        _emit_json(report.to_json())
    else:
        recovery_report(report, out)
        if out_path:
            out.print(f"\nsimulated runs written to {out_path}")


@app.command("demo")
def demo_cmd(
    out_dir: str = typer.Option("scalinglab-demo", "--out", help="Folder for the run store and the report."),
    workers: Optional[int] = typer.Option(None, help="Worker processes for the sweep (default: one per core)."),
    bootstrap: int = typer.Option(200, help="Bootstrap resamples of the fit."),
    simulated: bool = typer.Option(False, "--simulated", help="Skip training: simulate a sweep from "
                                   "hoffmann2022 and fit it back (seconds)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The main job on embedded defaults: train a small IsoFLOP sweep on this machine (the time it
    will take is measured and printed first; a rerun reuses the finished runs), fit the Chinchilla law
    with bootstrap intervals, plan compute-optimal runs and write the HTML report."""
    progress = not as_json and sys.stderr.isatty()
    if simulated:
        from scalinglab.demo import recovery_report, run_demo

        report = run_demo(progress=progress)
        if as_json:
            _emit_json(report.to_json())
        else:
            recovery_report(report, out)
        return
    from scalinglab.lab.requires import require_torch

    require_torch("scalinglab demo", "scalinglab demo --simulated needs no torch")
    from scalinglab.lab.demo import describe, print_lab_demo, run_lab_demo

    if not as_json:
        err.print(f"{describe(out_dir, workers=workers)}; store and report in {out_dir}/", markup=False)
    # off a terminal (a log, CI): one line per finished run instead of the live display
    demo = run_lab_demo(out_dir, workers=workers, bootstrap=bootstrap,
                        progress=progress or ("lines" if not as_json else False))
    if as_json:
        _emit_json(demo.to_json())
    else:
        print_lab_demo(demo, out)
