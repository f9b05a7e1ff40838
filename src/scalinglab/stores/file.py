"""The run store as a file: how it is checked, created, read without a trace and migrated, and how
SQLite's failures become one-line errors. :class:`~scalinglab.stores.run_store.RunStore` opens every store
through :func:`open_connection`.

Checked before anything is written (and before anything is read): the path is a readable regular
file that is not empty (a 0-byte file is refused, never turned into a store), starts with SQLite's
16-byte header, passes ``PRAGMA quick_check`` (a file with damaged pages is refused), has table
``meta`` with a ``schema_version`` this scalinglab understands, and tables sweeps, runs and metrics
with their columns. A write also needs the file and its folder writable (SQLite keeps its ``-wal``
and ``-shm`` files beside the store while it writes). Any failure raises :class:`StoreError` (a
ScalingLabError: one line, CLI exit 2) naming the file and what is wrong, and the file is left
byte for byte as it was. The one exception is a SQLite file without any table (an empty database):
a write makes it a store, a read refuses it.

Reading without a trace. A read never opens the store file for writing and never creates a
``-wal``, ``-shm`` or ``-journal`` file beside it (so it works in a read-only folder, on a read-only
file, and leaves nothing behind when it fails):

- when no writer is at work (no ``-wal`` file with content beside the store, no ``-journal``), the
  file's bytes are read into memory (checked unchanged before and after the read, else read again)
  and queried there (``sqlite3_deserialize``), like SQLite's ``immutable`` mode but safe should a
  writer start meanwhile (where Python's SQLite lacks ``deserialize``, the file is opened with
  ``mode=ro&immutable=1`` instead);
- otherwise (a sweep is writing, or one was killed before it could fold its log back into the
  file) the store is opened with ``mode=ro`` through SQLite's locks, which reads the log too; the
  ``-wal``/``-shm`` files are then the writer's own.

Creating. A new store is built under a temporary name in the same folder and linked into place
once complete, so a store path never holds a half-created store, and a crash leaves nothing there.

Schema versions. 1: the first release. 2 adds ``runs.attempt`` (the token of a run's current
attempt, see :meth:`RunStore.start_run`) and ``runs.evals`` (the evaluations its curve must hold to
be finished). 3 adds ``metrics.lr`` (the learning rate of the last optimiser step before each
evaluation, which the schedule law reads: :mod:`scalinglab.analysis.schedule`). An older store is read
as it is (``lr`` reads as missing, the new run columns as None); the first write transaction migrates
it to :data:`SCHEMA_VERSION` (the new columns NULL for the rows it holds), in the same transaction as
that write.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from pathlib import Path

from scalinglab._version import __version__
from scalinglab.errors import ScalingLabError

__all__ = ["SCHEMA_VERSION", "SQLITE_MAGIC", "STORE_SUFFIXES", "StaleAttemptError", "StoreError", "check",
           "create_schema", "is_store_file", "migrate", "open_connection", "sqlite_error"]

SCHEMA_VERSION = 3
SQLITE_MAGIC = b"SQLite format 3\x00"
#: finished runs whose curve is shorter than their scheduled evaluations: (id, evaluations stored, due)
INCOMPLETE_FINISHED_RUNS = ("SELECT id, (SELECT COUNT(*) FROM metrics m WHERE m.run_id = runs.id) AS have, evals "
                            "FROM runs WHERE status = 'finished' AND evals IS NOT NULL AND have < evals")
STORE_SUFFIXES: tuple[str, ...] = (".db", ".sqlite", ".sqlite3")
SIDECARS = ("-wal", "-shm", "-journal")
#: Whether this Python's sqlite3 can query a copy in memory (``Connection.deserialize``, SQLite >= 3.36).
DESERIALIZE = hasattr(sqlite3.Connection, "deserialize")

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sweeps (id INTEGER PRIMARY KEY, name TEXT NOT NULL, design TEXT NOT NULL,
                     created_at TEXT NOT NULL);
CREATE TABLE runs (
  id INTEGER PRIMARY KEY, sweep_id INTEGER NOT NULL REFERENCES sweeps(id),
  config TEXT NOT NULL, config_hash TEXT NOT NULL, seed INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'running', 'finished', 'failed')),
  device TEXT, wall_seconds REAL, code_version TEXT, params INTEGER, params_non_embedding INTEGER,
  tokens INTEGER, flops REAL, final_val_loss REAL, final_val_bpb REAL,
  started_at TEXT, finished_at TEXT, error TEXT, attempt TEXT, evals INTEGER,
  UNIQUE (sweep_id, config_hash, seed));
CREATE TABLE metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, step INTEGER NOT NULL,
  tokens INTEGER NOT NULL, flops REAL, train_loss REAL, val_loss REAL, val_bpb REAL,
  grad_noise_scale REAL, lr REAL, PRIMARY KEY (run_id, step));
CREATE INDEX runs_by_sweep ON runs (sweep_id, status);
"""

