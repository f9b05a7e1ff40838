"""CLI commands: serving (inference laws): ``memory`` and ``speed``.

Thin layers over :mod:`scalinglab.inference.memory` and :mod:`scalinglab.inference.speed`; ``--json``
keys are a contract (issue 4): memory -> weights_bytes, kv_bytes_per_token, kv_cache_bytes, total_bytes,
fits, max_batch (plus the rest of the report); speed -> time_per_token_s, decode_tokens_per_s,
total_tokens_per_s, prefill_s, bound, crossover_batch (one object, or a list for a batch sweep).
"""

from __future__ import annotations

from typing import Optional

import typer

from scalinglab.cli.common import Table, _emit_json, app, out
from scalinglab.errors import ScalingLabError

GB, GIB = 1e9, float(2**30)


def _gigabytes(value: float) -> str:
    """Three decimals, or four significant digits below 0.01 (a KV cache per token is ~1e-4 GB)."""
    return f"{value:,.3f}" if value == 0 or abs(value) >= 0.01 else f"{value:.4g}"
#: Most batch sizes one --batch sweep may ask for (a LOW:HIGH sweep has one per power of two).
MAX_SWEEP = 256


def _check_flags(**flags: object) -> None:
    """Validate CLI numbers under the flag names the user typed (``--context`` ...) before the API call."""
    from scalinglab.inference.memory import fraction, positive_count, positive_number

    for name, value in flags.items():
        flag = "--" + name.replace("_", "-")
        if value is None:
            continue
        if name in ("usable_fraction", "compute_efficiency", "bandwidth_efficiency", "tp_efficiency"):
            fraction(flag, value)
        elif name == "measured_ms":
            positive_number(flag, value)
        else:
            positive_count(flag, value)


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        out.print(f"note: {note}")


def _bytes_row(table: Table, label: str, value: float | None) -> None:
    if value is None:
        table.add_row(label, "-", "-", "-")
    else:
        table.add_row(label, f"{value:,.0f}", _gigabytes(value / GB), _gigabytes(value / GIB))


