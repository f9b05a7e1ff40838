"""The unit of each law parameter, as the report's parameter tables print it."""

from __future__ import annotations

from scalinglab.laws.base import LawFamily
from scalinglab.report.section import LOSS_UNIT

SYMBOLS = {"params": "N", "tokens": "D", "flops": "C", "step": "S"}

__all__ = ["SYMBOLS", "param_unit"]


def param_unit(family: LawFamily, name: str) -> str:
    """The unit of a law parameter, for the parameter table."""
    sym = SYMBOLS.get(family.variables[0], "x") if family.variables else "x"
    if name.startswith(("alpha", "beta")) or (family.name == "chinchilla" and name in ("a", "b")):
        return "dimensionless (exponent)"
    if name == "E" or (family.name == "bnsl" and name in ("a", "b")):
        return LOSS_UNIT
    units = {("chinchilla", "A"): f"{LOSS_UNIT} × N^alpha", ("chinchilla", "B"): f"{LOSS_UNIT} × D^beta",
             ("muennighoff", "A"): f"{LOSS_UNIT} × N^alpha", ("muennighoff", "B"): f"{LOSS_UNIT} × D^beta",
             ("power", "A"): f"{LOSS_UNIT} × {sym}^alpha", ("power_floor", "A"): f"{LOSS_UNIT} × {sym}^alpha",
             ("kaplan_nd", "N_c"): "parameters", ("kaplan_nd", "D_c"): "tokens",
             ("kaplan_ns", "N_c"): "parameters", ("kaplan_ns", "S_c"): "steps",
             ("overtrain", "a"): f"{LOSS_UNIT} × FLOPs^eta", ("overtrain", "b"): f"{LOSS_UNIT} × FLOPs^eta",
             ("overtrain", "eta"): "dimensionless (exponent)", ("overtrain", "M_opt"): "tokens per parameter",
             ("overtrain", "A"): f"{LOSS_UNIT} × N^alpha", ("overtrain", "B"): f"{LOSS_UNIT} × D^alpha",
             ("downstream_error", "epsilon"): "fraction (error)", ("downstream_error", "k"): "fraction (error)",
             ("downstream_error", "gamma"): "per nat/token"}
    if (family.name, name) in units:
        return units[(family.name, name)]
    if name.startswith("R_"):
        return "dimensionless (repetitions)"
    if family.name == "bnsl":
        return {"c": "dimensionless (slope)", "d": f"units of {sym} (break)", "f": "dimensionless (sharpness)"}.get(
            name[0], "see the formula")
    return "see the formula"
