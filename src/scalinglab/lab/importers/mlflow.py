"""Runs from an MLflow tracking store, read with MLflow's own client (``MlflowClient``).

``source`` is a tracking URI or a local path:

- a folder: a file store as MLflow writes it (``./mlruns``: one folder per experiment with a
  ``meta.yaml``). MLflow >= 3.7 refuses to open file stores unless ``MLFLOW_ALLOW_FILE_STORE`` is
  true (the backend is in maintenance mode); this reader sets it while it reads, and only reads.
- a SQLite file (``mlflow.db``) or ``sqlite:///path``: MLflow's database store. MLflow reads it
  through SQLAlchemy, which the ``mlflow-skinny`` package (the ``trackers`` extra) does not
  install: without it the import stops with a message saying so (``pip install sqlalchemy``).
- any other URI (``http://``, ``https://``, ``file://``) is handed to the client as it is. For an
  ``http(s)://`` server a TCP connection is tried first (to the proxy when ``HTTP(S)_PROXY`` applies),
  waiting at most :data:`CONNECT_TIMEOUT_S` seconds: a server that is down or unreachable is refused
  at once with one line, rather than after the client's retries (minutes).

Every active experiment is read, or only ``experiment``. Runs are those with status FINISHED
(running, failed and killed runs are left out, counted in a note); a run is named by its run
name (``experiment/run`` when several experiments are read; the run id's first 8 characters are
appended to names that repeat). Hyperparameters are the run's params (text, as MLflow stores them);
each metric's full history (``get_metric_history``: step, value) is read, the latest timestamp
winning when a step was logged twice. Needs ``mlflow-skinny`` (``pip install 'scalinglab[trackers]'``).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from scalinglab.errors import ScalingLabError
from scalinglab.lab.importers.source import SourceRun, as_step, json_scalar, optional_module

__all__ = ["read_runs", "tracking_uri"]

WHAT = "MLflow stores"
SQLITE_MAGIC = b"SQLite format 3\x00"
CONNECT_TIMEOUT_S = 5.0  # seconds to wait for a tracking server (or its proxy) to accept a connection


def read_runs(source: str, experiment: str | None = None) -> tuple[str, list[SourceRun], list[str]]:
    """(source id = the tracking URI, runs, notes) of the MLflow store ``source``."""
    uri, file_store = tracking_uri(source)
    tracking = optional_module("mlflow.tracking", WHAT)
    notes: list[str] = []
    try:
        with _file_store_allowed(file_store):
            client = tracking.MlflowClient(tracking_uri=uri)
            experiments = _experiments(client, source, experiment)
            found = [(exp, run) for exp in experiments for run in _paged(client.search_runs, [exp.experiment_id])]
            finished = [(exp, run) for exp, run in found if run.info.status == "FINISHED"]
            skipped = Counter(run.info.status for _, run in found if run.info.status != "FINISHED")
            if skipped:
                notes.append("runs not finished left out: " + ", ".join(f"{n} {s}" for s, n in sorted(skipped.items())))
            runs = [_read_run(client, run, exp.name if len(experiments) > 1 else None) for exp, run in finished]
    except ScalingLabError:
        raise
    except Exception as exc:  # MlflowException and the store's own errors
        message = str(getattr(exc, "message", exc)).strip().splitlines()
        raise ScalingLabError(f"{source}: cannot read the MLflow store ({type(exc).__name__}: "
                              f"{message[0] if message else ''})") from None
    if not runs:
        where = f"experiment {experiment!r}" if experiment else f"{len(experiments)} experiments"
        raise ScalingLabError(f"{source}: no runs found: no finished run in {where}"
                              + (f" ({notes[0]})" if notes else ""))
    _unique_names(runs)
    return uri, runs, notes


def tracking_uri(source: str) -> tuple[str, bool]:
    """(the tracking URI for ``source``, whether it is a file store); refuses a source that does not
    exist (MLflow would create an empty store there) and SQLite without SQLAlchemy."""
    if "://" in source:
        scheme = source.split("://", 1)[0].lower()
        if scheme == "sqlite":
            path = Path(source[len("sqlite:///"):]) if source.startswith("sqlite:///") else None
            if path is None or not path.is_file():
                raise ScalingLabError(f"{source}: no such MLflow database file")
            _need_sqlalchemy(source)
            return f"sqlite:///{path.resolve()}", False
        if scheme == "file":
            path = Path(unquote(urlparse(source).path))
            if not path.is_dir():
                raise ScalingLabError(f"{source}: no such MLflow store folder")
            return _file_store(path, source), True
        if scheme in ("http", "https"):
            check_reachable(source)
        return source, False
    path = Path(source)
    if not path.exists():
        raise ScalingLabError(f"{source}: no such MLflow store (a folder such as ./mlruns, a SQLite file "
                              "such as mlflow.db, or a tracking URI)")
    if path.is_file():
        with path.open("rb") as fh:
            if fh.read(16) != SQLITE_MAGIC:
                raise ScalingLabError(f"{source}: not an MLflow store (a file that is not a SQLite database)")
        _need_sqlalchemy(source)
        return f"sqlite:///{path.resolve()}", False
    return _file_store(path, source), True


def check_reachable(uri: str, timeout: float | None = None) -> None:
    """Refuse an ``http(s)://`` tracking URI whose server (or the proxy the environment names for it)
    does not accept a TCP connection within ``timeout`` seconds (default :data:`CONNECT_TIMEOUT_S`)."""
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    try:
        host, port = parsed.hostname, parsed.port or (443 if scheme == "https" else 80)
    except ValueError:  # a port that is not a number
        raise ScalingLabError(f"{uri}: not a valid tracking URI (bad port)") from None
    if not host:
        raise ScalingLabError(f"{uri}: not a valid tracking URI (no host)")
    what = f"the MLflow tracking server at {host}:{port}"
    proxy = urllib.request.getproxies().get(scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        p = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        if p.hostname:
            host, port = p.hostname, p.port or (443 if p.scheme == "https" else 80)
            what += f" through the proxy {host}:{port}"
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except TimeoutError:
        raise ScalingLabError(f"{uri}: cannot reach {what}: no answer within {timeout:g} s") from None
    except OSError as exc:
        reason = ("unknown host" if isinstance(exc, socket.gaierror)
                  else "connection refused: is the server running?" if isinstance(exc, ConnectionRefusedError)
                  else exc.strerror or type(exc).__name__)
        raise ScalingLabError(f"{uri}: cannot reach {what} ({reason})") from None


def _file_store(path: Path, source: str) -> str:
    if not any((d / "meta.yaml").is_file() for d in path.iterdir() if d.is_dir()):
        inner = [n for n in ("mlruns", "mlflow.db") if (path / n).exists()]
        hint = f" (did you mean {path / inner[0]}?)" if inner else ""
        raise ScalingLabError(f"{source}: not an MLflow file store: no experiment folders with a meta.yaml{hint}")
    return str(path.resolve())


def _need_sqlalchemy(source: str) -> None:
    if importlib.util.find_spec("sqlalchemy") is None:
        raise ScalingLabError(f"{source}: reading an MLflow database store needs SQLAlchemy, which mlflow-skinny "
                              "does not install: pip install sqlalchemy (a file store such as ./mlruns needs "
                              "only mlflow-skinny)")


@contextmanager
def _file_store_allowed(allowed: bool) -> Iterator[None]:
    """Set MLFLOW_ALLOW_FILE_STORE=true for the duration (MLflow >= 3.7 refuses file stores otherwise)."""
    key, before = "MLFLOW_ALLOW_FILE_STORE", os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    if allowed:
        os.environ[key] = "true"
    try:
        yield
    finally:
        if allowed and before is None:
            os.environ.pop(key, None)
        elif allowed:
            os.environ[key] = before  # type: ignore[assignment]


def _paged(search: Any, *args: Any) -> Iterator[Any]:
    """Every item of a paged MLflow search (``search_experiments``, ``search_runs``)."""
    token = None
    while True:
        page = search(*args, max_results=1000, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _experiments(client: Any, source: str, name: str | None) -> list[Any]:
    every = list(_paged(client.search_experiments))
    if name is None:
        return every
    chosen = [e for e in every if e.name == name]
    if not chosen:
        names = ", ".join(repr(e.name) for e in every) or "(none)"
        raise ScalingLabError(f"--experiment {name}: {source} has no such experiment; experiments are: {names}")
    return chosen


def _read_run(client: Any, run: Any, experiment: str | None) -> SourceRun:
    info = run.info
    name = info.run_name or info.run_id
    out = SourceRun(name=f"{experiment}/{name}" if experiment else name,
                    hparams={k: json_scalar(v) for k, v in sorted(run.data.params.items())},
                    where=f"run {info.run_id}")
    for key in sorted(run.data.metrics):
        history = sorted(client.get_metric_history(info.run_id, key), key=lambda m: (m.step, m.timestamp))
        for m in history:
            out.add(key, as_step(m.step, f"run {out.name!r}, metric {key!r}"), m.value)
    return out


def _unique_names(runs: list[SourceRun]) -> None:
    """Append the run id's first 8 characters to run names that repeat."""
    counts = Counter(r.name for r in runs)
    for r in runs:
        if counts[r.name] > 1:
            r.name = f"{r.name}-{r.where.removeprefix('run ')[:8]}"
