"""Figures: every kind writes PNG and SVG; axes are labelled with units and log where the law is a power
law; what is drawn is the law's own numbers (checked against the API and hand calculations)."""

import itertools
import math
import subprocess
import sys

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from report_data import sweep, sweep_csv, sweep_store
from test_law_plots import law_data

import scalinglab as sl
from scalinglab.errors import ScalingLabError
from scalinglab.report import (
    KINDS,
    fit_plots,
    inference_plots,
    plan_plots,
    plot,
    run_plots,
    style,
)
from scalinglab.report.kinds import default_budgets, default_holdout, make_figure


@pytest.fixture(scope="module")
def runs():
    return sweep()


@pytest.fixture(scope="module")
def fitted(runs):
    return sl.fit(runs, bootstrap=40, seed=0)


def _labels(ax):
    return ax.get_xlabel(), ax.get_ylabel()


def _render(fig):
    """Draw ``fig`` on an Agg canvas (layout done, tick labels set); its renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _overflow_inches(fig):
    """How far (inches) anything drawn (labels, legends, colour bars, titles) reaches past each edge of
    the figure: (left, bottom, right, top); all <= 0 when nothing is clipped."""
    box = fig.get_tightbbox(_render(fig))
    w, h = fig.get_size_inches()
    return -box.x0, -box.y0, box.x1 - w, box.y1 - h


def _tick_labels(axis, renderer):
    """(text, window extent) of the tick labels drawn on ``axis`` (major and minor, inside the view)."""
    lo, hi = sorted(axis.get_view_interval())
    out = []
    for tick in axis.get_major_ticks() + axis.get_minor_ticks():
        label = tick.label1
        if label.get_visible() and label.get_text() and lo <= tick.get_loc() <= hi:
            out.append((label.get_text(), label.get_window_extent(renderer)))
    return out


def _overlaps(labels, along_x=True):
    """Pairs of neighbouring tick labels whose boxes overlap along the axis."""
    boxes = sorted((b.x0, b.x1, t) if along_x else (b.y0, b.y1, t) for t, b in labels)
    return [(a[2], b[2]) for a, b in itertools.pairwise(boxes) if a[1] > b[0] + 0.5]


# ---- every kind, both formats ----------------------------------------------------------------------
def _data_for(kind, tmp_path):
    need = KINDS[kind].data
    if need == "model":
        return "llama3-8b"
    if need == "models":
        return "pythia-1b,llama3-8b"
    if need == "store":
        return sweep_store(tmp_path, per_budget=3)
    if need in ("curves", "benchmarks"):  # the schedule law's curves, the observational law's models
        return law_data(kind, tmp_path)[0]
    if kind == "error-loss":  # validation loss as upstream_loss, the downstream error as loss
        path, L = tmp_path / "errors.csv", np.linspace(2.4, 6.0, 12)
        pd.DataFrame({"upstream_loss": L, "loss": 0.85 - 2.3 * np.exp(-0.75 * L)}).to_csv(path, index=False)
        return path
    return sweep_csv(tmp_path)


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_writes_png_and_svg(kind, tmp_path):
    data = _data_for(kind, tmp_path)
    options = {"bootstrap": 20} if "bootstrap" in KINDS[kind].options else {}
    if kind == "forecast":  # one run of the store, fitted on the first 60% of its curve
        data, options = _curve_store(tmp_path), {**options, "run": "1", "fraction": 0.6}
    if KINDS[kind].data in ("curves", "benchmarks"):
        options.update(law_data(kind, tmp_path)[1])
    png = plot(kind, data, tmp_path / f"{kind}.png", **options)
    fig = make_figure(kind, data, **options)
    svg = style.save(fig, tmp_path / f"{kind}.svg")
    assert max(_overflow_inches(fig)) <= 0.01, f"{kind}: something drawn reaches past the figure's edge"
    image = mpimg.imread(png)
    assert image.shape[0] > 300 and image.shape[1] > 500
    assert style.image_size(png) == (image.shape[1], image.shape[0])
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and len(text) > 5000


def test_unknown_kind_and_option_are_errors(tmp_path):
    with pytest.raises(ScalingLabError, match="unknown plot kind 'pie'"):
        make_figure("pie", "x")
    with pytest.raises(ScalingLabError, match="takes no option law"):
        make_figure("memory", "llama3-8b", law="chinchilla")


def test_suffix_is_checked_before_any_work(tmp_path):
    with pytest.raises(ScalingLabError, match="unknown figure format '.pdf'"):
        plot("loss-params", tmp_path / "missing.csv", tmp_path / "a.pdf")
    fig, _ = style.new_figure()
    with pytest.raises(ScalingLabError, match="does not exist"):
        style.save(fig, tmp_path / "no" / "such" / "a.png")


def test_png_size_is_figure_inches_times_dpi(tmp_path):
    fig, _ = style.new_figure()
    path = style.save(fig, tmp_path / "a.png")
    assert style.image_size(path) == (round(style.FIG_SIZE[0] * style.DPI), round(style.FIG_SIZE[1] * style.DPI))
    svg = style.save(fig, tmp_path / "a.svg")
    assert style.image_size(svg) == (round(style.FIG_SIZE[0] * 96), round(style.FIG_SIZE[1] * 96))


def test_importing_the_report_needs_neither_torch_nor_pyplot():
    code = "import sys, scalinglab.report; print('torch' in sys.modules, 'matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# ---- loss against N, D, C ---------------------------------------------------------------------------
@pytest.mark.parametrize("x, unit", [("params", "(parameters)"), ("tokens", "(tokens)"), ("flops", "(FLOPs)")])
def test_loss_plot_axes_and_points(runs, fitted, x, unit):
    fig = fit_plots.plot_loss(runs, fitted, x=x)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    xl, yl = _labels(ax)
    assert unit in xl and "nats/token" in yl
    points = ax.collections[0].get_offsets()
    assert len(points) == len(runs)
    np.testing.assert_allclose(np.sort(points[:, 0]), np.sort(runs[x].to_numpy()))
    assert "FLOPs" in fig.axes[1].get_ylabel() or "parameters" in fig.axes[1].get_ylabel()  # the colour bar


def test_loss_curves_are_the_law_along_each_budget(runs, fitted):
    ax = fit_plots.plot_loss(runs, fitted, x="params").axes[0]
    curves = [line for line in ax.get_lines() if len(line.get_xdata()) == fit_plots.CURVE_POINTS]
    assert len(curves) == len(runs["budget"].unique())  # one per FLOP budget
    n = np.asarray(curves[0].get_xdata())
    c = runs["budget"].min()
    expected = fitted.predict(params=n, tokens=c / (6 * n)).loss
    np.testing.assert_allclose(curves[0].get_ydata(), expected, rtol=1e-12)
    bands = [p for p in ax.collections[1:] if len(p.get_paths())]
    assert len(bands) == len(curves)  # each curve has its bootstrap band


def test_loss_against_flops_draws_the_compute_optimal_loss(runs, fitted):
    ax = fit_plots.plot_loss(runs, fitted, x="flops").axes[0]
    frontier = [ln for ln in ax.get_lines() if ln.get_label() == "compute-optimal L*(C)"]
    assert len(frontier) == 1
    c = np.asarray(frontier[0].get_xdata())[10]
    expected = sl.optimal.optimal_allocation(fitted, c).loss
    assert frontier[0].get_ydata()[10] == pytest.approx(expected, rel=1e-9)


def test_loss_plot_of_a_one_variable_law(runs):
    law = sl.fit(runs, law="power_floor:flops")
    ax = fit_plots.plot_loss(runs, law, x="flops").axes[0]
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "fitted law"]
    c = np.asarray(line.get_xdata())
    np.testing.assert_allclose(line.get_ydata(), law.predict(flops=c).loss, rtol=1e-12)


def test_loss_plot_rejects_bad_axes(runs):
    with pytest.raises(ScalingLabError, match="x must be one of"):
        fit_plots.plot_loss(runs, x="loss")
    with pytest.raises(ScalingLabError, match="colour_by must be one of"):
        fit_plots.plot_loss(runs, x="params", colour_by="params")


# ---- IsoFLOP, residuals, bootstrap, correlations ---------------------------------------------------
def test_isoflop_minima_recover_the_true_optimum():
    exact = sl.simulate_isoflop("hoffmann2022", budgets=(1e19, 1e21), per_budget=9, span=3.0, noise=0.0)
    ax = fit_plots.plot_isoflop(exact).axes[0]
    stars = [c for c in ax.collections if c.get_label() == "minimum (approach 2)"][0].get_offsets()
    truth = [sl.optimal.optimal_allocation("hoffmann2022", c).params for c in (1e19, 1e21)]
    np.testing.assert_allclose(np.sort(stars[:, 0]), truth, rtol=0.05)  # approach 2's method: near the truth
    assert ax.get_xscale() == "log" and "(parameters)" in ax.get_xlabel()


def _unbracketed_sweep():
    """Three budgets: 1e19 a clean hoffmann2022 profile (minimum inside the sizes); 1e20 nearly straight in
    ln N (its parabola's vertex lies ~e^-150 below the sizes, at a loss far below 0); 1e21 a parabola whose
    vertex is at 0.7x the smallest size (outside, but near)."""
    good = sl.simulate_isoflop("hoffmann2022", budgets=(1e19,), per_budget=7, span=3.0, noise=0.0)
    n = np.geomspace(1e9, 1e10, 6)
    x = np.log(n / 1e9)
    straight = pd.DataFrame({"params": n, "loss": 2.5 + 0.3 * x + 0.001 * x**2, "budget": 1e20})
    near = pd.DataFrame({"params": n, "loss": 2.2 + 0.05 * np.log(n / (0.7e9)) ** 2, "budget": 1e21})
    df = pd.concat([good[["params", "loss", "budget"]], straight, near], ignore_index=True)
    df["tokens"] = df["budget"] / (6.0 * df["params"])
    return df


def test_isoflop_profile_without_an_interior_minimum_is_named_not_drawn():
    df = _unbracketed_sweep()
    fig = fit_plots.plot_isoflop(df, law="hoffmann2022")
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    assert df["params"].min() / 2 <= lo < df["params"].min() and df["params"].max() < hi <= df["params"].max() * 2
    for line in ax.get_lines():  # profiles, law curves, the frontier: nothing drawn at a loss <= 0
        y = np.asarray(line.get_ydata(), dtype=float)
        assert np.all(np.isfinite(y) & (y > 0))
    (stars,) = [c.get_offsets() for c in ax.collections if c.get_label() == "minimum (approach 2)"]
    assert len(stars) == 1  # 1e19 only: 1e20 is straight, 1e21's lowest loss is at its smallest size
    truth = sl.optimal.optimal_allocation("hoffmann2022", 1e19).params
    assert stars[0][0] == pytest.approx(truth, rel=0.1)
    assert not [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]  # one minimum: nothing to join
    legend = " ".join(t.get_text().replace("\n", " ") for t in fig.legends[0].get_texts())
    assert "no interior minimum, none drawn: C = 1e20, 1e21 FLOPs" in legend
    assert max(_overflow_inches(fig)) <= 0.01  # the legend below the axes fits the figure


def test_log_axes_label_minor_ticks_only_where_needed_and_never_overlapping():
    """Residuals of a small sweep: the D panel spans 1.27e5..7.1e6 tokens (one decade tick in view), where
    matplotlib's default labels 2, 3, 4, 6 x 10^k and they collide."""
    rng = np.random.default_rng(0)
    n, d = np.geomspace(1.04e4, 3.6e5, 17), rng.permutation(np.geomspace(1.27e5, 7.1e6, 17))
    loss = sl.published["hoffmann2022"].predict(params=n, tokens=d) * np.exp(rng.normal(0.0, 0.03, 17))
    runs = pd.DataFrame({"params": n, "tokens": d, "loss": loss})
    fig = fit_plots.plot_residuals("hoffmann2022", runs)
    renderer = _render(fig)
    for ax in fig.axes:
        labels = _tick_labels(ax.xaxis, renderer)
        assert _overlaps(labels) == [], ax.get_xlabel()
        assert len(labels) >= 2, ax.get_xlabel()  # still enough labels to read the scale


@pytest.mark.parametrize("lo, hi, minor_labels", [(1e3, 1e7, False), (1.27e5, 7.1e6, True), (2e5, 8e5, True),
                                                  (3.1e5, 3.6e5, True)])
def test_sparse_minor_labels_by_span(lo, hi, minor_labels):
    fig, ax = style.new_figure(3, sharey=True)
    ax = ax[1]  # a narrow panel
    style.log_scale(ax, "x")
    ax.set_xlim(lo, hi)
    labels = _tick_labels(ax.xaxis, _render(fig))
    assert _overlaps(labels) == []
    has_minor = any("times" in t for t, _ in labels)
    assert has_minor == minor_labels  # two or more decades in view: their labels suffice
    if minor_labels and hi / lo > 1.5:
        assert len(labels) >= 2


def test_residuals_are_log_prediction_minus_log_observation(runs):
    law = sl.published["hoffmann2022"]
    fig = fit_plots.plot_residuals("hoffmann2022", runs)
    assert len(fig.axes) == 3 and all(a.get_xscale() == "log" for a in fig.axes)
    y = fig.axes[0].collections[0].get_offsets()[:, 1]
    expected = np.log(law.predict(params=runs["params"].to_numpy(), tokens=runs["tokens"].to_numpy())) \
        - np.log(runs["loss"].to_numpy())
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert "ln(predicted / observed loss)" in fig.axes[0].get_ylabel()
    rmse = float(np.sqrt(np.mean(expected**2)))
    assert f"{rmse:.4f}" in fig.texts[0].get_text()


def test_bootstrap_histograms_hold_every_draw(fitted):
    fig = fit_plots.plot_bootstrap(fitted)
    assert [a.get_xlabel().split()[0] for a in fig.axes] == ["alpha", "beta", "a", "b"]
    heights = sum(p.get_height() for p in fig.axes[0].patches)
    assert heights == len(fitted.draws)
    xs = [ln.get_xdata()[0] for ln in fig.axes[0].get_lines()]
    assert fitted.params["alpha"] in xs and fitted.ci["alpha"][0] in xs and fitted.ci["alpha"][1] in xs
    with pytest.raises(ScalingLabError, match="bootstrap draws"):
        fit_plots.plot_bootstrap(sl.fit(sweep(), bootstrap=0))


def test_correlations_match_a_hand_computation(fitted):
    names, corr = fit_plots.correlation_table(fitted)
    assert names == ["ln E", "ln A", "ln B", "alpha", "beta"]
    d = fitted.draw_params()
    by_hand = np.corrcoef(np.log(d["A"]), d["alpha"])[0, 1]
    assert corr[1, 3] == pytest.approx(by_hand, abs=1e-12)
    np.testing.assert_allclose(np.diag(corr), 1.0)
    fig = fit_plots.plot_correlations(fitted)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == names


# ---- the frontier --------------------------------------------------------------------------------
def test_frontier_of_a_published_rule_is_its_table3_number():
    df = plan_plots.frontier_table("hoffmann2022-approach1", [5.76e23])
    assert df["params"].iloc[0] == pytest.approx(67e9, rel=1e-9)  # Hoffmann et al. 2022, Table 3
    assert df["tokens"].iloc[0] == pytest.approx(5.76e23 / (6 * 67e9), rel=1e-9)


def test_frontier_plot_has_every_approach_and_the_reference(runs, fitted):
    budgets = np.geomspace(1e18, 1e24, 13)
    frontiers, points, _ = plan_plots.compare_frontiers(runs, budgets, bootstrap=20, seed=0, fit=fitted)
    assert len(frontiers) == 3
    approach3 = frontiers["approach 3: parametric fit (chinchilla)"]
    assert plan_plots.fitted_exponent(approach3) == pytest.approx(fitted.derived["a"], abs=1e-9)
    assert np.all(approach3["params_low"] <= approach3["params"]) and np.all(approach3["params"] <= approach3["params_high"])
    fig = plan_plots.plot_frontier(frontiers, points, {"hoffmann2022": plan_plots.frontier_table("hoffmann2022", budgets)})
    assert max(_overflow_inches(fig)) <= 0.01
    left, right = fig.axes
    assert left.get_xscale() == left.get_yscale() == right.get_yscale() == "log"
    assert "(parameters)" in left.get_ylabel() and "(tokens)" in right.get_ylabel() and "(FLOPs)" in left.get_xlabel()
    assert {ln.get_label() for ln in left.get_lines()} >= {*frontiers, "published: hoffmann2022"}


def test_frontier_caption_names_only_the_approaches_drawn():
    from scalinglab.report.notices import frontier_caption

    df = _unbracketed_sweep()  # one bracketed profile: approaches 1 and 2 cannot find two levels
    budgets = [1e19, 1e21, 1e23]
    frontiers, points, warnings = plan_plots.compare_frontiers(df, budgets, bootstrap=0)
    assert list(frontiers) == ["approach 3: parametric fit (chinchilla)"]
    failed = plan_plots.approach_failures(warnings)
    assert sorted(failed) == [1, 2]
    assert all(not why.startswith("approach") and "(" not in why for why in failed.values())
    caption = frontier_caption(frontiers, points, warnings, 0.95)
    assert caption.startswith("N* and D* against C from Hoffmann et al. 2022's approach 3 on these runs")
    assert "three" not in caption and "points" not in caption and "bands" not in caption  # none drawn
    assert f"approach 2 could not run ({failed[2]})" in caption and f"approach 1 could not run ({failed[1]})" in caption
    fig = make_figure("frontier", df, bootstrap=0, budgets=budgets)  # the plot kind says it in the figure
    assert any("approach 2 could not run" in t.get_text() for t in fig.axes[0].texts)
    two = {"approach 1: envelope": pd.DataFrame({"params_low": [1.0]}), "approach 3: fit": pd.DataFrame()}
    caption = frontier_caption(two, {"approach 1: envelope": pd.DataFrame({"flops": [1.0]})}, [], 0.9, ["hoffmann2022"])
    assert caption == ("N* and D* against C from Hoffmann et al. 2022's approaches 1 and 3 on these runs (bands: 90% "
                       "bootstrap intervals; points: per-budget optima of approach 1); black: published hoffmann2022.")


# ---- runs, forecasts, backtests ---------------------------------------------------------------------
def test_training_curves_one_line_per_run(tmp_path):
    from scalinglab.stores.run_store import read_store

    metrics = read_store(sweep_store(tmp_path, per_budget=3), "metrics")
    ax = run_plots.plot_training_curves(metrics, show_train=True).axes[0]
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata())]
    assert len(lines) == 2 * metrics["run"].nunique()  # validation and training loss
    assert ax.get_xscale() == "log" and "(tokens)" in ax.get_xlabel() and "nats/token" in ax.get_ylabel()
    with pytest.raises(ScalingLabError, match="needs column"):
        run_plots.plot_training_curves(metrics.drop(columns="params"))


