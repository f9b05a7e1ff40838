"""Live progress of a sweep: one row for the sweep and one per running run (rich).

:class:`SweepProgress` keeps the numbers (a plain state object, testable without a terminal or a
real clock: pass ``clock``) and, inside :meth:`SweepProgress.live`, shows them as a rich
``Progress`` on stderr (stdout stays free for ``--json`` and tables), redrawn 4 times a second:

* sweep row: runs ended / runs in the sweep (runs finished before this session count as ended),
  failed runs, elapsed time and ETA. ETA = elapsed x work left / work done in this session, each
  run's work counted as the ``flops`` the runner gives it (its expected time in FLOP-equivalents,
  executed FLOPs plus a fixed cost per step: :func:`scalinglab.lab.cpu_speed.work_flops`; 6ND alone
  made the small runs that finish first look nearly free, and the first ETAs hours too long) times
  the fraction of its tokens trained here;
* one row per running run: run id and shape (layers x d_model / heads), tokens trained / tokens
  planned, the latest training and validation losses (nats/token), elapsed time and the run's ETA
  = tokens left x seconds so far / tokens trained in this session. The row goes when the run ends.

Updates arrive once per evaluation (every ``RunConfig.eval_every_steps`` steps): that is the
granularity of the numbers; between updates the ETAs count down from their last estimate.

Off a terminal (a log, CI) ``live("lines")`` draws nothing and instead writes one plain line per ended
run to stderr (:meth:`SweepProgress.ended_line`: runs ended / in the sweep, the run, its status and
final validation loss, the sweep's elapsed time and ETA), so a piped sweep is never silent for minutes.
Units: tokens (training tokens), FLOP-equivalents of work, seconds, losses nats/token.
"""

from __future__ import annotations

import io
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task
from rich.text import Text

__all__ = ["RunProgress", "SweepProgress", "format_seconds"]

UNKNOWN = "-:--:--"
ROW_FIELDS = ("name", "amount", "loss", "elapsed", "eta")


def format_seconds(seconds: float | None) -> str:
    """``H:MM:SS`` (rounded to whole seconds), or ``-:--:--`` when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return UNKNOWN
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _countdown(left: float, done: float, spent: float, since: float) -> float | None:
    """ETA in seconds: ``left x spent / done`` estimated ``since`` seconds ago, minus those seconds."""
    if done <= 0 or spent <= 0:
        return None
    return max(0.0, left * spent / done - since)


@dataclass
class RunProgress:
    """One running run: ``tokens`` trained of ``tokens_total`` (``tokens_start`` of them before this
    session, e.g. from a checkpoint), latest losses (nats/token), its planned ``flops`` (6ND) and
    when it ``started`` and was last ``updated`` (clock seconds)."""

    run_id: int
    label: str
    tokens_total: int
    tokens_start: int
    tokens: int
    flops: float
    started: float
    updated: float
    train_loss: float | None = None
    val_loss: float | None = None

    def fraction_done_here(self) -> float:
        """Fraction of the run's tokens trained in this session (0..1)."""
        return max(0, self.tokens - self.tokens_start) / self.tokens_total if self.tokens_total > 0 else 0.0

    def eta_seconds(self, now: float) -> float | None:
        """Seconds left: tokens left x (seconds from start to the last update) / tokens trained in
        this session, minus the seconds since the last update; None before the first evaluation."""
        return _countdown(self.tokens_total - self.tokens, self.tokens - self.tokens_start,
                          self.updated - self.started, now - self.updated)


