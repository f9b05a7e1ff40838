"""Zero tracebacks, zero silent garbage on the command line: bad option values exit 0 or 2 with no
traceback, and a run that exits 0 never prints a non-finite result ('$inf', 'nan', 'inf')."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scalinglab as sl
from conftest import run_cli

BIG = str(10**400)
NOT_FINITE = re.compile(r"\$inf|\b(inf|nan)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz_cli")
    runs = sl.simulate_isoflop(budgets=(1e18, 1e19, 1e20, 1e21), per_budget=5, seed=0)
    runs.to_csv(folder / "runs.csv", index=False)
    tiny = runs.copy()
    tiny.loc[tiny["flops"].idxmax(), "loss"] = 5e-324  # a denormal loss among the held-out runs
    tiny.to_csv(folder / "tiny.csv", index=False)
    (folder / "config.json").write_text(json.dumps({
        "model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 2,
        "intermediate_size": 256, "vocab_size": 1e308, "max_position_embeddings": 128}))
    return folder


def _check(code: int, out: str, err: str, args) -> None:
    assert code in (0, 2), (args, code, err)
    assert "Traceback" not in out + err, (args, err)
    if code == 0:
        assert not NOT_FINITE.search(out), (args, out)
    elif err.startswith("error:"):  # a ScalingLabError: one line (typer's usage errors print their usage)
        assert err.count("\n") == 1, (args, err)


# ---- the failures named in issue 11, one regression each ------------------------------------------------
@pytest.mark.parametrize("args, needle", [
    (["memory", "--model", "llama3-8b", "--context", BIG], "--context must be a whole number >= 1"),
    (["speed", "--model", "llama3-8b", "--device", "h100", "--batch", BIG], "batch must be a whole number >= 1"),
    (["cost", "--flops", "1e23", "--device", "h100", "--devices", BIG, "--mfu", "0.4"], "n_devices must be"),
    (["fit", "{runs}", "--bootstrap", BIG], "bootstrap must be a whole number >= 0"),
    (["sweep", "--budgets", "1e12", "--per-budget", BIG, "--dry-run"], "per_budget must be a whole number >= 1"),
    (["memory", "--model", "{config}"], "vocab_size must be a whole number >= 1"),
    (["cost", "--flops", "1e23", "--device", "h100", "--devices", "8", "--mfu", "0.4", "--price", "1e308"],
     "cost is not finite"),
    (["predict", "--law", "hoffmann2022", "--params", "1e-300", "--tokens", "1e-300"],
     "'params' must be a finite number >= 1"),
    (["backtest", "{tiny}", "--holdout-above", "3e20", "--bootstrap", "0"], "below 0.001"),
])
def test_named_failure_is_one_line_exit_2(args, needle, files, monkeypatch, capsys):
    args = [a.format(runs=files / "runs.csv", tiny=files / "tiny.csv", config=files / "config.json") for a in args]
    code, out, err = run_cli(args, monkeypatch, capsys)
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1, (code, out, err)
    assert needle in err and "Traceback" not in err
    assert "$inf" not in out and "MARE inf" not in out


# ---- fuzz: one or two options of a cheap command replaced by a bad value ---------------------------------
COMMANDS = {
    "memory": ["memory", "--model", "llama3-8b", "--device", "h100", "--context", "4096", "--batch", "4",
               "--devices", "1", "--usable-fraction", "0.9", "--prefill-tokens", "1024"],
    "speed": ["speed", "--model", "llama3-8b", "--device", "h100", "--devices", "1", "--batch", "8", "--context",
              "4096", "--prompt", "512", "--compute-efficiency", "0.8", "--measured-ms", "20"],
    "cost": ["cost", "--flops", "1e23", "--device", "h100", "--devices", "8", "--mfu", "0.4", "--price", "2",
             "--pue", "1.1", "--power", "700", "--co2", "0.4"],
    "predict": ["predict", "--law", "hoffmann2022", "--params", "1e9", "--tokens", "2e10"],
    "flops": ["flops", "--arch", "llama3-8b", "--tokens", "1e12"],
    "optimal": ["optimal", "--law", "hoffmann2022", "--flops", "1e21"],
    "batch": ["batch", "--loss", "2.5", "--b-star", "2e8", "--alpha-b", "0.21", "--batch-tokens", "1e6"],
    "fit": ["fit", "{runs}", "--bootstrap", "0", "--seed", "0", "--level", "0.95", "--delta", "0.001"],
}
bad_text = st.one_of(
    st.sampled_from([BIG, "-" + BIG, "abc", "", "inf", "-inf", "nan", "-1", "0", "1e308", "-1e308", "1e-300",
                     "5e-324", "1e400", "0.5", "1e30"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(COMMANDS)), st.data())
def test_cli_options_never_traceback_nor_print_garbage(files, monkeypatch, capsys, command, data):
    args = [a.format(runs=files / "runs.csv") for a in COMMANDS[command]]
    values = [i + 1 for i, a in enumerate(args) if a.startswith("--") and i + 1 < len(args)]
    for i in {data.draw(st.sampled_from(values)), data.draw(st.sampled_from(values))}:
        args[i] = data.draw(bad_text)
    code, out, err = run_cli(args, monkeypatch, capsys)
    _check(code, out, err, args)


def test_every_fuzzed_command_runs_on_its_base_arguments(files, monkeypatch, capsys):
    for command, args in COMMANDS.items():
        code, out, err = run_cli([a.format(runs=files / "runs.csv") for a in args], monkeypatch, capsys)
        assert code == 0, (command, err)
        assert not NOT_FINITE.search(out), (command, out)
