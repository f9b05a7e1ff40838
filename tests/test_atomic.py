"""Atomic file output (scalinglab.atomic) and every writer that uses it: a planted symlink at the old
predictable temporary name or at the target never redirects a write (the link's target keeps its
SHA-256), a failing serialiser or a full disk leaves no file and no temporary file (a previous file
untouched), and files get the permissions a plain open() would give."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from conftest import run_cli
from scalinglab import atomic
from scalinglab.atomic import atomic_write, atomic_write_bytes, atomic_write_text
from scalinglab.errors import ScalingLabError

SECRET = b"precious: must never be overwritten\n"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file elsewhere that planted links point at."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "victim.txt").write_bytes(SECRET)
    return elsewhere / "victim.txt"


@pytest.fixture
def umask_027():
    before = os.umask(0o027)
    yield 0o027
    os.umask(before)


# ---- the helper --------------------------------------------------------------------------------------
def test_writes_replace_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    atomic_write_text(tmp_path / "b.txt", "h\u00e9\r\nx\n")
    assert target.read_bytes() == b"two"
    assert (tmp_path / "b.txt").read_bytes() == "h\u00e9\r\nx\n".encode()  # UTF-8, line ends as given
    assert _listing(tmp_path) == ["a.bin", "b.txt"]


def test_planted_links_are_not_followed(tmp_path: Path, victim: Path) -> None:
    before = _sha(victim)
    out = tmp_path / "out"
    out.mkdir()
    (out / "r.html.tmp").symlink_to(victim)  # the name the old code wrote through
    (out / "r.html").symlink_to(victim)  # the target itself
    atomic_write_text(out / "r.html", "<html></html>")
    assert _sha(victim) == before
    assert not (out / "r.html").is_symlink() and (out / "r.html").read_text() == "<html></html>"
    assert (out / "r.html.tmp").is_symlink() and (out / "r.html.tmp").resolve() == victim.resolve()
    assert _listing(out) == ["r.html", "r.html.tmp"]


class Boom(RuntimeError):
    pass


def test_failing_serialiser_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(Boom), atomic_write(tmp_path / "new.bin") as fh:
        fh.write(b"half a file")
        raise Boom
    assert _listing(tmp_path) == []
    (tmp_path / "old.bin").write_bytes(b"previous")
    with pytest.raises(Boom), atomic_write(tmp_path / "old.bin", "w") as fh:
        fh.write("partial")
        raise Boom
    assert _listing(tmp_path) == ["old.bin"] and (tmp_path / "old.bin").read_bytes() == b"previous"


def test_full_disk_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "old.bin").write_bytes(b"previous")

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_bytes(tmp_path / "old.bin", b"new")
    with pytest.raises(OSError):
        atomic_write_bytes(tmp_path / "fresh.bin", b"new")
    assert _listing(tmp_path) == ["old.bin"] and (tmp_path / "old.bin").read_bytes() == b"previous"


def test_permissions_as_open_gives(tmp_path: Path, umask_027: int) -> None:
    atomic_write_bytes(tmp_path / "new.bin", b"x")
    assert stat.S_IMODE((tmp_path / "new.bin").stat().st_mode) == 0o666 & ~umask_027  # not mkstemp's 0600
    kept = tmp_path / "kept.bin"
    kept.write_bytes(b"old")
    kept.chmod(0o604)
    atomic_write_bytes(kept, b"new")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o604  # an existing file keeps its mode, as open("w")


def test_missing_folder_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "no" / "such" / "a.bin", b"x")


# ---- every writer --------------------------------------------------------------------------------------
def _fit() -> sl.FitResult:
    x = np.logspace(18, 22, 8)
    return sl.fit(pd.DataFrame({"flops": x, "loss": 1.7 + 120.0 * x**-0.12}), "power_floor:flops", loss="ls")


def _checkpoint():
    torch = pytest.importorskip("torch")
    from scalinglab.lab.records import Checkpoint

    return Checkpoint(step=3, model_state={"w": torch.ones(2)}, optimizer_state={}, numpy_rng_state={},
                      torch_rng_state=torch.get_rng_state(), points=[], config={"a": 1})


def _store_with_runs(tmp_path: Path) -> Path:
    from scalinglab.lab.importers import import_runs

    src = tmp_path / "hist.csv"
    pd.DataFrame({"_step": [100, 200], "val/loss": [3.5, 3.0], "tokens": [6400, 12800],
                  "n_params": [1_000_000] * 2}).to_csv(src, index=False)
    import_runs("wandb", src, tmp_path / "runs.db")
    return tmp_path / "runs.db"


def _figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([1, 2], [3, 4])
    return fig


def _writers(tmp: Path) -> dict[str, tuple[str, Callable[[Path], None], Callable[[Path], object]]]:
    """name -> (file name, write it, read it back)."""
    from scalinglab.demo import write_table
    from scalinglab.lab.records import Checkpoint
    from scalinglab.report import style
    from scalinglab.report.html import save_report
    from scalinglab.stores.run_store import RunStore

    table = pd.DataFrame({"params": [1e6, 2e6], "tokens": [1e9, 2e9], "loss": [3.0, 2.9]})
    store = _store_with_runs(tmp)

    def export(path: Path) -> None:
        with RunStore(store, readonly=True) as st:
            st.export(path)

    return {
        "report": ("r.html", lambda p: save_report(SimpleNamespace(html="<html>ok</html>"), p), Path.read_text),
        "plot png": ("f.png", lambda p: style.save(_figure(), p), lambda p: p.read_bytes()[:8]),
        "plot svg": ("f.svg", lambda p: style.save(_figure(), p), lambda p: "<svg" in p.read_text()),
        "fit": ("fit.json", lambda p: _fit().save(p), lambda p: sl.FitResult.load(p).params),
        "simulate csv": ("s.csv", lambda p: write_table(table, p), pd.read_csv),
        "simulate parquet": ("s.parquet", lambda p: write_table(table, p), pd.read_parquet),
        "simulate jsonl": ("s.jsonl", lambda p: write_table(table, p), lambda p: pd.read_json(p, lines=True)),
        "runs export csv": ("e.csv", export, pd.read_csv),
        "runs export parquet": ("e.parquet", export, pd.read_parquet),
        "checkpoint": ("ckpt.pt", lambda p: _checkpoint().save(p), lambda p: Checkpoint.load(p).step),
    }


def test_every_writer_ignores_planted_links(tmp_path: Path, victim: Path) -> None:
    before = _sha(victim)
    for name, (file, write, read) in _writers(tmp_path).items():
        out = tmp_path / name.replace(" ", "_")
        out.mkdir()
        (out / f"{file}.tmp").symlink_to(victim)
        (out / file).symlink_to(victim)
        write(out / file)
        assert _sha(victim) == before, name
        assert not (out / file).is_symlink() and read(out / file) is not None, name
        assert _listing(out) == sorted([file, f"{file}.tmp"]), name
        assert stat.S_IMODE((out / file).stat().st_mode) == 0o666 & ~atomic._umask(), name


def test_every_writer_leaves_previous_file_on_failure(tmp_path: Path, monkeypatch) -> None:
    """The serialiser fails after writing part of its output: the old file stays, no temporary file."""
    import torch
    from matplotlib.figure import Figure

    def half_then_fail(*args, **kwargs):
        handle = next((a for a in (*args, *kwargs.values()) if hasattr(a, "write")), None)
        assert handle is not None, "the writer must hand the serialiser an open file, not a path"
        handle.write(b"partial" if "b" in getattr(handle, "mode", "w") else "partial")
        raise Boom("serialiser failed")

    writers = _writers(tmp_path)
    for target in (pd.DataFrame, Figure):
        for method in ("to_csv", "to_parquet", "to_json", "savefig"):
            if hasattr(target, method):
                monkeypatch.setattr(target, method, half_then_fail)
    monkeypatch.setattr(torch, "save", half_then_fail)
    monkeypatch.setattr(json, "dumps", lambda *a, **k: (_ for _ in ()).throw(Boom("not serialisable")))
    for name, (file, write, _) in writers.items():
        if name == "report":
            continue  # the HTML is built before the write: nothing can fail part-way but the disk (below)
        out = tmp_path / ("fail_" + name.replace(" ", "_"))
        out.mkdir()
        (out / file).write_bytes(b"previous")
        with pytest.raises(Boom):
            write(out / file)
        assert _listing(out) == [file] and (out / file).read_bytes() == b"previous", name


def test_full_disk_is_one_clear_error_and_no_leftovers(tmp_path: Path, monkeypatch) -> None:
    writers = _writers(tmp_path)

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    for name, (file, write, _) in writers.items():
        out = tmp_path / ("full_" + name.replace(" ", "_"))
        out.mkdir()
        (out / file).write_bytes(b"previous")
        with pytest.raises(ScalingLabError, match="No space left on device"):
            write(out / file)
        assert _listing(out) == [file] and (out / file).read_bytes() == b"previous", name


def test_cli_outputs_through_planted_links(tmp_path: Path, victim: Path, monkeypatch, capsys) -> None:
    """``simulate --out`` and ``fit --out`` from the command line: the planted links stay, the victim too."""
    before = _sha(victim)
    monkeypatch.chdir(tmp_path)
    for file in ("sim.csv", "fit.json"):
        Path(f"{file}.tmp").symlink_to(victim)
        Path(file).symlink_to(victim)
    code, _, err = run_cli(["simulate", "--fit", "none", "--per-budget", "5", "--out", "sim.csv"], monkeypatch, capsys)
    assert code == 0, err
    code, _, err = run_cli(["fit", "sim.csv", "--law", "power_floor:flops", "--out", "fit.json"],
                           monkeypatch, capsys)
    assert code == 0, err
    assert _sha(victim) == before
    assert not Path("sim.csv").is_symlink() and len(pd.read_csv("sim.csv")) == 45
    assert not Path("fit.json").is_symlink() and json.loads(Path("fit.json").read_text())["format"] == "scalinglab.fitting"
