"""Fixed and tied parameters (issue 13 item 4): recovery of known values, intervals, identifiability,
JSON round trip, one-line errors, the CLI, and Muennighoff et al.'s two-stage fit on the shared data."""

import json
import math

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from conftest import run_cli
from scalinglab.errors import ScalingLabError
from scalinglab.fitting.constraints import ConstrainedLaw, Constraints
from scalinglab.fitting.objective import Objective
from scalinglab.laws import Chinchilla, DataConstrained

TIED_TRUTH = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.31, "beta": 0.31}


def sweep(truth, noise=0.0, seed=0, per_budget=7):
    """A simulated IsoFLOP sweep (9 budgets, 1e18-1e22 FLOPs) whose losses follow ``truth`` exactly,
    times log-normal noise of standard deviation ``noise``."""
    runs = sl.simulate_isoflop("hoffmann2022", per_budget=per_budget, noise=0.0).drop(columns="budget")
    exact = Chinchilla().predict_natural(truth, params=runs["params"].to_numpy(), tokens=runs["tokens"].to_numpy())
    runs["loss"] = exact * np.exp(noise * np.random.default_rng(seed).standard_normal(len(runs)))
    return runs


def test_tied_fit_recovers_the_shared_exponent_with_one_interval():
    res = sl.fit(sweep(TIED_TRUTH), "chinchilla", loss="ls", tied=[("alpha", "beta")])
    for k, v in TIED_TRUTH.items():
        assert res.params[k] == pytest.approx(v, rel=1e-4), k
    assert res.params["alpha"] == res.params["beta"] and res.tied == [["alpha", "beta"]]
    assert res.n_starts == 900  # the 4,500-start grid on (e, a, b, alpha): beta's column is alpha's
    assert res.converged and res.unidentified == []
    noisy = sl.fit(sweep(TIED_TRUTH, noise=0.01, seed=4), "chinchilla", tied="alpha=beta", bootstrap=40, seed=0)
    assert noisy.ci["alpha"] == noisy.ci["beta"] and noisy.stderr["alpha"] == noisy.stderr["beta"]
    assert noisy.ci["alpha"][0] < 0.31 < noisy.ci["alpha"][1]
    np.testing.assert_array_equal(noisy.draws[:, 3], noisy.draws[:, 4])  # every draw keeps the tie
    assert noisy.draws.shape == (noisy.bootstrap_converged, 5)


def test_fixed_E_at_the_truth_recovers_the_others_and_has_no_interval():
    truth = sl.published["hoffmann2022"].params
    res = sl.fit(sweep(truth), "chinchilla", loss="ls", fixed={"E": 1.69})
    assert res.params["E"] == 1.69 and res.fixed == {"E": 1.69}
    for k in ("A", "B", "alpha", "beta"):
        assert res.params[k] == pytest.approx(truth[k], rel=1e-4), k
    boot = sl.fit(sweep(truth, noise=0.01, seed=2), "chinchilla", fixed={"E": 1.69}, bootstrap=30, seed=0)
    assert "E" not in boot.ci and "E" not in boot.stderr
    assert set(boot.ci) >= {"A", "B", "alpha", "beta", "a", "b"}
    assert np.all(np.exp(boot.draws[:, 0]) == pytest.approx(1.69, rel=1e-15))
    line = next(x for x in boot.summary().splitlines() if x.strip().startswith("E "))
    assert "fixed" in line and "not fitted" in line
    assert "fixed           E = 1.69" in boot.summary()
    d = boot.report_dict()
    assert d["fixed"] == {"E": 1.69} and d["tied"] == [] and "E" not in d["ci"]


def test_a_wrong_fixed_value_is_held_and_costs_objective():
    runs = sweep(sl.published["hoffmann2022"].params, noise=0.005, seed=1)
    free = sl.fit(runs, "chinchilla")
    held = sl.fit(runs, "chinchilla", fixed={"E": 1.2})
    assert held.params["E"] == 1.2
    assert held.objective > 2 * free.objective  # the constraint binds: E is not refitted


