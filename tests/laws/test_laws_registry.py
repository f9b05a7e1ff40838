"""get_family: names, name:options strings, spec dicts, instances, and the errors."""

from __future__ import annotations

import pytest
from lawcases import custom_power_floor

from scalinglab.errors import ScalingLabError
from scalinglab.laws import (
    FAMILIES,
    BrokenPowerLaw,
    Chinchilla,
    KaplanND,
    KaplanNS,
    Power,
    PowerFloor,
    get_family,
    list_families,
)

KNOWN = ("chinchilla", "power", "power_floor", "kaplan_nd", "kaplan_ns", "bnsl", "muennighoff", "overtrain",
         "downstream_error", "lr_schedule", "multi_power")


def test_registry_names_match_classes():
    assert tuple(FAMILIES) == KNOWN
    for name, cls in FAMILIES.items():
        assert cls.name == name


@pytest.mark.parametrize("text,cls,opts", [
    ("chinchilla", Chinchilla, {}),
    ("power", Power, {"x": "params"}),
    ("power:tokens", Power, {"x": "tokens"}),
    ("power_floor:flops", PowerFloor, {"x": "flops"}),
    (" Power_Floor : tokens ", PowerFloor, {"x": "tokens"}),
    ("kaplan_nd", KaplanND, {}),
    ("kaplan_ns", KaplanNS, {}),
    ("bnsl", BrokenPowerLaw, {"x": "params", "n_breaks": 1}),
    ("bnsl:flops", BrokenPowerLaw, {"x": "flops", "n_breaks": 1}),
    ("bnsl:flops:2", BrokenPowerLaw, {"x": "flops", "n_breaks": 2}),
])
def test_names_and_options(text, cls, opts):
    law = get_family(text)
    assert type(law) is cls and law.options() == opts


def test_spec_dict_and_instance():
    law = get_family({"family": "bnsl", "x": "tokens", "n_breaks": 3})
    assert isinstance(law, BrokenPowerLaw) and law.n_params == 12 and law.variables == ("tokens",)
    inst = PowerFloor("flops")
    assert get_family(inst) is inst
    assert get_family(inst.spec()).label == "power_floor(flops)"


def test_unknown_name_lists_known_names():
    with pytest.raises(ScalingLabError) as err:
        get_family("chinchila")
    for name in KNOWN:
        assert name in str(err.value)
    with pytest.raises(ScalingLabError, match="kaplan_ns"):
        get_family({"family": "nope"})


@pytest.mark.parametrize("bad", [
    "chinchilla:tokens",      # no options
    "power:flops:2",          # too many options
    "power:steps",            # x must be params/tokens/flops
    "bnsl:flops:two",         # n_breaks must be an integer
    "bnsl:flops:0",           # at least one break
    "",
    {"x": "flops"},           # no family
    {"family": "power", "n_breaks": 2},   # option the family does not take
    42,
])
def test_bad_specs_raise_scalinglab_error(bad):
    with pytest.raises(ScalingLabError):
        get_family(bad)


def test_constructor_validation():
    with pytest.raises(ScalingLabError, match="params, tokens, flops"):
        Power("step")
    with pytest.raises(ScalingLabError):
        PowerFloor("N")
    with pytest.raises(ScalingLabError):
        BrokenPowerLaw("params", 1.5)
    with pytest.raises(ScalingLabError):
        BrokenPowerLaw("params", True)


def test_custom_spec_cannot_be_rebuilt():
    law = custom_power_floor()
    spec = law.spec()
    assert spec["family"] == "my_power_floor" and spec["custom"] is True
    with pytest.raises(ScalingLabError, match="pass the same CustomLaw object"):
        get_family(spec)


def test_list_families():
    rows = list_families()
    assert [r["name"] for r in rows] == list(KNOWN)
    for r in rows:
        assert r["formula"] and r["citation"] and r["params"] and r["variables"]
