"""The calibration a fit carries (scalinglab.fitting.calibration): quantile, bounds, format, round trip."""

import json
import math

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.analysis.intervals import prediction_interval
from scalinglab.errors import ScalingLabError
from scalinglab.fitting import calibration as cal
from scalinglab.fitting.result import FitResult


def power_floor_runs(seed: int, n: int = 24, noise: float = 0.02) -> pd.DataFrame:
    """L = 1.8 + 2000 C^-0.16 (nats/token) at n log-spaced budgets 1e17..1e22 FLOPs, log-normal noise."""
    rng = np.random.default_rng(seed)
    C = np.geomspace(1e17, 1e22, n)
    L = 1.8 + 2000.0 * C**-0.16
    return pd.DataFrame({"flops": C, "loss": L * np.exp(noise * rng.standard_normal(n))})


def hand_calibration(**over) -> dict:
    """Errors at 1 and 2 decades; s(d) = 0.01 + 0.02 d."""
    d = dict(x="flops", x_max=1e20, s0=0.01, s1=0.02, decay=0.5, origins=[1e18, 1e19], n_fitted=[10, 15],
             distance=[1.0, 1.0, 2.0, 2.0], error=[0.03, -0.06, 0.05, -0.15], weight=[1.0, 1.0, 0.5, 0.5])
    d.update(over)
    return cal.make_calibration(**d)


# ---- quantile ----------------------------------------------------------------------------------------------
def test_weighted_conformal_quantile_by_hand():
    # weights 1, 1, 1, 1 (+1 for the new point): masses 0.2, 0.4, 0.6, 0.8 -> level 0.6 is the 3rd score
    q, capped = cal.conformal_quantile(np.array([4.0, 1.0, 3.0, 2.0]), np.ones(4), 0.6)
    assert (q, capped) == (3.0, False)
    # level 0.8 needs the 4th (mass exactly 0.8); 0.81 cannot be reached: capped at the largest score
    assert cal.conformal_quantile(np.array([4.0, 1.0, 3.0, 2.0]), np.ones(4), 0.8) == (4.0, False)
    assert cal.conformal_quantile(np.array([4.0, 1.0, 3.0, 2.0]), np.ones(4), 0.81) == (4.0, True)
    # down-weighting the two largest scores: masses 1/3.5, 2/3.5, 2.25/3.5, 2.5/3.5
    q, capped = cal.conformal_quantile(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 1, 0.25, 0.25]), 0.6)
    assert (q, capped) == (3.0, False)  # 2/3.5 = 0.571 < 0.6 <= 0.643


def test_quantile_falls_back_to_the_latest_origins_errors():
    # the latest origin has 1 error (weight 1), the one before 4 (weight 0.1): total weight 1.4, so the
    # weighted 60% quantile does not exist (1.4 / 2.4 < 0.6); the plain split-conformal one over both
    # origins' 5 errors is the ceil(6 * 0.6) = 4th smallest score, not the largest
    c = hand_calibration(s0=0.01, s1=0.0, decay=0.1, distance=[1, 1, 1, 1, 0.5],
                         error=[0.01, -0.02, 0.03, 0.04, -0.05], weight=[0.1] * 4 + [1.0])
    assert cal.conformal_quantile(cal.scores(c), np.array(c["weight"]), 0.6)[1] is True
    q, capped = cal.band_quantile(c, 0.6)
    assert q == pytest.approx(4.0) and capped


def test_calibrated_bounds_by_hand():
    c = hand_calibration()
    # scores |e| / s(d): 0.03/0.03 = 1, 0.06/0.03 = 2, 0.05/0.05 = 1, 0.15/0.05 = 3
    np.testing.assert_allclose(cal.scores(c), [1, 2, 1, 3])
    # weights 1, 1, .5, .5 (+1): sorted scores 1 (w 1), 1 (.5), 2 (1), 3 (.5) -> masses .25 .375 .625 .75
    assert cal.band_quantile(c, 0.6) == (2.0, False)
    point = np.log(np.array([2.0, 2.0, 2.0]))
    low, high = point - 0.001, point + 0.001
    inputs = {"flops": np.array([1e19, 1e21, 1e22])}  # inside the data, 1 and 2 decades beyond
    lo, hi, half, capped = cal.calibrated_log_bounds(c, point, low, high, inputs, 0.6)
    np.testing.assert_allclose(half, 2.0 * np.array([0.01, 0.03, 0.05]))
    np.testing.assert_allclose(lo, point - half)
    np.testing.assert_allclose(hi, point + half)
    assert not capped
    # where the given interval is wider than the band, the union keeps it
    wide_lo, wide_hi = point - 0.5, point + 0.5
    lo, hi, _, _ = cal.calibrated_log_bounds(c, point, wide_lo, wide_hi, inputs, 0.6)
    np.testing.assert_allclose(lo, wide_lo)
    np.testing.assert_allclose(hi, wide_hi)


