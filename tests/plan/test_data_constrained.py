"""Muennighoff et al. 2023 data-constrained law (scalinglab.plan.data_constrained)."""

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.laws.published import PublishedLaw
from scalinglab.plan.allocation import optimal_allocation
from scalinglab.plan.data_constrained import (
    MUENNIGHOFF2023,
    DataConstrained,
    effective_data,
    effective_params,
    optimal_with_unique_cap,
)


def test_readme_losses():
    # references.md F1 (datablations README): L(6.34e9, 242e9, 25e9) = 2.2256440890,
    # L(8.67e9, 178e9, 25e9) = 2.2269634075
    loss = MUENNIGHOFF2023.predict(params=[6.34e9, 8.67e9], tokens=[242e9, 178e9], unique_tokens=25e9)
    assert loss[0] == pytest.approx(2.2256440890, abs=1e-9)
    assert loss[1] == pytest.approx(2.2269634075, abs=1e-9)


def test_constants():
    # references.md F1: A = 520.82, B = 1487.72, E = 1.8691 from the stored logs
    p = MUENNIGHOFF2023.params
    assert p["A"] == pytest.approx(520.82, abs=0.01) and p["B"] == pytest.approx(1487.72, abs=0.01)
    assert p["E"] == pytest.approx(1.8691, abs=1e-4)
    assert p["R_D_star"] == 15.387756 and p["R_N_star"] == 5.309743
    assert MUENNIGHOFF2023.key == "muennighoff2023" and "2305.16264" in MUENNIGHOFF2023.citation


@pytest.mark.parametrize("epochs, ratio", [(1, 1.0000), (2, 1.9682), (4, 3.7257), (5, 4.5224), (10, 7.8141),
                                           (16, 10.5825), (40, 15.1675), (100, 16.3630)])
def test_effective_data_table(epochs, ratio):
    # references.md F1: D'/U_D by epochs
    assert float(effective_data(epochs * 25e9, 25e9)) / 25e9 == pytest.approx(ratio, abs=1e-4)


def test_effective_data_limit_and_single_epoch():
    assert float(effective_data(1e9 * 25e9, 25e9)) / 25e9 == pytest.approx(16.3878, abs=1e-4)  # 1 + R_D*
    assert float(effective_data(10e9, 25e9)) == pytest.approx(10e9)  # under one epoch every token is new


def test_effective_params():
    # N_opt(U) = G (U G)^(beta/alpha); below it N' = N, above it the excess decays with R_N* = 5.309743
    p = MUENNIGHOFF2023.params
    g = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    n_opt = g * (25e9 * g) ** (p["beta"] / p["alpha"])
    assert float(effective_params(0.5 * n_opt, 25e9)) == pytest.approx(0.5 * n_opt)
    big = float(effective_params(1e6 * n_opt, 25e9))
    assert big == pytest.approx(n_opt * (1 + p["R_N_star"]), rel=1e-6)


def test_optimum_with_unique_cap():
    # references.md F1: trading N for D at fixed N*D around (8.67e9, 178e9, 25e9): 6.8B params, 227B tokens,
    # 9.1 epochs, loss 2.225269
    a = optimal_with_unique_cap(MUENNIGHOFF2023, 6 * 8.67e9 * 178e9, 25e9)
    assert a.params == pytest.approx(6.813e9, rel=5e-3)
    assert a.tokens == pytest.approx(226.5e9, rel=5e-3)
    assert a.epochs == pytest.approx(9.1, abs=0.05)
    assert a.loss == pytest.approx(2.225269, abs=2e-6)
    assert a.loss < 2.2256440890  # better than both Figure-1 models
    d = a.to_dict()
    assert d["epochs"] == a.epochs and d["unique_tokens"] == 25e9
    assert optimal_with_unique_cap("muennighoff2023", 6 * 8.67e9 * 178e9, 25e9).params == pytest.approx(a.params)


def test_plenty_of_unique_data_is_chinchilla_like():
    # with far more unique tokens than needed, the cap does not bind: one epoch or less
    a = optimal_with_unique_cap(MUENNIGHOFF2023, 1e21, 1e15)
    assert a.epochs < 1.0


def test_jacobian_matches_finite_differences():
    fam = MUENNIGHOFF2023.family
    theta = fam.from_natural(MUENNIGHOFF2023.params)[None, :]
    X = {"params": np.array([6.34e9, 1e8, 3e10]), "tokens": np.array([242e9, 1e9, 5e12]),
         "unique_tokens": np.array([25e9, 2e10, 1e11])}
    f, J = fam.log_predict(theta, X, jac=True)
    assert J.shape == (1, 7, 3)
    # d ln L / d e = E / L exactly
    assert np.allclose(J[0, 0], MUENNIGHOFF2023.params["E"] / np.exp(f[0]), rtol=1e-6)
    h = 1e-4
    for j in range(7):
        step = np.zeros_like(theta)
        step[0, j] = h
        fd = (fam.log_predict(theta + step, X) - fam.log_predict(theta - step, X))[0] / (2 * h)
        assert np.allclose(J[0, j], fd, rtol=1e-4, atol=1e-8)


def test_round_trip_and_describe():
    fam = DataConstrained()
    theta = fam.from_natural(MUENNIGHOFF2023.params)
    back = fam.to_natural(theta)
    assert all(back[k] == pytest.approx(v) for k, v in MUENNIGHOFF2023.params.items())
    lo, hi = fam.bounds()
    assert np.all(lo <= theta) and np.all(theta <= hi)
    grid = fam.init_grid({}, None)
    assert grid.shape[1] == 7 and np.all((grid >= lo) & (grid <= hi))
    assert fam.describe()["variables"] == ["params", "tokens", "unique_tokens"]


def test_bad_inputs():
    with pytest.raises(ScalingLabError, match="unique_tokens"):
        MUENNIGHOFF2023.predict(params=1e9, tokens=1e10)
    with pytest.raises(ScalingLabError, match="unique_tokens"):
        effective_data(1e10, -5)
    with pytest.raises(ScalingLabError, match="tokens"):
        effective_data(0, 1e9)
    with pytest.raises(ScalingLabError, match="unique_tokens"):
        optimal_with_unique_cap(MUENNIGHOFF2023, 1e21, 0)
    with pytest.raises(ScalingLabError, match="flops"):
        optimal_with_unique_cap(MUENNIGHOFF2023, -1e21, 1e9)
    with pytest.raises(ScalingLabError, match="repeated data"):
        optimal_with_unique_cap("hoffmann2022", 1e21, 1e9)
    with pytest.raises(ScalingLabError, match="unique_tokens"):
        optimal_allocation(MUENNIGHOFF2023, 1e21)  # needs a cap: use optimal_with_unique_cap
    with pytest.raises(ScalingLabError):
        PublishedLaw(key="x", family=DataConstrained(), params={"E": 1.0}, citation="", units="")
