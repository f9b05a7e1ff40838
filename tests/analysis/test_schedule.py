"""The schedule law L(s) = L0 + A S1^-alpha - C S2 (Tissue et al. 2024; references.md L1): schedule
descriptions, the areas by hand, the fit recovering known constants, prediction of an unseen schedule,
the comparison, and the ``schedule`` commands."""

import json

import numpy as np
import pandas as pd
import pytest
from tests.conftest import run_cli

from scalinglab.analysis.lr_schedules import (
    annealing_area,
    forward_area,
    lrs_from_records,
    parse_schedule,
    schedule_lrs,
)
from scalinglab.analysis.schedule import (
    ScheduleFit,
    compare_schedules,
    fit_schedule_law,
    load_schedule_curves,
    predict_loss,
)
from scalinglab.errors import ScalingLabError

TRUE = np.array([2.5, 1.2, 0.45, 0.8])  # L0 nats/token, A, alpha, C
TRAIN = ("constant:steps=3000,warmup=100,peak=1e-3", "cosine:steps=3000,warmup=100,peak=1e-3,final=1e-4")


def _curves(texts=TRAIN, noise=0.0, seed=1, every=50, truth=TRUE):
    """Curves of the law with ``truth``'s constants (times exp(N(0, noise))) under each described
    schedule, with the LR recorded at every evaluation."""
    rng, rows = np.random.default_rng(seed), []
    for text in texts:
        lrs = schedule_lrs(parse_schedule(text))
        st = np.arange(every, lrs.size + 1, every)
        loss = predict_loss(truth, forward_area(lrs)[st - 1], annealing_area(lrs)[st - 1])
        loss = loss * np.exp(rng.normal(0.0, noise, st.size))
        rows += [{"run": text, "step": s, "loss": v, "lr": lrs[s - 1]} for s, v in zip(st, loss)]
    return pd.DataFrame(rows)


def test_areas_by_hand():
    lrs = np.array([1.0, 2.0, 2.0, 1.0, 0.5])
    assert forward_area(lrs).tolist() == [1.0, 3.0, 5.0, 6.0, 6.5]
    # the rise to the peak (step 2) is warmup, not annealing: m = 0, 0, 0, then 1, 0.5*1 + 0.5 = 1
    assert np.allclose(annealing_area(lrs, decay=0.5), [0.0, 0.0, 0.0, 1.0, 2.0])
    # lambda = 0: m_i is the single decrease, S2 the total decrease since the peak
    assert np.allclose(annealing_area(lrs, decay=0.0), [0.0, 0.0, 0.0, 1.0, 1.5])


def test_annealing_area_matches_the_recursion_on_a_long_schedule():
    lrs = schedule_lrs(parse_schedule("cosine:steps=5000,warmup=0.05,peak=3e-4,final=3e-5"))
    m, expect = 0.0, []
    for i in range(lrs.size):
        step_down = 0.0 if i == 0 or i < int(np.argmax(lrs)) + 1 else lrs[i - 1] - lrs[i]
        m = 0.999 * m + step_down
        expect.append(m)
    assert np.allclose(annealing_area(lrs), np.cumsum(expect), rtol=1e-10, atol=1e-15)


def test_schedule_shapes_by_hand():
    assert np.allclose(schedule_lrs(parse_schedule("cosine:steps=4,peak=1,final=0")),
                       [0.5 * (1 + np.cos(np.pi * p)) for p in (0.25, 0.5, 0.75, 1.0)])
    assert schedule_lrs(parse_schedule("wsd:steps=10,peak=1,final=0,cooldown=0.2")).tolist() == [1.0] * 8 + [0.5, 0.0]
    assert schedule_lrs(parse_schedule("constant:steps=4,peak=1,warmup=2")).tolist() == [0.5, 1.0, 1.0, 1.0]
    assert schedule_lrs(parse_schedule("linear,steps=5,peak=1,final=0.2,warmup=1")).tolist() == pytest.approx(
        [1.0, 0.8, 0.6, 0.4, 0.2])
    # recorded at steps 2 and 4: a linear ramp from 0 before the first record, linear in between
    assert lrs_from_records(np.array([2.0, 4.0]), np.array([1.0, 0.5])).tolist() == [0.5, 1.0, 0.75, 0.5]


