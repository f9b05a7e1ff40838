"""One ``<section>`` of the HTML report, and how a part that cannot be built says so.

Shared by the modules that build the sections (:mod:`scalinglab.report.sections`,
:mod:`scalinglab.report.run_sections`, :mod:`scalinglab.report.warnings_summary`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from matplotlib.figure import Figure

from scalinglab.errors import ScalingLabError
from scalinglab.report.fit_plots import RunsSource
from scalinglab.report.notices import add_warnings
from scalinglab.report.page import EmbeddedFigure, embed, esc

LOSS_UNIT = "nats/token"
T = TypeVar("T")


@dataclass
class ReportInputs:
    """What the user asked for (see :func:`scalinglab.report.html.make_report`)."""

    data: RunsSource
    source: str
    law: str
    bootstrap: int
    budgets: list[float]
    seed: int
    holdout_above: float | None = None
    columns: Mapping[str, str] | None = None
    references: list[str] | None = None  # published frontiers; None: plan_plots.DEFAULT_REFERENCES
    level: float = 0.95
    drop_highest_loss: int = 0
    allow_unidentified: bool = False  # plan even when the fit leaves A, B, alpha or beta undetermined
    target: str | None = None  # a benchmark table's score to predict (observational report)
    targets: Any = None  # a second table (DataFrame or path) holding the target, joined on the model column
    known_e: tuple[float, str] | None = None  # a known floor of the loss (nats/token) and what it is, beside E


@dataclass
class Section:
    """One ``<section>``: id, heading, HTML parts and the figures embedded in it."""

    key: str
    title: str
    parts: list[str] = field(default_factory=list)
    figs: list[EmbeddedFigure] = field(default_factory=list)

    def add(self, html: str) -> None:
        self.parts.append(html)

    def text(self, text: str, cls: str = "") -> None:
        attr = f' class="{cls}"' if cls else ""
        self.parts.append(f"<p{attr}>{esc(text)}</p>")

    def figure(self, fig: Figure, key: str, title: str, caption: str) -> None:
        emb = embed(fig, key, title, caption)
        self.figs.append(emb)
        self.parts.append(emb.html())

    def html(self) -> str:
        return f'<section id="{esc(self.key)}"><h2>{esc(self.title)}</h2>{"".join(self.parts)}</section>'


def attempt(section: Section, warnings: list[str], what: str, build: Callable[[], T]) -> T | None:
    """Run ``build()``; a ScalingLabError becomes a visible note in ``section`` and a warning."""
    try:
        return build()
    except ScalingLabError as exc:
        msg = f"{what} could not be made: {exc}"
        section.text(msg, "muted")
        add_warnings(warnings, [msg])
        return None
