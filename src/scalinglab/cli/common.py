"""What every command module of :mod:`scalinglab.cli` shares: the typer ``app`` the commands register
on, the ``out``/``err`` consoles, ``--json`` output (:func:`_emit_json`: strict JSON, NaN as null) and
the parsers of ``--col`` and comma-separated numbers, and :class:`Table`. The command modules import
these from here; :mod:`scalinglab.cli.registry` imports a command's module when the command is run.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import rich.table
import typer
from rich.console import Console
from rich.text import Text

from scalinglab.cli.registry import LazyGroup
from scalinglab.errors import ScalingLabError

app = typer.Typer(cls=LazyGroup, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="scalinglab: fit, plan and check language-model scaling laws.")


@app.callback()
def _scalinglab() -> None:
    """The group itself does nothing; its commands load when run (:mod:`scalinglab.cli.registry`)."""
# Piped output (a log, `make demo | tee`) is 120 columns wide rather than rich's 80, so tables and
# summaries are not squeezed; a terminal keeps its own width.
out = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False, emoji=False, width=None if sys.stderr.isatty() else 120)


class Table(rich.table.Table):
    """rich's Table, at least as wide as its title (up to the console), so that a narrow table's title
    does not wrap mid-sentence: piped output is 120 columns wide."""

    def __init__(self, *headers: Any, title: str | None = None, **kwargs: Any) -> None:
        if title is not None and kwargs.get("min_width") is None:
            kwargs["min_width"] = Text.from_markup(title).cell_len
        super().__init__(*headers, title=title, **kwargs)


def _strict(obj: Any) -> Any:
    """JSON-safe copy: NaN and infinities become null (strict JSON has no such numbers)."""
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _emit_json(obj: Any) -> None:
    typer.echo(json.dumps(_strict(obj), indent=2, allow_nan=False))


def _parse_cols(cols: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in cols:
        name, sep, column = item.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise ScalingLabError(f"--col expects name=column (e.g. params=\"Model Size\"), got '{item}'")
        mapping[name.strip()] = column.strip()
    return mapping


def _parse_floats(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ScalingLabError(f"{what} expects comma-separated numbers, got '{text}'") from None
    if not values:
        raise ScalingLabError(f"{what} is empty")
    return values
