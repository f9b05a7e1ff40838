"""Run a sweep: train every :class:`~scalinglab.lab.spec.PlannedRun` and record it in a run store.

:func:`run_sweep` is resumable and crash-safe by construction:

1. The sweep is found in the :class:`~scalinglab.stores.run_store.RunStore` by name AND design (the corpus
   and every planned run's config), or created; so the SAME command finds the same sweep again.
2. Each planned run is added with :meth:`RunStore.add_run` (idempotent: same config and seed, same
   row). The run's identity is its :meth:`PlannedRun.to_dict` WITHOUT ``device`` (the device a run
   trains on is recorded per run, so a sweep started on the CPU may be finished on a GPU).
3. Finished runs are skipped; pending, interrupted (``running``) and failed runs are trained. With
   ``checkpoint_dir`` each run writes ``run-<id>-<tag>.pt`` (tag: store, sweep, corpus) after every evaluation and an interrupted run
   continues from it (``train_run(resume=...)``; deleted once the run is finished); without, it
   restarts from step 0 (its earlier metrics are deleted by :meth:`RunStore.start_run`).
4. Every :class:`~scalinglab.lab.train.EvalPoint` is written (one transaction each) as it happens;
   the last one is written together with the "finished" status (:meth:`RunStore.finish_run`), so a
   SIGKILL at any moment loses at most the runs in progress, never a finished one. Each write
   carries the token of the attempt that started the run, so a worker of an earlier attempt can add
   nothing to the one training now, and a run is finished only with all :func:`eval_count`
   evaluations (the store's module docstring).

Backend ``local``: ``workers == 1`` trains in this process; ``workers > 1`` uses a process pool
(``concurrent.futures`` with the ``"spawn"`` context: no forked torch state) of single-threaded
workers (``train_run`` sets one torch thread on the CPU; two threads per run on a loaded 2-core
machine are up to 50x slower), which end themselves when this process dies, armed before they import
torch (:mod:`scalinglab.lab.worker_guard`). Each worker process loads the corpus once (cached per process) and
writes to the store through its own connection (the store takes the write lock per transaction,
``BEGIN IMMEDIATE``, so several processes may write). Runs are seeded by their own config, so the
results do not depend on ``workers`` (bit-for-bit on the CPU). On CUDA (and with ``runs_per_gpu``)
each pool worker is pinned to one device for its life, K (``runs_per_gpu``, default 1) per GPU,
round-robin over the GPUs torch sees (:mod:`scalinglab.lab.devices`); the run records the device
it trained on (``cuda:1``).

Backend ``ray`` (:mod:`scalinglab.lab.ray_backend`): each run is a Ray task on a cluster or on a
local Ray started for the sweep; the tasks send their events (:class:`RunEvent`) to this process,
the only writer of the store, so crash safety and resume are as above and the results are the
local backend's, bit for bit on the CPU. A run whose worker or node died is retried on another
(``max_retries``, default 3) as a new attempt of the same run, so the store holds it once.

Progress (``progress=True``, :mod:`scalinglab.lab.progress`): a sweep row and one row per running
run (tokens, losses, ETA), fed by the evaluations as they are recorded; with a process pool the
parent reads the workers' latest evaluations back from the store every 0.5 s (:func:`poll_store`).

Units: params (with embeddings, as the store's ``params`` column), tokens (training tokens),
flops (6 N D with N as ``RunConfig.flops_params``, non-embedding by default), losses nats/token.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from scalinglab._version import __version__
from scalinglab.errors import ScalingLabError
from scalinglab.lab import ray_backend, worker_guard
from scalinglab.lab.config import RunConfig
from scalinglab.lab.cpu_speed import work_flops
from scalinglab.lab.devices import check_runs_per_gpu, cuda_device_count, pool_devices, worker_devices
from scalinglab.lab.jobs import (  # noqa: F401 (re-exported: the runner's names before lab.jobs)
    _CORPORA,
    RunEvent,
    _Job,
    _metric,
    _numbers,
    _resume_checkpoint,
    _train_job,
    cached_corpus,
    eval_count,
    record,
)
from scalinglab.lab.progress import SweepProgress
from scalinglab.lab.requires import require_torch
from scalinglab.lab.spec import PlannedRun
from scalinglab.plan.architecture import Architecture
from scalinglab.stores.file import check as check_store
from scalinglab.stores.run_store import RunStore, StaleAttemptError, timestamp

__all__ = ["BACKENDS", "RUN_KEYS", "RunEvent", "config_from_dict", "planned_row", "poll_store", "record", "run_key",
           "run_sweep", "store_rows"]

BACKENDS = ("local", "ray")
#: Keys of one run row (the ``--json`` contract of ``scalinglab sweep`` and ``scalinglab runs``).
RUN_KEYS = ("id", "status", "params", "tokens", "flops", "final_val_loss", "final_val_bpb")


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


def planned_row(planned: PlannedRun) -> dict[str, Any]:
    """The row of a run not yet in a store (a dry run): id null, status "planned"."""
    params, tokens, flops = _numbers(planned.config)
    return {"id": None, "status": "planned", "params": params, "tokens": tokens, "flops": flops,
            "final_val_loss": None, "final_val_bpb": None}


def store_rows(store: RunStore, ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Rows (:data:`RUN_KEYS`) of the store's runs (all, or ``ids`` in that order). Unfinished runs
    show the params/tokens/FLOPs their config plans and ``final_val_loss`` null; ``final_val_bpb``
    (bits per byte of the validation text) is null where the store has none (an imported run)."""
    df = store.runs_frame()
    by_id: dict[int, dict[str, Any]] = {}
    for rec in df.to_dict("records"):
        row = {"id": int(rec["id"]), "status": rec["status"], "params": None, "tokens": None, "flops": None,
               "final_val_loss": None, "final_val_bpb": None}
        if rec["status"] == "finished":
            row.update(params=int(rec["params"]), tokens=int(rec["tokens"]), flops=float(rec["flops"]),
                       final_val_loss=float(rec["final_val_loss"]), final_val_bpb=_number(rec.get("final_val_bpb")))
        else:
            try:
                params, tokens, flops = _numbers(config_from_dict(json.loads(rec["config"])))
                row.update(params=params, tokens=tokens, flops=flops)
            except (ScalingLabError, KeyError, TypeError, ValueError):  # an imported or foreign run
                pass
        by_id[row["id"]] = row
    return [by_id[i] for i in ids] if ids is not None else list(by_id.values())


