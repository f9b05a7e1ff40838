"""Execute the tour notebook (docs/tour.ipynb) in place, so that it is committed with its outputs.

How to run it, from the repository root, with the project's virtual environment and its ``notebook``
extra (ipykernel, nbclient, nbformat; ``make install`` installs it)::

    .venv/bin/python docs/make_tour.py

The kernel is this Python (``sys.executable``), registered for the run in a temporary folder on
``JUPYTER_PATH``, so the notebook runs on the environment that runs the script, not on whichever
``python`` a system kernel would find. The tour runs on simulated data in a few seconds; every random
step is seeded, so the same versions give the same numbers. tests/test_tour_notebook.py executes it too
and checks the committed outputs. This script is documentation tooling: it is not part of the test suite.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat

TOUR = Path(__file__).resolve().parent / "tour.ipynb"
KERNEL = "scalinglab-tour"


def kernel_folder(root: Path) -> Path:
    """A Jupyter data folder under ``root`` holding kernel ``KERNEL``: ipykernel on this Python."""
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "scalinglab tour", "language": "python"}))
    return root


def main() -> None:
    nb = nbformat.read(TOUR, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["JUPYTER_PATH"] = str(kernel_folder(Path(tmp)))
        nbclient.NotebookClient(nb, timeout=120, kernel_name=KERNEL,
                                resources={"metadata": {"path": str(TOUR.parent)}}).execute()
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nbformat.write(nb, TOUR)
    print(f"executed {TOUR}: {sum(c.cell_type == 'code' for c in nb.cells)} code cells")


if __name__ == "__main__":
    main()
