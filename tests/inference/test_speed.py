"""Roofline serving speed, sweeps, MBU/MFU (laws.md A6, C3) and the speed command."""

import json

import pytest

from conftest import run_cli  # the shared in-process CLI runner in tests/conftest.py
from scalinglab.errors import ScalingLabError
from scalinglab.inference import speed as sp
from scalinglab.plan.architecture import Architecture
from scalinglab.plan.hardware import Device
from scalinglab.plan.presets import get_architecture

# The scaling book's pop-quiz TPU v5e figures (8.1e11 B/s, 1.97e14 FLOP/s); the catalogue has 8.19e11.
V5E_QUIZ = Device("v5e-quiz", "TPU v5e as in the scaling-book quiz", {"bf16": 1.97e14}, 16e9, 8.1e11, None,
                  "jax-ml/scaling-book inference.md pop quiz (laws.md C3)")


def assert_one_line_error(code, err):
    assert code == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def weights_only(params, bytes_per_param, device, n_devices=1, batch=1, compute_dtype="bf16"):
    return sp.decode_step(weights_bytes=params * bytes_per_param, kv_bytes_per_sequence=0, active_params=params,
                          device=device, batch=batch, n_devices=n_devices, compute_dtype=compute_dtype)


# ---- decode roofline (laws.md C3) ------------------------------------------------------------------

def test_batch_one_roofline_bounds():
    # laws.md C3 [R]: 7B fp16 on H100 SXM 4.18 ms -> 239 tok/s; on A100-80G 6.87 ms -> 146 tok/s;
    # 70B on 2 x H100 (TP2) 20.9 ms -> 48 tok/s
    h100 = weights_only(7e9, 2, "h100-sxm", compute_dtype="fp16")
    assert h100.time_per_token_s == pytest.approx(4.18e-3, rel=1e-3)
    assert round(h100.decode_tokens_per_s) == 239 and h100.bound == "memory"
    a100 = weights_only(7e9, 2, "a100-80gb", compute_dtype="fp16")
    assert a100.time_per_token_s == pytest.approx(6.87e-3, rel=1e-3) and round(a100.decode_tokens_per_s) == 146
    tp2 = weights_only(70e9, 2, "h100-sxm", n_devices=2)
    assert tp2.time_per_token_s == pytest.approx(20.9e-3, rel=1e-3) and round(tp2.decode_tokens_per_s) == 48


def test_llama3_8b_on_h100():
    # laws.md C3 [R]: Llama-3-8B bf16 on H100 4.79 ms -> 209 tok/s (weights only; 1 token of KV here)
    r = sp.serving_speed("llama3-8b", "h100-sxm", context_tokens=1)
    assert r.time_per_token_s == pytest.approx(4.79e-3, rel=1e-3)
    assert round(r.decode_tokens_per_s) == 209


def test_scaling_book_quiz():
    # laws.md C3: 30B dense int8 (30e9 B), 100 kB/token KV x 8192 = 819.2e6 B per sequence, 16 TPU v5e:
    # batch 4 -> 2.57 ms (memory-bound), batch 256 -> 21.1 ms (matmuls compute-bound)
    kw = dict(weights_bytes=30e9, kv_bytes_per_sequence=100e3 * 8192, active_params=30e9, device=V5E_QUIZ,
              n_devices=16)
    small, large = sp.decode_step(batch=4, **kw), sp.decode_step(batch=256, **kw)
    assert small.time_per_token_s == pytest.approx(2.57e-3, rel=2e-3) and small.bound == "memory"
    assert large.time_per_token_s == pytest.approx(21.1e-3, rel=3e-3)   # 21.05 ms, printed 21.1
    assert large.bound == "compute"
    # int8 weights with bf16 compute: crossover at half the ridge point (scaling book: 240 -> 120)
    assert small.ridge_point == pytest.approx(243.2, rel=1e-3)
    assert small.crossover_batch == pytest.approx(small.ridge_point / 2)
    catalogue = sp.decode_step(batch=4, **{**kw, "device": "tpu-v5e"})   # 8.19e11 B/s: within 2%
    assert catalogue.time_per_token_s == pytest.approx(2.57e-3, rel=0.02)


