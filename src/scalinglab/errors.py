"""Errors scalinglab raises on bad input or impossible requests, and the one validation layer.

The CLI turns a :class:`ScalingLabError` into one readable line on stderr and exit code 2;
it never shows a traceback for one.

Every public function checks its arguments at the boundary with the helpers below (numbers, counts,
fractions, choices, arrays, lists, column names, table paths) and refuses a result that is not finite
(:func:`finite_result`) rather than return inf or nan as an answer. One wording throughout:
"<field> must be a finite number > 0, got <value>", "<field> must be a whole number >= 1, got <value>",
"<field> must be in (0, 1], got <value>", "<field> must be one of a, b, got <value>". Principled limits:
counts are whole numbers up to :data:`MAX_COUNT`; a parameter, token or FLOP count below 1 is not a
count (:func:`count_number`, :func:`count_array`); a loss below :data:`MIN_LOSS` nats/token is no
language model's (:func:`loss_number`).
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


class ScalingLabError(ValueError):
    """Bad input (a table, a law name, an option) or a request that cannot be honoured.

    The message names what is wrong and, for tables, the file, row and column. It is always one line:
    line breaks inside it (from a quoted user string such as a law name) are shown escaped, as \\n.
    """

    def __init__(self, message: object = "", *args: object) -> None:
        text = str(message).replace("\r", "\\r").replace("\n", "\\n")
        super().__init__(text, *args)


class FitError(ScalingLabError):
    """A fit that cannot be carried out (for example fewer rows than free parameters)."""


def plain_repr(value: object) -> str:
    """A value for an error message: numpy scalars and arrays as plain Python ('nan', not
    'np.float64(nan)')."""
    if hasattr(value, "tolist"):  # numpy scalar or array
        value = value.tolist()
    elif isinstance(value, (list, tuple)):
        value = [v.tolist() if hasattr(v, "tolist") else v for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**21:
        digits = str(abs(value))  # a 400-digit integer as '1.00e+399 (an integer of 400 digits)'
        sign = "-" if value < 0 else ""
        return f"{sign}{digits[0]}.{digits[1:3]}e+{len(digits) - 1} (an integer of {len(digits)} digits)"
    text = repr(value)
    return text if len(text) <= 80 else text[:60] + f"... ({len(text)} characters)"


def positive_count(field: str, value: object, *, maximum: int | None = None) -> int:
    """``value`` as a whole number from 1 to ``maximum`` (default :data:`MAX_COUNT`; an int, or a float
    with no fraction), else a ScalingLabError naming ``field``."""
    return whole_number(field, value, minimum=1, maximum=MAX_COUNT if maximum is None else maximum)


def positive_number(field: str, value: object) -> float:
    """``value`` as a finite float > 0, else a ScalingLabError naming ``field``."""
    return finite_number(field, value, low=0.0, low_open=True)


# ---- the validation layer: every public entry point checks its arguments with these ----------------------
# One wording: "<field> must be a finite number > 0, got <value>", "<field> must be a whole number >= 1, got
# <value>", "<field> must be in (0, 1], got <value>", "<field> must be one of a, b, got <value>".

#: The largest count accepted (2**53: every whole number up to it is exact as a float, so products and
#: logs of counts stay exact and finite).
MAX_COUNT = 2**53
#: The smallest plausible loss in nats/token: no language model predicts text that well, so a smaller
#: value is a unit mistake (or a denormal) that would turn relative errors into garbage.
MIN_LOSS = 1e-3


def _as_float(value: object) -> float:
    """``value`` as a float; nan for anything that is not one number (bools, lists, text, huge ints)."""
    if isinstance(value, bool):
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _bounds_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"a finite number {'<' if high_open else '<='} {high:g}"
    return "a finite number"


def finite_number(field: str, value: object, *, low: float | None = None, high: float | None = None,
                  low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float within the given bounds (inclusive unless ``*_open``), else a
    ScalingLabError naming ``field``: "flops must be a finite number >= 0, got 'abc'"."""
    v = _as_float(value)
    ok = math.isfinite(v)
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v < high if high_open else v <= high
    if not ok:
        raise ScalingLabError(f"{field} must be {_bounds_text(low, high, low_open, high_open)}, "
                              f"got {plain_repr(value)}")
    return v


def non_negative_number(field: str, value: object) -> float:
    """``value`` as a finite float >= 0, else a ScalingLabError naming ``field``."""
    return finite_number(field, value, low=0.0)


def fraction(field: str, value: object) -> float:
    """``value`` as a number in (0, 1] (an efficiency, MFU or usable share), else a ScalingLabError."""
    return finite_number(field, value, low=0.0, high=1.0, low_open=True)


def whole_number(field: str, value: object, *, minimum: int = 0, maximum: int = MAX_COUNT,
                 exact: bool = False) -> int:
    """``value`` as an int from ``minimum`` to ``maximum`` (an int, or a float with no fraction unless
    ``exact``, where only an int will do: a size stored as given, such as a bootstrap count or a config
    field; not a bool), else a ScalingLabError naming ``field``."""
    number = None
    if not isinstance(value, bool):
        try:
            number = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            if isinstance(value, float) and value.is_integer() and not exact:
                number = int(value)
    if number is None or number < minimum:
        raise ScalingLabError(f"{field} must be a whole number >= {minimum}, got {plain_repr(value)}")
    if number > maximum:
        raise ScalingLabError(f"{field} must be a whole number >= {minimum} and at most {maximum:,}, "
                              f"got {plain_repr(value)}")
    return number


