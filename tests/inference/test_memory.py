"""Serving memory: weights, KV cache, prefill workspace, fit checks (references.md C1-C2) and the memory command."""

import json

import pytest

from conftest import run_cli  # the shared in-process CLI runner in tests/conftest.py
from scalinglab.errors import ScalingLabError
from scalinglab.inference import memory as mem
from scalinglab.plan.architecture import Architecture

GIB = 2**30

# Mixtral 8x7B shape (Mistral AI HF config: 32 layers, d 4096, 8 KV heads, d_ff 14336, 8 experts, top-2).
MIXTRAL = Architecture(name="mixtral-8x7b", n_layer=32, d_model=4096, n_heads=32, n_kv_heads=8, d_ff=14336,
                       vocab_size=32000, seq_len=32768, tied_embeddings=False, gated_mlp=True, norm="rmsnorm",
                       n_experts=8, n_active_experts=2)
LLAMA2_70B_CONFIG = {"model_type": "llama", "num_hidden_layers": 80, "hidden_size": 8192,
                     "num_attention_heads": 64, "num_key_value_heads": 8, "intermediate_size": 28672,
                     "vocab_size": 32000, "max_position_embeddings": 4096}


def assert_one_line_error(code, err):
    assert code == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# ---- KV cache (references.md C2) -------------------------------------------------------------------------

def test_llama2_70b_kv_cache_matches_databricks_table():
    # references.md C2: 80 layers x 8 KV heads x 128, bf16: 327,680 B/token; 1,024 tokens = 0.3125 GiB;
    # batch 16/32/64 -> 5/10/20 GiB (Databricks Table 3); int8 halves.
    assert mem.kv_bytes_per_token("llama2-70b") == 327_680
    assert mem.kv_cache_bytes("llama2-70b", 1024) == 335_544_320
    assert mem.kv_cache_bytes("llama2-70b", 1024) / GIB == 0.3125
    for batch, gib in ((16, 5), (32, 10), (64, 20)):
        assert mem.kv_cache_bytes("llama2-70b", 1024, batch) / GIB == gib
    assert mem.kv_cache_bytes("llama2-70b", 1024, 16, kv_dtype="int8") / GIB == 2.5


def test_kv_per_token_other_models():
    assert mem.kv_bytes_per_token("llama3-8b") == 131_072            # references.md C2
    assert mem.kv_cache_bytes("llama3-8b", 128 * 1024) / GIB == 16   # 128k tokens = 16 GiB
    assert mem.kv_cache_bytes("llama2-13b", 8192) == 6_710_886_400  # scaling book "6.7GB" (C2)
    assert mem.kv_bytes_per_token("llama3-405b") == 516_096          # references.md C2
    kipply_52b = Architecture(name="kipply-52b", n_layer=64, d_model=8192, n_heads=64, d_ff=32768,
                              vocab_size=50000, seq_len=2048)
    assert mem.kv_bytes_per_token(kipply_52b) == 2_097_152           # kipply, MHA (references.md C2)
    # MQA (PaLM: 1 KV head of 256, 118 layers): 2 x 118 x 256 x 2 bytes
    assert mem.kv_bytes_per_token("palm-540b") == 120_832
    assert mem.kv_bytes_per_token("llama3-8b", "fp8") == 65_536
    assert mem.kv_bytes_per_token("llama3-8b", "int4") == 32_768


# ---- weights (references.md C1) --------------------------------------------------------------------------

def test_llama2_70b_bf16_weights_about_138_gb():
    # references.md C1: ~140 GB for a nominal 70e9; the preset counts 68,976,648,192 parameters -> 137.95 GB
    w = mem.weights_bytes("llama2-70b", "bf16")
    assert w == 68_976_648_192 * 2
    assert round(w / 1e9) == 138
    assert mem.weights_bytes("llama2-70b", "fp32") == 2 * w
    assert mem.weights_bytes("llama2-70b", "int8") == w / 2


