"""Inference-aware optimum (Sardana et al. 2024) and the ``inference-optimal`` command."""

import json

import numpy as np
import pytest

from conftest import run_cli  # the shared in-process CLI runner in tests/conftest.py
from scalinglab.errors import ScalingLabError
from scalinglab.laws import Chinchilla
from scalinglab.laws.published import PublishedLaw
from scalinglab.plan.allocation import optimal_allocation
from scalinglab.plan.inference_aware import inference_optimal, tokens_for_loss

# references.md D1: Sardana's Chinchilla constants (E, A, B, alpha, beta) = (1.69, 406.4, 410.7, 0.336, 0.283)
SARDANA = PublishedLaw(key="sardana-chinchilla", family=Chinchilla(),
                       params={"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.336, "beta": 0.283},
                       citation="Sardana et al. 2024 (arXiv:2401.00448), Chinchilla constants", units="nats/token")
KEYS = ("params", "tokens", "train_flops", "inference_flops", "total_flops", "chinchilla_params",
        "chinchilla_tokens", "chinchilla_train_flops", "chinchilla_inference_flops", "chinchilla_total_flops")


@pytest.fixture(scope="module")
def target_13b():
    """The loss of the 13B compute-optimal model: C = 6 * 13e9 * 576.5e9 = 4.497e22 (references.md D1)."""
    return optimal_allocation(SARDANA, 6 * 13e9 * 576.5e9).loss


def test_7b_tokens_for_13b_loss(target_13b):
    # references.md D1: a 7B model needs D = 1.239e12 tokens (177 tokens/param) for the 13B's loss 2.0453
    assert target_13b == pytest.approx(2.0453, abs=1e-4)
    d = float(tokens_for_loss(SARDANA, 7e9, target_13b))
    assert d == pytest.approx(1.239e12, rel=1e-3)
    assert d / 7e9 == pytest.approx(177, abs=0.5)


def test_sardana_figure_1(target_13b):
    # references.md D1: with D_inf = 2e12, 13B total 9.697e22 vs 7B 8.005e22; saving 1.69e22 (17.4%); N* = 6.97e9
    r = inference_optimal(SARDANA, target_13b, 2e12)
    assert r.chinchilla_params == pytest.approx(13e9, rel=1e-3)
    assert r.chinchilla_tokens == pytest.approx(576.5e9, rel=1e-3)
    assert r.chinchilla_train_flops == pytest.approx(4.497e22, rel=1e-3)
    assert r.chinchilla_total_flops == pytest.approx(9.697e22, rel=1e-3)
    assert r.params == pytest.approx(6.97e9, rel=2e-3)
    assert r.total_flops == pytest.approx(8.005e22, rel=1e-3)
    assert r.savings_flops == pytest.approx(1.69e22, rel=5e-3)
    assert r.savings_fraction == pytest.approx(0.174, abs=1e-3)
    assert r.total_flops == pytest.approx(6 * r.params * r.tokens + 2 * r.params * 2e12, rel=1e-12)
    # the optimum beats the 7B of the figure, by a little
    seven_b = 6 * 7e9 * float(tokens_for_loss(SARDANA, 7e9, target_13b)) + 2 * 7e9 * 2e12
    assert r.total_flops <= seven_b < r.total_flops * 1.001


def test_no_inference_means_chinchilla(target_13b):
    r = inference_optimal(SARDANA, target_13b, 0.0)
    assert r.params == pytest.approx(r.chinchilla_params, rel=1e-5)
    assert r.inference_flops == 0 and abs(r.savings_fraction) < 1e-9


def test_more_inference_means_smaller_models(target_13b):
    sizes = [inference_optimal(SARDANA, target_13b, d).params for d in (1e11, 1e12, 1e13, 1e14)]
    assert all(np.diff(sizes) < 0)


def test_numerical_family_kaplan():
    r = inference_optimal("kaplan2020-nd", 2.3, 2e12)
    # the bisected D(N) reproduces the law's loss at the optimum
    from scalinglab.laws.published import get_published

    law = get_published("kaplan2020-nd")
    assert float(law.predict(params=r.params, tokens=r.tokens)) == pytest.approx(2.3, rel=1e-9)
    assert r.params < r.chinchilla_params and r.savings_flops > 0


def test_bad_inputs():
    with pytest.raises(ScalingLabError, match="irreducible"):
        inference_optimal(SARDANA, 1.69, 1e12)
    with pytest.raises(ScalingLabError, match="irreducible"):
        inference_optimal("hoffmann2022", 1.5, 1e12)
    with pytest.raises(ScalingLabError, match="target loss"):
        inference_optimal("hoffmann2022", -2.0, 1e12)
    with pytest.raises(ScalingLabError, match="inference tokens"):
        inference_optimal("hoffmann2022", 2.0, -5)
    with pytest.raises(ScalingLabError, match="params and tokens"):
        inference_optimal("kaplan2020-c", 2.0, 1e12)
    with pytest.raises(ScalingLabError, match="params"):
        tokens_for_loss("hoffmann2022", -1.0, 2.0)
    assert float(tokens_for_loss("hoffmann2022", 1e6, 2.0)) == float("inf")  # too small to ever reach it


def test_cli_json(target_13b, monkeypatch, capsys):
    code, stdout, err = run_cli(["inference-optimal", "--law", "hoffmann2022", "--loss", 2.0,
                                 "--inference-tokens", 2e12, "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    for key in KEYS + ("savings_flops", "savings_fraction"):
        assert isinstance(d[key], float)
    assert d["params"] < d["chinchilla_params"] and d["total_flops"] < d["chinchilla_total_flops"]


@pytest.fixture
def sardana_fit_json(tmp_path):
    """Sardana's Chinchilla constants written as a fit JSON, the form --law reads."""
    from scalinglab.fitting.result import FitResult

    family = Chinchilla()
    path = tmp_path / "sardana.json"
    FitResult(law="chinchilla", family=family, theta=family.from_natural(SARDANA.params), params=dict(SARDANA.params),
              derived={}, objective=0.0, rmse_log=0.0, n_points=0, converged=True, source="references.md D1").save(path)
    return path


def test_cli_sardana_figure_1(sardana_fit_json, target_13b, monkeypatch, capsys):
    # references.md D1 through the CLI: 13B vs the inference-aware 6.97B for 2e12 inference tokens saves 1.69e22 (17.4%)
    args = ["inference-optimal", "--law", sardana_fit_json, "--loss", repr(target_13b), "--inference-tokens", 2e12]
    code, stdout, err = run_cli([*args, "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    assert d["chinchilla_params"] == pytest.approx(13e9, rel=1e-3)
    assert d["chinchilla_total_flops"] == pytest.approx(9.697e22, rel=1e-3)
    assert d["params"] == pytest.approx(6.97e9, rel=2e-3)
    assert d["total_flops"] == pytest.approx(8.005e22, rel=1e-3)
    assert d["savings_flops"] == pytest.approx(1.69e22, rel=5e-3)
    assert d["savings_fraction"] == pytest.approx(0.174, abs=1e-3)
    assert d["notes"] == []  # 7B and 13B models, 179 and 44 tokens per parameter: typical ranges
    code, stdout, err = run_cli(args, monkeypatch, capsys)
    assert code == 0, err
    assert "savings: 1.692e+22 FLOPs (17.4% of the Chinchilla-optimal total)" in stdout


@pytest.mark.parametrize("loss, fragment", [
    (1.7, "N = 3.73e+14 parameters (typical 1e+06..1e+14)"),  # near E = 1.69: an enormous model
    (50.0, "tokens per parameter (typical 1..1e+05)"),  # a ~550-parameter model on millions of tokens each
])
def test_extreme_targets_note_the_extrapolation(loss, fragment, monkeypatch, capsys):
    r = inference_optimal("hoffmann2022", loss, 1e12)
    assert any(fragment in n for n in r.notes), r.notes
    code, stdout, err = run_cli(["inference-optimal", "--law", "hoffmann2022", "--loss", loss,
                                 "--inference-tokens", 1e12, "--json"], monkeypatch, capsys)
    assert code == 0, err
    assert any(fragment in n for n in json.loads(stdout)["notes"])
    assert not inference_optimal("hoffmann2022", 2.0, 1e12).notes


def test_cli_table(monkeypatch, capsys):
    code, stdout, _ = run_cli(["inference-optimal", "--law", "hoffmann2022", "--loss", 2.0,
                               "--inference-tokens", 1e12], monkeypatch, capsys)
    assert code == 0
    assert "inference-aware" in stdout and "Chinchilla-optimal" in stdout and "FLOPs" in stdout


@pytest.mark.parametrize("args", [
    ["--law", "hoffmann2022", "--loss", 1.2, "--inference-tokens", 1e12],
    ["--law", "hoffmann2022", "--loss", 2.0, "--inference-tokens", -1],
    ["--law", "nosuchlaw", "--loss", 2.0, "--inference-tokens", 1e12],
    ["--law", "kaplan2020-n", "--loss", 2.0, "--inference-tokens", 1e12],
])
def test_cli_bad_input(args, monkeypatch, capsys):
    code, stdout, err = run_cli(["inference-optimal", *args, "--json"], monkeypatch, capsys)
    assert code == 2 and stdout == ""
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
