"""The CPU time model: seconds per step plus seconds per FLOP, measured, and the work weights of the runner."""

from __future__ import annotations

import pytest

from scalinglab.lab.config import RunConfig
from scalinglab.lab.cpu_speed import STEP_FLOPS, CpuSpeed, _calibration_runs, _solve, measure_cpu_speed, work_flops
from scalinglab.lab.shapes import lab_shape


def test_two_runs_give_back_the_cost_per_step_and_per_flop() -> None:
    runs = _calibration_runs()
    truth = CpuSpeed(seconds_per_step=2e-3, seconds_per_flop=3e-11)
    solved = _solve((truth.seconds(runs[0]), truth.seconds(runs[1])), runs)
    assert solved.seconds_per_step == pytest.approx(2e-3, rel=1e-9)
    assert solved.seconds_per_flop == pytest.approx(3e-11, rel=1e-9)
    # the small run is mostly fixed cost, the large one mostly arithmetic: the system is well posed
    small, large = runs
    assert 2e-3 * small.step_equivalents > 3e-11 * small.executed_flops
    assert 2e-3 * large.step_equivalents < 3e-11 * large.executed_flops


def test_a_noisy_pair_falls_back_to_seconds_per_flop_alone() -> None:
    runs = _calibration_runs()
    # the small run timed slower than the large one: with the same steps, b would come out negative
    solved = _solve((0.01, 0.001), runs)
    assert solved.seconds_per_step == 0.0 and solved.seconds_per_flop == pytest.approx(0.001 / runs[1].executed_flops)


def test_work_weighs_small_runs_by_their_steps() -> None:
    tiny = RunConfig(arch=lab_shape(1, 16, 256, 64), tokens=256 * 1000, batch_size=4, seq_len=64)
    wide = RunConfig(arch=lab_shape(1, 128, 256, 64), tokens=256 * 1000, batch_size=4, seq_len=64)
    assert work_flops(tiny) == pytest.approx(tiny.executed_flops + STEP_FLOPS * tiny.step_equivalents)
    # same steps: 6ND says the wide run costs 60x more; with the per-step cost it is a few times more
    assert wide.flops / tiny.flops > 50
    assert 2 < work_flops(wide) / work_flops(tiny) < 10


def test_measured_speed_is_plausible_and_cached() -> None:
    speed = measure_cpu_speed(seed=0)
    assert 1e-13 < speed.seconds_per_flop < 1e-8  # 0.1 to 10,000 GFLOP/s on one thread
    assert 0 <= speed.seconds_per_step < 1.0
    assert measure_cpu_speed(seed=0) is speed  # measured once per process
