"""scalinglab.counting: C = 6ND, bytes per dtype, PF-days, with published numbers."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab import counting
from scalinglab.counting import (
    DTYPE_BYTES,
    FLOPS_PER_PARAM_TOKEN,
    PF_DAY_FLOPS,
    complete_six_nd,
    flops_from,
    flops_to_pf_days,
    params_from,
    pf_days_to_flops,
    tokens_from,
)
from scalinglab.errors import ScalingLabError


def test_six_is_kaplan():
    assert FLOPS_PER_PARAM_TOKEN == 6
    assert "Kaplan" in counting.SIX_ND_SOURCE and "2.1" in counting.SIX_ND_SOURCE


def test_gpt3_175b():
    # Brown et al. 2020 Table D.1: 174.6e9 parameters, 300e9 tokens, 3.14e23 FLOPs, 3,640 PF-days
    c = flops_from(174.6e9, 300e9)
    assert c == pytest.approx(3.1428e23, rel=1e-4)
    assert flops_to_pf_days(c) == pytest.approx(3637.5, abs=0.1)
    assert pf_days_to_flops(flops_to_pf_days(c)) == pytest.approx(c, rel=1e-15)


def test_chinchilla_70b():
    # Hoffmann et al. 2022: 70e9 parameters on 1.4e12 tokens = 5.88e23 FLOPs
    c = flops_from(70e9, 1.4e12)
    assert c == pytest.approx(5.88e23, rel=1e-12)
    assert tokens_from(70e9, 5.88e23) == pytest.approx(1.4e12, rel=1e-12)
    assert params_from(1.4e12, 5.88e23) == pytest.approx(70e9, rel=1e-12)


def test_argument_order_matters():
    # tokens_from(params, flops) and params_from(tokens, flops): swapping would give 1e9 and 1e12 back
    assert tokens_from(1e9, 6e21) == pytest.approx(1e12)
    assert params_from(1e12, 6e21) == pytest.approx(1e9)


def test_same_bits_as_the_expressions_replaced():
    rng = np.random.default_rng(0)
    n, d = 10 ** rng.uniform(6, 11, 50), 10 ** rng.uniform(8, 13, 50)
    c = 6.0 * n * d
    assert np.array_equal(flops_from(n, d), 6.0 * n * d)
    assert np.array_equal(tokens_from(n, c), c / (6.0 * n))
    assert np.array_equal(params_from(d, c), c / (6.0 * d))
    assert isinstance(flops_from(2, 3), float) and flops_from(2, 3) == 36.0


def test_complete_six_nd():
    assert complete_six_nd(params=1e9, tokens=2e10) == (1e9, 2e10, pytest.approx(1.2e20))
    assert complete_six_nd(params=1e9, flops=1.2e20) == (1e9, pytest.approx(2e10), 1.2e20)
    assert complete_six_nd(tokens=2e10, flops=1.2e20) == (pytest.approx(1e9), 2e10, 1.2e20)
    with pytest.raises(ScalingLabError, match="exactly two"):
        complete_six_nd(params=1e9)
    with pytest.raises(ScalingLabError, match="exactly two"):
        complete_six_nd(params=1e9, tokens=1e10, flops=6e19)


def test_complete_counts():
    """The mapping form: the third of N, D, C from exactly two; None counts as absent; other keys dropped."""
    assert counting.complete_counts({"params": 1e9, "tokens": 2e10}) == {
        "params": 1e9, "tokens": 2e10, "flops": pytest.approx(1.2e20)}
    assert counting.complete_counts({"flops": 1.2e20, "params": 1e9, "loss": 2.0})["tokens"] == pytest.approx(2e10)
    assert counting.complete_counts({"tokens": 2e10, "flops": 1.2e20, "params": None})["params"] == pytest.approx(1e9)
    assert counting.complete_counts({"params": 1e9}) == {"params": 1e9}
    three = {"params": 1e9, "tokens": 1e10, "flops": 7e19}  # all three given: returned as given
    assert counting.complete_counts(three) == three


def test_six_nd_table_matches_functions():
    for name, (ins, rule) in counting.SIX_ND.items():
        given = {"params": 3e8, "tokens": 5e9, "flops": 9e18}
        assert rule(*(given[k] for k in ins)) == pytest.approx(given[name])


def test_pf_day():
    assert PF_DAY_FLOPS == 8.64e19
    assert pf_days_to_flops(1.0) == 8.64e19
    assert counting.SECONDS_PER_DAY == 24 * counting.SECONDS_PER_HOUR == 86_400


def test_dtype_bytes_is_one_table():
    from scalinglab.inference import memory
    from scalinglab.plan import hardware

    assert DTYPE_BYTES == {"fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1, "int4": 0.5}
    assert hardware.DTYPE_BYTES is DTYPE_BYTES
    assert all(memory.WEIGHT_DTYPE_BYTES[k] == DTYPE_BYTES[k] for k in memory.WEIGHT_DTYPE_BYTES)
    assert memory.bytes_per_element("int4") == 0.5 and memory.bytes_per_element("BF16") == 2.0
    with pytest.raises(ScalingLabError, match="unknown"):
        memory.bytes_per_element("tf32")  # a compute format, not a storage dtype (as before)


def test_units_reexports():
    from scalinglab import units

    assert units.PF_DAY_FLOPS is PF_DAY_FLOPS
    assert units.flops_to_pf_days(8.64e19) == 1.0
