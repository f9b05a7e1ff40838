"""Errors scalinglab raises on bad input or impossible requests.

The CLI turns a :class:`ScalingLabError` into one readable line on stderr and exit code 2;
it never shows a traceback for one.
"""

from __future__ import annotations

import math
import operator


class ScalingLabError(ValueError):
    """Bad input (a table, a law name, an option) or a request that cannot be honoured.

    The message names what is wrong and, for tables, the file, row and column.
    """


class FitError(ScalingLabError):
    """A fit that cannot be carried out (for example fewer rows than free parameters)."""


def plain_repr(value: object) -> str:
    """A value for an error message: numpy scalars and arrays as plain Python ('nan', not
    'np.float64(nan)')."""
    if hasattr(value, "tolist"):  # numpy scalar or array
        value = value.tolist()
    elif isinstance(value, (list, tuple)):
        value = [v.tolist() if hasattr(v, "tolist") else v for v in value]
    return repr(value)


def positive_count(field: str, value: object) -> int:
    """``value`` as a whole number >= 1 (an int, or a float with no fraction), else a
    ScalingLabError naming ``field``."""
    message = f"{field} must be a whole number >= 1, got {plain_repr(value)}"
    if isinstance(value, bool):
        raise ScalingLabError(message)
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        if not (isinstance(value, float) and value.is_integer()):
            raise ScalingLabError(message) from None
        number = int(value)
    if number < 1:
        raise ScalingLabError(message)
    return number


def positive_number(field: str, value: object) -> float:
    """``value`` as a finite float > 0, else a ScalingLabError naming ``field``."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        raise ScalingLabError(f"{field} must be a finite number > 0, got {plain_repr(value)}")
    return v
