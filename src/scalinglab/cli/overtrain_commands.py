"""CLI commands for over-training (Gadre et al. 2024): ``scalinglab overtrain reproduce``,
``scalinglab overtrain backtest`` and ``scalinglab overtrain multiplier``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from scalinglab.cli.common import Table, _emit_json, app, out

overtrain_app = typer.Typer(no_args_is_help=True,
                            help="Over-training law L(C, M) and downstream error (Gadre et al. 2024).")
app.add_typer(overtrain_app, name="overtrain")

LOSSES = Path("gadre2024_overtraining") / "model_losses.csv"
DOWNSTREAM = Path("choshen2024_colpret") / "overtrain__overtrain_downstreams.csv"


def _pct(x: Optional[float]) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


@overtrain_app.command("reproduce")
def reproduce_cmd(
    data: str = typer.Argument(..., help="Data folder holding gadre2024_overtraining/model_losses.csv and "
                                         "choshen2024_colpret/overtrain__overtrain_downstreams.csv."),
    train_dataset: str = typer.Option("rpj", help="Training set: rpj (the paper's Figure 1), c4_original, "
                                                  "rw_original."),
    val_set: str = typer.Option("c4_val", help="Validation set of the loss (the paper's: c4_val)."),
    split: str = typer.Option("avg_subset", help="Downstream average: avg_subset (17 tasks) or avg (46)."),
    loss: str = typer.Option("huber", help="Fit objective on log residuals: huber or ls."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Refit Gadre et al.'s laws on their small runs and predict the 1.4B (M = 640) and 6.9B (M = 20) runs,
    beside the paper's relative errors.

    JSON keys: train_dataset, val_set, split, loss_law (law, params, derived, n_points, status,
    unidentified), error_law (law, params, n_points, status, unidentified), rows (target, params, tokens,
    multiplier, flops, loss_observed, loss_predicted, loss_relative_error, loss_relative_error_paper,
    error_observed, error_predicted, error_relative_error, error_relative_error_paper), compute_ratio,
    notes. Relative errors are fractions."""
    from scalinglab.analysis.overtraining import reproduce_gadre2024

    root = Path(data)
    r = reproduce_gadre2024(root / LOSSES, root / DOWNSTREAM, train_dataset=train_dataset, val_set=val_set,
                            split=split, loss=loss)
    if as_json:
        _emit_json(r.to_dict())
        return
    lp, ep = r.loss_fit.params, r.error_fit.params
    out.print(f"L(C, M) = {lp['E']:.4f} + ({lp['a']:.4g} M^{lp['eta']:.4f} + {lp['b']:.4g} M^-{lp['eta']:.4f}) "
              f"C^-{lp['eta']:.4f}  ({r.loss_fit.n_points} runs; M* = {r.loss_fit.derived['M_opt']:.3g})",
              markup=False)
    out.print(f"Err(L) = {ep['epsilon']:.4f} - {ep['k']:.4g} exp(-{ep['gamma']:.4f} L)  "
              f"({r.error_fit.n_points} runs; {r.split})", markup=False)
    t = Table(title=f"{r.train_dataset}, loss on {r.val_set}: targets take {r.compute_ratio:.0f}x the "
                    "largest loss-fit run's compute")
    for c in ("target", "loss", "predicted", "rel. error", "paper", "error", "predicted ", "rel. error ", "paper "):
        t.add_column(c, justify="left" if c == "target" else "right", no_wrap=True)
    for row in r.rows:
        t.add_row(row["target"], f"{row['loss_observed']:.4f}", f"{row['loss_predicted']:.4f}",
                  _pct(row["loss_relative_error"]), _pct(row["loss_relative_error_paper"]),
                  f"{row['error_observed']:.4f}", f"{row['error_predicted']:.4f}",
                  _pct(row["error_relative_error"]), _pct(row["error_relative_error_paper"]))
    out.print(t)
    for note in r.notes:
        out.print(f"note: {note}", markup=False)


