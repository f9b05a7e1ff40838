"""Backtest of the over-training law L(C, M) (Gadre et al. 2024 eq. (4)): hold out the largest compute,
predict it with intervals; the training fit's status and identifiability come with it."""

import json

import numpy as np
import pandas as pd
import pytest
from tests.conftest import run_cli

from scalinglab.analysis.overtraining import gadre_runs, is_gadre_table, overtrain_backtest
from scalinglab.counting import flops_from
from scalinglab.errors import ScalingLabError
from scalinglab.laws import get_family

P = {"E": 1.8, "a": 200.0, "b": 350.0, "eta": 0.14}
MULTIPLIERS = (5.0, 20.0, 80.0, 320.0)


def overtrain_table(noise: float = 0.003, seed: int = 0) -> pd.DataFrame:
    """Runs of the law with constants P at four multipliers M and six sizes, times exp(N(0, noise))."""
    rng = np.random.default_rng(seed)
    n = np.repeat(np.geomspace(1e7, 1e9, 6), len(MULTIPLIERS))
    m = np.tile(MULTIPLIERS, 6)
    loss = get_family("overtrain").predict_natural(P, params=n, tokens=m * n)
    return pd.DataFrame({"params": n, "tokens": m * n, "loss": loss * np.exp(rng.normal(0, noise, n.size))})


def test_holds_out_the_largest_compute_and_predicts_it():
    table = overtrain_table()
    bt = overtrain_backtest(table, bootstrap=50)
    c = flops_from(table["params"], table["tokens"])
    held = bt.predictions["flops"]
    assert bt.n_test >= 0.2 * len(table) and held.min() > bt.holdout_above >= c[c <= bt.holdout_above].max()
    assert bt.n_train + bt.n_test == len(table)
    assert bt.mare < 0.01 and bt.coverage >= 0.75
    assert bt.fit.status == "converged" and bt.fit.unidentified == []
    assert bt.fit.params["eta"] == pytest.approx(0.14, rel=0.1)
    assert (bt.predictions["low"] < bt.predictions["predicted"]).all()


def test_reads_gadre_layout_by_training_and_validation_set():
    t = overtrain_table(0.0)
    rows = []
    for ds, shift in (("rpj", 0.0), ("c4_original", 0.5)):
        for vs, extra in (("c4_val", 0.0), ("openlm", 1.0)):
            rows.append(pd.DataFrame({"arch": "x", "train_dataset": ds, "val_set": vs, "params": t["params"],
                                      "train_tokens": t["tokens"], "chinchilla_multiplier": t["tokens"] / t["params"] / 20,
                                      "val_loss": t["loss"] + shift + extra}))
    table = pd.concat(rows, ignore_index=True)
    assert is_gadre_table(table) and not is_gadre_table(t)
    runs = gadre_runs(table, "c4_original", "openlm")
    assert len(runs) == len(t) and np.allclose(runs["loss"], t["loss"] + 1.5)
    assert np.allclose(runs["multiplier"], t["tokens"] / t["params"])
    bt = overtrain_backtest(table, bootstrap=0)
    assert bt.mare < 1e-6  # the rpj / c4_val rows are the noiseless law
    with pytest.raises(ScalingLabError, match="val_set 'nope'"):
        overtrain_backtest(table, val_set="nope")


def test_shared_gadre_table(shared_data):
    bt = overtrain_backtest(shared_data / "gadre2024_overtraining" / "model_losses.csv", bootstrap=50)
    assert (bt.n_train, bt.n_test) == (28, 7)  # rpj runs on c4_val; the top ~20% of compute held out
    assert bt.mare < 0.02 and bt.coverage >= 5 / 7 and bt.fit.status == "converged"
    assert bt.predictions["flops"].max() == pytest.approx(6 * 1.439795e9 * 9.214689e11, rel=1e-5)  # 1.4B at M = 640


def test_cli_json(tmp_path, monkeypatch, capsys):
    data = tmp_path / "ot.csv"
    overtrain_table().to_csv(data, index=False)
    code, stdout, _ = run_cli(["overtrain", "backtest", data, "--bootstrap", "20", "--json"], monkeypatch, capsys)
    out = json.loads(stdout)
    assert code == 0 and out["status"] == "converged" and out["unidentified"] == []
    assert out["law"] == "overtrain" and {"ci", "status"} <= set(out["fit"]) and "inside" in out["predictions"][0]
    code, _, err = run_cli(["overtrain", "backtest", data, "--holdout-above", "1e30"], monkeypatch, capsys)
    assert code == 2 and "nothing is held out" in err
