"""``scalinglab report``: one self-contained HTML file on a table of runs or a lab run store.

Sections: at a glance; data (ranges with units, how the table was read, loss against N and C with the
law); the fitted law (formula, parameter table with standard errors, intervals and units); goodness of
fit (rmse of the log residuals, residual plot, IsoFLOP profiles); uncertainty (bootstrap distributions
of the exponents, parameter correlations); the compute-optimal plan at the budgets asked for (N*, D*,
loss with intervals; Hoffmann et al. 2022 eq. 4) and the frontier of approaches 1-3; an extrapolation
backtest (``scalinglab.analysis.backtest``, by default holding out the top ~20% of compute); training
curves (from a run store); warnings (fit notes, identifiability); and how to reproduce it (the command,
the versions, the date, the seed, the data file's SHA-256). Figures are embedded PNGs; the page loads
nothing from the network (see :mod:`scalinglab.report.page`).
"""

from __future__ import annotations

import hashlib
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scalinglab.atomic import atomic_write_text
from scalinglab.errors import ScalingLabError, positive_number
from scalinglab.report.fit_plots import RunsSource
from scalinglab.report.page import EmbeddedFigure, esc, page
from scalinglab.report.sections import ReportInputs, build_sections

DEFAULT_BUDGETS = (1e21, 1e22, 1e23, 1e24)  # FLOPs


@dataclass
class Report:
    """A built report: the HTML, the law, the number of runs, the figures (titles) and sections (ids),
    and every warning shown."""

    html: str
    law: str
    n_runs: int
    figures: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _source_name(data: RunsSource) -> str:
    if isinstance(data, (str, os.PathLike)):
        return os.fspath(data)
    return getattr(data, "source", None) or "<DataFrame>"


