"""Fit status (first-order test) and identifiability: the hostile tables of issue 11."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.fitting.identify import unidentified_parameters
from scalinglab.fitting.objective import Objective
from scalinglab.fitting.status import FitStatus, fit_status, newton_decrement
from scalinglab.laws import get_family

N15 = np.logspace(7, 10, 15)
D15 = np.logspace(9, 11, 15)[::-1]


def grid_table(noise: float = 0.01, seed: int = 0) -> pd.DataFrame:
    N, D = (a.ravel() for a in np.meshgrid(np.logspace(7, 9, 5), np.logspace(9, 11, 5)))
    rng = np.random.default_rng(seed)
    loss = (1.7 + 400 * N**-0.34 + 410 * D**-0.28) * np.exp(noise * rng.standard_normal(N.size))
    return pd.DataFrame({"params": N, "tokens": D, "loss": loss})


def test_constant_loss_is_unidentified_everywhere():
    res = sl.fit(pd.DataFrame({"params": N15, "tokens": D15, "loss": np.full(15, 3.0)}))
    assert set(res.unidentified) == {"E", "A", "B", "alpha", "beta"}
    assert "UNIDENTIFIED" in res.summary()


def test_flat_bnsl_on_few_sizes_names_its_parameters():
    # 5 distinct sizes for a 6-parameter BNSL in N: the objective is flat along some directions
    res = sl.fit(grid_table(), "bnsl:params:1")
    assert len(res.unidentified) >= 2
    assert all(name in res.family.param_names for name in res.unidentified)


def test_well_designed_grid_is_identified_with_and_without_bootstrap():
    plain = sl.fit(grid_table())
    boot = sl.fit(grid_table(), bootstrap=50)
    assert plain.status == boot.status == "converged"
    assert plain.unidentified == [] and boot.unidentified == []


def test_epoch_fit_is_converged_and_identified(shared_data):
    runs = sl.load_runs(shared_data / "epoch_chinchilla" / "svg_extracted_data.csv", drop_highest_loss=5)
    res = sl.fit(runs)
    assert res.status == "converged" and res.converged
    assert res.unidentified == []


def test_bootstrap_interval_over_two_decades_is_unidentified():
    # one decade of N and D, 5% noise: E's bootstrap interval reaches the bottom of the box
    rng = np.random.default_rng(3)
    N, D = (a.ravel() for a in np.meshgrid(np.logspace(7, 8, 4), np.logspace(9, 10, 4)))
    loss = (1.7 + 400 * N**-0.34 + 410 * D**-0.28) * np.exp(0.05 * rng.standard_normal(N.size))
    res = sl.fit(pd.DataFrame({"params": N, "tokens": D, "loss": loss}), bootstrap=60)
    wide = [k for k in res.params if k in res.ci and (res.ci[k][1] > 100 * res.ci[k][0] or res.ci[k][0] <= 0)]
    assert wide, "the design should leave some interval two decades wide"
    assert set(wide) <= set(res.unidentified)
    assert "spans orders of magnitude" in res.unidentified_why[wide[0]] or "bound" in res.unidentified_why[wide[0]]


def test_status_from_the_first_order_test():
    df = grid_table(noise=0.0)
    fam = get_family("chinchilla")
    X = {"params": df.params.to_numpy(), "tokens": df.tokens.to_numpy()}
    logy = np.log(df.loss.to_numpy())
    obj = Objective("huber", 1e-3)
    truth = fam.from_natural({"E": 1.7, "A": 400, "B": 410, "alpha": 0.34, "beta": 0.28})
    value = float(obj.value(fam.log_predict(truth[None], X) - logy)[0])
    assert fit_status(fam, truth, value, X, logy, obj, True) is FitStatus.CONVERGED
    off = truth + np.array([0.0, 0.0, 0.0, 0.02, 0.0])  # alpha off by 0.02: a real gradient
    v_off = float(obj.value(fam.log_predict(off[None], X) - logy)[0])
    assert newton_decrement(fam, off, X, logy, obj) > 1e-3 * v_off
    assert fit_status(fam, off, v_off, X, logy, obj, True) is FitStatus.STALLED
    assert fit_status(fam, off, v_off, X, logy, obj, False) is FitStatus.MAX_ITERATIONS
    assert fit_status(fam, off, float("nan"), X, logy, obj, True) is FitStatus.FAILED


def test_negligible_term_is_named_directly():
    fam = get_family("chinchilla")
    X = {"params": N15, "tokens": D15}
    theta = fam.from_natural({"E": 2.0, "A": 300, "B": 1e-6, "alpha": 0.3, "beta": 2.0})
    logy = fam.log_predict(theta[None], X)[0]
    why = unidentified_parameters(fam, theta, X, logy)
    assert set(why) == {"B", "beta"}
    assert "negligible" in why["B"]


def test_status_and_unidentified_round_trip_and_json(tmp_path):
    res = sl.fit(pd.DataFrame({"params": N15, "tokens": D15, "loss": 2.0 + 300 * N15**-0.3}), loss="ls")
    res.save(tmp_path / "f.json")
    back = sl.FitResult.load(tmp_path / "f.json")
    assert back.status == res.status and back.unidentified == res.unidentified
    d = res.report_dict()
    assert d["status"] == "converged" and {"B", "beta"} <= set(d["unidentified"])


def test_old_fit_file_without_status_loads(tmp_path):
    res = sl.fit(grid_table())
    d = res.to_dict()
    for k in ("status", "unidentified", "unidentified_why"):
        d.pop(k)
    d["converged"] = False
    back = sl.FitResult.from_dict(d)
    assert back.status == "stalled" and back.unidentified == []


def test_bad_status_in_file_is_refused():
    d = sl.fit(grid_table()).to_dict()
    d["status"] = "great"
    with pytest.raises(sl.ScalingLabError, match="status"):
        sl.FitResult.from_dict(d)


def test_repr_is_one_short_line():
    res = sl.fit(pd.DataFrame({"params": N15, "tokens": D15, "loss": 2.0 + 300 * N15**-0.3}), loss="ls")
    text = repr(res)
    assert "\n" not in text and len(text) < 300
    assert text.startswith("FitResult(law='chinchilla', status='converged'") and "unidentified=[" in text