def choice(field: str, value: object, options: Sequence[str]) -> str:
    """``value`` (text, any case, trimmed) as one of ``options``, else a ScalingLabError listing them."""
    key = value.strip().lower() if isinstance(value, str) else None
    if key not in options:
        raise ScalingLabError(f"{field} must be one of {', '.join(options)}, got {plain_repr(value)}")
    return key  # type: ignore[return-value]


def number_array(field: str, values: object, want: str = "numbers") -> np.ndarray:
    """``values`` (a number or a list of numbers) as a float array, not yet checked for finiteness; a
    ScalingLabError for text, dicts, None, bools and anything numpy cannot read as numbers."""
    arr = None
    if not (isinstance(values, (str, bytes, Mapping, bool)) or values is None):
        try:
            arr = np.asarray(values, dtype=float)
        except (TypeError, ValueError, OverflowError):
            pass
    if arr is None:
        raise ScalingLabError(f"{field} must be {want}, got {plain_repr(values)}")
    return arr


def finite_array(field: str, values: object, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, empty: bool = False) -> np.ndarray:
    """``values`` (a number or a list of numbers) as a float array of finite values from ``low`` (above
    it when ``low_open``) to ``high``, else a ScalingLabError naming the first bad element."""
    bounds = _bounds_text(low, high, low_open, False)
    want = bounds.replace("a finite number", "finite numbers") if bounds.startswith("a ") else "numbers " + bounds
    arr = number_array(field, values, want)
    if arr.size == 0 and not empty:
        raise ScalingLabError(f"{field} is empty: give at least one number")
    bad = ~np.isfinite(arr)
    if low is not None:
        bad |= (arr <= low) if low_open else (arr < low)
    if high is not None:
        bad |= arr > high
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        where = f"{field}[{i}]" if arr.ndim else field
        raise ScalingLabError(f"{where} must be {bounds}, "
                              f"got {plain_repr(arr.ravel()[i])}")
    return arr


def finite_result(what: str, value: Any, why: str = "") -> Any:
    """``value`` (a number or an array) unchanged when every element is finite; else a ScalingLabError
    saying the result is not finite and why, so that 'inf' or 'nan' is never printed as a result."""
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)):
        shown = plain_repr(arr.ravel()[int(np.flatnonzero(~np.isfinite(arr.ravel()))[0])])
        raise ScalingLabError(f"{what} is not finite ({shown}): "
                              f"{why or 'the inputs are too large or too small for a meaningful result'}")
    return value


def positive_array(field: str, values: object) -> np.ndarray:
    """``values`` as a float array of finite numbers > 0 (see :func:`finite_array`)."""
    return finite_array(field, values, low=0.0, low_open=True)


def count_array(field: str, values: object) -> np.ndarray:
    """``values`` as a float array of finite numbers >= 1: parameter, token and FLOP counts (a count
    below 1 is not a count, and laws of N or D blow up there)."""
    return finite_array(field, values, low=1.0)


def loss_number(field: str, value: object) -> float:
    """``value`` as a loss in nats/token: finite and at least :data:`MIN_LOSS` (a smaller loss is no
    language model's, and relative errors against it are garbage)."""
    return finite_number(f"{field} (nats/token)", value, low=MIN_LOSS)


def count_number(field: str, value: object) -> float:
    """``value`` as a finite float >= 1: one parameter, token or FLOP count (see :func:`count_array`)."""
    return finite_number(field, value, low=1.0)


def as_list(field: str, values: object, *, empty: bool = False) -> list:
    """``values`` (a list, tuple, array or other sequence; not text or a dict) as a list, else a
    ScalingLabError naming ``field``; an empty one too unless ``empty``."""
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__"):
        raise ScalingLabError(f"{field} must be a list, got {plain_repr(values)}")
    items = list(values)  # type: ignore[call-overload]
    if not items and not empty:
        raise ScalingLabError(f"{field} is empty: give at least one")
    return items


#: The most bootstrap resamples accepted (each is a refit; more would run for days).
MAX_BOOTSTRAP = 100_000


def bootstrap_count(value: object, field: str = "bootstrap", *, exact: bool = False) -> int:
    """A number of bootstrap resamples: a whole number from 0 to :data:`MAX_BOOTSTRAP` (an int with
    ``exact``)."""
    return whole_number(field, value, minimum=0, maximum=MAX_BOOTSTRAP, exact=exact)


def seed_number(value: object, field: str = "seed", *, exact: bool = False) -> int:
    """A random seed: a whole number >= 0 (an int with ``exact``)."""
    return whole_number(field, value, minimum=0, exact=exact)


def level_number(value: object, field: str = "level") -> float:
    """A confidence level strictly between 0 and 1."""
    return finite_number(field, value, low=0.0, high=1.0, low_open=True, high_open=True)


def table_path(field: str, value: object) -> Path:
    """``value`` (text or os.PathLike) as a Path to a table file, else a ScalingLabError: a table must
    be given as a file path or a DataFrame."""
    if not isinstance(value, (str, os.PathLike)) or not str(os.fspath(value)).strip():
        raise ScalingLabError(f"{field} must be a table file path or a DataFrame, got {plain_repr(value)}")
    return Path(value)


def column_name(field: str, value: object) -> str:
    """``value`` as a column name: non-empty text, else a ScalingLabError naming ``field``."""
    if not isinstance(value, str) or not value.strip():
        raise ScalingLabError(f"{field} must be a column name (text), got {plain_repr(value)}")
    return value


def is_existing_path(text: str, *, file: bool = False) -> bool:
    """Whether ``text`` names an existing file (``file=True``) or path; False, not an OSError, for a name
    no file system can hold (too long, a NUL byte)."""
    try:
        path = Path(text)
        return path.is_file() if file else path.exists()
    except (OSError, ValueError):
        return False
