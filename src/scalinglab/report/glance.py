"""The report's "at a glance" cards for fitted parameters and the plan: a headline number only when
the data determine it.

A parameter the fit leaves unidentified (``FitResult.unidentified``: its term changes no prediction,
a near-singular Jacobian, or a bootstrap interval spanning orders of magnitude; see
:mod:`scalinglab.fitting.identify`) or that ended on a bound of the search box (``FitResult.at_bound``:
its value is the box's edge, e.g. E = 2e-9 nats/token when the data push E to 0) has no value worth a
headline. Its card says so in words ("not identified", "on a bound") and shows neither the value nor
its interval; the warnings section says why. The compute-optimal N card likewise says "not determined"
when a parameter the allocation depends on (:func:`scalinglab.resolve.allocation_params`: all but E,
Hoffmann et al. 2022 eq. 4, references.md D3) is unidentified or on a bound.
"""

from __future__ import annotations

from scalinglab.fitting.result import FitResult
from scalinglab.plan.allocation import Allocation
from scalinglab.report.page import num
from scalinglab.resolve import allocation_params

__all__ = ["known_floor_card", "optimum_card", "parameter_card", "undetermined"]


def undetermined(result: FitResult, name: str) -> str | None:
    """Why ``name`` gets no headline: "not identified", "on a bound", or None when it is determined."""
    if name in result.unidentified:
        return "not identified"
    if name in result.at_bound:
        return "on a bound"
    return None


def parameter_card(result: FitResult, name: str, what: str, digits: int = 3) -> tuple[str, str]:
    """(headline HTML, caption text) of parameter ``name`` (a fitted or derived parameter) described by
    ``what`` (e.g. "E (irreducible loss, nats/token)"): the value (``digits`` significant digits) and its
    interval, or the words of :func:`undetermined` and why there is no number."""
    why = undetermined(result, name)
    if why is not None:
        return why, f"{what}: the runs do not determine it, so no value is shown (see the warnings)"
    value = {**result.params, **result.derived}[name]
    ci = result.ci.get(name)
    return num(value, digits), what + (f" [{ci[0]:.{digits}g}, {ci[1]:.{digits}g}]" if ci else "")


def optimum_card(result: FitResult, allocation: Allocation) -> tuple[str, str]:
    """(headline HTML, caption text) of the compute-optimal N (parameters) at ``allocation.flops``, or
    "not determined" when a parameter it depends on is unidentified or on a bound."""
    where = f"{allocation.flops:.3g}".replace("e+", "e") + " FLOPs"
    names = [p for p in allocation_params(result) if undetermined(result, p) is not None]
    if names:
        return "not determined", (f"compute-optimal N (parameters) at {where}: it depends on "
                                  f"{', '.join(names)}, which the runs do not determine")
    return num(allocation.params, 3), f"compute-optimal N (parameters) at {where}"


def known_floor_card(result: FitResult, value: float, what: str) -> tuple[str, str]:
    """(headline HTML, caption text) of a loss floor known exactly (nats/token; ``what`` says what it
    is, e.g. a synthetic corpus's entropy rate), with the fitted E's relative difference from it when
    E is determined."""
    e = result.params.get("E")
    if e is None or undetermined(result, "E") is not None:
        return num(value, 4), f"{what} (nats/token): the truth E should recover; the fit does not determine E"
    return num(value, 4), f"{what} (nats/token): the truth beside the fitted E, which is {100 * (e / value - 1):+.1f}% off"
