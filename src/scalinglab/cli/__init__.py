"""The ``scalinglab`` command line: a thin layer over the Python API.

The typer ``app`` and the shared helpers live here; the commands live in one module per
capability (``fit_commands``: fit, predict, laws, simulate, demo; ``optimal_commands``: optimal;
``lab_commands``: sweep, runs; ``report_commands``: plot, report; ...), each registering itself on
``app`` when imported at the bottom of this file.

Every command that prints results takes ``--json``; those keys are a contract. Bad input prints one
line (``error: ...``) on stderr and exits with code 2, never a traceback.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import typer
from rich.console import Console

from scalinglab.errors import ScalingLabError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="scalinglab: fit, plan and check language-model scaling laws.")
# Piped output (a log, `make demo | tee`) is 120 columns wide rather than rich's 80, so tables and
# summaries are not squeezed; a terminal keeps its own width.
out = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False, emoji=False, width=None if sys.stderr.isatty() else 120)


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


def main() -> None:
    """Entry point: run the app, turning scalinglab errors into one line and exit code 2."""
    try:
        if app(standalone_mode=False) == 130:  # typer turns Ctrl-C into a returned exit code 130
            raise KeyboardInterrupt
    except ScalingLabError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # usage errors of the CLI parser (typer vendors its own click)
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        if type(exc).__name__ == "Abort":
            sys.exit(1)
        raise


from scalinglab.cli import (  # noqa: E402,F401  (importing registers the commands)
    analysis_commands, datasets_commands, emergence_commands, fit_commands, flops_commands, forecast_commands,
    groups_commands, hardware_commands, import_commands, inference_commands, lab_commands, optimal_commands,
    quality_commands, report_commands, serving_commands,
)

if __name__ == "__main__":
    main()
