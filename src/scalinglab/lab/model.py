"""A small decoder-only transformer, built from an :class:`~scalinglab.plan.architecture.Architecture`.

Readable in one sitting (after Karpathy's nanoGPT). Per block (pre-norm, Xiong et al. 2020)::

    x = x + attn(norm_1(x))        # causal multi-head attention, optional GQA (n_kv_heads < n_heads)
    x = x + mlp(norm_2(x))         # GELU MLP, or SwiGLU when gated_mlp (Shazeer 2020)

or, with ``norms_per_layer=1``, a parallel block (GPT-J, PaLM): ``x = x + attn(n(x)) + mlp(n(x))``.
Then a final norm and the output head (tied to the token embedding or untied, no bias).

The trainable parameters equal ``Architecture.params()`` exactly, and :func:`count_params` with
``embeddings=False`` equals ``Architecture.params_non_embedding()`` (Kaplan et al. 2020's N: no token
embedding, no learned position embedding, no untied output matrix). Conventions followed from
``plan/architecture.py``:

* ``bias=True``: biases on Q, K, V, attention output, and the MLP matrices (gate and up: d_ff each,
  down: d_model); never on the output head.
* ``norm="layernorm"``: LayerNorm with weight AND bias (2 x d_model) whatever ``bias`` says, since
  the count always charges 2 x d_model (a bias-free LayerNorm is counted like ``"rmsnorm"``);
  ``"rmsnorm"``: RMSNorm, weight only; ``"none"``: LayerNorm without affine parameters (OLMo).
* ``position="learned"``: a ``seq_len x d_model`` table; ``"rotary"``: RoPE on the full head_dim
  (Su et al. 2021; base 10,000), no parameters; ``"none"``: no positions (NoPE; causal masking only).

Not built (ScalingLabError): ``relative``, ``relative-xl`` and ``alibi`` positions, mixture-of-experts
(``n_experts > 1``), and ``norms_per_layer`` other than 1 or 2.

Initialisation (GPT-2 / nanoGPT): weights N(0, 0.02), residual output projections N(0, 0.02/sqrt(2 L)),
biases 0, norm weights 1. Seed with ``torch.manual_seed`` before construction for reproducibility.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from scalinglab.errors import ScalingLabError
from scalinglab.lab.config import check_buildable  # torch-free: RunConfig checks shapes without torch
from scalinglab.plan.architecture import Architecture

__all__ = ["GPT", "check_buildable", "count_params"]

ROPE_BASE = 10_000.0
INIT_STD = 0.02


class RMSNorm(nn.Module):
    """RMSNorm (Zhang & Sennrich 2019): ``x / sqrt(mean(x^2) + eps) * weight``; d_model parameters."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


def make_norm(arch: Architecture) -> nn.Module:
    """The norm ``arch.norm`` asks for, with exactly the parameters the count charges."""
    if arch.norm == "rmsnorm":
        return RMSNorm(arch.d_model)
    if arch.norm == "layernorm":
        return nn.LayerNorm(arch.d_model, elementwise_affine=True, bias=True)
    return nn.LayerNorm(arch.d_model, elementwise_affine=False)  # "none": non-parametric


def rotary_tables(seq_len: int, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables, shape (seq_len, head_dim): angle(t, i) = t * base^(-2i/head_dim)."""
    inv_freq = ROPE_BASE ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, H, T, Q) queries or keys by position (GPT-NeoX "rotate half" layout)."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return (x * cos + rotated * sin).type_as(x)


class Attention(nn.Module):
    """Causal self-attention: Q (d -> H*Q), K and V (d -> Hkv*Q each), output (H*Q -> d)."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = arch.n_heads, arch.n_kv_heads, arch.head_dim
        self.rotary = arch.position == "rotary"
        self.q = nn.Linear(arch.d_model, arch.attention_width, bias=arch.bias)
        self.k = nn.Linear(arch.d_model, arch.kv_width, bias=arch.bias)
        self.v = nn.Linear(arch.d_model, arch.kv_width, bias=arch.bias)
        self.out = nn.Linear(arch.attention_width, arch.d_model, bias=arch.bias)

    def forward(self, x: torch.Tensor, cos: torch.Tensor | None, sin: torch.Tensor | None) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, Q)
        k = self.k(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        if self.rotary:
            q, k = apply_rotary(q, cos[:t], sin[:t]), apply_rotary(k, cos[:t], sin[:t])  # type: ignore[index]
        if self.n_kv_heads != self.n_heads:  # GQA / MQA: each K/V head serves n_heads / n_kv_heads queries
            repeat = self.n_heads // self.n_kv_heads
            k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim))


