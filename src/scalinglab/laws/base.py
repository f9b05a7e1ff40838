"""The law-family interface every scaling law implements.

A *family* is a functional form with free parameters (``chinchilla``: L = E + A/N^alpha + B/D^beta).
The fitting engine works on a family's *internal* parameter vector ``theta`` (log-scale amplitudes,
so the optimiser never sees a negative amplitude and never overflows) and on the **log** of the
predicted loss, because every fit in scalinglab is made on log(predicted) - log(observed).

Shapes used throughout (the engine batches many starting points at once):

* ``theta``: ``(S, P)`` -- S parameter vectors of P internal parameters;
* ``X``: mapping of variable name (``params``, ``tokens``, ``flops``, ``step``) to a ``(n,)`` array;
* ``log_predict(theta, X)``: ``(S, n)`` natural log of the predicted loss (nats/token);
* with ``jac=True`` also the Jacobian ``(S, P, n)`` of that log prediction with respect to theta.

Units: the predicted quantity is a loss in nats per token unless the family says otherwise;
``params`` is a parameter count, ``tokens`` a token count, ``flops`` a FLOP count (not a rate),
``step`` an optimiser step count.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError, finite_array, finite_result

Array = np.ndarray


class LawFamily(abc.ABC):
    """A parametric scaling law: formula, parameters, gradient, bounds and starting grid.

    Subclasses set the class attributes and implement :meth:`log_predict`, :meth:`to_natural`
    and :meth:`from_natural`.
    """

    name: str = ""
    variables: tuple[str, ...] = ()
    theta_names: tuple[str, ...] = ()  # internal (optimised) parameters
    param_names: tuple[str, ...] = ()  # natural-scale names reported to users
    formula: str = ""
    citation: str = ""
    units: str = "loss in nats/token"
    #: parameters that only add a constant to the loss (E in E + A/N^alpha + ...): an answer that is an
    #: argmin over N and D, such as a compute-optimal allocation, does not depend on them
    level_params: tuple[str, ...] = ()
    #: inputs that may be 0 (the rest must be > 0): lr_schedule's annealing area before any decay
    zero_allowed: tuple[str, ...] = ()

    # ---- to implement -------------------------------------------------------------------
    @abc.abstractmethod
    def log_predict(self, theta: Array, X: Mapping[str, Array], jac: bool = False) -> Any:
        """ln(predicted loss), shape (S, n); with ``jac`` also d/dtheta, shape (S, P, n)."""

    @abc.abstractmethod
    def to_natural(self, theta: Array) -> dict[str, Array]:
        """Internal ``(..., P)`` parameters to natural-scale values keyed by ``param_names``."""

    @abc.abstractmethod
    def from_natural(self, params: Mapping[str, float]) -> Array:
        """Natural-scale parameters (keyed by ``param_names``) to the internal ``(P,)`` vector."""

    @abc.abstractmethod
    def bounds(self) -> tuple[Array, Array]:
        """Lower and upper bounds on the internal parameters, each ``(P,)``."""

    @abc.abstractmethod
    def init_grid(self, X: Mapping[str, Array], loss: Array) -> Array:
        """Default starting points ``(K, P)`` for the multi-start optimiser."""

    # ---- shared behaviour ---------------------------------------------------------------
    @property
    def n_params(self) -> int:
        """Number of free parameters."""
        return len(self.theta_names)

    def derived(self, natural: Mapping[str, Array]) -> dict[str, Array]:
        """Quantities derived from the parameters (e.g. compute-optimal exponents)."""
        return {}

    def options(self) -> dict[str, Any]:
        """Constructor options needed to rebuild this family (saved with a fit)."""
        return {}

    def spec(self) -> dict[str, Any]:
        """A JSON-able description that :func:`scalinglab.laws.get_family` can rebuild."""
        return {"family": self.name, **self.options()}

    @property
    def label(self) -> str:
        """Short display name, e.g. ``power_floor(flops)``."""
        opts = self.options()
        return f"{self.name}({', '.join(str(v) for v in opts.values())})" if opts else self.name

    def check_variables(self, X: Mapping[str, Any]) -> dict[str, Array]:
        """The variables this law needs, as positive float arrays; a clear error otherwise."""
        out: dict[str, Array] = {}
        for v in self.variables:
            if v not in X or X[v] is None:
                raise ScalingLabError(f"law {self.label} needs '{v}' (units: {VARIABLE_UNITS.get(v, 'see the law')})")
            # a parameter, token or FLOP count below 1 is not a count (and N, D -> 0 blows any law up)
            low, low_open = (1.0, False) if v in COUNT_VARIABLES else (0.0, True)
            out[v] = finite_array(f"law {self.label}: '{v}'", X[v], low=low, low_open=low_open)
        return out

    def flat_inputs(self, X: Mapping[str, Any]) -> tuple[dict[str, Array], tuple[int, ...]]:
        """Checked inputs broadcast together and flattened to (n,), with their common shape."""
        Xc = self.check_variables(X)
        try:
            shape = np.broadcast_shapes(*(a.shape for a in Xc.values()))
        except ValueError:
            raise ScalingLabError(f"law {self.label}: inputs of shapes "
                                  f"{[a.shape for a in Xc.values()]} do not broadcast together") from None
        return {k: np.broadcast_to(a, shape).ravel() for k, a in Xc.items()}, shape

    def predict_natural(self, values: Mapping[str, float], /, **X: Any) -> Array:
        """Predicted loss (nats/token) from natural-scale parameters, broadcasting the inputs."""
        flat, shape = self.flat_inputs(X)
        theta = self.from_natural(values)[None, :]
        with np.errstate(over="ignore", invalid="ignore"):
            loss = np.exp(self.log_predict(theta, flat))[0].reshape(shape)
        return finite_result(f"loss predicted by law {self.label}", loss, "the law overflows at these inputs")

    def describe(self) -> dict[str, Any]:
        """Name, formula, parameters, variables, source and units, for listings."""
        return {
            "name": self.name,
            "formula": self.formula,
            "params": list(self.param_names),
            "variables": list(self.variables),
            "citation": self.citation,
            "units": self.units,
        }


#: Variables that are counts: a value below 1 is refused in a prediction.
COUNT_VARIABLES = ("params", "tokens", "flops", "unique_tokens")

VARIABLE_UNITS = {
    "params": "parameter count N",
    "tokens": "training tokens D",
    "flops": "training FLOPs C (a count)",
    "step": "optimiser steps S",
    "unique_tokens": "unique training tokens U_D (a token count)",
}


def logsumexp_terms(terms: list[Array]) -> tuple[Array, list[Array]]:
    """ln(sum_k exp(t_k)) and the softmax weights exp(t_k)/sum, computed without overflow."""
    m = terms[0]
    for t in terms[1:]:
        m = np.maximum(m, t)
    exps = [np.exp(t - m) for t in terms]
    total = exps[0]
    for e in exps[1:]:
        total = total + e
    inv = 1.0 / total
    return m + np.log(total), [e * inv for e in exps]


def grid(*axes: Any) -> Array:
    """Cartesian product of 1-D axes as a ``(K, len(axes))`` array (first axis slowest)."""
    mesh = np.meshgrid(*[np.asarray(a, dtype=float) for a in axes], indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)