def test_forecast_splits_used_and_held_out_points():
    curve = pd.DataFrame({"tokens": np.geomspace(1e8, 1e10, 20), "loss": np.linspace(4.0, 3.0, 20)})
    forecast = {"x": np.geomspace(1e8, 3e10, 30), "loss": np.linspace(4.0, 2.9, 30), "fit_until": 1e9}
    ax = run_plots.plot_forecast(curve, forecast).axes[0]
    used, later = ax.collections[0].get_offsets(), ax.collections[1].get_offsets()
    assert len(used) == int((curve["tokens"] <= 1e9).sum()) and len(used) + len(later) == 20
    with pytest.raises(ScalingLabError, match="needs key 'loss'"):
        run_plots.plot_forecast(curve, {"x": [1.0]})


def test_backtest_summary_by_hand():
    p = pd.DataFrame({"flops": [1e21, 2e21, 4e21], "observed": [2.0, 2.5, 3.0], "predicted": [2.2, 2.5, 2.7],
                      "low": [2.1, 2.4, 2.6], "high": [2.3, 2.6, 3.1]})
    s = run_plots.backtest_summary(p)
    assert s["mare"] == pytest.approx((0.1 + 0.0 + 0.1) / 3)
    assert s["coverage"] == pytest.approx(2 / 3)  # 2.0 lies outside [2.1, 2.3]
    fig = run_plots.plot_backtest(p, level=0.9)
    assert "6.67%" in fig.texts[0].get_text() and "coverage of the 90% intervals 67%" in fig.texts[0].get_text()
    outside = [c for c in fig.axes[0].collections if c.get_label() == "observed, outside"][0].get_offsets()
    assert outside.tolist() == [[1e21, 2.0]]


