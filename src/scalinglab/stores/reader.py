"""The reading half of :class:`~scalinglab.stores.run_store.RunStore`: runs, sweeps and curves as records
and DataFrames, and the error handling every query shares (a SQLite failure is a one-line
:class:`~scalinglab.stores.file.StoreError` naming the file). Tables and units: :mod:`scalinglab.stores.run_store`.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.stores.file import INCOMPLETE_FINISHED_RUNS, StoreError, open_connection, sqlite_error

__all__ = ["RunRecord", "StoreReader", "config_json", "open_reader"]

_NUMERIC_COLUMNS = frozenset({"params", "params_non_embedding", "tokens", "flops", "loss", "final_val_loss",
                              "final_val_bpb", "wall_seconds", "train_loss", "val_loss", "val_bpb",
                              "grad_noise_scale", "step", "lr"})


@dataclass(frozen=True)
class RunRecord:
    """One run as the runner needs it: what to train (config, seed) and where it stands."""

    id: int
    sweep_id: int
    config: dict[str, Any]
    seed: int
    status: str
    attempt: str | None = None


def config_json(config: Mapping[str, Any], what: str) -> str:
    """Canonical JSON (sorted keys, no spaces): equal configs give equal text and hash."""
    if not isinstance(config, Mapping):
        raise ScalingLabError(f"{what} must be a mapping (dict), got {type(config).__name__}")
    try:
        return json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ScalingLabError(f"{what} is not JSON-serialisable ({exc})") from None


class StoreReader:
    """Queries of an open store: ``_conn`` (a SQLite connection), ``name`` (the file as given) and
    ``version`` (its schema version) are set by :class:`~scalinglab.stores.run_store.RunStore`."""

    _conn: sqlite3.Connection
    name: str
    version: int

    def close(self) -> None:
        """Close the connection (a checkpoint folds the WAL back into the file)."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """SQLite (and pandas') database errors as one-line StoreErrors."""
        try:
            yield
        except sqlite3.Error as exc:
            raise sqlite_error(self.name, exc, doing) from None
        except pd.errors.DatabaseError as exc:  # pandas' wrapper of SQLite's error
            raise sqlite_error(self.name, exc.__cause__ or exc, doing) from None

    def find_sweep(self, name: str, design: Mapping[str, Any] | None = None) -> int | None:
        """The newest sweep named ``name`` (and with exactly this design, if given), or None."""
        sql, args = "SELECT id FROM sweeps WHERE name = ?", [str(name)]
        if design is not None:
            sql += " AND design = ?"
            args.append(config_json(design, f"{self.name}: sweep {name!r}: the design"))
        with self._guard("read the run store"):
            row = self._conn.execute(sql + " ORDER BY id DESC LIMIT 1", args).fetchone()
        return None if row is None else int(row[0])

    def incomplete_runs(self) -> dict[int, tuple[int, int]]:
        """Finished runs whose curve is shorter than their stored ``evals`` (a store not yet repaired
        by a write): run id -> (evaluations stored, evaluations due)."""
        if self.version < 2:
            return {}
        with self._guard("read the run store"):
            rows = self._conn.execute(INCOMPLETE_FINISHED_RUNS).fetchall()
        return {int(r[0]): (int(r[1]), int(r[2])) for r in rows}

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
        with self._guard("read the run store"):
            return pd.read_sql_query(
                "SELECT s.id, s.name, s.design, s.created_at, COUNT(r.id) AS runs, "
                "SUM(r.status = 'finished') AS finished FROM sweeps s LEFT JOIN runs r ON r.sweep_id = s.id "
                "GROUP BY s.id ORDER BY s.id", self._conn)

    def runs_frame(self, sweep_id: int | None = None) -> pd.DataFrame:
        """One row per run (every status), ordered by id. Columns: ``run`` (id as text), ``id``,
        ``sweep_id``, ``sweep``, ``status``, ``seed``, canonical ``params`` (with embeddings),
        ``tokens``, ``flops``, ``loss`` (= final_val_loss, nats/token), then params_non_embedding,
        final_val_loss, final_val_bpb, device, wall_seconds, code_version, started_at, finished_at,
        error, config (JSON text), and ``budget`` [FLOPs] when configs carry a top-level "budget" and
        every finished run's does (a store mixing a sweep's runs with imported ones has no budget
        column, so that it reads as one table; the budgets stay in ``config``)."""
        sql = ("SELECT CAST(r.id AS TEXT) AS run, r.id, r.sweep_id, s.name AS sweep, r.status, r.seed, "
               "r.params, r.tokens, r.flops, r.final_val_loss AS loss, r.params_non_embedding, "
               "r.final_val_loss, r.final_val_bpb, r.device, r.wall_seconds, r.code_version, r.started_at, "
               "r.finished_at, r.error, r.config FROM runs r JOIN sweeps s ON s.id = r.sweep_id")
        df = self._query(sql, "r.sweep_id", sweep_id, "r.id")
        budgets = [self._json(c).get("budget") if c.startswith("{") else None for c in df["config"]]
        numeric = [isinstance(b, (int, float)) and not isinstance(b, bool) for b in budgets]
        if any(numeric) and all(n for n, status in zip(numeric, df["status"], strict=True) if status == "finished"):
            df["budget"] = pd.to_numeric(pd.Series(budgets, index=df.index, dtype=object), errors="coerce")
        return df

    def metrics_frame(self, run_id: int | None = None) -> pd.DataFrame:
        """One row per evaluation, ordered by run and step. Columns: ``run`` (id as text), ``step``,
        ``tokens``, ``flops``, ``loss`` (= val_loss, nats/token), ``params`` (the run's, with
        embeddings), train_loss, val_loss, val_bpb, grad_noise_scale, run_id, sweep_id, status, and ``lr``
        (the learning rate of the last step before the evaluation; missing (NaN) in a store older than
        schema 3, read as it is, and for an evaluation stored without it)."""
        lr = "m.lr" if self.version >= 3 else "NULL AS lr"
        sql = ("SELECT CAST(m.run_id AS TEXT) AS run, m.step, m.tokens, m.flops, m.val_loss AS loss, r.params, "
               "m.train_loss, m.val_loss, m.val_bpb, m.grad_noise_scale, m.run_id, r.sweep_id, r.status, "
               f"{lr} FROM metrics m JOIN runs r ON r.id = m.run_id")
        return self._query(sql, "m.run_id", run_id, "m.run_id, m.step")

    def integrity_ok(self) -> bool:
        """Whether ``PRAGMA integrity_check`` answers 'ok' (and no foreign key is dangling)."""
        with self._guard("check the run store"):
            rows = self._conn.execute("PRAGMA integrity_check").fetchall()
            dangling = self._conn.execute("PRAGMA foreign_key_check").fetchall()
        return [tuple(r) for r in rows] == [("ok",)] and not dangling

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
        with self._guard("read the run store"):
            df = pd.read_sql_query(f"{sql} ORDER BY {order}", self._conn, params=args)
        for col in _NUMERIC_COLUMNS.intersection(df.columns):  # all-NULL columns come back as object
            df[col] = pd.to_numeric(df[col])
        return df

    def _records(self, where: str, value: int) -> list[RunRecord]:
        attempt = "attempt" if self.version >= 2 else "NULL"
        with self._guard("read the run store"):
            rows = self._conn.execute(f"SELECT id, sweep_id, config, seed, status, {attempt} FROM runs {where}",
                                      (value,)).fetchall()
        return [RunRecord(int(r[0]), int(r[1]), self._json(r[2]), int(r[3]), str(r[4]), r[5]) for r in rows]

    def _json(self, text: str) -> dict[str, Any]:
        """A stored config or design (JSON text); a StoreError when it is not JSON (a damaged store)."""
        try:
            return json.loads(text)
        except ValueError:
            raise StoreError(f"{self.name}: the run store is damaged: a stored config is not JSON "
                             f"({text[:40]!r}...); restore it from a backup") from None

    def _sweep_exists(self, sweep_id: int) -> None:
        with self._guard("read the run store"):
            row = self._conn.execute("SELECT 1 FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        if row is None:
            raise ScalingLabError(f"{self.name}: no sweep with id {sweep_id!r}")


def open_reader(path: str | os.PathLike[str]) -> StoreReader:
    """An existing store opened for reading only, as ``RunStore(path, readonly=True)`` opens it (checked
    first, nothing written): the queries of :class:`StoreReader` without the writer."""
    reader = StoreReader()
    reader.name = os.fspath(path)
    reader._conn, reader.version = open_connection(Path(path), reader.name, write=False)
    return reader