def test_a_fixed_parameter_is_never_unidentified():
    # one decade of N and D, 5% noise: the free fit cannot pin E down
    rng = np.random.default_rng(3)
    N, D = (a.ravel() for a in np.meshgrid(np.logspace(7, 8, 4), np.logspace(9, 10, 4)))
    loss = (1.7 + 400 * N**-0.34 + 410 * D**-0.28) * np.exp(0.05 * rng.standard_normal(N.size))
    runs = pd.DataFrame({"params": N, "tokens": D, "loss": loss})
    free = sl.fit(runs, bootstrap=30)
    assert "E" in free.unidentified
    held = sl.fit(runs, fixed={"E": 1.7}, bootstrap=30)
    assert "E" not in held.unidentified and "E" not in held.unidentified_why
    assert "E" not in held.at_bound


def test_tied_group_shares_its_identifiability_verdict():
    res = sl.fit(pd.DataFrame({"params": [1e8, 2e8, 4e8, 8e8] * 2, "tokens": [1e10] * 4 + [2e10] * 4,
                               "loss": [3.0] * 8}), tied=[("alpha", "beta")])
    assert ("alpha" in res.unidentified) == ("beta" in res.unidentified)
    if "alpha" in res.unidentified:
        assert res.unidentified_why["alpha"] == res.unidentified_why["beta"]


def test_round_trip_keeps_the_full_parameter_vector(tmp_path):
    res = sl.fit(sweep(TIED_TRUTH, noise=0.01, seed=5), fixed={"E": 1.69}, tied=[("alpha", "beta")],
                 bootstrap=20, seed=1)
    path = tmp_path / "fit.json"
    res.save(path)
    saved = json.loads(path.read_text())
    assert saved["fixed"] == {"E": 1.69} and saved["tied"] == [["alpha", "beta"]] and len(saved["theta"]) == 5
    back = sl.FitResult.load(path)
    assert back.params == res.params and back.fixed == res.fixed and back.tied == res.tied
    np.testing.assert_array_equal(back.draws, res.draws)
    p, q = res.predict(params=7e10, tokens=1.4e12), back.predict(params=7e10, tokens=1.4e12)
    assert (p.loss, p.low, p.high) == (q.loss, q.low, q.high)
    free = sl.fit(sweep(TIED_TRUTH), loss="ls")
    assert "fixed" not in free.to_dict() and "tied" not in free.to_dict()  # older readers load it
    assert sl.FitResult.from_dict(free.to_dict()).fixed == {}


def test_optimal_allocation_uses_every_parameter_of_a_tied_fit():
    res = sl.fit(sweep(TIED_TRUTH), "chinchilla", loss="ls", tied=[("alpha", "beta")])
    a = sl.optimal.optimal_allocation(res, 1e22)
    # alpha = beta: N_opt = G (C/6)^(1/2), G = (A/B)^(1/(2 alpha)) (Hoffmann et al. 2022, eq. 4)
    G = (TIED_TRUTH["A"] / TIED_TRUTH["B"]) ** (1 / (2 * 0.31))
    assert a.params == pytest.approx(G * (1e22 / 6) ** 0.5, rel=1e-3)


@pytest.mark.parametrize("kwargs, words", [
    ({"fixed": {"F": 1.0}}, "no parameter 'F'"),
    ({"tied": [("alpha", "gamma")]}, "no parameter 'gamma'"),
    ({"tied": [("alpha", "alpha")]}, "to itself"),
    ({"fixed": {"E": -1.0}}, "outside the bounds"),
    ({"fixed": {"alpha": 7.0}}, "outside the bounds"),
    ({"fixed": {"E": float("nan")}}, "finite number"),
    ({"tied": [("E", "alpha")]}, "different kinds"),
    ({"tied": "alpha"}, "two or more"),
    ({"fixed": {"alpha": 0.3, "beta": 0.4}, "tied": ["alpha=beta"]}, "different values"),
    ({"fixed": {"E": 1.7, "A": 400, "B": 400, "alpha": 0.3, "beta": 0.3}}, "nothing to fit"),
    ({"fixed": [("E", 1.69)]}, "must map"),
])
def test_bad_constraints_are_one_line_errors(kwargs, words):
    with pytest.raises(ScalingLabError, match=words) as exc:
        sl.fit(sweep(TIED_TRUTH), **kwargs)
    assert "\n" not in str(exc.value)


