"""A local text dataset (:mod:`scalinglab.lab.text_sources`) tokenised incrementally into a disk cache
of token ids, held-out records as its validation split: :func:`load_text_dataset`.

Memory: records are read in batches of about :data:`BATCH_CHARS` characters, tokenised, and their ids
appended to two files (training, validation) in the cache; the result is a :class:`TokenData` whose
arrays are read-only memory maps of those files. Peak memory is one batch of text and its ids, never
the whole text nor even the whole token array (pages of the maps are loaded as training reads them).

Held-out split (records, never a cut inside one): record ``i`` (its position in the dataset, from 0)
is validation iff u(i) < ``val_fraction`` with u(i) = first 8 bytes of SHA-256(str(i)) / 2^64, a
deterministic uniform draw that ignores the text and the tokenizer, so every tokenizer holds out the
same records. If no record read was drawn, the last one read is held out instead.

Cap ``max_tokens``: reading stops once training + validation ids reach it; the record that would
cross the cap is cut to fit when it is a training record and a record is already held out, else
dropped (so the validation split always holds whole records, and training + validation ids are at
most ``max_tokens``).

Bits per byte: ``bytes_per_token`` = UTF-8 bytes of the validation records (each with the source's
separator, :meth:`TextSource.separator`) / their token count, so
bpb = (validation loss, nats/token) / ln 2 / bytes_per_token is the validation text's bits per byte
for any tokenizer.

Cache: ``$SCALINGLAB_CACHE/tokens-<key>/`` (default ``~/.cache/scalinglab``) with ``train.bin``,
``val.bin`` (uint16 ids when the vocabulary has at most 65,536 tokens, else uint32) and ``meta.json``;
key = SHA-256 of (layout version, the source's fingerprint, the tokenizer's identity, ``max_tokens``,
``val_fraction``). The folder is built under a temporary name and renamed into place, so parallel
workers never read half a cache. Tokenizer ``"bpe"`` is trained on the training records (their first
4 x ``max_tokens`` bytes when capped) and cached as ``bpe-<key>-v<vocab>.json``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from scalinglab.atomic import atomic_write_text
from scalinglab.errors import ScalingLabError
from scalinglab.lab.data import TokenData
from scalinglab.lab.text_sources import TextSource, open_source
from scalinglab.lab.tokenizer_io import (
    TextTokenizer,
    bytes_tokenizer,
    cache_dir,
    check_bpe_vocab,
    file_tokenizer,
    new_byte_bpe,
    tokenizers_module,
    wrap_tokenizer,
)

__all__ = ["BATCH_CHARS", "DEFAULT_BPE_VOCAB", "VAL_RULE", "dataset_tokenizer", "dataset_vocab_size", "held_out",
           "load_text_dataset"]

BATCH_CHARS = 1 << 20
DEFAULT_BPE_VOCAB = 1024
_LAYOUT = 1
VAL_RULE = "record i held out iff int(sha256(str(i))[:8 bytes]) / 2**64 < val_fraction"


def held_out(index: int, val_fraction: float) -> bool:
    """Whether record ``index`` belongs to the validation split (module docstring)."""
    u = int.from_bytes(hashlib.sha256(str(index).encode()).digest()[:8], "big") / 2.0 ** 64
    return u < val_fraction


def load_text_dataset(path: str | os.PathLike[str], tokenizer: str = "bytes", *, text_field: str | None = None,
                      max_tokens: int | None = None, val_fraction: float = 0.05,
                      vocab_size: int | None = None) -> TokenData:
    """The dataset at ``path`` as train/validation token ids (module docstring), from the cache when
    it was tokenised before. ``tokenizer``: "bytes", "bpe" (``vocab_size`` tokens, default 1024) or
    the path of a ``tokenizer.json``. ``TokenData.info`` records the source, the split and the counts."""
    max_tokens = _check_cap(max_tokens)
    source = open_source(path, text_field)
    tok = dataset_tokenizer(source, tokenizer, vocab_size, val_fraction, max_tokens)
    key = _digest([_LAYOUT, source.fingerprint(), tok.identity, max_tokens, val_fraction])
    folder = _cache_root() / f"tokens-{key[:24]}"
    if not (folder / "meta.json").is_file():
        _build(folder, source, tok, max_tokens, val_fraction)
    return _open(folder, str(path), tok)


def _check_cap(max_tokens: Any) -> int | None:
    if max_tokens is None:
        return None
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer)) or max_tokens < 4:
        raise ScalingLabError(f"max_tokens: must be an integer of at least 4, got {max_tokens!r}")
    return int(max_tokens)


def _digest(parts: list[Any]) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _cache_root() -> Path:
    root = cache_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScalingLabError(f"corpus cache {root}: cannot be created ({exc.strerror}); set SCALINGLAB_CACHE "
                              f"to a writable folder") from None
    return root


def dataset_tokenizer(source: TextSource, tokenizer: str, vocab_size: int | None, val_fraction: float,
                      max_tokens: int | None) -> TextTokenizer:
    """The :class:`TextTokenizer` named ``tokenizer`` for ``source`` ("bpe": trained on its training
    records, or loaded from the cache)."""
    if tokenizer == "bytes":
        if vocab_size not in (None, 256):
            raise ScalingLabError(f"corpus {source.path}: byte-level tokens have vocab_size 256; "
                                  f"vocab_size={vocab_size} needs tokenizer 'bpe'")
        return bytes_tokenizer()
    if tokenizer != "bpe":
        if vocab_size is not None:
            raise ScalingLabError(f"tokenizer {tokenizer}: the vocabulary comes from the file; leave vocab_size unset")
        return file_tokenizer(tokenizer)
    vocab = check_bpe_vocab(DEFAULT_BPE_VOCAB if vocab_size is None else vocab_size)
    limit = None if max_tokens is None else 4 * max_tokens
    path = _cache_root() / f"bpe-{_digest([source.fingerprint(), val_fraction, limit])[:16]}-v{vocab}.json"
    tk = tokenizers_module()
    if path.is_file():
        try:
            return wrap_tokenizer(tk.Tokenizer.from_file(str(path)), "bpe")
        except Exception:  # noqa: BLE001 - a damaged cache file: train again and overwrite it
            pass
    backend, trainer = new_byte_bpe(vocab)
    backend.train_from_iterator(_training_texts(source, val_fraction, limit), trainer=trainer)
    atomic_write_text(path, backend.to_str())
    return wrap_tokenizer(backend, "bpe")


def _training_texts(source: TextSource, val_fraction: float, limit: int | None) -> Iterator[str]:
    """The training records' texts (with separators), up to ``limit`` UTF-8 bytes."""
    sep, used = source.separator(), 0
    for i, text in enumerate(source.records()):
        if text and not held_out(i, val_fraction):
            used += len(text.encode("utf-8")) + len(sep)
            yield text + sep
            if limit is not None and used >= limit:
                return


