"""Published constants reproduce the reference numbers of references.md B2, D3."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.laws import Chinchilla
from scalinglab.laws.published import REGISTRY, PublishedLaw, get_published, list_published
from scalinglab.units import PF_DAY_FLOPS

CHECKS = [  # key, inputs, value from docs/references.md
    ("hoffmann2022", {"params": 70e9, "tokens": 1.4e12}, 1.9366),
    ("besiroglu2024", {"params": 70e9, "tokens": 1.4e12}, 1.9739),
    ("kaplan2020-n", {"params": 1e9}, 2.3756),
    ("kaplan2020-d", {"tokens": 1e10}, 2.2624),
    ("kaplan2020-c", {"flops": 8.64e19}, 2.6581),
    ("kaplan2020-nd", {"params": 1e9, "tokens": 1e10}, 2.4197),
    ("kaplan2020", {"params": 1e9, "tokens": 1e10}, 2.4197),
    ("kaplan2020-ns", {"params": 1e9, "step": 1e5}, 2.4005),
]


@pytest.mark.parametrize("key,X,expected", CHECKS, ids=[c[0] for c in CHECKS])
def test_reference_values(key, X, expected):
    assert float(get_published(key).predict(**X)) == pytest.approx(expected, abs=5e-4)


def test_hoffmann_unrounded_is_close_to_rounded():
    X = {"params": 70e9, "tokens": 1.4e12}
    rounded = float(get_published("hoffmann2022").predict(**X))
    unrounded = float(get_published("hoffmann2022-unrounded").predict(**X))
    hand = math.exp(0.5267228) + math.exp(6.0073404) / 70e9**0.33917084 + math.exp(6.0179186) / 1.4e12**0.2849083
    assert unrounded == pytest.approx(hand, rel=1e-12)
    assert unrounded == pytest.approx(1.9208, abs=5e-4)
    # The exponents differ in the second decimal, so the two differ by 0.016 at 70B / 1.4T.
    assert abs(unrounded - rounded) < 0.02


def test_kaplan_compute_constant_uses_pf_days():
    law = get_published("kaplan2020-c")
    assert PF_DAY_FLOPS == 8.64e19
    assert law.params["A"] == pytest.approx((3.1e8 * 8.64e19) ** 0.05, rel=1e-12)
    assert "PF-day" in law.notes
    assert float(law.predict(flops=3.1e8 * PF_DAY_FLOPS)) == pytest.approx(1.0, rel=1e-12)


def test_kaplan_naive_compute_law():
    # Kaplan et al. 2020 eq. 3.3 and Table 5 (references.md B2): the naive fit to the fixed-batch runs,
    # L(C) = (C_c / C)^alpha_C with alpha_C = 0.057, C_c = 1.6e7 PF-days (1 PF-day = 8.64e19 FLOPs).
    naive, c_min_law = get_published("kaplan2020-c-naive"), get_published("kaplan2020-c")
    assert naive.params["alpha"] == 0.057
    assert float(naive.predict(flops=8.64e19)) == pytest.approx((1.6e7 / 1.0) ** 0.057, rel=1e-12)  # 2.574156
    assert float(naive.predict(flops=8.64e19)) == pytest.approx(2.574156, abs=1e-6)
    assert float(naive.predict(flops=1e21)) == pytest.approx((1.6e7 * 8.64e19 / 1e21) ** 0.057, rel=1e-12)  # 2.2388
    # at the same number the two laws differ (eq. 1.3: L(C_min = 1 PF-day) = 2.6581)
    assert float(c_min_law.predict(flops=8.64e19)) - float(naive.predict(flops=8.64e19)) == pytest.approx(0.0839,
                                                                                                          abs=1e-4)
    # its data range: no run above 6 N B S = 6 * 1.5e9 * 2^19 * 2.5e5 FLOPs (sec. 2.2 and 3)
    assert naive.data_range["flops"] == (None, pytest.approx(1.179648e21, rel=1e-12))
    assert "2.5e5" in naive.data_range_source and "eq. 3.3" in naive.citation


def test_kaplan_amplitudes_are_critical_scales():
    assert get_published("kaplan2020-n").params["A"] == pytest.approx(8.8e13**0.076, rel=1e-12)
    assert float(get_published("kaplan2020-d").predict(tokens=5.4e13)) == pytest.approx(1.0, rel=1e-12)


def test_alias_and_registry():
    assert get_published("kaplan2020") is get_published("kaplan2020-nd")
    assert set(REGISTRY) == {"hoffmann2022", "hoffmann2022-unrounded", "besiroglu2024", "kaplan2020-n",
                             "kaplan2020-d", "kaplan2020-c", "kaplan2020-c-naive", "kaplan2020-nd", "kaplan2020-ns",
                             "kaplan2020",
                             "muennighoff2023"}
    for key, law in REGISTRY.items():
        assert set(law.params) == set(law.family.param_names)
        assert law.citation and law.units


def test_unknown_key_lists_known_keys():
    with pytest.raises(ScalingLabError) as err:
        get_published("chinchilla2099")
    assert "hoffmann2022" in str(err.value) and "kaplan2020-ns" in str(err.value)


def test_list_and_describe():
    rows = list_published()
    assert len(rows) == 10
    nd = next(r for r in rows if r["key"] == "kaplan2020-nd")
    assert nd["aliases"] == ["kaplan2020"] and nd["family"] == "kaplan_nd"
    assert nd["spec"] == {"family": "kaplan_nd"}


def test_params_must_match_family():
    with pytest.raises(ScalingLabError):
        PublishedLaw(key="bad", family=Chinchilla(), params={"E": 1.0}, citation="x", units="y")


def test_predict_vectorised():
    out = get_published("hoffmann2022").predict(params=np.array([1e9, 7e10]), tokens=np.array([2e10, 1.4e12]))
    assert out.shape == (2,) and out[0] > out[1]


def test_scalar_inputs_give_a_scalar():
    out = get_published("kaplan2020-nd").predict(params=1e9, tokens=1e10)
    assert np.shape(out) == ()
