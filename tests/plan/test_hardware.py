"""Hardware catalogue, training time/cost/energy and MFU: checks against published numbers (references.md A4-A6)."""

import json
import math

import numpy as np
import pytest

from conftest import run_cli  # the shared in-process CLI runner in tests/conftest.py
from scalinglab.errors import ScalingLabError
from scalinglab.plan import hardware as hw


def assert_one_line_error(code, err):
    assert code == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# ---- catalogue ------------------------------------------------------------------------------------

def test_catalogue_has_required_devices_with_sources():
    for key in ("v100", "a100-40gb", "a100-80gb", "h100-sxm", "h100-pcie", "h200", "b200", "mi300x",
                "tpu-v4", "tpu-v5e", "tpu-v5p", "tpu-v6e"):
        dev = hw.get_device(key)
        assert dev.source and dev.memory_bytes > 0 and dev.bandwidth_bytes_per_s > 0


def test_dense_not_sparse_peaks():
    # references.md A6: H100 SXM bf16 dense 989.4 TFLOP/s (the datasheet's 1979 is 2:4 sparse)
    assert hw.get_device("h100-sxm").peak("bf16") == pytest.approx(989.4e12)
    assert hw.get_device("h100-sxm").peak("fp8") == pytest.approx(1978.9e12)
    assert hw.get_device("a100-80gb").peak("bf16") == pytest.approx(312e12)
    assert hw.get_device("h100-pcie").peak("bf16") == pytest.approx(756e12)
    assert hw.get_device("tpu-v4").peak("bf16") == pytest.approx(275e12)   # PaLM App. B
    mi = hw.get_device("mi300x")  # AMD datasheet: 1307.4 TFLOP/s bf16 dense, 192 GB, 5.3 TB/s, 750 W
    assert (mi.peak("bf16"), mi.memory_bytes, mi.bandwidth_bytes_per_s, mi.power_w) == (
        pytest.approx(1307.4e12), pytest.approx(192e9), pytest.approx(5.3e12), 750)
    assert hw.get_device("h200").memory_bytes == pytest.approx(141e9)


def test_aliases_and_case():
    assert hw.get_device("H100").key == "h100-sxm"
    assert hw.get_device("a100").key == "a100-80gb"
    assert hw.get_device(" TPU_v5e ").key == "tpu-v5e"
    dev = hw.get_device("b200")
    assert hw.get_device(dev) is dev


def test_unknown_device_and_dtype():
    with pytest.raises(ScalingLabError, match="unknown device 'h1000'.*h100-sxm"):
        hw.get_device("h1000")
    with pytest.raises(ScalingLabError, match="bf16.*v100"):
        hw.get_device("v100").peak("bf16")


@pytest.mark.parametrize("key, ridge", [("a100-80gb", 153), ("h100-sxm", 295), ("h200", 206),
                                         ("b200", 281), ("tpu-v5e", 240), ("tpu-v5p", 166), ("tpu-v4", 229)])
def test_ridge_points(key, ridge):
    # references.md A6: ridge point = peak / bandwidth (FLOP per byte)
    assert hw.ridge_point(key) == pytest.approx(ridge, abs=1.0)


def test_list_devices_json_ready():
    rows = hw.list_devices()
    assert len(rows) == len(hw.CATALOGUE)
    h100 = next(r for r in rows if r["key"] == "h100-sxm")
    assert "h100" in h100["aliases"] and h100["assumed_price_usd_per_device_hour"] > 0
    json.dumps(rows)


# ---- time, cost, energy ---------------------------------------------------------------------------

def test_llama3_405b_time():
    # references.md A5: 3.79e25 FLOPs on 16,384 H100 at 400 TFLOP/s achieved = 66.9 days
    seconds = hw.training_time(3.79e25, "h100-sxm", 16384, 400e12 / 989.4e12)
    assert seconds / 86400 == pytest.approx(66.9, abs=0.05)


def test_llama2_70b_time():
    # references.md A5: 6 * 70e9 * 2e12 FLOPs on 2048 A100 at 40% MFU = 38.0 days
    assert hw.training_time(6 * 70e9 * 2e12, "a100", 2048, 0.40) / 86400 == pytest.approx(38.0, abs=0.05)


def test_training_cost_fields():
    r = hw.training_cost(6 * 70e9 * 2e12, "a100-80gb", 2048, 0.40, price_usd_per_device_hour=2.0, pue=1.2)
    assert r.days == pytest.approx(38.04, abs=0.01)
    assert r.device_hours == pytest.approx(2048 * r.seconds / 3600)
    assert r.cost_usd == pytest.approx(2.0 * r.device_hours)
    assert r.energy_kwh == pytest.approx(r.device_hours * 0.400 * 1.2)
    assert not r.price_is_assumption and not r.pue_is_assumption
    d = hw.training_cost(1e23, "h100", 64, 0.4).to_dict()
    assert d["price_is_assumption"] and d["pue_is_assumption"] and d["pue"] == 1.1
    assert d["price_usd_per_device_hour"] == hw.ASSUMED_PRICE_USD_PER_DEVICE_HOUR["h100-sxm"]


