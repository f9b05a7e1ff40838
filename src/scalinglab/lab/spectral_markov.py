"""A dense order-1 Markov source whose transition logits have a power-law singular spectrum.

Why: the sparse random chains of :mod:`scalinglab.lab.markov` are learned too fast for a scaling law.
A transition table of b random successors per token has no structure finer than "seen or not", so the
excess loss of a tiny GPT falls steeply (exponents 0.7 to 1.2 in N and D, docs/lab.md), and the
law's amplitudes A and B are then not identified by a laptop sweep. Real text has structure at every
scale; Maloney, Roberts & Sully 2022 ("A Solvable Model of Neural Scaling Laws", arXiv:2210.16859,
sections 2 and 3) show that data whose feature spectrum decays as a power law give a test loss that
falls as a power law in parameters and in data. This source gives the bigram table such a spectrum.

The chain (vocabulary V, spectral decay g, logit scale s, Zipf exponent z; all seeded), in nats:

    logits(c, y) = s sqrt(V) sum_{k=1..V} k^(-g) u_k(c) w_k(y)  -  z ln(1 + y)
    p(y | c)     = exp(logits(c, y)) / sum_y' exp(logits(c, y'))

with u_k, w_k the columns of two independent Haar-random orthogonal V x V matrices (QR of a standard
Gaussian matrix with R's diagonal made positive: Mezzadri 2007, "How to generate random matrices from
the classical compact groups", section 5). The singular values of the logit matrix (before the Zipf
term, which only adds a rank-one bias per next token) are s sqrt(V) k^(-g): a model whose logits have
rank d (tied embeddings of width d; :mod:`scalinglab.lab.model`) cannot represent the tail k > d, and
a finite sample pins the small-singular-value directions last. The Zipf term gives next tokens (and so
contexts) a rank-frequency law, so that rare contexts are seen, and learned, late.

Every context may be followed by every token (branching = V), so the chain is irreducible and
aperiodic; its stationary distribution and exact entropy rate H (nats/token) are those of
:class:`~scalinglab.lab.markov.MarkovSource` (Cover & Thomas 2006, Theorem 4.2.4).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.special import softmax

from scalinglab.errors import ScalingLabError
from scalinglab.lab.data import TokenData
from scalinglab.lab.markov import MarkovSource, parse_markov_spec, source_token_data

__all__ = ["MAX_SPECTRAL_VOCAB", "markov_corpus", "source_from_options", "spectral_logits", "spectral_probs",
           "spectral_source"]

#: Largest vocabulary of a spectral source: its V x V tables are dense (and sampled from Python lists).
MAX_SPECTRAL_VOCAB = 1024


def _haar_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))  # Mezzadri 2007: makes the QR factor Haar-distributed


def spectral_logits(vocab_size: int, decay: float, scale: float, zipf_s: float, seed: int) -> np.ndarray:
    """The V x V logit matrix of the module docstring (row c: context token, column y: next token; nats).
    With ``zipf_s = 0`` its singular values are exactly ``scale * sqrt(V) * k**-decay``, k = 1..V."""
    for name, value in (("spectrum", decay), ("scale", scale), ("zipf", zipf_s)):
        if not math.isfinite(value) or value < 0 or (name == "scale" and value == 0):
            raise ScalingLabError(f"spectral Markov source: {name} must be a finite number "
                                  f"{'> 0' if name == 'scale' else '>= 0'}, got {value!r}")
    if not 2 <= vocab_size <= MAX_SPECTRAL_VOCAB:
        raise ScalingLabError(f"spectral Markov source: vocab must be 2..{MAX_SPECTRAL_VOCAB}, got {vocab_size}")
    rng = np.random.default_rng(seed)
    u, w = _haar_orthogonal(vocab_size, rng), _haar_orthogonal(vocab_size, rng)
    rank = np.arange(1, vocab_size + 1, dtype=np.float64)
    singular = scale * math.sqrt(vocab_size) * rank ** -decay
    return (u * singular) @ w.T - zipf_s * np.log(rank)[None, :]


def spectral_probs(vocab_size: int, decay: float, scale: float, zipf_s: float, seed: int) -> np.ndarray:
    """The V x V transition probabilities p(y | c) = softmax over y of :func:`spectral_logits` (rows sum to 1)."""
    logits = spectral_logits(vocab_size, decay, scale, zipf_s, seed)
    probs = softmax(logits, axis=1)
    if not np.all(probs > 0):  # exp underflows below about -745 nats: the chain would not be dense
        span = float(np.max(logits.max(axis=1) - logits.min(axis=1)))
        raise ScalingLabError(f"spectral Markov source: scale={scale:g} makes {int(np.sum(probs <= 0))} transition "
                              f"probabilities underflow to 0 (logits spanning {span:.0f} nats in a row); the chain "
                              "would not be dense and its entropy rate not exact: use a smaller scale")
    return probs


def spectral_source(vocab_size: int = 256, decay: float = 0.7, scale: float = 32.0, zipf_s: float = 1.0,
                    seed: int = 0) -> MarkovSource:
    """The order-1 chain of :func:`spectral_probs` as a :class:`MarkovSource` (exact entropy rate)."""
    probs = spectral_probs(vocab_size, decay, scale, zipf_s, seed)
    tokens = np.broadcast_to(np.arange(vocab_size, dtype=np.int64), probs.shape)
    options = {"order": 1, "vocab": vocab_size, "spectrum": float(decay), "scale": float(scale),
               "zipf": float(zipf_s), "seed": int(seed)}
    return MarkovSource.from_table(1, vocab_size, tokens, probs, seed=seed, options=options)


def source_from_options(opts: Mapping[str, float | int], *, vocab_size: int = 64, seed: int = 0) -> MarkovSource:
    """The source a Markov corpus name describes (:func:`scalinglab.lab.markov.parse_markov_spec`'s
    dict): with ``spectrum`` the dense spectral chain of this module (order 1; ``scale`` default 32,
    ``zipf`` default 1; ``branching`` and ``concentration`` do not apply), else the sparse chain of
    :class:`MarkovSource` (order 2, branching 4, zipf 1.1, concentration 1 by default)."""
    vocab, seed = int(opts.get("vocab", vocab_size)), int(opts.get("seed", seed))
    if "spectrum" not in opts:
        if "scale" in opts:
            raise ScalingLabError("corpus markov: option scale needs spectrum=DECAY (the dense spectral chain)")
        return MarkovSource(int(opts.get("order", 2)), vocab, int(opts.get("branching", 4)),
                            float(opts.get("zipf", 1.1)), seed, concentration=float(opts.get("concentration", 1.0)))
    clash = sorted(k for k in ("branching", "concentration") if k in opts)
    if clash or int(opts.get("order", 1)) != 1:
        what = ", ".join(clash) if clash else f"order={opts['order']}"
        raise ScalingLabError(f"corpus markov: the spectral chain (spectrum=...) is dense and of order 1; "
                              f"drop {what}")
    return spectral_source(vocab, float(opts["spectrum"]), float(opts.get("scale", 32.0)),
                           float(opts.get("zipf", 1.0)), seed)


def markov_corpus(name: str, *, vocab_size: int | None = None, val_fraction: float = 0.05,
                  seed: int = 0) -> TokenData:
    """The :class:`TokenData` of a corpus name ``"markov[:options]"`` (either kind of chain): one
    stationary stream of ``tokens`` tokens (default 1,000,000; sample seed = seed + 1), the last
    ``val_fraction`` held out, ``entropy_rate_nats`` = the exact H."""
    opts = parse_markov_spec(name)
    source = source_from_options(opts, vocab_size=vocab_size or 64, seed=seed)
    return source_token_data(source, int(opts.get("tokens", 1_000_000)), val_fraction)
