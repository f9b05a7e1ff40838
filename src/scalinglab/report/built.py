"""A built report: its sections in page order, its warnings, and what the page's title line says.

Shared by :mod:`scalinglab.report.sections` (the report on runs) and the reports on other data
(:mod:`scalinglab.report.schedule_sections`, :mod:`scalinglab.report.observational_sections`).
"""

from __future__ import annotations

from dataclasses import dataclass

from scalinglab.report.page import EmbeddedFigure
from scalinglab.report.run_sections import reproduce_section
from scalinglab.report.section import Section

__all__ = ["BuiltReport"]


@dataclass
class BuiltReport:
    """Every section in page order, the warnings, the fitted law's label and the number of runs."""

    sections: list[Section]
    warnings: list[str]
    law_label: str
    n_runs: int
    seed: int = 0
    bootstrap: int = 0
    subtitle: str | None = None  # the page's line under the title (HTML); None: the law fitted to the runs

    def figures(self) -> list[EmbeddedFigure]:
        return [f for s in self.sections for f in s.figs]

    def add_reproduce(self, command: str, sha256: str | None, date: str) -> None:
        self.sections.append(reproduce_section(command, sha256, date, self.seed, self.bootstrap))