def _batches(source: TextSource) -> Iterator[list[tuple[int, str]]]:
    """(index, text + separator) of the non-empty records, in batches of about BATCH_CHARS characters."""
    sep, batch, size = source.separator(), [], 0
    for i, text in enumerate(source.records()):
        if not text:
            continue
        batch.append((i, text + sep))
        size += len(text)
        if size >= BATCH_CHARS or len(batch) >= 4096:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class _Writer:
    """Appends the ids of whole records to the training and validation files, a cap on their total."""

    def __init__(self, folder: Path, dtype: Any, max_tokens: int | None, val_fraction: float) -> None:
        self.files = {split: open(folder / f"{split}.bin", "wb") for split in ("train", "val")}  # noqa: SIM115
        self.dtype, self.cap, self.val_fraction = dtype, max_tokens, val_fraction
        self.tokens = {"train": 0, "val": 0}
        self.records = {"train": 0, "val": 0}
        self.val_bytes, self.read, self.full = 0, 0, False
        self.last: tuple[np.ndarray, int] | None = None  # the last training record, written one step late
        self.pending: dict[str, list[np.ndarray]] = {"train": [], "val": []}  # written once per batch

    def add(self, index: int, ids: np.ndarray, n_bytes: int) -> None:
        """Record ``index`` (its ids and UTF-8 bytes) into its split; sets ``full`` at the cap."""
        self.read = index + 1
        val = held_out(index, self.val_fraction)
        if self.cap is not None:
            room = self.cap - self.tokens["train"] - self.tokens["val"] - (0 if self.last is None else self.last[0].size)
            if ids.size >= room:
                self.full = True
                if ids.size > room:
                    if val or room <= 0 or self.records["val"] == 0:  # keep the held-back record whole
                        return
                    ids = ids[:room]
        if val:
            self._write("val", ids)
            self.val_bytes += n_bytes
        else:
            self._flush_last()
            self.last = (ids, n_bytes)

    def _write(self, split: str, ids: np.ndarray) -> None:
        self.pending[split].append(ids)
        self.tokens[split] += int(ids.size)
        self.records[split] += 1

    def flush(self) -> None:
        """Append the pending ids to their files (one write per split and batch)."""
        for split, arrays in self.pending.items():
            if arrays:
                np.concatenate(arrays).astype(self.dtype, copy=False).tofile(self.files[split])
                arrays.clear()

    def _flush_last(self) -> None:
        if self.last is not None:
            self._write("train", self.last[0])
            self.last = None

    def finish(self, where: str) -> None:
        """Write the held-back record: to validation when no record was held out (module docstring)."""
        if self.records["val"] == 0 and self.last is not None:
            ids, n_bytes = self.last
            self.last = None
            self._write("val", ids)
            self.val_bytes += n_bytes
        self._flush_last()
        self.flush()
        if self.tokens["train"] == 0:
            raise ScalingLabError(f"corpus {where}: {self.records['val']} record(s) read, all held out for "
                                  f"validation; nothing is left to train on (more records, or a lower val_fraction)")

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()


