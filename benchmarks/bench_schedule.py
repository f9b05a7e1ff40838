"""Schedule-law fit time: the multi-power form against the tissue form (``make bench``).

Both fit the same simulated curves (constant and cosine runs of 3,000 steps, evaluated every 50 steps
after a 100-step warmup, the loss from the multi-power law with 0.1% noise) with fit_schedule_law and
no bootstrap; then one evaluation of the multi-power law on a 24,000-step cosine evaluated every 128
steps, with the loss-drop sum over blocks of steps (the default) and exact. Wall-clock seconds in this
one process (BLAS pinned to one thread), so the ratios are meaningful on a shared, noisy machine.
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from scalinglab.analysis.lr_schedules import parse_schedule, schedule_lrs
from scalinglab.analysis.schedule import Curve, fit_schedule_law
from scalinglab.laws import MultiPower
from scalinglab.laws.multi_power import mpl_design, mpl_log_predict

TRUE = {"L0": 2.5, "A": 1.2, "alpha": 0.45, "B": 400.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}


def curves() -> list[Curve]:
    rng, out = np.random.default_rng(0), []
    for text in ("constant:steps=3000,warmup=100,peak=1e-3", "cosine:steps=3000,warmup=100,peak=1e-3,final=1e-4"):
        lrs = schedule_lrs(parse_schedule(text))
        st = np.arange(50, lrs.size + 1, 50)
        loss = MultiPower([lrs]).predict_natural(TRUE, step=st, run=0) * np.exp(rng.normal(0, 0.001, st.size))
        out.append(Curve(text, st.astype(float), loss, lrs))
    return out


def timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def main() -> None:
    data = curves()
    with threadpool_limits(1):
        t_tissue, _ = timed(lambda: fit_schedule_law(data, bootstrap=0))
        t_mpl, fit = timed(lambda: fit_schedule_law(data, bootstrap=0, form="multi-power"))
        lrs = schedule_lrs(parse_schedule("cosine:steps=24000,warmup=2160,peak=3e-4,final=3e-5"))
        steps = np.arange(128, 24001, 128)
        theta = MultiPower().from_natural(TRUE)[None]
        t_block, blocked = timed(lambda: mpl_log_predict(theta, mpl_design([lrs], steps)))
        t_exact, exact = timed(lambda: mpl_log_predict(theta, mpl_design([lrs], steps, max_terms=10**7)))
    print(f"fit of 2 curves x 59 points: tissue {t_tissue:.2f} s, multi-power {t_mpl:.2f} s "
          f"(ratio {t_mpl / t_tissue:.0f}x; multi-power converged: {fit.converged})")
    print(f"one multi-power evaluation, 24,000-step cosine at 188 points: blocked {t_block:.3f} s, exact "
          f"{t_exact:.3f} s (ratio {t_exact / t_block:.0f}x); largest relative difference "
          f"{np.max(np.abs(np.exp(blocked - exact) - 1)):.1e}")


if __name__ == "__main__":
    main()
