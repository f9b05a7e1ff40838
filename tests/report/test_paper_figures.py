"""The report shows what the papers show (issue 15, item 5): published frontiers by default, the requested
budgets marked, iso-loss contours in the (C, N) plane, dodged backtest points, approaches left out on a
design they do not apply to (one note), and the warnings summarised at the top. Each figure is checked
on its drawn data against the numbers the law gives."""

import re

import numpy as np
import pandas as pd
import pytest
from report_data import sweep

import scalinglab as sl
from scalinglab.io import load_runs
from scalinglab.report import contour_plots, plan_plots, run_plots
from scalinglab.report.design import design_note, sweep_design
from scalinglab.report.html import make_report
from scalinglab.report.kinds import make_figure
from scalinglab.report.warnings_summary import summarise, summary_html, warning_kind

BUDGETS = [1e21, 1e23]  # FLOPs


def grid_runs(seed: int = 0) -> pd.DataFrame:
    """A plain 5 x 4 grid of sizes N (parameters) and token counts D (tokens), hoffmann2022 with 1% noise."""
    law = sl.published["hoffmann2022"]
    rng = np.random.default_rng(seed)
    n, d = np.meshgrid(np.geomspace(2e7, 1e9, 5), np.geomspace(4e8, 4e10, 4))
    n, d = n.ravel(), d.ravel()
    loss = law.predict(params=n, tokens=d) * np.exp(rng.normal(0.0, 0.01, n.size))
    return pd.DataFrame({"params": n, "tokens": d, "flops": 6.0 * n * d, "loss": loss})


@pytest.fixture(scope="module")
def frontier_fig():
    return make_figure("frontier", sweep(), bootstrap=0, budgets=BUDGETS)


def _line(ax, label):
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)


# ---- the frontier: published laws by default, the budgets marked -----------------------------------
@pytest.mark.parametrize("key", plan_plots.DEFAULT_REFERENCES)
def test_published_frontiers_are_drawn_by_default(frontier_fig, key):
    for ax, q in zip(frontier_fig.axes, ("params", "tokens")):
        c, y = _line(ax, f"published: {key}")
        expected = [getattr(a, q) for a in sl.optimal.optimal_frontier(key, list(c))]
        np.testing.assert_allclose(y, expected, rtol=1e-12)
        assert c.min() <= min(BUDGETS) and c.max() >= max(BUDGETS)


def test_references_can_be_chosen_or_turned_off():
    runs = sweep()
    none = make_figure("frontier", runs, bootstrap=0, budgets=BUDGETS, references=())
    assert not [ln for ln in none.axes[0].get_lines() if str(ln.get_label()).startswith("published")]
    rule = make_figure("frontier", runs, bootstrap=0, budgets=BUDGETS, references=["hoffmann2022-approach1"])
    labels = {str(ln.get_label()) for ln in rule.axes[0].get_lines() if str(ln.get_label()).startswith("published")}
    assert labels == {"published: hoffmann2022-approach1"}


def test_requested_budgets_are_marked_at_the_fits_optimum(frontier_fig):
    fit = sl.fit(sweep(), law="chinchilla")
    for ax, q in zip(frontier_fig.axes, ("params", "tokens")):
        (marks,) = [c for c in ax.collections if c.get_label() == plan_plots.MARK_LABEL]
        xy = marks.get_offsets()
        np.testing.assert_allclose(xy[:, 0], BUDGETS, rtol=1e-12)
        expected = [getattr(sl.optimal.optimal_allocation(fit, c), q) for c in BUDGETS]
        np.testing.assert_allclose(xy[:, 1], expected, rtol=1e-6)
        vertical = sorted(ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_linestyle() == ":"
                          and ln.get_xdata()[0] == ln.get_xdata()[1])
        assert vertical == pytest.approx(BUDGETS, rel=1e-12)


