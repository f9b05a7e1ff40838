"""The gradient noise scale measured during training (scalinglab.lab.noise)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from scalinglab.errors import ScalingLabError
from scalinglab.lab.corpus import load_corpus
from scalinglab.lab.model import GPT
from scalinglab.lab.noise import NoiseScaleMeter, two_half_backward
from scalinglab.lab.train import RunConfig, train_run
from scalinglab.plan.architecture import Architecture
from scalinglab.plan.batch import noise_scale_two_batch

ARCH = Architecture(name="gns", n_layer=1, d_model=32, n_heads=2, d_ff=128, vocab_size=256, seq_len=32,
                    tied_embeddings=True)


def _flat_grad(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])


def test_two_halves_give_the_full_batch_gradient_and_its_norms() -> None:
    torch.manual_seed(0)
    model = GPT(ARCH)
    x = torch.randint(0, 256, (8, 32))
    y = torch.randint(0, 256, (8, 32))
    loss_full = torch.nn.functional.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1))
    loss_full.backward()
    g_full = _flat_grad(model).clone()
    model.zero_grad(set_to_none=True)
    halves = []
    for sl in (slice(0, 4), slice(4, 8)):
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x[sl]).reshape(-1, 256), y[sl].reshape(-1)).backward()
        halves.append(_flat_grad(model).clone())
    model.zero_grad(set_to_none=True)
    loss, g1, g2, gf = two_half_backward(model, model, x, y, contextlib.nullcontext)
    assert float(loss) == pytest.approx(float(loss_full.detach()), rel=1e-6)
    assert torch.allclose(_flat_grad(model), g_full, rtol=1e-5, atol=1e-7)  # the training step is unchanged
    assert g1 == pytest.approx(float(halves[0] @ halves[0]), rel=1e-5)
    assert g2 == pytest.approx(float(halves[1] @ halves[1]), rel=1e-5)
    assert gf == pytest.approx(float(g_full @ g_full), rel=1e-5)


def test_meter_is_the_two_batch_estimator_in_tokens() -> None:
    meter = NoiseScaleMeter(batch_size=8, seq_len=32)
    assert (meter.b_small, meter.b_big) == (128, 256)
    meter.add(3.0, 5.0, 2.5)
    meter.add(4.0, 4.0, 2.0)
    expected = noise_scale_two_batch(128, [3.0, 5.0, 4.0, 4.0], 256, [2.5, 2.0]).b_simple
    # by hand: small 4.0, big 2.25; |G|^2 = (256*2.25 - 128*4)/128 = 0.5; tr = 1.75/(1/128 - 1/256) = 448
    assert expected == pytest.approx(448 / 0.5)
    assert meter.estimate() == pytest.approx(expected)
    assert meter.estimate() is None  # reset: nothing measured since
    meter.add(1.0, 1.0, 2.0)  # big > small: no signal/noise split possible -> no number, not a wrong one
    assert meter.estimate() is None


def test_config_validation_and_identity() -> None:
    with pytest.raises(ScalingLabError, match="even batch_size"):
        RunConfig(arch=ARCH, tokens=10_000, batch_size=3, measure_noise_scale=True)
    with pytest.raises(ScalingLabError, match="true or false"):
        RunConfig(arch=ARCH, tokens=10_000, measure_noise_scale="yes")  # type: ignore[arg-type]
    assert "measure_noise_scale" not in RunConfig(arch=ARCH, tokens=10_000).to_dict()  # old identities kept
    assert RunConfig(arch=ARCH, tokens=10_000, measure_noise_scale=True).to_dict()["measure_noise_scale"] is True


def test_noise_scale_grows_as_loss_falls() -> None:
    """McCandlish et al. 2018 (Fig. 4): B_simple grows during training as the loss falls. On Shakespeare
    bytes a 1-layer model's B_simple rises from ~1e2 to ~1e3+ tokens over 200k tokens."""
    data = load_corpus("shakespeare")
    config = RunConfig(arch=ARCH, tokens=240_000, batch_size=16, lr=3e-3, measure_noise_scale=True,
                       eval_every_tokens=24_000, eval_tokens=4096)
    result = train_run(config, data)
    gns = np.array([p.grad_noise_scale for p in result.points], dtype=float)
    loss = np.array([p.val_loss for p in result.points])
    assert np.all(np.isfinite(gns)) and np.all(gns > 0)
    assert gns[-1] > 10 * gns[0]
    assert gns[-3:].mean() > 2 * gns[1:3].mean()
    assert np.corrcoef(np.log(gns), loss)[0, 1] < -0.6  # measured -0.73
    plain = train_run(RunConfig(arch=ARCH, tokens=240_000, batch_size=16, lr=3e-3, eval_every_tokens=24_000,
                                eval_tokens=4096), data)
    assert all(p.grad_noise_scale is None for p in plain.points)
    assert plain.final_val_loss == pytest.approx(result.final_val_loss, abs=0.02)  # same training, two halves
