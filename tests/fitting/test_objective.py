import numpy as np
import pytest
from scipy.special import huber

from scalinglab.errors import ScalingLabError
from scalinglab.fitting.objective import Objective


def test_huber_matches_scipy_and_is_summed():
    r = np.array([-0.5, -2e-3, -1e-3, -1e-4, 0.0, 5e-4, 1e-3, 3e-3, 0.2])
    obj = Objective("huber", 1e-3)
    np.testing.assert_allclose(obj.terms(r), huber(1e-3, r), rtol=1e-14, atol=0)
    assert obj.value(r) == pytest.approx(huber(1e-3, r).sum(), rel=1e-14)


def test_least_squares_and_weights():
    r = np.array([0.1, -0.2, 0.3])
    obj = Objective("ls")
    assert obj.value(r) == pytest.approx(0.5 * (0.01 + 0.04 + 0.09))
    assert obj.value(r, weights=np.array([2.0, 0.0, 1.0])) == pytest.approx(0.5 * (0.02 + 0.09))


def test_psi_is_derivative_of_rho():
    obj = Objective("huber", 1e-2)
    r = np.linspace(-0.05, 0.05, 41) + 1e-4
    h = 1e-7
    fd = (obj.terms(r + h) - obj.terms(r - h)) / (2 * h)
    np.testing.assert_allclose(obj.psi(r), fd, atol=1e-8)


@pytest.mark.parametrize("kind,delta", [("l1", 1e-3), ("huber", 0.0), ("huber", -1.0), ("huber", float("nan"))])
def test_bad_objective(kind, delta):
    with pytest.raises(ScalingLabError):
        Objective(kind, delta)
