"""Errors scalinglab raises on bad input or impossible requests.

The CLI turns a :class:`ScalingLabError` into one readable line on stderr and exit code 2;
it never shows a traceback for one.
"""

from __future__ import annotations


class ScalingLabError(ValueError):
    """Bad input (a table, a law name, an option) or a request that cannot be honoured.

    The message names what is wrong and, for tables, the file, row and column.
    """


class FitError(ScalingLabError):
    """A fit that cannot be carried out (for example fewer rows than free parameters)."""