def test_budget_grid_runs_through_every_budget():
    grid = plan_plots.budget_grid([1e18, 1e20], [3e22, 5e19], n=10)
    assert 3e22 in grid and 5e19 in grid and grid[0] == 1e18 and grid[-1] == 3e22 and grid == sorted(grid)


# ---- iso-loss contours --------------------------------------------------------------------------------
def test_isoloss_grid_is_the_laws_loss():
    c, n = np.geomspace(1e18, 1e24, 7), np.geomspace(1e7, 1e11, 5)
    grid = contour_plots.isoloss_grid("hoffmann2022", c, n)
    law = sl.published["hoffmann2022"]
    assert grid.shape == (5, 7)
    assert grid[2, 4] == pytest.approx(law.predict(params=n[2], tokens=c[4] / (6.0 * n[2])), rel=1e-12)


def test_contours_are_iso_loss_lines_of_the_law_with_the_frontier_on_top():
    law = sl.published["hoffmann2022"]
    fig = contour_plots.plot_isoloss("hoffmann2022", sweep(), budgets=BUDGETS)
    ax = fig.axes[0]
    (cs,) = [c for c in ax.collections if hasattr(c, "levels")]
    assert len(cs.levels) >= 4
    checked = 0
    for level, path in zip(cs.levels, cs.get_paths()):
        v = path.vertices
        if len(v) == 0:
            continue
        loss = law.predict(params=v[:, 1], tokens=v[:, 0] / (6.0 * v[:, 1]))
        np.testing.assert_allclose(loss, level, rtol=2e-3)  # the drawn line is the law's level set
        checked += 1
    assert checked >= 4
    labels = [t.get_text() for t in ax.texts]
    assert labels and all(float(t) in set(np.round(cs.levels, 12)) or float(t) == pytest.approx(
        min(cs.levels, key=lambda x: abs(x - float(t)))) for t in labels)
    c, n_opt = _line(ax, contour_plots.FRONTIER_LABEL)
    np.testing.assert_allclose(n_opt, [a.params for a in sl.optimal.optimal_frontier(law, list(c))], rtol=1e-12)
    (marks,) = [c for c in ax.collections if c.get_label() == contour_plots.BUDGET_LABEL]
    np.testing.assert_allclose(marks.get_offsets()[:, 0], BUDGETS)
    assert "(FLOPs)" in ax.get_xlabel() and "(parameters)" in ax.get_ylabel() and "nats/token" in ax.get_title(loc="left")
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_isoloss_kind_and_a_law_of_compute_alone():
    fig = make_figure("isoloss", sweep(), budgets=BUDGETS)
    assert fig.axes[0].get_xscale() == "log"
    with pytest.raises(sl.ScalingLabError, match="need a law of N and D"):
        contour_plots.isoloss_grid(sl.fit(sweep(), law="power_floor:flops"), [1e20], [1e8])


# ---- the backtest: held-out points dodged ---------------------------------------------------------------
def test_dodge_spreads_equal_x_and_keeps_single_ones():
    x = np.array([1e20, 1e20, 1e20, 1e21, 5e21])
    out = run_plots.dodge(x)
    assert len(set(out[:3])) == 3 and out[3] == 1e21 and out[4] == 5e21
    assert np.exp(np.log(out[:3]).mean()) == pytest.approx(1e20, rel=1e-12)  # centred on the level
    assert out[:3].max() < out[3]  # stays nearer its own level than the next one


def test_backtest_error_bars_do_not_stack():
    runs = sweep()
    bt = sl.analysis.backtest(runs, "chinchilla", holdout_above=2e20, bootstrap=0)
    assert bt.predictions["flops"].round(-18).nunique() < len(bt.predictions)  # several runs per budget
    ax = run_plots.plot_backtest(bt.predictions, x="flops").axes[0]
    (bars,) = [c for c in ax.containers if c.get_label() == "predicted, with interval"]
    xs = np.asarray(bars.lines[0].get_xdata(), float)
    assert len(np.unique(xs)) == len(bt.predictions)  # every interval at its own x
    p = bt.predictions.sort_values("flops")
    np.testing.assert_allclose(bars.lines[0].get_ydata(), p["predicted"], rtol=1e-12)
    np.testing.assert_allclose(np.log10(xs), np.log10(p["flops"]), atol=0.5)


