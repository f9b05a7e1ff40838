"""Every plot by name: the KINDS registry behind :func:`scalinglab.report.plot` and ``scalinglab plot``.

A kind turns DATA into a figure:

* runs kinds (DATA: a runs table or a lab run store, anything ``sl.load_runs`` reads): ``loss-params``,
  ``loss-tokens``, ``loss-flops``, ``isoflop``, ``residuals``, ``bootstrap``, ``correlations``,
  ``frontier``, ``isoloss``, ``backtest``, ``loss-multiplier``, ``error-loss`` (DATA: upstream_loss
  and loss = error columns); ``curves`` (DATA: a run store, or a metrics table with run, tokens, loss,
  params). A law named by ``law`` is fitted to the runs when it is a law family (``chinchilla``,
  ``power_floor:flops``, ...), or used as it is when it is a fit JSON or a published key
  (``hoffmann2022``).
* ``schedule`` (DATA: loss curves with learning rates, or a lab run store: the schedule law's curves
  and a requested schedule's prediction, references.md L1); ``capability`` (DATA: a benchmark table
  of public models: a target score against equivalent compute, the observational law, references.md E6).
* serving kinds (DATA: an architecture preset such as ``llama3-8b`` or a Hugging Face config.json):
  ``memory``, ``throughput``; ``speed-size`` (DATA: comma-separated presets).

Each kind lists its options and their defaults; an option a kind does not take is an error.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

import scalinglab.report.capability_plots as capability_plots
import scalinglab.report.contour_plots as contour_plots
import scalinglab.report.fit_plots as fit_plots
import scalinglab.report.inference_plots as inference_plots
import scalinglab.report.overtrain_plots as overtrain_plots
import scalinglab.report.plan_plots as plan_plots
import scalinglab.report.run_plots as run_plots
import scalinglab.report.schedule_plots as schedule_plots
import scalinglab.report.style as style
from scalinglab.analysis.backtest import backtest, default_holdout  # default_holdout: kept importable here
from scalinglab.analysis.forecast import Forecast, forecast_run, load_curves
from scalinglab.errors import ScalingLabError
from scalinglab.fitting.api import fit
from scalinglab.fitting.result import FitResult
from scalinglab.inference.memory import ModelLike, memory_report
from scalinglab.io import Runs, load_runs
from scalinglab.laws.base import LawFamily
from scalinglab.laws.published import PublishedLaw, get_published
from scalinglab.report.design import APPROACHES, design_note, sweep_design
from scalinglab.report.fit_plots import LawLike, RunsSource
from scalinglab.resolve import AnyLaw
from scalinglab.stores.table import is_store_file, read_store

#: ``law`` of a runs kind: a fitted or published law, a fit JSON, a published key, or a family to fit
LawSpec = LawLike | LawFamily | None
FIT_OPTIONS = {"law": "chinchilla", "bootstrap": 0, "seed": 0, "columns": None}


@dataclass(frozen=True)
class PlotKind:
    """A named plot: what DATA it reads (``runs``, ``store``, ``model`` or ``models``), its options with
    their defaults, a one-line description, and the function building the figure."""

    name: str
    data: str
    description: str
    build: Callable[..., Figure]
    options: Mapping[str, Any] = field(default_factory=dict)


# ---- helpers -------------------------------------------------------------------------------------
def runs_of(data: RunsSource, columns: Mapping[str, str] | None = None) -> Runs:
    """The runs of DATA (a table, a run store, a DataFrame or Runs)."""
    return load_runs(data, columns)


def law_for(runs: Runs, law: LawSpec, bootstrap: int = 0, seed: int = 0) -> AnyLaw:
    """A fit JSON or published key as it is; a law family (name or object) fitted to ``runs``."""
    if isinstance(law, (FitResult, PublishedLaw)):
        return law
    if isinstance(law, (str, os.PathLike)):
        text = os.fspath(law)
        if text.lower().endswith(".json") or Path(text).is_file():
            return FitResult.load(text)
        try:
            return get_published(text)
        except ScalingLabError:
            pass
    return fit(runs, law=law, bootstrap=int(bootstrap), seed=int(seed))


def default_budgets(flops: np.ndarray, beyond: float = 2.0) -> list[float]:
    """Whole decades of FLOPs from the smallest run's to ``beyond`` decades past the largest."""
    lo, hi = math.floor(math.log10(flops.min())), math.ceil(math.log10(flops.max()) + beyond)
    return [float(f"1e{k}") for k in range(lo, hi + 1)]  # exact decimal powers (10.0**23 is not)


