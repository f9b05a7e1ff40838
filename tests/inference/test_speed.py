"""Roofline serving speed, sweeps, MBU/MFU (references.md A6, C3) and the speed command."""

import json
import math

import pytest

from conftest import run_cli  # the shared in-process CLI runner in tests/conftest.py
from scalinglab.errors import ScalingLabError
from scalinglab.inference import speed as sp
from scalinglab.plan.architecture import Architecture
from scalinglab.plan.hardware import Device
from scalinglab.plan.presets import get_architecture

# The scaling book's pop-quiz TPU v5e figures (8.1e11 B/s, 1.97e14 FLOP/s); the catalogue has 8.19e11.
V5E_QUIZ = Device("v5e-quiz", "TPU v5e as in the scaling-book quiz", {"bf16": 1.97e14}, 16e9, 8.1e11, None,
                  "jax-ml/scaling-book inference.md pop quiz (references.md C3)")


def assert_one_line_error(code, err):
    assert code == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def weights_only(params, bytes_per_param, device, n_devices=1, batch=1, compute_dtype="bf16"):
    return sp.decode_step(weights_bytes=params * bytes_per_param, kv_bytes_per_sequence=0, active_params=params,
                          device=device, batch=batch, n_devices=n_devices, compute_dtype=compute_dtype)


# ---- decode roofline (references.md C3) ------------------------------------------------------------------

def test_batch_one_roofline_bounds():
    # references.md C3 [R]: 7B fp16 on H100 SXM 4.18 ms -> 239 tok/s; on A100-80G 6.87 ms -> 146 tok/s;
    # 70B on 2 x H100 (TP2) 20.9 ms -> 48 tok/s
    h100 = weights_only(7e9, 2, "h100-sxm", compute_dtype="fp16")
    assert h100.time_per_token_s == pytest.approx(4.18e-3, rel=1e-3)
    assert round(h100.decode_tokens_per_s) == 239 and h100.bound == "memory"
    a100 = weights_only(7e9, 2, "a100-80gb", compute_dtype="fp16")
    assert a100.time_per_token_s == pytest.approx(6.87e-3, rel=1e-3) and round(a100.decode_tokens_per_s) == 146
    tp2 = weights_only(70e9, 2, "h100-sxm", n_devices=2)
    assert tp2.time_per_token_s == pytest.approx(20.9e-3, rel=1e-3) and round(tp2.decode_tokens_per_s) == 48


def test_llama3_8b_on_h100():
    # references.md C3 [R]: Llama-3-8B bf16 on H100 4.79 ms -> 209 tok/s (weights only; 1 token of KV here)
    r = sp.serving_speed("llama3-8b", "h100-sxm", context_tokens=1)
    assert r.time_per_token_s == pytest.approx(4.79e-3, rel=1e-3)
    assert round(r.decode_tokens_per_s) == 209


def test_scaling_book_quiz():
    # references.md C3: 30B dense int8 (30e9 B), 100 kB/token KV x 8192 = 819.2e6 B per sequence, 16 TPU v5e:
    # batch 4 -> 2.57 ms (memory-bound), batch 256 -> 21.1 ms (matmuls compute-bound)
    kw = dict(weights_bytes=30e9, kv_bytes_per_sequence=100e3 * 8192, active_params=30e9, device=V5E_QUIZ,
              n_devices=16)
    small, large = sp.decode_step(batch=4, **kw), sp.decode_step(batch=256, **kw)
    assert small.time_per_token_s == pytest.approx(2.57e-3, rel=2e-3) and small.bound == "memory"
    assert large.time_per_token_s == pytest.approx(21.1e-3, rel=3e-3)   # 21.05 ms, printed 21.1
    # the weight matmuls are compute-bound, but the KV read (16.2 ms) dominates the step: memory-bound
    assert large.weights_bound == "compute" and large.bound == "memory"
    assert large.memory_time_s == pytest.approx(256 * 819.2e6 / (16 * 8.1e11) + 30e9 / (16 * 8.1e11))
    # int8 weights with bf16 compute: crossover at half the ridge point (scaling book: 240 -> 120)
    assert small.ridge_point == pytest.approx(243.2, rel=1e-3)
    assert small.weights_crossover_batch == pytest.approx(small.ridge_point / 2)
    # whole step: intensity levels off at 2 N / KV per sequence = 73.2 FLOP/byte < 243: never compute-bound
    assert small.intensity_limit == pytest.approx(2 * 30e9 / 819.2e6)
    assert small.crossover_batch == math.inf and "no whole-step crossover" in small.notes[0]
    catalogue = sp.decode_step(batch=4, **{**kw, "device": "tpu-v5e"})   # 8.19e11 B/s: within 2%
    assert catalogue.time_per_token_s == pytest.approx(2.57e-3, rel=0.02)


