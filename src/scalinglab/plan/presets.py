"""Published transformer shapes, and reading a local Hugging Face ``config.json``.

Presets (names are case-insensitive; each carries its source):

* GPT-2 (Radford et al. 2019, Table 2; shapes and vocabulary as in the released Hugging Face configs):
  ``gpt2``, ``gpt2-medium``, ``gpt2-large``, ``gpt2-xl``. Context 1,024 tokens, vocabulary 50,257.
* GPT-3 (Brown et al. 2020, Table 2.1): ``gpt3-small`` (125M) .. ``gpt3-175b``; context 2,048 tokens,
  vocabulary 50,257, learned positions, tied embeddings, biases, LayerNorm, d_ff = 4 d_model. Two
  rows of Table 2.1 are internally inconsistent and are corrected so that n_heads x d_head = d_model:
  XL lists 24 heads of 128 with d_model 2,048 (we use 16 heads of 128), 13B lists d_model 5,140 with
  40 heads of 128 (we use 5,120). Both corrections reproduce the totals of Table D.1 (1,320M, 12,850M).
* Gopher 280B (Rae et al. 2021, Table 1) and Chinchilla 70B (Hoffmann et al. 2022, Table 4), and the
  six shapes of Hoffmann et al. Table A4 (``chinchilla-a4-73m`` .. ``chinchilla-a4-6.8b``): vocabulary
  32,000, context 2,048, d_ff = 4 d_model, RMSNorm, no biases, Transformer-XL relative positions (W_R
  counted, see architecture.py) and one vocabulary matrix (modelled as tied), which reproduces
  Hoffmann et al.'s parameter counts (references.md A3).
* Llama 2 7B/13B/70B (Touvron et al. 2023, Table 1; HF configs): vocabulary 32,000, context 4,096,
  SwiGLU, RMSNorm, rotary, no biases, untied; 70B uses GQA with 8 KV heads.
* Llama 3 8B/70B/405B (Llama Team 2024, "The Llama 3 Herd of Models", Table 3): vocabulary 128,256
  (the HF configs; the paper says "128K"), pre-training context 8,192, GQA with 8 KV heads.
* Pythia 70M .. 12B (Biderman et al. 2023, Table 1; model card's exact counts): GPT-NeoX blocks,
  vocabulary padded to 50,304 (6.9B: 50,432; 12B: 50,688, as in the HF configs), context 2,048, rotary,
  untied, biases, LayerNorm.
* PaLM 540B (Chowdhery et al. 2022, Table 1): multi-query attention, SwiGLU, vocabulary 256,000
  shared with the output, no biases, parallel blocks (one bias-free LayerNorm per layer).
* Mistral-7B, Mixtral-8x7B, Qwen2.5-7B/72B, Gemma-2-9B/27B and DeepSeek-V3 (``mistral-7b`` ..
  ``deepseek-v3``): from their Hugging Face config.json files, with sliding windows, multi-head latent
  attention and shared experts; counts and sources in :mod:`scalinglab.plan.presets_recent`.

Reading a local Hugging Face ``config.json`` is :func:`scalinglab.plan.hf_config.from_hf_config`
(re-exported here).
"""

from __future__ import annotations

import difflib
import os

from scalinglab.errors import ScalingLabError, is_existing_path
from scalinglab.plan.architecture import Architecture
from scalinglab.plan.hf_config import SUPPORTED_MODEL_TYPES, from_hf_config
from scalinglab.plan.presets_recent import recent_presets

__all__ = ["ALIASES", "PRESETS", "SUPPORTED_MODEL_TYPES", "from_hf_config", "get_architecture",
           "list_architectures"]

