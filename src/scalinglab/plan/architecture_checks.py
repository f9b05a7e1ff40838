"""Checks of an :class:`~scalinglab.plan.architecture.Architecture`'s fields, run when one is made: counts
are whole numbers >= 1 (layers, channels, heads, tokens), heads divide evenly, choices are known, and the
optional parts (sliding window, multi-head latent attention, mixture of experts) are given together and
only where they apply. Every error is one line naming the architecture and the field, in the wording of
:mod:`scalinglab.errors`. Defaults are filled in here (``n_kv_heads`` = n_heads, ``head_dim`` = d_model //
n_heads). The fields and their meaning are in :mod:`scalinglab.plan.architecture`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scalinglab.errors import ScalingLabError, choice, positive_count, whole_number

if TYPE_CHECKING:  # annotations only: architecture imports this module
    from scalinglab.plan.architecture import Architecture

__all__ = ["POSITIONS", "NORMS", "check_architecture"]

POSITIONS = ("learned", "rotary", "relative", "relative-xl", "alibi", "none")
NORMS = ("layernorm", "rmsnorm", "none")


def _positive_int(name: str, field: str, value: Any) -> int:
    """A positive whole number for ``field`` of architecture ``name`` (the error names both)."""
    return positive_count(f"architecture '{name}': {field}", value)


def _optional_positive(name: str, field: str, value: Any) -> int | None:
    return None if value is None else _positive_int(name, field, value)


def check_architecture(arch: Architecture) -> None:
    """Check ``arch``'s fields and fill in the defaults (n_kv_heads, head_dim) on the frozen instance; a
    ScalingLabError names the first bad field."""
    name = arch.name
    if not isinstance(name, str) or not name.strip():
        raise ScalingLabError(f"architecture name must be a non-empty string, got {name!r}")
    for field in ("n_layer", "d_model", "n_heads", "d_ff", "vocab_size", "seq_len", "n_experts",
                  "n_active_experts"):
        object.__setattr__(arch, field, _positive_int(name, field, getattr(arch, field)))
    kv = arch.n_heads if arch.n_kv_heads is None else _positive_int(name, "n_kv_heads", arch.n_kv_heads)
    if arch.n_heads % kv:
        raise ScalingLabError(f"architecture '{name}': n_heads={arch.n_heads} is not divisible by "
                              f"n_kv_heads={kv}")
    object.__setattr__(arch, "n_kv_heads", kv)
    if arch.head_dim is None:
        if arch.d_model % arch.n_heads:
            raise ScalingLabError(f"architecture '{name}': head_dim not given and d_model={arch.d_model} "
                                  f"is not divisible by n_heads={arch.n_heads}")
        object.__setattr__(arch, "head_dim", arch.d_model // arch.n_heads)
    else:
        object.__setattr__(arch, "head_dim", _positive_int(name, "head_dim", arch.head_dim))
    _check_choices(arch)
    _check_window(arch)
    _check_latent(arch)
    _check_experts(arch)


def _check_choices(arch: Architecture) -> None:
    name = arch.name
    for field in ("tied_embeddings", "gated_mlp", "bias", "qkv_bias", "shared_expert_gate", "router_bias"):
        if not isinstance(getattr(arch, field), bool):
            raise ScalingLabError(f"architecture '{name}': {field} must be true or false, "
                                  f"got {getattr(arch, field)!r}")
    object.__setattr__(arch, "position", choice(f"architecture '{name}': position", arch.position, POSITIONS))
    object.__setattr__(arch, "norm", choice(f"architecture '{name}': norm", arch.norm, NORMS))
    object.__setattr__(arch, "norms_per_layer",
                       whole_number(f"architecture '{name}': norms_per_layer", arch.norms_per_layer))
    if arch.n_active_experts > arch.n_experts:
        raise ScalingLabError(f"architecture '{name}': n_active_experts={arch.n_active_experts} exceeds "
                              f"n_experts={arch.n_experts}")


def _check_window(arch: Architecture) -> None:
    name = arch.name
    window = _optional_positive(name, "sliding_window", arch.sliding_window)
    object.__setattr__(arch, "sliding_window", window)
    if arch.n_local_layers is not None:  # None: every layer when a window is given
        local = whole_number(f"architecture '{name}': n_local_layers", arch.n_local_layers,
                             maximum=arch.n_layer)
        if local and window is None:
            raise ScalingLabError(f"architecture '{name}': n_local_layers={local} needs a sliding_window")
        object.__setattr__(arch, "n_local_layers", local)


def _check_latent(arch: Architecture) -> None:
    name = arch.name
    for field in ("kv_lora_rank", "q_lora_rank", "rope_head_dim", "v_head_dim"):
        object.__setattr__(arch, field, _optional_positive(name, field, getattr(arch, field)))
    if arch.kv_lora_rank is None:
        given = [f for f in ("q_lora_rank", "rope_head_dim", "v_head_dim") if getattr(arch, f) is not None]
        if given:
            raise ScalingLabError(f"architecture '{name}': {given[0]} applies only to multi-head latent "
                                  "attention (give kv_lora_rank)")
        return
    if arch.rope_head_dim is None or arch.rope_head_dim >= arch.head_dim:  # type: ignore[operator]
        raise ScalingLabError(f"architecture '{name}': multi-head latent attention needs rope_head_dim "
                              f"below head_dim={arch.head_dim} (the rotary part of each query/key head), "
                              f"got {arch.rope_head_dim!r}")
    if arch.bias or arch.qkv_bias:
        raise ScalingLabError(f"architecture '{name}': biases are not supported with multi-head latent "
                              "attention (DeepSeek-V2/V3 have none)")


def _check_experts(arch: Architecture) -> None:
    name = arch.name
    if arch.d_ff_expert is not None:  # None: d_ff
        object.__setattr__(arch, "d_ff_expert", _positive_int(name, "d_ff_expert", arch.d_ff_expert))
    expert = arch.expert_width
    shared = whole_number(f"architecture '{name}': d_ff_shared", arch.d_ff_shared)
    dense = whole_number(f"architecture '{name}': n_dense_layers", arch.n_dense_layers, maximum=arch.n_layer)
    object.__setattr__(arch, "d_ff_shared", shared)
    object.__setattr__(arch, "n_dense_layers", dense)
    if arch.n_experts == 1 and (expert != arch.d_ff or shared or dense or arch.router_bias):
        raise ScalingLabError(f"architecture '{name}': d_ff_expert, d_ff_shared, n_dense_layers and "
                              "router_bias apply only to mixture-of-experts shapes (n_experts > 1)")
    if arch.shared_expert_gate and not shared:
        raise ScalingLabError(f"architecture '{name}': shared_expert_gate needs d_ff_shared > 0")