class SweepProgress:
    """State (and, in :meth:`live`, a rich display) of a sweep's progress; see the module docstring.

    ``runs_total``: runs in the sweep; ``runs_done``: already finished before this session;
    ``flops_todo``: planned 6ND FLOPs of the runs to train now; ``clock``: seconds (monotonic).
    """

    def __init__(self, runs_total: int, runs_done: int = 0, flops_todo: float = 0.0, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.runs_total, self.runs_done, self.runs_failed = int(runs_total), int(runs_done), 0
        self.flops_todo, self.flops_done = float(flops_todo), 0.0
        self.clock = clock
        self.started = self.updated = clock()
        self.running: dict[int, RunProgress] = {}
        self._lock = threading.RLock()  # the display redraws from its own thread
        self._bar: Progress | None = None  # the live display
        self._tasks: dict[int | None, Any] = {}  # row key (None: the sweep) -> rich task id
        self._lines: TextIO | None = None  # where live("lines") writes one line per ended run

    # ---- updates ---------------------------------------------------------------------------------
    def start_run(self, run_id: int, label: str, tokens_total: int, flops: float = 0.0,
                  tokens_done: int = 0) -> None:
        """A run starts (``tokens_done`` > 0 when it resumes from a checkpoint)."""
        with self._lock:
            now = self.clock()
            if tokens_done and tokens_total:  # the checkpointed part is not work of this session
                self.flops_todo -= flops * min(1.0, tokens_done / tokens_total)
            self.running[run_id] = RunProgress(run_id, label, int(tokens_total), int(tokens_done), int(tokens_done),
                                               float(flops), now, now)
            self.updated = now
        self._sync()

    def update(self, run_id: int, tokens: int, train_loss: float | None = None,
               val_loss: float | None = None) -> None:
        """A running run was evaluated after ``tokens`` training tokens (losses in nats/token)."""
        with self._lock:
            run = self.running.get(run_id)
            if run is None:
                return
            run.tokens, run.updated = int(tokens), self.clock()
            run.train_loss = run.train_loss if train_loss is None else float(train_loss)
            run.val_loss = run.val_loss if val_loss is None else float(val_loss)
            self.updated = run.updated
        self._sync()

    def end_run(self, run_id: int, status: str = "finished", flops: float = 0.0,
                val_loss: float | None = None) -> None:
        """A run ended (``status`` "finished" or "failed"): its row goes, the sweep row advances.
        ``flops``: the run's FLOPs, counted as done when the run was never shown running (a pool run
        that started and ended between two polls of the store); ``val_loss``: its final validation loss
        (nats/token), else the latest one shown."""
        with self._lock:
            run = self.running.pop(run_id, None)
            loss = val_loss if val_loss is not None or run is None else run.val_loss
            if run is not None:
                self.flops_done += run.flops * (1.0 - (run.tokens_start / run.tokens_total if run.tokens_total else 0.0))
            elif status == "finished":
                self.flops_done += float(flops)
            self.runs_done += 1
            self.runs_failed += status == "failed"
            self.updated = self.clock()
            line = self.ended_line(run_id, status, loss) if self._lines is not None else None
        if line is not None and self._lines is not None:
            print(line, file=self._lines, flush=True)
        self._sync()

    def ended_line(self, run_id: int, status: str, val_loss: float | None = None) -> str:
        """The plain line for a run that just ended, e.g. ``[3/35 runs] run 7 finished, val loss
        1.2345 nats/token; sweep 0:01:02 elapsed, ETA 0:02:10``."""
        with self._lock:
            now = self.clock()
            loss = "" if val_loss is None else f", val loss {val_loss:.4f} nats/token"
            return (f"[{self.runs_done}/{self.runs_total} runs] run {run_id} {status}{loss}; sweep "
                    f"{format_seconds(now - self.started)} elapsed, ETA {format_seconds(self.sweep_eta_seconds(now))}")

    # ---- the numbers shown -----------------------------------------------------------------------
    def sweep_eta_seconds(self, now: float | None = None) -> float | None:
        """FLOPs left x seconds so far / FLOPs done in this session (running runs count their done
        part), as estimated at the last update, minus the seconds since."""
        with self._lock:
            now = self.clock() if now is None else now
            done = self.flops_done + sum(r.flops * r.fraction_done_here() for r in self.running.values())
            return _countdown(self.flops_todo - done, done, self.updated - self.started, now - self.updated)

    def row(self, key: int | None, now: float | None = None) -> dict[str, str]:
        """What a row shows (:data:`ROW_FIELDS`): the sweep's (``key`` None) or a running run's
        (blank once the run has ended)."""
        with self._lock:
            return self._row(key, self.clock() if now is None else now)

    def _row(self, key: int | None, now: float) -> dict[str, str]:
        if key is not None and key not in self.running:
            return dict.fromkeys(ROW_FIELDS, "")
        if key is None:
            failed = f", {self.runs_failed} failed" if self.runs_failed else ""
            return {"name": "sweep", "amount": f"{self.runs_done}/{self.runs_total} runs{failed}", "loss": "",
                    "elapsed": format_seconds(now - self.started), "eta": format_seconds(self.sweep_eta_seconds(now))}
        run = self.running[key]
        return {"name": f"run {run.run_id} {run.label}", "amount": f"{run.tokens:,}/{run.tokens_total:,} tokens",
                "loss": _loss_text(run.train_loss, run.val_loss), "elapsed": format_seconds(now - run.started),
                "eta": format_seconds(run.eta_seconds(now))}

    def rows(self) -> list[dict[str, str]]:
        """Every row: the sweep first, then the running runs by id."""
        with self._lock:
            now = self.clock()
            return [self._row(key, now) for key in (None, *sorted(self.running))]

    # ---- display ---------------------------------------------------------------------------------
    def new_display(self, console: Console | None = None, tasks: dict[int | None, Any] | None = None) -> Progress:
        """A rich ``Progress`` (not started) showing the rows; ``console`` defaults to stderr;
        ``tasks`` receives row key (None: the sweep) -> rich task id."""
        bar = Progress(_Field(self, "name"), BarColumn(bar_width=20), _Field(self, "amount"), _Field(self, "loss"),
                       _Field(self, "elapsed"), _Field(self, "eta", "ETA "),
                       console=console if console is not None else Console(stderr=True), refresh_per_second=4)
        self._fill(bar, {} if tasks is None else tasks)
        return bar

    def render(self, width: int = 160) -> str:
        """The rows as plain text, as the display shows them (for tests and logs)."""
        console = Console(file=io.StringIO(), force_terminal=False, width=width, color_system=None)
        console.print(self.new_display(console).get_renderable())
        return console.file.getvalue()  # type: ignore[attr-defined]

    @contextmanager
    def live(self, show: bool | str = True, stream: TextIO | None = None) -> Iterator[SweepProgress]:
        """Show the progress on stderr while the block runs (nothing when ``show`` is false; one line
        per ended run on ``stream``, default stderr, when ``show`` is ``"lines"``)."""
        if show == "lines":
            self._lines = sys.stderr if stream is None else stream
            try:
                yield self
            finally:
                self._lines = None
            return
        if not show:
            yield self
            return
        self._tasks = {}
        self._bar = self.new_display(tasks=self._tasks)
        try:
            with self._bar:
                yield self
        finally:
            self._bar, self._tasks = None, {}

    def _sync(self) -> None:
        if self._bar is not None:
            self._fill(self._bar, self._tasks)

    def _fill(self, bar: Progress, tasks: dict[int | None, Any]) -> None:
        """Make ``bar``'s tasks the current rows (``tasks``: row key -> rich task id). Rich is called
        outside our lock: its redraw thread holds its own lock while it reads ours."""
        with self._lock:
            wanted = {None: (self.runs_total, self.runs_done),
                      **{k: (r.tokens_total, r.tokens) for k, r in sorted(self.running.items())}}
        for key in [k for k in tasks if k not in wanted]:
            bar.remove_task(tasks.pop(key))
        for key, (total, done) in wanted.items():
            if key not in tasks:
                tasks[key] = bar.add_task("", total=max(1, total), completed=done, key=key)
            else:
                bar.update(tasks[key], completed=done)


class _Field(ProgressColumn):
    """A column showing one field of :meth:`SweepProgress.row`, computed when drawn."""

    def __init__(self, owner: SweepProgress, field: str, prefix: str = "") -> None:
        super().__init__()
        self.owner, self.field, self.prefix = owner, field, prefix

    def render(self, task: Task) -> Text:
        text = self.owner.row(task.fields.get("key"))[self.field]
        return Text(self.prefix + text if text else "")


def _loss_text(train: float | None, val: float | None) -> str:
    parts = [f"train {train:.4f}"] if train is not None else []
    parts += [f"val {val:.4f}"] if val is not None else []
    return f"loss {' '.join(parts)} nats/token" if parts else "loss -"
