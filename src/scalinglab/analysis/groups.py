"""Per-group scaling laws (language, task, data set, architecture, optimiser) and their comparison.

:func:`fit_groups` fits the same law to each group of runs (a text column, ``group`` by default) with
bootstrap intervals on every parameter, then

* tests whether the exponents differ: an F test of shared vs per-group exponents
  (:mod:`scalinglab.analysis.group_tests`; Fernandes et al. 2023 fit per-language laws with this
  structure) and, with a bootstrap, each group's exponent difference from the reference group;
* gives each group's compute-equivalent multiplier relative to the reference group
  (:mod:`scalinglab.analysis.multiplier`): how many times the reference's compute the group needs to
  reach the reference's loss, at named FLOP counts.

:func:`optimal_exponents` estimates the compute-optimal exponent a (N_opt ∝ C^a) per group with one of
Hoffmann et al.'s approaches (reusing :func:`scalinglab.plan.approaches.fit_approach`), as Porian et al.
2024 report it per experimental setting (approach 2 by their Akima procedure by default, references.md D5).

Each group is fitted on its own rows with the grouping column removed, so its bootstrap resamples rows
(``sl.fit`` would otherwise resample whole groups). Group g's bootstrap seed is derived from ``seed`` and
g's name: same seed, same answer, independent of the other groups. Loss in nats/token, compute in FLOPs.
"""

from __future__ import annotations

import os
import zlib
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.analysis.group_tests import exponent_differences, shared_exponent_test
from scalinglab.analysis.multiplier import (
    ComputeMultiplier,
    GapTrend,
    compute_multiplier,
    curve_variable,
    gap_trend,
)
from scalinglab.display import Displayed
from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fitting import FitResult, fit
from scalinglab.io import CANONICAL, Runs, load_runs
from scalinglab.laws import FamilySpec, get_family
from scalinglab.laws.base import LawFamily
from scalinglab.plan.approaches import fit_approach

Array = np.ndarray


