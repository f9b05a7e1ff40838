"""Held-out check of the schedule law (Tissue et al. 2024, references.md L1, or Luo et al. 2025's
multi-power law, references.md L2: ``form``): fit some runs of one model size, predict the others'
whole curves from their own learning rates, and score the predictions.

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
from scalinglab.errors import ScalingLabError, as_list

__all__ = ["holdout_check", "score_curve"]


def score_curve(fit: ScheduleFit, curve: Curve) -> dict[str, Any]:
    """The fit's prediction of one observed curve, scored (module docstring)."""
    keep = curve.steps >= warmup_end(curve.lrs)
    if not keep.any():
        raise ScalingLabError(f"run {curve.name!r} has no evaluation after its warmup")
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
            "max_abs_final_error": float(max(abs(r["error"]) for r in rows)), "notes": fit.notes}
