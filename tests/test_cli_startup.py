"""What starting scalinglab costs (issue 15, items 1 and 6): which modules ``import scalinglab``,
``scalinglab --help`` and ``scalinglab predict`` load (never timed here: benchmarks/bench_cli.py times
them), and the CLI's help and tables: panels by task, flags shown as flags, titles that do not wrap,
absurd standard errors flagged."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

import scalinglab as sl
import scalinglab.cli
from conftest import run_cli  # the shared in-process CLI runner in tests/conftest.py
from scalinglab.cli.common import Table
from scalinglab.cli.registry import COMMANDS, PANELS
from scalinglab.fitting.identify import stderr_flag

HEAVY = ("matplotlib", "scipy.stats", "torch", "pandas")


def loaded_after(code: str) -> set[str]:
    """The module names in sys.modules after running ``code`` in a fresh interpreter."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def cli_loads(*args: str) -> set[str]:
    """The modules loaded by running ``scalinglab ARGS`` (in process, in a fresh interpreter)."""
    return loaded_after(f"import sys\nfrom scalinglab.cli import main\nsys.argv = ['scalinglab', *{args!r}]\n"
                        "try:\n    main()\nexcept SystemExit:\n    pass")


def test_import_scalinglab_loads_no_heavy_dependency():
    mods = loaded_after("import scalinglab")
    assert not [m for m in HEAVY if m in mods]
    assert "numpy" not in mods and "scalinglab.fitting" not in mods  # the API loads on first use


