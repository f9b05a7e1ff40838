"""The schedule law's backtest (hold out the longest run, or the last part of every curve) and the trust
figures of a schedule fit: status, identifiability and bootstrap intervals."""

import json

import numpy as np
import pytest
from tests.analysis.test_schedule import TRAIN, TRUE, _curves
from tests.conftest import run_cli

from scalinglab.analysis.schedule import ScheduleFit, fit_schedule_law
from scalinglab.analysis.schedule_check import schedule_backtest
from scalinglab.errors import ScalingLabError

LONG = "cosine:steps=6000,warmup=100,peak=1e-3,final=1e-4"
WSD = "wsd:steps=3000,warmup=100,peak=1e-3,final=1e-4,cooldown=0.2"


def test_fit_reports_status_intervals_and_no_unidentified_parameter():
    fit = fit_schedule_law(_curves(noise=0.002), bootstrap=60)
    assert fit.status == "converged" and fit.unidentified == {}
    for k, (name, value) in enumerate(fit.params.items()):
        low, high = fit.ci[name]
        assert low < value < high and high / low < 1.2  # the constants are pinned to within 20%
        assert abs(value / TRUE[k] - 1) < 0.05


def test_fit_without_annealing_names_c_unidentified_and_round_trips():
    fit = fit_schedule_law(_curves(texts=TRAIN[:1], noise=0.002), bootstrap=20)
    assert "C" in fit.unidentified and "L0" not in fit.unidentified
    back = ScheduleFit.from_dict(json.loads(json.dumps(fit.to_dict())))
    assert back.status == fit.status and back.unidentified == fit.unidentified and back.ci == fit.ci
    old = {k: v for k, v in fit.to_dict().items() if k not in ("status", "unidentified", "unidentified_why", "ci")}
    assert ScheduleFit.from_dict(old).status == "not recorded"


def test_backtest_holds_out_the_longest_run():
    r = schedule_backtest(_curves(TRAIN + (LONG,), noise=0.001), bootstrap=40)
    assert r["holdout"] == "longest run" and r["tail"] is None
    assert r["held_out"] == [LONG] and r["train"] == list(TRAIN)
    (row,) = r["runs"]
    assert row["final_step"] == 6000 and abs(row["error"]) < 0.01 and row["low"] < row["final_loss"] < row["high"]
    assert r["fit"]["status"] == "converged" and r["fit"]["unidentified"] == []
    assert set(r["fit"]["ci"]) == {"L0", "A", "alpha", "C"} and r["max_abs_final_error"] == abs(row["error"])


def test_backtest_holds_out_the_tail_when_runs_share_the_longest_length():
    r = schedule_backtest(_curves(TRAIN + (WSD,), noise=0.001), tail=0.2, bootstrap=30)
    assert r["holdout"] == "last part of each curve" and r["tail"] == 0.2
    assert len(r["runs"]) == 3 and {row["run"] for row in r["runs"]} == set(TRAIN + (WSD,))
    # every 50 steps to 3000: the evaluations after step 2400 are 2450 ... 3000
    assert all(row["n_points"] == 12 and row["final_step"] == 3000 for row in r["runs"])
    assert r["mare"] < 0.01 and 0.0 <= r["coverage"] <= 1.0
    assert r["fit"]["n_points"] == 3 * 47  # fitted: steps 100 (end of warmup) ... 2400 of each run


def test_backtest_cli_json_and_bad_tail(tmp_path, monkeypatch, capsys):
    data = tmp_path / "curves.csv"
    _curves(TRAIN + (LONG,), noise=0.001).to_csv(data, index=False)
    code, stdout, _ = run_cli(["schedule", "backtest", data, "--bootstrap", "10", "--json"], monkeypatch, capsys)
    out = json.loads(stdout)
    assert code == 0 and out["held_out"] == [LONG]
    assert {"status", "unidentified", "ci", "params"} <= set(out["fit"]) and "inside" in out["runs"][0]
    code, _, err = run_cli(["schedule", "backtest", data, "--tail", "1.5"], monkeypatch, capsys)
    assert code == 2 and "tail" in err and "Traceback" not in err
    code, stdout, _ = run_cli(["schedule", "fit", data, "--bootstrap", "10", "--json"], monkeypatch, capsys)
    assert json.loads(stdout)["status"] == "converged" and np.isfinite(json.loads(stdout)["ci"]["alpha"][0])


@pytest.mark.parametrize("tail", [0.0, 1.0, float("nan")])
def test_tail_must_be_a_share(tail):
    with pytest.raises(ScalingLabError, match="tail"):
        schedule_backtest(_curves(), tail=tail)