# ---- builders ------------------------------------------------------------------------------------
def _loss(x: str) -> Callable[..., Figure]:
    def build(data: RunsSource, law: LawSpec, bootstrap: int, seed: int, columns, colour_by: str | None) -> Figure:
        runs = runs_of(data, columns)
        return fit_plots.plot_loss(runs, law_for(runs, law, bootstrap, seed) if law else None, x=x,
                                   colour_by=colour_by)
    return build


def _isoflop(data: RunsSource, law: LawSpec, bootstrap: int, seed: int, columns, degree: int | None,
             method: str | None) -> Figure:
    runs = runs_of(data, columns)
    return fit_plots.plot_isoflop(runs, degree=None if degree is None else int(degree), method=method,
                                  law=law_for(runs, law, bootstrap, seed) if law else None)


def _residuals(data: RunsSource, law: LawSpec, bootstrap: int, seed: int, columns) -> Figure:
    runs = runs_of(data, columns)
    return fit_plots.plot_residuals(law_for(runs, law, bootstrap, seed), runs)


def _bootstrap(data: RunsSource, law: LawSpec, bootstrap: int, seed: int, columns) -> Figure:
    runs = runs_of(data, columns)
    return fit_plots.plot_bootstrap(law_for(runs, law, bootstrap, seed))


def _correlations(data: RunsSource, law: LawSpec, bootstrap: int, seed: int, columns) -> Figure:
    runs = runs_of(data, columns)
    return fit_plots.plot_correlations(law_for(runs, law, bootstrap, seed))


def _frontier(data: RunsSource, bootstrap: int, seed: int, columns, budgets: Sequence[float] | None,
              references: Sequence[str] | None) -> Figure:
    """Approaches 1-3 (those the design supports, :mod:`scalinglab.report.design`) and the published
    ``references`` (None: :data:`plan_plots.DEFAULT_REFERENCES`; empty: none); given ``budgets`` are
    marked on a grid running through them (approach 3's N* and D* there), else whole decades are drawn."""
    runs = runs_of(data, columns)
    flops = runs.column("flops")
    grid = plan_plots.budget_grid(flops, budgets) if budgets else default_budgets(flops)
    design = sweep_design(runs)
    frontiers, points, warnings = plan_plots.compare_frontiers(runs, grid, bootstrap=int(bootstrap), seed=int(seed),
                                                               approaches=APPROACHES[design])
    names = plan_plots.DEFAULT_REFERENCES if references is None else references
    refs = {name: plan_plots.frontier_table(name, grid) for name in names}
    if not frontiers and not refs:
        raise ScalingLabError(f"{runs.source}: no approach could estimate a frontier from these runs")
    failed = plan_plots.approach_failures(warnings)
    notes = [f"approach {k} could not run: {why}" for k, why in sorted(failed.items())]
    notes += [n for n in [design_note(design)] if n]
    fitted = [df for name, df in frontiers.items() if name.startswith("approach 3")]
    marks = fitted[0][fitted[0]["flops"].isin([float(b) for b in budgets])] if budgets and fitted else None
    return plan_plots.plot_frontier(frontiers, points, refs, notes=notes, marks=marks)


