"""The lab trainer: learning, determinism, checkpoint resume, LR schedule, FLOPs, bad configs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from scalinglab.errors import ScalingLabError
from scalinglab.lab.data import TokenData
from scalinglab.lab.train import Checkpoint, EvalPoint, RunConfig, default_lr, lr_at, train_run
from scalinglab.plan.architecture import Architecture

VOCAB = 16
ARCH = Architecture(name="tiny", n_layer=1, d_model=32, n_heads=2, d_ff=64, vocab_size=VOCAB, seq_len=16,
                    position="rotary", norm="layernorm")


def markov_data(n: int = 6000, seed: int = 0) -> TokenData:
    """A first-order Markov chain on 16 tokens: each token is followed by one of 2 fixed successors with
    probability 1/2, so the entropy rate is ln 2 = 0.693 nats/token (uniform would be ln 16 = 2.773)."""
    rng = np.random.default_rng(seed)
    successors = rng.integers(0, VOCAB, size=(VOCAB, 2))
    tokens = np.empty(n, dtype=np.int64)
    tokens[0] = 0
    for i, coin in enumerate(rng.integers(0, 2, size=n - 1), start=1):
        tokens[i] = successors[tokens[i - 1], coin]
    return TokenData(train=tokens[: n * 4 // 5], val=tokens[n * 4 // 5:], vocab_size=VOCAB, bytes_per_token=2.0,
                     name="markov", entropy_rate_nats=math.log(2))


DATA = markov_data()


def config(**overrides) -> RunConfig:
    base = {"arch": ARCH, "tokens": 8 * 16 * 120, "batch_size": 8, "lr": 1e-2, "seed": 0,
            "eval_every_tokens": 8 * 16 * 40, "eval_tokens": 256}
    return RunConfig(**{**base, **overrides})


def test_learns_markov_chain_and_reports_units() -> None:
    seen: list[EvalPoint] = []
    result = train_run(config(), DATA, on_eval=seen.append)
    assert result.steps == 120 and result.tokens == 120 * 8 * 16
    assert [p.step for p in result.points] == [40, 80, 120] and seen == result.points
    assert result.final_val_loss < 0.9  # ln 16 = 2.77 untrained; entropy rate ln 2 = 0.69
    assert result.final_val_loss > 0.6  # cannot beat the entropy rate by much on 256 tokens
    assert result.points[0].val_loss > result.points[-1].val_loss  # the curve: the same windows at every point
    assert result.final_val_bpb == pytest.approx(result.final_val_loss / math.log(2) / 2.0)
    assert result.params == ARCH.params() and result.params_non_embedding == ARCH.params_non_embedding()
    assert result.flops == pytest.approx(6 * ARCH.params_non_embedding() * result.tokens)  # 6 N_non-emb D
    assert result.points[1].flops == pytest.approx(6 * ARCH.params_non_embedding() * 80 * 128)
    assert result.device == "cpu" and result.wall_seconds > 0
    assert torch.get_num_threads() >= 1  # restored after the run


def test_total_params_flops_convention() -> None:
    result = train_run(config(tokens=8 * 16 * 2, flops_params="total"), DATA)
    assert result.flops == pytest.approx(6 * ARCH.params() * 2 * 128)


def test_same_seed_same_losses_different_seed_different() -> None:
    short = {"tokens": 8 * 16 * 20, "eval_every_tokens": 8 * 16 * 10}
    a = train_run(config(**short), DATA)
    b = train_run(config(**short), DATA)
    c = train_run(config(seed=1, **short), DATA)
    assert [(p.train_loss, p.val_loss) for p in a.points] == [(p.train_loss, p.val_loss) for p in b.points]
    assert a.final_val_loss != c.final_val_loss


def test_resume_from_checkpoint_matches_straight_run(tmp_path: Path) -> None:
    short = {"tokens": 8 * 16 * 30, "eval_every_tokens": 8 * 16 * 10}
    straight = train_run(config(**short), DATA)
    path = tmp_path / "run.ckpt"

    def crash_at_second_eval(point: EvalPoint) -> None:
        if point.step == 20:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        train_run(config(**short), DATA, on_eval=crash_at_second_eval, checkpoint_path=path)
    checkpoint = Checkpoint.load(path)
    assert checkpoint.step == 10 and [p.step for p in checkpoint.points] == [10]
    resumed = train_run(config(**short), DATA, resume=checkpoint, checkpoint_path=path)
    assert resumed.final_val_loss == straight.final_val_loss
    assert resumed.points == straight.points
    assert Checkpoint.load(path).step == 30


def test_resume_with_other_config_or_bad_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "run.ckpt"
    train_run(config(tokens=8 * 16 * 4, eval_every_tokens=8 * 16 * 2), DATA, checkpoint_path=path)
    with pytest.raises(ScalingLabError, match="differs in lr"):
        train_run(config(tokens=8 * 16 * 4, eval_every_tokens=8 * 16 * 2, lr=0.5), DATA,
                  resume=Checkpoint.load(path))
    (tmp_path / "junk.ckpt").write_text("not a checkpoint")
    with pytest.raises(ScalingLabError, match="junk.ckpt"):
        Checkpoint.load(tmp_path / "junk.ckpt")
    with pytest.raises(ScalingLabError, match="missing.ckpt: file not found"):
        Checkpoint.load(tmp_path / "missing.ckpt")


def test_lr_schedule_warmup_cosine_to_run_length() -> None:
    cfg = config(tokens=8 * 16 * 101, warmup_fraction=0.1, lr=1e-3, min_lr_fraction=0.1)  # 101 steps, W=10
    assert cfg.steps == 101 and cfg.warmup_steps == 10
    assert lr_at(0, cfg) == pytest.approx(1e-4)  # 1/10 of peak on the first step
    assert lr_at(4, cfg) == pytest.approx(5e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)  # warmup ends at the peak
    assert lr_at(10, cfg) == pytest.approx(1e-3)  # cosine starts at the peak
    assert lr_at(55, cfg) == pytest.approx(0.55e-3)  # midpoint of the decay: (peak + min) / 2
    assert lr_at(100, cfg) == pytest.approx(1e-4)  # last step: min_lr_fraction x peak
    longer = config(tokens=8 * 16 * 201, warmup_fraction=0.1, lr=1e-3)
    assert lr_at(100, longer) > 0.5e-3  # decay follows the run's own length, not a fixed horizon


def test_default_lr_width_rule() -> None:
    assert default_lr(768) == pytest.approx(6e-4)
    assert default_lr(64) == pytest.approx(7.2e-3)
    assert config(lr=None).peak_lr == pytest.approx(6e-4 * 768 / 32)


@pytest.mark.parametrize("overrides, message", [
    ({"tokens": 100}, "less than one step"),
    ({"tokens": 0}, "tokens must be a whole number >= 1"),
    ({"batch_size": 2.5}, "batch_size"),
    ({"seq_len": 32}, "seq_len=32 exceeds"),
    ({"lr": -1.0}, "lr=-1.0"),
    ({"warmup_fraction": 1.0}, "warmup_fraction"),
    ({"grad_clip": 0.0}, "grad_clip"),
    ({"device": "tpu"}, "device"),
    ({"flops_params": "some"}, "flops_params"),
    ({"seed": -1}, "seed"),
    ({"arch": Architecture(name="moe", n_layer=1, d_model=32, n_heads=2, d_ff=64, vocab_size=16, seq_len=16,
                            n_experts=2)}, "n_experts"),
])
def test_bad_configs_raise(overrides: dict, message: str) -> None:
    with pytest.raises(ScalingLabError, match=message):
        config(**overrides)


def test_bad_data_or_device_raise() -> None:
    wide = TokenData(train=np.arange(100) % 20, val=np.arange(100) % 20, vocab_size=20, bytes_per_token=1.0, name="w")
    with pytest.raises(ScalingLabError, match="corpus w: vocab_size=20 exceeds"):
        train_run(config(), wide)
    short = TokenData(train=DATA.train, val=DATA.val[:10], vocab_size=VOCAB, bytes_per_token=1.0, name="s")
    with pytest.raises(ScalingLabError, match="val split has 10 tokens"):
        train_run(config(), short)
    if not torch.cuda.is_available():
        with pytest.raises(ScalingLabError, match="CUDA is not available"):
            train_run(config(device="cuda"), DATA)
