"""Accelerator catalogue, training time, cost and energy, and model FLOPs utilization (MFU).

Units: peak throughput in FLOP/s (a rate), always the DENSE figure (NVIDIA datasheets headline the
2:4-sparse number, twice as large; using it halves any MFU). Memory in bytes (1 GB = 1e9 bytes),
bandwidth in bytes/s, power in watts, time in seconds, compute in FLOPs (a count), energy in kWh.

Formulas (references.md A4-A6):

* time_s = C / (n_devices x peak x MFU); device_hours = n_devices x time_s / 3600
* cost_usd = device_hours x price per device-hour
* energy_kWh = device_hours x power_kW x PUE (power: TDP unless measured)
* MFU (PaLM, Chowdhery et al. 2022, sec. 4.1 and App. B) = tokens_per_s x (6N + 12 L H Q T)
  / (n_devices x peak), N = all parameters (embeddings included, as PaLM counts them).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from scalinglab.counting import DTYPE_BYTES, FLOPS_PER_PARAM_TOKEN, SECONDS_PER_DAY, SECONDS_PER_HOUR
from scalinglab.display import Displayed
from scalinglab.errors import ScalingLabError, finite_number, finite_result, fraction, positive_count, positive_number
from scalinglab.errors import plain_repr as _show

__all__ = [
    "DTYPE_BYTES", "Device", "CATALOGUE", "ASSUMED_PRICE_USD_PER_DEVICE_HOUR", "DEFAULT_PUE",
    "TrainingCost", "catalogue_key", "get_device", "list_devices", "ridge_point", "training_time", "training_cost",
    "energy_kwh", "co2_tonnes", "palm_flops_per_token", "mfu_from_throughput", "implied_mfu",
]

T = 1e12  # tera
#: Bytes per element of each dtype (for memory and bandwidth estimates): the one table,
#: :data:`scalinglab.counting.DTYPE_BYTES`, under its old name.

#: Short tag for figures read in jax-ml/scaling-book (gpus.md, tpus.md) and cli99/llm-analysis device
#: files, as collected in references.md A6.
_DS = "the JAX scaling book and llm-analysis device tables"


@dataclass(frozen=True)
class Device:
    """One accelerator (a single chip / GPU).

    ``peak_flops_per_s``: dtype -> DENSE peak FLOP/s of one device (tensor cores / MXUs).
    ``memory_bytes``: on-package HBM in bytes. ``bandwidth_bytes_per_s``: HBM bandwidth in bytes/s.
    ``power_w``: board power in watts (TDP; None where the vendor publishes none).
    ``source``: where each figure comes from ([V] read in the primary, [M] from memory).
    """

    key: str
    name: str
    peak_flops_per_s: dict[str, float] = field(hash=False)
    memory_bytes: float
    bandwidth_bytes_per_s: float
    power_w: float | None
    source: str

    def peak(self, dtype: str = "bf16") -> float:
        """Dense peak FLOP/s of one device for ``dtype``; an unknown dtype raises ScalingLabError."""
        value = self.peak_flops_per_s.get(str(dtype).strip().lower())
        if value is None:
            known = ", ".join(self.peak_flops_per_s)
            raise ScalingLabError(f"dtype '{dtype}' has no peak for {self.key}; known: {known}")
        return value

    def to_dict(self) -> dict:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def _dev(key: str, name: str, peaks_tflops: dict[str, float], memory_gb: float, bw_tb_s: float,
         power_w: float | None, source: str) -> Device:
    return Device(key, name, {k: v * T for k, v in peaks_tflops.items()}, memory_gb * 1e9,
                  bw_tb_s * 1e12, power_w, source)


_NV_A100 = {"fp32": 19.5, "tf32": 156, "bf16": 312, "fp16": 312, "int8": 624}
_NV_H100 = {"fp32": 66.9, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4, "fp8": 1978.9, "int8": 1978.9}

#: The catalogue, keyed by lower-case device key. Dense peaks only.
CATALOGUE: dict[str, Device] = {d.key: d for d in (
    _dev("v100", "NVIDIA V100 SXM2 32GB", {"fp32": 15.7, "fp16": 125}, 32, 0.90, 300,
         f"fp16 tensor-core 125, fp32 15.7, 300 W: NVIDIA V100 datasheet [M]; 0.90 TB/s: {_DS} [V]; "
         "no bf16 support"),
    _dev("a100-40gb", "NVIDIA A100 SXM 40GB", _NV_A100, 40, 1.555, 400,
         f"bf16 312 / int8 624 dense, 1.555 TB/s, 400 W: {_DS} [V]; fp32/tf32: NVIDIA A100 datasheet [M]"),
    _dev("a100-80gb", "NVIDIA A100 SXM 80GB", _NV_A100, 80, 2.039, 400,
         f"bf16 312 / int8 624 dense, 2.039 TB/s, 400 W: {_DS} [V]; fp32/tf32: NVIDIA A100 datasheet [M]"),
    _dev("h100-sxm", "NVIDIA H100 SXM 80GB", _NV_H100, 80, 3.35, 700,
         f"bf16 989.4 / fp8 1978.9 dense (datasheet's 1979 bf16 is 2:4 sparse), 3.35 TB/s, 700 W: {_DS} [V]; "
         "fp32/tf32: NVIDIA H100 datasheet [M]"),
    _dev("h100-pcie", "NVIDIA H100 PCIe 80GB", {"fp32": 51.2, "tf32": 378, "bf16": 756, "fp16": 756,
                                               "fp8": 1513, "int8": 1513}, 80, 2.0, 350,
         f"bf16 756 / fp8 1513 dense, 2.0 TB/s, 350 W: {_DS} [V]; fp32/tf32: NVIDIA H100 datasheet [M]"),
    _dev("h200", "NVIDIA H200 SXM 141GB", _NV_H100, 141, 4.8, 700,
         f"same compute as H100 SXM, 141 GB, 4.8 TB/s: {_DS} [V]; 700 W: NVIDIA H200 datasheet [M]"),
    _dev("b200", "NVIDIA B200", {"bf16": 2250, "fp16": 2250, "fp8": 4500, "int8": 4500}, 192, 8.0, 1000,
         f"bf16 2250 / fp8 4500 dense, 8.0 TB/s, 192 GB (HGX B200 lists 180 GB usable): {_DS} [V]; "
         "1000 W TDP [M]"),
    _dev("mi300x", "AMD Instinct MI300X", {"fp32": 163.4, "tf32": 653.7, "bf16": 1307.4, "fp16": 1307.4,
                                          "fp8": 2614.9, "int8": 2614.9}, 192, 5.3, 750,
         "AMD Instinct MI300X datasheet: bf16/fp16 1307.4 dense, 192 GB, 5.3 TB/s, 750 W; "
         "fp8/int8/fp32/tf32 dense figures from the same datasheet [M]"),
    _dev("tpu-v4", "Google TPU v4", {"bf16": 275, "int8": 275}, 32, 1.2, 378.5,
         f"275 bf16, 32 GB, 1.2 TB/s: {_DS}, PaLM App. B [V]; 378.5 W is PaLM's MEASURED mean "
         "per-chip power (App. B), not a TDP [V]"),
    _dev("tpu-v5e", "Google TPU v5e", {"bf16": 197, "int8": 394}, 16, 0.819, None,
         f"197 bf16 / 394 int8, 16 GB, 0.819 TB/s: {_DS} [V]; no published power"),
    _dev("tpu-v5p", "Google TPU v5p", {"bf16": 459, "int8": 918}, 95, 2.765, None,
         f"459 bf16 / 918 int8, 95 GB, 2.765 TB/s: {_DS} [V]; no published power"),
    _dev("tpu-v6e", "Google TPU v6e (Trillium)", {"bf16": 918, "int8": 1836}, 32, 1.64, None,
         f"918 bf16 / 1836 int8, 32 GB, 1.64 TB/s: {_DS} [V]; no published power"),
)}

_ALIASES: dict[str, str] = {
    "h100": "h100-sxm", "h100-sxm5": "h100-sxm", "h100-80gb": "h100-sxm", "a100": "a100-80gb",
    "a100-80g": "a100-80gb", "a100-40g": "a100-40gb", "h200-sxm": "h200", "mi300": "mi300x",
    "v100-sxm2": "v100", "v4": "tpu-v4", "v5e": "tpu-v5e", "v5p": "tpu-v5p", "v6e": "tpu-v6e",
    "trillium": "tpu-v6e", "tpuv4": "tpu-v4", "tpuv5e": "tpu-v5e", "tpuv5p": "tpu-v5p", "tpuv6e": "tpu-v6e",
}

#: ASSUMED prices in USD per device-hour (rough 2024-25 cloud on-demand / list prices, from memory [M]).
#: They are assumptions, not quotes: pass your own price. Outputs flag ``price_is_assumption``.
ASSUMED_PRICE_USD_PER_DEVICE_HOUR: dict[str, float] = {
    "v100": 0.9, "a100-40gb": 1.3, "a100-80gb": 1.6, "h100-sxm": 2.5, "h100-pcie": 2.0, "h200": 3.5,
    "b200": 5.0, "mi300x": 2.5, "tpu-v4": 3.22, "tpu-v5e": 1.2, "tpu-v5p": 4.2, "tpu-v6e": 2.7,
}
#: Catalogue power figures that are measured mean draws, not TDPs (``TrainingCost.power_note``).
_MEASURED_POWER: dict[str, str] = {"tpu-v4": "PaLM's measured mean per-chip draw"}
#: ASSUMED power usage effectiveness of the data centre (facility energy / IT energy).
DEFAULT_PUE: float = 1.1


def get_device(name: str | Device) -> Device:
    """Look a device up by key or alias, case-insensitively ("H100" -> h100-sxm, "a100" -> a100-80gb)."""
    if isinstance(name, Device):
        return name
    key = str(name).strip().lower().replace("_", "-").replace(" ", "-")
    key = _ALIASES.get(key, key)
    if key not in CATALOGUE:
        raise ScalingLabError(f"unknown device '{name}'; known: {', '.join(CATALOGUE)}")
    return CATALOGUE[key]


def catalogue_key(device_name: str) -> str | None:
    """The catalogue key of a device as its driver names it (``torch.cuda.get_device_name``), or None
    when the catalogue has no such device: "NVIDIA H100 80GB HBM3" -> h100-sxm, "NVIDIA H100 PCIe" ->
    h100-pcie, "NVIDIA H200" -> h200, "NVIDIA A100-SXM4-40GB" -> a100-40gb, other A100s -> a100-80gb
    (same peak FLOP/s), "NVIDIA B200", "AMD Instinct MI300X", "Tesla V100-SXM2-32GB". H100 NVL (a
    different peak) is not in the catalogue."""
    name = str(device_name).lower().replace("-", " ")
    if "nvl" in name:
        return None
    for marker, key in (("h200", "h200"), ("b200", "b200"), ("mi300x", "mi300x"), ("v100", "v100")):
        if marker in name:
            return key
    if "h100" in name:
        return "h100-pcie" if "pcie" in name else "h100-sxm"
    if "a100" in name:
        return "a100-40gb" if "40gb" in name else "a100-80gb"
    return None


def list_devices() -> list[dict]:
    """The catalogue as JSON-ready dicts (with aliases and the assumed price)."""
    rows = []
    for key, dev in CATALOGUE.items():
        d = dev.to_dict()
        d["aliases"] = sorted(a for a, k in _ALIASES.items() if k == key)
        d["assumed_price_usd_per_device_hour"] = ASSUMED_PRICE_USD_PER_DEVICE_HOUR.get(key)
        rows.append(d)
    return rows


def ridge_point(device: str | Device, dtype: str = "bf16") -> float:
    """Roofline ridge point in FLOP per byte: peak FLOP/s / HBM bytes/s (H100 SXM bf16 ~ 295, references.md A6)."""
    dev = get_device(device)
    return dev.peak(dtype) / dev.bandwidth_bytes_per_s


_positive = positive_number  # the shared validator (scalinglab.errors)


def _check_mfu(mfu: float) -> float:
    return fraction("mfu", mfu)


def _check_devices(n_devices: int) -> int:
    return positive_count("n_devices", n_devices)


def training_time(flops: float, device: str | Device, n_devices: int, mfu: float, dtype: str = "bf16") -> float:
    """Wall-clock training time in seconds: C / (n_devices x peak x MFU) (references.md A5).

    ``flops``: training compute C in FLOPs (a count); ``mfu``: fraction of dense peak in (0, 1].
    """
    c = finite_number("flops", flops, low=0.0)
    dev = get_device(device)
    seconds = c / (_check_devices(n_devices) * dev.peak(dtype) * _check_mfu(mfu))
    return finite_result("training time", seconds, "flops too large for the devices and mfu given")


def energy_kwh(device_hours: float, power_w: float, pue: float = DEFAULT_PUE) -> float:
    """Facility energy in kWh = device_hours x power_W / 1000 x PUE (references.md A5).

    PaLM 540B (App. B): 8,404,992 TPU v4 chip-hours x 378.5 W x PUE 1.08 = 3,436 MWh.
    """
    hours = finite_number("device_hours", device_hours, low=0.0)
    p, u = _positive("power_w", power_w), _check_pue(pue)
    return finite_result("energy (kWh)", hours * p / 1000.0 * u)


def _check_pue(pue: float) -> float:
    """PUE >= 1 (facility energy / IT energy)."""
    return finite_number("pue (facility energy / IT energy)", pue, low=1.0)


def co2_tonnes(energy_kwh_value: float, t_co2e_per_mwh: float) -> float:
    """Emissions in tonnes CO2e = energy_MWh x carbon intensity (t CO2e/MWh); PaLM: 3,436 MWh x 0.079 = 271.4 t."""
    e = finite_number("energy_kwh", energy_kwh_value, low=0.0)
    f = finite_number("co2 factor (t CO2e/MWh)", t_co2e_per_mwh, low=0.0)
    return finite_result("CO2 (tonnes)", e / 1000.0 * f)


@dataclass(frozen=True, repr=False)
class TrainingCost(Displayed):
    """Time, device-hours, cost and energy of one training run (see :func:`training_cost`).

    Inputs echoed: flops [FLOPs], device (key), n_devices, mfu, dtype, peak_flops_per_s [FLOP/s,
    one device, dense], price_usd_per_device_hour (+ ``price_is_assumption``), power_w (+ source
    note), pue (+ ``pue_is_assumption``). Outputs: seconds, days, device_hours, cost_usd,
    energy_kwh (None when no power figure is known), co2_tonnes (None unless a factor is given).
    """

    _display = (("flops", "FLOPs"), ("device", ""), ("n_devices", "devices"), ("mfu", "fraction"),
                ("days", "days"), ("device_hours", "device-hours"), ("cost_usd", "USD"), ("energy_kwh", "kWh"),
                ("co2_tonnes", "t CO2"))

    flops: float
    device: str
    n_devices: int
    mfu: float
    dtype: str
    peak_flops_per_s: float
    seconds: float
    days: float
    device_hours: float
    price_usd_per_device_hour: float
    price_is_assumption: bool
    cost_usd: float
    power_w: float | None
    power_note: str
    pue: float
    pue_is_assumption: bool
    energy_kwh: float | None
    co2_t_per_mwh: float | None
    co2_tonnes: float | None

    def to_dict(self) -> dict:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def training_cost(flops: float, device: str | Device, n_devices: int, mfu: float, dtype: str = "bf16",
                  price_usd_per_device_hour: float | None = None, pue: float | None = None,
                  power_w: float | None = None, co2_t_per_mwh: float | None = None) -> TrainingCost:
    """Time, device-hours, cost and energy to spend ``flops`` FLOPs on ``n_devices`` devices at ``mfu``.

    seconds = C / (n x peak x MFU); device_hours = n x seconds / 3600; cost_usd = device_hours x price;
    energy_kwh = device_hours x power_kW x PUE (references.md A5). Omitted price and PUE take ASSUMED defaults
    (:data:`ASSUMED_PRICE_USD_PER_DEVICE_HOUR`, PUE 1.1), flagged in the result. Power defaults to the
    catalogue's TDP (None for TPUs other than v4: energy is then None unless ``power_w`` is given); a TDP is
    an upper bound used as the ASSUMED draw, and ``power_note`` says so ("TDP, assumed draw", "given", or
    "PaLM's measured mean per-chip draw" for TPU v4). ``co2_tonnes`` is None without an energy figure.
    """
    dev = get_device(device)
    seconds = training_time(flops, dev, n_devices, mfu, dtype)
    n = _check_devices(n_devices)
    device_hours = finite_result("device-hours", n * seconds / SECONDS_PER_HOUR)
    price_assumed = price_usd_per_device_hour is None
    if price_assumed:
        price = ASSUMED_PRICE_USD_PER_DEVICE_HOUR.get(dev.key, math.nan)
    else:
        price = finite_number("price (USD per device-hour)", price_usd_per_device_hour, low=0.0)
    pue_value = DEFAULT_PUE if pue is None else _check_pue(pue)
    watts = dev.power_w if power_w is None else _positive("power_w", power_w)
    note = ("given" if power_w is not None else
            "no published power for this device: pass power_w (CLI --power)" if watts is None else
            _MEASURED_POWER.get(dev.key, "TDP, assumed draw"))
    cost = device_hours * price
    if math.isinf(cost):
        raise ScalingLabError(f"cost is not finite: {_show(price)} USD per device-hour x {device_hours:.3g} "
                              "device-hours overflows; give a price and a budget that make sense")
    energy = None if watts is None else energy_kwh(device_hours, watts, pue_value)
    co2 = None
    if co2_t_per_mwh is not None:
        co2_t_per_mwh = finite_number("co2 factor (t CO2e/MWh)", co2_t_per_mwh, low=0.0)
    if co2_t_per_mwh is not None and energy is not None:
        co2 = co2_tonnes(energy, co2_t_per_mwh)
    return TrainingCost(
        flops=float(flops), device=dev.key, n_devices=n, mfu=float(mfu), dtype=str(dtype).strip().lower(),
        peak_flops_per_s=dev.peak(dtype), seconds=seconds, days=seconds / SECONDS_PER_DAY, device_hours=device_hours,
        price_usd_per_device_hour=price, price_is_assumption=price_assumed, cost_usd=cost,
        power_w=watts, power_note=note, pue=pue_value, pue_is_assumption=pue is None, energy_kwh=energy,
        co2_t_per_mwh=co2_t_per_mwh, co2_tonnes=co2)


def palm_flops_per_token(n_params: float, n_layer: int | None = None, n_heads: int | None = None,
                         head_dim: int | None = None, seq_len: int | None = None) -> float:
    """Training FLOPs per token by PaLM's MFU definition (Chowdhery et al. 2022, App. B).

    6N (matmuls, 2N forward + 4N backward; N = all parameters) plus, when all of n_layer (L), n_heads (H),
    head_dim (Q) and seq_len (T) are given, the dense self-attention term 12 L H Q T. Giving only some
    of the four raises ScalingLabError.
    """
    per_token = FLOPS_PER_PARAM_TOKEN * _positive("n_params", n_params)
    shape = {"n_layer": n_layer, "n_heads": n_heads, "head_dim": head_dim, "seq_len": seq_len}
    given = {k: v for k, v in shape.items() if v is not None}
    if given and len(given) < len(shape):
        missing = ", ".join(k for k in shape if k not in given)
        raise ScalingLabError(f"the attention term needs n_layer, n_heads, head_dim and seq_len; missing {missing}")
    if given:
        per_token += 12.0 * math.prod(_positive(k, v) for k, v in given.items())
    return finite_result("FLOPs per token", per_token)


def mfu_from_throughput(tokens_per_s: float, n_params: float, device: str | Device, n_devices: int,
                        dtype: str = "bf16", n_layer: int | None = None, n_heads: int | None = None,
                        head_dim: int | None = None, seq_len: int | None = None) -> float:
    """MFU implied by a measured training throughput (PaLM, Chowdhery et al. 2022, sec. 4.1 and App. B).

    MFU = tokens_per_s x flops_per_token / (n_devices x dense peak FLOP/s), flops_per_token from
    :func:`palm_flops_per_token` (6N, plus 12 L H Q T when the shape is given). PaLM 540B: 238.3K
    tokens/s on 6144 TPU v4 -> 45.7% (6N) / 46.2% (with attention). A result above 1 raises.
    """
    rate = _positive("tokens_per_s", tokens_per_s)
    dev = get_device(device)
    peak_total = _check_devices(n_devices) * dev.peak(dtype)
    mfu = rate * palm_flops_per_token(n_params, n_layer, n_heads, head_dim, seq_len) / peak_total
    if mfu > 1:
        raise ScalingLabError(f"tokens_per_s={rate:g} implies MFU {mfu:.3g} > 1: check n_params, "
                              f"n_devices, device and dtype")
    return mfu


def implied_mfu(flops: float, device_hours: float, device: str | Device, dtype: str = "bf16") -> float:
    """Average MFU over a whole run = C / (device_hours x 3600 x peak) (downtime included).

    Llama 2 70B: 8.4e23 FLOPs over 1,720,320 A100-80GB hours -> 0.435 (references.md A4).
    """
    c = _positive("flops", flops)
    hours = _positive("device_hours", device_hours)
    return finite_result("implied MFU", c / (hours * SECONDS_PER_HOUR * get_device(device).peak(dtype)))
