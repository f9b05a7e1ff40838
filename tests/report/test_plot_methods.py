"""Results draw themselves: ``FitResult.plot``, ``ApproachResult.plot`` and ``BacktestResult.plot`` return
the Axes of the same figures as ``scalinglab plot``, whose drawn numbers are the result's own; ``ax=`` is
drawn on; an unknown kind or option is one ScalingLabError line; importing the result modules loads no
matplotlib."""

import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

import scalinglab as sl
from scalinglab.analysis.backtest import backtest
from scalinglab.errors import ScalingLabError
from scalinglab.plan.allocation import optimal_allocation
from scalinglab.plan.approaches import fit_approach
from scalinglab.report.fit_plots import CURVE_POINTS
from scalinglab.report.run_plots import dodge

matplotlib.use("Agg")

BUDGETS = (1e18, 1e19, 1e20, 1e21)  # FLOPs


@pytest.fixture(scope="module")
def runs():
    return sl.simulate_isoflop("hoffmann2022", budgets=BUDGETS, per_budget=7, noise=0.01, seed=0)


@pytest.fixture(scope="module")
def fitted(runs):
    return sl.fit(runs, law="chinchilla", bootstrap=20, seed=0)


def _law_lines(ax):
    """The law's curves on a loss plot (each CURVE_POINTS long; points and frontier are not)."""
    return [line for line in ax.lines if len(line.get_xdata()) == CURVE_POINTS]


def test_loss_params_draws_the_fits_predictions_at_each_budget(fitted, runs):
    ax = fitted.plot("loss-params", runs)
    assert isinstance(ax, Axes)
    lines = _law_lines(ax)
    assert len(lines) == len(BUDGETS)
    matched = []
    for line in lines:
        n, loss = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        hits = [c for c in BUDGETS
                if np.allclose(loss, fitted.predict(params=n, tokens=c / (6.0 * n)).loss, rtol=1e-9, atol=0)]
        assert len(hits) == 1, "each curve is the law at exactly one budget"
        matched += hits
    assert sorted(matched) == sorted(BUDGETS)
    assert ax.get_xlabel() == "model size N (parameters)" and ax.get_ylabel() == "loss (nats/token)"
    assert ax.get_xscale() == "log"


def test_frontier_draws_the_fits_compute_optimal_allocation(fitted):
    budgets = [1e20, 1e21, 1e22]
    ax_n, ax_d = fitted.plot("frontier", budgets=budgets)
    want = [optimal_allocation(fitted, c, allow_unidentified=True) for c in budgets]
    line_n, line_d = ax_n.lines[0], ax_d.lines[0]
    np.testing.assert_allclose(line_n.get_xdata(), budgets)
    np.testing.assert_allclose(line_n.get_ydata(), [a.params for a in want], rtol=1e-9)
    np.testing.assert_allclose(line_d.get_ydata(), [a.tokens for a in want], rtol=1e-9)
    assert ax_n.get_ylabel() == "N_opt (parameters)" and ax_d.get_ylabel() == "D_opt (tokens)"


def test_fit_plot_draws_on_the_given_axes(fitted, runs):
    fig = Figure()
    ax = fig.subplots()
    out = fitted.plot("loss-params", runs, ax=ax)
    assert out is ax and fig.axes[0] is ax
    assert len(_law_lines(ax)) == len(BUDGETS)
    two = Figure().subplots(1, 2)
    got = fitted.plot("frontier", ax=two)
    assert got[0] is two[0] and got[1] is two[1] and two[0].lines and two[1].lines
    with pytest.raises(ScalingLabError, match="2 panels: give ax= 2 matplotlib Axes"):
        fitted.plot("frontier", ax=Figure().subplots())


def test_every_fit_kind_draws(fitted, runs):
    panels = {"loss-tokens": 1, "loss-flops": 1, "isoflop": 1, "residuals": 3, "bootstrap": 4, "correlations": 1}
    for kind, n in panels.items():
        out = fitted.plot(kind, runs if kind in ("loss-tokens", "loss-flops", "isoflop", "residuals") else None)
        axes = np.atleast_1d(np.asarray(out, dtype=object))
        assert len(axes) == n, kind
        assert all(a.get_xlabel() or a.get_title(loc="left") for a in axes), kind  # labelled or titled


