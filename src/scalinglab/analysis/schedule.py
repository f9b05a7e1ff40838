"""Whole loss curves under any learning-rate schedule: the schedule laws of Tissue et al. 2024 and
Luo et al. 2025.

    tissue:       L(s) = L0 + A S1(s)^-alpha - C S2(s)
    multi-power:  L(t) = L0 + A (S1(t) + S_W)^-alpha - LD(t)

(``references.md L1``; Tissue et al. 2024, "Scaling Law with Learning Rate Annealing",
arXiv:2408.11029, Eq. 1, with S1 the forward area and S2 the annealing area of the schedule up to
step s, :mod:`scalinglab.analysis.lr_schedules`; ``references.md L2``; Luo et al. 2025, "A Multi-Power
Law for Loss Curve Prediction Across Learning Rate Schedules", arXiv:2503.12811, Eq. 1, with LD the sum
of power-law loss drops after each LR decrease, :mod:`scalinglab.laws.multi_power`). Units: s optimiser
steps; L nats/token; L0 nats/token (the loss an infinite forward area would reach before annealing);
A nats/token x (LR x steps)^alpha; alpha dimensionless; tissue's C nats/token per (LR x steps); the
multi-power constants as :mod:`scalinglab.analysis.schedule_forms` lists them.

:func:`fit_schedule_law` fits the constants of either form (``form``), shared by every run of one
model size (one table of curves: ``step``, ``loss``, and the learning rate as an ``lr`` column recorded
at the evaluations or a ``schedule`` description per run), with the package's Levenberg-Marquardt optimiser on log residuals
under the Huber loss (delta 1e-3, as Luo et al. 2025 fit both laws), from a grid of starts.
:meth:`ScheduleFit.predict` gives the curve of any schedule with a 95% interval; :func:`compare_schedules`
ranks schedules of one step budget by their predicted final loss.

The interval: a pairs bootstrap over the fitted points (each run's points resampled with replacement,
the law refitted per draw from the best fit) for the parameters, each draw's prediction multiplied by
exp(e) with e a log residual of the fit drawn at random, for the evaluation noise. Curve points are
correlated, so a law that misfits systematically gets intervals narrower than its error: the
backtests in docs/analysis.md report coverage.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalinglab.analysis.lr_schedules import (
    DEFAULT_DECAY,
    Schedule,
    parse_schedule,
    schedule_lrs,
    warmup_end,
)
from scalinglab.analysis.schedule_curves import Curve, load_schedule_curves
from scalinglab.analysis.schedule_forms import (
    FORMS,
    Form,
    anneals,
    bounds,
    form_design,
    get_form,
    log_predict,
    predict,
    starts,
    to_natural,
    trust_checks,
)
from scalinglab.atomic import atomic_write_text
from scalinglab.display import Displayed
from scalinglab.errors import (
    FitError,
    ScalingLabError,
    as_list,
    bootstrap_count,
    finite_number,
    seed_number,
    table_path,
    whole_number,
)
from scalinglab.fitting.objective import Objective
from scalinglab.fitting.optimizer import minimize_residuals

Array = np.ndarray
PARAMS = FORMS["tissue"].params
#: Huber on log residuals with delta 1e-3 (Luo et al. 2025's fitting loss for both laws).
HUBER = Objective("huber", 1e-3)
LEVEL = 0.95
SOURCE, UNITS = FORMS["tissue"].source, FORMS["tissue"].units

__all__ = ["Curve", "ScheduleFit", "compare_schedules", "fit_schedule_law", "load_schedule_curves",
           "load_schedule_fit", "predict_loss", "save_schedule_fit"]


def predict_loss(params: Array, s1: Array, s2: Array) -> Array:
    """L0 + A S1^-alpha - C S2 (the ``tissue`` form) for parameters ``params`` (4,) or rows (S, 4) at
    areas ``s1``, ``s2`` (n,): shape (n,) or (S, n)."""
    p = np.asarray(params, dtype=float)
    rows = np.atleast_2d(p)
    L0, A, alpha, C = (rows[:, k, None] for k in range(4))
    out = L0 + A * np.asarray(s1, dtype=float) ** -alpha - C * np.asarray(s2, dtype=float)
    return out[0] if p.ndim == 1 else out


# ---- the fit --------------------------------------------------------------------------------------------

def _design(curves: list[Curve], form: Form, decay: float, after_warmup: bool):
    """The form's design of the points fitted (step >= 1; after warmup if asked), their losses and run."""
    steps, y, run = [], [], []
    for k, c in enumerate(curves):
        keep = c.steps >= (warmup_end(c.lrs) if after_warmup else 1)
        steps.append(c.steps[keep].astype(int))
        y.append(c.loss[keep])
        run.append(np.full(int(keep.sum()), k))
    steps_, run_ = np.concatenate(steps), np.concatenate(run)
    return form_design(form, [c.lrs for c in curves], steps_, run_, decay), np.concatenate(y), run_


