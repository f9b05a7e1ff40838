"""The run store: sweeps, runs and their loss curves in one embedded SQLite file.

Tables (units in brackets):

- ``meta(key, value)``: ``schema_version`` (:data:`SCHEMA_VERSION`), ``created_by`` (scalinglab version).
- ``sweeps(id, name, design, created_at)``: ``design`` is the sweep's design as JSON.
- ``runs(id, sweep_id, config, config_hash, seed, status, device, wall_seconds [s], code_version,
  params [count, with embeddings], params_non_embedding [count], tokens [count], flops [FLOPs],
  final_val_loss [nats/token], final_val_bpb [bits/byte], started_at, finished_at, error, attempt,
  evals [count])``; ``status`` is one of ``pending``, ``running``, ``finished``, ``failed``; a run
  is unique by (sweep_id, config_hash, seed), config_hash = SHA-256 of the canonical JSON of its
  config; ``attempt`` is the token of the run's current attempt, ``evals`` the evaluations its
  curve must hold (None: not known, e.g. an imported run).
- ``metrics(run_id, step [optimizer steps], tokens [count], flops [FLOPs], train_loss,
  val_loss [nats/token], val_bpb [bits/byte], grad_noise_scale [tokens, B_simple; lab.noise],
  lr [learning rate of the last optimiser step before the evaluation; schema 3])``, one row per
  evaluation, unique by (run_id, step).

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

Attempts. :meth:`RunStore.start_run` gives each attempt of a run a new random token, and every
later write for the run (an evaluation, finished, failed) must carry the token of the run's
current attempt, else it is refused (:class:`~scalinglab.stores.file.StaleAttemptError`): a
worker left over from an earlier attempt (an orphan of a killed sweep, or a second sweep on the
same store) can never add evaluations to, finish or fail the attempt now training. A connection
uses the token of the attempts it started itself; ``attempt=`` passes another.

Complete curves. A run started with ``evals`` (the runner passes the evaluations its config
schedules) is only marked finished when its curve holds that many evaluations; and the first
write transaction of every writing connection repairs a "finished" run whose curve is shorter
(left by an older scalinglab): it is marked failed, so the same sweep command trains it again.

Opening, checks, reading without a trace, and how a damaged, foreign, read-only, empty or full
store fails: :mod:`scalinglab.stores.file`.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import secrets
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scalinglab.atomic import atomic_write
from scalinglab.errors import ScalingLabError
from scalinglab.stores.file import (
    INCOMPLETE_FINISHED_RUNS,
    SCHEMA_VERSION,
    STORE_SUFFIXES,
    StaleAttemptError,
    StoreError,
    is_store_file,
    migrate,
    open_connection,
)
from scalinglab.stores.reader import RunRecord, StoreReader, config_json
from scalinglab.stores.table import read_store, store_params

__all__ = ["METRIC_FIELDS", "SCHEMA_VERSION", "STATUSES", "STORE_SUFFIXES", "RunRecord", "RunStore",
           "StaleAttemptError", "StoreError", "is_store_file", "read_store", "timestamp"]

STATUSES: tuple[str, ...] = ("pending", "running", "finished", "failed")
#: Columns of one metrics row; ``step`` and ``tokens`` are required, the others may be None.
METRIC_FIELDS: tuple[str, ...] = ("step", "tokens", "flops", "train_loss", "val_loss", "val_bpb",
                                  "grad_noise_scale", "lr")


def timestamp() -> str:
    """Now as the store writes it: UTC ISO 8601 text with milliseconds (such texts compare in time order)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _opt(value: Any, kind: type) -> Any:
    """``kind(value)`` (plain int/float for SQLite, also from numpy scalars), None kept."""
    return None if value is None else kind(value)


