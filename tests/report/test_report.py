"""The HTML report: every section, the numbers of the API, embedded PNG figures, nothing from the network."""

import base64
import io
import re

import matplotlib.image as mpimg
import pytest
from report_data import sweep, sweep_csv, sweep_store

import scalinglab as sl
from scalinglab.errors import ScalingLabError
from scalinglab.report.html import make_report, write_report
from scalinglab.report.kinds import default_holdout
from scalinglab.report.page import num

SECTIONS = ["glance", "data", "law", "fit", "uncertainty", "plan", "backtest", "warnings", "reproduce"]
BUDGETS = (1e21, 1e22, 1e23, 1e24)


@pytest.fixture(scope="module")
def sim_csv(tmp_path_factory):
    return sweep_csv(tmp_path_factory.mktemp("sim"))


@pytest.fixture(scope="module")
def report(sim_csv):
    return make_report(sim_csv, bootstrap=30, seed=3, budgets=BUDGETS, command="scalinglab report runs.csv --seed 3")


def _images(html):
    return re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)


def test_every_section_is_there(report):
    assert report.sections == SECTIONS
    for key in SECTIONS:
        assert f'<section id="{key}">' in report.html
        assert f'href="#{key}"' in report.html  # in the navigation
    assert report.n_runs == len(sweep()) and report.law == "chinchilla"


def test_no_external_url_and_a_csp_that_forbids_the_network(report):
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', report.html)
    assert not re.search(r"url\(\s*['\"]?https?:", report.html)
    assert "<link" not in report.html
    assert "default-src 'none'" in report.html and "img-src data:" in report.html


def test_figures_decode_as_png(report):
    images = _images(report.html)
    assert len(images) == len(report.figures) == 9  # 8 + the iso-loss contours
    for b64 in images:
        png = base64.b64decode(b64)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert mpimg.imread(io.BytesIO(png), format="png").shape[0] > 200


def test_parameter_table_has_values_intervals_and_units(report, sim_csv):
    fit = sl.fit(sim_csv, bootstrap=30, seed=3)
    law = report.html.split('<section id="law">')[1].split("</section>")[0]
    for name in ("E", "A", "B", "alpha", "beta", "a", "b"):
        value = {**fit.params, **fit.derived}[name]
        assert f"<td class=\"num\">{num(value, 5)}</td>" in law, name
        lo, hi = fit.ci[name]
        assert f"[{num(lo)}, {num(hi)}]" in law
    assert "nats/token × N^alpha" in law and "dimensionless (exponent)" in law
    assert "95% interval" in law


def test_plan_is_the_closed_form_optimum_with_intervals(report, sim_csv):
    fit = sl.fit(sim_csv, bootstrap=30, seed=3)
    plan = report.html.split('<section id="plan">')[1].split("</section>")[0]
    for c in BUDGETS:
        a = sl.optimal.optimal_allocation(fit, c)
        # each interval on a second line under its value (the table stays 5 columns wide)
        for value, ci, digits in ((a.params, a.params_ci, 3), (a.tokens, a.tokens_ci, 3), (a.loss, a.loss_ci, 4)):
            assert f'{num(value, digits)}<br><span class="ci">[{num(ci[0], digits)}, {num(ci[1], digits)}]</span>' in plan
    table = plan.split("<table>")[1].split("</table>")[0]
    assert table.count("<th>") == 5 and "interval" not in table.split("</thead>")[0]
    assert "budget C (FLOPs)" in plan and "N* (parameters)" in plan and "D* (tokens)" in plan


def test_goodness_of_fit_and_backtest_numbers(report, sim_csv):
    fit = sl.fit(sim_csv, bootstrap=30, seed=3)
    assert f"<td class=\"num\">{num(fit.rmse_log, 4)}</td>" in report.html
    runs = sl.load_runs(sim_csv)
    threshold = default_holdout(runs.column("flops"))
    n_test = int((runs.column("flops") > threshold).sum())
    assert n_test >= 0.2 * len(runs)
    assert (f"refitted on the {len(runs) - n_test} runs with C ≤ {threshold:.3g} FLOPs".replace("e+", "e")
            + f" and predicts the {n_test} runs above, which were held out (by default the top ~20% of runs by "
            "compute" in report.html)
    bt = sl.analysis.backtest(runs, "chinchilla", holdout_above=threshold, bootstrap=30, seed=3)
    assert f"Mean absolute relative error {100 * bt.mare:.2f}%" in report.html


def test_glance_shows_E_with_its_interval(report, sim_csv):
    fit = sl.fit(sim_csv, bootstrap=30, seed=3)
    glance = report.html.split('<section id="glance">')[1].split("</section>")[0]
    lo, hi = fit.ci["E"]
    assert (f"<b>{num(fit.params['E'], 3)}</b><span>E (irreducible loss, nats/token) [{lo:.3g}, {hi:.3g}]</span>"
            in glance)
    assert glance.index("E (irreducible") < glance.index("alpha [")


