"""CLI commands for pictures: ``plot`` (any figure by kind) and ``report`` (the HTML report).

``scalinglab plot KIND DATA --out FILE.png|.svg``: KIND is one of ``scalinglab.report.KINDS``
(``scalinglab plot --help`` lists them). DATA is a runs table or a lab run store for the runs kinds, an
architecture preset (``llama3-8b``) or a Hugging Face config.json for ``memory`` and ``throughput``, and
comma-separated presets for ``speed-size``. Options a kind does not take are errors. ``--json`` prints
{"kind", "out", "format", "width_px", "height_px"}: the size of the written image in pixels (an SVG's
in CSS pixels, 96 per inch).

``scalinglab report DATA --out report.html``: fit, plan, backtest and plots in one self-contained HTML
file; ``--json`` prints {"out", "n_runs", "law", "figures" (how many are embedded), "sections" (their
ids), "warnings" (how many)}.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from scalinglab.cli.common import _emit_json, _parse_cols, app, err
from scalinglab.errors import ScalingLabError


def _kinds_help() -> str:
    from scalinglab.report.kinds import KINDS

    return "; ".join(f"{k.name} ({k.description})" for k in KINDS.values())


def _parse_batches(text: str) -> list[int]:
    """'1,8,64' -> [1, 8, 64]; '1:256' -> 1, 2, 4, ..., 256 (powers of two between the ends)."""
    from scalinglab.inference.speed import batch_range

    usage = f"--batches expects B1,B2,... or LOW:HIGH of whole numbers >= 1, got '{text}'"
    try:
        if ":" in text:
            low, _, high = text.partition(":")
            return batch_range(int(low), int(high))
        sizes = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ScalingLabError(usage) from None
    if not sizes or min(sizes) < 1:
        raise ScalingLabError(usage)
    return sizes


def _plot_options(**given: Any) -> dict[str, Any]:
    """The options the user typed, translated to the API's names (None and empty mean 'not given')."""
    opts = {k: v for k, v in given.items() if v not in (None, [], (), False)}
    if "budgets" in opts:
        opts["budgets"] = _budgets(opts["budgets"])
    if "reference" in opts:
        opts["references"] = tuple(opts.pop("reference"))
    if opts.pop("no_references", False):
        if "references" in opts:
            raise ScalingLabError("give --reference or --no-references, not both")
        opts["references"] = ()
    if "col" in opts:
        opts["columns"] = _parse_cols(opts.pop("col"))
    if "devices" in opts:
        opts["n_devices"] = opts.pop("devices")
    if "batches" in opts:
        opts["batches"] = _parse_batches(opts["batches"])
    return opts


def _budgets(text: str) -> list[float]:
    """FLOP budgets from ``--budgets`` text (1e21,1e22 or start:stop:count)."""
    from scalinglab.plan.allocation import parse_flops_range

    try:
        return parse_flops_range(text)
    except ScalingLabError as exc:
        raise ScalingLabError(str(exc).replace("--flops", "--budgets")) from None


def _references(reference: list[str], no_references: bool) -> list[str] | None:
    """The report's published frontiers: None (the defaults), those given, or none."""
    if reference and no_references:
        raise ScalingLabError("give --reference or --no-references, not both")
    return [] if no_references else (list(reference) or None)


def _command_line() -> str:
    return shlex.join(["scalinglab", *sys.argv[1:]])


