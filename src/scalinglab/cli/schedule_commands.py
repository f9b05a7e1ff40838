"""CLI commands for loss curves under learning-rate schedules (Tissue et al. 2024; Luo et al. 2025's
multi-power law with --form multi-power): schedule fit, schedule predict, schedule compare, schedule check,
schedule backtest."""

from __future__ import annotations

from typing import Optional

import typer
from rich.markup import escape

from scalinglab.cli.common import Table, _emit_json, app, out
from scalinglab.errors import positive_count

schedule_app = typer.Typer(no_args_is_help=True,
                           help="Whole loss curves under any LR schedule: L = L0 + A*S1^-alpha - C*S2 "
                                "(--form tissue) or the multi-power law (--form multi-power).")
app.add_typer(schedule_app, name="schedule")

PARAMS_HELP = ("The model size to fit where DATA holds several: a value of its params (model_size, size) column; "
               "a run store's params count embeddings.")
FORM_HELP = ("The law's form: tissue (L0 + A*S1^-alpha - C*S2, Tissue et al. 2024) or multi-power "
             "(L0 + A*(S1+S_W)^-alpha - LD, Luo et al. 2025).")
READ_FORM_HELP = "The form the fit must have (tissue or multi-power); default: the fit file's."
SCHEDULE_HELP = ("kind[:key=value,...]: kind constant|cosine|linear|wsd; keys steps, warmup (steps, or a "
                 "fraction below 1), peak, final (learning rates), cooldown (WSD fraction). Unset keys come "
                 "from the fitted runs.")