def test_scaling_book_llama2_13b_on_8_v5e():
    # references.md C3 [V]: LLaMA-2-13B, 8192 ctx, 8 x TPU v5e: batch 1 -> 4.98 ms (200.6 tok/s),
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
    # references.md A6: H100 SXM bf16 989.4e12 / 3.35e12 = 295 FLOP/byte; bf16 weights cross over there
    r = sp.serving_speed("llama2-7b", "h100-sxm")
    assert r.decode.weights_crossover_batch == pytest.approx(295.3, abs=0.1)
    below, above = (weights_only(7e9, 2, "h100", batch=b) for b in (295, 296))
    assert below.bound == "memory" and above.bound == "compute"
    assert below.crossover_batch == pytest.approx(295.34, rel=1e-4)   # no KV: whole step = weight matmuls


def test_whole_step_bound_counts_the_kv_read():
    # review finding: 70B, 4 x H100, 32k context, batch 512: KV read 410 ms of a 428 ms step is memory-bound
    r = sp.serving_speed("llama2-70b", "h100", n_devices=4, context_tokens=32768, batch=512).decode
    assert r.kv_time_s == pytest.approx(512 * 327_680 * 32768 / (4 * 3.35e12))
    assert r.time_per_token_s == pytest.approx(0.4281, rel=1e-3)
    assert r.bound == "memory" and r.weights_bound == "compute"
    assert r.intensity_limit == pytest.approx(2 * 68_976_648_192 / (327_680 * 32768))   # 12.8 FLOP/byte
    assert r.crossover_batch == math.inf and r.weights_crossover_batch == pytest.approx(295.34, rel=1e-4)
    # small KV: the whole-step crossover is W/BW / (2N/FLOPS - KV/BW), larger than the weights' one
    kw = dict(weights_bytes=14e9, kv_bytes_per_sequence=14e6, active_params=7e9, device="h100")
    cross = (14e9 / 3.35e12) / (2 * 7e9 / 989.4e12 - 14e6 / 3.35e12)                    # 419.1
    assert sp.decode_step(**kw).crossover_batch == pytest.approx(cross) and 419 < cross < 420
    assert sp.decode_step(batch=419, **kw).bound == "memory" and sp.decode_step(batch=420, **kw).bound == "compute"
    assert sp.decode_step(batch=300, **kw).weights_bound == "compute"
    # compute-bound: time grows linearly with batch (2 N B / peak)
    assert weights_only(7e9, 2, "h100", batch=1000).time_per_token_s == pytest.approx(2 * 7e9 * 1000 / 989.4e12)


MIXTRAL = Architecture(name="mixtral-8x7b", n_layer=32, d_model=4096, n_heads=32, n_kv_heads=8, d_ff=14336,
                       vocab_size=32000, seq_len=32768, tied_embeddings=False, gated_mlp=True,
                       norm="rmsnorm", n_experts=8, n_active_experts=2)


def test_moe_holds_all_weights_but_computes_active():
    r = sp.serving_speed(MIXTRAL, "h100-sxm", n_devices=2, context_tokens=1)
    assert r.decode.weights_bytes == 2 * 46_702_792_704
    assert r.decode.flops_per_step == 2 * 12_879_925_248
    assert r.decode.weights_crossover_batch == pytest.approx(295.34 * 46_702_792_704 / 12_879_925_248, rel=1e-3)