@overtrain_app.command("multiplier")
def multiplier_cmd(
    law: str = typer.Option(..., help="A fit JSON (overtrain, chinchilla, kaplan_nd) or a published law key."),
    target_loss: float = typer.Option(..., "--loss", help="Target loss, nats/token."),
    inference_tokens: float = typer.Option(0.0, help="Lifetime inference demand D_inf, tokens."),
    allow_unidentified: bool = typer.Option(False, "--allow-unidentified",
                                            help="Answer even if the fit leaves a parameter undetermined."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The token multiplier M = D/N minimising 6ND + 2N D_inf FLOPs at the target loss, and the
    compute-optimal one (D_inf = 0).

    JSON keys: loss, inference_tokens, multiplier, params, tokens, train_flops, inference_flops, total_flops,
    compute_optimal_multiplier, compute_optimal_params, compute_optimal_tokens, compute_optimal_train_flops,
    compute_optimal_total_flops, savings_flops, savings_fraction, law, method, notes, warnings."""
    from scalinglab.plan.overtraining import optimal_multiplier

    r = optimal_multiplier(law, target_loss, inference_tokens, allow_unidentified=allow_unidentified)
    if as_json:
        _emit_json(r.to_dict())
        return
    out.print(f"law {r.law}, loss {r.loss:g} nats/token, {r.inference_tokens:.3g} inference tokens", markup=False)
    out.print(f"total-cost optimum: M = {r.multiplier:.4g} tokens/param, N = {r.params:.4g}, D = {r.tokens:.4g}, "
              f"{r.total_flops:.4g} FLOPs ({r.train_flops:.3g} training + {r.inference_flops:.3g} inference)",
              markup=False)
    out.print(f"compute-optimal:    M = {r.compute_optimal_multiplier:.4g} tokens/param, N = "
              f"{r.compute_optimal_params:.4g}, D = {r.compute_optimal_tokens:.4g}, "
              f"{r.compute_optimal_total_flops:.4g} FLOPs in all", markup=False)
    out.print(f"savings: {r.savings_flops:.3g} FLOPs ({100 * r.savings_fraction:.1f}%)", markup=False)
    for line in r.warnings + r.notes:
        out.print(f"note: {line}", markup=False)


@overtrain_app.command("backtest")
def backtest_cmd(
    data: str = typer.Argument(..., help="Runs table (params, tokens, loss; several M = D/N) or Gadre et al.'s "
                                         "model_losses.csv."),
    holdout_above: Optional[float] = typer.Option(None, "--holdout-above", help="Hold out runs with C = 6ND above "
                                                  "this many FLOPs (default: the largest compute, top ~20%)."),
    train_dataset: str = typer.Option("rpj", help="model_losses.csv: the training set (rpj, c4_original, rw_original)."),
    val_set: str = typer.Option("c4_val", help="model_losses.csv: the validation set of the loss."),
    bootstrap: int = typer.Option(200, help="Bootstrap resamples of the training fit."),
    seed: int = typer.Option(0, help="Seed of the bootstrap."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Fit L(C, M) on the runs of smaller compute, predict the largest with 95% prediction intervals; the
    training fit's status, unidentified parameters and intervals come with it.

    JSON keys: those of 'scalinglab backtest' (mare, coverage, predictions (params, tokens, observed,
    predicted, low, high, flops, inside, rel_error, distance), law, x, holdout_above, level, n_train, n_test,
    sigma, fit (with status, unidentified, ci), notes, warnings, interval_method, median_width), plus status
    and unidentified (the training fit's, repeated at the top)."""
    from scalinglab.analysis.overtraining import overtrain_backtest

    bt = overtrain_backtest(data, holdout_above=holdout_above, train_dataset=train_dataset, val_set=val_set,
                            bootstrap=bootstrap, seed=seed)
    if as_json:
        _emit_json({**bt.to_dict(), "status": bt.fit.status, "unidentified": list(bt.fit.unidentified)})
        return
    p = bt.fit.params
    out.print(f"L(C, M) fitted on {bt.n_train} runs with C <= {bt.holdout_above:.3g} FLOPs: E {p['E']:.4f}, "
              f"eta {p['eta']:.4f}; status {bt.fit.status}", markup=False, soft_wrap=True)
    for name, why in bt.fit.unidentified_why.items():
        out.print(f"not identified: {name}: {why}", markup=False, soft_wrap=True)
    t = Table(title=f"{bt.n_test} held-out runs (loss in nats/token)")
    for c in ("N (params)", "D (tokens)", "M", "observed", "predicted", "95% interval", "inside"):
        t.add_column(c, justify="right", no_wrap=True)
    for r in bt.predictions.sort_values("flops").itertuples():
        t.add_row(f"{r.params:.3g}", f"{r.tokens:.3g}", f"{r.tokens / r.params:.3g}", f"{r.observed:.4f}",
                  f"{r.predicted:.4f}", f"{r.low:.4f}-{r.high:.4f}", "yes" if r.inside else "no")
    out.print(t)
    out.print(bt.summary(), markup=False)
    for w in bt.warnings:
        out.print(f"warning: {w}", markup=False, soft_wrap=True)