def test_int4_group_overhead():
    # one fp16 scale per 128 weights: 4 + 16/128 = 4.125 bits = 0.515625 bytes per weight
    assert mem.bytes_per_weight("int4") == 0.515625
    assert mem.bytes_per_weight("int4", zero_point=True) == 0.53125
    assert mem.bytes_per_weight("int4", group_size=64) == 0.53125
    assert mem.bytes_per_weight("int4", scale_bytes=0) == 0.5
    assert mem.bytes_per_weight("int8") == 1.0 and mem.bytes_per_weight("fp8") == 1.0
    assert mem.bytes_per_weight("int8", group_size=128) == 1.015625
    assert mem.weights_bytes("llama2-7b", "int4") == 6_738_415_616 * 0.515625


def test_moe_memory_holds_all_experts():
    # Mixtral 8x7B: 46.7e9 parameters in memory, 12.9e9 active per token
    r = mem.memory_report(MIXTRAL, context_tokens=1)
    assert r.params_total == 46_702_792_704 and r.params_active == 12_879_925_248
    assert r.weights_bytes == 2 * 46_702_792_704


# ---- workspace -------------------------------------------------------------------------------------

def test_activation_and_workspace():
    # scaling book: LLaMA-13B 8k-token prefill, one activation = 8192 x 5120 x 2 B = 80 MiB (references.md C1)
    assert mem.activation_bytes_per_tensor("llama2-13b", 8192) == 83_886_080 == 80 * 2**20
    # Llama-2-7B, 1,000 tokens: (2 x 4096 + 2 x 11008) x 2 bytes per token (gated MLP)
    assert mem.prefill_workspace_bytes("llama2-7b", 1000) == 1000 * (2 * 4096 + 2 * 11008) * 2
    # MoE: every token's top-2 experts
    assert mem.prefill_workspace_bytes(MIXTRAL, 1) == (2 * 4096 + 2 * 2 * 14336) * 2


# ---- fit checks ------------------------------------------------------------------------------------

def test_fit_on_one_and_two_h100():
    one = mem.memory_report("llama2-70b", context_tokens=1024, batch=16, device="h100-sxm")
    two = mem.memory_report("llama2-70b", context_tokens=1024, batch=16, device="h100-sxm", n_devices=2)
    assert one.fits is False and one.max_batch == 0
    assert two.fits is True
    w, kv_seq = 68_976_648_192 * 2, 335_544_320
    workspace = 1024 * (2 * 8192 + 2 * 28672) * 2
    assert two.total_bytes == w + 16 * kv_seq + workspace
    assert two.bytes_per_device == two.total_bytes / 2
    # largest batch: (80e9 - (W + workspace)/2) / (kv_seq/2), by hand = 65.26 -> 65
    assert two.max_batch == int((80e9 - (w + workspace) / 2) / (kv_seq / 2)) == 65
    assert mem.fits("llama2-70b", "h100", n_devices=2, context_tokens=1024, batch=65)
    assert not mem.fits("llama2-70b", "h100", n_devices=2, context_tokens=1024, batch=66)


def test_max_context_is_the_fit_boundary():
    longest = mem.max_context("llama3-8b", "h100-sxm", batch=4)
    assert mem.fits("llama3-8b", "h100-sxm", batch=4, context_tokens=longest)
    assert not mem.fits("llama3-8b", "h100-sxm", batch=4, context_tokens=longest + 1)
    fixed = mem.max_context("llama3-8b", "h100-sxm", batch=4, prefill_tokens=2048)
    assert mem.fits("llama3-8b", "h100-sxm", batch=4, context_tokens=fixed, prefill_tokens=2048)
    assert not mem.fits("llama3-8b", "h100-sxm", batch=4, context_tokens=fixed + 1, prefill_tokens=2048)
    assert mem.max_batch("llama3-8b", "h100-sxm", context_tokens=4096, usable_memory_fraction=0.5) < \
        mem.max_batch("llama3-8b", "h100-sxm", context_tokens=4096)


