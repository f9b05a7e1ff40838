"""Sweep designs for the lab (IsoFLOP, N x D grid, TOML spec files) and the dry-run table.

Units: N is a parameter count, NON-EMBEDDING by default (Kaplan et al. 2020's N, as
:meth:`Architecture.params_non_embedding`, ``RunConfig.flops_params``); D is training tokens; C is
training FLOPs, C = 6 N D (Kaplan et al. 2020 sec. 2.1, :mod:`scalinglab.lab.train`); times are seconds.

* Shape rule (:func:`shape_for_params`): pre-norm, rotary, LayerNorm, tied embeddings, no biases,
  ``d_ff = 4 d_model``, so N = 12 L d^2 + 4 L d + 2 d (attention 4 d^2, MLP 8 d^2, two LayerNorms per
  layer and a final one, 2 d each). ``d_model`` is a multiple of the head dimension (16 below d_model
  128, 32 below 256, 64 from 256 on, as GPT-2/3 and Chinchilla use 64), ``n_heads = d_model /
  head_dim``, and d_model >= 8 n_layer (``MIN_ASPECT``). Among the shapes whose N is within
  ``tolerance`` of the target, the one whose aspect ratio d_model / n_layer is nearest (in log) to
  ``aspect_ratio`` wins; default 64, the ratio of the small Chinchilla models (Hoffmann et al. 2022
  Table A9: 44M = 512/8, 57M = 576/9, 74M = 640/10); Kaplan et al. 2020 sec. 3.1 find the loss nearly
  flat for aspect ratios 20 to 200. Only when no such shape is close enough (tiny models, whose widths
  step by 16) is d_ff tuned within 2-8 d_model. Targets above 1e7 (GPU scale): :mod:`scalinglab.lab.scale_shapes`.
* IsoFLOP (:func:`isoflop_design`, Hoffmann et al. 2022 approach 2): at each budget C, ``per_budget``
  sizes log-spaced from N*/span to N* x span around the centre's compute-optimal N* (a law via
  :func:`scalinglab.plan.allocation.optimal_allocation`, e.g. ``"hoffmann2022"``, whose N* counts all
  parameters and is used here as a non-embedding N, or a tokens-per-parameter ratio r: N* =
  sqrt(C / (6 r))), clipped to the trainable range (at least ``min_steps`` steps per run);
  each run trains D = C / (6 N) tokens in whole steps of ``batch_size x seq_len``: 6 N D is within half
  a step of C.
* Grid (:func:`grid_design`): every target N with every D (rounded to whole steps).

Needs no torch (the runs are :class:`~scalinglab.lab.config.RunConfig` s); only the dry run's time
estimate, which times real runs (:func:`scalinglab.lab.cpu_speed.measure_cpu_speed`), needs the ``lab``
extra (without it :func:`dry_run_table` leaves the estimate out).
"""

from __future__ import annotations

import functools
import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.counting import flops_from, params_from
from scalinglab.errors import MAX_COUNT, ScalingLabError, finite_number, positive_count
from scalinglab.lab.config import RunConfig
from scalinglab.lab.cpu_speed import CpuSpeed, measure_cpu_speed
from scalinglab.lab.requires import has_torch
from scalinglab.lab.scale_shapes import SCALE_MIN_PARAMS, scale_shape_for_params
from scalinglab.lab.shapes import head_dim_for, lab_shape
from scalinglab.lab.spec import PlannedRun
from scalinglab.plan.allocation import optimal_allocation
from scalinglab.plan.architecture import Architecture
from scalinglab.plan.flops import flops_per_token

__all__ = ["DRY_RUN_COLUMNS", "SPEC_KEYS", "SweepSpec", "design_from_toml", "dry_run_table", "grid_design",
           "head_dim_for", "isoflop_design", "lab_shape", "load_sweep_spec", "shape_for_params"]

#: No shape deeper than d_model / 8 layers: Kaplan et al. 2020 fig. 5 see losses rise at aspect ratios below ~10.
MIN_D_MODEL, MIN_ASPECT, DEFAULT_ASPECT = 16, 8, 64.0
DEFAULT_SEQ_LEN, DEFAULT_BATCH, DEFAULT_MIN_PARAMS = 128, 16, 1e4
#: Most model sizes per budget in one IsoFLOP design.
MAX_PER_BUDGET = 1000
#: RunConfig fields a design passes through unchanged (the design sets arch, tokens, batch_size, seq_len, seed).
RUN_OPTIONS = tuple(f.name for f in fields(RunConfig) if f.name not in ("arch", "tokens", "batch_size",
                                                                          "seq_len", "seed"))
