"""The tour notebook (docs/tour.ipynb): committed with its rendered outputs (the fit's HTML table, a
figure, a prediction, an allocation), and it executes without error on a Jupyter kernel running this
Python (the test's environment), giving the numbers the library gives here."""

import json
import re
import sys
from pathlib import Path

import pytest

import scalinglab as sl

TOUR = Path(__file__).resolve().parents[1] / "docs" / "tour.ipynb"
KERNEL = "scalinglab-tour-test"


def _outputs(cells):
    return [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]


def _text(output) -> str:
    data = output.get("data", {})
    text = data.get("text/plain", output.get("text", ""))
    return "".join(text) if isinstance(text, list) else text


def _html(output) -> str:
    html = output.get("data", {}).get("text/html", "")
    return "".join(html) if isinstance(html, list) else html


def _expected():
    """The tour's fit, prediction and allocation, computed here."""
    runs = sl.simulate_isoflop("hoffmann2022", budgets=[1e18, 1e19, 1e20, 1e21], per_budget=7, noise=0.01, seed=0)
    fit = sl.fit(runs, law="chinchilla", bootstrap=50, seed=0)
    return fit, fit.predict(params=70e9, tokens=1.4e12), sl.optimal.optimal_allocation(fit, 1e23)


def _check_outputs(cells) -> None:
    outputs = _outputs(cells)
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3  # loss-params, frontier, backtest
    tables = [_html(o) for o in outputs if 'class="scalinglab-result"' in _html(o)]
    assert any("<caption>FitResult</caption>" in t for t in tables)
    assert any("<caption>Allocation</caption>" in t for t in tables)
    fit, pred, alloc = _expected()
    texts = [_text(o) for o in outputs]
    # the numbers shown (4 significant digits) are the library's, to that precision
    shown = {"alpha": _number(texts, r"FitResult\(law='chinchilla'.*alpha=([0-9.e+-]+)"),
             "loss": _number(texts, r"Prediction\(loss=([0-9.e+-]+) nats/token"),
             "low": _number(texts, r"Prediction\(.*low=([0-9.e+-]+) nats/token"),
             "params": _number(texts, r"Allocation\(flops=1e\+23 FLOPs, params=([0-9.e+-]+) parameters")}
    want = {"alpha": fit.params["alpha"], "loss": float(pred.loss), "low": float(pred.low), "params": alloc.params}
    for key, value in want.items():
        assert shown[key] == pytest.approx(value, rel=2e-3), key


def _number(texts, pattern: str) -> float:
    found = [m for m in (re.search(pattern, t) for t in texts) if m]
    assert found, pattern
    return float(found[0].group(1))


def test_committed_tour_shows_rendered_outputs():
    nb = json.loads(TOUR.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c.get("execution_count") for c in code)  # every cell was run, in order
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    _check_outputs(nb["cells"])


def test_tour_executes_on_this_python(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="the notebook extra (nbformat) is not installed")
    nbclient = pytest.importorskip("nbclient", reason="the notebook extra (nbclient) is not installed")
    pytest.importorskip("ipykernel", reason="the notebook extra (ipykernel) is not installed")
    spec = tmp_path / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "scalinglab tour test", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))  # the kernel runs this Python, not a system one
    nb = nbformat.read(TOUR, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    nbclient.NotebookClient(nb, timeout=120, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert _text(nb.cells[-1]["outputs"][0]).strip() == sys.executable
    _check_outputs(nb.cells)
