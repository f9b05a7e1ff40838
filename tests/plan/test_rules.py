"""Published compute-optimal rules (scalinglab.plan.rules) and `scalinglab optimal --rule`."""

import json
import math

import pytest

from conftest import run_cli  # the shared in-process CLI runner in tests/conftest.py
from scalinglab.errors import ScalingLabError
from scalinglab.plan.allocation import optimal_allocation
from scalinglab.plan.rules import REGISTRY, get_rule, list_rules

KEYS = ["kaplan2020", "hoffmann2022-approach1", "hoffmann2022-approach2", "hoffmann2022-approach3",
        "llama3", "llama3-unrounded", "deepseek2024"]


def test_registry_holds_every_rule_with_a_source():
    assert set(KEYS) <= set(REGISTRY)
    for d in list_rules():
        assert d["citation"] and d["normalisation"] and d["units"] and d["formulas"]


def test_llama3_rounding_changes_the_answer_by_55_percent():
    # references.md D3 [R]: at 3.8e25 FLOPs, (0.29, 0.53) -> 1.05e13 tokens; (0.299, 0.537) -> 1.63e13 tokens
    rounded = get_rule("llama3").optimal(3.8e25)
    unrounded = get_rule("llama3-unrounded").optimal(3.8e25)
    assert rounded.tokens == pytest.approx(1.05e13, rel=0.01)
    assert unrounded.tokens == pytest.approx(1.63e13, rel=0.01)
    assert unrounded.tokens / rounded.tokens == pytest.approx(1.55, abs=0.01)
    assert rounded.params == pytest.approx(3.8e25 / (6 * rounded.tokens))  # derived with C = 6ND
    assert "params" in rounded.derived and "tokens" not in rounded.derived


def test_deepseek_self_consistency():
    # references.md B3: 0.1715 * 5.8316 = 1.0001 and 0.5243 + 0.4757 = 1, so M_opt * D_opt = C
    rule = get_rule("deepseek2024")
    (k_m, p_m), (k_d, p_d) = rule.given["flops_per_token"], rule.given["tokens"]
    assert k_m * k_d == pytest.approx(1.0001, abs=5e-5)
    assert p_m + p_d == pytest.approx(1.0, abs=1e-12)
    for c in (1e20, 1e23, 1e26):
        alloc = rule.optimal(c)
        assert alloc.flops_per_token * alloc.tokens == pytest.approx(c, rel=2e-4)
        assert alloc.params == pytest.approx(alloc.flops_per_token / 6)
    assert (rule.a, rule.b) == (0.5243, 0.4757)


def test_hoffmann_approach1_reproduces_table3():
    # Hoffmann et al. 2022 Table 3 (references.md D3): 10B at 1.23e22 FLOPs on 205.1B tokens; 1T at 1.27e26 on 21.2T
    rule = get_rule("hoffmann2022-approach1")
    for flops, params, tokens in ((1.23e22, 10e9, 205.1e9), (1.27e26, 1e12, 21.2e12)):
        alloc = rule.optimal(flops)
        assert alloc.params == pytest.approx(params, rel=0.05)
        assert alloc.tokens == pytest.approx(tokens, rel=0.05)


def test_hoffmann_approach3_matches_the_unrounded_law():
    law = optimal_allocation("hoffmann2022-unrounded", 5.76e23)
    assert get_rule("hoffmann2022-approach3").optimal(5.76e23).params == pytest.approx(law.params, rel=1e-3)


def test_kaplan_normalisation():
    rule = get_rule("kaplan2020")
    assert rule.optimal(8.64e19).params == pytest.approx(1.3e9)  # 1 PF-day -> 1.3e9 non-embedding params
    alloc = rule.optimal(1e22)
    assert alloc.tokens == pytest.approx(1e22 / (6 * alloc.params))


@pytest.mark.parametrize("key", KEYS)
def test_exponents_are_what_the_rule_computes(key):
    rule = get_rule(key)
    lo, hi = rule.optimal(1e21), rule.optimal(1e24)
    assert math.log(hi.params / lo.params) / math.log(1e3) == pytest.approx(rule.a, abs=1e-9)
    assert math.log(hi.tokens / lo.tokens) / math.log(1e3) == pytest.approx(rule.b, abs=1e-9)
    assert rule.a + rule.b == pytest.approx(1.0, abs=1e-9)


def test_bad_input():
    with pytest.raises(ScalingLabError, match="unknown compute-optimal rule 'chinchilla'.*llama3"):
        get_rule("chinchilla")
    for bad in (-1e21, 0, float("nan"), "x"):
        with pytest.raises(ScalingLabError, match="flops"):
            get_rule("llama3").optimal(bad)


def test_cli_rule(monkeypatch, capsys):
    code, stdout, err = run_cli(["optimal", "--rule", "llama3-unrounded", "--flops", 3.8e25, "--json"],
                                monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    assert {"flops", "params", "tokens", "tokens_per_param"} <= set(d)
    assert d["tokens"] == pytest.approx(1.63e13, rel=0.01)
    code, stdout, err = run_cli(["optimal", "--rule", "deepseek2024", "--flops", "1e20:1e24:5", "--json"],
                                monkeypatch, capsys)
    assert code == 0, err
    assert len(json.loads(stdout)) == 5
    code, stdout, _ = run_cli(["optimal", "--rule", "list"], monkeypatch, capsys)
    assert code == 0 and "llama3-unrounded" in stdout
    code, stdout, _ = run_cli(["optimal", "--rule", "kaplan2020", "--flops", 1e21], monkeypatch, capsys)
    assert code == 0 and "N_opt" in stdout and "(params)" in stdout
    # the rounded llama3 rule says how much its rounding matters (references.md D3: 1.05e13 vs 1.63e13 tokens)
    code, stdout, _ = run_cli(["optimal", "--rule", "llama3", "--flops", 3.8e25], monkeypatch, capsys)
    assert code == 0 and "changes the answer by ~55% at 3.8e25" in " ".join(stdout.split())
    assert "llama3-unrounded" in stdout


def test_rule_below_one_parameter_or_token_is_an_error():
    # llama3 at 7 FLOPs: D = 0.29 * 7^0.53 = 0.81 tokens
    with pytest.raises(ScalingLabError, match=r"D = 0\.813 tokens: below 1 parameter or 1 token"):
        get_rule("llama3").optimal(7)


@pytest.mark.parametrize("args, fragment", [
    (["optimal", "--rule", "nope", "--flops", 1e21], "unknown compute-optimal rule"),
    (["optimal", "--rule", "llama3"], "needs --flops"),
    (["optimal", "--rule", "llama3", "--law", "hoffmann2022", "--flops", 1e21], "exactly one of"),
])
def test_cli_rule_bad_input(args, fragment, monkeypatch, capsys):
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and fragment in err