@pytest.mark.parametrize("text", ["", "step:steps=4", "cosine:steps", "wsd:cooldown=1.5", "cosine:peak=-1",
                                  "cosine:colour=3"])
def test_bad_descriptions_are_one_line_errors(text):
    with pytest.raises(ScalingLabError) as info:
        schedule_lrs(parse_schedule(text).filled(steps=10, peak=1.0))
    assert "\n" not in str(info.value)


def test_fit_recovers_known_constants_from_constant_and_cosine_runs():
    fit = fit_schedule_law(_curves(), bootstrap=0)
    got = np.array([fit.params[k] for k in ("L0", "A", "alpha", "C")])
    # the LR is recorded every 50 steps and interpolated linearly, so the areas are off by ~1e-6
    assert got == pytest.approx(TRUE, rel=1e-3)
    assert fit.converged and fit.mare < 1e-4
    assert fit.defaults == {"peak": pytest.approx(1e-3), "warmup": 100.0, "final": pytest.approx(1e-4, rel=1e-3)}


def test_l0_held_on_the_fits_own_box_is_converged_and_named():
    """The fit keeps L0 at or below the lowest loss. With an annealing term so strong that the cosine run
    ends 1 nat/token below L0 (C = 3: C S2 = 1.93 > A S1^-alpha = 0.96), L0 ends on that edge: the
    first-order test must project on the fit's box, not the family's wider one (it called such fits
    "stalled"), and the trust check names L0 as on a bound."""
    table = _curves(truth=np.array([2.5, 1.2, 0.45, 3.0]))
    fit = fit_schedule_law(table, bootstrap=0)
    assert fit.params["L0"] == pytest.approx(table["loss"].min())
    assert fit.status == "converged"
    assert "bound" in fit.unidentified["L0"]


def test_predicts_an_unseen_wsd_curve_and_its_final_loss_lies_in_the_interval():
    fit = fit_schedule_law(_curves(noise=0.002), bootstrap=100)
    result = fit.predict("wsd:cooldown=0.2", steps=3000, every=100)
    lrs = schedule_lrs(parse_schedule("wsd:steps=3000,warmup=100,peak=1e-3,final=1e-4,cooldown=0.2"))
    truth = predict_loss(TRUE, forward_area(lrs), annealing_area(lrs))
    at = np.array(result["step"]) - 1
    assert result["step"][-1] == 3000 and len(result["loss"]) == len(result["low"]) == len(result["high"])
    assert np.max(np.abs(np.array(result["loss"]) / truth[at] - 1)) < 0.005
    assert result["low"][-1] < truth[-1] < result["high"][-1]
    # the cooldown matters: the WSD run ends well below a constant run of the same length
    assert truth[-1] < fit.predict("constant", steps=3000)["loss"][-1] - 0.05


def test_compare_ranks_a_cooldown_above_no_decay():
    fit = fit_schedule_law(_curves(noise=0.001), bootstrap=50)
    result = compare_schedules(fit, ["constant", "wsd:cooldown=0.2"], 3000)
    assert result["best"].startswith("wsd") and result["steps"] == 3000
    by = {r["schedule"].split(":")[0]: r for r in result["schedules"]}
    assert by["wsd"]["p_best"] == 1.0 and by["wsd"]["final_loss"] < by["constant"]["final_loss"]


def test_one_model_size_per_fit():
    table = _curves().assign(params=[1e6, 2e6] * 60)
    with pytest.raises(ScalingLabError, match="2 model sizes"):
        fit_schedule_law(table)


