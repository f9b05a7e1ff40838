"""How long a run takes on this CPU: a fixed cost per optimiser step plus a cost per executed FLOP, both
measured.

Time model (seconds) of a :class:`~scalinglab.lab.config.RunConfig` trained on the CPU:

    t = a x S + b x F

with S = :attr:`~scalinglab.lab.config.RunConfig.step_equivalents` (optimiser steps plus the evaluation's
forward-only batches, a third of a step each) and F = :attr:`~scalinglab.lab.config.RunConfig.executed_flops`
(3 x the forward FLOPs of Hoffmann et al. 2022 App. F per trained token, one forward per evaluated token).
``a`` (seconds per step) is what a step costs whatever the model: Python, a few hundred kernel launches,
the optimiser's update; ``b`` (seconds per FLOP) the arithmetic. Tiny models are dominated by ``a``
(a one-layer d_model 16 model spends most of its time there), larger ones by ``b``: one number for both
made the demo's estimate low by 1.8x (docs/lab.md). :func:`measure_cpu_speed` measures both from two
short real runs of the two kinds on one torch thread (as the trainer runs), about a second in all.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np

from scalinglab.lab.config import RunConfig
from scalinglab.lab.data import TokenData
from scalinglab.lab.requires import require_torch
from scalinglab.lab.shapes import lab_shape

__all__ = ["STEP_FLOPS", "CpuSpeed", "measure_cpu_speed", "work_flops"]

#: FLOP-equivalents of one optimiser step's fixed cost on a CPU: a / b of the time model, 2.4 ms per step
#: over 1.6e-11 s per FLOP as :func:`measure_cpu_speed` found them on this project's 2-core machine
#: (2026-12-06). Only ratios between runs use it (:func:`work_flops`), so it needs no measurement per sweep;
#: on a GPU, whose FLOPs are far cheaper, the fixed cost weighs more than this and the ETA of a sweep of
#: tiny runs stays rough.
STEP_FLOPS = 1.5e8


@dataclass(frozen=True)
class CpuSpeed:
    """Measured costs of the module docstring's time model: seconds per step and seconds per FLOP."""

    seconds_per_step: float
    seconds_per_flop: float

    def seconds(self, config: RunConfig) -> float:
        """Estimated seconds to train ``config`` (``a x S + b x F``)."""
        return self.seconds_per_step * config.step_equivalents + self.seconds_per_flop * config.executed_flops


def work_flops(config: RunConfig) -> float:
    """A run's expected time in FLOP-equivalents, ``F + STEP_FLOPS x S`` (the module docstring's model
    over b): what the sweep's ETA (:class:`~scalinglab.lab.progress.SweepProgress`) and the pool's
    longest-first order weigh runs by. 6ND alone made a one-layer d_model 16 run look 20x cheaper than
    it is beside a d_model 128 one."""
    return config.executed_flops + STEP_FLOPS * config.step_equivalents


def _calibration_runs() -> tuple[RunConfig, RunConfig]:
    """An overhead-bound run (1 layer, d_model 16) and a compute-bound one (2 layers, d_model 64), each
    24 steps of 8 x 64 tokens, evaluated once on 512 tokens."""
    return tuple(RunConfig(arch=lab_shape(layers, width, 256, 64), tokens=24 * 512, batch_size=8, seed=0,
                           eval_tokens=512, eval_every_tokens=24 * 512) for layers, width in ((1, 16), (2, 64)))


def _solve(times: tuple[float, float], runs: tuple[RunConfig, RunConfig]) -> CpuSpeed:
    """a and b from two runs (2 x 2 linear system; the two runs have the same steps, so their FLOPs
    tell a from b); a measurement too noisy for a positive pair falls back to the compute-bound run's
    seconds per FLOP alone (a = 0)."""
    (s1, s2), (f1, f2) = [r.step_equivalents for r in runs], [r.executed_flops for r in runs]
    a, b = np.linalg.solve([[s1, f1], [s2, f2]], times)
    if a <= 0 or b <= 0:
        return CpuSpeed(0.0, times[1] / f2)
    return CpuSpeed(float(a), float(b))


@functools.lru_cache(maxsize=4)
def measure_cpu_speed(seed: int = 0) -> CpuSpeed:
    """:class:`CpuSpeed` of this CPU from the two short runs of :func:`_calibration_runs` (each after a
    two-step warm-up; about a second in all; cached per process). ROUGH: other jobs on the machine and
    shapes far from the two measured move it. Needs torch (the ``lab`` extra), else a one-line
    ScalingLabError says how to install it."""
    require_torch("measure_cpu_speed (it times two training runs)")
    from scalinglab.lab.train import train_run

    rng = np.random.default_rng(seed)
    data = TokenData(train=rng.integers(0, 256, 20_000), val=rng.integers(0, 256, 2_000), vocab_size=256,
                     bytes_per_token=1.0, name="calibration")
    runs = _calibration_runs()
    times = []
    for config in runs:
        warm = RunConfig(arch=config.arch, tokens=2 * 512, batch_size=8, seed=seed, eval_tokens=64)
        train_run(warm, data)
        started = time.perf_counter()
        train_run(config, data)
        times.append(time.perf_counter() - started)
    return _solve((times[0], times[1]), runs)
