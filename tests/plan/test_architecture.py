"""Architectures: exact parameter counts of published models, presets, Hugging Face config.json reading."""

from __future__ import annotations

import dataclasses
import json

import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.plan.architecture import COMPONENTS, Architecture
from scalinglab.plan.presets import PRESETS, from_hf_config, get_architecture, list_architectures

# Pythia model card ("Naming convention and parameter count"): exact total / non-embedding counts.
PYTHIA = {
    "70m": (70_426_624, 18_915_328), "160m": (162_322_944, 85_056_000), "410m": (405_334_016, 302_311_424),
    "1b": (1_011_781_632, 805_736_448), "1.4b": (1_414_647_808, 1_208_602_624),
    "2.8b": (2_775_208_960, 2_517_652_480), "6.9b": (6_857_302_016, 6_444_163_072),
    "12b": (11_846_072_320, 11_327_027_200),
}
NOMINAL = {"70m": 70e6, "160m": 160e6, "410m": 410e6, "1b": 1e9, "1.4b": 1.4e9, "2.8b": 2.8e9,
           "6.9b": 6.9e9, "12b": 12e9}


@pytest.mark.parametrize("size", list(PYTHIA))
def test_pythia_counts_exact(size):
    a = get_architecture(f"pythia-{size}")
    assert (a.params(), a.params_non_embedding()) == PYTHIA[size]
    assert abs(a.params() / NOMINAL[size] - 1) < 0.02  # the published size names, within 2%


def test_gpt2_counts_match_released_models():
    # Hugging Face gpt2 / gpt2-medium / gpt2-xl num_parameters(): 124,439,808 / 354,823,168 / 1,557,611,200.
    assert get_architecture("gpt2").params() == 124_439_808
    assert get_architecture("gpt2-medium").params() == 354_823_168
    assert get_architecture("GPT2-XL").params() == 1_557_611_200


@pytest.mark.parametrize("name, table_d1", [
    ("gpt3-small", 125e6), ("gpt3-medium", 356e6), ("gpt3-large", 760e6), ("gpt3-xl", 1320e6),
    ("gpt3-2.7b", 2650e6), ("gpt3-6.7b", 6660e6), ("gpt3-13b", 12850e6), ("gpt3-175b", 174600e6),
])
def test_gpt3_counts_match_table_d1(name, table_d1):
    # Brown et al. 2020 Table D.1 "Params (M)" (references.md A1 quotes 174,600M, 12,850M, 2,650M, 125M).
    assert abs(get_architecture(name).params() / table_d1 - 1) < 0.005


def test_llama_counts():
    assert abs(get_architecture("llama2-70b").params() / 69e9 - 1) < 0.01  # "70B" = 68.98e9 (HF: 68,976,648,192)
    assert get_architecture("llama2-7b").params() == 6_738_415_616  # HF Llama-2-7b-hf num_parameters()
    assert get_architecture("llama3-8b").params() == 8_030_261_248  # "8.03B" on the model card
    assert abs(get_architecture("llama3-405b").params() / 405e9 - 1) < 0.005


def test_chinchilla_and_gopher_counts():
    # Hoffmann et al. count every weight matrix, W_R included (references.md A3): Chinchilla 70B, Gopher 280B.
    assert abs(get_architecture("chinchilla-70b").params_weight_matrices() / 70e9 - 1) < 0.002
    assert abs(get_architecture("gopher-280b").params_weight_matrices() / 280e9 - 1) < 0.002
    # references.md A3: N = L (4 d kh + 2 d F) + L d kh + V d = 73,728,000 for the 73M shape.
    assert get_architecture("chinchilla-a4-73m").params_weight_matrices() == 73_728_000


def test_palm_count():
    # PaLM 540B: N = 540.35e9 incl. the shared embedding (references.md A4, PaLM App. B).
    assert abs(get_architecture("palm").params_weight_matrices() - 540.35e9) < 0.01e9


def test_breakdown_sums_and_components():
    a = get_architecture("llama2-70b")
    b = a.breakdown()
    assert tuple(b) == COMPONENTS and sum(b.values()) == a.params()
    d, kv = 8192, 8 * 128
    assert b["attention"] == 80 * (2 * d * d + 2 * d * kv)  # GQA: K and V are 1,024 wide; no biases
    assert b["mlp"] == 80 * 3 * d * 28672  # SwiGLU: three matrices
    assert b["norms"] == (2 * 80 + 1) * d  # RMSNorm weight only
    assert b["output"] == b["embedding"] == 32000 * d  # untied
    assert a.params_embedding() + a.params_non_embedding() == a.params()


def test_gpt2_small_terms_by_hand():
    a = get_architecture("gpt2")
    d, v, t = 768, 50257, 1024
    per_layer = (4 * d * d + 4 * d) + (8 * d * d + 5 * d) + 4 * d  # attention, MLP (biases), 2 LayerNorms
    assert a.params() == 12 * per_layer + 2 * d + v * d + t * d
    assert a.breakdown()["output"] == 0 and a.breakdown()["position"] == t * d


def test_moe_active_params():
    dense = Architecture(name="dense", n_layer=4, d_model=256, n_heads=4, d_ff=1024, vocab_size=1000,
                         seq_len=128, gated_mlp=True)
    moe = dataclasses.replace(dense, name="moe", n_experts=8, n_active_experts=2)
    expert = 3 * 256 * 1024
    assert moe.params() - dense.params() == 4 * (7 * expert + 256 * 8)  # 7 more experts + router
    assert moe.active_params() == moe.params() - 4 * 6 * expert
    assert moe.active_params(embeddings=False) == moe.params_non_embedding() - 4 * 6 * expert