class RunStore(StoreReader):
    """A crash-safe store of sweeps, runs and metrics in one SQLite file (see the module docstring).

    ``RunStore(path)`` creates the file or opens an existing store; ``readonly=True`` opens an
    existing one for reading only, without writing anything, not even a ``-wal``/``-shm`` file.
    Use as a context manager or call :meth:`close`. The file is checked first
    (:mod:`scalinglab.stores.file`): a path that cannot be written, an empty, damaged, foreign
    or half-created file, or a store from a newer schema raises StoreError (a ScalingLabError naming
    the file), and the file is left byte for byte as it was. Every later SQLite failure (a full
    disk, a lock held too long) is a StoreError too; a failed write changes nothing.
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.name = os.fspath(path)
        self.readonly = readonly
        self._attempts: dict[int, str] = {}  # run id -> token of the attempt this connection started
        self._prepared = False  # migrated (and repaired) in this connection's first write transaction
        self._conn, self.version = open_connection(self.path, self.name, write=not readonly)

    @contextmanager
    def _tx(self, doing: str = "write to the run store") -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE (take the write lock now), COMMIT or ROLLBACK. The
        connection's first one also migrates the store to this schema and repairs incomplete runs."""
        if self.readonly:
            raise ScalingLabError(f"{self.name}: the run store was opened read-only")
        with self._guard(doing):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if not self._prepared:
                    migrate(self._conn)
                    self._repair(self._conn)
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # SQLite rolls back by itself on some errors (SQLITE_FULL)
                    with suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                raise
            if not self._prepared:
                self._prepared, self.version = True, SCHEMA_VERSION

    # ---- writing -------------------------------------------------------------------------
    def create_sweep(self, name: str, design: Mapping[str, Any]) -> int:
        """A new sweep named ``name`` with its design (JSON-serialisable); returns its id."""
        text = config_json(design, f"{self.name}: sweep {name!r}: the design")
        with self._tx() as c:
            cur = c.execute("INSERT INTO sweeps (name, design, created_at) VALUES (?, ?, ?)",
                            (str(name), text, timestamp()))
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def add_run(self, sweep_id: int, config: Mapping[str, Any], seed: int) -> int:
        """Add a pending run, or return the id of the run with the same (sweep, config, seed)."""
        text = config_json(config, f"{self.name}: run config")
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
                  params_non_embedding: int | None = None, resume_step: int | None = None,
                  metrics: Iterable[Mapping[str, Any]] | None = None, evals: int | None = None) -> str:
        """Mark a run running on ``device`` as a new attempt; returns the attempt's token (module
        docstring), which this connection then uses for the run's writes. Metrics of an earlier,
        interrupted attempt are deleted: all of them (``resume_step=None``: the run restarts from
        scratch), or those after ``resume_step`` (the run resumes from a checkpoint at that step);
        ``metrics`` (the checkpoint's evaluations) replace all stored ones instead. ``evals``: the
        evaluations the run's curve must hold to be finished (None: keep what the store knows). A
        finished run is refused."""
        values = None if metrics is None else [self._metric_row(run_id, r, i) for i, r in enumerate(metrics, start=1)]
        if evals is not None and (isinstance(evals, bool) or not isinstance(evals, numbers.Integral) or evals < 1):
            raise ScalingLabError(f"{self.name}: run {run_id}: evals must be a positive integer, got {evals!r}")
        token = secrets.token_hex(8)
        with self._tx() as c:
            self._status(run_id, allowed=("pending", "running", "failed"), action="start")
            if resume_step is None or values is not None:
                c.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
                self._insert_metrics(c, values or [])
            else:
                c.execute("DELETE FROM metrics WHERE run_id = ? AND step > ?", (run_id, int(resume_step)))
            c.execute("UPDATE runs SET status = 'running', device = ?, code_version = ?, params = ?, "
                      "params_non_embedding = ?, started_at = ?, finished_at = NULL, error = NULL, "
                      "wall_seconds = NULL, final_val_loss = NULL, final_val_bpb = NULL, attempt = ?, "
                      "evals = COALESCE(?, evals) WHERE id = ?",
                      (str(device), str(code_version), _opt(params, int), _opt(params_non_embedding, int),
                       timestamp(), token, _opt(evals, int), run_id))
        self._attempts[run_id] = token
        return token

    def log_metrics(self, run_id: int, rows: Iterable[Mapping[str, Any]], *, attempt: str | None = None) -> None:
        """Store evaluation rows (keys from :data:`METRIC_FIELDS`) of a running run's current attempt
        (``attempt``: its token, default the one this connection started), in one transaction; a row
        for a step already stored replaces it."""
        values = [self._metric_row(run_id, row, i) for i, row in enumerate(rows, start=1)]
        with self._tx() as c:
            self._current(c, run_id, attempt, "evaluations")
            self._status(run_id, allowed=("running",), action="log metrics for")
            self._insert_metrics(c, values)

    def finish_run(self, run_id: int, *, params: int, tokens: int, flops: float, final_val_loss: float,
                   params_non_embedding: int | None = None, final_val_bpb: float | None = None,
                   wall_seconds: float | None = None, metrics: Iterable[Mapping[str, Any]] = (),
                   attempt: str | None = None) -> None:
        """Mark a running run's current attempt (``attempt`` as in :meth:`log_metrics`) finished with
        its results; ``metrics`` (last evaluation rows) are stored in the same transaction, so a run
        is never finished without them. Refused, changing nothing, when the run's curve then holds
        fewer evaluations than the ``evals`` it was started with."""
        for key, value in (("params", params), ("tokens", tokens), ("flops", flops),
                           ("final_val_loss", final_val_loss)):
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
                raise ScalingLabError(f"{self.name}: run {run_id}: {key} must be a finite number, "
                                      f"got {value!r}")
        values = [self._metric_row(run_id, row, i) for i, row in enumerate(metrics, start=1)]
        with self._tx() as c:
            self._current(c, run_id, attempt, "its finish")
            self._status(run_id, allowed=("running",), action="finish")
            self._insert_metrics(c, values)
            have, want = c.execute("SELECT (SELECT COUNT(*) FROM metrics WHERE run_id = ?), evals FROM runs "
                                   "WHERE id = ?", (run_id, run_id)).fetchone()
            if want is not None and have < want:
                raise ScalingLabError(f"{self.name}: cannot finish run {run_id}: its curve holds {have} of the "
                                      f"{want} evaluations it was started with")
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
        design_text = config_json(design, f"{self.name}: sweep {sweep_name!r}: the design")
        prepared = []
        for i, run in enumerate(runs, start=1):
            config = run.get("config")
            text = config_json(config, f"{self.name}: imported run {i}: config")  # type: ignore[arg-type]
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
                  "final_val_bpb = ?, wall_seconds = ?, started_at = NULL, finished_at = ?, error = NULL, "
                  "attempt = NULL, evals = NULL WHERE id = ?",
                  (text, digest, int(run["seed"]), _opt(run.get("device"), str), _opt(run.get("code_version"), str),
                   int(run["params"]), _opt(run.get("params_non_embedding"), int), int(run["tokens"]),
                   float(run["flops"]), float(run["final_val_loss"]), _opt(run.get("final_val_bpb"), float),
                   _opt(run.get("wall_seconds"), float), timestamp(), run_id))
        return run_id

    def fail_run(self, run_id: int, error: str, *, wall_seconds: float | None = None,
                 attempt: str | None = None) -> None:
        """Mark a run's current attempt (``attempt`` as in :meth:`log_metrics`) failed with an error
        message (the run stays in :meth:`pending_runs`)."""
        with self._tx() as c:
            self._current(c, run_id, attempt, "its failure")
            self._status(run_id, allowed=("pending", "running", "failed"), action="fail")
            c.execute("UPDATE runs SET status = 'failed', error = ?, wall_seconds = ?, finished_at = ? "
                      "WHERE id = ?", (str(error), _opt(wall_seconds, float), timestamp(), run_id))

    def repair_runs(self, evals: Mapping[int, int] | None = None) -> list[int]:
        """Mark failed (so a sweep trains them again) the finished runs whose curve holds fewer
        evaluations than they must: their stored ``evals``; ``evals`` (run id -> evaluations its config
        schedules) first stores that count for the runs that have none (runs of an older store).
        Returns the ids of the runs repaired. The first write of every connection does this with the
        stored counts."""
        with self._tx() as c:
            for run_id, count in (evals or {}).items():
                c.execute("UPDATE runs SET evals = ? WHERE id = ? AND evals IS NULL", (int(count), int(run_id)))
            return self._repair(c)

    def _repair(self, c: sqlite3.Connection) -> list[int]:
        short = c.execute(INCOMPLETE_FINISHED_RUNS).fetchall()
        for run_id, have, want in short:
            c.execute("UPDATE runs SET status = 'failed', error = ? WHERE id = ?",
                      (f"finished with an incomplete curve ({have} of {want} evaluations); to be trained again",
                       run_id))
        return [int(r[0]) for r in short]

    def export(self, path: str | os.PathLike[str], what: str = "runs") -> Path:
        """Write :meth:`runs_frame` (``what="runs"``) or :meth:`metrics_frame` (``"metrics"``) to
        .parquet/.pq or .csv, chosen by extension; written atomically (:mod:`scalinglab.atomic`). ``params``
        is written as :func:`scalinglab.load_runs` reads the store (the N of each run's FLOPs,
        :func:`~scalinglab.stores.table.store_params`), so a fit of the export equals a fit of the
        store; the store's own count is column ``params_with_embeddings``."""
        out = Path(path)
        kind = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}.get(out.suffix.lower())
        if kind is None:
            raise ScalingLabError(f"{os.fspath(path)}: export needs a .parquet, .pq or .csv file name")
        df = self._frame(what)
        store_params(df, self.runs_frame() if what == "metrics" else df, [])
        try:  # atomic_write: a fresh temporary file, renamed over ``out``
            with atomic_write(out, "wb" if kind == "parquet" else "w", newline="" if kind == "csv" else None) as fh:
                df.to_parquet(fh, index=False) if kind == "parquet" else df.to_csv(fh, index=False)
        except OSError as exc:
            raise ScalingLabError(f"{os.fspath(path)}: cannot write the export ({exc.strerror or exc})") from None
        return out

    # ---- helpers -------------------------------------------------------------------------
    def _current(self, c: sqlite3.Connection, run_id: int, attempt: str | None, what: str) -> None:
        """Refuse a write for a run that does not come from its current attempt (module docstring)."""
        token = attempt if attempt is not None else self._attempts.get(run_id)
        row = c.execute("SELECT attempt FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is not None and row[0] != token:
            raise StaleAttemptError(f"{self.name}: run {run_id} was restarted by another process (attempt "
                                    f"{row[0]}; this one is {token}): {what} not recorded")

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
            counted = key in ("step", "tokens", "flops", "lr")  # counts and learning rates: never negative
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

