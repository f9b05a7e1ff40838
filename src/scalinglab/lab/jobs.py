"""One run of a sweep as a job: what a worker trains (:class:`_Job`), the events it reports
(:class:`RunEvent`), training it (:func:`_train_job`) and writing its events to the store
(:func:`record`). Shared by the local backend (:mod:`scalinglab.lab.runner`, which re-exports these
names) and the Ray backend (:mod:`scalinglab.lab.ray_backend`). Units as in :mod:`scalinglab.lab.runner`:
params (with embeddings), tokens (training tokens), flops (6 N D), losses nats/token.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from scalinglab.errors import ScalingLabError
from scalinglab.lab.config import RunConfig
from scalinglab.lab.corpus import load_corpus
from scalinglab.lab.cpu_speed import work_flops
from scalinglab.lab.data import TokenData
from scalinglab.lab.progress import SweepProgress
from scalinglab.lab.records import Checkpoint, EvalPoint
from scalinglab.stores.run_store import RunStore, StoreError

__all__ = ["RunEvent", "cached_corpus", "eval_count", "record"]


def _numbers(config: RunConfig) -> tuple[int, int, float]:
    """(params with embeddings, tokens actually trained = steps x batch x seq_len, 6ND FLOPs)."""
    return config.params, config.trained_tokens, config.flops


def eval_count(config: RunConfig) -> int:
    """The evaluations :func:`~scalinglab.lab.train.train_run` makes: one every ``eval_every_steps``
    steps and one at the last step; a finished run's curve holds exactly these."""
    return config.steps // config.eval_every_steps + (1 if config.steps % config.eval_every_steps else 0)


_CORPORA: dict[tuple[str, str, str | None, int | None], TokenData] = {}


def cached_corpus(name: str, tokenizer: str = "bytes", text_field: str | None = None,
            max_tokens: int | None = None) -> TokenData:
    """The corpus, loaded once per process (a dataset path: from its token cache after the first load)."""
    key = (name, tokenizer, text_field, max_tokens)
    if key not in _CORPORA:
        _CORPORA[key] = load_corpus(name, tokenizer, text_field=text_field, max_tokens=max_tokens)
    return _CORPORA[key]


@dataclasses.dataclass(frozen=True)
class _Job:
    run_id: int
    config: RunConfig
    corpus: str
    tokenizer: str
    store: str
    checkpoint: str | None
    code_version: str
    text_field: str | None = None  # of a dataset path's records (load_corpus)
    max_tokens: int | None = None  # cap on a dataset path's tokens (load_corpus)

    @property
    def label(self) -> str:
        """The run's shape: layers x d_model / heads."""
        a = self.config.arch
        return f"{a.n_layer}x{a.d_model}/{a.n_heads}"


class RunEvent(NamedTuple):
    """What happened to a run, as the store records it: ``kind`` "start" (data: start_run's
    arguments), "metric" (one metrics row), "finish" (finish_run's arguments) or "fail" (error,
    wall_seconds). Plain data, so a worker elsewhere (a process, a Ray task) can send it."""

    kind: str
    run_id: int
    data: dict[str, Any]


def _resume_checkpoint(job: _Job) -> Checkpoint | None:
    """The run's own checkpoint of this config, if one was left by an interrupted attempt (on any
    device: a run may resume on another GPU or node than the one that wrote it)."""
    if job.checkpoint is None or not Path(job.checkpoint).exists():
        return None
    try:
        resume = Checkpoint.load(job.checkpoint)
    except ScalingLabError:  # unreadable (should not happen: written atomically): start over
        return None
    def same(config: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in config.items() if k != "device"}

    return resume if same(resume.config) == same(job.config.to_dict()) else None