def test_llama31_405b_cost_at_2_dollars():
    # references.md A5: Llama 3.1 405B 30.84M H100-hours at $2/h -> $61.7M. Back out the FLOPs for those hours.
    flops = 30.84e6 * 3600 * 989.4e12 * 0.345
    r = hw.training_cost(flops, "h100-sxm", 16384, 0.345, price_usd_per_device_hour=2.0)
    assert r.device_hours == pytest.approx(30.84e6, rel=1e-9)
    assert r.cost_usd == pytest.approx(61.68e6, rel=1e-3)


def test_palm_energy_and_co2():
    # references.md A5 / PaLM App. B: 8,404,992 chip-hours x 378.5 W x PUE 1.08 = 3,436 MWh; x 0.079 t/MWh = 271.43 t
    chip_hours = 6144 * 1200 + 3072 * 336
    assert chip_hours == 8_404_992
    kwh = hw.energy_kwh(chip_hours, hw.get_device("tpu-v4").power_w, pue=1.08)
    assert kwh / 1000 == pytest.approx(3436, abs=1)
    assert hw.co2_tonnes(kwh, 0.079) == pytest.approx(271.43, abs=0.05)


def test_tpu_without_power_gives_no_energy_unless_given():
    r = hw.training_cost(1e22, "tpu-v5e", 256, 0.5)
    assert r.energy_kwh is None and "power" in r.power_note
    r2 = hw.training_cost(1e22, "tpu-v5e", 256, 0.5, power_w=200, co2_t_per_mwh=0.1)
    assert r2.energy_kwh == pytest.approx(r2.device_hours * 0.2 * 1.1)
    assert r2.co2_tonnes == pytest.approx(r2.energy_kwh / 1000 * 0.1)


@pytest.mark.parametrize("kwargs, field", [
    ({"mfu": 1.2}, "mfu"), ({"mfu": 0.0}, "mfu"), ({"flops": -1.0}, "flops"),
    ({"n_devices": 0}, "n_devices"), ({"n_devices": 2.5}, "n_devices"),
    ({"price_usd_per_device_hour": -1.0}, "price"), ({"pue": 0.9}, "pue"), ({"flops": math.nan}, "flops"),
])
def test_cost_bad_input(kwargs, field):
    args = {"flops": 1e23, "device": "h100", "n_devices": 8, "mfu": 0.4} | kwargs
    with pytest.raises(ScalingLabError, match=field):
        hw.training_cost(**args)


# ---- MFU ------------------------------------------------------------------------------------------

def test_palm_mfu_with_and_without_attention():
    # references.md A4 / PaLM sec. 4.1, App. B: 238.3K tokens/s on 6144 TPU v4 -> 45.7% (6N), 46.2% (6N + 12LHQT)
    assert hw.mfu_from_throughput(238.3e3, 540e9, "tpu-v4", 6144) == pytest.approx(0.4570, abs=5e-4)
    with_attn = hw.mfu_from_throughput(238.3e3, 540.35e9, "tpu-v4", 6144, n_layer=118, n_heads=48,
                                       head_dim=256, seq_len=2048)
    assert with_attn == pytest.approx(0.4623, abs=5e-4)


def test_mt_nlg_mfu():
    # references.md A4: MT-NLG 530B, 65.43K tokens/s on 2240 A100 (312 TFLOP/s) -> 0.2977 (printed 29.7%)
    assert hw.mfu_from_throughput(65.43e3, 530e9, "a100-80gb", 2240) == pytest.approx(0.2977, abs=5e-4)


def test_llama2_implied_mfu():
    # references.md A4: 8.4e23 FLOPs over 1,720,320 A100-80GB hours -> 0.435
    assert hw.implied_mfu(8.4e23, 1_720_320, "a100-80gb") == pytest.approx(0.435, abs=1e-3)


def test_mfu_bad_input():
    with pytest.raises(ScalingLabError, match="missing head_dim, seq_len"):
        hw.mfu_from_throughput(1e5, 1e9, "h100", 8, n_layer=10, n_heads=8)
    with pytest.raises(ScalingLabError, match="MFU .* > 1"):
        hw.mfu_from_throughput(1e9, 70e9, "h100", 8)
    with pytest.raises(ScalingLabError, match="tokens_per_s"):
        hw.mfu_from_throughput(-5, 70e9, "h100", 8)


# ---- CLI ------------------------------------------------------------------------------------------

