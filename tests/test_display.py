"""Every result object shows itself short: a one-line repr of its headline numbers with units and an
escaped HTML table for Jupyter (scalinglab.display.Displayed).

Which classes are results is found by walking the modules of fitting, plan, inference and analysis (and
resolve, io, laws.published, demo): every public dataclass defined there must derive from Displayed, or be
named in NOT_RESULTS with the reason it is not a result. A new result class without the mechanism fails
test_every_result_class_is_displayed.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.display import REPR_LIMIT, Displayed, short
from scalinglab.fitting.result import FitResult
from scalinglab.inference.memory import memory_report
from scalinglab.inference.speed import batch_sweep
from scalinglab.laws.chinchilla import Chinchilla
from scalinglab.laws.published import get_published
from scalinglab.plan.allocation import Allocation, optimal_frontier
from scalinglab.plan.hardware import training_cost
from scalinglab.simulate import simulate_isoflop

PACKAGES = ("scalinglab.fitting", "scalinglab.plan", "scalinglab.inference", "scalinglab.analysis")
MODULES = ("scalinglab.resolve", "scalinglab.io", "scalinglab.laws.published", "scalinglab.demo")
#: public dataclasses that are inputs, settings or optimiser plumbing, not results a user looks at
NOT_RESULTS = {
    "Architecture": "an input (a model's shape)",
    "Device": "an input (an accelerator's datasheet)",
    "ComputeOptimalRule": "an input (a published rule); its answers are RuleAllocation",
    "KaplanRule": "an input (a published rule); its answers are RuleAllocation",
    "BudgetGroups": "plumbing: which runs share a FLOP budget",
    "Objective": "a setting of the fit (the loss and its delta)",
    "BatchResult": "optimiser plumbing (one batch of solutions)",
    "MultiStartResult": "optimiser plumbing; sl.fit returns a FitResult",
    "BootstrapDraws": "optimiser plumbing; a FitResult carries the draws",
    "ProblemResults": "an input (per-problem sample results read from a table)",
    "Constraints": "a setting of the fit (bounds and ties)",
    "NoisyMinima": "plumbing: one budget's noise bootstrap inside approach 2",
    "Curve": "an input (one run's loss and learning-rate curve for the schedule law)",
    "Schedule": "an input (a learning-rate schedule description)",
    "Form": "a setting of the schedule fit (one form of the law: its parameters, formula and source)",
}
#: classes that write their own one-line __repr__ (kept) and take only _repr_html_ from Displayed
OWN_REPR = {"FitResult", "CapabilityPCA", "ObservationalResult"}
NASTY = "<script>alert('x')</script>"


def _modules():
    mods = [importlib.import_module(name) for name in MODULES]
    for name in PACKAGES:
        pkg = importlib.import_module(name)
        mods += [importlib.import_module(f"{name}.{m.name}") for m in pkgutil.iter_modules(pkg.__path__)
                 if not m.name.startswith("_")]
    return mods


def public_dataclasses() -> dict[str, type]:
    out = {}
    for mod in _modules():
        for name, cls in vars(mod).items():
            if (inspect.isclass(cls) and dataclasses.is_dataclass(cls) and cls.__module__ == mod.__name__
                    and not name.startswith("_")):
                out[name] = cls
    return out


CLASSES = public_dataclasses()
RESULTS = {name: cls for name, cls in CLASSES.items() if name not in NOT_RESULTS}


def test_the_walk_finds_the_result_classes_the_issues_name():
    named = {"FitResult", "Prediction", "Allocation", "ApproachResult", "BacktestResult", "Forecast",
             "MemoryReport", "SpeedReport", "TrainingCost", "GroupComparison", "RuleAllocation", "Runs",
             "PublishedLaw"}
    assert named <= set(RESULTS)
    assert len(RESULTS) >= 40


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_every_result_class_is_displayed(name):
    cls = RESULTS[name]
    where = f"{cls.__module__}.{name}"
    assert issubclass(cls, Displayed), (f"{where} is a public dataclass: derive it from scalinglab.display."
                                        "Displayed (with repr=False) or list it in NOT_RESULTS with the reason")
    assert cls._display, f"{where} names no headline fields (_display)"
    if name not in OWN_REPR:  # a dataclass repr (repr=True) would dump every field over the mixin's
        assert cls.__repr__ is Displayed.__repr__, f"{where}: write @dataclass(repr=False)"
    fields = {f.name for f in dataclasses.fields(cls)}
    for item in cls._display:
        assert isinstance(item[1], str)
        if len(item) == 2:
            assert item[0] in fields or hasattr(cls, item[0]), f"{where} shows {item[0]}, which it lacks"


# ---- every result class on synthetic values: short whatever the fields hold ---------------------
def _value(annotation: str, depth: int):
    ann = annotation.replace(" | None", "").replace("None | ", "").strip()
    if ann in RESULTS and depth < 2:
        return synthesise(RESULTS[ann], depth + 1)
    if ann == "LawFamily":
        return Chinchilla()
    if "DataFrame" in ann:
        x = np.linspace(0.0, 1.0, 400)  # columns the results' own tables use (a prediction table's split, ...)
        return pd.DataFrame({"flops": 1e18 * 10**x, "loss": 3 - x, "split": "test", "observed": x,
                             "predicted": x + 0.1, "flops_predicted": x + 0.2})
    if ann in ("Array", "np.ndarray") or "ndarray" in ann:
        return np.linspace(0.5, 2.5, 1000)
    if ann.startswith(("dict", "Mapping")):
        return {f"key{i}": float(i) for i in range(40)}
    if ann.startswith("tuple[float, float]") or ann == "list[float]":
        return (0.25, 0.75)
    if ann.startswith(("list", "tuple", "Sequence")):
        return [NASTY] * 300 if "str" in ann else list(range(300))
    if ann == "str":
        return NASTY + "y" * 300
    if ann == "bool":
        return True
    if ann == "int":
        return 123
    if ann == "float":
        return 1.2345678e23
    return None


def synthesise(cls: type, depth: int = 0):
    """An instance of ``cls`` with every field filled by a long, awkward value of its annotated type."""
    obj = object.__new__(cls)
    for f in dataclasses.fields(cls):
        object.__setattr__(obj, f.name, _value(str(f.type), depth))
    return obj


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_repr_is_one_short_line_and_html_is_escaped(name):
    obj = synthesise(RESULTS[name])
    text = Displayed.__repr__(obj)  # FitResult's own repr lists every parameter: tested on a real fit below
    assert text.startswith(f"{name}(") and text.endswith(")") and "\n" not in text
    assert len(text) < 300
    assert "array([" not in text and "key39" not in text  # arrays and long mappings are summarised
    page = obj._repr_html_()
    assert "<script>" not in page
    assert page.startswith('<table class="scalinglab-result">') and f"<caption>{name}</caption>" in page
    first = obj.display_items()[0]
    if isinstance(first[1], float):
        assert "1.235e+23" in text and "1.235e+23" in page  # the headline number, 4 significant digits
    if isinstance(first[1], str):
        assert "&lt;script&gt;" in page


# ---- real results: the numbers shown are the object's numbers -----------------------------------
def test_allocation_repr_and_html_show_its_numbers_with_units():
    a = optimal_frontier(get_published("hoffmann2022"), [1e23])[0]
    text = repr(a)
    assert len(text) <= REPR_LIMIT
    for value, unit in ((a.flops, "FLOPs"), (a.params, "parameters"), (a.tokens, "tokens"),
                        (a.loss, "nats/token")):
        assert f"={value:.4g} {unit}" in text
    page = a._repr_html_()
    assert f"<tr><td>params</td><td>{a.params:.4g}</td><td>parameters</td></tr>" in page
    assert a.warnings and "<ul><li>" in page  # the extrapolation warning is listed under the table


def test_html_escapes_names_and_warnings():
    a = Allocation(flops=1e21, params=1e9, tokens=1.6e11, tokens_per_param=160.0, loss=2.5, params_ci=None,
                   tokens_ci=None, loss_ci=None, level=None, method=NASTY, notes=[], extrapolation=None,
                   warnings=["<b>bold</b> & more"], extrapolation_warnings=[])
    page = a._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in page
    assert "method=\"<script>alert('x')</script>\")" in repr(a)  # a terminal's repr: the string's repr()


def test_serving_and_cost_reports_show_their_headlines():
    m = memory_report("llama3-8b", batch=8, context_tokens=4096)
    assert f"total_bytes={m.total_bytes:.4g} bytes" in repr(m) and len(repr(m)) <= REPR_LIMIT
    assert f"weights_bytes={m.weights_bytes:.4g} bytes" in repr(m)
    assert "model='llama3-8b'" in repr(m) and "batch=8 sequences" in repr(m)
    s = batch_sweep("llama3-8b", "h100-sxm", [4])[0]
    assert f"decode_tokens_per_s={s.decode_tokens_per_s:.4g} tokens/s" in repr(s) and "batch=4 sequences" in repr(s)
    c = training_cost(1e23, "h100-sxm", n_devices=1024, mfu=0.4)
    assert f"days={c.days:.4g} days" in repr(c) and "n_devices=1024 devices" in repr(c)


def test_fit_result_keeps_its_repr_and_gains_a_parameter_table():
    runs = simulate_isoflop("hoffmann2022", budgets=[1e18, 1e19, 1e20], per_budget=5, noise=0.0)
    res = sl.fit(runs)
    text = repr(res)
    assert isinstance(res, FitResult) and text.startswith("FitResult(law='chinchilla', status=") and len(text) < 300
    assert all(f"{k}={v:.4g}" in text for k, v in res.params.items())
    page = res._repr_html_()
    for name, value in res.params.items():
        assert f"<tr><td>params[{name}]</td><td>{value:.4g}</td><td>natural scale</td></tr>" in page
    assert f"<td>n_points</td><td>{res.n_points}</td><td>runs</td>" in page


# ---- short(): how a value is summarised ----------------------------------------------------------
def test_short_summarises_arrays_tables_mappings_and_lists():
    assert short(np.arange(1000.0)) == "array(1000, 0..999)"
    assert short(np.zeros((3, 4))) == "array(3x4, 0..0)"
    assert short(np.array([np.nan])) == "array(1, no finite values)"
    assert short(pd.DataFrame({"a": range(7), "b": range(7)})) == "table(7 rows x 2 columns)"
    assert short({"E": 1.69, "alpha": 0.3392}) == "{E=1.69, alpha=0.3392}"
    assert short({f"k{i}": i for i in range(10)}) == "{10 items}"
    assert short([0.1, 0.2]) == "[0.1, 0.2]" and short(list(range(50))) == "[50 items]"
    assert short(70_000_000_000) == "7e+10" and short(42) == "42" and short(np.float64(2.5e-7)) == "2.5e-07"
    assert short("x" * 100) == repr("x" * 37 + "...")
    assert short(None) == "None" and short(np.bool_(True)) == "True"


def test_a_repr_stops_before_the_limit_and_says_so():
    class Wide(Displayed):
        _display = tuple((f"field{i}", "FLOPs", lambda _, i=i: 10.0 ** i) for i in range(40))

    text = repr(Wide())
    assert len(text) <= REPR_LIMIT and text.endswith(", ...)") and "field0=1 FLOPs" in text
    assert re.search(r"field39", text) is None


def test_a_missing_value_is_shown_without_its_unit():
    text = repr(sl.fit(simulate_isoflop("hoffmann2022", budgets=[1e18, 1e19, 1e20], per_budget=5, noise=0.0))
                .predict(params=1e9, tokens=2e10))
    assert re.fullmatch(r"Prediction\(loss=[0-9.]+ nats/token, low=None, high=None, level=None, method=None\)", text)


def test_runs_and_published_laws_show_their_ranges_and_constants():
    runs = sl.load_runs(simulate_isoflop("hoffmann2022", budgets=[1e18, 1e19], per_budget=5, noise=0.0))
    text = repr(runs)
    assert text.startswith("Runs(runs=10, source='<DataFrame>'") and len(text) <= REPR_LIMIT
    p = runs.column("params")
    assert f"params=array(10, {p.min():.4g}..{p.max():.4g}) parameters" in text
    law = get_published("hoffmann2022")
    assert repr(law).startswith("PublishedLaw(key='hoffmann2022', family='chinchilla', params={E=1.69, A=406.4")
    assert "<tr><td>params[alpha]</td><td>0.34</td><td>natural scale</td></tr>" in law._repr_html_()