def _train_job(job: _Job, emit: Callable[[RunEvent], None], data: TokenData | None = None) -> RunEvent:
    """Train one run on ``data`` (default: ``job.corpus`` loaded once per process): ``emit`` its start
    and every evaluation but the last; return the final event ("finish", with the last evaluation,
    or "fail") for the caller to record, so the run is finished in one transaction."""
    from scalinglab.lab.train import train_run  # torch: imported where a run trains, not by the runner

    resume = _resume_checkpoint(job)
    started = time.perf_counter()
    emit(RunEvent("start", job.run_id, {
        "device": job.config.device, "code_version": job.code_version, "params": job.config.arch.params(),
        "params_non_embedding": job.config.arch.params_non_embedding(), "evals": eval_count(job.config),
        "resume_step": None if resume is None else resume.step,
        # a resumed attempt's curve so far is its checkpoint's, whatever an earlier attempt left in the store
        "metrics": None if resume is None else [_metric(p) for p in resume.points]}))

    def log(point: EvalPoint) -> None:
        if point.step != job.config.steps:  # the last point is written with finish_run
            emit(RunEvent("metric", job.run_id, _metric(point)))

    try:
        data = cached_corpus(job.corpus, job.tokenizer, job.text_field, job.max_tokens) if data is None else data
        result = train_run(job.config, data, on_eval=log, resume=resume, checkpoint_path=job.checkpoint)
    except StoreError:  # the store cannot record (full, damaged) or the attempt is stale: not the run's failure
        raise
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded, the sweep goes on
        return RunEvent("fail", job.run_id, {"error": f"{type(exc).__name__}: {exc}",
                                             "wall_seconds": time.perf_counter() - started})
    if not math.isfinite(result.final_val_loss):  # diverged at the end: a failed run, not a finished one
        return RunEvent("fail", job.run_id, {"error": f"diverged: final validation loss {result.final_val_loss}",
                                             "wall_seconds": result.wall_seconds})
    return RunEvent("finish", job.run_id, {
        "params": result.params, "params_non_embedding": result.params_non_embedding, "tokens": result.tokens,
        "flops": result.flops, "final_val_loss": result.final_val_loss, "final_val_bpb": result.final_val_bpb,
        "wall_seconds": result.wall_seconds, "metrics": [_metric(result.points[-1])]})


def record(store: RunStore, job: _Job, event: RunEvent, progress: SweepProgress | None = None) -> None:
    """Write ``event`` of ``job``'s run to ``store`` (one transaction) and show it on ``progress``.
    A finished run's checkpoint is deleted after its "finished" status is committed."""
    kind, run_id, data = event
    if kind == "start":
        store.start_run(run_id, **data)
        if progress is not None:
            step = data.get("resume_step") or 0
            progress.start_run(run_id, job.label, job.config.trained_tokens, work_flops(job.config),
                               tokens_done=step * job.config.tokens_per_step)
    elif kind == "metric":
        store.log_metrics(run_id, [data])
        if progress is not None:
            progress.update(run_id, data["tokens"], data["train_loss"], data["val_loss"])
    elif kind in ("finish", "fail"):
        if kind == "finish":
            store.finish_run(run_id, **data)
            if job.checkpoint is not None:
                Path(job.checkpoint).unlink(missing_ok=True)
        else:
            store.fail_run(run_id, data["error"], wall_seconds=data.get("wall_seconds"))
        if progress is not None:
            progress.end_run(run_id, "finished" if kind == "finish" else "failed",
                             val_loss=data.get("final_val_loss") if kind == "finish" else None)
    else:
        raise ScalingLabError(f"run {run_id}: unknown run event {kind!r}")


def _metric(point: EvalPoint) -> dict[str, Any]:
    return {"step": point.step, "tokens": point.tokens, "flops": point.flops, "train_loss": point.train_loss,
            "val_loss": point.val_loss, "val_bpb": point.val_bpb,
            "grad_noise_scale": getattr(point, "grad_noise_scale", None), "lr": getattr(point, "lr", None)}


# ---- the sweep --------------------------------------------------------------------------------------
