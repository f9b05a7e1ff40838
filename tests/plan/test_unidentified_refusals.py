"""Answers that depend on a parameter the data do not determine are refused (issue 11, item 3)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from conftest import run_cli
from scalinglab.errors import ScalingLabError
from scalinglab.plan.approaches import fit_approach
from scalinglab.plan.inference_aware import inference_optimal

N15 = np.logspace(7, 10, 15)
D15 = np.logspace(9, 11, 15)[::-1]


@pytest.fixture(scope="module")
def pure_n():
    """Loss depends on N only: B and beta are not determined, on any CPU."""
    df = pd.DataFrame({"params": N15, "tokens": D15, "loss": 2.0 + 300 * N15**-0.3})
    return df, sl.fit(df, loss="ls")


@pytest.fixture(scope="module")
def no_floor():
    """L = A/N^alpha + B/D^beta with no irreducible loss: E runs to the bottom of its box."""
    N, D = (a.ravel() for a in np.meshgrid(np.logspace(7, 9, 5), np.logspace(9, 11, 5)))
    res = sl.fit(pd.DataFrame({"params": N, "tokens": D, "loss": 400 * N**-0.34 + 410 * D**-0.28}), loss="ls")
    return res


def test_optimal_refuses_and_names_the_way_out(pure_n):
    _, res = pure_n
    with pytest.raises(ScalingLabError, match=r"depends on B, beta.*allow-unidentified"):
        sl.optimal.optimal_allocation(res, 1e22)
    a = sl.optimal.optimal_allocation(res, 1e22, allow_unidentified=True)
    assert any("B, beta" in w and "should not be trusted" in w for w in a.warnings)


def test_predict_and_inference_optimal_refuse(pure_n):
    _, res = pure_n
    with pytest.raises(ScalingLabError, match="the predicted loss depends on B, beta"):
        sl.resolve.predict_loss(res, params=1e9, tokens=1e10)
    assert sl.resolve.predict_loss(res, params=1e9, tokens=1e10, allow_unidentified=True).loss > 2.0
    with pytest.raises(ScalingLabError, match="inference-aware optimum depends on B, beta"):
        inference_optimal(res, 2.1, 1e12)


def test_approach_3_refuses(pure_n):
    df, _ = pure_n
    with pytest.raises(ScalingLabError, match="approach 3's compute-optimal frontier depends on"):
        fit_approach(df, 3, loss="ls")
    res = fit_approach(df, 3, loss="ls", allow_unidentified=True)
    assert any("should not be trusted" in w for w in res.warnings)


def test_only_the_loss_level_undetermined_warns_instead(no_floor):
    assert "E" in no_floor.unidentified
    assert not {"A", "B", "alpha", "beta"} & set(no_floor.unidentified)
    a = sl.optimal.optimal_allocation(no_floor, 1e21)  # answered: the allocation does not depend on E
    assert a.params > 0 and any(w.startswith("E is not determined") for w in a.warnings)
    with pytest.raises(ScalingLabError, match="the predicted loss depends on E"):
        sl.resolve.predict_loss(no_floor, params=1e9, tokens=1e10)  # the loss itself does


def test_cli_refuses_with_one_line_and_allows_with_warnings(pure_n, tmp_path, monkeypatch, capsys):
    _, res = pure_n
    res.save(tmp_path / "f.json")
    for args in (["optimal", "--law", tmp_path / "f.json", "--flops", "1e22"],
                 ["predict", "--law", tmp_path / "f.json", "--params", "1e9", "--tokens", "1e10"],
                 ["inference-optimal", "--law", tmp_path / "f.json", "--loss", "2.1", "--inference-tokens", "1e12"]):
        code, out, err = run_cli(args, monkeypatch, capsys)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, (args, err)
        assert "B, beta" in err and "--allow-unidentified" in err and "Traceback" not in err
        code, out, err = run_cli(args + ["--allow-unidentified", "--json"], monkeypatch, capsys)
        assert code == 0, err
        warnings = json.loads(out)["warnings"]
        assert any("B, beta" in w for w in warnings)


def test_fit_cli_json_and_summary_say_it(pure_n, tmp_path, monkeypatch, capsys):
    df, _ = pure_n
    df.to_csv(tmp_path / "pure.csv", index=False)
    code, out, _ = run_cli(["fit", tmp_path / "pure.csv", "--loss", "ls", "--json"], monkeypatch, capsys)
    d = json.loads(out)
    assert code == 0 and d["status"] == "converged" and {"B", "beta"} <= set(d["unidentified"])
    code, out, _ = run_cli(["fit", tmp_path / "pure.csv", "--loss", "ls"], monkeypatch, capsys)
    assert "UNIDENTIFIED" in out and "B is not identified" in out


def test_report_refuses_its_plan_then_warns(pure_n, tmp_path):
    from scalinglab.report.html import make_report

    df, _ = pure_n
    df.to_csv(tmp_path / "pure.csv", index=False)
    with pytest.raises(ScalingLabError, match="report's compute-optimal plan depends on"):
        make_report(tmp_path / "pure.csv", bootstrap=0, budgets=(1e21,))
    r = make_report(tmp_path / "pure.csv", bootstrap=0, budgets=(1e21,), allow_unidentified=True)
    assert any("should not be trusted" in w for w in r.warnings)
    assert "B is not identified" in r.html


def test_a_fit_named_by_its_path_is_guarded_too(pure_n, tmp_path):
    _, res = pure_n
    res.save(tmp_path / "f.json")
    with pytest.raises(ScalingLabError, match="the predicted loss depends on B, beta"):
        sl.resolve.predict_loss(str(tmp_path / "f.json"), params=1e9, tokens=1e10)
    with pytest.raises(ScalingLabError, match="allocation depends on B, beta"):
        sl.optimal.optimal_allocation(str(tmp_path / "f.json"), 1e22)


def test_undetermined_e_is_not_counted_as_extrapolation(no_floor, tmp_path, monkeypatch, capsys):
    allocs = sl.optimal.optimal_frontier(no_floor, [1e18, 2e18])  # both inside the fitted compute
    assert all(a.reach <= 1.0 and a.extrapolation_warnings == [] for a in allocs)
    assert all(any(w.startswith("E is not determined") for w in a.warnings) for a in allocs)
    no_floor.save(tmp_path / "f.json")
    code, out, _ = run_cli(["optimal", "--law", tmp_path / "f.json", "--flops", "1e18,2e18"], monkeypatch, capsys)
    assert code == 0 and "budgets lie more than one decade" not in out and "E is not determined" in out
