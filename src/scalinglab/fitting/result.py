"""FitResult: a fitted scaling law with its uncertainty, diagnostics and provenance.

Modelled on lmfit's and statsmodels' result objects: everything is an attribute, ``summary()`` prints a
readable report, ``predict`` gives point predictions (with bootstrap intervals when available), and
``save``/``load`` round-trip exactly through JSON.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalinglab.atomic import atomic_write_text
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError
from scalinglab.fitting.calibration import calibrated_log_bounds, summary_dict
from scalinglab.fitting.constraints import constraint_lines
from scalinglab.fitting.fit_file import FORMAT_VERSION, fit_fields, read_fit_json
from scalinglab.fitting.identify import stderr_flag
from scalinglab.fitting.objective import Objective
from scalinglab.fitting.predictive import log_prediction_bounds
from scalinglab.laws.base import LawFamily

Array = np.ndarray
#: interval= of :meth:`FitResult.predict`: the mean loss's parameter uncertainty (bootstrap percentile);
#: a new run's loss (parameters + run-to-run noise); that plus the law's misfit learned from its own
#: extrapolation errors (needs a calibration, :func:`scalinglab.analysis.calibrate`)
INTERVAL_METHODS = ("parameters", "prediction", "calibrated")


@dataclass(repr=False)
class Prediction(Displayed):
    """Predicted loss (nats/token) and, when the law carries bootstrap draws, a percentile interval.

    ``method``: what the interval covers (:data:`INTERVAL_METHODS`; None without an interval)."""

    _display = (("loss", "nats/token"), ("low", "nats/token"), ("high", "nats/token"), ("level", ""),
                ("method", ""))

    loss: Array
    low: Array | None = None
    high: Array | None = None
    level: float | None = None
    method: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"loss": _jsonable(self.loss)}
        if self.low is not None:
            out["low"] = _jsonable(self.low)
            out["high"] = _jsonable(self.high)
        return out


def percentile_interval(values: Array, level: float, axis: int = 0) -> tuple[Array, Array]:
    """Equal-tailed percentile interval at ``level`` of finite ``values`` along ``axis``."""
    tail = 50.0 * (1.0 - level)
    v = np.where(np.isfinite(values), values, np.nan)
    with np.errstate(invalid="ignore"):
        lo, hi = np.nanpercentile(v, [tail, 100.0 - tail], axis=axis)
    return lo, hi


def _jsonable(x: Any) -> Any:
    arr = np.asarray(x, dtype=float)
    return float(arr) if arr.ndim == 0 else arr.tolist()


@dataclass(repr=False)
class FitResult(Displayed):
    """A fitted law. Parameters are on the natural scale (E, A, B, alpha, beta for chinchilla)."""

    _display = (("law", ""), ("status", ""), ("n_points", "runs"), ("objective", ""),
                ("rmse_log", "ln(loss)"), ("params", "natural scale"), ("derived", ""),
                ("bootstrap", "resamples"))

    law: str
    family: LawFamily
    theta: Array  # internal parameters (log-scale amplitudes), shape (P,)
    params: dict[str, float]
    derived: dict[str, float]
    objective: float
    rmse_log: float  # root mean square of ln(predicted) - ln(observed)
    n_points: int
    converged: bool
    loss: str = "huber"
    delta: float = 1e-3
    n_starts: int = 0
    n_refined: int = 0
    n_at_best: int = 0
    at_bound: list[str] = field(default_factory=list)
    residuals: Array | None = None  # ln(predicted) - ln(observed), per point
    ci: dict[str, list[float]] = field(default_factory=dict)
    stderr: dict[str, float] = field(default_factory=dict)
    level: float = 0.95
    bootstrap: int = 0
    bootstrap_unit: str = "rows"
    bootstrap_converged: int = 0
    draws: Array | None = None  # (B, P) internal parameters of each bootstrap resample
    seed: int = 0
    source: str = ""
    notes: list[str] = field(default_factory=list)
    # the fitted runs' range: {"params": [min, max], "tokens": [...], "flops": [...]} for the quantities the
    # runs hold (flops = 6ND when not given); None when unknown (a fit file written before it was recorded)
    data_range: dict[str, list[float]] | None = None
    # how the fit ended (scalinglab.fitting.status.FitStatus value) and what the data do not determine
    status: str = "converged"
    unidentified: list[str] = field(default_factory=list)  # natural parameter names
    unidentified_why: dict[str, str] = field(default_factory=dict)  # name -> reason in words
    # the law's extrapolation errors measured on its own data (scalinglab.fitting.calibration); None: none
    calibration: dict[str, Any] | None = None
    # parameters held at a value (natural name -> value; no interval) and groups fitted as one value
    # (scalinglab.fitting.constraints); empty for a free fit
    fixed: dict[str, float] = field(default_factory=dict)
    tied: list[list[str]] = field(default_factory=list)

    # ---- prediction ---------------------------------------------------------------------
    def predict(self, *, interval: str = "parameters", **X: Any) -> Prediction:
        """Loss in nats/token at the given inputs (``params=``, ``tokens=``, ``flops=``, ``step=``).

        Inputs broadcast against each other. ``low``/``high`` at ``level`` by ``interval``:

        * ``"parameters"`` (default): with bootstrap draws, the percentile interval of the predicted
          (mean) loss, parameter uncertainty only; no interval without draws.
        * ``"prediction"``: the loss a new run would observe: bootstrap draws plus run-to-run noise
          (:mod:`scalinglab.fitting.predictive`, the same numbers as
          :func:`scalinglab.analysis.prediction_interval` with noise "t").
        * ``"calibrated"``: that, widened by the law's misfit as learned from its own extrapolation
          errors (:mod:`scalinglab.fitting.calibration`); needs a calibration
          (``sl.analysis.calibrate(result, runs)``, CLI ``fit --calibrate``)."""
        if interval not in INTERVAL_METHODS:
            raise ScalingLabError(f"interval must be one of {', '.join(INTERVAL_METHODS)}, got {interval!r}")
        point = self.family.predict_natural(self.params, **X)
        if interval != "parameters":
            return self._predictive(point, interval, X)
        if self.draws is None or len(self.draws) == 0:
            return Prediction(loss=point)
        flat, shape = self.family.flat_inputs(X)
        with np.errstate(over="ignore", invalid="ignore"):
            sims = np.exp(self.family.log_predict(self.draws, flat))
        low, high = percentile_interval(sims, self.level)
        return Prediction(loss=point, low=low.reshape(shape), high=high.reshape(shape), level=self.level,
                          method="parameters")

    def _predictive(self, point: Array, interval: str, X: dict[str, Any]) -> Prediction:
        """The "prediction" or "calibrated" interval of :meth:`predict`."""
        if interval == "calibrated" and self.calibration is None:
            raise ScalingLabError(f"this fit of {self.law} carries no calibration: attach one with "
                                  "sl.analysis.calibrate(result, runs) on the runs it was fitted to "
                                  "(CLI: scalinglab fit DATA --calibrate --out fit.json)")
        if self.residuals is None:
            raise ScalingLabError(f"fit of {self.law} carries no residuals: cannot estimate run-to-run noise")
        flat, shape = self.family.flat_inputs(X)
        _, lo, hi, _ = log_prediction_bounds(self.family, self.theta, self.draws, self.residuals, flat, self.level,
                                             self.n_free)
        if interval == "calibrated":
            lp = np.log(np.broadcast_to(point, shape)).ravel()
            lo, hi, _, _ = calibrated_log_bounds(self.calibration, lp, lo, hi, flat, self.level,
                                                     f"law {self.law}")
        return Prediction(loss=point, low=np.exp(lo).reshape(shape), high=np.exp(hi).reshape(shape),
                          level=self.level, method=interval)

    @property
    def n_free(self) -> int:
        """Parameters the fit estimated: the family's, less the fixed ones and all but one of each tied
        group (the p of the n - p residual degrees of freedom)."""
        return self.family.n_params - len(self.fixed) - sum(len(group) - 1 for group in self.tied)

    def draw_params(self) -> dict[str, Array]:
        """Natural-scale parameters (and derived quantities) of every bootstrap draw."""
        if self.draws is None:
            return {}
        nat = self.family.to_natural(self.draws)
        return {**nat, **self.family.derived(nat)}

    def plot(self, kind: str, runs: Any = None, *, ax: Any = None, **options: Any) -> Any:
        """Figure ``kind`` of ``scalinglab plot`` for this fit on ``ax`` (default: a new figure's); returns
        the matplotlib Axes (an array of them for residuals, bootstrap and frontier). Kinds: loss-params,
        loss-tokens, loss-flops, isoflop, residuals (these draw ``runs``), bootstrap, correlations,
        frontier (``budgets`` in FLOPs, ``references``); see :mod:`scalinglab.report.plotting_api`."""
        from scalinglab.report.plotting_api import draw  # lazy: matplotlib is an optional, heavy dependency

        return draw(self, kind, ax=ax, runs=runs, **options)

    # ---- reporting ----------------------------------------------------------------------
    def summary(self) -> str:
        """A readable report: law, data, objective, convergence, parameter table, notes."""
        lines = [f"scalinglab fit: {self.law}    {self.family.formula}",
                 f"  source          {self.source or '-'} ({self.n_points} points)",
                 f"  units           {self.family.units}",
                 f"  objective       {self._objective_text()} = {self.objective:.6e}",
                 f"  rmse (log)      {self.rmse_log:.4g}",
                 f"  status          {self.status}",
                 f"  converged       {'yes' if self.converged else 'NO'}: best of {self.n_starts:,} starts "
                 f"screened, {self.n_refined:,} refined, {self.n_at_best:,} reached the best objective"]
        if self.unidentified:
            lines.append(f"  UNIDENTIFIED    {', '.join(self.unidentified)}: the data do not determine "
                         f"{'it' if len(self.unidentified) == 1 else 'them'} (see notes)")
        if self.at_bound:
            lines.append(f"  at a bound      {', '.join(self.at_bound)}")
        if self.bootstrap:
            lines.append(f"  bootstrap       {self.bootstrap:,} resamples of {self.bootstrap_unit} "
                         f"(seed {self.seed}), {self.bootstrap_converged:,} converged; "
                         f"{100 * self.level:g}% percentile intervals")
        if {"params", "tokens", "flops"} & set(self.family.variables):
            span = _range_text(self.data_range)
        else:  # e.g. downstream_error (upstream_loss), lr_schedule (learning-rate areas)
            span = f"none in params, tokens or flops: law {self.law} reads {', '.join(self.family.variables)}"
        lines.append(f"  data range      {span}")
        lines += constraint_lines(self.fixed, self.tied)
        if self.calibration is not None:
            c = self.calibration
            lines.append(f"  calibration     {c['method']} on {c['x']}: misfit scale {c['s0']:.3g} + {c['s1']:.3g} "
                         f"per decade beyond {c['x_max']:.3g} ({len(c['error'])} errors from "
                         f"{len(c.get('origins', []))} refits); interval=\"calibrated\" available")
        lines += ["", f"  {'parameter':<12}{'value':>14}{'std err':>14}   {100 * self.level:g}% interval"]
        flagged = []  # absurd standard errors: (name, reason)
        for name, value in {**self.params, **self.derived}.items():
            if name == next(iter(self.derived), None):
                lines.append("  derived")
            if name in self.fixed:
                lines.append(f"  {name:<12}{value:>14.6g}{'fixed':>14}   none: held at this value, not fitted")
                continue
            se, ci, flag = self.stderr.get(name), self.ci.get(name), stderr_flag(value, self.stderr.get(name))
            flagged += [(name, flag[1])] if flag else []
            lines.append(f"  {name:<12}{value:>14.6g}{(f'{se:.4g}' if se is not None else '-'):>14}   "
                         + (f"[{ci[0]:.6g}, {ci[1]:.6g}]" if ci else "-")
                         + (f"  <- {flag[0]} std err (see notes)" if flag else ""))
        notes = self.identification_notes() + [f"{n}: {why}: the data hardly determine it; its value and "
                                               "interval say little" for n, why in flagged] + self.notes
        if notes:
            lines += ["", "  notes"] + [f"  - {n}" for n in notes]
        return "\n".join(lines)

    def identification_notes(self) -> list[str]:
        """One sentence per parameter the data do not determine, saying why."""
        return [f"{name} is not identified: {self.unidentified_why.get(name, 'see the fit')}"
                for name in self.unidentified]

    def _objective_text(self) -> str:
        return Objective(self.loss, self.delta).describe()

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        """One line: law, status, points, objective, parameters (4 significant digits), what is
        unidentified and the bootstrap size; ``summary()`` has the rest."""
        params = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        extra = f", unidentified={self.unidentified}" if self.unidentified else ""
        boot = f", bootstrap={self.bootstrap}" if self.bootstrap else ""
        return (f"FitResult(law={self.law!r}, status={self.status!r}, n_points={self.n_points}, "
                f"objective={self.objective:.4g}, params={{{params}}}{extra}{boot})")

    def report_dict(self) -> dict[str, Any]:
        """The compact JSON report printed by ``scalinglab fit --json`` (keys are a contract:
        law, params, ci, n_points, objective, rmse_log, converged; ci only with a bootstrap)."""
        d: dict[str, Any] = {"law": self.law, "params": self.params, "n_points": self.n_points,
                             "objective": self.objective, "rmse_log": self.rmse_log,
                             "converged": self.converged}
        if self.bootstrap:
            d["ci"] = {k: v for k, v in self.ci.items() if k in self.params}
            d["stderr"] = {k: v for k, v in self.stderr.items() if k in self.params}
            d["derived_ci"] = {k: v for k, v in self.ci.items() if k in self.derived}
            d["level"] = self.level
            d["bootstrap"] = self.bootstrap
        d.update(derived=self.derived, n_starts=self.n_starts, n_refined=self.n_refined,
                 n_at_best=self.n_at_best, at_bound=self.at_bound, notes=self.notes,
                 status=self.status, unidentified=list(self.unidentified),
                 unidentified_why=dict(self.unidentified_why))
        d["data_range"] = self.data_range
        d.update(fixed=dict(self.fixed), tied=[list(g) for g in self.tied])
        if self.calibration is not None:
            d["calibration"] = summary_dict(self.calibration, self.level)
        return d

    # ---- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this result; floats keep full precision in JSON."""
        return {
            "format": "scalinglab.fitting", "format_version": FORMAT_VERSION,
            "law": self.law, "family": self.family.spec(), "theta": self.theta.tolist(),
            "params": dict(self.params), "derived": dict(self.derived),
            "objective": self.objective, "rmse_log": self.rmse_log, "n_points": self.n_points,
            "converged": self.converged, "loss": self.loss, "delta": self.delta,
            "n_starts": self.n_starts, "n_refined": self.n_refined, "n_at_best": self.n_at_best,
            "at_bound": list(self.at_bound),
            "residuals": None if self.residuals is None else self.residuals.tolist(),
            "ci": {k: list(v) for k, v in self.ci.items()}, "stderr": dict(self.stderr),
            "level": self.level, "bootstrap": self.bootstrap, "bootstrap_unit": self.bootstrap_unit,
            "bootstrap_converged": self.bootstrap_converged,
            "draws": None if self.draws is None else self.draws.tolist(),
            "seed": self.seed, "source": self.source, "notes": list(self.notes),
            "data_range": None if self.data_range is None else {k: list(v) for k, v in self.data_range.items()},
            "status": self.status, "unidentified": list(self.unidentified),
            "unidentified_why": dict(self.unidentified_why),
            # written only when present, so a file without one reads in older scalinglab versions
            **({} if self.calibration is None else {"calibration": dict(self.calibration)}),
            **({"fixed": dict(self.fixed)} if self.fixed else {}),
            **({"tied": [list(g) for g in self.tied]} if self.tied else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], family: LawFamily | None = None) -> FitResult:
        """Rebuild from :meth:`to_dict`. A :class:`~scalinglab.laws.CustomLaw` fit needs its law
        object passed as ``family`` (a Python function cannot be stored in JSON); the checks are in
        :mod:`scalinglab.fitting.fit_file`."""
        kw = fit_fields(d, family)
        try:
            return cls(**kw)
        except (TypeError, ValueError) as exc:  # e.g. a key that is no field of a FitResult
            raise ScalingLabError(f"malformed fit file: {type(exc).__name__} {exc}") from None

    def save(self, path: str | os.PathLike) -> None:
        """Write the result as JSON (exact round trip with :meth:`load`), atomically
        (:mod:`scalinglab.atomic`: a failed write leaves ``path`` as it was)."""
        try:
            atomic_write_text(path, json.dumps(self.to_dict(), indent=1))
        except OSError as exc:
            raise ScalingLabError(f"{path}: cannot write fit ({exc.strerror})") from None

    @classmethod
    def load(cls, path: str | os.PathLike, family: LawFamily | None = None) -> FitResult:
        """Read a result written by :meth:`save` (pass ``family`` for a CustomLaw fit)."""
        d = read_fit_json(path)
        return cls.from_dict(d, family)


def _range_text(data_range: dict[str, list[float]] | None) -> str:
    """'params 1e+08 .. 1.3e+10, tokens ..., flops ...' or why no range is known."""
    if not data_range:
        return "unknown (not recorded in this fit, e.g. a file written by an older scalinglab): how far " \
               "an answer extrapolates cannot be said"
    return ", ".join(f"{k} {v[0]:.3g} .. {v[1]:.3g}" for k, v in data_range.items())