DRY_RUN_COLUMNS = ("label", "budget", "n_layer", "d_model", "n_heads", "params", "params_non_embedding",
                   "tokens", "flops", "steps", "est_seconds")


def _number(value: Any, field_name: str, *, low: float = 0.0, strict: bool = True) -> float:
    """A finite number above ``low`` (or at least ``low`` when not ``strict``), else a one-line error."""
    return finite_number(field_name, value, low=low, low_open=strict)


def _count(value: Any, field_name: str, maximum: int = MAX_COUNT) -> int:
    return positive_count(field_name, value, maximum=maximum)


# ---- shapes --------------------------------------------------------------------------------------------
def _candidates(target: float, vocab_size: int, seq_len: int,
                n_layer: int | None = None) -> tuple[list[Architecture], list[Architecture]]:
    """For each depth L (only ``n_layer`` when given), the widths (multiples of their head dim) just below and above the root of
    12 L d^2 + (4 L + 2) d = target, with d_ff = 4 d; and the same widths with d_ff (a multiple of 16
    within 2 d .. 8 d) solved from N = L (4 d^2 + 2 d d_ff + 4 d) + 2 d = target."""
    plain: list[Architecture] = []
    tuned: list[Architecture] = []
    for n_layer in range(1, 257) if n_layer is None else (n_layer,):
        b = 4 * n_layer + 2
        d = (-b + math.sqrt(b * b + 48 * n_layer * target)) / (24 * n_layer)
        if d < MIN_D_MODEL / 2:
            break
        g = head_dim_for(int(d))
        for width in sorted({max(MIN_D_MODEL, g * math.floor(d / g)), g * math.ceil(d / g)}):
            if width % head_dim_for(width) or width < MIN_ASPECT * n_layer:
                continue
            plain.append(lab_shape(n_layer, width, vocab_size, seq_len))
            rest = target - n_layer * (4 * width * width + 4 * width) - 2 * width
            d_ff = 16 * round(rest / (2 * n_layer * width) / 16)
            if 2 * width <= d_ff <= 8 * width and d_ff != 4 * width:
                tuned.append(lab_shape(n_layer, width, vocab_size, seq_len, d_ff))
    return plain, tuned


def shape_for_params(target_non_embedding_params: float, *, vocab_size: int = 256, seq_len: int = DEFAULT_SEQ_LEN,
                     aspect_ratio: float = DEFAULT_ASPECT, tolerance: float = 0.03,
                     n_layer: int | None = None) -> Architecture:
    """The shape (module docstring) nearest the target non-embedding count: among shapes with
    d_ff = 4 d_model within ``tolerance`` (relative), the aspect ratio d_model / n_layer nearest
    ``aspect_ratio`` (in log); if none, the same among shapes whose d_ff is tuned (multiple of 16,
    2 to 8 d_model) to hit the target; if none, the nearest count. Widths step by 16 at small sizes,
    so d_ff tuning is what keeps models of 1e4 to 1e6 parameters within a few % (Hoffmann et al. 2022
    Table A9 keep 4 d; Kaplan et al. 2020 fig. 5 find d_ff / d_model 1 to 4 nearly equivalent). The
    achieved count is ``arch.params_non_embedding()`` (also written into ``arch.source``). ``n_layer``
    fixes the depth up to 1e7 (only shapes of that many layers are candidates). Above 1e7:
    :func:`~scalinglab.lab.scale_shapes.scale_shape_for_params`."""
    target = _number(target_non_embedding_params, "target_non_embedding_params")
    vocab_size, seq_len = _count(vocab_size, "vocab_size"), _count(seq_len, "seq_len")
    aspect = _number(aspect_ratio, "aspect_ratio")
    tolerance = _number(tolerance, "tolerance", strict=False)
    if target > SCALE_MIN_PARAMS:  # GPU scale: the scale-aware rule (module docstring)
        return scale_shape_for_params(target, vocab_size=vocab_size, seq_len=seq_len, aspect_ratio=aspect,
                                      tolerance=tolerance)
    smallest = lab_shape(1, MIN_D_MODEL, vocab_size, seq_len).params_non_embedding()
    if target < smallest * (1 - tolerance):
        raise ScalingLabError(f"target_non_embedding_params={target:g} is below the smallest model of the shape "
                              f"rule (1 layer, d_model {MIN_D_MODEL}: N={smallest:,})")
    depth = None if n_layer is None else _count(n_layer, "n_layer")
    plain, tuned = _candidates(target, vocab_size, seq_len, depth)

    def error(a: Architecture) -> float:
        return abs(a.params_non_embedding() / target - 1.0)

    def aspect_gap(a: Architecture) -> tuple[float, float, float]:
        return abs(math.log(a.d_model / (a.n_layer * aspect))), abs(a.d_ff / a.d_model - 4), error(a)

    best = None
    for group in (plain, tuned):
        close = [a for a in group if error(a) <= tolerance]
        if close:
            best = min(close, key=aspect_gap)
            break
    if best is None:
        best = min(plain + tuned, key=error)
    n = best.params_non_embedding()
    note = (f"lab shape rule (aspect {aspect:g}): target N={target:.4g}, achieved N={n:,} non-embedding "
            f"parameters ({100 * (n / target - 1):+.1f}%)")
    return Architecture(**{**{f.name: getattr(best, f.name) for f in fields(best)}, "source": note})


