"""Sweep designs: the shape rule, IsoFLOP and grid designs, TOML spec files, the dry-run table."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.lab.cpu_speed import CpuSpeed
from scalinglab.lab.design import (
    DRY_RUN_COLUMNS,
    design_from_toml,
    dry_run_table,
    grid_design,
    isoflop_design,
    load_sweep_spec,
    shape_for_params,
)
from scalinglab.plan.allocation import optimal_allocation


@pytest.mark.parametrize("target", [1e4, 3e4, 1e5, 3e5, 1e6, 1e7, 1e8])
def test_shape_for_params_hits_target(target: float) -> None:
    arch = shape_for_params(target, vocab_size=256, seq_len=128)
    n = arch.params_non_embedding()
    assert abs(n / target - 1) <= (0.05 if target < 1e5 else 0.03)
    assert arch.d_model % 16 == 0 and arch.d_model == arch.n_heads * arch.head_dim
    assert arch.d_model >= 8 * arch.n_layer and arch.position == "rotary" and arch.tied_embeddings
    assert f"achieved N={n:,}" in arch.source
    if target >= 1e5:  # big enough for the plain rule: d_ff = 4 d_model, N = 12 L d^2 + 4 L d + 2 d
        assert arch.d_ff == 4 * arch.d_model
        d, n_layer = arch.d_model, arch.n_layer
        assert n == 12 * n_layer * d * d + 4 * n_layer * d + 2 * d


def test_shape_rule_prefers_the_aspect_ratio() -> None:
    assert (shape_for_params(1e6).n_layer, shape_for_params(1e6).d_model) == (5, 128)  # 985,856: -1.4%
    assert shape_for_params(1e8).d_model / shape_for_params(1e8).n_layer == pytest.approx(69.3, abs=0.1)
    deep = shape_for_params(1e7, aspect_ratio=16)
    assert deep.d_model / deep.n_layer < shape_for_params(1e7).d_model / shape_for_params(1e7).n_layer
    with pytest.raises(ScalingLabError, match="target_non_embedding_params"):
        shape_for_params(100)
    with pytest.raises(ScalingLabError, match="aspect_ratio"):
        shape_for_params(1e6, aspect_ratio=-1)


def test_isoflop_design_budgets_sizes_and_flops() -> None:
    budgets = [1e11, 1e12]  # hoffmann2022: N* = 55,584 and 157,239; N*/4 stays above min_params = 1e4
    runs = isoflop_design(budgets, 4, seq_len=64, batch_size=8, seed=3)
    assert len(runs) == 8 and [r.budget for r in runs] == [1e11] * 4 + [1e12] * 4
    for run in runs:
        c = run.config
        n = c.arch.params_non_embedding()
        assert c.tokens % (8 * 64) == 0 and c.seed == 3 and c.context == 64
        assert abs(6 * n * c.tokens - run.budget) <= 6 * n * c.tokens_per_step  # within one step of C
        assert run.label.startswith(f"{run.budget:.3g} FLOPs / N ")
    for c in budgets:
        sizes = [r.config.arch.params_non_embedding() for r in runs if r.budget == c]
        n_star = optimal_allocation("hoffmann2022", c).params
        assert sizes == sorted(sizes) and sizes[0] < n_star < sizes[-1]  # bracket the centre's N*
        assert sizes[-1] / sizes[0] == pytest.approx(16, rel=0.15)  # N*/4 .. 4 N*
        ratios = [b / a for a, b in itertools.pairwise(sizes)]
        assert all(1.8 < r < 3.6 for r in ratios)  # log-spaced: 16^(1/3) = 2.52 apart


def test_isoflop_design_ratio_centre_and_options() -> None:
    runs = isoflop_design([1e12], 3, center=20, span=2.0, batch_size=8, seq_len=64, eval_tokens=512, lr=3e-3)
    n_star = math.sqrt(1e12 / (6 * 20))  # D = 20 N, C = 6 N D
    sizes = [r.config.arch.params_non_embedding() for r in runs]
    assert sizes[0] == pytest.approx(n_star / 2, rel=0.05) and sizes[1] == pytest.approx(n_star, rel=0.05)
    assert sizes[2] == pytest.approx(2 * n_star, rel=0.05)
    assert all(r.config.eval_tokens == 512 and r.config.lr == 3e-3 for r in runs)
    assert isoflop_design([1e12], 1, center="20", batch_size=8, seq_len=64)[0].config.arch == runs[1].config.arch
    with pytest.raises(ScalingLabError, match="unknown run option.*bogus"):
        isoflop_design([1e12], 2, bogus=1)


def test_isoflop_budget_too_small() -> None:
    with pytest.raises(ScalingLabError, match=r"budget 1e\+08 FLOPs is too small: the smallest model \(N=10,400 parameters"):
        isoflop_design([3e10, 1e8], 4)
    with pytest.raises(ScalingLabError, match="budgets must be a finite number"):
        isoflop_design([-1.0], 4)
    with pytest.raises(ScalingLabError, match="per_budget"):
        isoflop_design([1e11], 0)


def test_isoflop_clips_to_trainable_sizes() -> None:
    # at 2e8 FLOPs a step of 16 x 128 tokens costs 6 N x 2048: only N <= 16,276 gets a whole step
    runs = isoflop_design([2e8], 4, center=0.01)  # a centre far above what the budget can train
    assert runs and all(r.config.steps >= 1 for r in runs)
    assert all(r.config.arch.params_non_embedding() <= 2e8 / (6 * 2048) * 1.05 for r in runs)



def test_isoflop_min_steps() -> None:
    # min_steps caps N so that every run trains at least that many steps (too few leave it optimisation-limited)
    runs = isoflop_design([1e10, 1e11], 5, center=20, span=8.0, batch_size=8, seq_len=64, min_params=3.2e3,
                          min_steps=250)
    assert runs and all(r.config.steps >= 0.9 * 250 for r in runs)  # shapes round N by a few %
    free = isoflop_design([1e10, 1e11], 5, center=20, span=8.0, batch_size=8, seq_len=64, min_params=3.2e3)
    assert min(r.config.steps for r in free) < 250
    assert max(r.config.arch.params_non_embedding() for r in runs if r.budget == 1e10) < max(
        r.config.arch.params_non_embedding() for r in free if r.budget == 1e10)
    # shapes that differ only in d_ff are distinct models, each planned once
    names = [(r.budget, r.config.arch.name) for r in runs]
    assert len(names) == len(set(names))
    with pytest.raises(ScalingLabError, match=r"fewer than 1000 step\(s\)"):
        isoflop_design([3e9], 2, batch_size=8, seq_len=64, min_params=3.2e3, min_steps=1000)

def test_grid_design() -> None:
    runs = grid_design([1e5, 1e6], [1e5, 4e5], batch_size=8, seq_len=64, seed=1)
    assert len(runs) == 4 and all(r.budget is None for r in runs)
    assert [r.config.tokens for r in runs] == [99_840, 399_872, 99_840, 399_872]  # whole steps of 512
    assert [r.config.arch.params_non_embedding() for r in runs] == [98_944] * 2 + [985_856] * 2
    assert runs[0].label == "N 9.89e+04 / D 9.98e+04"
    with pytest.raises(ScalingLabError, match="tokens=100 is less than half a step"):
        grid_design([1e5], [100])
    with pytest.raises(ScalingLabError, match="params must be a non-empty list"):
        grid_design([], [1e5])


SPEC = """
[sweep]
design = "isoflop"
budgets = [3e10, 1e11]
per_budget = 3
corpus = "markov:order=2,vocab=64"
seed = 7
batch_size = 8
seq_len = 64
eval_tokens = 1024
store = "runs.db"
"""


def test_toml_spec_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(SPEC)
    spec = load_sweep_spec(path)
    assert spec.design == "isoflop" and spec.corpus == "markov:order=2,vocab=64" and spec.settings["store"] == "runs.db"
    direct = isoflop_design([3e10, 1e11], 3, seed=7, batch_size=8, seq_len=64, eval_tokens=1024)
    assert [r.to_dict() for r in spec.runs] == [r.to_dict() for r in direct]
    assert design_from_toml(path) == spec.runs
    grid = tmp_path / "grid.toml"
    grid.write_text('[sweep]\ndesign = "grid"\nparams = [1e5]\ntokens = [1e5, 2e5]\nbatch_size = 8\nseq_len = 64\n')
    assert [r.to_dict() for r in design_from_toml(grid)] == [r.to_dict() for r in
                                                              grid_design([1e5], [1e5, 2e5], batch_size=8, seq_len=64)]


@pytest.mark.parametrize("text, message", [
    (SPEC + "colour = 'red'\nbudget = 1\n", "unknown key\\(s\\) budget, colour in \\[sweep\\]"),
    (SPEC + "[extra]\nx = 1\n", "unknown: extra"),
    (SPEC.replace('"isoflop"', '"random"'), "design must be"),
    (SPEC + "params = [1e5]\n", "params belong to the grid design"),
    (SPEC.replace("per_budget = 3\n", ""), "the isoflop design needs per_budget"),
    (SPEC.replace("budgets = [3e10, 1e11]", "budgets = [3e10, 1e7]"), "budget 1e\\+07 FLOPs is too small"),
    ("[sweep\n", "not valid TOML"),
])
def test_toml_spec_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScalingLabError, match=message) as info:
        design_from_toml(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    with pytest.raises(ScalingLabError, match="file not found"):
        design_from_toml(tmp_path / "missing.toml")


def test_dry_run_table_columns_and_values() -> None:
    runs = isoflop_design([3e10], 2, batch_size=8, seq_len=64) + grid_design([1e5], [1e5], batch_size=8, seq_len=64)
    table = dry_run_table(runs, seconds_per_flop=1e-10)
    assert tuple(table.columns) == DRY_RUN_COLUMNS and len(table) == 3
    for run, row in zip(runs, table.to_dict("records")):
        a, c = run.config.arch, run.config
        assert (row["label"], row["n_layer"], row["d_model"], row["n_heads"]) == (run.label, a.n_layer, a.d_model,
                                                                                 a.n_heads)
        assert row["params"] == a.params() and row["params_non_embedding"] == a.params_non_embedding()
        assert row["params"] - row["params_non_embedding"] == 256 * a.d_model  # tied byte embedding
        assert row["tokens"] == c.steps * 512 and row["steps"] == c.steps
        assert row["flops"] == pytest.approx(6 * a.params_non_embedding() * row["tokens"])
        # executed FLOPs exceed 6ND (attention, embedding and logits) but by less than 4x at these sizes
        assert 1.0 < row["est_seconds"] / (row["flops"] * 1e-10) < 4.0
    assert math.isnan(table["budget"].iloc[2]) or table["budget"].iloc[2] is None
    doubled = dry_run_table(runs, seconds_per_flop=2e-10)
    assert list(doubled["est_seconds"]) == pytest.approx(list(2 * table["est_seconds"]))
    with pytest.raises(ScalingLabError, match="seconds_per_flop"):
        dry_run_table(runs, seconds_per_flop=0.0)


def test_dry_run_table_with_a_cpu_speed_adds_the_cost_per_step() -> None:
    runs = isoflop_design([3e10], 2, batch_size=8, seq_len=64)
    table = dry_run_table(runs, speed=CpuSpeed(seconds_per_step=1e-3, seconds_per_flop=1e-10))
    for run, est in zip(runs, table["est_seconds"]):
        c = run.config
        assert est == pytest.approx(1e-3 * c.step_equivalents + 1e-10 * c.executed_flops)
        assert c.steps < c.step_equivalents < c.steps * 1.5  # evaluation batches count a third of a step
