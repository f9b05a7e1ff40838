"""The multi-power form of the schedule law (Luo et al. 2025; references.md L2) through fit_schedule_law,
the held-out check and the ``schedule`` commands (``--form``)."""

import json

import numpy as np
import pandas as pd
import pytest
from tests.conftest import run_cli

from scalinglab.analysis.lr_schedules import parse_schedule, schedule_lrs
from scalinglab.analysis.schedule import Curve, ScheduleFit, compare_schedules, fit_schedule_law, load_schedule_fit
from scalinglab.analysis.schedule_check import holdout_check
from scalinglab.analysis.schedule_forms import get_form
from scalinglab.errors import ScalingLabError
from scalinglab.laws import MultiPower

TRUE = {"L0": 2.5, "A": 1.2, "alpha": 0.45, "B": 400.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}
RUNS = ("constant:steps=600,warmup=30,peak=2e-3", "cosine:steps=600,warmup=30,peak=2e-3,final=2e-4",
        "wsd:steps=600,warmup=30,peak=2e-3,final=2e-4,cooldown=0.3")


def _runs(texts=RUNS, noise=0.0, seed=1, every=30) -> list[Curve]:
    """Curves of the multi-power law with TRUE constants (times exp(N(0, noise))) with the LR of every step."""
    rng, out = np.random.default_rng(seed), []
    for text in texts:
        lrs = schedule_lrs(parse_schedule(text))
        st = np.arange(every, lrs.size + 1, every)
        loss = MultiPower([lrs]).predict_natural(TRUE, step=st, run=0) * np.exp(rng.normal(0.0, noise, st.size))
        out.append(Curve(text, st.astype(float), loss, lrs))
    return out


def _curves(texts=RUNS, noise=0.0) -> pd.DataFrame:
    """The same as a table with the LR recorded at each evaluation (interpolated in between on reading)."""
    return pd.DataFrame([{"run": c.name, "step": int(s), "loss": v, "lr": c.lrs[int(s) - 1]}
                         for c in _runs(texts, noise) for s, v in zip(c.steps, c.loss)])


def test_fit_recovers_the_constants_of_simulated_curves():
    fit = fit_schedule_law(_runs(), bootstrap=0, form="multi-power")
    assert fit.form == "multi-power" and fit.converged and fit.mare < 1e-6
    for name, value in TRUE.items():
        assert fit.params[name] == pytest.approx(value, rel=0.03), name


def test_holdout_check_predicts_an_unseen_wsd():
    # the LR is read from records every 30 steps (the cosine interpolated between them): 0.05% off
    result = holdout_check(_curves(), list(RUNS[:2]), bootstrap=0, form="multi-power")
    (row,) = result["runs"]
    assert result["form"] == "multi-power" and set(result["params"]) == set(TRUE)
    assert row["run"] == RUNS[2] and abs(row["error"]) < 0.002 and row["mare"] < 0.001
    # with 0.1% noise, constant and cosine runs pin B, C, beta and gamma down loosely: within 1%
    (row,) = holdout_check(_curves(noise=0.001), list(RUNS[:2]), bootstrap=10, form="multi-power")["runs"]
    assert abs(row["error"]) < 0.01 and row["low"] < row["final_loss"] < row["high"]


def _true_fit() -> ScheduleFit:
    """A multi-power fit holding TRUE, with 3 draws around it (no fitting)."""
    draws = np.array([[TRUE[k] * f for k in TRUE] for f in (0.99, 1.0, 1.01)])
    return ScheduleFit(dict(TRUE), 0.999, draws, np.array([-0.001, 0.0, 0.001]),
                       {"peak": 2e-3, "warmup": 30.0, "final": 2e-4}, [], 0, True, 0.0, form="multi-power")


def test_round_trip_and_compare_carry_the_form():
    fit = _true_fit()
    back = ScheduleFit.from_dict(json.loads(json.dumps(fit.to_dict())))
    assert back.form == "multi-power" and back.params == fit.params and back.draws.shape == (3, 7)
    got = back.predict("wsd:cooldown=0.3", 600, every=30)
    truth = _runs(RUNS[2:])[0]
    assert got["step"] == truth.steps.astype(int).tolist() and got["loss"] == pytest.approx(truth.loss, rel=1e-12)
    result = compare_schedules(back, ["constant", "wsd:cooldown=0.3"], 600)
    assert result["form"] == "multi-power" and result["best"].startswith("wsd")