def test_distance_uses_six_nd_when_the_law_reads_params_and_tokens():
    c = hand_calibration()
    d = cal.distance(c, {"params": np.array([1e9, 1e10]), "tokens": np.array([1e10, 1e12])})
    np.testing.assert_allclose(d, [0.0, math.log10(6e22 / 1e20)])
    with pytest.raises(ScalingLabError, match="distance in flops cannot be had"):
        cal.distance(c, {"params": np.array([1e9])})
    assert cal.default_x(("params", "tokens")) == "flops"
    assert cal.default_x(("params",)) == "params"
    with pytest.raises(ScalingLabError, match="cannot be calibrated"):
        cal.default_x(("step",))


@pytest.mark.parametrize("change,message", [
    ({"method": "other"}, "method must be 'rolling-origin'"),
    ({"x": "loss"}, "x must be one of"),
    ({"s0": 0.0}, "s0 = 0.0 is out of range"),
    ({"s1": -1.0}, "s1 = -1.0 is out of range"),
    ({"x_max": float("nan")}, "x_max"),
    ({"weight": [1.0, 1.0, 0.5]}, "one entry per recorded error"),
    ({"weight": [1.0, 1.0, 0.5, 2.0]}, "weights in"),
    ({"error": [0.1, "a", 0.1, 0.1]}, "error must be"),
    ({"distance": []}, "non-empty"),
    ({"version": 99}, "version 99"),
])
def test_malformed_calibration_is_refused(change, message):
    d = {**hand_calibration(), **change}
    with pytest.raises(ScalingLabError, match=message):
        cal.check_calibration(d)


# ---- FitResult ---------------------------------------------------------------------------------------------
def test_predict_intervals_and_the_missing_calibration_message():
    res = sl.fit(power_floor_runs(1), "power_floor:flops", bootstrap=30, seed=0)
    C = np.array([1e20, 1e23])
    with pytest.raises(ScalingLabError, match=r"carries no calibration: attach one with "
                                              r"sl\.analysis\.calibrate\(result, runs\)"):
        res.predict(interval="calibrated", flops=C)
    with pytest.raises(ScalingLabError, match="interval must be one of parameters, prediction, calibrated"):
        res.predict(interval="wide", flops=C)
    # "prediction" is the same arithmetic as analysis.prediction_interval
    p = res.predict(interval="prediction", flops=C)
    pi = prediction_interval(res, flops=C)
    np.testing.assert_allclose(p.low, pi.low, rtol=1e-12)
    np.testing.assert_allclose(p.high, pi.high, rtol=1e-12)
    assert p.method == "prediction" and res.predict(flops=C).method == "parameters"
    # a hand-made calibration: the calibrated interval is the union with the band around the point
    c = hand_calibration(x_max=1e22)
    calibrated = FitResult(**{**res.__dict__, "calibration": c})
    q = calibrated.predict(interval="calibrated", flops=C)
    half = 3.0 * np.array([0.01, 0.03])  # q at 0.95 is capped at the largest score, 3; d = 0 and 1
    np.testing.assert_allclose(q.low, np.minimum(pi.low, pi.point * np.exp(-half)), rtol=1e-12)
    np.testing.assert_allclose(q.high, np.maximum(pi.high, pi.point * np.exp(half)), rtol=1e-12)
    assert q.method == "calibrated" and np.all(q.low <= pi.low) and np.all(q.high >= pi.high)
    piq = prediction_interval(calibrated, flops=C, interval="calibrated")
    np.testing.assert_allclose(piq.low, q.low, rtol=1e-12)
    np.testing.assert_allclose(piq.misfit, half)
    assert piq.to_dict()["interval_method"] == "calibrated"
    assert any("too few (by weight)" in n for n in piq.notes)


def test_calibration_round_trips_and_old_files_still_load(tmp_path):
    res = sl.fit(power_floor_runs(2), "power_floor:flops", bootstrap=20, seed=0)
    calibrated = sl.analysis.calibrate(res, power_floor_runs(2))
    assert res.calibration is None  # calibrate returns a copy
    path = tmp_path / "fit.json"
    calibrated.save(path)
    back = FitResult.load(path)
    assert back.calibration == calibrated.calibration
    C = np.geomspace(1e18, 1e24, 7)
    a, b = calibrated.predict(interval="calibrated", flops=C), back.predict(interval="calibrated", flops=C)
    np.testing.assert_array_equal(a.low, b.low)
    np.testing.assert_array_equal(a.high, b.high)
    # a file written without a calibration (as by older versions) has no such key and still loads
    res.save(path)
    d = json.loads(path.read_text())
    assert "calibration" not in d
    assert FitResult.from_dict(d).calibration is None
    # a damaged calibration is one clear error
    d["calibration"] = {**calibrated.calibration, "s0": -1}
    with pytest.raises(ScalingLabError, match="malformed calibration: s0"):
        FitResult.from_dict(d)
    # the summary and the JSON report say the fit is calibrated
    assert "calibration     rolling-origin on flops" in calibrated.summary()
    rep = calibrated.report_dict()["calibration"]
    assert rep["x"] == "flops" and rep["n_errors"] == len(calibrated.calibration["error"])
    assert "calibration" not in res.report_dict()