def test_scaling_book_llama2_13b_on_8_v5e():
    # laws.md C3 [V]: LLaMA-2-13B, 8192 ctx, 8 x TPU v5e: batch 1 -> 4.98 ms (200.6 tok/s),
    # batch 240 -> 249.09 ms (963.5 tok/s); with 8 KV heads (5x smaller KV): 4.17 ms and 52.99 ms
    one = sp.serving_speed("llama2-13b", "tpu-v5e", n_devices=8, context_tokens=8192, batch=1)
    big = sp.serving_speed("llama2-13b", "tpu-v5e", n_devices=8, context_tokens=8192, batch=240)
    assert one.time_per_token_s == pytest.approx(4.98e-3, rel=0.01)
    assert big.time_per_token_s == pytest.approx(249.09e-3, rel=0.01)
    assert big.total_tokens_per_s == pytest.approx(963.5, rel=0.01)
    # the book's GQA variant keeps the 13B weights and divides only the KV cache by 5
    arch = get_architecture("llama2-13b")
    kw = dict(weights_bytes=2 * arch.params(), kv_bytes_per_sequence=one.decode.kv_bytes_per_sequence / 5,
              active_params=arch.params(), device="tpu-v5e", n_devices=8)
    assert sp.decode_step(batch=1, **kw).time_per_token_s == pytest.approx(4.17e-3, rel=0.01)
    assert sp.decode_step(batch=240, **kw).time_per_token_s == pytest.approx(52.99e-3, rel=0.01)


def test_h100_crossover_is_the_ridge_point():
    # laws.md A6: H100 SXM bf16 989.4e12 / 3.35e12 = 295 FLOP/byte; bf16 weights cross over there
    r = sp.serving_speed("llama2-7b", "h100-sxm")
    assert r.crossover_batch == pytest.approx(295.3, abs=0.1)
    below, above = (weights_only(7e9, 2, "h100", batch=b) for b in (295, 296))
    assert below.bound == "memory" and above.bound == "compute"
    # compute-bound: time grows linearly with batch (2 N B / peak)
    assert weights_only(7e9, 2, "h100", batch=1000).time_per_token_s == pytest.approx(2 * 7e9 * 1000 / 989.4e12)


def test_moe_reads_all_weights_but_computes_active():
    mixtral = Architecture(name="mixtral-8x7b", n_layer=32, d_model=4096, n_heads=32, n_kv_heads=8, d_ff=14336,
                           vocab_size=32000, seq_len=32768, tied_embeddings=False, gated_mlp=True,
                           norm="rmsnorm", n_experts=8, n_active_experts=2)
    r = sp.serving_speed(mixtral, "h100-sxm", n_devices=2, context_tokens=1)
    assert r.decode.weights_bytes == 2 * 46_702_792_704
    assert r.decode.flops_per_step == 2 * 12_879_925_248
    assert r.crossover_batch == pytest.approx(295.34 * 46_702_792_704 / 12_879_925_248, rel=1e-3)


def test_tensor_parallel_efficiency_and_efficiency_factors():
    one = weights_only(7e9, 2, "h100")
    two = sp.decode_step(weights_bytes=14e9, kv_bytes_per_sequence=0, active_params=7e9, device="h100",
                         n_devices=2, tp_efficiency=0.8)
    assert two.time_per_token_s == pytest.approx(one.time_per_token_s / 1.6)
    half_bw = sp.decode_step(weights_bytes=14e9, kv_bytes_per_sequence=0, active_params=7e9, device="h100",
                             bandwidth_efficiency=0.5)
    assert half_bw.time_per_token_s == pytest.approx(2 * one.time_per_token_s)
    # lower compute efficiency moves the crossover down: ridge = peak x c_eff / (bw x b_eff)
    slow = sp.serving_speed("llama2-7b", "h100", compute_efficiency=0.5)
    assert slow.crossover_batch == pytest.approx(295.34 / 2, rel=1e-3)


