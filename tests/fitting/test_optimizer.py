"""The one batched, bounded Levenberg-Marquardt optimiser (scalinglab.fitting.optimizer.minimize_residuals).

Every fit runs on it: the law families through minimize_batched, the sigmoids of
analysis._sigmoid and the test-time-compute sigmoid of inference.testtime through a residual
callable. Comparisons are to a reference optimum within a tolerance on the objective (or on
well-identified parameters), so they hold whichever equally good floating-point optimum a CPU reaches.
"""

import numpy as np
import pytest
from scipy.optimize import least_squares

from scalinglab.fitting.objective import Objective
from scalinglab.fitting.optimizer import (
    LAMBDA_DOWN,
    LAMBDA_STALL,
    LAMBDA_UP,
    law_residuals,
    minimize_batched,
    minimize_residuals,
)
from scalinglab.laws import Chinchilla

U = np.linspace(0.0, 3.0, 25)


def _decay(theta, u):
    """y = a exp(-b u) + c, and its Jacobian (S, 3, n)."""
    a, b, c = (theta[:, [j]] for j in range(3))
    e = np.exp(-b * u[None, :])
    return a * e + c, np.stack([e, -a * u[None, :] * e, np.ones_like(e)], axis=1)


def _residuals(Y, u=U):
    """Residuals of the decay model against per-start targets Y (S, n): starts index the rows of Y."""
    def residuals(theta, starts, rows, jac=False):
        f, J = _decay(theta, u[rows])
        r = f - Y[starts][:, rows]
        return (r, J) if jac else r
    return residuals


def _scipy(y, lo, hi, x0):
    def fun(t):
        return _decay(t[None, :], U)[0][0] - y
    return least_squares(fun, x0, bounds=(lo, hi), method="trf", xtol=1e-15, ftol=1e-15, gtol=1e-15)


def test_one_set_of_damping_constants():
    assert 0 < LAMBDA_DOWN < 1 < LAMBDA_UP and LAMBDA_STALL == 1e12


def test_batched_problems_reach_the_reference_optimum_each():
    rng = np.random.default_rng(0)
    truth = np.array([[2.0, 1.3, 0.5], [1.0, 0.4, -0.2], [3.0, 2.5, 0.1]])
    Y = _decay(truth, U)[0] + 0.01 * rng.standard_normal((3, U.size))
    lo, hi = np.array([0.0, 0.0, -1.0]), np.array([10.0, 10.0, 1.0])
    starts = np.array([1.0, 1.0, 0.0])
    Yk = np.repeat(Y, 2, axis=0)  # two starts per problem, one of them far off
    theta0 = np.tile([starts, [5.0, 5.0, 0.5]], (3, 1))
    res = minimize_residuals(_residuals(Yk), theta0, U.size, lo, hi, ftol=1e-14)
    assert res.converged.all()
    for k in range(3):
        ref = _scipy(Y[k], lo, hi, starts)
        best = np.min(res.value[2 * k:2 * k + 2])
        assert best == pytest.approx(ref.cost, rel=1e-9)  # Objective("ls") is sum r^2 / 2, as scipy's cost
        i = 2 * k + int(np.argmin(res.value[2 * k:2 * k + 2]))
        np.testing.assert_allclose(res.theta[i], ref.x, rtol=1e-5, atol=1e-6)


def test_bounds_hold_a_parameter_and_the_rest_still_move():
    Y = _decay(np.array([[2.0, 1.3, 0.5]]), U)[0]
    lo, hi = np.array([0.0, 0.0, -1.0]), np.array([10.0, 10.0, 0.2])  # c = 0.5 is outside: held at 0.2
    res = minimize_residuals(_residuals(Y), np.array([[1.0, 1.0, 0.0]]), U.size, lo, hi, ftol=1e-14)
    ref = _scipy(Y[0], lo, hi, np.array([1.0, 1.0, 0.0]))
    assert res.theta[0, 2] == 0.2 and res.value[0] == pytest.approx(ref.cost, rel=1e-8)
    np.testing.assert_allclose(res.theta[0], ref.x, rtol=1e-5)


def test_projection_and_weights():
    Y = _decay(np.array([[2.0, 1.3, 0.5]]), U)[0]
    lo, hi = np.array([0.0, 0.0, -1.0]), np.array([10.0, 10.0, 1.0])

    def project(theta):  # a constraint beyond the box: a + c <= 2
        theta = np.clip(theta, lo, hi)
        theta[:, 0] = np.minimum(theta[:, 0], 2.0 - theta[:, 2])
        return theta

    res = minimize_residuals(_residuals(Y), np.array([[1.0, 1.0, 0.0]]), U.size, lo, hi, project=project)
    assert res.theta[0, 0] + res.theta[0, 2] <= 2.0 + 1e-12
    # integer weights act as repeated rows
    y = Y + 0.01 * np.sin(7 * U)
    w = (np.arange(U.size) % 3).astype(float)
    keep = np.repeat(np.arange(U.size), w.astype(int))
    a = minimize_residuals(_residuals(y), np.array([[1.0, 1.0, 0.0]]), U.size, lo, hi, weights=w, ftol=1e-14)
    b = minimize_residuals(_residuals(y[:, keep], U[keep]), np.array([[1.0, 1.0, 0.0]]), keep.size, lo, hi,
                           ftol=1e-14)
    assert a.converged[0] and a.value[0] == pytest.approx(b.value[0], rel=1e-9)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-5)


def test_law_families_are_one_client_of_the_same_optimiser():
    rng = np.random.default_rng(1)
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), 60))
    D = np.exp(rng.uniform(np.log(1e9), np.log(1e12), 60))
    X = {"params": N, "tokens": D}
    logy = np.log(1.7 + 400 * N ** -0.34 + 410 * D ** -0.28) + 0.01 * rng.standard_normal(60)
    fam, obj = Chinchilla(), Objective("huber")
    theta0 = np.array([[0.5, 6.0, 6.0, 0.34, 0.28], [0.2, 7.0, 5.0, 0.40, 0.25]])
    a = minimize_batched(fam, theta0, X, logy, obj, max_iter=50)
    lo, hi = fam.bounds()
    b = minimize_residuals(law_residuals(fam, X, logy), theta0, len(logy), lo, hi, obj, max_iter=50)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.value, b.value)
    np.testing.assert_array_equal(a.n_iter, b.n_iter)
