"""Batch size: Kaplan critical batch, McCandlish noise scale and trade-off, DeepSeek rules (references.md B1-B3)."""

import json

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli  # the shared in-process CLI runner in tests/conftest.py
from scalinglab.errors import ScalingLabError
from scalinglab.plan import batch as sb


def assert_one_line_error(code, err):
    assert code == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# ---- Kaplan critical batch ------------------------------------------------------------------------

@pytest.mark.parametrize("loss, eq53, fig10", [(2, 7.37e6, 7.54e6), (3, 1.069e6, 1.077e6),
                                               (4, 2.717e5, 2.706e5), (6, 3.94e4, 3.86e4)])
def test_critical_batch_both_variants(loss, eq53, fig10):
    # references.md B2: (2e8, 0.21) and Fig. 10 (2.1e8, L^-4.8)
    assert sb.critical_batch_size(loss) == pytest.approx(eq53, rel=2e-3)
    assert sb.critical_batch_size(loss, *sb.KAPLAN_FIG_10) == pytest.approx(fig10, rel=2e-3)


def test_min_steps_and_compute_at_kaplan_batch():
    # references.md B2: at B = 2^19 tokens, L = 3: S_min/S = 0.329, C_min/C = 0.671
    b_crit = sb.critical_batch_size(3.0)
    assert sb.min_steps(1e5, 2**19, b_crit) / 1e5 == pytest.approx(0.329, abs=5e-4)
    assert sb.min_compute(1e21, 2**19, b_crit) / 1e21 == pytest.approx(0.671, abs=5e-4)


@pytest.mark.parametrize("call", [lambda: sb.critical_batch_size(-1), lambda: sb.critical_batch_size(3, alpha_b=0),
                                  lambda: sb.min_steps(100, 0, 1e6), lambda: sb.min_compute(float("nan"), 1, 1)])
def test_kaplan_bad_input(call):
    with pytest.raises(ScalingLabError, match="must be a finite number > 0"):
        call()


# ---- McCandlish noise scale -----------------------------------------------------------------------

def _simulated_noise_table(seed=0, d=1000, draws=4000, sizes=(32, 1024)):
    """references.md B1 synthetic check: G ~ N(0, 0.05^2) per coordinate, per-example noise variance 1
    (tr Sigma = d)."""
    rng = np.random.default_rng(seed)
    g = rng.normal(0.0, 0.05, d)
    rows = []
    for b in sizes:
        est = g + rng.normal(0.0, 1.0 / np.sqrt(b), (draws, d))
        rows.append(pd.DataFrame({"batch_size": b, "grad_sq_norm": (est**2).sum(axis=1)}))
    return pd.concat(rows, ignore_index=True), float(g @ g), float(d)


def test_two_batch_estimator_recovers_synthetic_noise_scale():
    # references.md B1: d = 1000, |G|^2 ~ 2.39, tr Sigma = 1000, B_simple ~ 418, B 32 / 1024, 4000 draws each
    table, g2, tr = _simulated_noise_table()
    assert g2 == pytest.approx(2.39, rel=0.05)
    ns = sb.noise_scale_from_table(table)
    assert ns.method == "two_batch" and ns.batch_sizes == [32, 1024] and ns.n_rows == 8000
    assert ns.grad_sq_norm == pytest.approx(g2, rel=0.03)
    assert ns.trace_sigma == pytest.approx(tr, rel=0.01)
    assert ns.b_simple == pytest.approx(tr / g2, rel=0.03)
    assert ns.b_simple == pytest.approx(418, rel=0.05)


def test_lstsq_equals_two_batch_with_two_sizes_and_uses_all_sizes():
    table, g2, tr = _simulated_noise_table(seed=1, draws=500)
    a = sb.noise_scale_from_table(table, method="two_batch")
    b = sb.noise_scale_from_table(table, method="lstsq")
    assert b.b_simple == pytest.approx(a.b_simple, rel=1e-9)
    three, g2, tr = _simulated_noise_table(seed=2, draws=1500, sizes=(32, 128, 1024))
    c = sb.noise_scale_from_table(three, method="lstsq")
    assert c.batch_sizes == [32, 128, 1024] and c.b_simple == pytest.approx(tr / g2, rel=0.05)


