"""Emergence: the metric-choice effect (Schaeffer et al. 2023), the smooth-vs-break test and the
emergence summary, on simulated data with known truth and on the observational-scaling table."""

import numpy as np
import pandas as pd
import pytest

from scalinglab.analysis import emergence, metric_choice, smooth_vs_break
from scalinglab.analysis.emergence import rise_width
from scalinglab.errors import FitError, ScalingLabError

N = np.logspace(7, 11, 12)  # 12 model sizes, 10M..100B parameters


def smooth_token_p(seed: int, c: float = 1e8, alpha: float = 0.35, tokens: int = 3000) -> np.ndarray:
    """Schaeffer et al. 2023 premise: per-token CE = (N/c)^-alpha, p = exp(-CE); measured on `tokens` tokens."""
    p = np.exp(-((N / c) ** -alpha))
    return np.random.default_rng(seed).binomial(tokens, p) / tokens


def broken_token_p(seed: int, tokens: int = 3000) -> np.ndarray:
    """A genuine break: p = 0.05 up to 1e9 parameters, then linear in log10 N up to 0.9 at 1e11."""
    t = np.log10(N)
    p = np.where(t < 9, 0.05, 0.05 + 0.85 * (t - 9) / 2)
    return np.random.default_rng(seed).binomial(tokens, p) / tokens


# ---- the metrics themselves ---------------------------------------------------------------------------------
def test_metric_choice_values_match_hand_calculation():
    # reference checks (references.md E4): p = 0.9: EM(10) = 0.3487, edit distance(10) = 1.0; p = 0.99: 0.9044, 0.10;
    # p = 0.5: EM(10) = 0.000977
    p = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99])
    mc = metric_choice(pd.DataFrame({"params": np.logspace(8, 11, 7), "p_token": p}), length=10, bootstrap=0)
    t = mc.table.set_index("p_token")
    assert t.loc[0.9, "exact_match"] == pytest.approx(0.3487, abs=5e-5)
    assert t.loc[0.9, "edit_distance"] == pytest.approx(1.0)
    assert t.loc[0.99, "exact_match"] == pytest.approx(0.9044, abs=5e-5)
    assert t.loc[0.99, "edit_distance"] == pytest.approx(0.10)
    assert t.loc[0.5, "exact_match"] == pytest.approx(0.000977, abs=5e-7)
    assert t.loc[0.9, "neg_log_likelihood"] == pytest.approx(-10 * np.log(0.9))


def test_metric_choice_from_per_token_logprobs():
    # 7 models x 3 examples x 4 answer tokens; example e has token probabilities q_e (same in every model but scaled)
    rows = []
    for k, n in enumerate(np.logspace(8, 11, 7)):
        for e, q in enumerate(([0.9, 0.8, 0.7, 0.6], [0.5, 0.5, 0.5, 0.5], [0.99, 0.9, 0.99, 0.9])):
            for tok, prob in enumerate(q):
                rows.append({"params": n, "example": f"ex{e}", "logprob": np.log(prob ** (1 / (k + 1)))})
    mc = metric_choice(pd.DataFrame(rows), logprob_column="logprob", bootstrap=0)
    first = mc.table.iloc[0]  # the smallest model: probabilities as listed
    assert first["exact_match"] == pytest.approx(np.mean([0.9 * 0.8 * 0.7 * 0.6, 0.5 ** 4, 0.99 * 0.9 * 0.99 * 0.9]))
    assert first["p_token"] == pytest.approx(np.mean([0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.5, 0.5, 0.99, 0.9, 0.99, 0.9]))
    assert first["edit_distance"] == pytest.approx(np.mean([1.0, 2.0, 0.22]))
    assert first["neg_log_likelihood"] == pytest.approx(-np.mean([np.log(0.3024), np.log(0.0625), np.log(0.793881)]))
    assert (first["length"], first["n_examples"]) == (4, 3)


def test_rise_width_of_a_line_and_a_step():
    t = np.linspace(0, 1, 11)
    assert rise_width(t, 2 * t) == pytest.approx(0.8)
    assert rise_width(t, (t > 0.5).astype(float)) == pytest.approx(0.08)  # within one spacing (0.1 of the range)


