"""Evaluation sized to its purpose (curve points on a prefix of the final evaluation's windows, the
final loss on all ``eval_tokens``), checked against a direct computation; the device plan (autocast
dtype, fused AdamW, compile) as a pure function; the trainer pieces on the CPU."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train import ARCH, DATA, config

from scalinglab.errors import ScalingLabError
from scalinglab.lab.config import CURVE_EVAL_DIVISOR, device_plan
from scalinglab.lab.model import GPT
from scalinglab.lab.train import Checkpoint, EvalPoint, build_trainer, evaluate, train_run


def direct_loss(model: GPT, tokens: np.ndarray, n_windows: int, t: int = 16) -> float:
    """Mean next-token loss over the first ``n_windows`` windows of ``t + 1`` tokens, every window in
    one batch through :meth:`GPT.loss` (another code path than :func:`evaluate`)."""
    starts = np.arange(n_windows) * t
    w = torch.from_numpy(tokens[starts[:, None] + np.arange(t + 1)].astype(np.int64))
    with torch.no_grad():
        return float(model.eval().loss(w[:, :-1], w[:, 1:]))


def test_evaluate_equals_direct_loss_on_the_same_windows() -> None:
    torch.manual_seed(3)
    model = GPT(ARCH)
    cfg = config(eval_tokens=200)  # 12 windows of 16 tokens (200 // 16), scored in batches of 8
    got = evaluate(model, DATA.val, 200, cfg, torch.device("cpu"), contextlib.nullcontext)
    assert got == pytest.approx(direct_loss(model, DATA.val, 12), rel=1e-6)
    assert got != pytest.approx(direct_loss(model, DATA.val, 8), rel=1e-4)  # the window count matters
    model.train()
    evaluate(model, DATA.val, 64, cfg, torch.device("cpu"), contextlib.nullcontext)
    assert model.training


def test_curve_on_a_prefix_final_on_all_eval_tokens(tmp_path: Path) -> None:
    """Each curve point equals the direct loss of the model at that step on the first curve_tokens
    windows; the final loss that of the last model on all eval_tokens windows."""
    cfg = config(tokens=8 * 16 * 30, eval_every_tokens=8 * 16 * 10, eval_tokens=256)
    assert cfg.curve_tokens == 256 // CURVE_EVAL_DIVISOR == 64  # 4 windows of 16 tokens
    path, seen = tmp_path / "run.ckpt", []

    def check_previous(point: EvalPoint) -> None:  # the checkpoint on disk is still the previous point's
        if seen:
            model = GPT(ARCH)
            model.load_state_dict(Checkpoint.load(path).model_state)
            assert seen[-1].val_loss == pytest.approx(direct_loss(model, DATA.val, 4), rel=1e-6)
        seen.append(point)

    result = train_run(cfg, DATA, on_eval=check_previous, checkpoint_path=path)
    assert len(seen) == 3
    final = Checkpoint.load(path)
    model = GPT(ARCH)
    model.load_state_dict(final.model_state)
    assert result.points[-1].val_loss == pytest.approx(direct_loss(model, DATA.val, 4), rel=1e-6)
    assert result.final_val_loss == pytest.approx(direct_loss(model, DATA.val, 16), rel=1e-6)
    assert result.final_val_loss != result.points[-1].val_loss  # two token sets
    assert final.final_val_loss == result.final_val_loss
    assert result.final_val_bpb == pytest.approx(DATA.bits_per_byte(result.final_val_loss))
    again = train_run(cfg, DATA, resume=final)  # resumed at the last step: nothing to train, same result
    assert again.final_val_loss == result.final_val_loss and again.points == result.points


def test_uniform_evaluation_when_asked_and_config_checks() -> None:
    short = {"tokens": 8 * 16 * 20, "eval_every_tokens": 8 * 16 * 10, "eval_tokens": 256}
    uniform = train_run(config(curve_eval_tokens=256, **short), DATA)
    default = train_run(config(**short), DATA)
    assert uniform.final_val_loss == uniform.points[-1].val_loss
    assert default.final_val_loss == uniform.final_val_loss  # the final evaluation does not depend on the curve's
    assert default.points[0].val_loss != uniform.points[0].val_loss
    assert "curve_eval_tokens" not in config(**short).to_dict()  # runs planned before it keep their identity
    assert config(curve_eval_tokens=32, **short).to_dict()["curve_eval_tokens"] == 32
    assert config(eval_tokens=2).curve_tokens == 1
    with pytest.raises(ScalingLabError, match="curve_eval_tokens=512 exceeds eval_tokens=256"):
        config(curve_eval_tokens=512, eval_tokens=256)
    with pytest.raises(ScalingLabError, match="curve_eval_tokens must be a whole number"):
        config(curve_eval_tokens=0)


@pytest.mark.parametrize("device, compile_, dtype, fused", [
    ("cuda", False, "bfloat16", True), ("cuda:1", True, "bfloat16", True),
    ("cpu", False, None, False), ("cpu", True, None, False),
])
def test_device_plan(device: str, compile_: bool, dtype: str | None, fused: bool) -> None:
    plan = device_plan(device, compile_)
    assert (plan.device_type, plan.autocast_dtype, plan.fused_adamw, plan.compile) == (
        device.split(":")[0], dtype, fused, compile_)


def test_device_plan_refuses_other_devices_and_cpu_trainer_follows_it() -> None:
    with pytest.raises(ScalingLabError, match="'mps'"):
        device_plan("mps")
    trainer = build_trainer(config(), torch.device("cpu"))
    assert trainer.optimizer.defaults["fused"] is False and trainer.net is trainer.model
    with trainer.autocast():  # no autocast on the CPU: fp32 logits
        assert trainer.net(torch.zeros((1, 4), dtype=torch.int64)).dtype == torch.float32
    assert [g["weight_decay"] for g in trainer.optimizer.param_groups] == [0.1, 0.0]


@pytest.mark.parametrize("steps, every, eval_tokens, curve", [(30, 10, 256, None), (25, 10, 256, None),
                                                            (20, 10, 128, 128)])
def test_evaluated_tokens_counts_what_the_trainer_scores(monkeypatch, steps, every, eval_tokens, curve) -> None:
    """``RunConfig.evaluated_tokens`` (the time model's evaluation work) is the sum of the token counts
    the trainer asks :func:`evaluate` for: the curve's at every evaluation, the final loss's at the end
    unless the two are the same."""
    import scalinglab.lab.train as train_module

    asked: list[int] = []

    def counting(model, tokens, n_tokens, cfg, device, autocast):
        asked.append(n_tokens)
        return 3.0

    monkeypatch.setattr(train_module, "evaluate", counting)
    cfg = config(tokens=8 * 16 * steps, eval_every_tokens=8 * 16 * every, eval_tokens=eval_tokens,
                 curve_eval_tokens=curve)
    train_run(cfg, DATA)
    assert sum(asked) == cfg.evaluated_tokens
