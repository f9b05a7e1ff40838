"""Test-time compute: log-linear vs sigmoid accuracy laws, held-out choice, intervals, clipping
(references.md E3, E5)."""

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.inference import testtime as tt


def _log_linear_data(seed=0):
    # acc = 0.05 + 0.15 log10(x) over 1 .. 1e6 reasoning tokens: 0.05 -> 0.95, a straight line in log x
    x = np.logspace(0, 6, 13)
    noise = np.random.default_rng(seed).normal(0, 0.01, x.size)
    return x, np.clip(0.05 + 0.15 * np.log10(x) + noise, 0, 1)


def _sigmoid_data(seed=0):
    # acc = 0.05 + 0.85 / (1 + exp(-2 (log10 x - 2.5))) over 1 .. 1e5 samples
    x = np.logspace(0, 5, 12)
    noise = np.random.default_rng(seed).normal(0, 0.01, x.size)
    return x, tt.sigmoid_law(x, 0.05, 0.90, 2.0, 2.5) + noise


def test_law_formulas():
    assert tt.log_linear_law(1000.0, 0.1, 0.2) == pytest.approx(0.7)
    assert tt.sigmoid_law(10 ** 2.5, 0.1, 0.9, 3.0, 2.5) == pytest.approx(0.5)  # midpoint at x0
    assert tt.sigmoid_law(1e12, 0.1, 0.9, 3.0, 2.5) == pytest.approx(0.9)


@pytest.mark.parametrize("holdout", ["loo", "largest"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_log_linear_and_picks_it(holdout, seed):
    x, y = _log_linear_data(seed)
    fit = tt.fit_test_time(x, y, holdout=holdout, bootstrap=0)
    assert fit.chosen == tt.LOG_LINEAR
    assert fit.best.params["p"] == pytest.approx(0.05, abs=0.02)
    assert fit.best.params["q"] == pytest.approx(0.15, abs=0.01)
    assert fit.fits[tt.LOG_LINEAR].heldout_rmse < fit.fits[tt.SIGMOID].heldout_rmse


@pytest.mark.parametrize("holdout", ["loo", "largest"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_sigmoid_and_picks_it(holdout, seed):
    x, y = _sigmoid_data(seed)
    fit = tt.fit_test_time(x, y, holdout=holdout, bootstrap=0)
    assert fit.chosen == tt.SIGMOID
    got = fit.best.params
    assert got["low"] == pytest.approx(0.05, abs=0.02) and got["high"] == pytest.approx(0.90, abs=0.02)
    assert got["k"] == pytest.approx(2.0, rel=0.1) and got["x0"] == pytest.approx(2.5, abs=0.05)


def test_extrapolation_intervals_and_clipping():
    x, y = _log_linear_data()
    fit = tt.fit_test_time(x, y, bootstrap=100, seed=3)
    inside = fit.predict(1e3)  # true 0.50
    assert inside.low < 0.50 < inside.high and inside.accuracy == pytest.approx(0.50, abs=0.02)
    assert not inside.clipped and not inside.extrapolated
    far = fit.predict(1e8)  # the line gives 0.05 + 1.2 = 1.25: clipped to 1 and said so
    assert far.clipped and far.extrapolated and far.accuracy == 1.0 and far.high == 1.0
    assert "clipped" in far.note and "extrapolated" in far.note
    again = tt.fit_test_time(x, y, bootstrap=100, seed=3).predict(1e3)
    assert (again.low, again.high) == (inside.low, inside.high)  # seeded

    xs, ys = _sigmoid_data()
    sig = tt.fit_test_time(xs, ys, bootstrap=50, seed=0)
    plateau = sig.predict(1e7)  # saturates at high ~ 0.90, inside [0, 1]: no clipping
    assert plateau.accuracy == pytest.approx(0.90, abs=0.02) and not plateau.clipped
    assert plateau.low <= plateau.accuracy <= plateau.high


def test_few_points_fit_log_linear_only():
    fit = tt.fit_test_time([10, 100, 1000, 10000], [0.2, 0.3, 0.41, 0.5], bootstrap=0)
    assert set(fit.fits) == {tt.LOG_LINEAR} and fit.chosen == tt.LOG_LINEAR
    assert "log-linear only" in fit.notes[0]
    assert set(fit.to_dict()) >= {"chosen", "fits", "holdout", "x_name"}


@pytest.mark.parametrize("args, kwargs, match", [
    (([1, 10, -100], [0.1, 0.2, 0.3]), {}, "reasoning_tokens\\[2\\] must be a finite number > 0"),
    (([1, 10, 100], [0.1, 0.2, 1.3]), {}, "accuracy\\[2\\] must be a fraction in \\[0, 1\\]"),
    (([1, 10], [0.1, 0.2]), {}, "at least 3 distinct"),
    (([1, 10, 100], [0.1, 0.2]), {}, "same length"),
    (([1, 10, 100], [0.1, 0.2, 0.3]), {"holdout": "random"}, "holdout must be"),
    (([1, 10, 100], [0.1, 0.2, 0.3]), {"level": 1.5}, "level must be in"),
])
def test_bad_input(args, kwargs, match):
    with pytest.raises(ScalingLabError, match=match):
        tt.fit_test_time(*args, **kwargs)
    fit = tt.fit_test_time([1, 10, 100], [0.1, 0.2, 0.3], bootstrap=0)
    with pytest.raises(ScalingLabError, match="must be a finite number > 0"):
        fit.predict(0)