def test_public_names_load_on_first_use():
    assert dir(sl) == sorted(sl.__all__) and "fit" in sl.__all__
    assert sl.fit is importlib.import_module("scalinglab.fitting.api").fit
    assert sl.published["hoffmann2022"].key == "hoffmann2022"
    assert sl.optimal.__name__ == "scalinglab.plan.optimal" and sl.analysis.__name__ == "scalinglab.analysis"
    from scalinglab import FitResult, load_runs  # from-imports go through the same lookup

    assert FitResult.__module__ == "scalinglab.fitting.result" and callable(load_runs)
    for name in sl.__all__:
        assert getattr(sl, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        sl.nosuch  # noqa: B018


def test_help_imports_no_command_module():
    mods = cli_loads("--help")
    assert not [m for m in mods if m.startswith("scalinglab.cli.") and m.endswith("_commands")]
    assert not [m for m in HEAVY if m in mods]


def test_predict_with_a_published_law_imports_its_module_only():
    mods = cli_loads("predict", "--law", "hoffmann2022", "--params", "70e9", "--tokens", "1.4e12")
    commands = sorted(m for m in mods if m.startswith("scalinglab.cli.") and m.endswith("_commands"))
    assert commands == ["scalinglab.cli.fit_commands"]
    assert not [m for m in HEAVY if m in mods]
    assert "scalinglab.fitting.api" not in mods  # reading a law does not load the optimiser


def test_registry_lists_every_command_of_every_module():
    """A row per top-level command, naming the module that defines it, and nothing else."""
    for info in pkgutil.iter_modules(scalinglab.cli.__path__):
        if info.name.endswith("_commands"):
            importlib.import_module(f"scalinglab.cli.{info.name}")
    app = scalinglab.cli.app  # every command module registers on this one app
    defined = {c.name: c.callback.__module__ for c in app.registered_commands}
    defined |= {g.name: g.typer_instance.registered_commands[0].callback.__module__ for g in app.registered_groups}
    assert defined == {name: f"scalinglab.cli.{row.module}" for name, row in COMMANDS.items()}
    assert {row.panel for row in COMMANDS.values()} == set(PANELS)
    assert all(len(row.help) <= 57 and row.help[-1] in ".?" for row in COMMANDS.values())  # one line


def test_help_groups_commands_by_task_fit_first(monkeypatch, capsys):
    code, out, _ = run_cli(["--help"], monkeypatch, capsys)
    assert code == 0
    titles = re.findall(r"╭─ (.+?) ─", out)
    assert titles == ["Options", *PANELS]
    assert PANELS[:3] == ("Fit and predict", "Plan", "Serve")
    first = re.search(r"╭─ Fit and predict ─+╮\n│ (\S+) ", out)
    assert first and first.group(1) == "fit"
    for name in ("fit", "predict", "schedule", "overtrain", "observe", "datasets", "report", "memory"):
        assert re.search(rf"^│ {re.escape(name)} ", out, re.M), name


def test_boolean_flags_show_as_flags(monkeypatch, capsys):
    code, out, _ = run_cli(["fit", "--help"], monkeypatch, capsys)
    assert code == 0
    assert "<bool>" not in out
    assert re.search(r"│ --json\s+Print JSON\.", out)  # no type between the flag and its help
    assert re.search(r"│ --bootstrap\s+<int>", out)  # options with a value keep their type
    code, out, _ = run_cli(["schedule", "fit", "--help"], monkeypatch, capsys)  # a sub-app's command too
    assert code == 0 and "<bool>" not in out and re.search(r"│ --json\s+Print JSON\.", out)
    code, out, _ = run_cli(["--help"], monkeypatch, capsys)
    assert re.search(r"│ --help\s+Show this message and exit\.", out)


def test_help_text_says_json_keys_plainly(monkeypatch, capsys):
    code, out, _ = run_cli(["compare", "--help"], monkeypatch, capsys)
    assert code == 0 and "JSON keys:" in out and "contract" not in out


def test_a_narrow_table_keeps_its_title_on_one_line():
    title = "llama3-8b: 8,030,261,248 parameters, weights bf16 (2 bytes each), KV bf16, 4,096 tokens x batch 1"
    console = Console(width=120, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    t = Table(title=title)
    t.add_column("quantity")
    t.add_column("bytes")
    t.add_row("weights", "16,060,522,496")
    console.print(t)
    lines = console.export_text().splitlines()
    assert lines[0].strip() == title  # rich's own Table would wrap it to the 29-column table
    assert len(lines[1]) == len(title)


def test_piped_table_title_does_not_wrap(monkeypatch, capsys):
    code, out, err = run_cli(["memory", "--model", "llama3-8b"], monkeypatch, capsys)
    assert code == 0, err
    title = out.splitlines()[0].strip()
    assert title.startswith("llama3-8b: ") and title.endswith("x batch 1")
    assert max(len(line) for line in out.splitlines()) <= 120


def test_stderr_flag_thresholds():
    assert stderr_flag(1.69, 0.05) is None and stderr_flag(1.69, None) is None
    assert stderr_flag(1.69, 1000 * 1.69) is None  # exactly 1000 x is not flagged
    word, why = stderr_flag(-2.0, 3.347e18)
    assert word == "huge" and "3.347e+18" in why and "1.67e+18 x |value|" in why
    assert stderr_flag(0.5, float("inf"))[0] == "undefined" and stderr_flag(0.5, float("nan"))[0] == "undefined"
    assert stderr_flag(0.0, 5.0) is None  # no scale to compare with


def test_fit_table_flags_a_huge_std_err(tmp_path, monkeypatch, capsys):
    """Loss that depends on N only: B/D^beta is unidentified and its bootstrap spread is absurd."""
    rng = np.random.default_rng(0)
    N, D = np.geomspace(1e7, 1e9, 12), np.geomspace(1e9, 1e11, 12)[rng.permutation(12)]
    loss = 1.8 + 400 / N**0.34 * np.exp(rng.normal(0, 0.01, 12))
    path = tmp_path / "runs.csv"
    pd.DataFrame({"params": N, "tokens": D, "flops": 6 * N * D, "loss": loss}).to_csv(path, index=False)
    code, out, err = run_cli(["fit", path, "--bootstrap", "40", "--seed", "0"], monkeypatch, capsys)
    assert code == 0, err
    row = re.search(r"^  B +(\S+) +(\S+) +\[.*\]  <- huge std err \(see notes\)$", out, re.M)
    assert row and float(row.group(2)) > 1e3 * abs(float(row.group(1)))  # printed, then flagged
    assert re.search(r"^  - B: std err \S+ is \S+ x \|value\| \(over 1000 x\): the data hardly determine it",
                     out, re.M)
    assert not re.search(r"^  alpha .* huge", out, re.M)  # a determined parameter is not flagged
