"""From a tracker's named series to fit-ready runs: metric-name mapping, units and validation.

Roles and where they are read (``ImportOptions.metrics`` maps a role to a name in the source;
without it the first of :data:`DEFAULT_NAMES` the run has is used, exact spelling first, then
ignoring case, and the choice is written in the notes):

- ``val_loss``, ``train_loss``: metric series [nats/token; ``loss_unit="bits"`` converts bits/token
  with x ln 2]. At least one is needed; the final loss of a run is its last validation loss, or
  its last train loss (said in a note) when it logged no validation loss.
- ``tokens``: a metric series of training tokens seen [count]. At a step where it was not logged it
  is interpolated linearly between the neighbouring logged steps (never extrapolated). Without a
  tokens metric, tokens = step x tokens per step, from ``tokens_per_step`` (a number) or a mapped
  hyperparameter, which may be a product such as ``batch_size*seq_len`` [tokens/step].
- ``params``: the parameter count [count, as the source counts it: with or without embeddings is
  the source's convention], from a fixed number (all runs, or per run name), else a hyperparameter,
  else a metric (its last value).
- ``flops``: a metric series [FLOPs] when mapped; otherwise C = 6 N D (Kaplan et al. 2020, sec. 2.1)
  with N the params and D the tokens at that point, said in a note.

Every value that is used is checked: a number, finite, losses and params > 0, tokens >= 0, and
tokens > 0 at the final evaluation. A failure names the run, the step and the metric.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scalinglab.counting import flops_from
from scalinglab.errors import ScalingLabError
from scalinglab.lab.importers.source import SourceRun

__all__ = ["DEFAULT_NAMES", "LOSS_UNITS", "ROLES", "ImportOptions", "ImportedRun", "resolve_run"]

ROLES: tuple[str, ...] = ("val_loss", "train_loss", "tokens", "params", "tokens_per_step", "flops", "step")
LOSS_UNITS: dict[str, float] = {"nats": 1.0, "bits": math.log(2.0)}  # multiply to get nats/token
#: Names tried per role, highest priority first (compared exactly, then ignoring case).
DEFAULT_NAMES: dict[str, tuple[str, ...]] = {
    "val_loss": ("val/loss", "val_loss", "eval/loss", "eval_loss", "validation/loss", "validation_loss",
                 "valid/loss", "valid_loss", "loss/val", "loss/validation", "loss/eval"),
    "train_loss": ("train/loss", "train_loss", "loss/train", "training_loss", "training/loss", "loss"),
    "tokens": ("tokens", "train/tokens", "tokens_seen", "train/tokens_seen", "num_tokens", "total_tokens",
               "tokens_processed"),
    "params": ("params", "n_params", "num_params", "model/num_parameters", "num_parameters", "n_parameters",
               "param_count", "model/params", "parameters"),
    "tokens_per_step": ("tokens_per_step", "tokens_per_batch", "batch_tokens"),
}


@dataclass(frozen=True)
class ImportOptions:
    """How to read runs. ``metrics``: role -> name in the source (roles in :data:`ROLES`).
    ``params``: a parameter count for every run, or run name -> count [count]. ``tokens_per_step``:
    tokens per optimizer step [tokens/step]. ``loss_unit``: "nats" or "bits" (per token)."""

    metrics: Mapping[str, str] = field(default_factory=dict)
    params: float | Mapping[str, float] | None = None
    tokens_per_step: float | None = None
    loss_unit: str = "nats"

    def check(self) -> None:
        """Refuse unknown roles and units, non-positive numbers and contradictory options."""
        for role, name in self.metrics.items():
            if role not in ROLES:
                raise ScalingLabError(f"--metric {role}=...: unknown name {role!r}; choose one of {', '.join(ROLES)}")
            if not isinstance(name, str) or not name.strip():
                raise ScalingLabError(f"--metric {role}=...: the metric name is empty")
        if self.loss_unit not in LOSS_UNITS:
            raise ScalingLabError(f"--loss-unit: unknown unit {self.loss_unit!r}; choose nats or bits (per token)")
        given = self.params.values() if isinstance(self.params, Mapping) else [self.params]
        for what, value in [("--params", v) for v in given] + [("--tokens-per-step", self.tokens_per_step)]:
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ScalingLabError(f"{what}: must be a number > 0, got {value!r}")
        per_step = self.tokens_per_step is not None or "tokens_per_step" in self.metrics
        if "tokens" in self.metrics and per_step:
            raise ScalingLabError("--metric tokens=... and a tokens per step were both given; use one")
        if self.tokens_per_step is not None and "tokens_per_step" in self.metrics:
            raise ScalingLabError("--tokens-per-step and --metric tokens_per_step=... were both given; use one")


@dataclass
class ImportedRun:
    """A run ready for the store: ``params`` [count], ``tokens`` [count] and ``flops`` [FLOPs] at
    the evaluation giving ``final_val_loss`` [nats/token]; ``metrics``: one row per logged step."""

    name: str
    hparams: dict[str, Any]
    seed: int
    params: int
    tokens: int
    flops: float
    final_val_loss: float
    metrics: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


def resolve_run(run: SourceRun, opts: ImportOptions) -> ImportedRun:
    """Map, convert and validate one run (see the module docstring); raises on the first bad value."""
    notes: list[str] = []
    val_name, train_name = _pick(run, "val_loss", opts, notes), _pick(run, "train_loss", opts, notes)
    if train_name == val_name and "train_loss" not in opts.metrics:
        train_name = None  # one series mapped as val_loss is not also a train loss
        notes[:] = [n for n in notes if not n.startswith("train_loss read from")]
    if val_name is None and train_name is None:
        raise ScalingLabError(
            f"run {run.name!r}: no loss metric (looked for {', '.join(DEFAULT_NAMES['val_loss'][:4])}, ... and "
            f"{', '.join(DEFAULT_NAMES['train_loss'][:3])}, ...); map one with --metric val_loss=NAME; "
            f"its metrics are: {_names(run.series)}")
    factor = LOSS_UNITS[opts.loss_unit]
    val = _loss_series(run, val_name, "val_loss", factor)
    train = _loss_series(run, train_name, "train_loss", factor)
    steps = sorted(set(val) | set(train))
    params = _params(run, opts, notes)
    tokens = _tokens(run, steps, opts, notes)
    flops_name = opts.metrics.get("flops")
    if flops_name is not None:
        _require(run, flops_name, "flops")
        flops = _series_at(run, flops_name, "flops", steps, notes)
    else:
        flops = {s: flops_from(params, tokens[s]) for s in steps}
    final_step = max(val) if val else max(train)
    if not val:
        notes.append(f"run {run.name!r}: no validation loss; final_val_loss is its last train loss "
                     f"({train_name!r} at step {final_step})")
    if tokens[final_step] <= 0:
        raise ScalingLabError(f"run {run.name!r}, step {final_step}: tokens at the final evaluation is "
                              f"{tokens[final_step]}; a scaling fit needs tokens > 0")
    rows = [{"step": s, "tokens": tokens[s], "flops": flops[s], "train_loss": train.get(s), "val_loss": val.get(s)}
            for s in steps]
    return ImportedRun(name=run.name, hparams=dict(run.hparams), seed=_seed(run.hparams), params=params,
                       tokens=tokens[final_step], flops=flops[final_step],
                       final_val_loss=(val or train)[final_step], metrics=rows, notes=notes)


# ---- picking names -----------------------------------------------------------------------------
def _pick(run: SourceRun, role: str, opts: ImportOptions, notes: list[str]) -> str | None:
    """The series name of ``role``: the mapped one (which must exist) or the first default present."""
    if role in opts.metrics:
        return _require(run, opts.metrics[role], role)
    for candidate in DEFAULT_NAMES[role]:
        found = _lookup(run.series, candidate)
        if found is not None:
            if found != role:
                notes.append(f"{role} read from metric {found!r}")
            return found
    return None


def _require(run: SourceRun, name: str, role: str, hparams_too: bool = False) -> str:
    """``name`` when the run has it (as a metric, or also as a hyperparameter), else an error listing them."""
    if name in run.series or (hparams_too and name in run.hparams):
        return name
    if hparams_too:
        raise ScalingLabError(f"--metric {role}={name}: run {run.name!r} has no hyperparameter or metric {name!r}; "
                              f"its hyperparameters are: {_names(run.hparams)}; its metrics are: {_names(run.series)}")
    raise ScalingLabError(f"--metric {role}={name}: run {run.name!r} has no metric {name!r}; "
                          f"its metrics are: {_names(run.series)}")


def _lookup(names: Mapping[str, Any], candidate: str) -> str | None:
    if candidate in names:
        return candidate
    folded = [n for n in names if n.lower() == candidate.lower()]
    return folded[0] if folded else None


def _names(names: Mapping[str, Any]) -> str:
    shown = sorted(names)
    return ", ".join(repr(n) for n in shown[:30]) + (f", ... ({len(shown)} in all)" if len(shown) > 30 else "") \
        if shown else "(none)"


# ---- values ------------------------------------------------------------------------------------
def _number(raw: Any, where: str, *, positive: bool = False, nonnegative: bool = False) -> float:
    """A finite float from a stored value, or an error naming ``where`` (run, step, metric)."""
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw) if not isinstance(raw, bool) else None
    except (TypeError, ValueError):
        value = None
    if value is None:
        raise ScalingLabError(f"{where}: {raw!r} is not a number")
    if not math.isfinite(value):
        raise ScalingLabError(f"{where}: value {raw!r} is not finite")
    if positive and value <= 0:
        raise ScalingLabError(f"{where}: value {value!r} must be > 0")
    if nonnegative and value < 0:
        raise ScalingLabError(f"{where}: value {value!r} must be >= 0")
    return value


def _loss_series(run: SourceRun, name: str | None, role: str, factor: float) -> dict[int, float]:
    if name is None:
        return {}
    return {s: factor * _number(v, f"run {run.name!r}, step {s}, metric {name!r} ({role})", positive=True)
            for s, v in sorted(run.series[name].items())}


def _series_at(run: SourceRun, name: str, role: str, steps: list[int], notes: list[str]) -> dict[int, float]:
    """Values of series ``name`` at ``steps``; linear interpolation between logged steps."""
    logged = {s: _number(v, f"run {run.name!r}, step {s}, metric {name!r} ({role})", nonnegative=True)
              for s, v in sorted(run.series[name].items())}
    xs = sorted(logged)
    out, filled = {}, 0
    for s in steps:
        if s in logged:
            out[s] = logged[s]
            continue
        i = bisect.bisect_left(xs, s)
        if i == 0 or i == len(xs):
            raise ScalingLabError(f"run {run.name!r}, step {s}: metric {name!r} ({role}) was not logged at or "
                                  f"around this step (it was logged from step {xs[0]} to {xs[-1]})")
        lo, hi = xs[i - 1], xs[i]
        out[s] = logged[lo] + (logged[hi] - logged[lo]) * (s - lo) / (hi - lo)
        filled += 1
    if filled:
        notes.append(f"run {run.name!r}: {role} at {filled} steps interpolated linearly between logged steps")
    return out


def _tokens(run: SourceRun, steps: list[int], opts: ImportOptions, notes: list[str]) -> dict[int, int]:
    """Tokens seen [count] at each step: a tokens metric, or step x tokens per step."""
    name = opts.metrics.get("tokens")
    per_step_given = opts.tokens_per_step is not None or "tokens_per_step" in opts.metrics
    if name is None and not per_step_given:
        name = _pick(run, "tokens", opts, notes)
    if name is not None:
        if "tokens" in opts.metrics:
            _require(run, name, "tokens")
        return {s: int(round(v)) for s, v in _series_at(run, name, "tokens", steps, notes).items()}
    per_step = _tokens_per_step(run, opts, notes)
    return {s: int(round(s * per_step)) for s in steps}


def _tokens_per_step(run: SourceRun, opts: ImportOptions, notes: list[str]) -> float:
    if opts.tokens_per_step is not None:
        return float(opts.tokens_per_step)
    expr = opts.metrics.get("tokens_per_step")
    if expr is None:
        expr = next((found for c in DEFAULT_NAMES["tokens_per_step"]
                     if (found := _lookup(run.hparams, c)) is not None), None)
        if expr is None:
            raise ScalingLabError(
                f"run {run.name!r}: no tokens: it logged no tokens metric (looked for "
                f"{', '.join(DEFAULT_NAMES['tokens'][:4])}, ...) and has no tokens-per-step hyperparameter; map "
                f"one with --metric tokens=NAME, give --tokens-per-step N, or map "
                f"--metric tokens_per_step=batch_size*seq_len; "
                f"its metrics are: {_names(run.series)}")
        notes.append(f"tokens = step x hyperparameter {expr!r}")
    value = 1.0
    for key in (k.strip() for k in expr.split("*")):
        if key not in run.hparams:
            raise ScalingLabError(f"--metric tokens_per_step={expr}: run {run.name!r} has no hyperparameter "
                                  f"{key!r}; its hyperparameters are: {_names(run.hparams)}")
        value *= _number(run.hparams[key], f"run {run.name!r}, hyperparameter {key!r} (tokens_per_step)",
                         positive=True)
    return value


def _params(run: SourceRun, opts: ImportOptions, notes: list[str]) -> int:
    """The run's parameter count [count]: fixed, a hyperparameter, or a metric's last value."""
    fixed = opts.params.get(run.name) if isinstance(opts.params, Mapping) else opts.params
    if fixed is not None:
        return int(round(fixed))
    name = opts.metrics.get("params")
    if name is not None:
        _require(run, name, "params", hparams_too=True)
    else:
        for candidate in DEFAULT_NAMES["params"]:
            name = _lookup(run.hparams, candidate) or _lookup(run.series, candidate)
            if name is not None:
                notes.append(f"params read from {name!r}")
                break
    if name is None:
        raise ScalingLabError(
            f"run {run.name!r}: no parameter count (looked for hyperparameters and metrics "
            f"{', '.join(DEFAULT_NAMES['params'][:4])}, ...); give --params N for all runs, --params "
            f"{run.name}=N, or map one with --metric params=NAME; its hyperparameters are: {_names(run.hparams)}")
    if name in run.hparams:
        raw, where = run.hparams[name], f"run {run.name!r}, hyperparameter {name!r} (params)"
    else:
        step = max(run.series[name])
        raw, where = run.series[name][step], f"run {run.name!r}, step {step}, metric {name!r} (params)"
    value = _number(raw, where, positive=True)
    if value < 1:
        raise ScalingLabError(f"{where}: value {value!r} is not a parameter count (>= 1)")
    return int(round(value))


def _seed(hparams: Mapping[str, Any]) -> int:
    """The run's seed from a ``seed`` hyperparameter when it is a whole number, else 0."""
    raw = hparams.get("seed")
    try:
        value = float(raw) if raw is not None and not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        return 0
    return int(value) if math.isfinite(value) and value == int(value) and abs(value) < 2**62 else 0
