"""Local text datasets read record by record, never whole: JSONL, Parquet, plain text, and Hugging
Face ``datasets`` folders written by ``save_to_disk``.

A *record* is the unit a validation split holds out whole (:mod:`scalinglab.lab.stream_corpus`):

* JSONL (``.jsonl``, ``.ndjson``, ``.json``, each also ``.gz``): one JSON object per non-blank line,
  its text in the field ``text_field`` (default ``"text"``); read line by line (a ``.json`` file holding
  one JSON array is refused at its first line: write it as JSON lines).
* Parquet (``.parquet``, ``.pq``): one row per record, the string column ``text_field``; read in
  batches of :data:`BATCH_ROWS` rows (``pyarrow.parquet.ParquetFile.iter_batches``, one column).
* A ``save_to_disk`` folder (``state.json`` / ``dataset_info.json`` beside ``data-*.arrow``): the Arrow
  files hold the Arrow IPC **stream** format (what ``datasets``' ``ArrowWriter`` writes and its
  ``load_from_disk`` memory-maps); they are read batch by batch from a memory map, in the order
  ``state.json`` lists them (``_data_files``), else sorted by name. A ``DatasetDict`` folder
  (``dataset_dict.json``) is refused with its split names: name the split's folder.
* Plain text (any other file, also ``.gz``; ``.txt``/``.md`` inside folders): one record per line, its line end
  kept (the Hugging Face ``text`` loader's default, ``sample_by="line"``); a line longer than
  :data:`MAX_LINE_BYTES` bytes is cut into records of at most that length, so memory stays bounded.
* A folder of JSONL, Parquet or text files (recursive, sorted by relative path; one kind per folder).

Every record keeps its position ``index`` (0, 1, ...; empty records count too), so a held-out rule
on the index names the same records whatever the tokenizer. Bad input is one line naming the file and
the line or row: a missing field, a value that is not text, a file that is not JSON, Parquet or Arrow,
text that is not UTF-8.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from scalinglab.errors import ScalingLabError

__all__ = ["BATCH_ROWS", "MAX_LINE_BYTES", "TextSource", "open_source"]

BATCH_ROWS = 1024
MAX_LINE_BYTES = 1 << 20
_KINDS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".jsonl.gz": "jsonl", ".json": "jsonl", ".json.gz": "jsonl",
          ".parquet": "parquet", ".pq": "parquet",
          ".arrow": "arrow", ".txt": "text", ".md": "text"}
_FIELD_KINDS = ("jsonl", "parquet", "arrow")


@dataclass(frozen=True)
class TextSource:
    """A dataset on disk: its ``kind`` (jsonl, parquet, arrow, text), its files in reading order and
    the field that holds the text (None for plain text)."""

    path: Path
    kind: str
    files: tuple[Path, ...]
    text_field: str | None

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the kind, the field and each file's path, size and modification time: a
        changed or replaced file gives a new fingerprint (the token cache's key) without reading it."""
        stats = []
        for f in self.files:
            try:
                st = f.stat()
            except OSError as exc:
                raise ScalingLabError(f"corpus file {f}: cannot be read ({exc.strerror})") from None
            stats.append([os.path.realpath(f), st.st_size, st.st_mtime_ns])
        return hashlib.sha256(json.dumps([self.kind, self.text_field, stats]).encode()).hexdigest()

    def records(self) -> Iterator[str]:
        """The records' texts in order (module docstring), read incrementally."""
        reader = {"jsonl": _jsonl, "parquet": _parquet, "arrow": _arrow, "text": _text}[self.kind]
        for f in self.files:
            yield from reader(f, self.text_field)

    def separator(self) -> str:
        """Appended to each record's text before tokenising: a blank line between documents, nothing
        after a line of plain text (which keeps its own line end)."""
        return "" if self.kind == "text" else "\n\n"


