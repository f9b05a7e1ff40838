"""The GPU benchmark's arithmetic and code path, without a GPU: MFU against a hand calculation, the
driver's device names against the hardware catalogue, and ``benchmarks/bench_gpu.py --smoke`` on the
CPU (its JSON keys; MFU from the project's FLOP count)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from scalinglab.errors import ScalingLabError
from scalinglab.plan.flops import flops_per_token, training_mfu
from scalinglab.plan.hardware import catalogue_key, get_device
from scalinglab.plan.presets import get_architecture

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_gpu.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_gpu", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mfu_of_gpt2_small_by_hand() -> None:
    # GPT-2 small: N = 124,439,808 (all parameters, tied embedding once), L = 12, H = 12, Q = 64, T = 1,024.
    # PaLM: 6 N + 12 L H Q T = 746,638,848 + 113,246,208 = 859,885,056 FLOPs per token.
    gpt2 = get_architecture("gpt2")
    assert gpt2.params() == 124_439_808
    assert flops_per_token(gpt2, "palm") == 859_885_056
    # 100,000 tokens/s on an H100 SXM (989.4 dense bf16 TFLOP/s): 8.59885056e13 / 9.894e14
    h100 = get_device("h100-sxm").peak("bf16")
    assert training_mfu(gpt2, 1e5, h100) == pytest.approx(0.0869097489, rel=1e-9)
    # the lab's own 6N with non-embedding N (85,056,000 = 124,439,808 - 50,257 x 768 - 1,024 x 768)
    assert training_mfu(gpt2, 1e5, h100, "6N", params="non_embedding") == pytest.approx(
        1e5 * 6 * 85_056_000 / 989.4e12, rel=1e-12)
    with pytest.raises(ScalingLabError, match="peak_flops_per_s"):
        training_mfu(gpt2, 1e5, 0.0)


@pytest.mark.parametrize("name, key", [
    ("NVIDIA H100 80GB HBM3", "h100-sxm"), ("NVIDIA H100 PCIe", "h100-pcie"), ("NVIDIA H200", "h200"),
    ("NVIDIA A100-SXM4-40GB", "a100-40gb"), ("NVIDIA A100-SXM4-80GB", "a100-80gb"), ("NVIDIA B200", "b200"),
    ("AMD Instinct MI300X", "mi300x"), ("NVIDIA H100 NVL", None), ("NVIDIA GeForce RTX 4090", None),
])
def test_catalogue_key_from_driver_name(name: str, key: str | None) -> None:
    assert catalogue_key(name) == key


def test_smoke_run_on_the_cpu_reports_mfu_by_the_project_count(tmp_path: Path, capsys) -> None:
    bench = load_bench()
    out = tmp_path / "gpu.json"
    assert bench.main(["--smoke", "--peak-tflops", "2", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert set(figures) == set(bench.KEYS)
    model, sweep = figures["model"], figures["sweep"]
    assert {"tokens_per_s", "mfu", "flops_per_token_palm", "flops_per_token_6n_non_embedding", "seconds",
            "params", "compile"} <= set(model)
    assert figures["smoke"] is True and figures["peak_flops_per_s"] == 2e12
    arch = bench.SMOKE_ARCH
    assert model["params"] == arch.params() and model["flops_per_token_palm"] == flops_per_token(arch, "palm")
    assert model["mfu"] == pytest.approx(model["tokens_per_s"] * flops_per_token(arch, "palm") / 2e12, rel=1e-12)
    assert model["tokens_per_s"] == pytest.approx(model["steps"] * 4 * arch.seq_len / model["seconds"])
    assert sweep["finished"] == sweep["runs"] == 2 and sweep["tokens_per_s"] > 0 and 0 < sweep["mfu"] < 1
    if not torch.cuda.is_available():
        assert figures["device"] == "cpu" and figures["catalogue_device"] is None
    assert "tokens/s" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="the skip path is for machines without CUDA")
def test_without_cuda_it_skips_and_exits_0(capsys) -> None:
    assert load_bench().main([]) == 0
    assert "skipped: CUDA is not available" in capsys.readouterr().out
