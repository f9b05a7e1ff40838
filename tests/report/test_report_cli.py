"""``scalinglab plot`` and ``scalinglab report``: JSON contracts, files written, one-line errors (exit 2)."""

import json

import matplotlib.image as mpimg
import pytest
from report_data import sweep_csv

from conftest import run_cli
from scalinglab.report.style import image_size


@pytest.fixture
def csv(tmp_path):
    return sweep_csv(tmp_path, per_budget=5)


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_plot_json_contract(csv, tmp_path, monkeypatch, capsys, suffix):
    out = tmp_path / f"loss.{suffix}"
    code, stdout, err = run_cli(["plot", "loss-params", csv, "--out", out, "--bootstrap", "20", "--json"],
                                monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    assert set(d) == {"kind", "out", "format", "width_px", "height_px"}
    assert d["kind"] == "loss-params" and d["format"] == suffix and d["out"] == str(out)
    assert (d["width_px"], d["height_px"]) == image_size(out)
    if suffix == "png":
        assert mpimg.imread(out).shape[:2] == (d["height_px"], d["width_px"])


def test_plot_a_serving_kind_by_preset_name(tmp_path, monkeypatch, capsys):
    out = tmp_path / "mem.png"
    code, stdout, err = run_cli(["plot", "memory", "llama3-8b", "--out", out, "--device", "h100-sxm",
                                 "--batches", "1,16", "--context", "2048"], monkeypatch, capsys)
    assert code == 0, err
    assert out.stat().st_size > 10_000 and f"wrote {out}" in stdout
    code, _, err = run_cli(["plot", "throughput", "llama3-8b", "--out", tmp_path / "t.svg", "--batches", "1:64"],
                           monkeypatch, capsys)
    assert code == 0, err


def test_plot_frontier_with_budgets_and_reference(csv, tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(["plot", "frontier", csv, "--out", tmp_path / "f.png", "--bootstrap", "0",
                            "--budgets", "1e18:1e24:7", "--reference", "hoffmann2022"], monkeypatch, capsys)
    assert code == 0, err


@pytest.mark.parametrize("args, message", [
    (["plot", "loss-params", "{csv}", "--out", "{tmp}/a.pdf"], "unknown figure format '.pdf'"),
    (["plot", "loss-params", "{tmp}/missing.csv", "--out", "{tmp}/a.png"], "missing.csv: no such file"),
    (["plot", "pie", "{csv}", "--out", "{tmp}/a.png"], "unknown plot kind 'pie'"),
    (["plot", "memory", "llama3-8b", "--out", "{tmp}/a.png", "--law", "chinchilla"], "takes no option law"),
    (["plot", "memory", "no-such-model", "--out", "{tmp}/a.png"], "no-such-model"),
    (["plot", "frontier", "{csv}", "--out", "{tmp}/a.png", "--budgets", "lots"], "--budgets"),
    (["plot", "loss-params", "{csv}", "--out", "{tmp}/no/such/dir/a.png"], "does not exist"),
    (["report", "{csv}", "--out", "{tmp}/r.txt"], "ending in .html"),
    (["report", "{tmp}/missing.csv", "--out", "{tmp}/r.html"], "missing.csv: no such file"),
])
def test_errors_are_one_line_and_exit_2(csv, tmp_path, monkeypatch, capsys, args, message):
    args = [a.format(csv=csv, tmp=tmp_path) for a in args]
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2


def test_a_model_kind_given_a_runs_file_says_what_it_expected(csv, tmp_path, monkeypatch, capsys):
    from scalinglab.stores.run_store import RunStore

    store = tmp_path / "runs.db"
    RunStore(store).close()  # an (empty) SQLite run store: binary, not JSON
    for kind, data in (("throughput", store), ("memory", csv), ("speed-size", f"llama3-8b,{store}")):
        code, _, err = run_cli(["plot", kind, str(data), "--out", tmp_path / "a.png"], monkeypatch, capsys)
        assert code == 2
        bad = store if kind != "memory" else csv
        assert err.strip() == f"error: expected a model preset name or a Hugging Face config.json, got {bad}"


def test_report_json_contract(csv, tmp_path, monkeypatch, capsys):
    out = tmp_path / "report.html"
    code, stdout, err = run_cli(["report", csv, "--bootstrap", "20", "--budgets", "1e21,1e22", "--seed", "2",
                                 "--out", out, "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    assert {"out", "n_runs", "law", "figures"} <= set(d)
    assert d["out"] == str(out) and d["n_runs"] == 25 and d["law"] == "chinchilla" and d["figures"] == 9
    html = out.read_text(encoding="utf-8")
    # the exact command that made it, for reproduction
    assert f"<pre>scalinglab report {csv} --bootstrap 20 --budgets 1e21,1e22 --seed 2 --out {out} --json</pre>" in html


def test_report_prints_its_path(csv, tmp_path, monkeypatch, capsys):
    out = tmp_path / "r.html"
    code, stdout, err = run_cli(["report", csv, "--bootstrap", "0", "--out", out], monkeypatch, capsys)
    assert code == 0, err
    assert stdout.strip().splitlines()[-1] == str(out.resolve())


def test_report_drops_the_highest_losses(csv, tmp_path, monkeypatch, capsys):
    out = tmp_path / "report.html"
    code, stdout, err = run_cli(["report", csv, "--bootstrap", "0", "--drop-highest-loss", "3", "--out", out,
                                 "--json"], monkeypatch, capsys)
    assert code == 0, err
    assert json.loads(stdout)["n_runs"] == 22  # 25 runs, the 3 highest losses dropped
    assert "dropped the 3 highest-loss rows" in out.read_text(encoding="utf-8")
