"""KV cache and attention FLOPs of sliding-window, alternating local/global and multi-head latent attention
(references.md C4), and fp8 weights implying fp8 compute. Every expected value is written out by hand from the
published config values; sources in the comments."""

from __future__ import annotations

import json
import math

import pytest

from conftest import run_cli  # the shared in-process CLI runner in tests/conftest.py
from scalinglab.inference import memory as mem
from scalinglab.inference.speed import default_compute_dtype, prefill_step, serving_speed
from scalinglab.plan import flops
from scalinglab.plan.presets import get_architecture

GIB = 2**30
# Mistral-7B-v0.1 config.json: 32 layers, 8 KV heads of 128, sliding_window 4,096. Jiang et al. 2023
# (arXiv:2310.06825) sec. 2, "Rolling Buffer Cache": the cache has a fixed size of W tokens per layer.
MISTRAL_KV_PER_LAYER_TOKEN = 2 * 8 * 128 * 2  # K and V x KV heads x head_dim x 2 bytes (bf16) = 4,096 B


def test_mistral_kv_cache_at_32k_is_bounded_by_the_window():
    per_token = 32 * MISTRAL_KV_PER_LAYER_TOKEN  # 131,072 B while every layer holds the token
    assert mem.kv_bytes_per_token("mistral-7b") == per_token == 131_072
    bounded = 32 * 4096 * MISTRAL_KV_PER_LAYER_TOKEN  # each layer keeps only the last 4,096 tokens
    unbounded = 32_768 * per_token
    assert mem.kv_bytes_per_sequence("mistral-7b", 32_768) == bounded == 536_870_912  # 0.5 GiB
    assert unbounded / bounded == 8  # the "8x too large"
    assert mem.kv_cache_bytes("mistral-7b", 32_768, batch=4) == 4 * bounded
    assert mem.kv_bytes_per_sequence("mistral-7b", 4096) == 4096 * per_token  # within the window: linear
    report = mem.memory_report("mistral-7b", context_tokens=32_768)
    assert report.kv_bytes_per_sequence == bounded and report.kv_cache_bytes == bounded
    assert any("sliding window" in n and "0.125" in n for n in report.notes)
    # Mixtral's config has sliding_window null: the whole 32k context is cached.
    assert mem.kv_bytes_per_sequence("mixtral-8x7b", 32_768) == unbounded


def test_gemma2_alternating_local_global_kv():
    # google/gemma-2-9b: 42 layers, 8 KV heads of 256; layers 0, 2, ... local (window 4,096), the others global.
    per_layer_token = 2 * 8 * 256 * 2  # 8,192 B
    assert mem.kv_bytes_per_token("gemma2-9b") == 42 * per_layer_token == 344_064
    at_8k = (21 * 8192 + 21 * 4096) * per_layer_token
    assert mem.kv_bytes_per_sequence("gemma2-9b", 8192) == at_8k == 2_113_929_216
    assert mem.kv_bytes_per_sequence("gemma2-9b", 2048) == 42 * 2048 * per_layer_token


def test_mla_kv_bytes_per_token_by_hand():
    # DeepSeek-V2 paper (arXiv:2405.04434) sec. 2.1 / Table 1: MLA caches (d_c + d_h^R) elements per token per
    # layer: the compressed latent (kv_lora_rank 512) and the decoupled rotary key (qk_rope_head_dim 64).
    v3 = 61 * (512 + 64) * 2  # DeepSeek-V3, 61 layers, bf16
    assert mem.kv_bytes_per_token("deepseek-v3") == v3 == 70_272
    assert mem.kv_bytes_per_token("deepseek-v3", "fp8") == v3 / 2
    assert mem.kv_bytes_per_sequence("deepseek-v3", 4096) == 4096 * v3
    mha = 2 * 128 * 128 * 61 * 2  # the same 128 heads of 128 cached as plain K and V
    assert mha / v3 > 56  # Table 1: 4.5 d_h l for MLA against 2 n_h d_h l for MHA
    assert mem.kv_shards("deepseek-v3", 8) == 1  # one latent shared by all heads: replicated under TP
    assert mem.kv_shards("mixtral-8x7b", 8) == 8


def test_longest_context_with_windows():
    # Every Mistral layer is windowed: past 4,096 tokens the KV stops growing, so with a fixed prefill chunk
    # memory never limits the context.
    report = mem.memory_report("mistral-7b", device="h100-sxm", prefill_tokens=4096)
    assert report.max_context is None and any("max_context is null" in n for n in report.notes)
    assert mem.max_context("mistral-7b", "h100-sxm", prefill_tokens=4096) == math.inf
    # Gemma-2-9B: below the window a token costs 42 layers of KV, past it only the 21 global layers.
    arch = get_architecture("gemma2-9b")
    per_layer_token = 8192
    free = 80e9 - arch.params() * 2 - mem.prefill_workspace_bytes(arch, 4096)
    expected = 4096 + math.floor((free - 4096 * 42 * per_layer_token) / (21 * per_layer_token) * (1 + 1e-12))
    assert abs(mem.memory_report(arch, device="h100-sxm", prefill_tokens=4096).max_context - expected) <= 1
    assert expected > (free / (42 * per_layer_token))  # longer than if every layer were global