class MLP(nn.Module):
    """``down(gelu(up(x)))``, or SwiGLU ``down(silu(gate(x)) * up(x))`` when ``gated_mlp``."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.gate = nn.Linear(arch.d_model, arch.d_ff, bias=arch.bias) if arch.gated_mlp else None
        self.up = nn.Linear(arch.d_model, arch.d_ff, bias=arch.bias)
        self.down = nn.Linear(arch.d_ff, arch.d_model, bias=arch.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate is None:
            return self.down(F.gelu(self.up(x)))
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    """One transformer layer: pre-norm sequential (2 norms) or parallel (1 norm) attention + MLP."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.norm_1 = make_norm(arch)
        self.norm_2 = make_norm(arch) if arch.norms_per_layer == 2 else None
        self.attn = Attention(arch)
        self.mlp = MLP(arch)

    def forward(self, x: torch.Tensor, cos: torch.Tensor | None, sin: torch.Tensor | None) -> torch.Tensor:
        h = self.norm_1(x)
        if self.norm_2 is None:  # parallel block
            return x + self.attn(h, cos, sin) + self.mlp(h)
        x = x + self.attn(h, cos, sin)
        return x + self.mlp(self.norm_2(x))


class GPT(nn.Module):
    """Decoder-only transformer for ``arch``: ``forward(idx (B, T) int64) -> logits (B, T, V)``."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        check_buildable(arch)
        self.arch = arch
        self.token_embedding = nn.Embedding(arch.vocab_size, arch.d_model)
        self.position_embedding = (nn.Embedding(arch.seq_len, arch.d_model)
                                   if arch.position == "learned" else None)
        self.blocks = nn.ModuleList(Block(arch) for _ in range(arch.n_layer))
        self.final_norm = make_norm(arch)
        self.head = None if arch.tied_embeddings else nn.Linear(arch.d_model, arch.vocab_size, bias=False)
        if arch.position == "rotary":
            cos, sin = rotary_tables(arch.seq_len, arch.head_dim)  # type: ignore[arg-type]
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        else:
            self.rope_cos, self.rope_sin = None, None
        self.apply(self._init_weights)
        residual_std = INIT_STD / math.sqrt(2 * arch.n_layer)
        for block in self.blocks:
            nn.init.normal_(block.attn.out.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.mlp.down.weight, mean=0.0, std=residual_std)

    @classmethod
    def from_architecture(cls, arch: Architecture) -> GPT:
        """Same as ``GPT(arch)``."""
        return cls(arch)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def embedding_params(self) -> int:
        """Token embedding + learned position embedding + untied output matrix (parameters)."""
        count = self.token_embedding.weight.numel()
        if self.position_embedding is not None:
            count += self.position_embedding.weight.numel()
        if self.head is not None:
            count += self.head.weight.numel()
        return count

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        _, t = idx.shape
        if t > self.arch.seq_len:
            raise ScalingLabError(f"sequence of {t} tokens exceeds the model's context seq_len={self.arch.seq_len}")
        x = self.token_embedding(idx)
        if self.position_embedding is not None:
            x = x + self.position_embedding(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x, self.rope_cos, self.rope_sin)
        x = self.final_norm(x)
        if self.head is None:
            return x @ self.token_embedding.weight.t()  # tied output head
        return self.head(x)

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy in nats/token (computed in float32)."""
        logits = self(idx)
        return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1))


def count_params(model: GPT, embeddings: bool = True) -> int:
    """Trainable parameters of ``model`` (a tied head counted once); with ``embeddings=False``, minus
    the token embedding, learned position embedding and untied output matrix (Kaplan's N)."""
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total if embeddings else total - model.embedding_params()
