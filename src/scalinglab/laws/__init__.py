"""Scaling-law families and the registry that finds them by name.

Built-in families (``FAMILIES``): ``chinchilla``, ``power``, ``power_floor``, ``kaplan_nd``,
``kaplan_ns``, ``bnsl``, ``muennighoff``, ``overtrain``, ``downstream_error``, ``lr_schedule``,
``multi_power``.
Your own form: :class:`CustomLaw` (see :mod:`scalinglab.laws.custom`).

:func:`get_family` accepts

* a name: ``"chinchilla"``, ``"kaplan_nd"``;
* a name with options after colons, in the order of the family's constructor options:
  ``"power:tokens"``, ``"power_floor:flops"`` (x), ``"bnsl:flops:2"`` (x, then n_breaks);
* a dict as written by :meth:`LawFamily.spec`, e.g. ``{"family": "bnsl", "x": "flops", "n_breaks": 2}``;
* a :class:`LawFamily` instance, returned as is.

Published fits with their constants live in :mod:`scalinglab.laws.published`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Union

from scalinglab.errors import ScalingLabError
from scalinglab.laws.base import LawFamily
from scalinglab.laws.bnsl import BrokenPowerLaw
from scalinglab.laws.chinchilla import Chinchilla
from scalinglab.laws.custom import CustomLaw
from scalinglab.laws.downstream_error import DownstreamError
from scalinglab.laws.kaplan import KaplanND, KaplanNS
from scalinglab.laws.lr_schedule import LRSchedule
from scalinglab.laws.muennighoff import DataConstrained
from scalinglab.laws.multi_power import MultiPower
from scalinglab.laws.overtrain import Overtrain
from scalinglab.laws.power import Power, PowerFloor
from scalinglab.laws.published import REGISTRY

#: What :func:`get_family` accepts: a name (``name:opt:...``), a spec dict or a LawFamily.
FamilySpec = Union[str, Mapping[str, Any], LawFamily]

FAMILIES: dict[str, type[LawFamily]] = {
    "chinchilla": Chinchilla,
    "power": Power,
    "power_floor": PowerFloor,
    "kaplan_nd": KaplanND,
    "kaplan_ns": KaplanNS,
    "bnsl": BrokenPowerLaw,
    "muennighoff": DataConstrained,
    "overtrain": Overtrain,
    "downstream_error": DownstreamError,
    "lr_schedule": LRSchedule,
    "multi_power": MultiPower,
}

__all__ = [
    "FAMILIES", "FamilySpec", "LawFamily", "get_family", "list_families",
    "Chinchilla", "Power", "PowerFloor", "KaplanND", "KaplanNS", "BrokenPowerLaw", "CustomLaw",
    "DataConstrained", "Overtrain", "DownstreamError", "LRSchedule", "MultiPower",
]


def _lookup(name: str) -> type[LawFamily]:
    cls = FAMILIES.get(name.strip().lower())
    if cls is None:
        raise ScalingLabError(_unknown_message(name))
    return cls


def _unknown_message(name: str) -> str:
    """Unknown family: suggest a close name, and explain when the name is a published law."""
    key = name.strip().lower()
    if key in REGISTRY:
        fam = REGISTRY[key].family.name
        return (f"'{name}' is a published law, not a family to fit: fit its family with --law {fam}, "
                f"or use it directly where a law is read (e.g. predict --law {key})")
    close = difflib.get_close_matches(key, list(FAMILIES), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown law '{name}'{hint}: known families are {', '.join(FAMILIES)}"


def _convert(family: str, option: str, text: str, default: Any) -> Any:
    """A ``name:opt`` string option converted to the type of the option's default."""
    if isinstance(default, int) and not isinstance(default, bool):
        if not (text.isascii() and text.isdigit() and len(text) <= 6):
            raise ScalingLabError(f"law '{family}': option '{option}' must be a whole number, got '{text}'")
        return int(text)
    return text


def _from_string(text: str) -> LawFamily:
    name, *args = (part.strip() for part in text.split(":"))
    cls = _lookup(name)
    defaults = cls().options()
    if len(args) > len(defaults):
        usage = ":".join([cls.name, *defaults]) if defaults else cls.name
        raise ScalingLabError(f"law '{text}': too many options after ':' (usage: {usage})")
    kwargs = {k: _convert(cls.name, k, a, defaults[k]) for k, a in zip(defaults, args)}
    return cls(**kwargs)


def _from_spec(spec: Mapping[str, Any]) -> LawFamily:
    opts = dict(spec)
    name = opts.pop("family", None)
    if opts.get("custom"):
        raise ScalingLabError(f"law '{name}' is a CustomLaw: it cannot be rebuilt from JSON (its function "
                              "is Python code); in Python, pass the same CustomLaw object, e.g. "
                              "FitResult.load(path, family=law)")
    if not isinstance(name, str):
        raise ScalingLabError(f"law spec {dict(spec)} has no 'family' name; known laws are {', '.join(FAMILIES)}")
    cls = _lookup(name)
    try:
        return cls(**opts)
    except TypeError:
        raise ScalingLabError(f"law '{name}': unknown options {sorted(opts)} "
                              f"(accepted: {sorted(cls().options()) or 'none'})") from None


def get_family(spec: FamilySpec) -> LawFamily:
    """The law family named by ``spec`` (a name, ``name:opt:...``, a spec dict or an instance)."""
    if isinstance(spec, LawFamily):
        return spec
    if isinstance(spec, str):
        return _from_string(spec)
    if isinstance(spec, Mapping):
        return _from_spec(spec)
    raise ScalingLabError(f"cannot make a law from {spec!r}: give a name ({', '.join(FAMILIES)}), "
                          "a spec dict or a LawFamily")


def list_families() -> list[dict[str, Any]]:
    """``describe()`` of every built-in family (default options), for listings."""
    return [cls().describe() for cls in FAMILIES.values()]
