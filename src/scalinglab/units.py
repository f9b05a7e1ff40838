"""Unit constants shared across scalinglab.

* ``PF_DAY_FLOPS``: one petaflop/s-day, 1e15 FLOP/s sustained for 86,400 s = 8.64e19 FLOPs
  (a count of floating-point operations, not a rate). Kaplan et al. 2020 (arXiv:2001.08361, sec. 1.3)
  and Brown et al. 2020 (GPT-3, Appendix D) quote training compute in PF-days.
"""

from __future__ import annotations

PF_DAY_FLOPS: float = 1e15 * 86_400.0  # = 8.64e19 FLOPs


def pf_days_to_flops(pf_days: float) -> float:
    """PF-days -> FLOPs (a count): ``pf_days * 8.64e19``."""
    return pf_days * PF_DAY_FLOPS


def flops_to_pf_days(flops: float) -> float:
    """FLOPs (a count) -> PF-days: ``flops / 8.64e19``."""
    return flops / PF_DAY_FLOPS