# ---- Schaeffer et al.: an apparent jump that is a metric artefact, and one that is not ------------------------
def test_exact_match_jump_is_flagged_as_metric_artefact():
    mc = metric_choice(pd.DataFrame({"params": N, "p_token": smooth_token_p(0)}), length=10, seed=0)
    assert mc.apparent_jump and mc.artefact
    assert mc.verdict.startswith("metric artefact")
    # exact match packs 80% of its rise into about half the window that per-token accuracy needs
    assert mc.widths["exact_match"] < 0.6 * mc.widths["p_token"]
    assert mc.tests["p_token"]["p_value"] > 0.05
    assert mc.tests["neg_log_likelihood"]["p_value"] > 0.05  # NLL is an exact power law here, up to noise


def test_a_genuine_break_survives_the_change_of_metric():
    mc = metric_choice(pd.DataFrame({"params": N, "p_token": broken_token_p(0)}), length=10, seed=0)
    assert mc.apparent_jump and not mc.artefact
    assert "survives" in mc.verdict
    test = mc.tests["p_token"]
    assert test["p_value"] < 0.01 and test["break_kind"] == "flat then linear"
    assert abs(np.log10(test["break_at"]) - 9) < 0.25


def test_smooth_vs_break_level_and_power_over_40_seeds():
    # smooth per-token p: the test should reject rarely; Binomial(40, 0.05): P(X >= 7) = 0.003
    false = sum(smooth_vs_break(N, smooth_token_p(s), chance=None, ceiling=None, bootstrap=100, seed=s)["p_value"]
                < 0.05 for s in range(300, 340))
    hits = sum(smooth_vs_break(N, broken_token_p(s), chance=None, ceiling=None, bootstrap=100, seed=s)["p_value"]
               < 0.05 for s in range(300, 340))
    assert false <= 6 and hits >= 38


def test_smooth_vs_break_statistic_is_the_likelihood_ratio():
    res = smooth_vs_break(N, broken_token_p(1), chance=None, ceiling=None, bootstrap=50, seed=3)
    assert res["statistic"] == pytest.approx(res["n"] * np.log(res["rss_smooth"] / res["rss_break"]))
    assert (res["params_smooth"], res["params_break"], res["n"]) == (4, 3, 12)
    assert "chi-square asymptotics are invalid" in res["note"]
    assert res == smooth_vs_break(N, broken_token_p(1), chance=None, ceiling=None, bootstrap=50, seed=3)
    assert res["p_value"] * 51 == pytest.approx(round(res["p_value"] * 51))  # (1 + count) / (B + 1)


def test_smooth_vs_break_linear_and_power_smooth_models():
    rng = np.random.default_rng(0)
    t = np.log10(N)
    line = 0.3 + 0.1 * t + rng.normal(0, 0.01, N.size)
    assert smooth_vs_break(N, line, smooth="linear", seed=0)["p_value"] > 0.05
    hinge = 0.3 + 0.2 * np.maximum(t - 9.5, 0) + rng.normal(0, 0.01, N.size)
    res = smooth_vs_break(N, hinge, smooth="linear", seed=0)
    assert res["p_value"] < 0.01 and abs(np.log10(res["break_at"]) - 9.5) < 0.2
    power = 5 * (N / 1e7) ** -0.3 * np.exp(rng.normal(0, 0.01, N.size))
    res = smooth_vs_break(N, power, smooth="power", seed=0)
    assert res["p_value"] > 0.05 and res["scale"] == "ln y"


@pytest.mark.parametrize("kw, err, msg", [
    ({"x": N[:6], "y": np.linspace(0.1, 0.9, 6)}, FitError, "need at least 7 points"),
    ({"x": N, "y": np.linspace(0.1, 1.9, 12)}, ScalingLabError, "sigmoid model needs y in"),
    ({"x": N, "y": np.linspace(-1, 1, 12), "smooth": "power"}, ScalingLabError, "must be > 0"),
    ({"x": -N, "y": np.linspace(0.1, 0.9, 12)}, ScalingLabError, "point 1: x must be finite and > 0"),
    ({"x": N, "y": np.linspace(0.1, 0.9, 12), "smooth": "cubic"}, ScalingLabError, "unknown smooth model"),
])
def test_smooth_vs_break_bad_input(kw, err, msg):
    x, y = kw.pop("x"), kw.pop("y")
    with pytest.raises(err, match=msg):
        smooth_vs_break(x, y, chance=None, ceiling=None, **kw)


