"""Unit constants shared across scalinglab, kept importable here; they live in :mod:`scalinglab.counting`.

* ``PF_DAY_FLOPS``: one petaflop/s-day, 1e15 FLOP/s sustained for 86,400 s = 8.64e19 FLOPs
  (a count of floating-point operations, not a rate). Kaplan et al. 2020 (arXiv:2001.08361, sec. 1.3)
  and Brown et al. 2020 (GPT-3, Appendix D) quote training compute in PF-days.
* ``pf_days_to_flops`` (``pf_days * 8.64e19``) and ``flops_to_pf_days`` (``flops / 8.64e19``).
"""

from __future__ import annotations

from scalinglab.counting import PF_DAY_FLOPS, flops_to_pf_days, pf_days_to_flops

__all__ = ["PF_DAY_FLOPS", "pf_days_to_flops", "flops_to_pf_days"]
