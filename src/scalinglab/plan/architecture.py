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
  with ``bias=True`` also biases of Q, K, V and output (GPT-2/3, Pythia); Llama has none; with
  ``qkv_bias=True`` biases of Q, K and V only (Qwen2/Qwen2.5). Multi-head latent attention (MLA,
  DeepSeek-V2/V3, ``kv_lora_rank`` given; DeepSeek-V2 paper arXiv:2405.04434 sec. 2.1, references.md
  C4): query down-projection ``d_model x q_lora_rank`` and up-projection ``q_lora_rank x n_heads*head_dim``
  (or one ``d_model x n_heads*head_dim`` matrix when ``q_lora_rank`` is None), joint KV down-projection
  ``d_model x (kv_lora_rank + rope_head_dim)`` (the latent plus the decoupled rotary key shared by all
  heads), KV up-projection ``kv_lora_rank x n_heads*(head_dim - rope_head_dim + v_head_dim)`` (the
  non-rotary keys and the values), output ``n_heads*v_head_dim x d_model``; ``head_dim`` is the query/key
  head width (non-rotary + rotary parts).
* ``mlp`` per layer: ``2 x d_model x d_ff`` weights (up, down), or ``3 x d_model x d_ff`` with
  ``gated_mlp=True`` (SwiGLU/GeGLU: gate, up, down); with ``bias=True`` biases of d_ff (two d_ff
  vectors when gated) and d_model. Mixture-of-experts (``n_experts > 1``): each of the ``n_layer -
  n_dense_layers`` MoE layers holds ``n_experts`` routed experts of width ``d_ff_expert`` (default
  d_ff), a router ``d_model x n_experts`` (plus a per-expert bias with ``router_bias``, DeepSeek-V3's
  load-balancing bias), and an always-active shared expert of width ``d_ff_shared`` when it is > 0
  (DeepSeek: n_shared_experts x moe_intermediate_size; Qwen2-MoE: shared_expert_intermediate_size, with a
  ``d_model x 1`` gate when ``shared_expert_gate``); the first ``n_dense_layers`` layers
  (DeepSeek's ``first_k_dense_replace``) hold one dense MLP of width d_ff.
* ``norms``: ``norms_per_layer`` norms per layer (2 in pre-LN blocks; 1 in PaLM/GPT-J parallel blocks;
  4 in Gemma-2's pre- and post-norms) plus one final norm, plus MLA's two latent norms (q_lora_rank and
  kv_lora_rank wide) per layer. ``norm="layernorm"``: weight and bias, 2 x d_model each; ``"rmsnorm"`` (or
  a bias-free LayerNorm, as PaLM): d_model each; ``"none"``: non-parametric (0, as OLMo).
* ``output``: the output projection (unembedding, "de-embedding"), ``vocab_size x d_model`` when
  ``tied_embeddings=False``, else 0 (shares the token embedding). No output bias.

Embedding parameters (:meth:`params_embedding`) are ``embedding + position + output``; the rest is
Kaplan et al. 2020's N (:meth:`params_non_embedding`), the convention of the Pythia model cards, whose
non-embedding counts exclude both the input embedding and the untied output matrix. Active parameters
(:meth:`active_params`) drop the routed experts a token does not use (n_experts - n_active_experts per
MoE layer); shared experts, routers and dense layers are always active.

Attention span (references.md C4): ``sliding_window`` W makes ``n_local_layers`` layers (None: all;
Gemma-2 alternates, so half) attend to the last W tokens only, which bounds their KV cache at W tokens
and their attention FLOPs at W keys per query (:meth:`kv_cached_layer_tokens`, :meth:`attended_keys`).

The checks of the fields (and the defaults of ``n_kv_heads`` and ``head_dim``) run when an Architecture is
made: :mod:`scalinglab.plan.architecture_checks`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scalinglab.errors import positive_count
from scalinglab.plan.architecture_checks import NORMS, POSITIONS, ArchitectureChecks  # noqa: F401 (re-exported)

COMPONENTS = ("embedding", "position", "attention", "mlp", "norms", "output")


def _window_keys(tokens: int, window: int, causal: bool) -> float:
    """Keys one query attends to within a window of ``window`` tokens, averaged over the positions of a
    ``tokens``-token sequence: ``min(T, W)`` without a causal mask; with one, the mean of min(t, W) over
    t in [0, T]: T/2 when W >= T, else W - W^2 / (2T) (continuous, as Kaplan's T/2)."""
    if not causal:
        return float(min(tokens, window))
    if window >= tokens:
        return tokens / 2
    return window - window * window / (2 * tokens)


@dataclass(frozen=True, kw_only=True)
class Architecture(ArchitectureChecks):
    """A decoder-only transformer shape (all sizes are counts: layers, channels, heads, tokens).

    ``n_kv_heads`` defaults to ``n_heads`` and ``head_dim`` to ``d_model // n_heads``. ``seq_len`` is the
    training context in tokens (it sets learned position embeddings and the attention FLOP terms).
    ``source`` cites where the shape was published. The fields after ``source`` (sliding window, MLA,
    shared experts, dense layers) are described in the module doc; their defaults give a plain
    transformer.
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
    qkv_bias: bool = False
    sliding_window: int | None = None
    n_local_layers: int | None = None
    kv_lora_rank: int | None = None
    q_lora_rank: int | None = None
    rope_head_dim: int | None = None
    v_head_dim: int | None = None
    d_ff_expert: int | None = None
    d_ff_shared: int = 0
    shared_expert_gate: bool = False
    n_dense_layers: int = 0
    router_bias: bool = False

    # ---- widths ----------------------------------------------------------------------------------
    @property
    def attention_width(self) -> int:
        """Width of the queries (and keys under MLA): ``n_heads * head_dim``."""
        return self.n_heads * self.head_dim  # type: ignore[operator]

    @property
    def expert_width(self) -> int:
        """Hidden width of one routed expert: ``d_ff_expert``, or d_ff when not given."""
        return self.d_ff if self.d_ff_expert is None else self.d_ff_expert

    @property
    def value_head_dim(self) -> int:
        """Width of one value head: ``v_head_dim``, or head_dim when not given."""
        return self.head_dim if self.v_head_dim is None else self.v_head_dim  # type: ignore[return-value]

    @property
    def n_windowed_layers(self) -> int:
        """Layers attending within ``sliding_window``: ``n_local_layers``, all layers when that is None and a
        window is given, 0 without a window."""
        if self.sliding_window is None:
            return 0
        return self.n_layer if self.n_local_layers is None else self.n_local_layers

    @property
    def value_width(self) -> int:
        """Width of the values (and the attention output): ``n_heads * v_head_dim`` (= attention_width
        unless MLA gives its own v_head_dim)."""
        return self.n_heads * self.value_head_dim

    @property
    def kv_width(self) -> int:
        """Width of the keys and of the values: ``n_kv_heads * head_dim``."""
        return self.n_kv_heads * self.head_dim  # type: ignore[operator]

    @property
    def is_latent_attention(self) -> bool:
        """Whether this is multi-head latent attention (``kv_lora_rank`` given)."""
        return self.kv_lora_rank is not None

    @property
    def kv_elements_per_layer_token(self) -> int:
        """KV-cache elements one layer keeps per token (references.md C2, C4): ``2 x n_kv_heads x head_dim``
        (K and V), or under MLA the latent plus the rotary key, ``kv_lora_rank + rope_head_dim``
        (DeepSeek-V2 paper arXiv:2405.04434 sec. 2.1 / Table 1: (d_c + d_h^R) per token per layer)."""
        if self.is_latent_attention:
            return self.kv_lora_rank + self.rope_head_dim  # type: ignore[operator]
        return 2 * self.kv_width

    @property
    def n_moe_layers(self) -> int:
        """Layers with routed experts: ``n_layer - n_dense_layers`` for MoE shapes, else 0."""
        return self.n_layer - self.n_dense_layers if self.n_experts > 1 else 0

    # ---- attention span --------------------------------------------------------------------------
    def kv_cached_layer_tokens(self, context_tokens: int) -> int:
        """Sum over layers of the tokens whose K/V (or latent) a layer keeps at ``context_tokens`` of
        context: ``(n_layer - n_local_layers) T + n_local_layers min(T, sliding_window)`` (layer-tokens)."""
        t = positive_count("context", context_tokens)
        local = self.n_windowed_layers
        window = t if self.sliding_window is None else min(t, self.sliding_window)
        return (self.n_layer - local) * t + local * window

    def attended_keys(self, tokens: int, *, causal: bool = True) -> float:
        """Sum over layers of the keys one query attends to, averaged over a ``tokens``-token sequence:
        ``T/2`` per global layer with a causal mask (Kaplan's convention, references.md A2), ``T`` without
        (Hoffmann's and PaLM's); a sliding-window layer is bounded by the window (:func:`_window_keys`)."""
        t = positive_count("tokens", tokens)
        local = self.n_windowed_layers
        full = t / 2 if causal else float(t)
        window = _window_keys(t, self.sliding_window, causal) if local else 0.0  # type: ignore[arg-type]
        return (self.n_layer - local) * full + local * window

    def attention_score_flops_per_token(self, tokens: int, *, causal: bool = True) -> float:
        """Forward FLOPs per token of the context-dependent attention matmuls, all layers: QK^T and AV,
        ``2 (attention_width + value_width) x attended_keys`` (= Kaplan's ``2 L T d_attn`` for a causal
        plain transformer, references.md A2; windows bound it, references.md C4)."""
        return 2.0 * (self.attention_width + self.value_width) * self.attended_keys(tokens, causal=causal)

    # ---- per-layer counts ------------------------------------------------------------------------
    def attention_params_per_layer(self, *, biases: bool = True) -> int:
        """Q, K, V, output projections (+ W_R for ``relative-xl``), with their biases when ``bias`` (or
        Q, K, V biases with ``qkv_bias``); the MLA projections under latent attention (module doc)."""
        d, q, kv = self.d_model, self.attention_width, self.kv_width
        if self.is_latent_attention:
            rank, rope, h = self.kv_lora_rank, self.rope_head_dim, self.n_heads
            query = d * q if self.q_lora_rank is None else d * self.q_lora_rank + self.q_lora_rank * q
            keys_values = d * (rank + rope) + rank * h * (self.head_dim - rope + self.value_head_dim)  # type: ignore
            return query + keys_values + self.value_width * d  # type: ignore[operator]
        count = d * q + 2 * d * kv + q * d
        if self.position == "relative-xl":
            count += d * q
        if biases and self.bias:
            count += q + 2 * kv + d
        elif biases and self.qkv_bias:
            count += q + 2 * kv
        return count

    def _mlp(self, width: int, biases: bool) -> int:
        """One MLP of hidden width ``width``: ``(3 if gated else 2) x d_model x width``, plus biases."""
        count = (3 if self.gated_mlp else 2) * self.d_model * width
        if biases and self.bias:
            count += (2 if self.gated_mlp else 1) * width + self.d_model
        return count

    def expert_params(self, *, biases: bool = True) -> int:
        """One routed expert (or the one MLP of a dense shape): an MLP of width ``d_ff_expert``."""
        return self._mlp(self.expert_width, biases)

    def shared_params_per_layer(self, *, biases: bool = True) -> int:
        """The always-active shared expert of one MoE layer (width ``d_ff_shared``) and its gate."""
        if not self.d_ff_shared:
            return 0
        return self._mlp(self.d_ff_shared, biases) + (self.d_model if self.shared_expert_gate else 0)

    def mlp_params_per_layer(self, *, biases: bool = True) -> int:
        """One MoE layer: routed experts, router (``d_model x n_experts`` + the bias with ``router_bias``)
        and shared expert; for a dense shape its one MLP."""
        if self.n_experts == 1:
            return self.expert_params(biases=biases)
        router = self.d_model * self.n_experts + (self.n_experts if self.router_bias and biases else 0)
        return self.n_experts * self.expert_params(biases=biases) + router + self.shared_params_per_layer(biases=biases)

    def mlp_params(self, *, biases: bool = True) -> int:
        """All layers' MLPs: ``n_dense_layers`` dense MLPs of width d_ff plus the MoE layers."""
        if self.n_experts == 1:
            return self.n_layer * self.expert_params(biases=biases)
        return self.n_dense_layers * self._mlp(self.d_ff, biases) + self.n_moe_layers * self.mlp_params_per_layer(
            biases=biases)

    def inactive_params(self, *, biases: bool = True) -> int:
        """Routed-expert parameters a token does not use: ``n_moe_layers x (n_experts - n_active_experts)
        x expert_params`` (0 for dense shapes)."""
        return self.n_moe_layers * (self.n_experts - self.n_active_experts) * self.expert_params(biases=biases)

    def active_mlp_weights(self) -> int:
        """MLP weight matrices one token uses, all layers, no biases and no router: dense layers' MLPs,
        ``n_active_experts`` routed experts and the shared expert per MoE layer (the MLP FLOP term)."""
        if self.n_experts == 1:
            return self.n_layer * self.expert_params(biases=False)
        per_moe = self.n_active_experts * self.expert_params(biases=False) + self._mlp(self.d_ff_shared, False)
        return self.n_dense_layers * self._mlp(self.d_ff, False) + self.n_moe_layers * per_moe

    def active_mlp_width(self) -> int:
        """Widest MLP hidden activation one token produces in a layer: d_ff (dense layers), or
        ``n_active_experts x d_ff_expert + d_ff_shared`` (MoE layers)."""
        if self.n_experts == 1:
            return self.d_ff
        moe = self.n_active_experts * self.expert_width + self.d_ff_shared
        return max(moe, self.d_ff) if self.n_dense_layers else moe

    def norm_params(self) -> int:
        """All norms: ``(n_layer * norms_per_layer + 1)`` norms of 2 d_model (layernorm) or d_model, plus
        MLA's latent norms (``q_lora_rank`` and ``kv_lora_rank`` wide, RMSNorm) in every layer."""
        per_norm = {"layernorm": 2, "rmsnorm": 1, "none": 0}[self.norm] * self.d_model
        latent = (self.kv_lora_rank or 0) + (self.q_lora_rank or 0) if self.is_latent_attention else 0
        return (self.n_layer * self.norms_per_layer + 1) * per_norm + self.n_layer * latent

    # ---- totals ----------------------------------------------------------------------------------
    def breakdown(self) -> dict[str, int]:
        """Parameters by component (keys :data:`COMPONENTS`); the values sum to :meth:`params`."""
        d, v = self.d_model, self.vocab_size
        return {
            "embedding": v * d,
            "position": self.seq_len * d if self.position == "learned" else 0,
            "attention": self.n_layer * self.attention_params_per_layer(),
            "mlp": self.mlp_params(),
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
        :meth:`params_non_embedding`) less :meth:`inactive_params` (the routed experts not chosen)."""
        total = self.params() if embeddings else self.params_non_embedding()
        return total - self.inactive_params()

    def params_weight_matrices(self) -> int:
        """Every weight matrix (embeddings, W_R, attention, MLP, router, output), no norms or biases:
        the N of Hoffmann et al. 2022 (Table A4/A9 counts, references.md A3)."""
        b = self.breakdown()
        return (b["embedding"] + b["position"] + b["output"]
                + self.n_layer * self.attention_params_per_layer(biases=False) + self.mlp_params(biases=False))

    def describe(self) -> dict[str, Any]:
        """The shape fields plus the counts (parameters), for listings and JSON."""
        return {**asdict(self), "params": self.params(), "params_non_embedding": self.params_non_embedding(),
                "params_embedding": self.params_embedding(), "active_params": self.active_params(),
                "n_windowed_layers": self.n_windowed_layers, "breakdown": self.breakdown()}
