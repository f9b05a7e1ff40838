"""Tokenizers of the lab's corpora behind one interface (:class:`TextTokenizer`), and the cache folder.

* ``"bytes"``: the UTF-8 bytes, vocabulary 256.
* ``"bpe"``: a byte-level BPE (GPT-2 style pre-tokenisation, no special tokens) trained with the
  ``tokenizers`` package (:func:`new_byte_bpe`; trained by :mod:`scalinglab.lab.corpus` and
  :mod:`scalinglab.lab.stream_corpus`).
* A path: a ``tokenizer.json`` of the ``tokenizers`` package (``Tokenizer.from_file``), e.g. one
  saved with ``tokenizer.save(...)`` or shipped beside a Hugging Face model; its vocabulary size is
  ``get_vocab_size(with_added_tokens=True)``. Texts are encoded without special tokens
  (``add_special_tokens=False``), so a token stands for source text only and bits per byte stay exact.

Every tokenizer has an ``identity`` (``"bytes"``, or ``sha256:<hex>`` of its JSON) that keys caches.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError

__all__ = ["TOKENIZERS", "TextTokenizer", "bytes_tokenizer", "cache_dir", "check_bpe_vocab", "file_tokenizer",
           "is_tokenizer_path", "new_byte_bpe", "tokenizers_module", "wrap_tokenizer"]

TOKENIZERS = ("bytes", "bpe")


def cache_dir() -> Path:
    """$SCALINGLAB_CACHE, else ~/.cache/scalinglab (created on first use)."""
    return Path(os.environ.get("SCALINGLAB_CACHE") or Path.home() / ".cache" / "scalinglab").expanduser()


def tokenizers_module(what: str = "tokenizer 'bpe'") -> Any:
    """The ``tokenizers`` package, or a one-line error naming the extra that installs it."""
    try:
        import tokenizers
    except ImportError:
        raise ScalingLabError(f"{what} needs the 'tokenizers' package: pip install 'scalinglab[lab]' "
                              "(or pip install tokenizers)") from None
    return tokenizers


def is_tokenizer_path(name: str) -> bool:
    """Whether a tokenizer name is meant as a file: not bytes/bpe, and a path (a separator, a
    ``.json`` ending, or an existing file)."""
    return name not in TOKENIZERS and (os.sep in name or "/" in name or name.lower().endswith(".json")
                                       or Path(name).expanduser().is_file())


def check_bpe_vocab(vocab_size: Any) -> int:
    """``vocab_size`` as an int from 257 to 2^20 (a BPE needs the 256 bytes and at least one merge)."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or not 257 <= vocab_size <= 1 << 20:
        raise ScalingLabError(f"tokenizer bpe: vocab_size must be an integer from 257 to {1 << 20}, got {vocab_size!r}")
    return int(vocab_size)


def new_byte_bpe(vocab_size: int) -> tuple[Any, Any]:
    """An untrained byte-level BPE ``tokenizers.Tokenizer`` and its trainer for ``vocab_size`` tokens."""
    tk = tokenizers_module()
    tokenizer = tk.Tokenizer(tk.models.BPE())
    tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tk.decoders.ByteLevel()
    trainer = tk.trainers.BpeTrainer(vocab_size=check_bpe_vocab(vocab_size), show_progress=False, special_tokens=[],
                                     initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet())
    return tokenizer, trainer


@dataclass(frozen=True)
class TextTokenizer:
    """A tokenizer as the corpora use it: ``name`` (bytes, bpe or the file's path), ``vocab_size``,
    ``identity`` (module docstring) and the ``tokenizers.Tokenizer`` behind it (None for bytes)."""

    name: str
    vocab_size: int
    identity: str
    backend: Any = None

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        """Token ids of each text (uint8 arrays of the bytes for byte-level tokens, else int64)."""
        if self.backend is None:
            return [np.frombuffer(t.encode("utf-8"), dtype=np.uint8) for t in texts]
        return [np.asarray(e.ids, dtype=np.int64)
                for e in self.backend.encode_batch(texts, add_special_tokens=False)]


def bytes_tokenizer() -> TextTokenizer:
    """UTF-8 bytes: vocabulary 256, one token per byte."""
    return TextTokenizer("bytes", 256, "bytes")


def wrap_tokenizer(backend: Any, name: str) -> TextTokenizer:
    """A ``tokenizers.Tokenizer`` as a :class:`TextTokenizer` (identity: SHA-256 of its JSON)."""
    digest = hashlib.sha256(backend.to_str().encode("utf-8")).hexdigest()
    return TextTokenizer(name, int(backend.get_vocab_size(with_added_tokens=True)), f"sha256:{digest}", backend)


def file_tokenizer(path: str | os.PathLike[str]) -> TextTokenizer:
    """The tokenizer saved in a ``tokenizer.json`` file; a missing or unreadable file is one line naming it."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ScalingLabError(f"tokenizer {path}: no such file (choose bytes, bpe or the path of a tokenizer.json)")
    tk = tokenizers_module(f"tokenizer {path}")
    try:
        backend = tk.Tokenizer.from_file(str(p))
    except Exception as exc:  # noqa: BLE001 - the tokenizers package raises bare Exceptions for bad files
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScalingLabError(f"tokenizer {path}: not a readable tokenizer.json ({first})") from None
    if backend.get_vocab_size(with_added_tokens=True) < 1:
        raise ScalingLabError(f"tokenizer {path}: the vocabulary is empty")
    return wrap_tokenizer(backend, str(path))