# ---- prefill ---------------------------------------------------------------------------------------

def test_prefill_flops_and_bound():
    arch = get_architecture("llama2-7b")
    p = sp.prefill_step("llama2-7b", "h100-sxm", prompt_tokens=2048, batch=2)
    attention = 2 * 2 * 32 * 2048**2 * 4096     # batch x 2 L P^2 d_attn (causal)
    assert p.prefill_attention_flops == attention
    assert p.prefill_flops == 2 * 2 * arch.params() * 2048 + attention
    assert p.prefill_s == pytest.approx(p.prefill_flops / 989.4e12) and p.prefill_bound == "compute"
    short = sp.prefill_step("llama2-7b", "h100-sxm", prompt_tokens=1)
    assert short.prefill_bound == "memory"
    assert short.prefill_s == pytest.approx((arch.params() * 2 + 524_288) / 3.35e12)
    r = sp.serving_speed("llama2-7b", "h100-sxm", context_tokens=4096, prompt_tokens=2048, batch=2)
    assert r.prefill_s == p.prefill_s


# ---- sweeps ----------------------------------------------------------------------------------------

def test_batch_range_and_sweep():
    assert sp.batch_range(1, 256) == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert sp.batch_range(3, 100) == [3, 4, 8, 16, 32, 64, 100]
    assert sp.batch_range(5, 5) == [5]
    rows = sp.batch_sweep("llama2-7b", "h100-sxm", context_tokens=128)
    bounds = [r.bound for r in rows]
    assert bounds[:9] == ["memory"] * 9 and bounds[-1] == "compute"   # 256 < 295 < 512
    totals = [r.total_tokens_per_s for r in rows]
    assert totals == sorted(totals)


def test_model_size_sweep():
    rows = sp.model_size_sweep(["llama2-70b", "llama2-7b", "llama2-13b"], "h100-sxm", n_devices=2,
                               context_tokens=1)
    assert [r.model for r in rows] == ["llama2-7b", "llama2-13b", "llama2-70b"]
    speeds = [r.decode_tokens_per_s for r in rows]
    assert speeds == sorted(speeds, reverse=True)
    assert speeds[0] * 6.738e9 == pytest.approx(speeds[2] * 68.98e9, rel=1e-3)  # memory-bound: ~1/N


# ---- efficiency from a measurement -----------------------------------------------------------------

def test_mbu_databricks_example():
    # laws.md C3: 7B fp16 (14 GB) at 14 ms per token on a 2 TB/s device (H100 PCIe: 2.0 TB/s) = 50% MBU
    assert sp.model_bandwidth_utilization(14e9, 14e-3, "h100-pcie") == pytest.approx(0.5)
    assert sp.model_bandwidth_utilization(14e9, 14e-3, "h100-pcie", n_devices=2) == pytest.approx(0.25)
    with pytest.raises(ScalingLabError, match="MBU"):
        sp.model_bandwidth_utilization(14e9, 1e-3, "h100-pcie")


def test_mfu_and_measured_efficiency():
    assert sp.model_flops_utilization(7e9, 1000, "h100-sxm") == pytest.approx(2 * 7e9 * 1000 / 989.4e12)
    with pytest.raises(ScalingLabError, match="MFU"):
        sp.model_flops_utilization(7e9, 1e6, "h100-sxm")
    r = sp.serving_speed("llama2-7b", "h100-sxm", batch=4, context_tokens=1024)
    eff = sp.measured_efficiency(r, 2 * r.time_per_token_s)   # twice the roofline time: MBU 50%
    assert eff["mbu"] == pytest.approx(r.decode.bytes_per_step / r.time_per_token_s / 3.35e12 / 2)
    assert eff["mbu"] == pytest.approx(0.5, rel=1e-3)         # memory-bound, every byte counted


