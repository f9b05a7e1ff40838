"""2024-2025 architectures: presets counted to the unit from their config.json values, and each model type read
from a minimal config.json (real published values). Formulas: plan/architecture.py module doc; MLA:
DeepSeek-V2 paper arXiv:2405.04434 sec. 2.1 (references.md C4)."""

from __future__ import annotations

import json

import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.plan.architecture import Architecture
from scalinglab.plan.presets import SUPPORTED_MODEL_TYPES, from_hf_config, get_architecture

# ---- the published config.json values (Hugging Face model repositories, named in each dict) -------------------
MISTRAL_7B = {  # mistralai/Mistral-7B-v0.1
    "model_type": "mistral", "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
    "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000, "max_position_embeddings": 32768,
    "sliding_window": 4096, "tie_word_embeddings": False}
MIXTRAL_8X7B = {  # mistralai/Mixtral-8x7B-v0.1
    **MISTRAL_7B, "model_type": "mixtral", "sliding_window": None, "num_local_experts": 8, "num_experts_per_tok": 2}
QWEN25_7B = {  # Qwen/Qwen2.5-7B
    "model_type": "qwen2", "num_hidden_layers": 28, "hidden_size": 3584, "num_attention_heads": 28,
    "num_key_value_heads": 4, "intermediate_size": 18944, "vocab_size": 152064, "max_position_embeddings": 131072,
    "sliding_window": 131072, "max_window_layers": 28, "use_sliding_window": False, "tie_word_embeddings": False}
QWEN25_72B = {**QWEN25_7B, "num_hidden_layers": 80, "hidden_size": 8192, "num_attention_heads": 64,  # Qwen2.5-72B
              "num_key_value_heads": 8, "intermediate_size": 29568, "max_window_layers": 80}
QWEN15_MOE = {  # Qwen/Qwen1.5-MoE-A2.7B (model_type qwen2_moe)
    "model_type": "qwen2_moe", "num_hidden_layers": 24, "hidden_size": 2048, "num_attention_heads": 16,
    "num_key_value_heads": 16, "intermediate_size": 5632, "vocab_size": 151936, "max_position_embeddings": 8192,
    "num_experts": 60, "num_experts_per_tok": 4, "moe_intermediate_size": 1408,
    "shared_expert_intermediate_size": 5632, "decoder_sparse_step": 1, "mlp_only_layers": [],
    "use_sliding_window": False, "sliding_window": 32768, "max_window_layers": 21, "tie_word_embeddings": False}
GEMMA2_9B = {  # google/gemma-2-9b (no tie_word_embeddings key: tied)
    "model_type": "gemma2", "num_hidden_layers": 42, "hidden_size": 3584, "num_attention_heads": 16,
    "num_key_value_heads": 8, "head_dim": 256, "intermediate_size": 14336, "vocab_size": 256000,
    "max_position_embeddings": 8192, "sliding_window": 4096, "query_pre_attn_scalar": 224}
GEMMA2_27B = {**GEMMA2_9B, "num_hidden_layers": 46, "hidden_size": 4608, "num_attention_heads": 32,  # gemma-2-27b
              "num_key_value_heads": 16, "head_dim": 128, "intermediate_size": 36864, "query_pre_attn_scalar": 144}
DEEPSEEK_V3 = {  # deepseek-ai/DeepSeek-V3
    "model_type": "deepseek_v3", "num_hidden_layers": 61, "hidden_size": 7168, "num_attention_heads": 128,
    "num_key_value_heads": 128, "intermediate_size": 18432, "moe_intermediate_size": 2048, "vocab_size": 129280,
    "max_position_embeddings": 163840, "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8,
    "first_k_dense_replace": 3, "moe_layer_freq": 1, "q_lora_rank": 1536, "kv_lora_rank": 512,
    "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "topk_method": "noaux_tc",
    "num_nextn_predict_layers": 1, "tie_word_embeddings": False, "attention_bias": False}
DEEPSEEK_V2 = {  # deepseek-ai/DeepSeek-V2
    **DEEPSEEK_V3, "model_type": "deepseek_v2", "num_hidden_layers": 60, "hidden_size": 5120,
    "intermediate_size": 12288, "moe_intermediate_size": 1536, "vocab_size": 102400, "n_routed_experts": 160,
    "n_shared_experts": 2, "num_experts_per_tok": 6, "first_k_dense_replace": 1, "topk_method": "group_limited_greedy"}


def _swiglu(d: int, f: int) -> int:
    """Gate, up and down matrices of a gated MLP of width f: 3 d f."""
    return 3 * d * f


def _gqa(d: int, h: int, kv: int, hd: int, qkv_bias: bool = False) -> int:
    """Q (d x h hd), K and V (d x kv hd each), output (h hd x d), plus Q/K/V biases when qkv_bias."""
    return 2 * d * h * hd + 2 * d * kv * hd + ((h + 2 * kv) * hd if qkv_bias else 0)


