"""Whole loss curves under any learning-rate schedule: the schedule law of Tissue et al. 2024.

    L(s) = L0 + A S1(s)^-alpha - C S2(s)

(``references.md L1``; Tissue et al. 2024, "Scaling Law with Learning Rate Annealing",
arXiv:2408.11029, Eq. 1), with S1 the forward area and S2 the annealing area of the schedule up to
step s (:mod:`scalinglab.analysis.lr_schedules`). Units: s optimiser steps; L nats/token; L0 nats/token
(the loss an infinite forward area would reach before annealing); A nats/token x (LR x steps)^alpha;
alpha dimensionless; C nats/token per (LR x steps).

:func:`fit_schedule_law` fits L0, A, alpha and C shared by every run of one model size (one table of
curves: ``step``, ``loss``, and the learning rate as an ``lr`` column recorded at the evaluations or
a ``schedule`` description per run), with the package's Levenberg-Marquardt optimiser on log residuals
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
    annealing_area,
    forward_area,
    parse_schedule,
    schedule_lrs,
    warmup_end,
)
from scalinglab.analysis.schedule_curves import Curve, load_schedule_curves
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
from scalinglab.fitting.identify import unidentified_parameters
from scalinglab.fitting.objective import Objective
from scalinglab.fitting.optimizer import minimize_residuals
from scalinglab.fitting.status import fit_status
from scalinglab.laws.lr_schedule import ANNEALING, FORWARD, LRSchedule

Array = np.ndarray
LAW = LRSchedule()  # the formula and its Jacobian; this module adds schedules, areas and intervals
PARAMS = ("L0", "A", "alpha", "C")
#: Huber on log residuals with delta 1e-3 (Luo et al. 2025's fitting loss for both laws).
HUBER = Objective("huber", 1e-3)
LEVEL = 0.95
SOURCE = ("Tissue et al. 2024, Scaling Law with Learning Rate Annealing, Eq. 1 (arXiv:2408.11029); "
          "S2 momentum m_i = lambda m_(i-1) + (eta_(i-1) - eta_i)")
UNITS = {"step": "optimiser steps", "S1": "learning rate x steps (sum of the LR up to the step)",
         "S2": "learning rate x steps (annealing area)", "L0": "nats/token (loss before annealing as S1 grows)",
         "A": "nats/token x (LR x steps)^alpha", "alpha": "dimensionless exponent of S1",
         "C": "nats/token per LR x step of annealing area", "loss": "nats/token"}

__all__ = ["Curve", "ScheduleFit", "compare_schedules", "fit_schedule_law", "load_schedule_curves",
           "load_schedule_fit", "predict_loss", "save_schedule_fit"]


def predict_loss(params: Array, s1: Array, s2: Array) -> Array:
    """L0 + A S1^-alpha - C S2 for parameters ``params`` (4,) or rows (S, 4) at areas ``s1``, ``s2``
    (n,): shape (n,) or (S, n)."""
    p = np.asarray(params, dtype=float)
    rows = np.atleast_2d(p)
    L0, A, alpha, C = (rows[:, k, None] for k in range(4))
    out = L0 + A * np.asarray(s1, dtype=float) ** -alpha - C * np.asarray(s2, dtype=float)
    return out[0] if p.ndim == 1 else out


# ---- the fit --------------------------------------------------------------------------------------------

def _design(curves: list[Curve], decay: float, after_warmup: bool):
    """Areas, losses and run index of the points fitted (step >= 1; after warmup if asked)."""
    s1, s2, y, run = [], [], [], []
    for k, c in enumerate(curves):
        a1, a2 = forward_area(c.lrs), annealing_area(c.lrs, decay)
        first = warmup_end(c.lrs) if after_warmup else 1
        keep = c.steps >= first
        idx = c.steps[keep].astype(int) - 1
        s1.append(a1[idx])
        s2.append(a2[idx])
        y.append(c.loss[keep])
        run.append(np.full(idx.size, k))
    return (np.concatenate(s1), np.concatenate(s2), np.concatenate(y), np.concatenate(run))


def _residuals(s1: Array, s2: Array, logy: Array):
    """Log residuals ln(L0 + A S1^-alpha - C S2) - ln y in the internal parameters (L0, ln A, alpha, C):
    the registered family's formula and Jacobian (:class:`scalinglab.laws.lr_schedule.LRSchedule`);
    a start whose predicted loss is not positive gets a large residual (1e3) and no gradient."""

    def residuals(theta: Array, starts: Array, rows: slice, jac: bool = False):
        X = {FORWARD: s1[rows], ANNEALING: s2[rows]}
        out = LAW.log_predict(theta, X, jac)
        f = out[0] if jac else out
        ok = np.isfinite(f)
        r = np.where(ok, f - logy[rows], 1e3)
        if not jac:
            return r
        return r, np.where(ok[:, None, :], np.nan_to_num(out[1]), 0.0)

    return residuals


def _bounds(y: Array) -> tuple[Array, Array]:
    return np.array([0.0, -50.0, 1e-3, 0.0]), np.array([float(y.min()), 50.0, 5.0, 1e12])


def _starts(s1: Array, s2: Array, y: Array) -> Array:
    """A grid of internal starts: L0 a share of the lowest loss, alpha from 0.1 to 1.5, A through the
    median point, C zero or a tenth of the loss range per unit of the largest S2."""
    rows = []
    mid = int(np.argsort(s1)[s1.size // 2])
    c_scale = 0.1 * float(np.ptp(y)) / max(float(s2.max()), 1e-300)
    for share in (0.3, 0.7, 0.9):
        for alpha in (0.1, 0.3, 0.6, 1.0, 1.5):
            L0 = share * float(y.min())
            lnA = math.log(max(float(y[mid]) - L0, 1e-6)) + alpha * math.log(s1[mid])
            rows += [[L0, lnA, alpha, 0.0], [L0, lnA, alpha, c_scale]]
    return np.array(rows)


def _fit_theta(s1: Array, s2: Array, logy: Array, theta0: Array, weights: Array | None = None):
    lo, hi = _bounds(np.exp(logy))
    res = minimize_residuals(_residuals(s1, s2, logy), theta0, logy.size, lo, hi, HUBER, weights)
    return res


def _external(theta: Array) -> Array:
    out = np.array(theta, dtype=float)
    out[..., 1] = np.exp(out[..., 1])
    return out


@dataclass(repr=False)
class ScheduleFit(Displayed):
    """The fitted schedule law: ``params`` L0 (nats/token), A, alpha, C; the decay factor of S2; the
    bootstrap parameter draws and the fit's log residuals (for intervals); the defaults a schedule
    description takes from the fitted runs (peak LR, warmup steps, final LR)."""

    _display = (("params", "L0 nats/token; A, alpha, C"), ("decay", ""), ("n_points", "points"),
                ("runs", ""), ("mare", "fraction"), ("converged", ""))

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
    #: how the fit ended (:mod:`scalinglab.fitting.status`: converged, stalled, max_iterations, failed;
    #: "not recorded" in a fit file older than this key)
    status: str = "not recorded"
    #: parameter -> why the curves do not determine it (:func:`scalinglab.fitting.identify.unidentified_parameters`)
    unidentified: dict[str, str] = field(default_factory=dict)
    #: parameter -> [low, high], the bootstrap percentile interval at ``level`` (empty without a bootstrap)
    ci: dict[str, list[float]] = field(default_factory=dict)

    def curve(self, lrs: Array, steps: Array) -> tuple[Array, Array, Array]:
        """Predicted loss and interval (low, high) at ``steps`` (1-based) of per-step ``lrs``."""
        idx = np.asarray(steps, dtype=int) - 1
        s1, s2 = forward_area(lrs)[idx], annealing_area(lrs, self.decay)[idx]
        theta = np.array([self.params[k] for k in PARAMS])
        mid = predict_loss(theta, s1, s2)
        if len(self.draws) == 0:
            return mid, mid.copy(), mid.copy()
        rng = np.random.default_rng(0)
        noise = np.exp(rng.choice(self.log_residuals, size=(len(self.draws), 1)))
        sims = predict_loss(self.draws, s1, s2) * noise
        q = (1 - self.level) / 2
        return mid, np.quantile(sims, q, axis=0), np.quantile(sims, 1 - q, axis=0)

    def schedule(self, text: str | Schedule, steps: int | None = None) -> Schedule:
        """A description with its unset fields from ``steps`` and the fitted runs' defaults."""
        sched = text if isinstance(text, Schedule) else parse_schedule(text)
        d = self.defaults
        return sched.filled(steps=steps, warmup=d["warmup"], peak=d["peak"], final=d["final"])

    def predict(self, schedule: str | Schedule, steps: int | None = None, every: int | None = None) -> dict:
        """The predicted curve of a schedule: ``step``, ``loss``, ``low``, ``high`` (nats/token) every
        ``every`` steps (default a hundredth of the run) and at the last step."""
        sched = self.schedule(schedule, steps)
        lrs = schedule_lrs(sched)
        T = lrs.size
        every = max(1, T // 100) if every is None else int(every)
        at = np.unique(np.append(np.arange(every, T + 1, every), T))
        mid, low, high = self.curve(lrs, at)
        return {"schedule": sched.text(), "steps": T, "step": at.tolist(), "loss": mid.tolist(),
                "low": low.tolist(), "high": high.tolist(), "lr": lrs[at - 1].tolist()}

    def to_dict(self) -> dict:
        return {"law": "lr_schedule", "formula": "L(s) = L0 + A*S1^-alpha - C*S2", "source": SOURCE,
                "units": UNITS, "params": self.params,
                "decay": self.decay, "defaults": self.defaults, "runs": self.runs, "n_points": self.n_points,
                "converged": self.converged, "mare": self.mare, "level": self.level,
                "interval": "pairs bootstrap over points within runs, times a resampled log residual",
                "draws": np.asarray(self.draws).tolist(), "log_residuals": np.asarray(self.log_residuals).tolist(),
                "notes": self.notes, "status": self.status, "unidentified": list(self.unidentified),
                "unidentified_why": dict(self.unidentified), "ci": {k: list(v) for k, v in self.ci.items()}}

    @classmethod
    def from_dict(cls, d: Any, name: str = "fit") -> ScheduleFit:
        """Read back :meth:`to_dict` (a one-line ScalingLabError for anything else)."""
        if not isinstance(d, dict) or d.get("law") != "lr_schedule":
            raise ScalingLabError(f"{name}: not a schedule-law fit (law 'lr_schedule' expected); "
                                  f"write one with 'scalinglab schedule fit DATA --out FILE'")
        try:
            params = {k: finite_number(f"{name} params.{k}", d["params"][k]) for k in PARAMS}
            draws = np.asarray(d.get("draws", []), dtype=float).reshape(-1, 4)
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
                   float(d.get("level", LEVEL)), list(d.get("notes", [])), str(d.get("status", "not recorded")),
                   {str(k): str(v) for k, v in dict(why).items()}, ci)