def open_source(path: str | os.PathLike[str], text_field: str | None = None) -> TextSource:
    """The dataset at ``path`` (module docstring). ``text_field`` (default ``"text"``) names the
    field of JSONL, Parquet and Arrow records; plain text has none (giving one is an error)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ScalingLabError(f"corpus {path}: no such file or folder (known names: shakespeare, markov)")
    if p.is_dir():
        kind, files = _folder(p)
    else:
        kind, files = _kind_of(p) or "text", (p,)
    if kind == "text":
        if text_field is not None:
            raise ScalingLabError(f"corpus {path}: --text-field applies to JSONL, Parquet and Arrow records, "
                                  f"not plain text (one record per line)")
        return TextSource(p, kind, files, None)
    return TextSource(p, kind, files, text_field or "text")


def _kind_of(f: Path) -> str | None:
    name = f.name.lower()
    return next((k for suffix, k in _KINDS.items() if name.endswith(suffix)), None)


def _folder(p: Path) -> tuple[str, tuple[Path, ...]]:
    if (p / "dataset_dict.json").is_file():
        splits = _json_file(p / "dataset_dict.json").get("splits", [])
        raise ScalingLabError(f"corpus {p}: a DatasetDict folder (splits: {', '.join(map(str, splits)) or 'none'}); "
                              f"name one split's folder, e.g. {p / (str(splits[0]) if splits else 'train')}")
    if (p / "state.json").is_file() or (p / "dataset_info.json").is_file():
        return "arrow", _arrow_files(p)
    found: dict[str, list[Path]] = {}
    for f in sorted((f for f in p.rglob("*") if f.is_file()), key=lambda f: f.relative_to(p).as_posix()):
        kind = _kind_of(f)
        if kind in ("jsonl", "parquet", "text"):
            found.setdefault(kind, []).append(f)
    if not found:
        raise ScalingLabError(f"corpus {p}: the folder has no .txt or .md, .jsonl or .parquet files and is not a "
                              f"Hugging Face save_to_disk folder")
    if len(found) > 1:
        raise ScalingLabError(f"corpus {p}: the folder mixes {' and '.join(sorted(found))} files; "
                              f"point at a folder of one kind")
    kind, files = next(iter(found.items()))
    return kind, tuple(files)


def _arrow_files(p: Path) -> tuple[Path, ...]:
    """The data files of a save_to_disk folder: state.json's ``_data_files`` in order, else
    ``data-*.arrow`` sorted by name."""
    listed = _json_file(p / "state.json").get("_data_files") if (p / "state.json").is_file() else None
    if listed:
        try:
            files = tuple(p / str(entry["filename"]) for entry in listed)
        except (TypeError, KeyError):
            raise ScalingLabError(f"corpus {p / 'state.json'}: _data_files entries need a filename") from None
    else:
        files = tuple(sorted(p.glob("*.arrow")))
    missing = [f.name for f in files if not f.is_file()]
    if missing or not files:
        raise ScalingLabError(f"corpus {p}: save_to_disk folder without its data file(s) "
                              f"{', '.join(missing) or 'data-*.arrow'}")
    return files


def _json_file(f: Path) -> dict[str, Any]:
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScalingLabError(f"corpus file {f}: not readable JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ScalingLabError(f"corpus file {f}: expected a JSON object")
    return doc


# ---- readers: each yields the texts of one file ---------------------------------------------------
def _open_binary(f: Path) -> IO[bytes]:
    try:
        if f.name.lower().endswith(".gz"):
            return gzip.open(f, "rb")
        return open(f, "rb")  # noqa: SIM115 - closed by the reader's with block
    except OSError as exc:
        raise ScalingLabError(f"corpus file {f}: cannot be read ({exc.strerror})") from None


def _lines(f: Path, limit: int = -1) -> Iterator[tuple[int, str]]:
    """(line number from 1, text) of a UTF-8 file: each line with its end, or pieces of at most
    ``limit`` bytes of a longer one (a character cut by a piece's end goes to the next piece)."""
    decoder, line = codecs.getincrementaldecoder("utf-8-sig")(), 1  # a leading byte-order mark is dropped
    try:
        with _open_binary(f) as fh:
            for raw in iter(lambda: fh.readline(limit), b""):
                text = decoder.decode(raw)
                if text:
                    yield line, text
                line += raw.endswith(b"\n")
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ScalingLabError(f"corpus file {f}: not UTF-8 text (line {line})") from None
    except (OSError, EOFError) as exc:
        raise ScalingLabError(f"corpus file {f}: cannot be read at line {line} ({exc})") from None


def _text(f: Path, _field: str | None) -> Iterator[str]:
    for _, line in _lines(f, MAX_LINE_BYTES):
        yield line


def _jsonl(f: Path, field: str | None) -> Iterator[str]:
    assert field is not None
    for lineno, line in _lines(f):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ScalingLabError(f"corpus file {f}: line {lineno} is not JSON ({exc.msg}, column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise ScalingLabError(f"corpus file {f}: line {lineno} is a JSON {type(obj).__name__}, not an object")
        if field not in obj:
            raise ScalingLabError(f"corpus file {f}: line {lineno} has no field {field!r} "
                                  f"(fields: {', '.join(map(str, obj)) or 'none'}; choose one with --text-field)")
        value = obj[field]
        if not isinstance(value, str):
            raise ScalingLabError(f"corpus file {f}: line {lineno}, field {field!r} is "
                                  f"{'null' if value is None else type(value).__name__}, not text")
        yield value


def _column_texts(f: Path, column: Any, field: str, first_row: int) -> list[str]:
    """The texts of one Arrow column chunk (strings; a null is an error naming its row)."""
    import pyarrow as pa

    string_view = getattr(pa.types, "is_string_view", lambda _: False)  # pyarrow >= 16
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type) or string_view(column.type)):
        raise ScalingLabError(f"corpus file {f}: column {field!r} holds {column.type}, not text")
    if column.null_count:
        row = first_row + next(i for i, v in enumerate(column.is_null().to_pylist()) if v)
        raise ScalingLabError(f"corpus file {f}: row {row}, column {field!r} is null")
    return column.to_pylist()


