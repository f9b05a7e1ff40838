"""Run a sweep: train every :class:`~scalinglab.lab.spec.PlannedRun` and record it in a run store.

:func:`run_sweep` is resumable and crash-safe by construction:

1. The sweep is found in the :class:`~scalinglab.lab.store.RunStore` by name AND design (the corpus
   and every planned run's config), or created; so the SAME command finds the same sweep again.
2. Each planned run is added with :meth:`RunStore.add_run` (idempotent: same config and seed, same
   row). The run's identity is its :meth:`PlannedRun.to_dict` WITHOUT ``device`` (the device a run
   trains on is recorded per run, so a sweep started on the CPU may be finished on a GPU).
3. Finished runs are skipped; pending, interrupted (``running``) and failed runs are trained. With
   ``checkpoint_dir`` each run writes ``run-<id>.pt`` after every evaluation and an interrupted run
   continues from it (``train_run(resume=...)``; deleted once the run is finished); without, it
   restarts from step 0 (its earlier metrics are deleted by :meth:`RunStore.start_run`).
4. Every :class:`~scalinglab.lab.train.EvalPoint` is written (one transaction each) as it happens;
   the last one is written together with the "finished" status (:meth:`RunStore.finish_run`), so a
   SIGKILL at any moment loses at most the run in progress, never a finished one.

Backend ``local``: ``workers == 1`` trains in this process; ``workers > 1`` uses a process pool
(``concurrent.futures`` with the ``"spawn"`` context: no forked torch state) of single-threaded
workers (``train_run`` sets one torch thread on the CPU; two threads per run on a loaded 2-core
machine are up to 50x slower). Each worker process loads the corpus once (cached per process) and
writes to the store through its own connection (the store takes the write lock per transaction,
``BEGIN IMMEDIATE``, so several processes may write). Runs are seeded by their own config, so the
results do not depend on ``workers`` (bit-for-bit on the CPU).

Units: params (with embeddings, as the store's ``params`` column), tokens (training tokens),
flops (6 N D with N as ``RunConfig.flops_params``, non-embedding by default), losses nats/token.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.lab.data import TokenData
from scalinglab.lab.spec import PlannedRun
from scalinglab.lab.store import RunStore
from scalinglab.lab.train import Checkpoint, RunConfig, train_run
from scalinglab.plan.architecture import Architecture
from scalinglab.plan.flops import flops_per_token

__all__ = ["BACKENDS", "RUN_KEYS", "config_from_dict", "planned_row", "run_key", "run_sweep", "store_rows"]

BACKENDS = ("local",)
#: Keys of one run row (the ``--json`` contract of ``scalinglab sweep`` and ``scalinglab runs``).
RUN_KEYS = ("id", "status", "params", "tokens", "flops", "final_val_loss")


# ---- rows -----------------------------------------------------------------------------------------
def run_key(planned: PlannedRun) -> dict[str, Any]:
    """The run's identity in the store: :meth:`PlannedRun.to_dict` without ``device``."""
    d = planned.to_dict()
    d.pop("device", None)
    return d


def config_from_dict(d: dict[str, Any], device: str = "cpu") -> RunConfig:
    """Rebuild a :class:`RunConfig` from a stored run config (extra keys such as budget/label ignored)."""
    names = {f.name for f in dataclasses.fields(RunConfig)}
    kwargs = {k: v for k, v in d.items() if k in names and k not in ("arch", "device")}
    return RunConfig(arch=Architecture(**d["arch"]), device=device, **kwargs)


def _numbers(config: RunConfig) -> tuple[int, int, float]:
    """(params with embeddings, tokens actually trained = steps x batch x seq_len, 6ND FLOPs)."""
    tokens = config.steps * config.tokens_per_step
    per_token = flops_per_token(config.arch, "6N", params=config.flops_params)
    return config.arch.params(), tokens, per_token * tokens


def planned_row(planned: PlannedRun) -> dict[str, Any]:
    """The row of a run not yet in a store (a dry run): id null, status "planned"."""
    params, tokens, flops = _numbers(planned.config)
    return {"id": None, "status": "planned", "params": params, "tokens": tokens, "flops": flops,
            "final_val_loss": None}


