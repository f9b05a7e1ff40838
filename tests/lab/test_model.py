"""The lab model: parameter counts equal Architecture's, shapes, causality, seeding, bad shapes."""

from __future__ import annotations

import pytest
import torch

from scalinglab.errors import ScalingLabError
from scalinglab.lab.model import GPT, count_params
from scalinglab.plan.architecture import Architecture

SHAPES: dict[str, dict] = {
    "gpt2-like": {"n_layer": 2, "d_model": 32, "n_heads": 4, "d_ff": 128, "vocab_size": 97, "seq_len": 16,
                  "bias": True, "position": "learned", "norm": "layernorm", "tied_embeddings": True},
    "llama-like": {"n_layer": 2, "d_model": 32, "n_heads": 4, "n_kv_heads": 2, "d_ff": 88, "vocab_size": 97,
                   "seq_len": 16, "tied_embeddings": False, "gated_mlp": True, "bias": False,
                   "position": "rotary", "norm": "rmsnorm"},
    "pythia-like": {"n_layer": 3, "d_model": 48, "n_heads": 4, "d_ff": 192, "vocab_size": 64, "seq_len": 12,
                    "tied_embeddings": False, "bias": True, "position": "rotary", "norm": "layernorm"},
    "parallel-nope-mqa": {"n_layer": 3, "d_model": 32, "n_heads": 2, "n_kv_heads": 1, "head_dim": 24, "d_ff": 64,
                          "vocab_size": 50, "seq_len": 8, "norms_per_layer": 1, "norm": "none",
                          "position": "none", "gated_mlp": True, "bias": True},
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_parameter_counts_equal_architecture(name: str) -> None:
    arch = Architecture(name=name, **SHAPES[name])
    model = GPT.from_architecture(arch)
    assert count_params(model) == arch.params()
    assert count_params(model, embeddings=False) == arch.params_non_embedding()
    assert count_params(model) - count_params(model, embeddings=False) == arch.params_embedding()


def test_hand_counted_gpt2_like() -> None:
    # d=32, L=2, V=97, T=16, F=128, biases, learned positions, tied head:
    # emb 97*32=3104, pos 16*32=512, attn/layer 4*32*32+4*32=4224, mlp/layer 2*32*128+128+32=8352,
    # norms (2*2+1)*2*32=320 -> non-embedding 2*(4224+8352)+320 = 25472; total + 3104 + 512 = 29088
    model = GPT(Architecture(name="g", **SHAPES["gpt2-like"]))
    assert count_params(model, embeddings=False) == 25472
    assert count_params(model) == 29088


def test_forward_shape_and_causality() -> None:
    arch = Architecture(name="l", **SHAPES["llama-like"])
    torch.manual_seed(0)
    model = GPT(arch).eval()
    idx = torch.randint(0, arch.vocab_size, (2, arch.seq_len))
    logits = model(idx)
    assert logits.shape == (2, arch.seq_len, arch.vocab_size)
    changed = idx.clone()
    changed[:, -1] = (changed[:, -1] + 1) % arch.vocab_size  # changing the last token
    with torch.no_grad():
        again = model(changed)
    torch.testing.assert_close(again[:, :-1], logits[:, :-1].detach())  # leaves earlier positions alone
    assert not torch.allclose(again[:, -1], logits[:, -1].detach())


def test_rotary_makes_order_matter_and_untrained_loss_near_uniform() -> None:
    arch = Architecture(name="p", **SHAPES["pythia-like"])
    torch.manual_seed(1)
    model = GPT(arch).eval()
    idx = torch.randint(0, arch.vocab_size, (4, arch.seq_len))
    with torch.no_grad():
        loss = model.loss(idx[:, :-1], idx[:, 1:])
    assert abs(float(loss) - torch.log(torch.tensor(64.0)).item()) < 0.1  # small init: ~ln V nats/token


def test_same_seed_same_weights() -> None:
    arch = Architecture(name="g", **SHAPES["gpt2-like"])
    torch.manual_seed(3)
    a = GPT(arch)
    torch.manual_seed(3)
    b = GPT(arch)
    torch.manual_seed(4)
    c = GPT(arch)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.token_embedding.weight, c.token_embedding.weight)


@pytest.mark.parametrize("change, field", [({"position": "alibi"}, "position"),
                                           ({"n_experts": 4, "n_active_experts": 2}, "n_experts"),
                                           ({"norms_per_layer": 3}, "norms_per_layer"),
                                           ({"head_dim": 7}, "head_dim")])
def test_unbuildable_shapes_raise(change: dict, field: str) -> None:
    arch = Architecture(name="x", **{**SHAPES["llama-like"], **change})
    with pytest.raises(ScalingLabError, match=field):
        GPT(arch)


def test_too_long_input_raises() -> None:
    model = GPT(Architecture(name="g", **SHAPES["gpt2-like"]))
    with pytest.raises(ScalingLabError, match="seq_len=16"):
        model(torch.zeros(1, 17, dtype=torch.long))