_GPT2 = "Radford et al. 2019, GPT-2 (Table 2); shapes from the released Hugging Face configs"
_GPT3 = "Brown et al. 2020, Language Models are Few-Shot Learners (arXiv:2005.14165), Table 2.1"
_HOFF = "Hoffmann et al. 2022 (arXiv:2203.15556)"
_GOPHER = "Rae et al. 2021, Scaling Language Models: Gopher (arXiv:2112.11446), Table 1"
_LLAMA2 = "Touvron et al. 2023, Llama 2 (arXiv:2307.09288), Table 1; meta-llama HF configs"
_LLAMA3 = "Llama Team 2024, The Llama 3 Herd of Models (arXiv:2407.21783), Table 3; HF configs"
_PYTHIA = "Biderman et al. 2023, Pythia (arXiv:2304.01373), Table 1; EleutherAI model cards"
_PALM = "Chowdhery et al. 2022, PaLM (arXiv:2204.02311), Table 1"


def _gpt(name: str, n_layer: int, d_model: int, n_heads: int, seq_len: int, source: str) -> Architecture:
    return Architecture(name=name, n_layer=n_layer, d_model=d_model, n_heads=n_heads, d_ff=4 * d_model,
                        vocab_size=50257, seq_len=seq_len, tied_embeddings=True, gated_mlp=False, bias=True,
                        position="learned", norm="layernorm", source=source)


def _deepmind(name: str, n_layer: int, d_model: int, n_heads: int, head_dim: int, source: str,
              d_ff: int | None = None) -> Architecture:
    return Architecture(name=name, n_layer=n_layer, d_model=d_model, n_heads=n_heads, head_dim=head_dim,
                        d_ff=4 * d_model if d_ff is None else d_ff, vocab_size=32000, seq_len=2048,
                        tied_embeddings=True, gated_mlp=False, bias=False, position="relative-xl",
                        norm="rmsnorm", source=source)


def _llama(name: str, n_layer: int, d_model: int, n_heads: int, n_kv_heads: int, d_ff: int, vocab: int,
           seq_len: int, source: str) -> Architecture:
    return Architecture(name=name, n_layer=n_layer, d_model=d_model, n_heads=n_heads, n_kv_heads=n_kv_heads,
                        d_ff=d_ff, vocab_size=vocab, seq_len=seq_len, tied_embeddings=False, gated_mlp=True,
                        bias=False, position="rotary", norm="rmsnorm", source=source)


def _pythia(size: str, n_layer: int, d_model: int, n_heads: int, vocab: int = 50304) -> Architecture:
    return Architecture(name=f"pythia-{size}", n_layer=n_layer, d_model=d_model, n_heads=n_heads,
                        d_ff=4 * d_model, vocab_size=vocab, seq_len=2048, tied_embeddings=False,
                        gated_mlp=False, bias=True, position="rotary", norm="layernorm", source=_PYTHIA)