def test_backtest_kind_uses_the_analysis(tmp_path):
    from scalinglab.analysis import backtest

    data = sweep_csv(tmp_path)
    runs = sl.load_runs(data)
    threshold = default_holdout(runs.column("flops"))
    expected = backtest(runs, "chinchilla", holdout_above=threshold, bootstrap=20, seed=0)
    fig = make_figure("backtest", data, bootstrap=20)
    assert f"Backtest on {expected.n_test} held-out runs" in fig.texts[0].get_text()
    assert f"{100 * expected.mare:.2f}%" in fig.texts[0].get_text()


def test_default_holdout_keeps_levels_whole():
    x = np.repeat([1e18, 1e19, 1e20, 1e21, 1e22], 4)  # 20 runs, 5 levels
    assert default_holdout(x) == 1e21  # the top level alone is 20%
    assert default_holdout(x, share=0.3) == 1e20  # 30% needs the top two levels
    assert default_holdout(np.arange(1.0, 11.0)) == 8.0  # distinct values: the top 2 of 10
    with pytest.raises(ScalingLabError, match="one level"):
        default_holdout(np.full(5, 1e20))
    assert default_budgets(np.array([3e18, 2e21])) == [1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24]


# ---- serving -------------------------------------------------------------------------------------
def test_memory_bars_are_the_memory_report():
    from scalinglab.inference.memory import memory_report

    fig = inference_plots.plot_memory(inference_plots.memory_table("llama3-8b", batches=(1, 32), device="h100-sxm"))
    ax = fig.axes[0]
    weights = [p.get_width() for p in ax.patches][:2]
    expected = memory_report("llama3-8b", batch=1, device="h100-sxm").weights_bytes / 1e9
    assert weights == pytest.approx([expected, expected])
    (cap,) = [ln for ln in ax.get_lines() if "usable memory" in ln.get_label()]
    assert cap.get_xdata()[0] == pytest.approx(80.0)  # H100 SXM: 80 GB
    assert "GB" in ax.get_xlabel()