def _dense_total(c: dict, *, norms: int = 2, qkv_bias: bool = False, tied: bool = False) -> int:
    """L (attention + SwiGLU + norms x d) + final norm d + embedding V d (+ output V d when untied)."""
    d, L, V = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"]
    hd = c.get("head_dim") or d // c["num_attention_heads"]
    layer = _gqa(d, c["num_attention_heads"], c["num_key_value_heads"], hd, qkv_bias)
    layer += _swiglu(d, c["intermediate_size"]) + norms * d
    return L * layer + d + (1 if tied else 2) * V * d


def _deepseek_counts(c: dict) -> tuple[int, int]:
    """(total, active) of a DeepSeek-V2/V3 config: per layer MLA (q_a d x q_rank, q_b q_rank x H (nope+rope),
    kv_a d x (kv_rank+rope), kv_b kv_rank x H (nope+v), o H v x d) + norms (2 d + q_rank + kv_rank); the first
    k layers one SwiGLU of intermediate_size; the others n_routed experts + shared SwiGLU of n_shared x
    moe_intermediate_size + router E x d (+ E bias for noaux_tc); embedding and untied head 2 V d, final norm d.
    Active: the MoE layers keep num_experts_per_tok of the routed experts."""
    d, L, V, H = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"], c["num_attention_heads"]
    qr, kr, rope, nope, v = (c["q_lora_rank"], c["kv_lora_rank"], c["qk_rope_head_dim"], c["qk_nope_head_dim"],
                             c["v_head_dim"])
    mla = d * qr + qr * H * (nope + rope) + d * (kr + rope) + kr * H * (nope + v) + H * v * d
    norms = 2 * d + qr + kr
    k, E, f = c["first_k_dense_replace"], c["n_routed_experts"], c["moe_intermediate_size"]
    router = E * d + (E if c["topk_method"] == "noaux_tc" else 0)
    moe_layer = E * _swiglu(d, f) + _swiglu(d, c["n_shared_experts"] * f) + router
    total = L * (mla + norms) + k * _swiglu(d, c["intermediate_size"]) + (L - k) * moe_layer + d + 2 * V * d
    active = total - (L - k) * (E - c["num_experts_per_tok"]) * _swiglu(d, f)
    return total, active


def _write(tmp_path, cfg: dict, name: str = "config.json"):
    path = tmp_path / name
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


# ---- presets: counts to the unit, and the published headline counts ------------------------------------------
@pytest.mark.parametrize("name, cfg, options, headline", [
    ("mistral-7b", MISTRAL_7B, {}, 7.24e9),  # model card "7.24B" (the announcement rounds to 7.3B)
    ("qwen2.5-7b", QWEN25_7B, {"qkv_bias": True}, 7.61e9),  # card: 7.61B
    ("qwen2.5-72b", QWEN25_72B, {"qkv_bias": True}, 72.7e9),  # card: 72.7B
    ("gemma2-9b", GEMMA2_9B, {"norms": 4, "tied": True}, 9.24e9),  # Gemma 2 report Table 1 / card
    ("gemma2-27b", GEMMA2_27B, {"norms": 4, "tied": True}, 27.2e9),
])
def test_dense_preset_counts_to_the_unit(name, cfg, options, headline, tmp_path):
    expected = _dense_total(cfg, **options)
    a = get_architecture(name)
    assert a.params() == expected == a.active_params()
    unit = 0.01e9 if headline < 10e9 else 0.1e9  # the cards truncate to the digits they print
    assert 0 <= a.params() - headline < unit
    assert from_hf_config(_write(tmp_path, cfg)).params() == expected


def test_exact_dense_counts():
    # The numbers the docs quote (plan/presets_recent.py); the formula is _dense_total above.
    assert get_architecture("mistral-7b").params() == 7_241_732_096
    assert get_architecture("qwen2.5-7b").params() == 7_615_616_512
    assert get_architecture("qwen2.5-7b").params_non_embedding() == 6_525_621_760  # card: 6.53B
    assert get_architecture("qwen2.5-72b").params() == 72_706_203_648
    assert get_architecture("gemma2-9b").params() == 9_241_705_984
    assert get_architecture("gemma2-27b").params() == 27_227_128_320


