"""The run store: sweeps, runs and their loss curves in one embedded SQLite file.

Tables (units in brackets):

- ``meta(key, value)``: ``schema_version`` (:data:`SCHEMA_VERSION`), ``created_by`` (scalinglab version).
- ``sweeps(id, name, design, created_at)``: ``design`` is the sweep's design as JSON.
- ``runs(id, sweep_id, config, config_hash, seed, status, device, wall_seconds [s], code_version,
  params [count, with embeddings], params_non_embedding [count], tokens [count], flops [FLOPs],
  final_val_loss [nats/token], final_val_bpb [bits/byte], started_at, finished_at, error)``;
  ``status`` is one of ``pending``, ``running``, ``finished``, ``failed``; a run is unique by
  (sweep_id, config_hash, seed), config_hash = SHA-256 of the canonical JSON of its config.
- ``metrics(run_id, step [optimizer steps], tokens [count], flops [FLOPs], train_loss,
  val_loss [nats/token], val_bpb [bits/byte], grad_noise_scale [tokens, B_simple; lab.noise])``,
  one row per evaluation, unique by (run_id, step).

Crash safety. The file is in WAL mode (readers never block the writer, a commit is one append to
the log) with ``synchronous=FULL``: every commit fsyncs the log, so a run marked finished stays
finished even after a power loss or OS crash, not only after a killed process (NORMAL would be
enough for SIGKILL alone, but could lose the last commits on power loss). The cost, one fsync per
commit, is negligible next to training: commits happen per evaluation and per status change.
Every write is one ``BEGIN IMMEDIATE ... COMMIT`` transaction, so a process killed at any point
leaves the store as it was after its last commit (``PRAGMA integrity_check`` = ok). Foreign keys
are on. Timestamps are UTC ISO 8601 text.

Resume: :meth:`RunStore.add_run` is idempotent, :meth:`RunStore.pending_runs` returns every run not
finished (pending, running = interrupted, failed), and :meth:`RunStore.start_run` on an
interrupted run clears its metrics after the step it restarts from.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import pandas as pd

from scalinglab.errors import ScalingLabError

__all__ = ["METRIC_FIELDS", "SCHEMA_VERSION", "STATUSES", "STORE_SUFFIXES", "RunRecord", "RunStore",
           "is_store_file", "read_store", "timestamp"]

SCHEMA_VERSION = 1
STATUSES: tuple[str, ...] = ("pending", "running", "finished", "failed")
#: Columns of one metrics row; ``step`` and ``tokens`` are required, the others may be None.
METRIC_FIELDS: tuple[str, ...] = ("step", "tokens", "flops", "train_loss", "val_loss", "val_bpb",
                                  "grad_noise_scale")
STORE_SUFFIXES: tuple[str, ...] = (".db", ".sqlite", ".sqlite3")
SQLITE_MAGIC = b"SQLite format 3\x00"
_NUMERIC_COLUMNS = frozenset({"params", "params_non_embedding", "tokens", "flops", "loss", "final_val_loss",
                              "final_val_bpb", "wall_seconds", "train_loss", "val_loss", "val_bpb",
                              "grad_noise_scale", "step"})

_SCHEMA = """
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
  started_at TEXT, finished_at TEXT, error TEXT,
  UNIQUE (sweep_id, config_hash, seed));
CREATE TABLE metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, step INTEGER NOT NULL,
  tokens INTEGER NOT NULL, flops REAL, train_loss REAL, val_loss REAL, val_bpb REAL,
  grad_noise_scale REAL, PRIMARY KEY (run_id, step));
CREATE INDEX runs_by_sweep ON runs (sweep_id, status);
"""


@dataclass(frozen=True)
class RunRecord:
    """One run as the runner needs it: what to train (config, seed) and where it stands."""

    id: int
    sweep_id: int
    config: dict[str, Any]
    seed: int
    status: str


def timestamp() -> str:
    """Now as the store writes it: UTC ISO 8601 text with milliseconds (such texts compare in time order)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _opt(value: Any, kind: type) -> Any:
    """``kind(value)`` (plain int/float for SQLite, also from numpy scalars), None kept."""
    return None if value is None else kind(value)


def _config_json(config: Mapping[str, Any], what: str) -> str:
    """Canonical JSON (sorted keys, no spaces): equal configs give equal text and hash."""
    if not isinstance(config, Mapping):
        raise ScalingLabError(f"{what} must be a mapping (dict), got {type(config).__name__}")
    try:
        return json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ScalingLabError(f"{what} is not JSON-serialisable ({exc})") from None


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