def _defaults(curves: list[Curve]) -> dict[str, float]:
    """Peak LR, warmup steps and final LR a description takes when it names none: the largest peak
    of the runs, that run's warmup, and the lowest final LR of a run that decays (else peak/10)."""
    top = max(curves, key=lambda c: float(c.lrs.max()))
    peak = float(top.lrs.max())
    finals = [float(c.lrs[-1]) for c in curves if c.lrs[-1] < 0.999 * c.lrs.max()]
    return {"peak": peak, "warmup": float(warmup_end(top.lrs)) if top.lrs[0] < peak else 0.0,
            "final": min(finals) if finals else 0.1 * peak}


def fit_schedule_law(curves: Any, *, decay: float = DEFAULT_DECAY, bootstrap: int = 200, seed: int = 0,
                     after_warmup: bool = True, name: str = "curves", params: float | None = None) -> ScheduleFit:
    """Fit L(s) = L0 + A S1^-alpha - C S2 (``references.md L1``) to the curves of one model size.

    ``curves``: a table path, a DataFrame (see :func:`load_schedule_curves`) or a list of
    :class:`Curve`. ``decay``: lambda of S2 (Tissue et al.'s 0.999). Points from the end of the warmup
    on are fitted (``after_warmup``). ``bootstrap`` pairs-bootstrap draws for the interval. ``params``:
    the model size to fit in a table (or run store) of several; the fit's notes name the size fitted.
    """
    lam = finite_number("decay", decay, low=0.0, high=1.0, high_open=True)
    B, rng = bootstrap_count(bootstrap), np.random.default_rng(seed_number(seed))
    runs = curves if isinstance(curves, list) else load_schedule_curves(curves, name, params)
    if not runs or not all(isinstance(c, Curve) for c in runs):
        raise ScalingLabError(f"{name}: give a table of curves or a list of Curve")
    s1, s2, y, run = _design(runs, lam, after_warmup)
    if y.size < 5:
        raise FitError(f"{name}: {y.size} points after warmup; the law has 4 parameters, give at least 5")
    logy = np.log(y)
    res = _fit_theta(s1, s2, logy, _starts(s1, s2, y))
    ok = np.isfinite(res.value)
    if not ok.any():
        raise FitError(f"{name}: no start of the schedule law reached a finite objective")
    best = int(np.argmin(np.where(ok, res.value, np.inf)))
    theta = res.theta[best]
    pred = predict_loss(_external(theta), s1, s2)
    resid = np.log(pred) - logy
    draws = np.empty((0, 4))
    if B:
        W = np.zeros((B, y.size))
        for k in np.unique(run):
            idx = np.flatnonzero(run == k)
            for b in range(B):
                W[b] += np.bincount(rng.choice(idx, idx.size), minlength=y.size)
        boot = _fit_theta(s1, s2, logy, np.repeat(theta[None], B, axis=0), W)
        draws = _external(boot.theta[np.isfinite(boot.value)])
    sizes = sorted({c.size for c in runs if c.size is not None})
    notes = [f"runs of model size {', '.join(f'{v:.12g}' for v in sizes)} (the table's size column; a run "
             "store's: parameters with embeddings)"] if sizes else []
    if s2.max() <= 0:
        notes.append("no fitted run anneals (S2 = 0 throughout): C is not identified; fit a run that decays")
    params = dict(zip(PARAMS, (float(v) for v in _external(theta))))
    X = {FORWARD: s1, ANNEALING: s2}
    status = fit_status(LAW, theta, float(res.value[best]), X, logy, HUBER, bool(res.converged[best]))
    ci = _percentile_intervals(draws, LEVEL)
    why = unidentified_parameters(LAW, theta, X, logy, LEVEL, ci or None, _starts(s1, s2, y))
    return ScheduleFit(params, lam, draws, resid, _defaults(runs), [c.name for c in runs], int(y.size),
                       bool(res.converged[best]), float(np.mean(np.abs(pred / y - 1))), notes=notes,
                       status=str(status), unidentified=why, ci=ci)