def _isoloss(data: RunsSource, law: LawSpec, bootstrap: int, seed: int, columns,
             budgets: Sequence[float] | None) -> Figure:
    runs = runs_of(data, columns)
    return contour_plots.plot_isoloss(law_for(runs, law, bootstrap, seed), runs, budgets=list(budgets or ()))


def _backtest(data: RunsSource, law: LawSpec, bootstrap: int, seed: int, columns, holdout_above: float | None,
              x: str) -> Figure:
    runs = runs_of(data, columns)
    threshold = default_holdout(runs.column(x)) if holdout_above is None else float(holdout_above)
    result = backtest(runs, law, holdout_above=threshold, x=x, bootstrap=int(bootstrap), seed=int(seed))
    fitted = runs.data[runs.column(x) <= threshold]
    return run_plots.plot_backtest(result.predictions, x=x, fitted=fitted, level=result.level)


def _loss_multiplier(data: RunsSource, law: LawSpec, bootstrap: int, seed: int, columns) -> Figure:
    runs = runs_of(data, columns)
    return overtrain_plots.plot_loss_by_multiplier(runs, law_for(runs, law, bootstrap, seed) if law else None)


def _error_loss(data: RunsSource, law: LawSpec, bootstrap: int, seed: int, columns) -> Figure:
    runs = runs_of(data, columns)
    return overtrain_plots.plot_error_vs_loss(runs, law_for(runs, law, bootstrap, seed) if law else None)


def metrics_of(data: RunsSource) -> pd.DataFrame:
    """The evaluations of a run store (``read_store(path, "metrics")``) or a metrics table."""

    if isinstance(data, (str, os.PathLike)) and Path(data).is_file() and is_store_file(Path(data)):
        return read_store(data, "metrics")
    return runs_of(data).data


def _curves(data: RunsSource, x: str, show_train: bool) -> Figure:
    return run_plots.plot_training_curves(metrics_of(data), x=x, show_train=bool(show_train))


def _forecast(data: RunsSource, run: str | None, fraction: float, form: str, x: str, bootstrap: int, seed: int,
              columns: Mapping[str, str] | None) -> Figure:
    """One run's learning-curve forecast (:func:`scalinglab.analysis.forecast.forecast_run`) against its
    observed curve: the fitted law along the curve up to the forecast point, and the final loss's
    prediction interval as an error bar."""
    if run is None:
        raise ScalingLabError("plot kind 'forecast' needs the run to forecast (run=..., CLI --run)")
    curves = load_curves(data, columns)
    fc = forecast_run(curves, run=run, fraction=fraction, form=form, x=x, bootstrap=bootstrap, seed=seed)
    return forecast_figure(curves, fc)


def forecast_figure(curves: Runs, fc: Forecast, ax=None) -> Figure:
    """The figure of a forecast ``fc`` of one run of ``curves`` (:func:`load_curves`; a table of one curve
    when ``fc.run`` is None): its fitted law along the curve up to the forecast point, the final loss's
    prediction interval as an error bar, and the observed curve; on ``ax`` (default: a new figure's)."""
    x, df = fc.x, curves.data
    rows = df if fc.run is None or "run" not in df else df[df["run"].astype(str) == str(fc.run)]
    curve = rows.sort_values(x)
    grid = np.geomspace(float(curve[x].min()), fc.x_final, 160)
    inputs = {}
    for var in fc.fit.family.variables:  # the law's time variable holds x; other inputs are the run's own
        inputs[var] = grid if var in ("tokens", "step") else float(curve[var].iloc[0])
    loss = np.asarray(fc.fit.family.predict_natural(fc.fit.params, **inputs), dtype=float)
    return run_plots.plot_forecast(curve, {"x": grid, "loss": loss, "fit_until": fc.x_fit_max, "level": fc.level,
                                           "final_low": fc.low, "final_high": fc.high}, x=x, ax=ax)


