"""The two forms of the schedule law that :func:`scalinglab.analysis.fit_schedule_law` fits (``form``):

- ``tissue``: L(s) = L0 + A S1^-alpha - C S2 (Tissue et al. 2024, Eq. 1; references.md L1), S1 the
  LR area and S2 the annealing area with momentum decay lambda (:mod:`scalinglab.laws.lr_schedule`);
- ``multi-power``: L(t) = L0 + A (S1 + S_W)^-alpha - LD(t) (Luo et al. 2025, Eq. 1; references.md
  L2), LD the sum of power-law loss drops after each LR decrease (:mod:`scalinglab.laws.multi_power`).

For each: its parameters, the design of a set of evaluation points (what the formula reads of the
per-step learning rates), ln L and its Jacobian in internal parameters, bounds and starts for the fit.
Units: steps are optimiser steps, losses nats/token, LR areas LR x steps (each law's module gives the
units of its constants).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalinglab.analysis.lr_schedules import annealing_area, forward_area
from scalinglab.errors import ScalingLabError
from scalinglab.fitting.identify import unidentified_parameters
from scalinglab.fitting.objective import Objective
from scalinglab.fitting.status import fit_status
from scalinglab.laws.lr_schedule import ANNEALING, FORWARD, LRSchedule
from scalinglab.laws.multi_power import MultiPower, mpl_design, mpl_log_predict, mpl_starts

Array = np.ndarray
TISSUE_LAW, MPL_LAW = LRSchedule(), MultiPower()


@dataclass(frozen=True)
class Form:
    """One form: its ``name`` (``--form``), registered law family ``law``, natural ``params``,
    ``formula``, ``source`` and ``units`` (of each quantity)."""

    name: str
    law: str
    params: tuple[str, ...]
    formula: str
    source: str
    units: dict[str, str]


_COMMON = {"step": "optimiser steps", "loss": "nats/token",
           "S1": "learning rate x steps (sum of the LR up to the step, warmup included)",
           "L0": "nats/token (loss as the LR area grows, before annealing)", "A": "nats/token x (LR x steps)^alpha",
           "alpha": "dimensionless exponent of S1"}
FORMS = {
    "tissue": Form("tissue", "lr_schedule", ("L0", "A", "alpha", "C"), "L(s) = L0 + A*S1^-alpha - C*S2",
                   "Tissue et al. 2024, Scaling Law with Learning Rate Annealing, Eq. 1 (arXiv:2408.11029); "
                   "S2 momentum m_i = lambda m_(i-1) + (eta_(i-1) - eta_i)",
                   {**_COMMON, "S2": "learning rate x steps (annealing area)",
                    "C": "nats/token per LR x step of annealing area"}),
    "multi-power": Form("multi-power", "multi_power", ("L0", "A", "alpha", "B", "C", "beta", "gamma"),
                        "L(t) = L0 + A*(S1+S_W)^-alpha - B*sum_k (eta_(k-1) - eta_k)*(1 - (C*eta_k^-gamma*S_k(t) "
                        "+ 1)^-beta)",
                        "Luo et al. 2025, A Multi-Power Law for Loss Curve Prediction Across Learning Rate "
                        "Schedules, Eq. 1 (arXiv:2503.12811)",
                        {**_COMMON, "S_k": "learning rate x steps (LR area from step k to t)",
                         "B": "nats/token per unit LR decrease (the most a decrease can lower the loss)",
                         "C": "per LR^(1-gamma) x steps (C eta^-gamma S_k is dimensionless)",
                         "beta": "dimensionless (power of the loss drop's saturation in S_k)",
                         "gamma": "dimensionless (exponent of the LR after a decrease)"}),
}


def get_form(name: Any) -> Form:
    """The form named ``name`` (``tissue`` or ``multi-power``), else a one-line ScalingLabError."""
    key = str(name).strip().lower().replace("_", "-") if isinstance(name, str) else None
    if key not in FORMS:
        raise ScalingLabError(f"form must be one of {', '.join(FORMS)}, got {name!r}")
    return FORMS[key]


def form_design(form: Form, lrs: Sequence[Array], steps: Array, run: Array, decay: float) -> Any:
    """What ``form`` reads at evaluation ``steps`` (1-based) of runs ``run`` (indices into ``lrs``): the
    areas (S1, S2) for ``tissue``, an :class:`~scalinglab.laws.multi_power.MPLDesign` otherwise."""
    steps, run = np.asarray(steps, dtype=int), np.asarray(run, dtype=int)
    if form.name == "multi-power":
        return mpl_design(list(lrs), steps, run)
    s1, s2 = np.empty(steps.size), np.empty(steps.size)
    for r in np.unique(run):
        at = np.flatnonzero(run == r)
        s1[at] = forward_area(lrs[r])[steps[at] - 1]
        s2[at] = annealing_area(lrs[r], decay)[steps[at] - 1]
    return s1, s2


def log_predict(form: Form, theta: Array, design: Any, jac: bool = False) -> Any:
    """ln L (S, n) for internal ``theta`` (S, P), nan where L <= 0; with ``jac`` also (S, P, n)."""
    if form.name == "multi-power":
        return mpl_log_predict(theta, design, jac)
    s1, s2 = design
    return TISSUE_LAW.log_predict(np.atleast_2d(theta), {FORWARD: s1, ANNEALING: s2}, jac)


def to_internal(form: Form, natural: Array) -> Array:
    """Natural parameter rows (..., P) (amplitudes as such) to internal ones (log amplitudes)."""
    law = MPL_LAW if form.name == "multi-power" else TISSUE_LAW
    rows = np.atleast_2d(np.asarray(natural, dtype=float))
    return np.array([law.from_natural(dict(zip(form.params, r))) for r in rows]).reshape(np.shape(natural))


def to_natural(form: Form, theta: Array) -> Array:
    """Internal rows (..., P) to natural ones in the order of ``form.params``."""
    law = MPL_LAW if form.name == "multi-power" else TISSUE_LAW
    nat = law.to_natural(np.asarray(theta, dtype=float))
    return np.stack([np.asarray(nat[k], dtype=float) for k in form.params], axis=-1)


def predict(form: Form, natural: Array, design: Any) -> Array:
    """The loss (nats/token) for natural parameters ``natural`` (P,) or rows (S, P): (n,) or (S, n)."""
    p = np.asarray(natural, dtype=float)
    with np.errstate(all="ignore"):
        out = np.exp(log_predict(form, to_internal(form, np.atleast_2d(p)), design))
    return out[0] if p.ndim == 1 else out


def bounds(form: Form, y: Array) -> tuple[Array, Array]:
    """Box of the internal parameters: L0 from 0 to the lowest loss; the family's box for the rest
    (``tissue``: ln A in [-50, 50], alpha in [1e-3, 5], C in [0, 1e12])."""
    if form.name == "multi-power":
        lo, hi = MPL_LAW.bounds()
        hi = hi.copy()
        hi[0] = float(y.min())
        return lo, hi
    return np.array([0.0, -50.0, 1e-3, 0.0]), np.array([float(y.min()), 50.0, 5.0, 1e12])


def starts(form: Form, design: Any, y: Array) -> Array:
    """A grid of internal starts (:func:`scalinglab.laws.multi_power.mpl_starts` for ``multi-power``)."""
    if form.name == "multi-power":
        return mpl_starts(design, y, bounds(form, y))
    s1, s2 = design
    rows = []
    mid = int(np.argsort(s1)[s1.size // 2])
    c_scale = 0.1 * float(np.ptp(y)) / max(float(s2.max()), 1e-300)
    for share in (0.3, 0.7, 0.9):
        for alpha in (0.1, 0.3, 0.6, 1.0, 1.5):
            L0 = share * float(y.min())
            lnA = math.log(max(float(y[mid]) - L0, 1e-6)) + alpha * math.log(s1[mid])
            rows += [[L0, lnA, alpha, 0.0], [L0, lnA, alpha, c_scale]]
    return np.array(rows)


def anneals(form: Form, design: Any) -> bool:
    """Whether any fitted point comes after an LR decrease (else the decay constants are not identified)."""
    if form.name == "multi-power":
        return bool(np.any(design.drop != 0))
    return bool(np.max(design[1]) > 0)


#: Huber on log residuals with delta 1e-3 (the schedule fits' loss; analysis.schedule.HUBER).
_HUBER = Objective("huber", 1e-3)


def percentile_intervals(form: Form, draws: Array, level: float) -> dict[str, list[float]]:
    """Parameter -> [low, high]: the (1 -/+ level)/2 quantiles of the bootstrap ``draws`` (natural
    parameters in the order of ``form.params``); none with fewer than 2 draws."""
    if len(draws) < 2:
        return {}
    q = (1 - level) / 2
    lo, hi = np.quantile(draws, [q, 1 - q], axis=0)
    return {k: [float(a), float(b)] for k, a, b in zip(form.params, lo, hi)}


def trust_checks(form: Form, theta: Array, value: float, design: Any, logy: Array, stopped: bool,
                 draws: Array, level: float) -> tuple[str, dict[str, str], dict[str, list[float]]]:
    """(status, unidentified, ci) of a schedule fit ending at internal ``theta``.

    ``tissue``: the tests of every ``sl.fit`` fit on the registered ``lr_schedule`` family (the
    first-order test of :func:`scalinglab.fitting.status.fit_status` and
    :func:`scalinglab.fitting.identify.unidentified_parameters`). ``multi-power``: the family reads
    each run's per-step LRs, so the status is the optimiser's own ending (``converged`` or ``stalled``)
    and only parameters on the box or with a bootstrap interval spanning orders of magnitude are named."""
    ci = percentile_intervals(form, draws, level)
    if form.name == "tissue":
        s1, s2 = design
        X = {FORWARD: s1, ANNEALING: s2}
        box = bounds(form, np.exp(logy))  # the fit's box (L0 up to the lowest loss), not the family's
        status = fit_status(TISSUE_LAW, theta, value, X, logy, _HUBER, stopped, box)
        why = unidentified_parameters(TISSUE_LAW, theta, X, logy, level, ci or None,
                                      starts(form, design, np.exp(logy)), box)
        return str(status), why, ci
    lo, hi = bounds(form, np.exp(logy))
    why = {name: "on a bound of its box" for name, t, a, b in zip(form.params, theta, lo, hi) if t <= a or t >= b}
    for name, (a, b) in ci.items():
        if name not in why and (a <= 0 < b or (a > 0 and b / a > 100)):
            why[name] = f"its {100 * level:g}% bootstrap interval [{a:.3g}, {b:.3g}] reaches zero or spans orders of magnitude"
    return ("converged" if stopped and np.isfinite(value) else "stalled"), why, ci
