"""Text of the report that depends on what happened: the warnings list without repeats, and the
frontier figure's caption naming only the approaches drawn (and why any other could not run).

Two warnings *say the same* when they are about the same thing, even if their wording or numbers
differ: "parameter(s) E ended on a bound of the search box" (a fit note) and "parameter(s) E of
chinchilla ended on a bound of the search box: ..." (:mod:`scalinglab.analysis.identifiability`); the
fit's and the backtest refit's "E's 95% interval [...] spans 8.9 orders of magnitude". The first to
arrive is kept, in its place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pandas as pd

from scalinglab.report.plan_plots import approach_failures

#: patterns of warnings that say the same about the same parameter(s) whatever their source
_SAME_THING = (
    re.compile(r"parameter\(s\) (?P<what>.+?) (?:of .+? )?ended on a bound of the search box"),
    re.compile(r"(?P<what>\S+)'s [0-9.]+% interval \[[^\]]*\] spans [0-9.]+ orders of magnitude"),
)
#: prefixes naming which analysis a warning came from (the same fact from a refit is no news)
_SOURCES = ("backtest: ",)


def warning_key(text: str) -> tuple[int, str]:
    """What a warning is about: (pattern index, subject) for the patterns of :data:`_SAME_THING`
    (ignoring a source prefix such as "backtest: "), else (-1, the text itself)."""
    body = text
    for prefix in _SOURCES:
        body = body.removeprefix(prefix)
    for i, pattern in enumerate(_SAME_THING):
        m = pattern.match(body)
        if m:
            return i, m.group("what")
    return -1, text


def add_warnings(warnings: list[str], items: Sequence[str]) -> None:
    """Append to ``warnings`` each of ``items`` that says something not already there (by
    :func:`warning_key`), in order."""
    seen = {warning_key(w) for w in warnings}
    for w in items:
        key = warning_key(w)
        if key not in seen:
            seen.add(key)
            warnings.append(w)


def dedupe_warnings(items: Sequence[str]) -> list[str]:
    """``items`` without the ones that repeat an earlier one (first occurrence kept, order kept)."""
    out: list[str] = []
    add_warnings(out, items)
    return out


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def frontier_caption(frontiers: Mapping[str, pd.DataFrame], points: Mapping[str, pd.DataFrame], notes: Sequence[str],
                     level: float, references: Sequence[str] = ()) -> str:
    """The caption of the frontier figure: the approaches of Hoffmann et al. 2022 drawn, bands and points
    only where there are some, the references, and each approach that could not run with its reason."""
    drawn = [name.split(":")[0] for name in frontiers]  # "approach 1", ...
    numbers = [d.removeprefix("approach ") for d in drawn]
    what = f"approach{'es' if len(numbers) > 1 else ''} {_and(numbers)}" if numbers else "no approach"
    parts = [f"N* and D* against C from Hoffmann et al. 2022's {what} on these runs"]
    details = []
    if any(_has_band(df) for df in frontiers.values()):
        details.append(f"bands: {100 * level:g}% bootstrap intervals")
    with_points = [name.split(":")[0].removeprefix("approach ") for name, df in points.items() if len(df)]
    if with_points:
        details.append("points: per-budget optima of approach" + ("es " if len(with_points) > 1 else " ")
                       + _and(with_points))
    if details:
        parts[0] += f" ({'; '.join(details)})"
    if references:
        parts.append(f"black: published {', '.join(references)}")
    failed = approach_failures(notes)
    for k, why in sorted(failed.items()):
        parts.append(f"approach {k} could not run ({why})")
    return "; ".join(parts) + "."


def _has_band(df: pd.DataFrame) -> bool:
    low = df.get("params_low")
    return low is not None and bool(low.notna().any())