@app.command("memory")
def memory_cmd(
    model: str = typer.Option(..., help="Architecture preset (see 'architectures') or a Hugging Face config.json."),
    dtype: str = typer.Option("bf16", help="Weight dtype: fp32, bf16, fp16, fp8, int8, int4 (+ fp16 group scales)."),
    kv_dtype: str = typer.Option("bf16", "--kv-dtype", help="KV-cache dtype: fp32, bf16, fp16, fp8, int8, int4."),
    context: int = typer.Option(4096, help="Tokens of context per sequence (KV cache length)."),
    batch: int = typer.Option(1, help="Sequences held at once."),
    devices: int = typer.Option(1, "--devices", help="Devices sharing the model by tensor parallelism."),
    device: Optional[str] = typer.Option(None, help="Accelerator key (see 'devices'), e.g. h100-sxm: adds fit checks."),
    usable_fraction: float = typer.Option(1.0, "--usable-fraction",
                                          help="Share of each device's memory given to the model, (0, 1]."),
    prefill_tokens: Optional[int] = typer.Option(None, "--prefill-tokens",
                                                 help="Tokens prefilled in one step (default: the context)."),
    group_size: Optional[int] = typer.Option(None, "--group-size",
                                             help="Weights per quantisation scale (default: 128 for int4, else none)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Serving memory: weights, KV cache, prefill workspace, and whether it fits on N devices."""
    from scalinglab.inference.memory import memory_report

    _check_flags(context=context, batch=batch, devices=devices, usable_fraction=usable_fraction,
                 prefill_tokens=prefill_tokens, group_size=group_size)
    r = memory_report(model, dtype=dtype, kv_dtype=kv_dtype, context_tokens=context, batch=batch, device=device,
                      n_devices=devices, usable_memory_fraction=usable_fraction, prefill_tokens=prefill_tokens,
                      group_size=group_size)
    if as_json:
        _emit_json(r.to_dict())
        return
    t = Table(title=f"{r.model}: {r.params_total:,} parameters ({r.params_active:,} active), weights {r.dtype} "
                    f"({r.bytes_per_weight:g} bytes each), KV {r.kv_dtype}, {r.context_tokens:,} tokens "
                    f"x batch {r.batch}")
    for c in ("quantity", "bytes", "GB (1e9 B)", "GiB (2^30 B)"):
        t.add_column(c, justify="left" if c == "quantity" else "right", no_wrap=c != "quantity")
    _bytes_row(t, "weights", r.weights_bytes)
    _bytes_row(t, "KV cache per token", r.kv_bytes_per_token)
    _bytes_row(t, "KV cache per sequence", r.kv_bytes_per_sequence)
    _bytes_row(t, f"KV cache (batch {r.batch})", r.kv_cache_bytes)
    _bytes_row(t, f"prefill workspace ({r.prefill_tokens:,} tokens)", r.prefill_workspace_bytes)
    _bytes_row(t, "total", r.total_bytes)
    if r.device is not None:
        _bytes_row(t, f"per device ({r.n_devices} x {r.device}, TP)", r.bytes_per_device)
        _bytes_row(t, f"usable per device (x {r.usable_memory_fraction:g})",
                   r.device_memory_bytes * r.usable_memory_fraction)
    out.print(t)
    _print_notes(list(r.notes))
    if r.device is None:
        out.print("no --device given: no fit check")
        return
    longest = "unbounded (sliding window)" if r.max_context is None else f"{r.max_context:,} tokens"
    out.print(f"fits on {r.n_devices} x {r.device}: {'yes' if r.fits else 'NO'}; largest batch at "
              f"{r.context_tokens:,} tokens: {r.max_batch:,}; longest context at batch {r.batch}: "
              f"{longest} (memory limit only)")
    out.print(f"assumptions: usable_memory_fraction {r.usable_memory_fraction:g}; weights and workspace split "
              f"{r.n_devices} ways, KV {r.kv_shards} ways (min(devices, KV heads); 1 for a latent KV); prefill_tokens "
              f"{r.prefill_tokens:,}")


def _parse_batches(text: str) -> tuple[list[int], bool]:
    """'8' -> ([8], False); '1:256' -> powers of two with both ends, True; '1,8,64' -> those, True."""
    from scalinglab.inference.speed import batch_range

    usage = f"--batch expects B, LOW:HIGH or B1,B2,... of whole numbers >= 1 (1e6 is fine); got '{text}'"

    def whole(part: str) -> int:
        try:
            return int(part.strip())
        except ValueError:
            pass
        try:
            value = float(part.strip())
        except ValueError:
            raise ScalingLabError(usage) from None
        if not (value == value and abs(value) != float("inf") and value.is_integer()):
            raise ScalingLabError(usage)
        return int(value)

    if ":" in text:
        low, _, high = text.partition(":")
        try:
            sizes = batch_range(whole(low), whole(high))
        except ScalingLabError as exc:
            raise ScalingLabError(f"--batch {text}: {exc}") from None
        sweep = True
    else:
        parts = [p for p in text.split(",") if p.strip()]
        if not parts:
            raise ScalingLabError(usage)
        sizes, sweep = [whole(p) for p in parts], len(parts) > 1
        for size in sizes:
            if size < 1:
                raise ScalingLabError(f"--batch must be whole numbers >= 1, got {size}")
    if len(sizes) > MAX_SWEEP:
        raise ScalingLabError(f"--batch {text} asks for {len(sizes)} batch sizes; at most {MAX_SWEEP} per sweep")
    return sizes, sweep


_SPEED_COLUMNS = ("batch", "time/token (ms)", "tokens/s per seq", "tokens/s total", "prefill (ms)", "step bound",
                  "weights bound")


@app.command("speed")
def speed_cmd(
    model: str = typer.Option(..., help="Architecture preset (see 'architectures') or a Hugging Face config.json."),
    device: str = typer.Option(..., help="Accelerator key (see 'devices'), e.g. h100-sxm."),
    devices: int = typer.Option(1, "--devices", help="Devices K (ideal tensor parallelism x --tp-efficiency)."),
    batch: str = typer.Option("1", help="Batch size B, a sweep LOW:HIGH (powers of two between) or B1,B2,..."),
    context: int = typer.Option(4096, help="Tokens of KV cache per sequence at the decode step."),
    prompt: Optional[int] = typer.Option(None, help="Prompt tokens prefilled per sequence (default: the context)."),
    dtype: str = typer.Option("bf16", help="Weight dtype: fp32, bf16, fp16, fp8 (implies fp8 matmuls unless "
                                           "--compute-dtype), int8, int4."),
    kv_dtype: str = typer.Option("bf16", "--kv-dtype", help="KV-cache dtype."),
    compute_dtype: Optional[str] = typer.Option(None, "--compute-dtype",
                                                help="Matmul dtype for the peak (default: fp8 for --dtype fp8 on "
                                                     "devices with an fp8 peak, fp32/fp16 as --dtype, else bf16; "
                                                     "--compute-dtype bf16 keeps fp8 weights W8A16)."),
    compute_efficiency: float = typer.Option(1.0, "--compute-efficiency",
                                             help="Fraction of dense peak FLOP/s, (0, 1]."),
    bandwidth_efficiency: float = typer.Option(1.0, "--bandwidth-efficiency",
                                               help="Fraction of peak HBM bandwidth, (0, 1]."),
    tp_efficiency: float = typer.Option(1.0, "--tp-efficiency", help="Tensor-parallel scaling efficiency (K > 1)."),
    measured_ms: Optional[float] = typer.Option(None, "--measured-ms",
                                                help="A measured time per output token (ms): adds mbu and mfu."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Roofline decode and prefill speed: time per token, tokens/s, time to first token, bound, crossover."""
    from scalinglab.inference.memory import memory_report
    from scalinglab.inference.speed import measured_efficiency, serving_speed

    sizes, sweep = _parse_batches(batch)
    _check_flags(devices=devices, context=context, prompt=prompt, compute_efficiency=compute_efficiency,
                 bandwidth_efficiency=bandwidth_efficiency, tp_efficiency=tp_efficiency, measured_ms=measured_ms)
    if measured_ms is not None and sweep:
        raise ScalingLabError("--measured-ms needs a single --batch, not a sweep")
    options = dict(n_devices=devices, context_tokens=context, prompt_tokens=prompt, dtype=dtype, kv_dtype=kv_dtype,
                   compute_dtype=compute_dtype, compute_efficiency=compute_efficiency,
                   bandwidth_efficiency=bandwidth_efficiency, tp_efficiency=tp_efficiency)
    reports = [serving_speed(model, device, batch=b, **options) for b in sizes]
    largest = memory_report(model, dtype=dtype, kv_dtype=kv_dtype, context_tokens=context, device=device,
                            n_devices=devices).max_batch or 0
    rows = [{**r.to_dict(), "fits_in_memory": r.decode.batch <= largest, "max_batch_in_memory": largest}
            for r in reports]
    if measured_ms is not None:
        rows[0].update(measured_efficiency(reports[0], measured_ms / 1e3, label=f"--measured-ms {measured_ms:g}"))
    if as_json:
        _emit_json(rows if sweep else rows[0])
        return
    _print_speed(reports, rows)


def _print_speed(reports: list, rows: list[dict]) -> None:
    first = reports[0].decode
    head = reports[0]
    t = Table(title=f"{head.model} on {first.n_devices} x {first.device}: weights {head.dtype}, KV {head.kv_dtype}, "
                    f"compute {first.compute_dtype}, {head.context_tokens:,} tokens of context, "
                    f"prompt {head.prefill.prompt_tokens:,} tokens")
    for c in _SPEED_COLUMNS:
        t.add_column(c, justify="right")
    crossed = False
    for r, row in zip(reports, rows):
        mark = ""
        if r.bound == "compute" and not crossed:
            crossed, mark = True, " *"
        fits = "" if row["fits_in_memory"] else " !"
        t.add_row(f"{r.decode.batch:,}{fits}", f"{1e3 * r.time_per_token_s:,.3f}", f"{r.decode_tokens_per_s:,.1f}",
                  f"{r.total_tokens_per_s:,.1f}", f"{1e3 * r.prefill_s:,.2f}", r.bound + mark, r.decode.weights_bound)
    out.print(t)
    if crossed:
        out.print("* first batch past the crossover (the whole decode step compute-bound from here)")
    if not all(row["fits_in_memory"] for row in rows):
        out.print("! does not fit in memory at this context")
    out.print(f"memory: at most {rows[0]['max_batch_in_memory']:,} sequences of {head.context_tokens:,} tokens fit "
              f"on {first.n_devices} x {first.device} ('memory' command for details)")
    whole = ("none: the step stays memory-bound at any batch (intensity levels off at "
             f"{first.intensity_limit:,.1f} FLOP/byte)" if first.crossover_batch == float("inf")
             else f"{first.crossover_batch:,.1f}")
    out.print(f"crossover batch (whole step) {whole}; weight matmuls alone {first.weights_crossover_batch:,.1f} "
              f"(ridge point {first.ridge_point:,.1f} FLOP/byte = "
              f"{first.peak_flops_per_s / 1e12:g} TFLOP/s x {first.compute_efficiency:g} / "
              f"{first.bandwidth_bytes_per_s / 1e12:g} TB/s x {first.bandwidth_efficiency:g}); weights "
              f"{first.weights_bytes / 1e9:,.2f} GB, KV {first.kv_bytes_per_sequence / 2**30:,.3f} GiB per sequence")
    out.print(f"assumptions: compute_efficiency {first.compute_efficiency:g}, bandwidth_efficiency "
              f"{first.bandwidth_efficiency:g}, tp_efficiency {first.tp_efficiency:g} (roofline lower bound on time "
              f"at 1.0); KV split {first.kv_shards} ways; expert_routing {first.expert_routing}"
              + (f" ({first.experts_touched:.3g} of {first.n_experts} experts read per layer at batch {first.batch})"
                 if first.n_experts > 1 else ""))
    _print_notes([n for n in rows[0]["notes"] if not n.startswith("no whole-step crossover")
                  and not n.startswith("MoE weights")])
    if "mbu" in rows[0]:
        out.print(f"measured {1e3 * rows[0]['measured_time_per_token_s']:g} ms/token: MBU {rows[0]['mbu']:.1%}, "
                  f"MFU {rows[0]['mfu']:.1%}")
