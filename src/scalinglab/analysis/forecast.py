"""Forecast a run's final loss from the first part of its learning curve.

A *learning-curve table* is a runs table (:func:`scalinglab.load_runs`) with a ``run`` column (the
run id, text) and, per evaluation, ``tokens`` (tokens seen) and/or ``step`` (optimiser steps) and
``loss`` (validation loss, nats/token); ``params`` (parameter count, as the data count it) is needed
by the forms that depend on model size. A lab run store (``runs.db``) is read evaluation by
evaluation (its ``metrics`` table: ``run`` = the store's run id, ``loss`` = val_loss, ``params``
with embeddings), unfinished runs included, so a run in progress can be forecast.

Forms (x is ``tokens`` or ``step``, chosen by ``x=``; L in nats/token):

* ``"saturating"``: L(x) = E + A x^(-alpha), a power law that saturates at E (Henighan et al. 2020,
  eq. 1.1; the ``power_floor`` family), fitted to the target run alone.
* ``"kaplan_ns"``: L(N, S) = (N_c/N)^alpha_N + (S_c/S)^alpha_S (Kaplan et al. 2020, eq. 1.6 / 5.6,
  Table 3; the ``kaplan_ns`` family) with S = x. On one run N is constant, so this is the saturating
  form with E = (N_c/N)^alpha_N: N_c and alpha_N are not separately identified (the fit notes it).
* ``"shared"``: one law fitted jointly to the OTHER runs' whole curves plus the target's first part
  (:func:`scalinglab.analysis.forecast_shared.forecast_shared`, law chosen by ``shared_law=``):
  ``"exponent"`` (default): L_r(x) = E_r + B_r x^(-beta), beta shared, floor and amplitude per run;
  ``"chinchilla"``: L(N, x) = E + A/N^alpha + B/x^beta all shared (Hoffmann et al. 2022 eq. 2 with
  D = x seen so far); ``"kaplan_ns"``: Kaplan's L(N, S) shared. The last two need ``params``.

Each law's time variable is filled with the chosen x: with ``x="step"`` the ``tokens`` slot (D) of the
saturating and chinchilla laws holds steps; with ``x="tokens"`` Kaplan's S holds tokens (S_c is then
in tokens, since tokens = batch x steps at a fixed batch). Fits are made on ln L (robust Huber loss,
:func:`scalinglab.fitting`) with a row bootstrap. The fit window is every point with
x <= fraction * the curve's last x; the forecast is at the curve's last x, or at ``final=``.

Interval (``low``, ``high``): a prediction interval for the *observed* final loss, from B bootstrap
fits: ln L_b(x_final) + s * t_b, with t_b drawn from Student's t (m - p degrees of freedom, m fitted
points, p parameters; seeded) and s the residual standard deviation of ln L,
s = sqrt(sum r^2 / (m - p)); the ``level`` percentile interval of those B values. So it holds
parameter uncertainty and curve noise, but not a misfit of the form itself (below). The ``shared``
forms calibrate s on how far whole other runs are missed (see :mod:`.forecast_shared`). On simulated
curves (iid log-normal noise) the 95% interval covers the observed final loss 0.95-0.98 of the time.

What the forms cannot capture: a learning-rate schedule. Warmup makes the first points too high
(they bend the fit), and a cosine or linear decay to a small rate makes the end of a curve drop
faster than any power law in x extrapolated from the middle, so early forecasts of decayed runs come
out too high and their intervals too narrow. Loss spikes and data repetition (several epochs) are not
modelled either. :mod:`scalinglab.analysis.forecast_backtest` measures this on real curves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pandas as pd

from scalinglab.analysis.forecast_core import (
    _LAWS,
    FORMS,
    X_CHOICES,
    Forecast,
    _check_options,
    _curve_rows,
    _finish,
    _fit,
    _fit_table,
    _noise_sd,
    _target_id,
    _window,
    curve_ids,
    load_curves,
    predictive_interval,
)
from scalinglab.analysis.forecast_shared import forecast_shared
from scalinglab.errors import ScalingLabError
from scalinglab.io import Runs

__all__ = ["FORMS", "X_CHOICES", "Forecast", "curve_ids", "forecast_run", "load_curves",
           "predictive_interval"]


def forecast_run(curve: Runs | pd.DataFrame | str | os.PathLike, *, fraction: float = 0.3,
                 form: str = "saturating", x: str = "tokens", bootstrap: int = 200, seed: int = 0,
                 level: float = 0.95, final: float | None = None, run: str | int | None = None,
                 shared_law: str = "exponent", columns: Mapping[str, str] | None = None) -> Forecast:
    """Fit the first ``fraction`` of a learning curve (points with x <= fraction * the curve's last x)
    and predict the loss at the curve's last x, or at ``final`` (a token or step count, per ``x``).

    ``curve``: a table of one curve, or of several with ``run=`` naming the target. ``form``: one of
    :data:`FORMS` (see the module docstring; ``"shared"`` calls
    :func:`~scalinglab.analysis.forecast_shared.forecast_shared` with ``law=shared_law``). Interval: see
    the module docstring. Same seed, same answer. Raises ScalingLabError (FitError for too few points)
    with a one-line message naming the table, run and column."""
    if form not in FORMS:
        raise ScalingLabError(f"unknown forecast form {form!r}: choose one of {', '.join(FORMS)}")
    if form == "shared":
        return forecast_shared(curve, run=run, fraction=fraction, law=shared_law, x=x, bootstrap=bootstrap,
                               seed=seed, level=level, final=final, columns=columns)
    _check_options(fraction, level, final)
    runs = load_curves(curve, columns)
    run_id = _target_id(runs, run)
    notes: list[str] = []
    rows = _curve_rows(runs, run_id, x, notes)
    name = runs.source + ("" if run_id is None else f", run {run_id!r}")
    fitted, x_final, observed = _window(rows, x, fraction, final, name)
    result = _fit(_fit_table(fitted, x, form, name), form, bootstrap, seed, level, name, len(fitted))
    params = float(fitted["params"].iloc[-1]) if _LAWS[form][2] else None
    dof = len(fitted) - result.family.n_params
    return _finish(result, run_id=run_id, form=form, law=form, x=x, fraction=fraction, fitted=fitted,
                   x_final=x_final, observed=observed, noise_sd=_noise_sd(result), dof=dof, level=level,
                   seed=seed, params=params, notes=notes)