def _catalogue() -> list[Architecture]:
    a4 = f"{_HOFF}, Table A4"
    return [
        _gpt("gpt2", 12, 768, 12, 1024, _GPT2),
        _gpt("gpt2-medium", 24, 1024, 16, 1024, _GPT2),
        _gpt("gpt2-large", 36, 1280, 20, 1024, _GPT2),
        _gpt("gpt2-xl", 48, 1600, 25, 1024, _GPT2),
        _gpt("gpt3-small", 12, 768, 12, 2048, _GPT3),
        _gpt("gpt3-medium", 24, 1024, 16, 2048, _GPT3),
        _gpt("gpt3-large", 24, 1536, 16, 2048, _GPT3),
        _gpt("gpt3-xl", 24, 2048, 16, 2048, _GPT3 + " (16 heads of 128 for the printed 24, see module doc)"),
        _gpt("gpt3-2.7b", 32, 2560, 32, 2048, _GPT3),
        _gpt("gpt3-6.7b", 32, 4096, 32, 2048, _GPT3),
        _gpt("gpt3-13b", 40, 5120, 40, 2048, _GPT3 + " (d_model 5,120 for the printed 5,140, see module doc)"),
        _gpt("gpt3-175b", 96, 12288, 96, 2048, _GPT3),
        _deepmind("chinchilla-a4-73m", 10, 640, 10, 64, a4, 2560),
        _deepmind("chinchilla-a4-305m", 20, 1024, 16, 64, a4, 4096),
        _deepmind("chinchilla-a4-552m", 24, 1280, 10, 128, a4, 5120),
        _deepmind("chinchilla-a4-1.1b", 26, 1792, 14, 128, a4, 7168),
        _deepmind("chinchilla-a4-1.6b", 28, 2048, 16, 128, a4, 8192),
        _deepmind("chinchilla-a4-6.8b", 40, 3584, 28, 128, a4, 14336),
        _deepmind("chinchilla-70b", 80, 8192, 64, 128, f"{_HOFF}, Table 4"),
        _deepmind("gopher-280b", 80, 16384, 128, 128, _GOPHER),
        _llama("llama2-7b", 32, 4096, 32, 32, 11008, 32000, 4096, _LLAMA2),
        _llama("llama2-13b", 40, 5120, 40, 40, 13824, 32000, 4096, _LLAMA2),
        _llama("llama2-70b", 80, 8192, 64, 8, 28672, 32000, 4096, _LLAMA2),
        _llama("llama3-8b", 32, 4096, 32, 8, 14336, 128256, 8192, _LLAMA3),
        _llama("llama3-70b", 80, 8192, 64, 8, 28672, 128256, 8192, _LLAMA3),
        _llama("llama3-405b", 126, 16384, 128, 8, 53248, 128256, 8192, _LLAMA3),
        _pythia("70m", 6, 512, 8),
        _pythia("160m", 12, 768, 12),
        _pythia("410m", 24, 1024, 16),
        _pythia("1b", 16, 2048, 8),
        _pythia("1.4b", 24, 2048, 16),
        _pythia("2.8b", 32, 2560, 32),
        _pythia("6.9b", 32, 4096, 32, vocab=50432),
        _pythia("12b", 36, 5120, 40, vocab=50688),
        Architecture(name="palm-540b", n_layer=118, d_model=18432, n_heads=48, n_kv_heads=1, head_dim=256,
                     d_ff=73728, vocab_size=256000, seq_len=2048, tied_embeddings=True, gated_mlp=True,
                     bias=False, position="rotary", norm="rmsnorm", norms_per_layer=1, source=_PALM),
        *recent_presets(),
    ]


PRESETS: dict[str, Architecture] = {a.name: a for a in _catalogue()}
ALIASES: dict[str, str] = {
    "gpt2-small": "gpt2", "gpt3-125m": "gpt3-small", "gpt3-350m": "gpt3-medium", "gpt3-760m": "gpt3-large",
    "gpt3-1.3b": "gpt3-xl", "chinchilla": "chinchilla-70b", "gopher": "gopher-280b", "palm": "palm-540b",
    "mistral-7b-v0.1": "mistral-7b", "mixtral-8x7b-v0.1": "mixtral-8x7b", "gemma-2-9b": "gemma2-9b",
    "gemma-2-27b": "gemma2-27b",
}


def list_architectures() -> list[str]:
    """Names of the presets, in catalogue order (aliases in :data:`ALIASES` are accepted too)."""
    return list(PRESETS)


def get_architecture(spec: str | os.PathLike[str] | Architecture) -> Architecture:
    """An :class:`Architecture` from a preset name (case-insensitive), a path to a local Hugging Face
    ``config.json`` (or a folder holding one), or an Architecture (returned as is)."""
    if isinstance(spec, Architecture):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise ScalingLabError(f"architecture must be a preset name or a config.json path, got {spec!r}")
    key = os.fspath(spec).strip()
    lowered = key.lower()
    if lowered in PRESETS or lowered in ALIASES:
        return PRESETS[ALIASES.get(lowered, lowered)]
    if key.lower().endswith(".json") or is_existing_path(key):
        return from_hf_config(key)
    close = difflib.get_close_matches(lowered, [*PRESETS, *ALIASES], n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise ScalingLabError(f"unknown architecture '{key}'{hint}; known: {', '.join(PRESETS)}; "
                          "or give a path to a Hugging Face config.json")
