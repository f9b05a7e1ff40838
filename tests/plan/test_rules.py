"""Published compute-optimal rules (scalinglab.plan.rules) and `scalinglab optimal --rule`."""

import json
import math

import pytest

from conftest import run_cli  # the shared in-process CLI runner in tests/conftest.py
from scalinglab.errors import ScalingLabError
from scalinglab.plan.allocation import optimal_allocation
from scalinglab.plan.rules import REGISTRY, get_rule, list_rules
from scalinglab.plan.sample_efficiency import kaplan_frontier

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


PF_DAY = 8.64e19  # FLOPs (Kaplan et al. 2020 sec. 1.3)


def test_kaplan_rule_against_table6():
    # Kaplan et al. 2020 (references.md B2): eq. 5.5 C_min = C / (1 + B/B_crit), so a run at the critical batch
    # spends C = 2 C_min (sec. 5.1, sec. 6.3); Table 6 at C_min in PF-days: N_opt = 1.3e9 C_min^0.73,
    # B_crit = 2.0e6 C_min^0.24, S_min = 5.4e3 C_min^0.03, D_opt = 2e10 C_min^0.27 (one epoch at B_crit);
    # Table 5 / eq. 1.3: L(C_min) = (3.1e8 / C_min)^0.050.
    c = 1e23  # training FLOPs
    c_min_pf = c / 2 / PF_DAY  # 578.70 PF-days
    a = get_rule("kaplan2020").optimal(c)
    assert a.flops == c and a.kaplan["budget"] == "C"
    assert a.kaplan["c_min_flops"] == pytest.approx(5e22, rel=1e-12)
    assert a.kaplan["c_min_pf_days"] == pytest.approx(c_min_pf, rel=1e-12)
    assert a.params == pytest.approx(1.3e9 * c_min_pf**0.73, rel=1e-12)  # 1.3506e11
    assert a.tokens == pytest.approx(2e10 * c_min_pf**0.27, rel=1e-12)  # 1.1140e11
    assert a.kaplan["critical_batch_tokens"] == pytest.approx(2.0e6 * c_min_pf**0.24, rel=1e-12)  # 9.205e6
    assert a.kaplan["batch_tokens"] == a.kaplan["critical_batch_tokens"]
    assert a.kaplan["min_steps"] == pytest.approx(5.4e3 * c_min_pf**0.03, rel=1e-12)  # 6535
    assert a.kaplan["steps"] == pytest.approx(2 * a.kaplan["min_steps"], rel=1e-12)  # eq. 5.4 at B = B_crit
    assert a.kaplan["loss"] == pytest.approx((3.1e8 / c_min_pf) ** 0.050, rel=1e-12)  # 1.9340
    assert (a.params, a.tokens) == (pytest.approx(1.3506e11, rel=1e-4), pytest.approx(1.1140e11, rel=1e-4))
    # the old reading (C taken as C_min, tokens = C / 6N) gave N = 2.24e11 and D = 7.44e10
    assert a.params < 0.61 * 1.3e9 * (c / PF_DAY) ** 0.73
    # Table 6's rounded prefactors: 6 N D = 6 * 1.3e9 * 2e10 / 8.64e19 = 1.806 C_min, against C = 2 C_min
    assert 6 * a.params * a.tokens / c == pytest.approx(1.3e9 * 2e10 * 6 / PF_DAY / 2, rel=1e-12)


def test_kaplan_rule_is_the_projects_table6_frontier():
    c_min = 3e21
    a = get_rule("kaplan2020").optimal(c_min, c_min=True)
    p = kaplan_frontier(c_min)
    assert (a.params, a.tokens, a.kaplan["critical_batch_tokens"], a.kaplan["min_steps"], a.kaplan["loss"]) == (
        p.params, p.tokens, p.batch_tokens, p.steps, p.loss)
    assert a.flops == pytest.approx(2 * c_min, rel=1e-12) and a.kaplan["budget"] == "C_min"


