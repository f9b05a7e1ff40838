"""Presets of 2023-2025 open-weight models, each from its published Hugging Face ``config.json``.

Every count was checked to the unit against the config values (tests/plan/test_recent_presets.py writes
each formula out) and against the headline counts of the model card or paper:

* ``mistral-7b`` (mistralai/Mistral-7B-v0.1 config.json; Jiang et al. 2023, arXiv:2310.06825, Table 1):
  32 layers, d_model 4,096, 32 heads, 8 KV heads, d_ff 14,336, vocabulary 32,000, untied,
  max_position_embeddings 32,768, ``sliding_window`` 4,096 on every layer. 7,241,732,096 parameters
  (the card's "7.24B"; the announcement's "7.3B" rounds up).
* ``mixtral-8x7b`` (mistralai/Mixtral-8x7B-v0.1 config.json; Jiang et al. 2024, arXiv:2401.04088): the
  same shape with 8 experts, 2 per token, sliding_window null (full 32k attention). 46,702,792,704 total,
  12,879,925,248 active (the paper's 46.7B / 12.9B; active includes the embeddings).
* ``qwen2.5-7b``, ``qwen2.5-72b`` (Qwen/Qwen2.5-7B and -72B config.json; model cards): Q, K, V biases,
  untied, vocabulary 152,064, max_position_embeddings 131,072, use_sliding_window false.
  7,615,616,512 (card: 7.61B; 6,525,621,760 non-embedding, card 6.53B) and 72,706,203,648 (card:
  72.7B).
* ``gemma2-9b``, ``gemma2-27b`` (google/gemma-2-9b and -27b config.json; Gemma Team 2024,
  arXiv:2408.00118, Table 1): four RMSNorms per layer, tied vocabulary of 256,000, head_dim 256 / 128,
  context 8,192, local sliding window 4,096 on every other layer (21 of 42, 23 of 46).
  9,241,705,984 and 27,227,128,320 parameters (9.24B / 27.2B).
* ``deepseek-v3`` (deepseek-ai/DeepSeek-V3 config.json; DeepSeek-AI 2024, arXiv:2412.19437 sec. 4.2):
  61 layers, d_model 7,168, 128 heads, MLA with kv_lora_rank 512, q_lora_rank 1,536, rotary key 64,
  qk_nope 128, v_head 128; 3 dense layers (d_ff 18,432), then 58 MoE layers of 256 routed experts
  (8 per token, width 2,048) plus 1 shared expert and a router with a per-expert bias; vocabulary
  129,280, untied; max_position_embeddings 163,840. 671,026,419,200 total (paper: 671B, excluding the
  14B multi-token-prediction module; the Hugging Face checkpoint holds 685B) and 37,552,297,472 active
  with both embedding matrices (paper: "37B activated"; DeepSeek's README_WEIGHTS.md: 36.6B, which
  leaves out the input embedding: 37,552,297,472 - 926,679,040 = 36,625,618,432).
"""

from __future__ import annotations

from scalinglab.plan.architecture import Architecture

_MISTRAL = "mistralai/Mistral-7B-v0.1 config.json; Jiang et al. 2023 (arXiv:2310.06825), Table 1"
_MIXTRAL = "mistralai/Mixtral-8x7B-v0.1 config.json; Jiang et al. 2024 (arXiv:2401.04088)"
_QWEN = "Qwen/Qwen2.5-{} config.json and model card (Qwen Team 2024, arXiv:2412.15115)"
_GEMMA = "google/gemma-2-{} config.json; Gemma Team 2024 (arXiv:2408.00118), Table 1"
_DEEPSEEK = "deepseek-ai/DeepSeek-V3 config.json; DeepSeek-AI 2024 (arXiv:2412.19437), sec. 4.2"


def _mistral(name: str, source: str, **extra: object) -> Architecture:
    return Architecture(name=name, n_layer=32, d_model=4096, n_heads=32, n_kv_heads=8, d_ff=14336,
                        vocab_size=32000, seq_len=32768, tied_embeddings=False, gated_mlp=True,
                        position="rotary", norm="rmsnorm", source=source, **extra)  # type: ignore[arg-type]


def _qwen(size: str, n_layer: int, d_model: int, n_heads: int, n_kv_heads: int, d_ff: int) -> Architecture:
    return Architecture(name=f"qwen2.5-{size.lower()}", n_layer=n_layer, d_model=d_model, n_heads=n_heads,
                        n_kv_heads=n_kv_heads, d_ff=d_ff, vocab_size=152064, seq_len=131072,
                        tied_embeddings=False, gated_mlp=True, qkv_bias=True, position="rotary", norm="rmsnorm",
                        source=_QWEN.format(size))


def _gemma(size: str, n_layer: int, d_model: int, n_heads: int, n_kv_heads: int, head_dim: int,
           d_ff: int) -> Architecture:
    return Architecture(name=f"gemma2-{size}", n_layer=n_layer, d_model=d_model, n_heads=n_heads,
                        n_kv_heads=n_kv_heads, head_dim=head_dim, d_ff=d_ff, vocab_size=256000, seq_len=8192,
                        tied_embeddings=True, gated_mlp=True, position="rotary", norm="rmsnorm",
                        norms_per_layer=4, sliding_window=4096, n_local_layers=(n_layer + 1) // 2,
                        source=_GEMMA.format(size))


def recent_presets() -> list[Architecture]:
    """The presets above, in this order."""
    return [
        _mistral("mistral-7b", _MISTRAL, sliding_window=4096),
        _mistral("mixtral-8x7b", _MIXTRAL, n_experts=8, n_active_experts=2),
        _qwen("7B", 28, 3584, 28, 4, 18944),
        _qwen("72B", 80, 8192, 64, 8, 29568),
        _gemma("9b", 42, 3584, 16, 8, 256, 14336),
        _gemma("27b", 46, 4608, 32, 16, 128, 36864),
        Architecture(name="deepseek-v3", n_layer=61, d_model=7168, n_heads=128, head_dim=192, d_ff=18432,
                     vocab_size=129280, seq_len=163840, tied_embeddings=False, gated_mlp=True, position="rotary",
                     norm="rmsnorm", kv_lora_rank=512, q_lora_rank=1536, rope_head_dim=64, v_head_dim=128,
                     n_experts=256, n_active_experts=8, d_ff_expert=2048, d_ff_shared=2048, n_dense_layers=3,
                     router_bias=True, source=_DEEPSEEK),
    ]