@dataclass(repr=False)
class GroupComparison(Displayed):
    """Per-group fits of one law and their comparison (see :func:`fit_groups`).

    ``results``: group -> FitResult (groups in order of first appearance); ``reference``: the group the
    others are compared with; ``exponent_test``: {"statistic", "p_value", "method", "df", ...} (F test);
    ``exponent_differences``: group -> exponent -> {"value", "low", "high", "p_value"} (bootstrap);
    ``compute_multiplier``: group -> ComputeMultiplier vs the reference (empty for a law not of FLOPs)."""

    _display = (("law", ""), ("by", ""), ("groups", "", lambda g: list(g.results)), ("reference", ""),
                ("p_value", "", lambda g: g.exponent_test.get("p_value")), ("level", ""),
                ("bootstrap", "resamples"))

    law: str
    by: str
    results: dict[str, FitResult]
    reference: str
    exponent_test: dict[str, Any]
    exponent_differences: dict[str, dict[str, Any]] = field(default_factory=dict)
    compute_multiplier: dict[str, ComputeMultiplier] = field(default_factory=dict)
    level: float = 0.95
    bootstrap: int = 0
    seed: int = 0
    source: str = ""
    data_range: tuple[float, float] | None = None  # the law's variable over the reference group's runs
    notes: list[str] = field(default_factory=list)

    def gap_trend(self, group: str, flops_grid: Any = None, *, kind: str = "difference") -> GapTrend:
        """Gap of ``group``'s law over the reference's along the law's variable (default grid: 9 values
        spaced evenly in log over the reference group's data); see :func:`gap_trend`."""
        if group not in self.results:
            raise ScalingLabError(f"no group '{group}'; groups are: {', '.join(self.results)}")
        if flops_grid is None:
            if self.data_range is None:
                raise ScalingLabError("no data range recorded: pass flops_grid")
            flops_grid = np.geomspace(*self.data_range, 9)
        return gap_trend(self.results[self.reference], self.results[group], flops_grid, kind=kind)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report of ``scalinglab compare`` (keys are a contract):
        {"law", "by", "reference", "groups": {g: {"params", "ci", "derived", "derived_ci", "n_points",
        "rmse_log", "converged", "notes"}}, "compute_multiplier": {g: {"flops", "value", "low", "high", ...}},
        "exponent_test": {...}, "exponent_differences": {...}, "level", "bootstrap", "seed", "notes"}."""
        groups = {}
        for g, r in self.results.items():
            groups[g] = {"params": dict(r.params), "ci": {k: v for k, v in r.ci.items() if k in r.params},
                         "derived": dict(r.derived), "derived_ci": {k: v for k, v in r.ci.items() if k in r.derived},
                         "n_points": r.n_points, "rmse_log": r.rmse_log, "converged": r.converged,
                         "notes": list(r.notes)}
        return {"law": self.law, "by": self.by, "reference": self.reference, "groups": groups,
                "compute_multiplier": {g: m.to_dict() for g, m in self.compute_multiplier.items()},
                "exponent_test": dict(self.exponent_test), "exponent_differences": self.exponent_differences,
                "level": self.level, "bootstrap": self.bootstrap, "seed": self.seed, "source": self.source,
                "notes": list(self.notes)}

    def table(self) -> pd.DataFrame:
        """One row per group: n_points, each parameter with its interval (``<name>_low``, ``<name>_high``)."""
        rows = []
        for g, r in self.results.items():
            row: dict[str, Any] = {"group": g, "n_points": r.n_points, "reference": g == self.reference}
            for k, v in r.params.items():
                row[k] = v
                row[f"{k}_low"], row[f"{k}_high"] = r.ci.get(k, [np.nan, np.nan])
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """Readable report: per-group parameters, exponent test, multipliers, notes."""
        head = (f"scalinglab compare: law {self.law}, groups by column '{self.by}' ({len(self.results)} groups), "
                f"reference '{self.reference}'")
        lines = [head, f"  source  {self.source or '-'}"]
        for g, r in self.results.items():
            ps = "  ".join(f"{k}={v:.4g}" + (f" [{r.ci[k][0]:.4g}, {r.ci[k][1]:.4g}]" if k in r.ci else "")
                           for k, v in r.params.items())
            lines.append(f"  {g} ({r.n_points} points): {ps}")
        t = self.exponent_test
        if t.get("statistic") is not None:
            lines.append(f"  exponents differ? {t['method']}: F = {t['statistic']:.4g}, df {t['df']}, "
                         f"p = {t['p_value']:.3g}")
        else:
            lines.append(f"  exponents differ? not tested: {t.get('reason', '-')}")
        for g, m in self.compute_multiplier.items():
            for j, c in enumerate(m.flops):
                ci = f" [{m.low[j]:.4g}, {m.high[j]:.4g}]" if m.low is not None else ""
                lines.append(f"  compute multiplier of '{g}' vs '{self.reference}' at C = {c:.3g} FLOPs: "
                             f"{m.value[j]:.4g}{ci}")
        notes = self.notes + [f"{g}: {n}" for g, m in self.compute_multiplier.items() for n in m.notes]
        lines += (["  notes"] + [f"  - {n}" for n in notes]) if notes else []
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# ---- splitting a table into groups ---------------------------------------------------------------------
def split_groups(runs: Runs, by: str, law: LawFamily | None = None) -> dict[str, Runs]:
    """group label (text) -> that group's rows as Runs without the grouping column (nor ``group``),
    in order of first appearance. ScalingLabError naming the column, row or group on bad input."""
    if not isinstance(by, str) or not by:
        raise ScalingLabError(f"--by must name a column, got {by!r}")
    if not runs.has(by):
        raise ScalingLabError(f"{runs.source}: no column '{by}' to group by; columns are: "
                              f"{', '.join(map(str, runs.data.columns))}")
    if by in CANONICAL:
        raise ScalingLabError(f"{runs.source}: cannot group by '{by}', a variable of the runs (params, tokens, "
                              "flops, loss); group by a label column such as a language or architecture")
    labels = runs.data[by]
    if labels.isna().any():
        raise ScalingLabError(f"{runs.source}: row {labels.index[labels.isna()][0]}, column '{by}': empty group label")
    labels = labels.astype(str)
    names = list(pd.unique(labels))
    if len(names) < 2:
        raise ScalingLabError(f"{runs.source}: column '{by}' has a single value ('{names[0]}'); comparing groups "
                              "needs at least 2")
    drop = [c for c in dict.fromkeys([by, "group"]) if runs.has(c)]
    out = {}
    for g in names:
        part = runs.data[(labels == g).to_numpy()].drop(columns=drop)
        if law is not None and len(part) < law.n_params:
            raise FitError(f"{runs.source}: group '{g}' (column '{by}') has {len(part)} rows, but law {law.label} "
                           f"has {law.n_params} free parameters ({', '.join(law.param_names)}); need at least "
                           f"{law.n_params} rows per group")
        out[g] = Runs(data=part, source=f"{runs.source} [{by} = {g}]")
    return out


def group_seed(seed: int, name: str) -> int:
    """The bootstrap seed of group ``name``: ``seed`` plus a CRC-32 of the name, modulo 2^31."""
    return int((int(seed) + zlib.crc32(name.encode("utf-8"))) % 2**31)


def _progress(total: int, enabled: bool):
    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(TextColumn("groups"), BarColumn(), MofNCompleteColumn(), transient=True)


# ---- the main entry point --------------------------------------------------------------------------------
def fit_groups(data: Runs | pd.DataFrame | str | os.PathLike, law: FamilySpec = "power_floor:flops", *,
               by: str = "group", bootstrap: int = 200, seed: int = 0, level: float = 0.95,
               reference: str | None = None, flops: Any = None, loss: str = "huber", delta: float = 1e-3,
               columns: dict[str, str] | None = None, progress: bool = False) -> GroupComparison:
    """Fit ``law`` to each group of ``data`` (anything ``sl.load_runs`` reads) and compare the groups.

    ``by``: the column whose values name the groups (kept as text). ``reference``: the group the others are
    compared with (default: the first group in the table). ``flops``: FLOP counts at which to give the
    compute multipliers (default: the geometric middle and the top of the reference group's FLOPs); laws of
    flops and chinchilla only. ``loss``/``delta``: the per-group fits' objective (as ``sl.fit``); the
    exponent F test always refits by least squares. ScalingLabError on a missing column, a single group,
    a group with fewer rows than the law's parameters, or an unknown reference."""
    family = get_family(law)
    runs = load_runs(data, columns)
    parts = split_groups(runs, by, family)
    if reference is None:
        reference = next(iter(parts))
    elif str(reference) not in parts:
        raise ScalingLabError(f"reference group '{reference}' is not in column '{by}'; groups are: {', '.join(parts)}")
    reference = str(reference)
    results, ls_fits = {}, {}
    with _progress(len(parts), progress) as bar:
        task = bar.add_task("groups", total=len(parts)) if bar is not None else None
        for g, part in parts.items():
            results[g] = fit(part, family, loss=loss, delta=delta, bootstrap=bootstrap, seed=group_seed(seed, g),
                             level=level)
            ls_fits[g] = results[g] if loss == "ls" else fit(part, family, loss="ls")
            if bar is not None:
                bar.advance(task)
    inputs = {g: ({v: p.column(v) for v in family.variables}, np.log(p.column("loss"))) for g, p in parts.items()}
    out = GroupComparison(law=family.label, by=by, results=results, reference=reference,
                          exponent_test=shared_exponent_test(family, inputs, ls_fits),
                          exponent_differences=exponent_differences(results, reference) if bootstrap else {},
                          level=float(level), bootstrap=bootstrap, seed=seed, source=runs.source,
                          notes=list(runs.notes))
    out.notes += [f"group '{g}': {n}" for g, r in results.items() for n in r.notes if "NOT converge" in n]
    _attach_multipliers(out, parts[reference], flops)
    return out


def _attach_multipliers(out: GroupComparison, ref_runs: Runs, flops: Any) -> None:
    """Compute multipliers of every group vs the reference, and the reference's data range for gap_trend."""
    ref = out.results[out.reference]
    try:
        var = curve_variable(ref)
    except ScalingLabError as exc:
        out.notes.append(f"no compute multiplier or gap trend: {exc}")
        return
    x = ref_runs.column(var) if ref_runs.has(var) else None
    if x is not None:
        out.data_range = (float(x.min()), float(x.max()))
    if var != "flops":
        out.notes.append(f"no compute multiplier: law {out.law} is a law of {var}, not of flops")
        return
    if ref.family.name not in ("power", "power_floor", "chinchilla"):
        out.notes.append(f"no compute multiplier: law {out.law} is not of the form E + K C^-gamma")
        return
    if flops is None:
        flops = [float(np.sqrt(x.min() * x.max())), float(x.max())]
    for g, r in out.results.items():
        if g != out.reference:
            out.compute_multiplier[g] = compute_multiplier(ref, r, flops)


# ---- compute-optimal exponents per group (Porian et al. 2024 style) ------------------------------------
def optimal_exponents(data: Runs | pd.DataFrame | str | os.PathLike, *, by: str = "group", approach: int = 2,
                      bootstrap: int = 0, seed: int = 0, level: float = 0.95,
                      columns: dict[str, str] | None = None, **options: Any) -> pd.DataFrame:
    """The compute-optimal exponents a (N_opt ∝ C^a, parameters vs FLOPs) and b = D_opt's, per group, from
    Hoffmann et al. 2022's approach ``approach`` (1, 2 or 3; ``options`` as
    :func:`scalinglab.plan.approaches.fit_approach`, the same path as ``scalinglab optimal --approach``:
    for approach 2 ``method`` chooses the profile method -- by default Akima, Porian et al. 2024's
    procedure, on exact budgets with 5 or more sizes each, else the cubic (references.md D5) -- and
    ``loss_noise`` the seed-to-seed loss noise, nats/token, of its noise bootstrap).

    One row per group (order of first appearance): group, a, a_low, a_high, b, b_low, b_high (intervals
    with a bootstrap, else NaN), n_levels, n_runs, warnings. A group whose approach fails gets its error
    in ``error`` and NaN exponents."""
    runs = load_runs(data, columns)
    rows = []
    for g, part in split_groups(runs, by).items():
        row: dict[str, Any] = {"group": g, "n_runs": len(part)}
        try:
            res = fit_approach(part, approach, bootstrap=bootstrap, seed=group_seed(seed, g), level=level, **options)
        except ScalingLabError as exc:
            rows.append({**row, "error": str(exc)})
            continue
        a_ci, b_ci = res.a_ci or [np.nan, np.nan], res.b_ci or [np.nan, np.nan]
        rows.append({**row, "a": res.a, "a_low": a_ci[0], "a_high": a_ci[1], "b": res.b, "b_low": b_ci[0],
                     "b_high": b_ci[1], "n_levels": len(res.points) or len(res.frontier),
                     "warnings": list(res.warnings), "error": ""})
    cols = ["group", "a", "a_low", "a_high", "b", "b_low", "b_high", "n_levels", "n_runs", "warnings", "error"]
    return pd.DataFrame(rows).reindex(columns=cols)
