"""Observational scaling laws (Ruan et al. 2024; references.md E6): capability PCA with imputation,
per-family compute lines, the parametric sigmoid, the held-out check, and the ``observe`` command."""

import json

import numpy as np
import pandas as pd
import pytest
from tests.conftest import run_cli

from scalinglab.analysis.capabilities import (
    RUAN2024_BENCHMARKS,
    RUAN2024_FAMILIES,
    FamilyLine,
    capability_pca,
    equivalent_flops,
    family_lines,
    impute_low_rank,
)
from scalinglab.analysis.observational import fit_parametric_sigmoid, observational
from scalinglab.errors import ScalingLabError


def _synthetic(n=40, seed=0):
    """Models of 4 families whose 5 benchmark scores are linear in one capability g (itself linear in
    log10 C with a family-specific efficiency) plus a second, weaker skill h; the target is a
    sigmoid of g with a floor of 0.1."""
    rng = np.random.default_rng(seed)
    fam = np.repeat(["A", "B", "C", "D"], n // 4)
    logc = rng.uniform(20, 24, n)
    g = 0.8 * (logc - 22) + np.select([fam == "A", fam == "B", fam == "C"], [0.0, 0.5, -0.5], 0.3)
    h = rng.normal(0, 0.3, n)
    load_g, load_h = np.array([1.0, 0.8, 0.6, 0.9, 0.7]), np.array([0.0, 0.5, -0.5, 0.2, 0.0])
    scores = 0.5 + 0.1 * (np.outer(g, load_g) + np.outer(h, load_h)) + rng.normal(0, 0.002, (n, 5))
    table = pd.DataFrame(np.clip(scores, 0, 1), columns=[f"b{i}" for i in range(5)])
    table.insert(0, "Model", [f"m{i}" for i in range(n)])
    table.insert(1, "Model Family", fam)
    table.insert(2, "flops", 10**logc)
    table["target"] = 0.1 + 0.9 / (1 + np.exp(-(2.5 * g - 1.0)))
    return table, g


def test_low_rank_imputation_recovers_missing_cells_of_a_rank_one_matrix():
    rng = np.random.default_rng(1)
    full = 0.5 + 0.12 * np.outer(rng.normal(size=30), [1.0, 0.7, -0.4, 0.9])
    assert full.min() > 0 and full.max() < 1  # inside [0, 1]: the clip leaves it rank 1
    holes = full.copy()
    holes[[2, 7, 11, 20], [0, 1, 3, 2]] = np.nan
    filled = impute_low_rank(holes, rank=1, tol=1e-9)
    assert np.allclose(filled[np.isfinite(holes)], full[np.isfinite(holes)])  # observed cells untouched
    assert np.allclose(filled, full, atol=1e-4)  # a rank-1 matrix is recovered where it was missing


def test_capability_pca_orients_pc1_and_counts_variance():
    table, g = _synthetic()
    pca = capability_pca(table, [f"b{i}" for i in range(5)], n_components=3)
    assert pca.components[0].sum() > 0 and np.isclose(np.linalg.norm(pca.components[0]), 1.0)
    assert pca.explained_variance_ratio[0] > 0.8  # one dominant capability by construction
    assert np.corrcoef(pca.scores["PC-1"], g)[0, 1] > 0.95
    centred = pca.imputed.to_numpy() - pca.mean
    total = np.sum(centred**2)
    assert pca.explained_variance_ratio[0] == pytest.approx(np.sum(pca.scores["PC-1"] ** 2) / total)
    assert pca.transform(pca.imputed.to_numpy()) == pytest.approx(pca.scores.to_numpy())


def test_family_lines_and_equivalent_compute():
    logc = np.array([21.0, 22.0, 23.0, 21.5, 22.5])
    pc = np.array([0.1, 0.6, 1.1, 0.0, 0.4])  # family X: slope 0.5, intercept -10.4
    lines = {line.family: line for line in family_lines(pc, 10**logc, np.array(["X", "X", "X", "Y", "Y"]))}
    assert lines["X"].slope == pytest.approx(0.5) and lines["X"].intercept == pytest.approx(-10.4)
    assert lines["X"].r2 == pytest.approx(1.0) and lines["Y"].slope == pytest.approx(0.4)
    # a PC-1 of 0.35 is what family X reaches at 10^21.5 FLOPs
    assert equivalent_flops(np.array([0.35]), lines["X"])[0] == pytest.approx(10**21.5)
    with pytest.raises(ScalingLabError, match="does not gain capability"):
        equivalent_flops(np.array([0.1]), FamilyLine("Z", -0.1, 0.0, 1.0, 3))


def test_parametric_sigmoid_recovers_weights_and_floor():
    rng = np.random.default_rng(2)
    x = rng.uniform(-3, 3, (60, 2))
    y = 0.1 + 0.9 / (1 + np.exp(-(0.5 + 1.5 * x[:, 0] - 0.8 * x[:, 1])))
    fit = fit_parametric_sigmoid(x, y)
    assert fit.weights == pytest.approx([0.5, 1.5, -0.8], abs=1e-4) and fit.floor == pytest.approx(0.1, abs=1e-5)
    with pytest.raises(ScalingLabError, match="cannot fit a sigmoid"):
        fit_parametric_sigmoid(x[:4], y[:4])


def test_observational_law_predicts_held_out_models_of_a_known_law():
    table, _ = _synthetic(n=80)
    r = observational(table, "target", benchmarks=[f"b{i}" for i in range(5)], n_pcs=1, cutoff_flops=1e22,
                      reference_family="A")
    split = r.predictions["split"]
    assert (split == "train").sum() == (table["flops"] <= 1e22).sum()
    assert r.test_mse < 1e-3  # the target is a sigmoid of the capability the PCA recovers
    d = r.to_dict()
    for key in ("target", "explained_variance_ratio", "loadings", "n_train", "n_test", "weights", "floor",
                "test_mse", "flops_test_mse", "family_lines", "predictions", "warnings"):
        assert key in d
    with pytest.raises(ScalingLabError, match="reference family 'Q'"):
        observational(table, "target", benchmarks=[f"b{i}" for i in range(5)], reference_family="Q")


@pytest.fixture
def obs(shared_data):
    folder = shared_data / "obsscaling"
    return pd.read_csv(folder / "base_llm_benchmark_eval.csv"), pd.read_csv(folder / "base_llm_emergent_capability_eval.csv")


def test_ruan_three_components_explain_97_percent(obs):
    """Ruan et al. 2024 fig. 2a: the top 3 PCs explain about 97% of the benchmark variance; PC-1 is a
    general capability (all loadings positive) and PC-3 a programming one (HumanEval)."""
    table, _ = obs
    pca = capability_pca(table[table["Model Family"].isin(RUAN2024_FAMILIES)])
    assert pca.benchmarks == list(RUAN2024_BENCHMARKS) and len(pca.scores) == 80
    assert pca.cumulative(3) == pytest.approx(0.970, abs=0.005)
    assert (pca.components[0] > 0).all()
    assert np.argmax(np.abs(pca.components[2])) == RUAN2024_BENCHMARKS.index("HumanEval")


@pytest.mark.parametrize("task", ["word_unscrambling_2_exact_match", "parsinlu_qa_2_acc"])
def test_ruan_capabilities_beat_compute_on_held_out_emergent_tasks(obs, task):
    """Ruan et al. 2024 sec. 4.1: fitted on models up to Llama-2-7B's compute (8.4e22 FLOPs), a sigmoid
    of 3 PCs predicts the larger models better than a sigmoid of log compute."""
    table, emergent = obs
    r = observational(table, task, targets=emergent, families=list(RUAN2024_FAMILIES))
    assert r.to_dict()["n_train"] >= 40 and r.to_dict()["n_test"] >= 20
    assert r.test_mse < 0.6 * r.flops_test_mse and r.test_mse < 0.01


def test_observe_cli(obs, shared_data, monkeypatch, capsys):
    folder = shared_data / "obsscaling"
    args = ["observe", folder / "base_llm_benchmark_eval.csv", "--targets",
            folder / "base_llm_emergent_capability_eval.csv", "--target", "word_unscrambling_2_exact_match",
            "--families", ",".join(RUAN2024_FAMILIES), "--json"]
    code, stdout, _ = run_cli(args, monkeypatch, capsys)
    assert code == 0
    d = json.loads(stdout)
    assert sum(d["explained_variance_ratio"][:3]) == pytest.approx(0.970, abs=0.005)
    assert {"model", "equivalent_flops", "observed", "predicted", "split"} <= set(d["predictions"][0])
    held = [p for p in d["predictions"] if p["split"] == "test"]
    bt = d["backtest"]  # the held-out check, named as the backtest it is
    assert bt["x"] == "flops" and bt["holdout_above"] == 8.4e22 and bt["n_test"] == len(held) == d["n_test"]
    assert bt["mse"] == pytest.approx(np.mean([(p["predicted"] - p["observed"]) ** 2 for p in held]))
    assert bt["mae"] == pytest.approx(np.mean([abs(p["predicted"] - p["observed"]) for p in held]))
    assert bt["flops_mse"] == d["flops_test_mse"] and bt["better"] == "PCs"
    code, text, _ = run_cli(args[:-1], monkeypatch, capsys)
    assert code == 0 and f"backtest (fit below the cutoff, predict the {len(held)} models above)" in text
    code, _, stderr = run_cli(["observe", folder / "base_llm_benchmark_eval.csv", "--target", "nope"],
                              monkeypatch, capsys)
    assert code == 2 and "target 'nope'" in stderr and "Traceback" not in stderr