# ---- designs -------------------------------------------------------------------------------------------
def _run_options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(RUN_OPTIONS))
    if unknown:
        raise ScalingLabError(f"unknown run option(s) {', '.join(unknown)}; known: {', '.join(RUN_OPTIONS)}")
    return options


def _n_counted(arch: Architecture, flops_params: str) -> float:
    """The N of C = 6 N D for this run (non-embedding unless ``flops_params="total"``)."""
    return params_from(1.0, flops_per_token(arch, "6N", params=flops_params))  # N = M / 6 (D = 1 token)


def _center_params(center: Any, flops: float) -> float:
    """Compute-optimal N* at ``flops``: a tokens-per-parameter ratio r (N* = sqrt(C / 6r)) or a law."""
    ratio: float | None = None
    if isinstance(center, (int, float)) and not isinstance(center, bool):
        ratio = _number(center, "center (tokens per parameter)")
    elif isinstance(center, str):
        try:
            ratio = _number(float(center), "center (tokens per parameter)")
        except ValueError:
            ratio = None
    if ratio is not None:
        return math.sqrt(params_from(ratio, flops))  # C = 6 N (ratio N)
    return optimal_allocation(center, flops).params



def isoflop_design(budgets: Sequence[float], per_budget: int, *, vocab_size: int = 256,
                   seq_len: int = DEFAULT_SEQ_LEN, center: Any = "hoffmann2022", span: float = 4.0,
                   batch_size: int = DEFAULT_BATCH, seed: int = 0, min_params: float = DEFAULT_MIN_PARAMS,
                   aspect_ratio: float = DEFAULT_ASPECT, min_steps: int = 1, n_layer: int | None = None,
                   **run_options: Any) -> list[PlannedRun]:
    """IsoFLOP runs (module docstring): for each budget (FLOPs), ``per_budget`` shapes from N*/span to
    N* x span (log-spaced; clipped to [shape_for_params(min_params), the largest N that gets ``min_steps``
    steps, before shapes round N]: too few leave a run optimisation-limited), each trained D = C / (6 N)
    tokens in whole steps. Shapes that coincide are kept once; ``n_layer`` fixes their depth.
    ``run_options`` go to :class:`RunConfig`."""
    if isinstance(budgets, (str, bytes)) or not isinstance(budgets, Sequence) or not budgets:
        raise ScalingLabError(f"budgets must be a non-empty list of FLOP counts, got {budgets!r}")
    budgets = [_number(c, "budgets") for c in budgets]
    per_budget, batch_size = _count(per_budget, "per_budget", MAX_PER_BUDGET), _count(batch_size, "batch_size")
    seq_len = _count(seq_len, "seq_len")
    span = _number(span, "span", low=1.0, strict=False)
    options = _run_options(run_options)
    flops_params = options.get("flops_params", "non_embedding")
    tokens_per_step = batch_size * seq_len
    min_tokens = _count(min_steps, "min_steps") * tokens_per_step
    rule = functools.partial(shape_for_params, vocab_size=vocab_size, seq_len=seq_len, aspect_ratio=aspect_ratio,
                             n_layer=n_layer)
    n_low = _n_counted(rule(_number(min_params, "min_params")), flops_params)
    runs: list[PlannedRun] = []
    for c in budgets:
        n_high = params_from(min_tokens, c)  # the largest N that still gets min_steps whole steps
        if n_high < n_low:
            raise ScalingLabError(f"budget {c:g} FLOPs is too small: the smallest model (N={n_low:,.0f} parameters, "
                                  f"min_params={min_params:g}) would get fewer than {min_steps} step(s) of "
                                  f"batch_size x seq_len = {tokens_per_step:,} tokens; it needs at least "
                                  f"{flops_from(n_low, min_tokens):.3g} FLOPs")
        n_star = _center_params(center, c)
        lo, hi = (min(max(v, n_low), n_high) for v in (n_star / span, n_star * span))
        targets = [math.sqrt(lo * hi)] if per_budget == 1 else list(np.geomspace(lo, hi, per_budget))
        seen: set[tuple[int, int, int]] = set()
        for target in targets:
            arch = rule(target)
            if (arch.n_layer, arch.d_model, arch.d_ff) in seen:
                continue
            seen.add((arch.n_layer, arch.d_model, arch.d_ff))
            n = _n_counted(arch, flops_params)
            steps = max(1, round(c / flops_from(n, tokens_per_step)))
            config = RunConfig(arch=arch, tokens=steps * tokens_per_step, batch_size=batch_size, seq_len=seq_len,
                               seed=seed, **options)
            runs.append(PlannedRun(config=config, budget=c, label=f"{c:.3g} FLOPs / N {n:.3g}"))
    return runs


