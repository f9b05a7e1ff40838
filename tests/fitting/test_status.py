"""The first-order test (scalinglab.fitting.status.decrements, first_order_ok), shared by the law fits
and the sigmoid fits of scalinglab.analysis._sigmoid."""

import numpy as np

from scalinglab.fitting.status import decrements, first_order_ok


def _reference(theta, g, H, lo, hi):
    """g_F^T H_FF^+ g_F / 2 one row at a time, with lstsq (the definition)."""
    out = []
    for t, gs, Hs in zip(theta, g, H):
        free = ~(((t <= lo) & (gs > 0)) | ((t >= hi) & (gs < 0)))
        gf, Hf = gs[free], Hs[np.ix_(free, free)]
        out.append(max(gf @ np.linalg.lstsq(Hf, gf, rcond=1e-13)[0], 0.0) / 2 if free.any() else 0.0)
    return np.array(out)


def test_batched_decrement_matches_the_definition():
    rng = np.random.default_rng(0)
    S, P = 40, 4
    J = rng.standard_normal((S, P, 9)) * np.array([1e-6, 1.0, 1e3, 10.0])[None, :, None]  # badly scaled
    J[:5, 3] = J[:5, 2]  # singular H: a flat direction
    H = np.matmul(J, J.transpose(0, 2, 1))
    g = rng.standard_normal((S, P))
    lo, hi = np.full(P, -1.0), np.full(P, 1.0)
    theta = rng.uniform(-0.5, 0.5, (S, P))
    theta[::3, 1] = -1.0  # on the lower bound: held when g > 0
    theta[1::4, 0] = 1.0  # on the upper bound: held when g < 0
    np.testing.assert_allclose(decrements(theta, g, H, lo, hi), _reference(theta, g, H, lo, hi), rtol=1e-6)


def test_non_finite_and_all_held():
    lo, hi = np.zeros(2), np.ones(2)
    theta = np.array([[0.5, 0.5], [0.0, 1.0]])
    g = np.array([[np.nan, 1.0], [1.0, -1.0]])  # row 1: both parameters held on their bounds
    H = np.tile(np.eye(2), (2, 1, 1))
    d = decrements(theta, g, H, lo, hi)
    assert np.isinf(d[0]) and d[1] == 0.0
    assert list(first_order_ok(d, np.array([1.0, 1.0]), 10)) == [False, True]
    assert not first_order_ok(np.array([0.0]), np.array([np.inf]), 10)[0]
    assert list(first_order_ok(np.array([1e-9, 1e-7]), np.array([1.0, 1.0]), 10)) == [True, False]
