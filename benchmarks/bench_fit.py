"""Fit speed: scalinglab's batched multi-start against a plain scipy L-BFGS-B loop (``make bench``).

Both fit the chinchilla law with the Huber(delta=1e-3) objective on log-residuals, summed, over the
same 4,500-start grid of Hoffmann et al. 2022, with the same bounds; the scipy loop uses an analytic
gradient. Data: the 240-point Epoch AI set (Besiroglu et al. 2024) when ../shared/data is present,
otherwise a simulated set of the same size. Times are wall-clock seconds in this one process (BLAS
pinned to one thread for both), so the ratio is meaningful on a shared, noisy machine.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

import scalinglab as sl
from scalinglab.fitting.objective import Objective
from scalinglab.laws import Chinchilla

SHARED = Path(os.environ.get("SCALINGLAB_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def load_data():
    path = SHARED / "epoch_chinchilla" / "svg_extracted_data.csv"
    if path.exists():
        return sl.load_runs(path, drop_highest_loss=5), "Epoch AI Chinchilla set (240 points)"
    df = sl.simulate_isoflop("besiroglu2024", per_budget=34, noise=0.02, seed=1).head(240)
    return sl.load_runs(df), "simulated set (240 points; shared data absent)"


def scipy_loop(runs, family, obj):
    """Every grid start through scipy's L-BFGS-B with an analytic gradient; returns the best."""
    X = {v: runs.column(v) for v in family.variables}
    logy = np.log(runs.column("loss"))
    lo, hi = family.bounds()
    bounds = list(zip(lo, hi))

    def value_and_grad(theta):
        f, J = family.log_predict(theta[None, :], X, jac=True)
        r = f[0] - logy
        return float(obj.value(r)), J[0] @ obj.psi(r)

    best = (np.inf, None)
    for start in family.init_grid(X, np.exp(logy)):
        res = minimize(value_and_grad, np.clip(start, lo, hi), jac=True, method="L-BFGS-B", bounds=bounds)
        if res.fun < best[0]:
            best = (float(res.fun), res.x)
    return best


def timed(fn, repeats=1):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> int:
    runs, label = load_data()
    family, obj = Chinchilla(), Objective("huber", 1e-3)
    print(f"data: {label}; grid: {len(family.init_grid({}, None))} starts")
    sl.fit(runs, "chinchilla")  # warm-up (imports, caches)
    t_sl, res = timed(lambda: sl.fit(runs, "chinchilla"), repeats=5)
    t_full, res_full = timed(lambda: sl.fit(runs, "chinchilla", refine=None))
    with threadpool_limits(limits=1):
        t_sp, (best_sp, _) = timed(lambda: scipy_loop(runs, family, obj))
    rel = (res.objective - best_sp) / best_sp
    print(f"scipy L-BFGS-B loop, 4,500 starts : {t_sp:8.3f} s   best objective {best_sp:.10e}")
    print(f"scalinglab fit (screen 4,500, refine 64): {t_sl:8.4f} s   best objective {res.objective:.10e}")
    print(f"scalinglab fit (refine all 4,500)  : {t_full:8.3f} s   best objective {res_full.objective:.10e}")
    print(f"speed-up (default)                 : {t_sp / t_sl:8.1f} x   (target >= 100 x)")
    print(f"speed-up (every start refined)     : {t_sp / t_full:8.1f} x")
    print(f"objective relative difference      : {rel:+.2e}   (target <= 1e-6: equal or lower)")
    t_bs, res_bs = timed(lambda: sl.fit(runs, "chinchilla", bootstrap=1000, seed=0))
    print(f"bootstrap, 1,000 resamples: {t_bs:6.2f} s   (target <= 1.5 s); "
          f"{res_bs.bootstrap_converged} converged")
    for k in ("alpha", "beta", "a", "b"):
        lo, hi = res_bs.ci[k]
        print(f"  {k:<6} {({**res_bs.params, **res_bs.derived})[k]:.4f}  95% CI [{lo:.4f}, {hi:.4f}]")
    ok = t_sp / t_sl >= 100 and rel <= 1e-6 and t_bs <= 1.5
    print("targets met" if ok else "TARGETS NOT MET")
    return 0


if __name__ == "__main__":
    sys.exit(main())
