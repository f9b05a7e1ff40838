"""Fixed and tied parameters: a fit on a reduced free vector mapped onto the family's full one.

``fixed={"E": 1.69}`` holds E at 1.69 (natural scale, the family's units); ``tied=[("alpha", "beta")]``
makes alpha and beta one parameter with one value. Names are the family's natural ``param_names``
(E, A, B, alpha, beta for chinchilla). Published procedures fit this way: Muennighoff et al. 2023
fit the base law on unique-data runs, then only R_N* and R_D* with the base fixed, with alpha = beta
(references.md F1); many papers tie alpha = beta or fix E.

The map (:class:`Constraints`). With P internal parameters theta and F free groups z (a group is one
free parameter, or the parameters tied together; each is listed under its first member in the
family's order), ``theta = expand(z)``:

    theta_j = c_j           for a fixed j (c_j the internal value of its natural value, e.g. ln 1.69)
    theta_j = z_g(j)        for j in free group g

so a tie copies internal values and means equal natural values only between parameters of the same
kind (both fitted as logs, or both as is); tying across kinds is refused. By the chain rule the
Jacobian of ln L with respect to z_g is the sum of its members' columns, d ln L/d z_g =
sum_{j in g} d ln L/d theta_j. :class:`ConstrainedLaw` is the family seen through this map: the
multi-start grid (the family's grid projected onto the free groups, duplicates dropped), the
optimiser, the first-order status test, the identifiability tests and the bootstrap all run on z
unchanged in shape, and the result holds the full theta (and full draws), so prediction, planning
and the fit JSON see every natural parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError, finite_number, plain_repr
from scalinglab.laws.base import Array, LawFamily

Tied = Iterable[Any]


def _tie_groups(family: LawFamily, tied: Tied | None) -> list[list[str]]:
    """``tied`` as lists of natural names, each of at least two distinct names of ``family``: pairs
    ``("alpha", "beta")``, longer tuples, or strings ``"alpha=beta"``."""
    if tied is None:
        return []
    items = [tied] if isinstance(tied, str) else list(tied) if hasattr(tied, "__iter__") else None
    if items is None or isinstance(tied, Mapping):
        raise ScalingLabError(f"tied must be a list of pairs such as [('alpha', 'beta')], got {plain_repr(tied)}")
    if items and all(isinstance(t, str) and "=" not in t for t in items):
        items = [items]  # tied=("alpha", "beta"): one tie
    groups = []
    for item in items:
        names = [n.strip() for n in item.split("=")] if isinstance(item, str) else \
            list(item) if isinstance(item, (list, tuple)) else None
        if names is None or len(names) < 2 or not all(isinstance(n, str) for n in names):
            raise ScalingLabError(f"a tie must name two or more parameters, as ('alpha', 'beta') or "
                                  f"'alpha=beta', got {plain_repr(item)}")
        for n in names:
            _check_name(family, n, "tied")
        if len(set(names)) < len(names):
            raise ScalingLabError(f"cannot tie a parameter to itself: {'='.join(names)} (law {family.label})")
        groups.append(names)
    return groups


def _check_name(family: LawFamily, name: object, what: str) -> None:
    if name not in family.param_names:
        raise ScalingLabError(f"{what}: law {family.label} has no parameter {plain_repr(name)}; its "
                              f"parameters are {', '.join(family.param_names)}")


def _reference(family: LawFamily) -> Array:
    """An internal vector inside the box (0 clipped to the bounds), to convert one parameter at a time."""
    lo, hi = family.bounds()
    return np.clip(np.zeros(family.n_params), lo, hi)


def _internal_value(family: LawFamily, name: str, value: float) -> float:
    """The internal value of parameter ``name`` at natural ``value``; ScalingLabError outside the box."""
    j = family.param_names.index(name)
    lo, hi = family.bounds()
    ref = {k: float(v) for k, v in family.to_natural(_reference(family)).items()}
    try:
        with np.errstate(all="ignore"):
            t = float(family.from_natural({**ref, name: value})[j])
    except (ValueError, ZeroDivisionError, OverflowError):
        t = float("nan")
    if not (np.isfinite(t) and lo[j] <= t <= hi[j]):
        ends = []
        for b in (lo[j], hi[j]):
            moved = _reference(family)
            moved[j] = b
            with np.errstate(all="ignore"):
                ends.append(float(family.to_natural(moved)[name]))
        raise ScalingLabError(f"fixed {name} = {value:g} is outside the bounds of law {family.label} "
                              f"({name} in [{ends[0]:.4g}, {ends[1]:.4g}])")
    return t


def _scale(family: LawFamily, j: int, t: float) -> float:
    """Natural value of parameter j at internal value t, the others at the reference."""
    moved = _reference(family)
    moved[j] = t
    with np.errstate(all="ignore"):
        return float(family.to_natural(moved)[family.param_names[j]])


def _check_same_kind(family: LawFamily, names: list[str]) -> None:
    """Tied parameters must map internal values to natural ones the same way (a tie copies internal values)."""
    lo, hi = family.bounds()
    idx = [family.param_names.index(n) for n in names]
    a, b = max(lo[idx]), min(hi[idx])
    if not a < b:
        raise ScalingLabError(f"cannot tie {'='.join(names)}: their ranges in law {family.label} do not overlap")
    a = a if np.isfinite(a) else min(b, 1.0) - 2.0  # a finite window inside the common range
    b = b if np.isfinite(b) else a + 2.0
    for t in (a + (b - a) / 3, a + 2 * (b - a) / 3):
        vals = [_scale(family, j, t) for j in idx]
        if not np.allclose(vals, vals[0], rtol=1e-12, atol=0.0):
            kinds = ", ".join(f"{n} {'as its log' if np.isclose(_scale(family, j, t), np.exp(t)) else 'as is'}"
                              for n, j in zip(names, idx))
            raise ScalingLabError(f"cannot tie {'='.join(names)}: law {family.label} fits them as different "
                                  f"kinds ({kinds}); tie parameters of the same kind (amplitudes or exponents)")


class Constraints:
    """Fixed and tied parameters of one family, and the map from the free vector z to theta."""

    def __init__(self, family: LawFamily, fixed: Mapping[str, Any] | None = None, tied: Tied | None = None):
        if fixed is not None and not isinstance(fixed, Mapping):
            raise ScalingLabError(f"fixed must map parameter names to values, e.g. {{'E': 1.69}}, "
                                  f"got {plain_repr(fixed)}")
        self.family = family
        names = family.param_names
        values: dict[str, float] = {}
        for k, v in (fixed or {}).items():
            _check_name(family, k, "fixed")
            values[k] = finite_number(f"fixed {k}", v)
        parent = {n: n for n in names}  # union-find over the ties

        def root(n: str) -> str:
            while parent[n] != n:
                n = parent[n]
            return n

        for group in _tie_groups(family, tied):
            _check_same_kind(family, group)
            for n in group[1:]:
                ra, rb = sorted((root(group[0]), root(n)), key=names.index)
                parent[rb] = ra
        members: dict[str, list[str]] = {}
        for n in names:
            members.setdefault(root(n), []).append(n)
        self.tied = [m for m in members.values() if len(m) > 1]  # groups, family order
        for m in self.tied:  # a tie with a fixed member fixes the whole group at its value
            given = {values[n] for n in m if n in values}
            if len(given) > 1:
                raise ScalingLabError(f"tied {'='.join(m)} are fixed at different values "
                                      f"({', '.join(f'{n} = {values[n]:g}' for n in m if n in values)})")
            if given:
                values.update({n: given.pop() for n in m})
        self.fixed = {n: values[n] for n in names if n in values}
        if len(self.fixed) == len(names):
            raise ScalingLabError(f"every parameter of law {family.label} is fixed: nothing to fit "
                                  "(predict with the values instead)")
        self.base = _reference(family)
        for n, v in self.fixed.items():
            self.base[names.index(n)] = _internal_value(family, n, v)
        self.groups = [m for m in members.values() if m[0] not in self.fixed]
        self.rep = np.array([names.index(m[0]) for m in self.groups])  # (F,) representative columns
        self.M = np.zeros((len(names), len(self.groups)))  # (P, F): theta = base + M z on free entries
        for g, m in enumerate(self.groups):
            self.M[[names.index(n) for n in m], g] = 1.0
        self.free = self.M.any(axis=1)

    @property
    def active(self) -> bool:
        """Whether anything is fixed or tied (otherwise z is theta)."""
        return bool(self.fixed or self.tied)

    def expand(self, z: Array) -> Array:
        """Free vectors (..., F) to full internal vectors (..., P)."""
        z = np.asarray(z, dtype=float)
        return np.where(self.free, z @ self.M.T, self.base)

    def reduce(self, theta: Array) -> Array:
        """Full internal vectors (..., P) to free vectors (..., F): each group's first member."""
        return np.asarray(theta, dtype=float)[..., self.rep]

    def members(self, name: str) -> list[str]:
        """The parameters that share ``name``'s value (itself alone when not tied)."""
        return next((m for m in self.groups if name in m), [name])

    def tie_text(self) -> list[str]:
        """``['alpha=beta']``: one string per tie."""
        return ["=".join(m) for m in self.tied]


