"""Loss along a training run under any learning-rate schedule: the multi-power law (Luo et al. 2025;
references.md L2).

Luo, Wen, Hu, Sun, Liu, Sun, Lyu and Chen 2025, "A Multi-Power Law for Loss Curve Prediction Across
Learning Rate Schedules" (arXiv:2503.12811), Eq. 1 (the equation number and eta_0 as below are
[M] in references.md L2: the stored copies of the paper hold only its abstract; the authors' README and
code state this form):

    L(t) = L0 + A (S1(t) + S_W)^-alpha - LD(t),
    LD(t) = B sum_{k=1..t} (eta_{k-1} - eta_k) G(eta_k^-gamma S_k(t)),
    G(x) = 1 - (C x + 1)^-beta,   S_k(t) = sum_{tau=k..t} eta_tau,

with t and k counting the steps after the warmup, S1(t) = sum_{tau=1..t} eta_tau their LR sum, S_W the
warmup's LR sum (so S1(t) + S_W is the area under the whole LR curve up to t) and eta_0 the LR at the
end of the warmup (the peak). Every LR decrease eta_{k-1} - eta_k lowers the loss by up to
B (eta_{k-1} - eta_k), reached as the LR area after it, S_k(t), grows: a power law in S_k(t) with
exponent beta (the "multi-power" form). For a constant LR after warmup LD = 0 and the law is the power
law L0 + A S^-alpha in the LR area; a single drop from eta_a to eta_b after step k gives
LD(t) = B (eta_a - eta_b) (1 - (C eta_b^-gamma S_k(t) + 1)^-beta).

Steps here are counted from the start of the run (1..T); the warmup ends at :func:`warmup_end`, the
step where the LR first reaches its maximum, and LD sums the decreases after that step. (The authors'
code, thu-yao-01-luo/MultiPowerLaw ``src/models.py``, also sums the warmup's LR rises into LD, which
adds a nearly constant B x peak LR; this module follows the paper's definition.)

Units: eta the optimiser's learning rate; areas in LR x steps; L0 nats/token (the loss as the LR area
grows without limit at a constant LR); A nats/token x (LR x steps)^alpha; alpha dimensionless; B
nats/token per unit of LR decrease (the most a decrease can lower the loss, per unit LR); C per
LR^(1 - gamma) x steps (so that C x is dimensionless); beta dimensionless (how fast the drop saturates
in the LR area after it); gamma dimensionless (a smaller LR after the decrease saturates its drop
later, eta_k^-gamma). Internal parameters: (L0, ln A, alpha, ln B, ln C, beta, gamma).

The sum has t terms at step t, so a curve of T steps costs O(n T) at n evaluations: only the steps
where the LR changes contribute, and where a curve's points would need more than ``max_terms`` terms
in all (a long cosine: 188 points of a 24,000-step run need 2 million) the sum runs over blocks of
consecutive steps, each taken at its middle step with its summed LR decrease (the midpoint rule;
blocks never straddle an evaluation step; on a 24,000-step cosine the loss moves by under 1e-5
relative, tests/laws/test_laws_multi_power.py). The evaluation steps are the only ones computed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError, finite_array
from scalinglab.laws.base import Array, LawFamily

STEP, RUN = "step", "run"
#: The most loss-drop terms (summed over its evaluation points) one curve keeps before its sums are taken
#: over blocks of steps.
MAX_TERMS = 1 << 15
#: Elements of an (S, terms) work array computed at once (the starts are processed in chunks).
CHUNK = 1 << 21


def warmup_end(lrs: Array) -> int:
    """The step (1-based) at which the LR first reaches its maximum: the end of the warmup."""
    return int(np.argmax(lrs)) + 1


@dataclass(frozen=True)
class MPLDesign:
    """What the law needs of the evaluation points: ``area`` (n,) the LR area S1 + S_W up to each
    point; the loss-drop terms of every point, grouped by point: ``drop`` (the LR decrease of the step
    or block, eta_{k-1} - eta_k summed), ``eta`` (eta_k), ``after`` (S_k(t), the LR area from k to the
    point) and ``first``/``count`` (the terms of point j are first[j]:first[j] + count[j])."""

    area: Array
    drop: Array
    eta: Array
    after: Array
    first: Array
    count: Array

    @property
    def n(self) -> int:
        return int(self.area.size)

    def subset(self, rows: slice) -> MPLDesign:
        """The design of the points ``rows`` (a slice of 0..n; their terms are contiguous)."""
        lo, hi, _ = rows.indices(self.n)
        if lo == 0 and hi == self.n:
            return self
        t0 = int(self.first[lo]) if hi > lo else 0
        t1 = int(self.first[hi - 1] + self.count[hi - 1]) if hi > lo else 0
        return MPLDesign(self.area[lo:hi], self.drop[t0:t1], self.eta[t0:t1], self.after[t0:t1],
                         self.first[lo:hi] - t0, self.count[lo:hi])


def _blocks(k: Array, cuts: Array, max_terms: int) -> list[Array]:
    """The steps ``k`` (sorted) in groups of w consecutive entries (fewer at a cut), w the least width
    that keeps the terms of all points ``cuts`` within ``max_terms``; a group never straddles a cut (it
    lies wholly at or before each cut step or wholly after it)."""
    terms = int(np.searchsorted(k, cuts, side="right").sum())
    width = max(1, math.ceil(terms / max_terms))
    if width == 1:
        return [k[i:i + 1] for i in range(k.size)]
    pieces = np.split(k, np.searchsorted(k, cuts, side="right"))
    return [p[i:i + width] for p in pieces for i in range(0, p.size, width)]


def _curve_terms(lrs: Array, steps: Array, max_terms: int):
    """Per-point areas and loss-drop terms of one curve at ``steps`` (1-based)."""
    F = np.concatenate([[0.0], np.cumsum(lrs)])  # F[s] = LR area of steps 1..s
    W = warmup_end(lrs)
    d = np.zeros(lrs.size + 1)  # d[k] = eta_{k-1} - eta_k for step k (1-based), 0 up to the warmup's end
    d[W + 1:] = lrs[W - 1:-1] - lrs[W:]
    k = np.flatnonzero(d)
    blocks = _blocks(k, np.unique(steps), max_terms)
    mid = np.array([b[b.size // 2] for b in blocks], dtype=int)
    last = np.array([b[-1] for b in blocks], dtype=int)
    drop = np.array([d[b].sum() for b in blocks])
    count = np.searchsorted(last, steps, side="right")  # the blocks wholly at or before each point
    idx = np.concatenate([np.arange(c) for c in count]) if steps.size else np.empty(0, int)
    t_of = np.repeat(steps, count)
    return F[steps], drop[idx], lrs[mid[idx] - 1], F[t_of] - F[mid[idx] - 1], count


def mpl_design(lrs: Sequence[Array], steps: Array, run: Array | None = None,
               max_terms: int = MAX_TERMS) -> MPLDesign:
    """The design of evaluation ``steps`` (1-based, within their run's schedule) of runs ``run``
    (indices into ``lrs``, the per-step learning rates of each run; all 0 when None)."""
    steps = np.asarray(steps, dtype=int)
    run = np.zeros(steps.size, dtype=int) if run is None else np.asarray(run, dtype=int)
    area, count = np.empty(steps.size), np.zeros(steps.size, dtype=int)
    parts: list[Any] = [None] * steps.size  # (drop, eta, after) of each point
    for r in np.unique(run):
        at = np.flatnonzero(run == r)
        a, drop, eta, after, cnt = _curve_terms(np.asarray(lrs[r], dtype=float), steps[at], max_terms)
        area[at], count[at] = a, cnt
        bounds = np.concatenate([[0], np.cumsum(cnt)])
        for j, lo, hi in zip(at, bounds[:-1], bounds[1:]):
            parts[j] = (drop[lo:hi], eta[lo:hi], after[lo:hi])
    drop, eta, after = (np.concatenate([p[i] for p in parts]) if parts else np.empty(0) for i in range(3))
    first = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(int)
    return MPLDesign(area, drop, eta, after, first, count)


def _per_point(values: Array, design: MPLDesign) -> Array:
    """Sum (S, terms) values over each point's terms: (S, n), 0 for a point without terms."""
    out = np.zeros((values.shape[0], design.n))
    has = design.count > 0
    if has.any():
        out[:, has] = np.add.reduceat(values, design.first[has], axis=1)
    return out


def _loss_drop(theta: Array, design: MPLDesign, jac: bool):
    """LD / B summed per point, and with ``jac`` its derivatives in (ln C, beta, gamma): each (S, n)."""
    lnC, beta, gamma = theta[:, 4:5], theta[:, 5:6], theta[:, 6:7]
    rows = max(1, CHUNK // max(design.drop.size, 1))
    out = [np.empty((theta.shape[0], design.n)) for _ in range(4 if jac else 1)]
    # eta = 0 (an LR decayed to zero) is floored at the smallest normal float: x is then huge where LR
    # area follows (G = 1) and 0 where none does (S_k(t) = 0: log -inf, G = 0), the limits of G
    log_eta = np.log(np.maximum(design.eta, np.finfo(float).tiny))[None, :]
    with np.errstate(divide="ignore"):
        log_after = np.log(design.after)[None, :]
    for lo in range(0, theta.shape[0], rows):
        sl = slice(lo, lo + rows)
        log_cx = lnC[sl] - gamma[sl] * log_eta + log_after  # ln(C x), x = eta^-gamma S_k(t)
        log_u = np.logaddexp(0.0, log_cx)  # ln(1 + C x)
        q = np.exp(-beta[sl] * log_u)  # (C x + 1)^-beta
        out[0][sl] = _per_point(design.drop * (1.0 - q), design)
        if jac:
            h = beta[sl] * np.exp(log_cx - log_u) * q  # dG/d ln C = beta (C x / (1 + C x)) q
            out[1][sl] = _per_point(design.drop * h, design)
            out[2][sl] = _per_point(design.drop * log_u * q, design)  # dG/d beta
            out[3][sl] = _per_point(-design.drop * log_eta * h, design)  # dG/d gamma
    return out


def mpl_log_predict(theta: Array, design: MPLDesign, jac: bool = False):
    """ln L at the design's points for internal parameters ``theta`` (S, 7); nan where L <= 0. With
    ``jac`` also d ln L / d theta (S, 7, n): with P = A S^-alpha, LD = B sum d G,
    dL = (1, P, -P ln S, -LD, -B sum d dG/dlnC, -B sum d dG/dbeta, -B sum d dG/dgamma)."""
    theta = np.atleast_2d(np.asarray(theta, dtype=float))
    log_area = np.log(design.area)[None, :]
    L0, lnA, alpha, lnB = (theta[:, k:k + 1] for k in range(4))
    with np.errstate(all="ignore"):
        power = np.exp(lnA - alpha * log_area)
        parts = _loss_drop(theta, design, jac)
        B = np.exp(lnB)
        f = L0 + power - B * parts[0]
        ok = f > 0
        out = np.where(ok, np.log(np.where(ok, f, 1.0)), np.nan)
        if not jac:
            return out
        J = np.stack([np.ones_like(power), power, -power * log_area, -B * parts[0],
                      -B * parts[1], -B * parts[2], -B * parts[3]], axis=1)
        J = J / np.where(ok, f, np.nan)[:, None, :]
    return out, J


class MultiPower(LawFamily):
    """L = L0 + A (S1 + S_W)^-alpha - LD (Luo et al. 2025): a run's loss from its whole LR schedule.

    ``lrs``: the learning rate of every step of each run (a list of arrays, steps 1..T). The law's
    inputs are ``step`` (1-based optimiser steps) and ``run`` (the index of the run in ``lrs``, 0 when
    there is one); without ``lrs`` the family describes itself but cannot predict.
    """

    name = "multi_power"
    variables = (STEP, RUN)
    theta_names = ("L0", "ln_A", "alpha", "ln_B", "ln_C", "beta", "gamma")
    param_names = ("L0", "A", "alpha", "B", "C", "beta", "gamma")
    formula = ("L = L0 + A*(S1+S_W)^-alpha - B*sum_k (eta_(k-1) - eta_k)*G(eta_k^-gamma*S_k), "
               "G(x) = 1 - (C*x + 1)^-beta")
    citation = ("Luo et al. 2025, A Multi-Power Law for Loss Curve Prediction Across Learning Rate Schedules, "
                "eq. 1 (arXiv:2503.12811); S1 + S_W the LR area, S_k the LR area from step k on")
    units = ("loss in nats/token; step in optimiser steps, run an index into the schedules; LR areas in LR x "
             "steps; L0 nats/token, A nats/token x (LR x steps)^alpha, alpha dimensionless, B nats/token per "
             "unit LR decrease, C per LR^(1-gamma) x steps, beta and gamma dimensionless")
    level_params = ("L0",)
    zero_allowed = (RUN,)

    def __init__(self, lrs: Sequence[Any] | None = None, max_terms: int = MAX_TERMS) -> None:
        self.lrs = None if lrs is None else [finite_array(f"law multi_power: lrs[{i}]", v, low=0.0)
                                             for i, v in enumerate(lrs)]
        if self.lrs is not None and not self.lrs:
            raise ScalingLabError("law multi_power: lrs is empty; give the learning rates of at least one run")
        self.max_terms = int(max_terms)
        self._cache: dict[bytes, MPLDesign] = {}

    def options(self) -> dict[str, Any]:
        return {} if self.lrs is None else {"lrs": [v.tolist() for v in self.lrs]}

    @property
    def label(self) -> str:
        return self.name

    def check_variables(self, X: Mapping[str, Any]) -> dict[str, Array]:
        """``step`` a whole number from 1 to its run's length, ``run`` an index into ``lrs``."""
        if self.lrs is None:
            raise ScalingLabError("law multi_power needs the learning rate of every step: build it as "
                                  "MultiPower(lrs=[...]) or fit curves with fit_schedule_law(form='multi-power')")
        step = finite_array("law multi_power: 'step'", X.get(STEP), low=1.0)
        run = finite_array("law multi_power: 'run'", 0.0 if X.get(RUN) is None else X[RUN], low=0.0,
                           high=len(self.lrs) - 1)
        step, run = (np.atleast_1d(a) for a in np.broadcast_arrays(step, run))
        if np.any(step != np.round(step)) or np.any(run != np.round(run)):
            raise ScalingLabError("law multi_power: 'step' and 'run' must be whole numbers")
        lengths = np.array([v.size for v in self.lrs])[run.astype(int)]
        if np.any(step > lengths):
            i = int(np.argmax(step > lengths))
            raise ScalingLabError(f"law multi_power: step {int(step.flat[i])} is beyond its run's schedule "
                                  f"({int(lengths.flat[i])} steps)")
        return {STEP: step.astype(float), RUN: run.astype(float)}

    def design(self, X: Mapping[str, Array]) -> MPLDesign:
        """The design of the points ``X`` (cached: a fit evaluates the same points many times)."""
        step, run = (np.asarray(X[v], dtype=int).ravel() for v in (STEP, RUN))
        key = step.tobytes() + b"|" + run.tobytes()
        if key not in self._cache:
            if self.lrs is None:
                self.check_variables(X)
            if len(self._cache) > 8:
                self._cache.clear()
            self._cache[key] = mpl_design(self.lrs or [], step, run, self.max_terms)
        return self._cache[key]

    def log_predict(self, theta: Array, X: Mapping[str, Array], jac: bool = False):
        return mpl_log_predict(theta, self.design(X), jac)

    def to_natural(self, theta: Array) -> dict[str, Array]:
        theta = np.asarray(theta, dtype=float)
        return {"L0": theta[..., 0], "A": np.exp(theta[..., 1]), "alpha": theta[..., 2],
                "B": np.exp(theta[..., 3]), "C": np.exp(theta[..., 4]), "beta": theta[..., 5],
                "gamma": theta[..., 6]}

    def from_natural(self, params: Mapping[str, float]) -> Array:
        return np.array([params["L0"], math.log(params["A"]), params["alpha"], math.log(params["B"]),
                         math.log(params["C"]), params["beta"], params["gamma"]], dtype=float)

    def bounds(self) -> tuple[Array, Array]:
        """L0 in [0, 50] nats/token; ln A, ln B, ln C in [-30, 30]; alpha in [0, 5]; beta in [1e-3, 5];
        gamma in [-1, 3]."""
        return (np.array([0.0, -30.0, 0.0, -30.0, -30.0, 1e-3, -1.0]),
                np.array([50.0, 30.0, 5.0, 30.0, 30.0, 5.0, 3.0]))

    def init_grid(self, X: Mapping[str, Array], loss: Array) -> Array:
        """Starts from :func:`mpl_starts` on the points' LR areas and losses."""
        design = self.design(self.check_variables(X))
        return mpl_starts(design, np.asarray(loss, dtype=float), self.bounds())


def mpl_starts(design: MPLDesign, y: Array, box: tuple[Array, Array]) -> Array:
    """A grid of internal starts: L0 a share (0.3, 0.7, 0.9) of the lowest loss, alpha 0.3 or 0.6 with A
    through the median point, beta = gamma = 0.5 (the authors' starts), C so that C x is 1 or 30 at the
    median term, B so that the largest LR decrease is worth a fifth of the loss range (starts with B near
    0 stall in a local minimum on simulated curves)."""
    y = y[np.isfinite(y) & (y > 0)]
    y_min, y_mid = (float(y.min()), float(np.median(y))) if y.size else (2.0, 3.0)
    a_mid = float(np.median(design.area))
    x_mid = float(np.median(design.eta ** -0.5 * design.after)) if design.drop.size else 1.0
    d_max = float(np.max(np.abs(_per_point(design.drop[None, :], design)))) if design.drop.size else 1.0
    spread = max(float(np.ptp(y)) if y.size else 1.0, 1e-3 * y_min)
    rows = []
    for share in (0.3, 0.7, 0.9):
        for alpha in (0.3, 0.6):
            for cx in (1.0, 30.0):
                L0 = share * y_min
                lnA = math.log(max(y_mid - L0, 1e-6)) + alpha * math.log(a_mid)
                lnB = math.log(0.2 * spread / max(d_max, 1e-300))
                rows.append([L0, lnA, alpha, lnB, math.log(cx / max(x_mid, 1e-300)), 0.5, 0.5])
    lo, hi = box
    return np.clip(np.array(rows), lo, hi)