def test_warnings_say_each_thing_once(report):
    import dataclasses

    from scalinglab.analysis import fit_identifiability_warnings
    from scalinglab.report.notices import dedupe_warnings, warning_key

    base = sl.fit(sl.simulate_isoflop("hoffmann2022", noise=0.01, seed=1))

    def fit_like(lo_e):  # a FitResult with what fit_identifiability_warnings reads set by hand
        return dataclasses.replace(base, converged=True, at_bound=["E"], bootstrap=200, level=0.95,
                                   params={"E": 1e-9, "A": 5.0}, ci={"E": [lo_e, 1.6], "A": [2.0, 3e7]},
                                   unidentified=[], unidentified_why={})

    main = fit_identifiability_warnings(fit_like(2.06e-9))
    refit = [f"backtest: {w}" for w in fit_identifiability_warnings(fit_like(1e-8))]
    note = "parameter(s) E ended on a bound of the search box"  # the fit's own note (scalinglab.fitting.api)
    items = main + [note, "approach 1: x", "approach 1: x"] + refit + ["backtest: the chinchilla fit did not converge"]
    assert dedupe_warnings(items) == main + ["approach 1: x", "backtest: the chinchilla fit did not converge"]
    assert len(main) == 3 and "E of chinchilla ended on a bound" in main[0]
    assert len({warning_key(w) for w in report.warnings}) == len(report.warnings)


def test_reproduce_shows_command_versions_date_seed_and_hash(report, sim_csv):
    import hashlib

    import numpy

    repro = report.html.split('<section id="reproduce">')[1]
    assert "<pre>scalinglab report runs.csv --seed 3</pre>" in repro
    assert f"<td>{sl.__version__}</td>" in repro and f"<td>{numpy.__version__}</td>" in repro
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", repro)
    assert hashlib.sha256(sim_csv.read_bytes()).hexdigest() in repro


def test_default_command_rebuilds_the_report(sim_csv):
    r = make_report(sim_csv, bootstrap=0, seed=1, budgets=(1e22,))
    assert f"scalinglab report {sim_csv} --law chinchilla --bootstrap 0 --budgets 1e+22 --seed 1" in r.html
    assert "uncertainty" not in r.sections  # no bootstrap, no distributions
    assert "No bootstrap (bootstrap 0)" in r.html


def test_a_store_adds_training_curves(tmp_path):
    store = sweep_store(tmp_path, per_budget=3)
    r = make_report(store, bootstrap=0, budgets=(1e22,))
    assert "curves" in r.sections and "Training curves" in r.figures
    assert "12 evaluations" not in r.html  # the count is of all evaluations: 15 runs x 12
    assert "180 evaluations of 15 finished runs" in r.html


def test_a_law_of_compute_alone_has_no_plan(sim_csv):
    r = make_report(sim_csv, law="power_floor:flops", bootstrap=0, budgets=(1e22,))
    assert "reads flops, not N and D" in r.html
    assert r.law == "power_floor(flops)"


def test_sections_that_cannot_run_say_why(tmp_path):
    path = tmp_path / "few.csv"
    sweep().head(8).to_csv(path, index=False)  # too few runs to hold any out and still fit 5 parameters
    with pytest.raises(ScalingLabError, match="the report's compute-optimal plan depends on .*allow-unidentified"):
        make_report(path, bootstrap=0, budgets=(1e22,))  # 8 runs leave the law's exponents undetermined
    r = make_report(path, bootstrap=0, budgets=(1e22,), allow_unidentified=True)
    assert any("not determined" in w or "do not determine" in w for w in r.warnings)
    assert any(w.startswith("the backtest could not be made") for w in r.warnings)
    assert "the backtest could not be made" in r.html.split('<section id="backtest">')[1].split("</section>")[0]


def test_write_report_checks_its_path(tmp_path, sim_csv):
    with pytest.raises(ScalingLabError, match="ending in .html"):
        write_report(sim_csv, tmp_path / "r.pdf")
    with pytest.raises(ScalingLabError, match="does not exist"):
        write_report(sim_csv, tmp_path / "missing" / "r.html")
    out = write_report(sim_csv, tmp_path / "r.html", bootstrap=0, budgets=(1e22,))
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_report_on_the_epoch_chinchilla_data(shared_data):
    """Real data: Epoch AI's reconstruction of Hoffmann et al.'s runs (245 rows, Besiroglu et al. 2024)."""
    path = shared_data / "epoch_chinchilla" / "svg_extracted_data.csv"
    r = make_report(path, bootstrap=20, seed=0, references=["hoffmann2022"])
    assert r.n_runs == 245 and r.sections == SECTIONS
    assert "column &#x27;Model Size&#x27; read as params" in r.html  # how the table was read
    fit = sl.fit(path, bootstrap=20, seed=0)
    assert 0.3 < fit.params["alpha"] < 0.4  # Besiroglu et al. 2024 Table 1: alpha = 0.3478 (240 points)
    assert f"<td class=\"num\">{num(fit.params['alpha'], 5)}</td>" in r.html
    assert len(_images(r.html)) == 9
    assert "published: hoffmann2022" not in r.html  # the legend is inside the PNG, the caption names it
    assert "black: published hoffmann2022" in r.html
