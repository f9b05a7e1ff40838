"""The one "distinct optima" helper (scalinglab.fitting.multistart.distinct_optima): bootstrap starts of
the law fits and of the sigmoid fits of scalinglab.analysis."""

import numpy as np

from scalinglab.fitting.multistart import distinct_index, distinct_optima


def test_ranked_by_value_skipping_near_duplicates_and_stopping_at_non_finite():
    theta = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0005], [2.0, 0.0], [5.0, 5.0]])
    value = np.array([3.0, 1.0, 2.0, np.inf, 0.5])
    assert distinct_index(theta, 10, value=value) == [4, 1, 2]  # 0 duplicates 2; inf ends the list
    assert distinct_index(theta, 2, value=value) == [4, 1]
    np.testing.assert_array_equal(distinct_optima(theta, 2, value=value), theta[[4, 1]])


def test_given_order_and_scaled_tolerance():
    theta = np.array([[0.0, 0.0], [0.5, 0.0], [0.0, 5.0], [3.0, 0.0]])
    scale = np.array([100.0, 1000.0])  # differences under 1% of the scale are duplicates
    np.testing.assert_array_equal(distinct_optima(theta, 4, tol=1e-2, scale=scale), theta[[0, 3]])
    assert distinct_optima(theta[:0], 3).shape == (0, 2)
