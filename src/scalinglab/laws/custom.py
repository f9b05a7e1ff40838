"""User-defined law families: the documented way to fit your own functional form.

Write the law as a plain numpy function of the data variables and the parameters, by name, that
returns the predicted loss (nats/token), and wrap it in :class:`CustomLaw`::

    import numpy as np
    from scalinglab.laws import CustomLaw

    # L(N) = E + A / N^alpha, a power law with an irreducible floor
    law = CustomLaw(
        name="my_power_floor",
        fn=lambda params, E, A, alpha: E + A * params ** -alpha,
        variables=("params",),
        params={"E": [1.0, 1.5, 2.0], "A": [10.0, 100.0, 1000.0], "alpha": [0.1, 0.3, 0.6]},
        bounds={"E": (0.0, 10.0), "alpha": (0.0, 2.0)},
        positive={"E", "A"},           # fitted as ln E, ln A: they stay positive
    )
    law.predict_natural({"E": 1.7, "A": 400.0, "alpha": 0.34}, params=[1e8, 1e9])
    law.init_grid(X={}, loss=None).shape   # (27, 3): every combination of the initial values

The object is then passed wherever a law is accepted (``fit(runs, law=law)``,
``get_family(law)`` returns it unchanged).

How it is evaluated (shapes as in :mod:`scalinglab.laws.base`):

* ``fn`` is called once per batch with each variable as a ``(1, n)`` array and each parameter as an
  ``(S, 1)`` column (natural scale: ``exp`` of the internal value for names in ``positive``), so an
  ordinary broadcasting expression gives the ``(S, n)`` predictions for all starts at once;
* ln of the prediction is returned; a non-positive or non-finite prediction gives ``nan`` (the fitting
  engine treats a non-finite objective as +inf and rejects the step);
* the Jacobian d ln L / d theta is taken by central finite differences with relative step 1e-6
  (``h = 1e-6 * max(1, |theta|)``), all starts and parameters in one extra call of ``fn``;
* ``params`` gives one initial value or a list of them per parameter; the default multi-start grid is
  their Cartesian product (keep it to a few hundred points);
* ``bounds`` are natural-scale ``(lo, hi)``; a missing bound is unbounded (for a ``positive`` name,
  ``lo = 0`` is allowed and means unbounded below in log space).

A custom law cannot be rebuilt from its saved ``spec()`` (a Python function is not JSON): keep the
object and pass it again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.laws.base import VARIABLE_UNITS, Array, LawFamily, grid

FD_REL_STEP = 1e-6


def _as_values(name: str, v: Any) -> Array:
    """Initial values of one parameter as a finite 1-D float array."""
    try:
        arr = np.atleast_1d(np.asarray(v, dtype=float)).ravel()
    except (TypeError, ValueError) as exc:
        raise ScalingLabError(f"custom law: initial value(s) of '{name}' must be numbers, got {v!r}") from exc
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ScalingLabError(f"custom law: initial value(s) of '{name}' must be finite numbers, got {v!r}")
    return arr


class CustomLaw(LawFamily):
    """A law family from a user's numpy function ``fn(**variables, **params) -> loss``."""

    citation = "user-defined"

    def __init__(self, name: str, fn: Callable[..., Any], variables: Iterable[str] | str,
                 params: Mapping[str, Any], bounds: Mapping[str, tuple[float, float]] | None = None,
                 positive: Iterable[str] | None = None, *, formula: str = "",
                 units: str = "loss in nats/token") -> None:
        if not isinstance(name, str) or not name or ":" in name:
            raise ScalingLabError(f"custom law: name must be a non-empty string without ':', got {name!r}")
        if not callable(fn):
            raise ScalingLabError(f"custom law '{name}': fn must be callable")
        self.name, self.fn = name, fn
        self.variables = self._check_variables(variables)
        if not params:
            raise ScalingLabError(f"custom law '{name}': give at least one parameter")
        self.param_names = tuple(params)
        self.positive = frozenset(positive or ())
        self._check_names()
        self.theta_names = tuple(f"ln_{p}" if p in self.positive else p for p in self.param_names)
        self.formula = formula or f"L = {name}({', '.join(self.variables + self.param_names)})"
        self.units = units
        self._lo, self._hi = self._theta_bounds(bounds or {})
        self._starts = [self._to_theta_scale(p, _as_values(p, params[p])) for p in self.param_names]
        for j, p in enumerate(self.param_names):
            if np.any((self._starts[j] < self._lo[j]) | (self._starts[j] > self._hi[j])):
                raise ScalingLabError(f"custom law '{name}': an initial value of '{p}' is outside its bounds")

    # ---- validation -----------------------------------------------------------------------------
    def _check_variables(self, variables: Iterable[str] | str) -> tuple[str, ...]:
        vs = (variables,) if isinstance(variables, str) else tuple(variables)
        bad = [v for v in vs if v not in VARIABLE_UNITS]
        if not vs or bad:
            raise ScalingLabError(f"custom law '{self.name}': variables must be among "
                                  f"{', '.join(VARIABLE_UNITS)}, got {list(vs)}")
        return vs

    def _check_names(self) -> None:
        clash = set(self.param_names) & set(self.variables)
        if clash:
            raise ScalingLabError(f"custom law '{self.name}': parameter names clash with variables: {sorted(clash)}")
        unknown = self.positive - set(self.param_names)
        if unknown:
            raise ScalingLabError(f"custom law '{self.name}': 'positive' names unknown parameters {sorted(unknown)}")

    def _to_theta_scale(self, p: str, values: Array) -> Array:
        if p not in self.positive:
            return values
        if np.any(values <= 0):
            raise ScalingLabError(f"custom law '{self.name}': '{p}' is positive but a value given is <= 0")
        return np.log(values)

    def _theta_bounds(self, bounds: Mapping[str, tuple[float, float]]) -> tuple[Array, Array]:
        unknown = set(bounds) - set(self.param_names)
        if unknown:
            raise ScalingLabError(f"custom law '{self.name}': bounds name unknown parameters {sorted(unknown)}")
        lo = np.full(len(self.param_names), -np.inf)
        hi = np.full(len(self.param_names), np.inf)
        for j, p in enumerate(self.param_names):
            if p not in bounds:
                continue
            b_lo, b_hi = (float(b) for b in bounds[p])
            if not b_lo < b_hi or (p in self.positive and b_hi <= 0):
                raise ScalingLabError(f"custom law '{self.name}': bounds of '{p}' must satisfy lo < hi "
                                      f"(and hi > 0 for a positive parameter), got {bounds[p]}")
            if p in self.positive:
                with np.errstate(divide="ignore"):
                    lo[j], hi[j] = np.log(max(b_lo, 0.0)), np.log(b_hi)
            else:
                lo[j], hi[j] = b_lo, b_hi
        return lo, hi

    # ---- evaluation -------------------------------------------------------------------------------
    def _log_eval(self, theta: Array, X: Mapping[str, Array]) -> Array:
        """ln fn at each row of theta, (M, n); nan where fn is non-positive or non-finite."""
        vars_ = {v: np.asarray(X[v], dtype=float).reshape(1, -1) for v in self.variables}
        n = next(iter(vars_.values())).shape[1]
        with np.errstate(all="ignore"):
            cols = {k: c[:, None] for k, c in self.to_natural(theta).items()}  # each (M, 1)
            y = np.asarray(self.fn(**vars_, **cols), dtype=float)
            try:
                y = np.broadcast_to(y, (theta.shape[0], n))
            except ValueError as exc:
                raise ScalingLabError(f"custom law '{self.name}': fn returned shape {y.shape}, expected one "
                                      f"broadcastable to {(theta.shape[0], n)}") from exc
            ok = np.isfinite(y) & (y > 0)
            return np.where(ok, np.log(np.where(ok, y, 1.0)), np.nan)

    def log_predict(self, theta: Array, X: Mapping[str, Array], jac: bool = False):
        """ln fn(X; theta), (S, n); with ``jac`` the central-difference Jacobian (S, P, n)."""
        theta = np.asarray(theta, dtype=float)
        f = self._log_eval(theta, X)
        if not jac:
            return f
        S, P = theta.shape
        h = FD_REL_STEP * np.maximum(1.0, np.abs(theta))  # (S, P)
        steps = h[:, :, None] * np.eye(P)[None, :, :]  # (S, P, P): row j moves parameter j
        plus = (theta[:, None, :] + steps).reshape(S * P, P)
        minus = (theta[:, None, :] - steps).reshape(S * P, P)
        both = self._log_eval(np.concatenate([plus, minus]), X)
        n = both.shape[1]
        fp, fm = both[: S * P].reshape(S, P, n), both[S * P :].reshape(S, P, n)
        width = (plus - minus).reshape(S, P, P)[:, np.arange(P), np.arange(P)]  # exact 2h as represented
        return f, (fp - fm) / width[:, :, None]

    # ---- parameters ----------------------------------------------------------------------------------
    def to_natural(self, theta: Array) -> dict[str, Array]:
        theta = np.asarray(theta, dtype=float)
        return {p: np.exp(theta[..., j]) if p in self.positive else theta[..., j]
                for j, p in enumerate(self.param_names)}

    def from_natural(self, params: Mapping[str, float]) -> Array:
        missing = [p for p in self.param_names if p not in params]
        if missing:
            raise ScalingLabError(f"custom law '{self.name}': missing parameters {missing}")
        return np.array([self._to_theta_scale(p, _as_values(p, params[p]))[0] for p in self.param_names])

    def bounds(self) -> tuple[Array, Array]:
        """The natural-scale bounds given by the user, in internal scale (ln for positive names)."""
        return self._lo.copy(), self._hi.copy()

    def init_grid(self, X: Mapping[str, Array], loss: Array) -> Array:
        """Cartesian product of the initial values given per parameter, in internal scale."""
        return grid(*self._starts)

    # ---- description ---------------------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        """Informative only: a custom law cannot be rebuilt from its spec (``custom: True``)."""
        return {"custom": True, "variables": list(self.variables), "params": list(self.param_names),
                "positive": sorted(self.positive)}

    @property
    def label(self) -> str:
        return self.name
