"""Per-group fits on Porian et al. 2024 (arXiv:2406.19146) reproduce their ordering of exponents.

Data: /work/shared/data/porian2024 (15 experimental settings, column ``label``). Published exponents:
published_fits.csv, ``a_table_bs_median_weighted`` (a in N_opt ∝ C^a, their results table) and
``basic_alpha`` (their saturating fit L*(C) = E + A C^-alpha of the per-budget optimal losses).
Thresholds below are set under the values we measured (given in each comment).
"""

import itertools

import pandas as pd
import pytest
from scipy import stats

from scalinglab.analysis import fit_groups, optimal_exponents

POINT_COLUMNS = {"params": "n_params", "budget": "flops_budget"}
# the paper's narrative order within each family of settings: a falls at every step
NARRATIVES = [
    ["Reproducing Kaplan et al.", "Counting last layer FLOPs", "Correcting warmup", "Cosine decay",
     "Optimizer tuning (no decay)"],
    ["Counting last layer and attention FLOPs", "Correcting warmup (attention FLOPs)",
     "Cosine decay (attention FLOPs)", "Optimizer tuning (no decay) (attention FLOPs)"],
    ["Reproducing Kaplan et al. [OWT2]", "Counting last layer FLOPs [OWT2]", "Correcting warmup [OWT2]",
     "Cosine decay [OWT2]", "Optimizer tuning (no decay) [OWT2]"],
]


@pytest.fixture
def porian(shared_data):
    folder = shared_data / "porian2024"
    if not (folder / "isoflop_points.csv").exists():
        pytest.skip(f"shared data not present: {folder}")
    published = pd.read_csv(folder / "published_fits.csv").set_index("label")
    assert len(published) == 15
    return folder, published


def test_compute_optimal_exponent_ordering(porian):
    folder, published = porian
    points = pd.read_csv(folder / "isoflop_points.csv")
    # approach 2's default on these exact budgets is Akima, Porian et al.'s own procedure (references.md D5)
    table = optimal_exponents(points, by="label", approach=2, columns=POINT_COLUMNS).set_index("group")
    assert len(table) == 15 and (table["error"] == "").all()
    ours, theirs = table["a"], published["a_table_bs_median_weighted"].reindex(table.index)
    low, high = (published[c].reindex(table.index) for c in ("a_ci95_low", "a_ci95_high"))
    assert ((ours >= low) & (ours <= high)).all()  # every setting inside the authors' 95% interval
    assert stats.spearmanr(ours, theirs).statistic >= 0.95  # measured 0.968 (the OWT2 values lie close together)
    assert stats.kendalltau(ours, theirs).statistic >= 0.85  # measured 0.886
    assert (ours - theirs).abs().max() < 0.025  # measured 0.020 (Counting last layer FLOPs [OWT2])
    for sequence in NARRATIVES:
        a = list(ours[sequence])
        assert all(x > y for x, y in itertools.pairwise(a)), (sequence, a)


def test_loss_exponent_ordering_of_optimal_losses(porian):
    folder, published = porian
    optima = pd.read_csv(folder / "compute_optimal_pairs.csv").dropna(subset=["loss_star"])
    res = fit_groups(optima, "power_floor:flops", by="label", bootstrap=0,
                     columns={"flops": "flops_budget", "loss": "loss_star"})
    alpha = pd.Series({g: r.params["alpha"] for g, r in res.results.items()})
    theirs = published["basic_alpha"].reindex(alpha.index)
    assert stats.spearmanr(alpha, theirs).statistic >= 0.75  # measured 0.825
    # one shared loss exponent for all 15 settings is firmly rejected (measured F = 39.9, p = 7e-40)
    assert res.exponent_test["p_value"] < 1e-20 and res.exponent_test["df"] == [14, 128]


def test_chinchilla_per_setting_ordering(porian):
    folder, published = porian
    points = pd.read_csv(folder / "isoflop_points.csv")
    res = fit_groups(points, "chinchilla", by="label", bootstrap=0, columns=POINT_COLUMNS)
    a = pd.Series({g: r.derived["a"] for g, r in res.results.items()})
    # approach 3 (a parametric fit per setting) follows the ordering less closely than approach 2 (measured 0.782)
    assert stats.spearmanr(a, published["a_table_bs_median_weighted"].reindex(a.index)).statistic >= 0.7
    assert res.exponent_test["p_value"] < 1e-20