def test_constraint_map_and_its_jacobian():
    fam = Chinchilla()
    c = Constraints(fam, {"E": 1.69}, [("alpha", "beta")])
    law = ConstrainedLaw(fam, c)
    assert law.param_names == ("A", "B", "alpha") and c.tie_text() == ["alpha=beta"]
    z = np.array([[6.0, 6.0, 0.3], [5.0, 7.0, 0.4]])
    theta = c.expand(z)
    np.testing.assert_allclose(theta[:, 0], math.log(1.69))
    np.testing.assert_array_equal(theta[:, 4], theta[:, 3])
    X = {"params": np.array([1e8, 1e9, 1e10]), "tokens": np.array([2e9, 2e10, 2e11])}
    f, J = law.log_predict(z, X, jac=True)
    h = 1e-6
    for g in range(3):  # central differences of the reduced law, column by column
        step = np.zeros(3)
        step[g] = h
        fd = (law.log_predict(z + step, X) - law.log_predict(z - step, X)) / (2 * h)
        np.testing.assert_allclose(J[:, g, :], fd, rtol=1e-6, atol=1e-9)


def test_cli_fix_and_tie_with_json(tmp_path, monkeypatch, capsys):
    path = tmp_path / "runs.csv"
    sweep(TIED_TRUTH, noise=0.01, seed=6).to_csv(path, index=False)
    code, out, err = run_cli(["fit", path, "--fix", "E=1.69", "--tie", "alpha=beta", "--bootstrap", "20",
                              "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["fixed"] == {"E": 1.69} and d["tied"] == [["alpha", "beta"]]
    assert d["params"]["E"] == 1.69 and d["params"]["alpha"] == d["params"]["beta"]
    assert "E" not in d["ci"] and d["ci"]["alpha"] == d["ci"]["beta"]
    assert "E" not in d["unidentified"]
    for key in ("law", "params", "n_points", "objective", "rmse_log", "converged", "status"):
        assert key in d  # the existing keys are unchanged
    for bad in (["--fix", "E"], ["--fix", "E=x"], ["--fix", "Z=1"], ["--tie", "alpha=alpha"], ["--tie", "E=beta"],
                ["--fix", "E=-2"]):
        code, out, err = run_cli(["fit", path, *bad], monkeypatch, capsys)
        assert code == 2 and err.startswith("error:") and err.count("\n") == 1, (bad, err)


def datablations_tables(shared_data):
    """Muennighoff et al.'s final C4 validation losses (ColPret's copy): unique-data runs (1 epoch) and
    repeated-data runs, with U_D = tokens / epochs (the file's tokens_per_epoch column is a constant)."""
    path = shared_data / "choshen2024_colpret" / "datablations_contour_losses.csv"
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    d = pd.read_csv(path)
    t = pd.DataFrame({"params": d["num_params"], "tokens": d["token_num"],
                      "unique_tokens": d["token_num"] / d["epochs"], "loss": d["openLM_loss"]})
    return t[d["epochs"] == 1].drop(columns="unique_tokens"), t[d["epochs"] > 1]


def test_muennighoff_two_stage_recipe_on_datablations(shared_data, tmp_path, monkeypatch, capsys):
    unique, repeated = datablations_tables(shared_data)
    assert (len(unique), len(repeated)) == (33, 196)
    u, r = tmp_path / "unique.csv", tmp_path / "repeated.csv"
    unique.to_csv(u, index=False)
    repeated.to_csv(r, index=False)
    base = tmp_path / "base.json"
    code, _, err = run_cli(["fit", u, "--tie", "alpha=beta", "--out", base], monkeypatch, capsys)
    assert code == 0, err
    code, out, err = run_cli(["fit", r, "--law", "muennighoff", "--base", base, "--json"], monkeypatch, capsys)
    assert code == 0, err
    d, b = json.loads(out), sl.FitResult.load(base)
    assert d["fixed"] == b.params and set(d["fixed"]) == {"E", "A", "B", "alpha", "beta"}
    assert d["status"] == "converged" and d["unidentified"] == [] and d["at_bound"] == []
    assert any("held at the values of base fit" in n for n in d["notes"])
    # stage 2 is a minimum over R_D*, R_N*: no better than it at the paper's constants (15.39, 5.31)
    fam, obj = DataConstrained(), Objective()
    X = {k: repeated[k].to_numpy() for k in fam.variables}
    logy = np.log(repeated["loss"].to_numpy())

    def objective(rd, rn):
        theta = fam.from_natural({**b.params, "R_D_star": rd, "R_N_star": rn})
        return float(obj.value(fam.log_predict(theta[None, :], X)[0] - logy))

    rd, rn = d["params"]["R_D_star"], d["params"]["R_N_star"]
    assert d["objective"] == pytest.approx(objective(rd, rn), rel=1e-9)
    for other in ((15.387756, 5.309743), (rd * 1.2, rn), (rd, rn * 1.2), (rd / 1.2, rn), (rd, rn / 1.2)):
        assert d["objective"] <= objective(*other)
    assert 1 < rd < 1e3 and 1 < rn < 1e3
    # the same in Python: base= takes the FitResult; fixed= overrides a shared parameter
    py = sl.fit(repeated, "muennighoff", base=b)
    assert py.params == pytest.approx(d["params"], rel=1e-9) and py.fixed == b.params
    assert sl.fit(repeated, "muennighoff", base=b, fixed={"E": 2.0}).params["E"] == 2.0
    with pytest.raises(ScalingLabError, match="shares no parameter"):
        sl.fit(repeated, "kaplan_nd", base=b)


def test_calibration_refits_keep_the_constraints(monkeypatch):
    import scalinglab.analysis.calibration as analysis_calibration
    import scalinglab.fitting as fitting

    calls, real = [], fitting.fit

    def spy(*args, **kwargs):
        calls.append((kwargs.get("fixed"), kwargs.get("tied")))
        return real(*args, **kwargs)

    monkeypatch.setattr(fitting, "fit", spy)
    monkeypatch.setattr(analysis_calibration, "fit", spy, raising=False)  # imported at module top or not
    runs = sweep(TIED_TRUTH, noise=0.01, seed=7)
    res = sl.fit(runs, fixed={"E": 1.69}, tied=[("alpha", "beta")])
    cal = sl.analysis.calibrate(res, runs)
    assert len(calls) >= 2 and all(c == ({"E": 1.69}, [["alpha", "beta"]]) for c in calls)
    assert cal.fixed == {"E": 1.69} and cal.calibration is not None


def test_prediction_intervals_count_only_the_fitted_parameters():
    """A fixed parameter is not estimated, so the run-to-run noise keeps its degree of freedom: with E
    fixed, sigma = 1.4826 MAD(r) sqrt(n / (n - 4)), not sqrt(n / (n - 5))."""
    import scalinglab as sl
    from scalinglab.fitting.predictive import residual_scale

    runs = sl.simulate_isoflop(budgets=(1e18, 1e19, 1e20), per_budget=4, noise=0.01, seed=2)
    fit = sl.fit(runs, "chinchilla", fixed={"E": 1.69}, refine=8)
    assert fit.n_free == 4 and sl.fit(runs, "chinchilla", tied=[("alpha", "beta")], refine=8).n_free == 4
    sigma4, _ = residual_scale(fit.residuals, 4)
    sigma5, _ = residual_scale(fit.residuals, 5)
    got = sl.analysis.prediction_interval(fit, params=1e9, tokens=2e10)
    assert got.sigma == pytest.approx(sigma4) and sigma4 < sigma5
