"""The report's "at a glance" cards: a parameter the runs do not determine (unidentified or on a bound
of the search box) gets words, not a number, as its headline; so does the compute-optimal N built on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.plan.allocation import allocate
from scalinglab.report.glance import known_floor_card, optimum_card, parameter_card, undetermined
from scalinglab.report.page import num
from scalinglab.report.sections import Section, fill_glance


@pytest.fixture(scope="module")
def e_free_fit():
    """Runs from L = 400/N^0.34 + 410/D^0.28 with no irreducible loss: E is pushed to the edge of the
    search box (0), where the data do not determine it."""
    n, d = np.meshgrid(np.geomspace(1e6, 1e9, 6), np.geomspace(2e7, 2e10, 6))
    n, d = n.ravel(), d.ravel()
    loss = 400.0 / n**0.34 + 410.0 / d**0.28
    return sl.fit(pd.DataFrame({"params": n, "tokens": d, "loss": loss}), law="chinchilla", bootstrap=20, seed=0)


def test_an_undetermined_e_card_says_so_in_words(e_free_fit) -> None:
    result = e_free_fit
    assert "E" in result.unidentified or "E" in result.at_bound  # the premise of this test
    headline, caption = parameter_card(result, "E", "E (irreducible loss, nats/token)")
    assert headline in ("not identified", "on a bound") and headline == undetermined(result, "E")
    assert "do not determine" in caption and f"{result.params['E']:.3g}" not in headline + caption
    sec = Section("glance", "At a glance")
    fill_glance(sec, sl.io.load_runs(pd.DataFrame({"params": [1e6], "tokens": [2e7], "loss": [3.0]})), result, [], None)
    html = sec.html()
    assert f"<b>{headline}</b>" in html and "E (irreducible loss, nats/token): the runs do not determine it" in html


def test_a_determined_parameter_card_shows_its_value(e_free_fit) -> None:
    result = e_free_fit
    determined = [p for p in ("alpha", "beta") if undetermined(result, p) is None]
    for name in determined:
        headline, caption = parameter_card(result, name, name)
        assert headline.startswith(f"{result.params[name]:.3g}"[:3]) and caption.startswith(name)


def test_optimum_card_needs_every_parameter_of_the_allocation(e_free_fit) -> None:
    result = e_free_fit
    a = allocate(result, 1e21, allow_unidentified=True)
    headline, caption = optimum_card(result, a)
    blocking = [p for p in ("A", "alpha", "B", "beta") if undetermined(result, p) is not None]
    if blocking:  # E alone does not move the optimum (it shifts the loss, not the N that minimises it)
        assert headline == "not determined" and all(p in caption for p in blocking)
    else:
        assert headline != "not determined" and "1e21 FLOPs" in caption


def test_known_floor_card_sits_beside_e_with_the_relative_difference() -> None:
    # a determined E: L = 1.5 + 400/N^0.34 + 410/D^0.28 on a 6 x 6 grid (noise-free)
    n, d = np.meshgrid(np.geomspace(1e6, 1e9, 6), np.geomspace(2e7, 2e10, 6))
    n, d = n.ravel(), d.ravel()
    data = pd.DataFrame({"params": n, "tokens": d, "loss": 1.5 + 400.0 / n**0.34 + 410.0 / d**0.28})
    result = sl.fit(data, law="chinchilla", bootstrap=20, seed=0)
    assert undetermined(result, "E") is None  # the premise of this test
    headline, caption = known_floor_card(result, 1.45, "the source's entropy rate H")
    e_off = 100 * (result.params["E"] / 1.45 - 1)
    assert headline == "1.45" and caption.endswith(f"which is {e_off:+.1f}% off") and e_off == pytest.approx(3.4, abs=0.1)
    sec = Section("glance", "At a glance")
    fill_glance(sec, sl.io.load_runs(data), result, [], None, (1.45, "the source's entropy rate H"))
    html = sec.html()
    assert html.index("E (irreducible loss") < html.index("the source&#x27;s entropy rate H") < html.index("alpha")
    lo, hi = result.ci["E"]  # E to 4 digits beside the truth (3 would round away a 1% difference)
    assert f"<b>{num(result.params['E'], 4)}</b><span>E (irreducible loss, nats/token) [{lo:.4g}, {hi:.4g}]" in html


def test_known_floor_card_beside_an_undetermined_e_shows_only_the_truth(e_free_fit) -> None:
    headline, caption = known_floor_card(e_free_fit, 1.7, "H")
    assert headline == "1.7" and "does not determine E" in caption and "%" not in caption


@pytest.mark.parametrize(("known_e", "message"), [((0.0, "H"), "known_e value must be a finite number > 0"),
                                                  ((float("nan"), "H"), "known_e value must be a finite number > 0"),
                                                  (2.37, "known_e must be \\(value in nats/token, what it is\\)")])
def test_a_bad_known_floor_is_a_one_line_error(known_e, message, tmp_path) -> None:
    from scalinglab.errors import ScalingLabError
    from scalinglab.report.html import make_report

    with pytest.raises(ScalingLabError, match=message):
        make_report(tmp_path / "runs.csv", known_e=known_e)