def _rows(design: Any, rows: slice) -> Any:
    return design.subset(rows) if hasattr(design, "subset") else tuple(a[rows] for a in design)


def _residuals(form: Form, design: Any, logy: Array):
    """Log residuals ln L(theta) - ln y in the form's internal parameters (the registered families'
    formulas and Jacobians: :mod:`scalinglab.laws.lr_schedule`, :mod:`scalinglab.laws.multi_power`);
    a start whose predicted loss is not positive gets a large residual (1e3) and no gradient."""

    def residuals(theta: Array, starts_: Array, rows: slice, jac: bool = False):
        out = log_predict(form, theta, _rows(design, rows), jac)
        f = out[0] if jac else out
        ok = np.isfinite(f)
        r = np.where(ok, f - logy[rows], 1e3)
        if not jac:
            return r
        return r, np.where(ok[:, None, :], np.nan_to_num(out[1]), 0.0)

    return residuals


def _fit_theta(form: Form, design: Any, logy: Array, theta0: Array, weights: Array | None = None):
    lo, hi = bounds(form, np.exp(logy))
    return minimize_residuals(_residuals(form, design, logy), theta0, logy.size, lo, hi, HUBER, weights)


@dataclass(repr=False)
class ScheduleFit(Displayed):
    """The fitted schedule law: its ``form`` (``tissue``: L0 nats/token, A, alpha, C, with the decay
    factor of S2; ``multi-power``: L0, A, alpha, B, C, beta, gamma); the bootstrap parameter draws and
    the fit's log residuals (for intervals); the defaults a schedule description takes from the fitted
    runs (peak LR, warmup steps, final LR)."""

    _display = (("form", ""), ("params", "L0 nats/token; the form's constants"), ("decay", ""),
                ("n_points", "points"), ("runs", ""), ("mare", "fraction"), ("converged", ""))

    params: dict[str, float]
    decay: float
    draws: Array
    log_residuals: Array
    defaults: dict[str, float]
    runs: list[str]
    n_points: int
    converged: bool
    mare: float  # mean |relative error| of the fit on its own points
    level: float = LEVEL
    notes: list[str] = field(default_factory=list)
    form: str = "tissue"
    #: how the fit ended (:mod:`scalinglab.fitting.status`: converged, stalled, max_iterations, failed;
    #: "not recorded" in a fit file older than this key)
    status: str = "not recorded"
    #: parameter -> why the curves do not determine it (:func:`scalinglab.fitting.identify.unidentified_parameters`)
    unidentified: dict[str, str] = field(default_factory=dict)
    #: parameter -> [low, high], the bootstrap percentile interval at ``level`` (empty without a bootstrap)
    ci: dict[str, list[float]] = field(default_factory=dict)

    @property
    def law_form(self) -> Form:
        return get_form(self.form)

    def _predict(self, rows: Array, lrs: Array, steps: Array) -> Array:
        design = form_design(self.law_form, [np.asarray(lrs, dtype=float)], steps, np.zeros(len(steps)), self.decay)
        return predict(self.law_form, rows, design)

    def curve(self, lrs: Array, steps: Array) -> tuple[Array, Array, Array]:
        """Predicted loss and interval (low, high) at ``steps`` (1-based) of per-step ``lrs``."""
        steps = np.asarray(steps, dtype=int)
        mid = self._predict(np.array([self.params[k] for k in self.law_form.params]), lrs, steps)
        if len(self.draws) == 0:
            return mid, mid.copy(), mid.copy()
        rng = np.random.default_rng(0)
        noise = np.exp(rng.choice(self.log_residuals, size=(len(self.draws), 1)))
        sims = self._predict(self.draws, lrs, steps) * noise
        q = (1 - self.level) / 2
        return mid, np.quantile(sims, q, axis=0), np.quantile(sims, 1 - q, axis=0)

    def final_draws(self, lrs: Array) -> Array:
        """The bootstrap draws' predictions of the loss at the last step of ``lrs`` (empty without draws)."""
        return self._predict(self.draws, lrs, np.array([len(lrs)]))[:, 0] if len(self.draws) else np.empty(0)

    def equation(self) -> str:
        """The fitted law as one line of text."""
        p = self.params
        if self.form == "multi-power":
            return (f"L(t) = {p['L0']:.4f} + {p['A']:.4g} * (S1+S_W)^-{p['alpha']:.4f} - {p['B']:.4g} * "
                    f"sum_k (eta_(k-1) - eta_k) * (1 - ({p['C']:.4g} * eta_k^-{p['gamma']:.4f} * S_k + 1)"
                    f"^-{p['beta']:.4f})")
        return f"L(s) = {p['L0']:.4f} + {p['A']:.4g} * S1^-{p['alpha']:.4f} - {p['C']:.4g} * S2"

    def schedule(self, text: str | Schedule, steps: int | None = None) -> Schedule:
        """A description with its unset fields from ``steps`` and the fitted runs' defaults."""
        sched = text if isinstance(text, Schedule) else parse_schedule(text)
        d = self.defaults
        return sched.filled(steps=steps, warmup=d["warmup"], peak=d["peak"], final=d["final"])

    def predict(self, schedule: str | Schedule, steps: int | None = None, every: int | None = None) -> dict:
        """The predicted curve of a schedule: ``step``, ``loss``, ``low``, ``high`` (nats/token) every
        ``every`` steps (default a hundredth of the run) and at the last step; ``form`` the law's form."""
        sched = self.schedule(schedule, steps)
        lrs = schedule_lrs(sched)
        T = lrs.size
        every = max(1, T // 100) if every is None else int(every)
        at = np.unique(np.append(np.arange(every, T + 1, every), T))
        mid, low, high = self.curve(lrs, at)
        return {"schedule": sched.text(), "steps": T, "step": at.tolist(), "loss": mid.tolist(),
                "low": low.tolist(), "high": high.tolist(), "lr": lrs[at - 1].tolist(), "form": self.form}

    def to_dict(self) -> dict:
        f = self.law_form
        return {"law": f.law, "form": f.name, "formula": f.formula, "source": f.source, "units": f.units,
                "params": self.params,
                "decay": self.decay, "defaults": self.defaults, "runs": self.runs, "n_points": self.n_points,
                "converged": self.converged, "mare": self.mare, "level": self.level,
                "interval": "pairs bootstrap over points within runs, times a resampled log residual",
                "draws": np.asarray(self.draws).tolist(), "log_residuals": np.asarray(self.log_residuals).tolist(),
                "notes": self.notes, "status": self.status, "unidentified": list(self.unidentified),
                "unidentified_why": dict(self.unidentified), "ci": {k: list(v) for k, v in self.ci.items()}}

    @classmethod
    def from_dict(cls, d: Any, name: str = "fit") -> ScheduleFit:
        """Read back :meth:`to_dict` (a one-line ScalingLabError for anything else)."""
        laws = {f.law: f for f in FORMS.values()}
        if not isinstance(d, dict) or d.get("law") not in laws:
            raise ScalingLabError(f"{name}: not a schedule-law fit (law 'lr_schedule' or 'multi_power' expected); "
                                  f"write one with 'scalinglab schedule fit DATA --out FILE'")
        form = laws[d["law"]]
        try:
            params = {k: finite_number(f"{name} params.{k}", d["params"][k]) for k in form.params}
            draws = np.asarray(d.get("draws", []), dtype=float).reshape(-1, len(form.params))
            resid = np.asarray(d.get("log_residuals", [0.0]), dtype=float).ravel()
            defaults = {k: finite_number(f"{name} defaults.{k}", d["defaults"][k], low=0.0)
                        for k in ("peak", "warmup", "final")}
            decay = finite_number(f"{name} decay", d.get("decay", DEFAULT_DECAY), low=0.0, high=1.0,
                                  high_open=True)
        except (KeyError, TypeError, ValueError) as exc:
            raise ScalingLabError(f"{name}: malformed schedule-law fit ({type(exc).__name__}: {exc})") from None
        if not (np.all(np.isfinite(draws)) and np.all(np.isfinite(resid))) or resid.size == 0:
            raise ScalingLabError(f"{name}: malformed schedule-law fit (non-finite draws or residuals)")
        why = d.get("unidentified_why") or {k: "" for k in d.get("unidentified", [])}
        ci = {str(k): [float(v[0]), float(v[1])] for k, v in (d.get("ci") or {}).items()}
        return cls(params, decay, draws, resid, defaults, list(d.get("runs", [])), int(d.get("n_points", 0)),
                   bool(d.get("converged", False)), float(d.get("mare", math.nan)),
                   float(d.get("level", LEVEL)), list(d.get("notes", [])), form.name,
                   str(d.get("status", "not recorded")), {str(k): str(v) for k, v in dict(why).items()}, ci)


def _defaults(curves: list[Curve]) -> dict[str, float]:
    """Peak LR, warmup steps and final LR a description takes when it names none: the largest peak
    of the runs, that run's warmup, and the lowest final LR of a run that decays (else peak/10)."""
    top = max(curves, key=lambda c: float(c.lrs.max()))
    peak = float(top.lrs.max())
    finals = [float(c.lrs[-1]) for c in curves if c.lrs[-1] < 0.999 * c.lrs.max()]
    return {"peak": peak, "warmup": float(warmup_end(top.lrs)) if top.lrs[0] < peak else 0.0,
            "final": min(finals) if finals else 0.1 * peak}


def _bootstrap(form: Form, design: Any, logy: Array, run: Array, theta: Array, B: int, rng) -> Array:
    """Natural parameter draws of a pairs bootstrap: each run's points resampled, refitted from ``theta``."""
    if not B:
        return np.empty((0, len(form.params)))
    W = np.zeros((B, logy.size))
    for k in np.unique(run):
        idx = np.flatnonzero(run == k)
        for b in range(B):
            W[b] += np.bincount(rng.choice(idx, idx.size), minlength=logy.size)
    boot = _fit_theta(form, design, logy, np.repeat(theta[None], B, axis=0), W)
    return to_natural(form, boot.theta[np.isfinite(boot.value)])


def fit_schedule_law(curves: Any, *, decay: float = DEFAULT_DECAY, bootstrap: int = 200, seed: int = 0,
                     after_warmup: bool = True, name: str = "curves", params: float | None = None,
                     form: str = "tissue") -> ScheduleFit:
    """Fit the schedule law of ``form`` to the curves of one model size: ``tissue``,
    L(s) = L0 + A S1^-alpha - C S2 (``references.md L1``), or ``multi-power``,
    L(t) = L0 + A (S1 + S_W)^-alpha - LD(t) (``references.md L2``; :mod:`scalinglab.analysis.schedule_forms`).

    ``curves``: a table path, a DataFrame (see :func:`load_schedule_curves`) or a list of
    :class:`Curve`. ``decay``: lambda of S2 (Tissue et al.'s 0.999; the multi-power form has none).
    Points from the end of the warmup on are fitted (``after_warmup``). ``bootstrap`` pairs-bootstrap
    draws for the interval. ``params``: the model size to fit in a table (or run store) of several; the
    fit's notes name the size fitted.
    """
    law = get_form(form)
    lam = finite_number("decay", decay, low=0.0, high=1.0, high_open=True)
    B, rng = bootstrap_count(bootstrap), np.random.default_rng(seed_number(seed))
    runs = curves if isinstance(curves, list) else load_schedule_curves(curves, name, params)
    if not runs or not all(isinstance(c, Curve) for c in runs):
        raise ScalingLabError(f"{name}: give a table of curves or a list of Curve")
    design, y, run = _design(runs, law, lam, after_warmup)
    P = len(law.params)
    if y.size < P + 1:
        raise FitError(f"{name}: {y.size} points after warmup; the law has {P} parameters, give at least {P + 1}")
    logy = np.log(y)
    res = _fit_theta(law, design, logy, starts(law, design, y))
    ok = np.isfinite(res.value)
    if not ok.any():
        raise FitError(f"{name}: no start of the schedule law reached a finite objective")
    best = int(np.argmin(np.where(ok, res.value, np.inf)))
    theta = res.theta[best]
    pred = np.exp(log_predict(law, theta[None], design))[0]
    draws = _bootstrap(law, design, logy, run, theta, B, rng)
    sizes = sorted({c.size for c in runs if c.size is not None})
    notes = [f"runs of model size {', '.join(f'{v:.12g}' for v in sizes)} (the table's size column; a run "
             "store's: parameters with embeddings)"] if sizes else []
    if not anneals(law, design):
        which = "C is" if law.name == "tissue" else "B, C, beta and gamma are"
        notes.append(f"no fitted run anneals (no LR decrease after warmup): {which} not identified; fit a run "
                     "that decays")
    fitted = dict(zip(law.params, (float(v) for v in to_natural(law, theta))))
    status, why, ci = trust_checks(law, theta, float(res.value[best]), design, logy, bool(res.converged[best]),
                                   draws, LEVEL)
    return ScheduleFit(fitted, lam, draws, np.log(pred) - logy, _defaults(runs), [c.name for c in runs],
                       int(y.size), bool(res.converged[best]), float(np.mean(np.abs(pred / y - 1))), notes=notes,
                       form=law.name, status=status, unidentified=why, ci=ci)


def compare_schedules(fit: ScheduleFit, schedules: list[str], steps: int) -> dict:
    """Predicted final loss (with interval) of each schedule over the same ``steps``; ``best`` the
    lowest, ``p_best`` the share of bootstrap draws in which each schedule is lowest; ``form`` the law's."""
    if not isinstance(fit, ScheduleFit):
        raise ScalingLabError(f"fit must be a schedule-law fit (fit_schedule_law), got {type(fit).__name__}")
    schedules = as_list("schedules", schedules)
    steps = whole_number("steps", steps, minimum=1)
    rows, finals = [], []
    for text in schedules:
        sched = fit.schedule(text, steps)
        lrs = schedule_lrs(sched)
        mid, low, high = fit.curve(lrs, np.array([lrs.size]))
        finals.append(fit.final_draws(lrs) if len(fit.draws) else mid)
        rows.append({"schedule": sched.text(), "final_loss": float(mid[0]), "low": float(low[0]),
                     "high": float(high[0])})
    wins = np.bincount(np.argmin(np.vstack(finals), axis=0), minlength=len(rows)) / len(finals[0])
    for row, p in zip(rows, wins):
        row["p_best"] = float(p)
    best = min(rows, key=lambda r: r["final_loss"])["schedule"]
    return {"steps": int(steps), "schedules": rows, "best": best, "form": fit.form}


def save_schedule_fit(fit: ScheduleFit, path: str) -> None:
    """Write :meth:`ScheduleFit.to_dict` as JSON, atomically (the file appears whole or not at all)."""
    atomic_write_text(table_path("fit file", path), json.dumps(fit.to_dict(), indent=1, allow_nan=False) + "\n")


def load_schedule_fit(path: str, form: str | None = None) -> ScheduleFit:
    """Read a fit written by :func:`save_schedule_fit` (one-line ScalingLabError if unreadable, or if
    ``form`` is given and the fit is of another form)."""
    want = None if form is None else get_form(form).name
    p = table_path("law", path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScalingLabError(f"{path}: cannot read the fit ({exc.strerror or exc})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScalingLabError(f"{path}: not JSON ({type(exc).__name__})") from None
    fit = ScheduleFit.from_dict(data, str(path))
    if want is not None and fit.form != want:
        raise ScalingLabError(f"{path}: holds a {fit.form} fit, not {want}; refit with 'scalinglab schedule fit DATA "
                              f"--form {want} --out FILE'")
    return fit
