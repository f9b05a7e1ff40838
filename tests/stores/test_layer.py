"""The run store is a data source beneath ``io``: ``import scalinglab`` loads no module of the
torch-dependent lab, and the stores package imports only the modules below it."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import scalinglab.stores

#: What stores/ may import from scalinglab (besides its own modules).
ALLOWED = {"scalinglab._version", "scalinglab.atomic", "scalinglab.counting", "scalinglab.errors",
           "scalinglab.tables"}


def test_import_scalinglab_loads_no_lab_module() -> None:
    # a fresh interpreter: in this one, other tests have imported the lab already
    code = ("import json, sys, scalinglab; print(json.dumps(sorted(m for m in sys.modules "
            "if m == 'scalinglab.lab' or m.startswith('scalinglab.lab.') or m == 'torch')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def _imports(path: Path) -> set[str]:
    """Every scalinglab module ``path`` imports, at module level or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m == "scalinglab" or m.startswith("scalinglab.")}


def test_stores_import_only_the_modules_below_io() -> None:
    folder = Path(scalinglab.stores.__file__).parent
    for path in sorted(folder.glob("*.py")):
        outside = {m for m in _imports(path) if m not in ALLOWED and not m.startswith("scalinglab.stores")}
        assert not outside, f"stores/{path.name} imports {sorted(outside)}"
