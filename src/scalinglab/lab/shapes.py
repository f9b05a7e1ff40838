"""The lab's decoder shapes: head dimension by width and one architecture per (depth, width, d_ff).

Pre-norm, rotary positions, LayerNorm, tied embeddings, no biases (:mod:`scalinglab.lab.model`); with
``d_ff = 4 d_model`` a shape has N = 12 L d^2 + 4 L d + 2 d non-embedding parameters (attention 4 d^2,
MLP 8 d^2, two LayerNorms per layer and a final one, 2 d each). Which shape a sweep uses for a target
N is :func:`scalinglab.lab.design.shape_for_params`'s rule.
"""

from __future__ import annotations

from scalinglab.plan.architecture import Architecture

__all__ = ["head_dim_for", "lab_shape"]


def head_dim_for(d_model: int) -> int:
    """Head dimension of the shape rule: 16 below d_model 128, 32 below 256, else 64."""
    return 16 if d_model < 128 else 32 if d_model < 256 else 64


def lab_shape(n_layer: int, d_model: int, vocab_size: int, seq_len: int, d_ff: int | None = None) -> Architecture:
    """The lab's decoder of this depth and width (d_ff = 4 d_model unless given; d_model //
    :func:`head_dim_for` heads, at least one, so a width that is not a multiple of the head dimension,
    e.g. 24, gets fewer, wider heads: one of 24; rotary positions, LayerNorm, tied embeddings, no biases)."""
    hd = head_dim_for(d_model)
    d_ff = 4 * d_model if d_ff is None else d_ff
    suffix = "" if d_ff == 4 * d_model else f"-ff{d_ff}"
    return Architecture(name=f"lab-L{n_layer}-d{d_model}{suffix}", n_layer=n_layer, d_model=d_model,
                        n_heads=max(1, d_model // hd), d_ff=d_ff, vocab_size=vocab_size, seq_len=seq_len,
                        position="rotary", norm="layernorm", tied_embeddings=True, bias=False)
