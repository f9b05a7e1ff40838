"""Reading table files: CSV, TSV, Parquet, JSON lines and JSON arrays of records.

Every failure becomes one :class:`~scalinglab.errors.ScalingLabError` line naming the file; no
pandas, pyarrow or json exception escapes. Validation of the values is :mod:`scalinglab.io`'s job.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from scalinglab.errors import ScalingLabError

__all__ = ["read_table", "short_reason", "TABLE_FORMATS"]

#: File extension -> (reader kind, what the error message says was expected).
TABLE_FORMATS: dict[str, tuple[str, str]] = {
    ".csv": ("csv", "CSV"), ".tsv": ("tsv", "TSV"), ".parquet": ("parquet", "Parquet"),
    ".pq": ("parquet", "Parquet"), ".jsonl": ("jsonl", "JSON lines"),
    ".ndjson": ("jsonl", "JSON lines"), ".json": ("json", "JSON array of records")}


class _EmptyFile(Exception):
    """The file holds no table at all."""


def read_table(path: Path, name: str, is_text: Callable[[str], bool] = lambda col: False) -> pd.DataFrame:
    """Read a table file by extension; every failure becomes a one-line ScalingLabError."""
    if not path.exists():
        raise ScalingLabError(f"{name}: no such file")
    if path.is_dir():
        raise ScalingLabError(f"{name}: is a directory, not a table file")
    kind, expected = TABLE_FORMATS.get(path.suffix.lower(), ("csv", "CSV"))
    try:
        with path.open("rb") as fh:
            head = fh.read(8192)
    except OSError as exc:
        raise ScalingLabError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    if not head:
        raise ScalingLabError(f"{name}: the file is empty")
    try:
        if kind != "parquet" and b"\x00" in head:
            raise ValueError("binary data, not text")
        if kind == "parquet":
            return _read_parquet(path)
        if kind in ("json", "jsonl"):
            return _read_json(path, lines=kind == "jsonl")
        return _read_csv(path, "\t" if kind == "tsv" else ",", is_text)
    except _EmptyFile:
        raise ScalingLabError(f"{name}: the file is empty") from None
    except Exception as exc:  # pandas/pyarrow/json errors of many types
        raise ScalingLabError(
            f"{name}: not a readable table ({expected} expected): {short_reason(exc)}") from None


def _read_csv(path: Path, sep: str, is_text: Callable[[str], bool]) -> pd.DataFrame:
    """CSV/TSV with a header row; group-like columns are read as text."""
    opts: dict[str, Any] = {"sep": sep, "encoding": "utf-8-sig", "low_memory": False}
    try:
        header = pd.read_csv(path, nrows=0, **opts)
    except pd.errors.EmptyDataError:
        raise _EmptyFile() from None
    text = {c: str for c in header.columns if is_text(str(c))}
    return pd.read_csv(path, dtype=text or None, **opts)


def _read_parquet(path: Path) -> pd.DataFrame:
    """Parquet; a named non-default index (e.g. 'model') becomes a column."""
    df = pd.read_parquet(path)
    keep_index = not isinstance(df.index, pd.RangeIndex) and df.index.name not in (None, "row")
    return df.reset_index(drop=not keep_index)


def _read_json(path: Path, lines: bool) -> pd.DataFrame:
    """JSON lines (one object per line) or a JSON array of objects."""
    text = path.read_text(encoding="utf-8-sig")
    if not text.strip():
        raise _EmptyFile()
    if lines:
        return pd.DataFrame(_json_lines(text))
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # JSON lines saved as .json
            return pd.DataFrame(_json_lines(text))
        raise
    if isinstance(obj, list):
        for i, rec in enumerate(obj, 1):
            if not isinstance(rec, dict):
                raise ValueError(f"record {i} is a JSON {_json_type(rec)}, not an object")
        if not obj:
            raise _EmptyFile()
        return pd.DataFrame(obj)
    raise ValueError(f"got a JSON {_json_type(obj)}")


def _json_lines(text: str) -> list[dict[str, Any]]:
    """Parse one JSON object per non-blank line."""
    records = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {lineno}: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise ValueError(f"line {lineno} is a JSON {_json_type(obj)}, not an object")
        records.append(obj)
    return records




def short_reason(exc: BaseException) -> str:
    """A short one-line reason for an exception."""
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _json_type(obj: object) -> str:
    """JSON's name for a parsed value's type."""
    names = {"NoneType": "null", "bool": "boolean", "int": "number", "float": "number",
             "str": "string", "list": "array", "dict": "object"}
    return names.get(type(obj).__name__, type(obj).__name__)


def table_frame(data: object, name: str) -> pd.DataFrame:
    """``data`` as a DataFrame: itself, or the table file at that path (:func:`read_table`); anything
    else is a one-line ScalingLabError naming ``name``."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (str, os.PathLike)):
        return read_table(Path(data), os.fspath(data))
    raise ScalingLabError(f"{name} must be a DataFrame or the path of a table file, got {type(data).__name__}")
