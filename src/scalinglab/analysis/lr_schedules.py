"""Learning-rate schedules step by step, and the two areas of the schedule law (Tissue et al. 2024).

A schedule is the learning rate eta_i used at each optimiser step i = 1..T (units: the optimiser's
learning rate, dimensionless as the optimiser sees it). It comes either from a description
(:func:`parse_schedule`, :func:`schedule_lrs`) or from learning rates recorded at evaluation steps
(:func:`lrs_from_records`).

The areas (``references.md L1``; Tissue et al. 2024, Eq. 1 and its definitions of S1 and S2):

- forward area  S1(s) = sum_{i=1..s} eta_i  (units: learning rate x steps); warmup counts (it is area
  under the LR curve; Luo et al. 2025, Eq. 1 likewise add the warmup sum S_W to S1);
- annealing area  S2(s) = sum_{i=1..s} m_i,  m_i = lambda m_{i-1} + (eta_{i-1} - eta_i), m_0 = 0, with
  the momentum-like decay factor lambda (0.999 in the paper) (units: learning rate x steps). The
  LR rise of the warmup is not an annealing: m stays 0 up to the step where the LR first reaches its
  maximum (Luo et al. 2025 likewise start their loss-drop sum after warmup).

Description syntax: ``kind[:key=value,...]`` (``:`` or ``,`` between items), kind one of
``constant``, ``cosine``, ``linear``, ``wsd``; keys ``steps`` (T), ``warmup`` (steps, or a fraction
of T when below 1), ``peak`` and ``final`` (learning rates), ``cooldown`` (WSD: fraction of T spent
decaying, Hägele et al. 2024). Warmup is linear from 0: eta_i = peak x i / W for i <= W. After it:
constant keeps ``peak``; cosine is final + (peak - final)(1 + cos(pi p))/2 and linear is peak +
(final - peak) p with p = (i - W)/(T - W); WSD holds ``peak`` until T - cooldown x T and then decays
linearly to ``final`` at step T.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from scalinglab.errors import ScalingLabError, finite_number, fraction, whole_number
from scalinglab.laws.multi_power import warmup_end  # the end of the warmup, shared with the multi-power law

Array = np.ndarray

#: Tissue et al. 2024's decay factor of the annealing momentum (references.md L1).
DEFAULT_DECAY = 0.999
#: Schedule kinds a description may name.
KINDS = ("constant", "cosine", "linear", "wsd")
#: The longest schedule built step by step (each step is one float; 10^8 steps is 800 MB).
MAX_STEPS = 10**8

__all__ = ["DEFAULT_DECAY", "KINDS", "Schedule", "annealing_area", "forward_area", "lrs_from_records",
           "parse_schedule", "schedule_lrs", "warmup_end"]


@dataclass(frozen=True)
class Schedule:
    """A schedule description: kind, steps T, warmup (steps, or a fraction of T below 1), peak and
    final learning rates, WSD cooldown fraction. ``None`` fields are filled from defaults."""

    kind: str
    steps: int | None = None
    warmup: float | None = None
    peak: float | None = None
    final: float | None = None
    cooldown: float | None = None

    def text(self) -> str:
        """The description back as ``kind:key=value,...`` (only the fields that are set)."""
        items = [f"{k}={v:g}" for k, v in (("steps", self.steps), ("warmup", self.warmup), ("peak", self.peak),
                                             ("final", self.final), ("cooldown", self.cooldown)) if v is not None]
        return self.kind + (":" + ",".join(items) if items else "")

    def filled(self, steps: int | None = None, warmup: float | None = None, peak: float | None = None,
               final: float | None = None, cooldown: float = 0.2) -> Schedule:
        """The description with its unset fields taken from the arguments."""
        def pick(own, other):
            return other if own is None else own
        return replace(self, steps=pick(self.steps, steps), warmup=pick(self.warmup, warmup),
                       peak=pick(self.peak, peak),
                       final=self.final if self.kind == "constant" else pick(self.final, final),
                       cooldown=pick(self.cooldown, cooldown) if self.kind == "wsd" else self.cooldown)


def parse_schedule(text: object) -> Schedule:
    """``kind[:key=value,...]`` as a :class:`Schedule`, else a one-line ScalingLabError."""
    if not isinstance(text, str) or not text.strip():
        raise ScalingLabError(f"schedule must be text like 'wsd:cooldown=0.2', got {text!r}")
    head, _, rest = text.strip().replace(",", ":", 1).partition(":")
    kind = head.strip().lower()
    if kind not in KINDS:
        raise ScalingLabError(f"schedule kind must be one of {', '.join(KINDS)}, got {head.strip()!r}")
    values: dict[str, float] = {}
    for item in rest.replace(",", ":").split(":"):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq or key not in ("steps", "warmup", "peak", "final", "cooldown"):
            raise ScalingLabError(f"schedule {text.strip()!r}: items are key=value with keys steps, warmup, "
                                  f"peak, final, cooldown, got {item.strip()!r}")
        values[key] = finite_number(f"schedule {key}", value.strip(), low=0.0)
    steps = values.pop("steps", None)
    if "cooldown" in values:
        fraction("schedule cooldown", values["cooldown"])
    return Schedule(kind, None if steps is None else whole_number("schedule steps", steps, minimum=1,
                                                                     maximum=MAX_STEPS), **values)


def schedule_lrs(schedule: Schedule) -> Array:
    """The learning rate at steps 1..T of a filled description (every field it needs set)."""
    s = schedule
    if s.steps is None or s.peak is None:
        raise ScalingLabError(f"schedule {s.text()!r} needs steps and peak")
    T = whole_number("schedule steps", s.steps, minimum=1, maximum=MAX_STEPS)
    peak = finite_number("schedule peak", s.peak, low=0.0, low_open=True)
    final = peak if s.kind == "constant" else finite_number("schedule final", 0.0 if s.final is None else s.final,
                                                             low=0.0, high=peak)
    w = 0.0 if s.warmup is None else s.warmup
    W = int(round(w * T)) if w < 1 else int(round(w))
    if W >= T:
        raise ScalingLabError(f"schedule {s.text()!r}: warmup ({W} steps) must be shorter than steps ({T})")
    i = np.arange(1, T + 1, dtype=float)
    p = np.clip((i - W) / max(T - W, 1), 0.0, 1.0)
    if s.kind == "constant":
        lr = np.full(T, peak)
    elif s.kind == "cosine":
        lr = final + (peak - final) * 0.5 * (1.0 + np.cos(math.pi * p))
    elif s.kind == "linear":
        lr = peak + (final - peak) * p
    else:
        K = int(round(fraction("schedule cooldown", 0.2 if s.cooldown is None else s.cooldown) * T))
        start = max(T - K, W)
        q = np.clip((i - start) / max(T - start, 1), 0.0, 1.0)
        lr = peak + (final - peak) * q
    if W > 0:
        lr[:W] = peak * i[:W] / W
    return lr


def lrs_from_records(steps: Array, lrs: Array) -> Array:
    """Learning rates at steps 1..s_last from values recorded at evaluation ``steps`` (sorted, >= 0).

    Between recorded steps the LR is interpolated linearly; before the first recorded step s_1 it is
    taken to rise linearly from 0 (a linear warmup, eta_i = lr_1 x i / s_1): the S1 this adds is
    about lr_1 x s_1 / 2. Record the LR at every step (or from step 1) to make the areas exact.
    """
    steps, lrs = np.asarray(steps, dtype=float), np.asarray(lrs, dtype=float)
    last = int(steps[-1])
    if last < 1 or last > MAX_STEPS:
        raise ScalingLabError(f"the last step must be from 1 to {MAX_STEPS:,}, got {last}")
    i = np.arange(1, last + 1, dtype=float)
    out = np.interp(i, steps, lrs)
    first = steps[0]
    if first > 1:
        early = i < first
        out[early] = lrs[0] * i[early] / first
    return out


def forward_area(lrs: Array) -> Array:
    """S1 at steps 1..T: the cumulative sum of the learning rates (units: LR x steps)."""
    return np.cumsum(np.asarray(lrs, dtype=float))


def annealing_area(lrs: Array, decay: float = DEFAULT_DECAY) -> Array:
    """S2 at steps 1..T: sum_{i<=s} m_i with m_i = decay m_{i-1} + (eta_{i-1} - eta_i), m = 0 up to the
    warmup's end (:func:`warmup_end`) (units: LR x steps).

    m is a first-order linear (IIR) filter of the LR decreases d_i, evaluated exactly for any decay
    in [0, 1) by scipy's ``lfilter`` (no overflow for a tiny decay, no Python loop over steps).
    """
    from scipy.signal import lfilter  # third-party, loaded when used

    lam = finite_number("decay", decay, low=0.0, high=1.0, high_open=True)
    lrs = np.asarray(lrs, dtype=float)
    d = np.zeros_like(lrs)
    d[1:] = lrs[:-1] - lrs[1:]
    d[:warmup_end(lrs)] = 0.0
    m = lfilter([1.0], [1.0, -lam], d) if d.size else d
    return np.cumsum(m)