@pytest.mark.parametrize("kwargs, field", [
    (dict(batch=0), "batch"), (dict(n_devices=-1), "devices"), (dict(context_tokens=0), "context"),
    (dict(prompt_tokens=-5), "prompt"), (dict(compute_efficiency=1.2), "compute_efficiency"),
    (dict(bandwidth_efficiency=0), "bandwidth_efficiency"), (dict(tp_efficiency=2), "tp_efficiency"),
    (dict(dtype="int2"), "dtype"), (dict(compute_dtype="fp4"), "fp4"),
])
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(ScalingLabError, match=field):
        sp.serving_speed("llama2-7b", "h100-sxm", **kwargs)


def test_bad_device_and_sizes():
    with pytest.raises(ScalingLabError, match="unknown device"):
        sp.serving_speed("llama2-7b", "h900")
    with pytest.raises(ScalingLabError, match="weights_bytes"):
        sp.decode_step(weights_bytes=-1, kv_bytes_per_sequence=0, active_params=1e9, device="h100")
    with pytest.raises(ScalingLabError, match="small to large"):
        sp.batch_range(8, 2)


# ---- CLI -------------------------------------------------------------------------------------------

CONTRACT = ("time_per_token_s", "decode_tokens_per_s", "total_tokens_per_s", "prefill_s", "bound", "crossover_batch")


def test_cli_speed_json(monkeypatch, capsys):
    code, stdout, _ = run_cli(["speed", "--model", "llama3-8b", "--device", "h100-sxm", "--batch", "8",
                               "--context", "2048", "--prompt", "512", "--json"], monkeypatch, capsys)
    assert code == 0
    d = json.loads(stdout)
    assert all(k in d for k in CONTRACT)
    assert d["bound"] == "memory" and d["crossover_batch"] == pytest.approx(295.34, rel=1e-3)
    assert d["total_tokens_per_s"] == pytest.approx(8 * d["decode_tokens_per_s"])
    assert d["compute_efficiency"] == 1.0 and d["tp_efficiency"] == 1.0   # assumptions are in the output


def test_cli_speed_sweep_and_human(monkeypatch, capsys):
    code, stdout, _ = run_cli(["speed", "--model", "llama2-70b", "--device", "h100", "--devices", "4",
                               "--batch", "1:512", "--context", "1024", "--json"], monkeypatch, capsys)
    rows = json.loads(stdout)
    assert code == 0 and [r["batch"] for r in rows] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert all(all(k in r for k in CONTRACT) for r in rows)
    assert rows[8]["bound"] == "memory" and rows[9]["bound"] == "compute"
    code, stdout, _ = run_cli(["speed", "--model", "llama2-7b", "--device", "h100-pcie", "--measured-ms", "8"],
                              monkeypatch, capsys)
    assert code == 0 and "tokens/s" in stdout and "MBU" in stdout and "compute_efficiency 1" in stdout


@pytest.mark.parametrize("args, needle", [
    (["--model", "nope-7b", "--device", "h100"], "nope-7b"),
    (["--model", "llama2-7b", "--device", "h900"], "h900"),
    (["--model", "llama2-7b", "--device", "h100", "--batch", "0"], "batch"),
    (["--model", "llama2-7b", "--device", "h100", "--batch", "64:8"], "64:8"),
    (["--model", "llama2-7b", "--device", "h100", "--batch", "x"], "--batch"),
    (["--model", "llama2-7b", "--device", "h100", "--devices", "0"], "devices"),
    (["--model", "llama2-7b", "--device", "h100", "--context", "-1"], "context"),
    (["--model", "llama2-7b", "--device", "h100", "--compute-efficiency", "1.5"], "compute_efficiency"),
    (["--model", "llama2-7b", "--device", "h100", "--batch", "1:8", "--measured-ms", "5"], "measured"),
])
def test_cli_speed_bad_input(args, needle, monkeypatch, capsys):
    code, _, err = run_cli(["speed", *args], monkeypatch, capsys)
    assert_one_line_error(code, err)
    assert needle in err
