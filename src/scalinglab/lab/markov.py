"""A synthetic token source whose entropy rate is known exactly: a sparse order-k Markov chain.

Why: a scaling-law fit L(N, D) = E + A/N^alpha + B/D^beta should recover, as its irreducible loss E,
the entropy rate of the source. For natural text that number is unknown; for this source it is
computed exactly, so a user (and our tests) can check that the fitted E is right.

The chain (order k, vocabulary V, branching b; all seeded):

* A context is the last k tokens c = (x_1 .. x_k), indexed as sum_i x_i V^(k-i); there are C = V^k.
* Each context allows b next tokens: one "backbone" token (the token that follows c in a de Bruijn
  sequence B(V, k), so that following backbone edges visits every context: the chain is irreducible)
  and b - 1 more, drawn without replacement from a Zipf law p(y) ~ 1 / (y + 1)^s over token ids
  (Gumbel top-k trick), which gives the token marginal its Zipfian (rank-frequency) shape.
* Their probabilities are drawn from a symmetric Dirichlet(concentration) law.

Its stationary distribution pi over contexts solves pi = pi P; it is found by power iteration on the
lazy chain (P + I) / 2, which has the same stationary distribution and converges even when P is
periodic. The entropy rate (Cover & Thomas 2006, Theorem 4.2.4) is then exact, in nats/token:

    H = sum_c pi(c) H(next | c),   H(next | c) = - sum_y p(y | c) ln p(y | c).

A sample starts from a context drawn from pi, so the whole sampled sequence is stationary and its
per-token log-loss under the true model converges to H (ergodic theorem).
"""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.lab.data import TokenData

__all__ = ["MAX_CONTEXTS", "MarkovSource", "de_bruijn", "markov_token_data", "parse_markov_spec", "source_token_data"]

#: Largest number of contexts V^k a source may have (tables of C x b numbers are held in memory).
MAX_CONTEXTS = 1 << 22


def de_bruijn(vocab_size: int, order: int) -> np.ndarray:
    """The de Bruijn sequence B(V, k): a cyclic sequence of V^k tokens in which every k-tuple occurs
    exactly once (the Lyndon-word construction of Fredricksen, Kessler & Maiorana 1978)."""
    out: list[int] = []
    a = [0] * (order + 1)

    def step(t: int, p: int) -> None:  # iterative depth is at most `order`
        if t > order:
            if order % p == 0:
                out.extend(a[1:p + 1])
            return
        a[t] = a[t - p]
        step(t + 1, p)
        for j in range(a[t - p] + 1, vocab_size):
            a[t] = j
            step(t + 1, t)

    step(1, 1)
    return np.asarray(out, dtype=np.int64)


def _backbone(vocab_size: int, order: int) -> np.ndarray:
    """For each context index, the token that follows it in B(V, k) (cyclically)."""
    seq = de_bruijn(vocab_size, order)
    n = seq.size  # = V^k
    ctx = np.zeros(n, dtype=np.int64)
    for i in range(order):  # context starting at position j: seq[j], .., seq[j + k - 1]
        ctx = ctx * vocab_size + np.roll(seq, -i)
    nxt = np.empty(n, dtype=np.int64)
    nxt[ctx] = np.roll(seq, -order)
    return nxt