def _check_field(f: Path, names: list[str], field: str) -> None:
    if field not in names:
        raise ScalingLabError(f"corpus file {f}: no column {field!r} (columns: {', '.join(names) or 'none'}; "
                              f"choose one with --text-field)")


def _parquet(f: Path, field: str | None) -> Iterator[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    assert field is not None
    try:
        pf = pq.ParquetFile(f)
    except (OSError, pa.ArrowException) as exc:
        raise ScalingLabError(f"corpus file {f}: not a readable Parquet file ({exc})") from None
    _check_field(f, pf.schema_arrow.names, field)
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=[field]):
            yield from _column_texts(f, batch.column(0), field, row)
            row += batch.num_rows
    except (OSError, pa.ArrowException) as exc:
        raise ScalingLabError(f"corpus file {f}: cannot be read near row {row} ({exc})") from None


def _arrow(f: Path, field: str | None) -> Iterator[str]:
    import pyarrow as pa

    assert field is not None
    try:
        reader = pa.ipc.open_stream(pa.memory_map(str(f)))
    except (OSError, pa.ArrowException) as exc:
        raise ScalingLabError(f"corpus file {f}: not an Arrow IPC stream, the format save_to_disk writes "
                              f"({exc})") from None
    _check_field(f, reader.schema.names, field)
    index, row = reader.schema.get_field_index(field), 0
    try:
        for batch in reader:
            yield from _column_texts(f, batch.column(index), field, row)
            row += batch.num_rows
    except (OSError, pa.ArrowException) as exc:
        raise ScalingLabError(f"corpus file {f}: cannot be read near row {row} ({exc})") from None