class ConstrainedLaw(LawFamily):
    """A family seen through :class:`Constraints`: its parameters are the free groups z."""

    def __init__(self, family: LawFamily, constraints: Constraints):
        self.base_family, self.c = family, constraints
        self.name, self.variables = family.name, family.variables
        self.param_names = tuple(m[0] for m in constraints.groups)
        self.theta_names = tuple(family.theta_names[j] for j in constraints.rep)
        self.formula, self.citation, self.units = family.formula, family.citation, family.units
        self.level_params = family.level_params

    def log_predict(self, theta: Array, X: Mapping[str, Array], jac: bool = False):
        """ln L at the expanded vectors; with ``jac`` the Jacobian summed over each group's members."""
        full = self.c.expand(theta)
        if not jac:
            return self.base_family.log_predict(full, X)
        f, J = self.base_family.log_predict(full, X, jac=True)
        return f, np.einsum("spn,pf->sfn", J, self.c.M)

    def to_natural(self, theta: Array) -> dict[str, Array]:
        """Every natural parameter of the family (fixed ones at their values)."""
        return self.base_family.to_natural(self.c.expand(theta))

    def from_natural(self, params: Mapping[str, float]) -> Array:
        full = dict(self.c.fixed)
        for m in self.c.groups:
            full.update({n: params[m[0]] for n in m})
        return self.c.reduce(self.base_family.from_natural(full))

    def bounds(self) -> tuple[Array, Array]:
        """Each group's box: the intersection of its members' boxes."""
        lo, hi = self.base_family.bounds()
        return (np.array([max(lo[self.c.M[:, g] > 0]) for g in range(len(self.c.groups))]),
                np.array([min(hi[self.c.M[:, g] > 0]) for g in range(len(self.c.groups))]))

    def init_grid(self, X: Mapping[str, Array], loss: Array) -> Array:
        """The family's grid on the free groups, duplicate rows dropped (first occurrence kept)."""
        return unique_rows(self.c.reduce(self.base_family.init_grid(X, loss)))

    def check_variables(self, X: Mapping[str, Any]) -> dict[str, Array]:
        return self.base_family.check_variables(X)

    def derived(self, natural: Mapping[str, Array]) -> dict[str, Array]:
        return self.base_family.derived(natural)

    def spec(self) -> dict[str, Any]:
        return self.base_family.spec()

    @property
    def label(self) -> str:
        return self.base_family.label