def test_moe_reads_only_touched_experts():
    expert_bytes = 2 * 32 * 8 * 3 * 4096 * 14336
    one = sp.serving_speed(MIXTRAL, "h100-sxm", context_tokens=1).decode
    assert one.expert_weights_bytes == expert_bytes and one.experts_touched == pytest.approx(2)
    # batch 1 reads the non-expert weights and k/E = 2/8 of the experts: exactly the active parameters
    assert one.weights_read_bytes == pytest.approx(2 * 46_702_792_704 - expert_bytes * 6 / 8)
    assert one.weights_read_bytes == pytest.approx(2 * 12_879_925_248)
    assert one.time_per_token_s == pytest.approx(7.69e-3, rel=1e-3)        # not 28.0 ms
    every = sp.serving_speed(MIXTRAL, "h100-sxm", context_tokens=1, expert_routing="all").decode
    assert every.time_per_token_s == pytest.approx(2 * 46_702_792_704 / 3.35e12, rel=1e-4)   # 27.9 ms
    two = sp.serving_speed(MIXTRAL, "h100-sxm", context_tokens=1, batch=2).decode
    assert two.experts_touched == pytest.approx(8 * (1 - 0.75 ** 2))         # 3.5 experts per layer
    big = sp.serving_speed(MIXTRAL, "h100-sxm", context_tokens=1, batch=256).decode
    assert big.weights_read_bytes == pytest.approx(big.weights_bytes, rel=1e-12)  # 1 - 0.75^256 ~ 1
    assert sp.experts_touched(8, 2, 10) == pytest.approx(8 * (1 - 0.75 ** 10))
    with pytest.raises(ScalingLabError, match="expert_routing"):
        sp.experts_touched(8, 2, 1, routing="skewed")


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
    assert slow.decode.weights_crossover_batch == pytest.approx(295.34 / 2, rel=1e-3)


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
    bounds = [r.decode.weights_bound for r in rows]
    assert bounds[:9] == ["memory"] * 9 and bounds[-1] == "compute"   # 256 < 295 < 512
    # whole step: 128 tokens of MHA KV (67 MB/seq) caps the intensity at 2N/KV = 201 < 295: memory-bound
    assert {r.bound for r in rows} == {"memory"} and rows[0].crossover_batch == math.inf
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
    # references.md C3: 7B fp16 (14 GB) at 14 ms per token on a 2 TB/s device (H100 PCIe: 2.0 TB/s) = 50% MBU
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
    assert d["bound"] == "memory" and d["weights_crossover_batch"] == pytest.approx(295.34, rel=1e-3)
    assert d["crossover_batch"] is None and any("no whole-step crossover" in n for n in d["notes"])
    assert d["total_tokens_per_s"] == pytest.approx(8 * d["decode_tokens_per_s"])
    assert d["compute_efficiency"] == 1.0 and d["tp_efficiency"] == 1.0   # assumptions are in the output


def test_cli_speed_sweep_and_human(monkeypatch, capsys):
    code, stdout, _ = run_cli(["speed", "--model", "llama2-70b", "--device", "h100", "--devices", "4",
                               "--batch", "1:512", "--context", "1024", "--json"], monkeypatch, capsys)
    rows = json.loads(stdout)
    assert code == 0 and [r["batch"] for r in rows] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert all(all(k in r for k in CONTRACT) for r in rows)
    assert rows[8]["weights_bound"] == "memory" and rows[9]["weights_bound"] == "compute"
    # whole step (1,024 tokens of KV): W/BW / (2N/FLOPS - KV/BW) on 4 devices, past the sweep's 512
    w, kv, n = 137_953_296_384, 327_680 * 1024, 68_976_648_192
    cross = (w / (4 * 3.35e12)) / (2 * n / (4 * 989.4e12) - kv / (4 * 3.35e12))
    assert rows[0]["crossover_batch"] == pytest.approx(cross) and 1040 < cross < 1060
    assert {r["bound"] for r in rows} == {"memory"}
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
    (["--model", "llama2-7b", "--device", "h100", "--compute-efficiency", "1.5"], "--compute-efficiency"),
    (["--model", "llama2-7b", "--device", "h100", "--bandwidth-efficiency", "0"], "--bandwidth-efficiency"),
    (["--model", "llama2-7b", "--device", "h100", "--tp-efficiency", "nan"], "--tp-efficiency"),
    (["--model", "llama2-7b", "--device", "h100", "--measured-ms", "-3"], "--measured-ms must be a finite number > 0"),
    (["--model", "llama2-7b", "--device", "h100", "--measured-ms", "1"], "--measured-ms 1 implies MBU"),
    (["--model", "llama2-7b", "--device", "h100", "--batch", "2.5"], "'2.5'"),
    (["--model", "llama2-7b", "--device", "h100", "--batch", "1:1e300"], "at most"),
    (["--model", "llama2-7b", "--device", "h100", "--batch", "1e400"], "'1e400'"),
    (["--model", "llama2-7b", "--device", "h100", "--compute-dtype", "fp4"], "fp4"),
    (["--model", "llama2-7b", "--device", "h100", "--batch", "1:8", "--measured-ms", "5"], "measured"),
])
def test_cli_speed_bad_input(args, needle, monkeypatch, capsys):
    code, _, err = run_cli(["speed", *args], monkeypatch, capsys)
    assert_one_line_error(code, err)
    assert needle in err


