"""Completing and checking the counts of a table of runs: the third of params, tokens, flops derived by
C = 6ND (:mod:`scalinglab.counting`, Kaplan et al. 2020 sec. 2.1), and notes on values that look like a unit
slip.

A derived token or parameter count below 1 is an error naming the column and the likely slip (FLOPs given
in PF-days: 1 PF-day = 8.64e19 FLOPs). Notes flag every parameter (or token) count below 1e5 (millions or
billions: 125 for 125M), losses above 20 (a perplexity?), a loss column named like bits, losses below 1e-3
nats/token, and given flops far from 6 x params x tokens. Units: parameters, tokens and FLOPs are counts;
losses nats/token.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from scalinglab.counting import SIX_ND, complete_counts, flops_from
from scalinglab.errors import MIN_LOSS, ScalingLabError
from scalinglab.run_columns import column_key

__all__ = ["derive_counts", "unit_notes", "column_label", "number_text"]

#: How each of the three is derived, for notes and messages (C = 6ND solved for it).
_HOW: dict[str, str] = {"flops": "6 * params * tokens", "tokens": "flops / (6 * params)",
                        "params": "flops / (6 * tokens)"}


def derive_counts(df: pd.DataFrame, name: str, notes: list[str], chosen: Mapping[str, str] | None = None) -> None:
    """Fill the one missing column of params/tokens/flops from the other two (C = 6ND); a derived
    count below 1 is an error naming the likely slip (FLOPs in PF-days)."""
    have = {c: df[c].to_numpy(dtype=np.float64) for c in SIX_ND if c in df.columns}
    if len(have) == 3:
        _six_nd_note(df, notes)
    if len(have) != 2:
        return
    col = next(c for c in SIX_ND if c not in have)
    how = _HOW[col]
    with np.errstate(over="ignore", under="ignore"):
        values = complete_counts(have)[col]
    bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
    if bad.size:  # leave the column out: a law that needs it then says it is missing
        notes.append(f"could not derive {col} = {how}: not a finite positive number at row "
                     f"{df.index[int(bad[0])]} ({number_text(values[int(bad[0])])}); column left out")
        return
    if col != "flops":
        _check_derived_count(df, name, col, how, values, chosen or {})
    df[col] = values
    notes.append(f"derived {col} = {how} (C = 6ND) for {len(df)} rows")


def column_label(col: str, chosen: Mapping[str, str]) -> str:
    """A canonical column as messages name it: 'flops', or 'compute' (flops) when read under an alias."""
    src = chosen.get(col, col)
    return f"'{col}'" if src == col else f"'{src}' ({col})"


def _check_derived_count(df: pd.DataFrame, name: str, col: str, how: str, values: np.ndarray,
                         chosen: Mapping[str, str]) -> None:
    """A derived token or parameter count below 1 cannot be a count: raise, naming the likely slip."""
    small = np.flatnonzero(values < 1.0)
    if small.size == 0:
        return
    i = int(small[0])
    other = "params" if col == "tokens" else "tokens"
    unit = "token" if col == "tokens" else "parameter"
    raise ScalingLabError(
        f"{name}: row {df.index[i]}: derived {col} = {how} = {number_text(values[i])}, below one {unit} "
        f"({small.size} of {len(values)} rows): column {column_label('flops', chosen)} is likely not in FLOPs "
        f"(PF-days? 1 PF-day = 8.64e19 FLOPs), or column {column_label(other, chosen)} is not a plain count "
        f"(millions or billions?); convert the column, or give {col} directly")


#: Loss columns named like these hold bits, not nats (bits per token, byte or character).
_BITS_KEYS = ("bit", "bpb", "bpc", "bpt", "log2")


def unit_notes(df: pd.DataFrame, chosen: Mapping[str, str], notes: list[str], counts: bool = True) -> list[str]:
    """Notes on values that look like a unit slip: counts in millions/billions (unless not ``counts``),
    perplexities or bits as losses, losses too small to be nats per token. Added to ``notes`` (once) and
    returned (``Runs.warnings``)."""
    found: list[str] = []
    for col, what, example in (("params", "parameter", "125 for 125M parameters"),
                               ("tokens", "token", "300 for 300B tokens"))[:2 if counts else 0]:
        if col in df.columns and col in chosen:  # given, not derived
            v = df[col].to_numpy(dtype=np.float64)
            if v.size and np.all(v < 1e5):
                found.append(f"every {what} count in column {column_label(col, chosen)} is below 1e5 "
                             f"(max {number_text(v.max())}): these look like millions or billions ({example}?); "
                             f"scalinglab expects plain counts, so scale the column (x 1e6 or x 1e9) unless "
                             f"the models really are that small")
    loss = df["loss"].to_numpy(dtype=np.float64) if "loss" in df.columns else np.empty(0)
    if loss.size:
        found.extend(_loss_units(loss, chosen))
    notes.extend(n for n in found if n not in notes)
    return found


def _loss_units(loss: np.ndarray, chosen: Mapping[str, str]) -> list[str]:
    """Notes on losses that do not look like nats per token."""
    found: list[str] = []
    label = column_label("loss", chosen)
    if loss.max() > 20:
        found.append(f"losses above 20 (max {number_text(loss.max())}): scalinglab expects nats per token; is this a "
                     "perplexity (take its log) or a summed loss?")
    if any(k in column_key(chosen.get("loss", "loss")) for k in _BITS_KEYS):
        found.append(f"column {label} is named like a loss in bits: scalinglab expects nats per token "
                     "(nats = bits x ln 2 = bits x 0.6931; bits per byte or character also need the bytes or "
                     "characters per token)")
    if loss.min() < MIN_LOSS:
        found.append(f"losses below 0.001 nats/token (min {number_text(loss.min())}): no language model predicts text "
                     "that well; check the units (nats per token, not a fraction, a difference from the "
                     "irreducible loss, or a loss divided by the tokens twice)")
    return found


def _six_nd_note(df: pd.DataFrame, notes: list[str]) -> None:
    """Note when given flops are far from 6 * params * tokens (unit or convention mix-ups)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ratio = df["flops"].to_numpy(float) / flops_from(df["params"].to_numpy(float), df["tokens"].to_numpy(float))
    ratio = ratio[np.isfinite(ratio)]
    if ratio.size and not 0.5 <= float(np.median(ratio)) <= 2.0:
        notes.append(f"flops are {float(np.median(ratio)):.3g} x 6 * params * tokens (median): check the units "
                     "(FLOPs, not PF-days: 1 PF-day = 8.64e19 FLOPs) and the counting convention")


def number_text(x: float) -> str:
    """A number for messages: 'nan', 'inf', '-5', '1.2e+20'."""
    return f"{float(x):g}"
