"""How a result object shows itself: a one-line ``__repr__`` and a small HTML table for Jupyter.

A result class derives from :class:`Displayed` (a dataclass needs ``repr=False`` so that the dataclass
machinery does not write a field dump over the mixin's ``__repr__``) and names its headline fields,
each with its unit, in ``_display``::

    @dataclass(repr=False)
    class Allocation(Displayed):
        _display = (("flops", "FLOPs"), ("params", "parameters"), ("tokens", "tokens"),
                    ("loss", "nats/token"))

A headline is ``(name, unit)`` (the attribute ``name``) or ``(name, unit, get)`` with ``get(obj)`` giving
the value (a count, a nested field). Values are shown short: numbers to 4 significant digits, an array
as its shape and range, a table as its size, a mapping of numbers as ``{k=v, ...}``, a long list as its
length, a nested result as its class name; the text repr stops before :data:`REPR_LIMIT` characters
(``...`` marks fields left out). The HTML escapes every piece of text (``html.escape``) and lists the
object's ``warnings`` under the table. ``summary()`` and ``to_dict()`` of a result are unchanged.
"""

from __future__ import annotations

import enum
import html
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

#: the longest one-line repr (characters) before trailing fields are left out
REPR_LIMIT = 200
#: the most entries of a mapping or list shown one by one
SHOWN_ITEMS = 6
#: the most warnings listed under the HTML table
SHOWN_WARNINGS = 5

Headline = tuple[str, str] | tuple[str, str, Callable[[Any], Any]]


def _number(v: float) -> str:
    if isinstance(v, numbers.Integral) and abs(int(v)) < 10**6:
        return str(int(v))
    v = float(v)
    return f"{v:.4g}" if math.isfinite(v) else str(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def short(value: Any) -> str:
    """``value`` in a few characters: numbers to 4 significant digits, arrays as shape and range, tables
    as their size, small mappings of numbers as ``{k=v}``, long lists as their length."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return str(bool(value)) if value is not None else "None"
    if isinstance(value, enum.Enum):
        return repr(value.value)
    if _is_number(value):
        return _number(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, Displayed):
        return type(value).__name__
    if hasattr(value, "columns") and hasattr(value, "iloc"):  # a DataFrame (no pandas import here)
        return f"table({len(value)} rows x {len(value.columns)} columns)"
    if isinstance(value, np.ndarray) or hasattr(value, "iloc"):  # an array or a Series
        return _array(np.asarray(value))
    if isinstance(value, Mapping):
        if len(value) <= SHOWN_ITEMS and all(_is_number(v) for v in value.values()):
            return "{" + ", ".join(f"{k}={_number(v)}" for k, v in value.items()) + "}"
        return f"{{{len(value)} items}}"
    if isinstance(value, Sequence):
        if len(value) <= 4 and all(_is_number(v) or isinstance(v, str) and len(v) <= 12 for v in value):
            return "[" + ", ".join(short(v) for v in value) + "]"
        return f"[{len(value)} items]"
    return type(value).__name__


def _array(arr: np.ndarray) -> str:
    if arr.ndim == 0:
        return short(arr.item())
    shape = "x".join(str(n) for n in arr.shape)
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.number):
        return f"array({shape})"
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return f"array({shape}, no finite values)"
    return f"array({shape}, {_number(finite.min())}..{_number(finite.max())})"


class Displayed:
    """Mixin of every result object: a one-line ``__repr__`` of its headline fields (``_display``, with
    units) and ``_repr_html_``, the same fields as an HTML table (what Jupyter shows)."""

    _display: ClassVar[tuple[Headline, ...]] = ()

    def display_items(self) -> list[tuple[str, Any, str]]:
        """(name, value, unit) of each headline field, in order."""
        out = []
        for item in self._display:
            name, unit = item[0], item[1]
            value = item[2](self) if len(item) > 2 else getattr(self, name)
            out.append((name, value, unit))
        return out

    def __repr__(self) -> str:
        head, parts = f"{type(self).__name__}(", []
        for name, value, unit in self.display_items():
            part = f"{name}={short(value)}" + (f" {unit}" if unit and value is not None else "")
            if len(head) + len(", ".join(parts + [part])) + 1 > REPR_LIMIT:
                parts.append("...")
                break
            parts.append(part)
        return head + ", ".join(parts) + ")"

    def _repr_html_(self) -> str:
        rows = []
        for name, value, unit in self.display_items():
            if isinstance(value, Mapping) and 0 < len(value) <= 20 and all(_is_number(v) for v in value.values()):
                rows += [(f"{name}[{k}]", _number(v), unit) for k, v in value.items()]
            elif isinstance(value, (str, enum.Enum)):  # text as it is (escaped below), not its repr
                rows.append((name, str(getattr(value, "value", value)), unit))
            else:
                rows.append((name, short(value), unit if value is not None else ""))
        body = "".join(f"<tr><td>{html.escape(n)}</td><td>{html.escape(v)}</td><td>{html.escape(u)}</td></tr>"
                       for n, v, u in rows)
        out = (f'<table class="scalinglab-result"><caption>{html.escape(type(self).__name__)}</caption>'
               f"<thead><tr><th>field</th><th>value</th><th>unit</th></tr></thead><tbody>{body}</tbody></table>")
        warnings = [w for w in (getattr(self, "warnings", None) or []) if isinstance(w, str)]
        if warnings:
            more = len(warnings) - SHOWN_WARNINGS
            items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings[:SHOWN_WARNINGS])
            out += f"<ul>{items}{f'<li>... {more} more</li>' if more > 0 else ''}</ul>"
        return out