# ---- one run (in this process or in a worker) ------------------------------------------------------
_STORES: dict[str, RunStore] = {}


def _store(path: str) -> RunStore:
    """This process's own connection to the store."""
    if path not in _STORES:
        _STORES[path] = RunStore(path)
    return _STORES[path]


def _on_device(job: _Job, device: str | None) -> _Job:
    """``job`` trained on ``device`` (None: its own)."""
    if device is None or device == job.config.device:
        return job
    return dataclasses.replace(job, config=dataclasses.replace(job.config, device=device))


def _pool_job(job: _Job) -> tuple[str, float | None]:
    """One run in a pool worker (on the device the worker is pinned to, if any), recorded through the
    worker's own store connection; its status ("superseded" when another process restarted the run
    meanwhile: this attempt stops) and final validation loss (nats/token; None unless finished)."""
    job = _on_device(job, os.environ.get(worker_guard.WORKER_DEVICE_ENV))
    store = _store(job.store)
    try:
        final = _train_job(job, lambda event: record(store, job, event))
        record(store, job, final)
    except StaleAttemptError:
        return "superseded", None
    if final.kind != "finish":
        return "failed", None
    return "finished", final.data["final_val_loss"]


def run_sweep(runs: list[PlannedRun], store: str | os.PathLike[str], *, corpus: str = "shakespeare",
              sweep_name: str = "sweep", workers: int | None = None, device: str = "cpu",
              progress: bool | str = False, checkpoint_dir: str | os.PathLike[str] | None = None,
              backend: str = "local", tokenizer: str = "bytes", address: str | None = None,
              text_field: str | None = None, max_tokens: int | None = None, runs_per_gpu: int | None = None,
              max_retries: int | None = None) -> list[dict[str, Any]]:
    """Train the unfinished runs of ``runs`` (module docstring) and return one row per planned run,
    in order: {id, status, params, tokens, flops, final_val_loss, final_val_bpb} (:data:`RUN_KEYS`).

    ``tokenizer``: "bytes", "bpe" or a tokenizer.json path; ``text_field`` and ``max_tokens``: of a
    dataset path (:func:`~scalinglab.lab.corpus.load_corpus`). A dataset's own record
    (``TokenData.info``: format, held-out rule, records and tokens per split) is stored in the sweep's
    design under ``"data"``, so the store says which records were held out.
    ``workers``: runs trained at once (default ``min(cores, runs to train)``; with Ray: the CPUs of
    the local Ray started for the sweep, or no limit on a cluster); ``device``: "cpu" or "cuda[:i]".
    ``runs_per_gpu``: K runs trained at once on each device (:mod:`scalinglab.lab.devices`): the local
    backend starts K worker processes per device (``cuda``: every GPU; the CPU counts as one device),
    Ray gives each task ``num_gpus = 1/K`` (refused on the CPU); the local backend refuses it together
    with ``workers`` (Ray takes both: ``workers`` caps the tasks in flight).
    ``max_retries``: Ray only, times a run whose worker or node died is submitted again (default 3).
    ``backend``: "local" or "ray" (:mod:`scalinglab.lab.ray_backend`): ``address`` of a running Ray
    cluster, or None for a local Ray started (and stopped) for this sweep; when Ray is already
    initialised in this process, that Ray is used as it is and left running.
    ``progress``: show a rich progress bar of the sweep and of each running run on stderr
    (:mod:`scalinglab.lab.progress`); ``"lines"``: one plain line per finished run instead (off a
    terminal: CI logs, pipes).
    Without torch (the ``lab`` extra) it raises a one-line ScalingLabError saying how to install it;
    importing this module, :func:`planned_row`, :func:`store_rows` and :func:`config_from_dict` need no torch.
    Bad input (no runs, a corpus that cannot be loaded or does not fit a model's vocabulary, an
    unusable store, an unreachable Ray) raises ScalingLabError before the store is created or changed.
    A store that fails while the sweep runs (a full disk) raises a one-line StoreError; what was
    committed before stays, and the same command resumes.

    Resume repairs: a planned run marked finished whose curve holds fewer evaluations than its config
    schedules (:func:`eval_count`; left by an older scalinglab, whose orphaned workers could finish a
    run with part of a curve) is trained again.
    """
    require_torch("run_sweep")  # one line naming the lab extra, before anything is read or written
    if backend not in BACKENDS:
        raise ScalingLabError(f"backend: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise ScalingLabError("address: only the ray backend connects to an address; use backend='ray'")
    if not runs or not all(isinstance(r, PlannedRun) for r in runs):
        raise ScalingLabError("runs: expected a non-empty list of PlannedRun")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ScalingLabError(f"workers: must be a positive integer, got {workers!r}")
    configs = [dataclasses.replace(r.config, device=device) for r in runs]  # validates device
    retries, slots = _check_parallel(backend, device, workers, runs_per_gpu, max_retries)
    data = cached_corpus(str(corpus), tokenizer, text_field, max_tokens)  # a bad corpus fails here, before the store is touched
    for c in configs:
        if data.vocab_size > c.arch.vocab_size:
            raise ScalingLabError(f"corpus {corpus}: vocab_size={data.vocab_size} exceeds architecture "
                                  f"'{c.arch.name}' vocab_size={c.arch.vocab_size}")
        if min(data.train.size, data.val.size) < c.context + 1:
            raise ScalingLabError(f"corpus {corpus}: a split is shorter than seq_len + 1 = {c.context + 1} tokens")
    keys = [run_key(r) for r in runs]
    design: dict[str, Any] = {"corpus": str(corpus), "runs": keys}
    if tokenizer != "bytes":
        design["tokenizer"] = tokenizer
    if data.info:  # a dataset path: which records were held out, how many tokens each split holds
        design["data"] = data.info
    check_store(Path(store), os.fspath(store), write=True)  # a store that cannot take the sweep: fail now
    with ExitStack() as stack:
        if backend == "ray":  # connect (or start Ray) before the store is touched
            stack.enter_context(ray_backend.ray_session(address, workers))
        ckdir = None if checkpoint_dir is None else Path(checkpoint_dir)
        if ckdir is not None:
            ckdir.mkdir(parents=True, exist_ok=True)
        st = stack.enter_context(RunStore(store))
        sweep = st.find_sweep(sweep_name, design)
        if sweep is None:
            sweep = st.create_sweep(sweep_name, design)
        ids = [st.add_run(sweep, k, c.seed) for k, c in zip(keys, configs, strict=True)]
        st.repair_runs({i: eval_count(c) for i, c in zip(ids, configs, strict=True)})
        todo = {r.id for r in st.pending_runs(sweep)}
        tag = _checkpoint_tag(store, sweep, corpus, tokenizer)
        jobs = [_Job(i, c, str(corpus), tokenizer, os.fspath(store),
                     None if ckdir is None else os.fspath(ckdir.resolve() / f"run-{i}-{tag}.pt"), __version__,
                     text_field, max_tokens)
                for i, c in zip(ids, configs, strict=True) if i in todo]
        jobs = list({j.run_id: j for j in jobs}.values())  # a run planned twice is trained once
        bar = SweepProgress(len(set(ids)), len(set(ids)) - len(jobs), sum(work_flops(j.config) for j in jobs))
        with bar.live(progress):
            if backend == "ray":
                ray_backend.execute(jobs, st, data, workers, bar, runs_per_gpu=runs_per_gpu or 1,
                                    max_retries=retries)
            else:
                n = max(1, _pool_size(len(jobs), workers, slots))
                _execute(jobs, n, st, bar, poll=progress is True,  # "lines" needs no polling
                         devices=None if slots is None else pool_devices(slots, n))
        return store_rows(st, ids)


def _check_parallel(backend: str, device: str, workers: int | None, runs_per_gpu: int | None,
                    max_retries: int | None) -> tuple[int, list[str] | None]:
    """Validate ``runs_per_gpu`` and ``max_retries`` (one-line ScalingLabErrors); returns (Ray's
    retries, the local backend's device slots: :func:`~scalinglab.lab.devices.worker_devices`, or
    None for today's unpinned CPU pool)."""
    k = None if runs_per_gpu is None else check_runs_per_gpu(runs_per_gpu)
    if k is not None and workers is not None and backend == "local":
        raise ScalingLabError("runs_per_gpu: give workers or runs_per_gpu, not both (the local backend starts "
                              "runs_per_gpu x devices workers)")
    if max_retries is not None and backend != "ray":
        raise ScalingLabError("max_retries: only the ray backend retries runs whose node died; use backend='ray'")
    if max_retries is not None and (isinstance(max_retries, bool) or not isinstance(max_retries, int)
                                    or max_retries < 0):
        raise ScalingLabError(f"max_retries: must be a whole number >= 0, got {max_retries!r}")
    retries = ray_backend.DEFAULT_MAX_RETRIES if max_retries is None else max_retries
    if backend == "ray":
        ray_backend.task_options(device, k or 1)  # refuses what Ray cannot do (K > 1 on the CPU, cuda:i)
        return retries, None
    if device == "cpu" and k is None:
        return retries, None
    return retries, worker_devices(device, k or 1, 0 if device == "cpu" else cuda_device_count())


def _pool_size(jobs: int, workers: int | None, slots: list[str] | None) -> int:
    """Worker processes of the local backend: ``workers``, else one per device slot, else one per
    core; never more than the runs to train."""
    if workers is not None:
        return min(workers, max(1, jobs))
    return min(len(slots) if slots is not None else os.cpu_count() or 1, jobs)


def _checkpoint_tag(store: str | os.PathLike[str], sweep: int, corpus: str, tokenizer: str) -> str:
    """8 hex digits naming (store file, sweep, corpus, tokenizer) in checkpoint file names, so two
    stores or corpora sharing a checkpoint folder never resume from each other's runs."""
    key = json.dumps([os.path.realpath(os.fspath(store)), sweep, str(corpus), tokenizer])
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def _execute(jobs: list[_Job], workers: int, store: RunStore, progress: SweepProgress, poll: bool,
             devices: list[str] | None = None) -> None:
    """The local backend: in this process (``workers == 1``, in order) or a pool of spawned processes
    (longest expected run first, :func:`~scalinglab.lab.cpu_speed.work_flops`, so that no long run is
    left to one worker at the end), whose evaluations the parent reads back from the store every 0.5 s
    for the progress bar when ``poll``.
    ``devices``: one device per worker (each pool worker pinned to its own), or None (the jobs' own)."""
    if workers == 1:
        for job in (_on_device(j, None if devices is None else devices[0]) for j in jobs):
            try:
                final = _train_job(job, lambda event, job=job: record(store, job, event, progress))
                record(store, job, final, progress)
            except StaleAttemptError:  # another process restarted this run: it trains it
                progress.end_run(job.run_id, "superseded")
        return
    since, context = timestamp(), get_context("spawn")
    queue = None
    if devices is not None:  # each worker takes one device from the queue when it starts
        queue = context.Queue()
        for d in devices:
            queue.put(d)
    init, init_args = worker_guard.initializer(devices=queue)  # the watchdog is armed before the worker imports torch
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=init,
                             initargs=init_args) as pool:
        longest_first = sorted(jobs, key=lambda j: work_flops(j.config), reverse=True)  # no long run left for the end
        futures: dict[Future[tuple[str, float | None]], _Job] = {pool.submit(_pool_job, j): j for j in longest_first}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.5 if poll else None, return_when=FIRST_COMPLETED)
                for f in done:
                    job = futures[f]
                    status, loss = f.result()
                    progress.end_run(job.run_id, status, flops=work_flops(job.config), val_loss=loss)
                if poll:
                    poll_store(store, [futures[f] for f in pending], progress, since)
        except BrokenProcessPool:
            pool.shutdown(wait=False, cancel_futures=True)
            _fail_interrupted(store, list(futures.values()))  # a broken pool ends every future at once
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _fail_interrupted(store: RunStore, jobs: list[_Job]) -> None:
    """A pool worker died (killed by the OS, out of memory, a crash): mark the runs it left running
    as failed and say so; the same command retries them."""
    lost = [run for run in (store.get_run(i) for i in sorted({j.run_id for j in jobs})) if run.status == "running"]
    for run in lost:  # the dead worker's attempt, named by its token
        store.fail_run(run.id, "worker process died (killed by the OS or out of memory?)", attempt=run.attempt)
    raise ScalingLabError(f"a worker process died (killed by the OS or out of memory?); run(s) "
                          f"{', '.join(str(run.id) for run in lost) or 'none'} marked failed, others not trained; run the same "
                          "command again to train them")


def poll_store(store: RunStore, jobs: list[_Job], progress: SweepProgress, since: str) -> None:
    """Show on ``progress`` the runs of ``jobs`` that other processes started at or after ``since``
    (UTC ISO text) and are running, with their latest stored evaluation (tokens, losses)."""
    if not jobs:
        return
    by_id = {j.run_id: j for j in jobs}
    runs = store.runs_frame()
    started_here = runs["started_at"].fillna("").astype(str) >= since
    runs = runs[runs["id"].isin(list(by_id)) & (runs["status"] == "running") & started_here]
    for run_id in (int(i) for i in runs["id"]):
        job, metrics = by_id[run_id], store.metrics_frame(run_id)
        last = metrics.iloc[-1] if len(metrics) else None
        tokens = 0 if last is None else int(last["tokens"])
        if run_id not in progress.running:
            progress.start_run(run_id, job.label, job.config.trained_tokens, work_flops(job.config), tokens_done=tokens)
        elif last is not None and tokens != progress.running[run_id].tokens:
            progress.update(run_id, tokens, _number(last["train_loss"]), _number(last["val_loss"]))


def _number(value: Any) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)