def test_schedule_column_and_round_trip():
    table = _curves()
    table["schedule"] = table.pop("run")
    table = table.drop(columns=["lr"])
    curves = load_schedule_curves(table)
    assert [c.name for c in curves] == list(TRAIN) and curves[0].lrs.size == 3000
    fit = fit_schedule_law(table, bootstrap=10)
    back = ScheduleFit.from_dict(json.loads(json.dumps(fit.to_dict())))
    assert back.params == fit.params and back.predict("cosine", 3000)["loss"] == fit.predict("cosine", 3000)["loss"]


def test_cli_fit_predict_compare(tmp_path, monkeypatch, capsys):
    data, law = tmp_path / "curves.csv", tmp_path / "fit.json"
    _curves(noise=0.001).to_csv(data, index=False)
    code, stdout, _ = run_cli(["schedule", "fit", data, "--bootstrap", "20", "--out", law, "--json"],
                              monkeypatch, capsys)
    fitted = json.loads(stdout)
    assert code == 0 and fitted["params"]["alpha"] == pytest.approx(0.45, rel=0.05)
    assert fitted["source"].startswith("Tissue et al. 2024") and fitted["units"]["L0"].startswith("nats/token")
    code, stdout, _ = run_cli(["schedule", "predict", "--law", law, "--schedule", "wsd:cooldown=0.2",
                               "--steps", "2000", "--json"], monkeypatch, capsys)
    result = json.loads(stdout)
    assert code == 0 and {"step", "loss", "low", "high"} <= set(result) and result["step"][-1] == 2000
    code, stdout, _ = run_cli(["schedule", "compare", "--law", law, "--steps", "3000", "--schedule", "cosine",
                               "--schedule", "wsd:cooldown=0.1", "--schedule", "wsd:cooldown=0.2", "--json"],
                              monkeypatch, capsys)
    result = json.loads(stdout)
    assert code == 0 and len(result["schedules"]) == 3 and result["best"] in [r["schedule"] for r in result["schedules"]]
    figure = tmp_path / "schedules.png"
    code, _, _ = run_cli(["schedule", "compare", "--law", law, "--steps", "3000", "--schedule", "cosine",
                          "--data", data, "--plot", figure], monkeypatch, capsys)
    assert code == 0 and figure.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("args", [
    ["schedule", "predict", "--law", "{law}", "--schedule", "step", "--steps", "100"],
    ["schedule", "predict", "--law", "{data}", "--schedule", "wsd", "--steps", "100"],
    ["schedule", "predict", "--law", "{law}", "--schedule", "wsd", "--steps", "0"],
    ["schedule", "fit", "{nolr}"],
    ["schedule", "predict", "--law", "{law}", "--schedule", "wsd", "--steps", "100", "--plot", "{data}"],
])
def test_cli_bad_input_exits_2_with_one_line(args, tmp_path, monkeypatch, capsys):
    data, law, nolr = tmp_path / "curves.csv", tmp_path / "fit.json", tmp_path / "nolr.csv"
    _curves().to_csv(data, index=False)
    _curves().drop(columns=["lr"]).to_csv(nolr, index=False)
    fit_cmd = ["schedule", "fit", data, "--bootstrap", "0", "--out", law]
    assert run_cli(fit_cmd, monkeypatch, capsys)[0] == 0
    code, _, stderr = run_cli([a.format(law=law, data=data, nolr=nolr) for a in args], monkeypatch, capsys)
    assert code == 2 and stderr.startswith("error: ") and stderr.strip().count("\n") == 0


