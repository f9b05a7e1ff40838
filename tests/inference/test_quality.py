"""Inference quality: pass@k, results tables, coverage law, best temperature, exact match
(references.md E1, E2, E4)."""

import json
from fractions import Fraction
from math import comb

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import nnls

from conftest import run_cli  # the shared in-process CLI runner in tests/conftest.py
from scalinglab.errors import ScalingLabError
from scalinglab.inference import quality as q


def assert_one_line_error(code, err):
    assert code == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# ---- pass@k -----------------------------------------------------------------------------------------

# references.md E1 reference checks [R, exact = closed form]
@pytest.mark.parametrize("n, c, k, expected", [(10, 2, 1, 0.2), (10, 2, 5, 0.777778), (200, 10, 1, 0.05),
                                               (200, 10, 10, 0.408548), (200, 10, 100, 0.999229),
                                               (5, 0, 1, 0.0), (5, 5, 3, 1.0), (100, 3, 50, 0.878788)])
def test_pass_at_k_reference_values(n, c, k, expected):
    assert q.pass_at_k(n, c, k) == pytest.approx(expected, abs=5e-7)


def test_pass_at_k_matches_exact_combinatorics_and_is_vectorised():
    rng = np.random.default_rng(7)
    n = rng.integers(1, 60, 300)
    c = rng.integers(0, n + 1)
    k = 3
    n, c = np.maximum(n, k), np.minimum(c, np.maximum(n, k))
    got = q.pass_at_k(n, c, k)
    exact = [float(1 - Fraction(comb(int(a - b), k), comb(int(a), k))) for a, b in zip(n, c)]
    assert isinstance(got, np.ndarray) and got.shape == (300,)
    np.testing.assert_allclose(got, exact, atol=1e-12)
    for _ in range(200):  # random small cases over k too
        nn = int(rng.integers(1, 40)); cc = int(rng.integers(0, nn + 1)); kk = int(rng.integers(1, nn + 1))
        assert q.pass_at_k(nn, cc, kk) == pytest.approx(1 - comb(nn - cc, kk) / comb(nn, kk), abs=1e-12)


def test_pass_at_k_large_n_is_stable():
    # n = 10,000 samples: the product form stays within [0, 1] and matches the exact ratio
    exact = float(1 - Fraction(comb(9_990, 1_000), comb(10_000, 1_000)))
    assert q.pass_at_k(10_000, 10, 1_000) == pytest.approx(exact, rel=1e-10)
    assert q.pass_at_k(10_000, 0, 1_000) == 0.0


@pytest.mark.parametrize("args, match", [((3, 4, 1, ["p7"]), "problem 'p7': c=4 correct exceeds n=3"),
                                         ((5, 1, 6, ["p2"]), "problem 'p2': k=6 exceeds its n=5"),
                                         ((5, -1, 1, None), "c \\(correct samples\\) must be a whole number >= 0"),
                                         ((0, 0, 1, None), "n \\(samples\\) must be a whole number >= 1"),
                                         ((5, 1, 0, None), "k must be a whole number >= 1"),
                                         ((5, 1.5, 1, None), "whole number")])
def test_pass_at_k_bad_input(args, match):
    n, c, k, names = args
    with pytest.raises(ScalingLabError, match=match):
        q.pass_at_k([n] if names else n, [c] if names else c, k, names)


# ---- results tables ---------------------------------------------------------------------------------

def test_counts_and_per_sample_layouts_agree(tmp_path):
    counts = pd.DataFrame({"problem": ["a", "b", "a"], "n": [6, 4, 4], "correct": [1, 0, 2]})
    per_sample = pd.DataFrame({"problem": ["a"] * 10 + ["b"] * 4,
                               "correct": [True, False, "1", 0, 0, 0, 1, 0, 0, 0, 0, 0, "false", 0]})
    path = tmp_path / "samples.jsonl"
    per_sample.astype(str).to_json(path, orient="records", lines=True)
    r1, r2 = q.load_results(counts), q.load_results(path)
    assert (r1.layout, r2.layout) == ("counts", "per_sample")
    assert r1.problems == r2.problems == ("a", "b")  # repeated problem rows are summed
    assert r1.n.tolist() == r2.n.tolist() == [10, 4] and r1.correct.tolist() == r2.correct.tolist() == [3, 0]
    # pass@1 = mean(3/10, 0/4)
    assert r1.mean_pass_at_k([1]) == {1: pytest.approx(0.15)}


