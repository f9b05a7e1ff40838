"""CLI commands: inference-optimal (Sardana et al. 2024, "Beyond Chinchilla-Optimal")."""

from __future__ import annotations

import typer

from scalinglab.cli.common import Table, _emit_json, app, out

#: (label with units, key of the inference-aware value, key of the Chinchilla-optimal value)
_ROWS = (
    ("parameters N (count)", "params", "chinchilla_params"),
    ("training tokens D (tokens)", "tokens", "chinchilla_tokens"),
    ("training 6ND (FLOPs)", "train_flops", "chinchilla_train_flops"),
    ("inference 2N D_inf (FLOPs)", "inference_flops", "chinchilla_inference_flops"),
    ("total (FLOPs)", "total_flops", "chinchilla_total_flops"),
)


@app.command("inference-optimal")
def inference_optimal_cmd(
    law: str = typer.Option(..., help="A fit JSON written by 'fit --out', or a published law of params and tokens."),
    loss: float = typer.Option(..., help="Target loss in nats/token."),
    inference_tokens: float = typer.Option(..., help="Expected lifetime inference tokens D_inf."),
    allow_unidentified: bool = typer.Option(False, "--allow-unidentified",
                                            help="Answer even when the fit's data leave a parameter undetermined "
                                                 "(JSON 'warnings' then names it)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Cheapest model to reach a loss counting training (6ND) and inference (2N per token) FLOPs
    (Sardana et al. 2024), against the Chinchilla-optimal model of the same loss."""
    from scalinglab.plan.inference_aware import inference_optimal
    from scalinglab.resolve import law_name, resolve_law

    resolved = resolve_law(law)
    result = inference_optimal(resolved, loss, inference_tokens, allow_unidentified=allow_unidentified)
    d = result.to_dict()
    if as_json:
        _emit_json(d)
        return
    t = Table(title=f"{law_name(resolved)}: loss {result.loss:.4f} nats/token, "
                    f"{result.inference_tokens:.3g} inference tokens")
    t.add_column("quantity (unit)", no_wrap=True)
    t.add_column("inference-aware", justify="right")
    t.add_column("Chinchilla-optimal", justify="right")
    for label, mine, theirs in _ROWS:
        t.add_row(label, f"{d[mine]:.4g}", f"{d[theirs]:.4g}")
    t.add_row("tokens per parameter (D/N)", f"{result.tokens / result.params:.1f}",
              f"{result.chinchilla_tokens / result.chinchilla_params:.1f}")
    out.print(t)
    out.print(f"savings: {result.savings_flops:.4g} FLOPs ({100 * result.savings_fraction:.1f}% of the "
              f"Chinchilla-optimal total)")
    for note in result.notes:
        out.print(f"note: {note}", markup=False)
    for w in result.warnings:
        out.print(f"warning: {w}", markup=False)
