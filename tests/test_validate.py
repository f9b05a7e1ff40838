"""The validation layer (scalinglab.errors): one wording, huge integers, text, None, non-finite values."""

import math

import numpy as np
import pytest

from scalinglab import errors as e
from scalinglab.errors import ScalingLabError

BIG = 10**400


@pytest.mark.parametrize("call, message", [
    (lambda: e.positive_number("flops", BIG), "flops must be a finite number > 0, got 1.00e+400 (an integer of 401 digits)"),
    (lambda: e.positive_number("flops", "abc"), "flops must be a finite number > 0, got 'abc'"),
    (lambda: e.positive_number("flops", True), "flops must be a finite number > 0, got True"),
    (lambda: e.non_negative_number("x", -1), "x must be a finite number >= 0, got -1"),
    (lambda: e.finite_number("x", np.float64("nan")), "x must be a finite number, got nan"),
    (lambda: e.fraction("mfu", 1.5), "mfu must be in (0, 1], got 1.5"),
    (lambda: e.level_number(1), "level must be in (0, 1), got 1"),
    (lambda: e.positive_count("batch", 0), "batch must be a whole number >= 1, got 0"),
    (lambda: e.positive_count("batch", 2.5), "batch must be a whole number >= 1, got 2.5"),
    (lambda: e.positive_count("batch", -BIG), "batch must be a whole number >= 1, got -1.00e+400"),
    (lambda: e.positive_count("batch", BIG), "batch must be a whole number >= 1 and at most 9,007,199,254,740,992"),
    (lambda: e.bootstrap_count(10**6), "bootstrap must be a whole number >= 0 and at most 100,000, got 1000000"),
    (lambda: e.choice("x", 3, ("flops", "params")), "x must be one of flops, params, got 3"),
    (lambda: e.positive_array("params", [1e9, -1]), "params[1] must be a finite number > 0, got -1.0"),
    (lambda: e.finite_array("params", {}, low=0.0, low_open=True), "params must be finite numbers > 0, got {}"),
    (lambda: e.finite_array("params", []), "params is empty"),
    (lambda: e.count_array("params", 1e-300), "params must be a finite number >= 1, got 1e-300"),
    (lambda: e.loss_number("target loss", 5e-324), "target loss (nats/token) must be a finite number >= 0.001"),
    (lambda: e.as_list("budgets", 1e21), "budgets must be a list, got 1e+21"),
    (lambda: e.column_name("metric", []), "metric must be a column name (text), got []"),
    (lambda: e.table_path("data", 3), "data must be a table file path or a DataFrame, got 3"),
    (lambda: e.finite_result("cost", [1.0, math.inf]), "cost is not finite (inf): the inputs are too large"),
])
def test_one_line_one_wording(call, message):
    with pytest.raises(ScalingLabError) as info:
        call()
    assert message in str(info.value) and "\n" not in str(info.value)


def test_values_pass_through_converted():
    assert e.positive_count("n", 8.0) == 8 and isinstance(e.positive_count("n", np.int64(8)), int)
    assert e.positive_number("x", "1e9") == 1e9
    assert e.fraction("f", 1) == 1.0
    assert e.choice("x", " Flops ", ("flops",)) == "flops"
    assert e.finite_array("x", [1, 2]).tolist() == [1.0, 2.0]
    assert e.finite_result("y", 3.0) == 3.0
    assert e.as_list("k", (1, 2)) == [1, 2]
    assert not e.is_existing_path("1" * 5000) and not e.is_existing_path("a\0b", file=True)


def test_exact_whole_numbers_refuse_floats_in_the_same_wording():
    # exact=True: a size stored as given (bootstrap, seed, n_bins, config fields) must be an int
    assert e.whole_number("n", np.int64(7), exact=True) == 7 and e.whole_number("n", 7.0) == 7
    with pytest.raises(ScalingLabError, match=r"^n must be a whole number >= 0, got 7\.0$"):
        e.whole_number("n", 7.0, exact=True)
    with pytest.raises(ScalingLabError, match=r"^bootstrap must be a whole number >= 0, got 200\.0$"):
        e.bootstrap_count(200.0, exact=True)
    with pytest.raises(ScalingLabError, match=r"^--seed must be a whole number >= 0, got 1\.0$"):
        e.seed_number(1.0, "--seed", exact=True)
    assert e.bootstrap_count(200.0) == 200  # without exact, an integral float is the count it names


def test_long_values_are_shortened_in_messages():
    assert e.plain_repr(BIG) == "1.00e+400 (an integer of 401 digits)"
    assert e.plain_repr(12345) == "12345"
    assert e.plain_repr("x" * 500).endswith("(502 characters)")
    assert e.plain_repr(np.float64("nan")) == "nan"


def test_an_error_is_always_one_line():
    # a quoted user string with a line break (found by the API fuzz test) stays on one line, escaped
    from scalinglab.errors import ScalingLabError
    from scalinglab.laws.published import get_published

    with pytest.raises(ScalingLabError) as err:
        get_published("hoff\nmann")
    assert "\n" not in str(err.value) and "hoff\\nmann" in str(err.value)