def test_attention_flops_bounded_by_the_window():
    # Kaplan's attention term 2 L T d_attn per token is 4 d_attn x (T/2 keys per query) per layer; a window W < T
    # caps the causal average at W - W^2 / (2T): 4,096 - 4,096^2 / 65,536 = 3,840 keys at T = 32,768.
    a = get_architecture("mistral-7b")
    n = a.active_params(embeddings=False)
    windowed = 2 * (4096 + 4096) * 32 * 3840
    assert flops.forward_flops_per_token(a, "kaplan") == 2 * n + windowed
    assert windowed / (2 * 32 * 32_768 * 4096) == 3840 / 16384  # against the unbounded 2 L T d_attn
    # PaLM's full attention, Gemma-2-9B at 8,192: 21 global layers see 8,192 keys, 21 local ones 4,096.
    g = get_architecture("gemma2-9b")
    palm = 2 * (4096 + 4096) * (21 * 8192 + 21 * 4096)
    assert flops.forward_flops_per_token(g, "palm") == 2 * g.params() + palm
    # Prefill of 8,192 tokens on Mistral: causal keys per query 4,096 - 4,096^2 / 16,384 = 3,072 per layer.
    step = prefill_step("mistral-7b", "h100-sxm", prompt_tokens=8192)
    assert step.prefill_attention_flops == 8192 * 2 * 8192 * 32 * 3072


def test_mla_chinchilla_flops_include_the_up_projections():
    # Hoffmann et al. App. F with MLA: 2 x every attention matrix (q_a, q_b, kv_a, kv_b, o), logits over the
    # 192-wide query/key heads, softmax 3 H, AV over the 128-wide value heads, T = 163,840 keys; MLP: 3 dense
    # SwiGLU layers and 58 MoE layers of 8 routed + 1 shared expert (width 2,048); the router is left out.
    d, H, T = 7168, 128, 163_840
    mla = d * 1536 + 1536 * H * 192 + d * 576 + 512 * H * 256 + H * 128 * d
    mlp = 3 * 3 * d * 18432 + 58 * 9 * 3 * d * 2048
    expected = 2 * 61 * mla + (2 * H * 192 + 3 * H + 2 * H * 128) * 61 * T + 2 * mlp
    assert flops.forward_flops_per_token("deepseek-v3", "chinchilla") == expected
    assert flops.counted_params("deepseek-v3", "6N") == get_architecture("deepseek-v3").active_params()


def test_fp8_weights_imply_fp8_compute(monkeypatch, capsys):
    assert default_compute_dtype("fp8", "h100-sxm") == "fp8"
    assert default_compute_dtype("fp8", "a100-80gb") == "bf16"  # no fp8 peak on A100
    assert default_compute_dtype("int8", "h100-sxm") == "bf16"  # W8A16 stays the int8 default
    fp8 = serving_speed("llama3-8b", "h100-sxm", dtype="fp8", batch=512)
    assert fp8.decode.compute_dtype == "fp8" and fp8.decode.peak_flops_per_s == 1978.9e12
    w8a16 = serving_speed("llama3-8b", "h100-sxm", dtype="fp8", compute_dtype="bf16", batch=512)
    assert w8a16.decode.compute_dtype == "bf16" and w8a16.decode.peak_flops_per_s == 989.4e12
    n = get_architecture("llama3-8b").active_params()
    assert fp8.decode.compute_time_s == pytest.approx(2 * n * 512 / 1978.9e12, rel=1e-12)  # 2 N B at the fp8 peak
    assert w8a16.decode.compute_time_s == pytest.approx(2 * n * 512 / 989.4e12, rel=1e-12)
    code, out, _ = run_cli(["speed", "--model", "llama3-8b", "--device", "h100-sxm", "--dtype", "fp8", "--json"],
                           monkeypatch, capsys)
    assert code == 0 and json.loads(out)["compute_dtype"] == "fp8"
    code, out, _ = run_cli(["speed", "--model", "llama3-8b", "--device", "h100-sxm", "--dtype", "fp8",
                            "--compute-dtype", "bf16", "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(out)["compute_dtype"] == "bf16"


def test_memory_cli_mistral_32k(monkeypatch, capsys):
    code, out, _ = run_cli(["memory", "--model", "mistral-7b", "--context", "32768", "--json"], monkeypatch, capsys)
    data = json.loads(out)
    assert code == 0 and data["kv_cache_bytes"] == 536_870_912 and data["kv_bytes_per_token"] == 131_072
    code, out, _ = run_cli(["memory", "--model", "mistral-7b", "--device", "h100-sxm", "--prefill-tokens", "4096"],
                           monkeypatch, capsys)
    assert code == 0 and "unbounded (sliding window)" in out
