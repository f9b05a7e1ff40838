"""CLI commands: hardware (planning): ``cost``, ``devices``, ``batch``.

Thin layers over :mod:`scalinglab.plan.hardware` and :mod:`scalinglab.plan.batch`; ``--json`` keys are
a contract (issue 3): cost -> device_hours, days, cost_usd, energy_kwh (plus the assumptions);
batch --loss -> critical_batch_tokens; batch --noise -> b_simple, grad_sq_norm, trace_sigma.
"""

from __future__ import annotations

from typing import Optional

import typer

from scalinglab.cli.common import Table, _emit_json, app, out
from scalinglab.errors import ScalingLabError


@app.command("cost")
def cost_cmd(
    flops: float = typer.Option(..., help="Training compute C in FLOPs (a count)."),
    device: str = typer.Option(..., help="Accelerator key or alias (see 'devices'), e.g. h100-sxm."),
    devices: int = typer.Option(..., "--devices", help="Number of devices (>= 1)."),
    mfu: float = typer.Option(..., help="Model FLOPs utilization, fraction of dense peak in (0, 1]."),
    price: Optional[float] = typer.Option(None, help="USD per device-hour (default: an ASSUMED catalogue price)."),
    pue: Optional[float] = typer.Option(None, help="Data-centre PUE >= 1 (default: ASSUMED 1.1)."),
    dtype: str = typer.Option("bf16", help="Compute dtype for the peak: fp32, tf32, bf16, fp16, fp8, int8."),
    power: Optional[float] = typer.Option(None, help="Watts per device (default: catalogue TDP, an ASSUMED draw)."),
    co2: Optional[float] = typer.Option(None, help="Carbon intensity, t CO2e per MWh (optional)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Training time, device-hours, cost and energy for a FLOP budget."""
    from scalinglab.plan.hardware import training_cost

    r = training_cost(flops, device, devices, mfu, dtype=dtype, price_usd_per_device_hour=price, pue=pue,
                      power_w=power, co2_t_per_mwh=co2)
    if as_json:
        _emit_json(r.to_dict())
        return
    def assumed(flag: bool) -> str:
        return " (ASSUMED default)" if flag else ""

    peak_tflops = r.peak_flops_per_s / 1e12
    lines = [
        (f"{r.flops:.4g} FLOPs on {r.n_devices} x {r.device} ({r.dtype} dense peak {peak_tflops:.1f} "
         f"TFLOP/s each) at MFU {r.mfu:g}"),
        f"time:          {r.days:,.2f} days ({r.seconds:,.0f} s)",
        f"device-hours:  {r.device_hours:,.0f}",
    ]
    lines.append(f"cost:          ${r.cost_usd:,.0f} at ${r.price_usd_per_device_hour:g}/device-hour"
                 f"{assumed(r.price_is_assumption)}")
    if r.energy_kwh is None:
        lines.append(f"energy:        unknown ({r.power_note})")
    else:
        lines.append(f"energy:        {r.energy_kwh:,.0f} kWh at {r.power_w:g} W/device ({r.power_note}), "
                     f"PUE {r.pue:g}{assumed(r.pue_is_assumption)}")
    if r.co2_tonnes is not None:
        lines.append(f"emissions:     {r.co2_tonnes:,.1f} t CO2e at {r.co2_t_per_mwh:g} t/MWh")
    elif co2 is not None:
        lines.append(f"emissions:     unknown: --co2 {co2:g} t/MWh needs an energy figure, and {r.device} has no "
                     "published power; pass --power W per device")
    typer.echo("\n".join(lines))


@app.command("devices")
def devices_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the accelerator catalogue (dense peaks) with sources."""
    from scalinglab.plan.hardware import list_devices

    rows = list_devices()
    if as_json:
        _emit_json(rows)
        return
    t = Table(title="Accelerators (dense peak TFLOP/s per device)")
    for c in ("key", "bf16/fp16", "fp8/int8", "HBM GB", "TB/s", "W", "source"):
        t.add_column(c, no_wrap=c == "key")
    for d in rows:
        peaks = d["peak_flops_per_s"]
        low = peaks.get("fp8", peaks.get("int8"))
        bf16 = peaks.get("bf16", peaks.get("fp16"))
        t.add_row(d["key"], f"{bf16 / 1e12:g}" if bf16 else "-", f"{low / 1e12:g}" if low else "-",
                  f"{d['memory_bytes'] / 1e9:g}", f"{d['bandwidth_bytes_per_s'] / 1e12:g}",
                  f"{d['power_w']:g}" if d["power_w"] else "-", d["source"])
    out.print(t)
    out.print("source tags: [V] read in the cited source; [M] from the vendor datasheet as recalled, not re-read")


@app.command("batch")
def batch_cmd(
    loss: Optional[float] = typer.Option(None, help="Loss reached, nats/token: Kaplan critical batch."),
    noise: Optional[str] = typer.Option(None, help="Table with columns batch_size, grad_sq_norm: noise scale."),
    method: str = typer.Option("two_batch", help="Noise scale estimator: two_batch (smallest/largest) or lstsq."),
    b_star: float = typer.Option(2e8, help="Kaplan B_* in tokens (Eq. 5.3: 2e8; Fig. 10: 2.1e8)."),
    alpha_b: float = typer.Option(0.21, help="Kaplan alpha_B (Eq. 5.3: 0.21; Fig. 10: 1/4.8)."),
    batch_tokens: Optional[float] = typer.Option(None, "--batch-tokens",
                                                 help="Your batch in tokens: adds S_min/S and C_min/C (needs --loss)."),
    flops: Optional[float] = typer.Option(None, help="Compute C in FLOPs: DeepSeek LLM 2024 batch and learning rate."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Critical batch size (Kaplan), gradient noise scale (McCandlish) or DeepSeek batch/LR rules."""
    from scalinglab.plan import batch as sb

    if loss is None and noise is None and flops is None:
        raise ScalingLabError("batch needs --loss L, --noise TABLE or --flops C")
    if batch_tokens is not None and loss is None:
        raise ScalingLabError("--batch-tokens needs --loss (the critical batch depends on the loss)")
    result: dict = {}
    lines: list[str] = []
    if loss is not None:
        b_crit = sb.critical_batch_size(loss, b_star, alpha_b)
        result.update(loss=loss, critical_batch_tokens=b_crit, b_star_tokens=b_star, alpha_b=alpha_b,
                      critical_batch_source="Kaplan et al. 2020 sec. 5.1: B_crit = B_*/L^(1/alpha_B)")
        lines.append(f"critical batch at loss {loss:g} nats/token: {b_crit:,.0f} tokens (B_* {b_star:g} tokens, "
                     f"alpha_B {alpha_b:g})")
        lines.append("  (Kaplan et al. 2020 sec. 5.1: the loss is measured on WebText2 with the GPT-2 tokenizer; "
                     "losses on other data or tokenizers are not on the same scale)")
        if batch_tokens is not None:
            s_ratio = sb.min_steps(1.0, batch_tokens, b_crit)
            c_ratio = sb.min_compute(1.0, batch_tokens, b_crit)
            result.update(batch_tokens=batch_tokens, min_steps_ratio=s_ratio, min_compute_ratio=c_ratio)
            lines.append(f"at batch {batch_tokens:g} tokens: S_min/S = {s_ratio:.3f}, C_min/C = {c_ratio:.3f}")
    if noise is not None:
        ns = sb.noise_scale_from_table(noise, method=method)
        result.update(ns.to_dict())
        sizes = ", ".join(f"{b:g}" for b in ns.batch_sizes)
        lines.append(f"B_simple = {ns.b_simple:,.4g} in the unit of the batch_size column (examples, or tokens "
                     f"if you measured batches in tokens)")
        lines.append(f"  |G|^2 = {ns.grad_sq_norm:.4g}, tr(Sigma) = {ns.trace_sigma:.4g} (per unit of batch); "
                     f"{ns.method} over batch sizes {sizes}")
    if flops is not None:
        lr, bt = sb.deepseek_learning_rate(flops), sb.deepseek_batch_tokens(flops)
        result.update(flops=flops, deepseek_learning_rate=lr, deepseek_batch_tokens=bt)
        lines.append(f"DeepSeek LLM 2024 at C = {flops:g} FLOPs: learning rate {lr:.3g}, batch {bt:,.0f} tokens")
    if as_json:
        _emit_json(result)
    else:
        typer.echo("\n".join(lines))