def test_throughput_roofs_by_hand():
    from scalinglab.plan.hardware import get_device
    from scalinglab.plan.presets import get_architecture

    table = inference_plots.speed_table("llama3-8b", "h100-sxm", batches=[1, 4, 64, 512], context_tokens=1024)
    ax = inference_plots.plot_throughput(table).axes[0]
    dev, arch = get_device("h100-sxm"), get_architecture("llama3-8b")
    roof = [ln for ln in ax.get_lines() if ln.get_label().startswith("compute roof")][0]
    assert roof.get_ydata()[0] == pytest.approx(dev.peak("bf16") / (2 * arch.active_params()))
    (cross,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("weights crossover")]
    assert cross.get_xdata()[0] == pytest.approx(dev.peak("bf16") / dev.bandwidth_bytes_per_s, rel=1e-9)  # bf16: the ridge
    assert ax.get_xscale() == ax.get_yscale() == "log" and "tokens/s" in ax.get_ylabel()


def test_speed_against_size_falls_with_size():
    df = inference_plots.size_table(["pythia-1b", "llama3-8b", "llama3-70b"], "h100-sxm")
    ax = inference_plots.plot_speed_vs_size(df).axes[0]
    y = ax.get_lines()[0].get_ydata()
    assert np.all(np.diff(y) < 0) and ax.get_xscale() == "log"
    assert math.isclose(y[0], df["decode_tokens_per_s"].iloc[0])