def _sha256(data: RunsSource) -> str | None:
    if not isinstance(data, (str, os.PathLike)) or not Path(data).is_file():
        return None
    h = hashlib.sha256()
    with open(data, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_command(source: str, law: str, bootstrap: int, budgets: Sequence[float], seed: int,
                    holdout_above: float | None) -> str:
    """The ``scalinglab report`` command line that rebuilds a report made through the Python API."""
    parts = ["scalinglab", "report", source, "--law", law, "--bootstrap", str(bootstrap), "--budgets",
             ",".join(f"{b:g}" for b in budgets), "--seed", str(seed)]
    if holdout_above is not None:
        parts += ["--holdout-above", f"{holdout_above:g}"]
    return shlex.join(parts + ["--out", "report.html"])


def make_report(data: RunsSource, law: str = "chinchilla", bootstrap: int = 200,
                budgets: Sequence[float] = DEFAULT_BUDGETS, seed: int = 0, holdout_above: float | None = None,
                command: str | None = None, *, columns: Mapping[str, str] | None = None,
                references: Sequence[str] | None = None, level: float = 0.95, drop_highest_loss: int = 0,
                allow_unidentified: bool = False, target: str | None = None, targets: Any = None,
                known_e: tuple[float, str] | None = None) -> Report:
    """Build the report (see the module docstring) on ``data`` (a runs table, a run store, a DataFrame or
    Runs): fit ``law`` with ``bootstrap`` resamples (seeded by ``seed``), plan at ``budgets`` (FLOPs),
    backtest above ``holdout_above`` (default: the top ~20% of compute), draw ``references`` (published
    laws or rules; None: hoffmann2022 and besiroglu2024; empty: none) on the frontier, after dropping the ``drop_highest_loss`` highest-loss rows (as
    :func:`scalinglab.io.load_runs`). ``command`` is shown as the way to reproduce it. A fit whose data
    leave a parameter of the plan undetermined is refused unless ``allow_unidentified`` (then the
    report's warnings name it). Loss curves with learning rates get the schedule-law report, a benchmark
    table of public models the observational report (``target``: the score to predict, a column of
    ``data`` or of ``targets``; default the benchmark with the lowest median score), and runs at a few
    token multipliers M = D/N the over-training sections too (:mod:`scalinglab.report.input_kind`).
    ``known_e`` = (value in nats/token, what it is): a loss floor known exactly, e.g. a synthetic
    corpus's entropy rate, shown beside the fitted E ("at a glance")."""
    budgets = [float(b) for b in budgets]
    if known_e is not None:  # (value in nats/token, what it is)
        if not (isinstance(known_e, tuple) and len(known_e) == 2 and isinstance(known_e[1], str)):
            raise ScalingLabError(f"known_e must be (value in nats/token, what it is), got {known_e!r}")
        known_e = (positive_number("known_e value", known_e[0]), known_e[1])
    if not budgets:
        raise ScalingLabError("give at least one FLOP budget for the plan")
    source = _source_name(data)
    inputs = ReportInputs(data=data, source=source, law=law, bootstrap=int(bootstrap), budgets=budgets,
                          seed=int(seed), holdout_above=holdout_above, columns=columns,
                          references=None if references is None else list(references), level=level, drop_highest_loss=int(drop_highest_loss),
                          allow_unidentified=bool(allow_unidentified), target=target, targets=targets,
                          known_e=known_e)
    built = build_sections(inputs)
    command = command or default_command(source, law, bootstrap, budgets, seed, holdout_above)
    built.add_reproduce(command, _sha256(data), datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    nav = [(s.key, s.title) for s in built.sections]
    body = "".join(s.html() for s in built.sections)
    subtitle = built.subtitle or (f"{esc(built.law_label)} fitted to {built.n_runs} runs of <code>{esc(source)}</code> "
                                  f"with {bootstrap} bootstrap resamples (seed {seed}).")
    html_text = page(f"scalinglab report: {Path(source).name or source}", subtitle, nav, body)
    return Report(html=html_text, law=built.law_label, n_runs=built.n_runs,
                  figures=[f.title for f in built.figures()], sections=[s.key for s in built.sections],
                  warnings=list(built.warnings))


def build_report(data: RunsSource, law: str = "chinchilla", bootstrap: int = 200,
                 budgets: Sequence[float] = DEFAULT_BUDGETS, seed: int = 0, holdout_above: float | None = None,
                 command: str | None = None, **options: Any) -> str:
    """The report on ``data`` as one HTML document (text); arguments as :func:`make_report`."""
    return make_report(data, law, bootstrap, budgets, seed, holdout_above, command, **options).html


def write_report(data: RunsSource, out: str | os.PathLike, law: str = "chinchilla", bootstrap: int = 200,
                 budgets: Sequence[float] = DEFAULT_BUDGETS, seed: int = 0, holdout_above: float | None = None,
                 command: str | None = None, **options: Any) -> Path:
    """Build the report on ``data`` and write it to ``out`` (UTF-8); returns the path."""
    target = check_out(out)
    report = make_report(data, law, bootstrap, budgets, seed, holdout_above, command, **options)
    save_report(report, target)
    return target


def check_out(out: str | os.PathLike) -> Path:
    """An output path for the report: .html/.htm in an existing folder; ScalingLabError otherwise."""
    target = Path(out)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ScalingLabError(f"{target}: the report is HTML; give a path ending in .html")
    if not target.parent.is_dir():
        raise ScalingLabError(f"{target}: folder '{target.parent}' does not exist")
    return target


def save_report(report: Report, target: Path) -> None:
    """Write ``report``'s HTML to ``target`` atomically (:mod:`scalinglab.atomic`: a fresh temporary
    file in its folder, then renamed over it; a symlink at ``target`` is replaced, not followed)."""
    try:
        atomic_write_text(target, report.html)
    except OSError as exc:
        raise ScalingLabError(f"{target}: cannot write the report ({exc.strerror or exc})") from None


__all__ = ["DEFAULT_BUDGETS", "EmbeddedFigure", "Report", "build_report", "make_report", "write_report"]