def test_mixtral_total_and_active(tmp_path):
    # L (attention + 8 SwiGLU experts + router 8 d + 2 norms) + final norm + 2 V d; active keeps 2 experts.
    c = MIXTRAL_8X7B
    d, L, V = 4096, 32, 32000
    layer = _gqa(d, 32, 8, 128) + 8 * _swiglu(d, 14336) + 8 * d + 2 * d
    total = L * layer + d + 2 * V * d
    active = total - L * 6 * _swiglu(d, 14336)
    a = get_architecture("mixtral-8x7b")
    assert (a.params(), a.active_params()) == (total, active) == (46_702_792_704, 12_879_925_248)
    assert (round(total / 1e9, 1), round(active / 1e9, 1)) == (46.7, 12.9)  # Jiang et al. 2024: 46.7B / 12.9B
    assert a.sliding_window is None  # sliding_window null: full attention over 32k
    assert from_hf_config(_write(tmp_path, c)).params() == total


def test_deepseek_v3_total_and_active(tmp_path):
    total, active = _deepseek_counts(DEEPSEEK_V3)
    a = get_architecture("deepseek-v3")
    assert (a.params(), a.active_params()) == (total, active) == (671_026_419_200, 37_552_297_472)
    assert round(total / 1e9) == 671  # arXiv:2412.19437: 671B total (the 14B MTP module excluded)
    assert 37e9 <= active < 38e9  # "37B activated"
    # DeepSeek's README_WEIGHTS.md: 36.6B activated, counting the output head but not the input embedding.
    assert round((active - 129280 * 7168) / 1e8) == 366
    read = from_hf_config(_write(tmp_path, DEEPSEEK_V3))
    assert (read.params(), read.active_params()) == (total, active)
    assert (read.n_dense_layers, read.n_moe_layers, read.d_ff_shared, read.router_bias) == (3, 58, 2048, True)


def test_deepseek_v2_read_from_config(tmp_path):
    total, active = _deepseek_counts(DEEPSEEK_V2)
    a = from_hf_config(_write(tmp_path, DEEPSEEK_V2))
    assert (a.params(), a.active_params()) == (total, active) == (235_741_434_880, 21_375_800_320)
    assert (round(total / 1e9), round(active / 1e9)) == (236, 21)  # arXiv:2405.04434: 236B total, 21B activated
    assert not a.router_bias and a.n_dense_layers == 1 and a.d_ff_shared == 2 * 1536


def test_deepseek_without_query_compression(tmp_path):
    # q_lora_rank null (DeepSeek-V2-Lite): one d x H (nope+rope) query matrix, no q norm.
    cfg = {**DEEPSEEK_V2, "q_lora_rank": None}
    a, b = from_hf_config(_write(tmp_path, cfg)), from_hf_config(_write(tmp_path, DEEPSEEK_V2, "v2.json"))
    d, H, qr = 5120, 128, 1536
    per_layer_gap = (d * qr + qr * H * 192 + qr) - d * H * 192
    assert b.params() - a.params() == 60 * per_layer_gap


def test_qwen2_moe_shared_expert(tmp_path):
    # Qwen1.5-MoE-A2.7B: L (attention with Q/K/V biases + 60 experts of 1,408 + shared 5,632 + its d x 1 gate
    # + router 60 d + 2 norms) + final norm + 2 V d; card: 14.3B total, 2.7B activated.
    d, L, V = 2048, 24, 151936
    layer = _gqa(d, 16, 16, 128, True) + 60 * _swiglu(d, 1408) + _swiglu(d, 5632) + d + 60 * d + 2 * d
    total = L * layer + d + 2 * V * d
    active = total - L * 56 * _swiglu(d, 1408)
    a = from_hf_config(_write(tmp_path, QWEN15_MOE))
    assert (a.params(), a.active_params()) == (total, active) == (14_315_784_192, 2_689_173_504)
    assert (round(total / 1e9, 1), round(active / 1e9, 1)) == (14.3, 2.7)
    sparse_every_2 = from_hf_config(_write(tmp_path, {**QWEN15_MOE, "decoder_sparse_step": 2}, "s2.json"))
    assert sparse_every_2.n_dense_layers == 12  # layers 0, 2, ... are dense (intermediate_size wide)


# ---- sliding windows read from the config --------------------------------------------------------------------
def test_sliding_window_layers_by_model_type(tmp_path):
    mistral = from_hf_config(_write(tmp_path, MISTRAL_7B, "m.json"))
    assert (mistral.sliding_window, mistral.n_windowed_layers) == (4096, 32)  # every layer
    gemma = from_hf_config(_write(tmp_path, GEMMA2_9B, "g.json"))
    assert (gemma.sliding_window, gemma.n_windowed_layers, gemma.tied_embeddings) == (4096, 21, True)  # alternating
    qwen = from_hf_config(_write(tmp_path, QWEN25_7B, "q.json"))
    assert (qwen.sliding_window, qwen.n_windowed_layers) == (None, 0)  # use_sliding_window false
    on = from_hf_config(_write(tmp_path, {**QWEN25_7B, "use_sliding_window": True, "sliding_window": 4096,
                                          "max_window_layers": 20}, "q2.json"))
    assert (on.sliding_window, on.n_windowed_layers) == (4096, 8)  # layers 20..27 slide
    typed = {**MISTRAL_7B, "layer_types": ["sliding_attention", "full_attention"] * 16}
    assert from_hf_config(_write(tmp_path, typed, "t.json")).n_windowed_layers == 16
    llama = from_hf_config(_write(tmp_path, {**MISTRAL_7B, "model_type": "llama"}, "l.json"))
    assert llama.sliding_window is None