def store_rows(store: RunStore, ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Rows (:data:`RUN_KEYS`) of the store's runs (all, or ``ids`` in that order). Unfinished runs
    show the params/tokens/FLOPs their config plans and ``final_val_loss`` null."""
    df = store.runs_frame()
    by_id: dict[int, dict[str, Any]] = {}
    for rec in df.to_dict("records"):
        row = {"id": int(rec["id"]), "status": rec["status"], "params": None, "tokens": None, "flops": None,
               "final_val_loss": None}
        if rec["status"] == "finished":
            row.update(params=int(rec["params"]), tokens=int(rec["tokens"]), flops=float(rec["flops"]),
                       final_val_loss=float(rec["final_val_loss"]))
        else:
            try:
                params, tokens, flops = _numbers(config_from_dict(json.loads(rec["config"])))
                row.update(params=params, tokens=tokens, flops=flops)
            except (ScalingLabError, KeyError, TypeError, ValueError):  # an imported or foreign run
                pass
        by_id[row["id"]] = row
    return [by_id[i] for i in ids] if ids is not None else list(by_id.values())


# ---- one run (in this process or in a worker) ------------------------------------------------------
_CORPORA: dict[tuple[str, str], TokenData] = {}
_STORES: dict[str, RunStore] = {}


def _corpus(name: str, tokenizer: str = "bytes") -> TokenData:
    """The corpus, loaded once per process."""
    if (name, tokenizer) not in _CORPORA:
        from scalinglab.lab.corpus import load_corpus

        _CORPORA[name, tokenizer] = load_corpus(name, tokenizer)
    return _CORPORA[name, tokenizer]


def _store(path: str) -> RunStore:
    """This process's own connection to the store."""
    if path not in _STORES:
        _STORES[path] = RunStore(path)
    return _STORES[path]


@dataclasses.dataclass(frozen=True)
class _Job:
    run_id: int
    config: RunConfig
    corpus: str
    tokenizer: str
    store: str
    checkpoint: str | None
    code_version: str


def _train_job(job: _Job, store: RunStore | None = None) -> tuple[int, str]:
    """Train one run, writing its start, every evaluation and its end to ``store`` (default: this
    process's own connection to ``job.store``); returns (run id, "finished" or "failed")."""
    store = _store(job.store) if store is None else store
    resume = None
    if job.checkpoint is not None and Path(job.checkpoint).exists():
        try:
            resume = Checkpoint.load(job.checkpoint)
            if resume.config != job.config.to_dict():
                resume = None
        except ScalingLabError:  # unreadable (should not happen: written atomically): start over
            resume = None
    started = time.perf_counter()
    store.start_run(job.run_id, job.config.device, job.code_version, params=job.config.arch.params(),
                    params_non_embedding=job.config.arch.params_non_embedding(),
                    resume_step=None if resume is None else resume.step)

    def log(point: Any) -> None:
        if point.step != job.config.steps:  # the last point is written with finish_run
            store.log_metrics(job.run_id, [_metric(point)])

    try:
        result = train_run(job.config, _corpus(job.corpus, job.tokenizer), on_eval=log, resume=resume,
                           checkpoint_path=job.checkpoint)
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded, the sweep goes on
        store.fail_run(job.run_id, f"{type(exc).__name__}: {exc}", wall_seconds=time.perf_counter() - started)
        return job.run_id, "failed"
    store.finish_run(job.run_id, params=result.params, params_non_embedding=result.params_non_embedding,
                     tokens=result.tokens, flops=result.flops, final_val_loss=result.final_val_loss,
                     final_val_bpb=result.final_val_bpb, wall_seconds=result.wall_seconds,
                     metrics=[_metric(result.points[-1])])
    if job.checkpoint is not None:
        Path(job.checkpoint).unlink(missing_ok=True)
    return job.run_id, "finished"


def _metric(point: Any) -> dict[str, Any]:
    return {"step": point.step, "tokens": point.tokens, "flops": point.flops, "train_loss": point.train_loss,
            "val_loss": point.val_loss, "val_bpb": point.val_bpb}


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


# ---- the sweep --------------------------------------------------------------------------------------
def run_sweep(runs: list[PlannedRun], store: str | os.PathLike[str], *, corpus: str = "shakespeare",
              sweep_name: str = "sweep", workers: int | None = None, device: str = "cpu",
              progress: bool = False, checkpoint_dir: str | os.PathLike[str] | None = None,
              backend: str = "local", tokenizer: str = "bytes") -> list[dict[str, Any]]:
    """Train the unfinished runs of ``runs`` (module docstring) and return one row per planned run,
    in order: {id, status, params, tokens, flops, final_val_loss} (:data:`RUN_KEYS`).

    ``tokenizer``: "bytes" or "bpe" (:func:`~scalinglab.lab.corpus.load_corpus`).
    ``workers``: processes (default ``min(cores, runs to train)``); ``device``: "cpu" or "cuda[:i]".
    Bad input (no runs, a corpus that cannot be loaded or does not fit a model's vocabulary, an
    unusable store) raises ScalingLabError before the store is created or changed.
    """
    if backend != "local":
        if backend == "ray":
            raise ScalingLabError("backend: the Ray backend is not available yet; use --backend local")
        raise ScalingLabError(f"backend: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if not runs or not all(isinstance(r, PlannedRun) for r in runs):
        raise ScalingLabError("runs: expected a non-empty list of PlannedRun")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ScalingLabError(f"workers: must be a positive integer, got {workers!r}")
    configs = [dataclasses.replace(r.config, device=device) for r in runs]  # validates device
    data = _corpus(str(corpus), tokenizer)  # a missing corpus fails here, before the store is touched
    for c in configs:
        if data.vocab_size > c.arch.vocab_size:
            raise ScalingLabError(f"corpus {corpus}: vocab_size={data.vocab_size} exceeds architecture "
                                  f"'{c.arch.name}' vocab_size={c.arch.vocab_size}")
        if min(data.train.size, data.val.size) < c.context + 1:
            raise ScalingLabError(f"corpus {corpus}: a split is shorter than seq_len + 1 = {c.context + 1} tokens")
    ckdir = None if checkpoint_dir is None else Path(checkpoint_dir)
    if ckdir is not None:
        ckdir.mkdir(parents=True, exist_ok=True)
    keys = [run_key(r) for r in runs]
    design: dict[str, Any] = {"corpus": str(corpus), "runs": keys}
    if tokenizer != "bytes":
        design["tokenizer"] = tokenizer
    from scalinglab import __version__

    with RunStore(store) as st:
        sweep = st.find_sweep(sweep_name, design)
        if sweep is None:
            sweep = st.create_sweep(sweep_name, design)
        ids = [st.add_run(sweep, k, c.seed) for k, c in zip(keys, configs, strict=True)]
        todo = {r.id for r in st.pending_runs(sweep)}
        jobs = [_Job(i, c, str(corpus), tokenizer, os.fspath(store),
                     None if ckdir is None else os.fspath(ckdir / f"run-{i}.pt"), __version__)
                for i, c in zip(ids, configs, strict=True) if i in todo]
        jobs = list({j.run_id: j for j in jobs}.values())  # a run planned twice is trained once
        n = min(os.cpu_count() or 1, len(jobs)) if workers is None else min(workers, max(1, len(jobs)))
        with _progress(progress, len(ids), len(ids) - len(jobs)) as advance:
            _execute(jobs, max(1, n), advance, st)
        return store_rows(st, ids)


def _execute(jobs: list[_Job], workers: int, advance: Callable[[], None], store: RunStore) -> None:
    if workers == 1:
        for job in jobs:
            _train_job(job, store)
            advance()
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                             initializer=_worker_init) as pool:
        pending: set[Future[tuple[int, str]]] = {pool.submit(_train_job, j) for j in jobs}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    f.result()
                    advance()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


@contextmanager
def _progress(show: bool, total: int, done: int) -> Iterator[Callable[[], None]]:
    """A rich progress bar of the sweep's runs (finished / total, elapsed, ETA) when ``show``."""
    if not show:
        yield lambda: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), transient=False) as bar:
        task = bar.add_task("runs", total=total, completed=done)
        yield lambda: bar.advance(task)
