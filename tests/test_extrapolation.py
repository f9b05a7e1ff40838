"""Extrapolation distance (issue 11 item 4): how far an answer from a law lies outside the law's data, in
decades of N, D and C, on predict, optimal, Allocation and the report; the fitted range in FitResult."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from conftest import run_cli
from scalinglab.errors import ScalingLabError
from scalinglab.fitting.result import FitResult
from scalinglab.laws.published import get_published
from scalinglab.plan.allocation import optimal_allocation
from scalinglab.resolve import extrapolation, extrapolation_text, extrapolation_warnings

KEYS = {"params_decades", "tokens_decades", "flops_decades"}


@pytest.fixture(scope="module")
def sim_fit(tmp_path_factory):
    """A chinchilla fit of a simulated sweep, saved; its runs' range is what it records."""
    runs = sl.simulate_isoflop("hoffmann2022", per_budget=6, noise=0.01, seed=0).drop(columns="budget")
    path = tmp_path_factory.mktemp("extrap") / "fit.json"
    fit = sl.fit(runs)
    fit.save(path)
    return fit, runs, path


# ---- the distance ---------------------------------------------------------------------------------------
def test_published_query_47x_beyond_the_tokens():
    law = get_published("besiroglu2024")  # tokens of its 240 points reach 3.18e11
    e = extrapolation(law, params=70e9, tokens=15e12)
    assert set(e) == KEYS
    assert e["tokens_decades"] == pytest.approx(math.log10(15e12 / 3.18e11))  # 1.67 decades, 47x
    assert e["params_decades"] == pytest.approx(math.log10(70e9 / 1.62e10))
    assert e["flops_decades"] == pytest.approx(math.log10(6 * 70e9 * 15e12 / 1.30e22))
    warnings = extrapolation_warnings(law, params=70e9, tokens=15e12)
    assert any(w.startswith("1.67 decades (47.2x) beyond the fitted tokens (max 3.18e11)") for w in warnings)
    assert not any("fitted params" in w for w in warnings)  # 0.64 decades: no warning below one decade
    assert "1.67 decades beyond the fitted tokens (max 3.18e11)" in extrapolation_text(law, params=70e9, tokens=15e12)


def test_inside_is_zero_and_below_counts_from_the_minimum():
    law = get_published("hoffmann2022")  # 7e7..1.6e10 params, 5e9..5e11 tokens, 6e18..3e21 FLOPs
    assert extrapolation(law, params=1e9, tokens=2e10) == {k: 0.0 for k in KEYS}
    assert extrapolation_text(law, params=1e9, tokens=2e10) == "extrapolation: inside the fitted params, tokens, flops"
    e = extrapolation(law, params=7e6, tokens=5e10)
    assert e["params_decades"] == pytest.approx(1.0) and e["tokens_decades"] == 0.0
    assert "below the fitted params (min 7e7)" in extrapolation_text(law, params=7e6, tokens=5e10)
    assert extrapolation_warnings(law, params=7e6, tokens=5e10) == []  # exactly one decade: not beyond it
    w = extrapolation_warnings(law, params=6e6, tokens=5e10)
    assert len(w) == 1 and "below the fitted params (min 7e7)" in w[0]


def test_the_third_quantity_comes_from_six_nd_and_arrays_give_lists():
    law = get_published("hoffmann2022")
    by_flops = extrapolation(law, params=1e9, flops=6 * 1e9 * 5e12)
    assert by_flops["tokens_decades"] == pytest.approx(1.0)
    e = extrapolation(law, params=np.array([1e9, 1.6e12]), tokens=np.array([2e10, 2e10]))
    assert e["params_decades"] == pytest.approx([0.0, 2.0])
    w = extrapolation_warnings(law, params=np.array([1e9, 1.6e12]), tokens=np.array([2e10, 2e10]))
    assert any("2.00 decades (100x) beyond the fitted params" in x for x in w)


def test_unknown_ends_and_quantities_are_none_or_unbounded():
    kaplan = get_published("kaplan2020-nd")  # no FLOP range printed
    e = extrapolation(kaplan, params=1e9, tokens=1e10)
    assert e["flops_decades"] is None and e["params_decades"] == 0.0
    muen = get_published("muennighoff2023")  # only the upper ends are stated
    assert extrapolation(muen, params=1e3, tokens=1e3)["params_decades"] == 0.0
    assert extrapolation(muen, params=9e10, tokens=1e3)["params_decades"] == pytest.approx(1.0)
    power = get_published("kaplan2020-n")
    assert extrapolation(power, params=1e9)["tokens_decades"] is None  # the query gives no tokens


def test_published_ranges_and_sources():
    expect = {"hoffmann2022": {"params": (7e7, 1.6e10), "tokens": (5e9, 5e11), "flops": (6e18, 3e21)},
              "hoffmann2022-unrounded": {"params": (7e7, 1.6e10), "tokens": (5e9, 5e11), "flops": (6e18, 3e21)},
              "besiroglu2024": {"params": (5.73e7, 1.62e10), "tokens": (8.19e8, 3.18e11), "flops": (1.40e18, 1.30e22)},
              "kaplan2020-nd": {"params": (768.0, 1.5e9), "tokens": (2.2e7, 2.3e10)},
              "muennighoff2023": {"params": (None, 9e9), "tokens": (None, 9e11)}}
    for key, rng in expect.items():
        law = get_published(key)
        assert law.data_range == rng, key
        assert law.data_range_source and law.describe()["data_range"] == {k: list(v) for k, v in rng.items()}
    assert "sec. 3.2" in get_published("hoffmann2022").data_range_source
    assert "sec. 3" in get_published("kaplan2020").data_range_source


