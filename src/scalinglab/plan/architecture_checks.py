"""Checks of an :class:`~scalinglab.plan.architecture.Architecture`'s fields, run when one is made: counts
are whole numbers >= 1 (layers, channels, heads, tokens), heads divide evenly, choices are known, and the
optional parts (sliding window, multi-head latent attention, mixture of experts) are given together and
only where they apply. Every error is one line naming the architecture and the field, in the wording of
:mod:`scalinglab.errors`. Defaults are filled in here (``n_kv_heads`` = n_heads, ``head_dim`` = d_model //
n_heads). The fields and their meaning are in :mod:`scalinglab.plan.architecture`.
"""

from __future__ import annotations

from typing import Any

from scalinglab.errors import ScalingLabError, choice, positive_count, whole_number

__all__ = ["POSITIONS", "NORMS", "ArchitectureChecks"]

POSITIONS = ("learned", "rotary", "relative", "relative-xl", "alibi", "none")
NORMS = ("layernorm", "rmsnorm", "none")


def _positive_int(name: str, field: str, value: Any) -> int:
    """A positive whole number for ``field`` of architecture ``name`` (the error names both)."""
    return positive_count(f"architecture '{name}': {field}", value)


def _optional_positive(name: str, field: str, value: Any) -> int | None:
    return None if value is None else _positive_int(name, field, value)


class ArchitectureChecks:
    """The checks of :class:`~scalinglab.plan.architecture.Architecture`'s fields, as a base class whose
    ``__post_init__`` runs them when an Architecture is made (it fills in the defaults of ``n_kv_heads`` and
    ``head_dim`` on the frozen instance); a ScalingLabError names the architecture and the first bad
    field. The fields themselves are declared by Architecture."""

    def __post_init__(self) -> None:
        """Check the fields and fill in the defaults (n_kv_heads, head_dim) on the frozen instance; a
        ScalingLabError names the first bad field."""
        name = self.name
        if not isinstance(name, str) or not name.strip():
            raise ScalingLabError(f"architecture name must be a non-empty string, got {name!r}")
        for field in ("n_layer", "d_model", "n_heads", "d_ff", "vocab_size", "seq_len", "n_experts",
                      "n_active_experts"):
            object.__setattr__(self, field, _positive_int(name, field, getattr(self, field)))
        kv = self.n_heads if self.n_kv_heads is None else _positive_int(name, "n_kv_heads", self.n_kv_heads)
        if self.n_heads % kv:
            raise ScalingLabError(f"architecture '{name}': n_heads={self.n_heads} is not divisible by "
                                  f"n_kv_heads={kv}")
        object.__setattr__(self, "n_kv_heads", kv)
        if self.head_dim is None:
            if self.d_model % self.n_heads:
                raise ScalingLabError(f"architecture '{name}': head_dim not given and d_model={self.d_model} "
                                      f"is not divisible by n_heads={self.n_heads}")
            object.__setattr__(self, "head_dim", self.d_model // self.n_heads)
        else:
            object.__setattr__(self, "head_dim", _positive_int(name, "head_dim", self.head_dim))
        self._check_choices()
        self._check_window()
        self._check_latent()
        self._check_experts()

    def _check_choices(self) -> None:
        name = self.name
        for field in ("tied_embeddings", "gated_mlp", "bias", "qkv_bias", "shared_expert_gate", "router_bias"):
            if not isinstance(getattr(self, field), bool):
                raise ScalingLabError(f"architecture '{name}': {field} must be true or false, "
                                      f"got {getattr(self, field)!r}")
        object.__setattr__(self, "position", choice(f"architecture '{name}': position", self.position, POSITIONS))
        object.__setattr__(self, "norm", choice(f"architecture '{name}': norm", self.norm, NORMS))
        object.__setattr__(self, "norms_per_layer",
                           whole_number(f"architecture '{name}': norms_per_layer", self.norms_per_layer))
        if self.n_active_experts > self.n_experts:
            raise ScalingLabError(f"architecture '{name}': n_active_experts={self.n_active_experts} exceeds "
                                  f"n_experts={self.n_experts}")

    def _check_window(self) -> None:
        name = self.name
        window = _optional_positive(name, "sliding_window", self.sliding_window)
        object.__setattr__(self, "sliding_window", window)
        if self.n_local_layers is not None:  # None: every layer when a window is given
            local = whole_number(f"architecture '{name}': n_local_layers", self.n_local_layers,
                                 maximum=self.n_layer)
            if local and window is None:
                raise ScalingLabError(f"architecture '{name}': n_local_layers={local} needs a sliding_window")
            object.__setattr__(self, "n_local_layers", local)

    def _check_latent(self) -> None:
        name = self.name
        for field in ("kv_lora_rank", "q_lora_rank", "rope_head_dim", "v_head_dim"):
            object.__setattr__(self, field, _optional_positive(name, field, getattr(self, field)))
        if self.kv_lora_rank is None:
            given = [f for f in ("q_lora_rank", "rope_head_dim", "v_head_dim") if getattr(self, f) is not None]
            if given:
                raise ScalingLabError(f"architecture '{name}': {given[0]} applies only to multi-head latent "
                                      "attention (give kv_lora_rank)")
            return
        if self.rope_head_dim is None or self.rope_head_dim >= self.head_dim:  # type: ignore[operator]
            raise ScalingLabError(f"architecture '{name}': multi-head latent attention needs rope_head_dim "
                                  f"below head_dim={self.head_dim} (the rotary part of each query/key head), "
                                  f"got {self.rope_head_dim!r}")
        if self.bias or self.qkv_bias:
            raise ScalingLabError(f"architecture '{name}': biases are not supported with multi-head latent "
                                  "attention (DeepSeek-V2/V3 have none)")

    def _check_experts(self) -> None:
        name = self.name
        if self.d_ff_expert is not None:  # None: d_ff
            object.__setattr__(self, "d_ff_expert", _positive_int(name, "d_ff_expert", self.d_ff_expert))
        expert = self.expert_width
        shared = whole_number(f"architecture '{name}': d_ff_shared", self.d_ff_shared)
        dense = whole_number(f"architecture '{name}': n_dense_layers", self.n_dense_layers, maximum=self.n_layer)
        object.__setattr__(self, "d_ff_shared", shared)
        object.__setattr__(self, "n_dense_layers", dense)
        if self.n_experts == 1 and (expert != self.d_ff or shared or dense or self.router_bias):
            raise ScalingLabError(f"architecture '{name}': d_ff_expert, d_ff_shared, n_dense_layers and "
                                  "router_bias apply only to mixture-of-experts shapes (n_experts > 1)")
        if self.shared_expert_gate and not shared:
            raise ScalingLabError(f"architecture '{name}': shared_expert_gate needs d_ff_shared > 0")