def grid_design(params: Sequence[float], tokens: Sequence[float], *, vocab_size: int = 256,
                seq_len: int = DEFAULT_SEQ_LEN, batch_size: int = DEFAULT_BATCH, seed: int = 0,
                aspect_ratio: float = DEFAULT_ASPECT, **run_options: Any) -> list[PlannedRun]:
    """Every target N (non-embedding parameters, shaped by :func:`shape_for_params`) with every D
    (tokens, rounded to the nearest whole step of ``batch_size x seq_len``; less than half a step is
    an error). Order: N-major. ``run_options`` go to :class:`RunConfig`."""
    for name, values in (("params", params), ("tokens", tokens)):
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ScalingLabError(f"{name} must be a non-empty list of numbers, got {values!r}")
    batch_size, seq_len = _count(batch_size, "batch_size"), _count(seq_len, "seq_len")
    options = _run_options(run_options)
    tokens_per_step = batch_size * seq_len
    steps = []
    for d in tokens:
        s = round(_number(d, "tokens") / tokens_per_step)
        if s < 1:
            raise ScalingLabError(f"tokens={d:g} is less than half a step of batch_size x seq_len = "
                                  f"{tokens_per_step:,} tokens")
        steps.append(s)
    runs = []
    for n in params:
        arch = shape_for_params(_number(n, "params"), vocab_size=vocab_size, seq_len=seq_len,
                                aspect_ratio=aspect_ratio)
        for s in steps:
            config = RunConfig(arch=arch, tokens=s * tokens_per_step, batch_size=batch_size, seq_len=seq_len,
                               seed=seed, **options)
            runs.append(PlannedRun(config=config, budget=None,
                                   label=f"N {arch.params_non_embedding():.3g} / D {config.tokens:.3g}"))
    return runs


# ---- spec files ------------------------------------------------------------------------------------------
#: Keys of a spec file's [sweep] table besides the RunConfig options (:data:`RUN_OPTIONS`).
SPEC_KEYS = ("design", "budgets", "per_budget", "center", "span", "min_params", "params", "tokens", "corpus",
             "tokenizer", "text_field", "max_tokens", "vocab_size", "seq_len", "batch_size", "seed", "aspect_ratio",
             "store", "backend", "workers")
_DESIGN_KEYS = {"isoflop": ("budgets", "per_budget", "center", "span", "min_params"), "grid": ("params", "tokens")}
_SHARED_KEYS = ("vocab_size", "seq_len", "batch_size", "seed", "aspect_ratio")


@dataclass
class SweepSpec:
    """A parsed spec file: the design, its runs, and the runner settings (corpus, tokenizer, store,
    backend, workers; None when not given) with every key as written in ``settings``."""

    design: str
    runs: list[PlannedRun]
    corpus: str = "shakespeare"
    tokenizer: str = "bytes"
    settings: dict[str, Any] = field(default_factory=dict)