@pytest.mark.parametrize("frame, match", [
    (pd.DataFrame({"problem": ["a"], "n": [3], "correct": [4]}), "row 1, column 'correct': 4 correct exceeds n = 3"),
    (pd.DataFrame({"problem": ["a", "b"], "n": [3, -2], "correct": [1, 0]}), "row 2, column 'n'"),
    (pd.DataFrame({"problem": ["a", "b"], "correct": [1, 2]}), "row 2, column 'correct': per-sample"),
    (pd.DataFrame({"task": ["a"], "n": [3], "correct": [1]}), "missing column 'problem'"),
    (pd.DataFrame({"problem": ["a", None], "n": [3, 3], "correct": [1, 1]}), "row 2, column 'problem'"),
    (pd.DataFrame({"temperature": [0.2], "problem": ["a"], "n": [3], "correct": [1]}), "temperature"),
])
def test_results_table_errors_name_row_and_column(frame, match):
    with pytest.raises(ScalingLabError, match=match):
        q.load_results(frame)


# ---- coverage (Brown et al. 2024) ---------------------------------------------------------------------

def test_coverage_law_reference_values():
    # references.md E2 illustrative check [R]: a = -2, b = -0.3
    got = q.coverage_law(np.array([1, 10, 100, 1000]), -2.0, -0.3)
    np.testing.assert_allclose(got, [0.1353, 0.3670, 0.6051, 0.7774], atol=5e-5)
    # inverse: the samples for c(100) give back 100
    assert q.samples_for_coverage(-2.0, -0.3, float(q.coverage_law(100, -2.0, -0.3))) == pytest.approx(100)


def _monkeys_results(a=-2.0, b=-0.3, problems=2000, n=10_000, seed=0) -> q.ProblemResults:
    """Per-problem success probabilities whose mean 1-(1-p)^k is exp(a k^b), then binomial counts."""
    p_grid = np.logspace(-5, 0, 60)
    ks = np.unique(np.round(np.logspace(0, 4, 50)))
    design = np.vstack([1 - (1 - p_grid[None, :]) ** ks[:, None], 100 * np.ones(p_grid.size)])
    weights, _ = nnls(design, np.append(np.exp(a * ks ** b), 100.0))
    p = np.repeat(p_grid, np.round(weights / weights.sum() * problems).astype(int))
    correct = np.random.default_rng(seed).binomial(n, p)
    return q.ProblemResults(tuple(f"q{i}" for i in range(p.size)), np.full(p.size, n), correct, "counts")


def test_coverage_fit_recovers_simulated_law_and_samples_for_target():
    res = _monkeys_results()
    fit = q.fit_coverage(res, ks=[2 ** i for i in range(12)], bootstrap=200, seed=0)
    assert fit.a == pytest.approx(-2.0, rel=0.03) and fit.b == pytest.approx(-0.3, abs=0.01)
    a_lo, a_hi = fit.interval(fit.draws[:, 0])
    b_lo, b_hi = fit.interval(fit.draws[:, 1])
    assert a_lo < -2.0 < a_hi and b_lo < -0.3 < b_hi
    # true law: k for 90% coverage = (log 0.9 / -2)^(1/-0.3) = 18,246 samples, beyond the data (k <= 2048)
    s = fit.samples_for(0.9)
    assert s.samples == pytest.approx(18_246, rel=0.1) and s.low < 18_246 < s.high
    assert not s.within_data and "extrapolated" in s.note
    low = fit.samples_for(0.1)  # below c(1) = 0.135
    assert low.samples == 1.0 and "single sample" in low.note
    with pytest.raises(ScalingLabError, match="target coverage must be in \\(0, 1\\)"):
        fit.samples_for(1.0)


