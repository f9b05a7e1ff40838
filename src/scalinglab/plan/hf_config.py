"""Reading a local Hugging Face ``config.json`` into an :class:`~scalinglab.plan.architecture.Architecture`.

Never downloads. Supported ``model_type`` values (:data:`SUPPORTED_MODEL_TYPES`) and the keys read:

* ``llama``, ``mistral``, ``mixtral``, ``qwen2``: num_hidden_layers, hidden_size, num_attention_heads,
  num_key_value_heads, head_dim, intermediate_size, vocab_size, max_position_embeddings,
  tie_word_embeddings (default false), attention_bias/mlp_bias, num_local_experts/num_experts_per_tok.
  ``qwen2`` always has Q, K and V biases (no output or MLP bias; ``qkv_bias``).
* ``qwen2_moe``: as qwen2, plus num_experts, num_experts_per_tok, moe_intermediate_size (routed experts),
  shared_expert_intermediate_size (one always-active shared expert with a ``d_model x 1`` gate),
  decoder_sparse_step and mlp_only_layers (the other layers are dense, intermediate_size wide).
* ``gemma2``: as llama with head_dim (default 256), four RMSNorms per layer (pre- and post-norm around
  attention and MLP), a gated MLP, tied embeddings by default.
* ``deepseek_v2``, ``deepseek_v3``: multi-head latent attention (kv_lora_rank, q_lora_rank (may be
  null), qk_rope_head_dim, qk_nope_head_dim, v_head_dim), n_routed_experts, num_experts_per_tok,
  n_shared_experts x moe_intermediate_size (the shared expert), first_k_dense_replace and moe_layer_freq
  (dense layers of intermediate_size), topk_method "noaux_tc" (V3: a per-expert router bias). The
  multi-token-prediction layers of V3 (num_nextn_predict_layers) are not part of the model counted, as
  DeepSeek's 671B excludes them.
* ``gpt2`` (n_layer, n_embd, n_head, n_positions or n_ctx, n_inner default 4 n_embd, tied by default) and
  ``gpt_neox`` (Llama's keys, LayerNorm, biases, plain MLP).

Sliding windows (references.md C4): ``sliding_window`` applies to every layer for mistral/mixtral, to
the even-numbered layers (0, 2, ...) for gemma2 (alternating local/global, as the transformers Gemma-2
code), and for qwen2/qwen2_moe only when ``use_sliding_window`` is true, to the layers from
``max_window_layers`` on; a ``layer_types`` list (newer configs) counts its "sliding_attention" entries.
``seq_len`` is ``max_position_embeddings`` (for Llama 3.1 that is 131,072, not the 8,192 pre-training
context: replace it if that matters).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError, is_existing_path, whole_number
from scalinglab.plan.architecture import Architecture

_LLAMA_TYPES = ("llama", "mistral", "mixtral", "qwen2")
_DEEPSEEK_TYPES = ("deepseek_v2", "deepseek_v3")
SUPPORTED_MODEL_TYPES = ("gpt2", "gpt_neox", *_LLAMA_TYPES, "qwen2_moe", "gemma2", *_DEEPSEEK_TYPES)

Config = dict[str, Any]


def _required(cfg: Config, path: Path, *keys: str) -> Any:
    for key in keys:
        if cfg.get(key) is not None:
            return cfg[key]
    raise ScalingLabError(f"{path}: required field '{keys[0]}' is missing from the Hugging Face config")


def _name(cfg: Config, path: Path) -> str:
    named = cfg.get("_name_or_path")
    if isinstance(named, str) and named.strip():
        return named.strip()
    return path.parent.name if path.name == "config.json" and path.parent.name else path.stem


def _whole(cfg: Config, path: Path, key: str, default: int | None = None, low: int = 0) -> int:
    value = cfg.get(key, default) if default is not None else _required(cfg, path, key)
    if value is None:
        value = default
    return whole_number(f"{path}: field '{key}'", value, minimum=low, exact=True)


def _common(cfg: Config, path: Path, label: str) -> dict[str, Any]:
    """The keys every Llama-like config shares (layers, widths, heads, vocabulary, context, source)."""
    return dict(name=_name(cfg, path), n_layer=_required(cfg, path, "num_hidden_layers"),
                d_model=_required(cfg, path, "hidden_size"), n_heads=_required(cfg, path, "num_attention_heads"),
                vocab_size=_required(cfg, path, "vocab_size"),
                seq_len=_required(cfg, path, "max_position_embeddings"),
                source=f"Hugging Face config {path} ({label} keys)")


def _active(cfg: Config, path: Path, n_experts: int) -> int:
    """``num_experts_per_tok`` of a mixture of experts (required: no silent default)."""
    n_active = _required(cfg, path, "num_experts_per_tok")
    return whole_number(f"{path}: field 'num_experts_per_tok' (at most the number of experts)", n_active,
                        minimum=1, maximum=n_experts, exact=True)


def _local_layers(cfg: Config, path: Path, model_type: str, n_layer: int) -> tuple[int | None, int]:
    """(sliding window in tokens or None, number of layers that use it); see the module doc."""
    window = cfg.get("sliding_window")
    if model_type == "gemma2" and window is None:
        window = cfg.get("sliding_window_size")
    if model_type in ("qwen2", "qwen2_moe") and not cfg.get("use_sliding_window", False):
        window = None
    if window is None or model_type == "llama":
        return None, 0
    window = _whole(cfg, path, "sliding_window", window, low=1)
    types = cfg.get("layer_types")
    if isinstance(types, list) and len(types) == n_layer:
        return window, sum(1 for t in types if t == "sliding_attention")
    if model_type == "gemma2":
        return window, (n_layer + 1) // 2  # layers 0, 2, 4, ... slide
    if model_type in ("qwen2", "qwen2_moe"):
        return window, max(0, n_layer - _whole(cfg, path, "max_window_layers", n_layer))
    return window, n_layer


def _from_gpt2(cfg: Config, path: Path) -> Architecture:
    d_model = _required(cfg, path, "n_embd")
    return Architecture(
        name=_name(cfg, path), n_layer=_required(cfg, path, "n_layer"), d_model=d_model,
        n_heads=_required(cfg, path, "n_head"), d_ff=cfg.get("n_inner") or 4 * d_model,
        vocab_size=_required(cfg, path, "vocab_size"), seq_len=_required(cfg, path, "n_positions", "n_ctx"),
        tied_embeddings=bool(cfg.get("tie_word_embeddings", True)), gated_mlp=False, bias=True,
        position="learned", norm="layernorm", source=f"Hugging Face config {path} (GPT-2 keys)")


def _from_neox(cfg: Config, path: Path) -> Architecture:
    return Architecture(
        **_common(cfg, path, "GPT-NeoX"), d_ff=_required(cfg, path, "intermediate_size"),
        tied_embeddings=bool(cfg.get("tie_word_embeddings", False)), gated_mlp=False,
        bias=bool(cfg.get("attention_bias", True)), position="rotary", norm="layernorm")


def _from_llama(cfg: Config, path: Path, model_type: str = "llama") -> Architecture:
    attention_bias, mlp_bias = bool(cfg.get("attention_bias", False)), bool(cfg.get("mlp_bias", False))
    if attention_bias != mlp_bias:
        raise ScalingLabError(f"{path}: attention_bias={attention_bias} with mlp_bias={mlp_bias} is not "
                              "supported (biases are counted on all linear layers or none)")
    n_experts = cfg.get("num_local_experts") or 1
    is_moe = isinstance(n_experts, int) and not isinstance(n_experts, bool) and n_experts > 1
    common = _common(cfg, path, "Llama-style")
    window, local = _local_layers(cfg, path, model_type, common["n_layer"])
    return Architecture(
        **common, n_kv_heads=cfg.get("num_key_value_heads"), head_dim=cfg.get("head_dim"),
        d_ff=_required(cfg, path, "intermediate_size"), tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        gated_mlp=True, bias=attention_bias, qkv_bias=model_type == "qwen2" and not attention_bias,
        position="rotary", norm="rmsnorm", n_experts=n_experts,
        n_active_experts=_active(cfg, path, n_experts) if is_moe else 1, sliding_window=window, n_local_layers=local)


def _from_qwen2_moe(cfg: Config, path: Path) -> Architecture:
    common = _common(cfg, path, "Qwen2-MoE")
    n_layer, n_experts = common["n_layer"], _whole(cfg, path, "num_experts", low=2)
    step, dense_only = _whole(cfg, path, "decoder_sparse_step", 1, low=1), cfg.get("mlp_only_layers") or []
    sparse = sum(1 for i in range(n_layer) if i not in dense_only and (i + 1) % step == 0)
    shared = _whole(cfg, path, "shared_expert_intermediate_size", 0)
    window, local = _local_layers(cfg, path, "qwen2_moe", n_layer)
    return Architecture(
        **common, n_kv_heads=cfg.get("num_key_value_heads"), head_dim=cfg.get("head_dim"),
        d_ff=_required(cfg, path, "intermediate_size"), tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        gated_mlp=True, qkv_bias=True, position="rotary", norm="rmsnorm", n_experts=n_experts,
        n_active_experts=_active(cfg, path, n_experts), d_ff_expert=_required(cfg, path, "moe_intermediate_size"),
        d_ff_shared=shared, shared_expert_gate=shared > 0, n_dense_layers=n_layer - sparse,
        sliding_window=window, n_local_layers=local)


def _from_gemma2(cfg: Config, path: Path) -> Architecture:
    common = _common(cfg, path, "Gemma-2")
    window, local = _local_layers(cfg, path, "gemma2", common["n_layer"])
    return Architecture(
        **common, n_kv_heads=cfg.get("num_key_value_heads"), head_dim=cfg.get("head_dim") or 256,
        d_ff=_required(cfg, path, "intermediate_size"), tied_embeddings=bool(cfg.get("tie_word_embeddings", True)),
        gated_mlp=True, bias=bool(cfg.get("attention_bias", False)), position="rotary", norm="rmsnorm",
        norms_per_layer=4, sliding_window=window, n_local_layers=local)


def _from_deepseek(cfg: Config, path: Path) -> Architecture:
    common = _common(cfg, path, "DeepSeek")
    n_layer = common["n_layer"]
    if cfg.get("attention_bias"):
        raise ScalingLabError(f"{path}: attention_bias=true is not supported for multi-head latent attention")
    n_experts = cfg.get("n_routed_experts") or 1
    first, freq = _whole(cfg, path, "first_k_dense_replace", 0), _whole(cfg, path, "moe_layer_freq", 1, low=1)
    moe = dict(n_experts=n_experts)
    if n_experts > 1:
        sparse = sum(1 for i in range(n_layer) if i >= first and i % freq == 0)
        moe.update(n_active_experts=_active(cfg, path, n_experts), n_dense_layers=n_layer - sparse,
                   d_ff_expert=_required(cfg, path, "moe_intermediate_size"),
                   d_ff_shared=_whole(cfg, path, "n_shared_experts", 0) * _required(cfg, path, "moe_intermediate_size"),
                   router_bias=cfg.get("topk_method") == "noaux_tc")
    rope = _required(cfg, path, "qk_rope_head_dim")
    return Architecture(
        **common, head_dim=_required(cfg, path, "qk_nope_head_dim") + rope,
        d_ff=_required(cfg, path, "intermediate_size"), tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        gated_mlp=True, position="rotary", norm="rmsnorm", kv_lora_rank=_required(cfg, path, "kv_lora_rank"),
        q_lora_rank=cfg.get("q_lora_rank"), rope_head_dim=rope, v_head_dim=_required(cfg, path, "v_head_dim"),
        **moe)


def _reader(cfg: Config, path: Path) -> Callable[[Config, Path], Architecture]:
    model_type = cfg.get("model_type")
    if model_type is None:  # hand-written config: infer from the keys
        model_type = "gpt2" if "n_embd" in cfg else "gpt_neox" if "rotary_pct" in cfg else "llama"
    readers: dict[str, Callable[[Config, Path], Architecture]] = {
        "gpt2": _from_gpt2, "gpt_neox": _from_neox, "qwen2_moe": _from_qwen2_moe, "gemma2": _from_gemma2,
        "deepseek_v2": _from_deepseek, "deepseek_v3": _from_deepseek}
    if model_type in _LLAMA_TYPES:
        return lambda c, p: _from_llama(c, p, model_type)
    if model_type in readers:
        return readers[model_type]
    raise ScalingLabError(f"{path}: model_type '{model_type}' is not supported "
                          f"(supported: {', '.join(SUPPORTED_MODEL_TYPES)})")


def from_hf_config(path: str | os.PathLike[str]) -> Architecture:
    """Read a local Hugging Face ``config.json`` (never downloads) into an :class:`Architecture`; the keys
    read for each ``model_type`` are in the module doc."""
    file = Path(path)
    if is_existing_path(str(file)) and file.is_dir():
        file = file / "config.json"
    if not is_existing_path(str(file), file=True):
        raise ScalingLabError(f"no such Hugging Face config file: {file}")
    try:
        cfg = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScalingLabError(f"cannot read {file} as JSON: {exc}") from None
    if not isinstance(cfg, dict):
        raise ScalingLabError(f"{file}: a Hugging Face config must be a JSON object")
    reader = _reader(cfg, file)
    try:
        return reader(cfg, file)
    except ScalingLabError as exc:
        if str(exc).startswith(str(file)):
            raise
        raise ScalingLabError(f"{file}: {exc}") from None
