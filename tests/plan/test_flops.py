"""FLOP counting conventions against published figures (references.md A1-A4), and the flops CLI."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli  # the shared in-process CLI runner in tests/conftest.py
from scalinglab.errors import ScalingLabError
from scalinglab.plan.architecture import Architecture
from scalinglab.plan.flops import (
    CONVENTIONS,
    counted_params,
    flops_from_pf_days,
    flops_per_token,
    flops_report,
    forward_flops_per_token,
    pf_days,
    ratio_to_6n,
    training_flops,
)


def test_gpt3_175b_on_300b_tokens():
    # references.md A1 / GPT-3 Table D.1: 6 x 174.6e9 x 300e9 = 3.14e23 FLOPs = 3,640 PF-days.
    assert 6 * 174.6e9 * 300e9 == pytest.approx(3.1428e23, rel=1e-4)
    c = training_flops("gpt3-175b", 300e9)
    assert c == pytest.approx(3.14e23, rel=0.01)
    assert pf_days(c) == pytest.approx(3640, rel=0.01)


def test_llama3_405b_and_chinchilla_70b():
    # references.md A1: Llama 3 405B on 15.6T tokens = 3.8e25 (paper), 6ND = 3.79e25; Chinchilla 6ND = 5.88e23.
    assert training_flops("llama3-405b", 15.6e12) == pytest.approx(3.79e25, rel=0.01)
    assert training_flops("chinchilla-70b", 1.4e12) == pytest.approx(5.88e23, rel=0.005)


# references.md A3 [R]: ratio of the no-embedding/no-logit count to 6N, and Hoffmann et al.'s N (millions).
TABLE_A4 = [("73m", 1.03, 1.0264, 73.7), ("305m", 1.10, 1.1019, 305.4), ("552m", 1.08, 1.0838, 552.1),
            ("1.1b", 1.04, 1.0447, 1142.8), ("1.6b", 1.03, 1.0335, 1592.3), ("6.8b", 0.99, 0.9944, 6794.1)]


@pytest.mark.parametrize("size, printed, exact, n_millions", TABLE_A4)
def test_chinchilla_convention_reproduces_table_a4(size, printed, exact, n_millions):
    arch = f"chinchilla-a4-{size}"
    ratio = ratio_to_6n(arch, "chinchilla")
    assert round(ratio, 2) == printed  # Hoffmann et al. 2022 Table A4
    assert ratio == pytest.approx(exact, abs=1e-4)
    assert counted_params(arch, "chinchilla") / 1e6 == pytest.approx(n_millions, abs=0.05)


def test_printed_appendix_does_not_reproduce_table_a4():
    # references.md A3: the printed Appendix F (with embeddings and logits) gives 1.29-1.68 for the 73M model.
    ratio = ratio_to_6n("chinchilla-a4-73m", "chinchilla-appendix")
    assert 1.29 <= ratio <= 1.68 and round(ratio, 2) != 1.03
    extra = flops_per_token("chinchilla-a4-73m", "chinchilla-appendix") - flops_per_token("chinchilla-a4-73m",
                                                                                          "chinchilla")
    assert extra == 3 * 4 * 32000 * 640  # 2 V d (embeddings) + 2 d V (logits), forward, x3 for training


def test_kaplan_gpt2_xl():
    # references.md A2: n_layer 48, d_model 1600, n_ctx 1024: N = 12 L d^2 = 1.4746e9, C_fwd = 3.1064e9.
    bare = Architecture(name="gpt2-xl-kaplan", n_layer=48, d_model=1600, n_heads=25, d_ff=6400,
                        vocab_size=50257, seq_len=1024, bias=False, norm="none", position="learned")
    assert bare.params_non_embedding() == 12 * 48 * 1600**2
    assert forward_flops_per_token(bare, "kaplan") == pytest.approx(3.1064e9, rel=1e-4)
    assert flops_per_token(bare, "kaplan") == 3 * forward_flops_per_token(bare, "kaplan")
    attention_share = 2 * 48 * 1024 * 1600 / forward_flops_per_token(bare, "kaplan")
    assert attention_share == pytest.approx(0.0506, abs=5e-4)
    # The preset (biases and LayerNorms counted in N) differs only in sub-leading terms.
    assert forward_flops_per_token("gpt2-xl", "kaplan") == pytest.approx(3.1064e9, rel=1e-3)


def test_palm_mfu():
    # references.md A4: PaLM 540B, 238.3K tokens/s on 6144 TPU v4 at 275 TFLOP/s: MFU 46.2% with attention
    # (6N + 12 L H Q T), 45.7% with 6N and N = 540e9.
    peak = 275e12 * 6144
    assert 238.3e3 * flops_per_token("palm-540b", "palm") / peak == pytest.approx(0.4623, abs=5e-4)
    assert flops_per_token("palm-540b", "palm") - flops_per_token("palm-540b", "6N") == 12 * 118 * 48 * 256 * 2048


def test_params_choice_and_moe():
    a = "llama3-8b"
    assert flops_per_token(a, "6N", params="non_embedding") == 6 * 6_979_588_096
    assert flops_per_token(a) == 6 * 8_030_261_248
    moe = Architecture(name="moe", n_layer=2, d_model=64, n_heads=4, d_ff=128, vocab_size=100, seq_len=16,
                       gated_mlp=True, n_experts=8, n_active_experts=2)
    assert flops_per_token(moe) == 6 * moe.active_params() < 6 * moe.params()


def test_conversions():
    assert pf_days(8.64e19) == pytest.approx(1.0)
    assert flops_from_pf_days(3640) == pytest.approx(3.145e23, rel=1e-3)


@pytest.mark.parametrize("call, match", [
    (lambda: training_flops("gpt2", -1e9), "tokens"),
    (lambda: training_flops("gpt2", 0), "tokens"),
    (lambda: training_flops("gpt2", float("nan")), "tokens"),
    (lambda: flops_per_token("gpt2", "8N"), "unknown FLOP convention '8N'"),
    (lambda: flops_per_token("gpt2", "kaplan", params="total"), "only to the 6N and palm"),
    (lambda: flops_per_token("gpt2", "6N", params="all"), "params must be one of"),
    (lambda: pf_days(-1), "flops"),
    (lambda: training_flops("nope-1b", 1e9), "unknown architecture"),
])
def test_bad_input(call, match):
    with pytest.raises(ScalingLabError, match=match):
        call()


def test_report_keys_and_all_conventions():
    for conv in CONVENTIONS:
        r = flops_report("pythia-1.4b", 300e9, conv)
        assert r["flops"] == pytest.approx(r["flops_per_token"] * 300e9)
        assert r["convention"] == conv and r["params"] == 1_414_647_808


def test_cli_flops_json(monkeypatch, capsys):
    code, out, err = run_cli(["flops", "--arch", "gpt3-175b", "--tokens", "300e9", "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(out)
    for key in ("params", "params_non_embedding", "flops_per_token", "flops", "convention", "pf_days"):
        assert key in d
    assert d["flops"] == pytest.approx(3.14e23, rel=0.01) and d["convention"] == "6N"
    code, out, err = run_cli(["flops", "--arch", "chinchilla-a4-73m", "--tokens", "1e9", "--convention",
                              "chinchilla", "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["flops_per_token"] / (6 * d["params_counted"]) == pytest.approx(1.0264, abs=1e-4)


def test_cli_flops_hf_config_and_seq_len(tmp_path, monkeypatch, capsys):
    cfg = {"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12, "n_positions": 1024,
           "vocab_size": 50257}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    code, out, err = run_cli(["flops", "--arch", path, "--tokens", "1e9", "--convention", "kaplan",
                              "--seq-len", "2048", "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["params"] == 124_439_808 + 1024 * 768  # the learned position table grows with --seq-len
    assert d["flops_per_token"] == 3 * (2 * d["params_non_embedding"] + 2 * 12 * 2048 * 768)


def test_cli_text_and_list(monkeypatch, capsys):
    code, out, _ = run_cli(["flops", "--arch", "llama2-70b", "--tokens", "2e12"], monkeypatch, capsys)
    assert code == 0 and "training FLOPs" in out and "PF-days" in out
    code, out, _ = run_cli(["architectures", "--json"], monkeypatch, capsys)
    rows = json.loads(out)
    assert code == 0 and {"name", "params", "params_non_embedding", "source"} <= set(rows[0])
    code, out, _ = run_cli(["flops", "--list"], monkeypatch, capsys)
    assert code == 0 and "llama3-405b" in out


@pytest.mark.parametrize("args, match", [
    (["flops", "--arch", "gpt3-175b", "--tokens", "-3e11"], "tokens"),
    (["flops", "--arch", "gpt-7", "--tokens", "1e9"], "unknown architecture"),
    (["flops", "--arch", "gpt2", "--tokens", "1e9", "--convention", "flat"], "unknown FLOP convention"),
    (["flops", "--tokens", "1e9"], "--arch"),
    (["flops", "--arch", "gpt2", "--tokens", "1e9", "--seq-len", "0"], "seq_len"),
])
def test_cli_bad_input(args, match, monkeypatch, capsys):
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert code == 2 and match in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_gpu_hours_conversion():
    from scalinglab.plan.flops import gpu_hours

    # references.md A4: Llama 2 70B, 8.4e23 FLOPs in 1,720,320 A100-80GB hours implies MFU 0.435
    assert gpu_hours(8.4e23, "a100-80gb", mfu=0.435) == pytest.approx(1_720_320, rel=0.01)
    # ideal bound on one H100 SXM (989.4 TFLOP/s dense bf16)
    assert gpu_hours(989.4e12 * 3600, "h100-sxm") == pytest.approx(1.0, rel=1e-9)
    with pytest.raises(ScalingLabError):
        gpu_hours(1e20, "h100-sxm", mfu=1.5)