def test_coverage_fit_edge_cases():
    solved = q.load_results(pd.DataFrame({"problem": ["a", "b"], "n": [8, 8], "correct": [8, 8]}))
    with pytest.raises(ScalingLabError, match="at least 2 values of k with 0 < coverage < 1"):
        q.fit_coverage(solved)  # coverage 1 at every k: nothing to fit in log(-log c)
    flat = q.load_results(pd.DataFrame({"problem": ["a", "b"], "n": [8, 8], "correct": [8, 0]}))
    fit = q.fit_coverage(flat)  # coverage 0.5 at every k: b = 0, a = log 0.5
    assert fit.b == pytest.approx(0.0, abs=1e-9) and fit.a == pytest.approx(np.log(0.5))
    never = fit.samples_for(0.9)
    assert never.samples == float("inf") and "does not rise" in never.note
    res = q.load_results(pd.DataFrame({"problem": ["a", "b", "c"], "n": [8, 8, 8], "correct": [8, 1, 0]}))
    fit = q.fit_coverage(res, ks=[1, 2, 4, 8])
    assert fit.b < 0 and all(fit.used)
    reached = fit.samples_for(0.5)  # observed coverage at k = 8 is 2/3
    assert reached.within_data and "already reached" in reached.note


# ---- best temperature ---------------------------------------------------------------------------------

def test_best_temperature_rises_with_k():
    # references.md E1 [M, Codex Fig. 5]: T* is low for pass@1, higher for large k. Low T: one easy problem solved
    # often, the hard one never; high T: both solved sometimes -> better coverage at large k.
    df = pd.DataFrame({"temperature": [0.2, 0.2, 0.8, 0.8], "problem": ["easy", "hard"] * 2,
                       "n": [100] * 4, "correct": [60, 0, 30, 5]})
    choice = q.best_temperature(df, ks=[1, 100])
    assert choice.best == {1: 0.2, 100: 0.8}
    assert choice.best_pass_at_k[1] == pytest.approx(0.30) and choice.best_pass_at_k[100] == pytest.approx(1.0)
    assert choice.by_temperature[0.2][100] == pytest.approx(0.5)
    with pytest.raises(ScalingLabError, match="temperature 0.8.*problem 'hard': k=101 exceeds its n=100"):
        q.best_temperature(df.assign(n=[101, 101, 101, 100]), ks=[101])


# ---- exact match vs per-token metrics (Schaeffer et al. 2023) -------------------------------------------

def test_exact_match_and_edit_distance_reference_values():
    # references.md E4 [R]: p = 0.9: EM(5) 0.5905, EM(10) 0.3487, EM(30) 0.0424, edit distance(10) 1.0;
    # p = 0.99: 0.9510, 0.9044, 0.7397, 0.10; p = 0.5: EM(5) 0.03125, EM(10) 0.000977
    for p, ems in ((0.9, (0.5905, 0.3487, 0.0424)), (0.99, (0.9510, 0.9044, 0.7397))):
        for length, em in zip((5, 10, 30), ems):
            assert q.exact_match_curve(p, length) == pytest.approx(em, abs=5e-5)
    assert q.token_edit_distance(0.9, 10) == pytest.approx(1.0)
    assert q.token_edit_distance(0.99, 10) == pytest.approx(0.10)
    np.testing.assert_allclose(q.exact_match_curve(np.array([0.5, 0.5]), 5), 0.03125)
    assert q.exact_match_curve(0.5, 10) == pytest.approx(0.000977, abs=5e-7)
    with pytest.raises(ScalingLabError, match="per_token_p"):
        q.exact_match_curve(1.2, 5)
    with pytest.raises(ScalingLabError, match="answer_length"):
        q.exact_match_curve(0.9, 0)


def test_metric_comparison_smooth_law_looks_sudden_under_exact_match():
    n = np.logspace(7, 12, 51)
    cmp = q.metric_comparison(n, lambda x: q.per_token_loss_power_law(x, 1e6, -0.3), answer_length=30)
    np.testing.assert_allclose(cmp.per_token_p, np.exp(-((n / 1e6) ** -0.3)))
    np.testing.assert_allclose(cmp.exact_match, cmp.per_token_p ** 30)
    np.testing.assert_allclose(cmp.edit_distance, 30 * (1 - cmp.per_token_p))
    # the jump: exact match rises from < 5% to > 50% while per-token accuracy moves by less than 0.2
    low, high = np.argmax(cmp.exact_match > 0.05), np.argmax(cmp.exact_match > 0.5)
    assert cmp.per_token_p[high] - cmp.per_token_p[low] < 0.2
    assert np.all(np.diff(cmp.exact_match) > 0) and np.all(np.diff(cmp.edit_distance) < 0)
    assert set(cmp.to_dict()) >= {"n_params", "exact_match", "edit_distance", "per_token_p"}
    with pytest.raises(ScalingLabError, match="alpha must be < 0"):
        q.per_token_loss_power_law(n, 1e6, 0.3)


