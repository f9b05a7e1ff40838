"""CustomLaw: the documented example, its finite-difference Jacobian, guards and validation."""

from __future__ import annotations

import numpy as np
import pytest
from lawcases import custom_power_floor
from scipy.optimize import least_squares

from scalinglab.errors import ScalingLabError
from scalinglab.laws import CustomLaw, PowerFloor

N = np.logspace(7, 10, 15)


def test_example_shapes_and_grid():
    law = custom_power_floor()
    assert law.theta_names == ("ln_E", "ln_A", "alpha") and law.param_names == ("E", "A", "alpha")
    g = law.init_grid({}, None)
    assert g.shape == (27, 3)
    np.testing.assert_allclose(np.unique(np.exp(g[:, 0])), [1.0, 1.5, 2.0])
    f, J = law.log_predict(g, {"params": N}, jac=True)
    assert f.shape == (27, 15) and J.shape == (27, 3, 15)
    assert law.label == "my_power_floor"


def test_fd_jacobian_matches_power_floor_analytic():
    """Same parametrisation as PowerFloor (ln E, ln A, alpha): the FD Jacobian must match its analytic one."""
    law, ref = custom_power_floor(), PowerFloor("params")
    rng = np.random.default_rng(3)
    theta = np.column_stack([rng.uniform(-1, 1.5, 50), rng.uniform(0, 12, 50), rng.uniform(0.05, 1.5, 50)])
    X = {"params": np.concatenate([N, [1e12, 1e-3]])}
    f, J = law.log_predict(theta, X, jac=True)
    f_ref, J_ref = ref.log_predict(theta, X, jac=True)
    np.testing.assert_allclose(f, f_ref, rtol=1e-12)
    np.testing.assert_allclose(J, J_ref, rtol=1e-5, atol=1e-8)


def test_fit_recovers_parameters():
    law = custom_power_floor()
    truth = np.array([np.log(1.8), np.log(300.0), 0.3])
    X = {"params": N}
    y = law.log_predict(truth[None, :], X)[0]
    start = law.init_grid(X, np.exp(y))[13]

    def resid(t):
        return law.log_predict(t[None, :], X)[0] - y

    def jac(t):
        return law.log_predict(t[None, :], X, jac=True)[1][0].T

    lo, hi = law.bounds()
    sol = least_squares(resid, start, jac=jac, bounds=(lo, hi), xtol=1e-14, ftol=1e-14, gtol=1e-14)
    np.testing.assert_allclose(sol.x, truth, rtol=1e-4, atol=1e-4)


def test_non_positive_prediction_is_nan_without_warning():
    law = CustomLaw("linear", lambda params, a, b: a - b * np.log(params), "params", {"a": 3.0, "b": 0.1})
    f, J = law.log_predict(np.array([[3.0, 0.1], [1.0, 1.0]]), {"params": np.array([1e2, 1e9])}, jac=True)
    assert np.all(np.isfinite(f[0])) and np.all(np.isnan(f[1]))
    assert J.shape == (2, 2, 2)
    lo, hi = law.bounds()
    assert np.all(np.isinf(lo)) and np.all(np.isinf(hi))


def test_scalar_function_broadcasts():
    law = CustomLaw("const", lambda tokens, c: c + 0.0 * tokens, ("tokens",), {"c": [1.0, 2.0]}, positive={"c"})
    f = law.log_predict(law.init_grid({}, None), {"tokens": np.array([1.0, 2.0, 3.0])})
    np.testing.assert_allclose(f, np.log([[1.0] * 3, [2.0] * 3]))


@pytest.mark.parametrize("kwargs,match", [
    ({"variables": ("width",)}, "variables must be among"),
    ({"params": {"params": 1.0}}, "clash"),
    ({"params": {}}, "at least one parameter"),
    ({"positive": {"Z"}}, "unknown parameters"),
    ({"params": {"A": -1.0, "alpha": 0.3}}, "positive"),
    ({"bounds": {"alpha": (0.5, 2.0)}}, "outside its bounds"),
    ({"bounds": {"alpha": (1.0, 0.0)}}, "lo < hi"),
    ({"bounds": {"Q": (0.0, 1.0)}}, "unknown parameters"),
    ({"name": "a:b"}, "name"),
    ({"fn": 3}, "callable"),
    ({"params": {"A": "x", "alpha": 0.3}}, "numbers"),
])
def test_validation(kwargs, match):
    base = dict(name="ok", fn=lambda params, A, alpha: A * params**-alpha, variables=("params",),
                params={"A": 10.0, "alpha": [0.1, 0.3]}, positive={"A"})
    base.update(kwargs)
    with pytest.raises(ScalingLabError, match=match):
        CustomLaw(**base)


def test_bad_return_shape():
    law = CustomLaw("bad", lambda params, a: np.ones(7) * a, "params", {"a": 1.0})
    with pytest.raises(ScalingLabError, match="shape"):
        law.log_predict(np.array([[1.0], [2.0]]), {"params": N})
