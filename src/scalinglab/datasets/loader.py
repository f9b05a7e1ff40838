"""Find, verify, download and read the registered public data sets.

Files live in one folder, :func:`data_dir`: ``$SCALINGLAB_DATA`` when set, else the user cache folder
(``$XDG_CACHE_HOME/scalinglab/data`` or ``~/.cache/scalinglab/data``), laid out as
``<data set>/<file>`` (the layout of the published copies). :func:`path` verifies a file's SHA-256
against the registry; a missing file is downloaded from its public source (the raw GitHub URL at the
recorded commit, ``urllib``, 20 s timeout) into that folder through a temporary file that is renamed
only once its checksum matches.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from scalinglab.atomic import atomic_write
from scalinglab.datasets.registry import (
    EXTRA_COLUMNS,
    REGISTRY,
    RUN_COLUMNS,
    Dataset,
    Table,
)
from scalinglab.errors import ScalingLabError
from scalinglab.io import Runs
from scalinglab.io import load_runs as _load_runs
from scalinglab.tables import short_reason

__all__ = [
    "ENV_VAR",
    "cache_dir",
    "data_dir",
    "get",
    "list_datasets",
    "load",
    "load_runs",
    "names",
    "path",
    "sha256_of",
]

ENV_VAR = "SCALINGLAB_DATA"
TIMEOUT_S = 20.0
_CHUNK = 1 << 16


# ------------------------------------------------------------------------------------------ lookup

def names() -> list[str]:
    """Names of the registered data sets."""
    return list(REGISTRY)


def get(name: str, table: str | None = None) -> tuple[Dataset, Table]:
    """The data set and table for ``name`` ("porian2024" or "porian2024/isoflop_points") and ``table``
    (a table name or file name; ``None``: the one in ``name``, else the data set's default)."""
    ds_name, sep, in_name = str(name).partition("/")
    if sep and table is not None and table != in_name:
        raise ScalingLabError(f"datasets: '{name}' names table '{in_name}' but table='{table}' was given")
    ds = REGISTRY.get(ds_name)
    if ds is None:
        raise ScalingLabError(f"datasets: unknown data set '{ds_name}'; known data sets: {', '.join(REGISTRY)}")
    wanted = in_name if sep else table
    t = ds.table(wanted)
    if t is None:
        raise ScalingLabError(f"datasets: data set '{ds.name}' has no table '{wanted}'; its tables: "
                              f"{', '.join(x.name for x in ds.tables)}")
    return ds, t


# ---------------------------------------------------------------------------------------- location

def cache_dir() -> Path:
    """The user cache folder: ``$XDG_CACHE_HOME/scalinglab/data``, else ``~/.cache/scalinglab/data``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "scalinglab" / "data"


def data_dir() -> Path:
    """The data folder: ``$SCALINGLAB_DATA`` when set (and not empty), else :func:`cache_dir`."""
    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env).expanduser() if env else cache_dir()


def _where() -> str:
    return f"{ENV_VAR}" if os.environ.get(ENV_VAR, "").strip() else f"the cache folder ({ENV_VAR} is not set)"


def sha256_of(file: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of the bytes of ``file``."""
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def path(name: str, table: str | None = None, *, download: bool = True) -> Path:
    """Local path of a registered file, checksum verified; downloaded first when missing.

    Raises ScalingLabError when the local file's SHA-256 differs from the registry (naming the file,
    the expected and the actual digest), or when the file is missing and cannot be downloaded
    (``download=False``, no public source, or the download failed: the message gives the reason and
    where to put the file by hand).
    """
    ds, t = get(name, table)
    target = data_dir() / ds.name / t.file
    if target.is_file():
        _verify(target, t)
        return target
    url = ds.raw_url(t)
    missing = f"datasets: {ds.name}/{t.file} is not in {target.parent} ({_where()})"
    by_hand = f"put a copy at {target} (or set {ENV_VAR} to a folder holding {ds.name}/{t.file})"
    if not download:
        raise ScalingLabError(f"{missing} and downloading is off (download=False, --no-download); {by_hand}")
    if url is None:
        raise ScalingLabError(f"{missing} and has no public file to download (it is derived from "
                              f"{ds.repository or 'an unknown repository'}: {t.derived_from or 'unknown files'}); "
                              f"{by_hand}")
    try:
        _download(url, target, t)
    except _DownloadError as exc:
        raise ScalingLabError(f"{missing}; download from {url} failed ({exc}); {by_hand}") from None
    return target


def _verify(file: Path, t: Table) -> None:
    actual = sha256_of(file)
    if actual != t.sha256:
        raise ScalingLabError(f"datasets: checksum mismatch for {file}: expected sha256 {t.sha256}, got {actual} "
                              "(not the registered published file; delete it to download it again)")


class _DownloadError(Exception):
    """A download that failed; the message is the reason."""


def _download(url: str, target: Path, t: Table) -> None:
    """Fetch ``url`` into ``target`` via a temporary file in the same folder (:mod:`scalinglab.atomic`),
    renamed only when its SHA-256 matches ``t.sha256``; on any failure no file is left behind."""
    made = not target.parent.exists()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(target, "wb") as out:
            digest = _fetch_into(url, out, limit=max(2 * t.size, t.size + (1 << 20)))
            if digest != t.sha256:
                raise _DownloadError(f"checksum mismatch: expected sha256 {t.sha256}, got {digest}; nothing was saved")
    except BaseException as exc:
        if made and target.parent.is_dir() and not any(target.parent.iterdir()):
            target.parent.rmdir()  # leave the folder as it was
        if isinstance(exc, OSError):  # the folder or the temporary file could not be made or renamed
            raise _DownloadError(f"cannot write to {target.parent}: {short_reason(exc)}") from None
        raise


def _fetch_into(url: str, out: BinaryIO, limit: int) -> str:
    """Stream ``url`` into the open file ``out``; its SHA-256. At most ``limit`` bytes."""
    h, n = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                n += len(chunk)
                if n > limit:
                    raise _DownloadError(f"more than {limit} bytes, larger than the registered file")
                h.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise _DownloadError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise _DownloadError(short_reason(exc.reason) if isinstance(exc.reason, BaseException)
                             else str(exc.reason)) from None
    except (OSError, ValueError) as exc:  # timeouts, resets, bad URLs
        raise _DownloadError(short_reason(exc) or type(exc).__name__) from None
    return h.hexdigest()


# ----------------------------------------------------------------------------------------- reading

def load(name: str, table: str | None = None, *, download: bool = True) -> pd.DataFrame | dict[str, Any]:
    """The table as published: a DataFrame with the source's own column names (a two-row header
    flattened to "top sub"), or the parsed object for a JSON file. :func:`load_runs` gives the
    canonical columns. The file is found (and if need be downloaded) by :func:`path`."""
    ds, t = get(name, table)
    file = path(ds.name, t.name, download=download)
    try:
        if t.format == "json":
            with open(file, encoding="utf-8") as f:
                return json.load(f)
        if t.header_rows == 2:
            return _flatten_header(pd.read_csv(file, header=[0, 1], low_memory=False))
        return pd.read_csv(file, low_memory=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ScalingLabError(f"datasets: cannot read {file}: {short_reason(exc)}") from None


def _flatten_header(df: pd.DataFrame) -> pd.DataFrame:
    """Two header rows -> one: blank top cells take the metric on their left; "wikitext ppl"."""
    names, top = [], ""
    for first, second in df.columns:
        first = "" if str(first).startswith("Unnamed:") else str(first).strip()
        second = "" if str(second).startswith("Unnamed:") else str(second).strip()
        top = first or top
        names.append(f"{first or top} {second}".strip() if second else (first or top))
    df.columns = names
    return df


def load_runs(name: str, table: str | None = None, *, group: str | None = None, drop_highest_loss: int = 0,
              download: bool = True) -> Runs:
    """A registered table of runs with its columns mapped onto scalinglab's canonical ones.

    Applies the registry's column mapping through :func:`scalinglab.load_runs` (params [count, with or
    without embeddings as the registry's ``params_convention`` says], tokens, flops [FLOPs], loss
    [nats/token], ...); the notes record the data set and the params convention. ``group`` keeps only
    the rows of one group (e.g. one Porian et al. configuration); ``drop_highest_loss`` is passed on
    (Besiroglu et al. 2024 drop 5 rows of ``epoch_chinchilla``, leaving 240).
    """
    ds, t = get(name, table)
    if not t.is_runs:
        runs_tables = [f"{d.name}/{x.name}" for d in REGISTRY.values() for x in d.tables if x.is_runs]
        raise ScalingLabError(f"datasets: {ds.name}/{t.name} is not a table of runs; read it with load(); "
                              f"tables of runs: {', '.join(runs_tables)}")
    df = load(ds.name, t.name, download=download)
    frame, mapping = _apply_mapping(df, t)
    label = f"{ds.name}/{t.name}"
    runs = _load_runs(frame, columns=mapping, drop_highest_loss=0 if group is not None else drop_highest_loss)
    runs.source = label
    runs.notes[:0] = [f"data set {label} ({t.file}); params: {t.params_convention or 'convention not stated'}"]
    if group is not None:
        runs = _only_group(runs, group)
        if drop_highest_loss:
            runs = _load_runs(runs, drop_highest_loss=drop_highest_loss)
    return runs


def _apply_mapping(df: pd.DataFrame, t: Table) -> tuple[pd.DataFrame, dict[str, str]]:
    """A copy of ``df`` with joined-label and duplicate-use columns added; the plain mapping."""
    frame, mapping, used = df.copy(), {}, set()
    for canon, src in (t.columns or {}).items():
        if isinstance(src, tuple):
            col = "/".join(src)
            frame[col] = frame[list(src)].astype(str).agg("/".join, axis=1)
        elif src in used:  # the same source column feeds two canonical names (e.g. flops and budget)
            col = f"{src} ({canon})"
            frame[col] = frame[src]
        else:
            col = src
        used.add(col)
        if canon in RUN_COLUMNS:
            mapping[canon] = col
        elif canon in EXTRA_COLUMNS:
            frame[canon] = frame[col]
    for canon, (numerator, denominator) in (t.ratios or {}).items():
        frame[canon] = pd.to_numeric(frame[numerator], errors="coerce") / pd.to_numeric(frame[denominator],
                                                                                         errors="coerce")
        if canon in RUN_COLUMNS:
            mapping[canon] = canon
    return frame, mapping


def _only_group(runs: Runs, group: str) -> Runs:
    if not runs.has("group"):
        raise ScalingLabError(f"datasets: {runs.source} has no group column; group='{group}' cannot be chosen")
    labels = runs.data["group"].astype(str)
    if group not in set(labels):
        raise ScalingLabError(f"datasets: {runs.source} has no group '{group}'; its groups: "
                              f"{', '.join(sorted(set(labels)))}")
    kept = runs.data[labels == group]
    return Runs(data=kept, source=f"{runs.source} [group {group}]",
                notes=[*runs.notes, f"kept group '{group}': {len(kept)} of {len(labels)} rows"])


# ---------------------------------------------------------------------------------------- listing

def list_datasets() -> pd.DataFrame:
    """One row per registered table: name, table, default (bool), runs (bool: ``load_runs`` accepts
    it), rows (data rows when the file is local, else None), description, citation, licence, source
    (where the file comes from; "unknown" parts where the README does not say), local (bool: the file
    is in :func:`data_dir`; its checksum is checked by :func:`path`, not here)."""
    base, rows = data_dir(), []
    for ds in REGISTRY.values():
        for t in ds.tables:
            local = (base / ds.name / t.file).is_file()
            rows.append({"name": ds.name, "table": t.name, "default": t.name == ds.default, "runs": t.is_runs,
                         "rows": t.rows if local else None, "description": t.description,
                         "citation": str(ds.citation), "licence": ds.licence, "source": ds.source(t),
                         "local": local})
    df = pd.DataFrame(rows)
    df["rows"] = df["rows"].astype("Int64")
    return df