def _fill(writer: _Writer, source: TextSource, tok: TextTokenizer) -> bool:
    """Tokenise the records into ``writer`` until the end or its cap; whether any record had text."""
    has_text = False
    for batch in _batches(source):
        encoded = tok.encode_batch([text for _, text in batch])
        for (i, text), ids in zip(batch, encoded, strict=True):
            has_text = has_text or bool(text.strip())
            writer.add(i, ids, len(text.encode("utf-8")))
            if writer.full:
                return has_text
        writer.flush()
    return has_text


def _build(folder: Path, source: TextSource, tok: TextTokenizer, max_tokens: int | None,
           val_fraction: float) -> None:
    """Tokenise ``source`` into a fresh cache folder (module docstring)."""
    dtype = np.uint16 if tok.vocab_size <= 1 << 16 else np.uint32
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f"{folder.name}.", suffix=".tmp", dir=folder.parent))
    except OSError as exc:
        raise ScalingLabError(f"corpus cache {folder.parent}: cannot be written ({exc.strerror or exc}); "
                              f"set SCALINGLAB_CACHE to a writable folder") from None
    try:
        writer = _Writer(tmp, dtype, max_tokens, val_fraction)
        try:
            if not _fill(writer, source, tok):
                raise ScalingLabError(f"corpus {source.path}: the text is empty (no record has text)")
            writer.finish(str(source.path))
        finally:
            writer.close()
        meta = {"layout": _LAYOUT, "dtype": np.dtype(dtype).name, "format": source.kind,
                "text_field": source.text_field, "files": len(source.files), "tokenizer": tok.identity,
                "vocab_size": tok.vocab_size, "val_fraction": val_fraction, "val_rule": VAL_RULE,
                "max_tokens": max_tokens, "records_read": writer.read, "train_records": writer.records["train"],
                "val_records": writer.records["val"], "train_tokens": writer.tokens["train"],
                "val_tokens": writer.tokens["val"], "val_bytes": writer.val_bytes, "capped": writer.full}
        atomic_write_text(tmp / "meta.json", json.dumps(meta, indent=1))
        try:
            os.rename(tmp, folder)
        except OSError:  # another process published the same cache first: use theirs
            if not (folder / "meta.json").is_file():
                raise
    except OSError as exc:
        raise ScalingLabError(f"corpus cache {folder.parent}: cannot be written ({exc.strerror or exc}); "
                              f"set SCALINGLAB_CACHE to a writable folder") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _open(folder: Path, name: str, tok: TextTokenizer) -> TokenData:
    """The cached token ids as read-only memory maps, and what they are."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        arrays = {split: np.memmap(folder / f"{split}.bin", dtype=meta["dtype"], mode="r")
                  if meta[f"{split}_tokens"] else np.zeros(0, dtype=meta["dtype"]) for split in ("train", "val")}
    except (OSError, ValueError, KeyError) as exc:
        raise ScalingLabError(f"corpus cache {folder}: unreadable ({exc}); delete the folder to rebuild it") from None
    bytes_per_token = meta["val_bytes"] / max(1, meta["val_tokens"])
    info = {k: meta[k] for k in ("format", "text_field", "tokenizer", "vocab_size", "val_fraction", "val_rule",
                                 "max_tokens", "records_read", "train_records", "val_records", "train_tokens",
                                 "val_tokens", "val_bytes")}
    notes = [f"{meta['format']} dataset: {meta['records_read']:,} records read, {meta['val_records']:,} held out "
             f"({meta['val_tokens']:,} of {meta['train_tokens'] + meta['val_tokens']:,} tokens)"
             + (f", capped at max_tokens={meta['max_tokens']:,}" if meta["capped"] else ""),
             f"tokenizer {tok.name}: {tok.vocab_size:,} tokens, {bytes_per_token:.3f} bytes/token on the validation text"]
    return TokenData(train=arrays["train"], val=arrays["val"], vocab_size=tok.vocab_size,
                     bytes_per_token=bytes_per_token, name=name, notes=notes, info=info)


def dataset_vocab_size(path: str | os.PathLike[str], tokenizer: str = "bytes", *, text_field: str | None = None,
                       max_tokens: int | None = None, val_fraction: float = 0.05, vocab_size: int | None = None) -> int:
    """The vocabulary size a dataset would be tokenised with, after checking that its first records can
    be read (field present, text): what a dry run needs, without tokenising the dataset. Tokenizer
    "bpe" is trained (and cached for the real run)."""
    max_tokens = _check_cap(max_tokens)
    source = open_source(path, text_field)
    first = list(itertools.islice((t for t in source.records() if t.strip()), 1))
    if not first:
        raise ScalingLabError(f"corpus {path}: the text is empty (no record has text)")
    return dataset_tokenizer(source, tokenizer, vocab_size, val_fraction, max_tokens).vocab_size