def test_cli_cost_json(monkeypatch, capsys):
    code, stdout, err = run_cli(["cost", "--flops", 8.4e23, "--device", "a100", "--devices", 2048,
                                 "--mfu", 0.4, "--price", 1.5, "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    for key in ("device_hours", "days", "cost_usd", "energy_kwh", "price_is_assumption", "pue"):
        assert key in d
    assert d["days"] == pytest.approx(38.04, abs=0.01)
    assert d["cost_usd"] == pytest.approx(1.5 * d["device_hours"])
    assert d["price_is_assumption"] is False and d["pue_is_assumption"] is True


def test_cli_cost_energy_values(monkeypatch, capsys):
    # Llama 2 70B budget on 2048 A100 at 40% MFU: 8.4e23 / (312e12 * 0.4) / 3600 = 1.8697e6 device-hours;
    # at the 400 W TDP and the assumed PUE 1.1: 1.8697e6 * 0.4 kW * 1.1 = 8.2265e5 kWh
    code, stdout, err = run_cli(["cost", "--flops", 8.4e23, "--device", "a100", "--devices", 2048,
                                 "--mfu", 0.4, "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    assert d["device_hours"] == pytest.approx(1.8697e6, rel=1e-4)
    assert d["energy_kwh"] == pytest.approx(8.2265e5, rel=1e-4)
    assert d["power_w"] == 400 and d["power_note"] == "TDP, assumed draw"
    # PaLM 540B (references.md A5): 8,404,992 TPU v4 chip-hours x 378.5 W x PUE 1.08 = 3,436 MWh;
    # x 0.079 t/MWh = 271.4 t
    flops = 8_404_992 * 3600 * 275e12 * 0.5
    code, stdout, err = run_cli(["cost", "--flops", flops, "--device", "tpu-v4", "--devices", 6144, "--mfu", 0.5,
                                 "--pue", 1.08, "--co2", 0.079, "--json"], monkeypatch, capsys)
    assert code == 0, err
    d = json.loads(stdout)
    assert d["device_hours"] == pytest.approx(8_404_992, rel=1e-9)
    assert d["energy_kwh"] == pytest.approx(3.4357e6, rel=1e-4)
    assert d["co2_tonnes"] == pytest.approx(271.43, abs=0.01)


def test_cli_cost_text(monkeypatch, capsys):
    code, stdout, err = run_cli(["cost", "--flops", 1e23, "--device", "h100-sxm", "--devices", 64, "--mfu", 0.4],
                                monkeypatch, capsys)
    assert code == 0, err
    assert "ASSUMED" in stdout and "days" in stdout
    # 1e23 / (64 * 989.4e12 * 0.4) / 3600 * 64 = 70,188 device-hours; x 0.7 kW x 1.1 = 54,045 kWh
    assert "54,045 kWh at 700 W/device (TDP, assumed draw), PUE 1.1 (ASSUMED default)" in stdout
    code, stdout, err = run_cli(["cost", "--flops", 1e23, "--device", "tpu-v4", "--devices", 64, "--mfu", 0.4],
                                monkeypatch, capsys)
    assert code == 0 and "378.5 W/device (PaLM's measured mean per-chip draw)" in stdout


def test_cli_cost_co2_without_power_says_why(monkeypatch, capsys):
    args = ["cost", "--flops", 1e23, "--device", "tpu-v5e", "--devices", 8, "--mfu", 0.4, "--co2", 0.4]
    code, stdout, err = run_cli(args, monkeypatch, capsys)
    assert code == 0, err
    assert "energy:        unknown" in stdout
    assert "emissions:     unknown: --co2 0.4 t/MWh needs an energy figure" in stdout and "--power" in stdout
    code, stdout, err = run_cli([*args, "--power", 200], monkeypatch, capsys)
    # 1e23 / (8 * 197e12 * 0.4) / 3600 * 8 = 352,510 device-hours x 0.2 kW x 1.1 = 77,552 kWh -> 31.0 t CO2e
    assert code == 0 and "77,552 kWh at 200 W/device (given)" in stdout and "31.0 t CO2e" in stdout


@pytest.mark.parametrize("args", [
    ["--flops", 1e23, "--device", "h100", "--devices", 8, "--mfu", 1.5],
    ["--flops", 1e23, "--device", "nope", "--devices", 8, "--mfu", 0.4],
    ["--flops", -1e23, "--device", "h100", "--devices", 8, "--mfu", 0.4],
    ["--flops", 1e23, "--device", "h100", "--devices", 8, "--mfu", 0.4, "--pue", 0.5],
    ["--flops", "nan", "--device", "h100", "--devices", 8, "--mfu", 0.4],
])
def test_cli_cost_bad_input(args, monkeypatch, capsys):
    code, _, err = run_cli(["cost", *args], monkeypatch, capsys)
    assert_one_line_error(code, err)
    assert "np.float64" not in err


def test_numpy_values_print_plainly_in_errors():
    with pytest.raises(ScalingLabError, match=r"flops must be a finite number >= 0, got nan$"):
        hw.training_time(np.float64("nan"), "h100", 8, 0.4)


def test_cli_devices(monkeypatch, capsys):
    code, stdout, err = run_cli(["devices", "--json"], monkeypatch, capsys)
    assert code == 0, err
    rows = json.loads(stdout)
    assert {r["key"] for r in rows} >= {"h100-sxm", "mi300x", "tpu-v6e"}
    assert all(r["source"] for r in rows)
    code, stdout, err = run_cli(["devices"], monkeypatch, capsys)
    assert code == 0 and "h100-sxm" in stdout


def test_cli_devices_bad_option(monkeypatch, capsys):
    code, _, err = run_cli(["devices", "--bogus"], monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err