def test_kv_replicated_beyond_kv_heads():
    # 8 KV heads on 16 devices: KV splits 8 ways, weights 16 ways
    r = mem.memory_report("llama2-70b", context_tokens=1024, batch=1, device="h100", n_devices=16)
    assert r.kv_shards == 8
    assert r.bytes_per_device == pytest.approx((r.weights_bytes + r.prefill_workspace_bytes) / 16
                                               + r.kv_cache_bytes / 8)


def test_config_json_matches_preset(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LLAMA2_70B_CONFIG))
    assert mem.kv_bytes_per_token(str(path)) == 327_680
    assert mem.weights_bytes(str(path)) == mem.weights_bytes("llama2-70b")


@pytest.mark.parametrize("kwargs, field", [
    (dict(context_tokens=0), "context"), (dict(batch=-1), "batch"), (dict(n_devices=0), "devices"),
    (dict(dtype="int3"), "dtype"), (dict(kv_dtype="fp4"), "kv_dtype"),
    (dict(usable_memory_fraction=1.5), "usable_memory_fraction"), (dict(group_size=0), "group_size"),
    (dict(device="h900"), "device"), (dict(prefill_tokens=0), "prefill_tokens"),
])
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(ScalingLabError, match=field):
        mem.memory_report("llama3-8b", **kwargs)


def test_unknown_model():
    with pytest.raises(ScalingLabError, match="unknown architecture"):
        mem.kv_bytes_per_token("llama9-1t")


# ---- CLI -------------------------------------------------------------------------------------------

CONTRACT = ("weights_bytes", "kv_bytes_per_token", "kv_cache_bytes", "total_bytes", "fits", "max_batch")


def test_cli_memory_json(monkeypatch, capsys):
    code, stdout, _ = run_cli(["memory", "--model", "llama2-70b", "--context", "1024", "--batch", "16",
                               "--devices", "2", "--device", "h100-sxm", "--json"], monkeypatch, capsys)
    assert code == 0
    d = json.loads(stdout)
    assert all(k in d for k in CONTRACT)
    assert d["kv_bytes_per_token"] == 327_680 and d["kv_cache_bytes"] == 5 * GIB
    assert d["fits"] is True and d["max_batch"] == 65


def test_cli_memory_without_device_and_human(monkeypatch, capsys):
    code, stdout, _ = run_cli(["memory", "--model", "llama3-8b", "--json"], monkeypatch, capsys)
    d = json.loads(stdout)
    assert code == 0 and d["fits"] is None and d["max_batch"] is None
    code, stdout, _ = run_cli(["memory", "--model", "llama2-70b", "--device", "h100"], monkeypatch, capsys)
    assert code == 0 and "GiB" in stdout and "GB" in stdout and "NO" in stdout


@pytest.mark.parametrize("args, needle", [
    (["--model", "nope-7b"], "nope-7b"), (["--model", "llama3-8b", "--device", "h900"], "h900"),
    (["--model", "llama3-8b", "--context", "0"], "context"), (["--model", "llama3-8b", "--batch", "-2"], "batch"),
    (["--model", "llama3-8b", "--devices", "0", "--device", "h100"], "devices"),
    (["--model", "llama3-8b", "--dtype", "fp4"], "dtype"),
])
def test_cli_memory_bad_input(args, needle, monkeypatch, capsys):
    code, _, err = run_cli(["memory", *args], monkeypatch, capsys)
    assert_one_line_error(code, err)
    assert needle in err


def test_cli_memory_config_missing_field(tmp_path, monkeypatch, capsys):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({k: v for k, v in LLAMA2_70B_CONFIG.items() if k != "hidden_size"}))
    code, _, err = run_cli(["memory", "--model", str(path)], monkeypatch, capsys)
    assert_one_line_error(code, err)
    assert "hidden_size" in err