def test_metric_choice_bad_input():
    df = pd.DataFrame({"params": N, "p_token": smooth_token_p(0)})
    with pytest.raises(ScalingLabError, match="answer length"):
        metric_choice(df)
    with pytest.raises(FitError, match="6 models"):
        metric_choice(df.head(6), length=10)
    bad = pd.DataFrame({"params": N, "example": "a", "logprob": np.linspace(-2, 0.5, 12)})
    with pytest.raises(ScalingLabError, match=r"row 10, column 'logprob': a log-probability must be <= 0, got 0.04"):
        metric_choice(bad, logprob_column="logprob")


# ---- the emergence summary -------------------------------------------------------------------------------------
def test_emergence_summary_keys_and_truth():
    rng = np.random.default_rng(0)
    C = np.logspace(19, 25, 25)
    acc = 0.25 + 0.75 / (1 + np.exp(-2 * (np.log10(C) - 22)))
    d = emergence(pd.DataFrame({"flops": C, "accuracy": rng.binomial(500, acc) / 500}), chance=0.25, seed=0)
    assert d["ci"]["midpoint"][0] <= 22 <= d["ci"]["midpoint"][1]
    assert d["midpoint_flops"] == pytest.approx(10 ** d["midpoint"])
    assert set(d["smooth_vs_break"]) >= {"statistic", "p_value", "method", "break_at"}
    assert d["smooth_vs_break"]["p_value"] > 0.05 and d["verdict"].startswith("a smooth sigmoid")


def test_emergence_on_observational_scaling_data(shared_data):
    """Ruan et al. 2024 benchmark table: MMLU of 123 base models with known FLOPs (values measured here)."""
    path = shared_data / "obsscaling" / "base_llm_benchmark_eval.csv"
    d = emergence(path, "MMLU", chance=0.25, columns={"flops": "FLOPs (1E21)"}, x_scale=1e21, seed=0)
    assert d["n_points"] == 123  # 148 models, 25 without FLOPs dropped with a note
    assert any("dropped 25 row(s)" in n for n in d["notes"])
    # MMLU reaches halfway from chance to 100% near 6e23 FLOPs, over ~3 decades
    assert 23.5 < d["midpoint"] < 24.0 and 1.2 < d["slope"] < 1.6
    assert d["ci"]["midpoint"][0] < d["midpoint"] < d["ci"]["midpoint"][1]
    assert d["smooth_vs_break"]["p_value"] > 0.05  # measured 0.14: MMLU rises smoothly with log compute


def test_emergence_on_big_bench_emergent_task(shared_data):
    """Word unscrambling (BIG-bench, 2-shot exact match), an 'emergent' task: a break fits better."""
    base = pd.read_csv(shared_data / "obsscaling" / "base_llm_benchmark_eval.csv")
    tasks = pd.read_csv(shared_data / "obsscaling" / "base_llm_emergent_capability_eval.csv")
    df = tasks.merge(base[["Model", "FLOPs (1E21)"]], on="Model", how="left")
    df["flops"] = df["FLOPs (1E21)"] * 1e21
    d = emergence(df[["flops", "word_unscrambling_2_exact_match"]], "word_unscrambling_2_exact_match",
                  chance=0.0, seed=0)
    assert d["n_points"] == 73
    assert 24.0 < d["midpoint"] < 24.4  # measured 24.18 (1.5e24 FLOPs)
    test = d["smooth_vs_break"]
    assert test["p_value"] < 0.01 and test["break_kind"] == "flat then linear"
    assert 22 < np.log10(test["break_at"]) < 23.5  # measured 4.6e22 FLOPs