def _serving(options: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("dtype", "kv_dtype", "n_devices")
    return {k: options[k] for k in keep if options.get(k) is not None}


def _memory(data: ModelLike, device: str | None, context: int, batches: Sequence[int], **serving: Any) -> Figure:
    table = inference_plots.memory_table(data, batches=list(batches), context_tokens=int(context), device=device,
                                         **_serving(serving))
    return inference_plots.plot_memory(table)


def _throughput(data: ModelLike, device: str, context: int, batches: Sequence[int] | None, **serving: Any) -> Figure:
    opts = _serving(serving)
    table = inference_plots.speed_table(data, device, batches, context_tokens=int(context), **opts)
    fit_dtypes = {k: v for k, v in opts.items() if k != "n_devices"}
    largest = memory_report(data, device=device, context_tokens=int(context),
                            n_devices=opts.get("n_devices", 1), **fit_dtypes).max_batch
    return inference_plots.plot_throughput(table, max_batch=largest)


def _speed_size(data: str | Sequence[ModelLike], device: str, context: int, batch: int, **serving: Any) -> Figure:
    models = [m.strip() for m in str(data).split(",") if m.strip()] if isinstance(data, str) else list(data)
    table = inference_plots.size_table(models, device, context_tokens=int(context), batch=int(batch),
                                       **_serving(serving))
    return inference_plots.plot_speed_vs_size(table)


_SERVING = {"dtype": "bf16", "kv_dtype": "bf16", "n_devices": 1}

KINDS: dict[str, PlotKind] = {k.name: k for k in (
    PlotKind("loss-params", "runs", "loss against model size N, coloured by compute, with the law and its band",
             _loss("params"), {**FIT_OPTIONS, "colour_by": None}),
    PlotKind("loss-tokens", "runs", "loss against training tokens D, coloured by compute, with the law and band",
             _loss("tokens"), {**FIT_OPTIONS, "colour_by": None}),
    PlotKind("loss-flops", "runs", "loss against compute C, coloured by N, with the law and L*(C)",
             _loss("flops"), {**FIT_OPTIONS, "colour_by": None}),
    PlotKind("isoflop", "runs", "IsoFLOP profiles by approach 2's method and its minima (law overlay with law=...)",
             _isoflop, {**FIT_OPTIONS, "law": None, "degree": None, "method": None}),
    PlotKind("residuals", "runs", "log residuals of the law against N, D and C", _residuals, FIT_OPTIONS),
    PlotKind("bootstrap", "runs", "bootstrap distributions of the law's exponents", _bootstrap,
             {**FIT_OPTIONS, "bootstrap": 200}),
    PlotKind("correlations", "runs", "correlations of the law's parameters over the bootstrap", _correlations,
             {**FIT_OPTIONS, "bootstrap": 200}),
    PlotKind("frontier", "runs", "compute-optimal N and D against C: approaches 1-3 with bands, references",
             _frontier, {"bootstrap": 200, "seed": 0, "columns": None, "budgets": None, "references": None}),
    PlotKind("isoloss", "runs", "iso-loss contours of the law over C and N with the compute-optimal N*(C) and budgets",
             _isoloss, {**FIT_OPTIONS, "budgets": None}),
    PlotKind("backtest", "runs", "fit below a threshold, predict the runs above it (default: top ~20%)",
             _backtest, {**FIT_OPTIONS, "bootstrap": 200, "holdout_above": None, "x": "flops"}),
    PlotKind("loss-multiplier", "runs", "loss against compute per token multiplier M = D/N, with the overtrain "
             "law's line for each M (Gadre et al. 2024)", _loss_multiplier, {**FIT_OPTIONS, "law": "overtrain"}),
    PlotKind("error-loss", "runs", "downstream error (column loss) against validation loss (column "
             "upstream_loss) with Err(L)", _error_loss, {**FIT_OPTIONS, "law": "downstream_error"}),
    PlotKind("curves", "store", "training curves (validation loss) of every run of a store",
             _curves, {"x": "tokens", "show_train": False}),
    PlotKind("forecast", "store", "one run's learning-curve forecast from its first part against what happened",
             _forecast, {"run": None, "fraction": 0.3, "form": "saturating", "x": "tokens", "bootstrap": 200,
                         "seed": 0, "columns": None}),
    PlotKind("schedule", "curves", "loss curves under LR schedules with the schedule law's curves and a requested "
             "schedule's prediction", schedule_plots.schedule_figure,
             {"law": None, "schedule": None, "steps": None, "params": None, "decay": schedule_plots.DEFAULT_DECAY,
              "bootstrap": 100, "seed": 0}),
    PlotKind("capability", "benchmarks", "a target score against equivalent compute: the observational law, "
             "training and held-out models", capability_plots.capability_figure,
             {"target": None, "targets": None, "benchmarks": None, "families": None, "n_pcs": 3,
              "cutoff_flops": capability_plots.DEFAULT_CUTOFF_FLOPS, "reference_family": "Llama-2"}),
    PlotKind("memory", "model", "serving memory by component at several batch sizes", _memory,
             {"device": None, "context": 4096, "batches": (1, 8, 32, 128), **_SERVING}),
    PlotKind("throughput", "model", "decode throughput against batch with the roofline and crossovers",
             _throughput, {"device": "h100-sxm", "context": 4096, "batches": None, **_SERVING}),
    PlotKind("speed-size", "models", "decode tokens/s against model size (DATA: comma-separated presets)",
             _speed_size, {"device": "h100-sxm", "context": 4096, "batch": 1, **_SERVING}),
)}


def get_kind(kind: str) -> PlotKind:
    """The kind named ``kind``; ScalingLabError listing the kinds otherwise."""
    found = KINDS.get(str(kind).strip().lower())
    if found is None:
        raise ScalingLabError(f"unknown plot kind '{kind}'; kinds are {', '.join(KINDS)}")
    return found


def check_model_data(data: Any) -> None:
    """DATA of a model kind: each preset name or config.json (comma-separated for ``models``) that names an
    existing file must hold a JSON object (its first character ``{``); a runs table, a run store or any
    other file is a ScalingLabError saying what was expected (rather than a JSON decoding error)."""
    specs = [m.strip() for m in data.split(",")] if isinstance(data, str) else [data]
    for spec in specs:
        if not isinstance(spec, (str, os.PathLike)) or not spec:
            continue
        path = Path(spec)
        if path.is_dir():
            path = path / "config.json"
        if not path.is_file() or path.suffix.lower() == ".json":
            continue  # a preset name, or a file that says it is JSON: the architecture reader's errors
        try:
            with open(path, "rb") as fh:
                head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        except OSError:
            continue  # unreadable: the architecture reader says so
        if not head.startswith(b"{"):  # a config.json is a JSON object
            raise ScalingLabError(f"expected a model preset name or a Hugging Face config.json, got {spec}")


def make_figure(kind: str, data: Any, **options: Any) -> Figure:
    """The figure of ``kind`` for ``data``, with ``options`` over the kind's defaults."""
    k = get_kind(kind)
    unknown = sorted(set(options) - set(k.options))
    if unknown:
        takes = ", ".join(k.options) or "no options"
        raise ScalingLabError(f"plot kind '{k.name}' takes no option {', '.join(unknown)} (it takes {takes})")
    if k.data in ("model", "models"):
        check_model_data(data)
    return k.build(data, **{**k.options, **options})


def plot(kind: str, data: Any, out: str | os.PathLike, **options: Any) -> Path:
    """Draw ``kind`` for ``data`` and save it to ``out`` (.png or .svg, by suffix); returns the path.
    The suffix is checked before any work is done."""
    style.check_format(out)
    return style.save(make_figure(kind, data, **options), out)