def test_every_new_model_type_is_supported():
    for model_type in ("mistral", "mixtral", "qwen2", "qwen2_moe", "gemma2", "deepseek_v2", "deepseek_v3"):
        assert model_type in SUPPORTED_MODEL_TYPES


def test_bad_configs_are_one_line_errors(tmp_path):
    with pytest.raises(ScalingLabError, match="kv_lora_rank"):
        from_hf_config(_write(tmp_path, {k: v for k, v in DEEPSEEK_V3.items() if k != "kv_lora_rank"}))
    with pytest.raises(ScalingLabError, match="num_experts_per_tok"):
        from_hf_config(_write(tmp_path, {**QWEN15_MOE, "num_experts_per_tok": 61}, "k.json"))
    with pytest.raises(ScalingLabError, match="sliding_window"):
        from_hf_config(_write(tmp_path, {**MISTRAL_7B, "sliding_window": -1}, "w.json"))
    # config fields are exact: a float such as 4096.0 is refused in the validation layer's one wording
    with pytest.raises(ScalingLabError, match=r"field 'sliding_window' must be a whole number >= 1, got 4096\.0$"):
        from_hf_config(_write(tmp_path, {**MISTRAL_7B, "sliding_window": 4096.0}, "f.json"))
    with pytest.raises(ScalingLabError, match=r"'num_experts_per_tok' \(at most the number of experts\) must be a "
                                              r"whole number >= 1 and at most 60, got 61$"):
        from_hf_config(_write(tmp_path, {**QWEN15_MOE, "num_experts_per_tok": 61}, "k2.json"))


@pytest.mark.parametrize("fields, match", [
    ({"n_local_layers": 2}, "needs a sliding_window"),
    ({"sliding_window": 8, "n_local_layers": 9}, "n_local_layers"),
    ({"kv_lora_rank": 16}, "rope_head_dim"),
    ({"rope_head_dim": 8}, "kv_lora_rank"),
    ({"kv_lora_rank": 16, "rope_head_dim": 8, "bias": True}, "biases"),
    ({"d_ff_shared": 32}, "mixture-of-experts"),
    ({"n_experts": 4, "n_active_experts": 2, "shared_expert_gate": True}, "d_ff_shared"),
    ({"norm": "batchnorm"}, "norm must be one of layernorm, rmsnorm, none, got 'batchnorm'$"),
    ({"position": "sinusoid"}, "position must be one of learned, rotary, relative, relative-xl, alibi, none, got"),
    ({"norms_per_layer": -1}, "norms_per_layer must be a whole number >= 0, got -1$"),
])
def test_architecture_validates_new_fields(fields, match):
    base = dict(name="t", n_layer=8, d_model=64, n_heads=4, d_ff=128, vocab_size=100, seq_len=64)
    with pytest.raises(ScalingLabError, match=match):
        Architecture(**{**base, **fields})


def test_replace_keeps_derived_fields_consistent():
    # Defaults that follow other fields (window on every layer, expert width = d_ff) are not frozen at creation.
    import dataclasses

    plain = dataclasses.replace(get_architecture("mistral-7b"), sliding_window=None)
    assert plain.n_windowed_layers == 0 and plain.kv_cached_layer_tokens(32_768) == 32 * 32_768
    wider = dataclasses.replace(get_architecture("mixtral-8x7b"), d_ff=16384)
    assert wider.expert_params() == 3 * 4096 * 16384


@pytest.mark.parametrize("name, field", [("qwen2.5-7b", "qkv_bias"), ("mistral-7b", "sliding_window"),
                                         ("deepseek-v3", "n_experts")])
def test_lab_model_refuses_what_it_cannot_build(name, field):
    # The lab's PyTorch model builds plain blocks only; a shape it would count wrongly is refused, naming the field.
    pytest.importorskip("torch")
    from scalinglab.lab.model import check_buildable

    with pytest.raises(ScalingLabError, match=field):
        check_buildable(get_architecture(name))
    plain = Architecture(name="p", n_layer=2, d_model=32, n_heads=4, d_ff=64, vocab_size=50, seq_len=16,
                         kv_lora_rank=8, rope_head_dim=4)
    with pytest.raises(ScalingLabError, match="kv_lora_rank"):
        check_buildable(plain)