@app.command("plot", help="Draw one figure by KIND and save it as PNG or SVG. Kinds: " + _kinds_help())
def plot_cmd(
    kind: str = typer.Argument(..., help="Plot kind (see above)."),
    data: str = typer.Argument(..., help="Runs table or run store; a preset (memory, throughput); presets a,b,c (speed-size); curves with lr or a store (schedule); a benchmark table (capability)."),
    out_path: str = typer.Option(..., "--out", help="Output file: .png or .svg."),
    law: Optional[str] = typer.Option(None, help="Law family to fit (chinchilla, power_floor:flops, ...), a fit JSON or a published key."),
    bootstrap: Optional[int] = typer.Option(None, help="Bootstrap resamples (bands, intervals)."),
    seed: Optional[int] = typer.Option(None, help="Seed for the bootstrap."),
    budgets: Optional[str] = typer.Option(None, help="frontier: FLOP budgets, 1e20,1e22 or start:stop:count."),
    reference: list[str] = typer.Option([], "--reference", help="frontier: a published law or rule to draw instead of hoffmann2022 and besiroglu2024 (repeatable)."),
    no_references: bool = typer.Option(False, "--no-references", help="frontier: draw no published frontier."),
    col: list[str] = typer.Option([], "--col", help="Column mapping name=column, e.g. params=\"Model Size\"."),
    x: Optional[str] = typer.Option(None, help="curves: tokens, flops or step; backtest: flops, params or tokens; forecast: tokens or step."),
    colour_by: Optional[str] = typer.Option(None, "--colour-by", help="loss-*: colour points by params, tokens or flops."),
    degree: Optional[int] = typer.Option(None, help="isoflop: 2 (parabolas) or 3 (cubics)."),
    profile: Optional[str] = typer.Option(None, "--profile", help="isoflop: akima, cubic, parabola or local (default: approach 2's)."),
    holdout_above: Optional[float] = typer.Option(None, "--holdout-above", help="backtest: hold out runs above this x."),
    show_train: bool = typer.Option(False, "--show-train", help="curves: add the training loss."),
    run: Optional[str] = typer.Option(None, help="forecast: the run to forecast (its id in the run column)."),
    fraction: Optional[float] = typer.Option(None, help="forecast: share of the curve to fit on (default 0.3)."),
    form: Optional[str] = typer.Option(None, help="forecast: saturating (default), kaplan_ns or shared."),
    device: Optional[str] = typer.Option(None, help="memory, throughput, speed-size: accelerator key, e.g. h100-sxm."),
    devices: Optional[int] = typer.Option(None, "--devices", help="Devices sharing the model (tensor parallel)."),
    context: Optional[int] = typer.Option(None, help="Tokens of context per sequence."),
    batches: Optional[str] = typer.Option(None, help="memory, throughput: batch sizes B1,B2,... or LOW:HIGH."),
    batch: Optional[int] = typer.Option(None, help="speed-size: batch size."),
    dtype: Optional[str] = typer.Option(None, help="Weight dtype (bf16, fp8, int4, ...)."),
    kv_dtype: Optional[str] = typer.Option(None, "--kv-dtype", help="KV-cache dtype."),
    schedule: list[str] = typer.Option([], "--schedule", help="schedule: an LR schedule to predict, e.g. wsd:cooldown=0.2 (repeatable)."),
    steps: Optional[int] = typer.Option(None, help="schedule: steps of the predicted runs (default: the longest run's)."),
    params: Optional[float] = typer.Option(None, "--params", help="schedule: the model size to fit where DATA holds several."),
    decay: Optional[float] = typer.Option(None, help="schedule: decay factor lambda of the annealing area (0.999)."),
    target: Optional[str] = typer.Option(None, help="capability: the score to predict (a column of DATA or --targets)."),
    targets: Optional[str] = typer.Option(None, help="capability: a second table holding the target, joined on the model."),
    benchmarks: Optional[str] = typer.Option(None, help="capability: benchmark columns for the PCA, comma-separated."),
    families: Optional[str] = typer.Option(None, help="capability: keep only these model families, comma-separated."),
    pcs: Optional[int] = typer.Option(None, help="capability: principal components the sigmoid uses (3)."),
    cutoff_flops: Optional[float] = typer.Option(None, help="capability: models with C <= this (FLOPs) fit the law (8.4e22)."),
    reference_family: Optional[str] = typer.Option(None, help="capability: family defining equivalent compute (Llama-2)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    from scalinglab.report.kinds import get_kind, make_figure
    from scalinglab.report.style import check_format, image_size, save

    suffix = check_format(out_path)
    k = get_kind(kind)
    opts = _plot_options(law=law, bootstrap=bootstrap, seed=seed, budgets=budgets, reference=reference, col=col,
                         no_references=no_references,
                         x=x, colour_by=colour_by, degree=degree, method=profile, holdout_above=holdout_above, show_train=show_train,
                         run=run, fraction=fraction, form=form,
                         device=device, devices=devices, context=context, batches=batches, batch=batch, dtype=dtype,
                         kv_dtype=kv_dtype, schedule=schedule, steps=steps, params=params, decay=decay,
                         target=target, targets=targets, benchmarks=benchmarks, families=families, n_pcs=pcs,
                         cutoff_flops=cutoff_flops, reference_family=reference_family)
    written = save(make_figure(k.name, data, **opts), out_path)
    width, height = image_size(written)
    if as_json:
        _emit_json({"kind": k.name, "out": str(written), "format": suffix[1:], "width_px": width,
                    "height_px": height})
    else:
        typer.echo(f"{k.name}: wrote {written} ({width} x {height} px)")


@app.command("report")
def report_cmd(
    data: str = typer.Argument(..., help="Runs table (CSV, Parquet, JSON-lines, JSON) or a lab run store (.db)."),
    out_path: str = typer.Option(..., "--out", help="Output HTML file."),
    law: str = typer.Option("chinchilla", help="Law family to fit."),
    bootstrap: int = typer.Option(200, help="Bootstrap resamples (0 = no intervals)."),
    budgets: str = typer.Option("1e21,1e22,1e23,1e24", help="FLOP budgets to plan for: 1e21,1e22 or start:stop:count."),
    seed: int = typer.Option(0, help="Seed for every bootstrap."),
    holdout_above: Optional[float] = typer.Option(None, "--holdout-above",
                                                  help="Backtest: hold out runs above this many FLOPs (default: top ~20%)."),
    reference: list[str] = typer.Option([], "--reference", help="A published law or rule to draw on the frontier instead of hoffmann2022 and besiroglu2024 (repeatable)."),
    no_references: bool = typer.Option(False, "--no-references", help="Draw no published frontier."),
    col: list[str] = typer.Option([], "--col", help="Column mapping name=column, e.g. params=\"Model Size\"."),
    drop_highest_loss: int = typer.Option(0, "--drop-highest-loss", help="Drop the k highest-loss rows first "
                                          "(as Besiroglu et al. 2024 did: 5 on the Epoch data)."),
    allow_unidentified: bool = typer.Option(False, "--allow-unidentified",
                                            help="Plan even when the fit's data leave a parameter of the plan "
                                                 "undetermined (the report's warnings then name it)."),
    target: Optional[str] = typer.Option(None, help="A benchmark table: the score to predict (default: the "
                                                    "benchmark with the lowest median score)."),
    targets: Optional[str] = typer.Option(None, help="A benchmark table: a second table holding --target, joined "
                                                     "on the model column."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One self-contained HTML report: data, fitted law with intervals, goodness of fit, plan, backtest,
    training curves (from a store), warnings and how to reproduce it; opens offline. Loss curves with a
    learning-rate column get the schedule law and its backtest; runs at a few token multipliers M = D/N
    also the over-training law and its backtest; a benchmark table of public models the observational
    scaling law."""
    from scalinglab.report.html import check_out, make_report, save_report

    out_file = check_out(out_path)
    for path in (data, targets):
        if path is not None and not Path(path).exists():
            raise ScalingLabError(f"{path}: no such file")
    status = err.status("building the report") if sys.stderr.isatty() and not as_json else None
    if status is not None:
        status.start()
    try:
        report = make_report(data, law, bootstrap, _budgets(budgets), seed, holdout_above, _command_line(),
                             columns=_parse_cols(col), references=_references(reference, no_references),
                             drop_highest_loss=drop_highest_loss,
                             allow_unidentified=allow_unidentified, target=target, targets=targets)
    finally:
        if status is not None:
            status.stop()
    save_report(report, out_file)
    if as_json:
        _emit_json({"out": str(out_file), "n_runs": report.n_runs, "law": report.law, "figures": len(report.figures),
                    "sections": report.sections, "warnings": len(report.warnings)})
    else:
        typer.echo(f"report: {len(report.figures)} figures, {len(report.warnings)} warnings on {report.n_runs} runs")
        typer.echo(str(out_file.resolve()))
