"""The report's warnings: a summary at the top of the page (counts by kind, the most important first,
a link to the full list) and the full list in its own section.

A warning's *kind* is read from its text (:data:`KINDS`, in order of importance): a parameter the data
do not determine comes first (the plan and the headline rest on it), then a fit that did not converge,
a plan far outside the fitted runs, what the backtest found, the approaches of Hoffmann et al. 2022,
parts of the report that could not be built, and the data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from scalinglab.report.page import bullets, esc
from scalinglab.report.section import Section

#: (kind, pattern) in order of importance; the first pattern that matches names a warning's kind
KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("identifiability", re.compile(r"not (?:be )?identified|undetermined|do(?:es)? not determine|bound of the search "
                                   r"box|orders of magnitude|identif", re.IGNORECASE)),
    ("convergence", re.compile(r"did not converge|not converged|converge", re.IGNORECASE)),
    ("extrapolation", re.compile(r"^plan at |extrapolat|beyond the fitted", re.IGNORECASE)),
    ("backtest", re.compile(r"^backtest: ")),
    ("approaches", re.compile(r"^approach \d")),
    ("report", re.compile(r"could not be made")),
)
#: the kind of a warning no pattern matches
OTHER = "data and design"
#: warnings quoted in the summary
TOP = 3


def warning_kind(text: str) -> str:
    """The kind of one warning (module docstring): the first of :data:`KINDS` whose pattern it matches."""
    for kind, pattern in KINDS:
        if pattern.search(text):
            return kind
    return OTHER


def summarise(warnings: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    """(count of each kind present, in order of importance; the :data:`TOP` most important warnings:
    the first of each kind in that order, then the next ones)."""
    order = [k for k, _ in KINDS] + [OTHER]
    kinds = [warning_kind(w) for w in warnings]
    counts = {k: kinds.count(k) for k in order if k in kinds}
    ranked = sorted(range(len(warnings)), key=lambda i: (kinds[:i].count(kinds[i]), order.index(kinds[i]), i))
    return counts, [warnings[i] for i in ranked[:TOP]]


def summary_html(warnings: Sequence[str], target: str = "warnings") -> str:
    """The summary at the top of the page: how many warnings of each kind, the most important ones, and a
    link to the full list (``#target``); a line saying there are none otherwise."""
    if not warnings:
        return '<p class="muted">No warnings (see <a href="#warnings">Warnings</a>).</p>'
    counts, top = summarise(warnings)
    by_kind = ", ".join(f"{n} {esc(k)}" for k, n in counts.items())
    n = len(warnings)
    return (f'<div class="warnsum"><p><b>{n} warning{"s" * (n != 1)}</b> ({by_kind}); the most important:</p>'
            + bullets(top, "warnings")
            + f'<p><a href="#{esc(target)}">The full list of {n} warning{"s" * (n != 1)}</a></p></div>')


def warnings_section(warnings: list[str]) -> Section:
    sec = Section("warnings", "Warnings")
    if warnings:
        sec.add(bullets(warnings, "warnings"))
    else:
        sec.text("None: the fit converged, no identifiability problem was detected and every section was built.")
    return sec
