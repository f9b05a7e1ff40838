"""Serving figures: memory by component, the roofline of throughput against batch, tokens/s against
model size.

Inputs are the plain tables of :mod:`scalinglab.inference` (a list of its reports, or a DataFrame of
their ``to_dict()`` rows). Bytes are shown in GB (1e9 bytes), times in seconds, rates in tokens/s.
:func:`memory_table` and :func:`speed_table` build those tables for a preset (``sl.flops``'
architectures, e.g. ``llama3-8b``) so that the CLI can plot by name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

import scalinglab.report.style as style
from scalinglab.errors import ScalingLabError
from scalinglab.inference.memory import MemoryReport, ModelLike, memory_report
from scalinglab.inference.speed import SpeedReport, batch_sweep, model_size_sweep

GB = 1e9
#: the reports a figure reads: the inference reports themselves, their ``to_dict()`` rows, or a DataFrame of them
Reports = pd.DataFrame | Sequence[MemoryReport | SpeedReport | Mapping[str, Any]]
#: memory components drawn, bottom to top: (column, label, colour)
MEMORY_PARTS = (("weights_bytes", "weights", style.BLUE), ("kv_cache_bytes", "KV cache", style.ORANGE),
                ("prefill_workspace_bytes", "prefill workspace", style.GREEN))


def _table(reports: Reports, what: str) -> pd.DataFrame:
    if isinstance(reports, pd.DataFrame):
        df = reports.copy()
    else:
        rows = [r.to_dict() if hasattr(r, "to_dict") else dict(r) for r in (reports or [])]
        df = pd.DataFrame(rows)
    if df.empty:
        raise ScalingLabError(f"no {what} to plot")
    return df


def _need(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ScalingLabError(f"{what} needs column(s) {', '.join(missing)}")


# ---- tables by name ------------------------------------------------------------------------------
def memory_table(model: ModelLike, batches: Sequence[int] = (1, 8, 32, 128), context_tokens: int = 4096,
                 device: str | None = None, **options: Any) -> pd.DataFrame:
    """``memory_report`` of ``model`` at each batch size (``options``: dtype, kv_dtype, n_devices, ...)."""
    return pd.DataFrame([memory_report(model, batch=b, context_tokens=context_tokens, device=device,
                                       **options).to_dict() for b in batches])


def speed_table(model: ModelLike, device: str, batches: Sequence[int] | None = None, **options: Any) -> pd.DataFrame:
    """``batch_sweep`` of ``model`` on ``device`` (default batches 1..512), one row per batch."""
    return pd.DataFrame([r.to_dict() for r in batch_sweep(model, device, batches, **options)])


def size_table(models: Sequence[ModelLike], device: str, **options: Any) -> pd.DataFrame:
    """``model_size_sweep`` of ``models`` on ``device``: one row per model, by total parameters."""
    return pd.DataFrame([r.to_dict() for r in model_size_sweep(list(models), device, **options)])


# ---- memory --------------------------------------------------------------------------------------
def plot_memory(reports: Reports) -> Figure:
    """Serving memory by component (weights, KV cache, prefill workspace; GB) as stacked horizontal bars,
    one per configuration (labelled by batch and context), with the usable memory of the device(s)
    (dashed) when the reports name one."""
    df = _table(reports, "memory report")
    _need(df, [c for c, _, _ in MEMORY_PARTS] + ["batch", "context_tokens"], "a memory plot")
    fig, ax = style.new_figure(size=(7.4, 2.0 + 0.55 * len(df)))
    y = np.arange(len(df))[::-1]
    left = np.zeros(len(df))
    for column, name, colour in MEMORY_PARTS:
        width = df[column].to_numpy(float) / GB
        ax.barh(y, width, left=left, color=colour, height=0.62, label=name, edgecolor="white", linewidth=0.6)
        left += width
    for yi, total in zip(y, left):
        ax.text(total, yi, f" {total:,.1f} GB", va="center", ha="left", fontsize=style.FONT_SIZE - 1)
    ax.set_yticks(y, [f"batch {int(b):,} × {int(c):,} tokens" for b, c in zip(df["batch"], df["context_tokens"])])
    capacity = df["capacity_bytes"].iloc[0] if "capacity_bytes" in df else None
    if capacity is not None and np.isfinite(float(capacity or np.nan)):
        n, dev = int(df["n_devices"].iloc[0]), df["device"].iloc[0]
        ax.axvline(float(capacity) / GB, color=style.VERMILLION, linestyle="--", linewidth=1.4,
                   label=f"usable memory, {n} × {dev}")
    ax.set_xlim(0, max(left.max(), float(capacity or 0) / GB) * 1.18)
    ax.grid(False, axis="y")
    ax.grid(False, which="minor")
    model = df["model"].iloc[0] if "model" in df else ""
    dtype = f", weights {df['dtype'].iloc[0]}, KV {df['kv_dtype'].iloc[0]}" if "dtype" in df and "kv_dtype" in df else ""
    style.label(ax, "memory_gb", None, f"Serving memory of {model}{dtype}")
    fig.legend(loc="outside lower center", ncol=4, fontsize=style.FONT_SIZE - 1, frameon=False)
    return fig


# ---- throughput against batch --------------------------------------------------------------------
def plot_throughput(reports: Reports, max_batch: int | None = None) -> Figure:
    """Decode throughput (all sequences, tokens/s) against batch, log-log, with the roofline: the
    weight-read line B x BW / weights_bytes (memory-bound), the compute roof FLOPS / (2 N_active) and the
    KV roof (attention reads, BW / KV bytes per sequence); the crossover batches (dotted); and, with
    ``max_batch`` (the most sequences that fit in memory), the batches that do not fit shaded."""
    df = _table(reports, "speed report").sort_values("batch")
    _need(df, ["batch", "total_tokens_per_s", "weights_read_bytes", "bandwidth_bytes_per_s",
               "bandwidth_efficiency", "peak_flops_per_s", "compute_efficiency", "active_params",
               "kv_bytes_per_sequence", "crossover_batch", "weights_crossover_batch"], "a throughput plot")
    first = df.iloc[0]
    b = df["batch"].to_numpy(float)
    bw = float(first["bandwidth_bytes_per_s"]) * float(first["bandwidth_efficiency"]) * _tp(first)
    flops = float(first["peak_flops_per_s"]) * float(first["compute_efficiency"]) * _tp(first)
    fig, ax = style.new_figure(size=(style.FIG_SIZE[0], 5.6))
    grid = np.geomspace(b.min(), b.max(), 100)
    ax.plot(grid, grid * bw / float(first["weights_read_bytes"]), color=style.GREY, linestyle="--", linewidth=1.0,
            label="weight reads alone (memory-bound)")
    ax.axhline(flops / (2.0 * float(first["active_params"])), color=style.BLACK, linestyle="--", linewidth=1.0,
               label="compute roof FLOP/s / (2 N_active)")
    kv = float(first["kv_bytes_per_sequence"])
    if kv > 0:
        kv_rate = float(first["bandwidth_bytes_per_s"]) * float(first["bandwidth_efficiency"]) * _tp(first, "kv_shards")
        ax.axhline(kv_rate / kv, color=style.PURPLE, linestyle=":", linewidth=1.2,
                   label="KV roof BW / KV bytes per sequence")
    ax.plot(b, df["total_tokens_per_s"], color=style.BLUE, marker="o", markersize=4, linewidth=2.0,
            label="roofline throughput")
    _crossovers(ax, first)
    if max_batch is not None and max_batch < b.max():
        ax.axvspan(max(max_batch, b.min()), b.max(), color=style.VERMILLION, alpha=0.12,
                   label=f"does not fit in memory (> {max_batch:,})")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    style.log_scale(ax, "y")
    model = first.get("model", "")
    dev = f"\n{int(first['n_devices'])} × {first['device']}" if "device" in df else ""
    ctx = f", {int(first['context_tokens']):,} tokens of context" if "context_tokens" in df else ""
    style.label(ax, "batch", "decode throughput, all sequences (tokens/s)",
                f"Decode throughput of {model}{dev}{ctx}")
    fig.legend(loc="outside lower center", ncol=2, fontsize=style.FONT_SIZE - 1, frameon=False)
    return fig


def _tp(row: pd.Series, count: str = "n_devices") -> float:
    """Effective device count of ``count`` devices (or KV shards): K x tp_efficiency for K > 1, else 1
    (as :mod:`scalinglab.inference.speed` scales rates)."""
    k = int(row.get(count, row.get("n_devices", 1)) or 1)
    return 1.0 if k == 1 else k * float(row.get("tp_efficiency", 1.0))


def _crossovers(ax, row: pd.Series) -> None:
    w = float(row["weights_crossover_batch"])
    whole = row["crossover_batch"]
    whole = math.inf if whole is None else float(whole)
    if math.isfinite(w):
        ax.axvline(w, color=style.GREEN, linestyle=":", linewidth=1.4,
                   label=f"weights crossover B = {w:,.0f}")
    if math.isfinite(whole):
        ax.axvline(whole, color=style.VERMILLION, linestyle=":", linewidth=1.4,
                   label=f"whole-step crossover B = {whole:,.0f}")
    else:
        style.note(ax, "no whole-step crossover: KV reads grow with B as fast as FLOPs")


# ---- tokens/s against model size -----------------------------------------------------------------
def plot_speed_vs_size(reports: Reports) -> Figure:
    """Decode speed of one sequence (tokens/s) against total parameters (log-log), each model labelled,
    with a 1/N guide through the smallest (memory-bound decoding reads every weight once per token)."""
    df = _table(reports, "speed report").sort_values("params_total")
    _need(df, ["params_total", "decode_tokens_per_s"], "a speed-vs-size plot")
    n, tps = df["params_total"].to_numpy(float), df["decode_tokens_per_s"].to_numpy(float)
    fig, ax = style.new_figure()
    ax.plot(n, tps, color=style.BLUE, marker="o", markersize=6, linewidth=1.2, label="roofline decode speed")
    if len(n) > 1:
        guide = np.geomspace(n.min(), n.max(), 20)
        ax.plot(guide, tps[0] * n[0] / guide, color=style.GREY, linestyle="--", linewidth=1.0,
                label="∝ 1/N (memory-bound)")
    for ni, ti, name in zip(n, tps, df.get("model", [""] * len(df))):
        ax.annotate(str(name), (ni, ti), xytext=(5, 4), textcoords="offset points", fontsize=style.FONT_SIZE - 1)
    style.log_scale(ax, "both")
    first = df.iloc[0]
    where = f" on {int(first['n_devices'])} × {first['device']}" if "device" in df else ""
    batch = f", batch {int(first['batch'])}" if "batch" in df else ""
    style.label(ax, "model size N (parameters, all incl. embeddings)", "decode speed (tokens/s per sequence)",
                f"Decode speed against model size{where}{batch}")
    style.legend(ax, loc="upper right")
    return fig
