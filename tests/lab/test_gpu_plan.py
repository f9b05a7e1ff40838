"""Scale-aware shapes (lab/scale_shapes.py), training memory per GPU and GPU time (lab/gpu_plan.py), and
``sweep --dry-run --gpu``. None of it needs torch (tests/lab/test_torch_free.py runs the CLI without it);
only the check of the memory model against what autograd saves uses torch, and is skipped without it."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from scalinglab.errors import ScalingLabError
from scalinglab.lab.config import RunConfig
from scalinglab.lab.design import DRY_RUN_COLUMNS, dry_run_table, grid_design, isoflop_design, shape_for_params
from scalinglab.lab.gpu_plan import (
    ASSUMED_MFU,
    GPU_COLUMNS,
    check_fits,
    gpu_dry_run_table,
    gpu_hours,
    training_memory,
)
from scalinglab.lab.scale_shapes import scale_shape_for_params

KEYS = ["id", "status", "params", "tokens", "flops", "final_val_loss", "final_val_bpb"]
H100_BF16 = 989.4e12  # dense bf16 FLOP/s of the catalogue's h100-sxm


# ---- shapes ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", np.geomspace(1.01e7, 1e9, 40))
def test_scale_shapes_hit_the_target_within_the_rules(target: float) -> None:
    arch = shape_for_params(target, vocab_size=256, seq_len=1024)
    d, n_layer, n = arch.d_model, arch.n_layer, arch.params_non_embedding()
    assert n == 12 * n_layer * d * d + 4 * n_layer * d + 2 * d  # the project's count for these shapes
    assert abs(n / target - 1) <= (0.03 if target >= 2.1e7 else 0.05)  # the documented tolerance
    assert 20 <= d / n_layer <= 200  # Kaplan et al. 2020 Fig. 5 band
    assert n_layer >= math.ceil(math.log(d, 3) - 1e-12)  # Levine et al. 2020 depth threshold
    assert arch.head_dim == (64 if d <= 1024 else 128) and d % arch.head_dim == 0
    assert arch.n_heads * arch.head_dim == d and arch.d_ff == 4 * d
    assert "lab scale shape rule" in arch.source and f"achieved N={n:,}" in arch.source


def test_scale_shapes_prefer_the_aspect_ratio_and_match_published_widths() -> None:
    assert (shape_for_params(1e8).n_layer, shape_for_params(1e8).d_model) == (12, 832)  # 99,721,856: -0.3%
    big = shape_for_params(1e9)  # Chinchilla Table A9's 1.0-1.1B rows are d_model 1792, 14 heads of 128
    assert (big.n_layer, big.d_model, big.n_heads, big.head_dim) == (26, 1792, 14, 128)
    deep, wide = scale_shape_for_params(3e8, aspect_ratio=30), scale_shape_for_params(3e8, aspect_ratio=150)
    assert deep.d_model / deep.n_layer < 40 < 100 < wide.d_model / wide.n_layer
    clamped = scale_shape_for_params(3e8, aspect_ratio=5)  # below the band: the nearest allowed shapes
    assert 20 <= clamped.d_model / clamped.n_layer < 25
    with pytest.raises(ScalingLabError, match="no shape obeys"):
        scale_shape_for_params(1e5)
    with pytest.raises(ScalingLabError, match="aspect_ratio"):
        scale_shape_for_params(1e8, aspect_ratio=0)


def test_tiny_targets_keep_the_cpu_rule() -> None:
    assert "lab shape rule (aspect" in shape_for_params(1e7).source  # the tiny rule up to 1e7
    assert "lab scale shape rule" in shape_for_params(1.2e7).source
    tiny = isoflop_design([3e10, 1e11], 4)
    assert all(r.config.arch.params_non_embedding() < 1e6 for r in tiny)
    assert all("scale" not in r.config.arch.source for r in tiny)
    gpu = isoflop_design([1e19], 3, seq_len=1024, batch_size=32)
    assert all("lab scale shape rule" in r.config.arch.source for r in gpu)
    assert [r.config.arch.head_dim for r in gpu] == [64, 64, 128]


# ---- memory ------------------------------------------------------------------------------------------------
def test_training_memory_by_hand() -> None:
    arch = scale_shape_for_params(1e8, vocab_size=50304, seq_len=1024)  # 12 layers x 832, 13 heads, tied
    mem = training_memory(RunConfig(arch=arch, tokens=8192, batch_size=8, seq_len=1024))
    n_layer, d, f, heads, vocab, tokens = 12, 832, 3328, 13, 50304, 8 * 1024
    params = 12 * n_layer * d * d + 4 * n_layer * d + 2 * d + vocab * d  # 141,574,784
    assert arch.params() == params == 141_574_784
    assert mem.state_bytes == 16 * params  # fp32 weights 4 + gradients 4 + AdamW moments 8
    assert mem.weight_copy_bytes == 2 * (12 * n_layer * d * d + vocab * d)  # bf16 copies of the matmul weights
    per_layer = 2 * 4 * d + 4 * 2 * d + 4 * 2 * d + 2 * 2 * f + 4 * heads + 2 * 8  # 33,348 bytes per token
    assert mem.layer_activation_bytes == tokens * n_layer * per_layer == 3_278_241_792
    assert mem.head_activation_bytes == tokens * (4 * d + 8 + 2 * d + 6 * vocab + 16) == 2_513_633_280
    assert mem.logit_gradient_bytes == tokens * 8 * vocab
    assert mem.total_bytes == 11_636_860_928  # 11.6 GB: fits on a 16 GB card, not with 4x the batch on 40 GB
    bigger = training_memory(RunConfig(arch=arch, tokens=4 * 8192, batch_size=32, seq_len=1024))
    assert bigger.total_bytes - mem.total_bytes == 3 * (mem.total_bytes - mem.state_bytes - mem.weight_copy_bytes)


def test_training_memory_refuses_shapes_it_does_not_model() -> None:
    arch = replace(scale_shape_for_params(1e8), gated_mlp=True)
    with pytest.raises(ScalingLabError, match="training memory model covers"):
        training_memory(RunConfig(arch=arch, tokens=2048, batch_size=2, seq_len=1024))


def test_memory_model_matches_what_autograd_saves() -> None:
    """Under bf16 autocast (on the CPU here) the tensors autograd keeps for backward, plus the bf16 logits
    the training loop holds, equal the model's activations and weight copies to within the int64 window
    and the loss scalar (a few dozen bytes)."""
    torch = pytest.importorskip("torch")
    from scalinglab.lab.model import GPT

    arch = scale_shape_for_params(1.2e7, vocab_size=300, seq_len=64)
    batch, seq = 2, 64
    torch.manual_seed(0)
    model = GPT(arch)
    owned = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    saved: dict[int, int] = {}

    def pack(t):
        key = t.untyped_storage().data_ptr()
        if key not in owned:
            saved[key] = t.untyped_storage().nbytes()
        return t

    window = torch.randint(0, arch.vocab_size, (batch, seq + 1))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(window[:, :-1])
        torch.nn.functional.cross_entropy(logits.float().reshape(-1, arch.vocab_size), window[:, 1:].reshape(-1))
    mem = training_memory(RunConfig(arch=arch, tokens=batch * seq, batch_size=batch, seq_len=seq))
    modelled = mem.layer_activation_bytes + mem.head_activation_bytes + mem.weight_copy_bytes
    measured = sum(saved.values()) + logits.numel() * 2
    assert 0 <= measured - modelled <= 64, (measured, modelled)


# ---- time, fit, GPU-hours ----------------------------------------------------------------------------------
def test_gpu_dry_run_table_time_memory_and_fit() -> None:
    runs = isoflop_design([1e18], 3, seq_len=1024, batch_size=16)
    table = gpu_dry_run_table(runs, "h100", mfu=0.5)
    assert tuple(table.columns) == (*DRY_RUN_COLUMNS, *GPU_COLUMNS) and len(table) == 3
    per_flop = dry_run_table(runs, seconds_per_flop=1.0)["est_seconds"]  # executed FLOPs
    assert list(table["est_seconds"]) == pytest.approx(list(per_flop / (H100_BF16 * 0.5)))
    assert list(table["memory_bytes_per_gpu"]) == [training_memory(r.config).total_bytes for r in runs]
    assert set(table["gpu"]) == {"h100-sxm"} and set(table["gpu_memory_bytes"]) == {80e9} and table["fits"].all()
    assert gpu_hours(table) == pytest.approx(table["est_seconds"].sum() / 3600)
    assumed = gpu_dry_run_table(runs, "h100-sxm")
    assert list(assumed["est_seconds"]) == pytest.approx(list(table["est_seconds"] * 0.5 / ASSUMED_MFU))
    check_fits(table)  # nothing raised
    with pytest.raises(ScalingLabError, match="mfu"):
        gpu_dry_run_table(runs, "h100", mfu=1.5)
    with pytest.raises(ScalingLabError, match="no bf16 peak"):
        gpu_dry_run_table(runs, "v100")


def test_check_fits_names_the_run_its_memory_and_the_device() -> None:
    runs = grid_design([3e8], [2 ** 21], seq_len=2048, batch_size=64)  # 131,072 tokens per step
    table = gpu_dry_run_table(runs, "a100-40gb")
    need = training_memory(runs[0].config).total_bytes
    assert need > 40e9 and not table["fits"].iloc[0]
    with pytest.raises(ScalingLabError) as info:
        check_fits(table)
    message = str(info.value)
    assert "\n" not in message and runs[0].label in message and f"{need / 1e9:.1f} GB" in message
    assert "40 GB of a100-40gb" in message
    assert gpu_dry_run_table(runs, "h200")["fits"].iloc[0] == (need <= 141e9)


# ---- CLI ---------------------------------------------------------------------------------------------------
GPU_SWEEP = ["sweep", "--budgets", "1e18,1e19", "--per-budget", "3", "--seq-len", "1024", "--batch-size", "16",
             "--dry-run"]


def test_cli_gpu_dry_run_json_and_table(tmp_path: Path, monkeypatch, capsys) -> None:
    code, out, err = run_cli([*GPU_SWEEP, "--gpu", "h100", "--mfu", "0.5", "--json"], monkeypatch, capsys)
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 6 and all(list(r) == [*KEYS, "memory_bytes_per_gpu", "est_seconds", "fits"] for r in rows)
    runs = isoflop_design([1e18, 1e19], 3, seq_len=1024, batch_size=16, vocab_size=256)
    expected = gpu_dry_run_table(runs, "h100", mfu=0.5)
    assert [r["memory_bytes_per_gpu"] for r in rows] == list(expected["memory_bytes_per_gpu"])
    assert [r["est_seconds"] for r in rows] == pytest.approx(list(expected["est_seconds"]))
    assert all(r["fits"] is True for r in rows)
    code, text, err = run_cli([*GPU_SWEEP, "--gpu", "h100"], monkeypatch, capsys)
    assert code == 0, err
    assert "on h100-sxm (80 GB), MFU 0.4 (ASSUMED)" in text and "GB/GPU" in text
    hours = gpu_hours(gpu_dry_run_table(runs, "h100"))
    assert f"total: {hours:.4g} GPU-hours on h100-sxm" in text
    code, out, err = run_cli([*GPU_SWEEP, "--json"], monkeypatch, capsys)  # without --gpu: the rows as before
    assert code == 0 and all(list(r) == KEYS for r in json.loads(out)), err


def _fails(args: list, monkeypatch, capsys, *needles: str) -> None:
    code, out, err = run_cli(args, monkeypatch, capsys)
    assert code == 2 and out == "" and err.count("\n") == 1, (code, out, err)
    assert all(n in err for n in needles), err


def test_cli_refuses_designs_that_do_not_fit(monkeypatch, capsys) -> None:
    def fails(args: list, *needles: str) -> None:
        _fails(args, monkeypatch, capsys, *needles)

    big = ["sweep", "--budgets", "1e20", "--per-budget", "3", "--seq-len", "2048", "--batch-size", "64"]
    fails([*big, "--dry-run", "--gpu", "a100-40gb"], "needs", "GB per GPU", "40 GB of a100-40gb",
          "3 of 3 runs do not fit", "FLOPs / N")
    fails([*GPU_SWEEP, "--mfu", "0.5"], "--mfu", "--gpu")
    fails([*GPU_SWEEP, "--gpu", "nope"], "unknown device 'nope'")
    fails([*GPU_SWEEP, "--gpu", "v100"], "no bf16 peak")


def test_cli_refuses_to_train_a_design_that_does_not_fit(tmp_path: Path, monkeypatch, capsys) -> None:
    pytest.importorskip("torch")  # training needs the lab extra; without it the sweep stops earlier
    db = tmp_path / "runs.db"
    _fails(["sweep", "--budgets", "1e20", "--per-budget", "3", "--seq-len", "2048", "--batch-size", "64", "--gpu",
            "a100-40gb", "--store", db, "--corpus", "markov:order=1,vocab=16,branching=2,tokens=20000"],
           monkeypatch, capsys, "40 GB of a100-40gb")
    assert not db.exists()  # refused before anything is written
