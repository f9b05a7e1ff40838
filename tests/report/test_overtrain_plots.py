"""The over-training figures (references.md D4): loss against compute per multiplier with the overtrain
law's lines, and downstream error against loss with Err(L); what is drawn is the law's own numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from scalinglab.errors import ScalingLabError
from scalinglab.io import load_runs
from scalinglab.laws import get_family
from scalinglab.laws.downstream_error import error_table
from scalinglab.report import overtrain_plots
from scalinglab.report.kinds import make_figure
from scalinglab.report.sections import data_section

OT = {"E": 1.8, "a": 200.0, "b": 350.0, "eta": 0.14}
ERR = {"epsilon": 0.85, "k": 2.3, "gamma": 0.75}


def overtrain_runs() -> pd.DataFrame:
    """15 runs on the overtrain law: N = 1e7..1e9 at M = 10, 40, 160 tokens per parameter."""
    n = np.repeat([1e7, 3e7, 1e8, 3e8, 1e9], 3)
    m = np.tile([10.0, 40.0, 160.0], 5)
    loss = get_family("overtrain").predict_natural(OT, params=n, tokens=m * n)
    return pd.DataFrame({"params": n, "tokens": m * n, "loss": loss})


def error_runs() -> pd.DataFrame:
    L = np.linspace(2.4, 6.0, 12)
    return error_table(L, get_family("downstream_error").predict_natural(ERR, upstream_loss=L))


def test_loss_by_multiplier_draws_the_law_at_each_multiplier():
    runs = load_runs(overtrain_runs())
    law = sl.fit(runs, law="overtrain")
    fig = overtrain_plots.plot_loss_by_multiplier(runs, law)
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata())]
    assert len(lines) == 6  # solid and dashed, for each of M = 10, 40, 160
    c, loss = lines[0].get_xdata(), lines[0].get_ydata()
    n = np.sqrt(c / (6 * 10.0))  # the first line is M = 10
    np.testing.assert_allclose(loss, get_family("overtrain").predict_natural(OT, params=n, tokens=10 * n), rtol=1e-4)
    assert "compute C" in ax.get_xlabel() and "nats/token" in ax.get_ylabel()


def test_error_vs_loss_draws_err_of_l():
    runs = load_runs(error_runs())
    fig = overtrain_plots.plot_error_vs_loss(runs, sl.fit(runs, law="downstream_error"))
    solid = [ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "-"][0]
    L = solid.get_xdata()
    assert L.min() == pytest.approx(2.4) and L.max() == pytest.approx(6.0)
    np.testing.assert_allclose(solid.get_ydata(), 0.85 - 2.3 * np.exp(-0.75 * L), rtol=1e-4)


def test_kinds_fit_their_family_by_default_and_refuse_the_wrong_law(tmp_path):
    path = tmp_path / "err.csv"
    error_runs().to_csv(path, index=False)
    assert len(make_figure("error-loss", path).axes[0].get_lines()) == 3
    assert make_figure("loss-multiplier", overtrain_runs()).axes[0].get_title(loc="left").endswith("overtrain")
    with pytest.raises(ScalingLabError, match="needs a law of upstream_loss"):
        make_figure("error-loss", path, law="hoffmann2022")
    with pytest.raises(ScalingLabError, match="lines per multiplier need a law of params and tokens"):
        make_figure("loss-multiplier", overtrain_runs(), law="kaplan2020-n")


def test_report_data_section_adds_the_multiplier_figure_for_an_overtrain_fit():
    runs = load_runs(overtrain_runs())
    keys = [f.key for f in data_section(runs, sl.fit(runs, law="overtrain")).figs]
    assert "loss-multiplier" in keys
    assert "loss-multiplier" not in [f.key for f in data_section(runs, sl.fit(runs, law="chinchilla")).figs]