def _percentile_intervals(draws: Array, level: float) -> dict[str, list[float]]:
    """Parameter -> [low, high]: the (1 -/+ level)/2 quantiles of the bootstrap draws (none with fewer than 2)."""
    if len(draws) < 2:
        return {}
    q = (1 - level) / 2
    lo, hi = np.quantile(draws, [q, 1 - q], axis=0)
    return {k: [float(a), float(b)] for k, a, b in zip(PARAMS, lo, hi)}


def compare_schedules(fit: ScheduleFit, schedules: list[str], steps: int) -> dict:
    """Predicted final loss (with interval) of each schedule over the same ``steps``; ``best`` the
    lowest, ``p_best`` the share of bootstrap draws in which each schedule is lowest."""
    if not isinstance(fit, ScheduleFit):
        raise ScalingLabError(f"fit must be a schedule-law fit (fit_schedule_law), got {type(fit).__name__}")
    schedules = as_list("schedules", schedules)
    steps = whole_number("steps", steps, minimum=1)
    rows, finals = [], []
    for text in schedules:
        sched = fit.schedule(text, steps)
        lrs = schedule_lrs(sched)
        mid, low, high = fit.curve(lrs, np.array([lrs.size]))
        s1, s2 = forward_area(lrs)[-1:], annealing_area(lrs, fit.decay)[-1:]
        finals.append(predict_loss(fit.draws, s1, s2)[:, 0] if len(fit.draws) else mid)
        rows.append({"schedule": sched.text(), "final_loss": float(mid[0]), "low": float(low[0]),
                     "high": float(high[0])})
    wins = np.bincount(np.argmin(np.vstack(finals), axis=0), minlength=len(rows)) / len(finals[0])
    for row, p in zip(rows, wins):
        row["p_best"] = float(p)
    best = min(rows, key=lambda r: r["final_loss"])["schedule"]
    return {"steps": int(steps), "schedules": rows, "best": best}


def save_schedule_fit(fit: ScheduleFit, path: str) -> None:
    """Write :meth:`ScheduleFit.to_dict` as JSON, atomically (the file appears whole or not at all)."""
    atomic_write_text(table_path("fit file", path), json.dumps(fit.to_dict(), indent=1, allow_nan=False) + "\n")


def load_schedule_fit(path: str) -> ScheduleFit:
    """Read a fit written by :func:`save_schedule_fit` (one-line ScalingLabError if unreadable)."""
    p = table_path("law", path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScalingLabError(f"{path}: cannot read the fit ({exc.strerror or exc})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScalingLabError(f"{path}: not JSON ({type(exc).__name__})") from None
    return ScheduleFit.from_dict(data, str(path))
