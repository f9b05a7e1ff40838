"""Sweep progress: the numbers shown (tokens, losses, ETAs) from synthetic updates on a fake clock, the
store poller of the process pool, and run_sweep feeding the bars from its evaluations."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from test_runner import CORPUS, RUNS, planned

from scalinglab.lab import runner
from scalinglab.lab.progress import SweepProgress, format_seconds
from scalinglab.lab.runner import _Job, poll_store, run_key, run_sweep
from scalinglab.stores.run_store import RunStore, timestamp


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_format_seconds() -> None:
    assert format_seconds(3725.4) == "1:02:05"
    assert format_seconds(59.6) == "0:01:00"
    assert format_seconds(None) == format_seconds(float("nan")) == format_seconds(-1) == "-:--:--"


def test_run_and_sweep_rows_from_synthetic_updates() -> None:
    clock = Clock()
    # 4 runs in the sweep, 1 finished earlier; 2 to train now: 300 + 100 = 400 FLOPs planned
    bar = SweepProgress(4, 1, 400.0, clock=clock)
    clock.now = 110.0
    bar.start_run(7, "2x64/4", tokens_total=4000, flops=300.0)
    bar.start_run(9, "1x32/2", tokens_total=1000, flops=100.0)
    run7 = bar.row(7)
    assert run7["name"] == "run 7 2x64/4" and run7["amount"] == "0/4,000 tokens"
    assert run7["loss"] == "loss -" and run7["eta"] == "-:--:--"  # no evaluation yet: unknown
    clock.now = 130.0  # run 7: 1000 of 4000 tokens in 20 s -> 3000 tokens left at 50 tokens/s = 60 s
    bar.update(7, 1000, train_loss=2.5, val_loss=2.75)
    run7 = bar.row(7)
    assert run7["amount"] == "1,000/4,000 tokens"
    assert run7["loss"] == "loss train 2.5000 val 2.7500 nats/token"
    assert run7["elapsed"] == "0:00:20" and run7["eta"] == "0:01:00"
    # sweep: 75 of 400 FLOPs done in 30 s -> 325 left at 2.5 FLOPs/s = 130 s
    sweep = bar.row(None)
    assert sweep == {"name": "sweep", "amount": "1/4 runs", "loss": "", "elapsed": "0:00:30", "eta": "0:02:10"}
    clock.now = 140.0  # no news for 10 s: the ETAs count down from their last estimate
    assert bar.row(7)["eta"] == "0:00:50" and bar.row(None)["eta"] == "0:02:00"
    text = bar.render()
    lines = text.splitlines()
    assert len(lines) == 3 and lines[0].startswith("sweep") and lines[1].startswith("run 7 2x64/4")
    assert "1,000/4,000 tokens" in lines[1] and "val 2.7500" in lines[1] and "ETA 0:00:50" in lines[1]
    assert lines[2].startswith("run 9 1x32/2") and "0/1,000 tokens" in lines[2] and "ETA -:--:--" in lines[2]
    # run 9 fails: its row goes, the sweep counts it (and its whole planned work as done)
    bar.end_run(9, "failed")
    assert sorted(bar.running) == [7] and bar.row(None)["amount"] == "2/4 runs, 1 failed"
    assert "run 9" not in bar.render()
    # 175 of 400 FLOPs done in 40 s -> 225 left: 225 x 40 / 175 = 51.4 s
    assert bar.sweep_eta_seconds() == pytest.approx(225 * 40 / 175)


def test_resumed_run_counts_only_the_tokens_trained_here() -> None:
    clock = Clock()
    bar = SweepProgress(1, 0, 200.0, clock=clock)
    bar.start_run(3, "1x16/2", tokens_total=1000, flops=200.0, tokens_done=600)  # checkpoint at 600 tokens
    assert bar.flops_todo == pytest.approx(80.0)  # the checkpointed 60% is not work of this session
    clock.now += 10.0
    bar.update(3, 800, train_loss=1.0)  # 200 tokens in 10 s: 200 left -> 10 s (not 800 tokens' worth)
    assert bar.running[3].eta_seconds(clock.now) == pytest.approx(10.0)
    assert bar.sweep_eta_seconds() == pytest.approx(10.0)  # 40 of 80 FLOPs in 10 s
    assert bar.row(3)["loss"] == "loss train 1.0000 nats/token"
    bar.end_run(3)
    assert bar.row(None)["amount"] == "1/1 runs" and bar.sweep_eta_seconds() == 0.0


def _job(run_id: int, store: Path, run=RUNS[0]) -> _Job:
    return _Job(run_id, run.config, CORPUS, "bytes", str(store), None, "test")


def test_poll_store_shows_runs_started_by_other_processes(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with RunStore(db) as store:
        sweep = store.create_sweep("s", {"runs": "x"})
        ids = [store.add_run(sweep, run_key(planned(16, 30, seed=s)), s) for s in (1, 2, 3)]
        store.start_run(ids[2], "cpu", "test")  # interrupted by an earlier session: not running now
        with store._tx() as c:  # started long before this session (not in the same millisecond as `since`)
            c.execute("UPDATE runs SET started_at = '2000-01-01T00:00:00.000+00:00' WHERE id = ?", (ids[2],))
        since = timestamp()
        store.start_run(ids[0], "cpu", "test")  # a pool worker started run 1 and logged step 10
        store.log_metrics(ids[0], [{"step": 10, "tokens": 1280, "train_loss": 2.0, "val_loss": 2.25}])
        jobs = [_job(i, db) for i in ids]
        bar = SweepProgress(3, 0, 3 * 1e6)
        poll_store(store, jobs, bar, since)
        assert sorted(bar.running) == [ids[0]]  # run 2 pending, run 3 stale
        shown = bar.running[ids[0]]
        assert (shown.tokens_total, shown.tokens_start, shown.tokens) == (30 * 128, 1280, 1280)
        store.log_metrics(ids[0], [{"step": 20, "tokens": 2560, "train_loss": 1.5, "val_loss": 1.75}])
        poll_store(store, jobs, bar, since)
        assert bar.row(ids[0])["amount"] == "2,560/3,840 tokens"
        assert bar.row(ids[0])["loss"] == "loss train 1.5000 val 1.7500 nats/token"


def test_run_sweep_feeds_the_bars_in_process(tmp_path: Path, monkeypatch, capsys) -> None:
    seen: list[tuple[str, int, int | None]] = []
    start, update, end = SweepProgress.start_run, SweepProgress.update, SweepProgress.end_run

    def spy_start(self, run_id, label, tokens_total, flops=0.0, tokens_done=0):
        seen.append(("start", run_id, tokens_total))
        start(self, run_id, label, tokens_total, flops, tokens_done)

    def spy_update(self, run_id, tokens, train_loss=None, val_loss=None):
        assert train_loss is not None and val_loss is not None
        seen.append(("update", run_id, tokens))
        update(self, run_id, tokens, train_loss, val_loss)

    def spy_end(self, run_id, status="finished", flops=0.0, val_loss=None):
        assert val_loss is not None and 0 < val_loss < 10  # the final loss from the finish event, nats/token
        seen.append((status, run_id, None))
        end(self, run_id, status, flops, val_loss)

    monkeypatch.setattr(SweepProgress, "start_run", spy_start)
    monkeypatch.setattr(SweepProgress, "update", spy_update)
    monkeypatch.setattr(SweepProgress, "end_run", spy_end)
    rows = run_sweep(RUNS, tmp_path / "runs.db", corpus=CORPUS, workers=1, progress=True)
    assert [r["status"] for r in rows] == ["finished", "finished"]
    # evaluations every 10 of 30 steps (1280 tokens); the last one arrives with the finish
    assert seen == [("start", 1, 3840), ("update", 1, 1280), ("update", 1, 2560), ("finished", 1, None),
                    ("start", 2, 3840), ("update", 2, 1280), ("update", 2, 2560), ("finished", 2, None)]
    err = capsys.readouterr().err
    assert "sweep" in err and "2/2 runs" in err  # the display's last frame (stderr is not a terminal)


@pytest.mark.slow  # spawns two worker processes (about 15 s on a loaded 2-core machine)
def test_run_sweep_pool_polls_the_store(tmp_path: Path, monkeypatch, capsys) -> None:
    polls: list[int] = []
    real = runner.poll_store

    def spy(store, jobs, progress, since):
        polls.append(len(jobs))
        real(store, jobs, progress, since)

    monkeypatch.setattr(runner, "poll_store", spy)
    rows = run_sweep(RUNS, tmp_path / "runs.db", corpus=CORPUS, workers=2, progress=True)
    assert [r["status"] for r in rows] == ["finished", "finished"]
    assert polls and max(polls) <= 2  # polled while waiting, only for runs not yet returned
    assert "2/2 runs" in capsys.readouterr().err


def test_a_run_never_seen_running_still_counts_its_flops() -> None:
    """A pool run that starts and ends between two polls of the store: the sweep ETA counts its FLOPs."""
    bar = SweepProgress(2, 0, 2e6)
    bar.end_run(7, "finished", flops=1e6)
    assert bar.flops_done == 1e6 and bar.runs_done == 1
    bar.end_run(8, "failed", flops=1e6)  # a failed run's work is not progress towards the sweep
    assert bar.flops_done == 1e6 and bar.runs_failed == 1


def test_a_pool_run_line_shows_its_final_loss() -> None:
    """Off a terminal a pool run is never polled: its line carries the final loss the worker returned."""
    bar, stream = SweepProgress(2, 0, 2e6, clock=iter(range(10, 20)).__next__), io.StringIO()
    with bar.live("lines", stream=stream):
        bar.end_run(7, "finished", flops=1e6, val_loss=2.41234)
        bar.end_run(8, "failed", flops=1e6)
    first, second = stream.getvalue().splitlines()
    assert first.startswith("[1/2 runs] run 7 finished, val loss 2.4123 nats/token; sweep")
    assert second.startswith("[2/2 runs] run 8 failed; sweep")
