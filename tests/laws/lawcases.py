"""Shared cases for the law-family tests: one instance of every family and data to test them on."""

from __future__ import annotations

import numpy as np

from scalinglab.laws import BrokenPowerLaw, Chinchilla, CustomLaw, KaplanND, KaplanNS, Overtrain, Power, PowerFloor


def custom_power_floor() -> CustomLaw:
    """The CustomLaw docstring example: L = E + A N^-alpha, E and A fitted in log space."""
    return CustomLaw(
        name="my_power_floor",
        fn=lambda params, E, A, alpha: E + A * params**-alpha,
        variables=("params",),
        params={"E": [1.0, 1.5, 2.0], "A": [10.0, 100.0, 1000.0], "alpha": [0.1, 0.3, 0.6]},
        bounds={"E": (0.0, 10.0), "alpha": (0.0, 2.0)},
        positive={"E", "A"},
    )


def all_families() -> list:
    return [
        Chinchilla(),
        Power("params"), Power("tokens"), Power("flops"),
        PowerFloor("params"), PowerFloor("tokens"), PowerFloor("flops"),
        KaplanND(), KaplanNS(), Overtrain(),
        BrokenPowerLaw("params", 1), BrokenPowerLaw("flops", 2), BrokenPowerLaw("tokens", 3),
        custom_power_floor(),
    ]


def family_ids() -> list[str]:
    return [f.label for f in all_families()]


def data_for(family, n: int = 12, extreme: bool = False) -> dict[str, np.ndarray]:
    """Variables for ``family``: a typical log-spaced range, or extreme values (tiny to 1e26)."""
    if extreme:
        vals = np.array([1e-8, 1e-3, 1.0, 1e6, 1e12, 1e13, 1e26])
        return {v: np.roll(vals, i) for i, v in enumerate(family.variables)}
    typical = {"params": (7.0, 10.0), "tokens": (9.0, 12.0), "flops": (18.0, 23.0), "step": (3.0, 5.0)}
    return {v: np.logspace(*typical[v], n)[np.random.default_rng(i).permutation(n)]
            for i, v in enumerate(family.variables)}


def random_theta(family, rng: np.random.Generator, S: int = 8) -> np.ndarray:
    """S points uniformly inside the bounds; where a bound is infinite, near the starting grid."""
    lo, hi = family.bounds()
    g = family.init_grid(data_for(family), np.linspace(2.0, 4.0, 12))
    lo = np.where(np.isfinite(lo), lo, g.min(0) - 1.0)
    hi = np.where(np.isfinite(hi), hi, g.max(0) + 1.0)
    return lo + (hi - lo) * rng.random((S, family.n_params))


def fd_jacobian(family, theta: np.ndarray, X: dict) -> np.ndarray:
    """Central finite differences of log_predict, (S, P, n), step 1e-6 * max(1, |theta|)."""
    S, P = theta.shape
    cols = []
    for j in range(P):
        h = 1e-6 * max(1.0, float(np.abs(theta[:, j]).max()))
        tp, tm = theta.copy(), theta.copy()
        tp[:, j] += h
        tm[:, j] -= h
        cols.append((family.log_predict(tp, X) - family.log_predict(tm, X)) / (tp[:, j] - tm[:, j])[:, None])
    return np.stack(cols, axis=1)