def unique_rows(a: Array) -> Array:
    """The distinct rows of ``a`` in order of first occurrence."""
    _, first = np.unique(a, axis=0, return_index=True)
    return a[np.sort(first)]


def check_saved_constraints(d: Mapping[str, Any], family: LawFamily) -> tuple[dict[str, float], list[list[str]]]:
    """``fixed`` and ``tied`` of a fit JSON (absent: none), checked against its law."""
    fixed, tied = d.get("fixed", {}), d.get("tied", [])
    ok = (isinstance(fixed, dict) and all(k in family.param_names and isinstance(v, (int, float))
                                          and not isinstance(v, bool) for k, v in fixed.items())
          and isinstance(tied, list) and all(isinstance(g, list) and len(g) > 1 and set(g) <= set(family.param_names)
                                             for g in tied))
    if not ok:
        raise ScalingLabError("malformed fit file: 'fixed' must map and 'tied' must group parameters of law "
                              f"{family.label} ({', '.join(family.param_names)})")
    return {k: float(v) for k, v in fixed.items()}, [list(g) for g in tied]


def constraint_lines(fixed: Mapping[str, float], tied: list[list[str]]) -> list[str]:
    """The summary's lines on fixed and tied parameters (none when there are none)."""
    lines = []
    if fixed:
        lines.append(f"  fixed           {', '.join(f'{k} = {v:.6g}' for k, v in fixed.items())} "
                     "(held, not fitted: no interval)")
    if tied:
        lines.append(f"  tied            {', '.join(' = '.join(g) for g in tied)} "
                     "(one shared value and interval)")
    return lines


def fixed_from_base(base_params: Mapping[str, float], family: LawFamily, source: str) -> dict[str, float]:
    """The parameters of ``family`` named in a base fit's ``base_params``, at the base fit's values: the
    second stage of a staged fit (Muennighoff et al. 2023: the base law E, A, B, alpha, beta from
    unique-data runs, held fixed while R_N*, R_D* are fitted to repeated-data runs; references.md F1)."""
    shared = {k: float(v) for k, v in base_params.items() if k in family.param_names}
    if not shared:
        raise ScalingLabError(f"base fit {source} shares no parameter with law {family.label} "
                              f"({', '.join(family.param_names)})")
    return shared