def test_numpy_values_print_plainly():
    import numpy as np

    with pytest.raises(ScalingLabError, match=r"batch must be a whole number >= 1, got 0$"):
        mem.memory_report("llama3-8b", batch=np.int64(0))
    with pytest.raises(ScalingLabError, match=r"usable_memory_fraction must be in \(0, 1\], got nan$"):
        mem.memory_report("llama3-8b", usable_memory_fraction=np.float64("nan"))


def _memory_json(args, monkeypatch, capsys):
    code, stdout, err = run_cli(["memory", "--json", *args], monkeypatch, capsys)
    assert code == 0, err
    return json.loads(stdout)


def test_cli_memory_options(monkeypatch, capsys):
    n = 68_976_648_192                                      # llama2-70b parameters
    base = ["--model", "llama2-70b", "--device", "h100", "--devices", "2", "--context", "1024"]
    d = _memory_json([*base, "--kv-dtype", "int8"], monkeypatch, capsys)
    assert d["kv_bytes_per_token"] == 163_840 and d["kv_dtype"] == "int8"       # int8 halves (references.md C2)
    d = _memory_json([*base, "--dtype", "int4", "--group-size", "64"], monkeypatch, capsys)
    assert d["bytes_per_weight"] == 0.5 + 2 / 64 and d["weights_bytes"] == pytest.approx(n * 0.53125)
    d = _memory_json([*base, "--prefill-tokens", "512"], monkeypatch, capsys)
    workspace = 512 * (2 * 8192 + 2 * 28672) * 2                 # tokens x (2 d + 2 d_ff) x bf16
    assert d["prefill_tokens"] == 512 and d["prefill_workspace_bytes"] == workspace
    # max_context at batch 1 with a fixed prefill chunk: (80e9 - (W + workspace)/2) / (KV per token / 2 shards)
    assert d["max_context"] == int((80e9 - (2 * n + workspace) / 2) / (327_680 / 2))
    d = _memory_json([*base, "--prefill-tokens", "512", "--usable-fraction", "0.9"], monkeypatch, capsys)
    assert d["capacity_bytes"] == pytest.approx(2 * 0.9 * 80e9)
    assert d["max_batch"] == int((0.9 * 80e9 - (2 * n + workspace) / 2) / (327_680 * 1024 / 2))   # 343
    assert d["max_context"] == int((0.9 * 80e9 - (2 * n + workspace) / 2) / (327_680 / 2))
    assert d["notes"] == [] and d["trained_context_tokens"] == 4096


def test_cli_memory_context_past_training_is_a_note(monkeypatch, capsys):
    d = _memory_json(["--model", "llama2-70b", "--context", "32768"], monkeypatch, capsys)
    assert d["kv_bytes_per_sequence"] == 327_680 * 32768
    assert len(d["notes"]) == 1 and "trained context of 4,096" in d["notes"][0]
    code, stdout, _ = run_cli(["memory", "--model", "llama2-70b", "--context", "32768"], monkeypatch, capsys)
    assert code == 0 and "note: context 32,768 tokens exceeds" in " ".join(stdout.split())


@pytest.mark.parametrize("args, needle", [
    (["--usable-fraction", "1.5"], "--usable-fraction must be in (0, 1], got 1.5"),
    (["--usable-fraction", "nan"], "--usable-fraction"), (["--prefill-tokens", "0"], "--prefill-tokens"),
    (["--group-size", "0"], "--group-size"), (["--kv-dtype", "int2"], "kv_dtype 'int2'"),
])
def test_cli_memory_bad_options_name_the_flag(args, needle, monkeypatch, capsys):
    code, _, err = run_cli(["memory", "--model", "llama3-8b", "--device", "h100", *args], monkeypatch, capsys)
    assert_one_line_error(code, err)
    assert needle in err
