"""Law-family selection by held-out extrapolation error, with AIC/BIC and a regime-change check.

:func:`select_law` backtests every candidate law at the same threshold (fit on runs with x <=
``holdout_above``, predict the rest) and ranks them by held-out MARE, the error that matters when a
law is used to extrapolate. As a secondary, in-sample view each law is also fitted to all runs and
scored with information criteria on its log-residuals r_i = ln f(x_i) - ln L_i under a Gaussian
assumption (sigma^2 estimated by its maximum-likelihood value RSS/n):

    -2 ln L_max = n ln(2 pi RSS / n) + n,     RSS = sum_i r_i^2,
    AIC = -2 ln L_max + 2k,                  BIC = -2 ln L_max + k ln n,     k = P + 1

(P law parameters plus the noise variance; Akaike 1974, Schwarz 1978). The fits minimise a Huber loss,
not RSS, so these are approximate; only differences between laws on the same runs mean anything.

Regime change: the unbroken saturating law L = a + b x^(-c0) (``power_floor``) is nested in the broken
power law with one break (``bnsl``, Caballero et al. 2022 eq. 1; c1 = 0 recovers it). A break is
*supported* when all three hold on all runs: BIC favours the break by at least 6 (Kass & Raftery 1995:
"strong" evidence), the fitted break location d1 lies inside the observed range of x, and the
bootstrap interval of the exponent change c1 excludes 0. The break location and its bootstrap interval
are reported either way, with both laws' held-out MARE for comparison.

Diminishing returns: the local exponent k(x) = -d ln L / d ln x of the broken law (when its break is
supported) or else of the unbroken one is compared at the smallest and largest x of the data. Returns
are flagged as diminishing when the bootstrap interval of the ratio k(x_max) / k(x_min) lies entirely
below 0.9: the exponent shrinks by at least 10% at the interval's level (a floor E > 0 always bends
the curve a little; 10% asks for a bend the data show).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.analysis.backtest import _backtest_runs, _prepare
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, as_list, positive_number
from scalinglab.fitting import FitResult, fit
from scalinglab.fitting.result import percentile_interval
from scalinglab.io import Runs
from scalinglab.laws import get_family
from scalinglab.laws.base import LawFamily

DEFAULT_LAWS = ("power_floor:flops", "power:flops", "bnsl:flops:1", "chinchilla", "kaplan_nd")
BIC_STRONG = 6.0  # Kass & Raftery 1995: a BIC difference of 6-10 is "strong" evidence
MIN_SHRINK = 0.1  # diminishing returns: the local exponent shrinks by at least 10% across the data


@dataclass(repr=False)
class SelectionResult(Displayed):
    """Candidate laws ranked by held-out MARE. ``table``: one row per law (law, n_params, mare,
    coverage, n_train, n_test, rmse_log, aic, bic, delta_aic, delta_bic, converged); ``best``: the
    law with the lowest held-out MARE; ``regime_change``: the break check (module docstring);
    ``notes``: skipped laws and why."""

    _display = (("best", ""), ("x", ""), ("holdout_above", "units of x"), ("table", ""))

    table: pd.DataFrame
    best: str
    holdout_above: float
    x: str
    regime_change: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"best": self.best, "holdout_above": self.holdout_above, "x": self.x,
                "laws": self.table.to_dict(orient="records"), "regime_change": self.regime_change,
                "notes": list(self.notes)}


def information_criteria(residuals: np.ndarray, n_params: int) -> tuple[float, float]:
    """(AIC, BIC) of Gaussian log-residuals with k = n_params + 1 (module docstring)."""
    r = np.asarray(residuals, dtype=float)
    n, k = r.size, n_params + 1
    rss = float(np.sum(r**2))
    m2ll = n * math.log(2.0 * math.pi * max(rss, 1e-300) / n) + n
    return m2ll + 2.0 * k, m2ll + k * math.log(n)


def select_law(data: Runs | pd.DataFrame | str | os.PathLike, laws: Sequence[str | LawFamily] = DEFAULT_LAWS,
               *, holdout_above: float, x: str = "flops", bootstrap: int = 100, seed: int = 0,
               level: float = 0.95, loss: str = "huber", regime: bool = True,
               columns: Mapping[str, str] | None = None, drop_highest_loss: int = 0) -> SelectionResult:
    """Backtest each law in ``laws`` at ``holdout_above`` on ``x`` and rank them by held-out MARE, with
    AIC/BIC of fits to all runs. Laws whose variables the data lack, or that cannot be fitted at this
    threshold, are skipped with a note. With ``regime``, also test for a break in a power law of ``x``
    (``regime_change``; None when the data cannot support the check)."""
    runs, _ = _prepare(data, f"power:{x}", x, columns, drop_highest_loss)
    holdout_above, laws = positive_number("holdout_above", holdout_above), as_list("laws", laws)
    rows, notes = [], []
    for law in laws:
        row = _score_law(runs, law, holdout_above, x, bootstrap, seed, level, loss, notes)
        if row is not None:
            rows.append(row)
    if not rows:
        raise ScalingLabError(f"{runs.source}: none of the laws {', '.join(map(str, laws))} could be "
                              f"backtested at {x} > {holdout_above:g} ({'; '.join(notes)})")
    table = pd.DataFrame(rows).sort_values("mare", kind="stable").reset_index(drop=True)
    table["delta_aic"] = table["aic"] - table["aic"].min()
    table["delta_bic"] = table["bic"] - table["bic"].min()
    rc = None
    if regime:
        try:
            rc = regime_change(runs, x, holdout_above=float(holdout_above), bootstrap=bootstrap, seed=seed,
                               level=level, loss=loss)
        except ScalingLabError as exc:
            notes.append(f"regime-change check skipped: {exc}")
    return SelectionResult(table=table, best=str(table["law"].iloc[0]), holdout_above=float(holdout_above),
                           x=x, regime_change=rc, notes=notes)


def _score_law(runs: Runs, law: str | LawFamily, threshold: float, x: str, bootstrap: int, seed: int,
               level: float, loss: str, notes: list[str]) -> dict[str, Any] | None:
    try:
        family = get_family(law)
    except ScalingLabError as exc:
        notes.append(f"{law}: skipped ({exc})")
        return None
    missing = [v for v in family.variables if not runs.has(v)]
    if missing:
        notes.append(f"{family.label}: skipped, the data have no {', '.join(missing)} column")
        return None
    try:
        bt = _backtest_runs(runs, family, threshold, x, bootstrap, seed, level, loss, "t")
        full = fit(runs, family, loss=loss)
    except ScalingLabError as exc:
        notes.append(f"{family.label}: skipped ({exc})")
        return None
    aic, bic = information_criteria(full.residuals, family.n_params)
    return {"law": family.label, "n_params": family.n_params, "mare": bt.mare, "coverage": bt.coverage,
            "n_train": bt.n_train, "n_test": bt.n_test, "rmse_log": full.rmse_log, "aic": aic, "bic": bic,
            "converged": bool(bt.fit.converged and full.converged)}


# ---- regime change ------------------------------------------------------------------------------------------
def _local_exponent(family: LawFamily, theta: np.ndarray, xv: str, at: np.ndarray) -> np.ndarray:
    """-d ln L / d ln x at points ``at`` for every row of theta, by a central difference in ln x (S, n)."""
    h = 1e-4
    with np.errstate(all="ignore"):
        up = family.log_predict(theta, {xv: at * math.exp(h)})
        dn = family.log_predict(theta, {xv: at * math.exp(-h)})
    return -(up - dn) / (2.0 * h)


def regime_change(data: Runs | pd.DataFrame | str | os.PathLike, x: str = "flops", *,
                  holdout_above: float | None = None, bootstrap: int = 100, seed: int = 0, level: float = 0.95,
                  loss: str = "huber") -> dict[str, Any]:
    """Is there a break in the power law of loss vs ``x``? Fits ``power_floor:x`` and ``bnsl:x:1`` to all
    runs (bootstrapped) and returns a dict: supported (bool), delta_bic (BIC unbroken - BIC broken;
    positive favours the break), break_location and break_interval (d1, in the units of x), exponent_change
    and its interval (c1), x_range, the two laws' held-out MARE when ``holdout_above`` is given,
    diminishing_returns (bool), local_exponent_small / _large (k at the smallest and largest x),
    exponent_ratio_interval (of k_large / k_small) and reasons (one sentence per criterion, prefixed
    ok: or fails:)."""
    runs, _ = _prepare(data, f"power:{x}", x, None, 0)
    if holdout_above is not None:
        holdout_above = positive_number("holdout_above", holdout_above)
    plain, broken = get_family(f"power_floor:{x}"), get_family(f"bnsl:{x}:1")
    f_plain = fit(runs, plain, loss=loss, bootstrap=bootstrap, seed=seed, level=level)
    f_broken = fit(runs, broken, loss=loss, bootstrap=bootstrap, seed=seed, level=level)
    xs = runs.column(x)
    bic_plain = information_criteria(f_plain.residuals, plain.n_params)[1]
    bic_broken = information_criteria(f_broken.residuals, broken.n_params)[1]
    d1, c1 = f_broken.params["d1"], f_broken.params["c1"]
    d_ci, c_ci = f_broken.ci.get("d1", [math.nan, math.nan]), f_broken.ci.get("c1", [math.nan, math.nan])
    gain, inside = bic_plain - bic_broken, bool(xs.min() < d1 < xs.max())
    excludes0 = bool(np.isfinite(c_ci).all() and (c_ci[0] > 0 or c_ci[1] < 0))
    pct = f"{100 * level:g}%"
    checks = [
        (gain >= BIC_STRONG, f"BIC favours the break by {gain:.1f} (needs >= {BIC_STRONG:g})"),
        (inside, f"the break location {d1:.3g} lies {'inside' if inside else 'outside'} the data's {x} "
                 f"range [{xs.min():.3g}, {xs.max():.3g}]"),
        (excludes0, f"the {pct} interval of the exponent change c1, [{c_ci[0]:.3g}, {c_ci[1]:.3g}], "
                    f"{'excludes' if excludes0 else 'includes'} 0"),
    ]
    out: dict[str, Any] = {
        "supported": all(ok for ok, _ in checks), "delta_bic": gain,
        "break_location": d1, "break_interval": list(d_ci), "exponent_change": c1,
        "exponent_change_interval": list(c_ci), "x": x, "x_range": [float(xs.min()), float(xs.max())],
        "reasons": [("ok: " if ok else "fails: ") + text for ok, text in checks],
    }
    if holdout_above is not None:
        for key, fam in (("heldout_mare_unbroken", plain), ("heldout_mare_broken", broken)):
            try:
                out[key] = _backtest_runs(runs, fam, holdout_above, x, bootstrap, seed, level, loss, "t").mare
            except ScalingLabError:
                out[key] = None
    better = f_broken if out["supported"] else f_plain
    out.update(_diminishing(better, x, xs, level))
    return out


def _diminishing(result: FitResult, x: str, xs: np.ndarray, level: float) -> dict[str, Any]:
    at = np.array([xs.min(), xs.max()])
    k = _local_exponent(result.family, np.asarray(result.theta)[None, :], x, at)[0]
    out: dict[str, Any] = {"local_exponent_small": float(k[0]), "local_exponent_large": float(k[1]),
                           "diminishing_returns": False, "exponent_law": result.law}
    if result.draws is not None and len(result.draws):
        kd = _local_exponent(result.family, np.asarray(result.draws), x, at)
        with np.errstate(divide="ignore", invalid="ignore"):
            lo, hi = percentile_interval(kd[:, 1] / kd[:, 0], level)
        out["exponent_ratio_interval"] = [float(lo), float(hi)]
        out["diminishing_returns"] = bool(hi < 1.0 - MIN_SHRINK)
    return out