# ---- CLI ------------------------------------------------------------------------------------------------

@pytest.fixture
def counts_csv(tmp_path):
    path = tmp_path / "results.csv"
    pd.DataFrame({"problem": ["p1", "p2", "p3"], "n": [200, 200, 200], "correct": [10, 0, 150]}).to_csv(path, index=False)
    return path


def test_cli_passk_json(counts_csv, monkeypatch, capsys):
    code, stdout, err = run_cli(["passk", counts_csv, "--k", "1,10,100", "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    assert set(d["pass_at_k"]) == {"1", "10", "100"} and d["n_problems"] == 3
    # mean of per-problem values (200, 10, 10) = 0.408548, (200, 0, 10) = 0, (200, 150, 10) ~ 1 (references.md E1)
    expected = (q.pass_at_k(200, 10, 10) + 0 + q.pass_at_k(200, 150, 10)) / 3
    assert d["pass_at_k"]["10"] == pytest.approx(expected)
    assert q.pass_at_k(200, 10, 10) == pytest.approx(0.408548, abs=5e-7)
    code, stdout, _ = run_cli(["passk", counts_csv], monkeypatch, capsys)
    assert code == 0 and "pass@k" in stdout


def test_cli_passk_with_temperature(tmp_path, monkeypatch, capsys):
    path = tmp_path / "temps.csv"
    pd.DataFrame({"temperature": [0.2, 0.2, 0.8, 0.8], "problem": ["e", "h", "e", "h"], "n": [100] * 4,
                  "correct": [60, 0, 30, 5]}).to_csv(path, index=False)
    code, stdout, err = run_cli(["passk", path, "--k", "1,100", "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    assert d["best_temperature"] == {"1": 0.2, "100": 0.8} and d["pass_at_k"]["100"] == pytest.approx(1.0)


@pytest.mark.parametrize("rows, args, match", [
    ({"problem": ["a"], "n": [5], "correct": [6]}, [], "row 1, column 'correct'"),  # c > n
    ({"problem": ["a", "b"], "n": [50, 5], "correct": [1, 1]}, ["--k", "10"], "problem 'b': k=10 exceeds"),
    ({"problem": ["a"], "samples": [5], "passed": [1]}, [], "missing column 'correct'"),
    ({"problem": ["a"], "n": [5], "correct": [1]}, ["--k", "0"], "--k expects whole numbers >= 1"),
])
def test_cli_passk_bad_input(tmp_path, monkeypatch, capsys, rows, args, match):
    path = tmp_path / "bad.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    code, _, err = run_cli(["passk", path, *args], monkeypatch, capsys)
    assert_one_line_error(code, err)
    assert match in err


def test_cli_coverage_json(tmp_path, monkeypatch, capsys):
    path = tmp_path / "monkeys.parquet"
    res = _monkeys_results(problems=500, n=2048)
    pd.DataFrame({"problem": res.problems, "n": res.n, "correct": res.correct}).to_parquet(path)
    code, stdout, err = run_cli(["coverage", path, "--target", "0.9", "--bootstrap", "50", "--json"],
                                monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    assert {"a", "b", "samples_for_target", "a_interval", "b_interval", "samples_for_target_interval",
            "coverage"} <= set(d)
    assert d["a"] == pytest.approx(-2.0, rel=0.1) and d["b"] == pytest.approx(-0.3, abs=0.03)
    assert d["samples_for_target"] == pytest.approx(18_246, rel=0.3)  # true law's answer, references.md E2 form
    code, stdout, _ = run_cli(["coverage", path, "--target", "0.5"], monkeypatch, capsys)
    assert code == 0 and "samples per problem" in stdout


@pytest.mark.parametrize("args, match", [(["--target", "1.0"], "target coverage must be in (0, 1)"),
                                         (["--target", "0.9", "--k", "1,500"], "k=500 exceeds"),
                                         (["--target", "0.9", "--bootstrap", "-1"], "bootstrap must be a whole number >= 0")])
def test_cli_coverage_bad_input(counts_csv, monkeypatch, capsys, args, match):
    code, _, err = run_cli(["coverage", counts_csv, *args], monkeypatch, capsys)
    assert_one_line_error(code, err)
    assert match in err


def test_cli_coverage_missing_column(tmp_path, monkeypatch, capsys):
    path = tmp_path / "nocorrect.csv"
    pd.DataFrame({"problem": ["a"], "n": [5]}).to_csv(path, index=False)
    code, _, err = run_cli(["coverage", path, "--target", "0.9"], monkeypatch, capsys)
    assert_one_line_error(code, err)
    assert "missing column 'correct'" in err


# ---- review fixes: huge n, non-finite --k, unreachable bootstrap resamples, plain values ----------------

def test_pass_at_k_huge_n_uses_only_min_c_k_terms():
    import time
    from math import fsum, log1p

    start = time.perf_counter()
    got = q.pass_at_k(10**11, 5, 10)                       # a range up to n would need ~800 GB
    assert time.perf_counter() - start < 0.5
    exact = Fraction(1)
    for i in range(10**11 - 4, 10**11 + 1):
        exact *= Fraction(i - 10, i)
    assert got == pytest.approx(float(1 - exact), rel=1e-9)   # ~5e-10
    # min(c, k) above EXACT_TERMS: log-gamma branch against an fsum of the k-term mirror product
    n, c, k = 10**9, 10**5, 10**4
    reference = -np.expm1(fsum(log1p(-c / (n - j)) for j in range(k)))
    assert q.pass_at_k(n, c, k) == pytest.approx(reference, rel=1e-9)
    # both branches agree across the threshold; vectorised over problems of very different sizes
    m = q.EXACT_TERMS
    assert q.pass_at_k(10**7, m + 1, m + 1) == pytest.approx(-np.expm1(fsum(log1p(-(m + 1) / (10**7 - j))
                                                                            for j in range(m + 1))), rel=1e-9)
    many = q.pass_at_k([10, 10**11, 200], [2, 5, 10], 5)
    assert many.tolist() == pytest.approx([0.777778, q.pass_at_k(10**11, 5, 5), q.pass_at_k(200, 10, 5)], abs=1e-6)


def test_table_errors_print_plain_values():
    frame = pd.DataFrame({"problem": ["a", "b"], "n": [3, np.nan], "correct": [1, 0]})
    with pytest.raises(ScalingLabError, match=r"row 2, column 'n': must be a whole number >= 1, got nan$"):
        q.load_results(frame)
    with pytest.raises(ScalingLabError, match=r"got nan$"):
        q.pass_at_k(np.float64("nan"), 0, 1)


@pytest.mark.parametrize("command", [["passk"], ["coverage", "--target", "0.9"]])
@pytest.mark.parametrize("k", ["nan", "inf", "-inf", "1,nan"])
def test_cli_non_finite_k(counts_csv, monkeypatch, capsys, command, k):
    code, _, err = run_cli([command[0], counts_csv, *command[1:], "--k", k], monkeypatch, capsys)
    assert_one_line_error(code, err)
    assert "--k expects whole numbers >= 1" in err


def test_coverage_bootstrap_counts_unsolved_resamples_as_unbounded(tmp_path, monkeypatch, capsys):
    # one problem of 40 is ever solved: a resample that misses it (probability (39/40)^40 = 36%) has zero
    # coverage at every k and needs infinitely many samples; it must not be dropped from the interval
    path = tmp_path / "hard.csv"
    pd.DataFrame({"problem": [f"p{i}" for i in range(40)], "n": [100] * 40,
                  "correct": [3] + [0] * 39}).to_csv(path, index=False)
    rng = np.random.default_rng(0)
    missing = sum(0 not in rng.integers(0, 40, 40) for _ in range(200))   # same seeded draws as fit_coverage
    fit = q.fit_coverage(path, bootstrap=200, seed=0)
    assert fit.unreachable == missing and 50 < missing < 95
    assert fit.samples_for(0.02).high == np.inf
    code, stdout, err = run_cli(["coverage", path, "--target", "0.02", "--json"], monkeypatch, capsys)  # default 200
    assert code == 0, err
    d = json.loads(stdout)
    assert d["bootstrap"] == 200 and d["samples_for_target_interval"][1] is None
    assert any("unbounded" in n for n in d["notes"]) and any(f"{missing} of 200" in n for n in d["notes"])
    code, stdout, _ = run_cli(["coverage", path, "--target", "0.02"], monkeypatch, capsys)
    assert code == 0 and ".. unbounded)" in " ".join(stdout.split())