@schedule_app.command("fit")
def fit_cmd(
    data: str = typer.Argument(..., help="Curves of one model size: step, loss (nats/token), run, and lr "
                                         "(recorded at each evaluation) or schedule (a description per run); "
                                         "or a lab run store (.db): its finished runs and recorded lr."),
    params: Optional[float] = typer.Option(None, "--params", help=PARAMS_HELP),
    form: str = typer.Option("tissue", "--form", help=FORM_HELP),
    decay: float = typer.Option(0.999, help="Decay factor lambda of the annealing momentum (Tissue et al.: 0.999; "
                                            "tissue form only)."),
    bootstrap: int = typer.Option(200, help="Pairs-bootstrap refits for the interval (0: none)."),
    seed: int = typer.Option(0, help="Seed of the bootstrap."),
    out_path: Optional[str] = typer.Option(None, "--out", help="Save the fit as JSON here (read by predict, compare)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Fit the schedule law (L(s) = L0 + A*S1^-alpha - C*S2, or the multi-power law with --form multi-power)
    to every run's curve after warmup (shared constants).

    JSON keys: law (lr_schedule or multi_power), form, formula, source, units, params (tissue: L0, A, alpha, C;
    multi-power: L0, A, alpha, B, C, beta, gamma), decay, defaults (peak, warmup, final), runs, n_points,
    converged, mare, level, interval, draws, log_residuals, notes, status, unidentified,
    unidentified_why, ci (bootstrap percentile intervals of the parameters).
    """
    from scalinglab.analysis.schedule import fit_schedule_law, save_schedule_fit

    fit = fit_schedule_law(data, decay=decay, bootstrap=bootstrap, seed=seed, name=data, params=params, form=form)
    if out_path:
        save_schedule_fit(fit, out_path)
    if as_json:
        _emit_json(fit.to_dict())
        return
    lam = f"; lambda {fit.decay:g}" if fit.form == "tissue" else ""
    out.print(f"{fit.equation()}   (L nats/token; areas in LR x steps{lam})", markup=False, soft_wrap=True)
    out.print(f"{len(fit.runs)} runs, {fit.n_points} points after warmup; mean |relative error| "
              f"{100 * fit.mare:.3f}%; converged: {fit.converged}", markup=False)
    out.print(f"status: {fit.status}", markup=False)
    for p_name, why in fit.unidentified.items():
        out.print(f"not identified: {p_name}: {why}", markup=False, soft_wrap=True)
    for note in fit.notes:
        out.print(f"note: {note}", markup=False, soft_wrap=True)
    if out_path:
        out.print(f"saved {out_path}", markup=False)


@schedule_app.command("predict")
def predict_cmd(
    law: str = typer.Option(..., help="A fit JSON written by 'schedule fit --out'."),
    schedule: str = typer.Option(..., help=SCHEDULE_HELP),
    steps: int = typer.Option(..., help="Steps of the run to predict."),
    every: Optional[int] = typer.Option(None, help="Report every this many steps (default: a hundredth)."),
    plot: Optional[str] = typer.Option(None, help="Also draw the curve and its interval to this .png or .svg file."),
    form: Optional[str] = typer.Option(None, "--form", help=READ_FORM_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Predict the whole loss curve of a schedule, with a 95% interval (pairs bootstrap over the fitted
    points times a resampled log residual).

    JSON keys: schedule, steps, step, loss, low, high (nats/token), lr, form.
    """
    from scalinglab.analysis.schedule import load_schedule_fit

    fit = load_schedule_fit(law, form)
    result = fit.predict(schedule, positive_count("steps", steps),
                         None if every is None else positive_count("every", every))
    if plot:
        _plot(fit, [schedule], steps, plot)
    if as_json:
        _emit_json(result)
        return
    t = Table(title=escape(f"{result['schedule']}: predicted loss (nats/token)"))
    for c in ("step", "lr", "loss", "low", "high"):
        t.add_column(c, justify="right", no_wrap=True)
    n = len(result["step"])
    for i in sorted({*range(0, n, max(1, n // 10)), n - 1}):
        t.add_row(str(result["step"][i]), f"{result['lr'][i]:.3g}", f"{result['loss'][i]:.4f}",
                  f"{result['low'][i]:.4f}", f"{result['high'][i]:.4f}")
    out.print(t)


@schedule_app.command("compare")
def compare_cmd(
    law: str = typer.Option(..., help="A fit JSON written by 'schedule fit --out'."),
    schedule: list[str] = typer.Option(..., "--schedule", help=SCHEDULE_HELP + " Repeat to compare."),
    steps: int = typer.Option(..., help="The step budget every schedule gets."),
    data: Optional[str] = typer.Option(None, help="Observed curves (as for 'schedule fit') to draw with --plot."),
    plot: Optional[str] = typer.Option(None, help="Also draw the curves and intervals to this .png or .svg file."),
    form: Optional[str] = typer.Option(None, "--form", help=READ_FORM_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Rank schedules of the same step budget by predicted final loss (e.g. WSD cooldown fractions).

    JSON keys: steps, best, schedules (schedule, final_loss, low, high, p_best), form.
    """
    from scalinglab.analysis.schedule import compare_schedules, load_schedule_fit

    fit = load_schedule_fit(law, form)
    result = compare_schedules(fit, schedule, positive_count("steps", steps))
    if plot:
        _plot(fit, schedule, steps, plot, data)
    if as_json:
        _emit_json(result)
        return
    t = Table(title=escape(f"final loss after {result['steps']} steps (nats/token)"))
    for c in ("schedule", "final loss", "low", "high", "P(best)"):
        t.add_column(c, justify="left" if c == "schedule" else "right", no_wrap=c != "schedule")
    for row in sorted(result["schedules"], key=lambda r: r["final_loss"]):
        t.add_row(escape(row["schedule"]), f"{row['final_loss']:.4f}", f"{row['low']:.4f}",
                  f"{row['high']:.4f}", f"{row['p_best']:.2f}")
    out.print(t)
    out.print(f"best: {result['best']}", markup=False)


def _plot(fit, schedules: list[str], steps: int, path: str, data: Optional[str] = None) -> None:
    """Draw the predicted curves (and observed ones from ``data``) to ``path`` (.png or .svg)."""
    from scalinglab.analysis.schedule import load_schedule_curves
    from scalinglab.report.schedule_plots import plot_schedule_curves
    from scalinglab.report.style import check_format, save

    check_format(path)
    curves = load_schedule_curves(data, data) if data else []
    save(plot_schedule_curves(fit, schedules, steps, curves), path)


@schedule_app.command("check")
def check_cmd(
    data: str = typer.Argument(..., help="Curves of one model size, as for 'schedule fit'."),
    train: str = typer.Option(..., help="Runs to fit (names in the run column; a store's run ids), comma-separated; "
                                        "the rest are predicted and scored."),
    params: Optional[float] = typer.Option(None, "--params", help=PARAMS_HELP),
    form: str = typer.Option("tissue", "--form", help=FORM_HELP),
    decay: float = typer.Option(0.999, help="Decay factor lambda of the annealing momentum (tissue form only)."),
    bootstrap: int = typer.Option(200, help="Pairs-bootstrap refits for the interval."),
    seed: int = typer.Option(0, help="Seed of the bootstrap."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Fit some runs, predict the held-out runs' whole curves from their own learning rates, and score
    them: mean |relative error| after warmup, final-loss error, final loss inside the 95% interval.

    JSON keys: train, form, params, decay, fit_mare, runs (run, n_points, mare, final_step, final_loss,
    observed_final, error, low, high, inside), coverage, max_abs_final_error, notes, status, unidentified, ci.
    """
    from scalinglab.analysis.schedule_check import holdout_check

    result = holdout_check(data, [t.strip() for t in train.split(",") if t.strip()], decay=decay,
                           bootstrap=bootstrap, seed=seed, name=data, params=params, form=form)
    if as_json:
        _emit_json(result)
        return
    constants = ", ".join(f"{k} {v:.4g}" for k, v in result["params"].items())
    out.print(f"fitted ({result['form']}) on {', '.join(result['train'])}: {constants} "
              f"(fit error {100 * result['fit_mare']:.3f}%)", markup=False, soft_wrap=True)
    t = Table(title="held-out runs (loss in nats/token)")
    for c in ("run", "mean |rel. error|", "final predicted", "final observed", "error", "95% interval", "inside"):
        t.add_column(c, justify="left" if c == "run" else "right", no_wrap=c != "run")
    for r in result["runs"]:
        t.add_row(escape(r["run"]), f"{100 * r['mare']:.3f}%", f"{r['final_loss']:.4f}", f"{r['observed_final']:.4f}",
                  f"{100 * r['error']:+.2f}%", f"{r['low']:.4f}-{r['high']:.4f}", "yes" if r["inside"] else "no")
    out.print(t)
    out.print(f"final loss inside the interval: {result['coverage']:.0%}; largest final error "
              f"{100 * result['max_abs_final_error']:.2f}%", markup=False)


@schedule_app.command("backtest")
def backtest_cmd(
    data: str = typer.Argument(..., help="Curves of one model size, as for 'schedule fit'."),
    tail: float = typer.Option(0.2, help="When no run is the longest: the share of every curve's steps held out."),
    params: Optional[float] = typer.Option(None, "--params", help=PARAMS_HELP),
    decay: float = typer.Option(0.999, help="Decay factor lambda of the annealing momentum."),
    bootstrap: int = typer.Option(200, help="Pairs-bootstrap refits for the interval."),
    seed: int = typer.Option(0, help="Seed of the bootstrap."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Hold out the longest run (or, when runs share the longest length, the last --tail of every curve),
    fit the rest and score the held-out evaluations: predicted against observed final loss with its 95%
    interval, and the training fit's status, identifiability and parameter intervals.

    JSON keys: holdout, tail, train, held_out, fit (params, ci, level, status, converged, unidentified,
    unidentified_why, mare, n_points, runs), runs (run, n_points, mare, final_step, final_loss, observed_final,
    error, low, high, inside), mare, coverage, max_abs_final_error, notes.
    """
    from scalinglab.analysis.schedule_check import schedule_backtest

    r = schedule_backtest(data, tail=tail, decay=decay, bootstrap=bootstrap, seed=seed, name=data, params=params)
    if as_json:
        _emit_json(r)
        return
    f = r["fit"]
    out.print(f"held out: {r['holdout']}" + (f" ({100 * r['tail']:g}% of the steps)" if r["tail"] else "")
              + f"; fitted {', '.join(r['train'])}: status {f['status']}, fit error {100 * f['mare']:.3f}%",
              markup=False, soft_wrap=True)
    for p, why in f["unidentified_why"].items():
        out.print(f"not identified: {p}: {why}", markup=False, soft_wrap=True)
    t = Table(title="held-out evaluations (loss in nats/token)")
    for c in ("run", "mean |rel. error|", "final predicted", "final observed", "error", "95% interval", "inside"):
        t.add_column(c, justify="left" if c == "run" else "right", no_wrap=c != "run")
    for row in r["runs"]:
        t.add_row(escape(row["run"]), f"{100 * row['mare']:.3f}%", f"{row['final_loss']:.4f}",
                  f"{row['observed_final']:.4f}", f"{100 * row['error']:+.2f}%", f"{row['low']:.4f}-{row['high']:.4f}",
                  "yes" if row["inside"] else "no")
    out.print(t)
    out.print(f"final loss inside the interval: {r['coverage']:.0%}; largest final error "
              f"{100 * r['max_abs_final_error']:.2f}%", markup=False)