def test_lab_trains_any_schedule_and_records_its_lr():
    from scalinglab.lab.markov import markov_token_data
    from scalinglab.lab.train import RunConfig, lr_at, train_run
    from scalinglab.plan.architecture import Architecture

    arch = Architecture(name="tiny", n_layer=1, d_model=32, n_heads=2, d_ff=64, vocab_size=16, seq_len=16,
                        position="rotary", norm="layernorm")
    base = {"arch": arch, "tokens": 8 * 16 * 101, "batch_size": 8, "lr": 1e-3, "warmup_fraction": 0.1,
            "min_lr_fraction": 0.1}
    wsd = RunConfig(**base, schedule="wsd", cooldown_fraction=0.2)  # 101 steps: warmup 10, cooldown from 81
    assert [lr_at(i, wsd) for i in (9, 80, 81, 90, 100)] == pytest.approx([1e-3, 1e-3, 1e-3, 1e-3 - 0.9e-3 * 9 / 19,
                                                                            1e-4])
    assert lr_at(55, RunConfig(**base, schedule="constant")) == 1e-3
    assert lr_at(55, RunConfig(**base, schedule="linear")) == pytest.approx(0.55e-3)
    # a cosine run keeps the identity it had before schedules existed; others carry theirs
    assert "schedule" not in RunConfig(**base).to_dict() and wsd.to_dict()["cooldown_fraction"] == 0.2
    with pytest.raises(ScalingLabError, match="schedule must be one of"):
        RunConfig(**base, schedule="step")
    data = markov_token_data(order=1, vocab_size=16, branching=2, n_tokens=20_000)
    result = train_run(RunConfig(**{**base, "tokens": 8 * 16 * 40}, schedule="wsd", eval_every_tokens=8 * 16 * 10,
                                 eval_tokens=256), data)
    table = pd.DataFrame([{"step": p.step, "loss": p.val_loss, "lr": p.lr} for p in result.points])
    assert table["lr"].tolist() == pytest.approx([lr_at(s - 1, RunConfig(**{**base, "tokens": 8 * 16 * 40},
                                                                      schedule="wsd")) for s in table["step"]])
    assert load_schedule_curves(table)[0].lrs.size == 40


def test_holdout_check_scores_the_unseen_runs(tmp_path, monkeypatch, capsys):
    from scalinglab.analysis.schedule_check import holdout_check

    wsd = "wsd:steps=3000,warmup=100,peak=1e-3,final=1e-4,cooldown=0.2"
    table = _curves(TRAIN + (wsd,), noise=0.001)
    result = holdout_check(table, list(TRAIN), bootstrap=50)
    (row,) = result["runs"]
    assert row["run"] == wsd and row["final_step"] == 3000 and abs(row["error"]) < 0.005
    assert row["mare"] < 0.005 and result["max_abs_final_error"] == abs(row["error"])
    with pytest.raises(ScalingLabError, match="no run named"):
        holdout_check(table, ["cosine"])
    with pytest.raises(ScalingLabError, match="leave at least one out"):
        holdout_check(table, list(TRAIN) + [wsd])
    data = tmp_path / "curves.csv"
    table.assign(run=table["run"].map({TRAIN[0]: "const", TRAIN[1]: "cos", wsd: "wsd"})).to_csv(data, index=False)
    code, stdout, _ = run_cli(["schedule", "check", data, "--train", "const,cos", "--bootstrap", "10", "--json"],
                              monkeypatch, capsys)
    assert code == 0 and json.loads(stdout)["runs"][0]["run"] == "wsd"


@pytest.mark.parametrize("extra, message", [(["--schedule", "step"], "schedule must be one of"),
                                            (["--cooldown", "0.3"], "only --schedule wsd has a cooldown"),
                                            (["--schedule", "wsd", "--cooldown", "0"], "cooldown_fraction")])
def test_sweep_schedule_options_are_checked(extra, message, monkeypatch, capsys):
    args = ["sweep", "--design", "grid", "--params", "3e4", "--tokens", "2e5", "--corpus", "markov", "--dry-run"]
    code, _, stderr = run_cli(args + extra, monkeypatch, capsys)
    assert code == 2 and message in stderr and stderr.strip().count("\n") == 0
    code, _, _ = run_cli(args + ["--schedule", "wsd", "--cooldown", "0.3"], monkeypatch, capsys)
    assert code == 0