def test_two_batch_exact_on_noise_free_means():
    # E|G_B|^2 = |G|^2 + tr(Sigma)/B exactly: |G|^2 = 2, tr Sigma = 800 -> B_simple = 400
    ns = sb.noise_scale_two_batch(16, 2 + 800 / 16, 512, [2 + 800 / 512] * 3)
    assert (ns.grad_sq_norm, ns.trace_sigma, ns.b_simple) == pytest.approx((2.0, 800.0, 400.0))


def test_noise_table_errors(tmp_path):
    with pytest.raises(ScalingLabError, match="missing column.*grad_sq_norm"):
        sb.noise_scale_from_table(pd.DataFrame({"batch_size": [1, 2], "norm": [3, 2]}))
    with pytest.raises(ScalingLabError, match="2 or more distinct batch sizes"):
        sb.noise_scale_from_table(pd.DataFrame({"batch_size": [8, 8], "grad_sq_norm": [3, 2]}))
    with pytest.raises(ScalingLabError, match="row 2: grad_sq_norm must be a number > 0"):
        sb.noise_scale_from_table(pd.DataFrame({"batch_size": [8, 64], "grad_sq_norm": [3, -2]}))
    with pytest.raises(ScalingLabError, match=r"\|G\|\^2 .* <= 0"):
        sb.noise_scale_from_table(pd.DataFrame({"batch_size": [8, 64], "grad_sq_norm": [10.0, 1.0]}))
    with pytest.raises(ScalingLabError, match="unknown noise-scale method"):
        sb.noise_scale_from_table(pd.DataFrame({"batch_size": [8, 64], "grad_sq_norm": [3, 2]}), method="x")
    with pytest.raises(ScalingLabError, match="no such file"):
        sb.noise_scale_from_table(tmp_path / "absent.csv")


# ---- steps / examples trade-off -------------------------------------------------------------------

@pytest.mark.parametrize("b, steps, examples", [(100, 11_000, 1.1e6), (1000, 2000, 2e6), (10_000, 1100, 1.1e7)])
def test_tradeoff_table(b, steps, examples):
    # references.md B1: S_min = 1000, E_min = 1e6 (B_crit = 1000)
    t = sb.steps_examples_tradeoff(b, 1000, 1e6)
    assert (t.steps, t.examples, t.critical_batch) == pytest.approx((steps, examples, 1000))
    assert (t.steps / 1000 - 1) * (t.examples / 1e6 - 1) == pytest.approx(1.0)


# ---- DeepSeek rules -------------------------------------------------------------------------------

@pytest.mark.parametrize("c, lr, batch", [(1e20, 9.86e-4, 1.017e6), (1e23, 4.16e-4, 9.74e6),
                                          (8.456e22, 4.25e-4, 9.22e6)])
def test_deepseek_rules(c, lr, batch):
    # references.md B3 (last row: DeepSeek 7B budget)
    assert sb.deepseek_learning_rate(c) == pytest.approx(lr, rel=3e-3)
    assert sb.deepseek_batch_tokens(c) == pytest.approx(batch, rel=3e-3)


def test_deepseek_bad_input():
    with pytest.raises(ScalingLabError, match="flops"):
        sb.deepseek_batch_tokens(-1e20)


# ---- CLI ------------------------------------------------------------------------------------------

