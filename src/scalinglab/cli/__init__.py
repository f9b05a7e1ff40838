"""The ``scalinglab`` command line: a thin layer over the Python API.

The typer ``app`` and the shared helpers live in :mod:`scalinglab.cli.common` (re-exported here); the
commands live in one module per capability (``fit_commands``: fit, predict, laws, simulate, demo; ``optimal_commands``: optimal;
``lab_commands``: sweep, runs; ``report_commands``: plot, report; ...), each registering itself on
``app`` when imported. :mod:`scalinglab.cli.registry` lists them by task without importing them and
imports a command's module when the command runs, so ``scalinglab --help`` answers at once.

Every command that prints results takes ``--json``; those keys are a contract. Bad input prints one
line (``error: ...``) on stderr and exits with code 2, never a traceback.
"""

from __future__ import annotations

import sys

from scalinglab.cli.common import _emit_json, _parse_cols, _parse_floats, _strict, app, err, out  # noqa: F401
from scalinglab.errors import ScalingLabError


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


if __name__ == "__main__":
    main()