@pytest.mark.parametrize("r", [0.25, 1.0, 4.0])
def test_kaplan_c_and_c_min(r):
    # eq. 5.5: C = C_min (1 + B/B_crit); eq. 5.4: S = S_min (1 + B_crit/B); eq. 5.1: E = E_min (1 + B/B_crit),
    # with Table 6's one-epoch D_opt = 2 E_min at B = B_crit
    rule, c_min = get_rule("kaplan2020"), 8.64e21  # 100 PF-days
    a = rule.optimal(c_min, c_min=True, batch_over_critical=r)
    assert a.flops == pytest.approx(c_min * (1 + r), rel=1e-12)
    assert a.kaplan["c_min_flops"] == c_min and a.kaplan["batch_over_critical"] == r
    assert a.params == pytest.approx(1.3e9 * 100**0.73, rel=1e-12)  # N depends on C_min only
    assert a.tokens == pytest.approx(2e10 * 100**0.27 * (1 + r) / 2, rel=1e-12)
    assert a.kaplan["steps"] == pytest.approx(5.4e3 * 100**0.03 * (1 + 1 / r), rel=1e-12)
    assert a.kaplan["batch_tokens"] == pytest.approx(r * 2.0e6 * 100**0.24, rel=1e-12)
    b = rule.optimal(a.flops, batch_over_critical=r)  # the same run entered by its training compute
    assert b.kaplan["c_min_flops"] == pytest.approx(c_min, rel=1e-12)
    assert (b.params, b.tokens) == (pytest.approx(a.params, rel=1e-12), pytest.approx(a.tokens, rel=1e-12))


def test_kaplan_rule_bad_input():
    rule = get_rule("kaplan2020")
    for bad in (0, -1.0, float("nan"), "x"):
        with pytest.raises(ScalingLabError, match="batch_over_critical"):
            rule.optimal(1e21, batch_over_critical=bad)
    with pytest.raises(ScalingLabError, match="below 1 parameter or 1 token"):
        rule.optimal(1e7)  # C_min = 5e6 FLOPs: N = 1.3e9 (5e6 / 8.64e19)^0.73 = 0.28 parameters


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


def test_cli_kaplan_rule_json(monkeypatch, capsys):
    code, stdout, err = run_cli(["optimal", "--rule", "kaplan2020", "--flops", 1e23, "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    keys = {"rule", "flops", "params", "tokens", "tokens_per_param", "derived", "budget", "c_min_flops",
            "c_min_pf_days", "batch_over_critical", "critical_batch_tokens", "batch_tokens", "min_steps", "steps",
            "loss"}
    assert keys <= set(d) and d["budget"] == "C" and d["flops"] == 1e23
    assert d["c_min_flops"] == pytest.approx(5e22) and d["params"] == pytest.approx(1.3e9 * (5e22 / PF_DAY) ** 0.73)
    code, stdout, err = run_cli(["optimal", "--rule", "kaplan2020", "--flops", 5e22, "--c-min",
                                 "--batch-over-critical", 0.5, "--json"], monkeypatch, capsys)
    assert code == 0, err
    e = json.loads(stdout)
    assert e["budget"] == "C_min" and e["flops"] == pytest.approx(7.5e22) and e["params"] == pytest.approx(d["params"])
    code, stdout, _ = run_cli(["optimal", "--rule", "kaplan2020", "--flops", 1e23], monkeypatch, capsys)
    assert code == 0 and "C_min" in stdout and "eq. 5.5" in " ".join(stdout.split())


@pytest.mark.parametrize("args, fragment", [
    (["optimal", "--rule", "llama3", "--flops", 1e21, "--c-min"], "--c-min applies to --rule kaplan2020"),
    (["optimal", "--law", "hoffmann2022", "--flops", 1e21, "--batch-over-critical", 2],
     "--batch-over-critical applies to --rule kaplan2020"),
    (["optimal", "--rule", "kaplan2020", "--flops", 1e21, "--batch-over-critical", 0], "batch_over_critical"),
    (["optimal", "--rule", "nope", "--flops", 1e21], "unknown compute-optimal rule"),
    (["optimal", "--rule", "llama3"], "needs --flops"),
    (["optimal", "--rule", "llama3", "--law", "hoffmann2022", "--flops", 1e21], "exactly one of"),
])
def test_cli_rule_bad_input(args, fragment, monkeypatch, capsys):
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and fragment in err