def test_besiroglu_range_is_that_of_the_points_they_fit(shared_data):
    runs = sl.load_runs(shared_data / "epoch_chinchilla" / "svg_extracted_data.csv", drop_highest_loss=5)
    assert len(runs) == 240
    for k, (lo, hi) in get_published("besiroglu2024").data_range.items():
        v = runs.column(k)
        assert v.min() == pytest.approx(lo, rel=5e-3) and v.max() == pytest.approx(hi, rel=5e-3), k


# ---- the fitted range -------------------------------------------------------------------------------------
def test_fit_records_its_runs_range_and_saves_it(sim_fit):
    fit, runs, path = sim_fit
    flops = 6 * runs["params"] * runs["tokens"]
    assert fit.data_range == {"params": [runs["params"].min(), runs["params"].max()],
                              "tokens": [runs["tokens"].min(), runs["tokens"].max()],
                              "flops": [pytest.approx(flops.min()), pytest.approx(flops.max())]}
    loaded = FitResult.load(path)
    assert loaded.data_range == fit.data_range
    assert fit.report_dict()["data_range"] == fit.data_range
    assert "data range      params" in fit.summary()


def test_old_fit_files_load_without_a_range_and_say_so(sim_fit, tmp_path):
    fit, _, path = sim_fit
    d = json.loads(path.read_text())
    del d["data_range"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(d))
    law = FitResult.load(old)
    assert law.data_range is None
    assert extrapolation(law, params=1e12, tokens=1e14) == {k: None for k in KEYS}
    assert extrapolation_warnings(law, params=1e12, tokens=1e14) == []
    assert "unknown" in extrapolation_text(law, params=1e12, tokens=1e14)
    assert "unknown" in law.summary().split("data range")[1].splitlines()[0]
    a = optimal_allocation(law, 1e24)
    assert a.extrapolation == {k: None for k in KEYS} and any("no range" in n for n in a.notes)
    d["data_range"] = {"params": [5.0, 1.0]}
    old.write_text(json.dumps(d))
    with pytest.raises(ScalingLabError, match="data_range"):
        FitResult.load(old)


# ---- predict, optimal, Allocation, report -----------------------------------------------------------------
def test_predict_cli_json_and_text(sim_fit, monkeypatch, capsys):
    fit, _, path = sim_fit
    nmax, tmax = fit.data_range["params"][1], fit.data_range["tokens"][1]
    tokens = 47 * tmax  # 1.67 decades beyond the fitted tokens
    code, stdout, err = run_cli(["predict", "--law", path, "--params", nmax, "--tokens", tokens, "--json"],
                                monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    assert set(d["extrapolation"]) == KEYS
    assert d["extrapolation"]["tokens_decades"] == pytest.approx(math.log10(47))
    assert d["extrapolation"]["params_decades"] == 0.0
    assert any(w.startswith("1.67 decades (47x) beyond the fitted tokens") for w in d["warnings"])
    code, stdout, _ = run_cli(["predict", "--law", path, "--params", nmax, "--tokens", tokens], monkeypatch, capsys)
    assert code == 0
    lines = stdout.splitlines()
    assert any(ln.startswith("extrapolation: ") and "beyond the fitted tokens" in ln for ln in lines)
    assert any(ln.startswith("warning: ") and "beyond the fitted tokens" in ln for ln in lines)
    code, stdout, _ = run_cli(["predict", "--law", "hoffmann2022", "--params", 1e9, "--tokens", 2e10, "--json"],
                              monkeypatch, capsys)
    d = json.loads(stdout)
    assert d["extrapolation"] == {k: 0.0 for k in KEYS} and d["warnings"] == []


def test_allocation_and_optimal_cli(monkeypatch, capsys):
    a = optimal_allocation("hoffmann2022", 5.76e23)
    assert a.extrapolation["flops_decades"] == pytest.approx(math.log10(5.76e23 / 3e21))
    assert any("beyond the fitted flops (max 3e21)" in w for w in a.warnings)
    assert a.to_dict()["extrapolation"] == a.extrapolation and a.to_dict()["warnings"] == a.warnings
    code, stdout, err = run_cli(["optimal", "--law", "hoffmann2022", "--flops", "1e20:1e24:3", "--json"],
                                monkeypatch, capsys)
    assert code == 0, err
    rows = json.loads(stdout)
    assert [set(r["extrapolation"]) for r in rows] == [KEYS] * 3
    assert rows[0]["warnings"] == [] and rows[-1]["warnings"]
    code, stdout, _ = run_cli(["optimal", "--law", "hoffmann2022", "--flops", "1e20:1e24:3"], monkeypatch, capsys)
    assert code == 0 and "extrap." in stdout
    assert "extrapolation at C = 1e+24 (the farthest):" in stdout and "warning: " in stdout


def test_report_plan_gives_the_distance(sim_fit):
    from scalinglab.report.sections import _extrapolation_sentence, _extrapolation_warnings

    fit, _, _ = sim_fit
    allocs = sl.optimal.optimal_frontier(fit, [1e21, 1e25])
    text = _extrapolation_sentence(allocs)
    assert "decades of N* / D* / C" in text and "1e+25 FLOPs" in text
    warns = _extrapolation_warnings(allocs)
    assert warns and all(w.startswith("plan at C = 1e+25 FLOPs: ") for w in warns)


def test_runs_data_range_prefers_given_flops():
    runs = sl.load_runs(pd.DataFrame({"params": [1e8, 1e9], "tokens": [1e9, 1e10], "flops": [7e17, 7e19],
                                      "loss": [3.0, 2.5]}))
    assert runs.data_range()["flops"] == [7e17, 7e19]
    assert sl.load_runs(pd.DataFrame({"flops": [1e18, 1e19], "loss": [3.0, 2.5]})).data_range() == {
        "flops": [1e18, 1e19]}