def test_bad_forms_are_one_line_errors():
    with pytest.raises(ScalingLabError, match="form must be one of tissue, multi-power, got 'power'"):
        fit_schedule_law(_runs(), form="power")
    assert get_form("multi_power").name == "multi-power"


def test_cli_form_round_trip(tmp_path, monkeypatch, capsys):
    data, law = tmp_path / "curves.csv", tmp_path / "fit.json"
    table = _curves(noise=0.001)
    table["run"] = table["run"].map(dict(zip(RUNS, ("const", "cos", "wsd"))))
    table.to_csv(data, index=False)
    code, stdout, _ = run_cli(["schedule", "fit", data, "--form", "multi-power", "--bootstrap", "3", "--out", law,
                               "--json"], monkeypatch, capsys)
    fitted = json.loads(stdout)
    assert code == 0 and fitted["form"] == "multi-power" and fitted["law"] == "multi_power"
    assert fitted["source"].startswith("Luo et al. 2025") and fitted["params"]["alpha"] == pytest.approx(0.45, rel=0.1)
    assert load_schedule_fit(law).form == "multi-power"
    figure = tmp_path / "curve.png"
    code, stdout, _ = run_cli(["schedule", "predict", "--law", law, "--schedule", "wsd:cooldown=0.3", "--steps", "600",
                               "--form", "multi-power", "--plot", figure, "--json"], monkeypatch, capsys)
    result = json.loads(stdout)
    assert code == 0 and result["form"] == "multi-power" and {"step", "loss", "low", "high"} <= set(result)
    assert figure.read_bytes().startswith(b"\x89PNG")
    code, stdout, _ = run_cli(["schedule", "check", data, "--train", "const,cos", "--form", "multi-power",
                               "--bootstrap", "3", "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(stdout)["form"] == "multi-power"
    code, stdout, _ = run_cli(["schedule", "fit", data, "--bootstrap", "0", "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(stdout)["form"] == "tissue"  # the default form is unchanged


@pytest.mark.parametrize("args", [
    ["schedule", "fit", "{data}", "--form", "power"],
    ["schedule", "check", "{data}", "--train", "x", "--form", "power"],
    ["schedule", "predict", "--law", "{law}", "--schedule", "wsd", "--steps", "100", "--form", "tissue"],
    ["schedule", "compare", "--law", "{law}", "--schedule", "wsd", "--steps", "100", "--form", "nope"],
])
def test_cli_bad_form_exits_2_with_one_line(args, tmp_path, monkeypatch, capsys):
    data, law = tmp_path / "curves.csv", tmp_path / "fit.json"
    _curves().to_csv(data, index=False)
    law.write_text(json.dumps(_true_fit().to_dict()))
    code, _, stderr = run_cli([a.format(law=law, data=data) for a in args], monkeypatch, capsys)
    assert code == 2 and stderr.startswith("error: ") and stderr.strip().count("\n") == 0
    assert "form" in stderr


def test_multi_power_fit_reports_status_unidentified_and_intervals():
    """The trust checks of a multi-power fit (schedule_forms.trust_checks): a fit of curves that anneal
    converges with every parameter named identified and a 95% interval per parameter around the truth's
    neighbourhood; runs that never anneal leave the loss-drop constants undetermined, named as such."""
    fit = fit_schedule_law(_runs(noise=0.002), bootstrap=20, form="multi-power")
    assert fit.status == "converged"
    assert set(fit.ci) == set(TRUE) and all(lo <= fit.params[k] <= hi for k, (lo, hi) in fit.ci.items())
    assert "L0" not in fit.unidentified and "alpha" not in fit.unidentified
    flat = fit_schedule_law(_runs(texts=(RUNS[0], "constant:steps=900,warmup=30,peak=1e-3"), noise=0.002),
                            bootstrap=10, form="multi-power")
    assert any("not identified" in n for n in flat.notes)
    assert flat.to_dict()["status"] in ("converged", "stalled") and "ci" in flat.to_dict()