def _speed_json(args, monkeypatch, capsys):
    code, stdout, err = run_cli(["speed", "--json", *args], monkeypatch, capsys)
    assert code == 0, err
    return json.loads(stdout)


def test_cli_speed_measured_mbu(monkeypatch, capsys):
    # references.md C3: bytes per step / measured time / peak bandwidth; 2 TB/s device (H100 PCIe), 14 ms per token.
    # llama2-7b (6.738e9 params, fp16) with one token of KV: 13.48 GB per step -> 48.1% (7e9 exactly: 50%)
    d = _speed_json(["--model", "llama2-7b", "--device", "h100-pcie", "--dtype", "fp16", "--context", "1",
                     "--measured-ms", "14"], monkeypatch, capsys)
    moved = 2 * 6_738_415_616 + 524_288
    assert d["bytes_per_step"] == moved and d["compute_dtype"] == "fp16"
    assert d["mbu"] == pytest.approx(moved / 14e-3 / 2.0e12) and d["mbu"] == pytest.approx(0.4813, abs=1e-4)
    assert d["mfu"] == pytest.approx(2 * 6_738_415_616 / 14e-3 / 756e12, rel=1e-3)
    assert d["measured_time_per_token_s"] == pytest.approx(0.014)


def test_cli_speed_options(monkeypatch, capsys):
    base = ["--model", "llama2-7b", "--device", "h100", "--context", "2048"]
    ref = _speed_json(base, monkeypatch, capsys)
    # prefill of the 2048-token prompt: (2 N P + 2 L P^2 d_attn) / 989.4e12, compute-bound
    assert ref["prefill_s"] == pytest.approx((2 * 6_738_415_616 * 2048 + 2 * 32 * 2048**2 * 4096) / 989.4e12)
    int8_kv = _speed_json([*base, "--kv-dtype", "int8"], monkeypatch, capsys)
    assert int8_kv["kv_bytes_per_sequence"] == ref["kv_bytes_per_sequence"] / 2 == 262_144 * 2048
    half = _speed_json([*base, "--bandwidth-efficiency", "0.5"], monkeypatch, capsys)
    assert half["time_per_token_s"] == pytest.approx(2 * ref["time_per_token_s"])   # memory-bound
    fp8 = _speed_json([*base, "--compute-dtype", "fp8", "--batch", "1024"], monkeypatch, capsys)
    bf16 = _speed_json([*base, "--batch", "1024"], monkeypatch, capsys)
    assert fp8["peak_flops_per_s"] == 1978.9e12 and bf16["peak_flops_per_s"] == 989.4e12
    assert fp8["compute_time_s"] == pytest.approx(2 * 6_738_415_616 * 1024 / 1978.9e12)
    tp = _speed_json([*base, "--devices", "2", "--tp-efficiency", "0.8"], monkeypatch, capsys)
    assert tp["time_per_token_s"] == pytest.approx(ref["time_per_token_s"] / 1.6)
    assert tp["prefill_s"] == pytest.approx(ref["prefill_s"] / 1.6)
    e_notation = _speed_json([*base, "--batch", "1:1e3"], monkeypatch, capsys)
    assert [r["batch"] for r in e_notation] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]


def test_cli_speed_context_past_training_and_32k_case(monkeypatch, capsys):
    d = _speed_json(["--model", "llama2-70b", "--device", "h100", "--devices", "4", "--context", "32768",
                     "--batch", "512"], monkeypatch, capsys)
    assert d["bound"] == "memory" and d["weights_bound"] == "compute" and d["crossover_batch"] is None
    assert any("trained context of 4,096" in n for n in d["notes"])
    code, stdout, _ = run_cli(["speed", "--model", "llama2-70b", "--device", "h100", "--devices", "4",
                               "--context", "32768", "--batch", "512"], monkeypatch, capsys)
    text = " ".join(stdout.split())
    assert code == 0 and "crossover batch (whole step) none" in text and "exceeds llama2-70b" in text