def test_unknown_kind_option_or_missing_runs_is_one_line(fitted, runs):
    with pytest.raises(ScalingLabError) as exc:
        fitted.plot("speed-size")
    assert "\n" not in str(exc.value)
    assert str(exc.value).startswith("unknown plot kind 'speed-size' for a FitResult; kinds are loss-params")
    with pytest.raises(ScalingLabError, match="takes no option degree"):
        fitted.plot("residuals", runs, degree=3)
    with pytest.raises(ScalingLabError, match="draws the runs"):
        fitted.plot("isoflop")


def test_approach_plot_draws_its_power_laws(runs):
    result = fit_approach(runs, 2)
    budgets = [1e19, 1e21, 1e23]
    fig = Figure()
    axes = fig.subplots(1, 2)
    ax_n, ax_d = result.plot(budgets=budgets, ax=axes)
    assert ax_n is axes[0] and ax_d is axes[1]
    n_opt, d_opt = result.optimal(budgets)
    np.testing.assert_allclose(ax_n.lines[0].get_ydata(), n_opt, rtol=1e-9)
    np.testing.assert_allclose(ax_d.lines[0].get_ydata(), d_opt, rtol=1e-9)
    points = ax_n.collections[-1].get_offsets()  # the per-budget optima it fitted its power law to
    np.testing.assert_allclose(np.asarray(points)[:, 1], [p["params"] for p in result.points], rtol=1e-9)
    with pytest.raises(ScalingLabError, match="unknown plot kind 'isoflop' for a ApproachResult; kinds are frontier"):
        result.plot("isoflop")


def test_backtest_plot_draws_its_predictions(runs):
    result = backtest(runs, "chinchilla", holdout_above=2e20, bootstrap=0)
    ax, parity = result.plot(runs=runs)
    data_line = ax.containers[0].lines[0]  # the errorbar's predicted points
    want = result.predictions.sort_values("flops")
    # runs at one budget are spread apart (dodged) so that each interval can be read
    np.testing.assert_allclose(data_line.get_xdata(), dodge(want["flops"].to_numpy()), rtol=1e-12)
    np.testing.assert_allclose(data_line.get_ydata(), want["predicted"], rtol=1e-12)
    fitted_points = np.asarray(ax.collections[0].get_offsets())
    assert len(fitted_points) == int((runs["flops"] <= 2e20).sum())
    assert parity.get_xlabel() == "observed loss (nats/token)"


def test_result_modules_do_not_load_matplotlib():
    code = ("import sys, scalinglab.fitting.result, scalinglab.plan.approaches, scalinglab.analysis.backtest, "
            "scalinglab.analysis.forecast_core; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False"


def test_forecast_plot_draws_its_law_up_to_the_forecast_point():
    curves = sl.analysis.simulate_learning_curves((1e8, 4e8), n_points=40, noise=0.01, seed=0)
    fc = sl.analysis.forecast_run(curves, run="N=4e+08", fraction=0.3, bootstrap=20, seed=0)
    fig = Figure()
    ax = fig.subplots()
    assert fc.plot(curves, ax=ax) is ax
    tokens, loss = (np.asarray(v, float) for v in ax.lines[0].get_data())
    assert tokens[-1] == pytest.approx(fc.x_final) and loss[-1] == pytest.approx(fc.final_loss, rel=1e-12)
    np.testing.assert_allclose(loss, fc.fit.predict(tokens=tokens).loss, rtol=1e-12)
    observed = curves[curves["run"] == "N=4e+08"]  # only the forecast run's curve is drawn
    drawn = np.concatenate([np.asarray(c.get_offsets())[:, 1] for c in ax.collections
                            if isinstance(c, PathCollection)])  # the scatters (not the error bar)
    np.testing.assert_allclose(np.sort(drawn), np.sort(observed["loss"].to_numpy()), rtol=1e-12)
    with pytest.raises(ScalingLabError, match="draws the observed curve"):
        fc.plot(None)