class RunStore:
    """A crash-safe store of sweeps, runs and metrics in one SQLite file (see the module docstring).

    ``RunStore(path)`` creates the file or opens an existing store; ``readonly=True`` opens an
    existing one for reading only. Use as a context manager or call :meth:`close`.
    Raises ScalingLabError (naming the file) for a path that cannot be written, a file that is
    not a scalinglab store, or a store from a newer schema; such files are left untouched.
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.name = os.fspath(path)
        self.readonly = readonly
        fresh = not self.path.exists() or (self.path.is_file() and self.path.stat().st_size == 0)
        if fresh and readonly:
            raise ScalingLabError(f"{self.name}: no such run store")
        self._check_path(fresh)
        if not fresh:
            fresh = self._check_existing()  # True: a SQLite file without tables (killed while created)
            if fresh and readonly:
                raise ScalingLabError(f"{self.name}: an empty SQLite file, not a run store")
        try:
            self._conn = self._connect()
            if fresh:
                self._create()
        except sqlite3.Error as exc:
            if hasattr(self, "_conn"):
                self._conn.close()
            if fresh:
                self._remove_files()
            verb = "create" if fresh else "open"
            raise ScalingLabError(f"{self.name}: cannot {verb} the run store ({exc})") from None

    # ---- opening -------------------------------------------------------------------------
    def _check_path(self, fresh: bool) -> None:
        if self.path.is_dir():
            raise ScalingLabError(f"{self.name}: is a directory, not a run store file")
        where = self.path.parent if fresh else self.path
        if fresh and not where.is_dir():
            raise ScalingLabError(f"{self.name}: cannot create the run store: folder {where} does not exist")
        if not self.readonly and not os.access(where, os.W_OK):
            what = f"folder {where} is not writable" if fresh else "the file is not writable"
            raise ScalingLabError(f"{self.name}: cannot {'create' if fresh else 'write'} the run store: {what}")

    def _check_existing(self) -> bool:
        """Refuse, before any write, a file that is not SQLite, not a store, or from a newer schema.
        True for a SQLite file without any table (a store killed while being created): create it."""
        with self.path.open("rb") as fh:
            if fh.read(16) != SQLITE_MAGIC:
                raise ScalingLabError(f"{self.name}: not a run store (not a SQLite file)")
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True)
            try:
                if conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0:
                    return True
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise ScalingLabError(f"{self.name}: not a scalinglab run store ({exc})") from None
        version = int(row[0]) if row and str(row[0]).isdigit() else None
        if version is None:
            raise ScalingLabError(f"{self.name}: not a scalinglab run store (no schema_version in table meta)")
        if version > SCHEMA_VERSION:
            raise ScalingLabError(f"{self.name}: store schema {version} is newer than this scalinglab "
                                  f"understands ({SCHEMA_VERSION}); upgrade scalinglab to read it")
        return False

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
        else:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)  # we issue BEGIN ourselves
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.row_factory = sqlite3.Row
        return conn

    def _create(self) -> None:
        from scalinglab import __version__

        with self._tx() as c:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    c.execute(statement)
            c.executemany("INSERT INTO meta VALUES (?, ?)",
                          [("schema_version", str(SCHEMA_VERSION)), ("created_by", f"scalinglab {__version__}")])

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(self.name + suffix).unlink(missing_ok=True)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE (take the write lock now), COMMIT or ROLLBACK."""
        if self.readonly:
            raise ScalingLabError(f"{self.name}: the run store was opened read-only")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (a checkpoint folds the WAL back into the file)."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writing -------------------------------------------------------------------------
    def create_sweep(self, name: str, design: Mapping[str, Any]) -> int:
        """A new sweep named ``name`` with its design (JSON-serialisable); returns its id."""
        text = _config_json(design, f"{self.name}: sweep {name!r}: the design")
        with self._tx() as c:
            cur = c.execute("INSERT INTO sweeps (name, design, created_at) VALUES (?, ?, ?)",
                            (str(name), text, timestamp()))
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def find_sweep(self, name: str, design: Mapping[str, Any] | None = None) -> int | None:
        """The newest sweep named ``name`` (and with exactly this design, if given), or None."""
        sql, args = "SELECT id FROM sweeps WHERE name = ?", [str(name)]
        if design is not None:
            sql += " AND design = ?"
            args.append(_config_json(design, f"{self.name}: sweep {name!r}: the design"))
        row = self._conn.execute(sql + " ORDER BY id DESC LIMIT 1", args).fetchone()
        return None if row is None else int(row[0])

    def add_run(self, sweep_id: int, config: Mapping[str, Any], seed: int) -> int:
        """Add a pending run, or return the id of the run with the same (sweep, config, seed)."""
        text = _config_json(config, f"{self.name}: run config")
        digest = hashlib.sha256(text.encode()).hexdigest()
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ScalingLabError(f"{self.name}: run seed must be an integer, got {seed!r}")
        seed = int(seed)
        with self._tx() as c:
            self._sweep_exists(sweep_id)
            c.execute("INSERT INTO runs (sweep_id, config, config_hash, seed) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT (sweep_id, config_hash, seed) DO NOTHING", (sweep_id, text, digest, seed))
            row = c.execute("SELECT id FROM runs WHERE sweep_id = ? AND config_hash = ? AND seed = ?",
                            (sweep_id, digest, seed)).fetchone()
        return int(row[0])

    def start_run(self, run_id: int, device: str, code_version: str, *, params: int | None = None,
                  params_non_embedding: int | None = None, resume_step: int | None = None) -> None:
        """Mark a run running on ``device``. Metrics of an earlier, interrupted attempt are deleted:
        all of them (``resume_step=None``: the run restarts from scratch), or those after
        ``resume_step`` (the run resumes from a checkpoint at that step). A finished run is refused."""
        with self._tx() as c:
            self._status(run_id, allowed=("pending", "running", "failed"), action="start")
            if resume_step is None:
                c.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            else:
                c.execute("DELETE FROM metrics WHERE run_id = ? AND step > ?", (run_id, int(resume_step)))
            c.execute("UPDATE runs SET status = 'running', device = ?, code_version = ?, params = ?, "
                      "params_non_embedding = ?, started_at = ?, finished_at = NULL, error = NULL, "
                      "wall_seconds = NULL, final_val_loss = NULL, final_val_bpb = NULL WHERE id = ?",
                      (str(device), str(code_version), _opt(params, int), _opt(params_non_embedding, int),
                       timestamp(), run_id))

    def log_metrics(self, run_id: int, rows: Iterable[Mapping[str, Any]]) -> None:
        """Store evaluation rows (keys from :data:`METRIC_FIELDS`) of a running run, in one
        transaction; a row for a step already stored replaces it."""
        values = [self._metric_row(run_id, row, i) for i, row in enumerate(rows, start=1)]
        with self._tx() as c:
            self._status(run_id, allowed=("running",), action="log metrics for")
            self._insert_metrics(c, values)

    def finish_run(self, run_id: int, *, params: int, tokens: int, flops: float, final_val_loss: float,
                   params_non_embedding: int | None = None, final_val_bpb: float | None = None,
                   wall_seconds: float | None = None, metrics: Iterable[Mapping[str, Any]] = ()) -> None:
        """Mark a running run finished with its results; ``metrics`` (last evaluation rows) are
        stored in the same transaction, so a run is never finished without them."""
        for key, value in (("params", params), ("tokens", tokens), ("flops", flops),
                           ("final_val_loss", final_val_loss)):
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
                raise ScalingLabError(f"{self.name}: run {run_id}: {key} must be a finite number, "
                                      f"got {value!r}")
        values = [self._metric_row(run_id, row, i) for i, row in enumerate(metrics, start=1)]
        with self._tx() as c:
            self._status(run_id, allowed=("running",), action="finish")
            self._insert_metrics(c, values)
            c.execute("UPDATE runs SET status = 'finished', params = ?, params_non_embedding = ?, tokens = ?, "
                      "flops = ?, final_val_loss = ?, final_val_bpb = ?, wall_seconds = ?, finished_at = ?, "
                      "error = NULL WHERE id = ?",
                      (int(params), _opt(params_non_embedding, int), int(tokens), float(flops),
                       float(final_val_loss), _opt(final_val_bpb, float), _opt(wall_seconds, float),
                       timestamp(), run_id))

    def import_runs(self, sweep_name: str, design: Mapping[str, Any], runs: Sequence[Mapping[str, Any]], *,
                    key: str = "run") -> tuple[int, list[int]]:
        """Write finished runs trained elsewhere (:mod:`scalinglab.lab.importers`) in ONE transaction.

        The sweep named ``sweep_name`` with exactly ``design`` is created when absent; one with that
        name and another design is refused. Each run is a mapping with ``config``, ``seed``,
        ``params``, ``tokens``, ``flops``, ``final_val_loss`` and ``metrics`` (rows as in
        :meth:`log_metrics`). A run whose ``config[key]`` equals that of a run already in the
        sweep replaces it (config, seed, results, metrics), so importing a source again leaves
        one copy of each run. Everything is checked first; on any error nothing is written.
        Returns (sweep id, run ids in the order of ``runs``)."""
        design_text = _config_json(design, f"{self.name}: sweep {sweep_name!r}: the design")
        prepared = []
        for i, run in enumerate(runs, start=1):
            config = run.get("config")
            text = _config_json(config, f"{self.name}: imported run {i}: config")  # type: ignore[arg-type]
            if not isinstance(config, Mapping) or key not in config:
                raise ScalingLabError(f"{self.name}: imported run {i}: config has no {key!r} key")
            for name in ("params", "tokens", "flops", "final_val_loss", "seed"):
                value = run.get(name)
                if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
                    raise ScalingLabError(f"{self.name}: imported run {config[key]!r}: {name} must be a finite "
                                          f"number, got {value!r}")
            rows = [self._metric_row(config[key], row, j)  # type: ignore[arg-type]  (names the run in messages)
                    for j, row in enumerate(run.get("metrics", ()), start=1)]
            ident = json.dumps(config[key])
            if any(ident == p[0] for p in prepared):
                raise ScalingLabError(f"{self.name}: two imported runs named {config[key]!r}")
            prepared.append((ident, text, hashlib.sha256(text.encode()).hexdigest(), run, rows))
        with self._tx() as c:
            sweep = c.execute("SELECT id, design FROM sweeps WHERE name = ? ORDER BY id DESC LIMIT 1",
                              (str(sweep_name),)).fetchone()
            if sweep is not None and sweep[1] != design_text:
                raise ScalingLabError(f"{self.name}: sweep {sweep_name!r} (id {sweep[0]}) already exists "
                                      "with a different design")
            if sweep is None:
                sweep_id = int(c.execute("INSERT INTO sweeps (name, design, created_at) VALUES (?, ?, ?)",
                                         (str(sweep_name), design_text, timestamp())).lastrowid)  # type: ignore[arg-type]
            else:
                sweep_id = int(sweep[0])
            known = {json.dumps(json.loads(r[1]).get(key)): int(r[0]) for r in
                     c.execute("SELECT id, config FROM runs WHERE sweep_id = ?", (sweep_id,))}
            ids = [self._write_imported(c, sweep_id, known.get(ident), *rest) for ident, *rest in prepared]
        return sweep_id, ids

    def _write_imported(self, c: sqlite3.Connection, sweep_id: int, run_id: int | None, text: str, digest: str,
                        run: Mapping[str, Any], rows: list[tuple[Any, ...]]) -> int:
        """Insert (run_id None) or overwrite one imported finished run and its metrics; returns its id."""
        if run_id is None:
            run_id = int(c.execute("INSERT INTO runs (sweep_id, config, config_hash, seed) VALUES (?, ?, ?, ?)",
                                   (sweep_id, text, digest, int(run["seed"]))).lastrowid)  # type: ignore[arg-type]
        c.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
        self._insert_metrics(c, [(run_id, *row[1:]) for row in rows])
        c.execute("UPDATE runs SET config = ?, config_hash = ?, seed = ?, status = 'finished', device = ?, "
                  "code_version = ?, params = ?, params_non_embedding = ?, tokens = ?, flops = ?, final_val_loss = ?, "
                  "final_val_bpb = ?, wall_seconds = ?, started_at = NULL, finished_at = ?, error = NULL "
                  "WHERE id = ?",
                  (text, digest, int(run["seed"]), _opt(run.get("device"), str), _opt(run.get("code_version"), str),
                   int(run["params"]), _opt(run.get("params_non_embedding"), int), int(run["tokens"]),
                   float(run["flops"]), float(run["final_val_loss"]), _opt(run.get("final_val_bpb"), float),
                   _opt(run.get("wall_seconds"), float), timestamp(), run_id))
        return run_id

    def fail_run(self, run_id: int, error: str, *, wall_seconds: float | None = None) -> None:
        """Mark a run failed with an error message (it stays in :meth:`pending_runs`)."""
        with self._tx() as c:
            self._status(run_id, allowed=("pending", "running", "failed"), action="fail")
            c.execute("UPDATE runs SET status = 'failed', error = ?, wall_seconds = ?, finished_at = ? "
                      "WHERE id = ?", (str(error), _opt(wall_seconds, float), timestamp(), run_id))

    # ---- reading -------------------------------------------------------------------------
    def get_run(self, run_id: int) -> RunRecord:
        """One run's config, seed and status."""
        rows = self._records("WHERE id = ?", run_id)
        if not rows:
            raise ScalingLabError(f"{self.name}: no run with id {run_id!r}")
        return rows[0]

    def pending_runs(self, sweep_id: int) -> list[RunRecord]:
        """Runs of a sweep that are not finished (pending, running = interrupted, failed), by id."""
        self._sweep_exists(sweep_id)
        return self._records("WHERE sweep_id = ? AND status != 'finished' ORDER BY id", sweep_id)

    def sweeps_frame(self) -> pd.DataFrame:
        """One row per sweep: id, name, design (JSON text), created_at, and run counts by status."""
        return pd.read_sql_query(
            "SELECT s.id, s.name, s.design, s.created_at, COUNT(r.id) AS runs, "
            "SUM(r.status = 'finished') AS finished FROM sweeps s LEFT JOIN runs r ON r.sweep_id = s.id "
            "GROUP BY s.id ORDER BY s.id", self._conn)

    def runs_frame(self, sweep_id: int | None = None) -> pd.DataFrame:
        """One row per run (every status), ordered by id. Columns: ``run`` (id as text), ``id``,
        ``sweep_id``, ``sweep``, ``status``, ``seed``, canonical ``params`` (with embeddings),
        ``tokens``, ``flops``, ``loss`` (= final_val_loss, nats/token), then params_non_embedding,
        final_val_loss, final_val_bpb, device, wall_seconds, code_version, started_at, finished_at,
        error, config (JSON text), and ``budget`` [FLOPs] when configs carry a top-level "budget"."""
        sql = ("SELECT CAST(r.id AS TEXT) AS run, r.id, r.sweep_id, s.name AS sweep, r.status, r.seed, "
               "r.params, r.tokens, r.flops, r.final_val_loss AS loss, r.params_non_embedding, "
               "r.final_val_loss, r.final_val_bpb, r.device, r.wall_seconds, r.code_version, r.started_at, "
               "r.finished_at, r.error, r.config FROM runs r JOIN sweeps s ON s.id = r.sweep_id")
        df = self._query(sql, "r.sweep_id", sweep_id, "r.id")
        budgets = [json.loads(c).get("budget") if c.startswith("{") else None for c in df["config"]]
        if any(isinstance(b, (int, float)) and not isinstance(b, bool) for b in budgets):
            df["budget"] = pd.to_numeric(pd.Series(budgets, index=df.index, dtype=object), errors="coerce")
        return df

    def metrics_frame(self, run_id: int | None = None) -> pd.DataFrame:
        """One row per evaluation, ordered by run and step. Columns: ``run`` (id as text), ``step``,
        ``tokens``, ``flops``, ``loss`` (= val_loss, nats/token), ``params`` (the run's, with
        embeddings), train_loss, val_loss, val_bpb, grad_noise_scale, run_id, sweep_id, status."""
        sql = ("SELECT CAST(m.run_id AS TEXT) AS run, m.step, m.tokens, m.flops, m.val_loss AS loss, r.params, "
               "m.train_loss, m.val_loss, m.val_bpb, m.grad_noise_scale, m.run_id, r.sweep_id, r.status "
               "FROM metrics m JOIN runs r ON r.id = m.run_id")
        return self._query(sql, "m.run_id", run_id, "m.run_id, m.step")

    def integrity_ok(self) -> bool:
        """Whether ``PRAGMA integrity_check`` answers 'ok' (and no foreign key is dangling)."""
        rows = self._conn.execute("PRAGMA integrity_check").fetchall()
        dangling = self._conn.execute("PRAGMA foreign_key_check").fetchall()
        return [tuple(r) for r in rows] == [("ok",)] and not dangling

    def export(self, path: str | os.PathLike[str], what: str = "runs") -> Path:
        """Write :meth:`runs_frame` (``what="runs"``) or :meth:`metrics_frame` (``"metrics"``) to
        .parquet/.pq or .csv, chosen by extension; written atomically (:mod:`scalinglab.atomic`). ``params``
        is written as :func:`scalinglab.load_runs` reads the store (the N of each run's FLOPs,
        :func:`~scalinglab.lab.store_table.store_params`), so a fit of the export equals a fit of the
        store; the store's own count is column ``params_with_embeddings``."""
        out = Path(path)
        kind = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}.get(out.suffix.lower())
        if kind is None:
            raise ScalingLabError(f"{os.fspath(path)}: export needs a .parquet, .pq or .csv file name")
        df = self._frame(what)
        from scalinglab.lab.store_table import store_params

        store_params(df, self.runs_frame() if what == "metrics" else df, [])
        from scalinglab.atomic import atomic_write  # a fresh temporary file, renamed over ``out``

        try:
            with atomic_write(out, "wb" if kind == "parquet" else "w", newline="" if kind == "csv" else None) as fh:
                df.to_parquet(fh, index=False) if kind == "parquet" else df.to_csv(fh, index=False)
        except OSError as exc:
            raise ScalingLabError(f"{os.fspath(path)}: cannot write the export ({exc.strerror or exc})") from None
        return out

    # ---- helpers -------------------------------------------------------------------------
    def _frame(self, what: str) -> pd.DataFrame:
        if what in ("runs", "metrics"):
            return self.runs_frame() if what == "runs" else self.metrics_frame()
        raise ScalingLabError(f"{self.name}: unknown table {what!r}; choose 'runs' or 'metrics'")

    def _query(self, sql: str, key: str, value: int | None, order: str) -> pd.DataFrame:
        args: list[Any] = []
        if value is not None:
            sql += f" WHERE {key} = ?"
            args.append(int(value))
        df = pd.read_sql_query(f"{sql} ORDER BY {order}", self._conn, params=args)
        for col in _NUMERIC_COLUMNS.intersection(df.columns):  # all-NULL columns come back as object
            df[col] = pd.to_numeric(df[col])
        return df

    def _records(self, where: str, value: int) -> list[RunRecord]:
        rows = self._conn.execute(f"SELECT id, sweep_id, config, seed, status FROM runs {where}", (value,))
        return [RunRecord(int(r[0]), int(r[1]), json.loads(r[2]), int(r[3]), str(r[4])) for r in rows]

    def _sweep_exists(self, sweep_id: int) -> None:
        if self._conn.execute("SELECT 1 FROM sweeps WHERE id = ?", (sweep_id,)).fetchone() is None:
            raise ScalingLabError(f"{self.name}: no sweep with id {sweep_id!r}")

    def _status(self, run_id: int, allowed: tuple[str, ...], action: str) -> str:
        row = self._conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise ScalingLabError(f"{self.name}: no run with id {run_id!r}")
        if row[0] not in allowed:
            raise ScalingLabError(f"{self.name}: cannot {action} run {run_id}: it is {row[0]}")
        return str(row[0])

    def _metric_row(self, run_id: int, row: Mapping[str, Any], i: int) -> tuple[Any, ...]:
        where = f"{self.name}: run {run_id}, metrics row {i}"
        if not isinstance(row, Mapping):
            raise ScalingLabError(f"{where}: expected a mapping of {', '.join(METRIC_FIELDS)}")
        unknown = sorted(set(row) - set(METRIC_FIELDS))
        if unknown:
            raise ScalingLabError(f"{where}: unknown field {unknown[0]!r}; fields are {', '.join(METRIC_FIELDS)}")
        out: list[Any] = [run_id]
        for key in METRIC_FIELDS:
            v = row.get(key)
            if v is None and key not in ("step", "tokens"):
                out.append(None)
                continue
            counted = key in ("step", "tokens", "flops")  # counts: never negative
            number = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
            if not number or (counted and v < 0):
                raise ScalingLabError(f"{where}: {key} must be a finite number{' >= 0' if counted else ''}, "
                                      f"got {v!r}")
            out.append(int(v) if key in ("step", "tokens") else float(v))
        return tuple(out)

    @staticmethod
    def _insert_metrics(c: sqlite3.Connection, values: list[tuple[Any, ...]]) -> None:
        if values:
            c.executemany(f"INSERT OR REPLACE INTO metrics (run_id, {', '.join(METRIC_FIELDS)}) "
                          f"VALUES ({', '.join('?' * (len(METRIC_FIELDS) + 1))})", values)


def read_store(path: str | os.PathLike[str], what: str = "runs") -> pd.DataFrame:
    """The store as a runs table: :func:`scalinglab.lab.store_table.read_store`."""
    from scalinglab.lab.store_table import read_store as as_table

    return as_table(path, what)
