"""Held-out checks of the schedule law (Tissue et al. 2024, references.md L1, or Luo et al. 2025's
multi-power law, references.md L2: ``form``): fit some runs of one model size, predict the others'
whole curves from their own learning rates, and score the predictions (:func:`holdout_check`, runs
named by the user); and the backtest (:func:`schedule_backtest`), which holds out the longest run, or,
when no run is the longest, the last part of every curve.

Scores per held-out run: the mean absolute relative error |pred/obs - 1| over its evaluations from the
end of its warmup on (a fraction), the predicted and observed final loss (nats/token), their relative
error, and whether the observed final loss lies in the fit's 95% interval
(:meth:`scalinglab.analysis.schedule.ScheduleFit.curve`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from scalinglab.analysis.lr_schedules import DEFAULT_DECAY, warmup_end
from scalinglab.analysis.schedule import Curve, ScheduleFit, fit_schedule_law, load_schedule_curves
from scalinglab.analysis.schedule_forms import get_form
from scalinglab.errors import ScalingLabError, as_list, finite_number

__all__ = ["DEFAULT_TAIL", "holdout_check", "schedule_backtest", "score_curve"]

#: The share of every curve's steps the backtest holds out when no run is the longest.
DEFAULT_TAIL = 0.2


def score_curve(fit: ScheduleFit, curve: Curve, after: float | None = None) -> dict[str, Any]:
    """The fit's prediction of one observed curve, scored (module docstring): its evaluations from the
    end of its warmup on, or only those after step ``after`` when given."""
    keep = curve.steps >= warmup_end(curve.lrs)
    if after is not None:
        keep &= curve.steps > after
    if not keep.any():
        raise ScalingLabError(f"run {curve.name!r} has no evaluation after its warmup"
                              + (f" and step {after:g}" if after is not None else ""))
    steps, loss = curve.steps[keep].astype(int), curve.loss[keep]
    mid, low, high = fit.curve(curve.lrs, steps)
    return {"run": curve.name, "n_points": int(steps.size), "mare": float(np.mean(np.abs(mid / loss - 1))),
            "final_step": int(steps[-1]), "final_loss": float(mid[-1]), "observed_final": float(loss[-1]),
            "error": float(mid[-1] / loss[-1] - 1), "low": float(low[-1]), "high": float(high[-1]),
            "inside": bool(low[-1] <= loss[-1] <= high[-1])}


def holdout_check(data: Any, train: Sequence[str], *, decay: float = DEFAULT_DECAY, bootstrap: int = 200,
                  seed: int = 0, name: str = "curves", params: float | None = None,
                  form: str = "tissue") -> dict[str, Any]:
    """Fit the runs named in ``train`` (the ``run`` column of ``data``; a run store's run ids), score every
    other run (of model size ``params`` where ``data`` holds several, as in :func:`load_schedule_curves`).

    Returns ``train``, ``form``, ``params``, ``fit_mare``, ``runs`` (one :func:`score_curve` row per held-out
    run), ``coverage`` (share of held-out final losses inside their interval) and
    ``max_abs_final_error``.
    """
    get_form(form)
    wanted = [str(t) for t in as_list("train", train)]
    curves = load_schedule_curves(data, name, params)
    names = [c.name for c in curves]
    missing = [t for t in wanted if t not in names]
    if missing:
        raise ScalingLabError(f"{name}: no run named {', '.join(map(repr, missing))}; runs: {', '.join(names)}")
    held = [c for c in curves if c.name not in wanted]
    if not held:
        raise ScalingLabError(f"{name}: every run is in --train; leave at least one out to check")
    fit = fit_schedule_law([c for c in curves if c.name in wanted], decay=decay, bootstrap=bootstrap, seed=seed,
                           name=name, form=form)
    rows = [score_curve(fit, c) for c in held]
    return {"train": wanted, "form": fit.form, "params": fit.params, "decay": fit.decay, "fit_mare": fit.mare,
            "runs": rows,
            "coverage": float(np.mean([r["inside"] for r in rows])),
            "max_abs_final_error": float(max(abs(r["error"]) for r in rows)), "notes": fit.notes,
            "status": fit.status, "unidentified": list(fit.unidentified), "ci": fit.ci}


def _trust(fit: ScheduleFit) -> dict[str, Any]:
    """The training fit as a backtest reports it: constants, their intervals, status and identifiability."""
    return {"params": fit.params, "ci": fit.ci, "level": fit.level, "status": fit.status,
            "converged": fit.converged, "unidentified": list(fit.unidentified),
            "unidentified_why": dict(fit.unidentified), "mare": fit.mare, "n_points": fit.n_points, "runs": fit.runs}


def _cut(curve: Curve, after: float) -> Curve:
    """The curve's evaluations up to step ``after`` (its learning rates whole: the schedule is known ahead)."""
    keep = curve.steps <= after
    return Curve(curve.name, curve.steps[keep], curve.loss[keep], curve.lrs, curve.size)


def schedule_backtest(data: Any, *, tail: float = DEFAULT_TAIL, decay: float = DEFAULT_DECAY, bootstrap: int = 200,
                      seed: int = 0, name: str = "curves", params: float | None = None) -> dict[str, Any]:
    """Backtest of the schedule law on the curves of ``data`` (a table, a run store or a list of
    :class:`Curve`, one model size: ``params`` as in :func:`load_schedule_curves`): hold out the longest run (the largest last step, when one run alone
    has it and another remains to fit), else the last ``tail`` share of every curve's steps (each curve
    fitted up to step (1 - tail) x its last step, with its whole learning-rate schedule known); predict
    the held-out evaluations and score them with :func:`score_curve`.

    Returns ``holdout`` ("longest run" or "last part of each curve"), ``tail`` (the share, None for
    the longest run), ``train`` (runs fitted), ``held_out`` (runs scored), ``fit`` (the training fit's
    ``params``, ``ci`` (bootstrap percentile intervals at ``level``), ``level``, ``status``,
    ``converged``, ``unidentified``, ``unidentified_why``, ``mare``, ``n_points``, ``runs``), ``runs``
    (one :func:`score_curve` row per held-out run: loss and interval in nats/token, errors as
    fractions), ``mare`` (mean over the held-out runs' rows), ``coverage`` (share of held-out final
    losses inside their interval), ``max_abs_final_error`` and ``notes``."""
    share = finite_number("tail", tail, low=0.0, high=1.0, low_open=True, high_open=True)
    curves = data if isinstance(data, list) else load_schedule_curves(data, name, params)
    if not curves or not all(isinstance(c, Curve) for c in curves):
        raise ScalingLabError(f"{name}: give a table of curves or a list of Curve")
    lasts = np.array([float(c.steps[-1]) for c in curves])
    longest = np.flatnonzero(lasts == lasts.max())
    if len(curves) >= 2 and longest.size == 1:
        held = [curves[int(longest[0])]]
        train = [c for c in curves if c is not held[0]]
        fit = fit_schedule_law(train, decay=decay, bootstrap=bootstrap, seed=seed, name=name)
        rows, how, kept = [score_curve(fit, held[0])], "longest run", None
    else:
        cuts = {c.name: (1.0 - share) * float(c.steps[-1]) for c in curves}
        train = [_cut(c, cuts[c.name]) for c in curves]
        fit = fit_schedule_law([c for c in train if c.steps.size], decay=decay, bootstrap=bootstrap, seed=seed,
                               name=name)
        held = [c for c in curves if np.any(c.steps > cuts[c.name])]
        rows, how, kept = [score_curve(fit, c, cuts[c.name]) for c in held], "last part of each curve", share
    return {"holdout": how, "tail": kept, "train": [c.name for c in train if c.steps.size],
            "held_out": [c.name for c in held], "fit": _trust(fit), "runs": rows,
            "mare": float(np.mean([r["mare"] for r in rows])),
            "coverage": float(np.mean([r["inside"] for r in rows])),
            "max_abs_final_error": float(max(abs(r["error"]) for r in rows)), "notes": list(fit.notes)}