# ---- the design: approaches that do not apply are left out with one note -----------------------------------
def test_sweep_design():
    assert sweep_design(load_runs(sweep())) == "isoflop"
    assert sweep_design(load_runs(grid_runs())) == "grid"
    rng = np.random.default_rng(1)
    n, d = np.exp(rng.uniform(16, 21, 30)), np.exp(rng.uniform(20, 25, 30))
    scattered = pd.DataFrame({"params": n, "tokens": d, "flops": 6 * n * d, "loss": 2.0 + 0 * n})
    assert sweep_design(load_runs(scattered)) == "scattered"
    assert design_note("isoflop") is None and "N × D grid" in design_note("grid")


def test_grid_report_leaves_approaches_1_and_2_out_with_one_note():
    report = make_report(grid_runs(), bootstrap=0)
    assert not [w for w in report.warnings if re.match(r"approach [12]\b", w)]
    assert report.html.count(design_note("grid").split(":")[0]) == 1
    assert "IsoFLOP profiles" not in report.figures and "No IsoFLOP profiles: these runs are an N × D grid" in report.html
    frontier = make_figure("frontier", grid_runs(), bootstrap=0)
    notes = " ".join(t.get_text().replace("\n", " ") for t in frontier.axes[0].texts)
    assert "approach 1 could not run" not in notes and "approaches 1 and 2 of Hoffmann et al. 2022 left out" in notes


# ---- warnings: a summary at the top -----------------------------------------------------------------------
WARNINGS = ["backtest: the chinchilla fit did not converge", "plan at C = 1e24 FLOPs: 2 decades beyond the fitted params",
            "approach 2: lopsided sampling", "E's 95% interval [1e-9, 2] spans 9 orders of magnitude: the data do "
            "not determine E", "approach 1: x", "the table's loss looks like bits"]


def test_warning_kinds_and_their_order():
    assert [warning_kind(w) for w in WARNINGS] == ["convergence", "extrapolation", "approaches", "identifiability",
                                                   "approaches", "data and design"]
    counts, top = summarise(WARNINGS)
    assert counts == {"identifiability": 1, "convergence": 1, "extrapolation": 1, "approaches": 2, "data and design": 1}
    assert top == [WARNINGS[3], WARNINGS[0], WARNINGS[1]]


def test_summary_links_to_the_full_list_and_comes_first():
    html = summary_html(WARNINGS)
    assert '<a href="#warnings">' in html and "6 warnings" in html and "2 approaches" in html
    report = make_report(sweep(), bootstrap=0)
    glance = report.html.split('<section id="glance">')[1]
    assert glance.index('class="warnsum"') < glance.index('class="glance"')
    assert f"{len(report.warnings)} warning" in glance.split("</div>")[0]


# ---- the CLI -------------------------------------------------------------------------------------------------
def test_cli_turns_the_published_frontiers_off_and_refuses_both(tmp_path, monkeypatch, capsys):
    from report_data import sweep_csv

    from conftest import run_cli

    csv = sweep_csv(tmp_path, per_budget=5)
    for extra in ([], ["--no-references"], ["--reference", "hoffmann2022"]):
        code, _, err = run_cli(["plot", "frontier", csv, "--out", tmp_path / "f.png", "--bootstrap", "0",
                                "--budgets", "1e21,1e23", *extra], monkeypatch, capsys)
        assert code == 0, err
    code, _, err = run_cli(["plot", "frontier", csv, "--out", tmp_path / "f.png", "--no-references", "--reference",
                            "hoffmann2022"], monkeypatch, capsys)
    assert code == 2 and "not both" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["plot", "isoloss", csv, "--out", tmp_path / "c.svg", "--budgets", "1e21"], monkeypatch, capsys)
    assert code == 0, err


