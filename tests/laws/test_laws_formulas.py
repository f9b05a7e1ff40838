"""predict_natural against each formula written out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from lawcases import custom_power_floor

from scalinglab.laws import BrokenPowerLaw, Chinchilla, KaplanND, KaplanNS, Power, PowerFloor

N = np.array([1e7, 3e8, 7e10, 1e12])
D = np.array([2e9, 5e10, 1.4e12, 1e13])
C = np.array([1e18, 3e20, 5e23, 1e26])
STEPS = np.array([1e3, 1e4, 1e5, 3e5])
VALUES = {"params": N, "tokens": D, "flops": C}


def test_chinchilla():
    p = {"E": 1.7, "A": 400.0, "B": 410.0, "alpha": 0.34, "beta": 0.28}
    hand = 1.7 + 400.0 / N**0.34 + 410.0 / D**0.28
    np.testing.assert_allclose(Chinchilla().predict_natural(p, params=N, tokens=D), hand, rtol=1e-12)


@pytest.mark.parametrize("x", ["params", "tokens", "flops"])
def test_power(x):
    p = {"A": 12.0, "alpha": 0.07}
    hand = 12.0 * VALUES[x] ** -0.07
    np.testing.assert_allclose(Power(x).predict_natural(p, **{x: VALUES[x]}), hand, rtol=1e-12)


@pytest.mark.parametrize("x", ["params", "tokens", "flops"])
def test_power_floor(x):
    p = {"E": 1.8, "A": 300.0, "alpha": 0.3}
    hand = 1.8 + 300.0 * VALUES[x] ** -0.3
    np.testing.assert_allclose(PowerFloor(x).predict_natural(p, **{x: VALUES[x]}), hand, rtol=1e-12)


def test_kaplan_nd():
    p = {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103}
    hand = ((6.4e13 / N) ** (0.076 / 0.103) + 1.8e13 / D) ** 0.103
    np.testing.assert_allclose(KaplanND().predict_natural(p, params=N, tokens=D), hand, rtol=1e-12)


def test_kaplan_ns():
    p = {"N_c": 6.5e13, "S_c": 2.1e3, "alpha_N": 0.077, "alpha_S": 0.76}
    hand = (6.5e13 / N) ** 0.077 + (2.1e3 / STEPS) ** 0.76
    np.testing.assert_allclose(KaplanNS().predict_natural(p, params=N, step=STEPS), hand, rtol=1e-12)


def test_bnsl_one_break():
    p = {"a": 1.5, "b": 50.0, "c0": 0.2, "c1": 0.3, "d1": 1e21, "f1": 0.7}
    hand = 1.5 + 50.0 * C**-0.2 * (1 + (C / 1e21) ** (1 / 0.7)) ** (-0.3 * 0.7)
    law = BrokenPowerLaw("flops", 1)
    np.testing.assert_allclose(law.predict_natural(p, flops=C), hand, rtol=1e-12)


def test_bnsl_two_breaks():
    p = {"a": 2.0, "b": 30.0, "c0": 0.1, "c1": 0.4, "c2": -0.2, "d1": 1e9, "d2": 1e11, "f1": 0.5, "f2": 2.0}
    hand = 2.0 + 30.0 * D**-0.1 * (1 + (D / 1e9) ** 2.0) ** (-0.4 * 0.5) * (1 + (D / 1e11) ** 0.5) ** (0.2 * 2.0)
    law = BrokenPowerLaw("tokens", 2)
    assert law.param_names == ("a", "b", "c0", "c1", "c2", "d1", "d2", "f1", "f2")
    np.testing.assert_allclose(law.predict_natural(p, tokens=D), hand, rtol=1e-12)


def test_bnsl_huge_x_over_d_is_finite():
    """(x/d)^(1/f) would overflow for x/d = 1e25, f = 0.01; the log-space form does not."""
    law = BrokenPowerLaw("flops", 1)
    p = {"a": 1.5, "b": 50.0, "c0": 0.2, "c1": 0.3, "d1": 1.0, "f1": 0.01}
    with np.errstate(all="raise", under="ignore"):
        y = law.predict_natural(p, flops=np.array([1e25]))
    # beyond the break the slope is c0 + c1: b x^-(c0+c1) d^c1 = 50 * 1e25^-0.5
    np.testing.assert_allclose(y, 1.5 + 50.0 * 1e25**-0.5, rtol=1e-12)


def test_custom_example():
    law = custom_power_floor()
    p = {"E": 1.7, "A": 400.0, "alpha": 0.34}
    np.testing.assert_allclose(law.predict_natural(p, params=N), 1.7 + 400.0 * N**-0.34, rtol=1e-12)


def test_predict_broadcasts_inputs():
    p = {"E": 1.7, "A": 400.0, "B": 410.0, "alpha": 0.34, "beta": 0.28}
    out = Chinchilla().predict_natural(p, params=N[:, None], tokens=D[None, :])
    assert out.shape == (4, 4)
    np.testing.assert_allclose(out, 1.7 + 400.0 / N[:, None] ** 0.34 + 410.0 / D[None, :] ** 0.28, rtol=1e-12)
