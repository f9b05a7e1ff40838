"""CLI commands: flops (parameter counts and training FLOPs of an architecture), architectures."""

from __future__ import annotations

import dataclasses
from typing import Optional

import typer

from scalinglab.cli.common import Table, _emit_json, app, out
from scalinglab.errors import ScalingLabError


def _human(count: int) -> str:
    """A parameter count as 124.4M / 1.558B / 174.6B."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if count >= scale:
            return f"{count / scale:.4g}{suffix}"
    return str(count)


def _architecture_rows() -> list[dict]:
    from scalinglab.plan.presets import PRESETS

    return [a.describe() for a in PRESETS.values()]


def _print_architectures(as_json: bool) -> None:
    rows = _architecture_rows()
    if as_json:
        _emit_json(rows)
        return
    t = Table(title="Architecture presets (parameters; sources in --json)")
    for c in ("name", "params", "active", "non-emb", "L", "d_model", "heads (kv)", "ctx"):
        t.add_column(c, no_wrap=True, justify="left" if c == "name" else "right")
    for r in rows:
        t.add_row(r["name"], _human(r["params"]), _human(r["active_params"]), _human(r["params_non_embedding"]),
                  str(r["n_layer"]),
                  str(r["d_model"]), f"{r['n_heads']} ({r['n_kv_heads']})", f"{r['seq_len']:,}")
    out.print(t)


@app.command("architectures")
def architectures_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the architecture presets with their parameter counts and sources."""
    _print_architectures(as_json)


@app.command("flops")
def flops_cmd(
    arch: Optional[str] = typer.Option(None, "--arch", help="A preset (see --list) or a local HF config.json."),
    tokens: Optional[float] = typer.Option(None, "--tokens", help="Training tokens D."),
    convention: str = typer.Option("6N", help="6N, kaplan, chinchilla, chinchilla-appendix or palm."),
    params: Optional[str] = typer.Option(None, "--params", help="N for 6N and palm: total (default) or non_embedding."),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", help="Override the context length (tokens)."),
    list_presets: bool = typer.Option(False, "--list", help="List the architecture presets and exit."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Parameter counts and training FLOPs (a count) of an architecture trained on D tokens."""
    from scalinglab.plan.flops import flops_report, get_architecture

    if list_presets:
        _print_architectures(as_json)
        return
    if arch is None or tokens is None:
        raise ScalingLabError("flops needs --arch NAME_OR_CONFIG.json and --tokens D (or --list)")
    a = get_architecture(arch)
    if seq_len is not None:
        a = dataclasses.replace(a, seq_len=seq_len)
    report = flops_report(a, tokens, convention, params=params)
    if as_json:
        _emit_json(report)
        return
    t = Table(title=f"{report['architecture']}: training FLOPs ({report['convention']} convention)")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_row("parameters (total, incl. embeddings)", f"{report['params']:,}")
    t.add_row("parameters (non-embedding)", f"{report['params_non_embedding']:,}")
    if report["active_params"] != report["params"]:
        t.add_row("parameters (active per token)", f"{report['active_params']:,}")
    t.add_row("N used by the convention", f"{report['params_counted']:,}")
    t.add_row("context (tokens)", f"{report['seq_len']:,}")
    t.add_row("training tokens", f"{report['tokens']:.4g}")
    t.add_row("FLOPs per token (fwd + bwd)", f"{report['flops_per_token']:.4g}")
    t.add_row("training FLOPs", f"{report['flops']:.4g}")
    t.add_row("PF-days (8.64e19 FLOPs each)", f"{report['pf_days']:.4g}")
    out.print(t)