#: The columns each table must have, by schema version.
_V1_COLUMNS: dict[str, tuple[str, ...]] = {
    "meta": ("key", "value"),
    "sweeps": ("id", "name", "design", "created_at"),
    "runs": ("id", "sweep_id", "config", "config_hash", "seed", "status", "device", "wall_seconds",
             "code_version", "params", "params_non_embedding", "tokens", "flops", "final_val_loss",
             "final_val_bpb", "started_at", "finished_at", "error"),
    "metrics": ("run_id", "step", "tokens", "flops", "train_loss", "val_loss", "val_bpb", "grad_noise_scale"),
}
_V2_COLUMNS = {**_V1_COLUMNS, "runs": (*_V1_COLUMNS["runs"], "attempt", "evals")}
COLUMNS: dict[int, dict[str, tuple[str, ...]]] = {
    1: _V1_COLUMNS, 2: _V2_COLUMNS, 3: {**_V2_COLUMNS, "metrics": (*_V2_COLUMNS["metrics"], "lr")}}


def is_store_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` looks like a run store: a store suffix, or a SQLite file by its magic header."""
    p = Path(path)
    if p.suffix.lower() in STORE_SUFFIXES:
        return True
    try:
        with p.open("rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    except OSError:
        return False


class StoreError(ScalingLabError):
    """The store file cannot be used or written: damaged, not a store, read-only, full, locked."""


class StaleAttemptError(StoreError):
    """A write from an attempt of a run that has since been restarted (by another process): refused."""


def sqlite_error(name: str, exc: BaseException, doing: str) -> StoreError:
    """One line for a SQLite failure while ``doing`` something with the store ``name``."""
    code = str(getattr(exc, "sqlite_errorname", ""))
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if code.startswith("SQLITE_FULL") or "disk is full" in text:
        return StoreError(f"{name}: the disk is full: cannot {doing}; the store keeps everything committed "
                          "before; free some space and run the same command again")
    if code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text or "not a database" in text:
        return StoreError(f"{name}: cannot {doing}: the run store is damaged ({text}); restore it from a backup")
    if code.startswith("SQLITE_READONLY"):
        return StoreError(f"{name}: cannot {doing}: the store is read-only ({text})")
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreError(f"{name}: cannot {doing}: the store is locked by another process ({text}); "
                          "try again when it is done")
    return StoreError(f"{name}: cannot {doing} ({text})")


def _writable(path: Path) -> bool:
    """Whether this process may write ``path`` (a file, or a folder to create files in)."""
    return os.access(path, os.W_OK)


def _sidecar(path: Path, suffix: str) -> Path:
    return Path(f"{path.resolve()}{suffix}")


def _size(path: Path) -> int:
    """The size of ``path`` in bytes; -1 when it does not exist."""
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _stamp(path: Path) -> tuple[int, int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _writer_at_work(path: Path) -> bool:
    """A log beside the store with content (a writer is at work, or was killed before folding it
    back), or a rollback journal: the file alone is not the store's committed state."""
    return _size(_sidecar(path, "-wal")) > 0 or _size(_sidecar(path, "-journal")) >= 0


def _snapshot(path: Path, name: str) -> sqlite3.Connection | None:
    """The file's committed state as an in-memory database, or None when a writer is at work."""
    if not DESERIALIZE:  # SQLite built without it: immutable mode, reading the file in place
        if _writer_at_work(path):
            return None
        try:
            return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        except sqlite3.Error as exc:
            raise sqlite_error(name, exc, "read the run store") from None
    for _ in range(5):
        if _writer_at_work(path):
            return None
        try:
            before = _stamp(path)
            data = bytearray(path.read_bytes())
            unchanged = _stamp(path) == before
        except OSError as exc:
            raise StoreError(f"{name}: cannot read the run store ({exc.strerror or exc})") from None
        if unchanged:
            break
    else:
        return None
    if data[18:20] == b"\x02\x02":  # WAL mode: an in-memory copy is a plain (rollback) database
        data[18:20] = b"\x01\x01"
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(bytes(data))
        conn.execute("PRAGMA query_only=ON")
    except sqlite3.Error as exc:
        conn.close()
        raise sqlite_error(name, exc, "read the run store") from None
    return conn


def read_connection(path: Path, name: str) -> sqlite3.Connection:
    """A connection that reads the store and writes nothing, not even a sidecar (module docstring)."""
    conn = _snapshot(path, name)
    if conn is not None:
        return conn
    try:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
    except sqlite3.Error as exc:
        raise sqlite_error(name, exc, "read the run store") from None


def inspect(conn: sqlite3.Connection, name: str) -> int | None:
    """The schema version of a valid store on ``conn``, None for a database without any table;
    StoreError for a damaged file, a foreign database, a half-created store or a newer schema."""
    try:
        check = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
        if check != ["ok"]:
            problem = " ".join(check[-1].split()) if check else "no answer"
            raise StoreError(f"{name}: the run store is damaged (SQLite's quick_check: {problem}); restore it "
                             "from a backup")
        tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return None
        if "meta" not in tables:
            raise StoreError(f"{name}: not a scalinglab run store (a SQLite database with tables "
                             f"{', '.join(sorted(tables))} and no table meta)")
        meta_columns = {str(r[1]) for r in conn.execute("PRAGMA table_info(meta)")}
        row = (conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
               if {"key", "value"} <= meta_columns else None)
        version = int(row[0]) if row and str(row[0]).isdigit() else None
        if version is None or version < 1:
            raise StoreError(f"{name}: not a scalinglab run store (no schema_version in table meta)")
        if version > SCHEMA_VERSION:
            raise StoreError(f"{name}: store schema {version} is newer than this scalinglab understands "
                             f"({SCHEMA_VERSION}); upgrade scalinglab to read it")
        missing = [t for t in COLUMNS[version] if t not in tables]
        if missing:
            raise StoreError(f"{name}: an incomplete run store: table{'s' * (len(missing) > 1)} "
                             f"{', '.join(missing)} missing (it has {', '.join(sorted(tables))}); it was not made "
                             "by a complete scalinglab store creation, restore it from a backup")
        for table, wanted in COLUMNS[version].items():
            have = {str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")}
            lacking = [c for c in wanted if c not in have]
            if lacking:
                raise StoreError(f"{name}: the run store is damaged: table {table} lacks column"
                                 f"{'s' * (len(lacking) > 1)} {', '.join(lacking)}")
    except sqlite3.Error as exc:
        raise sqlite_error(name, exc, "read the run store") from None
    return version


def check(path: Path, name: str, write: bool) -> int | None:
    """Check the store at ``path`` for a read or a ``write`` without changing anything (module
    docstring). Returns its schema version; None when a write will create it (no file, or a SQLite
    file without tables)."""
    conn, version = _check(path, name, write)
    if conn is not None:
        conn.close()
    return version


def _check(path: Path, name: str, write: bool) -> tuple[sqlite3.Connection | None, int | None]:
    """:func:`check`, keeping the reading connection it checked the content through (None for a
    path where a write will create the store)."""
    if path.is_dir():
        raise StoreError(f"{name}: is a directory, not a run store file")
    if not path.exists():
        if os.path.lexists(path):
            raise StoreError(f"{name}: a broken symbolic link, not a run store file")
        if not write:
            raise StoreError(f"{name}: no such run store")
        _check_folder(path, name, "create")
        return None, None
    if not path.is_file():
        raise StoreError(f"{name}: not a regular file, not a run store")
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise StoreError(f"{name}: cannot read the run store ({exc.strerror or exc})") from None
    if not head:
        raise StoreError(f"{name}: an empty file (0 bytes), not a run store; delete it, or name a new file "
                         "to create a store there")
    if head != SQLITE_MAGIC:
        raise StoreError(f"{name}: not a run store (not a SQLite file)")
    conn = read_connection(path, name)
    try:
        version = inspect(conn, name)
        if version is None and not write:
            raise StoreError(f"{name}: an empty SQLite database (no tables), not a run store")
        if write:
            if not _writable(path):
                raise StoreError(f"{name}: cannot write the run store: the file is not writable")
            _check_folder(path, name, "write")
    except BaseException:
        conn.close()
        raise
    return conn, version


def _check_folder(path: Path, name: str, verb: str) -> None:
    folder = path.parent
    if not folder.is_dir():
        raise StoreError(f"{name}: cannot {verb} the run store: folder {folder} does not exist")
    if not _writable(folder):
        why = "" if verb == "create" else " (SQLite writes its -wal and -shm files beside the store)"
        raise StoreError(f"{name}: cannot {verb} the run store: folder {folder} is not writable{why}")


def create_schema(conn: sqlite3.Connection) -> None:
    """The tables and meta rows of a new store, in one transaction on ``conn`` (autocommit mode)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [("schema_version", str(SCHEMA_VERSION)),
                                                            ("created_by", f"scalinglab {__version__}")])
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _create(path: Path, name: str) -> bool:
    """A new store at ``path``, built under a temporary name in its folder and then linked into place.
    False when another process created a file there meanwhile (it is kept, not replaced)."""
    tmp = path.with_name(f".{path.name[:100]}.{secrets.token_hex(6)}.creating")
    try:
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # permissions as open() gives
        conn = _write_connection(tmp)
        try:
            create_schema(conn)
        finally:
            conn.close()  # folds the log into the file and removes it
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links
            if path.exists():
                return False
            os.replace(tmp, path)
        return True
    except sqlite3.Error as exc:
        raise sqlite_error(name, exc, "create the run store") from None
    except OSError as exc:
        raise StoreError(f"{name}: cannot create the run store ({exc.strerror or exc})") from None
    finally:
        for suffix in ("", *SIDECARS):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)


def _write_connection(path: Path) -> sqlite3.Connection:
    """A writing connection to an existing file: WAL, ``synchronous=FULL``, we issue BEGIN ourselves."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=30.0, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    except BaseException:
        conn.close()
        raise
    return conn


def open_connection(path: Path, name: str, write: bool) -> tuple[sqlite3.Connection, int]:
    """A checked connection to the store (created first for a ``write`` to a new path) and its schema
    version. Opening writes nothing, except that a new store is created."""
    conn, version = _check(path, name, write)
    if write:
        if conn is None and _create(path, name):
            version = SCHEMA_VERSION
        elif conn is None:  # created by another process meanwhile: check that one
            conn, version = _check(path, name, write)
        if conn is not None:
            conn.close()
        try:
            conn = _write_connection(path)
            if version is None:  # a SQLite file without tables: make it a store
                create_schema(conn)
                version = SCHEMA_VERSION
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise sqlite_error(name, exc, "open the run store for writing") from None
    assert conn is not None and version is not None
    conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    return conn, version


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the store to :data:`SCHEMA_VERSION` inside the caller's write transaction (module docstring)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = int(row[0])
    if version < 2:
        conn.execute("ALTER TABLE runs ADD COLUMN attempt TEXT")
        conn.execute("ALTER TABLE runs ADD COLUMN evals INTEGER")
    if version < 3:
        conn.execute("ALTER TABLE metrics ADD COLUMN lr REAL")
    if version < SCHEMA_VERSION:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
