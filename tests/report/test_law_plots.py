"""The schedule-law figure (references.md L1) and the observational-law figure (references.md E6) as plot
kinds: what is drawn is the laws' own numbers (the schedule law's curves and its prediction; each model's
observational prediction on the drawn sigmoid at its equivalent compute)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import run_cli

from scalinglab.analysis.lr_schedules import annealing_area, forward_area, parse_schedule, schedule_lrs
from scalinglab.analysis.observational import observational
from scalinglab.analysis.schedule import fit_schedule_law, predict_loss, save_schedule_fit
from scalinglab.errors import ScalingLabError
from scalinglab.report import capability_plots
from scalinglab.report.kinds import make_figure

TRUE = np.array([2.5, 1.2, 0.45, 0.8])  # L0 nats/token, A, alpha, C
TRAIN = ("constant:steps=2000,warmup=100,peak=1e-3", "cosine:steps=2000,warmup=100,peak=1e-3,final=1e-4")
WSD = "wsd:steps=2000,warmup=100,peak=1e-3,final=1e-4,cooldown=0.2"


def schedule_curves() -> pd.DataFrame:
    """Noise-free curves of the schedule law with TRUE constants, LR recorded at every evaluation."""
    rows = []
    for text in TRAIN:
        lrs = schedule_lrs(parse_schedule(text))
        st = np.arange(50, lrs.size + 1, 50)
        loss = predict_loss(TRUE, forward_area(lrs)[st - 1], annealing_area(lrs)[st - 1])
        rows += [{"run": text.split(":")[0], "step": s, "loss": v, "lr": lrs[s - 1]} for s, v in zip(st, loss)]
    return pd.DataFrame(rows)


def benchmark_table(n: int = 32) -> pd.DataFrame:
    """Models of 3 families: 4 benchmark scores linear in one capability g (linear in log10 C with a
    family offset) plus a small second skill; the target a sigmoid of g with floor 0.1."""
    rng = np.random.default_rng(3)
    fam = np.repeat(["A", "B", "C"], -(-n // 3))[:n]
    logc = rng.uniform(20, 24, n)
    g = 0.8 * (logc - 22) + np.select([fam == "A", fam == "B"], [0.0, 0.4], -0.3)
    h = rng.normal(0, 0.2, n)
    scores = 0.5 + 0.1 * (np.outer(g, [1.0, 0.8, 0.6, 0.9]) + np.outer(h, [0.0, 0.4, -0.4, 0.1]))
    table = pd.DataFrame(np.clip(scores + rng.normal(0, 0.002, scores.shape), 0, 1), columns=[f"b{i}" for i in range(4)])
    table.insert(0, "Model", [f"m{i}" for i in range(n)])
    table.insert(1, "Model Family", fam)
    table.insert(2, "flops", 10**logc)
    table["target"] = 0.1 + 0.9 / (1 + np.exp(-(2.5 * g - 1.0)))
    return table


BENCH = ["b0", "b1", "b2", "b3"]
CAPABILITY = {"target": "target", "benchmarks": BENCH, "cutoff_flops": 1e23, "reference_family": "A", "n_pcs": 2}


def law_data(kind: str, folder: Path) -> tuple[Path, dict]:
    """DATA and the options a kind of this module needs (for the every-kind test of test_plots.py)."""
    if kind == "schedule":
        path = folder / "curves.csv"
        schedule_curves().to_csv(path, index=False)
        return path, {"schedule": WSD}
    path = folder / "benchmarks.csv"
    benchmark_table().to_csv(path, index=False)
    return path, dict(CAPABILITY)


def _lines(ax):
    return [ln for ln in ax.get_lines() if len(ln.get_xdata())]


def test_schedule_figure_draws_the_fitted_runs_and_the_requested_schedules_prediction(tmp_path):
    data, options = law_data("schedule", tmp_path)
    fig = make_figure("schedule", data, bootstrap=10, **options)
    ax, ax_lr = fig.axes[:2]
    wsd_lrs = schedule_lrs(parse_schedule(WSD))
    predicted = _lines(ax)[0]  # the requested schedule first, then each run's law curve (dashed)
    at = predicted.get_xdata().astype(int)
    truth = predict_loss(TRUE, forward_area(wsd_lrs)[at - 1], annealing_area(wsd_lrs)[at - 1])
    np.testing.assert_allclose(predicted.get_ydata(), truth, rtol=2e-3)  # noise-free: the law's own curve
    assert at[-1] == 2000 and at[0] >= 100  # over the run, after warmup
    np.testing.assert_allclose(_lines(ax_lr)[0].get_ydata(), wsd_lrs)  # its learning rates beside it
    observed = [c for c in ax.collections if c.get_offsets().shape[0] > 1 and "observed" in c.get_label()]
    assert [c.get_label() for c in observed] == ["constant (observed)", "cosine (observed)"]
    table = schedule_curves()
    cosine = table[(table["run"] == "cosine") & (table["step"] >= 100)]
    np.testing.assert_allclose(observed[1].get_offsets()[:, 1], cosine["loss"])
    dashed = [ln for ln in _lines(ax) if ln.get_linestyle() == "--"]
    np.testing.assert_allclose(dashed[1].get_ydata(), cosine["loss"], rtol=2e-3)  # the law through its LRs
    assert "loss (nats/token)" in ax.get_ylabel() and "optimiser steps" in ax.get_xlabel()


def test_schedule_figure_uses_a_saved_law_and_a_longer_step_budget(tmp_path):
    data, _ = law_data("schedule", tmp_path)
    fit = fit_schedule_law(schedule_curves(), bootstrap=0)
    save_schedule_fit(fit, tmp_path / "fit.json")
    fig = make_figure("schedule", data, law=str(tmp_path / "fit.json"), schedule=["constant", "cosine"], steps=4000)
    ax = fig.axes[0]
    solid = [ln for ln in _lines(ax) if ln.get_linestyle() == "-"]
    assert len(solid) == 2 and all(ln.get_xdata()[-1] == 4000 for ln in solid)
    lrs = schedule_lrs(fit.schedule("cosine", 4000))
    at = solid[1].get_xdata().astype(int)
    np.testing.assert_allclose(solid[1].get_ydata(), fit.curve(lrs, at)[0])  # the saved law's numbers
    (tmp_path / "other.json").write_text('{"law": "chinchilla"}')
    with pytest.raises(ScalingLabError, match="not a schedule-law fit"):
        make_figure("schedule", data, law=str(tmp_path / "other.json"))


def test_capability_figure_puts_every_prediction_on_the_drawn_sigmoid(tmp_path):
    table = benchmark_table()
    result = observational(table, "target", benchmarks=BENCH, reference_family="A", cutoff_flops=1e23, n_pcs=2)
    drawn = capability_plots.capability_data(result)
    models, curve = drawn["models"], drawn["curve"]
    on_curve = np.interp(np.log10(models["equivalent"]), np.log10(curve["flops"]), curve["score"])
    np.testing.assert_allclose(on_curve, models["predicted"], atol=2e-3)  # the law is one curve on this axis
    fig = capability_plots.plot_capability(result)
    ax = fig.axes[0]
    points = [c for c in ax.collections if c.get_offsets().shape[0]]
    xy = np.vstack([c.get_offsets() for c in points])
    assert len(xy) == len(table) and sorted(xy[:, 1]) == pytest.approx(sorted(table["target"]))
    open_ = sum(c.get_offsets().shape[0] for c in points if not np.asarray(c.get_facecolor()).size)
    assert open_ == int((result.predictions["split"] == "test").sum()) == int((table["flops"] > 1e23).sum())
    assert "A-equivalent compute C (FLOPs)" in ax.get_xlabel() and ax.get_xscale() == "log"


def test_with_one_component_equivalent_compute_is_pc1s():
    result = observational(benchmark_table(), "target", benchmarks=BENCH, reference_family="A", cutoff_flops=1e23,
                           n_pcs=1)
    models = capability_plots.capability_data(result)["models"]
    np.testing.assert_allclose(models["equivalent"], models["equivalent_flops"], rtol=1e-9)


def test_capability_kind_needs_a_target_and_plot_draws_both_kinds(tmp_path, monkeypatch, capsys):
    data, _ = law_data("capability", tmp_path)
    with pytest.raises(ScalingLabError, match="needs the score to predict"):
        make_figure("capability", data)
    code, out, err = run_cli(["plot", "capability", data, "--out", tmp_path / "c.png", "--target", "target",
                              "--reference-family", "A", "--cutoff-flops", "1e23", "--pcs", "2",
                              "--families", "A,B", "--benchmarks", ",".join(BENCH)], monkeypatch, capsys)
    assert code == 0 and "capability: wrote" in out, err
    curves, _ = law_data("schedule", tmp_path)
    code, out, err = run_cli(["plot", "schedule", curves, "--out", tmp_path / "s.svg", "--schedule", WSD,
                              "--steps", "2400", "--bootstrap", "0"], monkeypatch, capsys)
    assert code == 0 and "schedule: wrote" in out, err