def _random_tables(order: int, vocab_size: int, branching: int, zipf_s: float, concentration: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(next_tokens, next_probs), each C x b: the allowed next tokens of every context and their
    probabilities (see the module docstring)."""
    n_ctx = vocab_size ** order
    backbone = _backbone(vocab_size, order)
    log_w = -zipf_s * np.log(np.arange(1, vocab_size + 1, dtype=np.float64))
    tokens = np.empty((n_ctx, branching), dtype=np.int64)
    chunk = max(1, (1 << 21) // vocab_size)
    for lo in range(0, n_ctx, chunk):
        hi = min(n_ctx, lo + chunk)
        keys = log_w + rng.gumbel(size=(hi - lo, vocab_size))  # Gumbel top-k = sampling w/o replacement
        keys[np.arange(hi - lo), backbone[lo:hi]] = np.inf  # the backbone token is always allowed
        top = np.argpartition(-keys, branching - 1, axis=1)[:, :branching]
        tokens[lo:hi] = np.sort(top, axis=1)
    probs = rng.dirichlet(np.full(branching, concentration), size=n_ctx)
    return tokens, probs


def _stationary(next_ctx: np.ndarray, probs: np.ndarray, tol: float = 1e-13, max_iter: int = 200_000) -> np.ndarray:
    """Stationary distribution over contexts by power iteration on the lazy chain (P + I) / 2."""
    n_ctx = next_ctx.shape[0]
    pi = np.full(n_ctx, 1.0 / n_ctx)
    flat_next = next_ctx.ravel()
    for _ in range(max_iter):
        moved = np.bincount(flat_next, weights=(pi[:, None] * probs).ravel(), minlength=n_ctx)
        new = 0.5 * (pi + moved)
        new /= new.sum()
        if np.abs(new - pi).sum() < tol:
            return new
        pi = new
    raise ScalingLabError(f"Markov source: stationary distribution did not converge in {max_iter} iterations")


class MarkovSource:
    """A sparse order-k Markov chain over V tokens with an exactly known entropy rate (nats/token).

    ``MarkovSource(order, vocab_size, branching, zipf_s, seed)`` draws a random chain (module
    docstring); :meth:`from_table` takes a hand-built one. Attributes: ``next_tokens`` and
    ``next_probs`` (C x b), ``stationary`` (pi over the C = V^k contexts), ``entropy_rate_nats``.
    """

    def __init__(self, order: int = 2, vocab_size: int = 64, branching: int = 4, zipf_s: float = 1.1,
                 seed: int = 0, *, concentration: float = 1.0) -> None:
        _check_shape(order, vocab_size, branching)
        if not (zipf_s >= 0 and math.isfinite(zipf_s)):
            raise ScalingLabError(f"Markov source: zipf_s must be a finite number >= 0, got {zipf_s!r}")
        if not (concentration > 0 and math.isfinite(concentration)):
            raise ScalingLabError(f"Markov source: concentration must be positive, got {concentration!r}")
        rng = np.random.default_rng(seed)
        tokens, probs = _random_tables(order, vocab_size, branching, zipf_s, concentration, rng)
        self.zipf_s, self.seed, self.concentration = float(zipf_s), int(seed), float(concentration)
        self._set_tables(order, vocab_size, tokens, probs)
        self.options = {"order": self.order, "vocab": self.vocab_size, "branching": self.branching,
                        "zipf": self.zipf_s, "concentration": self.concentration, "seed": self.seed}

    @classmethod
    def from_table(cls, order: int, vocab_size: int, next_tokens: np.ndarray, next_probs: np.ndarray, *,
                   seed: int = -1, options: dict[str, float | int] | None = None) -> MarkovSource:
        """A chain given by its tables: row c of ``next_tokens`` / ``next_probs`` (shape V^k x b) lists
        the tokens allowed after context c and their probabilities (rows sum to 1). ``seed``: the one that
        drew the tables, if any (a sample's seed is seed + 1, :func:`source_token_data`); ``options``:
        the corpus-name keys that built them (default order, vocab and branching)."""
        tokens = np.asarray(next_tokens, dtype=np.int64)
        probs = np.asarray(next_probs, dtype=np.float64)
        _check_shape(order, vocab_size, tokens.shape[1] if tokens.ndim == 2 else 1)
        if tokens.shape != (vocab_size ** order, tokens.shape[1]) or probs.shape != tokens.shape:
            raise ScalingLabError(f"Markov source: next_tokens and next_probs must both have shape (V^k, b) = "
                                  f"({vocab_size ** order}, b); got {tokens.shape} and {probs.shape}")
        if tokens.min() < 0 or tokens.max() >= vocab_size:
            raise ScalingLabError(f"Markov source: next_tokens outside 0..{vocab_size - 1}")
        if probs.min() < 0 or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-9):
            raise ScalingLabError("Markov source: each row of next_probs must be >= 0 and sum to 1")
        self = cls.__new__(cls)
        self.zipf_s, self.seed, self.concentration = float("nan"), int(seed), float("nan")
        self._set_tables(order, vocab_size, tokens, probs)
        self.options = dict(options) if options is not None else {
            "order": self.order, "vocab": self.vocab_size, "branching": self.branching}
        return self

    def _set_tables(self, order: int, vocab_size: int, tokens: np.ndarray, probs: np.ndarray) -> None:
        self.order, self.vocab_size = int(order), int(vocab_size)
        self.n_contexts = vocab_size ** order
        self.branching = tokens.shape[1]
        self.next_tokens, self.next_probs = tokens, probs
        next_ctx = (np.arange(self.n_contexts)[:, None] * vocab_size + tokens) % self.n_contexts
        self.stationary = _stationary(next_ctx, probs)
        plogp = np.where(probs > 0, probs * np.log(np.where(probs > 0, probs, 1.0)), 0.0)
        self.conditional_entropy = -plogp.sum(axis=1)  # H(next | c), nats
        self.entropy_rate_nats = float(self.stationary @ self.conditional_entropy)

    @property
    def entropy_rate_bits(self) -> float:
        """The entropy rate in bits/token: H_nats / ln 2."""
        return self.entropy_rate_nats / math.log(2.0)

    def describe(self) -> str:
        """One line: the chain's shape (:attr:`options`, the corpus-name keys that built it) and its
        entropy rate."""
        shape = " ".join(f"{k}={_option_text(v)}" for k, v in self.options.items())
        return f"markov {shape}: entropy rate {self.entropy_rate_nats:.6f} nats/token"

    def sample(self, n_tokens: int, seed: int = 0) -> np.ndarray:
        """A stationary sample of ``n_tokens`` tokens (int64): the first k tokens are a context drawn
        from pi, every later token is drawn from p(. | previous k tokens)."""
        if int(n_tokens) < self.order + 1:
            raise ScalingLabError(f"Markov source: n_tokens must be at least order + 1 = {self.order + 1}")
        n_tokens = int(n_tokens)
        rng = np.random.default_rng(seed)
        ctx = int(rng.choice(self.n_contexts, p=self.stationary))
        out = np.empty(n_tokens, dtype=np.int64)
        for i in range(self.order):  # the context's tokens, oldest first
            out[self.order - 1 - i] = (ctx // self.vocab_size ** i) % self.vocab_size
        u = rng.random(n_tokens - self.order)
        cum = np.cumsum(self.next_probs, axis=1)
        cum[:, -1] = np.inf  # guard against rounding: u < 1 always lands in some slot
        choice = _walk(ctx, u, cum.tolist(), self.next_tokens.tolist(), self.vocab_size, self.n_contexts)
        out[self.order:] = choice
        return out

    def log_probs(self, tokens: np.ndarray) -> np.ndarray:
        """ln p(x_t | x_{t-k} .. x_{t-1}) under the true chain for t = k .. n-1 (nats; -inf where a
        token is not allowed after its context)."""
        x = np.asarray(tokens, dtype=np.int64)
        if x.ndim != 1 or x.size <= self.order or x.min() < 0 or x.max() >= self.vocab_size:
            raise ScalingLabError(f"Markov source: tokens must be a 1-D array of more than {self.order} ids "
                                  f"in 0..{self.vocab_size - 1}")
        n = x.size - self.order
        ctx = np.zeros(n, dtype=np.int64)
        for i in range(self.order):
            ctx = ctx * self.vocab_size + x[i:i + n]
        nxt = x[self.order:]
        hit = self.next_tokens[ctx] == nxt[:, None]
        p = np.where(hit, self.next_probs[ctx], 0.0).sum(axis=1)
        with np.errstate(divide="ignore"):
            return np.log(p)


def _option_text(value: float | int) -> str:
    """An option as a corpus name writes it: whole numbers in full (seed=1234567), others as ``:g``."""
    return str(value) if isinstance(value, int) else f"{value:g}"


def _walk(ctx: int, u: np.ndarray, cum: list[list[float]], tokens: list[list[int]], vocab: int, n_ctx: int) -> list[int]:
    """The sampling loop (plain Python on lists, a binary search per draw: about 0.5 us/token whatever the
    branching): inverse-CDF draws along the chain (the first slot j with r < cum[j])."""
    out = []
    append = out.append
    for r in u.tolist():
        y = tokens[ctx][bisect_right(cum[ctx], r)]
        append(y)
        ctx = (ctx * vocab + y) % n_ctx
    return out


def _check_shape(order: int, vocab_size: int, branching: int) -> None:
    for field, value, low in (("order", order, 1), ("vocab_size", vocab_size, 2), ("branching", branching, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ScalingLabError(f"Markov source: {field} must be an integer >= {low}, got {value!r}")
    if branching > vocab_size:
        raise ScalingLabError(f"Markov source: branching ({branching}) cannot exceed vocab_size ({vocab_size})")
    if vocab_size ** order > MAX_CONTEXTS:
        raise ScalingLabError(f"Markov source: vocab_size^order = {vocab_size}^{order} contexts is more than "
                              f"{MAX_CONTEXTS:,}; lower the order or the vocabulary")


_SPEC_KEYS = {"order": int, "vocab": int, "branching": int, "zipf": float, "concentration": float,
              "spectrum": float, "scale": float, "seed": int, "tokens": int}


def parse_markov_spec(spec: str) -> dict[str, float | int]:
    """Options of a corpus name ``"markov"`` or ``"markov:order=2,vocab=64,branching=4,zipf=1.1,
    concentration=1,seed=0,tokens=1000000"`` (every key optional) as a dict of the keys given;
    ``spectrum`` and ``scale`` select the dense chain of :mod:`scalinglab.lab.spectral_markov`."""
    head, _, rest = spec.partition(":")
    if head.strip() != "markov":
        raise ScalingLabError(f"corpus {spec!r}: a Markov corpus name starts with 'markov'")
    out: dict[str, float | int] = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = (s.strip() for s in item.partition("="))
        if key not in _SPEC_KEYS or not eq:
            raise ScalingLabError(f"corpus {spec!r}: unknown option {item!r}; use key=value with keys "
                                  f"{', '.join(_SPEC_KEYS)}")
        try:
            number = float(value)
        except ValueError:
            raise ScalingLabError(f"corpus {spec!r}: option {key} needs a number, got {value!r}") from None
        if _SPEC_KEYS[key] is int and not (math.isfinite(number) and number == int(number) and number >= 0):
            raise ScalingLabError(f"corpus {spec!r}: option {key} needs a whole number >= 0, got {value!r}")
        out[key] = int(number) if _SPEC_KEYS[key] is int else number
    return out


def markov_token_data(order: int = 2, vocab_size: int = 64, branching: int = 4, zipf_s: float = 1.1,
                      seed: int = 0, n_tokens: int = 1_000_000, val_fraction: float = 0.05, *,
                      concentration: float = 1.0) -> TokenData:
    """:func:`source_token_data` of ``MarkovSource(order, vocab_size, branching, zipf_s, seed)``."""
    source = MarkovSource(order, vocab_size, branching, zipf_s, seed, concentration=concentration)
    return source_token_data(source, n_tokens, val_fraction)


def source_token_data(source: MarkovSource, n_tokens: int = 1_000_000, val_fraction: float = 0.05) -> TokenData:
    """A :class:`TokenData` sampled from ``source``: one stationary stream of ``n_tokens`` tokens
    (sample seed = the source's seed + 1), the last ``val_fraction`` of it held out,
    ``entropy_rate_nats`` set to the exact H. There is no text behind the tokens, so
    ``bytes_per_token`` is 1.0 by convention (bits per byte then means bits per token)."""
    if not 0.0 < val_fraction < 1.0:
        raise ScalingLabError(f"corpus markov: val_fraction must be between 0 and 1, got {val_fraction!r}")
    stream = source.sample(n_tokens, seed=source.seed + 1)
    n_val = max(2, int(round(stream.size * val_fraction)))
    shape = ",".join(f"{k}={_option_text(v)}" for k, v in source.options.items())
    return TokenData(
        train=stream[:-n_val], val=stream[-n_val:], vocab_size=source.vocab_size, bytes_per_token=1.0,
        name=f"markov:{shape},tokens={n_tokens}",
        notes=[source.describe(), "synthetic tokens: bytes_per_token = 1 by convention (bits/byte = bits/token)"],
        entropy_rate_nats=source.entropy_rate_nats,
    )