@pytest.mark.parametrize("changes, field", [
    ({"n_layer": 0}, "n_layer"), ({"d_model": -5}, "d_model"), ({"n_kv_heads": 3}, "n_kv_heads"),
    ({"d_ff": 1.5}, "d_ff"), ({"position": "sinusoidal"}, "position"), ({"norm": "batchnorm"}, "norm"),
    ({"n_active_experts": 2}, "n_active_experts"), ({"bias": "yes"}, "bias"), ({"seq_len": True}, "seq_len"),
    ({"d_model": 100, "n_heads": 3}, "head_dim"),
])
def test_bad_shapes_name_the_field(changes, field):
    base = {"name": "x", "n_layer": 2, "d_model": 64, "n_heads": 4, "d_ff": 256, "vocab_size": 100, "seq_len": 32}
    with pytest.raises(ScalingLabError, match=field):
        Architecture(**{**base, **changes})


def test_get_architecture_names_and_errors():
    assert get_architecture("LLAMA3-405B") is PRESETS["llama3-405b"]
    assert get_architecture("chinchilla").name == "chinchilla-70b"
    assert get_architecture(PRESETS["gpt2"]) is PRESETS["gpt2"]
    names = list_architectures()
    for required in ("gpt3-175b", "chinchilla-70b", "gopher-280b", "llama2-70b", "llama3-405b", "pythia-1.4b"):
        assert required in names
    assert all(PRESETS[n].source for n in names)
    with pytest.raises(ScalingLabError, match="unknown architecture 'gpt-9'.*llama3-8b"):
        get_architecture("gpt-9")


def _write(tmp_path, cfg, name="config.json"):
    path = tmp_path / name
    path.write_text(json.dumps(cfg))
    return path


LLAMA3_8B_CONFIG = {
    "model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
    "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256,
    "max_position_embeddings": 8192, "tie_word_embeddings": False, "attention_bias": False,
}


def test_hf_llama_config_round_trip(tmp_path):
    a = from_hf_config(_write(tmp_path, LLAMA3_8B_CONFIG))
    preset = PRESETS["llama3-8b"]
    assert a.params() == preset.params() == 8_030_261_248
    assert a.breakdown() == preset.breakdown() and a.n_kv_heads == 8 and a.gated_mlp
    assert get_architecture(tmp_path).params() == a.params()  # a folder holding config.json works too
    tied = from_hf_config(_write(tmp_path, {**LLAMA3_8B_CONFIG, "tie_word_embeddings": True}, "tied.json"))
    assert a.params() - tied.params() == 128256 * 4096
    mixtral = {**LLAMA3_8B_CONFIG, "model_type": "mixtral", "num_local_experts": 8, "num_experts_per_tok": 2}
    moe = from_hf_config(_write(tmp_path, mixtral, "moe.json"))
    assert (moe.n_experts, moe.n_active_experts) == (8, 2)
    for bad in (0, -1, 9, 1.5, True):  # never read silently as 1 (or anything else)
        path = _write(tmp_path, {**mixtral, "num_experts_per_tok": bad}, "bad_moe.json")
        with pytest.raises(ScalingLabError, match=r"bad_moe\.json: field 'num_experts_per_tok'"):
            from_hf_config(path)
    no_k = {k: v for k, v in mixtral.items() if k != "num_experts_per_tok"}
    with pytest.raises(ScalingLabError, match="'num_experts_per_tok' is missing"):
        from_hf_config(_write(tmp_path, no_k, "no_k.json"))


def test_hf_gpt2_and_neox_configs(tmp_path):
    gpt2 = {"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12, "n_positions": 1024,
            "n_inner": None, "vocab_size": 50257}
    assert from_hf_config(_write(tmp_path, gpt2)).params() == 124_439_808
    neox = {"model_type": "gpt_neox", "num_hidden_layers": 6, "hidden_size": 512, "num_attention_heads": 8,
            "intermediate_size": 2048, "vocab_size": 50304, "max_position_embeddings": 2048,
            "tie_word_embeddings": False, "rotary_pct": 0.25}
    a = get_architecture(str(_write(tmp_path, neox, "pythia.json")))
    assert (a.params(), a.params_non_embedding()) == PYTHIA["70m"]


def test_hf_config_errors(tmp_path):
    missing = {k: v for k, v in LLAMA3_8B_CONFIG.items() if k != "intermediate_size"}
    path = _write(tmp_path, missing)
    with pytest.raises(ScalingLabError, match=r"config\.json: required field 'intermediate_size'"):
        from_hf_config(path)
    with pytest.raises(ScalingLabError, match="model_type 'falcon' is not supported"):
        from_hf_config(_write(tmp_path, {"model_type": "falcon"}, "falcon.json"))
    with pytest.raises(ScalingLabError, match="no such Hugging Face config file"):
        get_architecture(tmp_path / "absent.json")
    bad = _write(tmp_path, {**LLAMA3_8B_CONFIG, "num_key_value_heads": 5}, "bad.json")
    with pytest.raises(ScalingLabError, match=r"bad\.json: .*n_kv_heads=5"):
        from_hf_config(bad)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ScalingLabError, match="cannot read"):
        from_hf_config(tmp_path / "broken.json")