# ---- IsoFLOP profiles: approach 2's method, a marker per budget, no concave "minimum" ---------------------
def test_isoflop_stars_are_approach_2s_minima_and_budgets_differ_in_marker():
    from scalinglab.plan.approach2 import isoflop_optima
    from scalinglab.report import fit_plots

    runs = sweep()
    ax = fit_plots.plot_isoflop(runs).axes[0]
    (stars,) = [c for c in ax.collections if c.get_label() == "minimum (approach 2)"]
    est = isoflop_optima(load_runs(runs))
    assert "akima" in ax.get_title(loc="left") and est.profile_method == "akima"
    want = sorted((p["params"], p["loss"]) for p in est.points)
    np.testing.assert_allclose(sorted(map(tuple, stars.get_offsets())), want, rtol=1e-9)
    budgets = [c for c in ax.collections if str(c.get_label()).startswith("C = ")]
    assert len(budgets) == runs["budget"].nunique()
    shapes = {tuple(np.round(c.get_paths()[0].vertices, 6).ravel()) for c in budgets}
    assert len(shapes) == len(budgets)  # a marker of its own per budget
    colours = {tuple(np.round(c.get_facecolors()[0], 6)) for c in [stars]}
    assert len({tuple(fc) for fc in np.round(stars.get_facecolors(), 6)}) == len(est.points) and colours


@pytest.mark.parametrize("method", ["cubic", "parabola", "local", "akima"])
def test_isoflop_curve_is_the_methods(method):
    from scalinglab.report import fit_plots
    from scalinglab.report.isoflop_profiles import profile_curve

    runs = sweep()
    ax = fit_plots.plot_isoflop(runs, method=method).axes[0]
    one = runs[runs["budget"] == runs["budget"].min()].sort_values("params")
    n, y = profile_curve(np.log(one["params"].to_numpy()), one["loss"].to_numpy(), method)
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == len(n)
             and np.allclose(ln.get_xdata(), n, rtol=1e-12)]
    assert len(lines) == 1 and np.allclose(lines[0].get_ydata(), y, rtol=1e-12)
    if method in ("cubic", "parabola"):
        t = np.log(one["params"].to_numpy())
        coef = np.polyfit((t - t.mean()) / t.std(), one["loss"], 3 if method == "cubic" else 2)
        np.testing.assert_allclose(y, np.polyval(coef, (np.log(n) - t.mean()) / t.std()), rtol=1e-12)


def test_a_concave_profile_gets_no_star():
    from scalinglab.report import fit_plots

    good = sweep()
    good = good[good["budget"] <= 1e19]
    n = np.geomspace(1e9, 1e10, 6)
    x = np.log(n / 1e9)
    concave = pd.DataFrame({"params": n, "loss": 2.5 - 0.05 * (x - 1.0) ** 2 + 0.01 * (x == x[3]), "budget": 1e21})
    concave.loc[3, "loss"] -= 0.08  # the lowest observed loss inside the sizes: a parabola still opens downwards
    concave["tokens"] = concave["budget"] / (6.0 * concave["params"])
    df = pd.concat([good[["params", "tokens", "loss", "budget"]], concave], ignore_index=True)
    fig = fit_plots.plot_isoflop(df, method="parabola")
    (stars,) = [c for c in fig.axes[0].collections if c.get_label() == "minimum (approach 2)"]
    assert len(stars.get_offsets()) == 2 and np.all(stars.get_offsets()[:, 0] < 1e9)  # 1e18, 1e19 only
    legend = " ".join(t.get_text().replace("\n", " ") for t in fig.legends[0].get_texts())
    assert "no interior minimum, none drawn: C = 1e21 FLOPs" in legend