def load_sweep_spec(path: str | Path) -> SweepSpec:
    """Read a TOML spec file with one ``[sweep]`` table, e.g.::

        [sweep]
        design = "isoflop"          # or "grid" (then params = [...] and tokens = [...])
        budgets = [3e10, 1e11]      # FLOPs; per_budget = 4, corpus = "shakespeare", seed, batch_size, ...
        eval_tokens = 8192          # any RunConfig option: lr, eval_every_tokens, device, ...

    Unknown keys or tables, keys of the other design, and unreadable files are one-line errors."""
    where = f"sweep spec {path}"
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ScalingLabError(f"{where}: file not found") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScalingLabError(f"{where}: not valid TOML ({exc})") from None
    extra = sorted(set(doc) - {"sweep"})
    if extra or not isinstance(doc.get("sweep"), dict):
        raise ScalingLabError(f"{where}: expected one [sweep] table" + (f"; unknown: {', '.join(extra)}" if extra else ""))
    sweep = dict(doc["sweep"])
    unknown = sorted(set(sweep) - set(SPEC_KEYS) - set(RUN_OPTIONS))
    if unknown:
        raise ScalingLabError(f"{where}: unknown key(s) {', '.join(unknown)} in [sweep]")
    design = sweep.get("design")
    if design not in _DESIGN_KEYS:
        raise ScalingLabError(f"{where}: design must be \"isoflop\" or \"grid\", got {design!r}")
    other = "grid" if design == "isoflop" else "isoflop"
    misplaced = sorted(k for k in _DESIGN_KEYS[other] if k in sweep and k not in _DESIGN_KEYS[design])
    if misplaced:
        raise ScalingLabError(f"{where}: key(s) {', '.join(misplaced)} belong to the {other} design, not {design}")
    kwargs = {k: sweep[k] for k in (*_DESIGN_KEYS[design], *_SHARED_KEYS, *RUN_OPTIONS) if k in sweep}
    try:
        if design == "isoflop":
            for key in ("budgets", "per_budget"):
                if key not in kwargs:
                    raise ScalingLabError(f"the isoflop design needs {key}")
            runs = isoflop_design(kwargs.pop("budgets"), kwargs.pop("per_budget"), **kwargs)
        else:
            for key in ("params", "tokens"):
                if key not in kwargs:
                    raise ScalingLabError(f"the grid design needs {key}")
            runs = grid_design(kwargs.pop("params"), kwargs.pop("tokens"), **kwargs)
    except ScalingLabError as exc:
        raise ScalingLabError(f"{where}: {exc}") from None
    return SweepSpec(design=design, runs=runs, corpus=str(sweep.get("corpus", "shakespeare")),
                     tokenizer=str(sweep.get("tokenizer", "bytes")), settings=sweep)


def design_from_toml(path: str | Path) -> list[PlannedRun]:
    """The runs of a TOML spec file (:func:`load_sweep_spec`; its corpus and runner settings are there)."""
    return load_sweep_spec(path).runs


# ---- dry run ---------------------------------------------------------------------------------------------
def dry_run_table(runs: list[PlannedRun], seconds_per_flop: float | None = None, *,
                  speed: CpuSpeed | None = None) -> pd.DataFrame:
    """One row per run (columns :data:`DRY_RUN_COLUMNS`): label, budget (FLOPs; None for a grid), the
    shape, params and params_non_embedding, tokens (trained, whole steps), flops (6 N D as the trainer
    reports), steps, and est_seconds: ``speed.seconds(config)`` (:mod:`scalinglab.lab.cpu_speed`), or
    executed FLOPs (``RunConfig.executed_flops``) x ``seconds_per_flop`` when that is given instead (a
    GPU's rate), else by :func:`~scalinglab.lab.cpu_speed.measure_cpu_speed` (rough). Without torch and
    either, est_seconds is NaN; giving both is an error."""
    if seconds_per_flop is not None and speed is not None:
        raise ScalingLabError("dry_run_table: give seconds_per_flop or speed, not both")
    if seconds_per_flop is not None:
        seconds_per_flop = _number(seconds_per_flop, "seconds_per_flop")
    elif speed is None and has_torch():
        speed = measure_cpu_speed()
    rows = []
    for run in runs:
        c, a = run.config, run.config.arch
        if seconds_per_flop is not None:
            est = c.executed_flops * seconds_per_flop
        else:
            est = math.nan if speed is None else speed.seconds(c)
        rows.append({"label": run.label, "budget": run.budget, "n_layer": a.n_layer, "d_model": a.d_model,
                     "n_heads": a.n_heads, "params": c.params, "params_non_embedding": c.params_non_embedding,
                     "tokens": c.trained_tokens, "flops": c.flops, "steps": c.steps, "est_seconds": est})
    return pd.DataFrame(rows, columns=list(DRY_RUN_COLUMNS))
