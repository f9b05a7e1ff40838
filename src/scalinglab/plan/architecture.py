"""Decoder-only transformer shapes and their exact parameter counts.

An :class:`Architecture` describes one decoder-only transformer precisely enough that a PyTorch model
built from it has exactly :meth:`Architecture.params` trainable parameters. Every term is counted
(units: parameters, i.e. scalar weights):

* ``embedding``: token embedding, ``vocab_size x d_model``.
* ``position``: learned absolute position embedding, ``seq_len x d_model`` when ``position="learned"``
  (GPT-2/3); none for ``"rotary"`` (Llama, Pythia), ``"relative"``, ``"alibi"`` or ``"none"``. For
  ``"relative-xl"`` (Transformer-XL relative attention, as in Gopher and Chinchilla) each layer has a
  projection ``W_R`` of ``d_model x n_heads*head_dim``, counted under ``attention`` (non-embedding),
  as Hoffmann et al. 2022 count it (Table A4/A9); the per-head content/position bias vectors ``u, v``
  of Transformer-XL are not counted (Hoffmann et al. do not count them either).
* ``attention`` per layer: Q ``d_model x n_heads*head_dim``, K and V ``d_model x n_kv_heads*head_dim``
  each (MHA: n_kv_heads = n_heads; GQA: fewer; MQA: 1), output ``n_heads*head_dim x d_model``;
  with ``bias=True`` also biases of Q, K, V and output (GPT-2/3, Pythia); Llama has none.
* ``mlp`` per layer and expert: ``2 x d_model x d_ff`` weights (up, down), or ``3 x d_model x d_ff``
  with ``gated_mlp=True`` (SwiGLU: gate, up, down); with ``bias=True`` biases of d_ff (two d_ff
  vectors when gated) and d_model. Mixture-of-experts (``n_experts > 1``): every expert is counted,
  plus a router ``d_model x n_experts`` (no bias).
* ``norms``: ``norms_per_layer`` norms per layer (2 in pre-LN blocks; 1 in PaLM/GPT-J parallel blocks)
  plus one final norm. ``norm="layernorm"``: weight and bias, 2 x d_model each; ``"rmsnorm"`` (or a
  bias-free LayerNorm, as PaLM): d_model each; ``"none"``: non-parametric (0, as OLMo).
* ``output``: the output projection (unembedding, "de-embedding"), ``vocab_size x d_model`` when
  ``tied_embeddings=False``, else 0 (shares the token embedding). No output bias.

Embedding parameters (:meth:`params_embedding`) are ``embedding + position + output``; the rest is
Kaplan et al. 2020's N (:meth:`params_non_embedding`), the convention of the Pythia model cards, whose
non-embedding counts exclude both the input embedding and the untied output matrix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scalinglab.errors import ScalingLabError, positive_count

POSITIONS = ("learned", "rotary", "relative", "relative-xl", "alibi", "none")
NORMS = ("layernorm", "rmsnorm", "none")
COMPONENTS = ("embedding", "position", "attention", "mlp", "norms", "output")


def _as_positive_int(name: str, field: str, value: Any) -> int:
    """A positive whole number for ``field`` of architecture ``name`` (the error names both)."""
    return positive_count(f"architecture '{name}': {field}", value)


@dataclass(frozen=True, kw_only=True)
class Architecture:
    """A decoder-only transformer shape (all sizes are counts: layers, channels, heads, tokens).

    ``n_kv_heads`` defaults to ``n_heads`` and ``head_dim`` to ``d_model // n_heads``. ``seq_len`` is the
    training context in tokens (it sets learned position embeddings and the attention FLOP terms).
    ``source`` cites where the shape was published.
    """

    name: str
    n_layer: int
    d_model: int
    n_heads: int
    n_kv_heads: int | None = None
    head_dim: int | None = None
    d_ff: int
    vocab_size: int
    seq_len: int
    tied_embeddings: bool = True
    gated_mlp: bool = False
    bias: bool = False
    position: str = "rotary"
    norm: str = "layernorm"
    norms_per_layer: int = 2
    n_experts: int = 1
    n_active_experts: int = 1
    source: str = ""

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not name.strip():
            raise ScalingLabError(f"architecture name must be a non-empty string, got {name!r}")
        for field in ("n_layer", "d_model", "n_heads", "d_ff", "vocab_size", "seq_len", "n_experts",
                      "n_active_experts"):
            object.__setattr__(self, field, _as_positive_int(name, field, getattr(self, field)))
        kv = self.n_heads if self.n_kv_heads is None else _as_positive_int(name, "n_kv_heads", self.n_kv_heads)
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
            object.__setattr__(self, "head_dim", _as_positive_int(name, "head_dim", self.head_dim))
        self._check_choices()

    def _check_choices(self) -> None:
        name = self.name
        for field in ("tied_embeddings", "gated_mlp", "bias"):
            if not isinstance(getattr(self, field), bool):
                raise ScalingLabError(f"architecture '{name}': {field} must be true or false, "
                                      f"got {getattr(self, field)!r}")
        if self.position not in POSITIONS:
            raise ScalingLabError(f"architecture '{name}': position must be one of {', '.join(POSITIONS)}; "
                                  f"got {self.position!r}")
        if self.norm not in NORMS:
            raise ScalingLabError(f"architecture '{name}': norm must be one of {', '.join(NORMS)}; "
                                  f"got {self.norm!r}")
        if isinstance(self.norms_per_layer, bool) or not isinstance(self.norms_per_layer, int) \
                or self.norms_per_layer < 0:
            raise ScalingLabError(f"architecture '{name}': norms_per_layer must be a non-negative integer, "
                                  f"got {self.norms_per_layer!r}")
        if self.n_active_experts > self.n_experts:
            raise ScalingLabError(f"architecture '{name}': n_active_experts={self.n_active_experts} exceeds "
                                  f"n_experts={self.n_experts}")

    # ---- widths ----------------------------------------------------------------------------------
    @property
    def attention_width(self) -> int:
        """Width of the queries (and of the attention output): ``n_heads * head_dim``."""
        return self.n_heads * self.head_dim  # type: ignore[operator]

    @property
    def kv_width(self) -> int:
        """Width of the keys and of the values: ``n_kv_heads * head_dim``."""
        return self.n_kv_heads * self.head_dim  # type: ignore[operator]

    # ---- per-layer counts ------------------------------------------------------------------------
    def attention_params_per_layer(self, *, biases: bool = True) -> int:
        """Q, K, V, output projections (+ W_R for ``relative-xl``), with their biases when ``bias``."""
        d, q, kv = self.d_model, self.attention_width, self.kv_width
        count = d * q + 2 * d * kv + q * d
        if self.position == "relative-xl":
            count += d * q
        if biases and self.bias:
            count += q + 2 * kv + d
        return count

    def expert_params(self, *, biases: bool = True) -> int:
        """One MLP (one expert): ``(3 if gated else 2) x d_model x d_ff`` weights, plus biases."""
        d, f = self.d_model, self.d_ff
        count = (3 if self.gated_mlp else 2) * d * f
        if biases and self.bias:
            count += (2 if self.gated_mlp else 1) * f + d
        return count

    def mlp_params_per_layer(self, *, biases: bool = True) -> int:
        """All experts of one layer plus the router (``d_model x n_experts``, only when n_experts > 1)."""
        router = self.d_model * self.n_experts if self.n_experts > 1 else 0
        return self.n_experts * self.expert_params(biases=biases) + router

    def norm_params(self) -> int:
        """All norms: ``(n_layer * norms_per_layer + 1)`` norms of 2 d_model (layernorm) or d_model."""
        per_norm = {"layernorm": 2, "rmsnorm": 1, "none": 0}[self.norm] * self.d_model
        return (self.n_layer * self.norms_per_layer + 1) * per_norm

    # ---- totals ----------------------------------------------------------------------------------
    def breakdown(self) -> dict[str, int]:
        """Parameters by component (keys :data:`COMPONENTS`); the values sum to :meth:`params`."""
        d, v = self.d_model, self.vocab_size
        return {
            "embedding": v * d,
            "position": self.seq_len * d if self.position == "learned" else 0,
            "attention": self.n_layer * self.attention_params_per_layer(),
            "mlp": self.n_layer * self.mlp_params_per_layer(),
            "norms": self.norm_params(),
            "output": 0 if self.tied_embeddings else v * d,
        }

    def params(self) -> int:
        """Total trainable parameters, embeddings, output head, norms and biases included."""
        return sum(self.breakdown().values())

    def params_embedding(self) -> int:
        """Token embedding + learned position embedding + untied output matrix (parameters)."""
        b = self.breakdown()
        return b["embedding"] + b["position"] + b["output"]

    def params_non_embedding(self) -> int:
        """Kaplan et al. 2020's N: attention + MLP + norms (with biases); no token or position
        embedding and no output head (tied in Kaplan's models; excluded when untied, as Pythia does)."""
        b = self.breakdown()
        return b["attention"] + b["mlp"] + b["norms"]

    def active_params(self, *, embeddings: bool = True) -> int:
        """Parameters used per token: as :meth:`params` (or, with ``embeddings=False``, as
        :meth:`params_non_embedding`) with only ``n_active_experts`` of the ``n_experts`` MLPs."""
        inactive = self.n_layer * (self.n_experts - self.n_active_experts) * self.expert_params()
        total = self.params() if embeddings else self.params_non_embedding()
        return total - inactive

    def params_weight_matrices(self) -> int:
        """Every weight matrix (embeddings, W_R, attention, MLP, router, output), no norms or biases:
        the N of Hoffmann et al. 2022 (Table A4/A9 counts, references.md A3)."""
        b = self.breakdown()
        return (b["embedding"] + b["position"] + b["output"]
                + self.n_layer * (self.attention_params_per_layer(biases=False)
                                  + self.mlp_params_per_layer(biases=False)))

    def describe(self) -> dict[str, Any]:
        """The shape fields plus the counts (parameters), for listings and JSON."""
        return {**asdict(self), "params": self.params(), "params_non_embedding": self.params_non_embedding(),
                "params_embedding": self.params_embedding(), "active_params": self.active_params(),
                "breakdown": self.breakdown()}