def test_cli_batch_loss_json(monkeypatch, capsys):
    code, stdout, err = run_cli(["batch", "--loss", 3, "--batch-tokens", 2**19, "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    assert d["critical_batch_tokens"] == pytest.approx(1.069e6, rel=2e-3)
    assert d["min_steps_ratio"] == pytest.approx(0.329, abs=5e-4)
    code, stdout, _ = run_cli(["batch", "--loss", 3, "--b-star", 2.1e8, "--alpha-b", 1 / 4.8, "--json"],
                              monkeypatch, capsys)
    assert json.loads(stdout)["critical_batch_tokens"] == pytest.approx(1.077e6, rel=2e-3)


def test_cli_batch_loss_text_gives_units(monkeypatch, capsys):
    code, stdout, err = run_cli(["batch", "--loss", 3], monkeypatch, capsys)
    assert code == 0, err
    assert "critical batch at loss 3 nats/token: 1,069,114 tokens" in stdout
    assert "WebText2" in stdout and "GPT-2 tokenizer" in stdout


@pytest.mark.parametrize("args, fragment", [
    (["--loss", 1e-300], "exp(3309) tokens overflows at loss 1e-300, B_* 2e+08, alpha_B 0.21"),  # was ZeroDivisionError
    (["--loss", 3, "--alpha-b", 1e-5], "underflows at loss 3, B_* 2e+08, alpha_B 1e-05"),  # was OverflowError
    (["--loss", 0.5, "--alpha-b", 0.001, "--json"], "exp(712.3) tokens overflows"),  # was null with exit 0
    (["--loss", "nan"], "loss must be a finite number > 0, got nan"),
])
def test_cli_batch_extreme_inputs(args, fragment, monkeypatch, capsys):
    code, stdout, err = run_cli(["batch", *args], monkeypatch, capsys)
    assert_one_line_error(code, err)
    assert fragment in err and stdout == ""


def test_critical_batch_log_space_matches_direct_formula():
    # ln B = ln 2e8 - ln(0.5)/0.01 = 19.11 + 69.31: 2e8 * 2^100 = 2.535e38 tokens, finite and exact
    assert sb.critical_batch_size(0.5, 2e8, 0.01) == pytest.approx(2e8 * 2.0**100, rel=1e-12)


def test_noise_table_nan_prints_plainly(tmp_path):
    path = tmp_path / "nan.csv"
    pd.DataFrame({"batch_size": [32, 64], "grad_sq_norm": [float("nan"), 3.0]}).to_csv(path, index=False)
    with pytest.raises(ScalingLabError, match=r"row 1: grad_sq_norm must be a number > 0, got nan$"):
        sb.noise_scale_from_table(path)


def test_cli_batch_noise_json(tmp_path, monkeypatch, capsys):
    path = tmp_path / "noise.csv"
    _simulated_noise_table(draws=1000)[0].to_csv(path, index=False)
    code, stdout, err = run_cli(["batch", "--noise", path, "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    for key in ("b_simple", "grad_sq_norm", "trace_sigma"):
        assert key in d
    assert d["b_simple"] == pytest.approx(418, rel=0.06)
    code, stdout, err = run_cli(["batch", "--noise", path], monkeypatch, capsys)
    assert code == 0 and "B_simple" in stdout
    assert "in the unit of the batch_size column (examples, or tokens" in stdout


def test_cli_batch_flops_text(monkeypatch, capsys):
    code, stdout, err = run_cli(["batch", "--flops", 1e20], monkeypatch, capsys)
    assert code == 0, err
    assert "DeepSeek" in stdout


@pytest.mark.parametrize("args", [[], ["--loss", -3], ["--noise", "absent.csv"], ["--batch-tokens", 1e6],
                                  ["--loss", 3, "--alpha-b", 0]])
def test_cli_batch_bad_input(args, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["batch", *args], monkeypatch, capsys)
    assert_one_line_error(code, err)


def test_cli_batch_bad_table(tmp_path, monkeypatch, capsys):
    path = tmp_path / "one.csv"
    pd.DataFrame({"batch_size": [8, 8], "grad_sq_norm": [3.0, 2.0]}).to_csv(path, index=False)
    code, _, err = run_cli(["batch", "--noise", path], monkeypatch, capsys)
    assert_one_line_error(code, err)
    assert "distinct batch sizes" in err