def _curve_store(tmp_path):
    """One finished run whose validation loss follows L = 2 + 50 D^-0.5 exactly at 20 evaluations."""
    from scalinglab.stores.run_store import RunStore

    path = tmp_path / "curve.db"
    with RunStore(path) as store:
        rid = store.add_run(store.create_sweep("c", {"k": 1}), {"i": 0}, seed=0)
        store.start_run(rid, "cpu", "test", params=1000)
        rows = [{"step": s, "tokens": 1000 * s, "val_loss": 2.0 + 50.0 * (1000 * s) ** -0.5} for s in range(1, 21)]
        store.log_metrics(rid, rows[:-1])
        store.finish_run(rid, params=1000, tokens=20_000, flops=6 * 1000 * 20_000.0,
                         final_val_loss=rows[-1]["val_loss"], metrics=[rows[-1]])
    return path


def test_forecast_kind_draws_the_forecast_and_its_final_interval(tmp_path) -> None:
    from scalinglab.analysis.forecast import forecast_run, load_curves
    from scalinglab.report.kinds import make_figure

    path = _curve_store(tmp_path)
    fig = make_figure("forecast", path, run="1", fraction=0.5, bootstrap=50)
    fc = forecast_run(load_curves(path), run="1", fraction=0.5, bootstrap=50)
    ax = fig.axes[0]
    line = [ln for ln in ax.get_lines() if ln.get_label() == "forecast"][0]
    xs, ys = line.get_data()
    assert xs[-1] == pytest.approx(20_000) and ys[-1] == pytest.approx(fc.final_loss, rel=1e-9)
    np.testing.assert_allclose(ys, 2.0 + 50.0 * np.asarray(xs) ** -0.5, rtol=1e-4)  # exact data: the law itself
    assert ax.get_xscale() == "log" and "tokens" in ax.get_xlabel()
    assert any("prediction interval" in t.get_text() for t in ax.get_legend().get_texts())
    with pytest.raises(ScalingLabError, match="needs the run"):
        make_figure("forecast", path)
